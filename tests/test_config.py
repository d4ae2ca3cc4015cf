import json

import pytest

from apps.image_classification.config import ImageClassificationConfig
from apps.time_series.config import TimeSeriesConfig
from common.config import describe_fields, parse_set, resolve_config
from common.errors import UsageError


def test_defaults_validate_and_round_trip(tmp_path):
    cfg = resolve_config(ImageClassificationConfig, "image_classification")
    assert cfg.dataset == "mnist5k" and cfg.epochs == 40
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"app": "image_classification", **cfg.to_dict()}))
    assert resolve_config(ImageClassificationConfig, "image_classification", str(path)) == cfg


def test_precedence_file_then_flags_then_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\nwidth: 16\nlearning_rate: 0.01\n")
    cfg = resolve_config(ImageClassificationConfig, "image_classification", str(path),
                         {"epochs": 3, "dataset": None}, ["width=24", "augment=false", "learning_rate=1e-4"])
    assert (cfg.epochs, cfg.width, cfg.augment, cfg.learning_rate, cfg.dataset) == (3, 24, False, 1e-4, "mnist5k")


def test_tuple_fields_parse_from_set():
    cfg = resolve_config(TimeSeriesConfig, "time_series", sets=["arima_order=[2,1,0]", "seasonal_order=1,0,0,11"])
    assert cfg.arima_order == (2, 1, 0) and cfg.seasonal_order == (1, 0, 0, 11)


@pytest.mark.parametrize(
    "sets, message",
    [
        (["nonsense=1"], "unknown config key 'nonsense'"),
        (["epochs=0"], "epochs=0 must be >= 1"),
        (["epochs=-3"], "epochs=-3 must be >= 1"),
        (["epochs=2.5"], "epochs must be an integer"),
        (["strategy=warp"], "strategy='warp' is not one of"),
        (["activation=swish"], "activation='swish' is not one of"),
        (["learning_rate=abc"], "learning_rate must be a number"),
        (["learning_rate=.nan"], "learning_rate must be a finite number"),
        (["augment=maybe"], "augment must be true or false"),
        (["dropout=1.5"], "dropout=1.5 must be in [0, 1)"),
        (["epochs"], "--set expects key=value"),
    ],
)
def test_bad_values_are_usage_errors(sets, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        resolve_config(ImageClassificationConfig, "image_classification", sets=sets)


def test_config_file_errors(tmp_path):
    with pytest.raises(UsageError, match="config file not found"):
        resolve_config(ImageClassificationConfig, "image_classification", str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(UsageError, match="not valid YAML/JSON"):
        resolve_config(ImageClassificationConfig, "image_classification", str(bad))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"app": "time_series", "epochs": 2}))
    with pytest.raises(UsageError, match="is for application 'time_series'"):
        resolve_config(ImageClassificationConfig, "image_classification", str(other))


def test_parse_set_reads_yaml_scalars():
    # Numbers YAML keeps as text (1e-3) are converted by the field type later.
    assert parse_set(["a=3", "b=1e-3", "c=true", "d=text", "e-f=[1, 2]"]) == {
        "a": 3, "b": "1e-3", "c": True, "d": "text", "e_f": [1, 2]}


def test_every_field_has_help():
    for cls in (ImageClassificationConfig, TimeSeriesConfig):
        assert all(text for _, _, _, text in describe_fields(cls))
