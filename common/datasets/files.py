"""The user's own files: image folders (one sub-folder per class), CSV tables and CSV time series."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from common.datasets.data import ImageData
from common.datasets.embedded import stratified_split_indices
from common.errors import UsageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def list_image_folder(path: str) -> tuple[list[str], np.ndarray, list[str]]:
    """(file paths, labels, class names) of a folder laid out as `path/<class>/<image>`.

    Class names are the sub-folder names in sorted order, as `keras.utils.image_dataset_from_directory`
    orders them. Raises UsageError for a missing folder, no class folders or no images.
    """
    if not os.path.exists(path):
        raise UsageError(f"dataset folder not found: {path}")
    if not os.path.isdir(path):
        raise UsageError(f"{path} is not a folder of class sub-folders")
    class_names = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
    if not class_names:
        raise UsageError(f"{path} has no class sub-folders (expected {path}/<class>/<image files>)")
    files, labels = [], []
    for index, name in enumerate(class_names):
        folder = os.path.join(path, name)
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith(IMAGE_EXTENSIONS):
                files.append(os.path.join(folder, file))
                labels.append(index)
    if not files:
        raise UsageError(f"{path} holds no images ({', '.join(IMAGE_EXTENSIONS)}) in its class sub-folders")
    if len(class_names) < 2:
        raise UsageError(f"{path} has one class ({class_names[0]}); classification needs at least two")
    return files, np.asarray(labels, np.int64), class_names


def check_image(path: str) -> None:
    """Raises UsageError if `path` is not a readable image."""
    from PIL import Image

    if not os.path.exists(path):
        raise UsageError(f"image not found: {path}")
    if not os.path.isfile(path):
        raise UsageError(f"{path} is a folder, not an image")
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as exc:
        raise UsageError(f"cannot read image {path}: {type(exc).__name__}") from None


def read_image(path: str) -> np.ndarray:
    """The uint8 (H, W, C) pixels of an image file; UsageError for a missing or unreadable one."""
    if not os.path.isfile(path):
        raise UsageError(f"image not found: {path}")
    check_image(path)
    try:
        return tf.io.decode_image(tf.io.read_file(path), expand_animations=False).numpy()
    except tf.errors.InvalidArgumentError:
        raise UsageError(f"cannot read image {path}: not a complete PNG, JPEG, BMP or GIF") from None


def decode_image(path, image_size: int, channels: int):
    """Reads and resizes one image file to float32 (image_size, image_size, channels) in 0..255."""
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size))
    return image


def load_image_folder(path: str, image_size: int, channels: int, seed: int):
    """Splits a class-folder image set 70/10/20 (stratified, seeded) into train/validation/test."""
    files, labels, class_names = list_image_folder(path)
    for file in files:
        check_image(file)
    counts = np.bincount(labels, minlength=len(class_names))
    if counts.min() < 5:
        raise UsageError(f"class {class_names[int(counts.argmin())]!r} in {path} has {counts.min()} images; need at least 5 per class")
    splits = stratified_split_indices(labels, seed=seed)
    files = np.asarray(files)

    def make(indices):
        ds = tf.data.Dataset.from_tensor_slices((files[indices], labels[indices]))
        return ds.map(lambda f, y: (decode_image(f, image_size, channels), y), num_parallel_calls=tf.data.AUTOTUNE)

    return ImageData(
        name=path,
        class_names=class_names,
        image_shape=(image_size, image_size, channels),
        sizes={s: len(i) for s, i in splits.items()},
        **{s: make(i) for s, i in splits.items()},
    )


def read_csv_frame(path: str):
    """A CSV file as a pandas DataFrame (blank cells are NaN); UsageError if it is missing, unreadable or empty."""
    import pandas as pd

    if os.path.isdir(path):
        raise UsageError(f"{path} is a folder; give a CSV file")
    if not os.path.isfile(path):
        raise UsageError(f"CSV file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read CSV {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if frame.empty:
        raise UsageError(f"CSV {path} has no rows")
    return frame


def read_series_csv(path: str, column: str = "", time_column: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Reads one numeric column of a CSV as a series; blank cells are linearly interpolated."""
    import pandas as pd

    frame = read_csv_frame(path)
    if not column:
        others = [c for c in frame.columns if c != time_column]
        numeric = [c for c in others if pd.api.types.is_numeric_dtype(frame[c])]
        if len(others) == 1:  # one column: the values, whatever a bad cell made pandas read it as
            numeric = others
        if len(numeric) != 1:
            raise UsageError(f"CSV {path} has columns {list(frame.columns)}: name the value column with --set column=NAME")
        column = numeric[0]
    if column not in frame.columns:
        raise UsageError(f"CSV {path} has no column {column!r} (columns: {', '.join(map(str, frame.columns))})")
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        row = int(bad.idxmax())
        raise UsageError(f"column {column!r} of {path} has a non-numeric value {raw[row]!r} on data row {row + 1}")
    if values.notna().sum() < 2:
        raise UsageError(f"column {column!r} of {path} has fewer than two numbers")
    if np.isinf(values).any():
        raise UsageError(f"column {column!r} of {path} has infinite values")
    values = values.interpolate(method="linear", limit_direction="both")
    if time_column:
        if time_column not in frame.columns:
            raise UsageError(f"CSV {path} has no column {time_column!r} (columns: {', '.join(map(str, frame.columns))})")
        times = pd.to_numeric(frame[time_column], errors="coerce")
        if times.isna().any():
            times = pd.Series(np.arange(len(frame)), dtype=float)
    else:
        times = pd.Series(np.arange(len(frame)), dtype=float)
    return times.to_numpy(np.float64), values.to_numpy(np.float32)


def fetch_sdist(requirement: str, filename: str, cache_dir: str, env_var: str) -> str:
    """A package's source distribution `filename` (e.g. `vaderSentiment-3.3.2.tar.gz`), from `cache_dir` or
    fetched into it from PyPI with `pip download --no-binary :all: REQUIREMENT`: data that only an sdist carries,
    from a package registry, reachable where the suite installs. `$ENV_VAR` names a local copy instead.

    Example:
        >>> fetch_sdist("vaderSentiment==3.3.2", "vaderSentiment-3.3.2.tar.gz", cache, "DLSUITE_VADER_SDIST")
    """
    import shutil
    import subprocess
    import sys
    import tempfile

    local = os.environ.get(env_var)
    if local:
        if not os.path.isfile(local):
            raise UsageError(f"{env_var}={local} is not a file")
        return local
    path = os.path.join(cache_dir, filename)
    if os.path.isfile(path):
        return path
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                   "--dest", tmp, requirement]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        fetched = os.path.join(tmp, filename)
        if done.returncode or not os.path.isfile(fetched):
            reason = (done.stderr.strip().splitlines() or ["no file"])[-1]
            raise UsageError(f"cannot fetch the {requirement} sdist from PyPI ({reason}); download it elsewhere "
                             f"and set {env_var}=/path/to/{filename}")
        shutil.move(fetched, path)  # same file system: the cache never holds half a file
    return path
