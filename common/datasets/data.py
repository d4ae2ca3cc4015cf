"""The in-memory shapes of the shared datasets, and helpers on image splits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from common.errors import UsageError


@dataclass
class ImageData:
    """Train/validation/test splits of (image, label) pairs, unbatched; images keep their raw range."""

    name: str
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    class_names: list[str]
    image_shape: tuple[int, int, int]
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def to_numpy(dataset: tf.data.Dataset, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Materialises an unbatched (image, label) dataset as float32 images and int labels."""
    if limit:
        dataset = dataset.take(limit)
    images, labels = [], []
    for image, label in dataset.batch(1024).as_numpy_iterator():
        images.append(np.asarray(image, np.float32))
        labels.append(np.asarray(label, np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _label(image, label):
    return label


def sample_shots(dataset: tf.data.Dataset, class_names: list[str], shots: int, seed: int,
                 source: str = "the train split") -> tuple[np.ndarray, np.ndarray]:
    """`shots` examples of every class drawn without replacement with `seed`, as (images, labels) arrays.

    Raises UsageError if a class has fewer than `shots` examples.

    Example:
        >>> ds = tf.data.Dataset.from_tensor_slices((np.zeros((6, 2, 2, 1)), [0, 1, 0, 1, 0, 1]))
        >>> sample_shots(ds, ["a", "b"], 2, seed=0)[1].tolist()
        [0, 0, 1, 1]
    """
    labels = np.fromiter(dataset.map(_label).as_numpy_iterator(), np.int64)
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(labels), bool)
    for index, name in enumerate(class_names):
        members = np.flatnonzero(labels == index)
        if len(members) < shots:
            raise UsageError(f"shots={shots} is more than the {len(members)} images of class {name!r} in {source}")
        keep[rng.choice(members, shots, replace=False)] = True
    mask = tf.constant(keep)

    def chosen_index(index, example):
        return mask[index]

    def drop_index(index, example):
        return example

    chosen = dataset.enumerate().filter(chosen_index).map(drop_index)
    images, chosen_labels = to_numpy(chosen)
    order = np.argsort(chosen_labels, kind="stable")
    return images[order], chosen_labels[order]


@dataclass
class SeriesData:
    """A univariate series in time order with contiguous train/validation/test blocks."""

    name: str
    times: np.ndarray
    values: np.ndarray
    n_validation: int
    n_test: int
    season: int = 1

    @property
    def n_train(self) -> int:
        return len(self.values) - self.n_validation - self.n_test
