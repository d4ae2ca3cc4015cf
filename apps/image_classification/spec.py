"""What the command line knows of image_classification without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.image_classification.config import ImageClassificationConfig
from common.spec import DIGITS, MNIST5K, AppSpec


SPEC = AppSpec(
    name="image_classification",
    description=("CNN image classifier (depth, width, activation, batch norm, dropout, L1/L2, augmentation), "
                 "vision transformer or a KerasHub ImageClassifier preset (--preset), vs an SVC"),
    backends=("tensorflow", "jax", "torch"),  # jax tried 2026-12-02 (train); torch by the check
    config_class=ImageClassificationConfig,
    task="apps.image_classification.task:ImageClassification",
    models=("cnn", "vit"),
    embedded_datasets=(MNIST5K, DIGITS),
)
