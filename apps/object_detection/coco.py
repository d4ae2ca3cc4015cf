"""COCO-style mAP with pycocotools, on in-memory ground truth and detections."""

from __future__ import annotations

import contextlib
import io

import numpy as np


def _xywh(box: np.ndarray, height: int, width: int) -> list[float]:
    """A normalised (ymin, xmin, ymax, xmax) box as COCO's pixel [x, y, width, height]."""
    ymin, xmin, ymax, xmax = (float(v) for v in box)
    return [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height]


def coco_metrics(ground_truth: list[tuple[np.ndarray, np.ndarray]],
                 detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 class_names: list[str], image_shape: tuple[int, int]) -> dict[str, float]:
    """mAP (IoU 0.50:0.95), mAP@0.5, mAP@0.75 and per-class AP, computed by pycocotools' COCOeval.

    Args:
        ground_truth: per image, (boxes (N, 4) normalised ymin, xmin, ymax, xmax; labels (N,)).
        detections: per image, (boxes (K, 4) normalised; scores (K,); classes (K,)).
        class_names: names of the class indices.
        image_shape: (height, width) in pixels the normalised boxes refer to.

    Returns:
        {"map", "map_50", "map_75", "ap_<class>"...}; a class without test objects gets no AP entry.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    height, width = image_shape
    images, annotations, results = [], [], []
    for image_id, ((boxes, labels), (det_boxes, scores, classes)) in enumerate(zip(ground_truth, detections), 1):
        images.append({"id": image_id, "height": height, "width": width})
        for box, label in zip(boxes, labels):
            xywh = _xywh(box, height, width)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label) + 1,
                                "bbox": xywh, "area": xywh[2] * xywh[3], "iscrowd": 0})
        for box, score, label in zip(det_boxes, scores, classes):
            results.append({"image_id": image_id, "category_id": int(label) + 1, "bbox": _xywh(box, height, width),
                            "score": float(score)})
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(class_names)]
    if not annotations:
        raise ValueError("the test split has no objects to evaluate")
    if not results:
        return {"map": 0.0, "map_50": 0.0, "map_75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and its summary table
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations, "categories": categories}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    metrics = {"map": float(evaluation.stats[0]), "map_50": float(evaluation.stats[1]),
               "map_75": float(evaluation.stats[2])}
    # precision: [IoU thresholds, recall points, classes, area ranges (all first), max detections (100 last)]
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    for k, name in enumerate(class_names):
        values = precision[:, :, k]
        if (values > -1).any():
            metrics[f"ap_{name}"] = float(values[values > -1].mean())
    return metrics
