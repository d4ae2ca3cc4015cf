"""The `Task` interface: what an application provides so the shared runner can train, tune and serve it.

An application subclasses `Task`, sets its name, config class and data kind, and implements the
`build_*` methods; `common.training` does everything else the same way for every application
(strategy scope, callbacks, resume, evaluation, baselines, plots, export). The vocabulary follows
the TF Model Garden's task (`build_inputs`, `build_model`, ...), without its registries.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from common.config import TrainConfig


class Task:
    """Base class of an application.

    Class attributes:
        name: registry and CLI name.
        description: one line for `dlsuite list`.
        config_class: the application's `TrainConfig` subclass.
        models: model variants selectable with `--set model=...` (for `dlsuite list`).
    """

    name: str = ""
    description: str = ""
    config_class: type[TrainConfig] = TrainConfig
    models: tuple[str, ...] = ()
    monitor: str = "val_loss"

    # --- data -------------------------------------------------------------------------------
    def load_data(self, cfg: TrainConfig) -> Any:
        """Loads the dataset named by `cfg.dataset` (raises UsageError for bad input)."""
        raise NotImplementedError

    def build_inputs(self, cfg: TrainConfig, data: Any) -> dict[str, tf.data.Dataset]:
        """Batched `tf.data` pipelines: {"train", "validation", "test"}."""
        raise NotImplementedError

    def num_train_examples(self, cfg: TrainConfig, data: Any) -> int:
        raise NotImplementedError

    def data_summary(self, data: Any) -> dict:
        """What `predict` needs to know about the data later (class names, shapes); saved in metrics.json."""
        return {}

    # --- model ------------------------------------------------------------------------------
    def build_model(self, cfg: TrainConfig, data: Any) -> keras.Model:
        """An uncompiled model for this config and data."""
        raise NotImplementedError

    def build_losses(self, cfg: TrainConfig):
        raise NotImplementedError

    def build_metrics(self, cfg: TrainConfig) -> list:
        return []

    def compile_model(self, model: keras.Model, cfg: TrainConfig, steps_per_epoch: int) -> None:
        from common.training import build_optimizer

        model.compile(
            optimizer=build_optimizer(cfg, steps_per_epoch),
            loss=self.build_losses(cfg),
            metrics=self.build_metrics(cfg),
            jit_compile=cfg.jit_compile,
        )

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, model: keras.Model, cfg: TrainConfig, data: Any, inputs: dict) -> dict[str, float]:
        """Test-split metrics of a trained model."""
        raise NotImplementedError

    def baselines(self, cfg: TrainConfig, data: Any) -> dict[str, dict[str, float]]:
        """Classical baselines on the same split, computed in the same run."""
        return {}

    def figures(self, model: keras.Model, cfg: TrainConfig, data: Any, inputs: dict, split: str = "test") -> dict:
        """{name: matplotlib Figure} for `plots/` and TensorBoard."""
        return {}

    # --- serving ----------------------------------------------------------------------------
    def predict(self, model: keras.Model, cfg: TrainConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """Predictions for the user's inputs (file paths or values), as printable records."""
        raise NotImplementedError

    # --- tuning -----------------------------------------------------------------------------
    def search_space(self, hp, cfg: TrainConfig) -> dict[str, Any]:
        """Config overrides drawn from `hp`; each hyperparameter is named after its config field
        and defaults to the config's value, so an empty `HyperParameters()` gives the config itself."""
        return {}
