"""Teacher-forced training and evaluation of the encoder–decoders: the masked, label-smoothed loss and token
accuracy, length-sorted batches without padding beyond each batch's longest target, the teacher-forced
loss, perplexity and token accuracy of a trained model, vocabulary coverage, and the cells of the example
tables (markdown).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from common.pipeline import epoch_shuffle, keep_orders, make_pipeline
from common.seq2seq.decoding import as_sources
from common.seq2seq.model import model_max_length, model_vocabularies
from common.seq2seq.tokens import encode_targets, tokenize


@keras.saving.register_keras_serializable(package="dlsuite", name="translation_token_accuracy")
def token_accuracy(y_true, y_pred):
    """Share of the non-padding target tokens whose most likely prediction is right (one batch)."""
    y_true = ops.cast(y_true, "int32")
    mask = ops.cast(ops.not_equal(y_true, 0), "float32")
    correct = ops.cast(ops.equal(y_true, ops.cast(ops.argmax(y_pred, axis=-1), "int32")), "float32")
    return ops.sum(correct * mask) / ops.maximum(ops.sum(mask), 1.0)


@keras.saving.register_keras_serializable(package="dlsuite")
class MaskedCrossEntropy(keras.losses.Loss):
    """Cross-entropy of next-word logits over the non-padding labels (id 0 is padding), with label smoothing.

    With `label_smoothing` = e the target distribution puts 1 - e on the right word and e spread
    evenly over the vocabulary (Szegedy et al., 2016), which keeps a model trained on a small
    corpus from becoming over-confident. The mean is over real target tokens, per batch.

    Example:
        >>> loss = MaskedCrossEntropy(0.0)
        >>> float(loss(np.array([[1, 0]]), np.log(np.array([[[0.5, 0.5], [0.9, 0.1]]]))))
        0.6931...
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "masked_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.squeeze(ops.take_along_axis(log_probs, ops.expand_dims(y_true, -1), axis=-1), -1)
        if self.label_smoothing:
            nll = (1.0 - self.label_smoothing) * nll - self.label_smoothing * ops.mean(log_probs, axis=-1)
        mask = ops.cast(ops.not_equal(y_true, 0), "float32")
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def teacher_forced_scores(model, sources: list[str], targets: list[str], batch_size: int = 64) -> dict[str, float]:
    """Mean cross-entropy per target token (nats), perplexity and token accuracy under teacher forcing,
    with the model's own target vocabulary."""
    _, vocabulary = model_vocabularies(model)
    inputs, labels, _ = encode_targets(targets, vocabulary, model_max_length(model))
    total, correct, count = 0.0, 0, 0
    for begin in range(0, len(sources), batch_size):
        end = begin + batch_size
        y = labels[begin:end]
        length = max(1, int((y != 0).sum(axis=1).max()))
        y = y[:, :length]
        logits = np.asarray(model([as_sources(sources[begin:end]), inputs[begin:end, :length]], training=False),
                            np.float64)
        top = logits.max(axis=-1, keepdims=True)
        log_norm = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        nll = log_norm - np.take_along_axis(logits, y[..., None], axis=-1)[..., 0]
        mask = y != 0
        total += float(nll[mask].sum())
        correct += int(((logits.argmax(axis=-1) == y) & mask).sum())
        count += int(mask.sum())
    loss = total / max(1, count)
    return {"loss": loss, "perplexity": float(np.exp(loss)), "token_accuracy": correct / max(1, count)}


def trim_padding(x: dict, labels):
    """Cuts a batch's target ids and labels after its longest target: padding costs nothing then."""
    length = tf.maximum(1, tf.reduce_max(tf.reduce_sum(tf.cast(labels != 0, tf.int32), axis=1)))
    return {"source": x["source"], "target": x["target"][:, :length]}, labels[:, :length]


def length_sorted_batches(dataset: tf.data.Dataset, batch_size: int, *, seed: int = 0, shuffle_buffer: int = 10_000,
                          window: int = 16) -> tf.data.Dataset:
    """Training batches of similar target lengths, reshuffled every epoch.

    Each epoch the examples are shuffled, taken `window` batches at a time, sorted by target length
    within that window and cut into batches, and the batches are shuffled; with `trim_padding`
    a batch is then as long as its own longest target, not the longest of the dataset. The source
    sentences are padded to the batch's longest by the model.
    """

    def sort_window(x, labels):
        order = tf.argsort(tf.reduce_sum(tf.cast(labels != 0, tf.int32), axis=1), stable=True)
        return {"source": tf.gather(x["source"], order), "target": tf.gather(x["target"], order)}, \
            tf.gather(labels, order)

    count = int(dataset.cardinality())
    windows = make_pipeline(dataset, batch_size * window, shuffle=True, seed=seed, shuffle_buffer=shuffle_buffer)
    batches = windows.map(sort_window).unbatch().batch(batch_size).map(trim_padding)
    # Windows are whole batches but the last, so there are as many batches as without windows;
    # saying so lets Keras know the epoch's length (unbatch() forgets it).
    batches = batches.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))
    shuffled = epoch_shuffle(batches, window, seed)
    return keep_orders(shuffled.prefetch(tf.data.AUTOTUNE), windows, shuffled)


def vocabulary_coverage(texts: list[str], vocabulary: list[str]) -> float:
    """Share of the tokens of `texts` that are in `vocabulary`.

    Example:
        >>> vocabulary_coverage(["Das ist gut."], ["", "[UNK]", "das", "ist", "."])
        0.75
    """
    known = set(vocabulary)
    tokens = [token for row in tokenize(texts) for token in row]
    return sum(token in known for token in tokens) / max(1, len(tokens))


def markdown_cell(text: str) -> str:
    """Text as one cell of a markdown table row: `|` escaped, newlines as spaces.

    Example:
        >>> print(markdown_cell("a | b"))
        a \\| b
    """
    return text.replace("|", "\\|").replace("\n", " ")
