"""Loading the speech datasets: embedded eSpeak NG sets (`spoken_keywords`, `spoken_digits`, with a
`/tiny` config for tests) and `tfds:speech_commands`, as `tf.data` splits plus numpy test arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from common.datasets.speech import DIGIT_WORDS, SAMPLE_RATE, SpokenDigits, SpokenKeywords, decode_pcm
from common.errors import UsageError

SPLITS = ("train", "validation", "test")


def _embedded(spec: str, cls, data_dir: str):
    """The prepared builder of `name` or `name/config` (built once, then read from the cache)."""
    from common.datasets import default_data_dir

    name, _, config = spec.partition("/")
    configs = [c.name for c in cls.BUILDER_CONFIGS]
    if config and config not in configs:
        raise UsageError(f"{name} has no config {config!r} (configs: {', '.join(configs)})")
    builder = cls(data_dir=data_dir or default_data_dir(), config=config or "default")
    builder.download_and_prepare()
    return builder


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
        from common.datasets import prepare_tfds, tfds_builder, tfds_split_sizes

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
        raise UsageError(f"unknown keyword dataset {spec!r}: use spoken_keywords (embedded), spoken_keywords/tiny "
                         "or tfds:speech_commands")
    builder = _embedded(spec, SpokenKeywords, data_dir)
    splits = {s: builder.as_dataset(split=s).map(lambda ex: (tf.ensure_shape(decode_pcm(ex["audio"]), (SAMPLE_RATE,)),
                                                             ex["label"])) for s in SPLITS}
    return KeywordData(spec, splits, list(builder.info.features["label"].names),
                       {s: builder.info.splits[s].num_examples for s in SPLITS})


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
    builder = _embedded(spec, SpokenDigits, data_dir)
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
