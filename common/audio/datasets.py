"""The shared parts of the speech applications' embedded TFDS builders, synthesised with eSpeak NG (and,
in their `multi` configs, flite and Festival too).

A *voice* is a voice variant of eSpeak NG (`common.audio.synthesis`): the voices are split once
(seed 0) into train, validation and test, so the test split holds only voices never heard in
training. The `multi` configs add the flite and Festival voices, split by speaker (`OTHER_VOICES`:
a speaker that two synthesisers have, kal or slt, stays in one split), each voice heard
`other_repeats` times as often as an eSpeak NG variant (there are 8 of them against 104 variants). Every random choice (words, voices, speeds, noise) is seeded; eSpeak NG itself varies its
output by a few samples from call to call, so a rebuild gives the same set up to those sample-level
differences. Every builder has a `tiny` config (a few voices) for tests.

The builders themselves live in their applications: `spoken_keywords` in
`apps.keyword_spotting.data`, `spoken_digits` in `apps.speech_recognition.data`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from common.audio.synthesis import Synthesizers
from common.datasets import default_data_dir
from common.errors import UsageError

SPLITS = ("train", "validation", "test")
# The flite and Festival voices (`common.audio.synthesis`) per split, by speaker: kal (flite's 8 and 16 kHz
# diphones, Festival's diphones) and slt (flite's clustergen, Festival's HTS) train with awb; ked validates;
# rms (flite's clustergen, a US male) is the unseen test speaker.
OTHER_VOICES = {"train": ("flite:kal", "flite:kal16", "flite:awb", "flite:slt", "festival:kal_diphone",
                          "festival:cmu_us_slt_arctic_hts"),
                "validation": ("festival:ked_diphone",), "test": ("flite:rms",)}
TINY_OTHER_VOICES = {"train": ("flite:kal16", "festival:kal_diphone"), "validation": ("festival:ked_diphone",),
                     "test": ("flite:rms",)}


def split_voices(variants: list[str], n_validation: int, n_test: int, n_train: int = 0) -> dict[str, list[str]]:
    """Whole voice variants per split, drawn once with seed 0 (`n_train=0`: all the others)."""
    order = np.random.default_rng(0).permutation(len(variants))
    test = [variants[i] for i in order[:n_test]]
    validation = [variants[i] for i in order[n_test: n_test + n_validation]]
    rest = [variants[i] for i in order[n_test + n_validation:]]
    return {"train": sorted(rest[: n_train or None]), "validation": sorted(validation), "test": sorted(test)}


def to_pcm(audio: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 16-bit PCM bytes (a quarter of TFDS' int64 lists)."""
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2").tobytes()


def decode_pcm(pcm):
    """The float32 samples in [-1, 1) of PCM bytes stored by these builders (a TF op, for `tf.data`)."""
    return tf.cast(tf.io.decode_raw(pcm, tf.int16, little_endian=True), tf.float32) / 32768.0


class SpeechConfig(tfds.core.BuilderConfig):
    """A config of a `SpeechBuilder`: eSpeak NG voices per split (`train_voices=0`: all the others), clips per
    voice, and the flite and Festival voices per split (`other_voices`, e.g. `OTHER_VOICES`), each with
    `other_repeats` times `per_voice` clips."""

    def __init__(self, *, validation_voices: int, test_voices: int, train_voices: int = 0, per_voice: int = 2,
                 other_voices: dict | None = None, other_repeats: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.validation_voices = validation_voices
        self.test_voices = test_voices
        self.train_voices = train_voices
        self.per_voice = per_voice
        self.other_voices = other_voices or {}
        self.other_repeats = other_repeats


class SpeechBuilder(tfds.core.GeneratorBasedBuilder):
    """A synthesised speech set: int16 PCM "audio" bytes, the "voice" that said it, and the subclass's
    `_features()`; its `_generate_examples(synthesizer, variants, seed)` yields one split's clips,
    `clips_per_voice(variant)` of them per voice (`synthesizer` is a `Synthesizers`)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    KIND = "audio"
    DESCRIPTION = ""
    TARGET = ""  # the feature `supervised_keys` pairs with the audio

    def _features(self) -> dict:
        """The features besides "audio" and "voice"."""
        raise NotImplementedError

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "audio": tfds.features.Tensor(shape=(), dtype=np.object_),  # int16 PCM bytes: see decode_pcm
                "voice": tfds.features.Text(),
                **self._features(),
            }),
            supervised_keys=("audio", self.TARGET),
        )

    def clips_per_voice(self, variant: str) -> int:
        """`per_voice` for an eSpeak NG variant, `other_repeats` times that for a flite or Festival voice."""
        cfg = self.builder_config
        return cfg.per_voice * (cfg.other_repeats if ":" in variant else 1)

    def _split_generators(self, dl_manager):
        synthesizer = Synthesizers()
        cfg = self.builder_config
        voices = split_voices(synthesizer.variants(), cfg.validation_voices, cfg.test_voices, cfg.train_voices)
        for split, others in cfg.other_voices.items():
            synthesizer.check(others)  # a missing flite, Festival or voice fails here, before any clip
            voices[split] = voices[split] + list(others)
        return {name: self._generate_examples(synthesizer, split_voices_, seed)
                for seed, (name, split_voices_) in enumerate(voices.items())}


def prepare_embedded(spec: str, cls, data_dir: str):
    """The prepared builder of `name` or `name/config` (built once, then read from the cache)."""
    name, _, config = spec.partition("/")
    configs = [c.name for c in cls.BUILDER_CONFIGS]
    if config and config not in configs:
        raise UsageError(f"{name} has no config {config!r} (configs: {', '.join(configs)})")
    builder = cls(data_dir=data_dir or default_data_dir(), config=config or "default")
    builder.download_and_prepare()
    return builder
