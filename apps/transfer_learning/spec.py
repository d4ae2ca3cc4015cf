"""What the command line knows of transfer_learning without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.transfer_learning.config import APPLICATION_BACKBONES, TransferLearningConfig
from common.spec import DIGITS, MNIST5K, AppSpec


SPEC = AppSpec(
    name="transfer_learning",
    description=("pre-trained backbone (a suite run, MobileNetV3Small, EfficientNetB0, ResNet50) with a new head "
                 "and fine-tuning, from k images per class, vs the same network from scratch"),
    config_class=TransferLearningConfig,
    task="apps.transfer_learning.task:TransferLearning",
    models=("run",) + APPLICATION_BACKBONES,
    embedded_datasets=(MNIST5K, DIGITS),
)
