"""image_classification --preset: a KerasHub ImageClassifier preset (a tiny ResNet built here, offline) is
fine-tuned with its image converter inside the model, predicts and exports from raw images, and exports
back as a preset folder that KerasHub alone loads."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import read_json

TINY = ["--epochs", "1", "--quiet", "--set", "min_steps=0", "--set", "baseline_max_samples=0",
        "--set", "max_train_samples=256", "--set", "augment=false"]


def save_tiny_resnet_preset(path, num_classes=4, image_size=32):
    import keras_hub

    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block")
    converter = keras_hub.layers.ResNetImageConverter(image_size=(image_size, image_size), scale=1 / 255.0)
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
    keras_hub.models.ResNetImageClassifier(backbone, num_classes, preprocessor=preprocessor).save_to_preset(str(path))
    return str(path)


@pytest.mark.slow
def test_a_resnet_preset_trains_predicts_and_exports(cli, tmp_path):
    preset = save_tiny_resnet_preset(tmp_path / "resnet")
    run = tmp_path / "run"
    code, out, err = cli("image_classification", "train", "--dataset", "digits", "--preset", preset,
                         "--output-dir", run, *TINY)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert 0 <= metrics["test"]["accuracy"] <= 1 and metrics["config"]["preset"] == preset

    model = keras.saving.load_model(run / "model.keras")
    images = np.asarray(np.random.default_rng(0).integers(0, 255, (3, 8, 8, 1)), np.float32)  # digits: 8x8 grey
    expected = model.predict(images, verbose=0)
    assert expected.shape == (3, 10)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-5)
    code, out, err = cli("image_classification", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model"))
    result = served.signatures["serving_default"](tf.constant(images))["probabilities"].numpy()
    np.testing.assert_allclose(result, expected, atol=1e-5)

    code, out, err = cli("image_classification", "export", "--run", run, "--format", "preset", "--path",
                         tmp_path / "out")
    assert code == 0 and "KerasHub preset written" in out, err
    assert {"config.json", "task.json", "task.weights.h5", "preprocessor.json"} <= set(os.listdir(tmp_path / "out"))
    # KerasHub alone, in a fresh process, loads it and gives the same probabilities on the colour images the
    # backbone takes (the suite's model repeats the grey channel first).
    np.save(tmp_path / "images.npy", np.repeat(images, 3, axis=-1))
    script = ("import sys, numpy as np, keras_hub\n"
              "m = keras_hub.models.ImageClassifier.from_preset(sys.argv[1])\n"
              "np.save(sys.argv[3], m.predict(np.load(sys.argv[2]), verbose=0))")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "out"), str(tmp_path / "images.npy"),
                    str(tmp_path / "out.npy")], check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)


def test_bad_image_presets_give_one_line_and_exit_2(cli, tmp_path):
    from test_sentiment import save_tiny_bert_preset

    (tmp_path / "empty").mkdir()
    bert = save_tiny_bert_preset(tmp_path / "bert")
    cases = (
        (tmp_path / "empty", "is not a KerasHub preset folder"),
        (tmp_path / "missing", "neither a local folder nor a KerasHub preset name"),
        (bert, "(a TextClassifier); image_classification needs an ImageClassifier preset"),
        ("hf://keras/resnet_18_imagenet", "must be downloaded from the Hugging Face Hub"),
        ("kaggle://keras/resnet_v1/keras/resnet_18_imagenet", "this machine is offline"),
    )
    for preset, message in cases:
        run = tmp_path / "run"
        code, out, err = cli("image_classification", "train", "--dataset", "digits", "--preset", str(preset),
                             "--output-dir", run, *TINY)
        last = err.strip().splitlines()[-1]  # after the dataset's preparation, the first time
        assert code == 2 and message in last and "Traceback" not in err, (preset, err)
        assert not run.exists()


@pytest.mark.slow
def test_transfer_learning_fine_tunes_a_preset_backbone(cli, tmp_path):
    """--preset alone makes the backbone a KerasHub preset's (its converter sets the input size); the second
    phase unfreezes the top layers inside the KerasHub backbone, not the whole of it."""
    from apps.transfer_learning.model import tunable_layers

    preset = save_tiny_resnet_preset(tmp_path / "resnet")
    run = tmp_path / "run"
    code, out, err = cli("transfer_learning", "train", "--preset", preset, "--output-dir", run, "--epochs", "2",
                         "--quiet", "--set", "head_epochs=1", "--set", "shots=3", "--set", "epoch_examples=0")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert metrics["config"]["backbone"] == "preset" and "scratch" in metrics["baselines"]
    model = keras.saving.load_model(run / "model.keras")
    backbone = model.get_layer("backbone")
    assert backbone.input_shape[1:] == (32, 32, 3) and len(tunable_layers(backbone)) > 3
    code, out, err = cli("transfer_learning", "train", "--preset", preset, "--set", "backbone=resnet50",
                         "--output-dir", tmp_path / "bad", "--quiet")
    assert code == 2 and "preset is for backbone=preset" in err and not (tmp_path / "bad").exists()
