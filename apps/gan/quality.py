"""Sample quality on a suite-trained classifier's features: Fréchet distance and kernel inception distance.

These are the FID and KID formulas (Heusel et al., 2017; Bińkowski et al., 2018) computed on the
penultimate-layer features of a digit classifier trained by the suite, not on ImageNet Inception-v3
features (whose weights must be downloaded). The numbers rank models on one dataset; they are not
comparable with published FIDs.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two feature sets, (n, d) each.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> round(frechet_distance(rng.normal(size=(500, 4)), rng.normal(size=(500, 4)) + 1), 0)
        4.0
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # singular products (dead features, few samples) are handled below
        warnings.simplefilter("ignore")
        root = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():  # regularise, as the reference implementation does
            eps = 1e-6 * np.eye(len(mu_a))
            root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root.real))


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 20, subset_size: int = 500,
                              seed: int = 0) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel (x.y / d + 1)^3, averaged over random subsets.

    Unlike the Fréchet distance it has no bias from the sample size, so small sets compare fairly.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> abs(kernel_inception_distance(rng.normal(size=(300, 4)), rng.normal(size=(300, 4)))) < 0.05
        True
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    m = min(subset_size, len(a), len(b))
    dim = a.shape[1]
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values.append(off_diagonal - 2.0 * k_xy.mean())
    return float(np.mean(values))
