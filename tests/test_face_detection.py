import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.face_detection.data import CLASS_NAMES, WINDOW, face_free_photos, load_lfw_subset, random_windows
from apps.face_detection.detector import (
    WindowStandardization,
    box_iou,
    build_face_classifier,
    detect_faces,
    pyramid_scales,
)
from apps.face_detection.task import ASTRONAUT_FACE
from conftest import read_json, write_png

TINY_DETECTOR = ["--set", "width=4", "--set", "negatives=64", "--set", "min_face=64", "--set", "scale_step=1.5",
                 "--set", "hard_negative_rounds=1", "--set", "hard_negative_epochs=1", "--set", "hard_negatives=28",
                 "--set", "validation_negatives=50", "--set", "real_world_baselines=false"]


def framed_squares() -> keras.Model:
    """A stand-in classifier: its logit is high for a bright centre (the middle 15x15) in a dark 5-pixel frame."""

    def centre_minus_frame(windows):
        windows = windows[..., 0] / 255.0
        centre = tf.reduce_sum(windows[:, 5:20, 5:20], axis=(1, 2))
        frame = tf.reduce_sum(windows, axis=(1, 2)) - centre
        return (8.0 * (centre / 225.0 - frame / 400.0))[:, None]

    inputs = keras.Input((WINDOW, WINDOW, 1))
    return keras.Model(inputs, keras.layers.Lambda(centre_minus_frame, name="face_logit")(inputs))


def test_lfw_subset_builder_has_a_fixed_stratified_split(data_dir):
    splits = load_lfw_subset(data_dir)
    assert {s: len(y) for s, (_, y) in splits.items()} == {"train": 140, "validation": 20, "test": 40}
    for images, labels in splits.values():
        assert images.shape[1:] == (WINDOW, WINDOW, 1) and images.dtype == np.uint8
        assert labels.sum() * 2 == len(labels)  # as many faces as non-faces in every split


def test_classifier_shape_and_brightness_invariance():
    model = build_face_classifier(width=4)
    assert model.output_shape == (None, 1)
    windows = np.random.default_rng(0).uniform(40, 120, (3, WINDOW, WINDOW, 1)).astype(np.float32)
    np.testing.assert_allclose(model(windows, training=False), model(1.5 * windows + 30, training=False), atol=1e-5)  # every window is standardised


def test_window_standardization_keeps_flat_windows_flat():
    flat = np.full((1, WINDOW, WINDOW, 1), 200.0, np.float32)
    np.testing.assert_allclose(WindowStandardization(min_std=8.0)(flat), 0.0)


def test_box_iou():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


def test_pyramid_scales_cover_the_face_sizes():
    scales = pyramid_scales(512, 400, min_face=50, max_face=0, step=2.0)
    assert scales == [25 / 50, 25 / 100, 25 / 200, 25 / 400]


def test_detector_maps_windows_back_to_the_photo():
    photo = np.zeros((240, 300), np.float32)
    photo[60:150, 100:190] = 255.0  # a 90x90 bright square: the centre 15/25 of a 150x150 window
    faces = detect_faces(framed_squares(), photo, min_face=40, scale_step=1.1, threshold=0.99, max_faces=3)
    assert faces and faces[0]["score"] >= 0.99 and faces[0]["logit"] > 4.6
    assert box_iou(faces[0]["box"], [70, 30, 220, 180]) >= 0.8
    assert all(box_iou(face["box"], faces[0]["box"]) <= 0.3 for face in faces[1:])  # non-max suppression
    assert detect_faces(framed_squares(), photo, min_face=40, threshold=1.0) == []


def test_random_negatives_are_new_windows_every_epoch():
    windows = random_windows(face_free_photos()[:2], 4, seed=0)
    first, second = [np.stack([x for x, _ in windows.as_numpy_iterator()]) for _ in range(2)]
    assert first.shape == (4, WINDOW, WINDOW, 1) and not np.allclose(first, second)
    assert all(y == 0 for _, y in windows.as_numpy_iterator())


def test_training_lowers_the_loss_and_round_trips(tmp_path, data_dir):
    images, labels = load_lfw_subset(data_dir)["train"]
    keras.utils.set_random_seed(0)
    model = build_face_classifier(width=4, dropout=0.0, translation=0.0, zoom=0.0)
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    history = model.fit(images.astype(np.float32), labels[:, None].astype(np.float32), epochs=6, batch_size=32,
                        verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    model.save(tmp_path / "classifier.keras")
    again = keras.saving.load_model(tmp_path / "classifier.keras")
    np.testing.assert_allclose(again.predict(images[:8], verbose=0), model.predict(images[:8], verbose=0), atol=1e-6)


def test_phases_mine_hard_negatives_from_the_model(data_dir):
    from apps.face_detection.config import FaceDetectionConfig
    from apps.face_detection.task import FaceDetection

    task = FaceDetection()
    cfg = FaceDetectionConfig(epochs=10, hard_negative_rounds=2, hard_negative_epochs=3, hard_negatives=20,
                              negatives=8, min_face=100)
    assert [(p.name, p.epochs) for p in task.phases(cfg)] == [
        ("random negatives", 4), ("hard negatives 1", 3), ("hard negatives 2", 3)]
    assert [p.epochs for p in task.phases(FaceDetectionConfig(epochs=3, hard_negative_rounds=2))] == [1, 1, 1]
    assert len(task.phases(FaceDetectionConfig(epochs=1))) == 1

    data = task.load_data(cfg)
    task.build_inputs(cfg, data)
    random_start = data.hard_negatives.copy()
    task.phases(cfg)[1].prepare(framed_squares())
    assert data.hard_negatives.shape == (20, WINDOW, WINDOW, 1) and not np.allclose(data.hard_negatives, random_start)
    # The mined windows are the ones the model scores highest: bright centres in darker frames.
    scores = framed_squares().predict(data.hard_negatives, verbose=0)
    assert np.median(scores) > np.median(framed_squares().predict(random_start, verbose=0))


def test_end_to_end_cli_and_bad_inputs(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("face_detection", "train", "--epochs", "2", "--quiet", "--output-dir", run, *TINY_DETECTOR)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert metrics["epochs"] == 2
    assert {"accuracy", "loss", "astronaut_iou"} <= set(metrics["test"])
    assert 0.5 <= metrics["baselines"]["hog_linear_svm"]["accuracy"] <= 1.0
    assert metrics["data"]["astronaut"]["marked_box"] == list(ASTRONAUT_FACE)
    calibration = metrics["data"]["calibration"]
    assert 0.0 < calibration["threshold"] < 1.0 and metrics["data"]["astronaut"]["threshold"] == calibration["threshold"]
    assert calibration["faces"] == 4  # the face_recognition sdist's portraits, fetched into the data dir
    real = metrics["real_world"]["real_photos"]
    assert real["examples"] == 4 and real["baselines"] == {}  # real_world_baselines=false
    assert {"precision", "recall", "mean_iou", "false_boxes", "boxes"} <= set(real["model"])
    assert (run / "plots" / "astronaut_detections.png").exists() and os.listdir(run / "logs" / "train")

    code, out, err = cli("face_detection", "evaluate", "--run", run)
    assert code == 0 and f"accuracy={metrics['test']['accuracy']:.4f}" in out, err

    photo = tmp_path / "grey.png"
    write_png(str(photo), np.random.default_rng(0).integers(0, 255, (90, 120)))
    predictions = run / "predictions"  # the default place
    code, out, err = cli("face_detection", "predict", "--run", run, "--set", "threshold=1e-9", "astronaut", photo)
    assert code == 0, err
    assert '"faces"' in out and (predictions / "astronaut_faces.png").exists() and (predictions / "grey_faces.png").exists()

    from PIL import Image

    two_channels = tmp_path / "grey_alpha.png"
    Image.new("LA", (40, 40)).save(two_channels)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for bad, message in ((two_channels, "has 2 channels"), (corrupt, "cannot read image"),
                         (tmp_path / "missing.png", "image not found")):
        code, out, err = cli("face_detection", "predict", "--run", run, bad)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err

    code, out, err = cli("face_detection", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model"))
    windows = load_lfw_subset(os.environ["DLSUITE_DATA_DIR"])["test"][0][:4].astype(np.float32)
    expected = keras.saving.load_model(run / "model.keras").predict(windows, verbose=0)
    outputs = served.signatures["serving_default"](tf.constant(windows))
    np.testing.assert_allclose(outputs["probabilities"].numpy()[:, 1:], expected, atol=1e-5)
    threshold = read_json(run / "metrics.json")["data"]["calibration"]["threshold"]
    np.testing.assert_array_equal(outputs["label"].numpy(), (expected[:, 0] >= threshold).astype(np.int64))
    assert [n.decode() for n in outputs["class_name"].numpy()] == [CLASS_NAMES[i] for i in outputs["label"].numpy()]


@pytest.mark.benchmark
def test_default_detector_finds_the_astronaut(cli, tmp_path):
    """The default config (minutes on a CPU): the best box on the astronaut photo overlaps the face
    marked by hand, ASTRONAUT_FACE = (176, 78, 272, 186) as x0, y0, x1, y1, with IoU >= 0.5, and at the
    calibrated threshold there is no other box."""
    run = tmp_path / "run"
    code, out, err = cli("face_detection", "train", "--quiet", "--output-dir", run)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert metrics["test"]["accuracy"] >= 0.9
    assert metrics["test"]["astronaut_iou"] >= 0.5 and metrics["test"]["astronaut_false_boxes"] == 0
    code, out, err = cli("face_detection", "predict", "--run", run, "--set", f"predictions_dir={tmp_path}", "astronaut")
    assert code == 0 and box_iou(json.loads(out)["faces"][0]["box"], ASTRONAUT_FACE) >= 0.5
