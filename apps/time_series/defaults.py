"""Defaults read off the series itself: its season, whether to model it in differences, the window,
the step budget, and the least-squares autoregression the forecaster starts from.

Every function here looks at the training part of the series only, so no choice peeks at the
validation or test steps.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

# Windows of a few seasons, but never so long that the training part holds few of them.
MIN_WINDOW, DEFAULT_WINDOW, MAX_WINDOW = 12, 20, 60
# The ridge penalties the least-squares autoregression chooses from (by validation MSE).
RIDGE_PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0)


def detect_season(train: np.ndarray, max_season: int | None = None) -> int:
    """The season length of a series from its autocorrelation; 1 where it has none.

    The linear trend is removed first; a season is the smallest lag whose autocorrelation is a
    clear peak (at least 0.2 high and 0.1 above the dip before it) within 90% of the highest such
    peak, so a yearly cycle of monthly data gives 12, not 24 or 48.

    Example:
        >>> t = np.arange(240)
        >>> detect_season(10 + np.sin(2 * np.pi * t / 12) + 0.01 * t)
        12
    """
    from scipy.signal import find_peaks
    from statsmodels.tsa.stattools import acf

    x = np.asarray(train, np.float64)
    max_season = min(max_season or len(x) // 2, len(x) // 2)
    if max_season < 2 or np.std(x) == 0:
        return 1
    t = np.arange(len(x))
    detrended = x - np.polyval(np.polyfit(t, x, 1), t)
    r = acf(detrended, nlags=max_season, fft=True)
    peaks, props = find_peaks(r, height=0.2, prominence=0.1)
    peaks = [p for p in peaks if p >= 2]
    if not peaks:
        return 1
    best = max(r[p] for p in peaks)
    return int(min(p for p in peaks if r[p] >= 0.9 * best))


def is_trending(train: np.ndarray) -> bool:
    """Whether the KPSS test rejects level stationarity at 5% (then the forecaster works in differences).

    Example:
        >>> is_trending(np.cumsum(np.random.default_rng(0).normal(size=300)))
        True
    """
    from statsmodels.tsa.stattools import kpss

    x = np.asarray(train, np.float64)
    if len(x) < 20 or np.std(x) == 0:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "p-value outside the table": it is still below or above 5%
        return bool(kpss(x, regression="c", nlags="auto")[1] < 0.05)


def choose_window(season: int, n_train: int) -> int:
    """Two seasons where that is at most MAX_WINDOW steps, else DEFAULT_WINDOW; at least MIN_WINDOW
    and at most a quarter of the training steps (so the training part holds many windows).

    Example:
        >>> choose_window(12, 500), choose_window(1, 70), choose_window(365, 1000)
        (24, 17, 20)
    """
    wanted = 2 * season if 1 < season and 2 * season <= MAX_WINDOW else DEFAULT_WINDOW
    return int(max(2, min(max(MIN_WINDOW, wanted), n_train // 4)))


def step_budget(n_windows: int, batch_size: int) -> tuple[int, int]:
    """(most optimizer steps, patience in steps) for a training set of `n_windows` windows:
    200 epochs' worth, at least 500 and at most 4,000 steps, and a patience of a fifth of that.
    A short series gets many epochs, a long one few, and no run takes more than 4,000 steps.

    Example:
        >>> step_budget(50, 32), step_budget(227, 32), step_budget(1000, 32)
        ((500, 100), (1600, 320), (4000, 800))
    """
    budget = int(min(4000, max(500, 200 * math.ceil(n_windows / batch_size))))
    return budget, max(1, budget // 5)


def autoregression(x: np.ndarray, y: np.ndarray, x_val: np.ndarray,
                   y_val: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Ridge regression of the targets on the lags, its penalty chosen by validation MSE.

    Args:
        x, y: training lags (n, lags) and targets (n, horizon), in the model's standardised units.
        x_val, y_val: the same for the validation windows.

    Returns:
        (kernel (lags, horizon), bias (horizon,)) for the forecaster's `autoregressive` Dense layer,
        and its validation MSE.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    best = None
    for penalty in RIDGE_PENALTIES:
        kernel = np.linalg.solve(xc.T @ xc + penalty * np.eye(x.shape[1]), xc.T @ yc)
        bias = my - mx @ kernel
        error = float(np.mean((np.asarray(x_val) @ kernel + bias - y_val) ** 2))
        if best is None or error < best[0]:
            best = (error, kernel, bias)
    return best[1].astype(np.float32), best[2].astype(np.float32), best[0]
