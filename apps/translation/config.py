"""Configuration of the translation application."""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


@dataclass
class TranslationConfig(TrainConfig):
    """A Transformer or RNN-with-attention encoder–decoder, or a KerasHub `Seq2SeqLM` preset fine-tuned on the pairs;
    see `dlsuite translation config`."""

    dataset: str = option("de_en_sentences", "Sentence pairs: de_en_sentences (Debian trans-de-en, offline), "
                                             "bible_es_en (Spanish-English verses of Debian's SWORD Bibles, offline), "
                                             "tfds:ted_hrlr_translate/pt_to_en, or a TSV file of source<TAB>target lines.")
    direction: str = option("", "Source-target languages, e.g. de-en or en-de for de_en_sentences, es-en or en-es for "
                                "bible_es_en, pt-en or en-pt for tfds:ted_hrlr_translate/pt_to_en; empty: the "
                                "dataset's own order (de-en, es-en; a TSV's first column into its second).", flag=True)
    epochs: int = option(6, "Maximum number of training epochs.", min=1)
    batch_size: int = option(64, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(1e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    model: str = option("transformer", "Model family: a Transformer encoder-decoder, or an RNN encoder-decoder with "
                                       "attention (cell, bidirectional, attention).", choices=("transformer", "rnn"))
    preset: str = option("", "A KerasHub Seq2SeqLM preset (BART, T5, ...) to fine-tune instead of `model`: a local "
                             "folder written by save_to_preset, or a KerasHub name (bart_base_en, t5_small_multi, ...) "
                             "/ kaggle:// / hf:// handle (needs internet). Its tokenizer replaces the word "
                             "vocabularies; max_length still leaves out longer training pairs (in words), beam_size "
                             "applies, the model-shape fields, max_tokens, min_count, label_smoothing and "
                             "length_penalty do not.", flag=True)
    max_tokens: int = option(8000, "Vocabulary size of each language (special tokens included), from the training "
                                   "split only; rarer words become [UNK].", min=5)
    min_count: int = option(2, "Words seen fewer times in the training split become [UNK].", min=1)
    max_length: int = option(32, "Source tokens the model reads (longer sentences are cut, with a warning in "
                                 "`translate`), and target tokens it predicts at most; training pairs longer than "
                                 "this are left out.", min=2)
    embed_dim: int = option(128, "Width of the word embeddings (and of the Transformer's tokens).", min=1)
    depth: int = option(2, "Transformer: encoder blocks, and decoder blocks.", min=1)
    heads: int = option(4, "Transformer: attention heads.", min=1)
    mlp_dim: int = option(256, "Transformer: hidden units of each block's GELU MLP.", min=1)
    units: int = option(256, "RNN: units of the decoder (and of each encoder direction).", min=1)
    cell: str = option("gru", "RNN: recurrent cell.", choices=("lstm", "gru"))
    bidirectional: bool = option(True, "RNN: a bidirectional encoder.")
    attention: str = option("luong", "RNN: attention score, Luong's general product or Bahdanau's additive one.",
                            choices=("luong", "bahdanau"))
    dropout: float = option(0.1, "Dropout after the embeddings, inside the Transformer blocks and before the RNN "
                                 "output projection.", min=0.0)
    label_smoothing: float = option(0.1, "Share of each target word's probability spread over the vocabulary in "
                                         "training (the reported test loss is the plain cross-entropy).", min=0.0)
    beam_size: int = option(4, "Beam width of the beam-search scores (greedy decoding is always reported too).",
                            min=1)
    length_penalty: float = option(0.6, "Beam search: rank finished hypotheses by log-probability / "
                                        "((5 + length) / 6) ** length_penalty (0 = by log-probability).", min=0.0)
    eval_sentences: int = option(500, "Test sentences decoded for BLEU and chrF (0 = all); decoding is the slow "
                                      "part of evaluation.", min=0)
    examples: int = option(8, "Sentences shown with their translations in TensorBoard (Text tab) and DIR/examples/.",
                           min=0)

    def validate(self):
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UsageError(f"label_smoothing={self.label_smoothing} must be in [0, 1)")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
        if self.direction and not re.fullmatch(r"[A-Za-z_]+-[A-Za-z_]+", self.direction):
            raise UsageError(f"unknown direction {self.direction!r}: write it as SOURCE-TARGET, e.g. de-en or en-de")
        if not self.preset and self.model == "transformer" and self.embed_dim % self.heads:
            raise UsageError(f"embed_dim={self.embed_dim} must be a multiple of heads={self.heads}")
