"""CenterNet box encoding and decoding (Zhou et al., "Objects as Points", 2019).

An object is the peak of its class's heat-map at the output cell holding its box centre, plus the
box size and the centre's sub-cell offset regressed at that cell. With output stride `s`, an
`H x W` image has `H/s x W/s` cells:

* `heatmap` (H/s, W/s, C): per class, the maximum over its objects of a Gaussian around the centre
  cell (exactly 1 there); the focal loss treats the 1s as positives and down-weights negatives near them.
* `size` (H/s, W/s, 3): box (height, width) in cells at each centre cell, and a mask channel (1 at centres).
* `offset` (H/s, W/s, 3): (dy, dx) = exact centre - centre cell, in [0, 1), and the same mask.

Decoding keeps heat-map peaks (a 3x3 max-pool equals the value), takes the top-k over cells and
classes, rebuilds boxes from size and offset, and runs `tf.image.combined_non_max_suppression`.
Boxes are (ymin, xmin, ymax, xmax) normalised to [0, 1], as in TFDS.
"""

from __future__ import annotations

import tensorflow as tf

STRIDE = 4


def gaussian_sigma(extent):
    """Gaussian spread (in cells) along an axis for a box `extent` cells long: a sixth of it, at least 0.5."""
    return tf.maximum(extent / 6.0, 0.5)


def encode(boxes, labels, image_shape: tuple[int, int], num_classes: int, stride: int = STRIDE) -> dict:
    """Training targets of one image.

    Args:
        boxes: (M, 4) float boxes, normalised (ymin, xmin, ymax, xmax).
        labels: (M,) int classes; -1 marks padding, which is ignored.
        image_shape: (height, width) of the image in pixels (multiples of `stride`).
        num_classes: classes of the heat-map.
        stride: output stride of the model.

    Returns:
        {"heatmap": (h, w, C), "size": (h, w, 3), "offset": (h, w, 3)} float32, h = height / stride.

    Example:
        >>> targets = encode([[0.1, 0.1, 0.5, 0.3]], [2], (96, 96), num_classes=10)
        >>> targets["heatmap"].shape, float(tf.reduce_max(targets["heatmap"][..., 2]))
        (TensorShape([24, 24, 10]), 1.0)
    """
    out_h, out_w = image_shape[0] // stride, image_shape[1] // stride
    labels = tf.convert_to_tensor(labels, tf.int32)
    valid = labels >= 0
    boxes = tf.boolean_mask(tf.cast(boxes, tf.float32), valid)
    labels = tf.boolean_mask(labels, valid)
    scale = tf.constant([out_h, out_w, out_h, out_w], tf.float32)
    cells = boxes * scale  # box corners in output cells
    center = (cells[:, :2] + cells[:, 2:]) / 2.0  # (cy, cx)
    extent = cells[:, 2:] - cells[:, :2]  # (h, w)
    limit = tf.constant([out_h - 1, out_w - 1], tf.float32)
    cell = tf.clip_by_value(tf.floor(center), 0.0, limit)

    ys = tf.range(out_h, dtype=tf.float32)[None, :, None]
    xs = tf.range(out_w, dtype=tf.float32)[None, None, :]
    sigma = gaussian_sigma(extent)
    gauss = tf.exp(-((ys - cell[:, 0, None, None]) ** 2) / (2.0 * sigma[:, 0, None, None] ** 2)
                   - ((xs - cell[:, 1, None, None]) ** 2) / (2.0 * sigma[:, 1, None, None] ** 2))
    per_class = gauss[..., None] * tf.one_hot(labels, num_classes)[:, None, None, :]
    heatmap = tf.reduce_max(tf.concat([tf.zeros((1, out_h, out_w, num_classes)), per_class], axis=0), axis=0)

    index = tf.cast(cell, tf.int32)
    ones = tf.ones_like(extent[:, :1])
    zeros = tf.zeros((out_h, out_w, 3))
    size = tf.tensor_scatter_nd_update(zeros, index, tf.concat([extent, ones], axis=1))
    offset = tf.tensor_scatter_nd_update(zeros, index, tf.concat([center - cell, ones], axis=1))
    return {"heatmap": heatmap, "size": size, "offset": offset}


def decode(heatmap, size, offset, *, top_k: int = 100, max_detections: int = 100,
           iou_threshold: float = 0.5, score_threshold: float = 0.05) -> dict:
    """Detections of a batch of model outputs.

    Args:
        heatmap: (B, h, w, C) class probabilities.
        size: (B, h, w, 2 or 3) box (height, width) in cells (a mask channel, as in targets, is ignored).
        offset: (B, h, w, 2 or 3) centre offsets (dy, dx) in cells.
        top_k: peaks kept before non-max suppression.
        max_detections: detections kept per image after it.
        iou_threshold: non-max suppression IoU per class.
        score_threshold: lowest score kept.

    Returns:
        {"boxes": (B, max_detections, 4) normalised, "scores": (B, max_detections),
         "classes": (B, max_detections) int32, "num_detections": (B,) int32}; only the first
        `num_detections` entries of each image are valid.
    """
    heatmap = tf.convert_to_tensor(heatmap, tf.float32)
    batch, out_h, out_w, num_classes = (tf.shape(heatmap)[i] for i in range(4))
    peaks = tf.where(tf.nn.max_pool2d(heatmap, 3, 1, "SAME") == heatmap, heatmap, tf.zeros_like(heatmap))
    scores, index = tf.math.top_k(tf.reshape(peaks, (batch, -1)), k=tf.minimum(top_k, out_h * out_w * num_classes))
    classes = index % num_classes
    position = index // num_classes
    cell = tf.cast(tf.stack([position // out_w, position % out_w], axis=-1), tf.float32)

    def at_peaks(values):
        return tf.gather(tf.reshape(tf.cast(values, tf.float32)[..., :2], (batch, -1, 2)), position, batch_dims=1)

    center = cell + at_peaks(offset)
    half = at_peaks(size) / 2.0
    scale = tf.cast(tf.stack([out_h, out_w, out_h, out_w]), tf.float32)
    boxes = tf.clip_by_value(tf.concat([center - half, center + half], axis=-1) / scale, 0.0, 1.0)
    nms = tf.image.combined_non_max_suppression(
        boxes[:, :, None, :],
        tf.one_hot(classes, num_classes) * scores[..., None],  # each peak scores only for its own class
        max_output_size_per_class=max_detections,
        max_total_size=max_detections,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        clip_boxes=False,
    )
    return {"boxes": nms.nmsed_boxes, "scores": nms.nmsed_scores, "classes": tf.cast(nms.nmsed_classes, tf.int32),
            "num_detections": nms.valid_detections}
