"""`dlsuite APP export --format tflite|onnx|keras`: each export computes what the Keras model computes (1e-4),
a model that cannot convert is one line and exit 2 with nothing written; the compatibility table of
docs/export_formats.md (`scripts/export_table.py`) over every application is a benchmark."""

from __future__ import annotations

import importlib.util
import os
import sys

import keras
import numpy as np
import pytest

from conftest import TINY_RNN

from common import convert
from common.errors import UsageError

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "export_table.py")
HAS_ONNX = all(importlib.util.find_spec(name) for name in ("tf2onnx", "onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="the [onnx] extra (tf2onnx, onnx, onnxruntime) is not installed")


def export_table():
    spec = importlib.util.spec_from_file_location("export_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    """A tiny finished time_series run (a GRU forecaster)."""
    from dlsuite.cli import run

    path = tmp_path_factory.mktemp("export") / "run"
    assert run(["time_series", "train", "--epochs", "1", "--quiet", "--output-dir", str(path), *TINY_RNN]) == 0
    return path


def test_recurrent_run_exports_to_tflite_keras_and_onnx(cli, series_run, tmp_path):
    model = keras.saving.load_model(series_run / "model.keras")
    x = convert.sample_inputs(model, 1, seed=3)
    want = np.asarray(model(x[0], training=False))

    code, out, err = cli("time_series", "export", "--run", series_run, "--format", "tflite")
    assert code == 0, err
    assert "TFLite model written to" in out and (series_run / "model.tflite").is_file()
    flatbuffer = (series_run / "model.tflite").read_bytes()
    names = [spec.name for spec in convert.input_specs(model, 1)]
    got = convert.tflite_outputs(flatbuffer, x, names)[0]
    assert np.max(np.abs(got - want)) <= 1e-4  # an input the export's own check never saw

    code, out, err = cli("time_series", "export", "--run", series_run, "--format", "keras", "--path", tmp_path)
    assert code == 0, err
    copy = keras.saving.load_model(tmp_path / "export.keras")
    np.testing.assert_allclose(np.asarray(copy(x[0], training=False)), want, atol=1e-6)

    if HAS_ONNX:
        code, out, err = cli("time_series", "export", "--run", series_run, "--format", "onnx",
                             "--path", tmp_path / "series.onnx")
        assert code == 0, err
        assert "onnx.checker passed" in out
        import onnxruntime

        session = onnxruntime.InferenceSession(str(tmp_path / "series.onnx"), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: np.repeat(x[0], 3, axis=0)})[0]
        assert np.max(np.abs(got - np.repeat(want, 3, axis=0))) <= 1e-4  # any batch size


def test_bad_export_requests_are_one_line_and_write_nothing(cli, series_run, tmp_path, monkeypatch):
    code, out, err = cli("time_series", "export", "--run", series_run, "--format", "coreml")
    assert code == 2 and "invalid choice: 'coreml'" in err
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    code, out, err = cli("time_series", "export", "--run", series_run, "--format", "tflite",
                         "--path", blocker / "model.tflite")
    assert code == 2 and "is a file" in one_line(err)
    code, out, err = cli("time_series", "export", "--run", series_run, "--batch-size", "4")
    assert code == 2 and "--batch-size applies to --format tflite and onnx" in one_line(err)
    code, out, err = cli("time_series", "export", "--run", series_run, "--format", "keras",
                         "--path", series_run / "model.keras")
    assert code == 2 and "is the run's own model" in one_line(err)
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if the [onnx] extra were not installed
    code, out, err = cli("time_series", "export", "--run", series_run, "--format", "onnx",
                         "--path", tmp_path / "x.onnx")
    assert code == 2 and "--format onnx needs tf2onnx: pip install tf2onnx onnx onnxruntime" in one_line(err)
    assert sorted(os.listdir(tmp_path)) == ["blocker"]


def test_string_inputs_and_unconvertible_ops_are_refused_atomically(tmp_path):
    text = keras.Input((1,), dtype="string", name="text")
    lookup = keras.layers.StringLookup(vocabulary=["good", "bad"], output_mode="one_hot")(text)
    strings = keras.Model(text, keras.layers.Dense(2)(lookup))
    with pytest.raises(UsageError, match="sentiment's model takes raw strings .*TFLite needs the Flex delegate"):
        convert.export_tflite(strings, str(tmp_path / "s.tflite"), "sentiment")

    features = keras.Input((4,))
    gelu = keras.Model(features, keras.layers.Dense(3, activation=keras.activations.gelu)(features))  # exact GELU
    assert convert.export_tflite(gelu, str(tmp_path / "g.tflite"), "toy")["max_difference"] <= 1e-4
    erfinv = keras.Model(features, keras.layers.Lambda(keras.ops.erfinv)(features))  # no builtin, no ONNX op
    with pytest.raises(UsageError, match=r"toy's model does not convert to TFLite with builtin ops \(the converter "
                                         r"cannot lower ops Erfinv to builtins\); use --format saved_model"):
        convert.export_tflite(erfinv, str(tmp_path / "e.tflite"), "toy")
    if HAS_ONNX:
        # tf2onnx 1.17 converts neither Erfc nor an RFFT read by Real / Imag; common.convert's handlers do
        assert convert.export_onnx(gelu, str(tmp_path / "g.onnx"), "toy")["max_difference"] <= 1e-4
        audio = keras.Input((400,))
        spectrum = keras.layers.Lambda(lambda x: keras.ops.concatenate(keras.ops.rfft(x, 512), axis=-1))(audio)
        fft = keras.Model(audio, spectrum)
        assert convert.export_onnx(fft, str(tmp_path / "f.onnx"), "toy")["max_difference"] <= 1e-4 * 400
        with pytest.raises(UsageError, match=r"toy's model does not convert to ONNX \(ops Erfinv have no ONNX"):
            convert.export_onnx(erfinv, str(tmp_path / "e.onnx"), "toy")
    written = ["f.onnx", "g.onnx", "g.tflite"] if HAS_ONNX else ["g.tflite"]
    assert sorted(os.listdir(tmp_path)) == written  # nothing of the refused exports, no temporary files


@pytest.mark.parametrize("app", ["image_classification", "tabular"])
def test_table_rows_of_a_cnn_and_a_raw_row_model(app):
    """Two rows of the table, built as scripts/export_table.py builds them: a CNN converts everywhere, the
    tabular model on raw rows (strings) converts to neither runtime and says why."""
    module = export_table()
    formats = ("keras", "tflite", "onnx") if HAS_ONNX else ("keras", "tflite")
    rows = module.table([app], formats)
    cells = rows[app]
    assert cells["keras"] == "ok"
    if app == "image_classification":
        assert all(cells[f].startswith("ok") for f in formats), cells
    else:
        assert "takes raw strings" in cells["tflite"], cells
    assert f"| `{app}` |" in module.markdown(rows, formats)


@pytest.mark.benchmark
@needs_onnx
def test_full_table(tmp_path):
    """Every application's row (a few minutes on 2 CPU cores); EXPORT_TABLE=PATH writes it into that
    markdown file between its markers (docs/export_formats.md)."""
    module = export_table()
    rows = module.table(None)
    assert all(cells["keras"] == "ok" for cells in rows.values()), rows
    assert all(not cell.startswith("not measured") for cells in rows.values() for cell in cells.values()), rows
    if os.environ.get("EXPORT_TABLE"):
        module.write_table(os.environ["EXPORT_TABLE"], module.markdown(rows))
