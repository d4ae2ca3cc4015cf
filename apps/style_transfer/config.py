"""Configuration of the style transfer application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


@dataclass
class StyleTransferConfig(TrainConfig):
    """Style transfer by optimisation and a fast feed-forward network; see `dlsuite style_transfer config`.

    The defaults (300 optimisation steps at 256 px, then 8 x 40 fast-network steps on 128 px crops) take
    about 6 minutes on 2 CPU cores with the random extractor.
    """

    dataset: str = option("photos", "Content images the fast network trains on: photos (8 photos shipped with "
                                    "scikit-image and scikit-learn, none of them a test image), or a folder of "
                                    "image files.")
    content: str = option("astronaut", "Content image of the optimisation method: a scikit-image/scikit-learn name "
                                       "(astronaut, chelsea, coffee, rocket, ...) or an image path.", flag=True)
    style: str = option("immunohistochemistry", "Style image: immunohistochemistry, hubble_deep_field, "
                                                "colorwheel, brick, grass, gravel (scikit-image), flower, china "
                                                "(scikit-learn), any scikit-image name, or an image path.", flag=True)
    test_images: tuple[str, ...] = option(("astronaut", "chelsea", "coffee"),
                                          "Held-out content images the fast network and the baselines are scored on.")
    weights: str = option("random", "Feature extractor: random (a fixed seeded multi-scale random-filter network, "
                                    "no download), imagenet (VGG19, downloaded by Keras: needs internet), or the "
                                    "path of a VGG19 weights file (.h5, include_top=False or full).", flag=True)
    extractor_widths: tuple[int, ...] = option((32, 64, 128, 128, 256),
                                               "random extractor: filters of each 3x3 stage; each stage after the "
                                               "first halves the resolution (average pooling).")
    content_stage: int = option(3, "random extractor: the stage whose features the content loss compares (1 = "
                                   "the finest; larger keeps less detail).", min=1)
    extractor_seed: int = option(0, "random extractor: seed of its filters (fixed, independent of `seed`).", min=0)
    image_size: int = option(256, "Longer side (pixels) of the content, style and test images.", min=16,
                             max=2048)
    train_size: int = option(128, "Side of the square crops the fast network trains on (a multiple of 4).", min=16,
                             max=1024)
    content_weight: float = option(1.0, "Weight of the content loss (relative feature error, 0..).", min=0.0)
    style_weight: float = option(100.0, "Weight of the style loss (relative Gram-matrix error, 0..).", min=0.0)
    tv_weight: float = option(1.0, "Weight of the total-variation loss (mean squared neighbour difference, "
                                   "pixels in 0..1).", min=0.0)
    steps: int = option(300, "Optimisation method: Adam steps on the pixels of the content image.", min=1)
    optimize_learning_rate: float = option(0.02, "Optimisation method: Adam learning rate on pixels in 0..1.",
                                           min=0.0)
    log_every: int = option(10, "Optimisation method: write the losses to TensorBoard every N steps, the image "
                                "every 10 N.", min=1)
    epochs: int = option(8, "Fast network: training epochs of `steps_per_epoch` batches.", min=1)
    steps_per_epoch: int = option(40, "Fast network: batches per epoch (random crops with flips).", min=1)
    batch_size: int = option(4, "Fast network: crops per batch.", min=1)
    learning_rate: float = option(2e-3, "Fast network: Adam learning rate.", min=0.0)
    width: int = option(16, "Fast network: filters of its first layer (x2, x4 after each downsampling).", min=1)
    residual_blocks: int = option(3, "Fast network: residual blocks at 1/4 resolution.", min=0)

    def validate(self):
        if self.train_size % 4:
            raise UsageError(f"train_size={self.train_size} must be a multiple of 4 (two downsamplings)")
        if not self.extractor_widths:
            raise UsageError("extractor_widths needs at least one stage")
        if min(self.extractor_widths) < 1:
            raise UsageError(f"extractor_widths={list(self.extractor_widths)} must all be >= 1")
        if not self.test_images:
            raise UsageError("test_images needs at least one image")
        if not self.weights:
            raise UsageError("weights must be random, imagenet or a file path")
