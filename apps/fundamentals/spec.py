"""What the command line knows of fundamentals without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.fundamentals.config import FundamentalsConfig
from common.spec import DIGITS, MNIST5K, AppSpec


SPEC = AppSpec(
    name="fundamentals",
    description=("the building blocks made visible: a keras.ops dense network checked against finite differences "
                 "and model.fit; activations, optimizers, depth/width and regularisers compared"),
    config_class=FundamentalsConfig,
    task="apps.fundamentals.task:Fundamentals",
    models=("mlp",),
    embedded_datasets=(DIGITS, MNIST5K),
)
