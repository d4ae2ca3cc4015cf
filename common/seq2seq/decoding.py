"""Greedy and beam-search decoding with a trained encoder–decoder, and the log-probability of a sequence.

`Translator` decodes incrementally, with one compiled step per token: the sources are encoded once
(a `tf.function`), then each step (another `tf.function`, traced once per model) feeds only the
newest token of every row through the decoder:

* Transformer: each decoder block keeps the keys and values of its causal self-attention in a
  `(rows, 2, max_length, heads, head_dim)` cache, written at the step's position
  (`keras_hub.layers.CachedMultiHeadAttention`'s computation, run on the model's own
  `MultiHeadAttention` layers); the cross-attention's keys and values of the encoded source are
  computed once. The new token's query attends over the positions so far, then over the source
  (padding masked), then the block's MLP.
* RNN: the decoder cell's state is carried, and the new output attends over the encoded source.

A step also takes the rows of the previous state to continue from, so beam search's reordering
and copying of hypotheses is a gather inside the same compiled call. The search itself (which
token, which hypothesis) stays in NumPy, one small array operation per step.

`FullTranslator` runs the same loops but re-runs the model over the whole prefix at each step and
projects only the newest position: slow, but the plain definition; with the same model both give
the same logits up to float rounding (`tests/test_translation.py` checks both families and both
searches). Steps stop when every sentence has produced `[end]`, and after `max_length` tokens at
the latest; '[UNK]' is never written unless allowed.

KerasHub's `GreedySampler`/`BeamSampler` are not used: `BeamSampler` has no length normalisation
and keeps extending (and re-scoring) hypotheses that have already produced `[end]`, so it would
rank hypotheses differently from this search.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from common.seq2seq.model import model_max_length, model_vocabularies
from common.seq2seq.tokens import END_ID, PAD_ID, START_ID, UNK_ID, decode_ids


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities (float64) of logits over the last axis, computed stably.

    Example:
        >>> np.exp(log_softmax(np.array([[0.0, 0.0]]))).tolist()
        [[0.5, 0.5]]
    """
    logits = np.asarray(logits, np.float64)
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def _top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values of each row, largest first (ties: lower index first).

    Example:
        >>> _top_k(np.array([[0.1, 0.7, 0.2, 0.7]]), 3).tolist()
        [[1, 3, 2]]
    """
    if k == 1:
        return values.argmax(axis=1)[:, None]  # exactly greedy's choice
    part = np.argpartition(-values, k - 1, axis=1)[:, :k]  # a partial sort: the rows are long (beams x vocabulary)
    order = np.lexsort((part, -np.take_along_axis(values, part, axis=1)), axis=-1)
    return np.take_along_axis(part, order, axis=1)


def as_sources(texts: list[str]) -> np.ndarray:
    """A `(n, 1)` array of strings, the models' `source` input."""
    return np.array([[text] for text in texts], dtype=object).reshape(len(texts), 1)


class Translator:
    """Decodes with a model from `common.seq2seq.model` (a fresh one or one loaded from `.keras`), one compiled
    step per token (see the module docstring).

    Args:
        model: the translator (Transformer or RNN with attention).
        batch_size: sentences decoded together (times the beam size for beam search).
        allow_unknown: let decoding write '[UNK]'. By default the out-of-vocabulary token is never
            chosen: the model then writes its most likely known word instead, which reads better and
            scores higher than a placeholder (rare words are a large share of a small corpus).

    Example:
        >>> translator = Translator(keras.saving.load_model("runs/translation/model.keras"))
        >>> translator.translate(["Das ist gut."], beam_size=4)
        ['that is good.']
    """

    def __init__(self, model: keras.Model, batch_size: int = 128, allow_unknown: bool = False):
        self.model = model
        self.batch_size = batch_size
        self.allow_unknown = allow_unknown
        self.source_vocabulary, self.vocabulary = model_vocabularies(model)
        self.max_length = model_max_length(model)
        self.steps = 0  # decoder steps run (one token for every row each), for tests and timing

    # --- one decoder step: the only part that differs from FullTranslator ------------------------
    def _begin(self, sources: np.ndarray) -> dict:
        """The decoding state of `(n, 1)` source strings before the first token: the encoded sources."""
        tensors = compiled_steps(self.model).encode(tf.constant(sources.astype(str), tf.string))
        return {"position": 0, "tensors": tensors}

    def _next(self, state: dict, tokens: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """Log-probabilities `(n, vocabulary)` of the token after `tokens`, fed at the next position to the rows
        `rows` of `state` (all rows in order if None: beam search reorders and copies hypotheses), and the new state."""
        self.steps += 1
        rows = np.arange(len(tokens)) if rows is None else rows
        logits, tensors = compiled_steps(self.model).step(
            state["tensors"], tf.constant(tokens, tf.int32), tf.constant(rows, tf.int32),
            tf.constant(state["position"], tf.int32))
        return log_softmax(logits.numpy()), {"position": state["position"] + 1, "tensors": tensors}

    # --- the searches ---------------------------------------------------------------------------
    def _allowed(self, log_probs: np.ndarray) -> np.ndarray:
        log_probs[:, PAD_ID] = -np.inf  # padding and [start] are never predicted
        log_probs[:, START_ID] = -np.inf
        if not self.allow_unknown:
            log_probs[:, UNK_ID] = -np.inf
        return log_probs

    def greedy(self, texts: list[str]) -> list[list[int]]:
        """The most likely next word at each step, until [end]; returns the ids after [start] (with [end])."""
        results = []
        for begin in range(0, len(texts), self.batch_size):
            sources = as_sources(texts[begin:begin + self.batch_size])
            n = len(sources)
            state = self._begin(sources)
            tokens = np.full(n, START_ID, np.int32)
            done = np.zeros(n, bool)
            out = [[] for _ in range(n)]
            for t in range(self.max_length):
                log_probs, state = self._next(state, tokens)
                best = self._allowed(log_probs).argmax(axis=-1)
                for i in np.flatnonzero(~done):
                    out[i].append(int(best[i]))
                done |= best == END_ID
                if done.all() or t + 1 == self.max_length:
                    break
                tokens = np.where(done, PAD_ID, best).astype(np.int32)
            results += out
        return results

    def beam_search(self, texts: list[str], beam_size: int = 4, length_penalty: float = 0.0) -> list[list[int]]:
        """The best of `beam_size` hypotheses kept at each step (batched over sentences and beams).

        Hypotheses are ranked by their summed log-probability while searching; a finished one
        (it produced [end]) keeps its score and its place. The answer is the finished or
        `max_length`-long hypothesis with the best score divided by ((5 + length) / 6) **
        `length_penalty` (Wu et al., 2016); 0 ranks by log-probability alone. With `beam_size=1`
        this is exactly greedy decoding.
        """
        if beam_size < 1:
            raise ValueError(f"beam_size={beam_size} must be >= 1")
        k = beam_size
        results = []
        for begin in range(0, len(texts), self.batch_size):
            chunk = texts[begin:begin + self.batch_size]
            n = len(chunk)
            state = self._begin(np.repeat(as_sources(chunk), k, axis=0))
            tokens, parents = np.full(n * k, START_ID, np.int32), None
            ids = np.zeros((n, k, self.max_length + 1), np.int32)  # [start] + up to max_length tokens
            ids[:, :, 0] = START_ID
            scores = np.full((n, k), -np.inf)
            scores[:, 0] = 0.0  # one live hypothesis at first, so the beams do not start as copies
            lengths = np.zeros((n, k), np.int32)
            finished = np.zeros((n, k), bool)
            rows = np.arange(n)[:, None]
            for t in range(self.max_length):
                log_probs, state = self._next(state, tokens, parents)
                log_probs = self._allowed(log_probs).reshape(n, k, -1)
                # A finished hypothesis has one continuation, padding, at no cost.
                log_probs[finished] = -np.inf
                log_probs[finished, PAD_ID] = 0.0
                vocabulary_size = log_probs.shape[-1]
                candidates = (scores[:, :, None] + log_probs).reshape(n, -1)
                top = _top_k(candidates, k)
                beam, token = top // vocabulary_size, top % vocabulary_size
                ids = ids[rows, beam]
                ids[:, :, t + 1] = token
                was_finished = finished[rows, beam]
                lengths = lengths[rows, beam] + (~was_finished)
                finished = was_finished | (token == END_ID)
                scores = candidates[rows, top]
                if finished.all():
                    break
                tokens, parents = token.reshape(-1).astype(np.int32), (rows * k + beam).reshape(-1)
            penalty = ((5.0 + lengths) / 6.0) ** length_penalty
            best = np.argmax(np.where(np.isfinite(scores), scores / penalty, -np.inf), axis=1)
            for i in range(n):
                results.append([int(x) for x in ids[i, best[i], 1:1 + lengths[i, best[i]]]])
        return results

    def translate(self, texts: list[str], beam_size: int = 1, length_penalty: float = 0.0) -> list[str]:
        """Detokenized, lower-cased translations: greedy for `beam_size=1`, else beam search."""
        sequences = self.greedy(texts) if beam_size == 1 else self.beam_search(texts, beam_size, length_penalty)
        return [decode_ids(ids, self.vocabulary) for ids in sequences]

    def log_probability(self, texts: list[str], sequences: list[list[int]]) -> np.ndarray:
        """The model's log-probability of each token sequence (the ids after [start], [end] included),
        by teacher forcing; sequences are cut to `max_length` tokens."""
        sequences = [list(sequence[: self.max_length]) for sequence in sequences]
        ids = np.zeros((len(texts), self.max_length), np.int32)
        ids[:, 0] = START_ID
        for i, sequence in enumerate(sequences):
            ids[i, 1:len(sequence)] = sequence[:-1]
        log_probs = log_softmax(keras.ops.convert_to_numpy(self.model([as_sources(texts), ids], training=False)))
        return np.array([sum(log_probs[i, t, token] for t, token in enumerate(sequence))
                         for i, sequence in enumerate(sequences)])


class FullTranslator(Translator):
    """`Translator`'s searches with a step that re-runs the model over the whole prefix, eagerly, and projects
    only the newest position: the plain definition that `Translator` is tested against, and its "before" timing.

    Args:
        model, batch_size, allow_unknown: as in `Translator`.

    Example:
        >>> FullTranslator(model).greedy(["Das ist gut."]) == Translator(model).greedy(["Das ist gut."])
        True
    """

    def __init__(self, model: keras.Model, batch_size: int = 128, allow_unknown: bool = False):
        super().__init__(model, batch_size=batch_size, allow_unknown=allow_unknown)
        self.features = keras.Model(model.inputs, model.get_layer("decoder_output").output)
        self.projection = model.get_layer("logits")

    def _begin(self, sources: np.ndarray) -> dict:
        return {"sources": sources, "ids": np.zeros((len(sources), 0), np.int32)}

    def _next(self, state: dict, tokens: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        self.steps += 1
        sources, ids = state["sources"], state["ids"]
        if rows is not None:
            sources, ids = sources[rows], ids[rows]
        ids = np.concatenate([ids, np.asarray(tokens, np.int32)[:, None]], axis=1)
        features = self.features([sources, ids], training=False)
        log_probs = log_softmax(keras.ops.convert_to_numpy(self.projection(features[:, -1])))
        return log_probs, {"sources": sources, "ids": ids}


class CompiledSteps:
    """The compiled `encode` and `step` functions of one model from `common.seq2seq.model.build_translator`.

    `encode(sources)` maps `(n, 1)` source strings to the decoding state (a nest of tensors);
    `step(state, tokens, rows, position)` feeds `tokens` `(m,)` at `position` to the rows `rows` `(m,)` of
    `state` and returns the next-token logits `(m, vocabulary)` and the new state. Both are
    `tf.function`s over the model's own layers (so they see its current weights), traced once per
    model and batch shape pattern; `compiled_steps(model)` keeps one per model.

    Args:
        model: the encoder–decoder (Transformer or RNN with attention).
    """

    def __init__(self, model: keras.Model):
        layer = model.get_layer
        self.max_length = model_max_length(model)
        self.transformer = _has_layer(model, "decoder1_self_attention")
        self.target_embedding = layer("target_embedding")
        self.decoder_output = layer("decoder_output")
        self.projection = layer("logits")
        source, ids = model.inputs[0], layer("source_truncate").output
        if self.transformer:
            from keras_hub.layers import CachedMultiHeadAttention  # imported here: it takes a few seconds

            self._cached_attention = CachedMultiHeadAttention.call
            depth = sum(_has_layer(model, f"decoder{b}_self_attention") for b in range(1, 64))
            parts = ("self_attention_norm", "self_attention", "cross_attention_norm", "cross_attention", "mlp_norm",
                     "mlp_hidden", "mlp_output")
            self.blocks = [{part: layer(f"decoder{b}_{part}") for part in parts} for b in range(1, depth + 1)]
            self.source_embedding = layer("source_embedding")
            self.encoder = keras.Model(source, [ids, layer("encoder_output").output])
        else:
            self.cell = next(lay for lay in model.layers if lay.name in ("decoder_gru", "decoder_lstm")).cell
            self.attention = layer("attention")
            initial = [layer(f"decoder_initial_{kind}").output
                       for kind in ("h", "c") if _has_layer(model, f"decoder_initial_{kind}")]
            keys = layer("attention_keys")
            self.encoder = keras.Model(source, [ids, keys.input, keys.output, *initial])
        # Fixed signatures, with the rows and the source length left open: one trace per model, whatever the batch.
        self.encode = tf.function(self._encode, input_signature=[tf.TensorSpec((None, 1), tf.string)])
        self._compiled_step = None

    def step(self, state, tokens, rows, position):
        if self._compiled_step is None:
            scalar, vector = tf.TensorSpec((), tf.int32), tf.TensorSpec((None,), tf.int32)
            self._compiled_step = tf.function(self._step,
                                              input_signature=[self._state_spec(state), vector, vector, scalar])
        return self._compiled_step(state, tokens, rows, position)

    def _state_spec(self, state):
        """The signature of a decoding state: its tensors' shapes with the rows and the source length open."""
        def spec(x, source_axis=None):
            shape = [None, *x.shape[1:]]
            if source_axis is not None:
                shape[source_axis] = None
            return tf.TensorSpec(shape, x.dtype)

        if self.transformer:
            return {"mask": spec(state["mask"], 1),
                    "blocks": [[spec(own), spec(cross, 2)] for own, cross in state["blocks"]]}
        return {"mask": spec(state["mask"], 1), "encoded": spec(state["encoded"], 1), "keys": spec(state["keys"], 1),
                "states": [spec(x) for x in state["states"]]}

    def _encode(self, sources):
        if not self.transformer:
            ids, encoded, keys, *states = self.encoder(sources, training=False)
            return {"mask": ops.not_equal(ids, 0), "encoded": encoded, "keys": keys, "states": list(states)}
        ids, context = self.encoder(sources, training=False)
        context = tf.identity(context)  # without its Keras mask, which the key and value projections would warn about
        rows = ops.shape(ids)[0]
        blocks = []
        for block in self.blocks:
            own, cross = block["self_attention"], block["cross_attention"]
            # (rows, 2, time, heads, head_dim): keys and values, as KerasHub's cached attention reads them.
            cross_cache = ops.stack([cross._key_dense(context), cross._value_dense(context)], axis=1)
            own_cache = ops.zeros((rows, 2, self.max_length, own.num_heads, own.key_dim), cross_cache.dtype)
            blocks.append([own_cache, cross_cache])
        # The source embedding's mask: padding, except that the first position always counts (as in the model).
        return {"mask": self.source_embedding.compute_mask(ids), "blocks": blocks}

    def _step(self, state, tokens, rows, position):
        state = keras.tree.map_structure(lambda x: ops.take(x, rows, axis=0), state)
        if not self.transformer:
            return self._rnn_step(state, tokens)
        embedding = self.target_embedding
        x = embedding.tokens(tokens[:, None]) + embedding.positions(ops.reshape(position, (1,)))[None]
        # The new query sees the positions up to its own (the cache holds zeros beyond), and the source but padding.
        causal = ops.broadcast_to(ops.arange(self.max_length)[None, None, :] <= position,
                                  (ops.shape(tokens)[0], 1, self.max_length))
        source_mask = state["mask"][:, None, :]
        blocks = []
        for block, (own_cache, cross_cache) in zip(self.blocks, state["blocks"]):
            y = block["self_attention_norm"](x)
            y, own_cache = self._cached_attention(block["self_attention"], y, y, attention_mask=causal,
                                                  cache=own_cache, cache_update_index=position)
            x = x + y
            y = block["cross_attention_norm"](x)
            y, _ = self._cached_attention(block["cross_attention"], y, None, attention_mask=source_mask,
                                          cache=cross_cache)
            x = x + y
            x = x + block["mlp_output"](block["mlp_hidden"](block["mlp_norm"](x)))
            blocks.append([own_cache, cross_cache])
        logits = self.projection(self.decoder_output(x))[:, 0]
        return logits, {"mask": state["mask"], "blocks": blocks}

    def _rnn_step(self, state, tokens):
        y = self.target_embedding(tokens[:, None])[:, 0]
        output, states = self.cell(y, state["states"], training=False)
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        query = output[:, None]
        context = self.attention([query, state["encoded"], state["keys"]], mask=[None, state["mask"]],
                                 training=False)
        logits = self.projection(self.decoder_output(ops.concatenate([query, context], axis=-1)))[:, 0]
        return logits, {**state, "states": states}


# One CompiledSteps per model, so its functions are traced once, not at every Translator (every epoch's examples).
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_steps(model: keras.Model) -> CompiledSteps:
    """The model's `CompiledSteps` (made at the first call); they hold its layers, not the model."""
    steps = _COMPILED.get(model)
    if steps is None:
        steps = _COMPILED[model] = CompiledSteps(model)
    return steps


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)
