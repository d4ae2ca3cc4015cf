"""The `dlsuite` command line, shared by `scripts/<app>.py`.

    dlsuite list
    dlsuite APP train    [--dataset D] [--epochs N] [--batch-size B] [--strategy S] [--seed N]
                         [--config FILE] [--set key=value ...] [--output-dir DIR] [--overwrite]
    dlsuite APP evaluate --run DIR [--dataset D]
    dlsuite APP predict  --run DIR INPUT ...
    dlsuite APP export   --run DIR [--path OUT] [--format saved_model|tflite|onnx|keras|preset] [--batch-size N]
    dlsuite APP serve    --run DIR [--host H] [--port P] [--max-request-bytes N]   (TF Serving's REST API)
    dlsuite APP tune     [--tuner random|bayesian|hyperband] [--max-trials N] [train options]
    dlsuite APP config   (prints every config field with its default and help)
    dlsuite APP ACTION   --run DIR [...]   an application's own actions (`text_generation generate --prompt ...`)

Bad input ends with one line `dlsuite: error: ...` on stderr and exit code 2; a diverged run
exits with 3; an interrupted one with 130 (rerun the same command to resume it).

The parser, `list` and `config` read only the applications' specs (`dlsuite.registry.SPECS`), so
they import no TensorFlow; an application's task, and TensorFlow, load when a command runs
(`dlsuite.startup` keeps TensorFlow's start-up chatter out of stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from common.config import describe_fields, flag_fields, resolve_config
from common.errors import TrainingDiverged, UsageError
from common.spec import check_backend
from dlsuite.registry import SPECS, embedded_datasets, get_app, get_spec
from dlsuite.startup import quiet_tensorflow_start

ACTIONS = ("train", "evaluate", "predict", "export", "serve", "tune", "config")
EXPORT_FORMATS = ("saved_model", "tflite", "onnx", "keras", "preset")


def _add_train_options(parser: argparse.ArgumentParser, spec=None) -> None:
    parser.add_argument("--dataset", help="dataset: embedded name, tfds:NAME, or a path (see `dlsuite list`)")
    parser.add_argument("--data-dir", help="TFDS data directory (cache of prepared datasets)")
    parser.add_argument("--epochs", type=int, help="maximum number of epochs")
    parser.add_argument("--batch-size", type=int, help="global batch size")
    parser.add_argument("--strategy", help="auto|default|one_device|mirrored|multi_worker|tpu")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--config", help="YAML/JSON file of config fields (e.g. a tuning run's best_config.json)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config field; repeatable (see `dlsuite APP config`)")
    parser.add_argument("--output-dir", help="run directory (default: runs/APP-TIMESTAMP); rerun with the same one to resume")
    parser.add_argument("--quiet", action="store_true",
                        help="no per-epoch output (without it: progress bars on a terminal, one line per epoch "
                             "in a log file or pipe)")
    if spec is not None:
        for f in flag_fields(spec.config_class):
            parser.add_argument("--" + f.name.replace("_", "-"), dest=f"flag_{f.name}", metavar="VALUE",
                                help=f"{f.metadata['help']} (same as --set {f.name}=VALUE)")


def build_parser(app: str | None = None) -> argparse.ArgumentParser:
    prog = "dlsuite" if app is None else f"{app}.py"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Keras 3 deep-learning application suite.",
        epilog="examples:\n  dlsuite list\n  dlsuite image_classification train --dataset digits --epochs 20\n"
               "  dlsuite time_series config\n  dlsuite APP ACTION --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if app is None:
        sub = parser.add_subparsers(dest="app", metavar="APP")
        sub.add_parser("list", help="list applications with their default datasets and models")
        for name, spec in SPECS.items():
            app_parser = sub.add_parser(name, help=spec.description, description=spec.description)
            _add_actions(app_parser, spec)
    else:
        _add_actions(parser, SPECS.get(app))
    return parser


def _add_actions(parser: argparse.ArgumentParser, spec=None) -> None:
    """The actions of one application, from its spec: no TensorFlow is imported to build them."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    train = actions.add_parser("train", help="train, evaluate on the test split, compare with baselines, save")
    _add_train_options(train, spec)
    train.add_argument("--overwrite", action="store_true", help="replace a finished (or differently configured) run")
    tune = actions.add_parser("tune", help="KerasTuner search; writes DIR/best_config.json")
    _add_train_options(tune, spec)
    tune.add_argument("--tuner", default="random", help="random|bayesian|hyperband (default: random)")
    tune.add_argument("--max-trials", type=int, default=10, help="trials to run (random, bayesian)")
    tune.add_argument("--overwrite", action="store_true",
                      help="replace what the output dir holds (a training run, or a search with other settings)")
    for name, text in (("evaluate", "test metrics of a trained run"), ("predict", "predict with a trained run"),
                       ("export", "export a trained run: SavedModel, TFLite, ONNX, .keras or KerasHub preset")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--run", "--output-dir", dest="run", required=True, help="a finished run directory")
        if name in ("evaluate", "predict"):
            action.add_argument("--dataset", help="evaluate on another dataset of the same kind")
            action.add_argument("--data-dir", help="TFDS data directory")
            action.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
        if name == "predict":
            action.add_argument("inputs", nargs="*", help="inputs (image files; for time series, nothing or a CSV)")
        if name == "export":
            action.add_argument("--path", default="", help="output folder or file (default: RUN/saved_model, "
                                "RUN/model.tflite, RUN/model.onnx, RUN/export.keras or RUN/preset)")
            action.add_argument("--format", default="saved_model", choices=EXPORT_FORMATS,
                                help="saved_model (default); tflite (builtin ops) or onnx (needs the [onnx] extra): "
                                     "the model's raw outputs, checked against Keras to 1e-4; keras: a copy of "
                                     "the .keras file; preset: a KerasHub preset folder (runs whose model is a "
                                     "KerasHub task, e.g. trained with --preset); see docs/export_formats.md")
            action.add_argument("--batch-size", type=int, default=None,
                                help="tflite, onnx: a fixed batch size (default: any; TFLite: 1 for recurrent models)")
    serve = actions.add_parser(
        "serve", help="an HTTP JSON endpoint on the run's SavedModel (TensorFlow Serving's REST predict API)",
        description="Serves RUN/saved_model (exported first if the run has none) with TensorFlow Serving's REST "
                    "API: GET /v1/models/APP (status), GET /v1/models/APP/metadata, POST /v1/models/APP:predict "
                    'with {"instances": [...]} or {"inputs": ...}; GET / is a page to try it. SIGTERM or '
                    "Ctrl-C stops it after the requests in flight.")
    serve.add_argument("--run", "--output-dir", dest="run", required=True, help="a finished run directory")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1; 0.0.0.0: all)")
    serve.add_argument("--port", type=int, default=8501, help="port (default: 8501, TF Serving's REST port; 0: any free one)")
    serve.add_argument("--max-request-bytes", type=int, default=32 * 1024 * 1024, metavar="N",
                       help="larger request bodies get HTTP 413 (default: 33554432, 32 MiB)")
    for name, text in getattr(spec, "actions", ()):  # the application's own actions on a finished run
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("--run", "--output-dir", dest="run", required=True, help="a finished run directory")
        action.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
        if spec.add_action_arguments is not None:
            spec.add_action_arguments(name, action)
    actions.add_parser("config", help="print the config fields, defaults and help")


def _overrides(args) -> dict:
    return {
        "dataset": getattr(args, "dataset", None),
        "data_dir": getattr(args, "data_dir", None),
        "epochs": getattr(args, "epochs", None),
        "batch_size": getattr(args, "batch_size", None),
        "strategy": getattr(args, "strategy", None),
        "seed": getattr(args, "seed", None),
    }


def _print_list() -> None:
    for name, spec in SPECS.items():
        default = spec.config_class()
        print(f"{name}\n  {spec.description}\n  default dataset: {default.dataset}    models: {', '.join(spec.models)}")
    print("\nembedded datasets (offline):")
    datasets = embedded_datasets()
    width = max(map(len, datasets))
    for name, (row, apps) in datasets.items():
        print(f"  {name:{width}s} {row.kind:6s} {row.description} [{', '.join(apps)}]")
    print("  tfds:NAME  any TFDS dataset (needs internet the first time, or --data-dir with it prepared)")


def _print_metrics(metrics: dict) -> None:
    def fmt(values: dict) -> str:
        return "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
                         if not isinstance(v, (dict, list)))

    baselines = metrics.get("baselines", {})
    real_world = metrics.get("real_world", {})
    names = ["model", *baselines, *(b for found in real_world.values() for b in found.get("baselines", {}))]
    width = max(map(len, names))  # one column of names, however long a baseline's name
    print(f"\n{metrics['app']} on {metrics['dataset']}")
    print(f"  {'model':{width}s} {fmt(metrics['test'])}")
    for name, values in baselines.items():
        print(f"  {name:{width}s} {fmt(values)}")
    for name, found in real_world.items():
        print(f"  real world: {name}, {found['examples']} examples ({found['source']})")
        print(f"    {'model':{width}s} {fmt(found['model'])}")
        for baseline, values in found.get("baselines", {}).items():
            print(f"    {baseline:{width}s} {fmt(values)}")
    if "train_seconds" in metrics:
        epochs = metrics["epochs"]
        print(f"  {epochs} epoch{'' if epochs == 1 else 's'} in {metrics['train_seconds']:.1f} s, "
              f"{metrics['examples_per_second']:.0f} examples/s")


def run(argv: list[str] | None = None, app: str | None = None) -> int:
    parser = build_parser(app)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return int(exc.code or 0)
    app_name = app or args.app
    if app_name is None:
        parser.print_help()
        return 2
    if app_name == "list":
        _print_list()
        return 0
    if args.action is None:
        own = tuple(name for name, _ in getattr(SPECS.get(app_name), "actions", ()))
        print(f"dlsuite: error: name an action for {app_name}: {', '.join(ACTIONS + own)}", file=sys.stderr)
        return 2
    try:
        return _dispatch(app_name, args)
    except UsageError as exc:
        print(f"dlsuite: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except TrainingDiverged as exc:
        print(f"dlsuite: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _dispatch(app_name: str, args) -> int:
    spec = get_spec(app_name)
    if args.action == "config":
        for name, type_name, default, text in describe_fields(spec.config_class):
            print(f"{name} ({type_name}, default {default!r})\n    {text}")
        return 0
    check_backend(spec)  # another Keras backend than the application runs on: one line, nothing written
    if args.action in ("train", "tune"):
        flags = [f"{key[len('flag_'):]}={value}" for key, value in vars(args).items()
                 if key.startswith("flag_") and value is not None]
        # a bad config fails here, before TensorFlow loads
        cfg = resolve_config(spec.config_class, spec.name, args.config, _overrides(args), flags + args.set)
        output_dir = args.output_dir or os.path.join("runs", f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        # Progress bars on a terminal; one line per epoch in a log file or pipe (a bar's carriage returns and
        # backspaces would make one line of every epoch there); nothing per epoch with --quiet.
        verbose = 0 if args.quiet else (1 if sys.stdout.isatty() else 2)
        try:
            return _train_or_tune(_load_task(app_name), cfg, args, output_dir, verbose)
        except KeyboardInterrupt:
            print(f"\ndlsuite: interrupted; rerun the same command with --output-dir {output_dir} to resume",
                  file=sys.stderr)
            return 130
    return _use_run(_load_task(app_name), args)


def _load_task(app_name: str):
    """The application's task: the first import of TensorFlow, with its start-up chatter filtered out."""
    with quiet_tensorflow_start():
        return get_app(app_name)


def _train_or_tune(task, cfg, args, output_dir: str, verbose) -> int:
    from common.training import train

    if args.action == "train":
        metrics = train(task, cfg, output_dir, overwrite=args.overwrite, verbose=verbose)
        _print_metrics(metrics)
        print(f"  run saved in {output_dir}")
        return 0
    from tuning.search import search  # KerasTuner (0.4 s to import) only for `tune`

    summary = search(task, cfg, output_dir, tuner=args.tuner, max_trials=args.max_trials, verbose=verbose,
                     overwrite=args.overwrite)
    best_config = os.path.join(output_dir, "best_config.json")
    print(f"best {summary['objective']}: {summary['best_score']:.4f} with {summary['best_hyperparameters']}")
    print(f"best config: {best_config} (dlsuite {task.name} train --config {best_config})")
    return 0


def _use_run(task, args) -> int:
    from common import serving

    if args.action == "evaluate":
        result = serving.evaluate_run(task, args.run, _overrides(args), args.set)
        _print_metrics(result)
        return 0
    if args.action == "predict":
        for record in serving.predict_run(task, args.run, args.inputs, _overrides(args), args.set):
            print(json.dumps(record))
        return 0
    if args.action == "serve":
        from common.http_serving import serve_run

        return serve_run(task, args.run, args.host, args.port, args.max_request_bytes)
    if args.action in dict(task.spec.actions):
        cfg, model, summary = serving.load_run(task, args.run, None, args.set)
        output = task.run_action(args.action, model, cfg, {**summary, "run_dir": args.run}, args)
        if output is not None:  # None: the action printed as it went (an interactive loop)
            print(output)
        return 0
    path = serving.export_run(task, args.run, args.path, args.format, args.batch_size)
    print({"preset": f"KerasHub preset written to {path} (keras_hub.models.*.from_preset)",
           "keras": f"Keras model written to {path} (keras.saving.load_model)",
           "tflite": f"TFLite model written to {path} (builtin ops; outputs within 1e-4 of the Keras model)",
           "onnx": f"ONNX model written to {path} (onnx.checker passed; onnxruntime outputs within 1e-4 of the "
                   "Keras model)"}.get(args.format, f"SavedModel written to {path} (signature: serving_default)"))
    return 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
