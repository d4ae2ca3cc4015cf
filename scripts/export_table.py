#!/usr/bin/env python
"""Which export formats each application's served model converts to: the table of docs/export_formats.md.

For every application this builds a tiny model of its default kind (`Task.build_model` on a small sample of
its data, untrained: conversion depends on the ops, not the weights; rl, fundamentals and style_transfer,
which build their served model inside their own loop, train a tiny run), saves and reloads it as the run's
`model.keras` would be, and exports it as keras, tflite and onnx through `common.convert`, which checks
each export's outputs against the Keras model's on the same input (to `common.convert.TOLERANCE`). A cell is
"ok" or the one-line reason of the `UsageError` the command line would print.

    python scripts/export_table.py                      # prints the markdown table
    python scripts/export_table.py --write docs/export_formats.md [--apps time_series,tabular]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = ("keras", "tflite", "onnx")

# Tiny settings of each application (the tests' sizes), as `--set` items; "run" recipes train a tiny run.
TINY = {
    "image_classification": ["dataset=digits", "depth=1", "width=8", "dense_units=16"],
    "time_series": ["units=8"],
    "transfer_learning": ["shots=3", "pretrain={dataset: digits, epochs: 1, depth: 1, width: 8, dense_units: 16, "
                                     "max_train_samples: 200, baseline_max_samples: 0, augment: false, min_steps: 0}"],
    "object_detection": ["width=4", "head_width=8", "max_train_samples=48", "max_eval_samples=32"],
    "face_detection": ["width=4", "negatives=64", "min_face=64", "validation_negatives=50"],
    "face_recognition": ["image_size=24", "width=4", "depth=2", "embedding_dim=8"],
    "sentiment": ["embed_dim=8", "heads=2", "mlp_dim=16", "depth=1", "sequence_length=12"],
    "text_generation": ["embed_dim=16", "heads=2", "mlp_dim=32", "depth=1", "rnn_units=16", "sequence_length=32"],
    "translation": ["embed_dim=16", "depth=1", "heads=2", "mlp_dim=32", "units=16", "max_length=12"],
    "chatbot": ["embed_dim=16", "units=16", "depth=1", "heads=2", "mlp_dim=32", "max_length=24"],
    "tabular": ["units=8", "depth=1"],
    "gan": ["dataset=digits", "width=4", "latent_dim=8",
            "classifier={epochs: 1, depth: 1, width: 4, dense_units: 8, augment: false, min_steps: 0}"],
    "keyword_spotting": ["width=4", "rnn_units=4"],
    "speech_recognition": ["width=4", "rnn_units=8", "rnn_layers=1"],
}
RUNS = {
    "rl": ["--set", "total_steps=300", "--set", "learning_starts=100", "--set", "train_every=50",
           "--set", "gradient_steps=4", "--set", "hidden=16", "--set", "eval_episodes=2",
           "--set", "checkpoint_every=100"],
    "fundamentals": ["--epochs", "1", "--set", "seeds=1", "--set", "max_train_samples=200", "--set", "width=8",
                     "--set", "gradient_checks=2", "--set", "activations=[relu]", "--set", "optimizers=[sgd]",
                     "--set", "learning_rates=[0.1]", "--set", "depths=[0]", "--set", "widths=[4]",
                     "--set", "regularizations=[early_stopping]", "--set", "reg_train_samples=30",
                     "--study", "scratch"],
    "style_transfer": ["--epochs", "1", "--batch-size", "2", "--set", "steps_per_epoch=2", "--set", "steps=2",
                       "--set", "image_size=48", "--set", "train_size=32", "--set", "width=4",
                       "--set", "residual_blocks=1", "--set", "extractor_widths=[8,8,8]", "--set", "log_every=2",
                       "--set", "test_images=[chelsea]"],
}


def _reviews_csv(folder: str) -> str:
    """A tiny labelled CSV for sentiment (its default set comes from a package registry)."""
    path = os.path.join(folder, "reviews.csv")
    words = (["good", "great", "funny"], ["bad", "dull", "awful"])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("text,label\n")
        for i in range(60):
            fh.write(f"the film was {words[i % 2][i % 3]} and long,{'pos' if i % 2 == 0 else 'neg'}\n")
    return path


def _pairs_tsv(folder: str) -> str:
    """A tiny German-English TSV for translation (its default set needs the trans-de-en Debian package)."""
    path = os.path.join(folder, "pairs.tsv")
    subjects = (("der Hund", "the dog"), ("die Katze", "the cat"), ("das Haus", "the house"))
    adjectives = (("gross", "big"), ("klein", "small"), ("alt", "old"), ("neu", "new"))
    with open(path, "w", encoding="utf-8") as fh:
        for de, en in subjects:
            for de_adj, en_adj in adjectives:
                for de_not, en_not in (("", ""), ("nicht ", "not ")):
                    fh.write(f"{de} ist {de_not}{de_adj}.\t{en} is {en_not}{en_adj}.\n")
    return path


def tiny_model(app: str, folder: str):
    """The served Keras model of a tiny `app` run, saved to and loaded back from FOLDER/model.keras."""
    from common.config import resolve_config
    from common.export import load_model, save_model
    from dlsuite.registry import get_app

    task = get_app(app)
    model_file = os.path.join(folder, "model.keras")
    if app in RUNS:
        from dlsuite.cli import run

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = run([app, "train", "--quiet", "--output-dir", os.path.join(folder, "run"), *RUNS[app]])
        if code != 0:
            raise RuntimeError(f"tiny {app} run failed ({code})")
        return load_model(os.path.join(folder, "run", "model.keras"))
    sets = list(TINY.get(app, []))
    if app == "sentiment":
        sets.append(f"dataset={_reviews_csv(folder)}")
    if app == "translation":
        sets.append(f"dataset={_pairs_tsv(folder)}")
    cfg = resolve_config(task.config_class, app, sets=sets)
    with contextlib.redirect_stdout(io.StringIO()):
        data = task.load_data(cfg)
        model = task.build_model(cfg, data)
    save_model(model, model_file)
    return load_model(model_file)


def convert_all(app: str, model, folder: str, model_file: str, formats=FORMATS) -> dict[str, str]:
    """{format: "ok" | reason} for one model."""
    from common import convert
    from common.errors import UsageError

    cells = {}
    for fmt in formats:
        target = os.path.join(folder, convert.FILE_NAMES[fmt])
        try:
            if fmt == "keras":
                convert.export_keras(model_file, target)
                cells[fmt] = "ok"
            else:
                result = getattr(convert, f"export_{fmt}")(model, target, app)
                fixed = f", batch size {result['batch_size']}" if result["batch_size"] else ""
                cells[fmt] = f"ok (max diff {result['max_difference']:.1e}{fixed})"
        except UsageError as exc:
            cells[fmt] = str(exc)
    return cells


def table(apps, formats=FORMATS, progress=None) -> dict[str, dict[str, str]]:
    from dlsuite.registry import APPS

    rows = {}
    for app in apps or list(APPS):
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"export-{app}-") as folder:
            try:
                model = tiny_model(app, folder)
                model_file = os.path.join(folder, *(("run",) if app in RUNS else ()), "model.keras")
                rows[app] = convert_all(app, model, folder, model_file, formats)
            except Exception as exc:  # a recipe that no longer builds: say so in the table, not a traceback
                reason = f"not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
                rows[app] = dict.fromkeys(formats, reason)
        if progress:
            progress(app, rows[app], time.perf_counter() - start)
    return rows


def markdown(rows: dict[str, dict[str, str]], formats=FORMATS) -> str:
    lines = ["| application | " + " | ".join(formats) + " |", "|---|" + "---|" * len(formats)]
    for app, cells in rows.items():
        lines.append(f"| `{app}` | " + " | ".join(cells[f].replace("|", "\\|") for f in formats) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", default="", help="comma-separated applications (default: all)")
    parser.add_argument("--write", default="", help="replace the table between the markers of this markdown file")
    args = parser.parse_args(argv)
    apps = [a for a in args.apps.split(",") if a]
    rows = table(apps, progress=lambda app, cells, s: print(f"{app}: {s:.0f} s {cells}", file=sys.stderr, flush=True))
    text = markdown(rows)
    if args.write:
        write_table(args.write, text)
    print(text)
    return 0


BEGIN, END = "<!-- export table: begin -->", "<!-- export table: end -->"


def write_table(path: str, text: str) -> None:
    """Puts `text` between the BEGIN and END markers of `path` (atomic)."""
    from common.export import atomic_write_text

    with open(path, encoding="utf-8") as fh:
        page = fh.read()
    if BEGIN not in page or END not in page:
        raise SystemExit(f"{path} has no {BEGIN} ... {END} markers")
    head, rest = page.split(BEGIN, 1)
    atomic_write_text(path, head + BEGIN + "\n" + text + rest[rest.index(END):])


if __name__ == "__main__":
    sys.exit(main())
