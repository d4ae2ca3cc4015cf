"""Sentiment classifiers that take raw strings: TextVectorization inside the model, then a transformer
encoder (KerasHub's `TokenAndPositionEmbedding` and `TransformerEncoder`) or a bidirectional RNN,
optionally next to a linear model of the text's word n-grams whose logits add to the network's
("wide and deep"), started from the naive Bayes solution of the training split.

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


def learn_bag_of_ngrams(texts: list[str], labels, num_classes: int, *, max_tokens: int = 100_000, ngrams: int = 2,
                        alpha: float = 1.0, scale: float = 1.0) -> dict:
    """The wide path's n-gram vocabulary and its starting weights: multinomial naive Bayes on presence.

    The `max_tokens` most frequent word n-grams (1..`ngrams`) of `texts` become a multi-hot bag; the
    linear layer on it starts at naive Bayes' log-likelihoods of each n-gram per class (add-`alpha`
    smoothed, centred over classes, so with two classes the kernel is +-1/2 of the log-count ratio
    of NBSVM, Wang and Manning 2012) and the log class priors, both times `scale`. Started from zero,
    the wide layer trained jointly with the network overfits the few thousand sentences (74.3% on
    vader_movies); at naive Bayes itself (`scale=1`) it starts at 77.9% of vader_movies' test split,
    more than the trained model keeps; the sentiment default, 0.25, leaves the network's logits more
    say (see the README). Computed from the training split only, outside any distribution
    strategy's scope, like `learn_vocabulary`.

    Returns:
        {"vocabulary", "ngrams", "kernel" (n-grams x classes), "bias" (classes)}: `wide` of
        `build_text_classifier`.
    """
    import numpy as np

    vectorizer = layers.TextVectorization(max_tokens=max_tokens, ngrams=ngrams if ngrams > 1 else None,
                                          output_mode="multi_hot")
    vectorizer.adapt(texts, batch_size=1024)
    vocabulary = [str(token) for token in vectorizer.get_vocabulary()]
    labels = np.asarray(labels)
    counts = np.zeros((len(vocabulary), num_classes))
    for start in range(0, len(texts), 512):  # in chunks: the dense bags of all texts would take gigabytes
        bags = keras.ops.convert_to_numpy(vectorizer(texts[start:start + 512]))
        for c in range(num_classes):
            counts[:, c] += bags[labels[start:start + 512] == c].sum(axis=0)
    log_likelihood = np.log((counts + alpha) / (counts + alpha).sum(axis=0, keepdims=True))
    kernel = log_likelihood - log_likelihood.mean(axis=1, keepdims=True)
    kernel[0] = 0.0  # index 0 is the out-of-vocabulary bucket: present in most texts, it says nothing
    prior = np.log(np.maximum(np.bincount(labels, minlength=num_classes), 1) / max(len(labels), 1))
    return {"vocabulary": vocabulary, "ngrams": ngrams, "kernel": (scale * kernel).astype("float32"),
            "bias": (scale * (prior - prior.mean())).astype("float32")}


def build_text_classifier(vocabulary: list[str], num_classes: int, *, model: str = "transformer",
                          sequence_length: int = 64, ngrams: int = 1, embed_dim: int = 64, depth: int = 2,
                          heads: int = 4, mlp_dim: int = 128, rnn_units: int = 64,
                          dropout: float = 0.3, token_dropout: float = 0.0, wide: dict | None = None,
                          seed: int = 0) -> keras.Model:
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
        wide: from `learn_bag_of_ngrams`: a linear layer on the multi-hot bag of n-grams, started at
            naive Bayes, whose logits add to the network's; None for the network alone.
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
    if wide:
        bag = layers.TextVectorization(vocabulary=wide["vocabulary"], ngrams=wide["ngrams"] if wide["ngrams"] > 1 else None,
                                       output_mode="multi_hot", name="bag_of_ngrams")(inputs)
        bag = layers.Rescaling(1.0, name="bag_as_float")(bag)  # cast to the compute dtype
        x = layers.Add(name="wide_and_deep")([x, layers.Dense(num_classes, name="wide_logits")(bag)])
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    classifier = keras.Model(inputs, outputs, name=f"sentiment_{model}{'_wide' if wide else ''}")
    if wide:
        classifier.get_layer("wide_logits").set_weights([wide["kernel"], wide["bias"]])
    return classifier


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
