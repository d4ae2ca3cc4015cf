"""What the command line knows of tabular without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.tabular.config import TabularConfig
from common.spec import AppSpec, EmbeddedSet


PENGUINS = EmbeddedSet(
    "penguins", "table",
    "344 Palmer Archipelago penguins, 8 columns with 19 missing cells (palmerpenguins).")


SPEC = AppSpec(
    name="tabular",
    description=("MLP on raw table rows (normalisation, one-hot, missing-value imputation with indicators inside "
                 "the model) vs logistic/linear regression and HistGradientBoosting"),
    config_class=TabularConfig,
    task="apps.tabular.task:Tabular",
    models=("mlp",),
    embedded_datasets=(PENGUINS,),
)
