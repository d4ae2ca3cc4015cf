"""Atomic writes of run files, `.keras` models and SavedModel exports.

A reader never sees a half-written file: everything is written next to its target and moved into
place with `os.replace`, which is atomic on one file system.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings

import keras

from common.errors import UsageError


@contextlib.contextmanager
def atomic_file(path: str, prefix: str = ".tmp-"):
    """Yields a temporary file name beside `path`; when the block ends it is moved onto `path` (atomic on one
    file system); on an error it is removed and `path` is left as it was."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=os.path.basename(path))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def atomic_write_json(path: str, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_model(model: keras.Model, path: str) -> None:
    """Saves a `.keras` file atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_model(path: str) -> keras.Model:
    """Loads a `.keras` file written by the suite, with a clear error if it is missing or corrupt.

    Its custom layers and losses must be registered (`keras.saving.register_keras_serializable`): they
    are once the application that defines them has been imported, as the front door and any caller
    that knows which application wrote the file have done."""
    if not os.path.isfile(path):
        raise UsageError(f"no trained model at {path}: train first (dlsuite APP train --output-dir DIR)")
    import zipfile

    if not zipfile.is_zipfile(path):  # truncated or not a .keras file: Keras would say "File not found"
        raise UsageError(f"model file {path} is corrupt (not a complete .keras zip archive); retrain, or rerun the "
                         "training command to rewrite it")
    try:
        with warnings.catch_warnings():
            # A KerasHub task (a --preset run) compiles itself with defaults when rebuilt; Keras then says it
            # did not restore the custom compile and skips the saved optimizer's variables, which serving
            # never uses.
            warnings.filterwarnings("ignore", message=r"`compile\(\)` was not called as part of model loading")
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(path)
    except Exception as exc:  # zip, h5 or config errors all mean the same thing to the user
        raise UsageError(f"cannot load model {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def model_inputs(model: keras.Model, args: tuple):
    """The endpoint's positional tensors (in `model.inputs` order) in the structure the model takes:
    one tensor, a list, or a dict keyed by input name (a model on named table columns)."""
    try:
        structure = model.input
    except (AttributeError, ValueError):  # models that were never called on Keras inputs
        structure = None
    if isinstance(structure, dict):
        return keras.tree.pack_sequence_as(structure, list(args))
    return args[0] if len(args) == 1 else list(args)


@contextlib.contextmanager
def atomic_directory(path: str, prefix: str = ".tmp-"):
    """Yields a fresh folder beside `path` to write into; when the block ends it replaces `path` (the old folder
    removed), so `path` never holds half an export. On an error the partial folder is removed, `path` kept."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=prefix)
    try:
        yield tmp
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)


def _serving_spec(tensor):
    """The endpoint's input spec of one model input. A column of one value per example (`(batch, 1)`: a text, a
    table cell) takes any rank, so a client may send the natural 1-D batch `[n]` as well as `[n, 1]`."""
    import tensorflow as tf

    name = tensor.name.split(":")[0]
    if _is_column(tensor):
        return tf.TensorSpec(shape=None, dtype=tensor.dtype, name=name)
    return tf.TensorSpec(shape=tensor.shape, dtype=tensor.dtype, name=name)


def _is_column(tensor) -> bool:
    return len(tensor.shape) == 2 and tensor.shape[1] == 1


def classifier_outputs(probabilities, class_names=None, label=None) -> dict:
    """The named outputs of an exported classifier (TF ops): `probabilities` (float32, one per class), `label`
    (int64 class index, the most probable unless given) and `class_name` (string), the names a constant of the
    graph, so they ship with the model.

    Args:
        probabilities: (batch, classes) class probabilities.
        class_names: the run's class names (its data summary); None or empty for "0", "1", ...
        label: (batch,) chosen class indices, where the application decides otherwise than by the argmax.
    """
    import tensorflow as tf

    probabilities = tf.cast(probabilities, tf.float32)
    if label is None:
        label = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    label = tf.cast(label, tf.int64)
    names = [str(n) for n in class_names] if class_names else [str(i) for i in range(probabilities.shape[-1])]
    return {"probabilities": probabilities, "label": label,
            "class_name": tf.gather(tf.constant(names, tf.string), label)}


def export_saved_model(model: keras.Model, path: str, postprocess=None) -> str:
    """Exports an inference-only SavedModel with a `serve` / `serving_default` signature.

    The endpoint calls the model with `training=False` explicitly: `model.export()` in Keras 3.15
    leaves random augmentation layers (RandomRotation, RandomZoom, ...) active in the served graph.
    Inputs of one value per example (`(batch, 1)`: texts, table columns) take a 1-D batch `[n]` too, reshaped
    to `[n, 1]` inside.

    Args:
        model: the trained model.
        path: the SavedModel folder (replaced atomically).
        postprocess: optional function of the model's outputs (TF ops) whose result the endpoint
            returns instead, e.g. decoded boxes of a detector; a dict names the signature's outputs.
    """
    import tensorflow as tf

    signature = [_serving_spec(t) for t in model.inputs]
    columns = [_is_column(t) for t in model.inputs]

    def serve(*args):
        args = tuple(tf.reshape(a, [-1, 1]) if column else a for a, column in zip(args, columns))
        return (postprocess or (lambda out: out))(model(model_inputs(model, args), training=False))

    with atomic_directory(path, prefix=".tmp-export-") as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", serve, input_signature=signature)
        archive.write_out(tmp, verbose=False)
    return path
