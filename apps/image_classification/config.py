"""Configuration of the image classification application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


@dataclass
class ImageClassificationConfig(TrainConfig):
    """A configurable CNN on an image dataset; see `dlsuite image_classification train --help-config`."""

    dataset: str = option("mnist5k", "Dataset: mnist5k, digits, tfds:mnist, tfds:fashion_mnist, tfds:cifar10, or a class-folder path.")
    epochs: int = option(40, "Maximum number of training epochs.", min=1)
    batch_size: int = option(64, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(2e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    model: str = option("cnn", "Model family.", choices=("cnn",))
    depth: int = option(2, "Convolution blocks; each is two convolutions and a 2x2 max-pool.", min=1)
    width: int = option(32, "Filters in the first block; each further block doubles them.", min=1)
    kernel_size: int = option(3, "Convolution kernel size.", min=1)
    activation: str = option("relu", "Hidden activation.", choices=("relu", "tanh", "sigmoid", "gelu"))
    batch_norm: bool = option(True, "Batch normalisation after each convolution.")
    dropout: float = option(0.3, "Dropout rate before the dense layers.", min=0.0)
    dense_units: int = option(128, "Units of the hidden dense layer (0 = none).", min=0)
    l1: float = option(0.0, "L1 weight penalty on convolution and dense kernels.", min=0.0)
    l2: float = option(0.0, "L2 weight penalty on convolution and dense kernels.", min=0.0)
    augment: bool = option(True, "Random rotation, translation and zoom during training (no flips: digits are not symmetric).")
    rotation: float = option(0.04, "Augmentation: maximum rotation as a fraction of a full turn.", min=0.0)
    translation: float = option(0.1, "Augmentation: maximum shift as a fraction of the image size.", min=0.0)
    zoom: float = option(0.1, "Augmentation: maximum zoom in or out as a fraction.", min=0.0)
    image_size: int = option(0, "Resize images to this square size (0 = native; image folders default to 64).", min=0)
    channels: int = option(0, "Force 1 (grey) or 3 (colour) channels (0 = native; image folders default to 3).", choices=(0, 1, 3))
    baseline_max_samples: int = option(10000, "Train the SVC baseline on at most this many examples (0 = skip it).", min=0)

    def validate(self):
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
