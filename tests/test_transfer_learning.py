import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.image_classification.model import build_cnn
from apps.transfer_learning.backbones import build_application, load_weights_file
from apps.transfer_learning.model import (
    FitToBackbone,
    build_transfer_model,
    freeze_backbone,
    tunable_layers,
    unfreeze_top,
)
from apps.transfer_learning.pretraining import LowResolutionPretraining, low_resolution
from apps.transfer_learning.task import TransferLearning
from common.datasets import sample_shots
from common.errors import UsageError
from common.pretrained import cut_before_classifier
from conftest import read_json, write_png

# A pre-training run of seconds: a one-block CNN, one epoch on 200 digits.
TINY_PRETRAIN = ("pretrain={dataset: digits, epochs: 1, depth: 1, width: 8, dense_units: 16, "
                 "max_train_samples: 200, baseline_max_samples: 0, augment: false, min_steps: 0}")
TINY_RUN = ["--epochs", "2", "--quiet", "--set", "head_epochs=1", "--set", "shots=3", "--set", "epoch_examples=0",
            "--set", TINY_PRETRAIN]


def digits_arrays(n=200):
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images[:n, :, :, None] * 16).clip(0, 255).astype(np.float32), digits.target[:n]


def tiny_backbone():
    return cut_before_classifier(build_cnn((28, 28, 1), 10, depth=1, width=8, dense_units=16, dropout=0.0))


@pytest.fixture(scope="module")
def backbone_run(tmp_path_factory):
    """A finished tiny image_classification run on digits, to use with --backbone-run."""
    from apps.image_classification.task import ImageClassification
    from common.config import resolve_config
    from common.training import train

    task = ImageClassification()
    run_dir = str(tmp_path_factory.mktemp("backbone_run"))
    overrides = {"dataset": "digits", "epochs": 1, "depth": 1, "width": 8, "dense_units": 16,
                 "max_train_samples": 200, "baseline_max_samples": 0}
    train(task, resolve_config(task.config_class, task.name, overrides=overrides), run_dir, verbose=0)
    return run_dir


def test_cut_before_classifier_ends_at_the_penultimate_features():
    backbone = tiny_backbone()
    assert backbone.name == "backbone" and backbone.output_shape == (None, 16)
    assert not any(layer.name == "logits" for layer in backbone.layers)


def test_fit_to_backbone_resizes_pads_and_converts():
    grey = np.full((2, 8, 8, 1), 255.0, np.float32)
    out = FitToBackbone((28, 28), 1, margin=4 / 28)(grey).numpy()
    assert out.shape == (2, 28, 28, 1)
    assert out[:, :4].max() == 0 and out[:, :, -4:].max() == 0  # the blank MNIST-style border
    np.testing.assert_allclose(out[:, 4:24, 4:24], 255.0)
    colour = FitToBackbone((32, 32), 3, preprocessing="caffe")(grey).numpy()
    assert colour.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(colour[0, 0, 0], 255.0 - np.array([103.939, 116.779, 123.68]), rtol=1e-5)


def test_transfer_model_shapes_and_channel_check():
    model = build_transfer_model((8, 8, 1), 5, tiny_backbone(), margin=0.14, head_units=8, head_dropout=0.1)
    assert model.output_shape == (None, 5)
    np.testing.assert_allclose(model(np.zeros((3, 8, 8, 1), np.float32)).numpy().sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="3 channel"):
        build_transfer_model((8, 8, 3), 5, tiny_backbone())


def test_phases_freeze_then_unfreeze_the_top_with_batch_norm_frozen():
    model = build_transfer_model((8, 8, 1), 10, tiny_backbone())
    backbone = model.get_layer("backbone")
    unfreeze_top(model, 2)
    freeze_backbone(model)  # absolute: the same state whatever ran before
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]  # the new logits layer only
    unfreeze_top(model, 2)
    top = tunable_layers(backbone)[-2:]
    assert [layer.name for layer in top] == ["block1_conv2", "hidden"]
    assert all(layer.trainable for layer in top) and not tunable_layers(backbone)[0].trainable
    batch_norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert batch_norms and not any(layer.trainable for layer in batch_norms)
    assert len(model.trainable_weights) == 2 + 1 + 2  # logits, block1_conv2 (no bias under batch norm), hidden


def test_low_resolution_copies_look_like_enlarged_digits():
    x, _ = digits_arrays(20)
    enlarged = FitToBackbone((28, 28), 1, margin=4 / 28)(x).numpy()  # what the backbone sees of a digit
    copies = np.stack([low_resolution(tf.constant(image), 8, 4 / 28).numpy() for image in enlarged])
    assert copies.shape == enlarged.shape and not copies[:, :4].any() and not copies[:, :, -4:].any()
    # A digit enlarged from 8x8 keeps its look (a little more blur); a sharp MNIST-like stroke gets it.
    assert np.abs(copies - enlarged).mean() < 0.25 * enlarged.mean()
    stroke = np.zeros((28, 28, 1), np.uint8)
    stroke[4:24, 13] = 255
    blurred = low_resolution(tf.constant(stroke), 8, 4 / 28).numpy()
    assert blurred.dtype == np.uint8 and blurred.max() < 200 and (blurred > 0).sum() > 40
    assert np.abs(blurred.astype(float) - stroke).mean() > 0.5 * stroke.mean()


def test_low_resolution_pretraining_doubles_every_split_and_has_its_own_cache(data_dir):
    from apps.image_classification.task import ImageClassification
    from apps.transfer_learning.backbones import pretrain_config
    from apps.transfer_learning.config import TransferLearningConfig
    from common.pretrained import cached_run_dir

    cfg = pretrain_config(TransferLearningConfig(pretrain={"dataset": "digits"}, data_dir=data_dir))
    task = LowResolutionPretraining(4, 0.14)
    data = task.load_data(cfg)
    plain = ImageClassification().load_data(cfg)
    assert all(data.sizes[split] == 2 * plain.sizes[split] for split in ("train", "validation", "test"))
    assert sum(1 for _ in data.validation) == data.sizes["validation"]
    ordinary, variant = cached_run_dir(task, cfg, data_dir), cached_run_dir(task, cfg, data_dir, "lowres4-v1")
    assert variant != ordinary and "digits-lowres4-v1-" in os.path.basename(variant)
    assert cached_run_dir(task, cfg, data_dir, "lowres4-v2") != variant  # a new version pre-trains again


def test_sample_shots_is_stratified_seeded_and_checked():
    images, labels = digits_arrays(300)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    names = [str(i) for i in range(10)]
    x0, y0 = sample_shots(dataset, names, 4, seed=0)
    assert x0.shape == (40, 8, 8, 1) and np.bincount(y0).tolist() == [4] * 10
    x0_again, _ = sample_shots(dataset, names, 4, seed=0)
    x1, _ = sample_shots(dataset, names, 4, seed=1)
    np.testing.assert_array_equal(x0, x0_again)
    assert not np.array_equal(x0, x1)
    with pytest.raises(UsageError, match="shots=100 is more than the"):
        sample_shots(dataset, names, 100, seed=0)


def test_fine_tuning_lowers_the_loss():
    x, y = digits_arrays(200)
    keras.utils.set_random_seed(0)
    model = build_transfer_model((8, 8, 1), 10, tiny_backbone(), margin=0.14, head_dropout=0.0)
    unfreeze_top(model, 2)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_save_load_round_trip(tmp_path):
    x, _ = digits_arrays(16)
    model = build_transfer_model((8, 8, 1), 10, tiny_backbone(), margin=0.14, head_units=8)
    unfreeze_top(model, 1)
    model.save(tmp_path / "transfer.keras")
    loaded = keras.saving.load_model(tmp_path / "transfer.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert loaded.get_layer("fit_to_backbone").get_config()["margin"] == pytest.approx(0.14)


def test_application_backbone_weights_file_fits_or_is_refused(tmp_path):
    """The keras.applications path offline: random init, a weights file saved here, and one that does not fit."""
    backbone = build_application("mobilenet_v3_small", 32)
    model = build_transfer_model((8, 8, 1), 10, backbone)  # grey 8x8 -> 32x32 RGB
    assert model.get_layer("fit_to_backbone").compute_output_shape((None, 8, 8, 1)) == (None, 32, 32, 3)
    good = str(tmp_path / "mobilenet.weights.h5")
    backbone.save_weights(good)
    again = build_application("mobilenet_v3_small", 32, weights=good)
    np.testing.assert_allclose(again.get_weights()[0], backbone.get_weights()[0])
    other = str(tmp_path / "other.weights.h5")
    tiny_backbone().save_weights(other)
    with pytest.raises(UsageError, match="does not fit the mobilenet_v3_small backbone"):
        load_weights_file(build_application("mobilenet_v3_small", 32), other, "mobilenet_v3_small")


def test_benchmark_summary_means_over_seeds_and_target():
    def result(shots, transfer, scratch):
        return {"name": "x", "overrides": {}, "metrics": {
            "dataset": "digits", "test": {"accuracy": transfer}, "baselines": {"scratch": {"accuracy": scratch}},
            "data": {"shots": shots}}}

    lines = TransferLearning().benchmark_summary(
        [result(10, 0.95, 0.80), result(10, 0.93, 0.86), result(5, 0.90, 0.91), result(20, 0.97, 0.97)])
    assert [met for _, met, _ in lines] == [False, True, True]  # k=5: scratch wins; k=10: +11 points; k=20: level
    assert "94.0 ± 1.4%" in lines[1][2] and "+11.0 points" in lines[1][2]
    assert "k=20: transfer not behind scratch" in lines[2][0] and "k=10: transfer beats scratch" in lines[1][0]
    task = TransferLearning()  # each row: ahead below k = 20, level enough from k = 20 on
    assert task.benchmark_target(result(20, 0.97, 0.97)["metrics"])[:2] == ("transfer not behind training from scratch",
                                                                           True)
    assert task.benchmark_target(result(10, 0.97, 0.97)["metrics"])[1] is False


@pytest.mark.slow
def test_train_evaluate_predict_export_end_to_end(cli, tmp_path, data_dir):
    run = tmp_path / "run"
    code, out, err = cli("transfer_learning", "train", "--output-dir", run, *TINY_RUN)
    assert code == 0, err
    assert "pre-training the default backbone" in out and "scratch" in out and "svc_rbf" in out
    metrics = read_json(run / "metrics.json")
    assert metrics["epochs"] == 2 and metrics["data"]["shots"] == 3 and metrics["data"]["sizes"]["train"] == 30
    assert {"accuracy", "macro_f1"} <= set(metrics["baselines"]["scratch"]) and 0 <= metrics["test"]["accuracy"] <= 1
    backbone_run_dir = os.path.dirname(metrics["data"]["backbone_model"])
    assert os.path.dirname(backbone_run_dir) == os.path.join(os.path.dirname(data_dir), "backbones")
    assert len(open(run / "training_log.csv").read().splitlines()) == 3  # header + one epoch per phase

    # The second run reuses the cached backbone.
    code, out, err = cli("transfer_learning", "train", "--output-dir", tmp_path / "again", *TINY_RUN,
                         "--set", "scratch_baseline=false")
    assert code == 0, err
    assert "(cached)" in out and "scratch" not in read_json(tmp_path / "again" / "metrics.json")["baselines"]

    code, out, err = cli("transfer_learning", "evaluate", "--run", run)
    assert code == 0 and f"accuracy={metrics['test']['accuracy']:.4f}" in out, err
    x, _ = digits_arrays(1)
    write_png(str(tmp_path / "digit.png"), x[0, :, :, 0])
    code, out, err = cli("transfer_learning", "predict", "--run", run, tmp_path / "digit.png")
    assert code == 0 and '"label"' in out, err
    code, out, err = cli("transfer_learning", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model"))
    expected = keras.saving.load_model(run / "model.keras").predict(x, verbose=0)
    result = served.signatures["serving_default"](tf.constant(x))
    np.testing.assert_allclose(result["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_application_backbone_from_a_weights_file_trains(cli, tmp_path):
    weights = str(tmp_path / "mobilenet.weights.h5")
    build_application("mobilenet_v3_small", 32).save_weights(weights)
    code, out, err = cli("transfer_learning", "train", "--output-dir", tmp_path / "run", *TINY_RUN,
                         "--set", "backbone=mobilenet_v3_small", "--weights", weights,
                         "--set", "application_image_size=32", "--set", "scratch_baseline=false")
    assert code == 0, err
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.input_shape == (None, 8, 8, 1) and model.get_layer("backbone").input_shape == (None, 32, 32, 3)


@pytest.mark.slow
def test_bad_inputs_are_one_line_errors_before_any_run_dir(cli, tmp_path, backbone_run, image_folder):
    other = str(tmp_path / "other.weights.h5")
    tiny_backbone().save_weights(other)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    grey = ["--backbone-run", backbone_run]
    cases = [
        (["--set", "shots=1000", *grey], "shots=1000 is more than the"),
        (["--dataset", image_folder, "--set", "shots=2", *grey], "have 3 channel(s); the backbone takes 1"),
        (["--set", "backbone=mobilenet_v3_small", "--weights", other, "--set", "application_image_size=32"],
         "does not fit the mobilenet_v3_small backbone"),
        (["--set", "backbone=resnet50", "--weights", str(tmp_path / "missing.h5")], "weights file not found"),
        (["--backbone-run", tmp_path / "nowhere"], "backbone run not found"),
        (["--weights", other], "weights is for keras.applications backbones"),
        (["--set", "pretrain=3"], "pretrain must be a mapping"),
        (["--set", "pretrain={no_such_field: 1}"], "unknown config key 'no_such_field' for image_classification"),
    ]
    for index, (args, message) in enumerate(cases):
        run = tmp_path / f"run{index}"
        code, out, err = cli("transfer_learning", "train", "--output-dir", run, "--epochs", "1", "--quiet", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
        assert not run.exists(), args

    # At serving time: a colour image for a grey model, and a corrupt file.
    run = tmp_path / "ok"
    code, out, err = cli("transfer_learning", "train", "--output-dir", run, *TINY_RUN, *grey,
                         "--set", "scratch_baseline=false")
    assert code == 0, err
    write_png(str(tmp_path / "colour.png"), np.zeros((8, 8, 3)))
    for image, message in ((tmp_path / "colour.png", "has 3 channel(s); the model expects 1"),
                           (corrupt, "cannot read image")):
        code, out, err = cli("transfer_learning", "predict", "--run", run, image)
        assert code == 2 and message in err, err


def test_an_interrupted_low_resolution_pre_training_resumes_in_its_cache(tmp_path, monkeypatch, capsys):
    import functools

    import common.pretrained
    from apps.transfer_learning.backbones import pretrained_run_dir
    from apps.transfer_learning.config import TransferLearningConfig
    from common.training import train
    from test_training import InterruptAtEpoch

    cfg = TransferLearningConfig(data_dir=str(tmp_path / "tfds"), pretrain={
        "dataset": "digits", "epochs": 3, "depth": 1, "width": 4, "dense_units": 8, "max_train_samples": 100,
        "baseline_max_samples": 0, "augment": False, "min_steps": 0})
    monkeypatch.setattr(common.pretrained, "train", functools.partial(train, extra_callbacks=(InterruptAtEpoch(1),)))
    with pytest.raises(KeyboardInterrupt):
        pretrained_run_dir(cfg)
    (left,) = os.listdir(tmp_path / "backbones")  # the interrupted run, not finished, in its cache folder
    assert "lowres8-margin0.14-v1-" in left and not os.path.isfile(tmp_path / "backbones" / left / "metrics.json")
    monkeypatch.setattr(common.pretrained, "train", train)
    run_dir = pretrained_run_dir(cfg)  # the same folder, finished (train resumes it: tests/test_resume.py)
    assert os.path.basename(run_dir) == left and os.path.isfile(os.path.join(run_dir, "model.keras"))
    with open(os.path.join(run_dir, "training_log.csv")) as fh:
        assert [line.split(",")[0] for line in fh.read().splitlines()[1:]] == ["0", "1", "2"]
    assert pretrained_run_dir(cfg) == run_dir and "(cached)" in capsys.readouterr().out
