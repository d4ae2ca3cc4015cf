"""Recurrent forecaster builder."""

from __future__ import annotations

import keras
import numpy as np
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
    differences: bool = False,
    scale: float = 1.0,
    autoregressive_init: tuple[np.ndarray, np.ndarray] | None = None,
) -> keras.Model:
    """Maps a window of `window` raw values to the next `horizon` raw values.

    Values are standardised with the training mean and variance inside the model (and the
    forecast mapped back), so the saved model takes and returns the series in its own units.
    With `linear_skip=k` a linear map of the last k standardised values is added to the recurrent
    output: the autoregressive "highway" of LSTNet (Lai et al., 2018), which carries the linear
    part of the dynamics and leaves the recurrent layers the non-linear rest.

    With `differences=True` (for trending series) the window is taken relative to its last value
    and divided by `scale` (the spread of one-step changes) instead of standardised, and the
    forecast is that last value plus the predicted change times `scale`: the model sees the shape
    of the recent past, not its level, so it extrapolates beyond the training range.

    `autoregressive_init=(kernel, bias)` starts the linear path from a fitted autoregression (see
    `apps.time_series.defaults.autoregression`) and the recurrent head from zero, so training
    starts at the classical least-squares forecast and the recurrent layers learn what it misses.

    Example:
        >>> model = build_forecaster(20, 1, cell="lstm", units=8)
        >>> model.output_shape
        (None, 1)
    """
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r} (choose from: {', '.join(CELLS)})")
    inputs = keras.Input(shape=(window,), name="window")
    if differences:
        last = layers.Cropping1D((window - 1, 0), name="last_value")(layers.Reshape((window, 1))(inputs))
        last = layers.Flatten(name="last_value_flat")(last)
        x = layers.Subtract(name="relative_to_last")([inputs, last])
        x = layers.Rescaling(1.0 / scale, name="standardise")(x)
    else:
        x = layers.Normalization(mean=mean, variance=variance, name="standardise")(inputs)
    x = layers.Reshape((window, 1))(x)
    standardised = x
    for i in range(num_layers):
        rnn = CELLS[cell](units, dropout=dropout, return_sequences=i < num_layers - 1, name=f"{cell}_{i + 1}")
        x = layers.Bidirectional(rnn, name=f"bidirectional_{i + 1}")(x) if bidirectional else rnn(x)
    head_init = "zeros" if autoregressive_init is not None and linear_skip else "glorot_uniform"
    x = layers.Dense(horizon, kernel_initializer=head_init, name="recurrent_head")(x)
    if linear_skip:
        lags = min(linear_skip, window)
        recent = layers.Cropping1D((window - lags, 0), name="last_lags")(standardised)
        autoregressive = layers.Dense(horizon, name="autoregressive")
        linear = autoregressive(layers.Flatten()(recent))
        if autoregressive_init is not None:
            kernel, bias = autoregressive_init
            autoregressive.set_weights([np.asarray(kernel, np.float32).reshape(lags, horizon),
                                        np.asarray(bias, np.float32).reshape(horizon)])
        x = layers.Add(name="highway")([x, linear])
    x = layers.Activation("linear", dtype="float32")(x)
    if differences:
        x = layers.Rescaling(scale, name="unstandardise")(x)
        outputs = layers.Add(name="plus_last_value")([x, last])
    else:
        outputs = layers.Normalization(mean=mean, variance=variance, invert=True, name="unstandardise")(x)
    return keras.Model(inputs, outputs, name=f"{cell}_forecaster")
