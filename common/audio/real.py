"""Real human recordings from Debian packages, as evaluation-only embedded TFDS sets (one `test` split).

Both speech applications train on synthesised voices; these sets say how their models do on people.
They are never used for training or model selection (`Task.real_world`).

* `pocketsphinx_utterances` (Debian `pocketsphinx-testdata`, `/usr/share/pocketsphinx/test/data`): the
  12 recordings with transcripts: five "cards" utterances ("eight of spades four of clubs seven of
  hearts"), `goforward.raw` ("go forward ten meters"), the TIDIGITS string `tidigits/dhd.2934z.raw`
  ("two nine three four zero") and five LibriVox sentences of *Sense and Sensibility*. The package's
  other TIDIGITS utterances are MFCC features only, and `numbers.raw` and `something.raw` come
  without transcripts: they are left out.
* `klettres_words` (Debian `klettres-data`, `/usr/share/klettres/{en,en_GB}`): 94 OGG recordings
  of two real voices (US and British English) saying the letters A-Z and short words and
  syllables ("dog", "key", "no", "th"). All but "no" are non-keywords for keyword spotting.

Every clip is stored as 16 kHz mono int16 PCM (`common.audio.datasets.to_pcm`): stereo is mixed
down, 44.1 kHz OGG resampled (polyphase filter). The OGG files are decoded with `soundfile`
(its wheel ships libsndfile with Vorbis).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import tensorflow_datasets as tfds

from common.audio import SAMPLE_RATE
from common.audio.datasets import to_pcm
from common.datasets import default_data_dir
from common.datasets.embedded import register_embedded
from common.errors import UsageError

POCKETSPHINX_DATA = "/usr/share/pocketsphinx/test/data"
KLETTRES_DATA = "/usr/share/klettres"
# Transcripts the package holds only in other forms: goforward's is the sentence of its goforward.gram
# (and pocketsphinx's own test expectation), the TIDIGITS file names spell their digits (z = zero).
FIXED_TRANSCRIPTS = {"goforward.raw": "go forward ten meters", "tidigits/dhd.2934z.raw": "two nine three four zero"}
KLETTRES_VOICES = ("en", "en_GB")


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """float32 `audio` at `rate` Hz resampled to `target` Hz (polyphase filter)."""
    if rate == target:
        return audio.astype(np.float32)
    from scipy.signal import resample_poly

    gcd = np.gcd(rate, target)
    return resample_poly(audio, target // gcd, rate // gcd).astype(np.float32)


def read_audio_file(path: str) -> np.ndarray:
    """A WAV, OGG or headerless 16 kHz int16 `.raw` file as float32 mono samples at 16 kHz."""
    if path.endswith(".raw"):
        return np.fromfile(path, "<i2").astype(np.float32) / 32768.0
    try:
        import soundfile
    except ImportError:
        raise UsageError("reading OGG/WAV recordings needs soundfile: pip install soundfile") from None
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate)


def _transcripts(path: str) -> dict[str, str]:
    """`<s> ten of clubs </s> (001)` lines -> {"001": "ten of clubs"}."""
    found = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            text, _, key = line.strip().rpartition("(")
            words = [w for w in text.split() if w not in ("<s>", "</s>")]
            if words:
                found[key.rstrip(")").strip()] = " ".join(words)
    return found


def pocketsphinx_files(root: str = POCKETSPHINX_DATA) -> list[tuple[str, str]]:
    """(file relative to `root`, transcript) of the package's recordings that come with transcripts."""
    files = [(f"cards/{key}.wav", text) for key, text in _transcripts(os.path.join(root, "cards", "cards.transcription")).items()]
    files += list(FIXED_TRANSCRIPTS.items())
    files += [(f"librivox/{key}.wav", text)
              for key, text in _transcripts(os.path.join(root, "librivox", "transcription")).items()]
    return files


def klettres_files(root: str = KLETTRES_DATA) -> list[tuple[str, str]]:
    """(file relative to `root`, what it says, lower case) of the English recordings."""
    files = []
    for voice in KLETTRES_VOICES:
        for folder in ("alpha", "syllab"):
            directory = os.path.join(root, voice, folder)
            files += [(f"{voice}/{folder}/{name}", name[: -len(".ogg")].lower())
                      for name in sorted(os.listdir(directory)) if name.endswith(".ogg")]
    return files


class RealSpeechBuilder(tfds.core.GeneratorBasedBuilder):
    """Recordings of an installed Debian package with what they say: int16 PCM "audio" bytes at 16 kHz,
    "text" and the source "file"; one `test` split, for evaluation only."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    KIND = "audio"
    DESCRIPTION = ""
    ROOT = ""
    PACKAGE = ""  # the Debian package that installs ROOT

    @classmethod
    def files(cls) -> list[tuple[str, str]]:
        """(file relative to ROOT, transcript)."""
        raise NotImplementedError

    @classmethod
    def check_installed(cls) -> None:
        if not os.path.isdir(cls.ROOT):
            raise UsageError(f"{cls.name} needs the Debian package {cls.PACKAGE} ({cls.ROOT} is missing): "
                             f"apt-get install {cls.PACKAGE}")

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self, description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({"audio": tfds.features.Tensor(shape=(), dtype=np.object_),
                                                 "text": tfds.features.Text(), "file": tfds.features.Text()}),
            supervised_keys=("audio", "text"))

    def _split_generators(self, dl_manager):
        self.check_installed()
        return {"test": self._generate_examples()}

    def _generate_examples(self):
        for name, text in self.files():
            audio = read_audio_file(os.path.join(self.ROOT, name))
            yield name, {"audio": to_pcm(np.clip(audio, -1.0, 1.0)), "text": text, "file": name}


@register_embedded
class PocketsphinxUtterances(RealSpeechBuilder):
    """The 12 transcribed human recordings of Debian's pocketsphinx-testdata (cards, goforward, a TIDIGITS
    digit string, LibriVox sentences), 16 kHz; evaluation only."""

    name = "pocketsphinx_utterances"
    DESCRIPTION = "12 real recordings with transcripts (Debian pocketsphinx-testdata), 16 kHz, evaluation only."
    ROOT = POCKETSPHINX_DATA
    PACKAGE = "pocketsphinx-testdata"

    @classmethod
    def files(cls):
        return pocketsphinx_files(cls.ROOT)


@register_embedded
class KlettresWords(RealSpeechBuilder):
    """94 English recordings of Debian's klettres-data (two real voices: letters A-Z, short words and
    syllables), resampled to 16 kHz; evaluation only."""

    name = "klettres_words"
    DESCRIPTION = "94 real English letters and short words (Debian klettres-data), 16 kHz, evaluation only."
    ROOT = KLETTRES_DATA
    PACKAGE = "klettres-data"

    @classmethod
    def files(cls):
        return klettres_files(cls.ROOT)


REAL_SETS = {cls.name: cls for cls in (PocketsphinxUtterances, KlettresWords)}


@dataclass
class RealClips:
    """The recordings of a real set: float32 16 kHz audio, what each says, its file, and the source."""

    name: str
    source: str
    audio: list[np.ndarray]
    texts: list[str]
    files: list[str]

    @property
    def minutes(self) -> float:
        return sum(len(a) for a in self.audio) / SAMPLE_RATE / 60.0


def load_real_clips(name: str, data_dir: str = "") -> RealClips:
    """The clips of real set `name` (prepared into the data dir once)."""
    if name not in REAL_SETS:
        raise UsageError(f"unknown real recording set {name!r} (sets: {', '.join(REAL_SETS)})")
    cls = REAL_SETS[name]
    cls.check_installed()
    builder = cls(data_dir=data_dir or default_data_dir())
    builder.download_and_prepare()
    rows = sorted(tfds.as_numpy(builder.as_dataset(split="test")), key=lambda r: r["file"])
    return RealClips(name, f"{cls.PACKAGE}: {cls.ROOT}",
                     [np.frombuffer(r["audio"], "<i2").astype(np.float32) / 32768.0 for r in rows],
                     [r["text"].decode() for r in rows], [r["file"].decode() for r in rows])
