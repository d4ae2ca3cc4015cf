"""Configuration of the transfer learning application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import MAX_IMAGE_SIZE, TrainConfig, option
from common.errors import UsageError

APPLICATION_BACKBONES = ("mobilenet_v3_small", "efficientnet_b0", "resnet50")


@dataclass
class TransferLearningConfig(TrainConfig):
    """A pre-trained backbone adapted to a new image task from `shots` labelled images per class.

    The run has two phases within `epochs`: `head_epochs` epochs train a new head on the frozen
    backbone at `learning_rate` (a linear probe), the rest fine-tune the top `finetune_layers` backbone
    layers (by default all of the default backbone's) and the head at `finetune_learning_rate`, with
    every batch-norm layer kept frozen in inference mode (its pre-training statistics).
    """

    dataset: str = option("digits", "Target dataset: digits, mnist5k, tfds:NAME, or a class-folder path.")
    epochs: int = option(40, "Epochs of the whole run: head_epochs with a frozen backbone, then fine-tuning.", min=1)
    batch_size: int = option(32, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(1e-2, "Learning rate of the head phase (the backbone is frozen).", min=0.0)
    backbone: str = option(
        "run",
        "Backbone: `run` (a trained image_classification run, see backbone_run), a keras.applications model, or "
        "`preset` (a KerasHub image backbone preset, see preset; given a preset, the default `run` becomes it).",
        choices=("run",) + APPLICATION_BACKBONES + ("preset",),
    )
    preset: str = option(
        "",
        "backbone=preset: a KerasHub image Backbone preset (ResNet, EfficientNet, ViT, ...): a local folder written by "
        "save_to_preset, or a KerasHub name / kaggle:// / hf:// handle (needs internet). Its image converter "
        "(input size, pixel scaling) comes with it.",
        flag=True,
    )
    backbone_run: str = option(
        "",
        "backbone=run: a finished run directory whose model, cut before its classifier, is the backbone. "
        "Empty: an image_classification CNN pre-trained with `pretrain`, cached next to the TFDS data dir.",
        flag=True,
    )
    weights: str = option(
        "",
        "keras.applications backbones: `imagenet` (needs internet), a .weights.h5/.h5 file of the backbone "
        "without its top, or empty for random initialisation.",
        flag=True,
    )
    pretrain: dict = option(
        {"dataset": "mnist5k", "epochs": 20, "baseline_max_samples": 0},
        "backbone=run without backbone_run: image_classification config fields of the pre-training run "
        "(e.g. --set 'pretrain={dataset: mnist5k, epochs: 20}').",
    )
    pretrain_low_resolution: int = option(
        8,
        "backbone=run without backbone_run: also pre-train on a copy of each source image whose digit box (inside "
        "`margin`) is reduced to this many pixels a side and enlarged back, the look of the 8x8 `digits` target "
        "in the backbone's input (0 = the source images alone, the backbone before issue 14).",
        min=0, max=MAX_IMAGE_SIZE,
    )
    shots: int = option(10, "Labelled training images per class, drawn from the train split with the run's seed.",
                        min=1)
    epoch_examples: int = option(
        320, "Examples per epoch: the k-shot images are repeated (reshuffled, re-augmented) up to at least this "
        "many, so every k trains for the same number of steps (0 = one pass).", min=0,
    )
    head_epochs: int = option(10, "Epochs of the first phase (frozen backbone, new head); the rest fine-tune.", min=0)
    finetune_layers: int = option(
        5, "Fine-tuning unfreezes this many top backbone layers with weights (batch norm excluded: it stays frozen). "
        "5 is every one of the default backbone's (4 convolutions, 1 dense); before issue 14: 3.",
        min=0,
    )
    finetune_learning_rate: float = option(
        1e-3, "Learning rate of the fine-tuning phase (before issue 14: 1e-4 on the top 3 layers after 20 head epochs).",
        min=0.0)
    head_units: int = option(0, "Units of a hidden dense layer in the new head (0 = a linear classifier).", min=0)
    head_dropout: float = option(0.0, "Dropout before the new head's dense layers.", min=0.0)
    margin: float = option(
        0.14,
        "Blank border around each image inside the backbone's input, as a fraction of its side. MNIST centres "
        "its digits in the middle 20x20 of 28x28 pixels, so 4/28 = 0.14 matches that scale; 0 fills the input.",
        min=0.0,
    )
    application_image_size: int = option(96, "keras.applications backbones: side their input is resized to.", min=32,
                                         max=MAX_IMAGE_SIZE)
    image_summary_every: int = option(
        0, "Write TensorBoard confusion matrices every N epochs (0 = only at the end: they cost more than an epoch).",
        min=0,
    )
    channels: int = option(0, "Load images as 1 (grey) or 3 (colour) channels (0 = native; folders default to 3).",
                           choices=(0, 1, 3))
    scratch_baseline: bool = option(True, "Also train the same network from scratch on the same images (baseline).")
    scratch_learning_rate: float = option(1e-3, "Learning rate of the from-scratch baseline.", min=0.0)

    def validate(self):
        if not 0.0 <= self.head_dropout < 1.0:
            raise UsageError(f"head_dropout={self.head_dropout} must be in [0, 1)")
        if self.margin >= 0.5:
            raise UsageError(f"margin={self.margin} must be below 0.5 (it is taken from both sides)")
        if not isinstance(self.pretrain, dict):
            raise UsageError(f"pretrain must be a mapping of image_classification fields, got {self.pretrain!r}")
        if self.preset and self.backbone == "run" and not self.backbone_run:
            self.backbone = "preset"
        if self.backbone == "preset" and not self.preset:
            raise UsageError("backbone=preset needs a preset: --preset DIR (a KerasHub save_to_preset folder) or NAME")
        if self.preset and self.backbone != "preset":
            raise UsageError(f"preset is for backbone=preset, not backbone={self.backbone}")
        if self.backbone == "preset" and self.weights:
            raise UsageError("weights is for keras.applications backbones; a preset brings its own")
        if self.backbone == "run" and self.weights:
            raise UsageError("weights is for keras.applications backbones; a run backbone brings its own "
                             "(use --backbone-run DIR)")
        if self.backbone != "run" and self.backbone_run:
            raise UsageError(f"backbone_run needs backbone=run, not backbone={self.backbone}")
