"""WAV files in and out: mono 16 kHz float samples, with one clear error for each kind of bad file.

Another sample rate is resampled to 16 kHz (polyphase filter, `scipy.signal.resample_poly`); stereo,
empty and corrupt files are refused with a `UsageError` (one line, exit code 2 from the CLI).
"""

from __future__ import annotations

import os

import numpy as np

from common.audio import SAMPLE_RATE
from common.errors import UsageError

MIN_SAMPLE_RATE = 8000  # below this a file cannot hold the speech band the models were trained on


def read_wav(path: str, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """The samples of a mono WAV file as float32 in [-1, 1] at `sample_rate`, and the file's own rate.

    Raises:
        UsageError: missing, empty or corrupt file, more than one channel, or a rate below 8 kHz.
    """
    import scipy.io.wavfile
    from scipy.signal import resample_poly

    if not os.path.isfile(path):
        raise UsageError(f"no such WAV file: {path}")
    if os.path.getsize(path) == 0:
        raise UsageError(f"{path} is empty (0 bytes), not a WAV file")
    try:
        rate, data = scipy.io.wavfile.read(path)
    except Exception as exc:  # ValueError for a bad header, EOFError/struct errors for truncated files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path} is not a readable WAV file ({reason})") from None
    if data.ndim == 2 and data.shape[1] > 1:
        raise UsageError(f"{path} has {data.shape[1]} channels; the models take mono audio: mix it down first "
                         f"(e.g. sox {path} -c 1 mono.wav)")
    data = data.reshape(-1)
    if data.size == 0:
        raise UsageError(f"{path} holds no samples")
    if rate < MIN_SAMPLE_RATE:
        raise UsageError(f"{path} is sampled at {rate} Hz; at least {MIN_SAMPLE_RATE} Hz is needed "
                         f"(the models work at {sample_rate} Hz)")
    if data.dtype == np.uint8:
        audio = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        audio = data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    else:
        audio = np.clip(np.nan_to_num(data.astype(np.float32)), -1.0, 1.0)
    if rate != sample_rate:
        gcd = np.gcd(rate, sample_rate)
        audio = resample_poly(audio, sample_rate // gcd, rate // gcd).astype(np.float32)
    return audio, int(rate)


MIN_SECONDS = 0.1  # shorter than any spoken word
SILENCE = 10 ** (-60 / 20)  # a peak below -60 dB of full scale holds no speech the models can hear


def check_speech(audio: np.ndarray, path: str, min_seconds: float = MIN_SECONDS, sample_rate: int = SAMPLE_RATE) -> None:
    """Refuses (`UsageError`) a recording too short to hold a word or silent (peak below -60 dBFS)."""
    seconds = len(audio) / sample_rate
    if seconds < min_seconds:
        raise UsageError(f"{path} lasts {seconds * 1000:.0f} ms; a spoken word needs at least {min_seconds * 1000:.0f} ms")
    peak = float(np.abs(audio).max())
    if peak < SILENCE:
        raise UsageError(f"{path} is silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dB of full scale, below -60 dB): "
                         "no speech to recognise")


def write_wav(path: str, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    """Writes float samples in [-1, 1] as a 16-bit mono (or `(n, channels)`) WAV file."""
    import scipy.io.wavfile

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pcm = np.clip(np.round(np.asarray(audio, np.float32) * 32767.0), -32768, 32767).astype(np.int16)
    scipy.io.wavfile.write(path, sample_rate, pcm)
    return path


def fit_length(audio: np.ndarray, length: int = SAMPLE_RATE) -> np.ndarray:
    """`audio` cut or zero-padded (centred) to exactly `length` samples."""
    if len(audio) >= length:
        start = (len(audio) - length) // 2
        return audio[start: start + length]
    pad = length - len(audio)
    return np.pad(audio, (pad // 2, pad - pad // 2))
