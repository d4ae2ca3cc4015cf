"""An MLP on raw table rows, its feature engineering done by Keras preprocessing layers inside the model.

Every feature column is one model input of shape `(batch, 1)`: float32 for numeric columns (NaN
where the cell is missing), string for categorical ones ("" where missing). Inside the model:

* numeric: `Normalization` with the training split's mean and variance (missing cells ignored),
  then `ImputeWithIndicator`: a missing value becomes 0, i.e. the training mean, and a 0/1
  indicator feature says it was missing; with `numeric_bins` > 0 also `PiecewiseLinearEncoding` of
  the raw value over the training split's quantiles (Gorishniy et al., 2022, "On embeddings for
  numerical features in tabular deep learning");
* categorical: `StringLookup` one-hot over the training split's values (the most frequent
  `max_categories`), with "" (missing) as a category of its own and one slot for unseen values.

So the saved `.keras` model and the exported SavedModel both take raw rows with missing cells.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

MISSING = ""  # a missing categorical cell: a category of its own in every vocabulary


def input_name(column: str) -> str:
    """The model input name of a column: TF op names allow letters, digits and `_.-/` only."""
    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", column.strip())
    return name if re.match(r"[A-Za-z0-9.]", name) else f"c{name}"


def _observed(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric column's values as float64, missing cells left out."""
    values = frame[column].to_numpy(np.float64)
    return values[~np.isnan(values)]


def learn_preprocessing(frame: pd.DataFrame, numeric: list[str], categorical: list[str],
                        max_categories: int = 100) -> dict:
    """Statistics of the training rows that the preprocessing layers are built with.

    Returns:
        {"numeric": {column: [mean, variance]}, "categorical": {column: vocabulary}}; a column with
        no numbers gets mean 0 and variance 1, a constant one variance 1; each vocabulary starts
        with "" (missing) and then holds the most frequent values, ties in alphabetical order.

    Example:
        >>> frame = pd.DataFrame({"x": [1.0, np.nan, 3.0], "c": ["a", "", "b"]})
        >>> learn_preprocessing(frame, ["x"], ["c"])
        {'numeric': {'x': [2.0, 1.0]}, 'categorical': {'c': ['', 'a', 'b']}}
    """
    stats = {}
    for column in numeric:
        values = _observed(frame, column)
        mean = float(values.mean()) if len(values) else 0.0
        variance = float(values.var()) if len(values) else 1.0
        stats[column] = [mean, variance if variance > 1e-12 else 1.0]
    vocabularies = {}
    for column in categorical:
        counts = frame[column][frame[column] != MISSING].value_counts()
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:max_categories]
        vocabularies[column] = [MISSING] + [str(value) for value, _ in ranked]
    return {"numeric": stats, "categorical": vocabularies}


def quantile_bins(frame: pd.DataFrame, numeric: list[str], numeric_bins: int) -> dict:
    """The edges of up to `numeric_bins` quantile bins of each numeric column of the training rows (fewer where
    values repeat; none for a constant or empty column), for `PiecewiseLinearEncoding`: the "bins" entry of
    the preprocessing that `build_tabular_mlp` takes. Kept apart from `learn_preprocessing` so that a tuner
    trial can choose the bin count.

    Example:
        >>> quantile_bins(pd.DataFrame({"x": [0.0, 1.0, 2.0, np.nan], "flat": [1.0] * 4}), ["x", "flat"], 2)
        {'x': [0.0, 1.0, 2.0]}
    """
    if not numeric_bins:
        return {}
    bins = {}
    for column in numeric:
        values = _observed(frame, column)
        edges = np.unique(np.quantile(values, np.linspace(0, 1, numeric_bins + 1))) if len(values) else []
        if len(edges) > 1:
            bins[column] = [float(e) for e in edges]
    return bins


@keras.saving.register_keras_serializable(package="dlsuite")
class ImputeWithIndicator(keras.layers.Layer):
    """Replaces NaN by `fill_value` and appends a 0/1 feature per column that marks where it was.

    Args:
        fill_value: what a missing value becomes (0 after `Normalization`: the training mean).

    Example:
        >>> ImputeWithIndicator()(np.array([[1.5], [np.nan]], "float32")).numpy().tolist()
        [[1.5, 0.0], [0.0, 1.0]]
    """

    def __init__(self, fill_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.fill_value = fill_value

    def call(self, x):
        missing = ops.isnan(x)
        filled = ops.where(missing, ops.full_like(x, self.fill_value), x)
        return ops.concatenate([filled, ops.cast(missing, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "fill_value": self.fill_value}


@keras.saving.register_keras_serializable(package="dlsuite")
class PiecewiseLinearEncoding(keras.layers.Layer):
    """One feature per bin between consecutive `edges`: 0 below it, 1 above it, linear inside it.

    A value in bin t reads as t - 1 ones, its fractional position in bin t, then zeros, so the MLP
    sees where a value lies among the training quantiles (Gorishniy et al., 2022). NaN reads as all
    zeros (the missing indicator carries it).

    Args:
        edges: increasing bin edges in the column's units (at least 2).

    Example:
        >>> PiecewiseLinearEncoding([0.0, 1.0, 3.0])(np.array([[-1.0], [2.0], [np.nan]], "float32")).numpy().tolist()
        [[0.0, 0.0], [1.0, 0.5], [0.0, 0.0]]
    """

    def __init__(self, edges, **kwargs):
        super().__init__(**kwargs)
        self.edges = [float(e) for e in edges]
        if len(self.edges) < 2 or any(b <= a for a, b in zip(self.edges, self.edges[1:])):
            raise ValueError(f"edges must be at least 2 increasing values, got {self.edges}")

    def call(self, x):
        lower = ops.convert_to_tensor(np.array(self.edges[:-1], "float32"))
        width = ops.convert_to_tensor(np.diff(np.array(self.edges, "float64")).astype("float32"))
        x = ops.cast(x, "float32")
        position = ops.clip((x - lower) / width, 0.0, 1.0)  # (batch, 1) against (bins,): (batch, bins)
        return ops.where(ops.isnan(position), ops.zeros_like(position), position)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.edges) - 1)

    def get_config(self):
        return {**super().get_config(), "edges": self.edges}


def feature_inputs(preprocessing: dict) -> tuple[dict, list]:
    """The model's raw-row inputs and their encoded features (one tensor per column)."""
    inputs, encoded = {}, []
    bins = preprocessing.get("bins", {})
    for column, (mean, variance) in preprocessing["numeric"].items():
        name = input_name(column)
        raw = inputs[name] = keras.Input(shape=(1,), dtype="float32", name=name)
        x = layers.Normalization(mean=[mean], variance=[variance], name=f"{name}_normalize")(raw)
        encoded.append(ImputeWithIndicator(name=f"{name}_impute")(x))
        if column in bins:
            encoded.append(PiecewiseLinearEncoding(bins[column], name=f"{name}_bins")(raw))
    for column, vocabulary in preprocessing["categorical"].items():
        name = input_name(column)
        x = inputs[name] = keras.Input(shape=(1,), dtype="string", name=name)
        encoded.append(layers.StringLookup(vocabulary=vocabulary, output_mode="one_hot", name=f"{name}_lookup")(x))
    return inputs, encoded


def build_tabular_mlp(preprocessing: dict, num_classes: int = 0, *, units: int = 64, depth: int = 2,
                      dropout: float = 0.1, target_mean: float = 0.0, target_std: float = 1.0,
                      seed: int | None = None, ensemble: int = 1, wide: bool = False) -> keras.Model:
    """A classifier (softmax over `num_classes`) or regressor (`num_classes=0`) on raw rows.

    Args:
        preprocessing: `learn_preprocessing` of the training rows.
        num_classes: classes of the target; 0 for regression.
        units: width of each hidden layer.
        depth: hidden ReLU layers.
        dropout: dropout after each hidden layer.
        target_mean, target_std: regression: the last layer predicts a standardised target, which a
            `Rescaling` layer turns back into the target's units, so outputs (and the loss) are in them.
        seed: seed of the dropout masks.
        ensemble: independent hidden stacks (each with its own initialisation and dropout) on the
            same features, whose outputs (probabilities, or standardised predictions) are averaged.
        wide: also a linear layer from the encoded features to the output, added to the MLP's logits
            (or standardised prediction) before the softmax: wide and deep, so the linear fit that
            logistic or linear regression finds is one the model holds (`start_wide_at_linear_fit` starts it
            there).

    Example:
        >>> train = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
        >>> model = build_tabular_mlp(learn_preprocessing(train, ["x"], ["c"]), num_classes=3, units=8)
        >>> rows = pd.DataFrame({"x": [np.nan], "c": [""]})  # both cells missing
        >>> model.predict(model_inputs(rows, ["x"], ["c"]), verbose=0).shape
        (1, 3)
    """
    inputs, encoded = feature_inputs(preprocessing)
    if not inputs:
        raise ValueError("the table has no feature columns")
    features = layers.Concatenate(name="features")(encoded) if len(encoded) > 1 else encoded[0]
    members = []
    for m in range(max(1, ensemble)):
        # Member 0 keeps the single model's layer names, so a one-member model is the plain MLP.
        tag = "" if m == 0 else f"m{m + 1}_"
        x = features
        for i in range(depth):
            x = layers.Dense(units, activation="relu", name=f"{tag}hidden_{i + 1}")(x)
            if dropout:
                x = layers.Dropout(dropout, seed=None if seed is None else seed + m, name=f"{tag}dropout_{i + 1}")(x)
        width = num_classes or 1
        if wide:
            x = layers.Add(name=f"{tag}wide_and_deep")([layers.Dense(width, name=f"{tag}deep")(x),
                                                         layers.Dense(width, name=f"{tag}wide")(features)])
            members.append(layers.Softmax(name=f"{tag}probabilities")(x) if num_classes else x)
        elif num_classes:
            members.append(layers.Dense(num_classes, activation="softmax", name=f"{tag}probabilities")(x))
        else:
            members.append(layers.Dense(1, name=f"{tag}standardized")(x))
    x = layers.Average(name="ensemble_mean")(members) if len(members) > 1 else members[0]
    if num_classes:
        outputs = x
    else:
        outputs = layers.Rescaling(scale=target_std, offset=target_mean, name="prediction")(x)
    return keras.Model(inputs, outputs, name="tabular_mlp")


# The penalties a regressor's linear start chooses among (ridge's alpha, on the standardised target).
RIDGE_ALPHAS = np.logspace(-3, 3, 13)


def start_wide_at_linear_fit(model: keras.Model, inputs: dict, targets: np.ndarray, num_classes: int, *,
                             target_mean: float = 0.0, target_std: float = 1.0, max_iter: int = 2000) -> None:
    """Set each wide layer of a `wide=True` model to a linear fit of the encoded training features, and the deep
    part's output layer to zero, so training starts at the linear model and the MLP learns what it misses.

    Regression: ridge regression of the standardised target, its penalty chosen among `RIDGE_ALPHAS` by
    leave-one-out error; classification: logistic regression with scikit-learn's default penalty (C = 1; a
    cross-validated C was measured worse on three of the five classification tables of the README), its
    multinomial logits. A training split with fewer than two classes leaves the layers as they are.
    """
    from sklearn.linear_model import LogisticRegression, RidgeCV

    wide = [layer for layer in model.layers if layer.name.endswith("wide") and isinstance(layer, layers.Dense)]
    if not wide:
        return
    features = keras.Model(model.inputs, wide[0].input).predict(inputs, batch_size=1024, verbose=0)
    targets = np.asarray(targets)
    kernel = np.zeros((features.shape[1], num_classes or 1), np.float32)
    bias = np.zeros(num_classes or 1, np.float32)
    if num_classes:
        classes = np.unique(targets)
        if len(classes) < 2:
            return
        fit = LogisticRegression(max_iter=max_iter).fit(features, targets)
        if len(classes) == 2:
            kernel[:, classes[1]], bias[classes[1]] = fit.coef_[0], fit.intercept_[0]
        else:
            kernel[:, classes], bias[classes] = fit.coef_.T, fit.intercept_
        bias[np.setdiff1d(np.arange(num_classes), classes)] = bias.min() - 10.0  # classes never seen in training
    else:
        fit = RidgeCV(alphas=RIDGE_ALPHAS).fit(features, (targets - target_mean) / target_std)
        kernel[:, 0], bias[0] = fit.coef_.reshape(-1), float(fit.intercept_)
    for layer in wide:
        layer.set_weights([kernel, bias])
        deep = model.get_layer(layer.name[: -len("wide")] + "deep")
        deep.set_weights([np.zeros_like(w) for w in deep.get_weights()])


def model_inputs(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict:
    """The model's input dict of a feature table: `(n, 1)` float32 (NaN = missing) and string tensors."""
    import tensorflow as tf

    inputs = {input_name(c): tf.constant(frame[c].to_numpy(np.float32).reshape(-1, 1)) for c in numeric}
    inputs.update({input_name(c): tf.constant(frame[c].astype(str).to_numpy(object).reshape(-1, 1), tf.string)
                   for c in categorical})
    return inputs
