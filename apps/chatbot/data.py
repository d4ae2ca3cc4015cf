"""(context, reply) pairs for the chatbot: the `chatterbot-corpus` conversations, TSV files and TFDS sets.

Dataset specs:

* `chatterbot_corpus` (the offline default): the YAML conversations the `chatterbot-corpus` wheel
  installs (`chatterbot_corpus/data/<language>/*.yml`), read by an embedded TFDS builder with one
  config per language (`--set language=german`). Every two consecutive turns of a conversation
  are a pair (turn i is the context, turn i + 1 its reply). English: 2,026 conversations, 2,393
  pairs.
* a TSV file of `context<TAB>reply` lines, or `tfds:NAME` with two text features: read by
  `common.seq2seq.data.load_parallel_data` (its checks and its split apply).

The corpus is split 80/10/10 (of the pairs) by whole conversations, and conversations that share
a context turn (case and surrounding space ignored) stay together, so no prompt of the test split
was seen in training with another reply (`common.seq2seq.data.split_pairs`, seed 0, on the pairs
(context, conversation)).
"""

from __future__ import annotations

import glob
import os

import numpy as np
import tensorflow_datasets as tfds

from common.datasets import default_data_dir
from common.errors import UsageError
from common.seq2seq.data import SPLITS, ParallelData, load_parallel_data, split_pairs

CORPUS = "chatterbot_corpus"
INSTALL_HINT = "pip install chatterbot-corpus"


def corpus_root() -> str:
    """The `data` folder of the installed `chatterbot-corpus` wheel, or a UsageError with the install command."""
    try:
        import chatterbot_corpus
    except ImportError:
        raise UsageError(f"the chatterbot-corpus package is missing: install it with `{INSTALL_HINT}`") from None
    return os.path.join(os.path.dirname(chatterbot_corpus.__file__), "data")


def corpus_languages() -> list[str]:
    """The languages the installed corpus has (folder names: english, german, ...), or [] without it."""
    try:
        root = corpus_root()
    except UsageError:
        return []
    return sorted(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))


# The languages of chatterbot-corpus 1.3.3, so the builder's configs exist without the package.
LANGUAGES = tuple(corpus_languages()) or (
    "bengali", "chinese", "dutch", "english", "french", "german", "hebrew", "hindi", "hinglish", "indonesian",
    "italian", "japanese", "korean", "marathi", "oriya", "persian", "portuguese", "russian", "spanish", "swedish",
    "tamil", "telugu", "thai", "traditionalchinese", "turkish", "ukrainian", "urdu", "yoruba")


def read_conversations(folder: str) -> list[tuple[str, list[str]]]:
    """(category file, turns) of every conversation in the `*.yml` files of `folder`, in file order.

    Turns are stripped strings (the corpus has a few numbers as turns); empty turns, and entries that
    are not lists of turns, are dropped.

    Example:
        >>> read_conversations(corpus_root() + "/english")[0]
        ('ai', ['What is AI?', 'Artificial Intelligence is the branch of engineering and science ...'])
    """
    import yaml

    conversations = []
    for path in sorted(glob.glob(os.path.join(folder, "*.yml"))):
        with open(path, encoding="utf-8") as fh:
            content = yaml.safe_load(fh) or {}
        category = os.path.splitext(os.path.basename(path))[0]
        for turns in content.get("conversations") or []:
            if not isinstance(turns, list):  # one malformed entry of english/trivia.yml is a plain string
                continue
            turns = [str(turn).strip() for turn in turns or [] if turn is not None and str(turn).strip()]
            conversations.append((category, turns))
    return conversations


def split_conversations(conversations: list[list[str]], seed: int = 0) -> dict[str, list[int]]:
    """Indices of the conversations of each split, 80/10/10 of the (context, reply) pairs.

    Conversations that share a context turn (lower-cased) stay in one split, so no context of
    one split is a context of another; conversations of one turn (no pair) are left out.

    Example:
        >>> parts = split_conversations([["Hi", "Hello"]] * 3 + [[f"q{i}", "a"] for i in range(17)])
        >>> {split: len(part) for split, part in parts.items()}
        {'train': 16, 'validation': 2, 'test': 2}
    """
    # One item per (context, conversation): split_pairs keeps items that share either in one split.
    items = [(turns[i].lower(), f"\0{number}") for number, turns in enumerate(conversations)
             for i in range(len(turns) - 1)]
    parts = split_pairs(items, seed=seed)
    return {split: sorted({int(item[1][1:]) for item in parts[split]}) for split in SPLITS}


def conversation_pairs(turns: list[str]) -> list[tuple[str, str]]:
    """Consecutive turns as (context, reply) pairs.

    Example:
        >>> conversation_pairs(["Hi", "Hello", "How are you?"])
        [('Hi', 'Hello'), ('Hello', 'How are you?')]
    """
    return list(zip(turns[:-1], turns[1:]))


class ChatterbotCorpus(tfds.core.GeneratorBasedBuilder):
    """The `chatterbot-corpus` conversations (BSD-3-Clause) as (context, reply) pairs, one config per language.

    Read from the installed wheel instead of downloaded, split by `split_conversations` (seed 0)
    and cached as TFRecords like any TFDS set. Each example also keeps its conversation number,
    its place in it (`turn`) and its category (the YAML file's name).

    Example:
        >>> builder = ChatterbotCorpus(config="english", data_dir="/tmp/tfds")
        >>> builder.download_and_prepare()
        >>> {split: info.num_examples for split, info in builder.info.splits.items()}
        {'train': 1916, 'validation': 240, 'test': 237}
    """

    name = CORPUS
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release (chatterbot-corpus 1.3.3)."}
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=language) for language in LANGUAGES]
    KIND = "dialog"  # read by its own loader (`load_dialogs`), not the shared ones
    DESCRIPTION = "Conversations of the chatterbot-corpus package as (context, reply) pairs."

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "context": tfds.features.Text(), "reply": tfds.features.Text(),
                "conversation": tfds.features.Scalar(np.int32), "turn": tfds.features.Scalar(np.int32),
                "category": tfds.features.Text()}),
            supervised_keys=("context", "reply"),
            homepage="https://github.com/gunthercox/chatterbot-corpus",
        )

    def _split_generators(self, dl_manager):
        conversations = read_conversations(os.path.join(corpus_root(), self.builder_config.name))
        parts = split_conversations([turns for _, turns in conversations], seed=0)
        for split, numbers in parts.items():  # TFDS cannot write an empty split
            if not numbers:
                raise UsageError(f"{CORPUS}/{self.builder_config.name} gives an empty {split} split: it has too few "
                                 f"conversations ({len(conversations)})")
        return {split: self._generate_examples(conversations, parts[split]) for split in SPLITS}

    def _generate_examples(self, conversations, numbers):
        for number in numbers:
            category, turns = conversations[number]
            for i, (context, reply) in enumerate(conversation_pairs(turns)):
                yield f"{number}-{i}", {"context": context, "reply": reply, "conversation": number,
                                        "turn": i, "category": category}


def load_dialogs(spec: str, *, language: str = "english", data_dir: str = "", seed: int = 0) -> ParallelData:
    """(context, reply) pairs per split, as a `ParallelData` (sources are contexts, targets replies).

    Raises:
        UsageError: a missing corpus package (with the install command), an unknown language, and
            whatever `load_parallel_data` raises for files and TFDS names (missing, empty,
            non-UTF-8 files, lines that are not two tab-separated texts, ...).

    Example:
        >>> data = load_dialogs("chatterbot_corpus")
        >>> data.sizes, data.sources["train"][0], data.targets["train"][0]
        ({'train': 1916, 'validation': 240, 'test': 237}, 'What is AI?', 'Artificial Intelligence is ...')
    """
    if spec != CORPUS:
        if spec.startswith(("tfds:", "/", ".")) or os.path.exists(spec) or spec.lower().endswith((".tsv", ".txt")):
            data = load_parallel_data(spec, data_dir=data_dir, seed=seed)
            return ParallelData(data.name, "context", "reply", data.sources, data.targets)
        raise UsageError(f"unknown dataset {spec!r}: use {CORPUS} (offline, --set language=...), a TSV file of "
                         "context<TAB>reply lines, or tfds:NAME with two text features")
    root = corpus_root()
    if language not in corpus_languages():
        raise UsageError(f"unknown language {language!r} for {CORPUS}: use one of {', '.join(corpus_languages())}")
    builder = ChatterbotCorpus(config=language, data_dir=data_dir or default_data_dir())
    if not os.path.isdir(os.path.join(root, language)):
        raise UsageError(f"{CORPUS} has no folder {language!r}")
    builder.download_and_prepare()  # a no-op once cached
    sources, targets = {}, {}
    for split in SPLITS:
        rows = sorted(builder.as_dataset(split=split).as_numpy_iterator(),
                      key=lambda row: (row["conversation"], row["turn"]))
        sources[split] = [row["context"].decode("utf-8") for row in rows]
        targets[split] = [row["reply"].decode("utf-8") for row in rows]
        if not rows:
            raise UsageError(f"{CORPUS}/{language} gives an empty {split} split; it has too few conversations")
    return ParallelData(f"{CORPUS}/{language}", "context", "reply", sources, targets)
