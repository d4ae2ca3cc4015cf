"""What the command line knows of gan without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.gan.config import GANConfig
from common.spec import DIGITS, MNIST5K, AppSpec


def add_action_arguments(name: str, parser) -> None:
    """The options of `dlsuite gan generate`."""
    parser.add_argument("--count", type=int, default=16, help="images to write (default 16)")
    parser.add_argument("--label", help="cgan: the class to draw, by name or index (default: cycle through all)")
    parser.add_argument("--seed", type=int, help="noise seed (default: the run's seed)")
    parser.add_argument("--out", help="folder for the PNG files (default: RUN/generated)")


SPEC = AppSpec(
    name="gan",
    description=("DCGAN or class-conditional GAN (BCE or WGAN-GP), scored by FID/KID on a suite-trained digit "
                 "classifier's features and by class accuracy of conditional samples"),
    config_class=GANConfig,
    task="apps.gan.task:GANTask",
    models=("cgan", "dcgan"),
    actions=(("generate", ("write generated images as PNG files (--count N, --label CLASS for a cgan, --seed, "
                           "--out DIR)")),),
    add_action_arguments=add_action_arguments,
    embedded_datasets=(MNIST5K, DIGITS),
)
