"""Translation: a Transformer or RNN-with-attention encoder–decoder trained with teacher forcing, decoded
greedily and with beam search, scored with sacrebleu's BLEU and chrF against nearest-neighbour retrieval."""

from __future__ import annotations

import sys
import time

import tensorflow as tf

from apps.translation.config import TranslationConfig
from apps.translation.bible import BibleEsEn
from apps.translation.data import DeEnSentences, load_pairs
from apps.translation.spec import SPEC
from common.errors import UsageError
from common.hyperparameters import choice, float_range, int_range
from common.pipeline import make_pipeline
from common.seq2seq.baseline import retrieval_translations, translation_scores
from common.seq2seq.data import ParallelData
from common.seq2seq.decoding import Translator, as_sources
from common.seq2seq.model import build_translator, model_max_length, model_vocabularies
from common.seq2seq.tokens import encode_targets, learn_vocabulary, tokenize
from common.seq2seq.training import (MaskedCrossEntropy, length_sorted_batches, markdown_cell, teacher_forced_scores,
                                     token_accuracy, trim_padding, vocabulary_coverage)
from common.task import Task

# Evaluating a model on data its vocabularies do not cover (another language pair, or the reverse
# direction) gives meaningless scores; in-domain test sets are covered at 90% or more.
MIN_COVERAGE = 0.5


class Translation(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (DeEnSentences, BibleEsEn)
    monitor = "val_loss"
    primary_metric = ("bleu", "higher", ".2f")
    # bible_es_en: verses are long (median 25 Spanish tokens), so the row reads up to 40 tokens (training
    # pairs beyond are left out: 19,439 of 24,886 training verses stay), trains 3 epochs and decodes 200 test
    # verses, to fit tens of minutes on 2 CPU cores.
    benchmark_rows = (("translation-de_en_sentences-rnn", {"model": "rnn"}),
                      ("translation-bible_es_en", {"dataset": "bible_es_en", "max_length": 40, "epochs": 3,
                                                   "eval_sentences": 200}))

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
            rows += [f"| {markdown_cell(s)} | {markdown_cell(r)} | {markdown_cell(g)} |"
                     for s, r, g in zip(sources, references, greedy)]
            return {"translations": "\n".join(rows)}
        beam = translator.translate(sources, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty)
        rows = [f"| source | reference | greedy | beam {cfg.beam_size} |", "|---|---|---|---|"]
        rows += [f"| {markdown_cell(s)} | {markdown_cell(r)} | {markdown_cell(g)} | {markdown_cell(b)} |"
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

    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported model returns `logits`: next-word logits of one decoding step, from `source` strings
        (`[n]` or `[n, 1]`) and the `target` ids so far."""
        return outputs if isinstance(outputs, dict) else {"logits": outputs}

    def predict(self, model, cfg: TranslationConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """Greedy and beam-search (`beam_size`) translations of each sentence given."""
        sentences = self._sentences(model, inputs, "predict")
        translator = Translator(model)
        greedy = translator.translate(sentences)
        beam = translator.translate(sentences, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty)
        return [{"source": s, "greedy": g, "beam": b, "beam_size": cfg.beam_size}
                for s, g, b in zip(sentences, greedy, beam)]

    def run_action(self, name: str, model, cfg: TranslationConfig, summary: dict, args) -> str:
        """`translate`: one translation per line, in the order of the sentences given."""
        if args.beam_size < 1:
            raise UsageError(f"--beam-size must be >= 1, got {args.beam_size}")
        sentences = self._sentences(model, args.sentences, "translate")
        penalty = cfg.length_penalty if args.length_penalty is None else args.length_penalty
        return "\n".join(Translator(model).translate(sentences, beam_size=args.beam_size, length_penalty=penalty))

    # --- benchmark --------------------------------------------------------------------------
    def benchmark_target(self, metrics: dict):
        if metrics["dataset"] not in ("de_en_sentences", "bible_es_en"):
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
