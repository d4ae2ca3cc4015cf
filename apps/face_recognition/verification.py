"""Face verification by cosine similarity: scores of pairs, a threshold chosen on validation pairs, metrics.

The same protocol scores the network and the classical baselines (raw pixels, PCA "eigenfaces"):
a representation per image, the cosine similarity of each pair, the threshold that maximises
accuracy on the validation pairs, then accuracy and ROC AUC on the test pairs.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def pair_similarities(features: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine similarity of each (i, j, same) pair of rows of `features` (any scale)."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    return np.sum(unit[pairs[:, 0]] * unit[pairs[:, 1]], axis=1)


def best_threshold(similarities: np.ndarray, same: np.ndarray) -> float:
    """The threshold (similarity >= threshold means "same") with the highest accuracy on these pairs.

    Candidates are the midpoints between consecutive sorted similarities, so the choice does not
    sit on any one pair's score.
    """
    values = np.unique(similarities)
    candidates = np.r_[values[0] - 1e-6, (values[1:] + values[:-1]) / 2, values[-1] + 1e-6]
    accuracy = [np.mean((similarities >= t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def verification_metrics(similarities: np.ndarray, same: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy at `threshold` and ROC AUC of same-person pairs scored by similarity."""
    same = np.asarray(same, bool)
    auc = roc_auc_score(same, similarities) if 0 < same.sum() < len(same) else float("nan")
    return {"accuracy": float(np.mean((similarities >= threshold) == same)), "roc_auc": float(auc),
            "threshold": float(threshold)}


def verify(val_features: np.ndarray, val_pairs: np.ndarray, test_features: np.ndarray,
           test_pairs: np.ndarray) -> dict[str, float]:
    """The protocol in one call: threshold from the validation pairs, metrics on the test pairs.

    Example:
        >>> verify(embeddings, data.pairs["validation"], embeddings, data.pairs["test"])["roc_auc"]
    """
    threshold = best_threshold(pair_similarities(val_features, val_pairs), val_pairs[:, 2].astype(bool))
    return verification_metrics(pair_similarities(test_features, test_pairs), test_pairs[:, 2], threshold)


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str):
    """ROC curves {name: (similarities, same)} in one matplotlib figure."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    figure, axes = plt.subplots(figsize=(5, 5))
    for name, (similarities, same) in curves.items():
        fpr, tpr, _ = roc_curve(same, similarities)
        axes.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(same, similarities):.3f})")
    axes.plot([0, 1], [0, 1], ":", color="grey")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    axes.legend(loc="lower right")
    return figure
