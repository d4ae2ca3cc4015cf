"""What the command line knows of chatbot without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.chatbot.config import ChatbotConfig
from common.spec import AppSpec, EmbeddedSet


CHATTERBOT_CORPUS = EmbeddedSet(
    "chatterbot_corpus", "dialog",
    "Conversations of the chatterbot-corpus package as (context, reply) pairs.")


def add_action_arguments(name: str, parser) -> None:
    """The options of `dlsuite chatbot chat`."""
    parser.add_argument("messages", nargs="*", help="messages to reply to (none: read stdin, a terminal loop on "
                                                    "a TTY, else one reply per line; 'quit' or EOF ends)")
    parser.add_argument("--beam-size", type=int, default=1, help="beam width (default 1: greedy decoding)")
    parser.add_argument("--fallback", default=None,
                        help="retrieval fallback: a confidence threshold such as -2.5, off, or auto (the "
                             "default: the threshold the run chose on validation)")


SPEC = AppSpec(
    name="chatbot",
    description=("generative dialog: Transformer or GRU/LSTM encoder-decoder with attention, or a KerasHub "
                 "Seq2SeqLM preset (--preset), on (context, reply) pairs, beam search, TF-IDF retrieval fallback; "
                 "perplexity, BLEU/chrF vs retrieval"),
    config_class=ChatbotConfig,
    task="apps.chatbot.task:Chatbot",
    models=("rnn", "transformer"),
    actions=(("chat", "talk with a trained run: a terminal loop, or one reply per stdin line / message given"),),
    add_action_arguments=add_action_arguments,
    embedded_datasets=(CHATTERBOT_CORPUS,),
)
