"""Masked-language-model pre-training: a small KerasHub BERT on offline English text, scored on held-out text by
masked-token accuracy and perplexity next to a unigram model, and saved as a KerasHub preset."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from apps.language_model.config import LanguageModelConfig
from apps.language_model.corpus import Corpus, EnglishCorpus, load_corpus
from apps.language_model.model import (
    build_masked_lm,
    build_preprocessor,
    learn_vocabulary,
    masked_scores,
    pack_texts,
)
from apps.language_model.spec import SPEC
from common.datasets import default_data_dir
from common.errors import UsageError
from common.export import atomic_write_text
from common.optimizers import build_optimizer
from common.task import Task


@dataclass
class PretrainingData:
    """The packed sequences of each split and the tokenizer that reads them.

    Attributes:
        name: the dataset spec.
        sequences: {split: list of str}, packed texts (training: shuffled with the seed, vader repeated).
        tokenizer: the preset's, or a `BertTokenizer` on the vocabulary learned from the training texts.
        vocabulary: the learned vocabulary ([] with a preset).
        texts: {split: texts} before packing, per source: {split: {source: count}}.
        preprocessor: the `BertMaskedLMPreprocessor`, made by `build_inputs`.
        test_batches: the test split preprocessed once (fixed masks), for the model and the unigram baseline.
    """

    name: str
    sequences: dict[str, list[str]]
    tokenizer: object
    vocabulary: list[str]
    sources: dict[str, dict[str, int]]
    preprocessor: object = None
    test_batches: list = field(default_factory=list)


class EpochSlices(keras.callbacks.Callback):
    """Sets the epoch the training pipeline reads, so epoch `e` takes the `e`-th slice of the shuffled
    sequences, also in a resumed run (Keras makes the epoch's iterator after `on_epoch_begin`)."""

    def __init__(self, epoch: tf.Variable):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)


class Progress(keras.callbacks.Callback):
    """One line an epoch, even under --quiet: pre-training takes minutes, and a cached pre-training run inside
    another application's run is silent otherwise."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"{key} {logs[key]:.4f}" for key in ("loss", "accuracy", "val_loss", "val_accuracy") if key in logs]
        print(f"language_model: epoch {epoch + 1}/{self.epochs}: {', '.join(parts)}", file=sys.stderr, flush=True)


def vocabulary_cache(texts: list[str], size: int, words: int, data_dir: str) -> str:
    """Where a vocabulary learned from `texts` is kept: `<parent of the data dir>/vocabularies/<hash>.json`."""
    digest = hashlib.sha256(json.dumps([size, words, len(texts), texts[:: max(1, len(texts) // 1000)]]
                                       ).encode("utf-8")).hexdigest()[:16]
    root = os.path.dirname(os.path.abspath(data_dir or default_data_dir()))
    return os.path.join(root, "vocabularies", f"wordpiece-{size}-{digest}.json")


def cached_vocabulary(texts: list[str], size: int, words: int, data_dir: str) -> list[str]:
    """`learn_vocabulary(texts, size)`, learned once (it takes minutes) and then read from `vocabulary_cache`."""
    path = vocabulary_cache(texts, size, words, data_dir)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    print(f"language_model: learning a {size}-token WordPiece vocabulary from the {words:,} commonest words of "
          f"{len(texts):,} texts", file=sys.stderr, flush=True)
    vocabulary = learn_vocabulary(texts, size, max_words=words)
    atomic_write_text(path, json.dumps(vocabulary))
    return vocabulary


class LanguageModel(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    primary_metric = ("masked_accuracy", "higher", ".4f")

    embedded_datasets = (EnglishCorpus,)

    # --- data -------------------------------------------------------------------------------
    def load_data(self, cfg: LanguageModelConfig) -> PretrainingData:
        tokenizer = None
        if cfg.preset:
            from common.presets import check_preset

            tokenizer = check_preset("MaskedLM", cfg.preset, app=self.name)  # before the run dir is written
        corpus = load_corpus(cfg.dataset, cfg.data_dir)
        rng = random.Random(cfg.seed)
        train = self._training_texts(corpus, cfg, rng)
        vocabulary = []
        if tokenizer is None:
            vocabulary = cached_vocabulary(corpus.texts["train"], cfg.vocabulary_size, cfg.vocabulary_words,
                                           cfg.data_dir)
            import keras_hub

            tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
        sequences = {"train": train}
        for split in ("validation", "test"):
            held_out = pack_texts(corpus.texts[split], cfg.pack_words)
            sequences[split] = held_out[: cfg.eval_sequences or None]
        sources = {split: {name: int((corpus.sources[split] == i).sum()) for i, name in enumerate(corpus.source_names)}
                   for split in corpus.texts}
        return PretrainingData(corpus.name, sequences, tokenizer, vocabulary, sources)

    def _training_texts(self, corpus: Corpus, cfg: LanguageModelConfig, rng: random.Random) -> list[str]:
        """The training texts packed source by source (vader repeated `vader_repeat` times, each in a new order),
        the sequences then shuffled with the seed."""
        texts, sources = corpus.texts["train"], corpus.sources["train"]
        sequences = []
        for index, name in enumerate(corpus.source_names):
            own = [t for t, s in zip(texts, sources) if s == index]
            copies = cfg.vader_repeat if name == "vader" else 1
            for copy in range(copies):
                if copy:
                    own = rng.sample(own, len(own))
                sequences += pack_texts(own, cfg.pack_words)
        rng.shuffle(sequences)
        return sequences

    def num_train_examples(self, cfg: LanguageModelConfig, data: PretrainingData) -> int:
        """The sequences of one epoch of the budget (`train_steps // epochs` steps)."""
        return (cfg.train_steps // cfg.epochs) * cfg.batch_size

    def build_inputs(self, cfg: LanguageModelConfig, data: PretrainingData) -> dict:
        """Batches of raw strings (the task's preprocessor tokenizes and masks them in `fit`); epoch `e` reads the
        `e`-th slice of the shuffled training sequences, wrapping round when the budget exceeds them. The test
        split is preprocessed here once, so the model and the unigram baseline are scored on the same masks."""
        if not data.sequences["train"]:
            raise UsageError(f"{data.name} has no training text")
        data.preprocessor = build_preprocessor(data.tokenizer, sequence_length=cfg.sequence_length,
                                               mask_rate=cfg.mask_rate)
        per_epoch = self.num_train_examples(cfg, data)
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="pretraining_epoch")
        every = tf.data.Dataset.from_tensor_slices(tf.constant(data.sequences["train"], tf.string))
        epoch = self._epoch

        def one_epoch(_):
            return every.repeat().skip(epoch * per_epoch).take(per_epoch)

        train = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).flat_map(one_epoch)
        train = train.apply(tf.data.experimental.assert_cardinality(per_epoch))
        batches = {"train": train.batch(cfg.batch_size).prefetch(tf.data.AUTOTUNE)}
        for split in ("validation", "test"):
            batches[split] = tf.data.Dataset.from_tensor_slices(
                tf.constant(data.sequences[split], tf.string)).batch(cfg.batch_size)
        data.test_batches = [tuple(keras.tree.map_structure(np.asarray, part) for part in data.preprocessor(texts))
                             for texts in batches["test"]]
        return batches

    def data_summary(self, data: PretrainingData) -> dict:
        return {"sequences": {split: len(s) for split, s in data.sequences.items()},
                "texts_per_source": data.sources, "vocabulary_size": int(data.tokenizer.vocabulary_size())}

    # --- model ------------------------------------------------------------------------------
    def build_model(self, cfg: LanguageModelConfig, data: PretrainingData):
        if cfg.preset:
            from common.presets import load_task

            task = load_task("MaskedLM", cfg.preset, app=self.name)
            longest = getattr(task.backbone, "max_sequence_length", None)
            if longest and cfg.sequence_length > longest:
                raise UsageError(f"sequence_length={cfg.sequence_length} exceeds the preset's max_sequence_length "
                                 f"{longest}")
            task.preprocessor.sequence_length = cfg.sequence_length
            data.preprocessor = task.preprocessor
            return task
        try:
            return build_masked_lm(data.vocabulary, sequence_length=cfg.sequence_length, num_layers=cfg.num_layers,
                                   num_heads=cfg.num_heads, hidden_dim=cfg.hidden_dim,
                                   intermediate_dim=cfg.intermediate_dim, dropout=cfg.dropout,
                                   mask_rate=cfg.mask_rate)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def build_losses(self, cfg):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def compile_model(self, model, cfg: LanguageModelConfig, steps_per_epoch: int, phase=None) -> None:
        """AdamW with a warm-up; loss and accuracy over the masked positions only (the preprocessor's weights)."""
        model.compile(
            optimizer=build_optimizer(cfg, steps_per_epoch, warmup_steps=cfg.warmup_steps, global_clipnorm=1.0),
            loss=self.build_losses(cfg),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
            jit_compile=cfg.jit_compile,
        )

    def callbacks(self, cfg: LanguageModelConfig, data, run) -> list:
        return [EpochSlices(self._epoch), Progress(cfg.epochs)]

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, model, cfg, data: PretrainingData, inputs) -> dict:
        """Masked-token accuracy and perplexity (exp of the mean cross-entropy in nats) on the held-out test text,
        over the positions the preprocessor selected (10% of them show the true token, as in BERT)."""
        nll = correct = count = 0.0
        for x, y, w in data.test_batches:
            logits = keras.ops.convert_to_numpy(model(x, training=False))
            scores = masked_scores(logits, y, w)
            nll, correct, count = nll + scores[0], correct + scores[1], count + scores[2]
        if not count:
            raise UsageError(f"{data.name}'s test split has no token to predict")
        return {"masked_accuracy": correct / count, "perplexity": math.exp(nll / count), "cross_entropy": nll / count,
                "masked_tokens": int(count), "sequences": len(data.sequences["test"])}

    def baselines(self, cfg: LanguageModelConfig, data: PretrainingData) -> dict:
        """A unigram model of the training tokens (add-one smoothed, counted over up to 20,000 training sequences):
        it always predicts the most frequent token; its perplexity is the one of token frequencies alone."""
        sample = data.sequences["train"][:20000]
        counts = np.ones(int(data.tokenizer.vocabulary_size()), np.float64)
        for start in range(0, len(sample), 1000):
            ids = data.tokenizer(tf.constant(sample[start:start + 1000]))
            flat = ids.flat_values.numpy() if hasattr(ids, "flat_values") else np.concatenate(
                [np.asarray(i) for i in ids])
            counts += np.bincount(flat, minlength=len(counts))[: len(counts)]
        for token_id in data.tokenizer.special_token_ids:
            counts[token_id] = 0
        log_p = np.log(counts / counts.sum(), where=counts > 0, out=np.full_like(counts, -np.inf))
        nll = correct = count = 0.0
        best = int(counts.argmax())
        for _, y, w in data.test_batches:
            w = w.astype(np.float64)
            nll -= float(np.where(w > 0, log_p[y], 0.0).sum())  # padded positions: weight 0, label [PAD]
            correct += float(((y == best) * w).sum())
            count += float(w.sum())
        return {"unigram": {"masked_accuracy": correct / max(count, 1), "perplexity": math.exp(nll / max(count, 1)),
                            "most_frequent_token": data.tokenizer.id_to_token(best)}}

    # --- serving ----------------------------------------------------------------------------
    def predict(self, model, cfg, summary: dict, inputs: list[str]) -> list[dict]:
        """The five likeliest tokens for each [MASK] of each text given (`-` reads one text per line from stdin)."""
        if inputs == ["-"]:
            inputs = [line.strip() for line in sys.stdin if line.strip()]
        if not inputs:
            raise UsageError('predict needs texts with [MASK]: dlsuite language_model predict --run DIR '
                             '"the cat sat on the [MASK]."')
        preprocessor = model.preprocessor
        if preprocessor.packer is None:  # a loaded preprocessor builds its packer on first use
            preprocessor.build(None)
        tokenizer = preprocessor.tokenizer
        mask_id = tokenizer.mask_token_id
        records = []
        for text in inputs:
            if "[MASK]" not in text:
                raise UsageError(f"{text!r} has no [MASK] to fill in")
            ids = []  # the tokenizer reads "[MASK]" as three tokens: the mask id goes between the pieces
            for index, piece in enumerate(text.split("[MASK]")):
                ids += ([mask_id] if index else []) + [int(i) for i in np.asarray(tokenizer(piece))]
            token_ids, segment_ids = preprocessor.packer(tf.ragged.constant([ids], dtype=tf.int32))
            token_ids = token_ids.numpy()
            positions = np.flatnonzero(token_ids[0] == mask_id)[: preprocessor.mask_selection_length]
            padded = np.zeros((1, preprocessor.mask_selection_length), np.int32)
            padded[0, : len(positions)] = positions
            x = {"token_ids": token_ids, "segment_ids": segment_ids.numpy(),
                 "padding_mask": token_ids != tokenizer.pad_token_id, "mask_positions": padded}
            logits = keras.ops.convert_to_numpy(model(x, training=False))[0]
            guesses = []
            for row in logits[: len(positions)]:
                top = np.argsort(row)[::-1][:5]
                p = np.exp(row - row.max())
                p /= p.sum()
                guesses.append([{"token": tokenizer.id_to_token(int(i)), "probability": round(float(p[i]), 4)}
                                for i in top])
            records.append({"text": text, "masks": guesses})
        return records

    def benchmark_target(self, metrics: dict):
        model, unigram = metrics["test"]["masked_accuracy"], metrics["baselines"]["unigram"]["masked_accuracy"]
        return ("masked-token accuracy above the unigram model's", model > unigram,
                f"masked accuracy {model:.2%} vs {unigram:.2%}, perplexity {metrics['test']['perplexity']:.1f} vs "
                f"{metrics['baselines']['unigram']['perplexity']:.1f}")
