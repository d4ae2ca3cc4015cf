"""The comparisons: which networks each study trains, training one of them, and summing up over seeds.

Every variant is a `build_mlp` network trained with `model.fit` on the same split; a study changes one
thing at a time (the activation, the optimizer and learning rate, the depth and width, the
regulariser) and keeps the rest at the config's values. Each (variant, seed) result is a small JSON
record, so a killed study resumes with the variants it has not finished.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass

import keras
import numpy as np

from apps.fundamentals.config import FundamentalsConfig
from apps.fundamentals.model import build_mlp
from common.errors import UsageError
from common.export import save_model
from common.optimizers import build_optimizer
from common.training import steps_for


@dataclass
class Arrays:
    """The task's splits as arrays: images (N, H, W, C) with raw pixel values, integer labels."""

    name: str
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    class_names: list[str]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x["train"].shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class Variant:
    """One network of a study; `group` and `position` place it in the study's plot (a line and its x)."""

    study: str
    name: str
    depth: int
    width: int
    activation: str
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    early_stopping: bool = False
    epochs: int = 10
    train_samples: int = 0  # 0: the whole training split
    group: str = ""
    position: float = 0.0

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9.-]+", "_", self.name).strip("_")


def variants(cfg: FundamentalsConfig, study: str) -> list[Variant]:
    """The networks `study` compares, in table order."""
    base = dict(depth=cfg.depth, width=cfg.width, activation=cfg.activation, optimizer=cfg.optimizer,
                learning_rate=cfg.learning_rate, epochs=cfg.epochs)
    if study == "activations":
        return [Variant(study, a, **{**base, "activation": a}, group=a) for a in cfg.activations]
    if study == "optimizers":
        return [Variant(study, f"{o} lr={lr:g}", **{**base, "optimizer": o, "learning_rate": lr}, group=o, position=lr)
                for o in cfg.optimizers for lr in cfg.learning_rates]
    if study == "capacity":
        return [Variant(study, f"depth {d} x width {w}" if d else "depth 0 (linear)",
                        **{**base, "depth": d, "width": w}, group=f"depth {d}", position=w)
                for d in cfg.depths for w in (cfg.widths if d else cfg.widths[:1])]
    if study == "regularization":
        reg = {**base, "depth": cfg.reg_depth, "width": cfg.reg_width, "epochs": cfg.reg_epochs,
               "train_samples": cfg.reg_train_samples}
        settings = {"none": {}, "dropout": {"dropout": cfg.dropout}, "l1": {"l1": cfg.l1}, "l2": {"l2": cfg.l2},
                    "early_stopping": {"early_stopping": True}}
        return [Variant(study, r, **reg, **settings[r], group=r) for r in cfg.regularizations]
    raise UsageError(f"unknown study {study!r}")


def optimizer_for(cfg: FundamentalsConfig, variant: Variant, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The suite's `build_optimizer` with the variant's choice ("momentum" is SGD with momentum 0.9)."""
    name, momentum = (("sgd", 0.9) if variant.optimizer == "momentum" else (variant.optimizer, 0.0))
    varied = dataclasses.replace(cfg, optimizer=name, momentum=momentum, learning_rate=variant.learning_rate,
                                 lr_schedule="constant", epochs=variant.epochs)
    return build_optimizer(varied, steps_per_epoch)


def training_subset(data: Arrays, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified subset of `n` training examples (the whole split when n is 0)."""
    x, y = data.x["train"], data.y["train"]
    if not n or n == len(y):
        return x, y
    if n > len(y):
        raise UsageError(f"{data.name} has {len(y)} training examples: fewer than the {n} asked for")
    if n < data.num_classes:
        raise UsageError(f"{n} training examples cannot cover {data.num_classes} classes: "
                         f"use at least {data.num_classes}")
    from sklearn.model_selection import train_test_split

    index, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    index = np.sort(index)
    return x[index], y[index]


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 2048) -> float:
    """Accuracy of the model in inference mode (dropout off); calls the model directly, as `predict` would
    trace a new function for every one of the study's many small models."""
    predicted = np.concatenate([np.argmax(np.asarray(model(x[i:i + batch_size], training=False)), axis=1)
                                for i in range(0, len(x), batch_size)])
    return float(np.mean(predicted == y))


def train_variant(cfg: FundamentalsConfig, variant: Variant, data: Arrays, seed: int, log_dir: str,
                  model_path: str = "") -> dict:
    """Trains one variant with one seed; returns its record (histories, accuracies, time, divergence).

    TensorBoard gets its per-epoch curves in `log_dir`; `model_path`, if given, receives the model.
    A diverging variant (NaN loss) stops and is recorded as diverged rather than failing the study.
    """
    keras.utils.set_random_seed(seed)
    keras.backend.clear_session()
    x, y = training_subset(data, variant.train_samples, cfg.seed)
    model = build_mlp(data.image_shape, data.num_classes, variant.depth, variant.width, variant.activation,
                      dropout=variant.dropout, l1=variant.l1, l2=variant.l2, name=f"mlp_{variant.slug}")
    model.compile(optimizer=optimizer_for(cfg, variant, steps_for(len(y), cfg.batch_size)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [keras.callbacks.TerminateOnNaN(), keras.callbacks.TensorBoard(log_dir, write_graph=False)]
    if variant.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping("val_loss", patience=cfg.patience, restore_best_weights=True))
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=cfg.batch_size, epochs=variant.epochs, verbose=0, callbacks=callbacks,
                        validation_data=(data.x["validation"], data.y["validation"]))
    seconds = time.perf_counter() - start
    curves = {k: [float(v) for v in values] for k, values in history.history.items()}
    diverged = not all(math.isfinite(v) for v in curves.get("loss", [])) or not curves.get("loss")
    record = {
        "variant": variant.name,
        "seed": seed,
        "planned_epochs": variant.epochs,  # `epochs` may change when a run resumes: older records are retrained
        "history": curves,
        "epochs": len(curves.get("loss", [])),
        "seconds": round(seconds, 3),
        "train_examples": int(len(y)),
        "parameters": int(model.count_params()),
        "diverged": diverged,
        "train_accuracy": accuracy(model, x, y),
        "validation_accuracy": accuracy(model, data.x["validation"], data.y["validation"]),
        "test_accuracy": accuracy(model, data.x["test"], data.y["test"]),
    }
    if model_path and not diverged:
        save_model(model, model_path)
    return record


def mean_sd(values) -> tuple[float, float]:
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarize(variant: Variant, records: list[dict]) -> dict:
    """Mean and standard deviation over seeds of one variant's records (diverged seeds count as they ended)."""
    summary = {"variant": variant.name, "group": variant.group, "position": variant.position, "seeds": len(records),
               "diverged": sum(r["diverged"] for r in records), "parameters": records[0]["parameters"],
               "epochs": float(np.mean([r["epochs"] for r in records])),
               "seconds": float(np.mean([r["seconds"] for r in records])),
               "train_examples": records[0]["train_examples"]}
    for key in ("train_accuracy", "validation_accuracy", "test_accuracy"):
        summary[key], summary[key + "_sd"] = mean_sd([r[key] for r in records])
    summary["gap"], summary["gap_sd"] = mean_sd([r["train_accuracy"] - r["validation_accuracy"] for r in records])
    return summary


def mean_curve(records: list[dict], key: str) -> np.ndarray:
    """The mean over seeds of a per-epoch curve (runs that stopped early are padded with their last value)."""
    curves = [r["history"].get(key, []) for r in records]
    curves = [c for c in curves if c]
    if not curves:
        return np.array([])
    length = max(len(c) for c in curves)
    return np.mean([c + [c[-1]] * (length - len(c)) for c in curves], axis=0)
