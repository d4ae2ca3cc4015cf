"""Greedy and beam-search decoding with a trained encoder–decoder, and the log-probability of a sequence.

`Translator` runs the model over the whole prefix again at each step and projects only the
newest position: simple, exact, and cheap enough for sentences of a few dozen words. Steps stop
when every sentence has produced `[end]`, and after `max_length` tokens at the latest.

`IncrementalTranslator` runs the same greedy and beam-search loops (same rules: no '[UNK]', at
most `max_length` tokens) with a step that does not run the decoder over the whole prefix again:
the source is encoded once, and each step feeds only the newest token through the decoder:

* Transformer: each decoder block keeps the normalised inputs of its causal self-attention so
  far (a cache that grows by one position per step); the new token's query attends over them,
  then over the encoded source (source padding masked), then the block's MLP.
* RNN: the decoder cell's state is carried, and the new output attends over the encoded source.

The cache is keyed by (source, prefix) per row, so beam search, which reorders and copies its
hypotheses every step, finds each row's state by its prefix; anything else (a new batch) starts
afresh. With the same model this gives the same logits as full decoding (up to float rounding;
`tests/test_chatbot.py` checks both families and both searches).
"""

from __future__ import annotations

import keras
import numpy as np
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
    """Decodes with a model from `common.seq2seq.model` (a fresh one or one loaded from `.keras`).

    Args:
        model: the translator.
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
        self.features = keras.Model(model.inputs, model.get_layer("decoder_output").output)
        self.projection = model.get_layer("logits")

    def _step(self, sources: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Log-probabilities `(n, vocabulary)` of the token after each prefix `ids` (all of one length)."""
        features = self.features([sources, ids], training=False)
        return log_softmax(keras.ops.convert_to_numpy(self.projection(features[:, -1])))

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
            ids = np.zeros((n, self.max_length), np.int32)
            ids[:, 0] = START_ID
            done = np.zeros(n, bool)
            out = [[] for _ in range(n)]
            for t in range(self.max_length):
                best = self._allowed(self._step(sources, ids[:, :t + 1])).argmax(axis=-1)
                for i in np.flatnonzero(~done):
                    out[i].append(int(best[i]))
                done |= best == END_ID
                if done.all() or t + 1 == self.max_length:
                    break
                ids[:, t + 1] = np.where(done, PAD_ID, best)
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
            sources = np.repeat(as_sources(chunk), k, axis=0)
            ids = np.zeros((n, k, self.max_length + 1), np.int32)  # [start] + up to max_length tokens
            ids[:, :, 0] = START_ID
            scores = np.full((n, k), -np.inf)
            scores[:, 0] = 0.0  # one live hypothesis at first, so the beams do not start as copies
            lengths = np.zeros((n, k), np.int32)
            finished = np.zeros((n, k), bool)
            for t in range(self.max_length):
                log_probs = self._allowed(self._step(sources, ids[:, :, :t + 1].reshape(n * k, -1)))
                log_probs = log_probs.reshape(n, k, -1)
                # A finished hypothesis has one continuation, padding, at no cost.
                log_probs[finished] = -np.inf
                log_probs[finished, PAD_ID] = 0.0
                vocabulary_size = log_probs.shape[-1]
                candidates = (scores[:, :, None] + log_probs).reshape(n, -1)
                top = _top_k(candidates, k)
                beam, token = top // vocabulary_size, top % vocabulary_size
                rows = np.arange(n)[:, None]
                ids = ids[rows, beam]
                ids[:, :, t + 1] = token
                was_finished = finished[rows, beam]
                lengths = lengths[rows, beam] + (~was_finished)
                finished = was_finished | (token == END_ID)
                scores = candidates[rows, top]
                if finished.all():
                    break
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


class IncrementalTranslator(Translator):
    """`Translator`'s greedy and beam search with a model from `common.seq2seq.model.build_translator`, one token
    per step (see the module docstring).

    Args:
        model: the encoder–decoder (Transformer or RNN with attention).
        batch_size, allow_unknown: as in `Translator`.

    Example:
        >>> translator = IncrementalTranslator(keras.saving.load_model("runs/chatbot/model.keras"))
        >>> translator.translate(["Hello"], beam_size=4)
        ['hi']
    """

    def __init__(self, model: keras.Model, batch_size: int = 128, allow_unknown: bool = False):
        super().__init__(model, batch_size=batch_size, allow_unknown=allow_unknown)
        self.transformer = _has_layer(model, "decoder1_self_attention")
        source = model.inputs[0]
        ids = model.get_layer("source_truncate").output
        if self.transformer:
            self.depth = sum(_has_layer(model, f"decoder{b}_self_attention") for b in range(1, 64))
            self.encoder = keras.Model(source, [ids, model.get_layer("encoder_output").output])
        else:
            self.rnn = next(layer for layer in model.layers if layer.name in ("decoder_gru", "decoder_lstm"))
            initial = [model.get_layer(f"decoder_initial_{kind}").output
                       for kind in ("h", "c") if _has_layer(model, f"decoder_initial_{kind}")]
            keys = model.get_layer("attention_keys")
            self.encoder = keras.Model(source, [ids, keys.input, keys.output, *initial])
        self.cache = None
        self.steps = 0  # decoder steps run (one token each), for tests and timing

    # --- the cache ----------------------------------------------------------------------------
    def _start(self, sources: np.ndarray) -> dict:
        """The decoding state of fresh rows: the encoded sources and empty per-step state."""
        outputs = [keras.ops.convert_to_numpy(x) for x in self.encoder(sources, training=False)]
        ids = outputs[0]
        if self.transformer:
            # The Transformer's source embedding always lets the first position count (see TokenAndPositionEmbedding).
            mask = ids != 0
            mask[:, :1] = True
            state = {"context": outputs[1], "blocks": [np.zeros((len(ids), 0, outputs[1].shape[-1]), np.float32)
                                                       for _ in range(self.depth)]}
        else:
            mask = ids != 0
            state = {"encoded": outputs[1], "keys": outputs[2], "states": outputs[3:]}
        return {"mask": mask, **state, "length": 0, "rows": [], "texts": [str(s) for s in sources[:, 0]]}

    def _gather(self, state: dict, rows: np.ndarray) -> dict:
        picked = {}
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                picked[key] = value[rows]
            elif key in ("blocks", "states"):
                picked[key] = [v[rows] for v in value]
        return {**picked, "length": state["length"], "texts": [state["texts"][r] for r in rows]}

    def _step(self, sources: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Log-probabilities `(n, vocabulary)` of the token after each prefix `ids` (all of one length)."""
        n, length = ids.shape
        texts = [str(s) for s in sources[:, 0]]
        state = None
        if self.cache is not None and self.cache["length"] == length - 1:
            index = {key: row for row, key in enumerate(self.cache["rows"])}
            keys = [(text, tuple(prefix)) for text, prefix in zip(texts, ids[:, :-1].tolist())]
            if all(key in index for key in keys):
                state = self._gather(self.cache, np.array([index[key] for key in keys], int))
        if state is None:  # a new batch (or a prefix never seen): encode, then feed the prefix but its last token
            state = self._start(sources)
            for t in range(length - 1):
                state, _ = self._advance(state, ids[:, t])
        state, logits = self._advance(state, ids[:, -1])
        state["rows"] = [(text, tuple(prefix)) for text, prefix in zip(texts, ids.tolist())]
        self.cache = state
        return log_softmax(logits)

    # --- one decoder step -----------------------------------------------------------------------
    def _advance(self, state: dict, tokens: np.ndarray) -> tuple[dict, np.ndarray]:
        """Feeds one token per row at position `state["length"]`; returns the new state and the next-token logits."""
        self.steps += 1
        tokens = ops.convert_to_tensor(np.asarray(tokens, np.int32)[:, None])
        if self.transformer:
            h, state = self._transformer_step(state, tokens)
        else:
            h, state = self._rnn_step(state, tokens)
        logits = keras.ops.convert_to_numpy(self.projection(h))[:, 0]
        return {**state, "length": state["length"] + 1}, logits

    def _transformer_step(self, state: dict, tokens):
        embedding = self.model.get_layer("target_embedding")
        position = ops.convert_to_tensor(np.array([state["length"]], np.int32))
        x = embedding.tokens(tokens) + embedding.positions(position)[None]
        mask = ops.convert_to_tensor(state["mask"][:, None, :])
        blocks = []
        layer = self.model.get_layer
        for b, cached in enumerate(state["blocks"], start=1):
            y = layer(f"decoder{b}_self_attention_norm")(x)
            cached = np.concatenate([cached, keras.ops.convert_to_numpy(y)], axis=1)
            blocks.append(cached)
            # The newest position may see every earlier one: no causal mask is needed for a single query.
            x = x + layer(f"decoder{b}_self_attention")(y, ops.convert_to_tensor(cached), training=False)
            y = layer(f"decoder{b}_cross_attention_norm")(x)
            x = x + layer(f"decoder{b}_cross_attention")(y, state["context"], attention_mask=mask, training=False)
            y = layer(f"decoder{b}_mlp_output")(layer(f"decoder{b}_mlp_hidden")(layer(f"decoder{b}_mlp_norm")(x)))
            x = x + y
        h = self.model.get_layer("decoder_output")(x)
        return h, {**state, "blocks": blocks}

    def _rnn_step(self, state: dict, tokens):
        y = self.model.get_layer("target_embedding")(tokens)[:, 0]
        previous = [ops.convert_to_tensor(s) for s in state["states"]]
        output, new = self.rnn.cell(y, previous, training=False)
        new = new if isinstance(new, (list, tuple)) else [new]
        query = output[:, None]
        context = self.model.get_layer("attention")(
            [query, ops.convert_to_tensor(state["encoded"]), ops.convert_to_tensor(state["keys"])],
            mask=[None, ops.convert_to_tensor(state["mask"])], training=False)
        h = self.model.get_layer("decoder_output")(ops.concatenate([query, context], axis=-1))
        return h, {**state, "states": [keras.ops.convert_to_numpy(s) for s in new]}


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)
