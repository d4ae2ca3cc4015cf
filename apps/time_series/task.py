"""Time-series forecasting: a recurrent forecaster against classical baselines on the same split.

Windows come from `keras.utils.timeseries_dataset_from_array`. A window starting at index i reads
values[i : i + window] and predicts values[i + window : i + window + horizon]. Training targets
lie inside the train block, validation targets inside the validation block and test targets inside
the test block (inputs may reach back into earlier blocks, as a forecaster in use would). Test
forecasts start at every `horizon`-th step of the test block, so each test value is forecast once.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import keras

from apps.time_series.config import TimeSeriesConfig
from apps.time_series.defaults import autoregression, choose_window, detect_season, is_trending, step_budget
from apps.time_series.model import build_forecaster
from apps.time_series.spec import SPEC
from common.datasets import SeriesData, load_series
from common.datasets.embedded import Co2, Sunspots
from common.datasets.files import read_series_csv
from common.errors import UsageError
from common.hyperparameters import choice, float_range, int_range
from common.pipeline import make_pipeline
from common.task import Task


def error_metrics(actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    error = np.asarray(forecast, np.float64).ravel() - np.asarray(actual, np.float64).ravel()
    return {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error**2)))}


class Windows:
    """Index arithmetic of the train/validation/test windows of one series."""

    def __init__(self, data: SeriesData, window: int, horizon: int):
        n = len(data.values)
        self.window, self.horizon = window, horizon
        self.train_end = data.n_train
        self.val_end = data.n_train + data.n_validation
        if data.n_train < window + horizon:
            raise UsageError(
                f"window={window} + horizon={horizon} is longer than the training part of {data.name} "
                f"({data.n_train} of {n} values); use a shorter window"
            )
        if data.n_validation < horizon or data.n_test < horizon:
            raise UsageError(f"horizon={horizon} is longer than the validation ({data.n_validation}) "
                             f"or test ({data.n_test}) part of {data.name}")
        # Window start indices (inclusive ranges) per split; target start = start + window.
        self.starts = {
            "train": (0, self.train_end - horizon - window, 1),
            "validation": (self.train_end - window, self.val_end - horizon - window, 1),
            "test": (self.val_end - window, n - horizon - window, horizon),
        }

    def origins(self, split: str) -> np.ndarray:
        """Index of the first forecast step of each window of a split."""
        first, last, stride = self.starts[split]
        return np.arange(first, last + 1, stride) + self.window

    def dataset(self, values: np.ndarray, split: str):
        first, last, stride = self.starts[split]
        n = len(values)
        targets = np.zeros((n, self.horizon), np.float32)
        for i in range(n - self.window - self.horizon + 1):
            targets[i] = values[i + self.window: i + self.window + self.horizon]
        return keras.utils.timeseries_dataset_from_array(
            values.astype(np.float32), targets, sequence_length=self.window, sequence_stride=stride,
            start_index=first, end_index=last + self.window, batch_size=None, shuffle=False,
        )

    def targets(self, values: np.ndarray, split: str) -> np.ndarray:
        return np.stack([values[t: t + self.horizon] for t in self.origins(split)])


class StepBudget(keras.callbacks.Callback):
    """Stops training after `max_steps` optimizer steps, or `patience` steps after the best validation loss.

    Steps are the optimizer's own count, so a resumed run goes on counting where it stopped. It is read
    once when a fit starts and counted on from there: reading the variable after every batch would wait
    on the device each step. The best value and its step carry over a resume (`resume_attributes`)."""

    resume_attributes = ("best", "best_step")

    def __init__(self, max_steps: int, patience: int, monitor: str = "val_loss"):
        super().__init__()
        self.max_steps, self.patience, self.monitor = max_steps, patience, monitor
        self.best, self.best_step = np.inf, 0
        self._first, self._done = 0, 0

    def on_train_begin(self, logs=None):
        self._first, self._done = int(self.model.optimizer.iterations.numpy()), 0

    def _steps(self) -> int:
        return self._first + self._done

    def on_train_batch_end(self, batch, logs=None):
        self._done += 1
        if self._steps() >= self.max_steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        value, steps = (logs or {}).get(self.monitor), self._steps()
        if value is not None and value < self.best:
            self.best, self.best_step = value, steps
        if steps - self.best_step >= self.patience or steps >= self.max_steps:
            self.model.stop_training = True


class TimeSeriesForecasting(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (Sunspots, Co2)
    primary_metric = ("mae", "lower", ".3f")
    benchmark_rows = (("time_series-co2", {"dataset": "co2"}),)

    def load_data(self, cfg: TimeSeriesConfig) -> SeriesData:
        """The series, its `season` set: the config's, else the embedded set's, else detected from the
        autocorrelation of the training steps."""
        data = load_series(cfg.dataset, cfg.data_dir, column=cfg.column, time_column=cfg.time_column or
                           _time_column(cfg.dataset, cfg.column), test_size=cfg.test_size, validation_size=cfg.validation_size)
        season = cfg.season or (data.season if data.season > 1 else detect_season(data.values[: data.n_train]))
        data = dataclasses.replace(data, season=season)
        self._windows(cfg, data)  # fails early on impossible sizes
        return data

    def window_of(self, cfg: TimeSeriesConfig, data: SeriesData) -> int:
        """The config's window, the embedded set's, or for a CSV two seasons (see `choose_window`)."""
        return cfg.resolved("window") or choose_window(data.season, data.n_train)

    def _windows(self, cfg, data) -> Windows:
        return Windows(data, self.window_of(cfg, data), cfg.resolved("horizon"))

    def num_train_examples(self, cfg, data) -> int:
        n = len(self._windows(cfg, data).origins("train"))
        return min(n, cfg.max_train_samples) if cfg.max_train_samples else n

    def build_inputs(self, cfg, data: SeriesData) -> dict:
        windows = self._windows(cfg, data)
        return {
            "train": make_pipeline(windows.dataset(data.values, "train"), cfg.batch_size, shuffle=True, seed=cfg.seed,
                                   max_examples=cfg.max_train_samples),
            "validation": make_pipeline(windows.dataset(data.values, "validation"), cfg.batch_size),
            "test": make_pipeline(windows.dataset(data.values, "test"), cfg.batch_size),
        }

    def data_summary(self, data: SeriesData) -> dict:
        return {"length": int(len(data.values)), "n_train": int(data.n_train), "n_validation": int(data.n_validation),
                "n_test": int(data.n_test), "season": int(data.season)}

    def autoregressive_start(self, cfg: TimeSeriesConfig, data: SeriesData) -> tuple[bool, tuple | None]:
        """(whether the model works in differences, the ridge autoregression its linear path starts from).

        `differencing=auto` fits the autoregression both ways (standardised values, and values relative to
        the window's last one) and keeps the one with the lower validation error."""
        train = data.values[: data.n_train].astype(np.float64)
        windows = self._windows(cfg, data)
        lags = min(cfg.linear_skip, windows.window)
        mean, std, scale = float(train.mean()), float(train.std() or 1.0), float(np.std(np.diff(train)) or 1.0)

        def standardised(split, differences):
            x = np.stack([data.values[t - windows.window: t] for t in windows.origins(split)]).astype(np.float64)
            y = windows.targets(data.values, split).astype(np.float64)
            if differences:
                return (x - x[:, -1:])[:, -lags:] / scale, (y - x[:, -1:]) / scale
            return (x[:, -lags:] - mean) / std, (y - mean) / std

        differencing = cfg.resolved("differencing")
        choices = {"auto": (False, True), "always": (True,), "never": (False,)}[differencing]
        if cfg.resolved("autoregressive_init") == "never" or not lags:
            if differencing == "auto":
                return is_trending(train), None
            return choices[0], None
        fits = []
        for differences in choices:
            kernel, bias, error = autoregression(*standardised("train", differences),
                                                 *standardised("validation", differences))
            # In original units, so the two ways compare.
            fits.append((error * (scale if differences else std) ** 2, differences, (kernel, bias)))
        _, differences, init = min(fits, key=lambda fit: fit[0])
        return differences, init

    def build_model(self, cfg: TimeSeriesConfig, data: SeriesData):
        train = data.values[: data.n_train].astype(np.float64)
        windows = self._windows(cfg, data)
        differences, init = self.autoregressive_start(cfg, data)
        return build_forecaster(
            windows.window, windows.horizon, mean=float(train.mean()), variance=float(train.var() or 1.0),
            cell=cfg.cell, num_layers=cfg.layers, units=cfg.units, bidirectional=cfg.bidirectional,
            dropout=cfg.dropout, linear_skip=cfg.linear_skip, differences=differences,
            scale=float(np.std(np.diff(train)) or 1.0), autoregressive_init=init,
        )

    def callbacks(self, cfg: TimeSeriesConfig, data: SeriesData, run) -> list:
        n_windows = self.num_train_examples(cfg, data)
        budget, patience = step_budget(n_windows, cfg.batch_size)
        return [StepBudget(cfg.resolved("train_steps") or budget, cfg.resolved("patience_steps") or patience,
                           self.monitor)]

    def build_losses(self, cfg):
        return "mse"

    def build_metrics(self, cfg):
        return ["mae"]

    def _forecast(self, model, inputs, split) -> np.ndarray:
        return model.predict(inputs[split], verbose=0)

    def evaluate(self, model, cfg, data: SeriesData, inputs) -> dict:
        windows = self._windows(cfg, data)
        return error_metrics(windows.targets(data.values, "test"), self._forecast(model, inputs, "test"))

    # --- baselines ----------------------------------------------------------------------------
    def baseline_forecasts(self, cfg: TimeSeriesConfig, data: SeriesData) -> dict[str, np.ndarray]:
        """Test forecasts of last value, seasonal naive and SARIMAX, from the same origins as the model."""
        windows = self._windows(cfg, data)
        values = data.values.astype(np.float64)
        horizon = windows.horizon
        season = data.season
        origins = windows.origins("test")
        steps = np.arange(horizon)
        forecasts = {"last_value": np.stack([np.repeat(values[t - 1], horizon) for t in origins])}
        if season > 1:
            # The value one season (or more, for long horizons) before each target, from before the origin.
            back = season * ((steps // season) + 1)
            forecasts[f"seasonal_naive_{season}"] = np.stack([values[t + steps - back] for t in origins])
        forecasts["arima"] = self._arima(cfg, values, windows.val_end, origins, horizon)
        return forecasts

    def _arima(self, cfg, values, fit_end, origins, horizon) -> np.ndarray:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        order, seasonal = cfg.resolved("arima_order"), cfg.resolved("seasonal_order")
        trend = "c" if order[1] == 0 and seasonal[1] == 0 else None
        seasonal = seasonal if seasonal[3] > 1 else (0, 0, 0, 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; the score says how good the fit is
            try:
                fitted = SARIMAX(values[:fit_end], order=order, seasonal_order=seasonal, trend=trend).fit(disp=False)
            except (ValueError, np.linalg.LinAlgError) as exc:
                raise UsageError(f"ARIMA{order}x{seasonal} baseline failed: {exc}") from None
            # Same parameters, filtered up to each origin, forecast `horizon` steps.
            return np.stack([fitted.apply(values[:t]).forecast(horizon) for t in origins])

    def baselines(self, cfg, data: SeriesData) -> dict:
        actual = self._windows(cfg, data).targets(data.values, "test")
        return {name: error_metrics(actual, forecast) for name, forecast in self.baseline_forecasts(cfg, data).items()}

    def figures(self, model, cfg, data: SeriesData, inputs, split="test") -> dict:
        import matplotlib.pyplot as plt

        windows = self._windows(cfg, data)
        origins = windows.origins(split)
        forecast = self._forecast(model, inputs, split)
        start = max(0, origins[0] - 3 * windows.window)
        fig, ax = plt.subplots(figsize=(10, 4))
        ax.plot(data.times[start:], data.values[start:], color="black", lw=1, label="actual")
        if windows.horizon == 1:  # one line through the one-step forecasts (a plot of one point draws nothing)
            ax.plot(data.times[origins], forecast[:, 0], color="tab:red", lw=1.5, marker=".", ms=3, label="forecast")
        else:  # a segment per forecast origin
            for k, (t, f) in enumerate(zip(origins, forecast)):
                ax.plot(data.times[t: t + windows.horizon], f, color="tab:red", lw=1.5,
                        label="forecast" if k == 0 else None)
        ax.axvline(data.times[origins[0]], color="grey", ls="--", lw=1)
        metrics = error_metrics(windows.targets(data.values, split), forecast)
        ax.set_title(f"{data.name} {split}: {windows.horizon}-step forecast, MAE {metrics['mae']:.3g}")
        ax.legend()
        return {"forecast": fig}

    # --- serving ------------------------------------------------------------------------------
    def predict(self, model, cfg, summary: dict, inputs: list[str]) -> list[dict]:
        """Forecasts the steps after the end of the run's series, or of a CSV given as the input."""
        if len(inputs) > 1:
            raise UsageError("time_series predict takes at most one CSV file")
        if inputs:
            times, values = read_series_csv(inputs[0], column=cfg.column,
                                            time_column=cfg.time_column or _time_column(inputs[0], cfg.column))
        else:
            data = load_series(cfg.dataset, cfg.data_dir, column=cfg.column,
                               time_column=cfg.time_column or _time_column(cfg.dataset, cfg.column),
                               test_size=cfg.test_size, validation_size=cfg.validation_size)
            times, values = data.times, data.values
        window = model.input_shape[1]
        if len(values) < window:
            raise UsageError(f"the series has {len(values)} values; the model needs a window of {window}")
        forecast = model.predict(values[None, -window:].astype(np.float32), verbose=0)[0]
        step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
        return [{"step": i + 1, "time": round(float(times[-1] + (i + 1) * step), 4), "forecast": round(float(v), 4)}
                for i, v in enumerate(forecast)]

    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported forecaster takes `window` (the last values of the series) and returns `prediction`, the
        next steps, as `predict` does."""
        return {"prediction": outputs}

    def benchmark_target(self, metrics: dict):
        if metrics["dataset"] != "sunspots":
            return None
        mae = metrics["test"]["mae"]
        baselines = [(name, b["mae"]) for name, b in (metrics.get("baselines") or {}).items() if "mae" in b]
        if not baselines:
            return "test MAE no worse than the best classical baseline", False, f"MAE {mae:.3f}, no baseline ran"
        name, best = min(baselines, key=lambda item: item[1])
        return ("test MAE no worse than the best classical baseline", mae <= best,
                f"MAE {mae:.3f} vs best baseline {name} {best:.3f}")

    def search_space(self, hp, cfg: TimeSeriesConfig) -> dict:
        return {
            "cell": choice(hp, "cell", cfg.cell, ["simple_rnn", "lstm", "gru"]),
            "units": choice(hp, "units", cfg.units, [16, 32, 64]),
            "layers": int_range(hp, "layers", cfg.layers, 1, 2),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.3),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 3e-4, 1e-2, log=True),
        }


TIME_COLUMN_NAMES = ("time", "date", "datetime", "timestamp", "year", "period", "ds")


def _time_column(path: str, column: str = "") -> str:
    """A CSV's time column where the config names none: the first column called time, date, year, ...
    (other than the value `column`); "" for anything else."""
    import os

    import pandas as pd

    if not path.lower().endswith(".csv") or not os.path.isfile(path):
        return ""
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return ""  # read_series_csv says what is wrong with the file
    return next((c for c in header if c.strip().lower() in TIME_COLUMN_NAMES and c != column), "")
