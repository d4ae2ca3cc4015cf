"""Spanish–English verse pairs from Debian's SWORD Bible modules, read with `pysword`.

`bible_es_en` aligns the Reina-Valera 1909 (`sword-text-sparv`, module `spaRV1909eb`) with the
World English Bible (`sword-text-web`, module `engWEB2015eb`), both public domain, verse by verse
by reference (book, chapter, verse) over the 66 books of the Spanish module's KJV versification:

* the OSIS markup is removed (`clean_osis`): footnotes and cross-references, section headings,
  speaker labels, the WEB's glossary after Revelation 22:21, and every tag (Strong's numbers and
  morphology are tag attributes, so they go with the tags); canonical psalm titles stay, since
  the Spanish text has them in verse 1 too;
* pairs where either side is empty are dropped, and so are their neighbours in the same chapter
  (a missing verse is usually merged into the one before or after it);
* chapters whose verse counts differ between the two versifications (3 John 1, Revelation 12)
  and chapters that the Spanish module numbers differently (`shifted_chapters`: the verse
  lengths of one side fit the other's shifted by one to three verses clearly better, as in
  Numbers 13, where the Spanish 13:1 is the English 12:16) are left out whole;
* pairs whose length ratio is more than twice off the typical Spanish/English ratio are dropped.

The split is by book, so that no test book is seen in training: `VALIDATION_BOOKS` and
`TEST_BOOKS` (about a tenth of the verses each, law, history, wisdom, gospel and letters in
both), every other book in `train`.
"""

from __future__ import annotations

import functools
import html
import math
import os
import re
import statistics

import tensorflow_datasets as tfds

from common.datasets.embedded import register_embedded
from common.errors import UsageError

SWORD_DIR = "/usr/share/sword"  # where Debian's sword-text-* packages install their modules
SPANISH = ("spaRV1909eb", "sword-text-sparv", "Reina-Valera 1909")
ENGLISH = ("engWEB2015eb", "sword-text-web", "World English Bible")
# OSIS book names. Every verse of a book is in one split.
VALIDATION_BOOKS = ("Judg", "Job", "John", "1Cor")
TEST_BOOKS = ("Josh", "Prov", "Acts", "Rom")
MAX_SHIFT = 3  # verses by which a chapter's numbering may be off between the modules
SHIFT_GAIN = 0.7  # a shifted fit of the lengths this much better than the unshifted one marks a shifted chapter
SHIFT_MIN_COST = 0.25  # ... where the unshifted fit is this bad (short, regular chapters fit any shift)
MAX_LENGTH_FACTOR = 2.0  # a pair this many times longer or shorter than the typical ratio is misaligned

# Markup whose content is not verse text: notes (footnotes, cross-references), headings other than
# canonical psalm titles, speaker labels of the Song of Songs.
_NOT_TEXT = re.compile(r"<note\b.*?</note>|<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>|"
                       r"<speaker\b.*?</speaker>", re.DOTALL)
# The milestone that closes a book; the WEB appends its glossary to the last verse after it.
_BOOK_END = re.compile(r"<div\b[^>]*\beID=[^>]*\btype=\"book\"[^>]*/>")
# Words the translators added (`transChange`) sit next to the tagged words without a space: an enclitic
# pronoun belongs to the word before it ("sáca" + "lo"), anything else is a word of its own.
_CLITIC = re.compile(r"(?<=\w)</w><transChange\b[^>]*>(lo|la|los|las|le|les|se|me|te|nos|os)</transChange>")
_ADJACENT = re.compile(r"(</(?:w|transChange)>)(?=<(?:w|transChange)\b)")
_EMPTY_TAG = re.compile(r"<[^>]*/>")  # milestones: line, paragraph, chapter ends
_TAG = re.compile(r"<[^>]*>")  # word-level markup: the words stay as they are
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?)\]’”»])")
_SPACE_AFTER = re.compile(r"([(\[“‘¿¡«])\s+")


def clean_osis(text: str) -> str:
    """The words of one OSIS verse: no notes, headings, speaker labels or tags, single spaces.

    Notes and milestones become spaces (a footnote often sits between two words with none around
    it), word-level tags go without one (`Beth-baal</w>-<w>meón`), and the spaces left inside
    punctuation are closed again.

    Example:
        >>> clean_osis('<w lemma="strong:H0430">God</w><note placement="foot">Elohim.</note>'
        ...            '<w lemma="strong:H1254">created</w> “<w>light</w>”.')
        'God created “light”.'
    """
    text = _BOOK_END.split(text, maxsplit=1)[0]
    text = _ADJACENT.sub(r"\1 ", _CLITIC.sub(r"\1", _NOT_TEXT.sub(" ", text)))
    text = _TAG.sub("", _EMPTY_TAG.sub(" ", text))
    text = " ".join(html.unescape(text).split())
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))


def sword_bible(module: tuple[str, str, str], sword_dir: str = ""):
    """The pysword bible of an installed SWORD module, or a UsageError that names its Debian package."""
    try:
        from pysword.modules import SwordModules
    except ImportError:
        raise UsageError("bible_es_en reads SWORD modules with pysword: pip install pysword") from None
    name, package, title = module
    sword_dir = sword_dir or os.environ.get("DLSUITE_SWORD_DIR") or SWORD_DIR
    modules = SwordModules(sword_dir)
    try:
        found = modules.parse_modules()
    except (OSError, ValueError):
        found = {}
    if name not in found:
        raise UsageError(f"the SWORD module {name} ({title}) is missing from {sword_dir}: install it with "
                         f"`apt-get install {package}` (Debian/Ubuntu), or set DLSUITE_SWORD_DIR to a SWORD folder")
    return modules.get_bible_from_module(name)


def verse_texts(bible) -> dict[tuple[str, int, int], str]:
    """{(OSIS book, chapter, verse): cleaned text} of every verse of the bible's versification ('' where empty)."""
    # pysword decompresses the module's whole book for every verse it reads; keeping the last
    # block makes reading a Bible take one second instead of minutes.
    if hasattr(bible, "_decompressed_text"):
        bible._decompressed_text = functools.lru_cache(maxsize=2)(bible._decompressed_text)
    texts = {}
    for books in bible.get_structure().get_books().values():
        for book in books:
            for chapter, count in enumerate(book.chapter_lengths, start=1):
                verses = list(bible.get_iter(books=[book.name], chapters=[chapter], clean=False))
                for verse, text in enumerate(verses[:count], start=1):
                    texts[book.osis_name, chapter, verse] = clean_osis(text or "")
    return texts


def _chapters(texts: dict) -> dict[tuple[str, int], int]:
    counts: dict[tuple[str, int], int] = {}
    for book, chapter, verse in texts:
        counts[book, chapter] = max(counts.get((book, chapter), 0), verse)
    return counts


def shifted_chapters(spanish: dict, english: dict, chapters, typical: float) -> set[tuple[str, int]]:
    """Chapters whose verse numbering differs between the sides: the mean distance of the pairs' log
    length ratios from `typical` falls below SHIFT_GAIN times the unshifted one when one side is
    shifted by 1..MAX_SHIFT verses, and the unshifted one is over SHIFT_MIN_COST."""
    shifted = set()
    for (book, chapter), count in chapters.items():
        def cost(shift):
            gaps = [abs(math.log(len(spanish[book, chapter, v]) / len(english[book, chapter, v + shift])) - typical)
                    for v in range(1, count + 1)
                    if spanish.get((book, chapter, v)) and english.get((book, chapter, v + shift))]
            return statistics.fmean(gaps) if len(gaps) >= 2 else math.inf
        unshifted = cost(0)
        best = min(cost(s) for s in range(-MAX_SHIFT, MAX_SHIFT + 1) if s)
        if unshifted > SHIFT_MIN_COST and best < SHIFT_GAIN * unshifted:
            shifted.add((book, chapter))
    return shifted


def align_verses(spanish: dict, english: dict) -> tuple[list[tuple[tuple[str, int, int], str, str]], dict]:
    """The (reference, Spanish, English) verse pairs, in the Spanish module's order, and what was
    left out why (see the module docstring for the rules)."""
    chapters = _chapters(spanish)
    english_chapters = _chapters(english)
    other_count = {ch: n for ch, n in chapters.items() if english_chapters.get(ch) != n}
    ratios = [math.log(len(spanish[r]) / len(english[r])) for r in spanish if spanish[r] and english.get(r)]
    typical = statistics.median(ratios) if ratios else 0.0
    shifted = shifted_chapters(spanish, english, {ch: n for ch, n in chapters.items() if ch not in other_count},
                               typical)
    left_out = {"other_verse_count": 0, "shifted_chapter": 0, "empty": 0, "next_to_empty": 0, "length_ratio": 0}
    pairs = []
    for ref, es in spanish.items():
        book, chapter, verse = ref
        en = english.get(ref, "")
        if (book, chapter) in other_count:
            left_out["other_verse_count"] += 1
        elif (book, chapter) in shifted:
            left_out["shifted_chapter"] += 1
        elif not es or not en:
            left_out["empty"] += 1
        elif any(ref2 in spanish and not (spanish[ref2] and english.get(ref2))
                 for ref2 in ((book, chapter, verse - 1), (book, chapter, verse + 1))):
            left_out["next_to_empty"] += 1
        elif abs(math.log(len(es) / len(en)) - typical) > math.log(MAX_LENGTH_FACTOR):
            left_out["length_ratio"] += 1
        else:
            pairs.append((ref, es, en))
    return pairs, left_out


def split_by_book(pairs) -> dict[str, list]:
    """{"train", "validation", "test"}: the pairs of VALIDATION_BOOKS, TEST_BOOKS and all other books."""
    def split_of(book):
        return "validation" if book in VALIDATION_BOOKS else "test" if book in TEST_BOOKS else "train"
    parts: dict[str, list] = {"train": [], "validation": [], "test": []}
    for pair in pairs:
        parts[split_of(pair[0][0])].append(pair)
    return parts


@register_embedded
class BibleEsEn(tfds.core.GeneratorBasedBuilder):
    """Spanish–English Bible verses: Reina-Valera 1909 and the World English Bible (public domain).

    Read from Debian's SWORD modules (`apt-get install sword-text-sparv sword-text-web`) with
    pysword, aligned by reference and cleaned as the module docstring says, split by book. Each
    example has `es`, `en` and its reference `ref` ("Gen 1:1").

    Example:
        >>> builder = BibleEsEn(data_dir="/tmp/tfds")
        >>> builder.download_and_prepare()
        >>> {split: info.num_examples for split, info in builder.info.splits.items()}
        {'train': 24886, 'validation': 2986, 'test': 2996}
    """

    name = "bible_es_en"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    KIND = "pairs"  # read by translation's own loader (`load_pairs`)
    DESCRIPTION = ("Spanish-English Bible verses (Reina-Valera 1909 / World English Bible, Debian SWORD modules), "
                   "split by book.")

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({"es": tfds.features.Text(), "en": tfds.features.Text(),
                                                 "ref": tfds.features.Text()}),
            supervised_keys=("es", "en"),
            homepage="https://crosswire.org/sword/",
        )

    def _split_generators(self, dl_manager):
        spanish = verse_texts(sword_bible(SPANISH))
        english = verse_texts(sword_bible(ENGLISH))
        pairs, _ = align_verses(spanish, english)
        return {split: self._generate_examples(part) for split, part in split_by_book(pairs).items()}

    def _generate_examples(self, pairs):
        for (book, chapter, verse), es, en in pairs:
            ref = f"{book} {chapter}:{verse}"
            yield ref, {"es": es, "en": en, "ref": ref}
