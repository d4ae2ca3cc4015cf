"""The Keras dense networks the studies compare: images in, flattened and scaled, class probabilities out."""

from __future__ import annotations

import keras


def build_mlp(input_shape: tuple, num_classes: int, depth: int, width: int, activation: str = "relu",
              dropout: float = 0.0, l1: float = 0.0, l2: float = 0.0, name: str = "mlp") -> keras.Model:
    """A multilayer perceptron on raw images.

    Args:
        input_shape: image shape (height, width, channels), pixel values 0..255.
        num_classes: softmax outputs.
        depth: hidden `Dense` layers (0: a linear softmax model, i.e. multinomial logistic regression).
        width: units per hidden layer.
        activation: hidden-layer activation (`relu`, `sigmoid`, `tanh`, `gelu`).
        dropout: rate of a `Dropout` after each hidden layer (0 = none).
        l1, l2: penalties on the kernels of every `Dense` layer (0 = none).
        name: model name.

    Example:
        >>> build_mlp((8, 8, 1), 10, depth=2, width=64).count_params()
        8970
    """
    regularizer = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Rescaling(1.0 / 255.0)(x)
    for i in range(depth):
        x = keras.layers.Dense(width, activation=activation, kernel_regularizer=regularizer, name=f"hidden_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=regularizer, name="classes")(x)
    return keras.Model(inputs, outputs, name=name)
