"""Style transfer tests: Gram matrices and losses on small known inputs, the extractors and the fast network
(builds, determinism, .keras and SavedModel round trips), optimisation lowering the loss, the CLI end to end
with a resumed run, and bad inputs (not an image, missing paths, bad weights files, impossible sizes)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.style_transfer.images import color_transfer, fit_size, load_image, random_crops, read_image
from apps.style_transfer.model import (
    PerceptualLoss,
    build_extractor,
    build_fast_network,
    build_random_extractor,
    content_loss,
    gram_matrix,
    relative_error,
    style_loss,
    total_variation_loss,
)
from apps.style_transfer.stylize import optimize_image
from common.errors import UsageError
from common.export import export_saved_model, load_model, save_model
from conftest import read_json, write_png

TINY = ["--epochs", "2", "--batch-size", "2", "--set", "steps_per_epoch=2", "--set", "steps=6",
        "--set", "image_size=48", "--set", "train_size=32", "--set", "width=4", "--set", "residual_blocks=1",
        "--set", "extractor_widths=[8,8,8]", "--set", "log_every=2", "--set", "test_images=[chelsea,coffee]"]


def test_gram_matrix_of_known_features():
    # Two positions, two channels: Gram = F^T F / positions.
    features = np.array([[[[1.0, 2.0], [3.0, 0.0]]]], np.float32)  # (1, 1, 2, 2)
    expected = np.array([[1 + 9, 2 + 0], [2 + 0, 4 + 0]], np.float32) / 2
    np.testing.assert_allclose(np.asarray(gram_matrix(features))[0], expected)
    # Position-averaged: tiling the image leaves it unchanged.
    np.testing.assert_allclose(np.asarray(gram_matrix(np.tile(features, (1, 3, 2, 1))))[0], expected, rtol=1e-6)


def test_loss_values_on_known_inputs():
    target = np.ones((1, 2, 2, 3), np.float32)
    assert float(relative_error(target, target)[0]) == 0.0
    assert float(relative_error(np.zeros_like(target), target)[0]) == pytest.approx(1.0)
    assert float(relative_error(3 * target, target)[0]) == pytest.approx(4.0)
    # Means over layers, per example.
    losses = content_loss([np.zeros_like(target), 2 * target], [target, target])
    assert np.asarray(losses).shape == (1,) and float(losses[0]) == pytest.approx((1.0 + 1.0) / 2)
    grams = [gram_matrix(target)]
    assert float(style_loss([target], grams)[0]) == pytest.approx(0.0)
    assert float(style_loss([2 * target], grams)[0]) == pytest.approx(9.0)  # Gram scales by 4: (4 - 1)^2 / 1
    # Total variation: 0 for a flat image; vertical stripes 0/255 alternate: dx^2 = 1 everywhere, dy = 0.
    assert float(total_variation_loss(np.full((1, 4, 4, 3), 100.0, np.float32))[0]) == 0.0
    stripes = np.zeros((1, 4, 4, 3), np.float32)
    stripes[:, :, 1::2] = 255.0
    assert float(total_variation_loss(stripes)[0]) == pytest.approx(1.0)


def test_perceptual_loss_is_zero_at_the_target_and_weights_add_up():
    extractor = build_random_extractor((4, 4), seed=1)
    image = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    loss = PerceptualLoss(extractor, image, content_weight=2.0, style_weight=3.0, tv_weight=5.0)
    parts = loss(image[None], loss.content_targets(image[None]))
    assert float(parts["content"][0]) == pytest.approx(0.0, abs=1e-6)
    assert float(parts["style"][0]) == pytest.approx(0.0, abs=1e-6)
    assert float(parts["total"][0]) == pytest.approx(5.0 * float(parts["tv"][0]), rel=1e-5)


def test_random_extractor_is_fixed_by_its_seed():
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 24, 3)).astype(np.float32)
    first = build_random_extractor((4, 6, 8), seed=3)
    style, content = first(x)
    assert [tuple(f.shape) for f in style] == [(1, 32, 24, 4), (1, 16, 12, 6), (1, 8, 6, 8)]
    assert tuple(content[0].shape) == (1, 8, 6, 8) and first.model.trainable_weights == []
    again, _ = build_random_extractor((4, 6, 8), seed=3)(x)
    other, _ = build_random_extractor((4, 6, 8), seed=4)(x)
    np.testing.assert_allclose(np.asarray(style[-1]), np.asarray(again[-1]))
    assert not np.allclose(np.asarray(style[-1]), np.asarray(other[-1]))


def test_fast_network_round_trips_through_keras_and_saved_model(tmp_path):
    model = build_fast_network(width=4, residual_blocks=1)
    x = np.random.default_rng(0).uniform(0, 255, (2, 24, 36, 3)).astype(np.float32)
    y = np.asarray(model(x))
    assert y.shape == x.shape and y.min() >= 0.0 and y.max() <= 255.0
    path = str(tmp_path / "fast.keras")
    save_model(model, path)
    np.testing.assert_allclose(np.asarray(load_model(path)(x)), y, rtol=1e-4, atol=1e-3)
    exported = export_saved_model(model, str(tmp_path / "saved"))
    served = tf.saved_model.load(exported).signatures["serving_default"]
    out = list(served(tf.constant(x)).values())[0]
    np.testing.assert_allclose(out.numpy(), y, rtol=1e-4, atol=1e-3)


def test_vgg19_weights_from_a_file(tmp_path):
    vgg = keras.applications.VGG19(include_top=False, weights=None)
    path = str(tmp_path / "vgg19_notop.weights.h5")
    vgg.save_weights(path)
    extractor = build_extractor(path)
    style, content = extractor(np.zeros((1, 32, 32, 3), np.float32))
    assert len(style) == 5 and tuple(content[0].shape) == (1, 4, 4, 512) and extractor.name == "vgg19-file"


def test_optimisation_lowers_the_loss():
    extractor = build_random_extractor((8, 8), seed=0)
    content, style = load_image("chelsea", 32), load_image("brick", 32)
    loss = PerceptualLoss(extractor, style)
    steps_seen = []
    image, history = optimize_image(loss, content, steps=12, learning_rate=0.05,
                                    on_step=lambda step, values: steps_seen.append(step))
    assert image.shape == content.shape and len(history) == 13 and steps_seen == list(range(13))
    assert history[0]["content"] == pytest.approx(0.0, abs=1e-6)  # it starts as the content image
    assert history[-1]["total"] < 0.5 * history[0]["total"] and history[-1]["style"] < history[0]["style"]


def test_images_crops_and_colour_transfer():
    assert read_image("coffee").dtype == np.uint8 and read_image("brick").shape == (512, 512, 3)  # grey -> RGB
    assert read_image("flower").shape == (427, 640, 3)  # scikit-learn
    resized = fit_size(read_image("coffee"), 100)
    assert resized.shape == (64, 100, 3)  # 400x600 -> 66.7x100, sides rounded down to multiples of 4
    crops = random_crops([resized], 32, 5, np.random.default_rng(0))
    assert crops.shape == (5, 32, 32, 3)
    # A style that is a linear map of the content per channel: the transfer recovers it exactly.
    style = resized * np.array([0.5, 0.8, 0.3], np.float32) + np.array([20.0, 10.0, 90.0], np.float32)
    np.testing.assert_allclose(color_transfer(resized, style), style, atol=0.05)


def test_cli_end_to_end_resumes_predicts_stylizes_and_exports(cli, tmp_path, monkeypatch):
    from apps.style_transfer import stylize as stylize_module

    run = str(tmp_path / "run")
    calls = {"n": 0}
    original = stylize_module.FastTrainer.train_step

    def crash_in_epoch_two(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:  # the first step of epoch 2
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(stylize_module.FastTrainer, "train_step", crash_in_epoch_two)
    code, _, err = cli("style_transfer", "train", "--output-dir", run, "--quiet", *TINY)
    assert code == 130 and "resume" in err and not os.path.exists(os.path.join(run, "metrics.json"))
    monkeypatch.setattr(stylize_module.FastTrainer, "train_step", original)
    code, out, _ = cli("style_transfer", "train", "--output-dir", run, *TINY)
    assert code == 0 and "already done" in out and "resuming after epoch 1" in out
    metrics = read_json(os.path.join(run, "metrics.json"))
    test = metrics["test"]
    assert metrics["epochs"] == 2 and set(metrics["baselines"]) == {"content_copy", "color_transfer"}
    assert test["optimize_total_end"] < test["optimize_total_start"] and test["optimize_content_start"] < 1e-6
    assert metrics["baselines"]["content_copy"]["content_loss"] < 1e-6
    for name in ("images/optimized_astronaut.png", "images/fast_chelsea.png", "plots/comparison.png",
                 "optimize_losses.csv", "model.keras"):
        assert os.path.isfile(os.path.join(run, name)), name
    assert len(open(os.path.join(run, "optimize_losses.csv")).read().splitlines()) == 1 + 7
    assert {"optimize", "train", "test"} <= set(os.listdir(os.path.join(run, "logs")))

    code, out, _ = cli("style_transfer", "evaluate", "--run", run)
    assert code == 0 and f"total_loss={test['total_loss']:.4f}" in out
    code, out, _ = cli("style_transfer", "predict", "--run", run, "coffee")
    assert code == 0 and '"output"' in out and os.path.isfile(os.path.join(run, "predictions", "coffee_stylized.png"))
    output = str(tmp_path / "out.png")
    code, out, _ = cli("style_transfer", "stylize", "--run", run, "--content", "chelsea", "--style", "gravel",
                       "--steps", "3", "--output", output)
    assert code == 0 and "start" in out and "end" in out and os.path.isfile(output)
    assert os.path.isfile(str(tmp_path / "out.csv"))
    code, out, _ = cli("style_transfer", "export", "--run", run)
    assert code == 0 and os.path.isdir(os.path.join(run, "saved_model"))


def test_bad_inputs_end_with_one_line_and_exit_code_2(cli, tmp_path):
    not_image = tmp_path / "style.png"
    not_image.write_text("this is not an image")
    bad_weights = tmp_path / "vgg19.h5"
    bad_weights.write_text("not weights")
    cases = [
        (["--style", str(not_image)], "cannot read image"),
        (["--style", str(tmp_path / "missing.jpg")], "image not found"),
        (["--content", "no_such_picture"], "neither an image file nor"),
        (["--weights", str(tmp_path / "missing.h5")], "weights file not found"),
        (["--weights", str(bad_weights)], "VGG19 failed loading"),
        (["--set", "train_size=30"], "multiple of 4"),
        (["--set", "image_size=8"], "image_size=8 must be >= 16"),
        (["--set", "image_size=64", "--set", "train_size=128"], "larger than image_size"),
        (["--dataset", str(tmp_path / "nowhere")], "neither `photos` nor a folder"),
    ]
    for index, (args, message) in enumerate(cases):
        code, _, err = cli("style_transfer", "train", "--output-dir", str(tmp_path / f"run{index}"), "--quiet",
                           *TINY, *args)
        assert code == 2, (args, err)
        assert message in err and err.strip().count("\n") == 0, (args, err)
    with pytest.raises(UsageError, match="too small"):
        fit_size(np.zeros((10, 400, 3), np.uint8), 256)  # 6 x 256 pixels: impossible to process


def test_a_folder_of_training_images(tmp_path):
    from apps.style_transfer.images import training_images

    folder = tmp_path / "photos"
    write_png(str(folder / "a.png"), read_image("coffee")[:100, :120])
    (folder / "notes.txt").write_text("ignored")
    images, names = training_images(str(folder), 48)
    assert names == ["a.png"] and min(images[0].shape[:2]) == 48
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        training_images(str(empty), 48)
