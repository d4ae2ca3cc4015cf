"""Resumable training state: networks, optimizer slots, replay data and counters in one atomic file."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
import zlib

import keras
import numpy as np

from common.errors import UsageError

# 2: the state of every generator and the logs' lengths, taken where nothing else is under way (exact resume)
STATE_FORMAT = 2


def save_state(path: str, networks: dict[str, keras.Model], optimizers: dict, arrays: dict[str, np.ndarray],
               meta: dict) -> None:
    """Writes everything to `path` (an .npz) via a temporary file and `os.replace`: a crash leaves either
    the previous state or the new one, never a mixture."""
    entries = {}
    for name, net in networks.items():
        for i, w in enumerate(net.get_weights()):
            entries[f"net/{name}/{i}"] = w
    for name, opt in optimizers.items():
        for i, v in enumerate(opt.variables):
            entries[f"opt/{name}/{i}"] = np.asarray(v)
    for name, value in arrays.items():
        entries[f"arr/{name}"] = np.asarray(value)
    entries["meta"] = np.frombuffer(json.dumps({**meta, "format": STATE_FORMAT}).encode(), dtype=np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    with open(tmp, "wb") as fh:
        fh.write(buffer.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_state(path: str, networks: dict[str, keras.Model], optimizers: dict) -> tuple[dict, dict] | None:
    """Restores networks and optimizers saved by `save_state`; returns (arrays, meta), or None without a state.

    Each optimizer must already be built on its variables (`optimizer.build(model.trainable_variables)`).
    A file that can't be read back (cut short, damaged) is a `UsageError` naming it."""
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path) as data:
            entries = {key: data[key] for key in data.files}
        meta = json.loads(bytes(entries["meta"]).decode())
        if meta.get("format") != STATE_FORMAT:
            raise UsageError(f"cannot resume from {path}: it was written by an older version of this application, "
                             "whose state does not make a resumed run end as an uninterrupted one; rerun with "
                             "--overwrite to start the run again")
        for name, net in networks.items():
            net.set_weights([entries[f"net/{name}/{i}"] for i in range(len(net.get_weights()))])
        for name, opt in optimizers.items():
            for i, v in enumerate(opt.variables):
                v.assign(entries[f"opt/{name}/{i}"])
        arrays = {key[len("arr/"):]: value for key, value in entries.items() if key.startswith("arr/")}
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError) as exc:
        raise corrupt(path, exc) from None
    return arrays, meta


def corrupt(path: str, exc: Exception) -> UsageError:
    return UsageError(f"cannot resume from {path}: the file is truncated or corrupt ({type(exc).__name__}: {exc}); "
                      "rerun with --overwrite to start the run again")


def pack_objects(value) -> np.ndarray:
    """Python objects (gymnasium environments in mid-episode, say) as bytes to store among the arrays."""
    return np.frombuffer(pickle.dumps(value), dtype=np.uint8)


def unpack_objects(array: np.ndarray, path: str):
    """The objects `pack_objects` stored, from the state file at `path`."""
    try:
        return pickle.loads(np.asarray(array, np.uint8).tobytes())
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as exc:
        raise corrupt(path, exc) from None
