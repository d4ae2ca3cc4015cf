"""Speech synthesis to numpy (eSpeak NG, flite, Festival), and the random deliveries and background noise
of the speech applications' synthesised clips.

There is no recorded speech among the packages this suite installs, so the offline speech sets are
built, deterministically, from synthesisers:

* eSpeak NG (`Synthesizer`), the formant synthesiser that the `espeakng-loader` wheel ships (its
  `libespeak-ng.so` and voice data, called through ctypes): every English accent it has (`en`,
  `en-us`, `en-gb-scotland`, ...) combined with its 100-odd voice variants (`+m3`, `+f2`, `+croak`,
  ...), at random speeds, pitches and pitch ranges. Always there.
* flite (`Flite`, Debian `flite`): its built-in English voices kal (8 kHz diphones), kal16 (16 kHz
  diphones), and the statistical-parametric (clustergen) awb, rms and slt of CMU ARCTIC speakers.
* Festival (`Festival`, Debian `festival` and its voice packages): kal_diphone and ked_diphone, and
  the HTS voice cmu_us_slt_arctic_hts.

`Synthesizers.say` speaks with any of them: a voice "accent+variant" is eSpeak NG's, "flite:NAME"
flite's, "festival:NAME" Festival's. flite and Festival have a voice per speaker, so their deliveries
vary speed (duration stretch) and pitch together with the vocal tract (resampling by up to +-2.5
semitones, as a shorter or longer vocal tract); they take no pitch range or word gap. A missing
synthesiser or voice is a `UsageError` naming its package and the apt-get line.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import subprocess
import tempfile
import threading

import numpy as np

from common.audio import SAMPLE_RATE
from common.errors import UsageError

ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
INSTALL_HINT = "pip install espeakng-loader (the eSpeak NG library and voices as a wheel)"
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")  # `flite -lv` less awb_time (a voice for clock times only)
FESTIVAL_VOICES = {"kal_diphone": "festvox-kallpc16k", "ked_diphone": "festvox-kdlpc16k",
                   "cmu_us_slt_arctic_hts": "festvox-us-slt-hts"}  # voice: its Debian package
FESTIVAL_VOICE_DIRS = ("/usr/share/festival/voices", "/usr/lib/festival/voices")
APT_LINE = "apt-get install flite festival " + " ".join(FESTIVAL_VOICES.values())

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


def _missing(what: str, package: str) -> UsageError:
    return UsageError(f"{what} is missing: install Debian {package} ({APT_LINE})")


def _shift(audio: np.ndarray, semitones: float) -> np.ndarray:
    """`audio` resampled so that, played at the same rate, pitch and formants move by `semitones` (and its
    length by the inverse factor): a higher or lower voice with a shorter or longer vocal tract."""
    from scipy.signal import resample_poly

    factor = 2 ** (semitones / 12)
    if abs(factor - 1) < 1e-3:
        return audio
    return resample_poly(audio, 200, int(round(200 * factor))).astype(np.float32)


class Flite:
    """flite (Debian `flite`, its voices compiled in) through its command line, to numpy at 16 kHz.

    Example:
        >>> audio = Flite().say("yes", voice="slt", stretch=1.1)  # float32, 16 kHz
    """

    def __init__(self):
        self.binary = shutil.which("flite")
        if not self.binary:
            raise _missing("the speech synthesiser flite", "flite")

    def say(self, text: str, *, voice: str = "slt", stretch: float = 1.0) -> np.ndarray:
        """`text` spoken by flite's `voice` (one of `FLITE_VOICES`), `stretch` times its own duration."""
        from common.audio.wav import read_wav

        if voice not in FLITE_VOICES:
            raise UsageError(f"flite has no voice {voice!r} (voices: {', '.join(FLITE_VOICES)})")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "say.wav")
            subprocess.run([self.binary, "-voice", voice, "-t", text, "-o", path,
                            "--setf", f"duration_stretch={stretch:.3f}"], check=True, capture_output=True)
            return read_wav(path)[0]


class Festival:
    """The Festival synthesiser (Debian `festival` + festvox voice packages), one `festival --pipe`
    process kept running (voices load once), to numpy at 16 kHz. Shared (`Festival.get()`), calls
    serialised by a lock.

    Example:
        >>> audio = Festival.get().say("yes", voice="kal_diphone", stretch=0.9)  # float32, 16 kHz
    """

    _instance: "Festival | None" = None
    _lock = threading.Lock()

    def __init__(self):
        binary = shutil.which("festival")
        if not binary:
            raise _missing("the speech synthesiser Festival", "festival")
        self._process = subprocess.Popen([binary, "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._voice = ""
        self._tmp = tempfile.TemporaryDirectory()
        atexit.register(self.close)

    @classmethod
    def get(cls) -> "Festival":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @staticmethod
    def check_voice(voice: str) -> None:
        """A `UsageError` naming the package when Festival's `voice` is not installed."""
        if voice not in FESTIVAL_VOICES:
            raise UsageError(f"Festival voice {voice!r} is not one of {', '.join(FESTIVAL_VOICES)}")
        if not any(os.path.isdir(os.path.join(root, language, voice)) for root in FESTIVAL_VOICE_DIRS
                   if os.path.isdir(root) for language in os.listdir(root)):
            raise _missing(f"the Festival voice {voice}", FESTIVAL_VOICES[voice])

    def _run(self, command: str) -> list[str]:
        self._process.stdin.write(command + '(format t "@@done\\n")(fflush nil)\n')
        self._process.stdin.flush()
        output = []
        for line in self._process.stdout:
            if "@@done" in line:
                return output
            output.append(line.rstrip())
        raise UsageError(f"Festival stopped: {' '.join(output)[-200:]}")

    def say(self, text: str, *, voice: str = "kal_diphone", stretch: float = 1.0) -> np.ndarray:
        """`text` spoken by Festival's `voice` (one of `FESTIVAL_VOICES`), `stretch` times its own duration."""
        from common.audio.wav import read_wav

        with self._lock:
            if voice != self._voice:
                self.check_voice(voice)
                self._run(f"(voice_{voice})")
                self._voice = voice
            path = os.path.join(self._tmp.name, "say.wav")
            quoted = text.replace("\\", " ").replace('"', " ")
            errors = self._run(f"(Parameter.set 'Duration_Stretch {stretch:.3f})"
                               f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{path}" \'riff)')
            if any("ERROR" in line for line in errors):
                raise UsageError(f"Festival failed on {text!r}: {' '.join(errors)[-200:]}")
            audio = read_wav(path)[0]
            os.remove(path)
            return audio

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait(timeout=10)
        self._tmp.cleanup()


class Synthesizers:
    """eSpeak NG, flite and Festival behind one `say`: a voice "accent+variant" is eSpeak NG's (`Synthesizer`),
    "flite:NAME" flite's (`Flite`), "festival:NAME" Festival's (`Festival`); each started on first use.

    Example:
        >>> Synthesizers().say("yes", voice="flite:rms", rate=150, pitch=60)  # float32, 16 kHz
    """

    def __init__(self):
        self.espeak = Synthesizer.get()
        self._flite: Flite | None = None

    def variants(self) -> list[str]:
        """eSpeak NG's voice variants (`Synthesizer.variants`)."""
        return self.espeak.variants()

    def check(self, voices) -> None:
        """A `UsageError` naming the Debian package of the first of `voices` whose synthesiser or voice is missing."""
        for voice in voices:
            engine, _, name = voice.rpartition(":")
            if engine == "flite":
                self._flite = self._flite or Flite()
            elif engine == "festival":
                if not shutil.which("festival"):
                    raise _missing("the speech synthesiser Festival", "festival")
                Festival.check_voice(name)
            elif engine:
                raise UsageError(f"no speech synthesiser {engine!r} (voice {voice!r}): use flite: or festival:")

    def say(self, text: str, *, voice: str = "en", rate: int = 175, pitch: int = 50, pitch_range: int = 50,
            word_gap: int = 0) -> np.ndarray:
        """`text` spoken by `voice`, as float32 samples in [-1, 1] at 16 kHz; the arguments are
        `Synthesizer.say`'s. flite and Festival take `rate` as a duration stretch (175 words per minute:
        their own pace) and `pitch` (0-99, 50: the voice's own) as a shift of pitch and vocal tract of up to
        +-2.5 semitones (at 15 and 85, eSpeak NG's delivery range); they ignore `pitch_range` and `word_gap`."""
        engine, _, name = voice.rpartition(":")
        if not engine:
            return self.espeak.say(text, voice=voice, rate=rate, pitch=pitch, pitch_range=pitch_range,
                                   word_gap=word_gap)
        self.check([voice])
        stretch = 175.0 / max(rate, 1)
        if engine == "flite":
            audio = self._flite.say(text, voice=name, stretch=stretch)
        else:
            audio = Festival.get().say(text, voice=name, stretch=stretch)
        return _shift(audio, (pitch - 50) / 35 * 2.5)


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
    """A random delivery of voice `variant` (`Synthesizers.say` arguments): speed, pitch and pitch range, and
    for an eSpeak NG variant ("m3") an accent; a flite or Festival voice ("flite:rms") is its own accent."""
    accent = ACCENTS[rng.integers(len(ACCENTS))]
    voice = variant if ":" in variant else f"{accent}+{variant}"
    return {"voice": voice, "rate": int(rng.integers(120, 221)), "pitch": int(rng.integers(15, 86)),
            "pitch_range": int(rng.integers(20, 90))}


def noisy(rng: np.random.Generator, speech: np.ndarray) -> np.ndarray:
    """Speech at a random peak level with background noise 5-35 dB below its RMS."""
    speech = speech * (rng.uniform(0.1, 0.9) / (np.abs(speech).max() + 1e-9))
    rms = np.sqrt(np.mean(speech[np.abs(speech) > 0.01 * np.abs(speech).max()] ** 2)) if speech.any() else 0.1
    snr_db = rng.uniform(5.0, 35.0)
    return speech + background_noise(rng, len(speech)) * rms * 10 ** (-snr_db / 20)
