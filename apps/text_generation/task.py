"""Text generation: a character-level GRU/LSTM or GPT-style decoder language model, or a KerasHub `CausalLM`
preset fine-tuned on the text, against an interpolated Witten-Bell n-gram model on the same held-out text, with
incremental sampling."""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np

from apps.text_generation.config import TextGenerationConfig
from apps.text_generation.data import (
    Corpus,
    encode,
    evaluation_windows,
    learn_vocabulary,
    load_corpus,
    training_windows,
)
from apps.text_generation.generation import check_sampling, generate, resolve_sampler, vocabulary_of
from apps.text_generation.model import build_language_model
from apps.text_generation.spec import SPEC
from common.errors import UsageError
from common.hyperparameters import choice, float_range, int_range
from common.optimizers import build_optimizer
from common.pipeline import make_pipeline
from common.task import Task


def score(model, x: np.ndarray, y: np.ndarray, batch_size: int = 64) -> dict:
    """Mean next-character cross-entropy (nats), bits per character, perplexity and accuracy of `model` on windows.

    Args:
        model: ids -> logits.
        x, y: windows and their targets, `(windows, length)` ids.
        batch_size: windows per forward pass.
    """
    total, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = np.asarray(model.predict_on_batch(x[start:start + batch_size]), np.float64)
        targets = y[start:start + batch_size]
        top = logits.max(axis=-1, keepdims=True)
        log_norm = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        total += float((log_norm - np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]).sum())
        correct += int((logits.argmax(axis=-1) == targets).sum())
    count = int(y.size)
    loss = total / count
    return {"loss": loss, "bits_per_character": loss / math.log(2), "perplexity": math.exp(loss),
            "accuracy": correct / count, "characters": count}


def example_prompts(text: str, count: int, length: int = 48) -> list[str]:
    """`count` prompts of up to `length` characters, each from the start of a line at evenly spaced places of `text`."""
    prompts = []
    for i in range(count):
        start = text.find("\n", i * len(text) // max(1, count))
        start = 0 if start < 0 else start + 1
        prompt = text[start:start + length]
        if prompt.strip():
            prompts.append(prompt)
    return prompts


def _indent(text: str) -> str:
    """A markdown code block (indented), which keeps the text's spacing and shows markup as is."""
    return "\n".join("    " + line for line in text.split("\n"))


def continue_text(model, cfg: TextGenerationConfig, prompt: str, length: int, *, seed: int, warn=None) -> str:
    """The continuation of `prompt` by a trained model with the config's sampler and settings: a character
    model's incremental decoding (`generation.generate`), or a preset's own `generate` (`preset.generate_text`).
    `warn` (default: a line on stderr) is told when the prompt or the length is cut to the model's context."""
    from apps.text_generation.preset import generate_text, is_causal_lm

    check_sampling(cfg.temperature, cfg.top_k, cfg.top_p, length)
    warned = {} if warn is None else {"warn": warn}
    if is_causal_lm(model):
        return generate_text(model, prompt, length, sampler=cfg.sampler, temperature=cfg.temperature,
                             top_k=cfg.top_k, top_p=cfg.top_p, seed=seed, **warned)
    _, temperature, top_k, top_p = resolve_sampler(cfg.sampler, cfg.temperature, cfg.top_k, cfg.top_p)
    return generate(model, prompt, length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, **warned)


class TextGeneration(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    monitor = "val_loss"
    primary_metric = ("bits_per_character", "lower", ".3f")
    # The GPT takes cheaper steps but needs more of them: 12 x 50 steps, also about 5 minutes.
    benchmark_rows = (("text_generation-pydoc_topics-gpt",
                       {"model": "gpt", "depth": 3, "learning_rate": 2e-3, "epochs": 12}),)

    # --- data -------------------------------------------------------------------------------
    def load_data(self, cfg: TextGenerationConfig) -> Corpus:
        corpus = load_corpus(cfg.dataset, data_dir=cfg.data_dir)
        if len(corpus.texts["train"]) < cfg.sequence_length + 1:
            raise UsageError(f"{cfg.dataset}: its training part has {len(corpus.texts['train'])} characters, fewer "
                             f"than sequence_length + 1 = {cfg.sequence_length + 1}; use a longer text or a smaller "
                             "--set sequence_length=N")
        for split in ("validation", "test"):
            if len(corpus.texts[split]) < 2:
                raise UsageError(f"{cfg.dataset}: its {split} part has {len(corpus.texts[split])} characters; "
                                 "a language model needs a longer text (80/10/10 split)")
        # The characters serve the n-gram baseline (and the character models).
        corpus.vocabulary = learn_vocabulary(corpus.texts["train"])
        corpus.ids = {split: encode(text, corpus.vocabulary) for split, text in corpus.texts.items()}
        if cfg.preset:
            from apps.text_generation.preset import window_characters
            from common.presets import check_preset

            tokenizer = check_preset("CausalLM", cfg.preset, app=self.name)  # before the run dir is written
            corpus.token_vocabulary_size = int(tokenizer.vocabulary_size())
            corpus.window_characters = window_characters(tokenizer, corpus.texts["train"], cfg.sequence_length)
        return corpus

    def num_train_examples(self, cfg: TextGenerationConfig, data: Corpus) -> int:
        return min(cfg.epoch_examples, cfg.max_train_samples) if cfg.max_train_samples else cfg.epoch_examples

    def _windows(self, cfg: TextGenerationConfig, data: Corpus, split: str):
        return evaluation_windows(data.ids[split], cfg.sequence_length)

    def build_inputs(self, cfg: TextGenerationConfig, data: Corpus) -> dict:
        import tensorflow as tf

        if data.window_characters:  # a preset: strings, which its preprocessor tokenizes in `fit`
            from apps.text_generation.preset import consecutive_text_windows, random_text_windows

            train = random_text_windows(data.texts["train"], data.window_characters,
                                        self.num_train_examples(cfg, data), seed=cfg.seed)
            inputs = {"train": make_pipeline(train, cfg.batch_size, cache=False)}
            for split in ("validation", "test"):
                windows = consecutive_text_windows(data.texts[split], data.window_characters)
                inputs[split] = make_pipeline(tf.data.Dataset.from_tensor_slices(windows), cfg.batch_size)
            return inputs
        train = training_windows(data.ids["train"], cfg.sequence_length, self.num_train_examples(cfg, data),
                                 seed=cfg.seed)
        inputs = {"train": make_pipeline(train, cfg.batch_size, cache=False)}
        for split in ("validation", "test"):
            inputs[split] = make_pipeline(tf.data.Dataset.from_tensor_slices(self._windows(cfg, data, split)),
                                          cfg.batch_size)
        return inputs

    def data_summary(self, data: Corpus) -> dict:
        if data.window_characters:
            return {"characters": data.sizes, "vocabulary_size": data.token_vocabulary_size, "level": "token",
                    "window_characters": data.window_characters}
        return {"characters": data.sizes, "vocabulary_size": len(data.vocabulary) + 1, "level": "character"}

    # --- model ------------------------------------------------------------------------------
    def build_model(self, cfg: TextGenerationConfig, data: Corpus):
        if cfg.preset:
            from apps.text_generation.preset import build_preset_lm

            return build_preset_lm(cfg.preset, sequence_length=cfg.sequence_length)
        try:
            return build_language_model(
                data.vocabulary, model=cfg.model, sequence_length=cfg.sequence_length, embed_dim=cfg.embed_dim,
                depth=cfg.depth, heads=cfg.heads, mlp_dim=cfg.mlp_dim, rnn_units=cfg.rnn_units, dropout=cfg.dropout,
                conv_kernel=cfg.conv_kernel)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def compile_model(self, model, cfg: TextGenerationConfig, steps_per_epoch: int, phase=None) -> None:
        """As every task compiles, plus learning-rate warm-up and gradient clipping (`warmup_steps`, `clipnorm`).

        A preset's padding (the short last window of a text) has zero sample weight, so its accuracy is
        a weighted metric, as `CausalLM.compile` has it."""
        optimizer = build_optimizer(cfg, steps_per_epoch, warmup_steps=cfg.effective_warmup_steps,
                                    global_clipnorm=cfg.effective_clipnorm or None)
        if cfg.preset:
            import keras

            model.compile(optimizer=optimizer, loss=self.build_losses(cfg), jit_compile=cfg.jit_compile,
                          weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
            return
        model.compile(optimizer=optimizer, loss=self.build_losses(cfg), metrics=self.build_metrics(cfg),
                      jit_compile=cfg.jit_compile)

    def build_losses(self, cfg):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def build_metrics(self, cfg):
        return ["accuracy"]

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, model, cfg: TextGenerationConfig, data: Corpus, inputs) -> dict:
        """Cross-entropy (nats), bits per character, perplexity and next-character accuracy on the test windows;
        for a preset, per character over the whole test text and per token (`preset.score_text`)."""
        from apps.text_generation.preset import is_causal_lm, score_text

        if is_causal_lm(model):
            return score_text(model, data.texts["test"], cfg.batch_size)
        if vocabulary_of(model) != data.vocabulary:
            raise UsageError(f"{data.name} has another character vocabulary ({len(data.vocabulary)} characters) than "
                             f"the model ({len(vocabulary_of(model))}); evaluate on text with the same characters")
        x, y = self._windows(cfg, data, "test")
        return score(model, x, y, cfg.batch_size)

    def baselines(self, cfg: TextGenerationConfig, data: Corpus) -> dict:
        """Interpolated Witten-Bell n-gram, n in 1..ngram_max_order chosen on validation; scored on the model's
        test targets."""
        from apps.text_generation.ngram import ngram_baseline

        x, _ = self._windows(cfg, data, "test")
        return {"ngram": ngram_baseline(data.ids["train"], data.ids["validation"], data.ids["test"],
                                        vocabulary_size=len(data.vocabulary) + 1, max_order=cfg.ngram_max_order,
                                        test_stop=x.size + 1)}

    def text_examples(self, model, cfg: TextGenerationConfig, data: Corpus, split="test") -> dict:
        """Continuations of `examples` prompts taken from the split's text, sampled with the config's settings."""
        if not cfg.examples:
            return {}
        name, temperature, top_k, top_p = resolve_sampler(cfg.sampler, cfg.temperature, cfg.top_k, cfg.top_p)
        settings = (f"{name} sampler, temperature {temperature:g}, top-k {top_k or 'off'}, top-p {top_p:g}, "
                    f"seed {cfg.seed}")
        # A preset writes up to generate_length tokens: fewer where it writes its end token or its context is full.
        amount = f"up to {cfg.generate_length} tokens" if cfg.preset else f"{cfg.generate_length} characters"
        parts = [f"{cfg.preset or cfg.model} on {data.name}, {amount} after prompts from the {split} text; "
                 f"{settings}."]
        for number, prompt in enumerate(example_prompts(data.texts[split], cfg.examples), start=1):
            # Cut prompts and lengths are the examples' business, not warnings in the training output.
            text = continue_text(model, cfg, prompt, cfg.generate_length, seed=cfg.seed + number,
                                 warn=lambda message: None)
            parts += [f"**Example {number}**, prompt:", _indent(prompt), "continuation:", _indent(text)]
        return {"generations": "\n\n".join(parts)}

    # --- serving ----------------------------------------------------------------------------
    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported model returns `logits`: next-token logits at every position of the ids given."""
        return outputs if isinstance(outputs, dict) else {"logits": outputs}

    def predict(self, model, cfg: TextGenerationConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """The continuation of each prompt (`-` reads one prompt per line from stdin), sampled with the config's
        settings (`--set temperature=0.5` etc.)."""
        if inputs == ["-"]:
            inputs = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if not inputs:
            raise UsageError('predict needs prompts: dlsuite text_generation predict --run DIR "def " "The " '
                             '(or - for lines from stdin; `generate --prompt` has more options)')
        return [{"prompt": prompt, "continuation": continue_text(model, cfg, prompt, cfg.generate_length,
                                                                 seed=cfg.seed)}
                for prompt in inputs]

    def run_action(self, name: str, model, cfg: TextGenerationConfig, summary: dict, args) -> str:
        """`generate`: the prompt followed by the sampled continuation (a cut prompt is warned about on stderr)."""
        def given(value, default):
            return default if value is None else value

        cfg = dataclasses.replace(cfg, sampler=given(args.sampler, cfg.sampler),
                                  temperature=given(args.temperature, cfg.temperature),
                                  top_k=given(args.top_k, cfg.top_k), top_p=given(args.top_p, cfg.top_p))
        return args.prompt + continue_text(model, cfg, args.prompt, given(args.length, cfg.generate_length),
                                           seed=given(args.seed, cfg.seed))

    # --- benchmark and tuning ---------------------------------------------------------------
    def benchmark_target(self, metrics: dict):
        if metrics["dataset"] != "pydoc_topics":
            return None
        model, baseline = metrics["test"]["bits_per_character"], metrics["baselines"]["ngram"]
        config = metrics["config"]
        return (f"{config.get('preset') or config['model']} bits per character below the n-gram baseline's",
                model < baseline["bits_per_character"],
                f"{model:.3f} vs {baseline['bits_per_character']:.3f} bits/char ({baseline['order']}-gram)")

    def search_space(self, hp, cfg: TextGenerationConfig) -> dict:
        if cfg.preset:  # the preset fixes the model's shape
            return {"learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 1e-5, 3e-3, log=True)}
        widths = [dim for dim in (64, 128, 256) if cfg.model != "gpt" or dim % cfg.heads == 0]
        space = {
            "embed_dim": choice(hp, "embed_dim", cfg.embed_dim, widths),
            "depth": int_range(hp, "depth", cfg.depth, 1, 4),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.3),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 3e-4, 5e-3, log=True),
        }
        if cfg.model == "gpt":
            space["mlp_dim"] = choice(hp, "mlp_dim", cfg.mlp_dim, [256, 512, 1024])
            space["conv_kernel"] = choice(hp, "conv_kernel", cfg.conv_kernel, [0, 4])
        else:
            space["rnn_units"] = choice(hp, "rnn_units", cfg.rnn_units, [128, 256, 512])
        return space
