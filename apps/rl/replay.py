"""Experience replay: a fixed-size ring buffer of transitions, sampled uniformly."""

from __future__ import annotations

import numpy as np


class ReplayBuffer:
    """Stores (obs, action, reward, next_obs, terminated) transitions; the oldest is overwritten when full.

    `terminated` is the environment's own end (a pole that fell), not a time-limit truncation, so
    targets still bootstrap from the last state of an episode cut short by the step limit.

    Args:
        capacity: transitions kept.
        obs_shape: shape of one observation.
        action_shape: shape of one action: () for a discrete action index, (d,) for a continuous one.
        action_dtype: int64 for discrete actions, float32 for continuous ones.
        seed: seed of the sampling generator.

    Example:
        buffer = ReplayBuffer(10_000, (4,))
        buffer.add(obs, 1, 1.0, next_obs, False)
        batch = buffer.sample(64)  # {"obs": (64, 4), "actions": (64,), ...}
        burst = buffer.sample_many(128, 64)  # {"obs": (128, 64, 4), ...}
    """

    def __init__(self, capacity: int, obs_shape: tuple, action_shape: tuple = (), action_dtype=np.int64,
                 seed: int = 0):
        self.capacity = int(capacity)
        self.obs = np.zeros((self.capacity, *obs_shape), np.float32)
        self.next_obs = np.zeros((self.capacity, *obs_shape), np.float32)
        self.actions = np.zeros((self.capacity, *action_shape), action_dtype)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.terminated = np.zeros(self.capacity, np.float32)
        self.position = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, reward: float, next_obs, terminated: bool) -> None:
        i = self.position
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = self.rng.integers(0, self.size, size=batch_size)
        return {"obs": self.obs[index], "actions": self.actions[index], "rewards": self.rewards[index],
                "next_obs": self.next_obs[index], "terminated": self.terminated[index]}

    def sample_many(self, steps: int, batch_size: int) -> dict[str, np.ndarray]:
        """`steps` batches drawn at once, stacked: {"obs": (steps, batch_size, *obs_shape), ...}, for a burst of
        gradient steps run in one compiled call (the buffer does not change during a burst)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = self.rng.integers(0, self.size, size=(steps, batch_size))
        return {"obs": self.obs[index], "actions": self.actions[index], "rewards": self.rewards[index],
                "next_obs": self.next_obs[index], "terminated": self.terminated[index]}

    # --- resumable state: the filled part of the arrays plus the counters and the generator ---
    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        n = self.size
        arrays = {"obs": self.obs[:n], "next_obs": self.next_obs[:n], "actions": self.actions[:n],
                  "rewards": self.rewards[:n], "terminated": self.terminated[:n]}
        return arrays, {"position": self.position, "size": self.size, "rng": self.rng.bit_generator.state}

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        n = meta["size"]
        for name in ("obs", "next_obs", "actions", "rewards", "terminated"):
            getattr(self, name)[:n] = arrays[name]
        self.position, self.size = meta["position"], n
        self.rng.bit_generator.state = meta["rng"]


def train_burst(step, *batches):
    """Runs `step` on each of a burst's batches inside the caller's `tf.function` (one compiled call for the
    whole burst, the loop in the graph); `batches` are stacked along axis 0, as `ReplayBuffer.sample_many`
    draws them. Returns the stacked per-step losses."""
    import tensorflow as tf

    steps = tf.shape(batches[0])[0]
    losses = tf.TensorArray(tf.float32, size=steps)
    for i in tf.range(steps):
        losses = losses.write(i, step(*(batch[i] for batch in batches)))
    return losses.stack()
