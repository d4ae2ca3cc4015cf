"""The registry of applications: one explicit dict, filled by plain imports here, above the applications.

The CLI, the per-application scripts, the benchmark and the tests look applications up here;
nothing under `apps/`, `tuning/` or `common/` does, so importing one application imports only that
application. Every embedded dataset is listed once, by the tasks that declare it
(`Task.embedded_datasets`).
"""

from __future__ import annotations

from apps.chatbot.task import Chatbot
from apps.face_detection.task import FaceDetection
from apps.face_recognition.task import FaceRecognition
from apps.fundamentals.task import Fundamentals
from apps.gan.task import GANTask
from apps.image_classification.task import ImageClassification
from apps.keyword_spotting.task import KeywordSpotting
from apps.object_detection.task import ObjectDetection
from apps.rl.task import RL
from apps.sentiment.task import Sentiment
from apps.speech_recognition.task import SpeechRecognition
from apps.style_transfer.task import StyleTransfer
from apps.tabular.task import Tabular
from apps.text_generation.task import TextGeneration
from apps.time_series.task import TimeSeriesForecasting
from apps.transfer_learning.task import TransferLearning
from apps.translation.task import Translation
from common.datasets.embedded import embedded_name
from common.errors import UsageError
from common.task import Task

APPS: dict[str, Task] = {
    task.name: task
    for task in (ImageClassification(), TimeSeriesForecasting(), TransferLearning(), ObjectDetection(), FaceDetection(),
                 FaceRecognition(), Sentiment(), TextGeneration(), Translation(), RL(), Tabular(), GANTask(),
                 Fundamentals(), StyleTransfer(), Chatbot(), KeywordSpotting(),
                 SpeechRecognition())
}


def get_app(name: str) -> Task:
    try:
        return APPS[name]
    except KeyError:
        raise UsageError(f"unknown application {name!r} (available: {', '.join(APPS)})") from None


def embedded_datasets() -> dict[str, tuple[type, list[str]]]:
    """Every embedded dataset: {name: (its TFDS builder class, the applications that declare it)}, in
    the order of `APPS`."""
    found: dict[str, tuple[type, list[str]]] = {}
    for app, task in APPS.items():
        for builder in task.embedded_datasets:
            found.setdefault(embedded_name(builder), (builder, []))[1].append(app)
    return found
