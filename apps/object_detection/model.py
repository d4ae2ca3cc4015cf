"""The CenterNet-style detector: a small CNN backbone with a top-down path to stride 4, three heads, their losses."""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from apps.object_detection.boxes import STRIDE

HEATMAP_PRIOR = 0.1  # initial heat-map probability: starts the focal loss near the background rate, not at 0.5


def _conv(x, filters: int, name: str, strides: int = 1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _head(x, filters: int, outputs: int, name: str, bias: float = 0.0, activation=None):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_hidden")(x)
    x = layers.Conv2D(outputs, 1, bias_initializer=keras.initializers.Constant(bias), name=f"{name}_logits")(x)
    # float32 outputs keep the losses stable under mixed precision.
    return layers.Activation(activation or "linear", dtype="float32", name=name)(x)


def build_centernet(input_shape: tuple[int, int, int], num_classes: int, *, width: int = 16,
                    head_width: int = 32) -> keras.Model:
    """A single-stage, anchor-free detector that outputs CenterNet maps at stride 4.

    The backbone halves the resolution four times (stride 16, two 3x3 convolutions per stage, widths
    width x 1, 2, 4, 8, 8); a top-down path upsamples back to stride 4, adding 1x1-projected skip
    connections at strides 8 and 4, so the stride-4 cells see digit-sized context. Each head is a
    3x3 convolution and a 1x1 one. The model takes raw pixels (0..255) and returns
    {"heatmap": sigmoid class maps, "size": box height and width in cells, "offset": centre offsets};
    `apps.object_detection.boxes.decode` turns them into boxes.

    Args:
        input_shape: (height, width, channels); height and width multiples of 16.
        num_classes: object classes.
        width: filters of the first stage.
        head_width: filters of each head's hidden convolution.

    Example:
        >>> model = build_centernet((96, 96, 1), 10, width=8)
        >>> model.output["heatmap"].shape
        (None, 24, 24, 10)
    """
    if input_shape[0] % 16 or input_shape[1] % 16:
        raise ValueError(f"image size {input_shape[0]}x{input_shape[1]} must be a multiple of 16")
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    features = {}
    for stage, multiple in enumerate((1, 2, 4, 8, 8)):
        x = _conv(x, width * multiple, f"stage{stage}a", strides=1 if stage == 0 else 2)
        x = _conv(x, width * multiple, f"stage{stage}b")
        features[2**stage] = x
    top = 4 * width
    x = layers.Conv2D(top, 1, name="top_stride16")(x)
    for stride in (8, STRIDE):
        x = layers.UpSampling2D(name=f"up_stride{stride}")(x)
        skip = layers.Conv2D(top, 1, name=f"skip_stride{stride}")(features[stride])
        x = _conv(layers.Add(name=f"merge_stride{stride}")([x, skip]), top, f"top_stride{stride}")
    prior_logit = -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR)
    outputs = {
        "heatmap": _head(x, head_width, num_classes, "heatmap", bias=prior_logit, activation="sigmoid"),
        "size": _head(x, head_width, 2, "size", activation="relu"),
        "offset": _head(x, head_width, 2, "offset"),
    }
    return keras.Model(inputs, outputs, name="centernet")


@keras.saving.register_keras_serializable(package="object_detection")
class HeatmapFocalLoss(keras.losses.Loss):
    """CenterNet's penalty-reduced focal loss on heat-maps, summed and divided by the number of objects.

    Cells where the target is 1 are positives; the others are negatives whose weight
    `(1 - target) ** beta` falls near an object, so almost-right peaks are barely penalised.

    Args:
        alpha: focusing exponent on the prediction.
        beta: exponent of the penalty reduction near objects.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 4.0, name: str = "heatmap_focal_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha = alpha
        self.beta = beta

    def call(self, y_true, y_pred):
        y_pred = ops.clip(y_pred, 1e-6, 1.0 - 1e-6)
        positive = ops.cast(y_true >= 1.0 - 1e-4, y_pred.dtype)
        positive_loss = ops.log(y_pred) * (1.0 - y_pred) ** self.alpha * positive
        negative_loss = ops.log(1.0 - y_pred) * y_pred**self.alpha * (1.0 - y_true) ** self.beta * (1.0 - positive)
        return -(ops.sum(positive_loss) + ops.sum(negative_loss)) / ops.maximum(ops.sum(positive), 1.0)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


@keras.saving.register_keras_serializable(package="object_detection")
class MaskedL1Loss(keras.losses.Loss):
    """Mean absolute error over the cells where the target's last channel (a mask) is 1, times `weight`.

    The target carries the mask as an extra channel (`(..., D + 1)` against a `(..., D)` prediction),
    so size and offset regress only at object centres.

    Args:
        weight: factor on the loss (CenterNet weighs sizes by 0.1: they are in cells, up to tens).
    """

    def __init__(self, weight: float = 1.0, name: str = "masked_l1_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = weight

    def call(self, y_true, y_pred):
        mask = y_true[..., -1:]
        error = ops.abs(y_true[..., :-1] - y_pred) * mask
        return self.weight * ops.sum(error) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
