"""Object detection: a CenterNet-style detector, evaluated with pycocotools' mAP against a classical baseline."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from apps.object_detection.boxes import decode, encode
from apps.object_detection.coco import coco_metrics
from apps.object_detection.config import ObjectDetectionConfig
from apps.object_detection.data import DetectionData, DigitScenes, load_detection
from apps.object_detection.model import HeatmapFocalLoss, MaskedL1Loss, build_centernet
from apps.object_detection.spec import SPEC
from common.datasets.files import check_image
from common.errors import UsageError
from common.hyperparameters import choice, float_range
from common.pipeline import split_pipelines
from common.task import Task

FIGURE_SCENES = 8  # scenes drawn in the plots/ and TensorBoard figure


def detect(model, images, cfg: ObjectDetectionConfig) -> dict[str, np.ndarray]:
    """Decoded detections of a batch of raw images (see `boxes.decode` for the keys)."""
    return {k: v.numpy() for k, v in decode_outputs(model(images, training=False), cfg).items()}


def decode_outputs(outputs: dict, cfg: ObjectDetectionConfig, score_threshold: float | None = None) -> dict:
    """`boxes.decode` of the model's raw maps with the config's thresholds (TF tensors); `score_threshold`
    overrides the config's (the mAP's low one)."""
    return decode(outputs["heatmap"], outputs["size"], outputs["offset"], max_detections=cfg.max_detections,
                  iou_threshold=cfg.iou_threshold,
                  score_threshold=cfg.score_threshold if score_threshold is None else score_threshold)


def shown_score(cfg: ObjectDetectionConfig) -> float:
    """The lowest score of a detection that `predict` prints and draws and the export returns: `display_score`
    (the mAP counts every detection down to the lower `score_threshold`)."""
    return max(cfg.display_score, cfg.score_threshold)


def run_detector(model, dataset: tf.data.Dataset, cfg: ObjectDetectionConfig):
    """(ground truth, detections) per image of an unbatched (image, boxes, labels) split, for `coco_metrics`."""
    truth, found = [], []
    for images, boxes, labels in dataset.batch(cfg.batch_size).as_numpy_iterator():
        detections = detect(model, images.astype(np.float32), cfg)
        for i in range(len(images)):
            keep = labels[i] >= 0
            truth.append((boxes[i][keep], labels[i][keep]))
            n = int(detections["num_detections"][i])
            found.append((detections["boxes"][i, :n], detections["scores"][i, :n], detections["classes"][i, :n]))
    return truth, found


class ObjectDetection(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (DigitScenes,)
    primary_metric = ("map_50", "higher", ".4f")

    def load_data(self, cfg: ObjectDetectionConfig) -> DetectionData:
        data = load_detection(cfg.dataset, cfg.data_dir, image_size=cfg.image_size, max_objects=cfg.max_objects)
        if cfg.max_eval_samples:
            data.validation = data.validation.take(cfg.max_eval_samples)
            data.test = data.test.take(cfg.max_eval_samples)
            for split in ("validation", "test"):
                data.sizes[split] = min(data.sizes[split] or cfg.max_eval_samples, cfg.max_eval_samples)
        return data

    def num_train_examples(self, cfg, data: DetectionData) -> int:
        n = data.sizes.get("train") or 0
        if not n:
            n = int(data.train.reduce(0, lambda count, *_: count + 1))
            data.sizes["train"] = n
        return min(n, cfg.max_train_samples) if cfg.max_train_samples else n

    def build_inputs(self, cfg, data: DetectionData) -> dict:
        height, width, _ = data.image_shape

        def to_targets(image, boxes, labels):
            return tf.cast(image, tf.float32), encode(boxes, labels, (height, width), data.num_classes)

        return split_pipelines(data, cfg, to_targets, self.num_train_examples(cfg, data))

    def data_summary(self, data: DetectionData) -> dict:
        return {"class_names": data.class_names, "image_shape": list(data.image_shape), "sizes": data.sizes}

    def build_model(self, cfg: ObjectDetectionConfig, data: DetectionData):
        try:
            return build_centernet(data.image_shape, data.num_classes, width=cfg.width, head_width=cfg.head_width)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def build_losses(self, cfg: ObjectDetectionConfig):
        return {"heatmap": HeatmapFocalLoss(), "size": MaskedL1Loss(cfg.size_loss_weight),
                "offset": MaskedL1Loss(cfg.offset_loss_weight)}

    def _check_model(self, model, data: DetectionData) -> None:
        classes = model.output["heatmap"].shape[-1]
        if tuple(model.input_shape[1:]) != tuple(data.image_shape) or classes != data.num_classes:
            raise UsageError(f"{data.name} has {data.num_classes} classes of {data.image_shape} images; the model "
                             f"takes {tuple(model.input_shape[1:])} and detects {classes} classes")

    def evaluate(self, model, cfg, data: DetectionData, inputs) -> dict:
        self._check_model(model, data)
        truth, found = run_detector(model, data.test, cfg)
        return coco_metrics(truth, found, data.class_names, data.image_shape[:2])

    def figures(self, model, cfg, data: DetectionData, inputs, split="test") -> dict:
        from apps.object_detection.drawing import scenes_figure

        images, truth, found = [], [], []
        for image, boxes, labels in getattr(data, split).take(FIGURE_SCENES).as_numpy_iterator():
            images.append(image)
            truth.append((boxes[labels >= 0], labels[labels >= 0]))
        detections = detect(model, np.stack(images).astype(np.float32), cfg)
        for i in range(len(images)):
            n = int(detections["num_detections"][i])
            found.append((detections["boxes"][i, :n], detections["scores"][i, :n], detections["classes"][i, :n]))
        title = f"{data.name} {split}: true boxes (dashed) and detections with score >= {cfg.display_score:g}"
        return {"detections": scenes_figure(images, truth, found, data.class_names, title, min_score=cfg.display_score)}

    def baselines(self, cfg: ObjectDetectionConfig, data: DetectionData) -> dict:
        """Connected components + an RBF SVC on digit scenes (see `apps.object_detection.baseline`)."""
        if not cfg.baseline or data.name != DigitScenes.name:
            return {}
        from apps.object_detection.baseline import ComponentsDetector

        detector = ComponentsDetector().fit(data.train.concatenate(data.validation), cfg.max_train_samples)
        truth, found = [], []
        for image, boxes, labels in data.test.as_numpy_iterator():
            keep = labels >= 0
            truth.append((boxes[keep], labels[keep]))
            found.append(detector.detect(image))
        return {"components_svc": coco_metrics(truth, found, data.class_names, data.image_shape[:2])}

    def serving_outputs(self, cfg: ObjectDetectionConfig, outputs, summary: dict):
        """The exported detector returns the detections `predict` shows (score >= `shown_score`): per image
        `num_detections` (int32) and, padded to `max_detections`, normalised `boxes` (y0, x0, y1, x1), `scores`,
        `classes` (int32) and `class_names` ("" in the padding); the run's class names are kept in the graph."""
        detections = decode_outputs(outputs, cfg, score_threshold=shown_score(cfg))
        names = summary.get("class_names") or [str(i) for i in range(outputs["heatmap"].shape[-1])]
        valid = tf.range(tf.shape(detections["classes"])[1])[None, :] < detections["num_detections"][:, None]
        class_names = tf.where(valid, tf.gather(tf.constant([str(n) for n in names]), detections["classes"]), "")
        return {**detections, "class_names": class_names}

    def predict(self, model, cfg: ObjectDetectionConfig, summary: dict, inputs: list[str]) -> list[dict]:
        from apps.object_detection.drawing import draw_boxes
        if not inputs:
            raise UsageError("predict needs image files: dlsuite object_detection predict --run DIR IMAGE...")
        height, width, channels = model.input_shape[1:]
        class_names = summary.get("class_names") or [str(i) for i in range(model.output["heatmap"].shape[-1])]
        originals = []
        for path in inputs:  # every input is checked before any output is written
            check_image(path)
            try:
                image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False).numpy()
            except tf.errors.InvalidArgumentError:  # a format PIL reads but TensorFlow does not (TIFF, ...)
                raise UsageError(f"cannot decode image {path}: use PNG, JPEG, BMP or GIF") from None
            if image.shape[-1] == 4 and channels == 3:
                image = image[..., :3]  # drop the alpha channel
            if image.shape[-1] != channels:
                raise UsageError(f"{path} has {image.shape[-1]} channel(s); the model expects {channels}")
            originals.append(image)
        out_dir = cfg.predictions_dir or os.path.join(summary["run_dir"], "predictions")
        records = []
        for path, image in zip(inputs, originals):
            resized = tf.image.resize(tf.cast(image, tf.float32), (height, width))[None]
            detections = detect(model, resized, cfg)
            shown = detections["scores"][0] >= shown_score(cfg)
            shown[int(detections["num_detections"][0]):] = False
            boxes, scores, classes = (detections[k][0][shown] for k in ("boxes", "scores", "classes"))
            picture = os.path.join(out_dir, f"{os.path.splitext(os.path.basename(path))[0]}.boxes.png")
            draw_boxes(image, boxes, scores, classes, class_names, picture)
            scale = np.array([image.shape[0], image.shape[1]] * 2, np.float32)
            records.append({"input": path, "image": picture, "detections": [
                {"label": class_names[int(c)], "score": round(float(s), 4),
                 "box_ymin_xmin_ymax_xmax": [round(float(v), 1) for v in b * scale]}
                for b, s, c in zip(boxes, scores, classes)]})
        return records

    def benchmark_target(self, metrics: dict):
        if metrics.get("dataset") != DigitScenes.name:
            return None
        test = metrics["test"]
        return ("mAP@0.5 >= 0.90 on digit scenes", test["map_50"] >= 0.90,
                f"mAP@0.5 {test['map_50']:.4f}, mAP {test['map']:.4f} in {metrics['train_seconds'] / 60:.1f} min")

    def search_space(self, hp, cfg: ObjectDetectionConfig) -> dict:
        # The loss weights stay as configured: the objective is the weighted validation loss, which they rescale.
        return {
            "width": choice(hp, "width", cfg.width, [8, 16, 32]),
            "head_width": choice(hp, "head_width", cfg.head_width, [16, 32, 64]),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 5e-4, 5e-3, log=True),
        }
