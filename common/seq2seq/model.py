"""Encoder–decoder translators that read raw source sentences: a Transformer, or LSTM/GRU cells with attention.

Both families are functional Keras models with two inputs and one output:

* `source`: `(batch, 1)` strings. A `TextVectorization` layer inside the model (`source_vectorize`,
  vocabulary from the training sources, `tokens.standardize`) turns them into word ids, padded to
  the longest sentence of the batch, and `source_truncate` cuts them to `max_length`.
* `target`: `(batch, time)` target word ids, `[start] w1 ... wn` padded with 0, `time <= max_length`
  (teacher forcing in training; the prefix decoded so far at inference). Position t's output
  depends on the ids up to t only (causal attention, unidirectional RNN).
* output: `(batch, time, len(target_vocabulary))` next-word logits, from the layer `logits`, a
  `VocabularyProjection` that keeps the target vocabulary in its config. The layer before it is
  named `decoder_output`, so decoding can project the last position only.

A saved `.keras` file therefore carries both vocabularies and needs nothing on the side. Lengths vary
from batch to batch, so a batch of short sentences costs little (see `training.length_sorted_batches`).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from common.seq2seq.tokens import standardize
from common.layers import TokenAndPositionEmbedding, transformer_decoder, transformer_encoder

MODELS = ("transformer", "rnn")


@keras.saving.register_keras_serializable(package="dlsuite")
class VocabularyProjection(layers.Dense):
    """The output projection to target-word logits, which keeps the target vocabulary (id i is `vocabulary[i]`).

    Args:
        vocabulary: the target words in id order (padding '', '[UNK]', '[start]', '[end]' first).

    Example:
        >>> layer = VocabularyProjection(["", "[UNK]", "[start]", "[end]", "hi"])
        >>> layer(keras.ops.ones((1, 3, 8))).shape, layer.get_config()["vocabulary"][-1]
        ((1, 3, 5), 'hi')
    """

    def __init__(self, vocabulary: list[str], **kwargs):
        kwargs.pop("units", None)  # always len(vocabulary)
        kwargs.setdefault("dtype", "float32")  # logits in float32 under mixed precision
        super().__init__(units=len(vocabulary), **kwargs)
        self.vocabulary = [str(token) for token in vocabulary]

    def compute_mask(self, inputs, mask=None):
        # The logits carry no Keras mask: the loss (ignore_class=0) and the metrics skip padding by
        # the labels, and a mask would be applied to them a second time as sample weights.
        return None

    def get_config(self):
        config = super().get_config()
        config.pop("units", None)
        return {**config, "vocabulary": self.vocabulary}


@keras.saving.register_keras_serializable(package="dlsuite")
class TruncateTokens(layers.Layer):
    """Keeps the first `max_length` positions of `(batch, time)` token ids: the model's context.

    Example:
        >>> TruncateTokens(2)(keras.ops.array([[5, 6, 7]])).tolist()
        [[5, 6]]
    """

    def __init__(self, max_length: int, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def call(self, ids):
        return ids[:, : self.max_length]

    def compute_output_shape(self, input_shape):
        length = input_shape[1] if input_shape[1] is None else min(input_shape[1], self.max_length)
        return (input_shape[0], length)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


def source_ids(source, vocabulary: list[str], max_length: int):
    """Word ids of `(batch, 1)` source strings, padded to the batch's longest sentence and cut at `max_length`."""
    ids = layers.TextVectorization(vocabulary=vocabulary, standardize=standardize, split="whitespace",
                                   name="source_vectorize")(source)
    return TruncateTokens(max_length, name="source_truncate")(ids)


def build_transformer_translator(source_vocabulary: list[str], target_vocabulary: list[str], *, max_length: int = 32,
                                 embed_dim: int = 128, depth: int = 2, heads: int = 4, mlp_dim: int = 256,
                                 dropout: float = 0.1) -> keras.Model:
    """A Transformer encoder–decoder (Vaswani et al., 2017) with pre-norm blocks and learned positions.

    The encoder is the suite's `transformer_encoder`; the decoder adds causal self-attention and
    cross-attention over the encoder output (`transformer_decoder`).

    Args:
        source_vocabulary, target_vocabulary: from `tokens.learn_vocabulary` on the training split.
        max_length: source tokens read, and target tokens (words + [end]) predicted at most.
        embed_dim: token width.
        depth: encoder blocks, and decoder blocks.
        heads: attention heads.
        mlp_dim: hidden units of each block's MLP.
        dropout: after the embeddings and inside the blocks.

    Example:
        >>> vocab = ["", "[UNK]", "[start]", "[end]", "hallo", "hello"]
        >>> model = build_transformer_translator(vocab, vocab, max_length=8, embed_dim=8, depth=1, heads=2, mlp_dim=16)
        >>> model([keras.ops.array([["hallo"]]), keras.ops.array([[2, 5]])]).shape
        (1, 2, 6)
    """
    source = keras.Input((1,), dtype="string", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    ids = source_ids(source, source_vocabulary, max_length)
    embedding = TokenAndPositionEmbedding(len(source_vocabulary), max_length, embed_dim, name="source_embedding")
    x = embedding(ids)
    if dropout:
        x = layers.Dropout(dropout, name="source_dropout")(x)
    x = transformer_encoder(x, depth=depth, dim=embed_dim, heads=heads, mlp_dim=mlp_dim, dropout=dropout,
                            name="encoder")
    context = layers.LayerNormalization(epsilon=1e-6, name="encoder_output")(x)
    y = TokenAndPositionEmbedding(len(target_vocabulary), max_length, embed_dim, name="target_embedding")(target)
    if dropout:
        y = layers.Dropout(dropout, name="target_dropout")(y)
    y = transformer_decoder(y, context, depth=depth, dim=embed_dim, heads=heads, mlp_dim=mlp_dim, dropout=dropout,
                            name="decoder", context_mask=embedding.compute_mask(ids))
    y = layers.LayerNormalization(epsilon=1e-6, name="decoder_output")(y)
    logits = VocabularyProjection(target_vocabulary, name="logits")(y)
    return keras.Model([source, target], logits, name="translator_transformer")


def build_rnn_translator(source_vocabulary: list[str], target_vocabulary: list[str], *, max_length: int = 32,
                         embed_dim: int = 128, units: int = 256, cell: str = "gru", bidirectional: bool = True,
                         attention: str = "luong", dropout: float = 0.1) -> keras.Model:
    """An RNN encoder–decoder with attention (Bahdanau et al., 2015; Luong et al., 2015).

    The encoder is an LSTM or GRU over the source words, bidirectional or not; its final states,
    through a dense layer, start the decoder RNN. At each target position the decoder's output
    attends over the encoder outputs, and `tanh(W [output; context])` (Luong's attentional
    vector) gives the next-word logits. `attention="luong"` scores with the "general" product
    h_t^T W h_s (`keras.layers.Attention` on projected keys); `"bahdanau"` with the additive score
    v^T tanh(W1 h_t + W2 h_s) (`keras.layers.AdditiveAttention`), used in the same place (after
    the decoder RNN, without input feeding). Source padding is masked in the encoder and attention.

    Args:
        source_vocabulary, target_vocabulary: from `tokens.learn_vocabulary` on the training split.
        max_length: source tokens read, and target tokens predicted at most.
        embed_dim: word-embedding width (source and target).
        units: units of the decoder RNN (and of each encoder direction).
        cell: "lstm" or "gru".
        bidirectional: a bidirectional encoder.
        attention: "luong" or "bahdanau".
        dropout: after the embeddings and before the output projection.

    Example:
        >>> vocab = ["", "[UNK]", "[start]", "[end]", "hallo", "hello"]
        >>> model = build_rnn_translator(vocab, vocab, max_length=8, embed_dim=8, units=8, cell="lstm")
        >>> model([keras.ops.array([["hallo"]]), keras.ops.array([[2, 5]])]).shape
        (1, 2, 6)
    """
    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell={cell!r} is not one of: lstm, gru")
    if attention not in ("luong", "bahdanau"):
        raise ValueError(f"attention={attention!r} is not one of: luong, bahdanau")
    rnn = layers.LSTM if cell == "lstm" else layers.GRU
    source = keras.Input((1,), dtype="string", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    ids = source_ids(source, source_vocabulary, max_length)
    source_mask = ops.not_equal(ids, 0)
    # Unit-variance word vectors: with Keras' default ±0.05 the recurrent layers see tiny inputs and take
    # many times as many steps to get past predicting the most frequent words.
    x = layers.Embedding(len(source_vocabulary), embed_dim, mask_zero=True,
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
                         name="source_embedding")(ids)
    if dropout:
        x = layers.Dropout(dropout, name="source_dropout")(x)
    encoder = rnn(units, return_sequences=True, return_state=True, name=f"encoder_{cell}")
    if bidirectional:
        encoder = layers.Bidirectional(encoder, name=f"encoder_bi{cell}")
    encoded, *states = encoder(x)
    # LSTM states come as (h, c) per direction, GRU as h: the decoder starts from a projection of them.
    per_direction = 2 if cell == "lstm" else 1
    directions = 2 if bidirectional else 1
    initial = []
    for k, kind in enumerate(("h", "c")[:per_direction]):
        parts = [states[d * per_direction + k] for d in range(directions)]
        merged = layers.Concatenate(name=f"encoder_{kind}")(parts) if directions > 1 else parts[0]
        initial.append(layers.Dense(units, activation="tanh" if kind == "h" else None,
                                    name=f"decoder_initial_{kind}")(merged))

    y = layers.Embedding(len(target_vocabulary), embed_dim, mask_zero=True,
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
                         name="target_embedding")(target)
    if dropout:
        y = layers.Dropout(dropout, name="target_dropout")(y)
    decoded = rnn(units, return_sequences=True, name=f"decoder_{cell}")(y, initial_state=initial)
    keys = layers.Dense(units, use_bias=False, name="attention_keys")(encoded)
    target_mask = ops.not_equal(target, 0)
    if attention == "luong":
        context = layers.Attention(name="attention")([decoded, encoded, keys], mask=[target_mask, source_mask])
    else:
        context = layers.AdditiveAttention(name="attention")([decoded, encoded, keys], mask=[target_mask, source_mask])
    h = layers.Concatenate(name="output_and_context")([decoded, context])
    h = layers.Dense(units, activation="tanh", name="decoder_output")(h)
    if dropout:
        h = layers.Dropout(dropout, name="output_dropout")(h)
    logits = VocabularyProjection(target_vocabulary, name="logits")(h)
    return keras.Model([source, target], logits, name=f"translator_{cell}")


def build_translator(source_vocabulary: list[str], target_vocabulary: list[str], *, model: str = "transformer",
                     **options) -> keras.Model:
    """`build_transformer_translator` or `build_rnn_translator`, picked by `model`; options of the other are ignored.

    Example:
        >>> vocab = ["", "[UNK]", "[start]", "[end]", "hallo", "hello"]
        >>> build_translator(vocab, vocab, model="rnn", max_length=8, embed_dim=8, units=8).name
        'translator_gru'
    """
    if model not in MODELS:
        raise ValueError(f"model={model!r} is not one of: {', '.join(MODELS)}")
    if model == "transformer":
        names = ("max_length", "embed_dim", "depth", "heads", "mlp_dim", "dropout")
        return build_transformer_translator(source_vocabulary, target_vocabulary,
                                            **{k: v for k, v in options.items() if k in names})
    names = ("max_length", "embed_dim", "units", "cell", "bidirectional", "attention", "dropout")
    return build_rnn_translator(source_vocabulary, target_vocabulary,
                                **{k: v for k, v in options.items() if k in names})


def model_vocabularies(model: keras.Model) -> tuple[list[str], list[str]]:
    """The (source, target) vocabularies a translator carries.

    Example:
        >>> vocab = ["", "[UNK]", "[start]", "[end]", "hallo"]
        >>> model_vocabularies(build_translator(vocab, vocab, max_length=4, embed_dim=4, heads=1, mlp_dim=4))[1][-1]
        'hallo'
    """
    source = [str(t) for t in model.get_layer("source_vectorize").get_vocabulary()]
    return source, list(model.get_layer("logits").vocabulary)


def model_max_length(model: keras.Model) -> int:
    """The source tokens a translator reads, which is also the most target tokens it predicts."""
    return int(model.get_layer("source_truncate").max_length)
