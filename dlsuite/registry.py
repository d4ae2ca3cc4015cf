"""The registry of applications: one explicit list, filled by plain imports here, above the applications.

It imports each application's `spec.py` (`common.spec.AppSpec`: name, description, config class,
models, own actions, embedded datasets), which imports no TensorFlow, so the help texts, `dlsuite
list` and `dlsuite APP config` start at once. An application's task module, and with it
TensorFlow, is imported only when a command needs the task (`get_app`, `APPS[name]`).

The CLI, the per-application scripts, the benchmark and the tests look applications up here;
nothing under `apps/`, `tuning/` or `common/` does, so importing one application imports only that
application. Every embedded dataset is listed once, by the specs that declare it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from apps.chatbot.spec import SPEC as CHATBOT
from apps.face_detection.spec import SPEC as FACE_DETECTION
from apps.face_recognition.spec import SPEC as FACE_RECOGNITION
from apps.fundamentals.spec import SPEC as FUNDAMENTALS
from apps.gan.spec import SPEC as GAN
from apps.image_classification.spec import SPEC as IMAGE_CLASSIFICATION
from apps.keyword_spotting.spec import SPEC as KEYWORD_SPOTTING
from apps.language_model.spec import SPEC as LANGUAGE_MODEL
from apps.object_detection.spec import SPEC as OBJECT_DETECTION
from apps.rl.spec import SPEC as RL
from apps.sentiment.spec import SPEC as SENTIMENT
from apps.speech_recognition.spec import SPEC as SPEECH_RECOGNITION
from apps.style_transfer.spec import SPEC as STYLE_TRANSFER
from apps.tabular.spec import SPEC as TABULAR
from apps.text_generation.spec import SPEC as TEXT_GENERATION
from apps.time_series.spec import SPEC as TIME_SERIES
from apps.transfer_learning.spec import SPEC as TRANSFER_LEARNING
from apps.translation.spec import SPEC as TRANSLATION
from common.errors import UsageError
from common.spec import AppSpec, EmbeddedSet

SPECS: dict[str, AppSpec] = {
    spec.name: spec
    for spec in (IMAGE_CLASSIFICATION, TIME_SERIES, TRANSFER_LEARNING, OBJECT_DETECTION, FACE_DETECTION,
                 FACE_RECOGNITION, SENTIMENT, TEXT_GENERATION, TRANSLATION, RL, TABULAR, GAN,
                 FUNDAMENTALS, STYLE_TRANSFER, CHATBOT, KEYWORD_SPOTTING, SPEECH_RECOGNITION, LANGUAGE_MODEL)
}


def get_spec(name: str) -> AppSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise UsageError(f"unknown application {name!r} (available: {', '.join(SPECS)})") from None


class _Tasks(Mapping):
    """{name: Task} in the order of `SPECS`; a task's module (and TensorFlow) is imported when it is first read."""

    def __init__(self) -> None:
        self._tasks: dict = {}

    def __getitem__(self, name: str):
        if name not in self._tasks:
            spec = SPECS[name]
            module, _, cls = spec.task.partition(":")
            task = getattr(importlib.import_module(module), cls)()
            assert task.spec is spec, f"{spec.task} is not the task of {name}'s spec"
            self._tasks[name] = task
        return self._tasks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(SPECS)

    def __len__(self) -> int:
        return len(SPECS)


APPS: Mapping = _Tasks()


def get_app(name: str):
    """The `Task` of application `name` (importing its module, and TensorFlow, the first time)."""
    get_spec(name)
    return APPS[name]


def embedded_datasets() -> dict[str, tuple[EmbeddedSet, list[str]]]:
    """Every embedded dataset: {name: (its row, the applications that declare it)}, in the order of `SPECS`."""
    found: dict[str, tuple[EmbeddedSet, list[str]]] = {}
    for app, spec in SPECS.items():
        for row in spec.embedded_datasets:
            found.setdefault(row.name, (row, []))[1].append(app)
    return found
