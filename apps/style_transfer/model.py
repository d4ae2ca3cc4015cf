"""The networks and losses of style transfer: feature extractors (a fixed random multi-scale network or VGG19),
Gram matrices, the perceptual loss (content + style + total variation) and the fast feed-forward style network.

Why random filters work offline: the style loss compares Gram matrices, i.e. the correlations between filter
responses, which are texture statistics. Ustyuzhaninov, Brendel, Gatys and Bethge ("What does it take to
generate natural textures?", ICLR 2017) showed that such statistics of a network with *random* filters over
several scales already synthesise natural textures of a quality close to VGG's, and He, Wang and Hopcroft
("A powerful generative model using random weights for the deep image representation", NeurIPS 2016) that
random-weight VGG features also keep enough of an image for reconstruction and style transfer. What matters is
many filters, a nonlinearity and several receptive-field sizes; trained weights mostly add semantic content
features, which this suite cannot download.
"""

from __future__ import annotations

import os

import keras
from keras import layers, ops

from common.errors import UsageError

VGG19_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
VGG19_CONTENT_LAYERS = ("block4_conv2",)


class FeatureExtractor:
    """A frozen network from images (float 0..255) to its style layers' and content layers' feature maps.

    Args:
        model: a Keras model whose outputs are the style layers, then the content layers.
        style_layers: how many of the outputs (the first ones) are style layers.
        name: what it is, for logs ("random", "vgg19-imagenet", "vgg19:PATH").
    """

    def __init__(self, model: keras.Model, style_layers: int, name: str):
        self.model = model
        self.style_layers = style_layers
        self.name = name

    def __call__(self, images) -> tuple[list, list]:
        """(style feature maps, content feature maps) of a batch `(B, H, W, 3)`."""
        outputs = self.model(images, training=False)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return outputs[: self.style_layers], outputs[self.style_layers:]


def build_random_extractor(widths=(32, 64, 128, 128, 256), seed: int = 0, content_stage: int = 3) -> FeatureExtractor:
    """A fixed multi-scale network of random 3x3 filters: stage k (after the first) averages 2x2 pixels, then
    convolves and rectifies, so the stages see 3, 8, 18, 38, ... pixels. Every stage is a style layer; stage
    `content_stage` (or the last, if fewer) is the content layer. He-normal filters keep the response scale
    from stage to stage; the seed makes them the same in every run, so the extractor needs no weights file.

    Args:
        widths: filters of each stage.
        seed: seed of the filters.
        content_stage: the stage (1-based) whose features the content loss compares.
    """
    inputs = keras.Input((None, None, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    stages = []
    for index, width in enumerate(widths):
        if index:
            x = layers.AveragePooling2D(2, name=f"pool{index}")(x)
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, activation="relu", trainable=False,
                          kernel_initializer=keras.initializers.HeNormal(seed=seed * 1000 + index),
                          name=f"stage{index + 1}")(x)
        stages.append(x)
    content = stages[min(content_stage, len(stages)) - 1]
    model = keras.Model(inputs, stages + [content], name="random_extractor")
    model.trainable = False
    return FeatureExtractor(model, len(stages), "random")


def build_vgg19_extractor(weights: str) -> FeatureExtractor:
    """VGG19's conv1 of each block (style) and block4_conv2 (content), with `weights` "imagenet" (downloaded by
    Keras) or the path of a weights file; UsageError when they cannot be had."""
    if weights != "imagenet":
        if not os.path.exists(weights):
            raise UsageError(f"weights file not found: {weights} (use random, imagenet, or a VGG19 weights file)")
        if os.path.isdir(weights):
            raise UsageError(f"weights {weights} is a folder, not a VGG19 weights file")
    try:
        vgg = keras.applications.VGG19(include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as exc:  # noqa: BLE001 - download, h5 and shape errors all mean "no usable weights"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        where = "downloading the ImageNet weights (needs internet)" if weights == "imagenet" else f"loading {weights}"
        raise UsageError(f"VGG19 failed {where}: {message[:200]}") from None
    vgg.trainable = False
    outputs = [vgg.get_layer(name).output for name in VGG19_STYLE_LAYERS + VGG19_CONTENT_LAYERS]
    inputs = keras.Input((None, None, 3), name="image")
    # VGG19's own preprocessing (BGR, ImageNet means subtracted) on images in 0..255.
    bgr = layers.Lambda(lambda x: ops.flip(x, axis=-1) - ops.convert_to_tensor([103.939, 116.779, 123.68]),
                        name="vgg19_preprocess")(inputs)
    features = keras.Model(vgg.inputs, outputs, name="vgg19_features")(bgr)
    model = keras.Model(inputs, features, name="vgg19_extractor")
    model.trainable = False
    return FeatureExtractor(model, len(VGG19_STYLE_LAYERS), "vgg19-imagenet" if weights == "imagenet" else "vgg19-file")


def build_extractor(weights: str, widths=(32, 64, 128, 128, 256), seed: int = 0,
                    content_stage: int = 3) -> FeatureExtractor:
    """The extractor named by the config's `weights`: random (offline default), imagenet or a VGG19 file."""
    if weights == "random":
        return build_random_extractor(widths, seed, content_stage)
    return build_vgg19_extractor(weights)


# --- losses -----------------------------------------------------------------------------------
def gram_matrix(features):
    """Channel correlations `(B, C, C)` of feature maps `(B, H, W, C)`, averaged over the H x W positions."""
    positions = ops.cast(ops.shape(features)[1] * ops.shape(features)[2], features.dtype)
    return ops.einsum("bhwc,bhwd->bcd", features, features) / positions


def relative_error(values, targets):
    """Per example, `sum((values - targets)^2) / sum(targets^2)`: 0 at the target, 1 for all zeros."""
    axes = tuple(range(1, len(values.shape)))
    targets = ops.broadcast_to(targets, ops.shape(values))
    return ops.sum(ops.square(values - targets), axis=axes) / (ops.sum(ops.square(targets), axis=axes) + 1e-8)


def content_loss(features: list, targets: list):
    """Mean relative error of the content layers' feature maps, per example `(B,)`."""
    return ops.mean(ops.stack([relative_error(f, t) for f, t in zip(features, targets)]), axis=0)


def style_loss(features: list, target_grams: list):
    """Mean relative error of the style layers' Gram matrices, per example `(B,)`."""
    return ops.mean(ops.stack([relative_error(gram_matrix(f), g) for f, g in zip(features, target_grams)]), axis=0)


def total_variation_loss(images):
    """Mean squared difference of neighbouring pixels (scaled to 0..1), per example `(B,)`."""
    images = images / 255.0
    dy = ops.mean(ops.square(images[:, 1:] - images[:, :-1]), axis=(1, 2, 3))
    dx = ops.mean(ops.square(images[:, :, 1:] - images[:, :, :-1]), axis=(1, 2, 3))
    return dx + dy


class PerceptualLoss:
    """Content + style + total-variation loss of images against one style image, on one extractor.

    Args:
        extractor: the frozen feature network.
        style_image: `(H, W, 3)` in 0..255; its Gram matrices are the style targets.
        content_weight, style_weight, tv_weight: the weights of the three parts in `total`.
    """

    def __init__(self, extractor: FeatureExtractor, style_image, content_weight=1.0, style_weight=100.0,
                 tv_weight=1.0):
        self.extractor = extractor
        self.weights = {"content": content_weight, "style": style_weight, "tv": tv_weight}
        style_features, _ = extractor(ops.convert_to_tensor(style_image, "float32")[None])
        self.style_grams = [ops.convert_to_tensor(gram_matrix(f)) for f in style_features]

    def content_targets(self, content_images) -> list:
        """The content layers' features of `(B, H, W, 3)` content images."""
        return [ops.stop_gradient(f) for f in self.extractor(content_images)[1]]

    def __call__(self, images, content_targets: list) -> dict:
        """{"content", "style", "tv", "total"}: per-example losses `(B,)` of `(B, H, W, 3)` images."""
        style_features, content_features = self.extractor(images)
        parts = {"content": content_loss(content_features, content_targets),
                 "style": style_loss(style_features, self.style_grams),
                 "tv": total_variation_loss(images)}
        parts["total"] = sum(self.weights[name] * parts[name] for name in ("content", "style", "tv"))
        return parts


# --- the fast network -------------------------------------------------------------------------
def _conv(x, filters: int, kernel: int, name: str, strides: int = 1, relu: bool = True):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", name=f"{name}_conv")(x)
    x = layers.GroupNormalization(groups=-1, name=f"{name}_norm")(x)  # groups=-1: instance normalisation
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def build_fast_network(width: int = 16, residual_blocks: int = 3) -> keras.Model:
    """The feed-forward style network of Johnson, Alahi and Fei-Fei (2016), smaller: a 9x9 convolution, two
    stride-2 convolutions, residual blocks, two nearest-neighbour upsamplings each followed by a convolution
    (no transposed convolutions, whose overlaps make checkerboard artefacts), and a 9x9 convolution to RGB,
    with instance normalisation (Ulyanov et al. 2016). Fully convolutional: any image whose sides are
    multiples of 4, float 0..255 in and out.

    Args:
        width: filters of the first layer; 2x and 4x after the downsamplings.
        residual_blocks: residual blocks at 1/4 resolution.

    Example:
        >>> build_fast_network(8, 1)(np.zeros((1, 64, 64, 3))).shape
        TensorShape([1, 64, 64, 3])
    """
    inputs = keras.Input((None, None, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    x = _conv(x, width, 9, "in")
    x = _conv(x, 2 * width, 3, "down1", strides=2)
    x = _conv(x, 4 * width, 3, "down2", strides=2)
    for index in range(residual_blocks):
        y = _conv(x, 4 * width, 3, f"res{index + 1}a")
        y = _conv(y, 4 * width, 3, f"res{index + 1}b", relu=False)
        x = layers.Add(name=f"res{index + 1}")([x, y])
    for index, filters in enumerate((2 * width, width)):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{index + 1}")(x)
        x = _conv(x, filters, 3, f"up{index + 1}")
    x = layers.Conv2D(3, 9, padding="same", activation="sigmoid", name="out_conv")(x)
    outputs = layers.Rescaling(255.0, name="to_pixels")(x)
    return keras.Model(inputs, outputs, name="fast_style_network")
