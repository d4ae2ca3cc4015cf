"""The transfer model (input adapter, backbone, new head) and the trainable states of its two phases."""

from __future__ import annotations

import keras
from keras import layers, ops

from common.pretrained import BACKBONE_NAME

# ImageNet channel means in BGR order, as `keras.applications.resnet50.preprocess_input` subtracts them.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="dlsuite")
class FitToBackbone(layers.Layer):
    """Turns the dataset's images into the backbone's input, so the model serves the dataset's own images.

    Resizes to the backbone's input size less a blank `margin` on every side, repeats grey images to
    three channels where the backbone takes colour, and applies the ImageNet "caffe" preprocessing
    (RGB to BGR, mean subtracted) that ResNet50 expects. Pixel values stay in 0..255.

    Args:
        size: (height, width) of the backbone's input.
        channels: channels of the backbone's input (1 or 3).
        margin: blank border, as a fraction of each side (MNIST keeps 4 of its 28 pixels blank).
        preprocessing: "none" or "caffe".

    Example:
        >>> tuple(FitToBackbone((28, 28), 1, margin=4 / 28)(ops.ones((2, 8, 8, 1))).shape)
        (2, 28, 28, 1)
    """

    def __init__(self, size, channels: int, margin: float = 0.0, preprocessing: str = "none", **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(int(s) for s in size)
        self.channels = int(channels)
        self.margin = float(margin)
        self.preprocessing = preprocessing

    def _border(self) -> tuple[int, int]:
        return tuple(int(round(self.margin * side)) for side in self.size)

    def call(self, images):
        (top, left), (height, width) = self._border(), self.size
        x = ops.image.resize(ops.cast(images, self.compute_dtype), (height - 2 * top, width - 2 * left))
        if top or left:
            x = ops.pad(x, [[0, 0], [top, top], [left, left], [0, 0]])
        if self.channels == 3 and images.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        if self.preprocessing == "caffe":
            x = ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_BGR_MEAN, dtype=x.dtype)
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, self.channels)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "channels": self.channels, "margin": self.margin,
                "preprocessing": self.preprocessing}


def build_transfer_model(
    input_shape: tuple[int, int, int],
    num_classes: int,
    backbone: keras.Model,
    *,
    margin: float = 0.0,
    preprocessing: str = "none",
    head_units: int = 0,
    head_dropout: float = 0.2,
) -> keras.Model:
    """Images of `input_shape` -> `FitToBackbone` -> backbone -> a new classifier head.

    Raises ValueError if the images cannot feed the backbone (colour images into a grey backbone,
    or a margin that leaves no pixels).

    Args:
        input_shape: (height, width, channels) of the dataset's images, raw 0..255 values.
        num_classes: classes of the new task.
        backbone: a model named "backbone" (see `apps.transfer_learning.backbones`).
        margin: blank border inside the backbone's input, as a fraction of its side.
        preprocessing: "none" or "caffe" (ResNet50).
        head_units: units of a hidden ReLU layer in the head (0 = a linear classifier on the features).
        head_dropout: dropout before the head's dense layers.

    Example:
        >>> from apps.image_classification.model import build_cnn
        >>> from common.pretrained import cut_before_classifier
        >>> backbone = cut_before_classifier(build_cnn((28, 28, 1), 10, dense_units=32))
        >>> build_transfer_model((8, 8, 1), 10, backbone).output_shape
        (None, 10)
    """
    height, width, channels = backbone.input_shape[1:]
    if input_shape[-1] != channels and not (input_shape[-1] == 1 and channels == 3):
        raise ValueError(f"the images have {input_shape[-1]} channel(s); the backbone takes {channels}")
    if min(height, width) - 2 * round(margin * min(height, width)) < 1:
        raise ValueError(f"margin={margin} leaves no pixels of the backbone's {height}x{width} input")
    inputs = keras.Input(shape=input_shape, name="image")
    x = FitToBackbone((height, width), channels, margin, preprocessing, name="fit_to_backbone")(inputs)
    x = backbone(x)
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="feature_pool")(x)
    elif len(x.shape) == 3:
        x = layers.GlobalAveragePooling1D(name="feature_pool")(x)
    if head_dropout:
        x = layers.Dropout(head_dropout, name="head_dropout")(x)
    if head_units:
        x = layers.Dense(head_units, activation="relu", name="head_hidden")(x)
        if head_dropout:
            x = layers.Dropout(head_dropout, name="head_hidden_dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    # float32 output keeps the softmax and loss stable under mixed precision.
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="transfer")


def _leaf_layers(model: keras.Model) -> list[keras.Layer]:
    """The layers of `model`, those of models nested in it (a KerasHub backbone) in their place, bottom to top."""
    found = []
    for layer in model.layers:
        found += _leaf_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found


def tunable_layers(backbone: keras.Model) -> list[keras.Layer]:
    """The backbone's layers with learned weights, bottom to top; normalisation statistics do not count."""
    statistics = (layers.BatchNormalization, layers.Normalization)
    return [layer for layer in _leaf_layers(backbone) if layer.weights and not isinstance(layer, statistics)]


def freeze_backbone(model: keras.Model) -> None:
    """Phase 1: only the head trains; the whole backbone is frozen (batch norm in inference mode)."""
    model.trainable = True
    model.get_layer(BACKBONE_NAME).trainable = False


def unfreeze_top(model: keras.Model, num_layers: int) -> None:
    """Phase 2: the head and the top `num_layers` tunable backbone layers train; everything else,
    every batch-norm layer included, stays frozen. Frozen batch norm runs in inference mode in
    Keras 3, so its moving statistics from pre-training are kept."""
    model.trainable = True
    backbone = model.get_layer(BACKBONE_NAME)
    top = tunable_layers(backbone)[-num_layers:] if num_layers else []
    for layer in backbone.layers:  # a nested model (KerasHub backbone) trains where its chosen layers do
        layer.trainable = True if isinstance(layer, keras.Model) else any(layer is chosen for chosen in top)
    for layer in _leaf_layers(backbone):
        layer.trainable = any(layer is chosen for chosen in top)


class KeepBestWeights(keras.callbacks.Callback):
    """Restores, when training ends, the weights of the epoch with the lowest `monitor` value.

    The from-scratch baseline uses it to select its epoch by the same rule as `common.training.train`
    (best validation loss).
    """

    def __init__(self, monitor: str = "val_loss"):
        super().__init__()
        self.monitor = monitor
        self.best = float("inf")
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value < self.best:
            self.best, self.best_weights = value, self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
