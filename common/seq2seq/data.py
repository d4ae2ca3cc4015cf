"""Parallel text for the sequence-to-sequence applications: pairs of (source, target) texts per split.

`ParallelData` holds them; `load_parallel_data` reads the specs every application takes:

* `tfds:NAME` with two text features, e.g. `tfds:ted_hrlr_translate/pt_to_en` (internet once);
  its own validation and test splits;
* a `.tsv` file of `source<TAB>target` lines (UTF-8; blank lines skipped), split 80/10/10 by
  `split_pairs`, so that no text of either side is in two splits;

and an application's own datasets, named, through the loaders it passes (translation's
`de_en_sentences`). `direction` picks which feature of a TFDS set is the source (`pt-en`,
`en-pt`); empty means the dataset's own order (a TSV always reads its first column as the source).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow_datasets as tfds

from common.datasets import prepare_tfds, tfds_builder
from common.errors import UsageError

SPLITS = ("train", "validation", "test")


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


def load_parallel_data(spec: str, *, data_dir: str = "", direction: str = "", seed: int = 0,
                       loaders: dict[str, Callable[[str, str], ParallelData]] | None = None) -> ParallelData:
    """Loads pairs from `tfds:NAME`, a TSV file, or a name of `loaders` (see the module docstring).

    Args:
        spec: the dataset.
        data_dir: the TFDS data dir ('' for the default).
        direction: `source-target` feature names, or '' for the dataset's order.
        seed: the split of a TSV file.
        loaders: {name: function of (data_dir, direction) giving its ParallelData}, the application's own sets.

    Raises:
        UsageError: unknown names, a missing, empty or non-UTF-8 TSV or one with a line that is not two
            tab-separated texts, a TFDS set without two text features, a direction the dataset does not
            have, an empty split (and whatever the loaders raise).
    """
    loaders = loaders or {}
    if not spec:
        raise UsageError("no dataset given")
    if spec in loaders:
        data = loaders[spec](data_dir, direction)
    elif spec.startswith("tfds:"):
        if not spec[len("tfds:"):]:
            raise UsageError("tfds: needs a dataset name, e.g. tfds:ted_hrlr_translate/pt_to_en")
        data = load_tfds_pairs(spec[len("tfds:"):], data_dir, direction)
    elif os.path.isdir(spec):
        raise UsageError(f"{spec} is a folder; give a TSV file of source<TAB>target lines")
    elif os.path.isfile(spec):
        if direction:
            raise UsageError(f"direction={direction!r} applies to {''.join(f'{name} and ' for name in loaders)}tfds: "
                             "sets; a TSV file is translated from its first column into its second (leave direction "
                             "empty)")
        pairs = read_tsv(spec)
        parts = split_pairs(pairs, seed=seed)
        data = ParallelData(spec, "source", "target", {s: [p[0] for p in parts[s]] for s in SPLITS},
                            {s: [p[1] for p in parts[s]] for s in SPLITS})
    elif os.path.sep in spec or spec.startswith(".") or spec.lower().endswith((".tsv", ".txt")):
        raise UsageError(f"TSV file not found: {spec}")
    else:
        raise UsageError(f"unknown dataset {spec!r}: use {''.join(f'{name}, ' for name in loaders)}tfds:NAME (e.g. "
                         "tfds:ted_hrlr_translate/pt_to_en) or a TSV file of source<TAB>target lines")
    for split in SPLITS:
        if not data.sources[split]:
            raise UsageError(f"{spec} gives an empty {split} split ({data.sizes}); it needs more sentence pairs")
    return data


def orient(name: str, languages: tuple[str, str], direction: str) -> tuple[str, str]:
    """(source, target) language for `direction` ('' = the dataset's order), or a UsageError."""
    if not direction:
        return languages
    source, _, target = direction.partition("-")
    if {source, target} != set(languages) or source == target:
        raise UsageError(f"unknown direction {direction!r} for {name}: use {'-'.join(languages)} or "
                         f"{'-'.join(reversed(languages))}")
    return source, target


def read_builder(builder, name: str, languages: tuple[str, str], direction: str,
                 names: dict[str, str]) -> ParallelData:
    """The pairs of a prepared TFDS builder: `names` maps SPLITS to the builder's split names, `languages` are
    its two text features (`direction` orients them, as in `orient`)."""
    source, target = orient(name, languages, direction)
    sources, targets = {}, {}
    for split, tfds_split in names.items():
        rows = list(builder.as_dataset(split=tfds_split).as_numpy_iterator())
        sources[split] = [row[source].decode("utf-8", "replace").strip() for row in rows]
        targets[split] = [row[target].decode("utf-8", "replace").strip() for row in rows]
    return ParallelData(name, source, target, sources, targets)


def load_tfds_pairs(name: str, data_dir: str, direction: str) -> ParallelData:
    """The pairs of a TFDS set with two text features (its supervised keys give their order), with its own
    validation and test splits where it has them (else the last 10% of `train`)."""
    builder, _ = tfds_builder(name, data_dir, text=tfds.features.Text)
    features = builder.info.features
    languages = tuple(k for k, v in features.items() if isinstance(v, tfds.features.Text))
    if len(languages) != 2:
        raise UsageError(f"TFDS dataset {name!r} is not a translation set: it needs two text features "
                         f"(it has: {', '.join(features)})")
    keys = builder.info.supervised_keys
    if keys and set(keys) == set(languages):
        languages = tuple(keys)
    orient(f"tfds:{name}", languages, direction)
    available = set(builder.info.splits or ())
    if not available:  # nothing declared (e.g. under tfds.testing.mock_data): the usual three
        available = set(SPLITS)
    if "validation" in available:
        names = {"train": "train", "validation": "validation", "test": "test" if "test" in available else "validation"}
    else:
        names = {"train": "train[:90%]", "validation": "train[90%:]",
                 "test": "test" if "test" in available else "train[90%:]"}
    prepare_tfds(builder, name)
    return read_builder(builder, f"tfds:{name}", languages, direction, names)


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
