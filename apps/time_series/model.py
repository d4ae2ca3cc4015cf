"""Recurrent forecaster builder."""

from __future__ import annotations

import keras
from keras import layers

CELLS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}


def build_forecaster(
    window: int,
    horizon: int,
    *,
    mean: float = 0.0,
    variance: float = 1.0,
    cell: str = "gru",
    num_layers: int = 1,
    units: int = 32,
    bidirectional: bool = False,
    dropout: float = 0.0,
    linear_skip: int = 0,
) -> keras.Model:
    """Maps a window of `window` raw values to the next `horizon` raw values.

    Values are standardised with the training mean and variance inside the model (and the
    forecast mapped back), so the saved model takes and returns the series in its own units.
    With `linear_skip=k` a linear map of the last k standardised values is added to the recurrent
    output: the autoregressive "highway" of LSTNet (Lai et al., 2018), which carries the linear
    part of the dynamics and leaves the recurrent layers the non-linear rest.

    Example:
        >>> model = build_forecaster(20, 1, cell="lstm", units=8)
        >>> model.output_shape
        (None, 1)
    """
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r} (choose from: {', '.join(CELLS)})")
    inputs = keras.Input(shape=(window,), name="window")
    x = layers.Normalization(mean=mean, variance=variance, name="standardise")(inputs)
    x = layers.Reshape((window, 1))(x)
    standardised = x
    for i in range(num_layers):
        rnn = CELLS[cell](units, dropout=dropout, return_sequences=i < num_layers - 1, name=f"{cell}_{i + 1}")
        x = layers.Bidirectional(rnn, name=f"bidirectional_{i + 1}")(x) if bidirectional else rnn(x)
    x = layers.Dense(horizon, name="recurrent_head")(x)
    if linear_skip:
        lags = min(linear_skip, window)
        recent = layers.Cropping1D((window - lags, 0), name="last_lags")(standardised)
        linear = layers.Dense(horizon, name="autoregressive")(layers.Flatten()(recent))
        x = layers.Add(name="highway")([x, linear])
    x = layers.Activation("linear", dtype="float32")(x)
    outputs = layers.Normalization(mean=mean, variance=variance, invert=True, name="unstandardise")(x)
    return keras.Model(inputs, outputs, name=f"{cell}_forecaster")
