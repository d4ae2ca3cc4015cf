"""Incremental decoding and sampling: text from a trained character language model, one character at a time.

Each new character costs one step, not a run over the whole sequence:

* `GPTDecoder` keeps every block's attention keys and values (a KV cache of fixed size, the one
  `keras_hub.layers.TransformerDecoder` takes as `self_attention_cache`) and feeds only the new
  token, at the next position. The GPT has `sequence_length` learned positions; when the text
  reaches them, the decoder starts again from the last half of the context (one full pass, then
  incremental again), so long generations cost about two steps per character.
* `RecurrentDecoder` carries the LSTM/GRU states from step to step through the layers' own cells.

Both share the trained model's layers (no copy of the weights) and give the same logits as one
call of the model on the whole sequence (tested to 1e-4). On the TensorFlow backend a step runs as
a `tf.function` graph, traced once.

Sampling (`sample_next`): logits / temperature (0 = greedy), then top-k, then top-p (nucleus)
filtering, from a seeded NumPy generator, so a seed gives the same text every time. The
out-of-vocabulary id is never generated.

Prompts (`generate`): a character outside the model's vocabulary is an error (there is no useful
embedding for the unknown id: it never occurs in training text); a prompt longer than the GPT's
context is cut to its last `sequence_length` characters, with a warning on stderr.
"""

from __future__ import annotations

import sys
import weakref

import keras
import numpy as np
from keras import ops

from apps.text_generation.data import OOV_ID
from apps.text_generation.model import CharacterEmbedding
from common.errors import UsageError


def _compiled(function):
    """`function` as a TensorFlow graph on the TensorFlow backend (eager steps cost ~100 small op launches
    each); as is on the others."""
    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    return tf.function(function, reduce_retracing=True)


class GPTDecoder:
    """Incremental decoding of a GPT built by `build_language_model(model="gpt")`, with a KV cache.

    Each block keeps the keys and values of every position fed so far in a fixed-size cache of
    `context` slots; `feed` runs the blocks on the new ids only, at the next positions.

    Example:
        >>> lm = build_language_model(list("abcdefgh"), sequence_length=16, embed_dim=8, heads=2, mlp_dim=16)
        >>> decoder = GPTDecoder(lm)
        >>> decoder.feed(np.array([[5, 8, 2]])).shape  # the prompt: logits after each of its 3 characters
        (1, 3, 9)
        >>> decoder.feed(np.array([[7]])).shape        # one more character, at position 3
        (1, 1, 9)
    """

    def __init__(self, model: keras.Model):
        import keras_hub

        self.embedding = model.get_layer("embedding")
        self.positions = model.get_layer("position_embedding")
        self.blocks = [layer for layer in model.layers if isinstance(layer, keras_hub.layers.TransformerDecoder)]
        self.final_norm = model.get_layer("final_norm")
        self.logits = model.get_layer("logits")
        self.context = self.positions.sequence_length
        names = {layer.name for layer in model.layers}
        # The optional causal convolution keeps the embeddings of the last kernel - 1 characters.
        self.conv = model.get_layer("local_conv") if "local_conv" in names else None
        self._run = _compiled(self._forward)
        self.reset()

    def reset(self) -> None:
        """Forgets everything fed (the next id goes to position 0)."""
        self.caches = None
        self.length = 0

    def _forward(self, ids, caches, position):
        x = self.embedding(ids)
        caches = list(caches)
        if self.conv is not None:
            window = ops.concatenate([caches.pop(), x], axis=1)  # the zeros of a fresh start are the causal padding
            keep = self.conv.kernel_size[0] - 1
            x = x + self.conv(window)[:, keep:]
            conv_state = window[:, -keep:]
        x = x + self.positions(x, start_index=position)
        updated = []
        for block, cache in zip(self.blocks, caches):
            x, cache = block(x, self_attention_cache=cache, self_attention_cache_update_index=position,
                             training=False)
            updated.append(cache)
        if self.conv is not None:
            updated.append(conv_state)
        return self.logits(self.final_norm(x)), updated

    def feed(self, ids) -> np.ndarray:
        """Logits `(batch, n, vocabulary + 1)` after each of the `n` new ids `(batch, n)`, which join the cache."""
        ids = np.asarray(ids, np.int32)
        if self.length + ids.shape[1] > self.context:
            raise ValueError(f"the GPT's context holds {self.context} characters; "
                             f"{self.length} + {ids.shape[1]} do not fit")
        if self.caches is None:
            # (batch, keys and values, positions, heads, head width), as TransformerDecoder takes it
            heads = self.blocks[0].num_heads
            shape = (ids.shape[0], 2, self.context, heads, self.embedding.output_dim // heads)
            self.caches = [ops.zeros(shape, block.compute_dtype) for block in self.blocks]
            if self.conv is not None:
                self.caches.append(ops.zeros((ids.shape[0], self.conv.kernel_size[0] - 1, self.embedding.output_dim),
                                             self.embedding.compute_dtype))
        logits, self.caches = self._run(ops.convert_to_tensor(ids), self.caches,
                                        ops.convert_to_tensor(self.length, "int32"))
        self.length += ids.shape[1]
        return ops.convert_to_numpy(logits)


class RecurrentDecoder:
    """Incremental decoding of an LSTM/GRU model from `build_language_model`: the states are carried.

    The layers' cells (`keras.layers.LSTMCell`, `GRUCell`) are the ones the layers run over a
    sequence, so a step here is exactly a step of the full pass.
    """

    context = None  # any length

    def __init__(self, model: keras.Model):
        self.embedding = model.get_layer("embedding")
        self.recurrent = [layer for layer in model.layers if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))]
        self.logits = model.get_layer("logits")
        self._run = _compiled(self._step)
        self.reset()

    def reset(self) -> None:
        """Forgets everything fed (the states start again from zeros)."""
        self.states = None
        self.length = 0

    def _step(self, ids, states):
        h = self.embedding(ids)[:, 0]
        updated = []
        for layer, state in zip(self.recurrent, states):
            h, state = layer.cell(h, state, training=False)
            updated.append(list(state) if isinstance(state, (list, tuple)) else [state])
        return self.logits(h), updated

    def feed(self, ids) -> np.ndarray:
        """Logits `(batch, n, vocabulary + 1)` after each of the `n` new ids `(batch, n)`, continuing the states."""
        ids = np.asarray(ids, np.int32)
        if self.states is None:
            self.states = [list(layer.cell.get_initial_state(ids.shape[0])) for layer in self.recurrent]
        outputs = []
        for t in range(ids.shape[1]):
            logits, self.states = self._run(ops.convert_to_tensor(ids[:, t:t + 1]), self.states)
            outputs.append(ops.convert_to_numpy(logits))
        self.length += ids.shape[1]
        return np.stack(outputs, axis=1)


# One decoder per model, so that its compiled step is traced once, not at every `generate` call.
_DECODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def make_decoder(model: keras.Model):
    """The incremental decoder of a model from `build_language_model` (GPT or recurrent), reset.

    Decoders share the model's layers (and so its current weights); the same model gets the same
    decoder back.
    """
    decoder = _DECODERS.get(model)
    if decoder is None:
        if any(type(layer).__name__ == "TransformerDecoder" for layer in model.layers):  # KerasHub's
            decoder = GPTDecoder(model)
        elif any(isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)) for layer in model.layers):
            decoder = RecurrentDecoder(model)
        else:
            raise UsageError(f"model {model.name!r} is not a text_generation language model")
        _DECODERS[model] = decoder
    decoder.reset()
    return decoder


def vocabulary_of(model: keras.Model) -> list[str]:
    """The characters a model reads and writes (ids 1..len; 0 is out-of-vocabulary)."""
    layer = model.get_layer("embedding")
    if not isinstance(layer, CharacterEmbedding):
        raise UsageError(f"model {model.name!r} has no character vocabulary")
    return layer.vocabulary


def check_sampling(temperature: float, top_k: int, top_p: float, length: int = 1) -> None:
    """Raises UsageError for sampling settings outside their ranges."""
    if not temperature >= 0:
        raise UsageError(f"temperature={temperature} must be >= 0 (0 = greedy)")
    if top_k < 0:
        raise UsageError(f"top_k={top_k} must be >= 0 (0 = all characters)")
    if not 0 < top_p <= 1:
        raise UsageError(f"top_p={top_p} must be in (0, 1]")
    if length < 1:
        raise UsageError(f"length={length} must be >= 1")


SAMPLERS = ("auto", "greedy", "random", "top_k", "top_p")


def resolve_sampler(sampler: str, temperature: float, top_k: int, top_p: float) -> tuple[str, float, int, float]:
    """The sampler that `sampler` names and the settings it samples with: (name, temperature, top_k, top_p).

    `name` is one of greedy, random, top_k, top_p (as `keras_hub.samplers` names them); settings a
    sampler does not use come back neutral (top_k 0, top_p 1), so `sample_next` with them draws as
    that sampler does. Temperature 0 is greedy whatever the sampler; "auto" picks top_p when
    top_p < 1, else top_k when top_k > 0, else random.

    Example:
        >>> resolve_sampler("auto", 0.8, 0, 0.95)
        ('top_p', 0.8, 0, 0.95)
        >>> resolve_sampler("top_k", 0.8, 5, 0.95)
        ('top_k', 0.8, 5, 1.0)
    """
    if sampler not in SAMPLERS:
        raise UsageError(f"sampler={sampler!r} is not one of: {', '.join(SAMPLERS)}")
    if sampler == "greedy" or temperature == 0:
        return "greedy", 0.0, 0, 1.0
    if sampler == "auto":
        sampler = "top_p" if top_p < 1 else "top_k" if top_k > 0 else "random"
    if sampler == "random":
        return "random", temperature, 0, 1.0
    if sampler == "top_k":
        if top_k < 1:
            raise UsageError("sampler=top_k needs top_k >= 1 (--top-k K or --set top_k=K)")
        return "top_k", temperature, top_k, 1.0
    return "top_p", temperature, top_k, top_p


def sample_next(logits, rng: np.random.Generator, *, temperature: float = 1.0, top_k: int = 0,
                top_p: float = 1.0) -> int:
    """Draws the next id from one position's logits.

    Args:
        logits: `(vocabulary + 1,)` unnormalised log-probabilities.
        rng: the seeded generator (the only source of randomness).
        temperature: divides the logits: < 1 sharpens, > 1 flattens; 0 picks the likeliest id.
        top_k: keep only the k likeliest ids (0 = all).
        top_p: keep only the smallest set of likeliest ids whose probability reaches top_p (1 = all).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sample_next(np.array([0.0, 1.0, 3.0, 2.0]), rng, top_k=1)
        2
    """
    logits = np.array(logits, np.float64).reshape(-1)
    logits[OOV_ID] = -np.inf  # never write the unknown character
    if temperature == 0:
        return int(np.argmax(logits))
    logits = logits / temperature
    if 0 < top_k < len(logits):
        kth = np.sort(logits)[-top_k]
        logits[logits < kth] = -np.inf
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    if top_p < 1.0:
        order = np.argsort(-probabilities, kind="stable")
        before = np.cumsum(probabilities[order]) - probabilities[order]  # mass of the likelier ids
        drop = order[before >= top_p]  # the likeliest id is always kept (nothing before it)
        probabilities[drop] = 0.0
        probabilities /= probabilities.sum()
    return int(rng.choice(len(probabilities), p=probabilities))


def _warn(message: str) -> None:
    print(f"dlsuite: warning: {message}", file=sys.stderr)


def encode_prompt(prompt: str, vocabulary: list[str]) -> list[int]:
    """Ids of a prompt; characters outside the vocabulary are a UsageError naming them.

    An empty prompt starts after a newline (the start of a line), or the vocabulary's first
    character when the training text had no newline.
    """
    index = {char: i + 1 for i, char in enumerate(vocabulary)}
    unknown = sorted({char for char in prompt if char not in index})
    if unknown:
        shown = "".join(unknown[:10]) + ("..." if len(unknown) > 10 else "")
        raise UsageError(f"the prompt has {len(unknown)} character(s) the model never saw in training: {shown!r} "
                         f"(its vocabulary has {len(vocabulary)} characters)")
    if not prompt:
        return [index.get("\n", 1)]
    return [index[char] for char in prompt]


def generate(model: keras.Model, prompt: str, length: int, *, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 1.0, seed: int = 0, warn=_warn) -> str:
    """The `length` characters a language model writes after `prompt`, one incremental step each.

    Args:
        model: from `build_language_model` (GPT or LSTM/GRU).
        prompt: the text to continue (see `encode_prompt`); longer than the GPT's context, only
            its last `sequence_length` characters are read (and `warn` says so).
        length: characters to generate.
        temperature, top_k, top_p: see `sample_next`.
        seed: seed of the sampling; the same seed gives the same text.
        warn: called with a message when the prompt is cut.

    Returns:
        The continuation only (without the prompt).

    Example:
        >>> lm = build_language_model(["a", "b", " "], sequence_length=8, embed_dim=8, heads=2, mlp_dim=16)
        >>> text = generate(lm, "ab", 20, temperature=0.8, top_p=0.95, seed=1)  # untrained: random characters
        >>> len(text), set(text) <= {"a", "b", " "}
        (20, True)
    """
    check_sampling(temperature, top_k, top_p, length)
    vocabulary = vocabulary_of(model)
    decoder = make_decoder(model)
    tokens = encode_prompt(prompt, vocabulary)
    if decoder.context and len(tokens) > decoder.context:
        warn(f"the prompt has {len(tokens)} characters, more than the model's context of {decoder.context}; "
             f"it continues the last {decoder.context}")
        tokens = tokens[-decoder.context:]
    rng = np.random.default_rng(seed)
    logits = decoder.feed([tokens])[0, -1]
    written = []
    for step in range(length):
        next_id = sample_next(logits, rng, temperature=temperature, top_k=top_k, top_p=top_p)
        written.append(next_id)
        tokens.append(next_id)
        if step == length - 1:
            break
        if decoder.context and decoder.length >= decoder.context:
            # Positions run out: start again from the last half of the context, then go on incrementally.
            decoder.reset()
            logits = decoder.feed([tokens[-(decoder.context // 2 or 1):]])[0, -1]
        else:
            logits = decoder.feed([[next_id]])[0, -1]
    return "".join(vocabulary[i - 1] for i in written)
