"""Speech models on raw 16 kHz audio: the log-mel spectrogram is computed inside the model.

* `build_keyword_model`: a CNN (convolution blocks, flattened) or CRNN (convolutions, then a
  bidirectional GRU over time) classifying one-second clips.
* `build_ctc_model`: convolutions (time stride 8) and stacked bidirectional GRU/LSTM layers giving
  per-frame logits over blank + the ten digit words, trained with `CTCLoss` (`keras.ops.ctc_loss`)
  and read out with `decode` (`keras.ops.ctc_decode`, greedy or beam search).

Keeping the front end in the model means saved `.keras` files and exported SavedModels take the
same raw audio as `predict`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from common.datasets.speech import SAMPLE_RATE

WINDOW, HOP, FFT = 400, 160, 512  # 25 ms windows every 10 ms at 16 kHz


def num_frames(samples: int) -> int:
    """Spectrogram frames of `samples` audio samples (the layer centres its windows)."""
    return 1 + samples // HOP


def log_mel(audio, num_mel_bins: int = 40):
    """(batch, samples) audio in [-1, 1] -> (batch, frames, num_mel_bins, 1) normalised log-mel energies.

    `top_db` is set out of reach: Keras clips to the maximum of the whole *batch*, which would make a
    clip's features depend on its batch; `min_power` sets a fixed -60 dB floor instead.
    """
    x = layers.MelSpectrogram(fft_length=FFT, sequence_stride=HOP, sequence_length=WINDOW, sampling_rate=SAMPLE_RATE,
                              num_mel_bins=num_mel_bins, min_freq=20.0, max_freq=SAMPLE_RATE / 2, power_to_db=True,
                              top_db=1000.0, min_power=1e-6, name="log_mel")(audio)
    x = layers.Permute((2, 1), name="time_major")(x)  # (batch, mels, frames) -> (batch, frames, mels)
    # A fixed map of the -60..+40 dB range to about -2.5..2.5: batch-norm statistics would need many
    # steps to learn the -20 dB offset, and per-clip normalisation would amplify the noise of quiet clips.
    x = layers.Rescaling(1 / 20, offset=0.5, name="db_scale")(x)
    return layers.Reshape((-1, num_mel_bins, 1), name="as_image")(x)


@keras.saving.register_keras_serializable("dlsuite")
class RandomTimeShift(layers.Layer):
    """In training, shifts every clip of a batch by one random offset of up to `max_shift` samples
    (zero-filled); the identity at inference.

    Args:
        max_shift: the largest shift in samples, either way.
        seed: seed of the shifts.
    """

    def __init__(self, max_shift: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.max_shift = int(max_shift)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, audio, training=False):
        if not training or not self.max_shift:
            return audio
        shift = keras.random.randint((), 0, 2 * self.max_shift + 1, seed=self.seed_generator)
        padded = ops.pad(audio, [[0, 0], [self.max_shift, self.max_shift]])
        return ops.slice(padded, ops.stack([0, shift]), ops.shape(audio))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_shift": self.max_shift, "seed": self.seed}


def _conv_block(x, filters: int, pool, name: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)  # settles within the first epoch
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    return layers.MaxPooling2D(pool, name=f"{name}_pool")(x) if pool else x


def build_keyword_model(num_classes: int, *, model: str = "cnn", num_mel_bins: int = 40, width: int = 32,
                        rnn_units: int = 64, dropout: float = 0.2, time_shift: int = 0, seed: int = 0,
                        samples: int = SAMPLE_RATE) -> keras.Model:
    """A keyword classifier from `(batch, samples)` raw 16 kHz audio to class probabilities.

    Args:
        num_classes: output classes.
        model: "cnn" (four convolution blocks, three of them pooling time and frequency by 2, then a
            flattened map) or "crnn" (two blocks pooling frequency more than time, then a bidirectional
            GRU over the frames).
        num_mel_bins: mel bands of the front end.
        width: filters of the first block (doubled in each later one).
        rnn_units: crnn: GRU units per direction.
        dropout: before the classifier.
        time_shift: training augmentation: random shift of up to this many samples.
        seed: seed of the augmentation.
        samples: clip length in samples.

    Example:
        >>> build_keyword_model(22, model="crnn", width=8, rnn_units=8).output_shape
        (None, 22)
    """
    if model not in ("cnn", "crnn"):
        raise ValueError(f"model={model!r} is not one of: cnn, crnn")
    audio = keras.Input(shape=(samples,), name="audio")
    x = RandomTimeShift(time_shift, seed=seed, name="time_shift")(audio) if time_shift else audio
    x = log_mel(x, num_mel_bins)
    if model == "cnn":
        # Flattened, not globally pooled: a word is an order of sounds, which a bag of local features loses.
        for index, filters in enumerate((width, 2 * width, 4 * width, 4 * width)):
            x = _conv_block(x, filters, (2, 2) if index < 3 else None, f"block{index + 1}")
        x = layers.Flatten(name="flatten")(x)
    else:
        x = _conv_block(x, width, (1, 2), "block1")
        x = _conv_block(x, 2 * width, (2, 2), "block2")
        x = layers.Reshape((-1, (num_mel_bins // 4) * 2 * width), name="frames")(x)
        x = layers.Bidirectional(layers.GRU(rnn_units), name="bigru")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(audio, outputs, name=f"keywords_{model}")


def build_ctc_model(vocabulary_size: int, *, num_mel_bins: int = 40, width: int = 16, rnn: str = "gru",
                    rnn_layers: int = 1, rnn_units: int = 64, dropout: float = 0.2) -> keras.Model:
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

    Example:
        >>> build_ctc_model(10, width=4, rnn_units=8)(np.zeros((1, 16000), "float32")).shape
        TensorShape([1, 13, 11])
    """
    if rnn not in ("gru", "lstm"):
        raise ValueError(f"rnn={rnn!r} is not one of: gru, lstm")
    audio = keras.Input(shape=(None,), name="audio")
    x = log_mel(audio, num_mel_bins)
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


def decode(logits, *, strategy: str = "greedy", beam_width: int = 8) -> list[list[int]]:
    """Label sequences (ids >= 1) of a batch of CTC logits, by greedy or beam-search decoding."""
    logits = ops.convert_to_tensor(logits, "float32")
    lengths = ops.full((ops.shape(logits)[0],), ops.shape(logits)[1], dtype="int32")
    if strategy == "greedy":
        decoded, _ = ops.ctc_decode(logits, lengths, strategy="greedy", mask_index=0)
    else:
        decoded, _ = ops.ctc_decode(logits, lengths, strategy="beam_search", beam_width=beam_width, top_paths=1,
                                    mask_index=0)
    return [[int(i) for i in row if i > 0] for row in np.asarray(decoded)[0]]
