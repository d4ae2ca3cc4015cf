"""Where a backbone comes from: a trained run of the suite, or a `keras.applications` model.

A run backbone is a finished run's model cut before its classifier (its last `Dense` layer). With
no run given, the default one is an image_classification CNN that `pretrained_run_dir` trains once
with the shared `common.training.train` into a cache folder next to the TFDS data dir and reuses
afterwards. `keras.applications` backbones take ImageNet weights (downloaded, so online only), a
weights file on disk, or random initialisation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings

import keras
from keras import layers

from apps.transfer_learning.config import TransferLearningConfig
from common.errors import UsageError
from common.export import load_model
from common.runs import RunDir

BACKBONE_NAME = "backbone"

# config name -> (keras.applications constructor, ImageNet preprocessing the model does not do itself).
# MobileNetV3 and EfficientNet rescale 0..255 inputs inside the model; ResNet50 expects the "caffe"
# preprocessing of `keras.applications.resnet50.preprocess_input`.
APPLICATIONS = {
    "mobilenet_v3_small": ("MobileNetV3Small", "none"),
    "efficientnet_b0": ("EfficientNetB0", "none"),
    "resnet50": ("ResNet50", "caffe"),
}

# Pre-training settings that change where the run is written, not what it learns.
_NOT_IN_CACHE_KEY = ("data_dir", "strategy", "tpu", "image_summary_every")


def pretrain_config(cfg: TransferLearningConfig):
    """The image_classification config of the default backbone: its defaults, then `cfg.pretrain`."""
    from apps.image_classification.config import ImageClassificationConfig
    from common.config import resolve_config

    overrides = {**cfg.pretrain, "data_dir": cfg.data_dir, "strategy": cfg.strategy}
    return resolve_config(ImageClassificationConfig, "image_classification", overrides=overrides)


def pretrained_run_dir(cfg: TransferLearningConfig) -> str:
    """The default backbone's run directory, pre-training it first if no finished run is cached
    (`cached_classifier_run`). The caller re-seeds afterwards: pre-training seeds the global
    generators with its own seed."""
    return cached_classifier_run(pretrain_config(cfg), cfg.data_dir, "transfer_learning", "the default backbone",
                                 "pre-training")


def cached_classifier_run(pre, data_dir: str, app: str, what: str = "a classifier", doing: str = "training") -> str:
    """The finished image_classification run of config `pre`, trained first if none is cached.

    The cache folder is `<parent of the TFDS data dir>/backbones/image_classification-<dataset>-<hash>`,
    keyed by the config (less the settings that don't change the model), so applications that ask for
    the same classifier share one run (transfer_learning's backbone, the GAN's feature classifier)
    and a changed config trains a new one. `app`, `what` and `doing` word the progress lines
    ("transfer_learning: pre-training the default backbone ...").
    """
    from apps.image_classification.task import ImageClassification
    from common.datasets import default_data_dir
    from common.training import train

    key = {k: v for k, v in pre.to_dict().items() if k not in _NOT_IN_CACHE_KEY}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    root = os.path.dirname(os.path.abspath(data_dir or default_data_dir()))
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", pre.dataset).strip("_")
    run_dir = os.path.join(root, "backbones", f"image_classification-{name}-{digest}")
    if RunDir(run_dir).is_finished():
        print(f"{app}: {what}: {run_dir} (cached)", flush=True)
        return run_dir
    print(f"{app}: {doing} {what} (image_classification on {pre.dataset}, {pre.epochs} epochs) "
          f"into {run_dir}; later runs reuse it", flush=True)
    metrics = train(ImageClassification(), pre, run_dir, verbose=0)
    print(f"{app}: {what} trained: test accuracy {metrics['test']['accuracy']:.4f} on {pre.dataset}", flush=True)
    return run_dir


def run_model_path(run_dir: str) -> str:
    """The model file of a finished run, or a UsageError saying what is wrong with the folder."""
    run = RunDir(run_dir)
    if not os.path.isdir(run_dir):
        raise UsageError(f"backbone run not found: {run_dir}")
    if not run.is_finished():
        raise UsageError(f"{run_dir} is not a finished run (no metrics.json): train it first")
    return run.model


def cut_before_classifier(model: keras.Model) -> keras.Model:
    """The model up to the input of its last Dense layer (its classifier), as a model named "backbone".

    Example:
        >>> from apps.image_classification.model import build_cnn
        >>> cut_before_classifier(build_cnn((28, 28, 1), 10, dense_units=32)).output_shape
        (None, 32)
    """
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise UsageError(f"model {model.name!r} does not take one batch of images, so it cannot be a backbone")
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    if not dense:
        raise UsageError(f"model {model.name!r} has no Dense classifier to cut off")
    return keras.Model(model.inputs, dense[-1].input, name=BACKBONE_NAME)


def load_run_backbone(model_path: str, pretrained: bool = True) -> keras.Model:
    """A run's model cut before its classifier; with `pretrained=False`, the same layers freshly initialised."""
    backbone = cut_before_classifier(load_model(model_path))
    return backbone if pretrained else keras.models.clone_model(backbone)


def build_application(name: str, image_size: int, weights: str = "") -> keras.Model:
    """A `keras.applications` model without its top, average-pooled, taking (size, size, 3) images.

    Args:
        name: a key of `APPLICATIONS`.
        image_size: side of its square input (>= 32).
        weights: "imagenet" (downloads them), a weights file of the same model without its top,
            or "" for random initialisation.
    """
    constructor = getattr(keras.applications, APPLICATIONS[name][0])
    kwargs = dict(input_shape=(image_size, image_size, 3), include_top=False, pooling="avg", name=BACKBONE_NAME)
    if weights == "imagenet":
        try:
            return constructor(weights="imagenet", **kwargs)
        except Exception as exc:  # no internet, blocked download, corrupt cache
            raise UsageError(
                f"could not get the ImageNet weights of {name} ({type(exc).__name__}); without internet, "
                "download the no-top weights file elsewhere and pass it with --weights PATH"
            ) from None
    model = constructor(weights=None, **kwargs)
    if weights:
        load_weights_file(model, weights, name)
    return model


def load_weights_file(model: keras.Model, path: str, what: str) -> None:
    """Loads a .weights.h5 or legacy .h5 weights file, or raises a UsageError if it does not fit."""
    if not os.path.isfile(path):
        raise UsageError(f"weights file not found: {path}")
    if not path.endswith(".h5"):
        raise UsageError(f"weights file {path} must be a .weights.h5 or .h5 file")
    try:
        with warnings.catch_warnings():  # Keras warns once per layer it cannot fill before it raises
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except Exception as exc:  # shape, layer-count and format mismatches
        reason = str(exc).strip().splitlines()[0][:160].rstrip(":") if str(exc).strip() else type(exc).__name__
        raise UsageError(f"weights file {path} does not fit the {what} backbone: {reason}") from None


def preprocessing(cfg: TransferLearningConfig) -> str:
    """The ImageNet preprocessing the configured backbone needs in front of it ("none" or "caffe")."""
    return "none" if cfg.backbone == "run" else APPLICATIONS[cfg.backbone][1]


def build_backbone(cfg: TransferLearningConfig, run_model: str = "", pretrained: bool = True) -> keras.Model:
    """The configured backbone, named "backbone"; `pretrained=False` gives the same network untrained.

    Args:
        cfg: the run's config.
        run_model: backbone=run: the model file of the backbone run.
        pretrained: False for the from-scratch baseline.
    """
    if cfg.backbone == "run":
        return load_run_backbone(run_model, pretrained)
    return build_application(cfg.backbone, cfg.application_image_size, cfg.weights if pretrained else "")
