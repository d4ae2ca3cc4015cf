"""The `Task` interface: what an application provides so the shared runner can train, tune and serve it.

An application subclasses `Task`, sets its `spec` (`common.spec.AppSpec`, declared in its
TensorFlow-free `spec.py`), name and config class, and implements the `build_*` methods;
`common.training` does everything else the same way for every application (strategy scope,
callbacks, resume, evaluation, baselines, plots, export). The vocabulary follows
the TF Model Garden's task (`build_inputs`, `build_model`, ...), without its registries.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import keras
import tensorflow as tf

from common.config import TrainConfig
from common.optimizers import build_optimizer
from common.spec import AppSpec


@dataclass
class Phase:
    """One stage of a run, e.g. "train the new head on a frozen backbone", then "fine-tune the top".

    `common.training.train` runs the phases of `Task.phases` one after another in one run: before
    each it calls `prepare(model)`, compiles with a fresh optimizer at `learning_rate` (None: the
    config's), and fits the next `epochs` epochs; the epoch count runs on across phases, so
    TensorBoard, the CSV log and resuming after a crash see one continuous run.

    Args:
        name: shown in the progress output.
        epochs: epochs of this phase (0 skips it).
        learning_rate: initial learning rate of this phase's optimizer; None for `cfg.learning_rate`.
        prepare: sets the model up for the phase (typically `trainable` flags). It must set the
            whole state it depends on, not change the previous phase's, because a resumed run
            calls only the prepare of the phase it resumes in.
    """

    name: str
    epochs: int
    learning_rate: float | None = None
    prepare: Callable[[keras.Model], None] | None = None


class Task:
    """Base class of an application.

    Class attributes:
        spec: the application's `AppSpec` (its `spec.py`): description, models and own actions, what
            the command line shows without importing TensorFlow.
        name: registry and CLI name, `spec.name`.
        config_class: the application's `TrainConfig` subclass, `spec.config_class`.
    """

    spec: AppSpec | None = None
    name: str = ""
    config_class: type[TrainConfig] = TrainConfig
    # The logged metric that picks the served epoch, early stopping and the tuner's objective; an application
    # whose metric depends on the data sets it on the instance in `load_data` (a regressor's val_mae, say).
    monitor: str = "val_loss"
    # Whether `monitor` improves downwards ("min") or upwards ("max"); "auto" lets Keras tell from its name.
    monitor_mode: str = "auto"
    # The benchmark table's metric: (key of metrics["test"], "higher" | "lower" is better, format).
    primary_metric: tuple[str, str, str] = ("accuracy", "higher", ".4f")
    # Benchmark rows beyond the default config (always a row named "<app>-<default dataset>"):
    # (row name, config overrides).
    benchmark_rows: tuple[tuple[str, dict], ...] = ()
    # False for applications that don't learn by `model.fit` over a dataset (RL agents, optimisation
    # of one image, studies that train many small models): `train()` then calls `train_loop` instead
    # of its own fit path, and keeps the rest (run dir checks, config, timing, metrics.json).
    trains_with_fit: bool = True
    # The embedded TFDS builders of this application's data (`dlsuite list` shows them, from the rows of
    # `spec.embedded_datasets`); a set several applications read is declared by each of them.
    embedded_datasets: tuple[type, ...] = ()

    # --- data -------------------------------------------------------------------------------
    def load_data(self, cfg: TrainConfig) -> Any:
        """Loads the dataset named by `cfg.dataset` (raises UsageError for bad input)."""
        raise NotImplementedError

    def build_inputs(self, cfg: TrainConfig, data: Any) -> dict[str, tf.data.Dataset]:
        """Batched `tf.data` pipelines: {"train", "validation", "test"}."""
        raise NotImplementedError

    def num_train_examples(self, cfg: TrainConfig, data: Any) -> int:
        raise NotImplementedError

    def data_summary(self, data: Any) -> dict:
        """What `predict` needs to know about the data later (class names, shapes); saved in metrics.json."""
        return {}

    # --- model ------------------------------------------------------------------------------
    def build_model(self, cfg: TrainConfig, data: Any) -> keras.Model:
        """An uncompiled model for this config and data."""
        raise NotImplementedError

    def build_losses(self, cfg: TrainConfig):
        raise NotImplementedError

    def build_metrics(self, cfg: TrainConfig) -> list:
        return []

    def phases(self, cfg: TrainConfig) -> list[Phase]:
        """The training phases of a run; by default one phase of `cfg.epochs` epochs."""
        return [Phase("train", cfg.epochs)]

    def compile_model(self, model: keras.Model, cfg: TrainConfig, steps_per_epoch: int,
                      phase: Phase | None = None) -> None:
        """Compiles with the config's optimizer; under a `phase`, with its learning rate and length."""
        if phase is not None:
            lr = cfg.learning_rate if phase.learning_rate is None else phase.learning_rate
            cfg = dataclasses.replace(cfg, learning_rate=lr, epochs=max(1, phase.epochs))
        model.compile(
            optimizer=build_optimizer(cfg, steps_per_epoch),
            loss=self.build_losses(cfg),
            metrics=self.build_metrics(cfg),
            jit_compile=cfg.jit_compile,
        )

    def callbacks(self, cfg: TrainConfig, data: Any, run) -> list:
        """The application's own `fit` callbacks (e.g. a GAN's sample grid); `run` is the `RunDir` they may
        write to. They run before the suite's, so what they add to an epoch's logs reaches TensorBoard,
        the CSV log and the best-model checkpoint (`monitor`)."""
        return []

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, model: keras.Model, cfg: TrainConfig, data: Any, inputs: dict) -> dict[str, float]:
        """Test-split metrics of a trained model."""
        raise NotImplementedError

    def baselines(self, cfg: TrainConfig, data: Any) -> dict[str, dict[str, float]]:
        """Classical baselines on the same split, computed in the same run."""
        return {}

    def real_world(self, model: keras.Model, cfg: TrainConfig, data: Any) -> dict[str, dict]:
        """Scores on real-world sets from another source than the training data, never used for
        training or model selection, next to the same baselines; metrics.json keeps them as
        `real_world`:

            {"<set>": {"source": "<package: files>", "examples": N,
                       "model": {metric: value}, "baselines": {name: {metric: value}}}}

        {} where the application has none for this data (the default)."""
        return {}

    def figures(self, model: keras.Model, cfg: TrainConfig, data: Any, inputs: dict, split: str = "test") -> dict:
        """{name: matplotlib Figure} for `plots/` and TensorBoard."""
        return {}

    def text_examples(self, model: keras.Model, cfg: TrainConfig, data: Any, split: str = "test") -> dict[str, str]:
        """{name: markdown} example outputs (inputs with the model's answers), for TensorBoard's Text tab
        (every `image_summary_every` epochs on validation data, at the end on test data) and
        `DIR/examples/NAME.md`."""
        return {}

    # --- serving ----------------------------------------------------------------------------
    def predict(self, model: keras.Model, cfg: TrainConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """Predictions for the user's inputs (file paths or values), as printable records."""
        raise NotImplementedError

    def run_action(self, name: str, model: keras.Model, cfg: TrainConfig, summary: dict, args) -> str:
        """Runs the application's own action `name` (one of `spec.actions`, with the options of
        `spec.add_action_arguments` in `args`) on a finished run's model; returns the text to print, or
        None where the action printed its output itself as it went (an interactive loop)."""
        raise NotImplementedError

    def serving_outputs(self, cfg: TrainConfig, outputs, summary: dict):
        """What the exported SavedModel returns, from the model's outputs (TF ops, traced once) and the run's
        data summary (`data_summary`, e.g. its class names); by default the outputs themselves. A dict names
        the signature's outputs: a classifier returns `common.export.classifier_outputs` (probabilities, label,
        class name), a detector decoded boxes, say."""
        return outputs

    def train_loop(self, cfg: TrainConfig, run, verbose) -> dict:
        """Trains without the shared fit path (only when `trains_with_fit` is False).

        `run` is the `RunDir`, already created, with the config saved. The loop owns its TensorBoard
        logs (`run.logs`), resumable state (`run.checkpoints`: rerunning the same command must go on
        from there and end as an uninterrupted run would; `common.monitoring.log_marks` and `rewind_logs`
        keep the TensorBoard logs to what the checkpoint saw) and the served model
        (`common.export.save_model(model, run.model)`). Returns the parts of metrics.json it knows: "test"
        (required), and any of "baselines", "real_world", "epochs", "parameters", "data",
        "examples_per_second", "speed" (a dict of the loop's own speed figures). Raise `TrainingDiverged` when it diverges."""
        raise NotImplementedError

    # --- benchmark --------------------------------------------------------------------------
    def primary_metric_of(self, metrics: dict) -> tuple[str, str, str]:
        """The benchmark metric of one run (its metrics.json); `primary_metric` unless an application's
        rows measure different things (a classification row and a regression row, say)."""
        return self.primary_metric

    def benchmark_target(self, metrics: dict) -> tuple[str, bool, str] | None:
        """The target of one benchmark run, as (text, met, detail); None where there is none."""
        return None

    def benchmark_summary(self, results: list[dict]) -> list[tuple[str, bool | None, str]]:
        """Targets over all of this application's benchmark rows (e.g. means over seeds), as
        (text, met, detail); `met=None` marks a comparison without a target. Each result has
        "name", "overrides" and "metrics" (its metrics.json)."""
        return []

    # --- tuning -----------------------------------------------------------------------------
    def search_space(self, hp, cfg: TrainConfig) -> dict[str, Any]:
        """Config overrides drawn from `hp`; each hyperparameter is named after its config field
        and defaults to the config's value, so an empty `HyperParameters()` gives the config itself."""
        return {}
