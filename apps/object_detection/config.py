"""Configuration of the object detection application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import MAX_IMAGE_SIZE, TrainConfig, option
from common.errors import UsageError


@dataclass
class ObjectDetectionConfig(TrainConfig):
    """A CenterNet-style detector (heat-map, size and offset heads at stride 4); see `dlsuite object_detection config`."""

    dataset: str = option("digit_scenes", "Dataset: digit_scenes (offline), or a TFDS detection set such as tfds:voc "
                                          "(features image and objects{bbox, label}).")
    epochs: int = option(12, "Maximum number of training epochs.", min=1)
    batch_size: int = option(32, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(2e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    width: int = option(16, "Backbone: filters of the first stage; each further stage doubles them (at most 8x).", min=1)
    head_width: int = option(32, "Filters of the 3x3 convolution in front of each head.", min=1)
    image_size: int = option(0, "Resize images to this square size, a multiple of 16 (0 = native; "
                                "sets of varying image size default to 256).", min=0, max=MAX_IMAGE_SIZE, flag=True)
    max_objects: int = option(32, "Objects kept per image (more are dropped from training and evaluation).", min=1)
    size_loss_weight: float = option(0.1, "Weight of the L1 box-size loss (sizes are in output cells, up to tens).",
                                     min=0.0)
    offset_loss_weight: float = option(1.0, "Weight of the L1 centre-offset loss.", min=0.0)
    score_threshold: float = option(0.05, "Detections below this score are dropped (low keeps the mAP's recall).",
                                    min=0.0)
    iou_threshold: float = option(0.5, "Non-max suppression: boxes of one class overlapping more are suppressed.",
                                  min=0.0)
    max_detections: int = option(100, "Detections kept per image after non-max suppression.", min=1)
    max_eval_samples: int = option(0, "Use at most this many validation and test images (0 = all); for quick runs.",
                                   min=0)
    display_score: float = option(0.3, "predict, figures and the export: the detections with at least this score.",
                                  min=0.0)
    baseline: bool = option(True, "Also evaluate the classical baseline (connected components + SVC) on digit scenes.")
    predictions_dir: str = option("", "predict: folder for the <name>.boxes.png images (default: RUN/predictions).")

    def validate(self):
        if self.image_size % 16:
            raise UsageError(f"image_size={self.image_size} must be a multiple of 16 (the backbone halves it 4 times)")
        if not 0.0 <= self.score_threshold < 1.0:
            raise UsageError(f"score_threshold={self.score_threshold} must be in [0, 1)")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise UsageError(f"iou_threshold={self.iou_threshold} must be in (0, 1]")
