"""One registry of dataset names and one loading path for every application.

A dataset spec is one of:

* an embedded name (`digits`, `mnist5k`, `sunspots`, `co2`): real data from installed packages,
  prepared once by its TFDS builder into the data dir (see `common.datasets.embedded`);
* `tfds:NAME` (`tfds:mnist`, `tfds:cifar10`, `tfds:fashion_mnist`, ...): any TFDS dataset, which
  needs internet the first time unless it is already prepared in `--data-dir`;
* a path: a folder of images with one sub-folder per class, or a CSV file for a time series.

Loaders return unbatched `tf.data` splits (images) or numpy arrays (series, which are small).
"""

from __future__ import annotations

import logging
import os
import socket

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from common.datasets.data import ImageData, SeriesData, sample_shots, to_numpy
from common.datasets.embedded import EMBEDDED
from common.datasets.files import load_image_folder, read_series_csv
from common.errors import UsageError
from common.runs import check_writable

__all__ = ["EMBEDDED", "ImageData", "SeriesData", "check_data_dir", "default_data_dir", "embedded_builder",
           "embedded_names", "load_images", "load_series", "parse_source", "prepare_tfds", "sample_shots",
           "tfds_builder", "tfds_split_names", "tfds_split_sizes", "to_numpy"]

log = logging.getLogger(__name__)


def default_data_dir() -> str:
    return os.environ.get("DLSUITE_DATA_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "dlsuite", "tfds")


def check_data_dir(data_dir: str) -> None:
    """A one-line `UsageError`, before any dataset is prepared, where a given `--data-dir` is a file or a folder
    that can't be made; an existing folder passes (read-only is fine once its datasets are prepared)."""
    if data_dir and not os.path.isdir(data_dir):
        check_writable(data_dir, "data dir")


def embedded_names(kind: str | None = None) -> list[str]:
    return [name for name, cls in EMBEDDED.items() if kind is None or cls.KIND == kind]


def parse_source(spec: str) -> tuple[str, str]:
    """Classifies a dataset spec as ("embedded" | "tfds" | "path", name)."""
    if not spec:
        raise UsageError("no dataset given")
    if spec.startswith("tfds:"):
        name = spec[len("tfds:"):]
        if not name:
            raise UsageError("tfds: needs a dataset name, e.g. tfds:mnist")
        return "tfds", name
    if spec in EMBEDDED:
        return "embedded", spec
    if os.path.sep in spec or spec.startswith(".") or os.path.exists(spec) or spec.lower().endswith(".csv"):
        return "path", spec
    raise UsageError(
        f"unknown dataset {spec!r}: use an embedded name ({', '.join(EMBEDDED)}), tfds:NAME, or a path to a folder or CSV"
    )


def _with_article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind  # "an image", "a series"


def embedded_builder(name: str, kind: str, data_dir: str):
    cls = EMBEDDED[name]
    if cls.KIND != kind:
        raise UsageError(f"dataset {name!r} is {_with_article(cls.KIND)} dataset; this application needs "
                         f"{_with_article(kind)} dataset ({', '.join(embedded_names(kind))})")
    builder = cls(data_dir=data_dir or default_data_dir())
    try:
        builder.download_and_prepare()  # a no-op once the TFRecords are cached
    except OSError as exc:  # a data dir that can't be written, a full disk
        raise UsageError(f"cannot prepare dataset {name!r} in {builder.data_dir_root}: {exc.strerror or exc}") from None
    return builder


def load_images(spec: str, data_dir: str = "", image_size: int = 0, channels: int = 0, seed: int = 0) -> ImageData:
    """Loads an image classification dataset; see the module docstring for the accepted specs.

    Args:
        spec: dataset spec.
        data_dir: TFDS data dir ('' = default).
        image_size: resize to this square size (0 = keep; folders and variable-size TFDS sets need one).
        channels: 1 or 3 to force grey or colour (0 = keep; folders default to 3).
        seed: seed of the split of folders and of TFDS sets without a validation split.
    """
    source, name = parse_source(spec)
    if source == "embedded":
        builder = embedded_builder(name, "image", data_dir)
        splits = {s: builder.as_dataset(split=s, as_supervised=True) for s in ("train", "validation", "test")}
        sizes = {s: builder.info.splits[s].num_examples for s in splits}
        class_names = [str(i) for i in range(builder.info.features["label"].num_classes)]
        shape = tuple(builder.info.features["image"].shape)
    elif source == "tfds":
        splits, sizes, class_names, shape = _load_tfds_images(name, data_dir)
    else:
        return load_image_folder(spec, image_size=image_size or 64, channels=channels or 3, seed=seed)

    if image_size or channels or None in shape:
        if None in shape[:2] and not image_size:
            raise UsageError(f"images of {spec} have no fixed size: set image_size (e.g. --set image_size=64)")
        target = image_size or shape[0]
        out_channels = channels or shape[2] or 3

        def resize(image, label):
            image = tf.image.resize(tf.cast(image, tf.float32), (target, target))
            if out_channels != image.shape[-1]:
                image = tf.image.rgb_to_grayscale(image) if out_channels == 1 else tf.image.grayscale_to_rgb(image)
            return image, label

        splits = {s: ds.map(resize, num_parallel_calls=tf.data.AUTOTUNE) for s, ds in splits.items()}
        shape = (target, target, out_channels)
    return ImageData(name=spec, class_names=class_names, image_shape=tuple(int(d) for d in shape), sizes=sizes, **splits)


# TFDS mirrors most datasets on this host; one DNS lookup tells "offline" in milliseconds, where a
# download attempt retries for minutes before failing.
TFDS_MIRROR = "storage.googleapis.com"
_REAL_DOWNLOAD_AND_PREPARE = vars(tfds.core.DatasetBuilder)["download_and_prepare"]


def _check_can_download(builder, name: str) -> None:
    """Fails fast with a clear message when a TFDS dataset is not prepared and there is no internet."""
    if builder.is_prepared() or vars(tfds.core.DatasetBuilder)["download_and_prepare"] is not _REAL_DOWNLOAD_AND_PREPARE:
        return  # already prepared, or under tfds.testing.mock_data (nothing is downloaded)
    try:
        socket.getaddrinfo(TFDS_MIRROR, 443)
    except OSError:
        raise UsageError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir_root} and there is no internet: "
            f"prepare it where there is (tfds build {name} --data_dir DIR), then pass --data-dir DIR"
        ) from None


def tfds_builder(name: str, data_dir: str, **roles) -> tuple[tfds.core.DatasetBuilder, dict[str, str]]:
    """The TFDS builder of `name` and the key of the feature that plays each role.

    Args:
        name: TFDS name (with config/version if any), e.g. `imdb_reviews` or `voc/2007`.
        data_dir: TFDS data dir ('' = default).
        **roles: role name -> feature class (or tuple of classes), e.g. `image=tfds.features.Image`.

    Raises:
        UsageError: unknown name, or no feature of a role's class.

    Example:
        >>> builder, keys = tfds_builder("mnist", "", image=tfds.features.Image, label=tfds.features.ClassLabel)
        >>> keys
        {'image': 'image', 'label': 'label'}
    """
    try:
        builder = tfds.builder(name, data_dir=data_dir or default_data_dir())
    except Exception as exc:  # DatasetNotFoundError and config errors
        raise UsageError(f"unknown TFDS dataset {name!r}: {str(exc).splitlines()[0]}") from None
    features = builder.info.features
    keys = {role: next((k for k, v in features.items() if isinstance(v, kinds)), None) for role, kinds in roles.items()}
    if None in keys.values():
        raise UsageError(f"TFDS dataset {name!r} has no {' and '.join(roles)} features (it has: {', '.join(features)})")
    return builder, keys


def prepare_tfds(builder: tfds.core.DatasetBuilder, name: str) -> None:
    """Downloads and prepares a TFDS dataset once; offline or failing, a one-line UsageError."""
    _check_can_download(builder, name)
    try:
        builder.download_and_prepare()
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(
            f"could not prepare TFDS dataset {name!r} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "without internet, prepare it elsewhere and pass its folder with --data-dir"
        ) from None


def tfds_split_names(builder: tfds.core.DatasetBuilder) -> dict[str, str]:
    """Our train/validation/test splits as TFDS split specs: the set's own validation split, else the
    last 10% of train; its test split, else the validation split."""
    available = set(builder.info.splits) if builder.info.splits else set()
    if "validation" in available:
        return {"train": "train", "validation": "validation", "test": "test" if "test" in available else "validation"}
    return {"train": "train[:90%]", "validation": "train[90%:]", "test": "test" if "test" in available else "train[90%:]"}


def tfds_split_sizes(builder: tfds.core.DatasetBuilder, names: dict[str, str]) -> dict[str, int]:
    """Examples in each split of `names` (0 where TFDS doesn't know, e.g. under mock_data)."""
    sizes = {}
    for split, spec in names.items():
        try:
            sizes[split] = builder.info.splits[spec].num_examples
        except Exception:  # mocked or unknown split sizes
            sizes[split] = 0
    return sizes


def _load_tfds_images(name: str, data_dir: str):
    builder, keys = tfds_builder(name, data_dir, image=tfds.features.Image, label=tfds.features.ClassLabel)
    image_key, label_key = keys["image"], keys["label"]
    features = builder.info.features
    names = tfds_split_names(builder)
    prepare_tfds(builder, name)
    loaded = {s: builder.as_dataset(split=spec).map(lambda ex: (ex[image_key], ex[label_key])) for s, spec in names.items()}
    sizes = tfds_split_sizes(builder, names)
    class_names = list(features[label_key].names)
    return loaded, sizes, class_names, tuple(features[image_key].shape)


def load_series(spec: str, data_dir: str = "", column: str = "", time_column: str = "",
                test_size: int = 0, validation_size: int = 0) -> SeriesData:
    """Loads a univariate series from an embedded name or a CSV file.

    For a CSV, `column` names the value column (optional when there is one numeric column),
    `time_column` an optional time column; the split sizes default to the last 20% for test and
    the 10% before for validation. Embedded series keep their documented splits unless sizes are given.
    """
    source, name = parse_source(spec)
    if source == "tfds":
        raise UsageError("time series come from an embedded name or a CSV file, not tfds:")
    if source == "embedded":
        builder = embedded_builder(name, "series", data_dir)
        parts = [tfds.as_numpy(builder.as_dataset(split=s)) for s in ("train", "validation", "test")]
        rows = [sorted(p, key=lambda r: r["time"]) for p in parts]  # time order, whatever the file order
        times = np.array([r["time"] for part in rows for r in part], np.float64)
        values = np.array([r["value"] for part in rows for r in part], np.float32)
        n_val, n_test = len(rows[1]), len(rows[2])
        season = int(builder.info.metadata.get("season", 1)) if builder.info.metadata else 1
    else:
        times, values = read_series_csv(spec, column=column, time_column=time_column)
        n_test = int(round(0.2 * len(values)))
        n_val = int(round(0.1 * len(values)))
        season = 1
    n_test = test_size or n_test
    n_val = validation_size or n_val
    if n_test + n_val >= len(values):
        raise UsageError(f"{spec} has {len(values)} values: too few for {n_val} validation and {n_test} test steps")
    return SeriesData(name=spec, times=times, values=values, n_validation=n_val, n_test=n_test, season=season)
