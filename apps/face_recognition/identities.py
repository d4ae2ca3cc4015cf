"""Identity-labelled images for verification: `tfds:lfw`, a folder of `person_name/*.jpg`, or an embedded set.

No identity-labelled face set installs offline from a package registry, so the offline default is
the embedded `mnist5k` with each digit class as one "identity": real images, and with people split
as below, an open-set test on digits the network never saw in training (see the package docs).

People are split, not images: the training, validation and test people are disjoint (seeded, 70/10/20
of the people, at least 2 in each part), so verification is measured on faces the network never saw.
Only people with at least `min_images` images are kept (batch-hard mining needs two per person).
Validation and test pairs are balanced: as many same-person pairs as different-person pairs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from common.datasets import embedded_builder, prepare_tfds, tfds_builder
from common.datasets.embedded import EMBEDDED
from common.datasets.files import IMAGE_EXTENSIONS, check_image
from common.errors import UsageError

SPLITS = ("train", "validation", "test")
MIN_PEOPLE = 6  # 2 training, 2 validation, 2 test people


@dataclass
class FaceIdentities:
    """Face images of many people, with a person split and verification pairs.

    Attributes:
        name: the dataset spec.
        images: uint8 (n, size, size, channels).
        labels: person index of each image.
        people: person names, indexed by label.
        split_people: {split: person indices}.
        pairs: {"validation" | "test": int array (m, 3) of image index, image index, same person (0/1)}.
        threshold: the cosine-similarity threshold chosen on validation pairs (set by evaluation).
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    people: list[str]
    split_people: dict[str, np.ndarray]
    pairs: dict[str, np.ndarray] = field(default_factory=dict)
    threshold: float | None = None

    def split_indices(self, split: str) -> np.ndarray:
        """Indices of the images of one split's people."""
        return np.flatnonzero(np.isin(self.labels, self.split_people[split]))


def resolve_crop(center_crop: float, spec: str) -> float:
    """The centre-crop fraction: `center_crop`, or for 0 (auto) 0.5 for LFW's 250x250 photos, else 1."""
    if center_crop:
        return center_crop
    return 0.5 if spec.startswith("tfds:lfw") else 1.0


def prepare_face(image: tf.Tensor, size: int, crop: float) -> tf.Tensor:
    """Centre-crops a (H, W, C) image to the fraction `crop` of its sides and resizes it to size x size (float32)."""
    image = tf.cast(image, tf.float32)
    if crop < 1.0:
        image = tf.image.central_crop(image, crop)
    return tf.image.resize(image, (size, size), antialias=True)


def load_identities(spec: str, *, data_dir: str = "", image_size: int = 0, channels: int = 0, center_crop: float = 0.0,
                    min_images: int = 2, max_pairs: int = 1000, seed: int = 0) -> FaceIdentities:
    """Loads `tfds:NAME` (image + person-name features, e.g. `tfds:lfw`), a `person_name/*.jpg` folder, or an
    embedded image set (`mnist5k`, `digits`) with its classes as identities.

    Args:
        image_size, channels: the square size and channels (1 or 3) of the images; 0 = 64 and 3 for faces
            (tfds, folders), the set's own for embedded sets.

    Example:
        >>> data = load_identities("/data/faces", image_size=64)
        >>> data.pairs["test"][:2]
    """
    crop = resolve_crop(center_crop, spec)
    if spec in EMBEDDED:
        images, names = _read_embedded(spec, data_dir, image_size, channels)
    elif spec.startswith("tfds:"):
        images, names = _read_tfds(spec[len("tfds:"):], data_dir, image_size or 64, channels or 3, crop)
    elif spec and os.path.exists(spec):
        images, names = _read_folder(spec, image_size or 64, channels or 3, crop)
    else:
        image_sets = ", ".join(name for name, cls in EMBEDDED.items() if cls.KIND == "image")
        raise UsageError(f"dataset {spec!r} is neither tfds:NAME (e.g. tfds:lfw), an existing folder of "
                         f"person_name/*.jpg images, nor an embedded image set ({image_sets})")
    return split_people(spec, images, names, min_images=min_images, max_pairs=max_pairs, seed=seed)


def split_people(spec: str, images: np.ndarray, names: list[str], *, min_images: int, max_pairs: int,
                 seed: int) -> FaceIdentities:
    """Keeps people with >= `min_images` images, splits them 70/10/20 and draws the pairs."""
    people, labels = np.unique(np.asarray(names), return_inverse=True)
    counts = np.bincount(labels)
    if len(people) == 1:
        raise UsageError(f"{spec} has images of one person only ({people[0]}); "
                         f"face verification needs at least {MIN_PEOPLE} people")
    kept = np.flatnonzero(counts >= min_images)
    if len(kept) < MIN_PEOPLE:
        raise UsageError(f"{spec} has {len(kept)} people with at least {min_images} images; need at least "
                         f"{MIN_PEOPLE} (2 each for training, validation and test)")
    keep = np.isin(labels, kept)
    images, labels = images[keep], np.searchsorted(kept, labels[keep])
    order = np.random.default_rng(seed).permutation(len(kept))
    n_test = max(2, round(0.2 * len(kept)))
    n_val = max(2, round(0.1 * len(kept)))
    split = {"test": order[:n_test], "validation": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    data = FaceIdentities(spec, images, labels, [str(p) for p in people[kept]], split)
    data.pairs = {s: verification_pairs(labels, split[s], max_pairs, seed + i) for i, s in enumerate(SPLITS[1:])}
    return data


def verification_pairs(labels: np.ndarray, people: np.ndarray, max_pairs: int, seed: int) -> np.ndarray:
    """Balanced same/different pairs among the images of `people`: (m, 3) rows of (i, j, same)."""
    rng = np.random.default_rng(seed)
    by_person = [np.flatnonzero(labels == p) for p in people]
    positives = [(a, b) for idx in by_person for k, a in enumerate(idx) for b in idx[k + 1:]]
    sizes = np.array([len(idx) for idx in by_person])
    n_negatives = (sizes.sum() ** 2 - (sizes**2).sum()) // 2  # pairs of images of two different people
    n = min(len(positives), n_negatives, max_pairs // 2)
    positives = [positives[k] for k in rng.choice(len(positives), n, replace=False)]
    negatives = set()
    while len(negatives) < n:
        p, q = rng.choice(len(people), 2, replace=False)
        negatives.add((int(rng.choice(by_person[p])), int(rng.choice(by_person[q]))))
    rows = [(a, b, 1) for a, b in positives] + [(a, b, 0) for a, b in sorted(negatives)]
    return np.asarray(rows, np.int64).reshape(-1, 3)


def _read_embedded(name: str, data_dir: str, image_size: int, channels: int) -> tuple[np.ndarray, list[str]]:
    """All images of an embedded image set (every split), with their class names as identities."""
    builder = embedded_builder(name, "image", data_dir)
    images, labels = [], []
    for split in ("train", "validation", "test"):
        for batch, label in builder.as_dataset(split=split, as_supervised=True).batch(1024).as_numpy_iterator():
            images.append(batch)
            labels.append(label)
    images = np.concatenate(images)
    if (image_size and image_size != images.shape[1]) or (channels and channels != images.shape[-1]):
        resized = tf.image.resize(tf.cast(images, tf.float32), [image_size or images.shape[1]] * 2, antialias=True)
        if channels and channels != images.shape[-1]:
            resized = tf.image.grayscale_to_rgb(resized) if channels == 3 else tf.image.rgb_to_grayscale(resized)
        images = np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)
    return images, [f"class_{label}" for label in np.concatenate(labels)]


def _read_folder(path: str, image_size: int, channels: int, crop: float) -> tuple[np.ndarray, list[str]]:
    if not os.path.isdir(path):
        raise UsageError(f"{path} is not a folder of person_name/*.jpg images")
    people = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
    files = [(os.path.join(path, p, f), p) for p in people for f in sorted(os.listdir(os.path.join(path, p)))
             if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
        raise UsageError(f"{path} holds no images in person sub-folders (expected {path}/<person>/<image files>)")
    for file, _ in files:
        check_image(file)
    images = [prepare_face(tf.io.decode_image(tf.io.read_file(f), channels=channels, expand_animations=False),
                           image_size, crop) for f, _ in files]
    return np.clip(np.round(np.stack(images)), 0, 255).astype(np.uint8), [p for _, p in files]


def _read_tfds(name: str, data_dir: str, image_size: int, channels: int, crop: float) -> tuple[np.ndarray, list[str]]:
    import tensorflow_datasets as tfds

    builder, keys = tfds_builder(name, data_dir, image=tfds.features.Image,
                                 person=(tfds.features.Text, tfds.features.ClassLabel))
    image_key, name_key = keys["image"], keys["person"]
    try:
        prepare_tfds(builder, name)
    except UsageError as exc:
        raise UsageError(f"{exc}; or pass a folder of person_name/*.jpg images with --dataset DIR") from None
    split = "+".join(builder.info.splits) if builder.info.splits else "train"

    def prepare(example):
        image = example[image_key]
        if channels != image.shape[-1]:
            image = tf.image.rgb_to_grayscale(image) if channels == 1 else tf.image.grayscale_to_rgb(image)
        return tf.cast(tf.clip_by_value(tf.round(prepare_face(image, image_size, crop)), 0, 255), tf.uint8), example[name_key]

    images, names = [], []
    for batch, people in builder.as_dataset(split=split).map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(512):
        images.append(batch.numpy())
        names += [p.decode() if isinstance(p, bytes) else str(p) for p in people.numpy()]
    return np.concatenate(images), names


def person_batches(data: FaceIdentities, split: str, batch_size: int, per_person: int, *, shuffle: bool, seed: int,
                   max_images: int = 0) -> tuple[tf.data.Dataset, int]:
    """Batches of `batch_size // per_person` people x `per_person` images each, and their count per epoch.

    Each epoch visits every person of the split about (images / per_person) times, in random order
    when `shuffle`; a person with fewer images than `per_person` repeats some.
    """
    index = data.split_indices(split)
    if max_images:
        index = index[:max_images]
    people = np.unique(data.labels[index])
    rounds = max(math.ceil(len(index) / (len(people) * per_person)), math.ceil(batch_size / (len(people) * per_person)))
    steps = len(people) * rounds * per_person // batch_size
    table = tf.ragged.constant([index[data.labels[index] == p] for p in people], dtype=tf.int64)
    images, labels = tf.constant(data.images), tf.constant(data.labels)

    def person_images(row):
        chosen = table[row]
        if shuffle:
            chosen = tf.random.shuffle(chosen, seed=seed)
        repeats = (per_person + tf.size(chosen, tf.int32) - 1) // tf.size(chosen, tf.int32)
        return tf.data.Dataset.from_tensor_slices(tf.tile(chosen, [repeats])[:per_person])

    rows = tf.data.Dataset.range(len(people)).repeat(rounds)
    if shuffle:
        rows = rows.shuffle(len(people) * rounds, seed=seed, reshuffle_each_iteration=True)
    batches = rows.flat_map(person_images).batch(batch_size, drop_remainder=True)
    batches = batches.apply(tf.data.experimental.assert_cardinality(steps))  # flat_map hides it from Keras
    dataset = batches.map(lambda idx: (tf.cast(tf.gather(images, idx), tf.float32), tf.gather(labels, idx)))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE), steps
