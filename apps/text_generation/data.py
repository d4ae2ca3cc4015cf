"""Text corpora as one string per split, their character vocabulary, and the windows models train on.

A spec is one of:

* `pydoc_topics` (default): CPython's own documentation topics (`pydoc_data.topics.topics`, the
  text behind `help("assert")` and friends, about 465,000 characters of English and Python in
  3.11), joined in key order with a blank line between topics; always installed;
* `fortunes`: the fortune files of Debian's `fortunes` packages (`/usr/share/games/fortunes`, or
  `$DLSUITE_FORTUNES_DIR`), one item per `%`-separated fortune, items shuffled with seed 0;
* `tfds:NAME`, e.g. `tfds:tiny_shakespeare`: the texts of the dataset's first text feature, each
  split joined with newlines; without a validation split, the last 10% of train; without a test
  split, the validation text;
* a path to a UTF-8 text file.

Everything but TFDS sets is split contiguously: the first 80% of the characters for training, the
next 10% for validation, the last 10% for test, so no test text is seen in training, not even in
overlapping windows.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from common.datasets import prepare_tfds, tfds_builder
from common.errors import UsageError

SPLITS = ("train", "validation", "test")
CORPORA = ("pydoc_topics", "fortunes")
FORTUNES_DIR = "/usr/share/games/fortunes"
OOV_ID = 0  # characters outside the vocabulary; the vocabulary's characters are ids 1..len(vocabulary)


@dataclass
class Corpus:
    """One text per split, and what `load_data` derives from them.

    Attributes:
        name: the dataset spec.
        texts: {split: str}.
        vocabulary: the sorted characters of the training text (ids 1..len; 0 is out-of-vocabulary).
        ids: {split: int32 array}, the texts encoded with `vocabulary`.
        window_characters: with a preset, the characters of a training window (about `sequence_length`
            of its tokens); 0 otherwise.
        token_vocabulary_size: with a preset, its tokenizer's vocabulary size; 0 otherwise.
    """

    name: str
    texts: dict[str, str]
    vocabulary: list[str] = field(default_factory=list)
    ids: dict[str, np.ndarray] = field(default_factory=dict)
    window_characters: int = 0
    token_vocabulary_size: int = 0

    @property
    def sizes(self) -> dict[str, int]:
        return {split: len(self.texts[split]) for split in SPLITS}


def load_corpus(spec: str, *, data_dir: str = "") -> Corpus:
    """Loads a text corpus (see the module docstring for the specs) as three contiguous texts.

    Raises:
        UsageError: unknown names, a missing, empty or non-UTF-8 file, fortunes not installed,
            a TFDS set without a text feature.

    Example:
        >>> corpus = load_corpus("pydoc_topics")
        >>> corpus.sizes  # Python 3.11
        {'train': 372038, 'validation': 46505, 'test': 46505}
    """
    if not spec:
        raise UsageError("no dataset given")
    if spec == "pydoc_topics":
        return Corpus(spec, split_contiguous(pydoc_topics_text()))
    if spec == "fortunes":
        return Corpus(spec, split_contiguous(fortunes_text(os.environ.get("DLSUITE_FORTUNES_DIR") or FORTUNES_DIR)))
    if spec.startswith("tfds:"):
        if not spec[len("tfds:"):]:
            raise UsageError("tfds: needs a dataset name, e.g. tfds:tiny_shakespeare")
        return _load_tfds(spec[len("tfds:"):], data_dir)
    if os.path.isdir(spec):
        raise UsageError(f"{spec} is a folder; give a text file (or {', '.join(CORPORA)}, tfds:NAME)")
    if os.path.isfile(spec):
        return Corpus(spec, split_contiguous(read_text_file(spec)))
    if os.path.sep in spec or spec.startswith(".") or "." in os.path.basename(spec):
        raise UsageError(f"text file not found: {spec}")
    raise UsageError(f"unknown dataset {spec!r}: use {', '.join(CORPORA)}, tfds:NAME (e.g. tfds:tiny_shakespeare) "
                     "or a path to a UTF-8 text file")


def pydoc_topics_text() -> str:
    """CPython's documentation topics (`help()` texts), joined in key order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"


def fortunes_text(folder: str) -> str:
    """The fortunes of every fortune file in `folder`, shuffled with seed 0 (files are by theme)."""
    paths = []
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            # `.dat` are strfile indexes; `.u8` are links to the same files; sub-folders hold the offensive ones.
            if os.path.isfile(path) and not os.path.islink(path) and not name.endswith((".dat", ".u8")):
                paths.append(path)
    items = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as fh:
            items += [item.strip("\n") for item in re.split(r"^%[ \t]*$", fh.read(), flags=re.M) if item.strip()]
    if not items:
        raise UsageError(f"no fortunes in {folder}: install them (apt-get install fortunes) or set "
                         "DLSUITE_FORTUNES_DIR to a folder of fortune files")
    order = np.random.default_rng(0).permutation(len(items))
    return "\n\n".join(items[i] for i in order) + "\n"


def read_text_file(path: str) -> str:
    """The text of a UTF-8 file (a leading byte-order mark is dropped)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})") from None
    if not text.strip():
        raise UsageError(f"{path} is empty")
    return text


def split_contiguous(text: str, validation: float = 0.1, test: float = 0.1) -> dict[str, str]:
    """The first 80% of `text` for training, the next 10% for validation, the last 10% for test.

    Example:
        >>> split_contiguous("abcdefghij")
        {'train': 'abcdefgh', 'validation': 'i', 'test': 'j'}
    """
    n_test = int(round(len(text) * test))
    n_validation = int(round(len(text) * validation))
    cut = len(text) - n_test - n_validation
    return {"train": text[:cut], "validation": text[cut:cut + n_validation], "test": text[cut + n_validation:]}


def _load_tfds(name: str, data_dir: str) -> Corpus:
    import tensorflow_datasets as tfds

    builder, keys = tfds_builder(name, data_dir, text=tfds.features.Text)
    text_key = keys["text"]
    prepare_tfds(builder, name)

    known = set(builder.info.splits or ())  # empty when the split sizes are unknown (e.g. mocked data)

    def read(split: str) -> str | None:
        if known and split not in known:
            return None
        try:
            rows = builder.as_dataset(split=split).as_numpy_iterator()
            return "\n".join(row[text_key].decode("utf-8", "replace") for row in rows)
        except (ValueError, KeyError):  # no such split
            if split == "train":
                raise UsageError(f"TFDS dataset {name!r} has no train split") from None
            return None

    texts = {"train": read("train"), "validation": read("validation"), "test": read("test")}
    if texts["validation"] is None:
        cut = int(len(texts["train"]) * 0.9)
        texts["train"], texts["validation"] = texts["train"][:cut], texts["train"][cut:]
    if texts["test"] is None:
        texts["test"] = texts["validation"]
    return Corpus(f"tfds:{name}", texts)


def learn_vocabulary(text: str) -> list[str]:
    """The sorted distinct characters of `text`.

    Example:
        >>> learn_vocabulary("hello")
        ['e', 'h', 'l', 'o']
    """
    return sorted(set(text))


def encode(text: str, vocabulary: list[str]) -> np.ndarray:
    """Character ids of `text`: 1 + the index in `vocabulary`, or `OOV_ID` (0) for other characters.

    Example:
        >>> encode("hex", ["e", "h"]).tolist()
        [2, 1, 0]
    """
    index = {char: i + 1 for i, char in enumerate(vocabulary)}
    return np.fromiter((index.get(char, OOV_ID) for char in text), np.int32, len(text))


def decode(ids, vocabulary: list[str]) -> str:
    """The text of character ids (the out-of-vocabulary id becomes U+FFFD)."""
    return "".join(vocabulary[i - 1] if i > 0 else "\ufffd" for i in (int(i) for i in ids))


def training_windows(ids: np.ndarray, length: int, count: int, seed: int = 0) -> tf.data.Dataset:
    """`count` random windows of `length` ids with their next-id targets, new positions every epoch.

    Each example is `(ids[s : s + length], ids[s + 1 : s + length + 1])` for a random start `s`, so
    an epoch is a fixed budget of examples whatever the corpus size.
    """
    if len(ids) < length + 1:
        raise ValueError(f"{len(ids)} ids are too few for windows of {length} + 1")
    text = tf.constant(ids, tf.int32)
    starts = len(ids) - length

    def window(r):
        start = tf.math.floormod(r, starts)
        chunk = tf.reshape(text[start:start + length + 1], (length + 1,))
        return chunk[:-1], chunk[1:]

    return (tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(count)
            .map(window, num_parallel_calls=tf.data.AUTOTUNE))


def evaluation_windows(ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive non-overlapping windows of `length` ids (fewer if the text is shorter) and their targets.

    Every character after the first is a target once, but the last `< length` ones; the first
    characters of a window are predicted from a short context, as at the start of any text.

    Example:
        >>> x, y = evaluation_windows(np.arange(10), 4)
        >>> x.tolist(), y.tolist()
        ([[0, 1, 2, 3], [4, 5, 6, 7]], [[1, 2, 3, 4], [5, 6, 7, 8]])
    """
    length = min(length, len(ids) - 1)
    if length < 1:
        raise ValueError("evaluation needs at least 2 ids")
    count = (len(ids) - 1) // length
    x = np.asarray(ids[: count * length], np.int32).reshape(count, length)
    y = np.asarray(ids[1: count * length + 1], np.int32).reshape(count, length)
    return x, y
