import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.time_series.config import TimeSeriesConfig
from apps.time_series.model import build_forecaster
from apps.time_series.task import TimeSeriesForecasting, Windows, error_metrics
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
    np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(), model.predict(x, verbose=0), rtol=1e-5)


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
