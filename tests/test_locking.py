"""One run per directory: the run-dir lock, tune following train's rules, --overwrite clearing the old run."""

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
