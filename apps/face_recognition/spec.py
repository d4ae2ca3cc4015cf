"""What the command line knows of face_recognition without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.face_recognition.config import FaceRecognitionConfig
from common.spec import DIGITS, MNIST5K, AppSpec


SPEC = AppSpec(
    name="face_recognition",
    description=("face verification: embedding CNN with batch-hard triplet loss, cosine similarity, vs pixels and "
                 "eigenfaces"),
    config_class=FaceRecognitionConfig,
    task="apps.face_recognition.task:FaceRecognition",
    models=("triplet_cnn",),
    embedded_datasets=(MNIST5K, DIGITS),
)
