"""Configuration of the image classification application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import MAX_IMAGE_SIZE, TrainConfig, option
from common.errors import UsageError

MIN_IMAGE_SIZE = 8  # digits' native size; smaller images hold too little to classify


@dataclass
class ImageClassificationConfig(TrainConfig):
    """A configurable CNN or vision transformer on an image dataset; see `dlsuite image_classification config`."""

    dataset: str = option("mnist5k", "Dataset: mnist5k, digits, tfds:mnist, tfds:fashion_mnist, tfds:cifar10, or a class-folder path.")
    epochs: int = option(40, "Maximum number of training epochs (on a small dataset each is several passes: min_steps).",
                         min=1)
    min_steps: int = option(500, "Train for at least this many optimizer steps: on a small dataset each epoch passes "
                            "over the training set several times (the run says so); 0 = one pass an epoch.",
                            min=0, resumable=True)
    batch_size: int = option(64, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(2e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    model: str = option("cnn", "Model family: a CNN, or a vision transformer (the vit_* fields and patch_size).",
                        choices=("cnn", "vit"))
    preset: str = option("", "A KerasHub ImageClassifier preset to fine-tune instead of `model`: a local folder written by "
                         "save_to_preset, or a KerasHub name / kaggle:// / hf:// handle (needs internet). Its image "
                         "converter runs inside the model; a new head is put on for the dataset's classes.", flag=True)
    depth: int = option(2, "CNN: convolution blocks; each is two convolutions and a 2x2 max-pool.", min=1)
    width: int = option(32, "CNN: filters in the first block; each further block doubles them.", min=1)
    kernel_size: int = option(3, "CNN: convolution kernel size.", min=1)
    activation: str = option("relu", "CNN: hidden activation.", choices=("relu", "tanh", "sigmoid", "gelu"))
    batch_norm: bool = option(True, "CNN: batch normalisation after each convolution.")
    dropout: float = option(0.3, "CNN: dropout rate before the dense layers.", min=0.0)
    dense_units: int = option(128, "CNN: units of the hidden dense layer (0 = none).", min=0)
    pooling: str = option("auto", "CNN: last feature map to dense layers: flatten, global-average pooling (gap), or "
                          "auto (flatten maps of up to 8x8 positions, average larger ones).",
                          choices=("auto", "flatten", "gap"))
    patch_size: int = option(4, "ViT: side of the square patches; must divide the image height and width.", min=1)
    vit_dim: int = option(64, "ViT: token width (a multiple of vit_heads).", min=1)
    vit_depth: int = option(4, "ViT: transformer encoder blocks.", min=1)
    vit_heads: int = option(4, "ViT: attention heads per block.", min=1)
    vit_mlp_dim: int = option(128, "ViT: hidden units of each block's GELU MLP.", min=1)
    vit_dropout: float = option(0.1, "ViT: dropout rate after the embeddings, each attention output and each MLP layer.",
                                min=0.0)
    vit_pooling: str = option("gap", "ViT: classify from the mean of the patch tokens or from a class token.",
                              choices=("gap", "cls"))
    l1: float = option(0.0, "CNN: L1 weight penalty on convolution and dense kernels.", min=0.0)
    l2: float = option(0.0, "CNN: L2 weight penalty on convolution and dense kernels.", min=0.0)
    augment: bool = option(True, "Random rotation, translation and zoom during training (no flips: digits are not symmetric).")
    rotation: float = option(0.04, "Augmentation: maximum rotation as a fraction of a full turn.", min=0.0)
    translation: float = option(0.1, "Augmentation: maximum shift as a fraction of the image size.", min=0.0)
    zoom: float = option(0.1, "Augmentation: maximum zoom in or out as a fraction.", min=0.0)
    image_size: int = option(0, "Resize images to this square size, 8 to 1024 (0 = native; image folders default to "
                                "64).", min=0, max=MAX_IMAGE_SIZE)
    channels: int = option(0, "Force 1 (grey) or 3 (colour) channels (0 = native; image folders default to 3).", choices=(0, 1, 3))
    baseline_max_samples: int = option(10000, "Train the SVC baseline on at most this many examples (0 = skip it).", min=0)

    def validate(self):
        for name in ("dropout", "vit_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UsageError(f"{name}={getattr(self, name)} must be in [0, 1)")
        if 0 < self.image_size < MIN_IMAGE_SIZE:
            raise UsageError(f"image_size={self.image_size} is too small (at least {MIN_IMAGE_SIZE}, or 0 for native)")
        if self.vit_dim % self.vit_heads:
            raise UsageError(f"vit_dim={self.vit_dim} must be a multiple of vit_heads={self.vit_heads}")
