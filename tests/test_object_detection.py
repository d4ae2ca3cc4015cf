import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from apps.object_detection.boxes import decode, encode
from apps.object_detection.coco import coco_metrics
from apps.object_detection.data import load_detection, make_scene, tight_crop
from apps.object_detection.model import HeatmapFocalLoss, MaskedL1Loss, build_centernet
from conftest import read_json, write_png

TINY_DETECTOR = ["--set", "width=4", "--set", "head_width=8", "--set", "max_train_samples=48", "--set", "max_eval_samples=32",
                 "--batch-size", "16"]
BOXES = np.array([[0.10, 0.10, 0.50, 0.30], [0.52, 0.60, 0.90, 0.95], [0.0, 0.0, 0.2, 0.1], [0.3, 0.7, 0.45, 0.83],
                  [0.0, 0.0, 0.0, 0.0]], np.float32)
LABELS = np.array([2, 2, 7, 0, -1])


def _detections(targets, **kwargs):
    found = decode(targets["heatmap"][None], targets["size"][None], targets["offset"][None], **kwargs)
    n = int(found["num_detections"][0])
    order = np.argsort(found["boxes"][0, :n, 0].numpy())
    return found["boxes"][0, :n].numpy()[order], found["classes"][0, :n].numpy()[order], found["scores"][0, :n].numpy()


def test_encode_decode_round_trips_exact_boxes():
    targets = encode(BOXES, LABELS, (96, 96), num_classes=10)
    assert targets["heatmap"].shape == (24, 24, 10) and targets["size"].shape == (24, 24, 3)
    boxes, classes, scores = _detections(targets, score_threshold=0.5)
    order = np.argsort(BOXES[:4, 0])
    np.testing.assert_allclose(boxes, BOXES[:4][order], atol=1e-5)
    np.testing.assert_array_equal(classes, LABELS[:4][order])
    np.testing.assert_allclose(scores, 1.0)


def test_encode_targets_mark_one_centre_per_object_and_ignore_padding():
    targets = encode(BOXES, LABELS, (64, 128), num_classes=10)
    assert targets["heatmap"].shape == (16, 32, 10)
    assert float(tf.reduce_sum(targets["size"][..., 2])) == 4.0  # the mask: one cell per real object
    assert int(tf.reduce_sum(tf.cast(targets["heatmap"] == 1.0, tf.int32))) == 4
    np.testing.assert_allclose(targets["heatmap"][..., 1], 0.0)  # no object of class 1
    offsets = targets["offset"][..., :2].numpy()
    assert offsets.min() >= 0.0 and offsets.max() < 1.0
    empty = encode(np.zeros((3, 4)), [-1, -1, -1], (32, 32), num_classes=3)
    assert all(float(tf.reduce_max(v)) == 0.0 for v in empty.values())


def test_decode_suppresses_overlapping_boxes_of_one_class():
    heatmap = np.zeros((1, 8, 8, 2), np.float32)
    heatmap[0, 2, 2, 0], heatmap[0, 2, 4, 0], heatmap[0, 6, 6, 1] = 0.9, 0.8, 0.7
    size = np.full((1, 8, 8, 2), 4.0, np.float32)  # 4x4-cell boxes: the two class-0 peaks overlap by IoU 1/3
    found = decode(heatmap, size, np.zeros_like(size), iou_threshold=0.3)
    assert int(found["num_detections"][0]) == 2
    np.testing.assert_allclose(found["scores"][0, :2], [0.9, 0.7])
    found = decode(heatmap, size, np.zeros_like(size), iou_threshold=0.5)
    assert int(found["num_detections"][0]) == 3


def test_scenes_are_deterministic_with_exact_boxes():
    from sklearn.datasets import load_digits

    digits = np.kron(load_digits().images[:50], np.ones((3, 3))).astype(np.uint8) * 16  # real 24x24 digits
    labels = load_digits().target[:50]
    first = make_scene(digits, labels, np.random.default_rng(5), size=64)
    second = make_scene(digits, labels, np.random.default_rng(5), size=64)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    canvas, boxes, classes = make_scene(digits, labels, np.random.default_rng(1), size=64, max_digits=1)
    assert len(boxes) == len(classes) == 1
    ymin, xmin, ymax, xmax = np.round(boxes[0] * 64).astype(int)
    assert canvas[ymin:ymax, xmin:xmax].shape == tight_crop(canvas).shape  # the box is the digit's exact extent
    assert canvas.sum() == canvas[ymin:ymax, xmin:xmax].sum()


def test_digit_scenes_splits_and_boxes():
    data = load_detection("digit_scenes", max_objects=6)
    assert data.image_shape == (96, 96, 1) and data.class_names == [str(i) for i in range(10)]
    assert data.sizes == {"train": 3000, "validation": 300, "test": 600}
    for image, boxes, labels in data.test.take(20).as_numpy_iterator():
        real = labels >= 0
        assert image.shape == (96, 96, 1) and 1 <= real.sum() <= 4 and boxes.shape == (6, 4)
        assert (boxes[real, 2:] > boxes[real, :2]).all()
        heights = (boxes[real, 2] - boxes[real, 0]) * 96
        widths = (boxes[real, 3] - boxes[real, 1]) * 96
        assert np.maximum(heights, widths).max() <= 36 and np.maximum(heights, widths).min() >= 13


def test_coco_metrics_perfect_shifted_and_empty():
    truth = [(BOXES[:4], LABELS[:4]), (BOXES[:1], LABELS[:1])]
    perfect = [(b, np.ones(len(b)), c) for b, c in truth]
    metrics = coco_metrics(truth, perfect, [str(i) for i in range(10)], (96, 96))
    assert metrics["map"] == pytest.approx(1.0) and metrics["map_50"] == pytest.approx(1.0)
    assert set(metrics) == {"map", "map_50", "map_75", "ap_0", "ap_2", "ap_7"}
    shifted = [(b + np.array([0.02, 0.02, 0.02, 0.02], np.float32), s, c) for b, s, c in perfect]
    worse = coco_metrics(truth, shifted, [str(i) for i in range(10)], (96, 96))
    assert worse["map"] < 0.9 and worse["map_50"] == pytest.approx(1.0)
    none = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0))] * 2
    assert coco_metrics(truth, none, [str(i) for i in range(10)], (96, 96))["map"] == 0.0


def _compiled_model():
    model = build_centernet((32, 32, 1), 3, width=4, head_width=8)
    model.compile(keras.optimizers.Adam(3e-3),
                  loss={"heatmap": HeatmapFocalLoss(), "size": MaskedL1Loss(0.1), "offset": MaskedL1Loss(1.0)})
    return model


def test_model_outputs_and_save_load_round_trip(tmp_path):
    model = _compiled_model()
    assert {k: tuple(v.shape) for k, v in model.output.items()} == {
        "heatmap": (None, 8, 8, 3), "size": (None, 8, 8, 2), "offset": (None, 8, 8, 2)}
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype(np.float32)
    model.optimizer.build(model.trainable_variables)  # saved with its (untrained) state, as training saves it
    expected = model.predict(images, verbose=0)
    assert 0.0 < expected["heatmap"].min() and expected["heatmap"].max() < 1.0
    model.save(tmp_path / "detector.keras")
    loaded = keras.saving.load_model(tmp_path / "detector.keras")
    for key, value in loaded.predict(images, verbose=0).items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-6)
    assert isinstance(loaded.loss["size"], MaskedL1Loss) and loaded.loss["size"].weight == 0.1
    with pytest.raises(ValueError, match="multiple of 16"):
        build_centernet((40, 40, 1), 3)


def test_a_few_training_steps_lower_the_loss():
    keras.utils.set_random_seed(0)
    data = load_detection("digit_scenes", image_size=32, max_objects=4)
    examples = list(data.train.take(64).as_numpy_iterator())
    images = np.stack([e[0] for e in examples])
    targets = [encode(b, l, (32, 32), 10) for _, b, l in examples]
    targets = {k: np.stack([t[k] for t in targets]) for k in targets[0]}
    model = build_centernet((32, 32, 1), 10, width=4, head_width=8)
    model.compile(keras.optimizers.Adam(3e-3),
                  loss={"heatmap": HeatmapFocalLoss(), "size": MaskedL1Loss(0.1), "offset": MaskedL1Loss(1.0)})
    losses = model.fit(images, targets, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
def test_train_evaluate_predict_export_end_to_end(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("object_detection", "train", "--epochs", "1", "--quiet", "--output-dir", run, *TINY_DETECTOR)
    assert code == 0, err
    assert "components_svc" in out and "map_50=" in out
    for name in ("config.json", "metrics.json", "model.keras", "plots/detections.png", "checkpoints/best.keras"):
        assert (run / name).exists(), name
    assert os.listdir(run / "logs" / "test")
    metrics = read_json(run / "metrics.json")
    assert metrics["dataset"] == "digit_scenes" and metrics["data"]["image_shape"] == [96, 96, 1]
    assert metrics["data"]["sizes"] == {"train": 3000, "validation": 32, "test": 32}
    assert {"map", "map_50", "map_75"} <= set(metrics["test"]) and 0 <= metrics["test"]["map"] <= 1
    assert 0.3 < metrics["baselines"]["components_svc"]["map_50"] <= 1.0

    code, out, err = cli("object_detection", "evaluate", "--run", run)
    assert code == 0, err
    assert f"map_50={metrics['test']['map_50']:.4f}" in out

    data = load_detection("digit_scenes")
    scene = next(data.test.as_numpy_iterator())[0]
    write_png(str(tmp_path / "scene.png"), scene[..., 0])
    code, out, err = cli("object_detection", "predict", "--run", run, tmp_path / "scene.png")
    assert code == 0, err
    assert '"detections"' in out and (run / "predictions" / "scene.boxes.png").stat().st_size > 0
    shown = json.loads(out.splitlines()[-1])["detections"]
    code, out, err = cli("object_detection", "predict", "--run", run, tmp_path / "scene.png",
                         "--set", f"predictions_dir={tmp_path / 'pictures'}")
    assert code == 0 and (tmp_path / "pictures" / "scene.boxes.png").stat().st_size > 0, err

    batch = np.stack([x for x, _, _ in data.test.take(4).as_numpy_iterator()]).astype(np.float32)
    code, out, err = cli("object_detection", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model")).signatures["serving_default"](tf.constant(batch))
    # The exported model decodes: the suite's own decoding, at the score predict shows.
    from apps.object_detection.config import ObjectDetectionConfig
    from apps.object_detection.task import decode_outputs, shown_score

    cfg = ObjectDetectionConfig(**{k: v for k, v in read_json(run / "config.json").items() if k != "app"})
    model = keras.saving.load_model(run / "model.keras")
    decoded = decode_outputs(model(batch, training=False), cfg, score_threshold=shown_score(cfg))
    for key in ("boxes", "scores", "classes", "num_detections"):
        np.testing.assert_allclose(served[key].numpy(), decoded[key].numpy(), rtol=1e-4, atol=1e-5)
    # What predict printed for the scene: the same detections, at the same score, with the run's class names.
    one = tf.saved_model.load(str(run / "saved_model")).signatures["serving_default"](
        tf.constant(scene[None].astype(np.float32)))
    n = int(one["num_detections"][0])
    assert n == len(shown) and [c.decode() for c in one["class_names"][0, :n].numpy()] == [d["label"] for d in shown]
    np.testing.assert_allclose(one["scores"][0, :n].numpy(), [d["score"] for d in shown], atol=1e-4)

    colour = tmp_path / "colour.png"
    write_png(str(colour), np.zeros((96, 96, 3)))
    code, out, err = cli("object_detection", "predict", "--run", run, colour)
    assert code == 2 and "has 3 channel(s); the model expects 1" in err and len(err.strip().splitlines()) == 1
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10)
    code, out, err = cli("object_detection", "predict", "--run", run, corrupt)
    assert code == 2 and "cannot read image" in err and len(err.strip().splitlines()) == 1
    from PIL import Image

    Image.fromarray(scene[..., 0].astype(np.uint8)).save(tmp_path / "scene.tiff")
    code, out, err = cli("object_detection", "predict", "--run", run, tmp_path / "scene.tiff")
    assert code == 2 and "cannot decode image" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--dataset", "mnist5k"], "unknown detection dataset 'mnist5k'"),
    (["--dataset", "tfds:mnist"], "is not a detection set"),
    (["--set", "image_size=40"], "must be a multiple of 16"),
    (["--set", "iou_threshold=0"], "iou_threshold=0.0 must be in (0, 1]"),
])
def test_bad_training_input_is_a_one_line_error(cli, tmp_path, args, message):
    code, out, err = cli("object_detection", "train", "--output-dir", tmp_path / "run", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_tfds_detection_set_loads_under_mock_data():
    from apps.object_detection.config import ObjectDetectionConfig
    from apps.object_detection.task import ObjectDetection

    task, cfg = ObjectDetection(), ObjectDetectionConfig(dataset="tfds:voc", image_size=64, max_objects=8, batch_size=4)
    with tfds.testing.mock_data(num_examples=6):
        data = task.load_data(cfg)
        image, boxes, labels = next(data.train.as_numpy_iterator())
        images, targets = next(iter(task.build_inputs(cfg, data)["train"]))
    assert image.shape == (64, 64, 3) and boxes.shape == (8, 4) and len(data.class_names) == 20
    assert (boxes[:, 2:] >= boxes[:, :2]).all() and boxes.min() >= 0.0 and boxes.max() <= 1.0
    assert targets["heatmap"].shape == (4, 16, 16, 20)
    model = task.build_model(cfg, data)
    assert model(images)["heatmap"].shape == (4, 16, 16, 20)


def test_search_space_defaults_to_the_config():
    import keras_tuner

    from apps.object_detection.config import ObjectDetectionConfig
    from apps.object_detection.task import ObjectDetection

    cfg = ObjectDetectionConfig(width=8, learning_rate=1e-3)
    space = ObjectDetection().search_space(keras_tuner.HyperParameters(), cfg)
    assert space == {"width": 8, "head_width": cfg.head_width, "learning_rate": 1e-3}
