"""Sentiment data: the embedded `vader_movies` set, and one loader for it, TFDS, CSV files and folders.

A spec is one of:

* `vader_movies`: the embedded movie-review sentences (`VaderMovies` below); `vader_all`: those and the
  three other rated corpora of the same sdist, tweets, product reviews and editorials (`VaderAll`);
* `tfds:NAME` with a text and a class-label feature (`tfds:imdb_reviews`); its validation split,
  else the last 10% of train;
* a `.csv` file with a text column and a label column (`text_column`, `label_column`); any label
  values, sorted into class names; a stratified 70/10/20 split by `seed`;
* a folder `DIR/<class>/*.txt`, read by `keras.utils.text_dataset_from_directory`; split the same way.

Texts stay Python strings in memory (the sets are small); pipelines are made by the application.
"""

from __future__ import annotations

import csv
import io
import os
import tarfile
from dataclasses import dataclass, field

import numpy as np
import tensorflow_datasets as tfds

from common.datasets import embedded_builder, parse_source, prepare_tfds, tfds_builder
from common.datasets.embedded import register_embedded, stratified_split_indices
from common.datasets.files import fetch_sdist
from common.errors import UsageError

SPLITS = ("train", "validation", "test")


VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"


def fetch_vader_sdist(cache_dir: str) -> str:
    """The vaderSentiment 3.3.2 source distribution, from `cache_dir` or fetched from PyPI into it.

    Only the sdist carries `additional_resources/hutto_ICWSM_2014.tar.gz` (the wheel does not), so
    it is fetched with `pip download --no-binary :all:`: a package registry, reachable where the
    suite installs. `$DLSUITE_VADER_SDIST` names a local copy instead.
    """
    return fetch_sdist("vaderSentiment==3.3.2", VADER_SDIST, cache_dir, "DLSUITE_VADER_SDIST")


# The four rated corpora of Hutto and Gilbert (ICWSM 2014) in the sdist: the suite's name -> the file stem.
VADER_CORPORA = {"movies": "movieReviewSnippets", "tweets": "tweets", "products": "amazonReviewSnippets",
                 "editorials": "nytEditorialSnippets"}


def vader_source(corpus: str) -> str:
    """Where a corpus comes from, as metrics.json's `real_world` sections name it."""
    return f"vaderSentiment 3.3.2 sdist: hutto_ICWSM_2014/{VADER_CORPORA[corpus]}_GroundTruth.txt"


def polar_sentences(sdist: str, corpus: str) -> list[tuple[float, str]]:
    """(rating, sentence) rows of one corpus of the sdist (a key of `VADER_CORPORA`), less those rated
    exactly 0: the rest are positive or negative by the sign of the rating."""
    return [(rating, text) for rating, text in read_vader_sentences(sdist, VADER_CORPORA[corpus]) if rating != 0]


def vader_polarity(sdist: str, corpus: str) -> tuple[list[str], np.ndarray]:
    """(sentences, labels) of one corpus of the sdist: label 1 for a positive mean rating, 0 for a negative one."""
    rows = polar_sentences(sdist, corpus)
    return [text for _, text in rows], np.array([int(rating > 0) for rating, _ in rows], np.int64)


def read_vader_sentences(sdist: str, corpus: str = "movieReviewSnippets") -> list[tuple[float, str]]:
    """(mean human rating -4..4, sentence) rows of one `*_GroundTruth.txt` of the vaderSentiment sdist."""
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


@register_embedded
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
        rows = polar_sentences(fetch_vader_sdist(str(dl_manager.download_dir)), "movies")
        labels = np.array([int(rating > 0) for rating, _ in rows])
        splits = stratified_split_indices(labels)
        return {name: self._generate_examples(rows, idx) for name, idx in splits.items()}

    def _generate_examples(self, rows, indices):
        for i in indices:
            rating, text = rows[i]
            yield int(i), {"text": text, "label": int(rating > 0), "rating": np.float32(rating)}


@register_embedded
class VaderAll(tfds.core.GeneratorBasedBuilder):
    """All four rated corpora of the vaderSentiment sdist (movie reviews, tweets, product reviews, NYT
    editorials: 23,320 sentences with a non-zero mean rating), labelled by the sign of the rating.

    Split 70/10/20 with seed 0, stratified by corpus and label together, so every split holds each
    domain in the same share. `domain` names the corpus of each sentence.
    """

    name = "vader_all"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    DESCRIPTION = "Movie, tweet, product and editorial sentences with human ratings, positive/negative (vaderSentiment sdist)."
    KIND = "text"
    CLASS_NAMES = VaderMovies.CLASS_NAMES

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "text": tfds.features.Text(),
                "label": tfds.features.ClassLabel(names=self.CLASS_NAMES),
                "domain": tfds.features.ClassLabel(names=list(VADER_CORPORA)),
            }),
            supervised_keys=("text", "label"),
        )

    def _split_generators(self, dl_manager):
        sdist = fetch_vader_sdist(str(dl_manager.download_dir))
        texts, labels, domains = [], [], []
        for domain, corpus in enumerate(VADER_CORPORA):
            corpus_texts, corpus_labels = vader_polarity(sdist, corpus)
            texts += corpus_texts
            labels.append(corpus_labels)
            domains.append(np.full(len(corpus_labels), domain, np.int64))
        labels, domains = np.concatenate(labels), np.concatenate(domains)
        splits = stratified_split_indices(domains * 2 + labels)
        return {name: self._generate_examples(texts, labels, domains, idx) for name, idx in splits.items()}

    def _generate_examples(self, texts, labels, domains, indices):
        for i in indices:
            yield int(i), {"text": texts[i], "label": int(labels[i]), "domain": int(domains[i])}


@dataclass
class TextData:
    """Texts and integer labels per split.

    Attributes:
        name: the dataset spec.
        texts: {split: list of str}.
        labels: {split: int64 array}.
        class_names: label names, indexed by label.
        vocabulary: set by applications that learn one from the training texts.
        wide: set by sentiment where its model has a wide path (`apps.sentiment.model.learn_bag_of_ngrams`).
    """

    name: str
    texts: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    class_names: list[str]
    vocabulary: list[str] = field(default_factory=list)
    wide: dict | None = None

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
                         "vader_movies, vader_all, or tfds:NAME)")
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
    builder = embedded_builder(name, "text", data_dir)
    texts, labels = {}, {}
    for split in SPLITS:
        rows = list(builder.as_dataset(split=split, as_supervised=True).as_numpy_iterator())
        texts[split] = [text.decode("utf-8") for text, _ in rows]
        labels[split] = np.array([label for _, label in rows], np.int64)
    return TextData(name, texts, labels, list(builder.info.features["label"].names))


def _load_tfds(name: str, data_dir: str) -> TextData:
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
