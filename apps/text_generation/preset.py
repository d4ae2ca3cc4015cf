"""A KerasHub `CausalLM` preset as the language model: fine-tuned on the corpus with its own tokenizer,
scored in bits per character, sampled with its own `generate` and a KerasHub sampler.

* The model of a `--preset` run is the `keras_hub.models.CausalLM` task itself (backbone, LM head and
  its `CausalLMPreprocessor`), so `model.keras` carries the tokenizer and `export --format preset`
  (`common.presets.export_preset`) writes a folder any KerasHub user loads with
  `keras_hub.models.CausalLM.from_preset`.
* Training examples are strings: windows of the training text at random positions, long enough for
  `sequence_length` tokens, which `fit` turns into token ids, next-token targets and padding weights
  with the preset's preprocessor (`CausalLMPreprocessor`: a start token, then the window's first
  `sequence_length` tokens). The windows are cut from running text, so the preprocessor adds no end
  token: one at every window's end would teach the model that text stops there, and `generate`
  stops at it.
* Bits per character (`score_text`): the whole test text is tokenized once and cut into consecutive
  windows of `sequence_length` tokens, each after a start token as in training, so every token is
  predicted once; the summed cross-entropy in nats over the number of characters and ln 2 is
  comparable with the character models and the n-gram whatever the tokenizer.
"""

from __future__ import annotations

import math
import sys

import keras
import numpy as np

from apps.text_generation.generation import check_sampling, resolve_sampler
from common.errors import UsageError
from common.presets import keras_hub_module as hub, set_sampler, text_of as _text


def is_causal_lm(model) -> bool:
    """Whether `model` is a KerasHub `CausalLM` task (the model of a `--preset` run)."""
    return isinstance(model, hub().models.CausalLM)


def _ids(tokenizer, text: str) -> np.ndarray:
    return np.asarray(tokenizer(text), np.int64).reshape(-1)


def window_characters(tokenizer, text: str, tokens: int, sample: int = 100_000) -> int:
    """Characters of `text` that hold about `tokens` tokens and then some (a quarter more, plus 16), from the
    tokenizer's characters per token on the first `sample` characters; at most the whole text."""
    head = text[:sample]
    rate = len(head) / max(1, len(_ids(tokenizer, head)))
    return min(len(text), int(math.ceil(tokens * rate * 1.25)) + 16)


def random_text_windows(text: str, characters: int, count: int, seed: int = 0):
    """`count` windows of `characters` characters of `text` at random starts, new ones every epoch, as a
    `tf.data.Dataset` of strings (cut at character boundaries of the UTF-8 text)."""
    import tensorflow as tf

    encoded = text.encode("utf-8")
    raw = np.frombuffer(encoded, np.uint8)
    # The byte offset of every character (continuation bytes are 10xxxxxx), and of the end.
    offsets = np.append(np.flatnonzero((raw & 0xC0) != 0x80), len(encoded)).astype(np.int64)
    characters = min(characters, len(text))
    starts = len(text) - characters + 1
    data, offsets = tf.constant(encoded), tf.constant(offsets)

    def window(r):
        start = tf.math.floormod(r, starts)
        begin, end = offsets[start], offsets[start + characters]
        return tf.strings.substr(data, begin, end - begin)

    return (tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(count)
            .map(window, num_parallel_calls=tf.data.AUTOTUNE))


def consecutive_text_windows(text: str, characters: int) -> list[str]:
    """`text` cut into consecutive windows of `characters` characters (the last one shorter)."""
    return [text[i:i + characters] for i in range(0, len(text), max(1, characters))]


def build_preset_lm(preset: str, *, sequence_length: int):
    """The KerasHub `CausalLM` of a preset, uncompiled, its preprocessor set to `sequence_length` tokens (at
    most the backbone's context) and no end token (windows of running text).

    Args:
        preset: a local preset folder (`save_to_preset`), a built-in KerasHub name or a `kaggle://` /
            `hf://` handle (these need internet).
        sequence_length: tokens per training window.
    """
    from common.presets import load_task

    task = load_task("CausalLM", preset, app="text_generation", compile=False)
    if task.preprocessor is None:
        raise UsageError(f"preset {preset} has no preprocessor (preprocessor.json); text_generation needs its "
                         "tokenizer to read the text")
    longest = getattr(task.backbone, "max_sequence_length", None)
    task.preprocessor.sequence_length = min(sequence_length, longest) if longest else sequence_length
    task.preprocessor.add_end_token = False
    return task


def token_windows(ids, length: int, start_id: int | None, pad_id: int = 0):
    """Consecutive windows over token ids in which every token is a target once: `(x, y, mask)`, each
    `(windows, length)`, the last window padded (`mask` False there).

    With a start token each window is the start token and the first `length - 1` of its `length` targets
    (as the preprocessor packs a training window); without one, the first token is context only and each
    window reads the token before each target.

    Example:
        >>> x, y, mask = token_windows([5, 6, 7, 8, 9], 2, start_id=1)
        >>> x.tolist(), y.tolist(), mask.tolist()
        ([[1, 5], [1, 7], [1, 9]], [[5, 6], [7, 8], [9, 0]], [[True, True], [True, True], [True, False]])
    """
    ids = np.asarray(ids, np.int64).reshape(-1)
    first = 0 if start_id is not None else 1
    targets = ids[first:]
    count = max(1, -(-len(targets) // length))
    size = count * length

    def padded(values):
        out = np.full(size, pad_id, np.int64)
        out[:len(values)] = values
        return out.reshape(count, length)

    y = padded(targets)
    mask = padded(np.ones(len(targets), np.int64)).astype(bool)
    if start_id is not None:
        x = np.concatenate([np.full((count, 1), start_id, np.int64), y[:, :-1]], axis=1)
    else:
        x = padded(ids[:-1])
    return x, y, mask


def score_text(task, text: str, batch_size: int = 32) -> dict:
    """Cross-entropy of a `CausalLM` on `text`, per character and per token.

    Returns:
        {"loss": nats per character, "bits_per_character", "perplexity" (per character), "token_loss",
        "token_perplexity", "token_accuracy" (next-token), "characters", "tokens"}: the characters are those
        of the predicted tokens, the whole text where the tokenizer has a start token.
    """
    preprocessor = task.preprocessor
    tokenizer = preprocessor.tokenizer
    start = tokenizer.start_token_id if preprocessor.add_start_token else None
    ids = _ids(tokenizer, text)
    if len(ids) < (1 if start is not None else 2):
        raise UsageError(f"the text to score has {len(ids)} token(s); it needs more")
    x, y, mask = token_windows(ids, preprocessor.sequence_length, start, tokenizer.pad_token_id or 0)
    total, correct = 0.0, 0
    for begin in range(0, len(x), batch_size):
        batch = {"token_ids": x[begin:begin + batch_size], "padding_mask": mask[begin:begin + batch_size]}
        # keras.Model's own predict_on_batch: the task's would run the preprocessor on these ids again.
        logits = np.asarray(keras.Model.predict_on_batch(task, batch), np.float64)
        targets, weights = y[begin:begin + batch_size], batch["padding_mask"]
        top = logits.max(axis=-1, keepdims=True)
        log_norm = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        nats = log_norm - np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
        total += float(nats[weights].sum())
        correct += int(((logits.argmax(axis=-1) == targets) & weights).sum())
    tokens = int(mask.sum())
    characters = len(text) if start is not None else len(text) - len(_text(tokenizer.detokenize(ids[:1])))
    loss = total / max(1, characters)
    return {"loss": loss, "bits_per_character": loss / math.log(2), "perplexity": math.exp(loss),
            "token_loss": total / tokens, "token_perplexity": math.exp(total / tokens),
            "token_accuracy": correct / tokens, "characters": characters, "tokens": tokens}


def keras_hub_sampler(name: str, temperature: float, top_k: int, top_p: float, seed: int):
    """The `keras_hub.samplers` sampler `name` (from `generation.resolve_sampler`) with these settings."""
    samplers = hub().samplers
    if name == "greedy":
        return samplers.GreedySampler()
    if name == "random":
        return samplers.RandomSampler(seed=seed, temperature=temperature)
    if name == "top_k":
        return samplers.TopKSampler(k=top_k, seed=seed, temperature=temperature)
    return samplers.TopPSampler(p=top_p, k=top_k or None, seed=seed, temperature=temperature)


def _warn(message: str) -> None:
    print(f"dlsuite: warning: {message}", file=sys.stderr)


def generate_text(task, prompt: str, length: int, *, sampler: str = "auto", temperature: float = 1.0,
                  top_k: int = 0, top_p: float = 1.0, seed: int = 0, warn=_warn) -> str:
    """The continuation `task.generate` writes after `prompt`: up to `length` new tokens (fewer where it writes
    the end token), sampled with the KerasHub sampler that `sampler` and the settings name.

    A prompt longer than half the preset's context is cut to its last tokens, and `length` to what the
    context holds, each with a warning.

    Example:
        >>> text = generate_text(causal_lm, "The ", 20, sampler="top_p", temperature=0.8, top_p=0.95, seed=1)
    """
    check_sampling(temperature, top_k, top_p, length)
    name, temperature, top_k, top_p = resolve_sampler(sampler, temperature, top_k, top_p)
    preprocessor = task.preprocessor
    tokenizer = preprocessor.tokenizer
    extra = 1 if preprocessor.add_start_token and tokenizer.start_token_id is not None else 0
    if not prompt and not extra:
        prompt = "\n"  # something to continue: the start of a line
    ids = _ids(tokenizer, prompt)
    context = getattr(task.backbone, "max_sequence_length", None)
    if context and len(ids) + extra + length > context:
        keep = context // 2 - extra
        if len(ids) > keep:
            warn(f"the prompt has {len(ids)} tokens, too many to write {length} more in the preset's context of "
                 f"{context}; it continues the last {keep}")
            ids = ids[-keep:]
            prompt = _text(tokenizer.detokenize(ids))
            ids = _ids(tokenizer, prompt)
        if len(ids) + extra + length > context:
            length = context - len(ids) - extra
            warn(f"the preset's context of {context} tokens holds {length} more after the prompt; it writes those")
    set_sampler(task, keras_hub_sampler(name, temperature, top_k, top_p, seed))
    return _text(task.generate(prompt, max_length=len(ids) + extra + length, strip_prompt=True))
