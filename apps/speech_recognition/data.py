"""The speech recognition data: the embedded `spoken_digits` set (synthesised with eSpeak NG, a `/tiny`
config for tests) as per-split lists of audio arrays and transcripts.

`spoken_digits`: utterances of 1 to 7 random digits ("three one four"), 16 kHz, variable length;
whole voices held out for validation and test (`common.audio.datasets`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow_datasets as tfds

from common.audio import DIGIT_WORDS
from common.audio.datasets import SPLITS, SpeechBuilder, SpeechConfig, prepare_embedded, to_pcm
from common.audio.synthesis import Synthesizer, noisy, random_delivery, trim_silence
from common.datasets.embedded import register_embedded
from common.errors import UsageError


@register_embedded
class SpokenDigits(SpeechBuilder):
    """Utterances of 1 to 7 random digits ("three one four") at 16 kHz, synthesised with eSpeak NG, with
    their transcripts; whole voices held out for validation and test (see `common.audio.datasets`)."""

    name = "spoken_digits"
    DESCRIPTION = "Spoken strings of 1-7 digits with transcripts, 16 kHz, eSpeak NG voices (test voices unseen)."
    MAX_DIGITS = 7
    BUILDER_CONFIGS = [
        SpeechConfig(name="default", validation_voices=12, test_voices=16, per_voice=40,
                     description="76 training voices, 12 validation, 16 test; 40 utterances per voice"),
        SpeechConfig(name="tiny", validation_voices=2, test_voices=2, train_voices=3, per_voice=6,
                     description="3/2/2 voices, 6 utterances per voice (tests)"),
    ]

    TARGET = "text"

    def _features(self) -> dict:
        return {"text": tfds.features.Text()}

    def _generate_examples(self, synthesizer: Synthesizer, variants: list[str], seed: int):
        rng = np.random.default_rng([seed, 2])
        for variant in variants:
            for k in range(self.builder_config.per_voice):
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
        raise UsageError(f"unknown speech recognition dataset {spec!r}: use spoken_digits (embedded) or "
                         "spoken_digits/tiny")
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
