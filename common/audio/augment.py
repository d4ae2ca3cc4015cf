"""Training augmentation that makes clean synthesised speech sound more like a microphone in a room:
`RoomSimulation` on the raw audio, `SpecAugment` on the log-mel spectrogram. Both are Keras layers
inside the speech models, active only in training (the identity at inference, so saved and exported
models are unchanged), written with `keras.ops`.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from common.audio import SAMPLE_RATE


def _complex_multiply(a, b):
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


@keras.saving.register_keras_serializable("dlsuite")
class RoomSimulation(layers.Layer):
    """In training, passes each clip (with probability `probability`) through a random room and
    microphone: reverberation (an impulse response of a direct path and an exponentially decaying
    noise tail, RT60 0.1-`max_rt60` s), band-limiting (a low-pass at 3-8 kHz, which is also what an
    8 kHz or 16 kHz recording resampled keeps, and a high-pass at 20-300 Hz), coloured noise (white to
    brown) at `min_snr_db`-`max_snr_db` below the speech, and a gain of -20..0 dB.

    Args:
        probability: share of the clips that are changed.
        max_rt60: the longest reverberation time, in seconds (the tail is cut at `tail_seconds`).
        min_snr_db, max_snr_db: range of the signal-to-noise ratio of the added noise.
        tail_seconds: length of the impulse response.
        seed: seed of the random rooms.

    Example:
        >>> RoomSimulation(seed=0)(numpy.zeros((2, 16000), "float32"), training=True).shape
        TensorShape([2, 16000])
    """

    def __init__(self, probability: float = 0.8, max_rt60: float = 0.8, min_snr_db: float = 0.0,
                 max_snr_db: float = 30.0, tail_seconds: float = 0.25, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.probability = float(probability)
        self.max_rt60 = float(max_rt60)
        self.min_snr_db = float(min_snr_db)
        self.max_snr_db = float(max_snr_db)
        self.tail_seconds = float(tail_seconds)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, shape, low, high):
        return keras.random.uniform(shape, low, high, seed=self.seed_generator)

    def call(self, audio, training=False):
        if not training or not self.probability:
            return audio
        batch, samples = ops.shape(audio)[0], ops.shape(audio)[1]
        tail = int(self.tail_seconds * SAMPLE_RATE)
        # pad to an even length at least samples + tail: the circular convolution is then the linear one
        extra = tail + samples % 2
        padded = ops.pad(audio, [[0, 0], [0, extra]])
        length = samples + extra
        # impulse response: 1 at t=0, then a decaying noise tail of random energy (the room's "wet" part)
        t = ops.cast(ops.arange(1, tail), "float32") / SAMPLE_RATE
        rt60 = self._uniform((batch, 1), 0.1, self.max_rt60)
        decay = keras.random.normal((batch, tail - 1), seed=self.seed_generator) * ops.exp(-6.9 * t / rt60)
        decay = decay / ops.sqrt(ops.sum(decay ** 2, axis=1, keepdims=True) + 1e-9) * self._uniform((batch, 1), 0.0, 0.7)
        response = ops.pad(ops.concatenate([ops.ones((batch, 1)), decay], axis=1), [[0, 0], [0, length - tail]])
        spectrum = _complex_multiply(ops.rfft(padded), ops.rfft(response))
        # band-limiting: soft low-pass (3-8 kHz) and high-pass (20-300 Hz) edges
        bins = length // 2 + 1
        frequency = ops.cast(ops.arange(bins), "float32") * (SAMPLE_RATE / ops.cast(length, "float32"))
        low_pass = self._uniform((batch, 1), 3000.0, 8000.0)
        high_pass = self._uniform((batch, 1), 20.0, 300.0)
        band = ops.sigmoid((low_pass - frequency) / 150.0) * ops.sigmoid((frequency - high_pass) / 20.0)
        speech = ops.irfft((spectrum[0] * band, spectrum[1] * band))[:, :samples]
        # noise with a spectral tilt from white (0) to brown (2), scaled to a random SNR
        tilt = self._uniform((batch, 1), 0.0, 2.0)
        shape = ops.power(ops.maximum(frequency, 20.0) / 1000.0, -tilt / 2)
        noise = ops.irfft((keras.random.normal((batch, bins), seed=self.seed_generator) * shape,
                           keras.random.normal((batch, bins), seed=self.seed_generator) * shape))[:, :samples]
        rms = lambda x: ops.sqrt(ops.mean(x ** 2, axis=1, keepdims=True) + 1e-12)  # noqa: E731
        snr = self._uniform((batch, 1), self.min_snr_db, self.max_snr_db)
        noisy = speech + noise / rms(noise) * rms(speech) * ops.power(10.0, -snr / 20.0)
        gain = ops.power(10.0, self._uniform((batch, 1), -20.0, 0.0) / 20.0)
        noisy = ops.clip(noisy * gain / ops.maximum(ops.max(ops.abs(noisy), axis=1, keepdims=True), 1e-3)
                         * ops.max(ops.abs(audio), axis=1, keepdims=True), -1.0, 1.0)
        changed = self._uniform((batch, 1), 0.0, 1.0) < self.probability
        return ops.where(changed, noisy, audio)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "probability": self.probability, "max_rt60": self.max_rt60,
                "min_snr_db": self.min_snr_db, "max_snr_db": self.max_snr_db, "tail_seconds": self.tail_seconds,
                "seed": self.seed}


@keras.saving.register_keras_serializable("dlsuite")
class SpecAugment(layers.Layer):
    """In training, SpecAugment's masks (Park et al., 2019) on `(batch, frames, bands, 1)` features:
    `frequency_masks` stretches of up to `max_bands` bands and `time_masks` stretches of up to
    `max_frames` frames, each at its own random place in each clip, set to 0.

    Args:
        frequency_masks, time_masks: masks per clip.
        max_bands, max_frames: the widest mask.
        seed: seed of the masks.
    """

    def __init__(self, frequency_masks: int = 2, max_bands: int = 6, time_masks: int = 2, max_frames: int = 8,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.frequency_masks, self.max_bands = int(frequency_masks), int(max_bands)
        self.time_masks, self.max_frames = int(time_masks), int(max_frames)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _masks(self, batch, size, count, widest):
        """(batch, size) 1.0 where no mask falls."""
        keep = ops.ones((batch, size))
        index = ops.cast(ops.arange(size), "float32")[None, :]
        for _ in range(count):
            width = ops.floor(keras.random.uniform((batch, 1), 0.0, widest + 1.0, seed=self.seed_generator))
            start = ops.floor(keras.random.uniform((batch, 1), 0.0, 1.0, seed=self.seed_generator)
                              * ops.maximum(ops.cast(size, "float32") - width, 1.0))
            keep = keep * ops.cast((index < start) | (index >= start + width), "float32")
        return keep

    def call(self, features, training=False):
        if not training:
            return features
        batch, frames, bands = ops.shape(features)[0], ops.shape(features)[1], ops.shape(features)[2]
        keep_bands = self._masks(batch, bands, self.frequency_masks, self.max_bands)
        keep_frames = self._masks(batch, frames, self.time_masks, self.max_frames)
        return features * keep_frames[:, :, None, None] * keep_bands[:, None, :, None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "frequency_masks": self.frequency_masks, "max_bands": self.max_bands,
                "time_masks": self.time_masks, "max_frames": self.max_frames, "seed": self.seed}

