"""Tabular tests: the table loader and its errors, the preprocessing layers on rows with missing cells, model and
SavedModel round trips on raw rows, training lowering the loss, and the CLI end to end with its bad inputs."""

import csv

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from apps.tabular.model import (ImputeWithIndicator, PiecewiseLinearEncoding, build_tabular_mlp, input_name,
                                learn_preprocessing, model_inputs, quantile_bins, start_wide_at_linear_fit)
from apps.tabular.data import load_table
from common.errors import UsageError
from common.export import export_saved_model
from conftest import read_json

TINY = ["--set", "units=8", "--set", "depth=1", "--set", "image_summary_every=0", "--set", "examples=3",
        "--batch-size", "32"]
COLUMNS = ("colour", "width", "height", "grade", "size")  # the features when "kind" is the target


def measurements(n: int = 90, seed: int = 0) -> pd.DataFrame:
    """Rows whose class and size follow their width and colour (a learnable toy, for mechanics), with holes."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n)
    width = rng.normal(10, 3, n).round(2)
    height = (2 * width + rng.normal(0, 1, n)).round(2)
    kind = np.where(width > 10, "large", "small")
    frame = pd.DataFrame({"colour": colour, "width": width, "height": height, "grade": rng.integers(1, 4, n),
                          "kind": kind, "size": (width * 3 + (colour == "red") * 5).round(2)})
    frame.loc[::7, "width"] = np.nan
    frame.loc[::5, "colour"] = np.nan
    return frame


def write_csv(path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


@pytest.fixture
def table_csv(tmp_path):
    return write_csv(tmp_path / "table.csv", measurements())


def test_csv_table_split_and_task_inference(table_csv):
    data = load_table(table_csv, target="kind")
    assert data.task == "classification" and data.class_names == ["large", "small"]
    assert sum(data.sizes.values()) == 90 and data.sizes == {"train": 63, "validation": 9, "test": 18}
    assert data.numeric == ["width", "height", "grade", "size"] and data.categorical == ["colour"]
    assert set(data.targets["test"]) == {0, 1}
    train = data.frames["train"]
    assert train["width"].isna().any() and (train["colour"] == "").any()  # missing cells stay missing
    assert load_table(table_csv, target="size").task == "regression"
    assert load_table(table_csv, target="grade").task == "classification"  # few whole numbers
    forced = load_table(table_csv, target="grade", task="regression", categorical_columns=("height",),
                        drop_columns=("size",))
    assert forced.task == "regression" and "height" in forced.categorical and "size" not in forced.columns


def test_rows_without_a_target_are_left_out(tmp_path):
    frame = measurements()
    frame.loc[:4, "kind"] = np.nan
    data = load_table(write_csv(tmp_path / "t.csv", frame), target="kind")
    assert data.dropped == 5 and sum(data.sizes.values()) == 85


def test_bad_tables(tmp_path, table_csv):
    with pytest.raises(UsageError, match="no target column 'species'"):
        load_table(table_csv, target="species")
    constant = measurements().assign(kind="same")
    with pytest.raises(UsageError, match="constant"):
        load_table(write_csv(tmp_path / "c.csv", constant), target="kind")
    many = measurements(300).assign(kind=[f"k{i % 60}" for i in range(300)])
    with pytest.raises(UsageError, match="60 distinct values: too many classes"):
        load_table(write_csv(tmp_path / "m.csv", many), target="kind")
    with pytest.raises(UsageError, match="not numeric"):
        load_table(table_csv, target="kind", task="regression")
    with pytest.raises(UsageError, match="drop_columns names 'nope'"):
        load_table(table_csv, target="kind", drop_columns=("nope",))
    with pytest.raises(UsageError, match="class 'rare' of target 'kind' has 2 rows"):
        load_table(write_csv(tmp_path / "r.csv", measurements().assign(kind=["rare"] * 2 + ["common"] * 88)),
                   target="kind")
    with pytest.raises(UsageError, match="not found"):
        load_table(str(tmp_path / "missing.csv"), target="kind")
    with pytest.raises(UsageError, match="is an image dataset"):
        load_table("digits", target="label")


def test_preprocessing_learns_from_training_rows_only():
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0, 5.0], "c": ["b", "", "a", "b"]})
    stats = learn_preprocessing(frame, ["x"], ["c"])
    assert stats["numeric"]["x"] == pytest.approx([3.0, 8 / 3])  # the NaN is ignored, not counted as 0
    assert stats["categorical"]["c"] == ["", "b", "a"]  # missing first, then by frequency
    assert learn_preprocessing(pd.DataFrame({"x": [np.nan, np.nan]}), ["x"], [])["numeric"]["x"] == [0.0, 1.0]


def test_impute_with_indicator():
    out = ImputeWithIndicator()(np.array([[1.5, np.nan], [np.nan, 2.0]], "float32"))
    np.testing.assert_array_equal(np.asarray(out), [[1.5, 0.0, 0.0, 1.0], [0.0, 2.0, 1.0, 0.0]])


def test_feature_space_on_rows_with_missing_values():
    """Inside the model: a missing number becomes the training mean plus indicator 1; a missing category has its own
    one-hot slot, distinct from an unseen category."""
    train = pd.DataFrame({"x": [2.0, 4.0, np.nan], "c": ["a", "b", ""]})
    stats = learn_preprocessing(train, ["x"], ["c"])
    model = build_tabular_mlp(stats, num_classes=2, units=4)
    features = keras.Model(model.inputs, model.get_layer("features").output)
    rows = pd.DataFrame({"x": [np.nan, 3.0, 4.0], "c": ["", "zebra", "a"]})
    encoded = np.asarray(features(model_inputs(rows, ["x"], ["c"])))
    # x -> (normalised value, missing), then c one-hot over [unseen, missing, a, b]
    np.testing.assert_allclose(encoded, [[0, 1, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 1, 0]], atol=1e-6)
    assert np.isfinite(model.predict(model_inputs(rows, ["x"], ["c"]), verbose=0)).all()


def test_piecewise_linear_encoding_over_training_quantiles():
    """Bin edges are the training quantiles (repeats merged); a value reads as ones for the bins below it, its
    position inside its own bin, zeros above; NaN reads as zeros, the missing indicator beside it says 1."""
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, np.nan], "flat": [5.0] * 6})
    stats = {**learn_preprocessing(train, ["x", "flat"], []), "bins": quantile_bins(train, ["x", "flat"], 4)}
    assert stats["bins"] == {"x": [0.0, 1.0, 2.0, 3.0, 4.0]}  # a constant column gets no bins
    encode = PiecewiseLinearEncoding(stats["bins"]["x"])
    np.testing.assert_allclose(np.asarray(encode(np.array([[-3.0], [2.25], [9.0], [np.nan]], "float32"))),
                               [[0, 0, 0, 0], [1, 1, 0.25, 0], [1, 1, 1, 1], [0, 0, 0, 0]], atol=1e-6)
    model = build_tabular_mlp(stats, num_classes=2, units=4)
    features = keras.Model(model.inputs, model.get_layer("features").output)
    rows = pd.DataFrame({"x": [np.nan, 2.0], "flat": [5.0, 5.0]})
    # x -> (normalised value, missing, 4 bins), then flat -> (normalised value, missing)
    np.testing.assert_allclose(np.asarray(features(model_inputs(rows, ["x", "flat"], []))),
                               [[0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0]], atol=1e-6)
    with pytest.raises(ValueError, match="increasing"):
        PiecewiseLinearEncoding([1.0, 1.0])


def tiny_model(data, numeric_bins=0, **kwargs):
    train = data.frames["train"]
    stats = {**learn_preprocessing(train, data.numeric, data.categorical),
             "bins": quantile_bins(train, data.numeric, numeric_bins)}
    return build_tabular_mlp(stats, len(data.class_names), units=8, depth=1, **kwargs)


@pytest.mark.parametrize("numeric_bins", [0, 8])
def test_model_and_saved_model_take_raw_rows(tmp_path, table_csv, numeric_bins):
    data = load_table(table_csv, target="size")
    y = data.targets["train"]
    model = tiny_model(data, numeric_bins, target_mean=float(y.mean()), target_std=float(y.std()))
    rows = pd.DataFrame({"colour": ["", "red", "purple"], "width": [np.nan, 9.5, 11.0],
                         "height": [np.nan, np.nan, 22.0], "grade": [1.0, np.nan, 3.0], "kind": ["", "small", "odd"]})
    inputs = model_inputs(rows, data.numeric, data.categorical)
    predicted = model.predict(inputs, verbose=0)
    assert predicted.shape == (3, 1) and np.isfinite(predicted).all()
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(again.predict(inputs, verbose=0), predicted, rtol=1e-5)

    served = tf.saved_model.load(export_saved_model(model, str(tmp_path / "saved")))
    outputs = served.signatures["serving_default"](**{input_name(c): tf.constant(v) for c, v in inputs.items()})
    np.testing.assert_allclose(next(iter(outputs.values())).numpy(), predicted, rtol=1e-5)


def test_ensemble_averages_its_members(table_csv):
    data = load_table(table_csv, target="kind")
    stats = learn_preprocessing(data.frames["train"], data.numeric, data.categorical)
    model = build_tabular_mlp(stats, num_classes=2, units=4, depth=1, dropout=0.0, seed=0, ensemble=3)
    inputs = model_inputs(data.frames["test"], data.numeric, data.categorical)
    members = [keras.Model(model.inputs, model.get_layer(name).output)
               for name in ("probabilities", "m2_probabilities", "m3_probabilities")]
    np.testing.assert_allclose(model.predict(inputs, verbose=0),
                               np.mean([m.predict(inputs, verbose=0) for m in members], axis=0), rtol=1e-5)


def test_wide_path_is_a_linear_model_of_the_features(table_csv):
    """With the deep path's output layer at zero, a wide-and-deep classifier is logistic regression on the encoded
    features."""
    data = load_table(table_csv, target="kind")
    stats = learn_preprocessing(data.frames["train"], data.numeric, data.categorical)
    model = build_tabular_mlp(stats, num_classes=2, units=4, depth=1, wide=True)
    deep = model.get_layer("deep")
    deep.set_weights([np.zeros_like(w) for w in deep.get_weights()])
    inputs = model_inputs(data.frames["test"], data.numeric, data.categorical)
    features = np.asarray(keras.Model(model.inputs, model.get_layer("features").output)(inputs))
    kernel, bias = model.get_layer("wide").get_weights()
    logits = features @ kernel + bias
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(inputs, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("target", ["kind", "colour", "size"])
def test_wide_start_is_the_linear_fit(table_csv, target):
    """`wide_init=fit`: before training, the model predicts what scikit-learn's logistic regression (two or three
    classes) or cross-validated ridge regression of the encoded training features predicts."""
    from sklearn.linear_model import LogisticRegression, RidgeCV

    from apps.tabular.model import RIDGE_ALPHAS

    data = load_table(table_csv, target=target)
    stats = {**learn_preprocessing(data.frames["train"], data.numeric, data.categorical),
             "bins": quantile_bins(data.frames["train"], data.numeric, 4)}
    mean, std = stats.get("target", (0.0, 1.0))
    classes = len(data.class_names)
    model = build_tabular_mlp(stats, classes, units=4, depth=1, wide=True, ensemble=2, target_mean=mean,
                              target_std=std)
    train = model_inputs(data.frames["train"], data.numeric, data.categorical)
    start_wide_at_linear_fit(model, train, data.targets["train"], classes, target_mean=mean, target_std=std)
    encode = keras.Model(model.inputs, model.get_layer("features").output)
    features = {split: np.asarray(encode(model_inputs(data.frames[split], data.numeric, data.categorical)))
                for split in ("train", "test")}
    test = model_inputs(data.frames["test"], data.numeric, data.categorical)
    if classes:
        expected = LogisticRegression(max_iter=2000).fit(features["train"], data.targets["train"]).predict_proba(
            features["test"])
    else:
        ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(features["train"], (data.targets["train"] - mean) / std)
        expected = (ridge.predict(features["test"]) * std + mean).reshape(-1, 1)
    np.testing.assert_allclose(model.predict(test, verbose=0), expected, atol=2e-3)  # float32 features either way


def test_step_budget_shortens_big_tables():
    from apps.tabular.config import TabularConfig
    from apps.tabular.task import budget_epochs

    assert budget_epochs(TabularConfig(epochs=60, train_steps=3000), 8) == 60  # 480 steps: all epochs
    assert budget_epochs(TabularConfig(epochs=60, train_steps=3000), 140) == 22  # 8,400 steps: cut to 3,080
    assert budget_epochs(TabularConfig(epochs=60, train_steps=0), 140) == 60


def test_training_lowers_the_loss(table_csv):
    data = load_table(table_csv, target="kind")
    model = tiny_model(data)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    ds = tf.data.Dataset.from_tensor_slices((model_inputs(data.frames["train"], data.numeric, data.categorical),
                                             data.targets["train"])).batch(16)
    history = model.fit(ds, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny classification run on the toy table, shared by the tests of the finished-run actions."""
    from dlsuite.cli import run as dlsuite

    root = tmp_path_factory.mktemp("tabular")
    table = write_csv(root / "table.csv", measurements())
    assert dlsuite(["tabular", "train", "--dataset", table, "--target", "kind", "--epochs", "2",
                    "--output-dir", str(root / "run"), "--quiet", *TINY]) == 0
    return root / "run"


def test_cli_train_predict_export(cli, tmp_path, trained_run):
    run = trained_run
    metrics = read_json(run / "metrics.json")
    assert metrics["data"]["task"] == "classification" and 0 <= metrics["test"]["accuracy"] <= 1
    assert {"logistic_regression", "hist_gradient_boosting"} <= set(metrics["baselines"])
    assert "macro_f1" in metrics["baselines"]["hist_gradient_boosting"]
    assert (run / "plots" / "confusion_matrix.png").is_file() and (run / "examples" / "predictions.md").is_file()
    assert list((run / "logs").rglob("events.out.tfevents*"))

    rows = tmp_path / "rows.csv"
    rows.write_text("colour,width,height,grade,size\nred,,20,,\n,12.5,,2,30\n", encoding="utf-8")
    written = tmp_path / "predicted.csv"
    code, out, err = cli("tabular", "predict", "--run", run, rows, "--set", f"predictions_csv={written}")
    assert code == 0, err
    records = [line for line in out.splitlines() if line.startswith("{")]
    assert len(records) == 2 and all('"prediction"' in r for r in records)
    assert list(pd.read_csv(written).columns) == [*COLUMNS, "predicted_kind"]

    code, out, err = cli("tabular", "export", "--run", run, "--path", tmp_path / "saved")
    assert code == 0, err
    assert (tmp_path / "saved" / "saved_model.pb").is_file()  # its raw-row signature: test_model_and_saved_model...


def test_cli_regression(cli, tmp_path, table_csv):
    run = tmp_path / "run"
    code, _, err = cli("tabular", "train", "--dataset", table_csv, "--set", "target=size", "--epochs", "2",
                       "--set", "regression_loss=mae", "--output-dir", run, "--quiet", *TINY)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert metrics["data"]["task"] == "regression" and {"mae", "rmse", "r2"} <= set(metrics["test"])
    assert {"linear_regression", "hist_gradient_boosting"} <= set(metrics["baselines"])
    assert (run / "plots" / "predicted_vs_true.png").is_file()


def test_regressor_serves_its_best_validation_mae_epoch(cli, tmp_path, table_csv):
    """Trained on squared error (the default loss), the model kept is the epoch of least validation MAE, the metric
    a regressor is reported by; a classifier's is chosen by validation cross-entropy."""
    from apps.tabular.config import TabularConfig
    from apps.tabular.task import Tabular

    run = tmp_path / "run"
    code, _, err = cli("tabular", "train", "--dataset", table_csv, "--set", "target=size", "--epochs", "5",
                       "--output-dir", run, "--quiet", *TINY)
    assert code == 0, err
    log = pd.read_csv(run / "training_log.csv")
    task, cfg = Tabular(), TabularConfig(dataset=table_csv, target="size", batch_size=32)
    data = task.load_data(cfg)
    assert (task.monitor, task.monitor_mode) == ("val_mae", "min")
    model = keras.models.load_model(run / "model.keras")
    served = model.evaluate(task.build_inputs(cfg, data)["validation"], return_dict=True, verbose=0)["mae"]
    assert served == pytest.approx(log["val_mae"].min(), rel=1e-4)
    task.load_data(TabularConfig(dataset=table_csv, target="kind"))
    assert (task.monitor, task.monitor_mode) == ("val_loss", "auto")


def test_cli_bad_inputs(cli, tmp_path, table_csv, trained_run):
    def fails(*args, match):
        code, _, err = cli("tabular", *args)
        assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err

    fails("train", "--dataset", table_csv, "--target", "nope", "--output-dir", tmp_path / "a", match="no target column")
    constant = write_csv(tmp_path / "constant.csv", measurements().assign(kind="same"))
    fails("train", "--dataset", constant, "--target", "kind", "--output-dir", tmp_path / "b", match="is constant")
    many = write_csv(tmp_path / "many.csv", measurements(300).assign(kind=[f"k{i % 60}" for i in range(300)]))
    fails("train", "--dataset", many, "--target", "kind", "--output-dir", tmp_path / "c", match="too many classes")
    fails("train", "--set", "task_type=clustering", "--output-dir", tmp_path / "d", match="task_type")

    run = trained_run
    unknown = tmp_path / "unknown.csv"
    with open(unknown, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([[*COLUMNS, "wingspan"], ["red", 1, 2, 3, 4, 5]])
    fails("predict", "--run", run, unknown, match="column(s) 'wingspan' the model was not trained on")
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("colour,width\nred,3\n", encoding="utf-8")
    fails("predict", "--run", run, lacking, match="lacks column(s) 'height', 'grade'")
    text = tmp_path / "text.csv"
    text.write_text("colour,width,height,grade,size\nred,wide,2,3,4\n", encoding="utf-8")
    fails("predict", "--run", run, text, match="column 'width' of")
    fails("predict", "--run", run, match="predict needs a CSV")


def test_penguins_builder_and_search_space():
    """The offline default: palmerpenguins through its TFDS builder, missing cells kept; the hyper-model's defaults."""
    import keras_tuner

    from apps.tabular.config import TabularConfig
    from apps.tabular.task import Tabular

    data = load_table("penguins", target="species")
    assert data.sizes == {"train": 240, "validation": 35, "test": 69}
    assert data.class_names == ["Adelie", "Chinstrap", "Gentoo"]
    frames = pd.concat(data.frames.values())
    assert int(frames[data.numeric].isna().sum().sum()) == 8 and int((frames["sex"] == "").sum()) == 11
    mass = load_table("penguins", target="body_mass_g")
    assert mass.task == "regression" and mass.dropped == 2
    cfg = TabularConfig()
    assert Tabular().search_space(keras_tuner.HyperParameters(), cfg) == {
        "units": cfg.units, "depth": cfg.depth, "dropout": cfg.dropout, "learning_rate": cfg.learning_rate,
        "numeric_bins": cfg.numeric_bins}
    assert Tabular().primary_metric_of({"data": {"task": "regression"}})[0] == "mae"


def test_tfds_table_under_mock_data(tmp_path):
    """The online path (`tfds:NAME`) without downloading: TFDS's mock examples of `penguins/simple`."""
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=60, data_dir=str(tmp_path)):
        data = load_table("tfds:penguins/simple", target="species", data_dir=str(tmp_path))
    assert data.task == "classification" and len(data.class_names) == 3
    assert sum(data.sizes.values()) == 60 and data.categorical == ["island", "sex"]
    assert "body_mass_g" in data.numeric
