"""TensorBoard and plot helpers: figures as PNG files and TensorBoard images, throughput, NaN stops."""

from __future__ import annotations

import io
import math
import os
import time
from typing import Callable

import keras
import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def figure_to_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def write_png(path: str, png: bytes) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(png)
    os.replace(tmp, path)
    return path


def log_images(log_dir: str, images: dict[str, bytes], step: int) -> None:
    """Writes PNG images to TensorBoard's Images tab under `log_dir/images`."""
    writer = tf.summary.create_file_writer(os.path.join(log_dir, "images"))
    with writer.as_default():
        for name, png in images.items():
            tf.summary.image(name, tf.expand_dims(tf.io.decode_png(png, channels=4), 0), step=step)
    writer.flush()
    writer.close()


def log_texts(log_dir: str, texts: dict[str, str], step: int) -> None:
    """Writes markdown texts (example outputs) to TensorBoard's Text tab under `log_dir/text`."""
    writer = tf.summary.create_file_writer(os.path.join(log_dir, "text"))
    with writer.as_default():
        for name, text in texts.items():
            tf.summary.text(name, text, step=step)
    writer.flush()
    writer.close()


def confusion_matrix_figure(matrix: np.ndarray, class_names: list[str], title: str = "Confusion matrix"):
    size = max(4.0, 0.45 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    if len(class_names) <= 20:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center",
                        color="white" if matrix[i, j] > threshold else "black", fontsize=8)
    ax.set_title(title)
    return fig


class FigureSummary(keras.callbacks.Callback):
    """Every `every` epochs, renders `make_figures(model)` into TensorBoard images and `make_texts(model)`
    into TensorBoard text (step = 0-based epoch).

    Args:
        make_figures: `model -> {name: matplotlib Figure}`.
        log_dir: the run's TensorBoard directory.
        every: epoch interval (>= 1).
        make_texts: `model -> {name: markdown}` (example outputs), or None.
    """

    def __init__(self, make_figures: Callable, log_dir: str, every: int = 5, make_texts: Callable | None = None):
        super().__init__()
        self.make_figures = make_figures
        self.make_texts = make_texts
        self.log_dir = log_dir
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        if self.every and (epoch + 1) % self.every == 0:
            figures = self.make_figures(self.model)
            if figures:
                log_images(self.log_dir, {name: figure_to_png(fig) for name, fig in figures.items()}, step=epoch)
            texts = self.make_texts(self.model) if self.make_texts else {}
            if texts:
                log_texts(self.log_dir, texts, step=epoch)


class Throughput(keras.callbacks.Callback):
    """Measures training examples per second over the training phase of each epoch (validation excluded)."""

    def __init__(self, examples_per_epoch: int):
        super().__init__()
        self.examples_per_epoch = examples_per_epoch
        self.seconds = 0.0
        self.epochs = 0
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def _stop(self):
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self.epochs += 1
            self._start = None

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()

    @property
    def examples_per_second(self) -> float:
        return self.epochs * self.examples_per_epoch / self.seconds if self.seconds else 0.0


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that remembers where the loss stopped being finite."""

    def __init__(self):
        super().__init__()
        self.diverged_at: tuple[int, int] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and self.diverged_at is None and not math.isfinite(float(loss)):
            self.diverged_at = (self._epoch + 1, batch + 1)
        super().on_batch_end(batch, logs)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint(save_best_only=True)` whose file is written aside and moved into place."""

    def __init__(self, filepath: str, **kwargs):
        directory, name = os.path.split(filepath)
        self.final_path = filepath
        super().__init__(os.path.join(directory, f".partial-{name}"), **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final_path)
