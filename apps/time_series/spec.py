"""What the command line knows of time_series without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.time_series.config import TimeSeriesConfig
from common.spec import CO2, SUNSPOTS, AppSpec


SPEC = AppSpec(
    name="time_series",
    description="RNN/LSTM/GRU forecaster (stacked, bidirectional) vs last value, seasonal naive and ARIMA",
    backends=("tensorflow", "jax", "torch"),  # jax tried 2026-12-02 (train); torch by the check
    config_class=TimeSeriesConfig,
    task="apps.time_series.task:TimeSeriesForecasting",
    models=("simple_rnn", "lstm", "gru"),
    embedded_datasets=(SUNSPOTS, CO2),
)
