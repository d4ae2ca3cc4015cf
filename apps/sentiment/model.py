"""Sentiment classifiers that take raw strings: TextVectorization inside the model, then a transformer
encoder or a bidirectional RNN.

Keeping the vectorization in the model means a saved `.keras` file and an exported SavedModel carry
their vocabulary and take the same raw text as `predict`: nothing to keep in step on the side.
"""

from __future__ import annotations

import keras
from keras import layers

from common.layers import TokenAndPositionEmbedding, TokenDropout, transformer_encoder


def learn_vocabulary(texts: list[str], *, max_tokens: int, ngrams: int = 1) -> list[str]:
    """The `max_tokens` most frequent tokens of `texts` ('' and '[UNK]' first), as TextVectorization learns them.

    Runs outside any distribution strategy's scope (adapting inside it is not supported); the model
    then gets the vocabulary as a constant.
    """
    vectorizer = layers.TextVectorization(max_tokens=max_tokens, ngrams=ngrams if ngrams > 1 else None)
    vectorizer.adapt(texts, batch_size=1024)
    return [str(token) for token in vectorizer.get_vocabulary()]


def build_text_classifier(vocabulary: list[str], num_classes: int, *, model: str = "transformer",
                          sequence_length: int = 64, ngrams: int = 1, embed_dim: int = 64, depth: int = 2,
                          heads: int = 4, mlp_dim: int = 128, rnn_units: int = 64,
                          dropout: float = 0.3, token_dropout: float = 0.0, seed: int = 0) -> keras.Model:
    """A text classifier from raw strings (shape `(batch, 1)`, dtype string) to class probabilities.

    Args:
        vocabulary: from `learn_vocabulary` (training texts only).
        num_classes: number of classes.
        model: "transformer" (token + position embedding, `depth` pre-norm `MultiHeadAttention` blocks,
            masked mean pooling) or "bilstm" / "bigru" (`depth` stacked bidirectional layers).
        sequence_length: tokens per text (cut or padded; padding is masked everywhere).
        ngrams: word n-grams indexed by the vectorizer (must match `learn_vocabulary`).
        embed_dim: embedding width.
        depth: encoder blocks or recurrent layers.
        heads: attention heads (transformer).
        mlp_dim: MLP width of each block (transformer).
        rnn_units: units per direction (RNNs).
        dropout: after the embeddings, inside the blocks and before the classifier.
        token_dropout: in training, the share of words replaced by the out-of-vocabulary token.
        seed: seed of the token dropout.

    Example:
        >>> vocab = learn_vocabulary(["a good film", "a bad film"], max_tokens=100)
        >>> build_text_classifier(vocab, 2, embed_dim=8, heads=2, mlp_dim=16).output_shape
        (None, 2)
    """
    if model not in ("transformer", "bilstm", "bigru"):
        raise ValueError(f"model={model!r} is not one of: transformer, bilstm, bigru")
    inputs = keras.Input(shape=(1,), dtype="string", name="text")
    vectorizer = layers.TextVectorization(vocabulary=vocabulary, output_sequence_length=sequence_length,
                                          ngrams=ngrams if ngrams > 1 else None, name="vectorize")
    ids = vectorizer(inputs)
    if token_dropout:
        ids = TokenDropout(token_dropout, seed=seed, name="token_dropout")(ids)
    size = len(vocabulary)
    if model == "transformer":
        x = TokenAndPositionEmbedding(size, sequence_length, embed_dim, name="embedding")(ids)
        if dropout:
            x = layers.Dropout(dropout, name="embedding_dropout")(x)
        x = transformer_encoder(x, depth=depth, dim=embed_dim, heads=heads, mlp_dim=mlp_dim, dropout=dropout,
                                name="block")
        x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
        x = layers.GlobalAveragePooling1D(name="token_mean")(x)  # the mask keeps padding out of the mean
    else:
        x = layers.Embedding(size, embed_dim, mask_zero=True, name="embedding")(ids)
        if dropout:
            x = layers.Dropout(dropout, name="embedding_dropout")(x)
        cell = layers.LSTM if model == "bilstm" else layers.GRU
        for index in range(depth):
            last = index == depth - 1
            x = layers.Bidirectional(cell(rnn_units, return_sequences=not last), name=f"{model}{index + 1}")(x)
    if dropout:
        x = layers.Dropout(dropout, name="classifier_dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"sentiment_{model}")
