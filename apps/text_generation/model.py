"""Character-level language models: a small GPT-style decoder, or stacked LSTM/GRU layers.

Both map character ids `(batch, time)` to next-character logits `(batch, time, len(vocabulary) + 1)`.
The vocabulary lives in the model: `CharacterEmbedding` keeps its characters in its config, so a
saved `.keras` file (and `generate`) needs nothing on the side. Id 0 is the out-of-vocabulary id.

The GPT is built from KerasHub's parts: `keras_hub.layers.PositionEmbedding` and pre-norm
`keras_hub.layers.TransformerDecoder` blocks (decoder-only: causal self-attention and a GELU MLP).
Those blocks also take a key/value cache and the index to write it at, which is what incremental
generation needs (`apps.text_generation.generation`).
"""

from __future__ import annotations

import keras
from keras import layers

MODELS = ("gpt", "lstm", "gru")


@keras.saving.register_keras_serializable(package="dlsuite")
class CharacterEmbedding(layers.Embedding):
    """An `Embedding` of character ids that keeps its vocabulary (id i is `vocabulary[i - 1]`, 0 is unknown).

    Args:
        vocabulary: the characters, in id order from 1.
        output_dim: embedding width.

    Example:
        >>> layer = CharacterEmbedding(["a", "b"], 4)
        >>> tuple(layer(keras.ops.array([[1, 2, 0]])).shape), layer.get_config()["vocabulary"]
        ((1, 3, 4), ['a', 'b'])
    """

    def __init__(self, vocabulary: list[str], output_dim: int, **kwargs):
        kwargs.pop("input_dim", None)  # always len(vocabulary) + 1
        super().__init__(input_dim=len(vocabulary) + 1, output_dim=output_dim, **kwargs)
        self.vocabulary = [str(char) for char in vocabulary]

    def get_config(self):
        config = super().get_config()
        config.pop("input_dim", None)
        return {**config, "vocabulary": self.vocabulary}


def build_language_model(vocabulary: list[str], *, model: str = "gpt", sequence_length: int = 128,
                         embed_dim: int = 128, depth: int = 2, heads: int = 4, mlp_dim: int = 512,
                         rnn_units: int = 256, dropout: float = 0.1, conv_kernel: int = 0) -> keras.Model:
    """A character language model: ids `(batch, time)` to next-character logits `(batch, time, len(vocabulary) + 1)`.

    Args:
        vocabulary: the characters (from `data.learn_vocabulary`, training text only).
        model: "gpt" (character embedding, optionally a causal convolution, KerasHub's position
            embedding, `depth` pre-norm `keras_hub.layers.TransformerDecoder` blocks, final layer norm)
            or "lstm" / "gru" (`depth` stacked recurrent layers of `rnn_units`).
        sequence_length: the GPT's context: longest input, positions learned (RNNs take any length).
        embed_dim: character embedding width (the GPT's model width).
        depth: decoder blocks or recurrent layers.
        heads: attention heads (GPT).
        mlp_dim: MLP width of each block (GPT).
        rnn_units: units of each recurrent layer.
        dropout: after the embeddings and in the blocks, or between recurrent layers.
        conv_kernel: GPT: adds to each character's embedding a causal convolution over it and the
            `conv_kernel - 1` characters before it (`local_conv`), so the first block already sees
            the local context that attention otherwise takes many steps to learn to look up;
            0 or 1 for none.

    Example:
        >>> lm = build_language_model(["a", "b", "c"], sequence_length=16, embed_dim=8, heads=2, mlp_dim=16)
        >>> lm.output_shape
        (None, None, 4)
    """
    if model not in MODELS:
        raise ValueError(f"model={model!r} is not one of: {', '.join(MODELS)}")
    import keras_hub  # 3 s to import (tensorflow-text): when a model is built, not at every CLI start

    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    x = CharacterEmbedding(vocabulary, embed_dim, name="embedding")(ids)
    if model == "gpt":
        if conv_kernel > 1:
            local = layers.Conv1D(embed_dim, conv_kernel, padding="causal", name="local_conv")(x)
            x = layers.Add(name="local_residual")([x, local])
        positions = keras_hub.layers.PositionEmbedding(
            sequence_length, initializer=keras.initializers.RandomNormal(stddev=0.02), name="position_embedding")(x)
        x = layers.Add(name="add_positions")([x, positions])
        if dropout:
            x = layers.Dropout(dropout, name="embedding_dropout")(x)
        for index in range(depth):
            # Decoder-only (no encoder sequence): causal self-attention, then the MLP, each pre-norm.
            x = keras_hub.layers.TransformerDecoder(mlp_dim, heads, dropout=dropout, activation="gelu",
                                                    layer_norm_epsilon=1e-5, normalize_first=True,
                                                    name=f"block{index + 1}")(x)
        x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    else:
        recurrent = layers.LSTM if model == "lstm" else layers.GRU
        for index in range(depth):
            if dropout:
                x = layers.Dropout(dropout, name=f"dropout{index + 1}")(x)
            x = recurrent(rnn_units, return_sequences=True, name=f"{model}{index + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name="output_dropout")(x)
    logits = layers.Dense(len(vocabulary) + 1, dtype="float32", name="logits")(x)
    return keras.Model(ids, logits, name=f"text_generation_{model}")
