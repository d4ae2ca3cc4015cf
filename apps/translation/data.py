"""Sentence pairs for translation: the offline `de_en_sentences` set, TFDS translation sets and TSV files.

A spec is one of:

* `de_en_sentences` (default): German–English example sentences of Debian's `trans-de-en`
  dictionary (`/usr/share/trans/de-en`, from `apt-get install trans-de-en`; `$DLSUITE_TRANS_DE_EN`
  points elsewhere), prepared once by the TFDS builder `DeEnSentences`; see `dictionary_pairs`
  for the filter. 17,174 pairs from the 2023-01-30 file;
* `bible_es_en`: Spanish–English Bible verses from Debian's SWORD modules (`apt-get install
  sword-text-sparv sword-text-web`), read with pysword and prepared once by the TFDS builder
  `apps.translation.bible.BibleEsEn`: 30,868 aligned verses, split by book (no test book is seen
  in training); `direction` es-en (default) or en-es;
* `tfds:NAME` with two text features, e.g. `tfds:ted_hrlr_translate/pt_to_en` (internet once);
  its own validation and test splits;
* a `.tsv` file of `source<TAB>target` lines (UTF-8; blank lines skipped).

`direction` picks which language is the source: `de-en` (the default of `de_en_sentences`) or
`en-de`; for TFDS sets the two feature names (`pt-en`, `en-pt`); empty means the dataset's own
order (a TSV translates its first column into its second). The embedded set and TSV files are split
80/10/10 by `split_pairs`, so that no sentence of either side is in two splits. TFDS sets and TSV
files are read by `common.seq2seq.data.load_parallel_data`, the dictionary set here.
"""

from __future__ import annotations

import os
import re

import tensorflow_datasets as tfds

from apps.translation.bible import ENGLISH, SPANISH, BibleEsEn, sword_bible
from common.datasets import default_data_dir
from common.errors import UsageError
from common.seq2seq.data import SPLITS, ParallelData, load_parallel_data, orient, read_builder, split_pairs

DE_EN_FILE = "/usr/share/trans/de-en"
INSTALL_HINT = "apt-get install trans-de-en"
# Annotations of the dictionary: {m} grammar, [coll.] register or field, <...> spelling variants,
# (...) optional words or glosses. Removing them leaves the sentence itself.
ANNOTATION = re.compile(r"\([^()]*\)|\{[^{}]*\}|\[[^\[\]]*\]|<[^<>]*>")
SENTENCE_END = (".", "!", "?")


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
        UsageError: unknown names, a missing dictionary or SWORD module (with the install command), a missing, empty
            or non-UTF-8 TSV or one with a line that is not two tab-separated sentences, a TFDS set
            without two text features, a direction the dataset does not have, an empty split.

    Example:
        >>> data = load_pairs("de_en_sentences", direction="en-de")
        >>> data.direction, data.sizes
        ('en-de', {'train': 13740, 'validation': 1717, 'test': 1717})
    """
    return load_parallel_data(spec, data_dir=data_dir, direction=direction, seed=seed,
                              loaders={DeEnSentences.name: _load_dictionary, BibleEsEn.name: _load_bible})


def _load_dictionary(data_dir: str, direction: str) -> ParallelData:
    builder = DeEnSentences(data_dir=data_dir or default_data_dir())
    orient(DeEnSentences.name, ("de", "en"), direction)  # a bad direction fails before any preparing
    if not builder.is_prepared():
        dictionary_file()  # the install hint, before TFDS starts writing
    builder.download_and_prepare()  # a no-op once cached
    return read_builder(builder, DeEnSentences.name, ("de", "en"), direction, {s: s for s in SPLITS})


def _load_bible(data_dir: str, direction: str) -> ParallelData:
    builder = BibleEsEn(data_dir=data_dir or default_data_dir())
    orient(BibleEsEn.name, ("es", "en"), direction)
    if not builder.is_prepared():
        sword_bible(SPANISH), sword_bible(ENGLISH)  # the install hints, before TFDS starts writing
    builder.download_and_prepare()
    return read_builder(builder, BibleEsEn.name, ("es", "en"), direction, {s: s for s in SPLITS})
