"""What the command line knows of speech_recognition without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.speech_recognition.config import SpeechRecognitionConfig
from common.spec import POCKETSPHINX_UTTERANCES, AppSpec, EmbeddedSet


SPOKEN_DIGITS = EmbeddedSet(
    "spoken_digits", "audio",
    "Spoken strings of 1-7 digits with transcripts, 16 kHz, eSpeak NG voices (test voices unseen).")


SPEC = AppSpec(
    name="speech_recognition",
    description=("CTC recogniser of spoken digit strings on raw 16 kHz audio: convolutions + bidirectional "
                 "GRU/LSTM, greedy and beam-search decoding, WER with jiwer"),
    config_class=SpeechRecognitionConfig,
    task="apps.speech_recognition.task:SpeechRecognition",
    models=("gru", "lstm"),
    embedded_datasets=(SPOKEN_DIGITS, POCKETSPHINX_UTTERANCES),
)
