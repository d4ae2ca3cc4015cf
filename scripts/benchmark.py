#!/usr/bin/env python
"""Benchmark of the suite: every application at its default budget, plus the cost of the shared training path.

What it measures
----------------
1. **Rows.** Each registered application (`dlsuite.registry.APPS`) is trained on its default dataset with its
   default config (the default budget: epochs, early stopping, batch size, ...) through
   `common.training.train`, into `OUTPUT_DIR/<row>` with `overwrite=True`, plus the application's
   own extra rows (`Task.benchmark_rows`: config overrides such as another dataset, model or seed). For each
   row the report gives the application's primary test metric (`Task.primary_metric`) for the model
   and for each classical baseline computed in the same run, the epochs run, the training
   wall time (`train_seconds`: the whole `model.fit`, validation included), the training-phase
   throughput from the `Throughput` callback (validation excluded) and the parameter count.

2. **Overhead of the shared training path.** On image_classification / mnist5k with the default
   model, the same config is trained twice over `--overhead-epochs` epochs (5 by default):

   * *bare*: the task's own methods build everything (`task.load_data`, `task.build_inputs`,
     `task.build_model` and `task.compile_model`, inside the same strategy scope and with the same
     seeding as `train`), then a bare `model.fit(train, validation_data=val, epochs=N, verbose=0)`
     with no callbacks (and `shuffle=False` as `train` passes, which Keras ignores for a dataset) is timed;
   * *shared*: `common.training.train(...)` with all its callbacks (TensorBoard, CSV log, best-model
     checkpoint, BackupAndRestore, NaN stop, Throughput, and the TensorBoard figure summary at the
     config's default `image_summary_every`, so its real cost is in), timed by its own
     `train_seconds`, which is the wall time of its `model.fit` call.

   Both throughputs are computed the same way: `n_train * epochs / fit_seconds`, i.e. training
   examples per second over the whole fit, validation included. The ratio shared/bare is reported.
   Evaluation, baselines and model export happen after `train_seconds` stops and are not part of
   the comparison; the SVC baseline is therefore switched off (`baseline_max_samples=0`) in both
   configs to save time, which changes nothing that is timed.

   Fairness: both sides use the same config object, the same seed (`run_context` seeds Python,
   NumPy and TF, so weights and shuffling are identical), freshly built pipelines and models, and
   `keras.backend.clear_session()` + garbage collection before each fit; each side pays its own
   tracing of the train/validation functions and its own first pass over the (cached) pipeline.
   Order and noise: the first fit in a process also pays one-off costs (thread pools, kernel and
   library initialisation, page cache) and background load drifts over time, so the runs are
   interleaved ABBA-style (bare, shared, shared, bare, ... for `--overhead-repeats` rounds; one
   round = one bare + one shared fit), and the *best* (shortest) fit of each side is kept: noise
   only ever adds time, so the minimum is the best estimate of each side's own cost. With the
   default 2 rounds every side gets at least one run after the process has warmed up. Run it on a
   quiet machine: the report records the load average at start.

3. **Report.** `OUTPUT_DIR/benchmark.json` (everything, including each run's full metrics) and
   `OUTPUT_DIR/benchmark.md` (also printed to stdout): one table row per run, the overhead line,
   the targets marked met / not met, and the machine (CPU model, cores, TF / Keras versions, date).

Targets
-------
Each application states its own: per run (`Task.benchmark_target`, e.g. image_classification on
mnist5k: >= 98.0% test accuracy in < 5 min of training) and over several rows
(`Task.benchmark_summary`, e.g. means over seeds). The shared one: the training path costs <= 5%
throughput (shared/bare >= 0.95).

User-style cases
----------------
`--group user` runs, instead of the rows above, the user-style cases of `scripts/user_cases.py`
(class folders of texture, photo and scan crops; series and tables from statsmodels and
vega_datasets), written first into `--cases-dir` (default OUTPUT_DIR/user_cases), each as row
`user-<case>` with its application's defaults and no settings but the dataset path (and a
table's target). Each row's target is the best classical baseline of the same run: images (SVC)
and series (last value, seasonal naive, ARIMA) at least as good; tables within 1 point of the
best of HistGradientBoosting and logistic or linear regression: accuracy >= best - 0.01, MAE <=
1.01 x best (1% of the best baseline's MAE). `--group all` runs both groups.

Peers
-----
`--peers` also trains, in the same run, what a user would pick instead of a row (`scripts/peers.py`):
keras-io's mnist_convnet on the mnist5k split, and Stable-Baselines3's DQN and PPO on CartPole-v1 with
the rl-zoo settings (when `stable_baselines3` imports here or in `--peer-python`; not part of CI, PyTorch
is several GB), each beside its suite row (with `--only`, the peers of the rows selected). The report's
peer table has both metrics, both training times and their ratio, with the speed targets (DQN <= 1.0x
SB3, PPO <= 0.8x).

`--quick` shrinks every row to 2 epochs (and turns off `min_steps`) (and the overhead measurement to 2 epochs unless
`--overhead-epochs` is given) to smoke-test the script; its report is labelled QUICK and its
target verdicts say nothing about the suite (after ~100 steps the CNN's BatchNorm moving statistics
have not settled, so its test accuracy can sit at chance; with 1-2 epochs the overhead ratio is
dominated by tracing and one-off costs). An overhead measurement over fewer than 5 epochs is
labelled QUICK too. When the 1-minute load average at start is >= 0.5 the report warns that its
timings are unreliable.

Usage:
    python scripts/benchmark.py                       # the full benchmark (tens of minutes on a CPU)
    python scripts/benchmark.py --only image_classification-digits --only overhead
    python scripts/benchmark.py --quick --overhead-epochs 1 --output-dir /tmp/bench-quick
    python scripts/benchmark.py --list                # row names
    python scripts/benchmark.py --group user --output-dir benchmark-user   # the user-style cases
    python scripts/benchmark.py --peers --only rl-CartPole-v1 --peer-python /path/to/sb3-venv/bin/python
    python scripts/benchmark.py --group user --only user-textures --quick --output-dir /tmp/bench-user
    python scripts/benchmark.py --only translation-de_en_sentences --collect translation-de_en_sentences=RUN_DIR
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the output
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a plain checkout too

QUICK_EPOCHS = 2
USER_PREFIX = "user-"  # rows of the user-style cases (`--group user`)
OVERHEAD_NAME = "overhead"
OVERHEAD_APP, OVERHEAD_DATASET = "image_classification", "mnist5k"
OVERHEAD_MAX_COST = 0.05  # the shared path may cost at most 5% throughput
BUSY_LOAD = 0.5  # a 1-minute load average above this at start marks the timings as unreliable

OVERHEAD_TARGET = f"shared training path costs <= {OVERHEAD_MAX_COST:.0%} throughput (shared/bare >= {1 - OVERHEAD_MAX_COST:.2f})"


def log(message: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- rows -------------------------------------------------------------------------------------
def all_rows() -> list[dict]:
    """Every registered application on its default config, each followed by its `benchmark_rows`."""
    from dlsuite.registry import APPS

    rows = []
    for app, task in APPS.items():
        dataset = task.config_class().dataset
        rows.append({"name": f"{app}-{dataset}", "app": app, "overrides": {}})
        for name, overrides in task.benchmark_rows:
            rows.append({"name": name, "app": app, "overrides": dict(overrides)})
    return rows


def _script(name: str):
    """scripts/NAME.py, a script beside this one (not a package), imported once."""
    import importlib.util

    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                         f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _user_cases():
    """scripts/user_cases.py, the case list of the `user` group."""
    return _script("user_cases")


def _peers():
    """scripts/peers.py, the peers of `--peers`."""
    return _script("peers")


def user_rows(cases_dir: str) -> list[dict]:
    """The `user` group: each user-style case (scripts/user_cases.py) as row `user-<case>`, with its application's
    defaults and only the case's dataset (and target) as overrides."""
    return [{"name": f"{USER_PREFIX}{case.name}", "app": case.app, "case": case.name,
             "overrides": case.config(cases_dir)} for case in _user_cases().CASES]


def run_row(row: dict, output_dir: str, *, quick: bool, data_dir: str | None, verbose) -> dict:
    from dlsuite.registry import get_app
    from common.config import resolve_config
    from common.errors import UsageError
    from common.training import train

    task = get_app(row["app"])
    overrides = dict(row["overrides"])
    if quick:
        overrides.update(epochs=QUICK_EPOCHS, min_steps=0)
    if data_dir:
        overrides["data_dir"] = data_dir
    try:
        cfg = resolve_config(task.config_class, task.name, None, overrides, [])
    except UsageError as exc:  # e.g. an optional package the row needs is missing: this row fails, the others run
        log(f"row {row['name']} FAILED: {exc}")
        return {**row, "overrides": overrides, "error": f"UsageError: {exc}"}
    run_dir = os.path.join(output_dir, row["name"])
    result = {**row, "overrides": overrides, "output_dir": run_dir, "config": cfg.to_dict()}
    log(f"row {row['name']}: {task.name} on {cfg.dataset}, up to {cfg.epochs} epochs -> {run_dir}")
    start = time.perf_counter()
    try:
        metrics = train(task, cfg, run_dir, overwrite=True, verbose=verbose)
    except Exception as exc:  # noqa: BLE001 - one failed row must not lose the others
        result.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        log(f"row {row['name']} FAILED: {result['error']}")
        return result
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    return finish_row(result, task, metrics)


def finish_row(result: dict, task, metrics: dict) -> dict:
    """Adds a finished run's metrics, primary metric and target verdict to its row."""
    result["metrics"] = metrics
    key, better, _ = primary_metric(metrics)
    result["primary_metric"] = {"name": key, "better": better, "model": metrics["test"].get(key)}
    if result.get("case"):  # a user-style case: against the best baseline of the same run
        cases = _user_cases()
        target = cases.target(cases.get_case(result["case"]), metrics, key, better)
    else:
        target = task.benchmark_target(metrics)
    if target:
        text, met, detail = target
        result["target"] = {"text": text, "met": bool(met), "detail": detail}
    log(f"row {result['name']} done in {result['wall_seconds']} s: {key}={metrics['test'].get(key)}")
    return result


def collect_row(row: dict, run_dir: str, *, data_dir: str | None) -> dict:
    """The row of a run already trained elsewhere (`--collect NAME=RUN_DIR`), e.g. by `dlsuite APP train`
    with the row's settings on another machine: its metrics.json, checked against the row's config."""
    from dlsuite.registry import get_app
    from common.config import resolve_config

    task = get_app(row["app"])
    overrides = {**row["overrides"], **({"data_dir": data_dir} if data_dir else {})}
    # Through JSON, as metrics.json holds it: tuple fields come back as lists.
    cfg = json.loads(json.dumps(resolve_config(task.config_class, task.name, None, overrides, []).to_dict()))
    try:
        with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as fh:
            metrics = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"--collect {row['name']}: no finished run in {run_dir} ({exc})") from None
    ran = metrics.get("config", {})
    differs = sorted(k for k in cfg if k != "data_dir" and ran.get(k) != cfg[k])
    if metrics.get("app") != task.name or differs:
        raise ValueError(f"--collect {row['name']}: {run_dir} was trained with other settings "
                         f"({', '.join(differs) or 'application ' + str(metrics.get('app'))})")
    result = {**row, "overrides": overrides, "output_dir": run_dir, "config": cfg, "collected": True,
              "wall_seconds": metrics.get("train_seconds")}
    log(f"row {row['name']}: collected from {run_dir}")
    return finish_row(result, task, metrics)


def primary_metric(metrics: dict) -> tuple[str, str, str]:
    """The run's `Task.primary_metric_of`: (key of metrics["test"], "higher" | "lower", format)."""
    from dlsuite.registry import get_app

    return get_app(metrics["app"]).primary_metric_of(metrics)


def app_summaries(rows: list[dict]) -> list[dict]:
    """Each application's `benchmark_summary` over its rows that ran (targets across rows, e.g. over seeds)."""
    from dlsuite.registry import get_app

    by_app: dict[str, list[dict]] = {}
    for row in rows:
        if "metrics" in row:
            by_app.setdefault(row["app"], []).append(row)
    summaries = []
    for app, results in by_app.items():
        for text, met, detail in get_app(app).benchmark_summary(results):
            summaries.append({"app": app, "text": text, "met": None if met is None else bool(met), "detail": detail})
    return summaries


# --- overhead ---------------------------------------------------------------------------------
def _fresh_process_state() -> None:
    import keras

    keras.backend.clear_session()
    gc.collect()


def _bare_fit(task, cfg) -> tuple[float, int, int]:
    """(fit seconds, epochs run, training examples) of a callback-free `model.fit` built by the task's own methods."""
    from common import distribute
    from common.training import run_context, steps_for

    _fresh_process_state()
    with run_context(cfg):
        strategy = distribute.get_strategy(cfg.strategy, cfg.tpu)
        data = task.load_data(cfg)
        inputs = task.build_inputs(cfg, data)
        n_train = task.num_train_examples(cfg, data)
        with strategy.scope():
            model = task.build_model(cfg, data)
            task.compile_model(model, cfg, steps_for(n_train, cfg.batch_size))
        start = time.perf_counter()
        # shuffle=False as in `train`: Keras ignores it for a tf.data.Dataset (the pipeline shuffles) but warns otherwise.
        history = model.fit(inputs["train"], validation_data=inputs["validation"], epochs=cfg.epochs, verbose=0,
                            shuffle=False)
        seconds = time.perf_counter() - start
    return seconds, len(history.epoch), n_train


def _shared_fit(task, cfg, run_dir: str) -> tuple[float, int, dict]:
    """(fit seconds, epochs run, metrics) of `common.training.train`; its `train_seconds` is the wall time of its fit."""
    from common.training import train

    _fresh_process_state()
    metrics = train(task, cfg, run_dir, overwrite=True, verbose=0)
    return metrics["train_seconds"], metrics["epochs"], metrics


def measure_overhead(output_dir: str, *, epochs: int, repeats: int, quick: bool, data_dir: str | None) -> dict:
    from dlsuite.registry import get_app
    from common.config import resolve_config

    task = get_app(OVERHEAD_APP)
    overrides = {
        "dataset": OVERHEAD_DATASET,
        "epochs": epochs,
        # The figure summary is part of the shared path's real cost: keep the config's default.
        "image_summary_every": task.config_class().image_summary_every,
        # Baselines run after the timed fit; skipping the SVC saves time and changes nothing timed.
        "baseline_max_samples": 0,
        # Both sides fit exactly `epochs` (the bare fit knows no step budget).
        "min_steps": 0,
    }
    if data_dir:
        overrides["data_dir"] = data_dir
    cfg = resolve_config(task.config_class, task.name, None, overrides, [])
    run_dir = os.path.join(output_dir, OVERHEAD_NAME, "shared")
    n_train = task.num_train_examples(cfg, task.load_data(cfg))
    runs = []
    # ABBA interleaving: bare, shared | shared, bare | bare, shared | ...
    order = []
    for round_ in range(repeats):
        order += ["bare", "shared"] if round_ % 2 == 0 else ["shared", "bare"]
    for i, kind in enumerate(order):
        log(f"overhead {i + 1}/{len(order)}: {kind} fit, {task.name} on {cfg.dataset}, "
            f"{cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}")
        if kind == "bare":
            seconds, done, bare_n_train = _bare_fit(task, cfg)
            assert bare_n_train == n_train, (bare_n_train, n_train)
        else:
            seconds, done, _ = _shared_fit(task, cfg, run_dir)
        throughput = n_train * done / seconds if seconds else 0.0
        runs.append({"kind": kind, "fit_seconds": round(seconds, 3), "epochs": done, "n_train": n_train,
                     "examples_per_second": round(throughput, 1)})
        log(f"overhead {i + 1}/{len(order)}: {kind} {seconds:.2f} s, {throughput:.1f} examples/s")

    def best(kind):
        return max((r for r in runs if r["kind"] == kind), key=lambda r: r["examples_per_second"])

    bare, shared = best("bare"), best("shared")
    ratio = shared["examples_per_second"] / bare["examples_per_second"] if bare["examples_per_second"] else 0.0
    return {
        "app": task.name,
        "dataset": cfg.dataset,
        "epochs": epochs,
        "repeats": repeats,
        "quick": quick,
        "order": order,
        "runs": runs,
        "bare_examples_per_second": bare["examples_per_second"],
        "shared_examples_per_second": shared["examples_per_second"],
        "ratio": round(ratio, 4),
        "cost": round(1 - ratio, 4),
        "target": {"text": OVERHEAD_TARGET, "met": ratio >= 1 - OVERHEAD_MAX_COST},
        "config": cfg.to_dict(),
    }


# --- machine and report -----------------------------------------------------------------------
def machine_info() -> dict:
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "gpus": gpus,
        "load_average_at_start": load,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _verdict(met: bool, quick: bool) -> str:
    text = "**met**" if met else "**not met**"
    return f"{text} (quick run)" if quick else text


def render_markdown(report: dict) -> str:
    quick = report["quick"]
    lines = ["# dlsuite benchmark", ""]
    if quick:
        lines += [f"> **QUICK RUN** (`--quick`): every row shrunk to {QUICK_EPOCHS} epochs to smoke-test the script. "
                  "These numbers and verdicts say nothing about the suite.", ""]
    load = report["machine"]["load_average_at_start"]
    if load and load[0] >= BUSY_LOAD:
        lines += [f"> **Busy machine:** 1-minute load average {load[0]} at start on {report['machine']['cores']} cores; "
                  "timings (train s, examples/s, overhead) are unreliable.", ""]
    lines += ["| row | application | dataset | metric | model | baselines | epochs | train s | examples/s | parameters | target |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        if "error" in row:
            lines.append(f"| {row['name']} | {row['app']} | {row['overrides'].get('dataset', 'default')} | | "
                         f"FAILED: {row['error'].splitlines()[0][:120].replace('|', '/')} | | | | | | |")
            continue
        m = row["metrics"]
        key, better, fmt = primary_metric(m)
        model_value = m["test"].get(key)
        baselines = ", ".join(
            f"{name} {values[key]:{fmt}}" for name, values in (m.get("baselines") or {}).items() if key in values
        ) or "-"
        target = row.get("target")
        target_text = f"{_verdict(target['met'], quick)}: {target['detail']}" if target else "-"
        name = f"{row['name']} (quick)" if quick else row["name"]
        name += " (collected)" if row.get("collected") else ""
        lines.append(
            f"| {name} | {m['app']} | {m['dataset']} | {key} ({better} is better) | "
            f"{model_value:{fmt}} | {baselines} | {m['epochs']} | {m['train_seconds']:.1f} | "
            f"{m['examples_per_second']:.0f} | {m['parameters']:,} | {target_text} |"
        )
        for set_name, found in (m.get("real_world") or {}).items():  # the same model on data from another source
            model_values = found["model"]
            # The row's metric where the set has it; else the set's own (face detection: precision, recall, IoU).
            keys = [key] if key in model_values else [k for k, v in model_values.items()
                                                       if isinstance(v, (int, float)) and not isinstance(v, bool)][:3]
            metric = f"{key} ({better} is better)" if keys == [key] else ", ".join(keys)
            show = lambda values: "/".join(format(values[k], ".4g") if keys != [key] else format(values[k], fmt)  # noqa: E731
                                           for k in keys)
            others = ", ".join(f"{name} {show(values)}" for name, values in found.get("baselines", {}).items()
                               if all(k in values for k in keys)) or "-"
            value = show(model_values) if keys else "-"
            lines.append(f"| {name} / real world: {set_name} | {m['app']} | {found['source']} ({found['examples']}) | "
                         f"{metric} | {value} | {others} | | | | | - |")
    lines += ["", "train s: wall time of `model.fit` (validation included); examples/s: training phase only "
              "(`Throughput` callback, validation excluded). A row's \"real world\" lines score the same model and "
              "baselines on a set from another source (`metrics.json` `real_world`), never used for training."]
    if any(row.get("collected") for row in report["rows"]):
        lines.append("(collected): a run trained earlier with the row's exact settings (`--collect`), read from "
                     "its metrics.json, not trained by this benchmark.")
    lines.append("")

    ov = report.get("overhead")
    if ov is None:
        lines.append("**Overhead of the shared training path:** not run.")
    elif "error" in ov:
        lines.append(f"**Overhead of the shared training path:** FAILED: {ov['error'].splitlines()[0]}")
    else:
        lines.append(
            f"**Overhead of the shared training path** ({ov['app']} / {ov['dataset']}, {ov['epochs']} "
            f"epoch{'s' if ov['epochs'] != 1 else ''}, "
            f"best of {ov['repeats']} interleaved runs each{', QUICK' if ov['quick'] else ''}): "
            f"bare `model.fit` {ov['bare_examples_per_second']:.1f} examples/s, "
            f"`common.training.train` {ov['shared_examples_per_second']:.1f} examples/s "
            f"(training examples x epochs / fit wall time, validation included); "
            f"ratio shared/bare {ov['ratio']:.3f} (cost {ov['cost']:+.1%}): "
            f"{OVERHEAD_TARGET}: {_verdict(ov['target']['met'], ov['quick'])}."
        )
    if report.get("peers"):
        lines += _peers().render(report["peers"])
    lines += ["", "## Targets", ""]
    for peer in report.get("peers") or []:
        if "target" in peer:
            lines.append(f"- {peer['target']['text']}: {_verdict(peer['target']['met'], quick)} "
                         f"({peer['target']['detail']})")
    for row in report["rows"]:
        if "target" in row:
            lines.append(f"- {row['name']}: {row['target']['text']}: "
                         f"{_verdict(row['target']['met'], quick)} ({row['target']['detail']})")
    for summary in report.get("summaries", []):
        verdict = "" if summary["met"] is None else f"{_verdict(summary['met'], quick)} "
        lines.append(f"- {summary['app']}: {summary['text']}: {verdict}({summary['detail']})")
    if ov is None or "error" in ov:
        lines.append(f"- {OVERHEAD_TARGET}: not run")
    else:
        lines.append(f"- {OVERHEAD_TARGET}: {_verdict(ov['target']['met'], ov['quick'])} "
                     f"(ratio {ov['ratio']:.3f})")

    mi = report["machine"]
    cores = f"{mi['cores']} cores" + (f" ({mi['usable_cores']} usable)" if mi["usable_cores"] != mi["cores"] else "")
    load = ", ".join(map(str, mi["load_average_at_start"])) if mi["load_average_at_start"] else "unknown"
    lines += [
        "",
        "## Machine",
        "",
        f"- CPU: {mi['cpu']}, {cores}; GPUs: {', '.join(mi['gpus']) or 'none'}",
        f"- load average at start (1, 5, 15 min): {load}",
        f"- TensorFlow {mi['tensorflow']}, Keras {mi['keras']}, Python {mi['python']}",
        f"- {mi['platform']}",
        f"- date: {mi['date']}; total wall time {report['wall_seconds'] / 60:.1f} min",
    ]
    if report.get("parts"):
        lines += ["", f"Merged from {len(report['parts'])} runs (`--merge`), each on the machine above:"]
        for part in report["parts"]:
            load = ", ".join(map(str, part["machine"]["load_average_at_start"] or [])) or "unknown"
            rows = ", ".join(part["rows"]) + (f"{', ' if part['rows'] else ''}overhead" if part["overhead"] else "")
            lines.append(f"- {part['machine']['date']}, load {load} at start, {part['wall_seconds'] / 60:.1f} min: {rows}")
    return "\n".join(lines) + "\n"


def merge_reports(paths: list[str], output_dir: str) -> int:
    """Merges benchmark.json files of separate runs (e.g. rows rerun on a quieter machine) into one report."""
    reports = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                reports.append(json.load(fh))
        except (OSError, ValueError) as exc:
            print(f"benchmark.py: error: cannot read {path}: {exc}", file=sys.stderr)
            return 2
    rows: dict[str, dict] = {}
    for report in reports:
        for row in report["rows"]:
            rows[row["name"]] = row
    overhead = next((r["overhead"] for r in reversed(reports) if r.get("overhead")), None)
    merged = {"quick": any(r["quick"] for r in reports), "output_dir": output_dir, "machine": reports[0]["machine"],
              "rows": list(rows.values()), "overhead": overhead,
              "wall_seconds": sum(r["wall_seconds"] for r in reports),
              "parts": [{"file": path, "machine": r["machine"], "rows": [row["name"] for row in r["rows"]],
                         "overhead": bool(r.get("overhead")), "wall_seconds": r["wall_seconds"]}
                        for path, r in zip(paths, reports)]}
    merged["summaries"] = app_summaries(merged["rows"])
    os.makedirs(output_dir, exist_ok=True)
    markdown = render_markdown(merged)
    with open(os.path.join(output_dir, "benchmark.json"), "w", encoding="utf-8") as fh:
        json.dump(merged, fh, indent=2, default=str)
        fh.write("\n")
    with open(os.path.join(output_dir, "benchmark.md"), "w", encoding="utf-8") as fh:
        fh.write(markdown)
    print(markdown, end="")
    return 0


# --- command line -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmark.py",
        description="Trains every application at its default budget (plus extra rows) and measures the "
                    "throughput cost of the shared training path; writes benchmark.json and benchmark.md.",
        epilog="Rows: one per registered application on its default config, named APP-DATASET "
               "(image_classification-mnist5k, time_series-sunspots, ...), plus each application's extra rows "
               f"(Task.benchmark_rows); '{OVERHEAD_NAME}' is the shared-path overhead measurement. --list prints "
               "them. Targets come from each application (Task.benchmark_target, Task.benchmark_summary), plus "
               "the shared path's <= 5% throughput cost.",
    )
    parser.add_argument("--output-dir", default="benchmark-results",
                        help="where each row's run dir, benchmark.json and benchmark.md go (default: %(default)s)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only this row (or '{OVERHEAD_NAME}'); repeatable (default: everything)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: {QUICK_EPOCHS} epochs per row (and for the overhead unless "
                             "--overhead-epochs is given); the report is labelled QUICK")
    parser.add_argument("--overhead-epochs", type=int, default=None,
                        help="epochs of each overhead fit (default: 5, or %d with --quick)" % QUICK_EPOCHS)
    parser.add_argument("--overhead-repeats", type=int, default=2,
                        help="rounds of (bare, shared) fits, interleaved ABBA; the best of each side is kept "
                             "(default: %(default)s)")
    parser.add_argument("--data-dir", default=None, help="TFDS data directory (default: $DLSUITE_DATA_DIR or ~/.cache/dlsuite/tfds)")
    parser.add_argument("--group", choices=("default", "user", "all"), default="default",
                        help="rows to run: default (every application's default and extra rows, and the overhead), "
                             "user (the user-style cases of scripts/user_cases.py, rows user-CASE, judged against "
                             "the best baseline of the same run), or all (default: %(default)s)")
    parser.add_argument("--cases-dir", default=None,
                        help="where the user group's cases are written (default: OUTPUT_DIR/user_cases)")
    parser.add_argument("--list", action="store_true", help="print the row names of --group and exit")
    parser.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                        help="train nothing: merge the rows of these benchmark.json files (a later file's row "
                             "replaces an earlier one of the same name; the overhead comes from the last file "
                             "that has one) into OUTPUT_DIR/benchmark.md and .json")
    parser.add_argument("--collect", action="append", default=[], metavar="NAME=RUN_DIR",
                        help="take row NAME from a finished run dir (its metrics.json; the run's config must be "
                             "the row's) instead of training it; repeatable; rows not selected by --only are skipped")
    parser.add_argument("--peers", action="store_true",
                        help="also train the peers of scripts/peers.py (keras-io mnist_convnet; SB3 DQN and PPO) "
                             "beside the rows they compare with (with --only: the selected rows' peers)")
    parser.add_argument("--peer-python", default=None, metavar="PYTHON",
                        help="an interpreter with stable-baselines3 installed, for the SB3 peers (default: this one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one Keras log line per epoch")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.overhead_epochs is not None and args.overhead_epochs < 1:
        print("benchmark.py: error: --overhead-epochs must be >= 1", file=sys.stderr)
        return 2
    if args.overhead_repeats < 1:
        print("benchmark.py: error: --overhead-repeats must be >= 1", file=sys.stderr)
        return 2

    if args.merge:
        return merge_reports(args.merge, args.output_dir)
    cases_dir = os.path.abspath(args.cases_dir or os.path.join(args.output_dir, "user_cases"))
    rows = {"default": all_rows(), "user": user_rows(cases_dir), "all": all_rows() + user_rows(cases_dir)}[args.group]
    names = [r["name"] for r in rows] + ([OVERHEAD_NAME] if args.group != "user" else [])
    if args.list:
        print("\n".join(names))
        return 0
    unknown = [n for n in args.only if n not in names]
    if unknown:
        print(f"benchmark.py: error: unknown row(s) {', '.join(unknown)} of --group {args.group} "
              f"(known: {', '.join(names)})", file=sys.stderr)
        return 2
    collected = dict(item.partition("=")[::2] for item in args.collect)
    bad = [n for n, d in collected.items() if n not in names or not d]
    if bad:
        print(f"benchmark.py: error: --collect needs NAME=RUN_DIR with a known row name, not {', '.join(bad)}",
              file=sys.stderr)
        return 2
    selected = [r for r in rows if not args.only or r["name"] in args.only]
    do_overhead = OVERHEAD_NAME in names and (not args.only or OVERHEAD_NAME in args.only)
    cases = sorted({r["case"] for r in selected if r.get("case") and r["name"] not in collected})
    if cases:
        log(f"writing user cases {', '.join(cases)} into {cases_dir}")
        _user_cases().write_cases(cases_dir, cases)
    overhead_epochs = args.overhead_epochs or (QUICK_EPOCHS if args.quick else 5)
    verbose = 2 if args.verbose else 0

    os.makedirs(args.output_dir, exist_ok=True)
    machine = machine_info()  # before any training, so the load average is the machine's, not ours
    start = time.perf_counter()
    report = {"quick": args.quick, "output_dir": args.output_dir, "machine": machine, "rows": [], "overhead": None,
              "targets": {}}
    for row in selected:
        if row["name"] in collected:
            try:
                report["rows"].append(collect_row(row, collected[row["name"]], data_dir=args.data_dir))
            except ValueError as exc:
                print(f"benchmark.py: error: {exc}", file=sys.stderr)
                return 2
            continue
        report["rows"].append(run_row(row, args.output_dir, quick=args.quick, data_dir=args.data_dir, verbose=verbose))
    if do_overhead:
        try:
            report["overhead"] = measure_overhead(args.output_dir, epochs=overhead_epochs, repeats=args.overhead_repeats,
                                                  quick=args.quick or overhead_epochs < 5,
                                                  data_dir=args.data_dir)
        except Exception as exc:  # noqa: BLE001 - still write the report of the rows
            report["overhead"] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            log(f"overhead FAILED: {report['overhead']['error']}")
    if args.peers:
        by_name = {r["name"]: r for r in report["rows"]}
        report["peers"] = []
        for name, (row_name, *_) in _peers().PEERS.items():
            if args.only and row_name not in by_name:  # with --only, the peers of the selected rows
                continue
            try:
                report["peers"].append(_peers().run_peer(name, by_name, data_dir=args.data_dir,
                                                         peer_python=args.peer_python, log=log))
            except Exception as exc:  # noqa: BLE001 - a failed peer must not lose the report
                report["peers"].append({"name": name, "description": _peers().PEERS[name][2],
                                        "suite_row": _peers().PEERS[name][0], "metric": _peers().PEERS[name][1],
                                        "error": f"{type(exc).__name__}: {exc}"})
                log(f"peer {name} FAILED: {exc}")
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    report["summaries"] = app_summaries(report["rows"])
    report["targets"] = {
        **{r["name"]: {**r["target"], "quick": args.quick} for r in report["rows"] if "target" in r},
        **{f"{s['app']}: {s['text']}": {**s, "quick": args.quick} for s in report["summaries"]},
        **{p["target"]["text"]: {**p["target"], "quick": args.quick} for p in report.get("peers") or [] if "target" in p},
        **({OVERHEAD_NAME: {**report["overhead"]["target"], "quick": report["overhead"]["quick"]}}
           if report["overhead"] and "target" in report["overhead"] else {}),
    }

    markdown = render_markdown(report)
    with open(os.path.join(args.output_dir, "benchmark.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2, default=str)
        fh.write("\n")
    with open(os.path.join(args.output_dir, "benchmark.md"), "w", encoding="utf-8") as fh:
        fh.write(markdown)
    print(markdown, end="")
    log(f"wrote {os.path.join(args.output_dir, 'benchmark.md')} and benchmark.json")
    failed = [r["name"] for r in report["rows"] if "error" in r] + (
        [OVERHEAD_NAME] if report["overhead"] and "error" in report["overhead"] else [])
    if failed:
        log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
