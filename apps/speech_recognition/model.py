"""The CTC recogniser of spoken digit strings on raw 16 kHz audio, the log-mel spectrogram computed
inside the model.

`build_ctc_model`: convolutions (time stride 8) and stacked bidirectional GRU/LSTM layers giving
per-frame logits over blank + the ten digit words, trained with `CTCLoss` (`keras.ops.ctc_loss`)
and read out with `decode` (`keras.ops.ctc_decode`, greedy or beam search). Keeping the front end
(`common.audio.frontend.log_mel`) in the model means saved `.keras` files and exported SavedModels
take the same raw audio as `predict`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from common.audio.augment import RoomSimulation, SpecAugment
from common.audio.frontend import log_mel


def build_ctc_model(vocabulary_size: int, *, num_mel_bins: int = 40, width: int = 16, rnn: str = "gru",
                    rnn_layers: int = 1, rnn_units: int = 64, dropout: float = 0.2, augment: bool = False,
                    seed: int = 0) -> keras.Model:
    """A CTC recogniser from `(batch, samples)` raw 16 kHz audio of any length to per-frame logits
    `(batch, ceil(frames / 8), vocabulary_size + 1)`; index 0 is the CTC blank.

    Three stride-2 convolutions leave one frame per 80 ms, still several per spoken digit, and make the
    recurrent layers (which run step by step) eight times shorter than the spectrogram.

    Args:
        vocabulary_size: output symbols besides the blank (ten digit words).
        num_mel_bins: mel bands of the front end.
        width: filters of the first strided convolution (the other two have twice as many).
        rnn: "gru" or "lstm".
        rnn_layers: stacked bidirectional layers.
        rnn_units: units per direction.
        dropout: after each recurrent layer.
        augment: training augmentation: a random room and microphone on the audio (`RoomSimulation`),
            SpecAugment masks on the log-mel spectrogram (`common.audio.augment`).
        seed: seed of the augmentation.

    Example:
        >>> build_ctc_model(10, width=4, rnn_units=8)(np.zeros((1, 16000), "float32")).shape
        TensorShape([1, 13, 11])
    """
    if rnn not in ("gru", "lstm"):
        raise ValueError(f"rnn={rnn!r} is not one of: gru, lstm")
    audio = keras.Input(shape=(None,), name="audio")
    x = RoomSimulation(seed=seed, name="room")(audio) if augment else audio
    x = log_mel(x, num_mel_bins)
    if augment:
        x = SpecAugment(seed=seed, name="spec_augment")(x)
    bands = num_mel_bins
    for index, filters in enumerate((width, 2 * width, 2 * width)):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False, name=f"conv{index + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"conv{index + 1}_bn")(x)
        x = layers.Activation("relu", name=f"conv{index + 1}_relu")(x)
        bands = math.ceil(bands / 2)
    x = layers.Reshape((-1, bands * 2 * width), name="frames")(x)
    cell = layers.GRU if rnn == "gru" else layers.LSTM
    for index in range(rnn_layers):
        x = layers.Bidirectional(cell(rnn_units, return_sequences=True), name=f"bi{rnn}{index + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{index + 1}")(x)
    logits = layers.Dense(vocabulary_size + 1, dtype="float32", name="logits")(x)
    return keras.Model(audio, logits, name=f"ctc_{rnn}")


@keras.saving.register_keras_serializable("dlsuite")
class CTCLoss(keras.losses.Loss):
    """CTC loss of per-frame logits against label sequences padded with 0 (the blank, never a label).

    Every frame of the logits counts: padding at the end of shorter clips is silence the model learns
    to map to blanks.
    """

    def __init__(self, name: str = "ctc", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")
        label_length = ops.sum(ops.cast(labels > 0, "int32"), axis=-1)
        batch, frames = ops.shape(y_pred)[0], ops.shape(y_pred)[1]
        logit_length = ops.full((batch,), frames, dtype="int32")
        return ops.ctc_loss(labels, y_pred, label_length, logit_length, mask_index=0)


def decode_ops(logits, *, strategy: str = "greedy", beam_width: int = 8):
    """(batch, frames) int32 label ids of a batch of CTC logits, -1 after each sequence's end (backend ops, so
    the exported model decodes as `decode` does): greedy, or (`strategy="beam"`) a CTC beam search of
    `beam_width` (on TensorFlow `tf.nn.ctc_beam_search_decoder`)."""
    logits = ops.convert_to_tensor(logits, "float32")
    lengths = ops.full((ops.shape(logits)[0],), ops.shape(logits)[1], dtype="int32")
    if strategy == "greedy":
        decoded, _ = ops.ctc_decode(logits, lengths, strategy="greedy", mask_index=0)
    else:
        decoded, _ = ops.ctc_decode(logits, lengths, strategy="beam_search", beam_width=beam_width, top_paths=1,
                                    mask_index=0)
    return decoded[0]


def decode(logits, *, strategy: str = "greedy", beam_width: int = 8) -> list[list[int]]:
    """Label sequences (ids >= 1) of a batch of CTC logits, by greedy or beam-search decoding."""
    decoded = decode_ops(logits, strategy=strategy, beam_width=beam_width)
    return [[int(i) for i in row if i > 0] for row in np.asarray(decoded)]
