"""One run per directory: the run-dir lock, tune following train's rules, --overwrite clearing the old run,
and output paths that can't be written, each a one-line error with nothing written."""

import os
import signal
import subprocess
import sys

import pytest

from common.errors import UsageError
from common.runs import RunDir
from conftest import TINY_RNN, read_json

TRAIN = ["time_series", "train", "--epochs", "1", "--quiet", *TINY_RNN]
HOLD = ("import sys, time\nfrom common.runs import RunDir\n"
        "with RunDir(sys.argv[1]).lock('a test holder'):\n    print('locked', flush=True)\n    time.sleep(120)\n")


def one_line_error(err: str, message: str) -> bool:
    """The run ended in one `dlsuite: error:` line holding `message` (after any TFDS preparation output)."""
    return "Traceback" not in err and err.strip().splitlines()[-1].startswith("dlsuite: error:") and message in err


def hold_lock(path):
    """A second process holding the lock of run dir `path`, once it says so."""
    os.makedirs(path, exist_ok=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": root})
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_lock_is_exclusive_and_names_its_holder(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    holder = hold_lock(run.root)
    try:
        with pytest.raises(UsageError, match=rf"is in use by another process \(pid {holder.pid} on .*a test holder"):
            with run.lock("second"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run.lock("third"):  # the kernel released the dead holder's lock
        assert "third" in open(run.lock_file).read()
    assert not os.path.exists(run.lock_file)  # removed on release


def test_second_training_into_a_locked_dir_is_refused(tmp_path, cli, capsys):
    run = tmp_path / "run"
    holder = hold_lock(run)
    try:
        code, out, err = cli(*TRAIN, "--output-dir", run)
        assert code == 2 and one_line_error(err, "is in use by another process"), err
        assert not (run / "config.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The killed holder left its lock file: the next run takes it over, says so, and finishes.
    assert (run / ".lock").exists()
    code, out, err = cli(*TRAIN, "--output-dir", run)
    assert code == 0, err
    assert f"left locked by pid {holder.pid}" in err and "taking it over" in err
    assert (run / "metrics.json").exists() and not (run / ".lock").exists()


def test_tune_refuses_a_training_run_and_overwrite_clears_everything(tmp_path, cli):
    run = tmp_path / "run"
    assert cli(*TRAIN, "--output-dir", run)[0] == 0
    config = (run / "config.json").read_text()
    code, out, err = cli("time_series", "tune", "--epochs", "1", "--max-trials", "1", "--quiet", *TINY_RNN,
                         "--set", "units=4", "--output-dir", run)
    assert code == 2 and "holds a training run" in err, err
    assert (run / "config.json").read_text() == config and not (run / "tuning").exists()

    assert cli("time_series", "export", "--run", run)[0] == 0
    (run / "examples").mkdir(exist_ok=True)
    assert (run / "saved_model").is_dir()
    code, out, err = cli(*TRAIN, "--output-dir", run, "--overwrite")
    assert code == 0, err
    assert not (run / "saved_model").exists() and not (run / "examples").exists()  # nothing of the old run is left
    assert read_json(run / "metrics.json")["epochs"] == 1


def test_tune_resumes_the_same_search_and_refuses_another(tmp_path, cli):
    run = tmp_path / "search"
    args = ["time_series", "tune", "--epochs", "1", "--max-trials", "1", "--quiet", *TINY_RNN, "--output-dir", run]
    assert cli(*args)[0] == 0
    assert cli(*args)[0] == 0  # the same search: resumed (its one trial is done)
    code, out, err = cli(*args, "--set", "window=8")
    assert code == 2 and "other settings (window)" in err, err
    assert read_json(run / "best_config.json")["window"] != 8


def test_paths_that_cannot_be_written(tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for output, message in ((blocker, "is a file"), (blocker / "run", "is a file"),
                            ("/proc/dlsuite-run", "is not writable")):
        code, out, err = cli(*TRAIN, "--output-dir", output)
        assert code == 2 and one_line_error(err, message), err
    run = tmp_path / "run"
    assert cli(*TRAIN, "--output-dir", run)[0] == 0
    code, out, err = cli("time_series", "export", "--run", run, "--path", blocker)
    assert code == 2 and "is a file; give a folder for the export" in err, err


def test_rejected_settings_leave_no_run_dir(tmp_path, cli):
    run = tmp_path / "run"
    code, out, err = cli("image_classification", "train", "--dataset", "digits", "--epochs", "1", "--quiet",
                         "--set", "depth=6", "--output-dir", run)
    assert code == 2 and one_line_error(err, "depth"), err
    assert not run.exists()


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    ("[1, 2]", "TF_CONFIG must be a JSON object"),
    ('{"cluster": {"worker": ["localhost:1", "localhost:2"]}}', 'no "task"'),
    ('{"cluster": {"worker": "localhost:1"}}', "lists of"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}', "is not in its cluster"),
])
def test_malformed_tf_config_is_a_one_line_error(tmp_path, cli, monkeypatch, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    for strategy in ("auto", "multi_worker"):
        code, out, err = cli(*TRAIN, "--strategy", strategy, "--output-dir", tmp_path / "run")
        assert code == 2 and one_line_error(err, message), err
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [["--batch-size", "99999999999999999999"], ["--epochs", "99999999999999999999999"]])
def test_impossible_integers_are_refused_before_anything_is_written(tmp_path, cli, args):
    code, out, err = cli(*TRAIN, *args, "--output-dir", tmp_path / "run")
    assert code == 2 and one_line_error(err, "is too large"), err
    assert not (tmp_path / "run").exists()
