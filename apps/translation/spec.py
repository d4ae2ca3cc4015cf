"""What the command line knows of translation without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.translation.config import TranslationConfig
from common.spec import AppSpec, EmbeddedSet


DE_EN_SENTENCES = EmbeddedSet(
    "de_en_sentences", "pairs",
    "German-English example sentences of the trans-de-en dictionary (Debian package).")
BIBLE_ES_EN = EmbeddedSet(
    "bible_es_en", "pairs",
    "Spanish-English Bible verses (Reina-Valera 1909 / World English Bible, Debian SWORD modules), split by book.")


def add_action_arguments(name: str, parser) -> None:
    """The options of `dlsuite translation translate`."""
    parser.add_argument("sentences", nargs="*", help="sentences to translate (- reads lines from stdin)")
    parser.add_argument("--beam-size", type=int, default=1, help="beam width (default 1: greedy decoding)")
    parser.add_argument("--length-penalty", type=float, default=None,
                        help="beam search length normalisation exponent (default: the run's length_penalty)")


SPEC = AppSpec(
    name="translation",
    description=("encoder-decoder translation: Transformer or LSTM/GRU with attention, or a KerasHub Seq2SeqLM "
                 "preset (--preset); greedy and beam search, BLEU/chrF vs TF-IDF nearest-neighbour retrieval"),
    config_class=TranslationConfig,
    task="apps.translation.task:Translation",
    models=("transformer", "rnn"),
    actions=(("translate", "translate sentences with a trained run (greedy, or --beam-size N)"),),
    add_action_arguments=add_action_arguments,
    embedded_datasets=(DE_EN_SENTENCES, BIBLE_ES_EN),
)
