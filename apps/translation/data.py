"""Sentence pairs for translation: the offline `de_en_sentences` set, TFDS translation sets and TSV files.

A spec is one of:

* `de_en_sentences` (default): German–English example sentences of Debian's `trans-de-en`
  dictionary (`/usr/share/trans/de-en`, from `apt-get install trans-de-en`; `$DLSUITE_TRANS_DE_EN`
  points elsewhere), prepared once by the TFDS builder `DeEnSentences`; see `dictionary_pairs`
  for the filter. 17,174 pairs from the 2023-01-30 file;
* `tfds:NAME` with two text features, e.g. `tfds:ted_hrlr_translate/pt_to_en` (internet once);
  its own validation and test splits;
* a `.tsv` file of `source<TAB>target` lines (UTF-8; blank lines skipped).

`direction` picks which language is the source: `de-en` (the default of `de_en_sentences`) or
`en-de`; for TFDS sets the two feature names (`pt-en`, `en-pt`); empty means the dataset's own
order (a TSV translates its first column into its second). The embedded set and TSV files are split
80/10/10 by `split_pairs`, so that no sentence of either side is in two splits.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np
import tensorflow_datasets as tfds

from common.errors import UsageError

SPLITS = ("train", "validation", "test")
DE_EN_FILE = "/usr/share/trans/de-en"
INSTALL_HINT = "apt-get install trans-de-en"
# Annotations of the dictionary: {m} grammar, [coll.] register or field, <...> spelling variants,
# (...) optional words or glosses. Removing them leaves the sentence itself.
ANNOTATION = re.compile(r"\([^()]*\)|\{[^{}]*\}|\[[^\[\]]*\]|<[^<>]*>")
SENTENCE_END = (".", "!", "?")


@dataclass
class ParallelData:
    """Source and target sentences per split, and what `load_data` derives from them.

    Attributes:
        name: the dataset spec.
        source_language, target_language: language names (`de`, `en`; `source`, `target` for a TSV).
        sources, targets: {split: list of str}, aligned.
        source_vocabulary, target_vocabulary: learned from the training split by the application.
        left_out: training pairs the application leaves out (longer than its `max_length`).
    """

    name: str
    source_language: str
    target_language: str
    sources: dict[str, list[str]]
    targets: dict[str, list[str]]
    source_vocabulary: list[str] = field(default_factory=list)
    target_vocabulary: list[str] = field(default_factory=list)
    left_out: int = 0

    @property
    def sizes(self) -> dict[str, int]:
        return {split: len(self.sources[split]) for split in SPLITS}

    @property
    def direction(self) -> str:
        return f"{self.source_language}-{self.target_language}"


# --- the Debian dictionary -------------------------------------------------------------------
def clean_entry(text: str) -> str:
    """A dictionary phrase without its annotations and with single spaces.

    Example:
        >>> clean_entry("Bei ihm ist AIDS voll ausgebrochen. [med.]")
        'Bei ihm ist AIDS voll ausgebrochen.'
    """
    return " ".join(ANNOTATION.sub(" ", text).split())


def is_sentence(text: str) -> bool:
    """Whether a cleaned phrase reads as a full sentence: upper-case start, `.`/`!`/`?` end, at least
    three words, and no leftover annotation marks, `/` alternatives or `…` gaps.

    Example:
        >>> is_sentence("Das ist gut."), is_sentence("etw. tun"), is_sentence("Er kommt/geht.")
        (True, False, False)
    """
    return (len(text.split()) >= 3 and text[0].isupper() and text.endswith(SENTENCE_END)
            and not any(mark in text for mark in "{}[]<>()/…"))


def dictionary_pairs(lines) -> list[tuple[str, str]]:
    """The sentence pairs of dictionary lines in the `trans-de-en` format, deduplicated, in file order.

    A line is `German :: English`; each side holds `|`-separated alternatives aligned between the
    sides, and each alternative `;`-separated synonyms. For each aligned pair of alternatives the
    first synonym of each side is cleaned of annotations (`clean_entry`) and kept where both sides
    are sentences (`is_sentence`). Comment lines (`#`) and lines whose sides have different numbers
    of alternatives are skipped.

    Example:
        >>> dictionary_pairs(["gut {adj} | Das ist gut. :: good | That is good.; It's good."])
        [('Das ist gut.', 'That is good.')]
    """
    pairs, seen = [], set()
    for line in lines:
        if line.startswith("#") or " :: " not in line:
            continue
        german, _, english = line.rstrip("\r\n").partition(" :: ")
        german_alternatives, english_alternatives = german.split("|"), english.split("|")
        if len(german_alternatives) != len(english_alternatives):
            continue
        for de, en in zip(german_alternatives, english_alternatives):
            pair = clean_entry(de.split(";")[0]), clean_entry(en.split(";")[0])
            if is_sentence(pair[0]) and is_sentence(pair[1]) and pair not in seen:
                seen.add(pair)
                pairs.append(pair)
    return pairs


def dictionary_file() -> str:
    """The path of the `trans-de-en` dictionary, or a UsageError that says how to install it."""
    path = os.environ.get("DLSUITE_TRANS_DE_EN") or DE_EN_FILE
    if not os.path.isfile(path):
        raise UsageError(f"the German-English dictionary {path} is missing: install it with `{INSTALL_HINT}` "
                         "(Debian/Ubuntu), or set DLSUITE_TRANS_DE_EN to a copy of the file")
    return path


def split_pairs(pairs: list[tuple[str, str]], seed: int = 0,
                fractions: tuple[float, float] = (0.8, 0.1)) -> dict[str, list[tuple[str, str]]]:
    """Splits pairs 80/10/10 (train/validation/test) so that no sentence of either side is in two splits.

    Pairs that share a source or a target sentence (a sentence with two translations, two
    sentences with one) form a group, and whole groups are drawn in a seeded random order until
    each split has its share of the pairs.

    Example:
        >>> parts = split_pairs([(f"s{i}", f"t{i}") for i in range(20)] + [("s0", "t0 again")])
        >>> {name: len(part) for name, part in parts.items()}
        {'train': 17, 'validation': 2, 'test': 2}
    """
    parent = list(range(len(pairs)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = {}
    for i, (source, target) in enumerate(pairs):
        for key in (("s", source), ("t", target)):
            if key in first:
                parent[root(i)] = root(first[key])
            else:
                first[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(pairs)):
        groups.setdefault(root(i), []).append(i)
    ordered = sorted(groups.values())  # by first pair index: the same order for the same pairs
    order = np.random.default_rng(seed).permutation(len(ordered))
    train_end, validation_end = fractions[0] * len(pairs), (fractions[0] + fractions[1]) * len(pairs)
    parts: dict[str, list[tuple[str, str]]] = {split: [] for split in SPLITS}
    count = 0
    for g in order:
        split = "train" if count < train_end else "validation" if count < validation_end else "test"
        parts[split] += [pairs[i] for i in ordered[g]]
        count += len(ordered[g])
    return parts


class DeEnSentences(tfds.core.GeneratorBasedBuilder):
    """German–English sentence pairs from Debian's `trans-de-en` dictionary (TU Chemnitz, GPL 2+).

    Read from the installed file instead of downloaded (see `dictionary_pairs` for the filter),
    split 80/10/10 by `split_pairs` with seed 0, and cached as TFRecords like any TFDS set.

    Example:
        >>> builder = DeEnSentences(data_dir="/tmp/tfds")
        >>> builder.download_and_prepare()
        >>> {split: info.num_examples for split, info in builder.info.splits.items()}
        {'train': 13740, 'validation': 1717, 'test': 1717}
    """

    name = "de_en_sentences"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    KIND = "pairs"  # read by its own loader (`load_pairs`), not the shared ones
    DESCRIPTION = "German-English example sentences of the trans-de-en dictionary (Debian package)."

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({"de": tfds.features.Text(), "en": tfds.features.Text()}),
            supervised_keys=("de", "en"),
            homepage="https://dict.tu-chemnitz.de/",
        )

    def _split_generators(self, dl_manager):
        with open(dictionary_file(), encoding="utf-8", errors="replace") as fh:
            pairs = dictionary_pairs(fh)
        return {split: self._generate_examples(part) for split, part in split_pairs(pairs, seed=0).items()}

    def _generate_examples(self, pairs):
        for i, (de, en) in enumerate(pairs):
            yield i, {"de": de, "en": en}


# --- loading -----------------------------------------------------------------------------------
def load_pairs(spec: str, *, data_dir: str = "", direction: str = "", seed: int = 0) -> ParallelData:
    """Loads sentence pairs (see the module docstring for the specs and `direction`).

    Raises:
        UsageError: unknown names, a missing dictionary (with the install command), a missing, empty
            or non-UTF-8 TSV or one with a line that is not two tab-separated sentences, a TFDS set
            without two text features, a direction the dataset does not have, an empty split.

    Example:
        >>> data = load_pairs("de_en_sentences", direction="en-de")
        >>> data.direction, data.sizes
        ('en-de', {'train': 13740, 'validation': 1717, 'test': 1717})
    """
    if not spec:
        raise UsageError("no dataset given")
    if spec == DeEnSentences.name:
        data = _load_dictionary(data_dir, direction)
    elif spec.startswith("tfds:"):
        if not spec[len("tfds:"):]:
            raise UsageError("tfds: needs a dataset name, e.g. tfds:ted_hrlr_translate/pt_to_en")
        data = _load_tfds(spec[len("tfds:"):], data_dir, direction)
    elif os.path.isdir(spec):
        raise UsageError(f"{spec} is a folder; give a TSV file of source<TAB>target lines")
    elif os.path.isfile(spec):
        if direction:
            raise UsageError(f"direction={direction!r} applies to {DeEnSentences.name} and tfds: sets; a TSV file "
                             "is translated from its first column into its second (leave direction empty)")
        pairs = read_tsv(spec)
        parts = split_pairs(pairs, seed=seed)
        data = ParallelData(spec, "source", "target", {s: [p[0] for p in parts[s]] for s in SPLITS},
                            {s: [p[1] for p in parts[s]] for s in SPLITS})
    elif os.path.sep in spec or spec.startswith(".") or spec.lower().endswith((".tsv", ".txt")):
        raise UsageError(f"TSV file not found: {spec}")
    else:
        raise UsageError(f"unknown dataset {spec!r}: use {DeEnSentences.name}, tfds:NAME (e.g. "
                         "tfds:ted_hrlr_translate/pt_to_en) or a TSV file of source<TAB>target lines")
    for split in SPLITS:
        if not data.sources[split]:
            raise UsageError(f"{spec} gives an empty {split} split ({data.sizes}); it needs more sentence pairs")
    return data


def _orient(name: str, languages: tuple[str, str], direction: str) -> tuple[str, str]:
    """(source, target) language for `direction` ('' = the dataset's order), or a UsageError."""
    if not direction:
        return languages
    source, _, target = direction.partition("-")
    if {source, target} != set(languages) or source == target:
        raise UsageError(f"unknown direction {direction!r} for {name}: use {'-'.join(languages)} or "
                         f"{'-'.join(reversed(languages))}")
    return source, target


def _read_builder(builder, name: str, languages: tuple[str, str], direction: str,
                  names: dict[str, str]) -> ParallelData:
    source, target = _orient(name, languages, direction)
    sources, targets = {}, {}
    for split, tfds_split in names.items():
        rows = list(builder.as_dataset(split=tfds_split).as_numpy_iterator())
        sources[split] = [row[source].decode("utf-8", "replace").strip() for row in rows]
        targets[split] = [row[target].decode("utf-8", "replace").strip() for row in rows]
    return ParallelData(name, source, target, sources, targets)


def _load_dictionary(data_dir: str, direction: str) -> ParallelData:
    from common.datasets import default_data_dir

    builder = DeEnSentences(data_dir=data_dir or default_data_dir())
    _orient(DeEnSentences.name, ("de", "en"), direction)  # a bad direction fails before any preparing
    if not builder.is_prepared():
        dictionary_file()  # the install hint, before TFDS starts writing
    builder.download_and_prepare()  # a no-op once cached
    return _read_builder(builder, DeEnSentences.name, ("de", "en"), direction, {s: s for s in SPLITS})


def _load_tfds(name: str, data_dir: str, direction: str) -> ParallelData:
    from common.datasets import prepare_tfds, tfds_builder

    builder, _ = tfds_builder(name, data_dir, text=tfds.features.Text)
    features = builder.info.features
    languages = tuple(k for k, v in features.items() if isinstance(v, tfds.features.Text))
    if len(languages) != 2:
        raise UsageError(f"TFDS dataset {name!r} is not a translation set: it needs two text features "
                         f"(it has: {', '.join(features)})")
    keys = builder.info.supervised_keys
    if keys and set(keys) == set(languages):
        languages = tuple(keys)
    _orient(f"tfds:{name}", languages, direction)
    available = set(builder.info.splits or ())
    if not available:  # nothing declared (e.g. under tfds.testing.mock_data): the usual three
        available = set(SPLITS)
    if "validation" in available:
        names = {"train": "train", "validation": "validation", "test": "test" if "test" in available else "validation"}
    else:
        names = {"train": "train[:90%]", "validation": "train[90%:]",
                 "test": "test" if "test" in available else "train[90%:]"}
    prepare_tfds(builder, name)
    return _read_builder(builder, f"tfds:{name}", languages, direction, names)


def read_tsv(path: str) -> list[tuple[str, str]]:
    """The (source, target) pairs of a UTF-8 file of `source<TAB>target` lines; blank lines are skipped.

    Raises:
        UsageError: not UTF-8, no pairs, a line without exactly two tab-separated columns or with an
            empty one (the message names the line).

    Example:
        >>> open("/tmp/pairs.tsv", "w").write("Guten Morgen.\\tGood morning.\\n")
        28
        >>> read_tsv("/tmp/pairs.tsv")
        [('Guten Morgen.', 'Good morning.')]
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UsageError(f"{path} is not UTF-8 text (line {line}, byte {exc.start}: "
                         f"{raw[exc.start:exc.start + 1]!r})") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) != 2:
            raise UsageError(f"{path} line {number}: expected 2 tab-separated columns (source<TAB>target), "
                             f"found {len(columns)}: {line[:60]!r}")
        source, target = columns[0].strip(), columns[1].strip()
        if not source or not target:
            raise UsageError(f"{path} line {number}: empty {'source' if not source else 'target'} sentence")
        pairs.append((source, target))
    if not pairs:
        raise UsageError(f"{path} has no sentence pairs (expected source<TAB>target lines)")
    return pairs
