"""Shared fixtures: a per-session TFDS data dir, tiny configs, and a CLI runner."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Small models so every end-to-end run takes seconds.
TINY_CNN = ["--set", "depth=1", "--set", "width=8", "--set", "dense_units=16", "--set", "baseline_max_samples=300",
            "--set", "min_steps=0"]  # exactly the epochs a test asks for
TINY_RNN = ["--set", "units=8", "--set", "arima_order=[2,0,0]"]


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory):
    """Every test prepares embedded datasets into one session-wide TFDS dir, never the user's."""
    path = str(tmp_path_factory.mktemp("tfds"))
    os.environ["DLSUITE_DATA_DIR"] = path
    return path


@pytest.fixture
def cli(capsys):
    """Runs `dlsuite ARGS...` in-process; returns (exit code, stdout, stderr)."""
    from dlsuite.cli import run

    def invoke(*args):
        code = run([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_png(path, array):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


@pytest.fixture
def image_folder(tmp_path):
    """A class-folder image set made of real digits: 2 classes x 12 RGB images of 16x16."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path / "images"
    for label in (0, 1):
        picks = np.flatnonzero(digits.target == label)[:12]
        for k, i in enumerate(picks):
            grey = np.kron(digits.images[i] * 15, np.ones((2, 2)))  # 8x8 -> 16x16
            write_png(str(root / f"digit{label}" / f"{k}.png"), np.stack([grey] * 3, axis=-1))
    return str(root)
