"""The run directory: where one training run keeps everything it writes.

    DIR/config.json      resolved config (written when training starts)
    DIR/metrics.json     test metrics, baselines, timing (written last: its presence means "finished")
    DIR/model.keras      the trained model (best validation weights)
    DIR/logs/            TensorBoard: train/validation scalars, images/, hparams (tuning)
    DIR/checkpoints/     best.keras, backup/ (BackupAndRestore state while a run is unfinished)
    DIR/plots/*.png      confusion matrix, forecast, ...
    DIR/training_log.csv one row per epoch (CSVLogger)
    DIR/saved_model/     written by `export`
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from common.errors import UsageError


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
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise UsageError(f"output dir {self.root} is a file")
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
