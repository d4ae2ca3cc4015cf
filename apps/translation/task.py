"""Translation: a Transformer or RNN-with-attention encoder–decoder trained with teacher forcing, or a KerasHub
`Seq2SeqLM` preset fine-tuned on the pairs (`common.seq2seq.preset`), decoded greedily and with beam search, scored
with sacrebleu's BLEU and chrF against nearest-neighbour retrieval."""

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
    # pairs beyond are left out: 19,439 of 24,886 training verses stay), trains 8 epochs and decodes 200 test
    # verses: about 20 minutes on 2 CPU cores (3 epochs stayed below retrieval, 8 are well above it).
    benchmark_rows = (("translation-de_en_sentences-rnn", {"model": "rnn"}),
                      ("translation-bible_es_en", {"dataset": "bible_es_en", "max_length": 40, "epochs": 8,
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
        data.preset_lengths = None  # (encoder, decoder) tokens of a preset's packers, set by `build_model`
        if cfg.preset:
            from common.presets import check_preset

            check_preset("Seq2SeqLM", cfg.preset, app=self.name)  # before the run dir is written
        return data

    def num_train_examples(self, cfg, data: ParallelData) -> int:
        return len(data.sources["train"])

    def _dataset(self, cfg, data: ParallelData, split: str) -> tf.data.Dataset:
        inputs, labels, _ = encode_targets(data.targets[split], data.target_vocabulary, cfg.max_length)
        sources = tf.constant(as_sources(data.sources[split]).astype(str), tf.string)
        return tf.data.Dataset.from_tensor_slices(({"source": sources, "target": inputs}, labels))

    def build_inputs(self, cfg, data: ParallelData) -> dict:
        n_train = self.num_train_examples(cfg, data)
        if cfg.preset:  # strings, which the preset's preprocessor tokenizes in `fit`
            from common.seq2seq.preset import pair_dataset

            inputs = {"train": make_pipeline(pair_dataset(data.sources["train"], data.targets["train"]),
                                             cfg.batch_size, shuffle=True, seed=cfg.seed,
                                             shuffle_buffer=max(n_train, 1))}
            for split in ("validation", "test"):
                inputs[split] = make_pipeline(pair_dataset(data.sources[split], data.targets[split]), cfg.batch_size)
            return inputs
        return {
            "train": length_sorted_batches(self._dataset(cfg, data, "train"), cfg.batch_size, seed=cfg.seed,
                                           shuffle_buffer=max(n_train, 1)),
            "validation": make_pipeline(self._dataset(cfg, data, "validation"), cfg.batch_size).map(trim_padding),
            "test": make_pipeline(self._dataset(cfg, data, "test"), cfg.batch_size).map(trim_padding),
        }

    def data_summary(self, data: ParallelData) -> dict:
        return {"sizes": data.sizes, "direction": data.direction, "source_language": data.source_language,
                "target_language": data.target_language, "source_vocabulary_size": len(data.source_vocabulary),
                "target_vocabulary_size": len(data.target_vocabulary), "long_training_pairs_left_out": data.left_out,
                **self._preset_summary(data)}

    def _preset_summary(self, data: ParallelData) -> dict:
        """A preset's packer lengths (tokens of its own)."""
        lengths = getattr(data, "preset_lengths", None)
        return {"preset_encoder_length": lengths[0], "preset_decoder_length": lengths[1]} if lengths else {}

    # --- model ------------------------------------------------------------------------------
    def build_model(self, cfg: TranslationConfig, data: ParallelData):
        if cfg.preset:
            from common.seq2seq.preset import build_preset_seq2seq, fit_lengths

            task = build_preset_seq2seq(cfg.preset, app=self.name)
            data.preset_lengths = fit_lengths(task, data.sources["train"], data.targets["train"])
            return task
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

    def compile_model(self, model, cfg: TranslationConfig, steps_per_epoch: int, phase=None) -> None:
        """As every task compiles; a preset with the plain cross-entropy of its preprocessor's targets, padding
        weighted out (`common.seq2seq.preset.compile_preset`)."""
        if not cfg.preset:
            return super().compile_model(model, cfg, steps_per_epoch, phase)
        from common.optimizers import build_optimizer
        from common.seq2seq.preset import compile_preset

        compile_preset(model, build_optimizer(cfg, steps_per_epoch), jit_compile=cfg.jit_compile)

    def _preset_translator(self, model, cfg):
        """A `PresetTranslator` for a preset's task (its packer lengths from training, kept in model.keras), or
        None for the suite's own models."""
        from common.seq2seq.preset import is_seq2seq_lm, translator_of

        if not is_seq2seq_lm(model):
            return None
        return translator_of(model, cfg.batch_size)

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
        its first `eval_sentences` sentences. A preset's loss and perplexity are per word token (as the suite's
        models count them), with its own tokens' beside them (`common.seq2seq.preset.preset_scores`)."""
        preset = self._preset_translator(model, cfg)
        if preset is not None:
            return self._evaluate_preset(preset, cfg, data)
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

    def _evaluate_preset(self, translator, cfg: TranslationConfig, data: ParallelData) -> dict:
        from common.seq2seq.preset import preset_scores

        metrics = preset_scores(translator.task, data.sources["test"], data.targets["test"], cfg.batch_size)
        sources, references = self._test_sentences(cfg, data)
        start = time.perf_counter()
        greedy = translator.translate(sources)
        greedy_seconds = time.perf_counter() - start
        start = time.perf_counter()
        beam = translator.translate(sources, beam_size=cfg.beam_size)
        beam_seconds = time.perf_counter() - start
        scores, beam_scores = translation_scores(greedy, references), translation_scores(beam, references)
        long = sum(length > translator.max_length for length in translator.source_lengths(sources))
        return {**scores, "bleu_beam": beam_scores["bleu"], "chrf_beam": beam_scores["chrf"], **metrics,
                "sentences": len(sources), "beam_size": cfg.beam_size, "truncated_sources": long,
                "greedy_seconds": round(greedy_seconds, 2), "beam_seconds": round(beam_seconds, 2)}

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
        translator = self._preset_translator(model, cfg) or Translator(model)
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
    def _sentences(self, model, inputs: list[str], usage: str, preset=None) -> list[str]:
        """The sentences to translate (`-` reads lines from stdin); warns on stderr about ones the model cuts
        (`preset`: the `PresetTranslator` of a preset's task, which counts its own tokens)."""
        if inputs == ["-"]:
            inputs = [line.strip() for line in sys.stdin if line.strip()]
        if not inputs:
            raise UsageError(f"{usage} needs sentences: dlsuite translation {usage} --run DIR \"Das ist gut.\" "
                             "(or - to read lines from stdin)")
        if any(not text.strip() for text in inputs):
            raise UsageError(f"{usage} got an empty sentence")
        if preset is not None:
            for number, length in enumerate(preset.source_lengths(inputs), start=1):
                if length > preset.max_length:
                    print(f"dlsuite: warning: sentence {number} has {length} tokens of the preset; it reads only the "
                          f"first {preset.max_length} and translates those", file=sys.stderr)
            return inputs
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
        preset = self._preset_translator(model, cfg)
        sentences = self._sentences(model, inputs, "predict", preset)
        translator = preset or Translator(model)
        greedy = translator.translate(sentences)
        beam = translator.translate(sentences, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty)
        return [{"source": s, "greedy": g, "beam": b, "beam_size": cfg.beam_size}
                for s, g, b in zip(sentences, greedy, beam)]

    def run_action(self, name: str, model, cfg: TranslationConfig, summary: dict, args) -> str:
        """`translate`: one translation per line, in the order of the sentences given."""
        if args.beam_size < 1:
            raise UsageError(f"--beam-size must be >= 1, got {args.beam_size}")
        preset = self._preset_translator(model, cfg)
        sentences = self._sentences(model, args.sentences, "translate", preset)
        penalty = cfg.length_penalty if args.length_penalty is None else args.length_penalty
        if preset is not None and args.length_penalty is not None:
            print("dlsuite: warning: --length-penalty does not apply to a preset's beam search (KerasHub's "
                  "BeamSampler ranks by log-probability)", file=sys.stderr)
        translator = preset or Translator(model)
        return "\n".join(translator.translate(sentences, beam_size=args.beam_size, length_penalty=penalty))

    # --- benchmark --------------------------------------------------------------------------
    def benchmark_target(self, metrics: dict):
        if metrics["dataset"] not in ("de_en_sentences", "bible_es_en"):
            return None
        model, baseline = metrics["test"]["bleu"], metrics["baselines"]["retrieval"]["bleu"]
        family = metrics["config"].get("preset") or metrics["config"]["model"]
        return (f"{family} greedy test BLEU above TF-IDF nearest-neighbour retrieval", model > baseline,
                f"BLEU {model:.2f} (beam {metrics['test']['bleu_beam']:.2f}) vs {baseline:.2f}; chrF "
                f"{metrics['test']['chrf']:.1f} vs {metrics['baselines']['retrieval']['chrf']:.1f}")

    # --- tuning -----------------------------------------------------------------------------
    def search_space(self, hp, cfg: TranslationConfig) -> dict:
        if cfg.preset:  # the preset fixes the model's shape
            return {"learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 1e-5, 3e-3, log=True)}
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
