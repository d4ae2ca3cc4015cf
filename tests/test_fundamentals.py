"""Fundamentals tests: the hand-written network's gradients against finite differences, its training
against `model.fit` from the same weights on the same batches, the studies' tables, plots and logs
from the CLI, resuming a killed study, and clear errors for bad settings."""

import os

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from apps.fundamentals import scratch
from apps.fundamentals.config import FundamentalsConfig
from apps.fundamentals.model import build_mlp
from apps.fundamentals.studies import Variant, variants
from common.config import resolve_config
from common.errors import UsageError
from conftest import read_json

# The smallest end-to-end settings: one epoch, one seed, 200 training examples, one or two variants per study.
TINY = ["--epochs", "1", "--set", "seeds=1", "--set", "max_train_samples=200", "--set", "width=8",
        "--set", "gradient_checks=2", "--set", "activations=[relu]", "--set", "optimizers=[sgd]",
        "--set", "learning_rates=[0.1]", "--set", "depths=[0]", "--set", "widths=[4]",
        "--set", "regularizations=[early_stopping]", "--set", "reg_train_samples=30",
        "--set", "reg_width=16", "--set", "reg_epochs=2", "--set", "patience=1"]


@pytest.fixture(scope="module")
def digits():
    """Real digits as flat vectors in [0, 1] (the first 96)."""
    data = load_digits()
    return (data.data[:96] / 16.0).astype(np.float32), data.target[:96]


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "gelu"])
def test_gradients_agree_with_finite_differences(digits, activation):
    x, y = digits
    net = scratch.DenseNetwork((64, 12, 7, 10), activation, seed=3, dtype="float64")
    check = scratch.gradient_check(net, x[:32].astype(np.float64), y[:32], entries=6, seed=1)
    assert len(check["analytic"]) == 6 * 6  # 6 entries of each of 3 weights and 3 biases
    assert check["max_abs_error"] < 1e-7
    assert check["max_relative_error"] < 1e-3
    assert np.abs(check["analytic"]).max() > 1e-4  # the check compared real gradients, not zeros


def test_forward_pass_and_loss_match_keras(digits):
    x, y = digits
    net = scratch.DenseNetwork((64, 16, 10), "tanh", seed=0)
    twin = scratch.keras_twin(net)
    np.testing.assert_allclose(np.asarray(net(x)), np.asarray(twin(x)), atol=1e-5)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, twin(x))
    np.testing.assert_allclose(float(net.loss(x, y)), float(keras_loss), rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_scratch_training_matches_model_fit(digits, optimizer):
    x, y = digits
    net = scratch.DenseNetwork((64, 16, 16, 10), "relu", seed=2)
    twin = scratch.keras_twin(net)
    start = net.get_weights()
    update, keras_optimizer = scratch.make_optimizer(optimizer, 0.05 if optimizer == "sgd" else 0.01)
    ours = scratch.train_from_scratch(net, update, x, y, batch_size=20, epochs=3)  # 5 batches, the last of 16
    theirs = scratch.train_keras_twin(twin, keras_optimizer, x, y, batch_size=20, epochs=3)
    assert ours[-1] < ours[0]  # it learns
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    for mine, keras_weights, first in zip(net.get_weights(), twin.get_weights(), start):
        assert np.abs(mine - first).max() > 1e-3  # both moved...
        np.testing.assert_allclose(mine, keras_weights, atol=1e-5)  # ...to the same place


def test_scratch_loop_stops_on_nan(digits):
    x, y = digits
    net = scratch.DenseNetwork((64, 8, 10), "relu")
    with pytest.raises(FloatingPointError, match="loss became"):
        scratch.train_from_scratch(net, scratch.SGD(1e30), x, y, batch_size=32, epochs=3)


def test_models_and_variants():
    assert build_mlp((8, 8, 1), 10, depth=0, width=5).count_params() == 650  # a linear softmax model
    model = build_mlp((8, 8, 1), 10, depth=2, width=8, dropout=0.5, l2=1e-3)
    assert model.output_shape == (None, 10) and len(model.losses) == 3
    cfg = FundamentalsConfig()
    assert [v.name for v in variants(cfg, "activations")] == ["relu", "sigmoid", "tanh", "gelu"]
    assert len(variants(cfg, "optimizers")) == 5 * 3
    assert {v.train_samples for v in variants(cfg, "regularization")} == {cfg.reg_train_samples}
    assert [v.early_stopping for v in variants(cfg, "regularization")] == [False, False, False, False, True]
    assert Variant("optimizers", "sgd lr=0.1", 1, 1, "relu").slug == "sgd_lr_0.1"


@pytest.mark.parametrize("sets, message", [
    (["study=physics"], "study='physics' is not one of"),
    (["activations=[relu,swish]"], "unknown name"),
    (["optimizers=[adam,lion]"], "unknown name"),
    (["regularizations=[dropout,dropout]"], "twice"),
    (["learning_rates=[]"], "empty"),
    (["learning_rates=[0.1,-1]"], "must be in"),
    (["dropout=1.0"], "dropout"),
    (["activation=softsign"], "not one of"),
])
def test_bad_settings(sets, message):
    with pytest.raises(UsageError, match=message):
        resolve_config(FundamentalsConfig, "fundamentals", sets=sets)


def error_line(err: str) -> str:
    """The CLI's one-line error (the first preparation of a dataset also prints TFDS progress bars)."""
    return err.strip().splitlines()[-1].split("\r")[-1]


def test_cli_errors(cli, tmp_path):
    code, _, err = cli("fundamentals", "train", "--study", "everything", "--output-dir", tmp_path / "a")
    assert code == 2 and error_line(err).startswith("dlsuite: error: study='everything' is not one of")
    code, _, err = cli("fundamentals", "train", "--study", "regularization", "--set", "reg_train_samples=5000",
                       "--output-dir", tmp_path / "b")
    assert code == 2 and "fewer than the 5000" in error_line(err)
    code, _, err = cli("fundamentals", "train", "--study", "regularization", "--set", "reg_train_samples=4",
                       "--output-dir", tmp_path / "c")
    assert code == 2 and "cannot cover 10 classes" in error_line(err)
    assert not os.path.exists(tmp_path / "c" / "checkpoints")  # it failed before training anything


@pytest.mark.slow
def test_all_studies_end_to_end(cli, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = cli("fundamentals", "train", "--output-dir", out, "--quiet", *TINY)
    assert code == 0, err
    metrics = read_json(out / "metrics.json")
    studies = metrics["test"]["studies"]
    assert set(studies) == {"scratch", "activations", "optimizers", "capacity", "regularization"}
    assert studies["scratch"]["max_weight_difference"] < 1e-4
    assert studies["scratch"]["gradient_max_relative_error"] < 1e-3
    for name in studies:
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
        assert f"### {name}" in studies[name]["table"]
    stopped = studies["regularization"]["variants"]["early_stopping"]
    assert stopped["train_examples"] == 30 and stopped["seeds"] == 1 and 0.0 <= stopped["test_accuracy"] <= 1.0
    assert "| depth 0 (linear) |" in (out / "tables.md").read_text()
    assert 0.0 < metrics["test"]["accuracy"] <= 1.0 and "/" in metrics["test"]["best_variant"]
    assert set(metrics["baselines"]) == {"logistic_regression", "logistic_regression_30_examples"}
    assert os.path.isdir(out / "logs" / "activations" / "relu" / "seed0" / "train")
    assert os.path.isdir(out / "logs" / "scratch" / "from_scratch")
    assert os.listdir(out / "logs" / "test")
    # The served model is the best variant by validation accuracy; it evaluates and predicts like a classifier.
    code, stdout, err = cli("fundamentals", "evaluate", "--run", out)
    assert code == 0 and "accuracy=" in stdout, err


@pytest.mark.slow
def test_killed_study_resumes_with_the_unfinished_variants(cli, tmp_path, monkeypatch):
    import apps.fundamentals.task as task_module

    calls = []
    real = task_module.train_variant

    def counting(cfg, variant, *args, **kwargs):
        if len(calls) == stop_after[0]:
            raise KeyboardInterrupt
        calls.append(variant.name)
        return real(cfg, variant, *args, **kwargs)

    monkeypatch.setattr(task_module, "train_variant", counting)
    args = ["fundamentals", "train", "--output-dir", tmp_path / "run", "--quiet", "--study", "activations",
            *TINY, "--set", "activations=[relu,tanh]"]
    stop_after = [1]
    assert cli(*args)[0] == 130
    assert not (tmp_path / "run" / "metrics.json").exists()
    stop_after = [99]
    code, _, err = cli(*args)
    assert code == 0, err
    assert calls == ["relu", "tanh"]  # relu once, before the interruption; then only tanh
    variants_done = read_json(tmp_path / "run" / "metrics.json")["test"]["studies"]["activations"]["variants"]
    assert set(variants_done) == {"relu", "tanh"}
