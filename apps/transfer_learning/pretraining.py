"""Pre-training of the default backbone: image_classification on its source set and low-resolution copies of it.

The `digits` target is 8x8: `FitToBackbone` enlarges it to the backbone's 20x20 digit box (28x28 less
the MNIST margin), so the backbone sees blocky, blurred strokes that no mnist5k image has. Pre-training
on each source image and a copy that goes through the same path (its digit box reduced to
`side` x `side` by area averaging, as `digits` was made from 32x32 bitmaps, then enlarged back
bilinearly) gives the backbone both looks, and twice the source images.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from apps.image_classification.task import ImageClassification
from common.datasets import ImageData


def low_resolution(image: tf.Tensor, side: int, margin: float) -> tf.Tensor:
    """`image` (H, W, C) with the box inside its blank `margin` reduced to `side` pixels a side (area average)
    and enlarged back (bilinear), as `FitToBackbone` enlarges a `side` x `side` image; same shape and dtype.

    Example:
        >>> low_resolution(tf.zeros((28, 28, 1), tf.uint8), 8, 4 / 28).shape
        TensorShape([28, 28, 1])
    """
    height, width = int(image.shape[0]), int(image.shape[1])
    top, left = int(round(margin * height)), int(round(margin * width))
    box = tf.cast(image[top:height - top, left:width - left], tf.float32)
    small = tf.image.resize(box, (side, side), method="area")
    x = tf.image.resize(small, (height - 2 * top, width - 2 * left))
    x = tf.pad(x, [[top, top], [left, left], [0, 0]])
    if image.dtype.is_integer:
        x = tf.cast(tf.clip_by_value(tf.round(x), 0, image.dtype.max), image.dtype)
    return tf.cast(x, image.dtype)


class LowResolutionPretraining(ImageClassification):
    """image_classification whose every split holds each image and its `low_resolution` copy.

    Args:
        side: side the copies are reduced to (the target's image size: 8 for `digits`).
        margin: blank border of the source images left out of the reduction (the transfer run's `margin`).
    """

    def __init__(self, side: int, margin: float):
        super().__init__()
        self.side, self.margin = side, margin

    def load_data(self, cfg) -> ImageData:
        data = super().load_data(cfg)

        def copy(image, label):
            return low_resolution(image, self.side, self.margin), label

        splits = {split: getattr(data, split) for split in ("train", "validation", "test")}
        doubled = {split: ds.concatenate(ds.map(copy, num_parallel_calls=tf.data.AUTOTUNE))
                   for split, ds in splits.items()}
        sizes = {split: 2 * n for split, n in data.sizes.items()}
        return dataclasses.replace(data, **doubled, sizes=sizes)
