"""eSpeak NG speech synthesis to numpy, and the random deliveries and background noise of the speech
applications' synthesised clips.

There is no recorded speech among the packages this suite installs, so the offline speech sets are
built, deterministically, from the eSpeak NG formant synthesiser that the `espeakng-loader` wheel
ships (its `libespeak-ng.so` and voice data, called through ctypes): every English accent it has
(`en`, `en-us`, `en-gb-scotland`, ...) combined with its 100-odd voice variants (`+m3`, `+f2`,
`+croak`, ...), at random speeds, pitches and pitch ranges, with background noise.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from common.audio import SAMPLE_RATE
from common.errors import UsageError

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


def random_delivery(rng: np.random.Generator, variant: str) -> dict:
    """A random delivery of voice `variant`: accent, speed, pitch and pitch range (`Synthesizer.say` arguments)."""
    return {"voice": f"{ACCENTS[rng.integers(len(ACCENTS))]}+{variant}", "rate": int(rng.integers(120, 221)),
            "pitch": int(rng.integers(15, 86)), "pitch_range": int(rng.integers(20, 90))}


def noisy(rng: np.random.Generator, speech: np.ndarray) -> np.ndarray:
    """Speech at a random peak level with background noise 5-35 dB below its RMS."""
    speech = speech * (rng.uniform(0.1, 0.9) / (np.abs(speech).max() + 1e-9))
    rms = np.sqrt(np.mean(speech[np.abs(speech) > 0.01 * np.abs(speech).max()] ** 2)) if speech.any() else 0.1
    snr_db = rng.uniform(5.0, 35.0)
    return speech + background_noise(rng, len(speech)) * rms * 10 ** (-snr_db / 20)
