"""The registry of applications: one explicit dict, filled by plain imports here.

The CLI, the per-application scripts, the tuner and the benchmark all look applications up here.
"""

from __future__ import annotations

from apps.chatbot.task import Chatbot
from apps.face_recognition.detection_task import FaceDetection
from apps.face_recognition.recognition_task import FaceRecognition
from apps.fundamentals.task import Fundamentals
from apps.gan.task import GANTask
from apps.image_classification.task import ImageClassification
from apps.object_detection.task import ObjectDetection
from apps.rl.task import RL
from apps.sentiment.task import Sentiment
from apps.speech.keyword_task import KeywordSpotting
from apps.speech.recognition_task import SpeechRecognition
from apps.style_transfer.task import StyleTransfer
from apps.tabular.task import Tabular
from apps.text_generation.task import TextGeneration
from apps.time_series.task import TimeSeriesForecasting
from apps.transfer_learning.task import TransferLearning
from apps.translation.task import Translation
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
