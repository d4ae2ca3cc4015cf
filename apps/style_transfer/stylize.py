"""The two ways of stylising: optimising the pixels of one image (Gatys, Ecker and Bethge 2016), and training
a feed-forward network on many content images for one style (Johnson, Alahi and Fei-Fei 2016), both on the
same `PerceptualLoss`."""

from __future__ import annotations

import math
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from apps.style_transfer.model import PerceptualLoss
from common.errors import TrainingDiverged

LOSS_NAMES = ("content", "style", "tv", "total")


def mean_losses(parts: dict) -> dict[str, float]:
    """Python floats of the batch means of per-example losses."""
    return {name: float(np.mean(np.asarray(parts[name]))) for name in LOSS_NAMES}


def score_images(loss: PerceptualLoss, images: list[np.ndarray], contents: list[np.ndarray]) -> dict[str, float]:
    """Mean content, style, TV and total loss of stylised `images` against their `contents`, one image at a time
    (they may differ in size)."""
    scores = [mean_losses(loss(tf.constant(image[None]), loss.content_targets(tf.constant(content[None]))))
              for image, content in zip(images, contents)]
    return {name: float(np.mean([s[name] for s in scores])) for name in LOSS_NAMES}


def optimize_image(loss: PerceptualLoss, content: np.ndarray, *, steps: int, learning_rate: float = 0.02,
                   on_step: Callable[[int, dict], None] | None = None,
                   on_image: Callable[[int, np.ndarray], None] | None = None, image_every: int = 100,
                   ) -> tuple[np.ndarray, list[dict]]:
    """Neural style transfer by optimisation: Adam on the pixels of an image that starts as the content image,
    minimising `loss` (content + style + TV); pixels are kept in range after each step.

    Args:
        loss: the perceptual loss (its style targets are the style image's).
        content: `(H, W, 3)` float 0..255.
        steps: Adam steps.
        learning_rate: Adam's learning rate on pixels scaled to 0..1.
        on_step: called as `on_step(k, losses)` with the losses of the image after k steps, k = 0..steps.
        on_image: called as `on_image(k, image)` with the image after k steps, every `image_every` steps and at
            the end.

    Returns:
        The stylised image `(H, W, 3)` float 0..255 and the losses after 0..steps steps (the start first).
        Raises TrainingDiverged if a loss becomes NaN or infinite.
    """
    content_batch = tf.constant(content[None], tf.float32)
    targets = loss.content_targets(content_batch)
    pixels = keras.Variable(content_batch / 255.0, name="pixels")
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def losses():
        return loss(pixels * 255.0, targets)

    @tf.function
    def step():  # the losses of the image before this update, so each step costs one forward pass
        with tf.GradientTape() as tape:
            parts = loss(pixels * 255.0, targets)
            total = tf.reduce_mean(parts["total"])
        optimizer.apply_gradients([(tape.gradient(total, pixels), pixels)])
        pixels.assign(tf.clip_by_value(pixels, 0.0, 1.0))
        return parts

    history = []
    for number in range(steps + 1):
        if on_image and (number % image_every == 0 or number == steps):
            on_image(number, pixels.numpy()[0] * 255.0)
        values = mean_losses(step() if number < steps else losses())
        if not all(math.isfinite(v) for v in values.values()):
            raise TrainingDiverged(f"style optimisation diverged at step {number} (loss {values['total']}); "
                                   f"lower optimize_learning_rate (now {learning_rate:g})")
        history.append(values)
        if on_step:
            on_step(number, values)
    return pixels.numpy()[0] * 255.0, history


class FastTrainer:
    """Trains a feed-forward style network on batches of content crops with the perceptual loss.

    Args:
        model: the fast network (0..255 in and out).
        loss: the perceptual loss of the style it learns.
        learning_rate: Adam's learning rate.
    """

    def __init__(self, model: keras.Model, loss: PerceptualLoss, learning_rate: float):
        self.model = model
        self.loss = loss
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.optimizer.build(model.trainable_variables)
        self._step = tf.function(self._train_step)

    def _train_step(self, batch):
        targets = self.loss.content_targets(batch)
        with tf.GradientTape() as tape:
            parts = self.loss(self.model(batch, training=True), targets)
            total = tf.reduce_mean(parts["total"])
        grads = tape.gradient(total, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return parts

    def train_step(self, batch: np.ndarray) -> dict[str, float]:
        """One Adam step on a `(B, S, S, 3)` batch of content crops; the batch's mean losses before it."""
        values = mean_losses(self._step(tf.constant(batch, tf.float32)))
        if not all(math.isfinite(v) for v in values.values()):
            raise TrainingDiverged(f"fast network training diverged (loss {values['total']}); lower learning_rate")
        return values

    def optimizer_state(self) -> list[np.ndarray]:
        return [np.asarray(v) for v in self.optimizer.variables]

    def set_optimizer_state(self, values: list[np.ndarray]) -> None:
        for variable, value in zip(self.optimizer.variables, values):
            variable.assign(value)


def stylize(model: keras.Model, image: np.ndarray) -> tuple[np.ndarray, float]:
    """(stylised image, seconds) of one `(H, W, 3)` image (sides multiples of 4) through the fast network."""
    start = time.perf_counter()
    out = model(tf.constant(image[None], tf.float32), training=False)
    return np.asarray(out)[0], time.perf_counter() - start
