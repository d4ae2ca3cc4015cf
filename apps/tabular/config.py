"""Configuration of the tabular application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


@dataclass
class TabularConfig(TrainConfig):
    """An MLP on raw table rows (preprocessing inside the model); see `dlsuite tabular config`."""

    dataset: str = option("penguins", "A table: penguins (embedded, palmerpenguins), a CSV file, or tfds:NAME of a "
                                      "TFDS set of scalar features (tfds:titanic; needs internet once).")
    target: str = option("species", "The column to predict; every other column is a feature.", flag=True)
    task_type: str = option("auto", "classification or regression; auto: text, booleans and up to 10 distinct whole "
                                    "numbers are classes, other numbers regression.",
                            choices=("auto", "classification", "regression"))
    categorical_columns: tuple[str, ...] = option((), "Numeric-looking columns to treat as categories (codes, years).")
    drop_columns: tuple[str, ...] = option((), "Columns that are not features (row ids, leaks).")
    max_classes: int = option(50, "Classification: the most classes a target may have.", min=2)
    max_categories: int = option(100, "Categorical columns: one-hot over the this many most frequent training "
                                      "values; rarer and unseen ones share one slot.", min=1)
    epochs: int = option(60, "Training epochs (fewer where that would exceed train_steps).", min=1)
    train_steps: int = option(3000, "Most optimizer steps: a big table trains for fewer epochs (0 = no limit).", min=0)
    batch_size: int = option(32, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(3e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    regression_loss: str = option("mse", "Regression loss, in the target's units: squared or absolute error "
                                         "(mae fits the median; measured on two tables in the README); either "
                                         "way the epoch of least validation MAE is served.",
                                  choices=("mse", "mae"))
    numeric_bins: int = option(8, "Numeric columns: also a piecewise linear encoding over this many training "
                                  "quantile bins (0 = off; 8 measured best on the user-style tables, worse "
                                  "on the penguin body mass, README).", min=0)
    units: int = option(64, "Width of each hidden layer.", min=1)
    depth: int = option(2, "Hidden ReLU layers.", min=0)
    dropout: float = option(0.1, "Dropout after each hidden layer.", min=0.0)
    ensemble: int = option(1, "MLPs on the same features, their outputs averaged (one model, trained together; 4 "
                              "measured worse on cars_origin, README).", min=1)
    wide: bool = option(True, "Add a linear layer from the encoded features to the output (wide and deep; "
                              "with the quantile bins, measured ahead of the MLP alone, README).")
    wide_init: str = option("fit", "wide=true: start the linear layer at a logistic (classification) or ridge "
                                   "(regression) fit of the encoded training features and the MLP's output "
                                   "layer at zero, so training starts at the linear model (fit; measured ahead "
                                   "of random on 6 tables, README), or both at random (random).",
                            choices=("fit", "random"))
    baseline_max_iter: int = option(2000, "Iterations of the logistic regression baseline.", min=1)
    examples: int = option(10, "Test rows shown with their predictions in TensorBoard (Text tab).", min=0)
    predictions_csv: str = option("", "predict: also write the input rows with their predictions to this CSV.")
    image_summary_every: int = option(10, "Write TensorBoard figures every N epochs (0 = only at the end).", min=0)

    def validate(self):
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
