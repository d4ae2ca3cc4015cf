"""What the command line knows of face_detection without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.face_detection.config import FaceDetectionConfig
from common.spec import AppSpec, EmbeddedSet


LFW_SUBSET = EmbeddedSet(
    "lfw_subset", "faces",
    "100 LFW faces and 100 non-face patches, 25x25 grey, as shipped by scikit-image (data.lfw_subset).")


SPEC = AppSpec(
    name="face_detection",
    description="face detector: 25x25 face/non-face CNN over an image pyramid + NMS, vs HOG + linear SVM",
    config_class=FaceDetectionConfig,
    task="apps.face_detection.task:FaceDetection",
    models=("window_cnn",),
    embedded_datasets=(LFW_SUBSET,),
)
