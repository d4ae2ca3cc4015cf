"""The keyword classifier on raw 16 kHz audio, the log-mel spectrogram computed inside the model.

`build_keyword_model`: a CNN (convolution blocks, flattened) or CRNN (convolutions, then a
bidirectional GRU over time) classifying one-second clips. Keeping the front end
(`common.audio.frontend.log_mel`) in the model means saved `.keras` files and exported SavedModels
take the same raw audio as `predict`.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from common.audio import SAMPLE_RATE
from common.audio.augment import RoomSimulation, SpecAugment
from common.audio.frontend import log_mel


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
                        rnn_units: int = 64, dropout: float = 0.2, time_shift: int = 0, augment: bool = False,
                        seed: int = 0, samples: int = SAMPLE_RATE) -> keras.Model:
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
        augment: training augmentation: a random room and microphone on the audio (`RoomSimulation`),
            SpecAugment masks on the log-mel spectrogram (`common.audio.augment`).
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
    if augment:
        x = RoomSimulation(seed=seed, name="room")(x)
    x = log_mel(x, num_mel_bins)
    if augment:
        x = SpecAugment(seed=seed, name="spec_augment")(x)
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
