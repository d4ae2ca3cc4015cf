"""English text for pre-training: the embedded `english_corpus` set, read from what installs from a registry.

`english_corpus` (`EnglishCorpus`, a TFDS builder that reads installed packages instead of downloading) holds
one example per text, with the source it came from:

* `wordnet`: WordNet 3.0 glosses and their example sentences, one text per synset
  (`lemma, lemma: definition; "example"`), from Debian `wordnet-base` (`/usr/share/wordnet/data.*`);
* `gcide`: the definitions of the GNU Collaborative International Dictionary of English (Webster's 1913
  and WordNet), one paragraph per text, markup removed, from Debian `dict-gcide`
  (`/usr/share/dictd/gcide.dict.dz`);
* `bible`: the verses of the World English Bible, from Debian `sword-text-web` (read with pysword,
  cleaned as translation's `bible_es_en` does);
* `pydoc`: CPython's documentation topics (`pydoc_data.topics`), one paragraph per text;
* `chatterbot`: every turn of the English conversations of the `chatterbot-corpus` wheel;
* `vader`: the sentences of the four rated corpora of the vaderSentiment 3.3.2 sdist, without their
  ratings and without any sentence of sentiment's test splits (`vader_movies` and `vader_all`), so a
  sentiment model fine-tuned from this corpus is still scored on sentences it never saw.

A missing Debian package is a one-line error naming it and its `apt-get install` command: the corpus is
always the same six sources, so the figures a preset reports mean the same thing everywhere.

Every text goes to train, validation or test by a hash of its words (98/1/1), so a text repeated in
two sources is never on both sides of the held-out line. A user's own text is a `.txt` file (one text per
non-empty line) or a folder of them (`load_corpus`), split the same way.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import re
from dataclasses import dataclass

import numpy as np
import tensorflow_datasets as tfds

from common.datasets import embedded_builder, parse_source
from common.datasets.embedded import register_embedded
from common.errors import UsageError

SOURCES = ("wordnet", "gcide", "bible", "pydoc", "chatterbot", "vader")
SPLITS = ("train", "validation", "test")
HELD_OUT_PERCENT = 1  # of every source, for validation; as many again for test

WORDNET_DIR = "/usr/share/wordnet"  # Debian wordnet-base
GCIDE_DICT = "/usr/share/dictd/gcide.dict.dz"  # Debian dict-gcide (dictzip: a gzip file)
DEBIAN_PACKAGES = {"wordnet": "wordnet-base", "gcide": "dict-gcide", "bible": "sword-text-web"}


def split_of(text: str) -> str:
    """train, validation or test, by a hash of the text's lower-cased words (the same text: the same split).

    Example:
        >>> split_of("In the beginning, God created the heavens and the earth.")
        'train'
    """
    key = " ".join(text.lower().split()).encode("utf-8")
    bucket = int.from_bytes(hashlib.md5(key).digest()[:4], "little") % 100
    return "test" if bucket < HELD_OUT_PERCENT else "validation" if bucket < 2 * HELD_OUT_PERCENT else "train"


def _missing(source: str, path: str) -> UsageError:
    package = DEBIAN_PACKAGES[source]
    return UsageError(f"english_corpus needs {path} (Debian package {package}): install it with "
                      f"`apt-get install {package}`")


def wordnet_texts(folder: str = "") -> list[str]:
    """One text per WordNet synset: its lemmas, its definition and its quoted examples.

    Example:
        `00001930 03 n 01 physical_entity 0 007 @ ... | an entity that has physical existence`
        gives "physical entity: an entity that has physical existence".
    """
    folder = folder or os.environ.get("DLSUITE_WORDNET_DIR") or WORDNET_DIR
    paths = [os.path.join(folder, f"data.{pos}") for pos in ("noun", "verb", "adj", "adv")]
    if not all(os.path.isfile(p) for p in paths):
        raise _missing("wordnet", os.path.join(folder, "data.noun"))
    texts = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(" ") or " | " not in line:  # the licence header lines start with spaces
                    continue
                fields, gloss = line.split(" | ", 1)
                parts = fields.split()
                count = int(parts[3], 16)  # lemmas in hex, each followed by its lex_id
                lemmas = [re.sub(r"\(.*\)$", "", w).replace("_", " ") for w in parts[4:4 + 2 * count:2]]
                gloss = gloss.strip()
                if gloss:
                    texts.append(f"{', '.join(lemmas)}: {gloss}")
    return texts


_PRONUNCIATION = re.compile(r"\\[^\\\n]*\\")  # \Ab*di*ca"tion\
_BRACKETS = re.compile(r"\[[^\]]*\]")  # etymologies and source marks: [L. abdicatio.], [1913 Webster]
_CITATION = re.compile(r"--\s*[A-Z][\w.' ]{0,40}?\.(?=\s|$)")  # --Bailey. --Shak.
_BRACES = re.compile(r"[{}]")  # {cross references}


def clean_gcide(paragraph: str) -> str:
    """The words of one GCIDE paragraph: no pronunciations, brackets, citations or braces, single spaces.

    Example:
        >>> clean_gcide('Abditive \\\\Ab"di*tive\\\\, a. [L. abditivus.]\\n   Having the quality of hiding. --Bailey.')
        'Abditive, a. Having the quality of hiding.'
    """
    text = _BRACES.sub("", _CITATION.sub("", _BRACKETS.sub("", _PRONUNCIATION.sub("", paragraph))))
    return re.sub(r"\s+([,.;:])", r"\1", " ".join(text.split()))


def gcide_texts(path: str = "") -> list[str]:
    """One text per paragraph of the GCIDE dictionary (an entry's head and definitions), of three words or more."""
    path = path or os.environ.get("DLSUITE_GCIDE_DICT") or GCIDE_DICT
    if not os.path.isfile(path):
        raise _missing("gcide", path)
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        raw = fh.read()
    start = raw.find("\n\n", raw.find("Begin file 1 of 26"))  # past the database's own header
    texts = []
    for paragraph in re.split(r"\n\s*\n", raw[max(start, 0):]):
        if "* * *" in paragraph or "Begin file" in paragraph:  # the header of each letter's file
            continue
        text = clean_gcide(paragraph)
        if len(text.split()) >= 3:
            texts.append(text)
    return texts


def bible_texts() -> list[str]:
    """The verses of the World English Bible (SWORD module of Debian `sword-text-web`), in canonical order."""
    from apps.translation.bible import ENGLISH, sword_bible, verse_texts

    return [text for text in verse_texts(sword_bible(ENGLISH)).values() if text]


def pydoc_texts() -> list[str]:
    """The paragraphs of CPython's documentation topics (`pydoc_data.topics.topics`), in key order."""
    from pydoc_data.topics import topics

    texts = []
    for key in sorted(topics):
        texts += [" ".join(p.split()) for p in re.split(r"\n\s*\n", topics[key]) if len(p.split()) >= 3]
    return texts


def chatterbot_texts() -> list[str]:
    """Every turn of the English conversations of the `chatterbot-corpus` wheel."""
    import yaml

    try:
        import chatterbot_corpus
    except ImportError:
        raise UsageError("english_corpus reads the chatterbot-corpus wheel: pip install chatterbot-corpus") from None
    texts = []
    for path in sorted(glob.glob(os.path.join(os.path.dirname(chatterbot_corpus.__file__), "data", "english", "*.yml"))):
        with open(path, encoding="utf-8") as fh:
            conversations = (yaml.safe_load(fh) or {}).get("conversations") or []
        for turns in conversations:
            if isinstance(turns, list):  # one entry of english/trivia.yml is a plain string
                texts += [" ".join(str(turn).split()) for turn in turns if str(turn).strip()]
    return texts


def vader_texts(cache_dir: str, data_dir: str) -> list[str]:
    """The sentences of the vaderSentiment sdist's four rated corpora (ratings dropped, those rated 0 kept),
    less every sentence of sentiment's `vader_movies` and `vader_all` test splits (read from their own builders,
    so this is exactly what sentiment tests on)."""
    from apps.sentiment.data import VADER_CORPORA, fetch_vader_sdist, load_texts, read_vader_sentences

    sdist = fetch_vader_sdist(cache_dir)
    held_out = set()
    for name in ("vader_movies", "vader_all"):
        held_out |= {" ".join(t.split()) for t in load_texts(name, data_dir=data_dir).texts["test"]}
    texts = []
    for stem in VADER_CORPORA.values():
        texts += [text for _, text in read_vader_sentences(sdist, stem) if " ".join(text.split()) not in held_out]
    return texts


@register_embedded
class EnglishCorpus(tfds.core.GeneratorBasedBuilder):
    """English text from six installed sources (see the module docstring), one example per text with its source;
    98/1/1 train/validation/test by a hash of each text."""

    name = "english_corpus"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    DESCRIPTION = ("WordNet glosses, GCIDE definitions, the World English Bible, CPython's pydoc topics, chatterbot "
                   "conversations and the vaderSentiment sentences less sentiment's test splits (unlabelled).")
    KIND = "corpus"

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "text": tfds.features.Text(),
                "source": tfds.features.ClassLabel(names=list(SOURCES)),
            }),
        )

    def _split_generators(self, dl_manager):
        readers = {"wordnet": wordnet_texts, "gcide": gcide_texts, "bible": bible_texts, "pydoc": pydoc_texts,
                   "chatterbot": chatterbot_texts,
                   "vader": lambda: vader_texts(str(dl_manager.download_dir), self.data_dir_root)}
        rows = {split: [] for split in SPLITS}
        for index, source in enumerate(SOURCES):
            texts = readers[source]()
            print(f"english_corpus: {source}: {len(texts):,} texts", flush=True)
            for number, text in enumerate(texts):
                rows[split_of(text)].append((f"{source}-{number}", text, index))
        return {split: self._generate_examples(rows[split]) for split in SPLITS}

    def _generate_examples(self, rows):
        for key, text, source in rows:
            yield key, {"text": text, "source": source}


@dataclass
class Corpus:
    """Texts per split, with the source index of each (`SOURCES`; 0 for a user's files).

    Attributes:
        name: the dataset spec.
        texts: {split: list of str}.
        sources: {split: int array}, the source of each text.
        source_names: names of the sources, indexed by `sources`.
    """

    name: str
    texts: dict[str, list[str]]
    sources: dict[str, np.ndarray]
    source_names: list[str]

    @property
    def sizes(self) -> dict[str, int]:
        return {split: len(self.texts[split]) for split in SPLITS}


def check_sources() -> None:
    """UsageError naming the first missing Debian package, before TFDS starts writing the set."""
    wordnet = os.environ.get("DLSUITE_WORDNET_DIR") or WORDNET_DIR
    if not os.path.isfile(os.path.join(wordnet, "data.noun")):
        raise _missing("wordnet", os.path.join(wordnet, "data.noun"))
    gcide = os.environ.get("DLSUITE_GCIDE_DICT") or GCIDE_DICT
    if not os.path.isfile(gcide):
        raise _missing("gcide", gcide)
    from apps.translation.bible import ENGLISH, sword_bible

    sword_bible(ENGLISH)


def load_corpus(spec: str, data_dir: str = "") -> Corpus:
    """`english_corpus` (embedded, prepared once), a `.txt` file (one text per non-empty line) or a folder of them.

    Raises:
        UsageError: unknown names, missing Debian packages, missing, empty or non-UTF-8 files.
    """
    source, name = parse_source(spec)
    if source == "embedded":
        from common.datasets import default_data_dir

        if name == EnglishCorpus.name and not os.path.isdir(os.path.join(data_dir or default_data_dir(), name)):
            check_sources()  # the install hint before TFDS starts writing
        builder = embedded_builder(name, "corpus", data_dir)
        texts, sources = {}, {}
        for split in SPLITS:
            whole = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))  # one batch: fast to read
            texts[split] = [text.decode("utf-8") for text in whole["text"]]
            sources[split] = whole["source"].astype(np.int64)
        return Corpus(name, texts, sources, list(builder.info.features["source"].names))
    if source == "tfds":
        raise UsageError(f"{spec}: language_model reads english_corpus or .txt files, not TFDS sets")
    return _read_text_files(spec)


def _read_text_files(spec: str) -> Corpus:
    if os.path.isdir(spec):
        paths = sorted(glob.glob(os.path.join(spec, "**", "*.txt"), recursive=True))
        if not paths:
            raise UsageError(f"{spec} holds no .txt files")
    elif os.path.isfile(spec):
        paths = [spec]
    else:
        raise UsageError(f"dataset not found: {spec} (english_corpus, a .txt file or a folder of .txt files)")
    texts = {split: [] for split in SPLITS}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                lines = [" ".join(line.split()) for line in fh]
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path} is not UTF-8 text (byte {exc.start})") from None
        for line in lines:
            if line:
                texts[split_of(line)].append(line)
    if not texts["train"]:
        raise UsageError(f"{spec} holds no text")
    if not (texts["validation"] and texts["test"]):  # too few texts for the hash: every 20th is held out instead
        every = [text for split in SPLITS for text in texts[split]]
        if len(every) < 40:
            raise UsageError(f"{spec} holds {len(every)} texts; pre-training needs at least 40")
        texts = {"train": [t for i, t in enumerate(every) if i % 20 not in (9, 19)],
                 "validation": every[9::20], "test": every[19::20]}
    return Corpus(spec, texts, {s: np.zeros(len(t), np.int64) for s, t in texts.items()}, ["text"])
