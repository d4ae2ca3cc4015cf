"""Using a finished run: evaluate it again, predict with it, export it for serving."""

from __future__ import annotations

import os

from common.config import resolve_config
from common.errors import UsageError
from common.export import export_saved_model, load_model
from common.runs import RunDir, check_writable
from common.task import Task


def load_run(task: Task, run_dir: str, overrides: dict | None = None, sets=None):
    """(config, model, data summary) of a finished run; `overrides` may point it at other data."""
    run = RunDir(run_dir)
    saved = run.read_json(run.config)
    if saved.get("app") != task.name:
        raise UsageError(f"{run_dir} is a {saved.get('app')!r} run, not {task.name!r}")
    cfg = resolve_config(task.config_class, task.name, run.config, overrides, sets)
    model = load_model(run.model)
    summary = run.read_json(run.metrics).get("data", {})
    return cfg, model, summary


def evaluate_run(task: Task, run_dir: str, overrides=None, sets=None) -> dict:
    """Test metrics of the run's saved model, on its dataset or the one given in `overrides`."""
    from common.datasets import check_data_dir  # TensorFlow Datasets only where data is loaded

    cfg, model, _ = load_run(task, run_dir, overrides, sets)
    check_data_dir(cfg.data_dir)
    data = task.load_data(cfg)
    inputs = task.build_inputs(cfg, data)
    return {"app": task.name, "dataset": cfg.dataset, "test": task.evaluate(model, cfg, data, inputs)}


def predict_run(task: Task, run_dir: str, inputs: list[str], overrides=None, sets=None) -> list[dict]:
    """The task's predictions; its `summary` also carries "run_dir" (where pictures of them may go)."""
    cfg, model, summary = load_run(task, run_dir, overrides, sets)
    return task.predict(model, cfg, {**summary, "run_dir": run_dir}, inputs)


def export_run(task: Task, run_dir: str, path: str = "", fmt: str = "saved_model",
               batch_size: int | None = None) -> str:
    """Exports the run's model; returns where it went.

    fmt: "saved_model" (default RUN/saved_model): a SavedModel that returns `task.serving_outputs` of the
        model's outputs (named outputs, with what they need of the run's data summary, such as class names,
        inside the graph); "preset" (RUN/preset): a KerasHub preset folder, for runs whose model is a KerasHub
        task; "keras" (RUN/export.keras): a copy of the run's `.keras` file; "tflite" (RUN/model.tflite) and
        "onnx" (RUN/model.onnx): the model's raw outputs (`training=False`), checked against the Keras
        model before they are written (`common.convert`). A `path` that is a folder gets the file's default
        name inside it.
    batch_size: tflite and onnx only: a fixed batch size (None: any, but 1 for recurrent models in TFLite).
    """
    from common import convert

    run = RunDir(run_dir)
    if batch_size is not None and fmt not in ("tflite", "onnx"):
        raise UsageError(f"--batch-size applies to --format tflite and onnx, not {fmt}")
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size {batch_size} must be >= 1")
    if fmt == "onnx":
        convert.check_onnx_installed()  # before the model loads
    cfg, model, summary = load_run(task, run_dir)
    if fmt in convert.FILE_NAMES:
        target = path or os.path.join(run.root, convert.FILE_NAMES[fmt])
        if os.path.isdir(target):
            target = os.path.join(target, convert.FILE_NAMES[fmt])
        check_writable(os.path.dirname(os.path.abspath(target)), "--path")
    else:
        target = path or (os.path.join(run.root, "preset") if fmt == "preset" else run.saved_model)
        if os.path.exists(target) and not os.path.isdir(target):
            raise UsageError(f"--path {target} is a file; give a folder for the export")
        RunDir(target).check_writable()
    with run.lock(f"dlsuite {task.name} export"):  # not while another process trains or exports this run
        if fmt == "preset":
            from common.presets import export_preset

            return export_preset(model, target)
        if fmt == "keras":
            return convert.export_keras(run.model, target)
        if fmt == "tflite":
            return convert.export_tflite(model, target, task.name, batch_size)["path"]
        if fmt == "onnx":
            return convert.export_onnx(model, target, task.name, batch_size)["path"]
        return export_saved_model(model, target, postprocess=lambda out: task.serving_outputs(cfg, out, summary))
