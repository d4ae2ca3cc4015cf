"""The keyword spotting data: the embedded `spoken_keywords` set (synthesised with eSpeak NG, a `/tiny`
config for tests; `/multi` adds flite and Festival voices, `/multi_tiny` for tests) and `tfds:speech_commands`, as `tf.data` splits plus numpy test arrays.

`spoken_keywords`: one-second clips at 16 kHz of the twenty Speech Commands keywords (yes, no, up,
down, left, right, on, off, stop, go, zero ... nine), an `_unknown_` class (fifteen other words:
bed, bird, cat, ...) and `_background_` (noise without speech); whole voices held out for
validation and test (`common.audio.datasets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from common.audio import DIGIT_WORDS, SAMPLE_RATE
from common.audio.datasets import (OTHER_VOICES, SPLITS, TINY_OTHER_VOICES, SpeechBuilder, SpeechConfig, decode_pcm,
                                   prepare_embedded, to_pcm)
from common.audio.synthesis import Synthesizers, background_noise, noisy, random_delivery, trim_silence
from common.datasets import prepare_tfds, tfds_builder, tfds_split_sizes
from common.datasets.embedded import register_embedded
from common.errors import UsageError

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go") + DIGIT_WORDS
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "backward",
                 "follow", "forward", "learn", "visual")
# More words for `_unknown_`: letter names and common short English words, none a keyword's homophone
# ("to", "for", "know", "won" and "ate" are left out).
OTHER_WORDS = ("bee", "see", "dee", "eff", "gee", "jay", "kay", "el", "em", "en", "oh", "pee", "queue", "are", "ess",
               "tee", "you", "vee", "ex", "why", "zed", "the", "and", "of", "in", "is", "it", "was", "he", "that",
               "with", "his", "be", "at", "by", "had", "not", "but", "what", "all", "we", "when", "can", "said",
               "then", "them", "so", "some", "her", "like", "him", "time", "has", "look", "more", "day", "could",
               "come", "did", "my", "first", "call", "who", "now", "find", "long", "made", "may", "part", "only",
               "little", "work", "place", "live", "me", "back", "give", "most", "very", "after", "our", "just",
               "name", "good", "man", "think", "say", "great", "where", "help", "much", "line", "old", "same",
               "tell", "boy", "show", "also", "key", "sky", "dog", "car", "gas", "hot", "jet", "pet", "saw", "sit")
UNKNOWN_PER_KEYWORD = 3  # _unknown_ clips per voice for each clip of a keyword: whole words, fragments, junctions
UNKNOWN, BACKGROUND = "_unknown_", "_background_"
KEYWORD_CLASSES = KEYWORDS + (UNKNOWN, BACKGROUND)


@register_embedded
class SpokenKeywords(SpeechBuilder):
    """Speech Commands' twenty keywords, `_unknown_` words and `_background_` noise, one second at 16 kHz,
    synthesised with eSpeak NG (config `multi`: also flite and Festival); whole voices held out for validation and test (see `common.audio.datasets`)."""

    name = "spoken_keywords"
    VERSION = tfds.core.Version("1.3.0")
    RELEASE_NOTES = {"1.0.0": "Initial release.", "1.1.0": "Four clips per training voice and class (was two).",
                     "1.2.0": "_unknown_: three times the clips, a third each whole other words (now also letter "
                              "names and short common words), word fragments and junctions of two words.",
                     "1.3.0": "Configs multi and multi_tiny: eSpeak NG plus flite and Festival voices (split by "
                              "speaker); default and tiny unchanged."}
    DESCRIPTION = "20 keywords + unknown + background, 1 s at 16 kHz, eSpeak NG voices (test voices unseen)."
    BUILDER_CONFIGS = [
        SpeechConfig(name="default", validation_voices=12, test_voices=16, per_voice=4,
                     description="76 training voices, 12 validation, 16 test; 4 clips per voice and class"),
        SpeechConfig(name="tiny", validation_voices=2, test_voices=2, train_voices=3, per_voice=1,
                     description="3/2/2 voices, 1 clip per voice and class (tests)"),
        SpeechConfig(name="multi", validation_voices=12, test_voices=16, per_voice=4, other_voices=OTHER_VOICES,
                     other_repeats=3, description="default's eSpeak NG voices plus 6 flite and Festival training "
                                                  "voices, 1 validation, 1 test (12 clips per voice and class)"),
        SpeechConfig(name="multi_tiny", validation_voices=1, test_voices=1, train_voices=1, per_voice=1,
                     other_voices=TINY_OTHER_VOICES, description="1/1/1 eSpeak NG voices plus 2/1/1 flite and "
                                                                 "Festival voices, 1 clip per voice and class (tests)"),
    ]

    TARGET = "label"

    def _features(self) -> dict:
        return {"label": tfds.features.ClassLabel(names=list(KEYWORD_CLASSES)), "word": tfds.features.Text()}

    def _generate_examples(self, synthesizer: Synthesizers, variants: list[str], seed: int):
        rng = np.random.default_rng([seed, 1])
        for variant in variants:
            for label, name in enumerate(KEYWORD_CLASSES):
                for k in range(self.clips_per_voice(variant) * (UNKNOWN_PER_KEYWORD if name == UNKNOWN else 1)):
                    clip, word, voice = self._clip(rng, synthesizer, variant, name)
                    yield f"{variant}/{name}/{k}", {"audio": to_pcm(clip), "label": label, "word": word,
                                                    "voice": voice}

    @staticmethod
    def _clip(rng, synthesizer, variant, name) -> tuple[np.ndarray, str, str]:
        if name == BACKGROUND:
            level = 10 ** rng.uniform(-3.5, -1.0)  # RMS from near-silence to loud noise
            return background_noise(rng, SAMPLE_RATE) * level, "", ""
        delivery = random_delivery(rng, variant)
        if name == UNKNOWN:
            speech, word = unknown_speech(rng, synthesizer, delivery)
        else:
            word, speech = name, trim_silence(synthesizer.say(name, **delivery))
        speech = speech[:SAMPLE_RATE]
        clip = np.zeros(SAMPLE_RATE, np.float32)
        start = int(rng.integers(0, SAMPLE_RATE - len(speech) + 1))
        clip[start: start + len(speech)] = speech
        return np.clip(noisy(rng, clip), -1.0, 1.0), word, delivery["voice"]


def unknown_speech(rng, synthesizer: Synthesizers, delivery: dict) -> tuple[np.ndarray, str]:
    """An `_unknown_` sound and what it is: a whole non-keyword (a third), a fragment of 25-50% of any
    word, keywords included, from its start or its end (a third: `listen` slides over such pieces), or
    the end of one word and the start of the next (a third: the window between two words)."""
    kind = rng.integers(3)
    words = UNKNOWN_WORDS + OTHER_WORDS
    if kind == 0:
        word = words[rng.integers(len(words))]
        return trim_silence(synthesizer.say(word, **delivery)), word
    pool = words + KEYWORDS
    first = pool[rng.integers(len(pool))]
    speech = trim_silence(synthesizer.say(first, **delivery))
    cut = int(len(speech) * rng.uniform(0.25, 0.5))
    if kind == 1:
        from_start = bool(rng.integers(2))
        return (speech[:cut], f"{first}[:{cut}]") if from_start else (speech[-cut:], f"{first}[-{cut}:]")
    second = pool[rng.integers(len(pool))]
    following = trim_silence(synthesizer.say(second, **delivery))
    cut2 = int(len(following) * rng.uniform(0.25, 0.5))
    gap = np.zeros(int(rng.integers(0, SAMPLE_RATE // 10)), np.float32)
    return np.concatenate([speech[-cut:], gap, following[:cut2]]), f"{first}[-{cut}:]+{second}[:{cut2}]"


@dataclass
class KeywordData:
    """One-second clips: unbatched `(float32 audio (16000,), label)` splits, and the class names."""

    name: str
    splits: dict[str, tf.data.Dataset]
    class_names: list[str]
    sizes: dict[str, int] = field(default_factory=dict)
    _arrays: dict = field(default_factory=dict, repr=False)

    def arrays(self, split: str, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(audio (n, 16000) float32, labels (n,)) of a split, read once (the first `limit` only if > 0)."""
        key = (split, limit)
        if key not in self._arrays:
            ds = self.splits[split].take(limit) if limit else self.splits[split]
            audio, labels = [], []
            for a, y in ds.batch(512).as_numpy_iterator():
                audio.append(a)
                labels.append(y)
            self._arrays[key] = (np.concatenate(audio) if audio else np.zeros((0, SAMPLE_RATE), np.float32),
                                 np.concatenate(labels) if labels else np.zeros(0, np.int64))
        return self._arrays[key]


def _one_second(audio):
    """int16 samples of any length -> float32 (16000,), centred and zero-padded or cut."""
    audio = tf.cast(audio, tf.float32) / 32768.0
    length = tf.shape(audio)[0]
    start = tf.maximum(0, (length - SAMPLE_RATE) // 2)
    audio = audio[start: start + SAMPLE_RATE]
    pad = SAMPLE_RATE - tf.shape(audio)[0]
    return tf.ensure_shape(tf.pad(audio, [[pad // 2, pad - pad // 2]]), (SAMPLE_RATE,))


def load_keywords(spec: str, data_dir: str = "") -> KeywordData:
    """Keyword clips from `spoken_keywords[/tiny]` or `tfds:speech_commands` (any TFDS set with an
    Audio and a ClassLabel feature at 16 kHz)."""
    if spec.startswith("tfds:"):
        name = spec[len("tfds:"):]
        builder, keys = tfds_builder(name, data_dir, audio=tfds.features.Audio, label=tfds.features.ClassLabel)
        rate = builder.info.features[keys["audio"]].sample_rate
        if rate and rate != SAMPLE_RATE:
            raise UsageError(f"TFDS dataset {name!r} is sampled at {rate} Hz; the models take {SAMPLE_RATE} Hz")
        available = set(builder.info.splits) if builder.info.splits else set()
        names = {s: s for s in SPLITS} if {"validation", "test"} <= available else \
            {"train": "train[:90%]", "validation": "train[90%:]", "test": "test" if "test" in available else "train[90%:]"}
        prepare_tfds(builder, name)
        splits = {s: builder.as_dataset(split=spec_).map(
            lambda ex: (_one_second(ex[keys["audio"]]), ex[keys["label"]]), num_parallel_calls=tf.data.AUTOTUNE)
            for s, spec_ in names.items()}
        class_names = list(builder.info.features[keys["label"]].names)
        return KeywordData(spec, splits, class_names, tfds_split_sizes(builder, names))
    if spec.partition("/")[0] != SpokenKeywords.name:
        raise UsageError(f"unknown keyword dataset {spec!r}: use spoken_keywords (embedded), spoken_keywords/tiny, "
                         "spoken_keywords/multi or tfds:speech_commands")
    builder = prepare_embedded(spec, SpokenKeywords, data_dir)
    splits = {s: builder.as_dataset(split=s).map(lambda ex: (tf.ensure_shape(decode_pcm(ex["audio"]), (SAMPLE_RATE,)),
                                                             ex["label"])) for s in SPLITS}
    return KeywordData(spec, splits, list(builder.info.features["label"].names),
                       {s: builder.info.splits[s].num_examples for s in SPLITS})
