"""The speech recognition data: the embedded `spoken_digits` set (synthesised with eSpeak NG, a `/tiny`
config for tests; `/multi` adds flite and Festival voices, `/multi_tiny` for tests) as per-split lists of audio arrays and transcripts.

`spoken_digits`: utterances of 1 to 7 random digits ("three one four"), 16 kHz, variable length;
whole voices held out for validation and test (`common.audio.datasets`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow_datasets as tfds

from common.audio import DIGIT_WORDS
from common.audio.datasets import (OTHER_VOICES, SPLITS, TINY_OTHER_VOICES, SpeechBuilder, SpeechConfig,
                                   prepare_embedded, to_pcm)
from common.audio.synthesis import Synthesizers, noisy, random_delivery, trim_silence
from common.datasets.embedded import register_embedded
from common.errors import UsageError


@register_embedded
class SpokenDigits(SpeechBuilder):
    """Utterances of 1 to 7 random digits ("three one four") at 16 kHz, synthesised with eSpeak NG (config
    `multi`: also flite and Festival), with their transcripts; whole voices held out for validation and test (see `common.audio.datasets`)."""

    name = "spoken_digits"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Initial release.",
                     "1.1.0": "Configs multi and multi_tiny: eSpeak NG plus flite and Festival voices (split by "
                              "speaker); default and tiny unchanged."}
    DESCRIPTION = "Spoken strings of 1-7 digits with transcripts, 16 kHz, eSpeak NG voices (test voices unseen)."
    MAX_DIGITS = 7
    BUILDER_CONFIGS = [
        SpeechConfig(name="default", validation_voices=12, test_voices=16, per_voice=40,
                     description="76 training voices, 12 validation, 16 test; 40 utterances per voice"),
        SpeechConfig(name="tiny", validation_voices=2, test_voices=2, train_voices=3, per_voice=6,
                     description="3/2/2 voices, 6 utterances per voice (tests)"),
        SpeechConfig(name="multi", validation_voices=12, test_voices=16, per_voice=40, other_voices=OTHER_VOICES,
                     other_repeats=4, description="default's eSpeak NG voices plus 6 flite and Festival training "
                                                  "voices, 1 validation, 1 test (160 utterances each)"),
        SpeechConfig(name="multi_tiny", validation_voices=1, test_voices=1, train_voices=1, per_voice=3,
                     other_voices=TINY_OTHER_VOICES, description="1/1/1 eSpeak NG voices plus 2/1/1 flite and "
                                                                 "Festival voices, 3 utterances per voice (tests)"),
    ]

    TARGET = "text"

    def _features(self) -> dict:
        return {"text": tfds.features.Text()}

    def _generate_examples(self, synthesizer: Synthesizers, variants: list[str], seed: int):
        rng = np.random.default_rng([seed, 2])
        for variant in variants:
            for k in range(self.clips_per_voice(variant)):
                digits = rng.integers(0, 10, size=rng.integers(1, self.MAX_DIGITS + 1))
                text = " ".join(DIGIT_WORDS[d] for d in digits)
                delivery = random_delivery(rng, variant)
                speech = trim_silence(synthesizer.say(text, word_gap=int(rng.integers(0, 8)), **delivery))
                pad = rng.integers(800, 4000, size=2)  # 50-250 ms of lead-in and tail
                audio = np.concatenate([np.zeros(pad[0], np.float32), speech, np.zeros(pad[1], np.float32)])
                yield f"{variant}/{k}", {"audio": to_pcm(np.clip(noisy(rng, audio), -1.0, 1.0)), "text": text,
                                         "voice": delivery["voice"]}


def text_to_labels(text: str) -> list[int]:
    """'three one four' -> [4, 2, 5]: digit word ids from 1 (0 is the CTC blank)."""
    try:
        return [DIGIT_WORDS.index(word) + 1 for word in text.split()]
    except ValueError:
        raise UsageError(f"transcript {text!r} has a word that is not a digit word ({', '.join(DIGIT_WORDS)})") from None


def labels_to_text(labels: list[int]) -> str:
    return " ".join(DIGIT_WORDS[i - 1] for i in labels if 1 <= i <= len(DIGIT_WORDS))


@dataclass
class UtteranceData:
    """Transcribed utterances: per split, a list of float32 audio arrays and their transcripts."""

    name: str
    audio: dict[str, list[np.ndarray]]
    texts: dict[str, list[str]]
    vocabulary: tuple[str, ...] = DIGIT_WORDS

    @property
    def sizes(self) -> dict[str, int]:
        return {s: len(t) for s, t in self.texts.items()}


def load_utterances(spec: str, data_dir: str = "") -> UtteranceData:
    """Digit-string utterances from `spoken_digits[/tiny]`; audio kept as int16 until batched."""
    if spec.partition("/")[0] != SpokenDigits.name:
        raise UsageError(f"unknown speech recognition dataset {spec!r}: use spoken_digits (embedded), "
                         "spoken_digits/tiny or spoken_digits/multi")
    builder = prepare_embedded(spec, SpokenDigits, data_dir)
    audio, texts = {}, {}
    for split in SPLITS:
        rows = list(tfds.as_numpy(builder.as_dataset(split=split)))
        audio[split] = [np.frombuffer(r["audio"], "<i2") for r in rows]
        texts[split] = [r["text"].decode() for r in rows]
    return UtteranceData(spec, audio, texts)


def pad_batch(clips: list[np.ndarray]) -> np.ndarray:
    """float32 (n, longest) from int16 or float clips, zero-padded at the end."""
    out = np.zeros((len(clips), max(len(c) for c in clips)), np.float32)
    for i, clip in enumerate(clips):
        out[i, : len(clip)] = clip / 32768.0 if clip.dtype == np.int16 else clip
    return out
