"""Character-level language models: a small GPT-style decoder, or stacked LSTM/GRU layers.

Both map character ids `(batch, time)` to next-character logits `(batch, time, len(vocabulary) + 1)`.
The vocabulary lives in the model: `CharacterEmbedding` keeps its characters in its config, so a
saved `.keras` file (and `generate`) needs nothing on the side. Id 0 is the out-of-vocabulary id.

The GPT's attention is the suite's own `CausalSelfAttention` rather than
`keras.layers.MultiHeadAttention(use_causal_mask=True)`, because generation needs a second way to
call it: on the new tokens only, with the keys and values of the earlier ones cached
(`attend(x, cache, position)`); see `apps.text_generation.generation`.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

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


@keras.saving.register_keras_serializable(package="dlsuite")
class PositionEmbedding(layers.Layer):
    """Adds a learned embedding of each position to a `(batch, time, dim)` tensor.

    Args:
        sequence_length: positions learned (the longest sequence, the GPT's context).

    Call arguments:
        x: the token embeddings.
        offset: position of `x`'s first token (generation feeds one token at a time).
    """

    def __init__(self, sequence_length: int, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.sequence_length, input_shape[-1]), name="embeddings",
                                          initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x, offset=0):
        positions = ops.arange(ops.shape(x)[1]) + offset
        return x + ops.cast(ops.take(self.embeddings, positions, axis=0), x.dtype)[None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}


@keras.saving.register_keras_serializable(package="dlsuite")
class CausalSelfAttention(layers.Layer):
    """Multi-head self-attention in which each position sees itself and the positions before it.

    `call(x)` attends over the whole sequence (training, evaluation). `attend(x, cache, position)`
    is the incremental form: it writes the keys and values of the new tokens `x` into a fixed-size
    cache at `position` and attends them over everything cached up to themselves, so feeding a
    sequence piece by piece gives the same outputs as one call. The cache has a fixed shape
    (`context` slots, the later ones masked), so a compiled step is traced once.

    Args:
        dim: model width (input and output).
        heads: attention heads, each over `dim // heads` features.

    Example:
        >>> attention = CausalSelfAttention(8, 2)
        >>> x = keras.random.normal((1, 5, 8))
        >>> full = attention(x)
        >>> empty = keras.ops.zeros((1, 2, 5, 4))  # (batch, heads, context, head_dim)
        >>> first, cache = attention.attend(x[:, :3], (empty, empty), position=0)
        >>> rest, cache = attention.attend(x[:, 3:], cache, position=3)
        >>> bool(keras.ops.all(keras.ops.abs(keras.ops.concatenate([first, rest], 1) - full) < 1e-5))
        True
    """

    def __init__(self, dim: int, heads: int, **kwargs):
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(f"dim={dim} must be a multiple of heads={heads}")
        self.dim = dim
        self.heads = heads
        self.head_dim = dim // heads
        self.query = layers.Dense(dim, name="query")
        self.key = layers.Dense(dim, name="key")
        self.value = layers.Dense(dim, name="value")
        self.output_dense = layers.Dense(dim, name="output")

    def build(self, input_shape):
        for dense in (self.query, self.key, self.value, self.output_dense):
            dense.build(input_shape)

    def _split_heads(self, x):  # (batch, time, dim) -> (batch, heads, time, head_dim)
        return ops.transpose(ops.reshape(x, (-1, ops.shape(x)[1], self.heads, self.head_dim)), (0, 2, 1, 3))

    def attend(self, x, cache=None, position=0):
        """Attends the tokens `x` (batch, new, dim) at positions `position`.. over the cache and themselves.

        Args:
            x: the new tokens.
            cache: None (the tokens are the whole sequence), or (keys, values) of shape
                (batch, heads, context, head_dim) holding the earlier positions.
            position: position of the first new token (an int or an int32 scalar tensor).

        Returns:
            (output (batch, new, dim), the cache with the new keys and values written in; None without a cache).
        """
        q, k, v = self._split_heads(self.query(x)), self._split_heads(self.key(x)), self._split_heads(self.value(x))
        if cache is None:
            position = 0
        else:
            start = (0, 0, position, 0)
            k = ops.slice_update(cache[0], start, ops.cast(k, cache[0].dtype))
            v = ops.slice_update(cache[1], start, ops.cast(v, cache[1].dtype))
            cache = (k, v)
        new, total = ops.shape(q)[2], ops.shape(k)[2]
        # Scores in float32 under mixed precision: the mask's large negative number overflows float16.
        scores = ops.cast(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), "float32") / math.sqrt(self.head_dim)
        visible = ops.arange(total)[None, :] <= ops.arange(new)[:, None] + position
        weights = ops.softmax(ops.where(visible, scores, -1e9), axis=-1)
        out = ops.matmul(ops.cast(weights, v.dtype), v)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, new, self.dim))
        return self.output_dense(out), cache

    def call(self, x):
        return self.attend(x)[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads}


@keras.saving.register_keras_serializable(package="dlsuite")
class DecoderBlock(layers.Layer):
    """A pre-norm GPT block: x + attention(LN(x)), then x + MLP(LN(x)) with a GELU MLP.

    Args:
        dim: model width.
        heads: attention heads.
        mlp_dim: hidden units of the MLP.
        dropout: rate on the attention and MLP outputs (training only).

    Example:
        >>> tuple(DecoderBlock(16, 2, 32)(keras.ops.zeros((2, 7, 16))).shape)
        (2, 7, 16)
    """

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.heads, self.mlp_dim, self.dropout = dim, heads, mlp_dim, dropout
        self.attention_norm = layers.LayerNormalization(epsilon=1e-5, name="attention_norm")
        self.attention = CausalSelfAttention(dim, heads, name="attention")
        self.mlp_norm = layers.LayerNormalization(epsilon=1e-5, name="mlp_norm")
        self.mlp_hidden = layers.Dense(mlp_dim, activation="gelu", name="mlp_hidden")
        self.mlp_output = layers.Dense(dim, name="mlp_output")
        self.dropout_layer = layers.Dropout(dropout)

    def build(self, input_shape):
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape)
        self.mlp_norm.build(input_shape)
        self.mlp_hidden.build(input_shape)
        self.mlp_output.build((*input_shape[:-1], self.mlp_dim))

    def step(self, x, cache=None, position=0, training=False):
        """The block on new tokens `x` at `position`, given the attention cache (see
        `CausalSelfAttention.attend`); returns (output, cache)."""
        y, cache = self.attention.attend(self.attention_norm(x), cache, position)
        x = x + self.dropout_layer(y, training=training)
        y = self.mlp_output(self.mlp_hidden(self.mlp_norm(x)))
        return x + self.dropout_layer(y, training=training), cache

    def call(self, x, training=None):
        return self.step(x, None, 0, training)[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads, "mlp_dim": self.mlp_dim,
                "dropout": self.dropout}


def build_language_model(vocabulary: list[str], *, model: str = "gpt", sequence_length: int = 128,
                         embed_dim: int = 128, depth: int = 2, heads: int = 4, mlp_dim: int = 512,
                         rnn_units: int = 256, dropout: float = 0.1, conv_kernel: int = 0) -> keras.Model:
    """A character language model: ids `(batch, time)` to next-character logits `(batch, time, len(vocabulary) + 1)`.

    Args:
        vocabulary: the characters (from `data.learn_vocabulary`, training text only).
        model: "gpt" (character embedding, optionally a causal convolution, position embedding,
            `depth` pre-norm `DecoderBlock`s, final layer norm) or "lstm" / "gru" (`depth` stacked
            recurrent layers of `rnn_units`).
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
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    x = CharacterEmbedding(vocabulary, embed_dim, name="embedding")(ids)
    if model == "gpt":
        if conv_kernel > 1:
            local = layers.Conv1D(embed_dim, conv_kernel, padding="causal", name="local_conv")(x)
            x = layers.Add(name="local_residual")([x, local])
        x = PositionEmbedding(sequence_length, name="position_embedding")(x)
        if dropout:
            x = layers.Dropout(dropout, name="embedding_dropout")(x)
        for index in range(depth):
            x = DecoderBlock(embed_dim, heads, mlp_dim, dropout, name=f"block{index + 1}")(x)
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
