"""Configurations of the speech applications: keyword spotting and digit-string recognition."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


@dataclass
class _AudioConfig(TrainConfig):
    """Fields both speech applications share: the log-mel front end inside the model."""

    num_mel_bins: int = option(40, "Mel bands of the log-mel spectrogram (25 ms windows every 10 ms, inside the model).",
                               min=8)
    width: int = option(16, "Filters of the first convolution (doubled in later ones).", min=1)
    dropout: float = option(0.2, "Dropout before the classifier (and between recurrent layers).", min=0.0)
    audio_examples: int = option(6, "Test clips written to TensorBoard's Audio tab with their predictions.", min=0)

    def validate(self):
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")


@dataclass
class KeywordSpottingConfig(_AudioConfig):
    """A CNN or CRNN keyword classifier on one-second clips; see `dlsuite keyword_spotting config`."""

    dataset: str = option("spoken_keywords", "One-second clips: spoken_keywords (embedded, eSpeak NG voices; "
                                             "spoken_keywords/tiny for tests) or tfds:speech_commands (internet once).")
    epochs: int = option(15, "Maximum number of training epochs.", min=1)
    batch_size: int = option(64, "Global batch size (split across replicas).", min=1)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    model: str = option("crnn", "crnn: two convolution blocks, then a bidirectional GRU over time; cnn: four "
                                "convolution blocks, flattened.", choices=("crnn", "cnn"))
    rnn_units: int = option(64, "crnn: GRU units per direction.", min=1)
    time_shift_ms: int = option(100, "Training augmentation: shift clips in time by up to this many ms.", min=0)
    threshold: float = option(0.7, "listen: the lowest keyword probability that counts as a detection.", min=0.0)
    hop_ms: int = option(250, "listen: step of the one-second window over the recording, in ms.", min=10)


@dataclass
class SpeechRecognitionConfig(_AudioConfig):
    """A CTC digit-string recogniser (convolutions + bidirectional GRU/LSTM); see `dlsuite speech_recognition config`."""

    dataset: str = option("spoken_digits", "Transcribed utterances: spoken_digits (embedded, eSpeak NG voices; "
                                           "spoken_digits/tiny for tests).")
    epochs: int = option(15, "Maximum number of training epochs.", min=1)
    batch_size: int = option(32, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(2e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    rnn: str = option("gru", "Recurrent layer type.", choices=("gru", "lstm"))
    rnn_layers: int = option(1, "Stacked bidirectional recurrent layers.", min=1)
    rnn_units: int = option(64, "Units per direction of each recurrent layer.", min=1)
    beam_width: int = option(8, "Beam width of CTC beam-search decoding (greedy decoding is also reported).", min=1)
    decoder: str = option("beam", "Decoding used by predict.", choices=("greedy", "beam"))
