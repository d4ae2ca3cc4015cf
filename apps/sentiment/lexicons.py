"""Lexicon sentiment tools a user would pick instead of training a model: VADER and TextBlob.

Both score a sentence from word lists with hand-made rules (negation, intensifiers, punctuation),
with no training on our data; for a two-class negative/positive set each is read as a classifier
by the sign of its score: VADER's compound score and TextBlob's (Pattern's) polarity, a score of
exactly 0 counting as positive. They are baselines only where the classes are negative/positive.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

# Class-name pairs (negative first) that mean sentiment polarity, compared in lower case.
POLARITY_NAMES = (("negative", "positive"), ("neg", "pos"))


def positive_class(class_names: list[str]) -> int | None:
    """The index of the positive class where the classes are negative/positive, else None.

    Example:
        >>> positive_class(["neg", "pos"]), positive_class(["sports", "politics"])
        (1, None)
    """
    lowered = [name.lower() for name in class_names]
    for negative, positive in POLARITY_NAMES:
        if sorted(lowered) == sorted((negative, positive)):
            return lowered.index(positive)
    return None


def vader_scores(texts: list[str]) -> np.ndarray:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # loaded when a baseline runs

    analyzer = SentimentIntensityAnalyzer()
    return np.array([analyzer.polarity_scores(text)["compound"] for text in texts], np.float64)


def textblob_scores(texts: list[str]) -> np.ndarray:
    from textblob import TextBlob  # with nltk (0.4 s to import): loaded when a baseline runs

    return np.array([TextBlob(text).sentiment.polarity for text in texts], np.float64)


LEXICONS = {"vader": vader_scores, "textblob": textblob_scores}


def lexicon_baselines(texts: list[str], labels: np.ndarray, class_names: list[str]) -> dict[str, dict[str, float]]:
    """{tool: {"accuracy", "macro_f1"}} of each lexicon tool on (texts, labels); {} unless the classes are
    negative/positive."""
    positive = positive_class(class_names)
    if positive is None:
        return {}
    results = {}
    for name, score in LEXICONS.items():
        predicted = np.where(score(texts) >= 0, positive, 1 - positive)
        results[name] = {"accuracy": float(accuracy_score(labels, predicted)),
                         "macro_f1": float(f1_score(labels, predicted, average="macro"))}
    return results
