"""Where a backbone comes from: a trained run of the suite, a `keras.applications` model, or a KerasHub preset.

A run backbone is a finished run's model cut before its classifier (its last `Dense` layer). With
no run given, the default one is an image_classification CNN that `pretrained_run_dir` trains once
with the shared `common.training.train` into a cache folder next to the TFDS data dir and reuses
afterwards. `keras.applications` backbones take ImageNet weights (downloaded, so online only), a
weights file on disk, or random initialisation.
"""

from __future__ import annotations

import os
import warnings

import keras

from apps.image_classification.config import ImageClassificationConfig
from apps.image_classification.task import ImageClassification
from apps.transfer_learning.config import TransferLearningConfig
from apps.transfer_learning.pretraining import LowResolutionPretraining
from common.config import resolve_config, runtime_settings
from common.errors import UsageError
from common.export import load_model
from common.pretrained import BACKBONE_NAME, cached_run, cut_before_classifier

# config name -> (keras.applications constructor, ImageNet preprocessing the model does not do itself).
# MobileNetV3 and EfficientNet rescale 0..255 inputs inside the model; ResNet50 expects the "caffe"
# preprocessing of `keras.applications.resnet50.preprocess_input`.
APPLICATIONS = {
    "mobilenet_v3_small": ("MobileNetV3Small", "none"),
    "efficientnet_b0": ("EfficientNetB0", "none"),
    "resnet50": ("ResNet50", "caffe"),
}

# Version of the low-resolution pre-training recipe in the backbone's cache key: raise it when the recipe
# changes in a way its config does not show, so the next run pre-trains a new backbone.
PRETRAIN_VERSION = "v1"


def pretrain_config(cfg: TransferLearningConfig):
    """The image_classification config of the default backbone: its defaults, then `cfg.pretrain`, then
    this run's runtime settings."""
    overrides = {**cfg.pretrain, **runtime_settings(cfg, ImageClassificationConfig)}
    return resolve_config(ImageClassificationConfig, "image_classification", overrides=overrides)


def pretrained_run_dir(cfg: TransferLearningConfig) -> str:
    """The default backbone's run directory, pre-training it first if no finished run is cached
    (`common.pretrained.cached_run`). The caller re-seeds afterwards: pre-training seeds the global
    generators with its own seed.

    With `pretrain_low_resolution`, the source set is doubled by low-resolution copies
    (`LowResolutionPretraining`); the cache key names that recipe and its version, so a changed recipe
    trains (and, interrupted, resumes) a run of its own."""
    if not cfg.pretrain_low_resolution:
        return cached_run(ImageClassification(), pretrain_config(cfg), cfg.data_dir, "transfer_learning",
                          "the default backbone", "pre-training")
    task = LowResolutionPretraining(cfg.pretrain_low_resolution, cfg.margin)
    variant = f"lowres{cfg.pretrain_low_resolution}-margin{cfg.margin:g}-{PRETRAIN_VERSION}"
    return cached_run(task, pretrain_config(cfg), cfg.data_dir, "transfer_learning", "the default backbone",
                      "pre-training", variant=variant)


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


def build_preset_backbone(preset: str, image_size: int, pretrained: bool = True) -> keras.Model:
    """A KerasHub image backbone preset as the transfer model's backbone: its image converter (pixel scaling;
    its input size, else `image_size`) and its feature map, as one model named "backbone" on (size, size, 3)
    images of 0..255; `pretrained=False` gives the same network freshly initialised."""
    from common.presets import load_image_backbone

    hub_backbone, converter = load_image_backbone(preset, app="transfer_learning")
    if not pretrained:
        hub_backbone = type(hub_backbone).from_config(hub_backbone.get_config())
    size = tuple(converter.image_size) if converter is not None and converter.image_size else (image_size, image_size)
    inputs = keras.Input(shape=(*size, hub_backbone.input_shape[-1]), name="backbone_image")
    x = converter(inputs) if converter is not None else inputs
    return keras.Model(inputs, hub_backbone(x), name=BACKBONE_NAME)


def preprocessing(cfg: TransferLearningConfig) -> str:
    """The ImageNet preprocessing the configured backbone needs in front of it ("none" or "caffe")."""
    return "none" if cfg.backbone in ("run", "preset") else APPLICATIONS[cfg.backbone][1]


def build_backbone(cfg: TransferLearningConfig, run_model: str = "", pretrained: bool = True) -> keras.Model:
    """The configured backbone, named "backbone"; `pretrained=False` gives the same network untrained.

    Args:
        cfg: the run's config.
        run_model: backbone=run: the model file of the backbone run.
        pretrained: False for the from-scratch baseline.
    """
    if cfg.backbone == "run":
        return load_run_backbone(run_model, pretrained)
    if cfg.backbone == "preset":
        return build_preset_backbone(cfg.preset, cfg.application_image_size, pretrained)
    return build_application(cfg.backbone, cfg.application_image_size, cfg.weights if pretrained else "")
