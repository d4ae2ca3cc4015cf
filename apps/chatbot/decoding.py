"""The chatbot's replies with their confidence, and the retrieval fallback.

`IncrementalReplier` is `common.seq2seq.decoding.Translator` (translation's greedy and beam-search
loops, one compiled step per token: the context encoded once, cached self-attention keys and
values in the Transformer, the carried state in the RNN; batched over the messages) plus `replies`,
which also gives the model's confidence in each reply; where it is below a threshold, `with_fallback` answers with the
retrieved training reply instead, and `best_threshold` picks that threshold on held-out pairs.
"""

from __future__ import annotations

import numpy as np

from common.seq2seq.decoding import Translator
from common.seq2seq.tokens import decode_ids


class IncrementalReplier(Translator):
    """Greedy and beam-search replies of a model from `common.seq2seq.model.build_translator`, one token per step,
    with the model's confidence in each.

    Args:
        model: the encoder–decoder (Transformer or RNN with attention).
        batch_size, allow_unknown: as in `common.seq2seq.decoding.Translator`.

    Example:
        >>> replier = IncrementalReplier(keras.saving.load_model("runs/chatbot/model.keras"))
        >>> replier.translate(["Hello"], beam_size=4)
        ['hi']
    """

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

