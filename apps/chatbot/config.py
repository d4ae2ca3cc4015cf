"""Configuration of the chatbot application."""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


def parse_fallback(value: str) -> float | None:
    """The fallback setting as a threshold: None for "auto" (tuned on validation), -inf for "off", else the number.

    Example:
        >>> parse_fallback("auto"), parse_fallback("off"), parse_fallback("-1.5")
        (None, -inf, -1.5)
    """
    if value == "auto":
        return None
    if value == "off":
        return -math.inf
    try:
        threshold = float(value)
    except ValueError:
        raise UsageError(f"fallback={value!r} must be auto, off or a number (a mean token log-probability, "
                         "e.g. -2.5)") from None
    if math.isnan(threshold):
        raise UsageError("fallback=nan is not a threshold")
    return threshold


@dataclass
class ChatbotConfig(TrainConfig):
    """An encoder–decoder (translation's Transformer or GRU/LSTM with attention, or a KerasHub `Seq2SeqLM` preset)
    trained on (context, reply) pairs, with a retrieval fallback; see `dlsuite chatbot config`."""

    dataset: str = option("chatterbot_corpus", "Dialog pairs: chatterbot_corpus (the chatterbot-corpus wheel, "
                                               "offline), a TSV file of context<TAB>reply lines, or tfds:NAME with "
                                               "two text features.")
    language: str = option("english", "Language folder of chatterbot_corpus (english, german, spanish, ...).",
                           flag=True)
    epochs: int = option(12, "Maximum number of training epochs (validation loss stops improving after about 8).",
                         min=1)
    batch_size: int = option(32, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(1e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    model: str = option("rnn", "Model family (common.seq2seq.model): a Transformer encoder-decoder, or an RNN "
                               "encoder-decoder with attention (cell, bidirectional, attention).",
                        choices=("transformer", "rnn"))
    preset: str = option("", "A KerasHub Seq2SeqLM preset (BART, T5, ...) to fine-tune instead of `model`: a local "
                             "folder written by save_to_preset, or a KerasHub name (bart_base_en, t5_small_multi, ...) "
                             "/ kaggle:// / hf:// handle (needs internet). Its tokenizer replaces the word "
                             "vocabularies; max_length still leaves out longer training pairs (in words), beam_size "
                             "and fallback apply, the model-shape fields, max_tokens, min_count, label_smoothing and "
                             "length_penalty do not.", flag=True)
    max_tokens: int = option(4000, "Vocabulary size of contexts and of replies (special tokens included), from the "
                                   "training split only; rarer words become [UNK].", min=5)
    min_count: int = option(1, "Words seen fewer times in the training split become [UNK].", min=1)
    max_length: int = option(40, "Context tokens the model reads (a longer message is cut to its first max_length "
                                 "tokens, with a warning), and reply tokens it writes at most; training pairs "
                                 "longer than this are left out.", min=2)
    embed_dim: int = option(128, "Width of the word embeddings (and of the Transformer's tokens).", min=1)
    depth: int = option(2, "Transformer: encoder blocks, and decoder blocks.", min=1)
    heads: int = option(4, "Transformer: attention heads.", min=1)
    mlp_dim: int = option(256, "Transformer: hidden units of each block's GELU MLP.", min=1)
    units: int = option(256, "RNN: units of the decoder (and of each encoder direction).", min=1)
    cell: str = option("gru", "RNN: recurrent cell.", choices=("lstm", "gru"))
    bidirectional: bool = option(True, "RNN: a bidirectional encoder.")
    attention: str = option("luong", "RNN: attention score, Luong's general product or Bahdanau's additive one.",
                            choices=("luong", "bahdanau"))
    dropout: float = option(0.3, "Dropout after the embeddings, inside the Transformer blocks and before the RNN "
                                 "output projection.", min=0.0)
    label_smoothing: float = option(0.1, "Share of each reply word's probability spread over the vocabulary in "
                                         "training (the reported perplexity is from the plain cross-entropy).",
                                    min=0.0)
    beam_size: int = option(4, "Beam width of the beam-search scores and of `predict` (greedy is reported too).",
                            min=1)
    length_penalty: float = option(0.6, "Beam search: rank finished replies by log-probability / "
                                         "((5 + length) / 6) ** length_penalty (0 = by log-probability).", min=0.0)
    fallback: str = option("auto", "Retrieval fallback: where the model's confidence in its reply (mean token "
                                   "log-probability) is below a threshold, answer with the training reply of the "
                                   "most similar training context instead. auto: the threshold with the best "
                                   "validation BLEU (never or always falling back included); off; or a number.")
    eval_sentences: int = option(0, "Test pairs decoded for BLEU and chrF (0 = all).", min=0)
    examples: int = option(8, "Test contexts shown with their replies in TensorBoard (Text tab) and DIR/examples/.",
                           min=0)

    def validate(self):
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UsageError(f"label_smoothing={self.label_smoothing} must be in [0, 1)")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
        if not self.preset and self.model == "transformer" and self.embed_dim % self.heads:
            raise UsageError(f"embed_dim={self.embed_dim} must be a multiple of heads={self.heads}")
        parse_fallback(self.fallback)
