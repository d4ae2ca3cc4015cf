"""What the command line knows of keyword_spotting without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.keyword_spotting.config import KeywordSpottingConfig
from common.spec import KLETTRES_WORDS, POCKETSPHINX_UTTERANCES, AppSpec, EmbeddedSet


SPOKEN_KEYWORDS = EmbeddedSet(
    "spoken_keywords", "audio",
    "20 keywords + unknown + background, 1 s at 16 kHz, eSpeak NG voices (test voices unseen).")


def add_action_arguments(name: str, parser) -> None:
    """The options of `dlsuite keyword_spotting listen`."""
    parser.add_argument("wav", help="a (long) mono WAV recording")
    parser.add_argument("--threshold", type=float, help="lowest keyword probability that counts (default: config)")
    parser.add_argument("--hop-ms", type=int, help="window step in ms (default: config, 250)")


SPEC = AppSpec(
    name="keyword_spotting",
    description=("keyword spotting on raw 16 kHz audio (log-mel inside the model): CRNN or CNN, vs RBF SVC on "
                 "pooled log-mel features; listen slides over long recordings"),
    config_class=KeywordSpottingConfig,
    task="apps.keyword_spotting.task:KeywordSpotting",
    models=("crnn", "cnn"),
    actions=(("listen", "slide a one-second window over a long WAV file and print the keywords heard, with times"),),
    add_action_arguments=add_action_arguments,
    embedded_datasets=(SPOKEN_KEYWORDS, POCKETSPHINX_UTTERANCES, KLETTRES_WORDS),
)
