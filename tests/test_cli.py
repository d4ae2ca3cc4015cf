"""The command line: listing, help, and a one-line error with exit code 2 for every bad input."""

import os
import shutil
import subprocess

import pytest

from conftest import TINY_CNN, TINY_RNN


def test_list_shows_apps_and_datasets(cli):
    code, out, _ = cli("list")
    assert code == 0
    for word in ("image_classification", "time_series", "mnist5k", "sunspots", "co2", "digits", "tfds:NAME"):
        assert word in out


def test_config_action_prints_fields(cli):
    code, out, _ = cli("time_series", "config")
    assert code == 0 and "cell (str, default 'gru')" in out and "arima_order" in out


def test_console_script_and_app_script():
    exe = shutil.which("dlsuite")
    assert exe, "the dlsuite console script is installed"
    done = subprocess.run([exe, "image_classification", "train", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--batch-size" in done.stdout and "--strategy" in done.stdout
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "time_series.py")
    done = subprocess.run(["python", script, "train", "--epochs", "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == "dlsuite: error: epochs=0 must be >= 1"


def one_line_error(err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("dlsuite: error: ") or "error:" in lines[-1], err
    assert not any("Traceback" in line for line in lines), err
    return lines[-1]


@pytest.mark.parametrize("args, message", [
    (["nosuchapp", "train"], "invalid choice: 'nosuchapp'"),
    (["image_classification", "train", "--dataset", "nosuchdata"], "unknown dataset 'nosuchdata'"),
    (["image_classification", "train", "--dataset", "sunspots"], "'sunspots' is a series dataset"),
    (["image_classification", "train", "--strategy", "warp"], "strategy='warp' is not one of"),
    (["image_classification", "train", "--set", "colour=red"], "unknown config key 'colour'"),
    (["image_classification", "train", "--epochs", "0"], "epochs=0 must be >= 1"),
    (["image_classification", "train", "--epochs", "-1"], "epochs=-1 must be >= 1"),
    (["image_classification", "train", "--dataset", "digits", "--set", "depth=4", *TINY_CNN[2:]],
     "depth=4 pools 8x8 images below one pixel"),
    (["image_classification", "train", "--dataset", "./missing_folder"], "dataset folder not found"),
    (["time_series", "train", "--set", "window=400"], "window=400 + horizon=1 is longer than the training part"),
    (["time_series", "train", "--dataset", "missing.csv"], "CSV file not found: missing.csv"),
    (["time_series", "evaluate", "--run", "no_such_run"], "no_such_run/config.json not found"),
])
def test_bad_input_gives_one_line_and_exit_2(cli, tmp_path, args, message):
    out_dir = tmp_path / "run"
    code, out, err = cli(*args, *(["--output-dir", out_dir] if args[1] == "train" else []))
    assert code == 2
    assert message in one_line_error(err)
    assert not (out_dir / "metrics.json").exists() and not (out_dir / "model.keras").exists()


def test_bad_files(cli, tmp_path, image_folder):
    (tmp_path / "empty").mkdir()
    code, _, err = cli("image_classification", "train", "--dataset", tmp_path / "empty", "--output-dir", tmp_path / "r")
    assert code == 2 and "no class sub-folders" in one_line_error(err)
    with open(os.path.join(image_folder, "digit0", "bad.jpg"), "wb") as fh:
        fh.write(b"\xff\xd8\xff garbage")
    code, _, err = cli("image_classification", "train", "--dataset", image_folder, "--output-dir", tmp_path / "r")
    assert code == 2 and "cannot read image" in one_line_error(err) and "bad.jpg" in err
    assert not (tmp_path / "r").exists()

    csv = tmp_path / "s.csv"
    csv.write_text("t,x,y\n" + "\n".join(f"{i},{i},{i * 2}" for i in range(50)))
    code, _, err = cli("time_series", "train", "--dataset", csv, "--output-dir", tmp_path / "r", *TINY_RNN)
    assert code == 2 and "name the value column with --set column=NAME" in one_line_error(err)
    code, _, err = cli("time_series", "train", "--dataset", csv, "--set", "column=z", "--output-dir", tmp_path / "r")
    assert code == 2 and "has no column 'z'" in one_line_error(err)
    csv.write_text("t,x\n" + "\n".join(f"{i},{'oops' if i == 7 else i}" for i in range(50)))
    code, _, err = cli("time_series", "train", "--dataset", csv, "--set", "column=x", "--output-dir", tmp_path / "r")
    assert code == 2 and "non-numeric value 'oops' on data row 8" in one_line_error(err)


def test_corrupt_model_file(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("time_series", "train", "--epochs", "1", "--quiet", "--output-dir", run, *TINY_RNN)[0] == 0
    (run / "model.keras").write_bytes(b"not a zip file")
    code, _, err = cli("time_series", "predict", "--run", run)
    assert code == 2 and "is corrupt (not a complete .keras zip archive)" in one_line_error(err)
    code, _, err = cli("time_series", "predict", "--run", run, "a.csv", "b.csv")
    assert code == 2


def test_evaluate_on_incompatible_dataset(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("image_classification", "train", "--dataset", "digits", "--epochs", "1", "--quiet", "--output-dir", run,
               *TINY_CNN)[0] == 0
    code, _, err = cli("image_classification", "evaluate", "--run", run, "--dataset", "mnist5k")
    assert code == 2 and "the model takes (8, 8, 1)" in one_line_error(err)


def test_flag_fields_become_train_options():
    import argparse
    from dataclasses import dataclass

    from dlsuite.cli import _add_train_options
    from common.config import TrainConfig, option

    @dataclass
    class FlaggedConfig(TrainConfig):
        backbone_run: str = option("", "A finished run to start from.", flag=True)
        shots: int = option(10, "Not a flag.")

    class FlaggedTask:
        config_class = FlaggedConfig

    parser = argparse.ArgumentParser()
    _add_train_options(parser, FlaggedTask())
    args = parser.parse_args(["--backbone-run", "runs/x"])
    assert args.flag_backbone_run == "runs/x"
    assert "--backbone-run" in parser.format_help() and "--shots" not in parser.format_help()


def test_an_application_on_a_keras_backend_it_cannot_run_on_is_a_one_line_error(cli, tmp_path, monkeypatch):
    """tabular's preprocessing is TensorFlow ops: on JAX it used to crash with a traceback after writing its run
    dir; now it says so before anything is written. image_classification runs on JAX too (not tried here)."""
    from dlsuite.registry import get_spec

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    code, out, err = cli("tabular", "train", "--output-dir", tmp_path / "run", "--quiet")
    assert code == 2 and "tabular runs on the tensorflow Keras backend, not jax" in err.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()
    assert "jax" in get_spec("image_classification").backends and get_spec("sentiment").backends == ("tensorflow",)
