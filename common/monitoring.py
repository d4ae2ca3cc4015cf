"""TensorBoard and plot helpers: figures as PNG files and TensorBoard images, throughput, NaN stops."""

from __future__ import annotations

import glob
import io
import json
import math
import os
import re
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


def log_images(log_dir: str, images: dict[str, bytes], step: int, split: str = "validation") -> None:
    """Writes PNG images to TensorBoard's Images tab, in the run of the `split` they show (`log_dir/validation`
    beside Keras' curves, or `log_dir/test`), so the run selector lists splits, not "images" and "text"."""
    writer = tf.summary.create_file_writer(os.path.join(log_dir, split))
    with writer.as_default():
        for name, png in images.items():
            tf.summary.image(name, tf.expand_dims(tf.io.decode_png(png, channels=4), 0), step=step)
    writer.flush()
    writer.close()


def log_texts(log_dir: str, texts: dict[str, str], step: int, split: str = "validation") -> None:
    """Writes markdown texts (example outputs) to TensorBoard's Text tab, in the run of their `split`; their tables
    as lists (`tables_as_lists`)."""
    writer = tf.summary.create_file_writer(os.path.join(log_dir, split))
    with writer.as_default():
        for name, text in texts.items():
            tf.summary.text(name, tables_as_lists(text), step=step)
    writer.flush()
    writer.close()


_CELL_BORDER = re.compile(r"(?<!\\)\|")  # a cell border: a "|" that is not escaped


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in _CELL_BORDER.split(line.strip().strip("|"))]


def tables_as_lists(markdown: str) -> str:
    """`markdown` with each table turned into a list, one item per row: "- **header**: cell · **header**: cell".

    TensorBoard's Text tab styles its text `word-break: break-word`, so in a table beside a long column (a
    sentence) the short ones (labels, scores) are squeezed until their words break mid-word ("nega tive");
    the `.md` files of a run keep the tables."""
    lines, out, i = markdown.split("\n"), [], 0
    while i < len(lines):
        is_table = (lines[i].lstrip().startswith("|") and i + 1 < len(lines)
                    and re.fullmatch(r"\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*", lines[i + 1]))
        if not is_table:
            out.append(lines[i])
            i += 1
            continue
        headers = _cells(lines[i])
        i += 2
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            cells = _cells(lines[i])
            out.append("- " + " · ".join(f"**{h}**: {c}" if h else c for h, c in zip(headers, cells)))
            i += 1
    return "\n".join(out)


EVENT_FILES = "events.out.tfevents."


def _event_files(log_dir: str) -> list[str]:
    found = []
    for folder, _, names in os.walk(log_dir):
        found += [os.path.relpath(os.path.join(folder, n), log_dir) for n in names if n.startswith(EVENT_FILES)]
    return sorted(found)


def log_marks(log_dir: str) -> dict[str, int]:
    """The size of every TensorBoard event file under `log_dir`, by path relative to it, synced to disk.

    A loop of its own keeps these with each checkpoint (flush its writers first) and gives them to
    `rewind_logs` when it resumes, so the curves of a resumed run hold each point once, as an
    uninterrupted run's do."""
    marks = {}
    for name in _event_files(log_dir):
        path = os.path.join(log_dir, name)
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        marks[name] = os.path.getsize(path)
    return marks


def rewind_logs(log_dir: str, marks: dict[str, int] | None) -> None:
    """Takes the event files under `log_dir` back to `marks` (from `log_marks`): what was written after them
    (by a run killed after its last checkpoint) goes, files they don't name are removed; no marks (a run
    that starts over) removes every event file. Event files are sequences of whole records, and `marks`
    are sizes after a flush, so a file cut there is a valid, shorter event file."""
    marks = marks or {}
    for name in _event_files(log_dir):
        path = os.path.join(log_dir, name)
        if name not in marks:
            os.remove(path)
        elif os.path.getsize(path) > marks[name]:
            os.truncate(path, marks[name])


def confusion_matrix_figure(matrix: np.ndarray, class_names: list[str], title: str = "Confusion matrix"):
    size = max(4.0, 0.45 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(class_names) <= 20:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                # The text colour follows the cell's own colour (its luminance), as the colours scale min to max.
                r, g, b, _ = image.cmap(image.norm(matrix[i, j]))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", color="white" if dark else "black",
                        fontsize=8)
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
    """Stops training when it diverges, and remembers where: the loss became NaN/inf, or grew beyond
    `factor` times the first loss this fit saw, or times 1 if that was smaller (`factor=0`: NaN/inf only).

    Args:
        factor: the growth bound (the config's `divergence_factor`).
    """

    def __init__(self, factor: float = 0.0):
        super().__init__()
        self.factor = factor
        self.diverged_at: tuple[int, int] | None = None
        self.reason = ""
        self.first_loss: float | None = None
        self._epoch = 0

    resume_attributes = ("first_loss",)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or self.diverged_at is not None:
            return
        loss = float(loss)
        if not math.isfinite(loss):
            self.reason = "the loss became NaN/inf"
        elif self.first_loss is None:
            self.first_loss = loss
            return
        elif self.factor and abs(loss) > self.factor * max(abs(self.first_loss), 1.0):
            # Floored at 1: a model that starts almost perfect (a loss of 1e-7) may lose 1e4 times that honestly.
            self.reason = (f"the loss grew to {loss:.3g}, over {self.factor:g} times its first value "
                           f"{self.first_loss:.3g} (or 1)")
        else:
            return
        self.diverged_at = (self._epoch + 1, batch + 1)
        self.model.stop_training = True


class DivergenceGuard(keras.callbacks.Callback):
    """Mixin for checkpoint callbacks: no checkpoint of an epoch in which training diverged (per `nan_stop`) or
    whose loss is not finite, so no bad weights are ever kept as "best" or resumed from. (The epoch's logs
    tell this without copying the weights off the device, as a check of every weight would, twice an epoch.)"""

    def _guarded(self, logs=None) -> bool:
        stop = getattr(self, "nan_stop", None)
        loss = (logs or {}).get("loss")
        return (stop is not None and stop.diverged_at is not None) or (loss is not None and not math.isfinite(loss))


# What a callback carries from one epoch to the next, by class: restored on resume so a resumed run decides (best
# model, early stop, divergence bound) as an uninterrupted one would. A callback class of ours names its own in
# `resume_attributes`.
_KERAS_RESUME_ATTRIBUTES = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch", "stopped_epoch"),
    keras.callbacks.ModelCheckpoint: ("best",),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


def _resume_attributes(callback) -> tuple[str, ...]:
    names = tuple(getattr(callback, "resume_attributes", ()))
    for cls, keras_names in _KERAS_RESUME_ATTRIBUTES.items():
        if isinstance(callback, cls):
            names = keras_names + names
    return names


def _plain(value):
    """A JSON value for a callback attribute (NumPy scalars become Python ones; inf stays inf)."""
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    return value


def seed_states(model: keras.Model) -> list:
    """The model's random-generator state (each `keras.random.SeedGenerator` of its layers: dropout,
    augmentation, noise); `model.weights` and its weight files leave these out."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def training_state(model: keras.Model, callbacks) -> dict:
    """Everything beyond weights and optimizer that decides the rest of a fit: random-generator states and the
    callbacks' running values (see `_resume_attributes`)."""
    return {"seeds": [np.asarray(v) for v in seed_states(model)],
            "callbacks": {f"{i}:{type(cb).__name__}": {name: _plain(getattr(cb, name)) for name in _resume_attributes(cb)
                                                      if hasattr(cb, name)}
                          for i, cb in enumerate(callbacks) if _resume_attributes(cb)}}


def restore_training_state(model: keras.Model, callbacks, state: dict) -> None:
    variables = seed_states(model)
    if len(variables) == len(state["seeds"]):
        for variable, value in zip(variables, state["seeds"]):
            variable.assign(value)
    for i, cb in enumerate(callbacks):
        for name, value in state["callbacks"].get(f"{i}:{type(cb).__name__}", {}).items():
            setattr(cb, name, value)


def save_training_state(path: str, state: dict, **meta) -> None:
    """Writes `training_state(...)` (with `meta`, e.g. the epoch) to an .npz, atomically."""
    entries = {f"seed/{i}": value for i, value in enumerate(state["seeds"])}
    entries["json"] = np.frombuffer(json.dumps({"callbacks": state["callbacks"], **meta}).encode(), np.uint8)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    partial = f"{path}.partial.npz"
    np.savez(partial, **entries)
    os.replace(partial, path)


def load_training_state(path: str) -> tuple[dict, dict] | None:
    """(state, meta) saved by `save_training_state`, or None if there is no such file."""
    if not os.path.isfile(path):
        return None
    with np.load(path) as data:
        extra = json.loads(bytes(data["json"]).decode())
        seeds = [data[f"seed/{i}"] for i in range(sum(k.startswith("seed/") for k in data.files))]
    return {"seeds": seeds, "callbacks": extra.pop("callbacks")}, extra


class SafeBackupAndRestore(DivergenceGuard, keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that keeps no backup of a diverged epoch (or one with a non-finite loss), and that
    also keeps what a resumed fit needs to go on exactly as an uninterrupted one: the model's random-generator
    states and the running values of the fit's other callbacks (`track(callbacks)`), in
    `resume-epochN.npz` next to Keras' files, N matching its `training_metadata.json`.
    `delete_checkpoint=False` by default, so the backup lives until the run has written its results
    (`common.training` removes it then)."""

    def __init__(self, backup_dir: str, nan_stop: StopOnNaN | None = None, **kwargs):
        kwargs.setdefault("delete_checkpoint", False)
        super().__init__(backup_dir, **kwargs)
        self.nan_stop = nan_stop
        self.tracked: list = []

    def track(self, callbacks) -> None:
        self.tracked = [cb for cb in callbacks if cb is not self]

    def _state_path(self, epoch: int) -> str:
        return os.path.join(self.backup_dir, f"resume-epoch{epoch}.npz")

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if not os.path.isfile(self._training_metadata_path):
            return
        with open(self._training_metadata_path) as f:
            epoch = json.load(f)["epoch"]
        loaded = load_training_state(self._state_path(epoch))
        if loaded is not None:
            restore_training_state(self.model, self.tracked, loaded[0])

    def on_epoch_end(self, epoch, logs=None):
        if self._guarded(logs):
            return
        # The state first, under the epoch Keras' metadata is about to name; then Keras' weights and metadata;
        # then older states go. A kill in between leaves the previous epoch's pair intact.
        save_training_state(self._state_path(epoch + 1), training_state(self.model, self.tracked), epoch=epoch + 1)
        super().on_epoch_end(epoch, logs)
        for path in glob.glob(os.path.join(self.backup_dir, "resume-epoch*.npz")):
            if path != self._state_path(epoch + 1) and path != self._state_path(epoch):
                os.remove(path)


class EpochCSVLogger(keras.callbacks.CSVLogger):
    """`CSVLogger(append=True)` that keeps one row per epoch across resumes: when a fit starts at epoch E
    (a resumed run), rows of epochs >= E that an interrupted run had logged are dropped first."""

    def __init__(self, filename: str):
        super().__init__(filename, append=True)
        self._trimmed = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._trimmed:
            self._trimmed = True
            trim_csv_log(self.filename, epoch)
        super().on_epoch_begin(epoch, logs)


def trim_csv_log(path: str, first_epoch: int) -> None:
    """Drops the rows of epochs >= `first_epoch` from a CSV training log, in place (the logger's open handle
    appends after what is kept)."""
    if not os.path.isfile(path):
        return
    with open(path, "r+", encoding="utf-8", newline="") as fh:
        lines = fh.readlines()
        kept = lines[:1] + [line for line in lines[1:] if _epoch_of(line) < first_epoch]
        if len(kept) != len(lines):
            fh.seek(0)
            fh.writelines(kept)
            fh.truncate()


def _epoch_of(line: str) -> int:
    try:
        return int(line.split(",", 1)[0])
    except ValueError:
        return -1  # not a row (a blank line): keep it


class AtomicModelCheckpoint(DivergenceGuard, keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint(save_best_only=True)` whose file is written aside and moved into place; never of a
    diverged epoch (`nan_stop`) or with a non-finite loss."""

    def __init__(self, filepath: str, nan_stop: StopOnNaN | None = None, **kwargs):
        directory, name = os.path.split(filepath)
        self.final_path = filepath
        self.nan_stop = nan_stop
        self.best_epoch: int | None = None
        super().__init__(os.path.join(directory, f".partial-{name}"), **kwargs)

    resume_attributes = ("best_epoch",)

    def on_epoch_end(self, epoch, logs=None):
        if self._guarded(logs):
            return
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final_path)
            self.best_epoch = epoch + 1
