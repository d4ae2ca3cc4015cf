"""The classical baseline: an interpolated Witten-Bell character n-gram model, n chosen on validation text.

Witten-Bell smoothing (Witten and Bell, 1991; as in Chen and Goodman, 1998) mixes each order with
the next lower one, trusting a context more the more often it was seen and the fewer different
characters followed it:

    P(c | h) = (C(h c) + T(h) P(c | h')) / (C(h) + T(h))

where h' is h without its first character, C counts in the training text, T(h) is the number of
distinct characters seen after h, and the recursion ends in the uniform distribution over the
vocabulary plus the out-of-vocabulary id. A context never seen passes the lower order's probability
through. Every probability is positive, so the bits per character are finite on any text.

Counting uses plain dictionaries of substrings: ids are turned into a string of code points, so
the counts are `collections.Counter`s of slices (a few seconds for 400,000 characters and n = 6).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np


def _as_string(ids) -> str:
    """Ids as a string of code points (ids are small: a character vocabulary)."""
    return np.asarray(ids, "<u4").tobytes().decode("utf-32-le")


class CharNGram:
    """Interpolated Witten-Bell n-gram model over character ids, for every order 1..`max_order` at once.

    Args:
        max_order: the largest n (a context of n - 1 characters).
        vocabulary_size: number of ids (the characters plus the out-of-vocabulary id).

    Example:
        >>> lm = CharNGram(3, vocabulary_size=3).fit([1, 2] * 50)  # "abab...": a, b and the unknown id
        >>> text = [1, 2] * 10
        >>> round(lm.bits_per_character(text, order=1), 3), round(lm.bits_per_character(text, order=3), 3)
        (1.009, 0.001)
    """

    def __init__(self, max_order: int, vocabulary_size: int):
        if max_order < 1:
            raise ValueError(f"max_order={max_order} must be >= 1")
        self.max_order = max_order
        self.vocabulary_size = vocabulary_size
        self.counts: Counter = Counter()
        self.context_total: Counter = Counter()
        self.context_types: Counter = Counter()

    def fit(self, ids) -> CharNGram:
        """Counts every 1..max_order-gram of the training ids."""
        text = _as_string(ids)
        for n in range(1, self.max_order + 1):
            self.counts.update(text[i:i + n] for i in range(len(text) - n + 1))
        for gram, count in self.counts.items():
            self.context_total[gram[:-1]] += count
            self.context_types[gram[:-1]] += 1
        return self

    def probabilities(self, ids, start: int = 1, stop: int | None = None) -> np.ndarray:
        """P(ids[p] | the characters before it) for p in [start, stop), for each order: `(max_order, positions)`.

        Row n - 1 is the n-gram's probability; near the start of `ids`, where fewer than n - 1
        characters precede, the longest available context is used.
        """
        text = _as_string(ids)
        stop = len(text) if stop is None else stop
        result = np.empty((self.max_order, max(0, stop - start)))
        uniform = 1.0 / self.vocabulary_size
        counts, totals, types = self.counts, self.context_total, self.context_types
        for j, p in enumerate(range(start, stop)):
            char, probability = text[p], uniform
            for k in range(self.max_order):  # context of k characters: order k + 1
                if k <= p:
                    context = text[p - k:p]
                    total = totals.get(context, 0)
                    if total:
                        seen = types[context]
                        probability = (counts.get(context + char, 0) + seen * probability) / (total + seen)
                result[k, j] = probability
        return result

    def bits_per_character(self, ids, order: int | None = None, start: int = 1, stop: int | None = None) -> float:
        """Mean -log2 P of ids[start:stop] under the `order`-gram (default: max_order)."""
        order = order or self.max_order
        probabilities = self.probabilities(ids, start, stop)[order - 1]
        return float(-np.log2(probabilities).mean())

    def best_order(self, ids, start: int = 1, stop: int | None = None) -> tuple[int, list[float]]:
        """The order with the fewest bits per character on `ids` (validation text), and each order's bits."""
        bits = (-np.log2(self.probabilities(ids, start, stop))).mean(axis=1)
        return int(np.argmin(bits)) + 1, [round(float(b), 4) for b in bits]


def ngram_baseline(train_ids, validation_ids, test_ids, *, vocabulary_size: int, max_order: int,
                   test_stop: int | None = None) -> dict:
    """Fits on the training ids, picks n on validation, and scores test ids 1..`test_stop` (the model's targets).

    Returns:
        {"bits_per_character", "perplexity", "loss" (nats), "order", "validation_bits_per_character" (per order)}.
    """
    lm = CharNGram(max_order, vocabulary_size).fit(train_ids)
    order, validation_bits = lm.best_order(validation_ids)
    bits = lm.bits_per_character(test_ids, order, start=1, stop=test_stop)
    loss = bits * math.log(2)
    return {"bits_per_character": bits, "perplexity": float(math.exp(loss)), "loss": loss, "order": order,
            "validation_bits_per_character": validation_bits}
