"""Configuration of the fundamentals application: which studies to run, and the networks they compare."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError

STUDIES = ("scratch", "activations", "optimizers", "capacity", "regularization")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu")
# "momentum" is SGD with momentum 0.9; the others are the Keras optimizers of the same name.
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")
REGULARIZERS = ("none", "dropout", "l1", "l2", "early_stopping")


def _check_names(field: str, values: tuple, known: tuple) -> None:
    if not values:
        raise UsageError(f"{field} is empty: give at least one of {', '.join(known)}")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise UsageError(f"{field}: unknown name(s) {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
    if len(set(values)) != len(values):
        raise UsageError(f"{field} lists a name twice: {', '.join(values)}")


@dataclass
class FundamentalsConfig(TrainConfig):
    """Dense networks on one real task, trained many times to compare their parts; see `dlsuite fundamentals config`."""

    dataset: str = option("digits", "Image classification data, flattened into vectors: digits (embedded, 8x8), "
                                     "mnist5k (embedded, 28x28), tfds:NAME or a folder of <class>/ images.")
    study: str = option("all", "Which study to run: the from-scratch network checked against Keras, one of the "
                               "comparisons, or all of them.", choices=STUDIES + ("all",), flag=True)
    seeds: int = option(2, "Each variant is trained with this many seeds (seed, seed+1, ...); tables give mean ± sd.",
                        min=1)
    epochs: int = option(15, "Epochs of each variant of the activation, optimizer and capacity studies (and the "
                             "from-scratch network).", min=1)
    batch_size: int = option(64, "Batch size of every network.", min=1)
    learning_rate: float = option(1e-3, "Learning rate of the networks outside the optimizer study.", min=0.0)
    weight_decay: float = option(1e-2, "Decoupled weight decay of `adamw`.", min=0.0)
    depth: int = option(2, "Hidden layers of the networks outside the capacity study.", min=0)
    width: int = option(64, "Units per hidden layer of the networks outside the capacity study.", min=1)
    activation: str = option("relu", "Activation of the hidden layers outside the activation study.",
                             choices=ACTIVATIONS)
    # The scratch study.
    scratch_optimizer: str = option("adam", "Update rule written out in the from-scratch loop (and given to "
                                            "`model.fit` for the comparison).", choices=("sgd", "adam"))
    gradient_checks: int = option(12, "Entries of each weight and bias checked against central finite "
                                      "differences (float64).", min=1)
    # The comparisons.
    activations: tuple[str, ...] = option(ACTIVATIONS, "Activations compared.")
    optimizers: tuple[str, ...] = option(OPTIMIZERS, "Optimizers compared (momentum = SGD with momentum 0.9).")
    learning_rates: tuple[float, ...] = option((1e-3, 1e-2, 1e-1), "Learning rates tried with each optimizer.")
    depths: tuple[int, ...] = option((1, 2, 4), "Hidden layers compared in the capacity study (0 = a linear "
                                                "softmax model).")
    widths: tuple[int, ...] = option((16, 64, 256), "Units per hidden layer compared in the capacity study.")
    # The regularization study: an over-parameterised network on few examples, trained long.
    regularizations: tuple[str, ...] = option(REGULARIZERS, "Regularisers compared.")
    reg_train_samples: int = option(150, "Training examples of the regularization study (a stratified subset of the "
                                         "training split: few examples make the network over-parameterised).", min=1)
    reg_depth: int = option(2, "Hidden layers of the regularization study's network.", min=1)
    reg_width: int = option(512, "Units per hidden layer of the regularization study's network.", min=1)
    reg_epochs: int = option(150, "Epochs of each regularization variant (early stopping may stop sooner).", min=1)
    dropout: float = option(0.5, "Dropout rate after each hidden layer of the `dropout` variant.", min=0.0)
    l1: float = option(1e-4, "L1 penalty on the kernels of the `l1` variant.", min=0.0)
    l2: float = option(1e-3, "L2 penalty on the kernels of the `l2` variant.", min=0.0)
    patience: int = option(10, "Early stopping: epochs without a better validation loss before stopping "
                               "(the best weights are kept).", min=1)
    image_summary_every: int = option(0, "Unused: figures are written once per study.", min=0)

    def validate(self):
        _check_names("activations", self.activations, ACTIVATIONS)
        _check_names("optimizers", self.optimizers, OPTIMIZERS)
        _check_names("regularizations", self.regularizations, REGULARIZERS)
        for name in ("learning_rates", "depths", "widths"):
            values = getattr(self, name)
            if not values:
                raise UsageError(f"{name} is empty")
            if len(set(values)) != len(values):
                raise UsageError(f"{name} lists a value twice: {', '.join(map(str, values))}")
        if any(not 0 < lr <= 10 for lr in self.learning_rates):
            raise UsageError(f"learning_rates must be in (0, 10], got {', '.join(map(str, self.learning_rates))}")
        if not 0 < self.learning_rate <= 10:
            raise UsageError(f"learning_rate={self.learning_rate} must be in (0, 10]")
        if any(d < 0 for d in self.depths) or any(w < 1 for w in self.widths):
            raise UsageError("depths must be >= 0 and widths >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
        if self.strategy not in ("auto", "default"):
            raise UsageError("the fundamentals studies train small networks one at a time: "
                             "strategy must be auto or default")
        if self.precision != "float32":
            raise UsageError("the fundamentals studies compare float32 networks: precision must be float32")

    def studies(self) -> tuple[str, ...]:
        return STUDIES if self.study == "all" else (self.study,)
