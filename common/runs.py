"""The run directory: where one training run keeps everything it writes.

    DIR/config.json      resolved config (written when training starts)
    DIR/metrics.json     test metrics, baselines, timing (written last: its presence means "finished")
    DIR/model.keras      the trained model (best validation weights)
    DIR/logs/            TensorBoard: train/validation scalars, images/, hparams (tuning)
    DIR/checkpoints/     best.keras, backup/ (BackupAndRestore state while a run is unfinished)
    DIR/plots/*.png      confusion matrix, forecast, ...
    DIR/training_log.csv one row per epoch (CSVLogger)
    DIR/saved_model/     written by `export`; DIR/model.tflite, model.onnx, export.keras, preset/ by its other --format
    DIR/.lock            held by the one process using the run dir (`RunDir.lock`); gone when it ends
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

from common.errors import UsageError

# Everything a run, a search or an action writes into its directory: what `--overwrite` clears.
RUN_ENTRIES = ("config.json", "metrics.json", "model.keras", "training_log.csv", "logs", "checkpoints", "plots",
               "saved_model", "preset", "model.tflite", "model.onnx", "export.keras", "examples", "predictions",
               "generated", "images", "tables.md", "optimize_losses.csv", "tuning", "best_config.json",
               "tuning_summary.json", ".workers")
LOCK_NAME = ".lock"


@dataclass(frozen=True)
class RunDir:
    root: str

    @property
    def config(self) -> str:
        return os.path.join(self.root, "config.json")

    @property
    def metrics(self) -> str:
        return os.path.join(self.root, "metrics.json")

    @property
    def model(self) -> str:
        return os.path.join(self.root, "model.keras")

    @property
    def logs(self) -> str:
        return os.path.join(self.root, "logs")

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.root, "checkpoints")

    @property
    def backup(self) -> str:
        return os.path.join(self.checkpoints, "backup")

    @property
    def best(self) -> str:
        return os.path.join(self.checkpoints, "best.keras")

    @property
    def plots(self) -> str:
        return os.path.join(self.root, "plots")

    @property
    def csv_log(self) -> str:
        return os.path.join(self.root, "training_log.csv")

    @property
    def saved_model(self) -> str:
        return os.path.join(self.root, "saved_model")

    @property
    def lock_file(self) -> str:
        return os.path.join(self.root, LOCK_NAME)

    @contextlib.contextmanager
    def lock(self, purpose: str):
        """Exclusive use of the run dir while the block runs: one process per run directory.

        An `fcntl.flock` on `DIR/.lock`, which names its holder (pid, host, purpose, start time). A second
        process gets a one-line `UsageError` naming the holder. The kernel releases the lock of a process
        that dies, so a lock file left by a killed run is taken over, with a warning. The file is removed on
        release; the directory must exist.
        """
        while True:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(fd)
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise UsageError(f"{self.root} is in use by another process ({holder}); wait for it to end or "
                                 "pick another --output-dir") from None
            with contextlib.suppress(FileNotFoundError):
                if os.fstat(fd).st_ino == os.stat(self.lock_file).st_ino:
                    break  # not a file its last holder unlinked while we waited
            os.close(fd)
        left = _read_holder(fd)
        if left:
            print(f"dlsuite: warning: {self.root} was left locked by {left}, which is no longer running; "
                  "taking it over", file=sys.stderr)
        holder = f"pid {os.getpid()} on {socket.gethostname()}, {purpose}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.lock_file)
            os.close(fd)

    def clear(self) -> None:
        """Removes everything an earlier run, search or action wrote here (`RUN_ENTRIES`), for `--overwrite`."""
        for name in RUN_ENTRIES:
            path = os.path.join(self.root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)

    def check_writable(self) -> None:
        """A one-line error, before anything is written, where the run dir (or the folder it would be made
        in) can't be written."""
        check_writable(self.root, "output dir")

    def is_finished(self) -> bool:
        return os.path.isfile(self.metrics)

    def read_json(self, path: str) -> dict:
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            raise UsageError(f"{path} not found: is {self.root} a finished run directory?") from None
        except json.JSONDecodeError:
            raise UsageError(f"{path} is corrupt (not JSON)") from None

    def check_can_train(self, app: str, config: dict, overwrite: bool, resumable=frozenset()) -> None:
        """Refuses to mix runs: a finished run needs --overwrite; an unfinished one resumes only with the same
        config, but for the keys in `resumable` (`common.config.resumable_keys`)."""
        self.check_writable()
        if self.is_finished():
            if overwrite:
                return  # train() clears the old run once the new data has loaded
            raise UsageError(f"{self.root} holds a finished run; pick another --output-dir or pass --overwrite")
        if os.path.isfile(self.config) and not overwrite:
            saved = self.read_json(self.config)
            if saved.get("app") != app:
                raise UsageError(f"{self.root} holds an unfinished {saved.get('app')!r} run, not {app!r}")
            current = json.loads(json.dumps(config))  # tuples become lists, as in the saved file
            changed = sorted(k for k in current if k not in resumable and saved.get(k) != current[k])
            if changed:
                raise UsageError(
                    f"{self.root} holds an unfinished run with other settings ({', '.join(changed)}): "
                    "rerun with the same settings to resume, or pass --overwrite"
                )


def check_writable(path: str, what: str) -> None:
    """A one-line `UsageError` naming `what` (e.g. "output dir") where folder `path` (or the folder it would be
    made in) can't be written; nothing is left behind."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{what} {path} is a file")
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(os.path.abspath(parent))
    if not os.path.isdir(parent):
        raise UsageError(f"{what} {path}: {parent} is a file")
    try:  # a real write: root passes os.access on read-only mounts and immutable folders
        fd, probe = tempfile.mkstemp(prefix=".dlsuite-write-check-", dir=parent)
    except OSError as exc:
        raise UsageError(f"{what} {path}: {parent} is not writable ({exc.strerror})") from None
    os.close(fd)
    os.remove(probe)


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 512, 0).decode(errors="replace").strip()
    return ""
