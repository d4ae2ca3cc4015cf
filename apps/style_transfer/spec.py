"""What the command line knows of style_transfer without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.style_transfer.config import StyleTransferConfig
from common.spec import AppSpec


def add_action_arguments(name: str, parser) -> None:
    """The options of `dlsuite style_transfer stylize`."""
    parser.add_argument("--content", help="content image: a path or scikit-image name (default: the run's)")
    parser.add_argument("--style", help="style image: a path or scikit-image/scikit-learn name "
                                        "(default: the run's)")
    parser.add_argument("--steps", type=int, help="Adam steps (default: the run's `steps`)")
    parser.add_argument("--output", help="the stylised PNG (default: RUN/stylized/CONTENT-STYLE.png); the "
                                         "losses per step go next to it as .csv")


SPEC = AppSpec(
    name="style_transfer",
    description=("neural style transfer: optimisation of one image and a fast feed-forward network for one style, "
                 "on Gram-matrix style + content + TV losses, vs the content image and colour transfer"),
    config_class=StyleTransferConfig,
    task="apps.style_transfer.task:StyleTransfer",
    models=("fast_network", "optimization"),
    actions=(("stylize", ("stylise a content image by optimisation (the slow method), with the run's extractor and "
                          "loss weights")),),
    add_action_arguments=add_action_arguments,
)
