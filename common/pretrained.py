"""Runs inside runs: a finished run's model as a backbone, and a run trained once and reused.

transfer_learning's default backbone, the GAN's feature classifier and any application that
starts from another application's trained model get it here: `cached_run` trains a task's run
once into a cache folder next to the TFDS data dir (keyed by its config, less its runtime
settings) and returns it on later calls; `run_model_path` checks a run folder a user names;
`cut_before_classifier` keeps a classifier's features.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import keras
from keras import layers

from common.config import TrainConfig, runtime_keys
from common.datasets import default_data_dir
from common.errors import UsageError
from common.runs import RunDir
from common.task import Task
from common.training import train

BACKBONE_NAME = "backbone"


def cached_run_dir(task: Task, cfg: TrainConfig, data_dir: str = "", variant: str = "") -> str:
    """Where `cached_run` keeps the run of `task` with `cfg`:
    `<parent of the TFDS data dir>/backbones/<task>-<dataset>[-<variant>]-<hash of the config less its runtime
    settings>`. `variant` names what the config does not say (a changed data recipe, a version): another
    variant is another run."""
    runtime = runtime_keys(type(cfg))
    key = {k: v for k, v in cfg.to_dict().items() if k not in runtime}
    if variant:
        key["__variant__"] = variant
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    root = os.path.dirname(os.path.abspath(data_dir or default_data_dir()))
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(filter(None, (cfg.dataset, variant)))).strip("_")
    return os.path.join(root, "backbones", f"{task.name}-{name}-{digest}")


def cached_run(task: Task, cfg: TrainConfig, data_dir: str, app: str, what: str = "a classifier",
               doing: str = "training", variant: str = "") -> str:
    """The finished run of `task` with config `cfg`, trained first if none is cached (`cached_run_dir`).

    Applications that ask for the same run share it (transfer_learning's backbone and the GAN's feature
    classifier are one mnist5k image_classification run), and a changed config trains a new one. `app`,
    `what` and `doing` word the progress lines ("transfer_learning: pre-training the default backbone ...").
    Training seeds the global generators with `cfg.seed`: the caller re-seeds afterwards. An interrupted
    training resumes in the same folder on the next call. `variant`: see `cached_run_dir`.
    """
    run_dir = cached_run_dir(task, cfg, data_dir, variant)
    if RunDir(run_dir).is_finished():
        print(f"{app}: {what}: {run_dir} (cached)", flush=True)
        return run_dir
    print(f"{app}: {doing} {what} ({task.name} on {cfg.dataset}, {cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}) "
          f"into {run_dir}; later runs reuse it", flush=True)
    metrics = train(task, cfg, run_dir, verbose=0)
    key = task.primary_metric[0]
    print(f"{app}: {what} trained: test {key} {metrics['test'][key]:.4f} on {cfg.dataset}", flush=True)
    return run_dir


def run_model_path(run_dir: str, role: str = "backbone") -> str:
    """The model file of a finished run, or a UsageError saying what is wrong with the folder (the run of
    `role`: "backbone", "classifier")."""
    run = RunDir(run_dir)
    if not os.path.isdir(run_dir):
        raise UsageError(f"{role} run not found: {run_dir}")
    if not run.is_finished():
        raise UsageError(f"{run_dir} is not a finished run (no metrics.json): train it first")
    return run.model


def cut_before_classifier(model: keras.Model) -> keras.Model:
    """The model up to the input of its last Dense layer (its classifier), as a model named "backbone".

    Example:
        >>> inputs = keras.Input((28, 28, 1))
        >>> features = layers.Dense(32)(layers.Flatten()(inputs))
        >>> cut_before_classifier(keras.Model(inputs, layers.Dense(10)(features))).output_shape
        (None, 32)
    """
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise UsageError(f"model {model.name!r} does not take one batch of images, so it cannot be a backbone")
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    if not dense:
        raise UsageError(f"model {model.name!r} has no Dense classifier to cut off")
    return keras.Model(model.inputs, dense[-1].input, name=BACKBONE_NAME)
