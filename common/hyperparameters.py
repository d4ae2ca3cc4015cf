"""Helpers for `Task.search_space`: hyperparameters named after config fields, defaulting to the config's value.

The config's value is always inside the search space, so `HyperParameters()` with no values set
builds exactly the configured model, and a search starts from it.
"""

from __future__ import annotations

import math


def choice(hp, name: str, default, values: list):
    values = list(values)
    if default not in values:
        values.append(default)
    return hp.Choice(name, values, default=default)


def int_range(hp, name: str, default: int, low: int, high: int, step: int = 1):
    return hp.Int(name, min(low, default), max(high, default), step=step, default=default)


def float_range(hp, name: str, default: float, low: float, high: float, log: bool = False):
    low, high = min(low, default), max(high, default)
    if log and low <= 0:
        low = high / 1000 if default <= 0 else default / 10
        if default <= 0:
            default = math.sqrt(low * high)
    return hp.Float(name, low, high, sampling="log" if log else "linear", default=default)
