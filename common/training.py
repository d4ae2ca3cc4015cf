"""The one training path every application goes through, around `model.fit`.

`train()` resolves the strategy, builds and compiles the model inside its scope, and fits with
the suite's callbacks: TensorBoard (scalars per epoch, task figures every few epochs),
BackupAndRestore (rerun with the same --output-dir resumes at the last finished epoch), a best-model
checkpoint, optional early stopping, a divergence stop (NaN/inf or runaway loss) that raises
`TrainingDiverged` and keeps no bad weights, and a CSV log with one row per epoch. Then it
evaluates on the test split, computes the task's classical baselines, writes plots, the `.keras`
model and finally `metrics.json`, whose presence marks the run as finished. The run dir is locked
for the whole run (`RunDir.lock`): one process per run directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import time
import warnings

import keras
import tensorflow as tf

from common import distribute
from common.config import TrainConfig, resumable_keys, save_config
from common.errors import TrainingDiverged, UsageError
from common.export import atomic_write_json, atomic_write_text, save_model
from common.monitoring import (
    AtomicModelCheckpoint,
    EpochCSVLogger,
    FigureSummary,
    SafeBackupAndRestore,
    StopOnNaN,
    Throughput,
    figure_to_png,
    load_training_state,
    restore_training_state,
    save_training_state,
    training_state,
    log_images,
    log_texts,
    write_png,
)
from common.pipeline import epoch_orders, keep_orders
from common.runs import RunDir
from common.task import Task

log = logging.getLogger(__name__)


@contextlib.contextmanager
def run_context(cfg: TrainConfig):
    """Seeds, op determinism and the precision policy for one run; the policy is restored afterwards."""
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(cfg.precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def compile_task_model(task: Task, model: keras.Model, cfg: TrainConfig, steps_per_epoch: int, phase=None,
                       note: bool = True) -> None:
    """`task.compile_model`, saying in one line when `jit_compile=true` cannot apply.

    Keras falls back to no XLA when a layer does not support it (the random augmentation layers, string
    lookups, ...) with a two-line warning that names none of them; here the fallback is said once, with the
    layers that caused it (`note=False` for a later phase of the same run)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Model doesn't support `jit_compile=True`")
        task.compile_model(model, cfg, steps_per_epoch, phase)
    if note and cfg.jit_compile and not model.jit_compile:
        print(f"{task.name}: jit_compile=true not applied: {xla_blockers(model)} "
              "do not support XLA; training without it", file=sys.stderr, flush=True)


def xla_blockers(model: keras.Model) -> str:
    """The layers (by class, with how many) that keep `model` from compiling with XLA, as one phrase."""
    from tensorflow.python.framework.config import is_op_determinism_enabled  # what Keras itself checks

    counts: dict[str, int] = {}
    for layer in model._flatten_layers(include_self=False):
        if not getattr(layer, "supports_jit", True):
            counts[type(layer).__name__] = counts.get(type(layer).__name__, 0) + 1
    blockers = [f"{name} ×{n}" if n > 1 else name for name, n in counts.items()]
    if is_op_determinism_enabled():  # process-wide once a run has asked for it
        blockers.append("deterministic ops (deterministic=true)")
    return ", ".join(blockers) or "its layers"


def steps_for(num_examples: int, batch_size: int) -> int:
    return max(1, -(-num_examples // batch_size))


def passes_per_epoch(cfg: TrainConfig, steps_per_epoch: int) -> int:
    """Passes over the training set in each epoch: 1, or as many as reach `cfg.min_steps` optimizer steps in
    `cfg.epochs` epochs.

    A budget counted in epochs gives a small dataset few updates (117 training images at batch 64: 2 steps an
    epoch, 80 in 40 epochs); `min_steps` is the number of updates below which a model is not trained, whatever
    the dataset's size. Longer epochs rather than more of them: the per-epoch work (validation, checkpoints,
    figures) stays what `epochs` asks for.
    """
    return max(1, -(-cfg.min_steps // (max(1, cfg.epochs) * max(1, steps_per_epoch))))


def _worker_dir(run: RunDir, strategy) -> RunDir:
    """Multi-worker runs: only the chief writes to the run dir; the others write to a scratch dir."""
    if distribute.is_chief(strategy):
        return run
    return RunDir(os.path.join(run.root, ".workers", distribute.worker_id(strategy)))


def _phase_paths(run: RunDir) -> tuple[str, str, str]:
    return (os.path.join(run.checkpoints, "phase.json"), os.path.join(run.checkpoints, "phase.weights.h5"),
            os.path.join(run.checkpoints, "phase-state.npz"))


def _save_completed_phase(run: RunDir, model: keras.Model, callbacks, completed: int, epoch: int) -> None:
    """Records that the first `completed` phases are done, with the weights they ended with and the training
    state (random generators, callbacks' running values) the next phase starts from.

    The backup of BackupAndRestore is removed after each phase's `fit`; this record lets a run
    interrupted in a later phase resume there, as the uninterrupted run went on, instead of starting over.
    """
    marker, weights, state = _phase_paths(run)
    os.makedirs(run.checkpoints, exist_ok=True)
    partial = weights[: -len(".weights.h5")] + ".partial.weights.h5"
    model.save_weights(partial)
    os.replace(partial, weights)
    save_training_state(state, training_state(model, callbacks), completed=completed)
    atomic_write_json(marker, {"completed": completed, "epoch": epoch})


def _completed_phases(run: RunDir, model: keras.Model, callbacks) -> int:
    """Phases an interrupted run already finished (0 if none), with their weights and training state loaded."""
    marker, weights, state = _phase_paths(run)
    if not (os.path.isfile(marker) and os.path.isfile(weights)):
        return 0
    with open(marker) as f:
        completed = int(json.load(f)["completed"])
    model.load_weights(weights)
    loaded = load_training_state(state)
    if loaded is not None and loaded[1].get("completed") == completed:
        restore_training_state(model, callbacks, loaded[0])
    return completed


@contextlib.contextmanager
def claim_run_dir(run: RunDir, app: str, cfg: TrainConfig, overwrite: bool, purpose: str):
    """Makes the run dir and holds its lock (`RunDir.lock`) while the block runs; under the lock the
    run is checked again (another process may have finished it meanwhile), `--overwrite` clears what
    the old run wrote, and the config is saved. A `UsageError` raised inside (bad input found late)
    leaves no run behind: a directory made here is removed, a config written here too."""
    fresh = not os.path.exists(run.root)
    os.makedirs(run.root, exist_ok=True)
    had_config = os.path.isfile(run.config)
    try:
        with run.lock(purpose):
            run.check_can_train(app, cfg.to_dict(), overwrite, resumable_keys(type(cfg)))
            if overwrite:
                run.clear()
                had_config = False
            save_config(cfg, app, run.config)
            yield
    except UsageError:
        if fresh:
            shutil.rmtree(run.root, ignore_errors=True)
        elif not had_config:
            with contextlib.suppress(FileNotFoundError):
                os.remove(run.config)
        raise


def _fit_done_paths(run: RunDir) -> tuple[str, str]:
    return os.path.join(run.checkpoints, "fit_done.json"), os.path.join(run.checkpoints, "fit_done.weights.h5")


def _save_fit_done(run: RunDir, model: keras.Model, record: dict) -> None:
    """Records that training itself is over (weights, epochs, timing), so a run killed during evaluation,
    baselines or export finishes those on a rerun instead of training again."""
    marker, weights = _fit_done_paths(run)
    os.makedirs(run.checkpoints, exist_ok=True)
    partial = weights[: -len(".weights.h5")] + ".partial.weights.h5"
    model.save_weights(partial)
    os.replace(partial, weights)
    atomic_write_json(marker, record)


def _fit_done(run: RunDir, model: keras.Model) -> dict | None:
    """The record of a finished fit of this run, its weights loaded into `model`; None if training is not over."""
    marker, weights = _fit_done_paths(run)
    if not (os.path.isfile(marker) and os.path.isfile(weights)):
        return None
    with open(marker) as f:
        record = json.load(f)
    model.load_weights(weights)
    return record


def _diverged_message(nan_stop: StopOnNaN, checkpoint, cfg: TrainConfig, run: RunDir) -> str:
    epoch, batch = nan_stop.diverged_at
    kept = (f"the last good weights are in {run.best} (epoch {checkpoint.best_epoch})" if checkpoint.best_epoch
            else f"the best weights so far are in {run.best}" if os.path.isfile(run.best)
            else "no epoch had finished, so no weights were kept")
    return (f"training diverged: {nan_stop.reason} at epoch {epoch}, batch {batch}; {kept}; lower learning_rate "
            f"(now {cfg.learning_rate:g}) or use gradient-friendlier settings")


def train(
    task: Task,
    cfg: TrainConfig,
    output_dir: str,
    *,
    overwrite: bool = False,
    extra_callbacks: tuple = (),
    verbose="auto",
) -> dict:
    """Trains `task` with `cfg` into `output_dir` and returns the metrics written to metrics.json.

    One process per run dir (its lock is held throughout); bad input (data, sizes) fails before the
    run dir exists; a rerun of an interrupted run resumes it: at the last finished epoch, or, when
    training itself had ended, straight at the evaluation."""
    from common.datasets import check_data_dir  # TensorFlow Datasets only where data is loaded

    run = RunDir(output_dir)
    run.check_can_train(task.name, cfg.to_dict(), overwrite, resumable_keys(type(cfg)))
    check_data_dir(cfg.data_dir)
    with run_context(cfg):
        if not task.trains_with_fit:
            with claim_run_dir(run, task.name, cfg, overwrite, f"dlsuite {task.name} train"):
                return _train_loop(task, cfg, run, verbose)
        strategy = distribute.get_strategy(cfg.strategy, cfg.tpu)
        data = task.load_data(cfg)  # bad data fails here, before the run dir exists
        # Seeded again: preparing a dataset the first time (or training a cached model inside load_data) draws from
        # the generators, and what the model sees must not depend on whether the cache was there.
        keras.utils.set_random_seed(cfg.seed)
        inputs = task.build_inputs(cfg, data)
        n_train = task.num_train_examples(cfg, data)
        steps = steps_for(n_train, cfg.batch_size)
        own = _worker_dir(run, strategy)
        # The step budget: on a small training set each epoch passes over it several times (said once, even under
        # --quiet: the run makes more updates than its epochs suggest).
        passes = passes_per_epoch(cfg, steps)
        if passes > 1:
            if own is run:
                print(f"{task.name}: {n_train} training examples make {steps} step{'s' if steps != 1 else ''} an epoch; "
                      f"each of the {cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''} passes over them {passes} times "
                      f"({steps * passes} steps) to reach min_steps={cfg.min_steps} (--set min_steps=0: one pass an "
                      f"epoch)", flush=True)
            inputs = {**inputs, "train": keep_orders(inputs["train"].repeat(passes), inputs["train"])}
            steps *= passes
        phases = task.phases(cfg)
        with strategy.scope():
            model = task.build_model(cfg, data)  # so do impossible sizes, here
            if len(phases) == 1:
                compile_task_model(task, model, cfg, steps)

        with claim_run_dir(own, task.name, cfg, overwrite, f"dlsuite {task.name} train"):
            return _fit_and_finish(task, cfg, run, own, strategy, data, inputs, model, phases, n_train, steps,
                                   passes, extra_callbacks, verbose)


def _fit_and_finish(task, cfg, run, own, strategy, data, inputs, model, phases, n_train, steps, passes,
                    extra_callbacks, verbose) -> dict:
    if verbose != 0 and own is run:
        print(f"{task.name}: {cfg.dataset}, {n_train} training examples, run dir {run.root}", flush=True)
    throughput = Throughput(n_train * passes)
    nan_stop = StopOnNaN(cfg.divergence_factor)
    checkpoint = AtomicModelCheckpoint(own.best, nan_stop=nan_stop, monitor=task.monitor, mode=task.monitor_mode,
                                       save_best_only=True)
    callbacks = [
        *task.callbacks(cfg, data, own),
        nan_stop,
        keras.callbacks.TensorBoard(own.logs, write_graph=False),
        EpochCSVLogger(own.csv_log),
        checkpoint,
        throughput,
    ]
    if cfg.image_summary_every:
        callbacks.append(
            FigureSummary(lambda m: task.figures(m, cfg, data, inputs, "validation"), own.logs, cfg.image_summary_every,
                          make_texts=lambda m: task.text_examples(m, cfg, data, "validation"))
        )
    if cfg.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=task.monitor, mode=task.monitor_mode, patience=cfg.early_stopping_patience,
                restore_best_weights=True
            )
        )
    # Each epoch's data order from (seed, epoch, pass) alone, so a resumed epoch sees what it would have.
    callbacks += [order.callback(passes) for order in epoch_orders(inputs["train"])]
    # Last, so an interruption raised by an earlier callback never records an unfinished epoch.
    backup = SafeBackupAndRestore(own.backup, nan_stop, double_checkpoint=True)
    callbacks.append(backup)
    callbacks = list(extra_callbacks) + callbacks if extra_callbacks else callbacks
    backup.track(callbacks)

    done = _fit_done(own, model)
    if done is not None:
        epochs_done, train_seconds, examples_per_second = done["epochs"], done["train_seconds"], done["examples_per_second"]
        if verbose != 0 and own is run:
            print(f"training had finished ({epochs_done} epoch{'s' if epochs_done != 1 else ''}); evaluating", flush=True)
    else:
        start = time.perf_counter()
        epochs_done, first_epoch = 0, 0
        completed = _completed_phases(own, model, backup.tracked) if len(phases) > 1 else 0
        compiled = False  # the jit_compile note once a run, not once a phase
        for index, phase in enumerate(phases):
            last_epoch = first_epoch + phase.epochs
            if index < completed or not phase.epochs:
                first_epoch = epochs_done = last_epoch
                continue
            if len(phases) > 1:
                if verbose != 0 and own is run:
                    print(f"phase {index + 1}/{len(phases)} {phase.name}: epochs {first_epoch + 1}-{last_epoch}", flush=True)
                if phase.prepare is not None:
                    phase.prepare(model)
                with strategy.scope():
                    compile_task_model(task, model, cfg, steps, phase, note=not compiled)
                    compiled = True
            model._initial_epoch = None  # Keras keeps the epoch BackupAndRestore restored in an earlier fit
            history = model.fit(
                inputs["train"],
                validation_data=inputs["validation"],
                initial_epoch=first_epoch,
                epochs=last_epoch,
                callbacks=callbacks,
                shuffle=False,  # the pipeline shuffles; Keras cannot shuffle a tf.data.Dataset itself
                verbose=verbose,
            )
            if nan_stop.diverged_at is not None:
                break
            epochs_done = (history.epoch[-1] + 1) if history.epoch else last_epoch
            if index < len(phases) - 1:
                _save_completed_phase(own, model, backup.tracked, index + 1, last_epoch)
                shutil.rmtree(own.backup, ignore_errors=True)  # the phase record holds what the next phase needs
            first_epoch = last_epoch
        if nan_stop.diverged_at is not None:
            raise TrainingDiverged(_diverged_message(nan_stop, checkpoint, cfg, own))
        train_seconds = time.perf_counter() - start
        examples_per_second = throughput.examples_per_second
        _save_fit_done(own, model, {"epochs": epochs_done, "train_seconds": train_seconds,
                                    "examples_per_second": examples_per_second})
        shutil.rmtree(own.backup, ignore_errors=True)
        for path in _phase_paths(own):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)

    if os.path.isfile(own.best):
        # Serve the best validation epoch (EarlyStopping restores it only when it stops early).
        with warnings.catch_warnings():
            # A KerasHub task compiles itself when rebuilt, and Keras then warns that the saved optimizer's
            # variables do not fit that default optimizer: the weights alone are wanted here.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            best = keras.saving.load_model(own.best, compile=False)
        model.set_weights(best.get_weights())

    test_metrics = task.evaluate(model, cfg, data, inputs)
    figures = task.figures(model, cfg, data, inputs, "test")
    pngs = {name: figure_to_png(fig) for name, fig in figures.items()}
    for name, png in pngs.items():
        write_png(os.path.join(own.plots, f"{name}.png"), png)
    if pngs:
        log_images(own.logs, pngs, step=epochs_done - 1, split="test")  # 0-based, as Keras logs epoch scalars
    texts = task.text_examples(model, cfg, data, "test")
    for name, text in texts.items():
        atomic_write_text(os.path.join(own.root, "examples", f"{name}.md"), text + "\n")
    if texts:
        log_texts(own.logs, texts, step=epochs_done - 1, split="test")
    baselines = task.baselines(cfg, data) if own is run else {}
    real_world = task.real_world(model, cfg, data) if own is run else {}
    save_model(model, own.model)

    metrics = {
        "app": task.name,
        "dataset": cfg.dataset,
        "test": test_metrics,
        "baselines": baselines,
        **({"real_world": real_world} if real_world else {}),
        "epochs": epochs_done,
        **({"budget": {"min_steps": cfg.min_steps, "passes_per_epoch": passes, "steps_per_epoch": steps}}
           if passes > 1 else {}),
        "train_seconds": round(train_seconds, 3),
        "examples_per_second": round(examples_per_second, 1),
        "parameters": int(model.count_params()),
        "strategy": distribute.resolve_name(cfg.strategy),
        "replicas": int(strategy.num_replicas_in_sync),
        "data": task.data_summary(data),
        "config": cfg.to_dict(),
    }
    atomic_write_json(own.metrics, metrics)
    for path in _fit_done_paths(own):  # finished: metrics.json says so now
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    if own is not run:
        shutil.rmtree(own.root, ignore_errors=True)
        with contextlib.suppress(OSError):  # and .workers/ itself once no other worker still uses it
            os.rmdir(os.path.dirname(own.root))
    return metrics


def _train_loop(task: Task, cfg: TrainConfig, run: RunDir, verbose) -> dict:
    """`train` for a task with its own loop (`Task.train_loop`): same run dir, config and metrics.json; the run
    dir is claimed (`claim_run_dir`) by the caller."""
    if verbose != 0:
        print(f"{task.name}: {cfg.dataset}, run dir {run.root}", flush=True)
    if cfg.jit_compile:
        print(f"{task.name}: jit_compile=true not applied: it trains in its own loop, not through Keras' compiled "
              "train step", file=sys.stderr, flush=True)
    start = time.perf_counter()
    result = task.train_loop(cfg, run, verbose)
    train_seconds = time.perf_counter() - start
    metrics = {
        "app": task.name,
        "dataset": cfg.dataset,
        "test": result["test"],
        "baselines": result.get("baselines", {}),
        **({"real_world": result["real_world"]} if result.get("real_world") else {}),
        "epochs": result.get("epochs", 0),
        "train_seconds": round(train_seconds, 3),
        "examples_per_second": result.get("examples_per_second", 0.0),
        **({"speed": result["speed"]} if result.get("speed") else {}),  # a loop's own speed figures
        "parameters": int(result.get("parameters", 0)),
        "strategy": "default",
        "replicas": 1,
        "data": result.get("data", {}),
        "config": cfg.to_dict(),
    }
    atomic_write_json(run.metrics, metrics)
    return metrics
