"""Word-level tokens for the encoder–decoders (translation, chatbot): one standardization (in TensorFlow, so the models run it too),
vocabularies learned from training text, target ids wrapped in [start]/[end], and detokenization.

Text is lower-cased and every punctuation mark becomes a token of its own ("Mary’s car." ->
`mary ’ s car .`), so a vocabulary of a few thousand words covers most sentences and the models can
learn where the full stop goes. The same TensorFlow function standardizes text inside the models'
`TextVectorization` layer and here, so the vocabulary and the model never disagree about a word.
"""

from __future__ import annotations

import collections
import re

import keras
import numpy as np
import tensorflow as tf

PAD, UNK, START, END = "", "[UNK]", "[start]", "[end]"
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
# Letters, digits and combining marks make words; any other non-space character is a token by itself.
PUNCTUATION = r"([^\pL\pN\pM\s])"


@keras.saving.register_keras_serializable(package="dlsuite", name="translation_standardize")
def standardize(text):
    """Lower-cases a string tensor and puts spaces around punctuation marks.

    Registered with Keras, so a `TextVectorization(standardize=standardize)` layer saves and loads.

    Example:
        >>> standardize(tf.constant("Mary’s car.")).numpy().decode()
        'mary ’ s car . '
    """
    text = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.regex_replace(text, PUNCTUATION, r" \1 ")


def tokenize(texts: list[str]) -> list[list[str]]:
    """The tokens of each text, as the models see them.

    Example:
        >>> tokenize(["Das ist gut!"])
        [['das', 'ist', 'gut', '!']]
    """
    if not texts:
        return []
    split = tf.strings.split(standardize(tf.constant(texts, tf.string)))
    return [[token.decode("utf-8") for token in row] for row in split.to_list()]


def learn_vocabulary(texts: list[str], *, max_tokens: int, min_count: int = 1, target: bool = False) -> list[str]:
    """The most frequent tokens of `texts`: padding '' and '[UNK]' first (and '[start]', '[end]' for targets).

    Ties are broken alphabetically, so the vocabulary is the same on every run.

    Args:
        texts: training sentences.
        max_tokens: vocabulary size, special tokens included.
        min_count: tokens seen fewer times are left out (they become '[UNK]').
        target: add the '[start]' and '[end]' tokens the decoder needs (ids 2 and 3).

    Example:
        >>> learn_vocabulary(["a b b", "b c"], max_tokens=10, target=True)
        ['', '[UNK]', '[start]', '[end]', 'b', 'a', 'c']
    """
    counts = collections.Counter(token for row in tokenize(texts) for token in row)
    special = [PAD, UNK, START, END] if target else [PAD, UNK]
    words = sorted((t for t, c in counts.items() if c >= min_count and t not in special), key=lambda t: (-counts[t], t))
    return special + words[: max(0, max_tokens - len(special))]


def encode_targets(texts: list[str], vocabulary: list[str],
                   max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Teacher-forcing arrays for target sentences: decoder inputs, labels and the untruncated lengths.

    The decoder reads `[start] w1 ... wn` and learns to predict `w1 ... wn [end]`; both are padded
    with 0 to `max_length` (a target of more than `max_length - 1` words is cut and loses its [end]).

    Returns:
        (decoder inputs, labels), both `(len(texts), max_length)` int32, and each target's number
        of word tokens before cutting.

    Example:
        >>> vocabulary = ["", "[UNK]", "[start]", "[end]", "hi", "."]
        >>> inputs, labels, lengths = encode_targets(["Hi there."], vocabulary, 5)
        >>> inputs.tolist(), labels.tolist(), lengths.tolist()
        ([[2, 4, 1, 5, 0]], [[4, 1, 5, 3, 0]], [3])
    """
    index = {token: i for i, token in enumerate(vocabulary)}
    rows = tokenize(texts)
    inputs = np.zeros((len(rows), max_length), np.int32)
    labels = np.zeros((len(rows), max_length), np.int32)
    lengths = np.zeros(len(rows), np.int32)
    for i, row in enumerate(rows):
        ids = [index.get(token, UNK_ID) for token in row]
        lengths[i] = len(ids)
        sequence = [START_ID] + ids + [END_ID]
        inputs[i, : min(max_length, len(sequence) - 1)] = sequence[:-1][:max_length]
        labels[i, : min(max_length, len(sequence) - 1)] = sequence[1:][:max_length]
    return inputs, labels, lengths


def decode_ids(ids, vocabulary: list[str]) -> str:
    """The detokenized text of target ids, up to the first [end] or padding ('[start]' is skipped).

    Example:
        >>> decode_ids([4, 5, 3, 4], ["", "[UNK]", "[start]", "[end]", "hi", "."])
        'hi.'
    """
    tokens = []
    for i in (int(i) for i in ids):
        if i in (END_ID, PAD_ID):
            break
        if i != START_ID:
            tokens.append(vocabulary[i] if 0 <= i < len(vocabulary) else UNK)
    return detokenize(tokens)


def detokenize(tokens: list[str]) -> str:
    """Joins tokens into text: no space before closing punctuation, after opening quotes, around
    apostrophes and hyphens.

    Example:
        >>> detokenize(["it", "’", "s", "a", "well", "-", "known", "“", "fact", "”", "."])
        'it’s a well-known “fact”.'
    """
    text = " ".join(tokens)
    text = re.sub(r" ([.,!?;:)\]}%…”])", r"\1", text)
    text = re.sub(r"([(\[{„“]) ", r"\1", text)
    text = re.sub(r" ?([’'-]) ?", r"\1", text)
    return text.strip()
