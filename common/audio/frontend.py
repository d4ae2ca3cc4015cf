"""The log-mel front end of the speech models, computed inside them so that saved `.keras` files and
exported SavedModels take the same raw 16 kHz audio as `predict`."""

from __future__ import annotations

from keras import layers

from common.audio import SAMPLE_RATE

WINDOW, HOP, FFT = 400, 160, 512  # 25 ms windows every 10 ms at 16 kHz


def num_frames(samples: int) -> int:
    """Spectrogram frames of `samples` audio samples (the layer centres its windows)."""
    return 1 + samples // HOP


def log_mel(audio, num_mel_bins: int = 40):
    """(batch, samples) audio in [-1, 1] -> (batch, frames, num_mel_bins, 1) normalised log-mel energies.

    `top_db` is set out of reach: Keras clips to the maximum of the whole *batch*, which would make a
    clip's features depend on its batch; `min_power` sets a fixed -60 dB floor instead.
    """
    x = layers.MelSpectrogram(fft_length=FFT, sequence_stride=HOP, sequence_length=WINDOW, sampling_rate=SAMPLE_RATE,
                              num_mel_bins=num_mel_bins, min_freq=20.0, max_freq=SAMPLE_RATE / 2, power_to_db=True,
                              top_db=1000.0, min_power=1e-6, name="log_mel")(audio)
    x = layers.Permute((2, 1), name="time_major")(x)  # (batch, mels, frames) -> (batch, frames, mels)
    # A fixed map of the -60..+40 dB range to about -2.5..2.5: batch-norm statistics would need many
    # steps to learn the -20 dB offset, and per-clip normalisation would amplify the noise of quiet clips.
    x = layers.Rescaling(1 / 20, offset=0.5, name="db_scale")(x)
    return layers.Reshape((-1, num_mel_bins, 1), name="as_image")(x)
