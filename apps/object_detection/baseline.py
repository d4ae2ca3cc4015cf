"""A classical digit detector for the same scenes: connected components proposed as boxes, classified by an SVC.

Digits are bright strokes on a black canvas, so each 8-connected component of non-zero pixels is
proposed as one object (touching digits merge, a broken stroke splits: the baseline's known failure
modes). An RBF SVC trained on the ground-truth crops of the training scenes classifies each
proposal; its one-vs-rest decision value is the detection score that ranks proposals for the mAP.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

CROP = 20  # crops are padded square and resized to CROP x CROP, as MNIST centres digits in 20x20


def crop_features(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels of `image` (H, W) in the pixel box (ymin, xmin, ymax, xmax), padded square, resized, in 0..1."""
    from PIL import Image

    ymin, xmin, ymax, xmax = box
    crop = image[ymin:ymax, xmin:xmax]
    side = max(crop.shape)
    square = np.zeros((side, side), np.float32)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
    resized = Image.fromarray(square).resize((CROP, CROP), Image.BILINEAR)
    return np.asarray(resized, np.float32).ravel() / 255.0


def _pixel_box(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    ymin, xmin, ymax, xmax = np.round(box * np.array([height, width, height, width])).astype(int)
    return int(ymin), int(xmin), max(int(ymax), int(ymin) + 1), max(int(xmax), int(xmin) + 1)


class ComponentsDetector:
    """Connected components + SVC.

    Args:
        min_pixels: components with fewer pixels are noise, not proposals.
        C: the SVC's regularisation.

    Example:
        >>> detector = ComponentsDetector().fit(data.train)
        >>> boxes, scores, classes = detector.detect(image)
    """

    def __init__(self, min_pixels: int = 12, C: float = 10.0):
        self.min_pixels = min_pixels
        self.C = C
        self.svc = None

    def fit(self, scenes: tf.data.Dataset, limit: int = 0) -> "ComponentsDetector":
        """Trains the SVC on the ground-truth crops of unbatched (image, boxes, labels) scenes."""
        from sklearn.svm import SVC

        if limit:
            scenes = scenes.take(limit)
        features, targets = [], []
        for image, boxes, labels in scenes.as_numpy_iterator():
            grey = image[..., 0]
            for box, label in zip(boxes[labels >= 0], labels[labels >= 0]):
                features.append(crop_features(grey, _pixel_box(box, *grey.shape)))
                targets.append(int(label))
        self.svc = SVC(C=self.C, gamma="scale", decision_function_shape="ovr").fit(np.stack(features), targets)
        return self

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (K, 4) normalised, scores (K,), classes (K,)) of one (H, W, 1) scene."""
        from skimage.measure import label, regionprops

        grey = np.asarray(image, np.float32)[..., 0]
        height, width = grey.shape
        regions = [r for r in regionprops(label(grey > 0, connectivity=2)) if r.area >= self.min_pixels]
        if not regions:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        boxes = np.array([r.bbox for r in regions], np.float32)  # pixel (ymin, xmin, ymax, xmax), max exclusive
        decision = self.svc.decision_function(np.stack([crop_features(grey, tuple(r.bbox)) for r in regions]))
        classes = self.svc.classes_[decision.argmax(axis=1)]
        return boxes / np.array([height, width, height, width], np.float32), decision.max(axis=1), classes
