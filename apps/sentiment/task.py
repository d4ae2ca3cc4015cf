"""Sentiment analysis: a transformer encoder or bidirectional RNN on raw sentences, against TF-IDF +
logistic regression on the same split."""

from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from apps.sentiment.config import SentimentConfig
from apps.sentiment.data import (
    VADER_CORPORA,
    TextData,
    VaderAll,
    VaderMovies,
    fetch_vader_sdist,
    load_texts,
    vader_polarity,
    vader_source,
)
from apps.sentiment.lexicons import lexicon_baselines
from apps.sentiment.model import (
    build_preset_classifier,
    build_text_classifier,
    learn_bag_of_ngrams,
    learn_vocabulary,
)
from apps.sentiment.spec import SPEC
from common.datasets import default_data_dir
from common.errors import UsageError
from common.export import classifier_outputs
from common.hyperparameters import choice, float_range, int_range
from common.metrics import classification_metrics
from common.monitoring import confusion_matrix_figure
from common.pipeline import make_pipeline
from common.presets import check_preset
from common.task import Task


def label_scores(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {"accuracy": float(accuracy_score(labels, predicted)),
            "macro_f1": float(f1_score(labels, predicted, average="macro"))}


def as_strings(texts: list[str]) -> tf.Tensor:
    """A `(n, 1)` string tensor, the models' input."""
    return tf.constant([[text] for text in texts], tf.string, shape=(len(texts), 1))


class Sentiment(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (VaderMovies, VaderAll)
    monitor = "val_accuracy"  # val_loss bottoms out epochs before accuracy peaks on small text sets
    # The default (wide and deep) next to the same transformer from scratch alone, the BiLSTM alone, and a
    # fine-tune of the suite's own pre-trained BERT (language_model, pre-trained once into the data-dir cache).
    benchmark_rows = (("sentiment-vader_movies-transformer", {"wide": False}),
                      ("sentiment-vader_movies-bilstm", {"model": "bilstm", "wide": False}),
                      ("sentiment-vader_movies-bert_small_en", {"preset": "dlsuite:bert_small_en",
                                                                "learning_rate": 3e-4}))

    def load_data(self, cfg: SentimentConfig) -> TextData:
        data = load_texts(cfg.dataset, data_dir=cfg.data_dir, text_column=cfg.text_column,
                          label_column=cfg.label_column, seed=cfg.seed)
        if cfg.preset:  # the preset's tokenizer has its own vocabulary
            from apps.language_model.pretrained import resolve_preset  # dlsuite:bert_small_en: pre-trained once

            self.preset_dir = resolve_preset(cfg.preset, cfg.data_dir, self.name)
            check_preset("TextClassifier", self.preset_dir, app=self.name)  # before the run dir is written
            data.vocabulary = []
            return data
        train = data.texts["train"][: cfg.max_train_samples or None]
        # Learned here, outside the strategy scope that `build_model` runs in, from training texts only.
        data.vocabulary = learn_vocabulary(train, max_tokens=cfg.max_tokens, ngrams=cfg.ngrams)
        if cfg.wide:
            data.wide = learn_bag_of_ngrams(train, data.labels["train"][: len(train)], len(data.class_names),
                                            max_tokens=cfg.wide_tokens, ngrams=cfg.wide_ngrams,
                                            scale=cfg.wide_scale)
        return data

    def num_train_examples(self, cfg, data: TextData) -> int:
        n = len(data.texts["train"])
        return min(n, cfg.max_train_samples) if cfg.max_train_samples else n

    def _dataset(self, data: TextData, split: str) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((as_strings(data.texts[split]), data.labels[split]))

    def build_inputs(self, cfg, data: TextData) -> dict:
        n_train = self.num_train_examples(cfg, data)
        return {
            "train": make_pipeline(self._dataset(data, "train"), cfg.batch_size, shuffle=True, seed=cfg.seed,
                                   max_examples=cfg.max_train_samples, shuffle_buffer=max(n_train, 1)),
            "validation": make_pipeline(self._dataset(data, "validation"), cfg.batch_size),
            "test": make_pipeline(self._dataset(data, "test"), cfg.batch_size),
        }

    def data_summary(self, data: TextData) -> dict:
        summary = {"class_names": data.class_names, "sizes": data.sizes, "vocabulary_size": len(data.vocabulary)}
        if data.wide:
            summary["wide_ngrams"] = len(data.wide["vocabulary"])
        return summary

    def build_model(self, cfg: SentimentConfig, data: TextData):
        if cfg.preset:
            return build_preset_classifier(self.preset_dir, len(data.class_names), sequence_length=cfg.sequence_length)
        try:
            return build_text_classifier(
                data.vocabulary, len(data.class_names), model=cfg.model, sequence_length=cfg.sequence_length,
                ngrams=cfg.ngrams, embed_dim=cfg.embed_dim, depth=cfg.depth, heads=cfg.heads, mlp_dim=cfg.mlp_dim,
                rnn_units=cfg.rnn_units, dropout=cfg.dropout, token_dropout=cfg.token_dropout,
                wide=data.wide if cfg.wide else None, seed=cfg.seed)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def build_losses(self, cfg):
        return "sparse_categorical_crossentropy"

    def build_metrics(self, cfg):
        return ["accuracy"]

    def _check_model(self, model, data: TextData) -> None:
        if model.output_shape[-1] != len(data.class_names):
            raise UsageError(f"{data.name} has {len(data.class_names)} classes; the model predicts "
                             f"{model.output_shape[-1]}")

    def _probabilities(self, model, data: TextData, split: str) -> np.ndarray:
        return model.predict(as_strings(data.texts[split]), batch_size=256, verbose=0)

    def evaluate(self, model, cfg, data: TextData, inputs) -> dict:
        self._check_model(model, data)
        labels = data.labels["test"]
        probabilities = self._probabilities(model, data, "test")
        report = classification_report(labels, probabilities.argmax(axis=1), labels=range(len(data.class_names)),
                                       target_names=data.class_names, output_dict=True, zero_division=0)
        return {**classification_metrics(labels, probabilities), "report": report}

    _fitted_baseline = None  # (data, max_train_samples, predict, C) of the last TF-IDF fit

    def _tfidf_logreg(self, cfg: SentimentConfig, data: TextData):
        """TF-IDF of words and word pairs + logistic regression on the training split, its C chosen on the
        validation split: a function of texts giving predicted labels, and the C. Fitted once per dataset:
        the test split (`baselines`) and the real-world sets (`real_world`) share the fit."""
        fitted = self._fitted_baseline
        if fitted is not None and fitted[0] is data and fitted[1] == cfg.max_train_samples:
            return fitted[2], fitted[3]
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        train = data.texts["train"][: cfg.max_train_samples or None]
        y_train = data.labels["train"][: len(train)]
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        x_train = vectorizer.fit_transform(train)
        x_val = vectorizer.transform(data.texts["validation"])
        fits = [LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train) for c in (0.3, 1.0, 3.0, 10.0)]
        best = max(fits, key=lambda m: m.score(x_val, data.labels["validation"]))
        predict = lambda texts: best.predict(vectorizer.transform(texts))  # noqa: E731
        self._fitted_baseline = (data, cfg.max_train_samples, predict, float(best.C))
        return predict, float(best.C)

    def baselines(self, cfg: SentimentConfig, data: TextData) -> dict:
        """TF-IDF of words and word pairs + logistic regression, its C chosen on the validation split; and,
        for negative/positive classes, the lexicon tools VADER and TextBlob (`apps.sentiment.lexicons`)."""
        predict, c = self._tfidf_logreg(cfg, data)
        labels = data.labels["test"]
        tfidf = {**label_scores(labels, predict(data.texts["test"])), "C": c}
        return {"tfidf_logreg": tfidf, **lexicon_baselines(data.texts["test"], labels, data.class_names)}

    def real_world(self, model, cfg: SentimentConfig, data: TextData) -> dict:
        """A model trained on `vader_movies` scored on the three other rated corpora of the same sdist
        (tweets, product reviews, NYT editorials: other writers, other domains), next to TF-IDF +
        logistic regression trained on the same movie sentences and the two lexicon tools."""
        if cfg.dataset != VaderMovies.name:
            return {}
        self._check_model(model, data)
        sdist = fetch_vader_sdist(os.path.join(cfg.data_dir or default_data_dir(), "downloads"))
        predict, _ = self._tfidf_logreg(cfg, data)
        found = {}
        for corpus in VADER_CORPORA:
            if corpus == "movies":
                continue
            try:
                texts, labels = vader_polarity(sdist, corpus)
            except UsageError as exc:  # a stand-in sdist with the movie file alone
                print(f"sentiment: real-world set {corpus} skipped: {exc}", file=sys.stderr)
                continue
            probabilities = model.predict(as_strings(texts), batch_size=256, verbose=0)
            found[corpus] = {
                "source": vader_source(corpus), "examples": len(texts),
                "model": label_scores(labels, probabilities.argmax(axis=1)),
                "baselines": {"tfidf_logreg": label_scores(labels, predict(texts)),
                              **lexicon_baselines(texts, labels, data.class_names)},
            }
        return found

    def figures(self, model, cfg, data: TextData, inputs, split="test") -> dict:
        predicted = self._probabilities(model, data, split).argmax(axis=1)
        matrix = confusion_matrix(data.labels[split], predicted, labels=range(len(data.class_names)))
        title = f"{data.name} {split}: accuracy {np.trace(matrix) / max(1, matrix.sum()):.4f}"
        return {"confusion_matrix": confusion_matrix_figure(matrix, data.class_names, title)}

    def text_examples(self, model, cfg: SentimentConfig, data: TextData, split="test") -> dict:
        """The first `examples` sentences of the split with their true and predicted labels."""
        if not cfg.examples:
            return {}
        texts = data.texts[split][: cfg.examples]
        probabilities = model.predict(as_strings(texts), verbose=0)
        rows = ["| text | true | predicted | probability |", "|---|---|---|---|"]
        for text, label, p in zip(texts, data.labels[split], probabilities):
            cell = text.replace("|", "\\|").replace("\n", " ")
            rows.append(f"| {cell} | {data.class_names[label]} | {data.class_names[int(p.argmax())]} | {p.max():.3f} |")
        return {"predictions": "\n".join(rows)}

    def predict(self, model, cfg, summary: dict, inputs: list[str]) -> list[dict]:
        """Label and probability of each sentence given (`-` reads one sentence per line from stdin)."""
        if inputs == ["-"]:
            inputs = [line.strip() for line in sys.stdin if line.strip()]
        if not inputs:
            raise UsageError('predict needs sentences: dlsuite sentiment predict --run DIR "a fine film" "a dull one" '
                             "(or - to read lines from stdin)")
        if any(not text.strip() for text in inputs):
            raise UsageError("predict got an empty sentence")
        class_names = summary.get("class_names") or [str(i) for i in range(model.output_shape[-1])]
        probabilities = model.predict(as_strings(inputs), verbose=0)
        return [{"text": text, "label": class_names[int(p.argmax())], "probability": round(float(p.max()), 4)}
                for text, p in zip(inputs, probabilities)]

    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported classifier (a batch of strings in, `[n]` or `[n, 1]`) returns `probabilities`, `label`
        (class index) and `class_name` (the run's class names, kept in the graph)."""
        return classifier_outputs(outputs, summary.get("class_names"))

    def benchmark_target(self, metrics: dict):
        """On vader_movies, the transformer (the default: wide and deep) or a fine-tuned preset at least 1 point
        of test accuracy above TF-IDF + logistic regression of the same run (issue 14)."""
        config = metrics["config"]
        if metrics["dataset"] != "vader_movies" or (config["model"] != "transformer" and not config.get("preset")):
            return None
        model, baseline = metrics["test"]["accuracy"], metrics["baselines"]["tfidf_logreg"]["accuracy"]
        name = config.get("preset") or ("wide and deep transformer" if config.get("wide") else "transformer")
        return (f"{name} test accuracy at least 1 point above TF-IDF + logistic regression",
                model >= baseline + 0.01, f"accuracy {model:.2%} vs {baseline:.2%}")

    def search_space(self, hp, cfg: SentimentConfig) -> dict:
        return {
            "embed_dim": choice(hp, "embed_dim", cfg.embed_dim, [32, 64, 128]),
            "depth": int_range(hp, "depth", cfg.depth, 1, 3),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.5),
            "sequence_length": choice(hp, "sequence_length", cfg.sequence_length, [32, 64, 128]),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 1e-4, 3e-3, log=True),
        }
