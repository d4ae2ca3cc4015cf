"""Incremental decoding of the encoder–decoders of `common.seq2seq.model`, and the retrieval fallback.

`IncrementalReplier` is `common.seq2seq.decoding.Translator` (same greedy and beam-search loops, same
rules: no '[UNK]', at most `max_length` tokens) with a step that does not run the decoder over
the whole prefix again: the context is encoded once, and each step feeds only the newest token
through the decoder:

* Transformer: each decoder block keeps the normalised inputs of its causal self-attention so
  far (a cache that grows by one position per step); the new token's query attends over them,
  then over the encoded context (source padding masked), then the block's MLP.
* RNN: the decoder cell's state is carried, and the new output attends over the encoded context.

The cache is keyed by (context, prefix) per row, so beam search, which reorders and copies its
hypotheses every step, finds each row's state by its prefix; anything else (a new batch) starts
afresh. With the same model this gives the same logits as full decoding (up to float rounding;
`tests/test_chatbot.py` checks both families and both searches).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from common.seq2seq.decoding import Translator, log_softmax
from common.seq2seq.tokens import decode_ids


class IncrementalReplier(Translator):
    """Greedy and beam-search replies of a model from `common.seq2seq.model.build_translator`, one token per step.

    Args:
        model: the encoder–decoder (Transformer or RNN with attention).
        batch_size, allow_unknown: as in `Translator`.

    Example:
        >>> replier = IncrementalReplier(keras.saving.load_model("runs/chatbot/model.keras"))
        >>> replier.translate(["Hello"], beam_size=4)
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
        """The decoding state of fresh rows: the encoded contexts and empty per-step state."""
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

    # --- confidence -------------------------------------------------------------------------------
    def replies(self, texts: list[str], beam_size: int = 1,
                length_penalty: float = 0.0) -> tuple[list[str], np.ndarray]:
        """Replies (greedy for `beam_size=1`, else beam search) and the model's confidence in each: the mean
        log-probability of its tokens ([end] included), by teacher forcing."""
        if not texts:
            return [], np.zeros(0)
        sequences = self.greedy(texts) if beam_size == 1 else self.beam_search(texts, beam_size, length_penalty)
        confidence = np.concatenate([
            self.log_probability(texts[begin:begin + self.batch_size], sequences[begin:begin + self.batch_size])
            for begin in range(0, len(texts), self.batch_size)])
        lengths = np.array([max(1, min(len(s), self.max_length)) for s in sequences])
        return [decode_ids(ids, self.vocabulary) for ids in sequences], confidence / lengths


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def with_fallback(replies: list[str], confidence: np.ndarray, retrieved: list[str], threshold: float) -> list[str]:
    """The model's reply where its confidence is at least `threshold`, else the retrieved one.

    Example:
        >>> with_fallback(["hi", "i am"], np.array([-0.5, -3.0]), ["hello.", "i am a bot."], -2.0)
        ['hi', 'i am a bot.']
    """
    return [reply if score >= threshold else other for reply, score, other in zip(replies, confidence, retrieved)]


def best_threshold(replies: list[str], confidence: np.ndarray, retrieved: list[str], references: list[str],
                   score) -> tuple[float, dict[float, float]]:
    """The fallback threshold with the best `score(hypotheses, references)` on held-out pairs, and each one's score.

    Candidates are -inf (never fall back), the deciles of the confidences, and +inf (always
    retrieve); ties keep the lowest threshold (the fewest fallbacks).
    """
    candidates = [-np.inf, *sorted(set(np.round(np.quantile(confidence, np.linspace(0.1, 0.9, 9)), 4))), np.inf]
    scores = {float(t): score(with_fallback(replies, confidence, retrieved, t), references) for t in candidates}
    best = max(scores, key=lambda t: (scores[t], -t))
    return best, scores

