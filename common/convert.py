"""Exports of a run's model for other runtimes: a `.keras` copy, TFLite (LiteRT) and ONNX.

Each converter traces the model's numeric inference function (`model(inputs, training=False)`, the raw
outputs: a detector's decoding or a recogniser's CTC search, which the SavedModel serves, stay with the
caller), writes the result beside its target, loads it back in its own runtime (`tf.lite.Interpreter`;
`onnx.checker` and `onnxruntime`), compares its outputs with the Keras model's on the same input and only then
moves it into place: a model that cannot convert, or converts into something that does not load or does
not compute the same numbers (`TOLERANCE`), is a one-line `UsageError` and leaves nothing behind.

TFLite takes builtin ops only (`TFLITE_BUILTINS`, no Flex delegate). Recurrent layers convert with a
fixed batch size (1 by default, `batch_size` to choose): the converter unrolls their loops into builtin
ops only for static shapes. ONNX needs the optional packages tf2onnx, onnx and onnxruntime (the `[onnx]`
extra); without them `--format onnx` says so in one line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import tempfile
import warnings

import keras
import numpy as np

from common.errors import UsageError
from common.export import atomic_file, model_inputs

# The largest difference allowed between an export's outputs and the Keras model's on the same input
# (for outputs of magnitude up to 1; relative to the largest output beyond).
TOLERANCE = 1e-4
# File name of each file format's default export (beside the run's model.keras).
FILE_NAMES = {"tflite": "model.tflite", "onnx": "model.onnx", "keras": "export.keras"}
ONNX_INSTALL = 'pip install tf2onnx onnx onnxruntime (the [onnx] extra of dlsuite)'


def is_recurrent(model: keras.Model) -> bool:
    """Whether the model holds a recurrent layer (LSTM, GRU, SimpleRNN, Bidirectional, ...)."""
    return any(isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)) for layer in model._flatten_layers())


def input_specs(model: keras.Model, batch_size: int | None):
    """`tf.TensorSpec`s of the model's inputs (in `model.inputs` order), the batch dimension set to `batch_size`."""
    import tensorflow as tf

    return [tf.TensorSpec(shape=(batch_size, *t.shape[1:]), dtype=t.dtype, name=t.name.split(":")[0])
            for t in model.inputs]


def string_inputs(model: keras.Model) -> list[str]:
    return [t.name.split(":")[0] for t in model.inputs if str(t.dtype) == "string"]


def sample_inputs(model: keras.Model, batch_size: int, seed: int = 0, length: int = 8,
                  audio_length: int = 8000) -> list[np.ndarray]:
    """Random inputs of the model's input shapes and dtypes: floats in [0, 1), integers (token ids) in [1, 4).
    A dimension left open gets `length`, but the time axis of a float input of shape (batch, None), raw
    audio, gets `audio_length` (a spectrogram needs more samples than one frame)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        open_length = audio_length if len(t.shape) == 2 and "float" in str(t.dtype) else length
        shape = (batch_size, *(open_length if d is None else d for d in t.shape[1:]))
        dtype = str(t.dtype)
        if dtype.startswith("int") or dtype.startswith("uint"):
            arrays.append(rng.integers(1, 4, size=shape).astype(dtype))
        elif dtype == "bool":
            arrays.append(rng.random(shape) < 0.5)
        else:
            arrays.append(rng.random(shape).astype(dtype))
    return arrays


def _flat_outputs(outputs) -> list[np.ndarray]:
    return [np.asarray(o) for o in keras.tree.flatten(outputs)]


def keras_outputs(model: keras.Model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return _flat_outputs(model(model_inputs(model, inputs), training=False))


def inference_function(model: keras.Model, batch_size: int | None):
    """The concrete function `model(inputs, training=False)` of the model's inputs, outputs flattened to a list."""
    import tensorflow as tf

    @tf.function(input_signature=input_specs(model, batch_size))
    def infer(*args):
        return keras.tree.flatten(model(model_inputs(model, args), training=False))

    return infer, infer.get_concrete_function()


def _max_difference(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    if len(got) != len(want):
        raise UsageError(f"the export returns {len(got)} outputs, the Keras model {len(want)}")
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape:
            raise UsageError(f"an output of the export has shape {g.shape}, the Keras model's {w.shape}")
        worst = max(worst, float(np.max(np.abs(g - w))) if g.size else 0.0)
    return worst


def _check_close(fmt: str, app: str, got, want) -> float:
    """The largest absolute difference; UsageError above `TOLERANCE` times the outputs' scale (their largest
    magnitude, at least 1: an image network's 0-255 pixels may differ by float32 rounding of that size)."""
    difference = _max_difference(got, want)
    scale = max([1.0, *(float(np.max(np.abs(w))) for w in want if np.size(w))])
    if not difference <= TOLERANCE * scale:  # NaN fails too
        raise UsageError(f"{app}'s {fmt} export differs from the Keras model by {difference:.2g} "
                         f"(more than {TOLERANCE * scale:.2g}); use --format saved_model")
    return difference


def export_keras(model_file: str, path: str) -> str:
    """A copy of the run's `.keras` file at `path` (atomic)."""
    if os.path.abspath(model_file) == os.path.abspath(path):
        raise UsageError(f"--path {path} is the run's own model; give another file")
    with atomic_file(path, prefix=".tmp-export-") as tmp:
        shutil.copyfile(model_file, tmp)
    return path


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _flex_ops(message: str) -> list[str]:
    """The TensorFlow ops a TFLite conversion error names as not builtin (`tf.Erfc`, `FlexStringLower`, ...)."""
    found = re.findall(r"\btf\.([A-Z][A-Za-z0-9]+)", message) + re.findall(r"\bFlex([A-Z][A-Za-z0-9]+)", message)
    return sorted(set(found))


def convert_tflite(model: keras.Model, batch_size: int | None = None) -> bytes:
    """The TFLite flatbuffer of the model's inference function, builtin ops only; UsageError where it needs more.

    The function goes through a SavedModel (`keras.export.ExportArchive`, as `common.export` writes them):
    converting a concrete function straight from memory leaves the weights as uninitialised resource
    variables in the flatbuffer."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix=".tmp-tflite-") as saved:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve",
                             lambda *args: keras.tree.flatten(model(model_inputs(model, args), training=False)),
                             input_signature=input_specs(model, batch_size))
        with _quiet_native():
            archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["serve"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            with _quiet_native():
                return converter.convert()
        except Exception as exc:  # ConverterError
            ops = _flex_ops(str(exc))
            if ops:
                raise UsageError(f"the converter cannot lower ops {', '.join(ops)} to builtins") from None
            raise UsageError(_first_error(str(exc)) or type(exc).__name__) from None


def _first_error(message: str) -> str:
    """The first `error: ...` of an MLIR converter message, without its source locations."""
    found = re.search(r"error: ([^\n]*)", message)
    return _one_line(found.group(1) if found else message.splitlines()[0] if message else "")


def tflite_outputs(flatbuffer: bytes, inputs: list[np.ndarray], names: list[str]) -> list[np.ndarray]:
    """Runs a TFLite model (ai_edge_litert's interpreter where installed, else TensorFlow's) on `inputs` (named
    `names`, the signature's input names); its outputs in the order of the Keras model's flattened outputs."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*tf.lite.Interpreter is deprecated")
        interpreter = Interpreter(model_content=flatbuffer)
    runner = interpreter.get_signature_runner("serve")  # resizes open dimensions to the inputs given
    with _quiet_native():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        results = runner(**dict(zip(names, inputs)))
    # The endpoint returns a flat list: outputs "output_0", "output_1", ...
    return [results[k] for k in sorted(results, key=lambda n: int(re.sub(r"\D", "", n) or 0))]


def export_tflite(model: keras.Model, path: str, app: str, batch_size: int | None = None) -> dict:
    """Writes `path` (a `.tflite` file, atomic) after checking its outputs against the Keras model's.

    Returns {"path", "batch_size" (None: any), "max_difference"}."""
    if string_inputs(model):
        raise UsageError(f"{app}'s model takes raw strings (string ops): TFLite needs the Flex delegate; "
                         "use --format saved_model")
    if batch_size is None and is_recurrent(model):
        batch_size = 1
    try:
        flatbuffer = convert_tflite(model, batch_size)
    except UsageError as exc:
        raise UsageError(f"{app}'s model does not convert to TFLite with builtin ops ({exc}); "
                         "use --format saved_model") from None
    inputs = sample_inputs(model, batch_size or 2)
    try:
        got = tflite_outputs(flatbuffer, inputs, [spec.name for spec in input_specs(model, batch_size)])
    except Exception as exc:
        raise UsageError(f"{app}'s TFLite model does not run in the TFLite interpreter "
                         f"({_one_line(exc)}); use --format saved_model") from None
    difference = _check_close("TFLite", app, got, keras_outputs(model, inputs))
    with atomic_file(path, prefix=".tmp-export-") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(flatbuffer)
    return {"path": path, "batch_size": batch_size, "max_difference": difference}


@contextlib.contextmanager
def _quiet_native():
    """Keeps the converters' chatter off the terminal while they run: TensorFlow's C++ log and MLIR
    diagnostics on file descriptor 2 (their errors come back in the raised exception too) and the Python
    loggers of tf2onnx, absl and TensorFlow below errors."""
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "absl", "tensorflow")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(io.StringIO()):
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def check_onnx_installed() -> None:
    """UsageError of one line, saying what to install, where tf2onnx, onnx or onnxruntime is missing."""
    import importlib.util

    for name in ("tf2onnx", "onnx", "onnxruntime"):
        if importlib.util.find_spec(name) is None:
            raise UsageError(f"--format onnx needs {name}: {ONNX_INSTALL}")


def _onnx_modules():
    try:
        import onnx
        import onnxruntime
        import tf2onnx
    except ImportError as exc:
        raise UsageError(f"--format onnx needs {exc.name}: {ONNX_INSTALL}") from None
    with contextlib.suppress(ImportError):  # tf2onnx 1.17 still calls numpy < 2 names; Keras patches them
        from keras.src.export.tf2onnx_lib import patch_tf2onnx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # its `hasattr(np, "object")`
            patch_tf2onnx()
    return onnx, onnxruntime, tf2onnx


def _erfc_to_onnx(ctx, node, name, args):
    """tf2onnx handler of `Erfc` (exact GELU, `keras.activations.gelu`), which tf2onnx 1.17 lacks:
    erfc(x) = 1 - erf(x), ONNX `Sub(1, Erf(x))`."""
    from tf2onnx import utils

    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype))
    erf = ctx.make_node("Erf", [node.input[0]], name=utils.make_name(f"{node.name}_erf"))
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])


def _rfft_to_onnx(ctx, node, name, args):
    """tf2onnx handler of `RFFT` over the last axis as two matrix products with the DFT's cosine and sine
    tables, its output the real and imaginary parts stacked on a new last axis (read by `Real` / `Imag`
    below). tf2onnx 1.17 converts an RFFT only when its one consumer is `ComplexAbs`, not Keras'
    `ops.rfft` / `MelSpectrogram`, which take its real and imaginary parts."""
    from tf2onnx import utils

    frame = ctx.get_shape(node.input[0])[-1]
    length = int(np.ravel(ctx.get_node_by_output(node.input[1]).get_tensor_value(as_list=False))[0])
    utils.make_sure(frame is not None and 0 < frame <= length, "RFFT needs a static frame no longer than fft_length")
    dtype = ctx.get_dtype(node.input[0])
    np_dtype = utils.map_onnx_to_numpy_type(dtype)
    # Samples past the frame are the zero padding of fft_length: only the first `frame` rows matter.
    angles = 2.0 * np.pi * np.outer(np.arange(frame), np.arange(length // 2 + 1)) / length
    cos = ctx.make_const(utils.make_name(f"{node.name}_cos"), np.cos(angles).astype(np_dtype))
    sin = ctx.make_const(utils.make_name(f"{node.name}_sin"), (-np.sin(angles)).astype(np_dtype))
    axis = ctx.make_const(utils.make_name(f"{node.name}_axis"), np.array([-1], np.int64))
    x, output, shape = node.input[0], node.output[0], ctx.get_shape(node.output[0])
    ctx.remove_node(node.name)
    parts = [ctx.make_node("Unsqueeze", [ctx.make_node("MatMul", [x, table.output[0]]).output[0], axis.output[0]])
             for table in (cos, sin)]
    ctx.make_node("Concat", [p.output[0] for p in parts], attr={"axis": -1}, outputs=[output],
                  shapes=[None if shape is None else [*shape, 2]], dtypes=[dtype])


def _complex_part(index: int):
    """tf2onnx handler of `Real` (0) or `Imag` (1) of an `_rfft_to_onnx` output: that slice of its last axis."""
    def handler(ctx, node, name, args):
        from tf2onnx import utils

        picked = ctx.make_const(utils.make_name(f"{node.name}_part"), np.array(index, np.int64))
        x, output = node.input[0], node.output[0]
        shape, dtype = ctx.get_shape(output), ctx.get_dtype(output)
        ctx.remove_node(node.name)
        ctx.make_node("Gather", [x, picked.output[0]], attr={"axis": -1}, outputs=[output], shapes=[shape],
                      dtypes=[dtype])

    return handler


ONNX_HANDLERS = {"Erfc": (_erfc_to_onnx, []), "RFFT": (_rfft_to_onnx, []), "Real": (_complex_part(0), []),
                 "Imag": (_complex_part(1), [])}


def convert_onnx(model: keras.Model, batch_size: int | None = None, opset: int | None = None):
    """The ONNX ModelProto of the model's inference function (tf2onnx); UsageError where an op has no ONNX form.

    The function is frozen first (weights and the constants layers keep, such as a `Normalization`'s mean,
    become graph constants) with only the signature's tensors as inputs: tf2onnx's own `convert.from_function`
    also lists the captured constants as inputs, which onnxruntime then asks to be fed."""
    onnx, _, tf2onnx = _onnx_modules()
    _, concrete = inference_function(model, batch_size)
    # The signature's own inputs come first; the rest are captured tensors, which freezing makes constants.
    inputs = [t.name for t in concrete.inputs[:len(model.inputs)]]
    outputs = [t.name for t in concrete.outputs]
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    log = logging.getLogger("tf2onnx")
    try:
        with _quiet_native():
            log.addHandler(handler)
            log.propagate = False  # its errors go to `captured`, not the terminal
            frozen = tf2onnx.tf_loader.from_function(concrete, inputs, outputs)  # mends a Keras RNN's seed update
            names = {**{t: spec.name for t, spec in zip(inputs, input_specs(model, batch_size))},
                     **{t: f"output_{i}" for i, t in enumerate(outputs)}}  # not "args_0:0", "Identity:0"
            proto, _ = tf2onnx.convert.from_graph_def(frozen, input_names=inputs, output_names=outputs, opset=opset,
                                                      tensors_to_rename=names,
                                                      custom_op_handlers=ONNX_HANDLERS)
    except Exception as exc:
        raise UsageError(_one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)) from None
    finally:
        log.removeHandler(handler)
        log.propagate = True
    log_text = captured.getvalue()
    unsupported = sorted(set(re.findall(r"Tensorflow op \[[^\]]*: ([A-Za-z0-9]+)\] is not supported", log_text)))
    if unsupported:
        raise UsageError(f"ops {', '.join(unsupported)} have no ONNX conversion")
    failed = re.findall(r"Failed to convert node [^\n]*?\(type: ([A-Za-z0-9]+)\)", captured.getvalue())
    if failed:
        raise UsageError(f"tf2onnx cannot convert ops {', '.join(sorted(set(failed)))}")
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # tf2onnx can finish yet leave TensorFlow ops in the graph
        raise UsageError(f"onnx.checker rejects the result: {_one_line(exc)}") from None
    return proto


def onnx_outputs(proto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    _, onnxruntime, _ = _onnx_modules()
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def export_onnx(model: keras.Model, path: str, app: str, batch_size: int | None = None) -> dict:
    """Writes `path` (a `.onnx` file, atomic) after checking it with onnx.checker and its onnxruntime outputs
    against the Keras model's. Returns {"path", "batch_size", "max_difference"}."""
    _onnx_modules()
    if string_inputs(model):
        raise UsageError(f"{app}'s model takes raw strings (string ops), which ONNX cannot compute; "
                         "use --format saved_model")
    try:
        proto = convert_onnx(model, batch_size)
    except UsageError as exc:
        raise UsageError(f"{app}'s model does not convert to ONNX ({exc}); use --format saved_model") from None
    inputs = sample_inputs(model, batch_size or 2)
    try:
        got = onnx_outputs(proto, inputs)
    except Exception as exc:
        raise UsageError(f"{app}'s ONNX model does not run in onnxruntime ({_one_line(exc)}); "
                         "use --format saved_model") from None
    difference = _check_close("ONNX", app, got, keras_outputs(model, inputs))
    with atomic_file(path, prefix=".tmp-export-") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(proto.SerializeToString())
    return {"path": path, "batch_size": batch_size, "max_difference": difference}
