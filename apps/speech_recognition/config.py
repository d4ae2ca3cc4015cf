"""Configuration of spoken digit-string recognition."""

from __future__ import annotations

from dataclasses import dataclass

from common.audio.config import AudioConfig
from common.config import option


@dataclass
class SpeechRecognitionConfig(AudioConfig):
    """A CTC digit-string recogniser (convolutions + bidirectional GRU/LSTM); see `dlsuite speech_recognition config`."""

    dataset: str = option("spoken_digits", "Transcribed utterances: spoken_digits (embedded, eSpeak NG voices; "
                                           "spoken_digits/multi adds flite and Festival voices; "
                                           "spoken_digits/tiny for tests).")
    epochs: int = option(15, "Maximum number of training epochs.", min=1)
    batch_size: int = option(32, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(2e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    rnn: str = option("gru", "Recurrent layer type.", choices=("gru", "lstm"))
    rnn_layers: int = option(1, "Stacked bidirectional recurrent layers.", min=1)
    rnn_units: int = option(64, "Units per direction of each recurrent layer.", min=1)
    beam_width: int = option(8, "Beam width of CTC beam-search decoding (greedy decoding is also reported).", min=1)
    augment: bool = option(False, "Training augmentation towards real recordings: a random room and microphone "
                                  "(reverberation, band-limiting, noise at 0-30 dB SNR, gain) and SpecAugment masks. "
                                  "Off by default: it did worse on the real digit clips (README).")
    real_world: bool = option(True, "After training, score the model and PocketSphinx on the real digit recordings of "
                                    "Debian pocketsphinx-testdata; not for /tiny sets.")
    decoder: str = option("beam", "Decoding used by predict.", choices=("greedy", "beam"))
