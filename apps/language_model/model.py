"""The masked language model: a small KerasHub `BertBackbone` under a `BertMaskedLM` head, with a WordPiece
vocabulary learned from the training texts (`keras_hub.tokenizers.compute_word_piece_vocabulary`).

The task carries its `BertMaskedLMPreprocessor` (tokenizer, packer, `MaskedLMMaskGenerator`), so
`save_to_preset` writes a folder any KerasHub user loads with `keras_hub.models.MaskedLM.from_preset`,
or, with a new head, `keras_hub.models.TextClassifier.from_preset(DIR, num_classes=N)`.
"""

from __future__ import annotations

import collections
import math
import re

import numpy as np

# BERT's special tokens, first in the vocabulary ([PAD] is id 0, as KerasHub's BERT presets have it).
RESERVED_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]")
_WORDS = re.compile(r"\w+|[^\w\s]")  # words and single punctuation marks, as BERT's tokenizer splits them


def word_counts(texts: list[str]) -> collections.Counter:
    """How often each lower-cased word and punctuation mark occurs in `texts` (BERT's basic split)."""
    counts: collections.Counter = collections.Counter()
    for text in texts:
        counts.update(_WORDS.findall(text.lower()))
    return counts


def learn_vocabulary(texts: list[str], vocabulary_size: int, *, max_words: int = 15000) -> list[str]:
    """A lower-cased WordPiece vocabulary of at most `vocabulary_size` tokens from `texts` (KerasHub's
    `compute_word_piece_vocabulary`; the BERT special tokens first).

    The learner's time grows with the distinct words it reads, and it keeps only tokens seen 10 times or
    more; so it reads the `max_words` most frequent words of all `texts`, each repeated in proportion to
    its count, the least frequent of them 10 times (rarer words still tokenize, into pieces).

    Example:
        >>> learn_vocabulary(["the cat sat", "the dog sat"], 30)[:6]
        ['[PAD]', '[CLS]', '[SEP]', '[UNK]', '[MASK]', 'a']
    """
    import keras_hub
    import tensorflow as tf

    common = word_counts(texts).most_common(max_words)
    scale = 10.0 / common[-1][1]
    words = [word for word, count in common for _ in range(math.ceil(count * scale))]
    data = tf.data.Dataset.from_tensor_slices(tf.constant(words)).batch(10000)  # already split into words
    return [str(token) for token in keras_hub.tokenizers.compute_word_piece_vocabulary(
        data, vocabulary_size, lowercase=True, split=False, reserved_tokens=list(RESERVED_TOKENS))]


def pack_texts(texts: list[str], words: int) -> list[str]:
    """Consecutive texts joined into sequences of about `words` words (a text longer than that stays whole, to
    be cut by the packer); `words=0` keeps every text on its own.

    Short texts (a gloss, a verse) would leave most of each sequence as padding; packed, every step
    trains on as many real tokens as the sequence holds.

    Example:
        >>> pack_texts(["a b", "c d", "e f g h"], 4)
        ['a b c d', 'e f g h']
    """
    if not words:
        return list(texts)
    packed, current, count = [], [], 0
    for text in texts:
        n = len(text.split())
        if current and count + n > words:
            packed.append(" ".join(current))
            current, count = [], 0
        current.append(text)
        count += n
    if current:
        packed.append(" ".join(current))
    return packed


def mask_selection_length(sequence_length: int, mask_rate: float) -> int:
    """Masked positions a sequence has room for: the expected number and a quarter more."""
    return max(1, math.ceil(sequence_length * mask_rate * 1.25))


def build_preprocessor(tokenizer, *, sequence_length: int, mask_rate: float = 0.15):
    """A `BertMaskedLMPreprocessor` (KerasHub's `MaskedLMMaskGenerator`: 80% [MASK], 10% random, 10% kept)."""
    import keras_hub

    return keras_hub.models.BertMaskedLMPreprocessor(
        tokenizer, sequence_length=sequence_length, mask_selection_rate=mask_rate,
        mask_selection_length=mask_selection_length(sequence_length, mask_rate))


def build_masked_lm(vocabulary: list[str], *, sequence_length: int = 64, num_layers: int = 2, num_heads: int = 2,
                    hidden_dim: int = 128, intermediate_dim: int = 512, dropout: float = 0.1,
                    mask_rate: float = 0.15):
    """A `keras_hub.models.BertMaskedLM` on a new `BertBackbone`, with its preprocessor.

    Args:
        vocabulary: from `learn_vocabulary` (the BERT special tokens included).
        sequence_length: tokens per sequence, also the backbone's `max_sequence_length`.
        num_layers, num_heads, hidden_dim, intermediate_dim, dropout: the backbone's sizes.
        mask_rate: share of the tokens the preprocessor selects to predict.

    Example:
        >>> task = build_masked_lm(RESERVED_TOKENS + ("a", "cat"), sequence_length=8, hidden_dim=8,
        ...                        intermediate_dim=16)
        >>> type(task).__name__, task.backbone.num_layers
        ('BertMaskedLM', 2)
    """
    import keras_hub

    if hidden_dim % num_heads:
        raise ValueError(f"hidden_dim={hidden_dim} must be a multiple of num_heads={num_heads}")
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=list(vocabulary), lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=num_layers, num_heads=num_heads,
        hidden_dim=hidden_dim, intermediate_dim=intermediate_dim, dropout=dropout,
        max_sequence_length=sequence_length)
    preprocessor = build_preprocessor(tokenizer, sequence_length=sequence_length, mask_rate=mask_rate)
    return keras_hub.models.BertMaskedLM(backbone, preprocessor=preprocessor)


def masked_scores(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """(summed negative log-likelihood in nats, correct predictions, predicted tokens) of masked-LM logits
    `(batch, masks, vocabulary)` against `labels` where `weights` are 1."""
    logits = logits.astype(np.float64)
    log_z = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    picked = np.take_along_axis(logits, labels[..., None].astype(np.int64), -1)[..., 0]
    weights = weights.astype(np.float64)
    nll = float(((log_z - picked) * weights).sum())
    correct = float(((logits.argmax(-1) == labels) * weights).sum())
    return nll, correct, float(weights.sum())
