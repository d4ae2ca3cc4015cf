"""Translation: a Transformer or RNN-with-attention encoder–decoder trained with teacher forcing, decoded
greedily and with beam search, scored with sacrebleu's BLEU and chrF against nearest-neighbour retrieval."""

from __future__ import annotations

import sys
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from apps.translation.baseline import retrieval_translations, translation_scores
from apps.translation.config import TranslationConfig
from apps.translation.data import DeEnSentences, ParallelData, load_pairs
from apps.translation.decoding import Translator, as_sources
from apps.translation.model import build_translator, model_max_length, model_vocabularies
from apps.translation.tokens import encode_targets, learn_vocabulary, tokenize
from common.errors import UsageError
from common.hyperparameters import choice, float_range, int_range
from common.pipeline import make_pipeline
from common.task import Task

# Evaluating a model on data its vocabularies do not cover (another language pair, or the reverse
# direction) gives meaningless scores; in-domain test sets are covered at 90% or more.
MIN_COVERAGE = 0.5


@keras.saving.register_keras_serializable(package="dlsuite", name="translation_token_accuracy")
def token_accuracy(y_true, y_pred):
    """Share of the non-padding target tokens whose most likely prediction is right (one batch)."""
    y_true = ops.cast(y_true, "int32")
    mask = ops.cast(ops.not_equal(y_true, 0), "float32")
    correct = ops.cast(ops.equal(y_true, ops.cast(ops.argmax(y_pred, axis=-1), "int32")), "float32")
    return ops.sum(correct * mask) / ops.maximum(ops.sum(mask), 1.0)


@keras.saving.register_keras_serializable(package="dlsuite")
class MaskedCrossEntropy(keras.losses.Loss):
    """Cross-entropy of next-word logits over the non-padding labels (id 0 is padding), with label smoothing.

    With `label_smoothing` = e the target distribution puts 1 - e on the right word and e spread
    evenly over the vocabulary (Szegedy et al., 2016), which keeps a model trained on a small
    corpus from becoming over-confident. The mean is over real target tokens, per batch.

    Example:
        >>> loss = MaskedCrossEntropy(0.0)
        >>> float(loss(np.array([[1, 0]]), np.log(np.array([[[0.5, 0.5], [0.9, 0.1]]]))))
        0.6931...
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "masked_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.squeeze(ops.take_along_axis(log_probs, ops.expand_dims(y_true, -1), axis=-1), -1)
        if self.label_smoothing:
            nll = (1.0 - self.label_smoothing) * nll - self.label_smoothing * ops.mean(log_probs, axis=-1)
        mask = ops.cast(ops.not_equal(y_true, 0), "float32")
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def teacher_forced_scores(model, sources: list[str], targets: list[str], batch_size: int = 64) -> dict[str, float]:
    """Mean cross-entropy per target token (nats), perplexity and token accuracy under teacher forcing,
    with the model's own target vocabulary."""
    _, vocabulary = model_vocabularies(model)
    inputs, labels, _ = encode_targets(targets, vocabulary, model_max_length(model))
    total, correct, count = 0.0, 0, 0
    for begin in range(0, len(sources), batch_size):
        end = begin + batch_size
        y = labels[begin:end]
        length = max(1, int((y != 0).sum(axis=1).max()))
        y = y[:, :length]
        logits = np.asarray(model([as_sources(sources[begin:end]), inputs[begin:end, :length]], training=False),
                            np.float64)
        top = logits.max(axis=-1, keepdims=True)
        log_norm = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        nll = log_norm - np.take_along_axis(logits, y[..., None], axis=-1)[..., 0]
        mask = y != 0
        total += float(nll[mask].sum())
        correct += int(((logits.argmax(axis=-1) == y) & mask).sum())
        count += int(mask.sum())
    loss = total / max(1, count)
    return {"loss": loss, "perplexity": float(np.exp(loss)), "token_accuracy": correct / max(1, count)}


def trim_padding(x: dict, labels):
    """Cuts a batch's target ids and labels after its longest target: padding costs nothing then."""
    length = tf.maximum(1, tf.reduce_max(tf.reduce_sum(tf.cast(labels != 0, tf.int32), axis=1)))
    return {"source": x["source"], "target": x["target"][:, :length]}, labels[:, :length]


def length_sorted_batches(dataset: tf.data.Dataset, batch_size: int, *, seed: int = 0, shuffle_buffer: int = 10_000,
                          window: int = 16) -> tf.data.Dataset:
    """Training batches of similar target lengths, reshuffled every epoch.

    Each epoch the examples are shuffled, taken `window` batches at a time, sorted by target length
    within that window and cut into batches, and the batches are shuffled; with `trim_padding`
    a batch is then as long as its own longest target, not the longest of the dataset. The source
    sentences are padded to the batch's longest by the model.
    """

    def sort_window(x, labels):
        order = tf.argsort(tf.reduce_sum(tf.cast(labels != 0, tf.int32), axis=1), stable=True)
        return {"source": tf.gather(x["source"], order), "target": tf.gather(x["target"], order)}, \
            tf.gather(labels, order)

    count = int(dataset.cardinality())
    windows = make_pipeline(dataset, batch_size * window, shuffle=True, seed=seed, shuffle_buffer=shuffle_buffer)
    batches = windows.map(sort_window).unbatch().batch(batch_size).map(trim_padding)
    # Windows are whole batches but the last, so there are as many batches as without windows;
    # saying so lets Keras know the epoch's length (unbatch() forgets it).
    batches = batches.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))
    return batches.shuffle(window, seed=seed, reshuffle_each_iteration=True).prefetch(tf.data.AUTOTUNE)


def vocabulary_coverage(texts: list[str], vocabulary: list[str]) -> float:
    """Share of the tokens of `texts` that are in `vocabulary`.

    Example:
        >>> vocabulary_coverage(["Das ist gut."], ["", "[UNK]", "das", "ist", "."])
        0.75
    """
    known = set(vocabulary)
    tokens = [token for row in tokenize(texts) for token in row]
    return sum(token in known for token in tokens) / max(1, len(tokens))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class Translation(Task):
    name = "translation"
    description = ("encoder-decoder translation: Transformer or LSTM/GRU with attention, greedy and beam search, "
                   "BLEU/chrF vs TF-IDF nearest-neighbour retrieval")
    config_class = TranslationConfig
    embedded_datasets = (DeEnSentences,)
    models = ("transformer", "rnn")
    monitor = "val_loss"
    primary_metric = ("bleu", "higher", ".2f")
    benchmark_rows = (("translation-de_en_sentences-rnn", {"model": "rnn"}),)
    actions = (("translate", "translate sentences with a trained run (greedy, or --beam-size N)"),)

    # --- data -------------------------------------------------------------------------------
    def read_pairs(self, cfg: TranslationConfig) -> ParallelData:
        """The dataset's pairs, all splits (a subclass reads other pairs: the chatbot's dialogs)."""
        return load_pairs(cfg.dataset, data_dir=cfg.data_dir, direction=cfg.direction, seed=cfg.seed)

    def load_data(self, cfg: TranslationConfig) -> ParallelData:
        data = self.read_pairs(cfg)
        # Training pairs longer than the model's context are left out rather than cut: a cut target
        # would teach the decoder to stop without [end]. Validation and test pairs stay as they are.
        sources, targets = data.sources["train"], data.targets["train"]
        keep = [i for i, (s, t) in enumerate(zip(tokenize(sources), tokenize(targets)))
                if len(s) <= cfg.max_length and len(t) < cfg.max_length]
        data.left_out = len(sources) - len(keep)
        keep = keep[: cfg.max_train_samples or None]
        data.sources["train"], data.targets["train"] = [sources[i] for i in keep], [targets[i] for i in keep]
        if not keep:
            raise UsageError(f"{cfg.dataset}: no training pair fits max_length={cfg.max_length} tokens")
        # Learned here, outside the strategy scope that `build_model` runs in, from training pairs only.
        data.source_vocabulary = learn_vocabulary(data.sources["train"], max_tokens=cfg.max_tokens,
                                                  min_count=cfg.min_count)
        data.target_vocabulary = learn_vocabulary(data.targets["train"], max_tokens=cfg.max_tokens,
                                                  min_count=cfg.min_count, target=True)
        return data

    def num_train_examples(self, cfg, data: ParallelData) -> int:
        return len(data.sources["train"])

    def _dataset(self, cfg, data: ParallelData, split: str) -> tf.data.Dataset:
        inputs, labels, _ = encode_targets(data.targets[split], data.target_vocabulary, cfg.max_length)
        sources = tf.constant(as_sources(data.sources[split]).astype(str), tf.string)
        return tf.data.Dataset.from_tensor_slices(({"source": sources, "target": inputs}, labels))

    def build_inputs(self, cfg, data: ParallelData) -> dict:
        n_train = self.num_train_examples(cfg, data)
        return {
            "train": length_sorted_batches(self._dataset(cfg, data, "train"), cfg.batch_size, seed=cfg.seed,
                                           shuffle_buffer=max(n_train, 1)),
            "validation": make_pipeline(self._dataset(cfg, data, "validation"), cfg.batch_size).map(trim_padding),
            "test": make_pipeline(self._dataset(cfg, data, "test"), cfg.batch_size).map(trim_padding),
        }

    def data_summary(self, data: ParallelData) -> dict:
        return {"sizes": data.sizes, "direction": data.direction, "source_language": data.source_language,
                "target_language": data.target_language, "source_vocabulary_size": len(data.source_vocabulary),
                "target_vocabulary_size": len(data.target_vocabulary), "long_training_pairs_left_out": data.left_out}

    # --- model ------------------------------------------------------------------------------
    def build_model(self, cfg: TranslationConfig, data: ParallelData):
        try:
            return build_translator(
                data.source_vocabulary, data.target_vocabulary, model=cfg.model, max_length=cfg.max_length,
                embed_dim=cfg.embed_dim, depth=cfg.depth, heads=cfg.heads, mlp_dim=cfg.mlp_dim, units=cfg.units,
                cell=cfg.cell, bidirectional=cfg.bidirectional, attention=cfg.attention, dropout=cfg.dropout)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def build_losses(self, cfg: TranslationConfig):
        # Padding positions (label 0) count for nothing; the mean is over real target tokens.
        return MaskedCrossEntropy(cfg.label_smoothing)

    def build_metrics(self, cfg):
        return [token_accuracy]

    # --- evaluation -------------------------------------------------------------------------
    def _check_vocabulary(self, model, data: ParallelData) -> dict[str, float]:
        """The share of the test split's words the model's vocabularies know; a UsageError below MIN_COVERAGE."""
        source_vocabulary, target_vocabulary = model_vocabularies(model)
        coverage = {"source_coverage": vocabulary_coverage(data.sources["test"], source_vocabulary),
                    "target_coverage": vocabulary_coverage(data.targets["test"], target_vocabulary)}
        if min(coverage.values()) < MIN_COVERAGE:
            raise UsageError(
                f"the model's vocabularies do not match {data.name} ({data.direction}): they know "
                f"{coverage['source_coverage']:.0%} of its test source words and {coverage['target_coverage']:.0%} "
                f"of its target words (at least {MIN_COVERAGE:.0%} expected); the vocabularies live in the model, "
                "learned from its training data, so evaluate it on the same languages and direction")
        return coverage

    def _test_sentences(self, cfg: TranslationConfig, data: ParallelData) -> tuple[list[str], list[str]]:
        n = cfg.eval_sentences or None
        return data.sources["test"][:n], data.targets["test"][:n]

    def evaluate(self, model, cfg: TranslationConfig, data: ParallelData, inputs) -> dict:
        """Teacher-forced loss on the test split; BLEU and chrF of greedy and beam-search translations of
        its first `eval_sentences` sentences."""
        coverage = self._check_vocabulary(model, data)
        metrics = teacher_forced_scores(model, data.sources["test"], data.targets["test"])
        sources, references = self._test_sentences(cfg, data)
        translator = Translator(model)
        start = time.perf_counter()
        greedy = translator.translate(sources)
        greedy_seconds = time.perf_counter() - start
        start = time.perf_counter()
        beam = translator.translate(sources, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty)
        beam_seconds = time.perf_counter() - start
        scores = translation_scores(greedy, references)
        beam_scores = translation_scores(beam, references)
        long = sum(len(tokens) > translator.max_length for tokens in tokenize(sources))
        return {**scores, "bleu_beam": beam_scores["bleu"], "chrf_beam": beam_scores["chrf"], **metrics,
                "sentences": len(sources), "beam_size": cfg.beam_size, "truncated_sources": long,
                "greedy_seconds": round(greedy_seconds, 2), "beam_seconds": round(beam_seconds, 2), **coverage}

    def baselines(self, cfg: TranslationConfig, data: ParallelData) -> dict:
        """Nearest-neighbour retrieval (TF-IDF cosine over the training sources) on the same test sentences."""
        sources, references = self._test_sentences(cfg, data)
        retrieved = retrieval_translations(data.sources["train"], data.targets["train"], sources)
        return {"retrieval": translation_scores(retrieved, references)}

    def text_examples(self, model, cfg: TranslationConfig, data: ParallelData, split="test") -> dict:
        """The first `examples` sentences of the split with their reference and greedy translation
        (and beam search's at the end of training)."""
        if not cfg.examples:
            return {}
        sources, references = data.sources[split][: cfg.examples], data.targets[split][: cfg.examples]
        translator = Translator(model)
        greedy = translator.translate(sources)
        if split != "test":  # during training: greedy only, to keep the epochs short
            rows = ["| source | reference | greedy |", "|---|---|---|"]
            rows += [f"| {_cell(s)} | {_cell(r)} | {_cell(g)} |" for s, r, g in zip(sources, references, greedy)]
            return {"translations": "\n".join(rows)}
        beam = translator.translate(sources, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty)
        rows = [f"| source | reference | greedy | beam {cfg.beam_size} |", "|---|---|---|---|"]
        rows += [f"| {_cell(s)} | {_cell(r)} | {_cell(g)} | {_cell(b)} |"
                 for s, r, g, b in zip(sources, references, greedy, beam)]
        return {"translations": "\n".join(rows)}

    # --- serving ----------------------------------------------------------------------------
    def _sentences(self, model, inputs: list[str], usage: str) -> list[str]:
        """The sentences to translate (`-` reads lines from stdin); warns on stderr about ones the model cuts."""
        if inputs == ["-"]:
            inputs = [line.strip() for line in sys.stdin if line.strip()]
        if not inputs:
            raise UsageError(f"{usage} needs sentences: dlsuite translation {usage} --run DIR \"Das ist gut.\" "
                             "(or - to read lines from stdin)")
        if any(not text.strip() for text in inputs):
            raise UsageError(f"{usage} got an empty sentence")
        max_length = model_max_length(model)
        for number, tokens in enumerate(tokenize(inputs), start=1):
            if len(tokens) > max_length:
                print(f"dlsuite: warning: sentence {number} has {len(tokens)} tokens; the model reads only the "
                      f"first {max_length} (max_length) and translates those", file=sys.stderr)
        return inputs

    def predict(self, model, cfg: TranslationConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """Greedy and beam-search (`beam_size`) translations of each sentence given."""
        sentences = self._sentences(model, inputs, "predict")
        translator = Translator(model)
        greedy = translator.translate(sentences)
        beam = translator.translate(sentences, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty)
        return [{"source": s, "greedy": g, "beam": b, "beam_size": cfg.beam_size}
                for s, g, b in zip(sentences, greedy, beam)]

    def add_action_arguments(self, name: str, parser) -> None:
        parser.add_argument("sentences", nargs="*", help="sentences to translate (- reads lines from stdin)")
        parser.add_argument("--beam-size", type=int, default=1, help="beam width (default 1: greedy decoding)")
        parser.add_argument("--length-penalty", type=float, default=None,
                            help="beam search length normalisation exponent (default: the run's length_penalty)")

    def run_action(self, name: str, model, cfg: TranslationConfig, summary: dict, args) -> str:
        """`translate`: one translation per line, in the order of the sentences given."""
        if args.beam_size < 1:
            raise UsageError(f"--beam-size must be >= 1, got {args.beam_size}")
        sentences = self._sentences(model, args.sentences, "translate")
        penalty = cfg.length_penalty if args.length_penalty is None else args.length_penalty
        return "\n".join(Translator(model).translate(sentences, beam_size=args.beam_size, length_penalty=penalty))

    # --- benchmark --------------------------------------------------------------------------
    def benchmark_target(self, metrics: dict):
        if metrics["dataset"] != "de_en_sentences":
            return None
        model, baseline = metrics["test"]["bleu"], metrics["baselines"]["retrieval"]["bleu"]
        family = metrics["config"]["model"]
        return (f"{family} greedy test BLEU above TF-IDF nearest-neighbour retrieval", model > baseline,
                f"BLEU {model:.2f} (beam {metrics['test']['bleu_beam']:.2f}) vs {baseline:.2f}; chrF "
                f"{metrics['test']['chrf']:.1f} vs {metrics['baselines']['retrieval']['chrf']:.1f}")

    # --- tuning -----------------------------------------------------------------------------
    def search_space(self, hp, cfg: TranslationConfig) -> dict:
        space = {
            "embed_dim": choice(hp, "embed_dim", cfg.embed_dim, [64, 128, 256]),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.3),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 3e-4, 3e-3, log=True),
        }
        if cfg.model == "transformer":
            space["depth"] = int_range(hp, "depth", cfg.depth, 1, 3)
            space["mlp_dim"] = choice(hp, "mlp_dim", cfg.mlp_dim, [128, 256, 512])
        else:
            space["units"] = choice(hp, "units", cfg.units, [128, 256, 512])
            space["cell"] = choice(hp, "cell", cfg.cell, ["gru", "lstm"])
        return space
