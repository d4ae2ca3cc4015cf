"""A dense network written out by hand: weights and biases as `keras.Variable`s, the forward pass in
`keras.ops`, gradients from `tf.GradientTape`, and the SGD and Adam updates as formulas.

`DenseNetwork` is what `keras.Sequential([Dense, ..., Dense])` computes; `keras_twin` builds that
Sequential with the same weights, so `train_from_scratch` and `train_keras_twin` (which uses
`model.fit`) can be run on the same batches and compared; `gradient_check` compares the tape's
gradients with central finite differences.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops


class DenseNetwork:
    """A multilayer perceptron with explicit parameters.

    Args:
        sizes: layer widths from the input to the output, e.g. `(64, 32, 10)`: 64 inputs, one hidden
            layer of 32 units, 10 output logits.
        activation: `keras.activations` name applied after every hidden layer (not after the last).
        seed: seed of the Glorot-uniform initialisation (the Keras `Dense` default); biases start at 0.
        dtype: "float32", or "float64" for finite-difference checks.

    Example:
        >>> net = DenseNetwork((64, 32, 10), "relu")
        >>> net(np.zeros((5, 64), np.float32)).shape
        TensorShape([5, 10])
    """

    def __init__(self, sizes, activation: str = "relu", seed: int = 0, dtype: str = "float32"):
        if len(sizes) < 2:
            raise ValueError("sizes needs at least an input and an output width")
        self.sizes = tuple(int(s) for s in sizes)
        self.activation = activation
        self.dtype = dtype
        rng = np.random.default_rng(seed)
        self.weights, self.biases = [], []
        for i, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            limit = np.sqrt(6.0 / (fan_in + fan_out))  # Glorot uniform
            kernel = rng.uniform(-limit, limit, (fan_in, fan_out))
            self.weights.append(keras.Variable(kernel, dtype=dtype, name=f"w{i}"))
            self.biases.append(keras.Variable(np.zeros(fan_out), dtype=dtype, name=f"b{i}"))

    @property
    def variables(self) -> list:
        return [v for pair in zip(self.weights, self.biases) for v in pair]  # w0, b0, w1, b1, ...

    def __call__(self, x):
        """Logits: each layer is `x @ W + b`, with the activation between layers."""
        act = keras.activations.get(self.activation)
        x = ops.convert_to_tensor(x, dtype=self.dtype)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = ops.add(ops.matmul(x, w), b)
            if i < len(self.weights) - 1:
                x = act(x)
        return x

    def loss(self, x, y):
        """Mean softmax cross-entropy: log-sum-exp of the logits minus the logit of the true class."""
        logits = self(x)
        true_logit = ops.take_along_axis(logits, ops.expand_dims(ops.convert_to_tensor(y, "int32"), -1), axis=-1)
        return ops.mean(ops.logsumexp(logits, axis=-1) - ops.squeeze(true_logit, -1))

    def gradients(self, x, y) -> tuple[float, list]:
        with tf.GradientTape() as tape:
            loss = self.loss(x, y)
        return float(loss), tape.gradient(loss, self.variables)

    def get_weights(self) -> list[np.ndarray]:
        return [np.asarray(v.numpy()) for v in self.variables]

    def set_weights(self, values) -> None:
        for variable, value in zip(self.variables, values):
            variable.assign(value)

    def accuracy(self, x, y) -> float:
        return float(np.mean(np.argmax(np.asarray(self(x)), axis=1) == y))


class SGD:
    """Plain gradient descent: `w <- w - lr * g` (`keras.optimizers.SGD` without momentum)."""

    def __init__(self, learning_rate: float):
        self.learning_rate = learning_rate

    def build(self, variables) -> None:
        """SGD keeps no state."""

    def apply(self, gradients, variables) -> None:
        for g, v in zip(gradients, variables):
            v.assign(v - self.learning_rate * g)


class Adam:
    """Adam written out as `keras.optimizers.Adam` computes it (bias correction folded into the step size)."""

    def __init__(self, learning_rate: float, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7):
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon
        self.step = None
        self.m: list = []
        self.v: list = []

    def build(self, variables) -> None:
        """Creates the state (outside any `tf.function`): a step counter and two moments per variable."""
        self.step = keras.Variable(0.0, dtype=variables[0].dtype, trainable=False, name="step")
        self.m = [keras.Variable(ops.zeros_like(v), trainable=False, name=f"m_{i}") for i, v in enumerate(variables)]
        self.v = [keras.Variable(ops.zeros_like(v), trainable=False, name=f"v_{i}") for i, v in enumerate(variables)]

    def apply(self, gradients, variables) -> None:
        if self.step is None:
            self.build(variables)
        self.step.assign_add(1.0)
        alpha = self.learning_rate * ops.sqrt(1 - ops.power(self.beta_2, self.step)) / (
            1 - ops.power(self.beta_1, self.step))
        for g, m, v, var in zip(gradients, self.m, self.v, variables):
            m.assign(m + (g - m) * (1 - self.beta_1))  # first moment: running mean of g
            v.assign(v + (ops.square(g) - v) * (1 - self.beta_2))  # second moment: running mean of g^2
            var.assign(var - alpha * m / (ops.sqrt(v) + self.epsilon))


def make_optimizer(name: str, learning_rate: float):
    """The written-out update rule and the Keras optimizer it must agree with."""
    if name == "sgd":
        return SGD(learning_rate), keras.optimizers.SGD(learning_rate)
    if name == "adam":
        return Adam(learning_rate), keras.optimizers.Adam(learning_rate)
    raise ValueError(f"no written-out optimizer {name!r} (sgd, adam)")


def batches(n: int, batch_size: int):
    """Index slices of consecutive batches (the last may be smaller), as `model.fit(shuffle=False)` takes them."""
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def train_from_scratch(net: DenseNetwork, update, x: np.ndarray, y: np.ndarray, batch_size: int,
                       epochs: int, on_epoch=None) -> list[float]:
    """The explicit loop: for each batch, tape the loss, take its gradients, apply the update (the step is
    traced once into a `tf.function`; the same code runs eagerly, only slower).

    Returns the mean training loss of each epoch (averaged over batches, as Keras reports it);
    `on_epoch(epoch, loss)` is called after each epoch. Raises FloatingPointError on a NaN loss.
    """
    update.build(net.variables)

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = net.loss(xb, yb)
        update.apply(tape.gradient(loss, net.variables), net.variables)
        return loss

    losses = []
    for epoch in range(epochs):
        total = 0.0
        for part in batches(len(x), batch_size):
            loss = float(step(x[part], y[part]))
            if not np.isfinite(loss):
                raise FloatingPointError(f"the from-scratch loss became {loss} at epoch {epoch + 1}")
            total += loss * (part.stop - part.start)
        losses.append(total / len(x))  # weighted by batch size, as Keras averages its reported loss
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return losses


def keras_twin(net: DenseNetwork, image_shape: tuple | None = None) -> keras.Sequential:
    """`keras.Sequential` of `Dense` layers computing the same logits as `net`, with its current weights.

    With `image_shape`, the model takes raw images and flattens and scales them by 1/255 first, as
    `flatten_images` does for the from-scratch network (neither layer has weights).
    """
    layers = [keras.Input((net.sizes[0],) if image_shape is None else tuple(image_shape))]
    if image_shape is not None:
        layers += [keras.layers.Flatten(), keras.layers.Rescaling(1.0 / 255.0)]
    for i, units in enumerate(net.sizes[1:]):
        last = i == len(net.sizes) - 2
        layers.append(keras.layers.Dense(units, activation=None if last else net.activation, name=f"dense_{i}"))
    model = keras.Sequential(layers, name="keras_twin")
    model.set_weights(net.get_weights())
    return model


def flatten_images(images: np.ndarray, dtype: str = "float32") -> np.ndarray:
    """Images (N, H, W, C) with pixel values 0..255 as vectors (N, H*W*C) in [0, 1]."""
    return (images.reshape(len(images), -1) * np.asarray(1.0 / 255.0, dtype)).astype(dtype)


def train_keras_twin(model: keras.Model, optimizer, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int,
                     callbacks=()) -> list[float]:
    """`model.fit` on the same batches in the same order (shuffle=False); returns its per-epoch losses."""
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0, callbacks=list(callbacks))
    return [float(v) for v in history.history["loss"]]


def gradient_check(net: DenseNetwork, x, y, entries: int = 12, eps: float = 1e-6, seed: int = 0) -> dict:
    """Compares the tape's gradients with central finite differences `(L(w+eps) - L(w-eps)) / (2 eps)`.

    Checks `entries` random entries of every weight matrix and bias vector (all of them when smaller).
    Returns the analytic and numeric values and the largest relative error
    `|a - n| / max(|a| + |n|, 1e-8)`. Use a float64 network: in float32 the differences are noise.
    """
    rng = np.random.default_rng(seed)
    _, grads = net.gradients(x, y)
    analytic, numeric, names = [], [], []
    for variable, grad in zip(net.variables, grads):
        grad = np.asarray(grad)
        value = np.asarray(variable.numpy())
        flat = rng.choice(value.size, size=min(entries, value.size), replace=False)
        for k in flat:
            index = np.unravel_index(k, value.shape)
            shifted = value.copy()
            shifted[index] = value[index] + eps
            variable.assign(shifted)
            plus = float(net.loss(x, y))
            shifted[index] = value[index] - eps
            variable.assign(shifted)
            minus = float(net.loss(x, y))
            variable.assign(value)
            analytic.append(float(grad[index]))
            numeric.append((plus - minus) / (2 * eps))
            names.append(variable.name)
    analytic, numeric = np.array(analytic), np.array(numeric)
    relative = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)
    return {"analytic": analytic, "numeric": numeric, "names": names, "max_relative_error": float(relative.max()),
            "max_abs_error": float(np.abs(analytic - numeric).max())}
