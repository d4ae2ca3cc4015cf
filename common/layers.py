"""Layers and blocks that more than one application builds on."""

from __future__ import annotations

import keras
from keras import layers, ops


def transformer_encoder(x, *, depth: int, dim: int, heads: int, mlp_dim: int, dropout: float = 0.0,
                        name: str = "block"):
    """`depth` pre-norm transformer encoder blocks (Xiong et al., 2020) on a `(batch, tokens, dim)` tensor.

    Each block is x + MHA(LN(x)), then x + MLP(LN(x)) with a GELU MLP of `mlp_dim` units, built from
    `keras.layers.MultiHeadAttention`. A Keras mask on `x` (e.g. from `Embedding(mask_zero=True)`)
    flows into the attention, so padding tokens are never attended to. Pre-norm blocks train stably
    without learning-rate warm-up.

    Args:
        x: the token tensor (functional API).
        depth: number of blocks.
        dim: token width (the attention's output width).
        heads: attention heads; each attends over `dim // heads` features.
        mlp_dim: hidden units of each block's MLP.
        dropout: rate after the attention output and each MLP layer.
        name: layer-name prefix: `{name}1_attention`, `{name}1_mlp_hidden`, ...

    Example:
        >>> tokens = keras.Input((49, 64))
        >>> transformer_encoder(tokens, depth=2, dim=64, heads=4, mlp_dim=128).shape
        (None, 49, 64)
    """
    for block in range(depth):
        prefix = f"{name}{block + 1}"
        x = _attention_residual(x, None, heads=heads, dim=dim, dropout=dropout, name=f"{prefix}_attention")
        x = _mlp_residual(x, dim=dim, mlp_dim=mlp_dim, dropout=dropout, name=f"{prefix}_mlp")
    return x


def transformer_decoder(x, context, *, depth: int, dim: int, heads: int, mlp_dim: int, dropout: float = 0.0,
                        name: str = "decoder", context_mask=None):
    """`depth` pre-norm Transformer decoder blocks on `(batch, time, dim)` target tokens.

    Each block is x + causal self-attention(LN(x)), x + cross-attention(LN(x), context), then
    x + GELU MLP(LN(x)), built like `transformer_encoder`'s blocks. Keras masks on `x` and `context`
    (padding) flow into the attention layers; `use_causal_mask=True` keeps each position from seeing
    later ones, so position t's output depends on the target tokens up to t only (teacher forcing
    trains all positions at once).

    Args:
        x: the embedded target tokens (functional API).
        context: the encoder's output, `(batch, source_time, dim)`.
        depth, dim, heads, mlp_dim, dropout: as in `transformer_encoder`.
        name: layer-name prefix: `{name}1_self_attention`, `{name}1_cross_attention`, ...
        context_mask: `(batch, source_time)` booleans, True where the context is not padding. Pass it
            when the context is padded: Keras hands a tensor's own mask only to the first attention
            layer that reads it (`MultiHeadAttention` then clears it), so without this argument the
            blocks after the first would attend to the padding too.

    Example:
        >>> target, source = keras.Input((7, 16)), keras.Input((9, 16))
        >>> transformer_decoder(target, source, depth=1, dim=16, heads=2, mlp_dim=32).shape
        (None, 7, 16)
    """
    for block in range(depth):
        prefix = f"{name}{block + 1}"
        x = _attention_residual(x, None, heads=heads, dim=dim, dropout=dropout, name=f"{prefix}_self_attention",
                                causal=True)
        x = _attention_residual(x, context, heads=heads, dim=dim, dropout=dropout, name=f"{prefix}_cross_attention",
                                context_mask=context_mask)
        x = _mlp_residual(x, dim=dim, mlp_dim=mlp_dim, dropout=dropout, name=f"{prefix}_mlp")
    return x


def _attention_residual(x, context, *, heads: int, dim: int, dropout: float, name: str, causal: bool = False,
                        context_mask=None):
    """x + MHA(LN(x), context), with self-attention where `context` is None; layers `{name}_norm`,
    `{name}` and `{name}_residual` (pre-norm: the branch input is normalised, not the sum)."""
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm")(x)
    attention = layers.MultiHeadAttention(heads, max(1, dim // heads), name=name)
    if causal:
        y = attention(y, y, use_causal_mask=True)
    elif context is None:
        y = attention(y, y)
    elif context_mask is not None:
        y = attention(y, context, value_mask=context_mask)
    else:
        y = attention(y, context)
    if dropout:
        y = layers.Dropout(dropout)(y)
    return layers.Add(name=f"{name}_residual")([x, y])


def _mlp_residual(x, *, dim: int, mlp_dim: int, dropout: float, name: str):
    """x + Dense(GELU Dense(LN(x))); layers `{name}_norm`, `{name}_hidden`, `{name}_output`, `{name}_residual`."""
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm")(x)
    y = layers.Dense(mlp_dim, activation="gelu", name=f"{name}_hidden")(y)
    if dropout:
        y = layers.Dropout(dropout)(y)
    y = layers.Dense(dim, name=f"{name}_output")(y)
    if dropout:
        y = layers.Dropout(dropout)(y)
    return layers.Add(name=f"{name}_residual")([x, y])


@keras.saving.register_keras_serializable(package="dlsuite")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token embedding plus learned position embedding, for integer token ids padded with 0.

    The output carries a Keras mask (`ids != 0`, and always the first position), so attention,
    pooling and recurrent layers downstream skip the padding.

    Args:
        vocabulary_size: number of token ids (0 is padding).
        sequence_length: longest sequence (positions learned).
        dim: embedding width.

    Example:
        >>> layer = TokenAndPositionEmbedding(1000, 32, 16)
        >>> tuple(layer(keras.ops.ones((2, 32), "int32")).shape)
        (2, 32, 16)
    """

    def __init__(self, vocabulary_size: int, sequence_length: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.dim = dim
        self.tokens = layers.Embedding(vocabulary_size, dim, name="token_embedding")
        self.positions = layers.Embedding(sequence_length, dim, name="position_embedding")
        self.supports_masking = True

    def build(self, input_shape):
        self.tokens.build(input_shape)
        self.positions.build((self.sequence_length,))

    def call(self, ids):
        length = ops.shape(ids)[-1]
        return self.tokens(ids) + self.positions(ops.arange(length))[None]

    def compute_mask(self, ids, mask=None):
        # The first position always counts, so an empty text (all padding) still has one token to
        # attend to and average, instead of a 0/0 = NaN.
        # Written without the sequence length, so it also works on sequences of unknown length.
        mask = ops.not_equal(ids, 0)
        return ops.concatenate([ops.ones_like(mask[:, :1]), mask[:, 1:]], axis=1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.dim)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "dim": self.dim}


@keras.saving.register_keras_serializable(package="dlsuite")
class TokenDropout(keras.layers.Layer):
    """In training, replaces each non-padding token id by the out-of-vocabulary id with probability `rate`.

    Word-level dropout (Iyyer et al., 2015; Dai and Le, 2015): the classifier cannot lean on any one
    word, which helps on small text sets. Padding (id 0) is left alone; inference is unchanged.

    Args:
        rate: probability of replacing a token.
        oov_id: the id that replaces it (1 for `TextVectorization`'s '[UNK]').
        seed: seed of the draws.
    """

    def __init__(self, rate: float, oov_id: int = 1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.oov_id = oov_id
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, ids, training=None):
        if not training or not self.rate:
            return ids
        drop = keras.random.uniform(ops.shape(ids), seed=self.seed_generator) < self.rate
        return ops.where(ops.logical_and(drop, ops.not_equal(ids, 0)), ops.cast(self.oov_id, ids.dtype), ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "oov_id": self.oov_id, "seed": self.seed}
