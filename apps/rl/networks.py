"""Keras networks of the agents: small MLPs for vector observations, a residual CNN for board games."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers


def mlp(inputs, hidden: int, depth: int = 2, activation: str = "relu", prefix: str = ""):
    x = inputs
    for i in range(depth):
        x = layers.Dense(hidden, activation=activation, name=f"{prefix}dense_{i + 1}")(x)
    return x


def build_q_network(obs_dim: int, n_actions: int, hidden: int = 256, name: str = "q_network") -> keras.Model:
    """Observation -> one Q-value per action."""
    obs = keras.Input((obs_dim,), name="observation")
    q = layers.Dense(n_actions, name="q_values")(mlp(obs, hidden))
    return keras.Model(obs, q, name=name)


def build_actor_critic(obs_dim: int, n_actions: int, hidden: int = 64) -> keras.Model:
    """Observation -> (action logits, state value), two separate tanh MLPs (PPO)."""
    obs = keras.Input((obs_dim,), name="observation")
    logits = layers.Dense(n_actions, name="logits",
                          kernel_initializer=keras.initializers.Orthogonal(0.01))(mlp(obs, hidden, activation="tanh",
                                                                                         prefix="pi_"))
    value = layers.Dense(1, name="value")(mlp(obs, hidden, activation="tanh", prefix="v_"))
    return keras.Model(obs, [logits, value], name="actor_critic")


def build_gaussian_actor(obs_dim: int, action_dim: int, hidden: int = 256) -> keras.Model:
    """Observation -> (mean, log std) of a Gaussian before the tanh squashing (SAC)."""
    obs = keras.Input((obs_dim,), name="observation")
    x = mlp(obs, hidden)
    mean = layers.Dense(action_dim, name="mean")(x)
    log_std = layers.Dense(action_dim, name="log_std")(x)
    return keras.Model(obs, [mean, log_std], name="actor")


def build_critic(obs_dim: int, action_dim: int, hidden: int = 256, name: str = "critic") -> keras.Model:
    """(observation, action) -> Q-value (SAC)."""
    obs = keras.Input((obs_dim,), name="observation")
    action = keras.Input((action_dim,), name="action")
    x = layers.Concatenate()([obs, action])
    q = layers.Dense(1, name="q_value")(mlp(x, hidden))
    return keras.Model([obs, action], q, name=name)


def build_policy_value_network(board_shape: tuple, n_actions: int, filters: int = 64, blocks: int = 2,
                               hidden: int = 128) -> keras.Model:
    """AlphaZero's network: board planes (channels, rows, cols) -> (move logits, value in [-1, 1])."""
    board = keras.Input(board_shape, name="board")
    x = layers.Permute((2, 3, 1))(board) if len(board_shape) == 3 else board  # open_spiel: channels first
    if len(board_shape) == 3:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        for _ in range(blocks):
            y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            y = layers.Activation("relu")(layers.BatchNormalization()(y))
            y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
            x = layers.Activation("relu")(layers.Add()([x, layers.BatchNormalization()(y)]))
        x = layers.Flatten()(x)
    else:
        x = layers.Flatten()(x)
    x = layers.Dense(hidden, activation="relu")(x)
    policy = layers.Dense(n_actions, name="policy")(x)
    value = layers.Dense(1, activation="tanh", name="value")(layers.Dense(hidden // 2, activation="relu")(x))
    return keras.Model(board, [policy, value], name="policy_value")


# --- NumPy copies for acting: one observation through a small MLP costs ~10 µs in NumPy, ~300 µs as a TF call ---

_NUMPY_ACTIVATIONS = {"linear": lambda x: x, "relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh}


class NumpyMLP:
    """A NumPy copy of Dense layers of a Keras MLP: a trunk applied in sequence, then each head on its output.

    Acting on one observation at a time pays TensorFlow's per-call dispatch on every environment step; this
    copy pays a few small matmuls instead. It reads the weights when made and on `refresh()` (after each
    training burst), so it acts as the network did then.

    Args:
        trunk: Dense layers applied in order.
        heads: Dense layers each applied to the trunk's output; their outputs are returned in this order.

    Example:
        policy = NumpyMLP([q.get_layer("dense_1"), q.get_layer("dense_2")], [q.get_layer("q_values")])
        (q_values,) = policy(observations)
    """

    def __init__(self, trunk: list, heads: list):
        self.trunk, self.heads = list(trunk), list(heads)
        for layer in self.trunk + self.heads:
            name = getattr(layer.activation, "__name__", "")
            if not isinstance(layer, layers.Dense) or not layer.use_bias or name not in _NUMPY_ACTIVATIONS:
                raise ValueError(f"NumpyMLP copies Dense layers with a bias and a {'/'.join(_NUMPY_ACTIVATIONS)} "
                                 f"activation; {layer.name} is not one")
        self.refresh()

    def refresh(self) -> None:
        """Copies the layers' current weights."""
        def copy(layer):
            kernel, bias = layer.get_weights()
            return kernel, bias, _NUMPY_ACTIVATIONS[layer.activation.__name__]

        self._trunk = [copy(layer) for layer in self.trunk]
        self._heads = [copy(layer) for layer in self.heads]

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(x, np.float32)
        for kernel, bias, activation in self._trunk:
            x = activation(x @ kernel + bias)
        return [activation(x @ kernel + bias) for kernel, bias, activation in self._heads]


def numpy_q_network(model: keras.Model) -> NumpyMLP:
    """The NumPy copy of a `build_q_network` model: observation -> [Q-values]."""
    return NumpyMLP([model.get_layer("dense_1"), model.get_layer("dense_2")], [model.get_layer("q_values")])


def numpy_gaussian_actor(model: keras.Model) -> NumpyMLP:
    """The NumPy copy of a `build_gaussian_actor` model: observation -> [mean, log std]."""
    return NumpyMLP([model.get_layer("dense_1"), model.get_layer("dense_2")],
                    [model.get_layer("mean"), model.get_layer("log_std")])
