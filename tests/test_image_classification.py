import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from apps.image_classification.config import ImageClassificationConfig
from apps.image_classification.model import build_augmentation, build_cnn
from conftest import TINY_CNN, read_json, write_png


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu"])
def test_build_cnn_shapes_and_options(activation):
    model = build_cnn((28, 28, 1), 10, depth=2, width=8, activation=activation, batch_norm=False, dropout=0.0,
                      dense_units=0, l1=1e-5, l2=1e-4, augmentation=build_augmentation(0.05, 0.1, 0.1))
    assert model.output_shape == (None, 10)
    out = model(np.full((3, 28, 28, 1), 255.0, np.float32))
    np.testing.assert_allclose(out.numpy().sum(axis=1), 1.0, rtol=1e-5)
    assert len(model.losses) > 0  # the L1/L2 penalties


def test_depth_too_large_for_image_is_an_error():
    with pytest.raises(ValueError, match="below one pixel"):
        build_cnn((8, 8, 1), 10, depth=4)


def test_pooling_flattens_small_maps_and_averages_larger_ones():
    from apps.image_classification.model import resolve_pooling

    assert resolve_pooling("auto", (28, 28, 1), 2) == "flatten"  # 7x7 after two pools
    assert resolve_pooling("auto", (8, 8, 1), 2) == "flatten"
    assert resolve_pooling("auto", (64, 64, 3), 2) == "gap"  # 16x16
    assert resolve_pooling("flatten", (64, 64, 3), 2) == "flatten"
    gap = build_cnn((64, 64, 3), 3, depth=2, width=8, dense_units=16, pooling="auto")
    flat = build_cnn((64, 64, 3), 3, depth=2, width=8, dense_units=16, pooling="flatten")
    assert gap.get_layer("global_average") is not None
    # The dense layer reads 16 averaged filters, not 16x16x16 positions.
    assert gap.get_layer("hidden").kernel.shape == (16, 16) and flat.get_layer("hidden").kernel.shape == (4096, 16)


def test_step_budget_lengthens_the_epochs_of_a_small_set():
    from common.training import passes_per_epoch

    cfg = ImageClassificationConfig(epochs=15, min_steps=500)
    assert passes_per_epoch(cfg, 2) == 17  # 117 images at batch 64: 15 epochs of 34 steps
    assert passes_per_epoch(cfg, 55) == 1  # mnist5k: 15 x 55 steps are enough
    assert passes_per_epoch(ImageClassificationConfig(epochs=15, min_steps=0), 2) == 1


@pytest.mark.slow
def test_small_folder_trains_for_min_steps_and_says_so(cli, tmp_path, image_folder):
    run = tmp_path / "run"
    code, out, err = cli("image_classification", "train", "--dataset", image_folder, "--epochs", "2", "--quiet",
                         "--set", "image_size=16", "--output-dir", run, *TINY_CNN, "--set", "min_steps=5",
                         "--set", "image_summary_every=0")
    assert code == 0, err
    assert "each of the 2 epochs passes over them 3 times (3 steps) to reach min_steps=5" in out
    metrics = read_json(run / "metrics.json")
    assert metrics["epochs"] == 2 and metrics["budget"] == {"min_steps": 5, "passes_per_epoch": 3, "steps_per_epoch": 3}
    # 16 training images x 3 passes an epoch, as the CSV log's step count would show.
    assert metrics["examples_per_second"] > 0


def test_training_lowers_the_loss():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:256, :, :, None] * 16).astype(np.float32)
    y = digits.target[:256]
    keras.utils.set_random_seed(0)
    model = build_cnn((8, 8, 1), 10, depth=1, width=8, dense_units=16, dropout=0.0)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


@pytest.mark.slow
def test_train_evaluate_predict_export_end_to_end(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("image_classification", "train", "--dataset", "digits", "--epochs", "2", "--quiet",
                         "--output-dir", run, *TINY_CNN)
    assert code == 0, err
    assert "svc_rbf" in out and "accuracy=" in out
    for name in ("config.json", "metrics.json", "model.keras", "training_log.csv", "plots/confusion_matrix.png",
                 "checkpoints/best.keras"):
        assert (run / name).exists(), name
    assert os.listdir(run / "logs" / "train") and os.listdir(run / "logs" / "test")
    metrics = read_json(run / "metrics.json")
    assert metrics["app"] == "image_classification" and metrics["dataset"] == "digits" and metrics["epochs"] == 2
    assert {"accuracy", "macro_f1", "loss"} <= set(metrics["test"])
    assert 0.5 < metrics["baselines"]["svc_rbf"]["accuracy"] <= 1.0
    assert metrics["train_seconds"] > 0 and metrics["examples_per_second"] > 0
    assert read_json(run / "config.json")["width"] == 8

    code, out, err = cli("image_classification", "evaluate", "--run", run)
    assert code == 0, err
    assert f"accuracy={metrics['test']['accuracy']:.4f}" in out

    image = tmp_path / "seven.png"
    from sklearn.datasets import load_digits

    write_png(str(image), load_digits().images[7][:, :, None].repeat(1, -1)[:, :, 0] * 16)
    code, out, err = cli("image_classification", "predict", "--run", run, image)
    assert code == 0, err
    assert '"label"' in out and '"probability"' in out

    # The .keras file and the SavedModel give the same predictions as the model that was trained.
    from common.datasets import load_images

    batch = np.stack([x.astype(np.float32) for x, _ in load_images("digits").test.take(16).as_numpy_iterator()])
    model = keras.saving.load_model(run / "model.keras")
    expected = model.predict(batch, verbose=0)
    model.save(tmp_path / "again.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "again.keras").predict(batch, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    code, out, err = cli("image_classification", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model"))
    result = served.signatures["serving_default"](tf.constant(batch))
    np.testing.assert_allclose(result["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_tfds_name_trains_under_mock_data(cli, tmp_path):
    with tfds.testing.mock_data(num_examples=40):
        code, out, err = cli("image_classification", "train", "--dataset", "tfds:mnist", "--epochs", "1", "--quiet",
                             "--output-dir", tmp_path / "run", *TINY_CNN)
    assert code == 0, err
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert metrics["dataset"] == "tfds:mnist" and metrics["data"]["image_shape"] == [28, 28, 1]


@pytest.mark.slow
def test_image_folder_trains_and_rejects_wrong_channels(cli, tmp_path, image_folder):
    run = tmp_path / "run"
    code, out, err = cli("image_classification", "train", "--dataset", image_folder, "--epochs", "1", "--quiet",
                         "--set", "image_size=16", "--output-dir", run, *TINY_CNN)
    assert code == 0, err
    assert read_json(run / "metrics.json")["data"]["class_names"] == ["digit0", "digit1"]
    grey = tmp_path / "grey.png"
    write_png(str(grey), np.zeros((16, 16)))
    code, out, err = cli("image_classification", "predict", "--run", run, grey)
    assert code == 2 and "has 1 channel(s); the model expects 3" in err


@pytest.mark.slow
def test_colour_tfds_dataset_under_mock_data(cli, tmp_path):
    with tfds.testing.mock_data(num_examples=30):
        code, out, err = cli("image_classification", "train", "--dataset", "tfds:cifar10", "--epochs", "1", "--quiet",
                             "--output-dir", tmp_path / "run", *TINY_CNN)
    assert code == 0, err
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
