"""Sentiment classifiers that take raw strings: TextVectorization inside the model, then a transformer
encoder (KerasHub's `TokenAndPositionEmbedding` and `TransformerEncoder`) or a bidirectional RNN.

Keeping the vectorization in the model means a saved `.keras` file and an exported SavedModel carry
their vocabulary and take the same raw text as `predict`: nothing to keep in step on the side.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from common.layers import TokenDropout


@keras.saving.register_keras_serializable(package="dlsuite")
class PaddingMask(layers.Layer):
    """True where a token id is not padding (0), and always at the first position.

    The first position always counts, so an empty text (all padding) still has one token to attend
    to and average, instead of a 0/0 = NaN in the masked mean.

    Example:
        >>> keras.ops.convert_to_numpy(PaddingMask()(keras.ops.array([[5, 0, 0], [0, 0, 0]]))).tolist()
        [[True, False, False], [True, False, False]]
    """

    def call(self, ids):
        mask = ops.not_equal(ids, 0)
        return ops.concatenate([ops.ones_like(mask[:, :1]), mask[:, 1:]], axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape


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
        model: "transformer" (KerasHub's token + position embedding, `depth` pre-norm
            `keras_hub.layers.TransformerEncoder` blocks with a GELU MLP, masked mean pooling)
            or "bilstm" / "bigru" (`depth` stacked bidirectional layers).
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
    import keras_hub  # 3 s to import (tensorflow-text): when a model is built, not at every CLI start

    inputs = keras.Input(shape=(1,), dtype="string", name="text")
    vectorizer = layers.TextVectorization(vocabulary=vocabulary, output_sequence_length=sequence_length,
                                          ngrams=ngrams if ngrams > 1 else None, name="vectorize")
    ids = vectorizer(inputs)
    if token_dropout:
        ids = TokenDropout(token_dropout, seed=seed, name="token_dropout")(ids)
    size = len(vocabulary)
    if model == "transformer":
        mask = PaddingMask(name="padding_mask")(ids)
        x = keras_hub.layers.TokenAndPositionEmbedding(size, sequence_length, embed_dim, name="embedding")(ids)
        if dropout:
            x = layers.Dropout(dropout, name="embedding_dropout")(x)
        for index in range(depth):
            # Pre-norm blocks (normalize_first) train stably without learning-rate warm-up.
            x = keras_hub.layers.TransformerEncoder(mlp_dim, heads, dropout=dropout, activation="gelu",
                                                    layer_norm_epsilon=1e-6, normalize_first=True,
                                                    name=f"block{index + 1}")(x, padding_mask=mask)
        x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
        x = layers.GlobalAveragePooling1D(name="token_mean")(x, mask=mask)  # padding stays out of the mean
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


@keras.saving.register_keras_serializable(package="dlsuite")
class PresetTextClassifier(layers.Layer):
    """A KerasHub `TextClassifier` (softmax head) with its preprocessor, as one layer on `(batch, 1)` strings.

    Its output spec is stated, not traced: a model loaded from a `.keras` file gets its tokenizer's
    vocabulary after the layers are rebuilt, so the preprocessor cannot run on symbolic inputs then.

    Args:
        task: the `keras_hub.models.TextClassifier`, with `preprocessor` set and a softmax activation.
    """

    def __init__(self, task, **kwargs):
        super().__init__(**kwargs)
        if isinstance(task, dict):
            # Uncompiled, as the wrapping model trains it: a compiled inner task's unbuilt metrics would
            # join the outer model's.
            task = keras.saving.deserialize_keras_object({**task, "config": {**task["config"], "compile": False}})
        self.task = task

    def build(self, input_shape):
        self.built = True  # the task is built already (KerasHub tasks are functional models)

    def call(self, texts):
        import tensorflow as tf  # KerasHub's preprocessing runs in TensorFlow on every backend

        return self.task(self.task.preprocessor(tf.reshape(texts, [-1])))

    def compute_output_spec(self, texts):
        return keras.KerasTensor((texts.shape[0], self.task.num_classes), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "task": keras.saving.serialize_keras_object(self.task)}


def build_preset_classifier(preset: str, num_classes: int, *, sequence_length: int = 64) -> keras.Model:
    """A KerasHub `TextClassifier` from a preset, wrapped to take raw strings `(batch, 1)` like the other models.

    The preset's own preprocessor (its tokenizer and packer) runs inside the model, so a saved
    `.keras` file and an exported SavedModel take raw text; `common.presets.export_preset` writes
    the task (backbone, new head, preprocessor) back as a preset folder.

    Args:
        preset: a local preset folder (`save_to_preset`), a built-in KerasHub name or a `kaggle://` /
            `hf://` handle (these need internet).
        num_classes: classes of the new head (the preset's own head is kept when it has as many).
        sequence_length: tokens per text, at most the backbone's `max_sequence_length`.
    """
    from common.presets import load_task, preset_num_classes

    kwargs = {"activation": "softmax", "compile": False}  # the wrapping model is compiled instead
    if preset_num_classes(preset) != num_classes:
        kwargs["num_classes"] = num_classes  # a new head; KerasHub then loads the backbone weights only
    task = load_task("TextClassifier", preset, app="sentiment", **kwargs)
    longest = getattr(task.backbone, "max_sequence_length", None)
    task.preprocessor.sequence_length = min(sequence_length, longest) if longest else sequence_length
    inputs = keras.Input(shape=(1,), dtype="string", name="text")
    outputs = PresetTextClassifier(task, name="classifier")(inputs)
    return keras.Model(inputs, outputs, name=f"sentiment_preset_{task.backbone.name}")
