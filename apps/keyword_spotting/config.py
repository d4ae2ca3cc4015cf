"""Configuration of keyword spotting."""

from __future__ import annotations

from dataclasses import dataclass

from common.audio.config import AudioConfig
from common.config import option


@dataclass
class KeywordSpottingConfig(AudioConfig):
    """A CNN or CRNN keyword classifier on one-second clips; see `dlsuite keyword_spotting config`."""

    dataset: str = option("spoken_keywords", "One-second clips: spoken_keywords (embedded, eSpeak NG voices; "
                                             "spoken_keywords/multi adds flite and Festival voices; "
                                             "spoken_keywords/tiny for tests) or tfds:speech_commands (internet once).")
    epochs: int = option(25, "Maximum number of training epochs.", min=1)
    batch_size: int = option(64, "Global batch size (split across replicas).", min=1)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    model: str = option("crnn", "crnn: two convolution blocks, then a bidirectional GRU over time; cnn: four "
                                "convolution blocks, flattened.", choices=("crnn", "cnn"))
    rnn_units: int = option(64, "crnn: GRU units per direction.", min=1)
    time_shift_ms: int = option(100, "Training augmentation: shift clips in time by up to this many ms.", min=0)
    threshold: float = option(0.7, "listen: the lowest keyword probability that counts as a detection.", min=0.0)
    real_world: bool = option(True, "After training, score the model and PocketSphinx keyword search on real human "
                                    "recordings (Debian pocketsphinx-testdata, klettres-data); not for /tiny sets.")
    hop_ms: int = option(250, "listen: step of the one-second window over the recording, in ms.", min=10)
