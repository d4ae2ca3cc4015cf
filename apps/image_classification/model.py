"""CNN builder for image classification."""

from __future__ import annotations

import keras
from keras import layers


# Flatten a last feature map of up to 8x8 positions (MNIST's 7x7 after two pools, digits' 2x2); average larger
# ones: a 64x64 image's 16x16x64 map flattened feeds 16k inputs to the dense layer, which a small folder of
# images cannot train in a short run.
FLATTEN_MAX_PIXELS = 64


def resolve_pooling(pooling: str, input_shape: tuple[int, ...], depth: int) -> str:
    """`flatten` or `gap`: what `pooling` means for images of `input_shape` after `depth` 2x2 max-pools."""
    if pooling != "auto":
        return pooling
    pixels = (input_shape[0] // 2**depth) * (input_shape[1] // 2**depth)
    return "flatten" if pixels <= FLATTEN_MAX_PIXELS else "gap"


def build_augmentation(rotation: float, translation: float, zoom: float, seed: int = 0) -> keras.Sequential:
    """Geometric augmentation layers; Keras runs them in training only, so serving is unaffected."""
    parts = []
    if rotation:
        parts.append(layers.RandomRotation(rotation, fill_mode="constant", seed=seed))
    if translation:
        parts.append(layers.RandomTranslation(translation, translation, fill_mode="constant", seed=seed + 1))
    if zoom:
        parts.append(layers.RandomZoom((-zoom, zoom), fill_mode="constant", seed=seed + 2))
    return keras.Sequential(parts, name="augmentation")


def build_cnn(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    depth: int = 2,
    width: int = 32,
    kernel_size: int = 3,
    activation: str = "relu",
    batch_norm: bool = True,
    dropout: float = 0.3,
    dense_units: int = 128,
    pooling: str = "flatten",
    l1: float = 0.0,
    l2: float = 0.0,
    augmentation: keras.Layer | None = None,
) -> keras.Model:
    """A VGG-style CNN: `depth` blocks of two convolutions and a max-pool, then dense layers.

    `pooling` turns the last feature map into the dense layers' input: `flatten` keeps every
    position (fine for a 7x7 map of a 28x28 digit), `gap` averages each filter over the map
    (global-average pooling: position-free features and a small dense layer, whatever the image
    size), `auto` flattens maps of at most `FLATTEN_MAX_PIXELS` positions and averages larger ones
    (the application's default, `pooling` in its config; the builder's stays `flatten`, so a model
    built here without it is the one it always was).

    The model takes raw pixel values (0..255) and returns class probabilities; rescaling and
    augmentation are layers inside it, so the saved and exported model serves raw images.

    Example:
        >>> model = build_cnn((28, 28, 1), 10, depth=2, width=16)
        >>> model.output_shape
        (None, 10)
    """
    if input_shape[0] // 2**depth < 1 or input_shape[1] // 2**depth < 1:
        raise ValueError(f"depth={depth} pools {input_shape[0]}x{input_shape[1]} images below one pixel")
    regularizer = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if augmentation is not None:
        x = augmentation(x)
    for block in range(depth):
        filters = width * 2**block
        for conv in range(2):
            x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm,
                              kernel_regularizer=regularizer, name=f"block{block + 1}_conv{conv + 1}")(x)
            if batch_norm:
                # momentum 0.9 (not 0.99): the moving statistics settle within a few hundred steps,
                # so short runs on small datasets are not evaluated with near-initial statistics.
                x = layers.BatchNormalization(momentum=0.9, name=f"block{block + 1}_bn{conv + 1}")(x)
            x = layers.Activation(activation)(x)
        x = layers.MaxPooling2D(name=f"block{block + 1}_pool")(x)
    if resolve_pooling(pooling, input_shape, depth) == "gap":
        x = layers.GlobalAveragePooling2D(name="global_average")(x)
    else:
        x = layers.Flatten()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    if dense_units:
        x = layers.Dense(dense_units, activation=activation, kernel_regularizer=regularizer, name="hidden")(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    x = layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits")(x)
    # float32 output keeps the softmax and loss stable under mixed precision.
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")
