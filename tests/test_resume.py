"""Nothing lost: a run killed late finishes without training again, one CSV row per epoch whatever the
kill point, and a diverging run keeps no bad weights and says where the good ones are."""

import csv

import keras
import numpy as np
import pytest

from common.errors import TrainingDiverged
from common.monitoring import SafeBackupAndRestore
from common.training import train
from conftest import TINY_CNN
from test_training import InterruptAtEpoch, epochs_logged, tiny_config


class CountEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_a_kill_after_training_only_finishes_the_evaluation(tmp_path, monkeypatch):
    task, cfg = tiny_config("time_series", "epochs=3", "early_stopping_patience=0")
    run = tmp_path / "run"
    evaluate = type(task).evaluate

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # killed after fit, before metrics.json

    monkeypatch.setattr(type(task), "evaluate", killed)
    with pytest.raises(KeyboardInterrupt):
        train(task, cfg, str(run), verbose=0)
    assert (run / "checkpoints" / "fit_done.json").exists() and not (run / "metrics.json").exists()
    monkeypatch.setattr(type(task), "evaluate", evaluate)
    counter = CountEpochs()
    metrics = train(task, cfg, str(run), extra_callbacks=(counter,), verbose=0)
    assert counter.epochs == 0  # no epoch trained again
    assert metrics["epochs"] == 3 and metrics["train_seconds"] > 0 and epochs_logged(run) == [0, 1, 2]
    assert not (run / "checkpoints" / "fit_done.json").exists()  # finished: metrics.json says so now


def test_kill_between_the_csv_row_and_the_backup_logs_each_epoch_once(tmp_path, monkeypatch):
    task, cfg = tiny_config("time_series", "epochs=4", "early_stopping_patience=0")
    run = tmp_path / "run"
    save = SafeBackupAndRestore.on_epoch_end

    def killed_at_epoch_2(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt  # epoch 2's CSV row is written, its backup is not
        save(self, epoch, logs)

    monkeypatch.setattr(SafeBackupAndRestore, "on_epoch_end", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(task, cfg, str(run), verbose=0)
    assert epochs_logged(run) == [0, 1, 2]
    monkeypatch.setattr(SafeBackupAndRestore, "on_epoch_end", save)
    train(task, cfg, str(run), verbose=0)
    assert epochs_logged(run) == [0, 1, 2, 3]
    with open(run / "training_log.csv") as fh:
        assert len(list(csv.reader(fh))) == 5  # one header, four rows


def test_interrupted_twice_still_one_row_per_epoch(tmp_path):
    task, cfg = tiny_config("time_series", "epochs=5", "early_stopping_patience=0")
    run = tmp_path / "run"
    for epoch in (1, 3):
        with pytest.raises(KeyboardInterrupt):
            train(task, cfg, str(run), extra_callbacks=(InterruptAtEpoch(epoch),), verbose=0)
    train(task, cfg, str(run), verbose=0)
    assert epochs_logged(run) == [0, 1, 2, 3, 4]


def test_runaway_loss_stops_and_keeps_no_bad_weights(tmp_path):
    """Adam at a learning rate of 1e6 does not give NaN at once: the loss runs away to 1e20 and more. The
    growth bound stops it; no checkpoint of a diverged epoch or non-finite weights is kept."""
    task, cfg = tiny_config("image_classification", "dataset=digits", "epochs=3", "learning_rate=1e6",
                            "augment=false")
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="training diverged: the loss (grew to|became NaN)") as info:
        train(task, cfg, str(run), verbose=0)
    message = str(info.value)
    assert "no epoch had finished" in message or "last good weights are in" in message
    if (run / "checkpoints" / "best.keras").exists():
        best = keras.saving.load_model(run / "checkpoints" / "best.keras", compile=False)
        assert all(np.isfinite(w).all() for w in best.get_weights())
    assert not (run / "metrics.json").exists() and not (run / "checkpoints" / "backup").exists()


# --- exact resume: a run killed and rerun ends as an uninterrupted one -------------------------------------------

TINY_TRANSFER = ["epochs=3", "head_epochs=1", "shots=3", "epoch_examples=0", "batch_size=8",
                 "pretrain={dataset: digits, epochs: 1, depth: 1, width: 8, dense_units: 16, max_train_samples: 200, "
                 "baseline_max_samples: 0, augment: false, min_steps: 0}"]
TINY_GAN = ["epochs=2", "width=4", "latent_dim=8", "batch_size=32", "eval_samples=60", "val_fid_samples=40",
            "samples_per_class=2", "augment_shots=2", "augment_generated=2", "augment_steps=3", "max_train_samples=300",
            "classifier={epochs: 1, depth: 1, width: 4, dense_units: 8, augment: false, min_steps: 0}"]


def _config(app, sets):
    from common.config import resolve_config
    from dlsuite.registry import get_app

    task = get_app(app)
    return task, resolve_config(task.config_class, app, sets=[*sets, "deterministic=true"])


def _log_rows(run):
    with open(run / "training_log.csv") as fh:
        return list(csv.DictReader(fh))


def _uninterrupted_and_resumed(tmp_path, app, sets, kill_epochs):
    """(metrics, log rows) of an uninterrupted run and of the same run killed in each of `kill_epochs` (0-based,
    mid-epoch) and rerun; the uninterrupted run is the first in a new data dir (it prepares the datasets)."""
    task, cfg = _config(app, sets)
    first = train(task, cfg, str(tmp_path / "a"), verbose=0)
    run = tmp_path / "b"
    for epoch in kill_epochs:
        task, cfg = _config(app, sets)
        with pytest.raises(KeyboardInterrupt):
            train(task, cfg, str(run), extra_callbacks=(InterruptAtEpoch(epoch),), verbose=0)
    task, cfg = _config(app, sets)
    resumed = train(task, cfg, str(run), verbose=0)
    return (first, _log_rows(tmp_path / "a")), (resumed, _log_rows(run))


@pytest.mark.parametrize("app, sets, kill_epochs", [
    ("image_classification", [*TINY_CNN[1::2], "dataset=digits", "epochs=4"], (2,)),
    # killed in the fine-tuning phase: once in its first epoch (resumed from the phase record), once later
    ("transfer_learning", TINY_TRANSFER, (1, 2)),
], ids=["image_classification", "transfer_learning"])
def test_a_resumed_run_ends_exactly_as_an_uninterrupted_one(tmp_path, monkeypatch, app, sets, kill_epochs):
    """Same per-epoch log and test metrics after kills: data order, dropout/augmentation generators, optimizer
    slots, the best-epoch record and the phase all carry over; and the first run, which prepared the data, is
    one of them (preparing a dataset does not change what the model sees)."""
    monkeypatch.setenv("DLSUITE_DATA_DIR", str(tmp_path / "tfds"))
    (first, first_rows), (resumed, resumed_rows) = _uninterrupted_and_resumed(tmp_path, app, sets, kill_epochs)
    assert [row["loss"] for row in resumed_rows] == [row["loss"] for row in first_rows]
    assert resumed["test"] == first["test"]


@pytest.mark.slow
def test_a_resumed_gan_ends_exactly_as_an_uninterrupted_one(tmp_path):
    """Both of the GAN's optimizers and its noise generator carry over (before, the optimizers' slots were
    lost on resume: the discriminator's Adam started again)."""
    (first, first_rows), (resumed, resumed_rows) = _uninterrupted_and_resumed(tmp_path, "gan", TINY_GAN, (1,))
    assert [row["loss"] for row in resumed_rows] == [row["loss"] for row in first_rows]
    assert resumed["test"]["fid"] == first["test"]["fid"]
