"""KerasTuner search over an application's own model builders.

`AppHyperModel.build(hp)` turns the application's `search_space(hp, cfg)` into a config and calls
the same `build_model` / `compile_model` that training uses, so the architecture exists once.
The search state lives in `DIR/tuning/` (rerunning the same command resumes it without repeating
finished trials); TensorBoard's HParams dashboard reads `DIR/logs/`; the best configuration is
written to `DIR/best_config.json`, ready for `dlsuite APP train --config DIR/best_config.json`.
KerasTuner itself calls `keras.backend.clear_session()` before building each trial's model.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import keras_tuner

from common import distribute
from common.config import TrainConfig, runtime_keys, save_config
from common.errors import UsageError
from common.export import atomic_write_json
from common.runs import RunDir
from common.task import Task
from common.training import compile_task_model, run_context, steps_for

TUNERS = ("random", "bayesian", "hyperband")


class AppHyperModel(keras_tuner.HyperModel):
    """A hyper-model built from an application's task and base config.

    Args:
        task: the application.
        cfg: the base config; every hyperparameter defaults to its value here.
        data: the loaded dataset (for shapes and class counts).
        steps_per_epoch: used by learning-rate schedules.
    """

    def __init__(self, task: Task, cfg: TrainConfig, data, steps_per_epoch: int):
        super().__init__(name=task.name)
        self.task = task
        self.cfg = cfg
        self.data = data
        self.steps_per_epoch = steps_per_epoch
        self._noted = False

    def config_for(self, hp) -> TrainConfig:
        return dataclasses.replace(self.cfg, **self.task.search_space(hp, self.cfg))

    def build(self, hp):
        cfg = self.config_for(hp)
        model = self.task.build_model(cfg, self.data)
        phases = self.task.phases(cfg)
        if len(phases) > 1 and phases[0].prepare is not None:
            phases[0].prepare(model)
        compile_task_model(self.task, model, cfg, self.steps_per_epoch, phases[0] if len(phases) > 1 else None,
                           note=not self._noted)
        self._noted = True  # the jit_compile note once a search
        return model

    def fit(self, hp, model, *args, **kwargs):
        """One `fit`, or for a task trained in phases (`Task.phases`) one per phase, as `train` does;
        the search objective then comes from the last phase. The tuner's own epoch budget
        (Hyperband) applies to single-phase tasks only."""
        cfg = self.config_for(hp)
        phases = self.task.phases(cfg)
        if len(phases) == 1:
            return model.fit(*args, **kwargs)
        kwargs.pop("initial_epoch", None)
        kwargs.pop("epochs", None)
        history, first = None, 0
        for index, phase in enumerate(phases):
            if not phase.epochs:
                continue
            if index:  # the first phase was prepared and compiled in build()
                if phase.prepare is not None:
                    phase.prepare(model)
                compile_task_model(self.task, model, cfg, self.steps_per_epoch, phase, note=False)
            history = model.fit(*args, initial_epoch=first, epochs=first + phase.epochs, **kwargs)
            first += phase.epochs
        return history


def make_tuner(name: str, hypermodel: AppHyperModel, objective: str, max_trials: int, max_epochs: int,
               directory: str, seed: int, strategy):
    common = dict(objective=objective, directory=directory, project_name="tuning", overwrite=False,
                  seed=seed, distribution_strategy=strategy)
    if name == "random":
        return keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if name == "bayesian":
        return keras_tuner.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    if name == "hyperband":
        return keras_tuner.Hyperband(hypermodel, max_epochs=max_epochs, factor=3, **common)
    raise UsageError(f"unknown tuner {name!r} (choose from: {', '.join(TUNERS)})")


def check_can_search(run: RunDir, app: str, cfg: TrainConfig, overwrite: bool) -> None:
    """A search follows training's rules: it refuses a directory holding a training run (finished or not) or
    a search with other settings, unless `overwrite`; the same search resumes."""
    run.check_writable()
    if overwrite or not os.path.isfile(run.config):
        return
    if run.is_finished() or not os.path.isdir(os.path.join(run.root, "tuning")):
        raise UsageError(f"{run.root} holds a training run; tune into another --output-dir, or pass --overwrite "
                         "to replace it")
    run.check_can_train(app, cfg.to_dict(), False, runtime_keys(type(cfg)))


def search(task: Task, cfg: TrainConfig, output_dir: str, tuner: str = "random", max_trials: int = 10,
           verbose="auto", overwrite: bool = False) -> dict:
    """Runs (or resumes) a search and writes `best_config.json`; returns a summary. The output dir is
    locked while it runs (one process per directory)."""
    if tuner not in TUNERS:
        raise UsageError(f"unknown tuner {tuner!r} (choose from: {', '.join(TUNERS)})")
    if max_trials < 1:
        raise UsageError(f"--max-trials must be >= 1, got {max_trials}")
    from common.datasets import check_data_dir  # TensorFlow Datasets only where data is loaded

    run = RunDir(output_dir)
    check_can_search(run, task.name, cfg, overwrite)
    check_data_dir(cfg.data_dir)
    with run_context(cfg):
        strategy = distribute.get_strategy(cfg.strategy, cfg.tpu)
        data = task.load_data(cfg)
        inputs = task.build_inputs(cfg, data)
        steps = steps_for(task.num_train_examples(cfg, data), cfg.batch_size)
        hypermodel = AppHyperModel(task, cfg, data, steps)
        os.makedirs(output_dir, exist_ok=True)
        with run.lock(f"dlsuite {task.name} tune"):
            check_can_search(run, task.name, cfg, overwrite)  # again, now that no other process can change it
            if overwrite:
                run.clear()
            save_config(cfg, task.name, run.config)
            return _search(task, cfg, hypermodel, inputs, data, strategy, output_dir, tuner, max_trials, verbose)


def _search(task, cfg, hypermodel, inputs, data, strategy, output_dir, tuner, max_trials, verbose) -> dict:
    """The search itself, in a claimed output dir."""
    direction = task.monitor_mode if task.monitor_mode != "auto" else "min" if "loss" in task.monitor else "max"
    objective = keras_tuner.Objective(task.monitor, direction=direction)
    kt = make_tuner(tuner, hypermodel, objective, max_trials, cfg.epochs, output_dir, cfg.seed, strategy)
    callbacks = [*task.callbacks(cfg, data, RunDir(output_dir)),
                 keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"), write_graph=False)]
    if cfg.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(task.monitor, mode=task.monitor_mode,
                                                       patience=cfg.early_stopping_patience))
    kt.search(inputs["train"], validation_data=inputs["validation"], epochs=cfg.epochs,
              callbacks=callbacks, verbose=verbose,
              shuffle=False)  # the pipeline shuffles; Keras cannot shuffle a tf.data.Dataset (and warns)

    trials = []
    for trial in kt.oracle.trials.values():
        trials.append({"trial_id": trial.trial_id, "status": str(trial.status), "score": trial.score,
                       "hyperparameters": dict(trial.hyperparameters.values)})
    best_hp = kt.get_best_hyperparameters(1)
    if not best_hp:
        raise UsageError("no trial finished: see the errors above")
    best_cfg = hypermodel.config_for(best_hp[0])
    summary = {"app": task.name, "tuner": tuner, "objective": task.monitor,
               "best_score": kt.oracle.get_best_trials(1)[0].score,
               "best_hyperparameters": dict(best_hp[0].values), "trials": trials}
    atomic_write_json(os.path.join(output_dir, "tuning_summary.json"), summary)
    save_config(best_cfg, task.name, os.path.join(output_dir, "best_config.json"))
    return summary
