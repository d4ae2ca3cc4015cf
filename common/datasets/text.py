"""Labelled text for the language applications: one loader for embedded sets, TFDS, CSV files and folders.

A spec is one of:

* `vader_movies`: the embedded movie-review sentences (see `common.datasets.embedded.VaderMovies`);
* `tfds:NAME` with a text and a class-label feature (`tfds:imdb_reviews`); its validation split,
  else the last 10% of train;
* a `.csv` file with a text column and a label column (`text_column`, `label_column`); any label
  values, sorted into class names; a stratified 70/10/20 split by `seed`;
* a folder `DIR/<class>/*.txt`, read by `keras.utils.text_dataset_from_directory`; split the same way.

Texts stay Python strings in memory (the sets are small); pipelines are made by the application.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field

import numpy as np

from common.errors import UsageError

SPLITS = ("train", "validation", "test")


@dataclass
class TextData:
    """Texts and integer labels per split.

    Attributes:
        name: the dataset spec.
        texts: {split: list of str}.
        labels: {split: int64 array}.
        class_names: label names, indexed by label.
        vocabulary: set by applications that learn one from the training texts.
    """

    name: str
    texts: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    class_names: list[str]
    vocabulary: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> dict[str, int]:
        return {split: len(self.texts[split]) for split in SPLITS}


def load_texts(spec: str, *, data_dir: str = "", text_column: str = "text", label_column: str = "label",
               seed: int = 0) -> TextData:
    """Loads a labelled text dataset (see the module docstring for the specs).

    Raises:
        UsageError: unknown names, missing or empty files, non-UTF-8 text, missing columns, empty texts,
            fewer than two classes.

    Example:
        >>> data = load_texts("vader_movies")
        >>> data.sizes, data.class_names
        ({'train': 7397, 'validation': 1057, 'test': 2114}, ['negative', 'positive'])
    """
    from common.datasets import parse_source

    source, name = parse_source(spec)
    if source == "embedded":
        data = _load_embedded(name, data_dir)
    elif source == "tfds":
        data = _load_tfds(name, data_dir)
    elif os.path.isdir(spec):
        data = _split(spec, *_read_folder(spec), seed=seed)
    elif os.path.isfile(spec):
        data = _split(spec, *_read_csv(spec, text_column, label_column), seed=seed)
    else:
        raise UsageError(f"dataset not found: {spec} (a CSV file, a folder of <class>/*.txt, "
                         "vader_movies, or tfds:NAME)")
    for split in SPLITS:
        if not data.texts[split]:
            raise UsageError(f"{spec} gives an empty {split} split ({data.sizes}); it needs more examples")
    return data


def _check_labels(spec: str, labels: np.ndarray, class_names: list[str]) -> None:
    present = np.unique(labels)
    if len(present) < 2:
        only = class_names[int(present[0])] if len(present) else "none"
        raise UsageError(f"{spec} has a single class ({only}); classification needs at least two")


def _load_embedded(name: str, data_dir: str) -> TextData:
    from common.datasets import _embedded_builder

    builder = _embedded_builder(name, "text", data_dir)
    texts, labels = {}, {}
    for split in SPLITS:
        rows = list(builder.as_dataset(split=split, as_supervised=True).as_numpy_iterator())
        texts[split] = [text.decode("utf-8") for text, _ in rows]
        labels[split] = np.array([label for _, label in rows], np.int64)
    return TextData(name, texts, labels, list(builder.info.features["label"].names))


def _load_tfds(name: str, data_dir: str) -> TextData:
    import tensorflow_datasets as tfds

    from common.datasets import prepare_tfds, tfds_builder

    builder, keys = tfds_builder(name, data_dir, text=tfds.features.Text, label=tfds.features.ClassLabel)
    text_key, label_key = keys["text"], keys["label"]
    features = builder.info.features
    prepare_tfds(builder, name)

    def read(split):
        rows = list(builder.as_dataset(split=split).as_numpy_iterator())
        return [r[text_key].decode("utf-8", "replace") for r in rows], np.array([r[label_key] for r in rows], np.int64)

    splits = builder.info.splits
    texts, labels = {}, {}
    texts["train"], labels["train"] = read("train")
    if "validation" in splits:
        texts["validation"], labels["validation"] = read("validation")
    else:
        cut = int(len(texts["train"]) * 0.9)
        texts["validation"], labels["validation"] = texts["train"][cut:], labels["train"][cut:]
        texts["train"], labels["train"] = texts["train"][:cut], labels["train"][:cut]
    texts["test"], labels["test"] = read("test" if "test" in splits else "validation")
    class_names = list(features[label_key].names)
    _check_labels(f"tfds:{name}", np.concatenate(list(labels.values())), class_names)
    return TextData(f"tfds:{name}", texts, labels, class_names)


def _read_csv(path: str, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            missing = [c for c in (text_column, label_column) if c not in columns]
            if missing:
                raise UsageError(f"{path} has no column {', '.join(map(repr, missing))} (columns: "
                                 f"{', '.join(columns) or 'none'}); set text_column and label_column")
            rows = [(row[text_column] or "", row[label_column] or "") for row in reader]
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r})") from None
    except csv.Error as exc:
        raise UsageError(f"{path} is not a readable CSV file: {exc}") from None
    if not rows:
        raise UsageError(f"{path} has no rows")
    for number, (text, label) in enumerate(rows, start=2):
        if not text.strip():
            raise UsageError(f"{path} line {number}: empty {text_column!r}")
        if not label.strip():
            raise UsageError(f"{path} line {number}: empty {label_column!r}")
    return [t for t, _ in rows], [label.strip() for _, label in rows]


def _read_folder(path: str) -> tuple[list[str], list[str]]:
    import keras

    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
    if not classes:
        raise UsageError(f"{path} has no class sub-folders (expected {path}/<class>/*.txt)")
    for name in classes:
        for file in os.listdir(os.path.join(path, name)):
            if file.endswith(".txt"):
                try:
                    with open(os.path.join(path, name, file), encoding="utf-8") as fh:
                        fh.read()
                except UnicodeDecodeError:
                    raise UsageError(f"{os.path.join(path, name, file)} is not UTF-8 text") from None
    try:
        dataset = keras.utils.text_dataset_from_directory(path, batch_size=None, shuffle=False, verbose=False)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    texts, labels = [], []
    for text, label in dataset.as_numpy_iterator():
        texts.append(text.decode("utf-8"))
        labels.append(dataset.class_names[int(label)])
    if not texts:
        raise UsageError(f"{path} holds no .txt files in its class sub-folders")
    return texts, labels


def _split(spec: str, texts: list[str], names: list[str], *, seed: int) -> TextData:
    """Stratified 70/10/20 split of user data; labels become indices of the sorted class names."""
    from common.datasets.embedded import stratified_split_indices

    for number, text in enumerate(texts):
        if not text.strip():
            raise UsageError(f"{spec}: text {number + 1} is empty")
    class_names = sorted(set(names))
    labels = np.array([class_names.index(n) for n in names], np.int64)
    _check_labels(spec, labels, class_names)
    counts = np.bincount(labels)
    if counts.min() < 5:
        raise UsageError(f"{spec}: class {class_names[int(counts.argmin())]!r} has {counts.min()} example(s); "
                         "each class needs at least 5 for a train/validation/test split")
    try:
        index = stratified_split_indices(labels, seed=seed)
    except ValueError as exc:
        raise UsageError(f"{spec}: cannot split {len(labels)} examples by class: {exc}") from None
    return TextData(spec, {s: [texts[i] for i in idx] for s, idx in index.items()},
                    {s: labels[idx] for s, idx in index.items()}, class_names)
