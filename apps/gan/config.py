"""Configuration of the GAN application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import MAX_IMAGE_SIZE, TrainConfig, option
from common.errors import UsageError


@dataclass
class GANConfig(TrainConfig):
    """A DCGAN or conditional GAN on an image dataset; see `dlsuite gan config`."""

    dataset: str = option("mnist5k", "Dataset: mnist5k, digits, tfds:mnist, tfds:fashion_mnist, tfds:cifar10, or a "
                                     "class-folder path.")
    epochs: int = option(25, "Training epochs (passes over the training images).", min=1)
    batch_size: int = option(64, "Global batch size of real images (split across replicas).", min=1)
    learning_rate: float = option(4e-4, "Learning rate of both networks (DCGAN used 2e-4; 4e-4 conditions on the "
                                           "class within fewer epochs here).", min=0.0)
    d_learning_rate: float = option(0.0, "Learning rate of the discriminator alone (0 = learning_rate).", min=0.0)
    beta_1: float = option(0.5, "Adam's beta_1 for both optimizers (DCGAN's 0.5; WGAN-GP uses 0).", min=0.0)
    beta_2: float = option(0.999, "Adam's beta_2 for both optimizers (WGAN-GP uses 0.9).", min=0.0)
    model: str = option("cgan", "dcgan: unconditional; cgan: generator and (projection) discriminator take the class.",
                        choices=("cgan", "dcgan"))
    loss: str = option("bce", "bce: non-saturating GAN loss; wgan_gp: Wasserstein loss with gradient penalty.",
                       choices=("bce", "wgan_gp"))
    d_steps: int = option(0, "Discriminator updates per generator update (0 = 1 for bce, 5 for wgan_gp).", min=0)
    gp_weight: float = option(10.0, "wgan_gp: weight of the gradient penalty.", min=0.0)
    ema_decay: float = option(0.99, "Samples come from an exponential moving average of the generator's weights with "
                                    "this decay per step (0 = the trained weights themselves).", min=0.0)
    latent_dim: int = option(64, "Length of the generator's noise vector.", min=1)
    width: int = option(32, "Filters of the generator's last and the discriminator's first convolution (x2 in the "
                            "other layer).", min=1)
    dropout: float = option(0.3, "Dropout rate on the discriminator's features.", min=0.0)
    image_size: int = option(0, "Resize images to this square size (0 = native; image folders default to 64); sides "
                                "must be multiples of 4.", min=0, max=MAX_IMAGE_SIZE)
    channels: int = option(0, "Force 1 (grey) or 3 (colour) channels (0 = native).", choices=(0, 1, 3))
    eval_samples: int = option(1000, "Generated images for the Frechet distance, KID and class accuracy.", min=10)
    val_fid_samples: int = option(500, "Generated images for the per-epoch validation FID (`val_fid`, which picks the "
                                       "checkpoint that is kept).", min=10)
    samples_per_class: int = option(10, "Columns of the per-epoch sample grid (cgan: one row per class; dcgan: a "
                                        "square of this many per side).", min=1)
    classifier_run: str = option("", "A finished image_classification run on the same kind of images whose features "
                                     "measure FID/KID and whose predictions measure class accuracy. Empty: train one "
                                     "with `classifier`, cached next to the TFDS data dir.", flag=True)
    classifier: dict = option({"epochs": 20, "baseline_max_samples": 0},
                              "classifier_run empty: image_classification config fields of the feature classifier, "
                              "trained on this run's dataset (its dataset, image_size and channels).")
    augment_shots: int = option(10, "Augmentation experiment: real images per class (0 = skip the experiment).", min=0)
    augment_generated: int = option(100, "Augmentation experiment: generated images per class added to them.", min=1)
    augment_steps: int = option(400, "Augmentation experiment: training steps of each classifier.", min=1)
    image_summary_every: int = option(0, "Extra TensorBoard figures every N epochs (0 = only at the end; the sample "
                                         "grid is written every epoch regardless).", min=0)

    def validate(self):
        if self.image_size % 4 or 0 < self.image_size < 8:
            raise UsageError(f"image_size={self.image_size}: the GAN upsamples twice by 2, so image sides must be "
                             "multiples of 4, at least 8 (or image_size=0 for the native size)")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
        for name in ("beta_1", "beta_2", "ema_decay"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UsageError(f"{name}={getattr(self, name)} must be in [0, 1)")
        if not isinstance(self.classifier, dict):
            raise UsageError(f"classifier must be a mapping of image_classification fields, got {self.classifier!r}")

    @property
    def num_d_steps(self) -> int:
        return self.d_steps or (5 if self.loss == "wgan_gp" else 1)
