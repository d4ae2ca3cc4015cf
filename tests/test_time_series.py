import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.time_series.config import TimeSeriesConfig
from apps.time_series.defaults import autoregression, choose_window, detect_season, is_trending, step_budget
from apps.time_series.model import build_forecaster
from apps.time_series.task import StepBudget, TimeSeriesForecasting, Windows, _time_column, error_metrics
from common.config import resolve_config
from common.datasets import SeriesData
from common.errors import UsageError
from conftest import TINY_RNN, read_json


def toy_series(n=60, n_val=10, n_test=10):
    values = np.arange(n, dtype=np.float32)
    return SeriesData("toy", np.arange(n, dtype=np.float64), values, n_validation=n_val, n_test=n_test, season=4)


def test_windows_put_targets_in_their_split():
    data = toy_series()
    windows = Windows(data, window=5, horizon=3)
    for split, (lo, hi) in {"train": (0, 40), "validation": (40, 50), "test": (50, 60)}.items():
        pairs = list(windows.dataset(data.values, split).as_numpy_iterator())
        assert pairs, split
        for x, y in pairs:
            # inputs are the 5 values just before the targets; targets stay inside the split
            assert np.array_equal(x, np.arange(y[0] - 5, y[0])) and np.array_equal(y, np.arange(y[0], y[0] + 3))
            assert lo <= y[0] and y[-1] < hi
    test_targets = windows.targets(data.values, "test")
    assert test_targets[:, 0].tolist() == [50, 53, 56]  # one forecast per `horizon` steps
    assert len(list(windows.dataset(data.values, "test"))) == 3


def test_window_longer_than_series_is_an_error():
    with pytest.raises(UsageError, match="window=45 \\+ horizon=1 is longer than the training part"):
        Windows(toy_series(), window=45, horizon=1)
    with pytest.raises(UsageError, match="horizon=20 is longer than the validation"):
        Windows(toy_series(), window=5, horizon=20)


def test_baselines_on_a_known_series():
    data = toy_series()
    cfg = resolve_config(TimeSeriesConfig, "time_series", sets=["window=5", "horizon=2", "arima_order=[1,1,0]"])
    forecasts = TimeSeriesForecasting().baseline_forecasts(cfg, data)
    origins = Windows(data, 5, 2).origins("test")
    np.testing.assert_array_equal(forecasts["last_value"][:, 0], origins - 1)
    np.testing.assert_array_equal(forecasts["seasonal_naive_4"], np.stack([origins - 4, origins - 3], axis=1))
    # a straight line is forecast (almost) exactly by ARIMA(1,1,0)
    np.testing.assert_allclose(forecasts["arima"], np.stack([origins, origins + 1], axis=1), atol=0.5)
    assert error_metrics([1, 2], [2, 4]) == {"mae": 1.5, "rmse": pytest.approx(np.sqrt(2.5))}


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_forecaster_standardises_inside_and_round_trips(tmp_path, cell):
    model = build_forecaster(12, 3, mean=100.0, variance=400.0, cell=cell, num_layers=2, units=4, bidirectional=True,
                             linear_skip=4)
    x = np.random.RandomState(0).normal(100, 20, (5, 12)).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.shape == (5, 3)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras").predict(x, verbose=0), y, rtol=1e-5)


def test_season_detection_finds_the_cycle_not_its_multiples():
    rng = np.random.default_rng(0)
    t = np.arange(300)
    monthly = 20 + 3 * np.sin(2 * np.pi * t / 12) + 0.02 * t + rng.normal(0, 0.3, 300)
    assert detect_season(monthly) == 12
    quarterly = 10 + 2 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.3, 300)
    assert detect_season(quarterly) == 4
    assert detect_season(np.cumsum(rng.normal(size=300))) == 1  # a random walk has no season
    assert detect_season(rng.normal(size=300)) == 1
    assert detect_season(np.ones(50)) == 1


def test_window_and_step_budget_follow_the_series():
    assert choose_window(12, 500) == 24  # two seasons
    assert choose_window(52, 2000) == 20  # two seasons would be over 60 steps
    assert choose_window(1, 400) == 20 and choose_window(1, 70) == 17  # at most a quarter of the training part
    assert choose_window(3, 400) == 12  # at least 12
    assert step_budget(50, 32) == (500, 100)  # a short series: many epochs of few steps
    assert step_budget(227, 32) == (1600, 320)
    assert step_budget(5000, 32) == (4000, 800)  # a long one: at most 4,000 steps
    rng = np.random.default_rng(1)
    assert is_trending(np.cumsum(rng.normal(size=300)) + np.arange(300) * 0.1)
    assert not is_trending(rng.normal(size=300))


def test_autoregression_recovers_an_ar_process():
    rng = np.random.default_rng(0)
    x = np.zeros(2000)
    for t in range(2, 2000):
        x[t] = 0.6 * x[t - 1] - 0.3 * x[t - 2] + rng.normal()
    lags = np.stack([x[:-2], x[1:-1]], axis=1)  # oldest lag first, as in a window
    kernel, bias, _ = autoregression(lags[:1500], x[2:1502, None], lags[1500:], x[1502:, None])
    np.testing.assert_allclose(kernel[:, 0], [-0.3, 0.6], atol=0.06)
    assert abs(bias[0]) < 0.1


def test_forecaster_starts_at_its_autoregression_and_differences_keep_the_level():
    kernel, bias = np.array([[0.25], [0.5]]), np.array([0.1])
    model = build_forecaster(6, 1, mean=10.0, variance=4.0, units=4, linear_skip=2, autoregressive_init=(kernel, bias))
    x = np.array([[9, 11, 10, 12, 8, 14]], np.float32)
    z = (x[0, -2:] - 10.0) / 2.0
    np.testing.assert_allclose(model.predict(x, verbose=0)[0, 0], 10.0 + 2.0 * (z @ kernel[:, 0] + bias[0]), rtol=1e-5)
    relative = build_forecaster(6, 2, units=4, linear_skip=3, differences=True, scale=3.0,
                                autoregressive_init=(np.zeros((3, 2)), np.zeros(2)))
    np.testing.assert_allclose(relative.predict(x + 1000, verbose=0), [[1014, 1014]], rtol=1e-6)  # last value


def test_differencing_choice_and_the_starting_autoregression():
    rng = np.random.default_rng(0)
    task = TimeSeriesForecasting()
    walk = np.cumsum(rng.normal(0.5, 1.0, 300)).astype(np.float32)
    data = SeriesData("walk", np.arange(300.0), walk, n_validation=30, n_test=60, season=1)
    starts = {}
    for choice in ("always", "never", "auto"):
        cfg = resolve_config(TimeSeriesConfig, "time_series", sets=["window=12", f"differencing={choice}", "autoregressive_init=always"])
        differences, (kernel, bias) = task.autoregressive_start(cfg, data)
        assert kernel.shape == (12, 1) and bias.shape == (1,)
        starts[choice] = differences
    assert starts["always"] and not starts["never"] and starts["auto"] in (True, False)
    cfg = resolve_config(TimeSeriesConfig, "time_series", sets=["window=12", "autoregressive_init=never", "differencing=auto"])
    assert task.autoregressive_start(cfg, data) == (True, None)  # KPSS: a random walk with drift trends
    sunspots = resolve_config(TimeSeriesConfig, "time_series")  # keeps the training it was tuned with
    assert sunspots.resolved("autoregressive_init") == "never" and sunspots.resolved("differencing") == "never"
    assert sunspots.resolved("train_steps") == 2400


def test_step_budget_stops_training():
    model = build_forecaster(4, 1, units=2)
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    x, y = np.random.rand(64, 4).astype(np.float32), np.random.rand(64, 1).astype(np.float32)
    history = model.fit(x, y, batch_size=8, epochs=50, callbacks=[StepBudget(20, 1000, "loss")], verbose=0)
    assert len(history.epoch) == 3 and int(model.optimizer.iterations.numpy()) == 20


def test_csv_time_column_is_found_by_name(tmp_path):
    csv = tmp_path / "nile.csv"
    csv.write_text("Year,volume\n1871,1120\n1872,1160\n")
    assert _time_column(str(csv)) == "Year"
    assert _time_column(str(csv), column="Year") == ""
    assert _time_column("sunspots") == ""


def test_training_lowers_the_loss():
    t = np.arange(400, dtype=np.float32)
    series = 50 + 30 * np.sin(t / 6)
    x = np.stack([series[i:i + 16] for i in range(380)])
    y = series[16:396, None]
    keras.utils.set_random_seed(0)
    model = build_forecaster(16, 1, mean=50.0, variance=450.0, units=8)
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    history = model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]


@pytest.mark.slow
def test_train_evaluate_predict_export_end_to_end(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("time_series", "train", "--epochs", "3", "--quiet", "--output-dir", run, *TINY_RNN)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert metrics["dataset"] == "sunspots" and set(metrics["test"]) == {"mae", "rmse"}
    assert set(metrics["baselines"]) == {"last_value", "seasonal_naive_11", "arima"}
    assert metrics["baselines"]["last_value"]["mae"] == pytest.approx(22.745, abs=0.01)  # DATA.md: 22.7
    assert (run / "plots" / "forecast.png").exists()

    code, out, err = cli("time_series", "evaluate", "--run", run)
    assert code == 0 and f"mae={metrics['test']['mae']:.4f}" in out

    code, out, err = cli("time_series", "predict", "--run", run)
    assert code == 0, err
    assert '"time": 2009.0' in out and '"forecast"' in out

    code, out, err = cli("time_series", "export", "--run", run)
    assert code == 0, err
    model = keras.saving.load_model(run / "model.keras")
    x = np.linspace(0, 150, model.input_shape[1], dtype=np.float32)[None]
    served = tf.saved_model.load(str(run / "saved_model"))  # keep a reference: it owns the variables
    np.testing.assert_allclose(served.serve(tf.constant(x))["prediction"].numpy(), model.predict(x, verbose=0),
                               rtol=1e-5)


@pytest.mark.slow
def test_co2_multi_step_and_csv(cli, tmp_path):
    code, out, err = cli("time_series", "train", "--dataset", "co2", "--epochs", "1", "--quiet",
                         "--output-dir", tmp_path / "co2", "--set", "units=4", "--set", "arima_order=[1,1,0]",
                         "--set", "seasonal_order=[0,0,0,0]")
    assert code == 0, err
    metrics = read_json(tmp_path / "co2" / "metrics.json")
    assert "seasonal_naive_52" in metrics["baselines"]
    # a seasonal series: the seasonal naive forecast beats repeating the last value
    assert metrics["baselines"]["seasonal_naive_52"]["mae"] < metrics["baselines"]["last_value"]["mae"]

    csv = tmp_path / "series.csv"
    t = np.arange(120)
    csv.write_text("day,sales\n" + "\n".join(f"{i},{100 + 10 * np.sin(i / 5):.3f}" for i in t))
    code, out, err = cli("time_series", "train", "--dataset", csv, "--epochs", "1", "--quiet", "--set", "column=sales",
                         "--set", "time_column=day", "--output-dir", tmp_path / "csv", *TINY_RNN)
    assert code == 0, err
    assert read_json(tmp_path / "csv" / "metrics.json")["data"]["n_test"] == 24


@pytest.mark.parametrize("horizon", [1, 3])
def test_forecast_plot_draws_every_forecast(horizon):
    """One-step forecasts are one line through all of them (a plot of one point each drew nothing); multi-step
    forecasts a segment each."""
    task = TimeSeriesForecasting()
    cfg = resolve_config(TimeSeriesConfig, "time_series", sets=[f"horizon={horizon}", "window=12"])
    data = task.load_data(cfg)
    origins = task._windows(cfg, data).origins("test")

    class Constant:  # stands in for the model: predict() is all figures() asks of it
        def predict(self, inputs, verbose=0):
            return np.full((len(origins), horizon), float(np.mean(data.values)))

    figure = task.figures(Constant(), cfg, data, {"test": None}, "test")["forecast"]
    red = [line for line in figure.axes[0].lines if line.get_color() == "tab:red"]
    if horizon == 1:
        assert len(red) == 1 and len(red[0].get_xdata()) == len(origins)
    else:
        assert len(red) == len(origins) and all(len(line.get_xdata()) == horizon for line in red)

