"""The shared training path: resume after an interruption, divergence, run-dir safety, precision."""

import csv
import os
import signal
import subprocess
import sys
import time

import keras
import pytest

from dlsuite.registry import get_app
from common.config import resolve_config
from common.errors import TrainingDiverged, UsageError
from common.task import Phase
from common.training import train
from conftest import TINY_CNN, TINY_RNN, read_json


def epochs_logged(run):
    with open(run / "training_log.csv") as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


class InterruptAtEpoch(keras.callbacks.Callback):
    """Simulates a crash in the middle of epoch `epoch` (0-based), after earlier epochs finished."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self._current == self.epoch and batch == 1:
            raise KeyboardInterrupt

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch


def tiny_config(app, *sets):
    task = get_app(app)
    extra = TINY_CNN if app == "image_classification" else TINY_RNN
    items = [s for s in extra if s != "--set"] + list(sets)
    return task, resolve_config(task.config_class, app, sets=items)


@pytest.mark.slow
def test_interrupted_run_resumes_at_the_next_epoch(tmp_path):
    task, cfg = tiny_config("image_classification", "dataset=digits", "epochs=4")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(task, cfg, str(run), extra_callbacks=(InterruptAtEpoch(2),), verbose=0)
    assert epochs_logged(run) == [0, 1]  # epochs 1 and 2 finished
    assert not (run / "metrics.json").exists() and not (run / "model.keras").exists()
    assert (run / "checkpoints" / "backup").is_dir()

    metrics = train(task, cfg, str(run), verbose=0)
    assert epochs_logged(run) == [0, 1, 2, 3]  # continued at epoch 3, nothing repeated
    assert metrics["epochs"] == 4
    assert not (run / "checkpoints" / "backup").exists()  # cleaned once finished


@pytest.mark.slow
def test_killed_process_resumes(tmp_path):
    """SIGKILL of the real CLI in the middle of training; the rerun continues after the last finished epoch."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "dlsuite", "time_series", "train", "--epochs", "400", "--quiet",
           "--output-dir", str(run), "--set", "early_stopping_patience=0", *TINY_RNN]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if (run / "training_log.csv").exists() and len(epochs_logged(run)) >= 3:
                break
            time.sleep(0.2)
        else:
            pytest.fail("training never logged 3 epochs")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = epochs_logged(run)
    assert not (run / "metrics.json").exists()
    rerun = subprocess.run([*cmd[:6], str(len(done) + 2), *cmd[7:]], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    logged = epochs_logged(run)
    # Every epoch appears once, also the one being written when killed.
    assert logged == list(range(len(done) + 2))
    assert read_json(run / "metrics.json")["epochs"] == len(done) + 2


def test_divergence_stops_with_a_clear_error(tmp_path, cli):
    run = tmp_path / "run"
    code, out, err = cli("time_series", "train", "--epochs", "3", "--quiet", "--output-dir", run, *TINY_RNN,
                         "--set", "optimizer=sgd", "--set", "learning_rate=1e12", "--set", "linear_skip=0")
    assert code == 3
    assert err.strip().startswith("dlsuite: error: training diverged: the loss grew to")  # before it is NaN
    assert "at epoch 1" in err and "no epoch had finished, so no weights were kept" in err
    assert not (run / "metrics.json").exists()


def test_finished_run_is_not_overwritten_by_accident(tmp_path, cli):
    run = tmp_path / "run"
    args = ["time_series", "train", "--epochs", "1", "--quiet", "--output-dir", run, *TINY_RNN]
    assert cli(*args)[0] == 0
    code, out, err = cli(*args)
    assert code == 2 and "holds a finished run; pick another --output-dir or pass --overwrite" in err
    # --overwrite with bad data fails before touching the finished run
    assert cli(*args, "--overwrite", "--dataset", "missing.csv")[0] == 2
    assert (run / "metrics.json").exists()
    assert cli(*args, "--overwrite")[0] == 0


def test_unfinished_run_with_other_settings_is_refused(tmp_path):
    task, cfg = tiny_config("time_series", "epochs=3")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(task, cfg, str(run), extra_callbacks=(InterruptAtEpoch(1),), verbose=0)
    _, other = tiny_config("time_series", "epochs=3", "units=16")
    with pytest.raises(UsageError, match=r"unfinished run with other settings \(units\)"):
        train(task, other, str(run), verbose=0)


@pytest.mark.slow
def test_mixed_precision_and_xla(tmp_path):
    task, cfg = tiny_config("image_classification", "dataset=digits", "epochs=1", "precision=mixed_bfloat16",
                            "jit_compile=true", "deterministic=true")
    metrics = train(task, cfg, str(tmp_path / "run"), verbose=0)
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert keras.config.dtype_policy().name == "float32"  # restored after the run
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.get_layer("block1_conv1").dtype_policy.name == "mixed_bfloat16"
    assert model.output.dtype == "float32"


def test_jit_compile_says_when_it_cannot_apply(tmp_path, capsys):
    """XLA applies where every layer supports it; else one line names the layers that keep it off."""
    task, cfg = tiny_config("image_classification", "dataset=digits", "epochs=1", "jit_compile=true",
                            "max_train_samples=64", "baseline_max_samples=0")
    train(task, cfg, str(tmp_path / "augmented"), verbose=0)
    notes = [line for line in capsys.readouterr().err.splitlines() if "jit_compile" in line]
    assert len(notes) == 1 and "not applied" in notes[0] and "RandomRotation" in notes[0], notes
    task, cfg = tiny_config("time_series", "epochs=1", "jit_compile=true")
    train(task, cfg, str(tmp_path / "series"), verbose=0)
    err = capsys.readouterr().err
    from tensorflow.python.framework.config import is_op_determinism_enabled

    if is_op_determinism_enabled():  # process-wide, once an earlier test of this process asked for it
        assert "not applied: deterministic ops" in err
    else:
        assert "jit_compile" not in err
        assert keras.saving.load_model(tmp_path / "series" / "model.keras").jit_compile


def test_training_error_is_raised_before_any_run_dir_exists(tmp_path):
    task, cfg = tiny_config("time_series", "window=500")
    with pytest.raises(UsageError, match="window=500"):
        train(task, cfg, str(tmp_path / "run"), verbose=0)
    assert not os.path.exists(tmp_path / "run")


class TwoPhaseTask(type(get_app("image_classification"))):
    """The image classifier trained in two phases: dense head only, then everything at a lower rate."""

    def phases(self, cfg):
        def head_only(model):
            for layer in model.layers:
                layer.trainable = isinstance(layer, keras.layers.Dense)

        def everything(model):
            for layer in model.layers:
                layer.trainable = True

        return [Phase("head", 2, prepare=head_only), Phase("all", 2, learning_rate=cfg.learning_rate / 10,
                                                            prepare=everything)]


@pytest.mark.slow
def test_phases_run_in_order_and_resume_inside_the_second(tmp_path):
    task = TwoPhaseTask()
    _, cfg = tiny_config("image_classification", "dataset=digits", "epochs=4")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(task, cfg, str(run), extra_callbacks=(InterruptAtEpoch(3),), verbose=0)
    assert epochs_logged(run) == [0, 1, 2]
    assert read_json(run / "checkpoints" / "phase.json") == {"completed": 1, "epoch": 2}
    assert (run / "checkpoints" / "phase.weights.h5").is_file()

    metrics = train(task, cfg, str(run), verbose=0)
    assert epochs_logged(run) == [0, 1, 2, 3]
    assert metrics["epochs"] == 4
    assert not (run / "checkpoints" / "phase.json").exists()
    assert all(layer.trainable for layer in keras.saving.load_model(run / "model.keras").layers)


def test_first_phase_trains_only_what_prepare_leaves_trainable(tmp_path):
    task = TwoPhaseTask()
    _, cfg = tiny_config("image_classification", "dataset=digits", "epochs=1")
    task.phases = lambda cfg: TwoPhaseTask.phases(task, cfg)[:1]  # the head-only phase alone
    data = task.load_data(cfg)
    model = task.build_model(cfg, data)
    before = {layer.name: [w.numpy().copy() for w in layer.weights] for layer in model.layers}
    phase = task.phases(cfg)[0]
    phase.prepare(model)
    task.compile_model(model, cfg, 10, phase)
    model.fit(task.build_inputs(cfg, data)["train"].take(3), verbose=0)
    for layer in model.layers:
        changed = any((w.numpy() != b).any() for w, b in zip(layer.weights, before[layer.name]))
        if isinstance(layer, keras.layers.Conv2D):
            assert not changed, layer.name
        if isinstance(layer, keras.layers.Dense):
            assert changed, layer.name


class CountingLoopTask(type(get_app("image_classification"))):
    """A task with its own loop: counts to `epochs`, keeping its progress in run.checkpoints."""

    trains_with_fit = False

    def __init__(self, stop_at=None):
        self.stop_at = stop_at

    def train_loop(self, cfg, run, verbose):
        if cfg.dataset == "bad":
            raise UsageError("bad input")
        os.makedirs(run.checkpoints, exist_ok=True)
        state = os.path.join(run.checkpoints, "count.txt")
        done = int(open(state).read()) if os.path.exists(state) else 0
        resumed_from = done
        while done < cfg.epochs:
            if done == self.stop_at:
                raise KeyboardInterrupt
            done += 1
            with open(state, "w") as fh:
                fh.write(str(done))
        return {"test": {"accuracy": 1.0, "resumed_from": resumed_from}, "epochs": done}


def test_task_with_its_own_loop_writes_metrics_and_resumes(tmp_path):
    cfg = resolve_config(CountingLoopTask.config_class, "image_classification", overrides={"epochs": 4})
    out = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        train(CountingLoopTask(stop_at=2), cfg, out, verbose=0)
    assert not os.path.exists(os.path.join(out, "metrics.json"))  # unfinished runs don't look finished
    metrics = train(CountingLoopTask(), cfg, out, verbose=0)
    assert metrics["test"]["resumed_from"] == 2 and metrics["epochs"] == 4
    assert read_json(os.path.join(out, "metrics.json"))["app"] == "image_classification"
    with pytest.raises(UsageError, match="finished run"):
        train(CountingLoopTask(), cfg, out, verbose=0)
    bad = resolve_config(CountingLoopTask.config_class, "image_classification", overrides={"dataset": "bad"})
    with pytest.raises(UsageError, match="bad input"):
        train(CountingLoopTask(), bad, str(tmp_path / "bad"), verbose=0)
    assert not os.path.exists(tmp_path / "bad")  # bad input leaves no run dir that would need --overwrite
