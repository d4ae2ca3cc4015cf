"""The optimizer and learning-rate schedule a config names, for `Task.compile_model` and own training loops."""

from __future__ import annotations

import keras

from common.config import TrainConfig


def build_optimizer(cfg: TrainConfig, steps_per_epoch: int, *, warmup_steps: int = 0,
                    global_clipnorm: float | None = None) -> keras.optimizers.Optimizer:
    """The optimizer and learning-rate schedule named in the config.

    Args:
        cfg: the run's config (optimizer, learning_rate, lr_schedule, epochs, ...).
        steps_per_epoch: optimizer steps per epoch (the schedules span the whole run).
        warmup_steps: linear warm-up from 0 over this many steps (at most half the run) before the
            constant or cosine schedule; transformers trained from scratch need it.
        global_clipnorm: clip the gradients to this global norm (None: no clipping).
    """
    lr = cfg.learning_rate
    total_steps = max(1, cfg.epochs * max(1, steps_per_epoch))
    warmup = min(warmup_steps, total_steps // 2) if cfg.lr_schedule in ("constant", "cosine") else 0
    if warmup:
        # alpha=1 keeps a constant schedule constant after the warm-up.
        lr = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total_steps - warmup, warmup_steps=warmup,
                                                    warmup_target=cfg.learning_rate,
                                                    alpha=0.01 if cfg.lr_schedule == "cosine" else 1.0)
    elif cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=total_steps, alpha=0.01)
    elif cfg.lr_schedule == "exponential":
        # A tenfold decay over the whole run.
        lr = keras.optimizers.schedules.ExponentialDecay(cfg.learning_rate, decay_steps=total_steps, decay_rate=0.1)
    clip = {"global_clipnorm": global_clipnorm} if global_clipnorm else {}
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=cfg.momentum, **clip)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay, **clip)
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr, **clip)
    return keras.optimizers.Adam(lr, **clip)
