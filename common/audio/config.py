"""Config fields both speech applications share: the log-mel front end inside the model."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


@dataclass
class AudioConfig(TrainConfig):
    """Fields both speech applications share: the log-mel front end inside the model."""

    num_mel_bins: int = option(40, "Mel bands of the log-mel spectrogram (25 ms windows every 10 ms, inside the model).",
                               min=8)
    width: int = option(16, "Filters of the first convolution (doubled in later ones).", min=1)
    dropout: float = option(0.2, "Dropout before the classifier (and between recurrent layers).", min=0.0)
    augment: bool = option(True, "Training augmentation towards real recordings: a random room and microphone "
                                 "(reverberation, band-limiting, noise at 0-30 dB SNR, gain) and SpecAugment masks.")
    audio_examples: int = option(6, "Test clips written to TensorBoard's Audio tab with their predictions.", min=0)

    def validate(self):
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
