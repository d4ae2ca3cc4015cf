"""Callbacks of a GAN run: a fixed-noise sample grid every epoch, and the validation FID that picks the checkpoint."""

from __future__ import annotations

import os

import keras
import numpy as np

from apps.gan.quality import frechet_distance
from common.monitoring import figure_to_png, log_images, write_png


def grid_labels(num_classes: int, per_class: int) -> np.ndarray | None:
    """Labels of a grid with one row per class (None for an unconditional GAN)."""
    return np.repeat(np.arange(num_classes), per_class) if num_classes else None


def sample_grid_figure(images: np.ndarray, columns: int, title: str, row_names: list[str] | None = None):
    """A matplotlib figure of images (pixel range 0..255) in rows of `columns`."""
    import matplotlib.pyplot as plt

    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.8, rows * 0.8 + 0.4), squeeze=False)
    grey = images.shape[-1] == 1
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if index < len(images):
            image = np.clip(images[index], 0, 255).astype(np.uint8)
            ax.imshow(image[..., 0] if grey else image, cmap="gray" if grey else None, vmin=0, vmax=255)
        if row_names and index % columns == 0 and index // columns < len(row_names):
            ax.set_ylabel(row_names[index // columns], rotation=0, ha="right", va="center")
    fig.suptitle(title)
    return fig


class SampleGrid(keras.callbacks.Callback):
    """Every epoch, draws the same noise (and labels) through the generator and writes the grid to
    TensorBoard (Images tab, `samples`) and to `plots/samples/epoch_NNN.png`.

    Args:
        log_dir: the run's TensorBoard directory.
        plots_dir: the run's plots directory.
        num_classes: 0 for a DCGAN; else one row per class.
        per_class: images per row (a DCGAN draws a square of per_class x per_class).
        class_names: row labels of a conditional grid.
        seed: seed of the fixed noise.
    """

    def __init__(self, log_dir: str, plots_dir: str, num_classes: int, per_class: int = 10,
                 class_names: list[str] | None = None, seed: int = 0):
        super().__init__()
        self.log_dir = log_dir
        self.plots_dir = plots_dir
        self.labels = grid_labels(num_classes, per_class)
        self.count = len(self.labels) if num_classes else per_class * per_class
        self.columns = per_class
        self.class_names = class_names if num_classes else None
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        images = np.asarray(self.model.generate(self.count, self.labels, seed=self.seed))
        png = figure_to_png(sample_grid_figure(images, self.columns, f"epoch {epoch + 1}", self.class_names))
        write_png(os.path.join(self.plots_dir, "samples", f"epoch_{epoch + 1:03d}.png"), png)
        log_images(self.log_dir, {"samples": png}, step=epoch)


class ValidationQuality(keras.callbacks.Callback):
    """Adds `val_fid` (and, conditional, `val_class_accuracy`) to each epoch's logs.

    Placed before the suite's callbacks, so TensorBoard, the CSV log and the best-model checkpoint
    (`Task.monitor = "val_fid"`) see them: GAN losses say who is winning, not how good the samples are.

    Args:
        classifier: the feature classifier (pixels -> class probabilities).
        features: the same network cut before its classifier (pixels -> features).
        real_features: features of the validation images.
        num_classes: 0 for a DCGAN.
        samples: generated images per epoch.
        seed: seed of the fixed noise.
    """

    def __init__(self, classifier: keras.Model, features: keras.Model, real_features: np.ndarray, num_classes: int,
                 samples: int = 500, seed: int = 0):
        super().__init__()
        self.classifier = classifier
        self.features = features
        self.real_features = real_features
        self.labels = balanced_labels(num_classes, samples)
        self.samples = samples
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        images = self.model.generate(self.samples, self.labels, seed=self.seed)
        logs["val_fid"] = frechet_distance(self.features.predict(images, verbose=0), self.real_features)
        if self.labels is not None:
            predicted = self.classifier.predict(images, verbose=0).argmax(axis=-1)
            logs["val_class_accuracy"] = float(np.mean(predicted == self.labels))


def balanced_labels(num_classes: int, count: int) -> np.ndarray | None:
    """`count` labels cycling through the classes (None for an unconditional GAN)."""
    return np.arange(count) % num_classes if num_classes else None
