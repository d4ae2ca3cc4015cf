"""Shared `tf.data` input pipelines: cache, shuffle, batch and prefetch, in that order.

Preprocessing that must also happen at serving time (rescaling, normalisation) lives in the
model as Keras preprocessing layers; augmentation lives in the model too, where Keras runs it only
in training. The pipeline therefore only moves data.
"""

from __future__ import annotations

import tensorflow as tf


def make_pipeline(
    dataset: tf.data.Dataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    cache: bool = True,
    shuffle_buffer: int = 10_000,
    max_examples: int = 0,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches an unbatched dataset for `model.fit` / `evaluate` / `predict`.

    Args:
        dataset: unbatched examples, e.g. `(image, label)` pairs.
        batch_size: the global batch size; `tf.distribute` splits it across replicas.
        shuffle: reshuffle every epoch with `seed` (training data only).
        seed: shuffle seed.
        cache: keep decoded examples in memory after the first pass.
        shuffle_buffer: shuffle buffer size (>= the dataset size gives a full shuffle).
        max_examples: keep only the first N examples (0 = all), for quick runs.
        drop_remainder: drop the last partial batch (needed for static shapes on TPU).
    """
    if max_examples:
        dataset = dataset.take(max_examples)
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    # Shard by data, not files: embedded sets and in-memory arrays have one file or none,
    # which the default FILE policy cannot split across workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def split_pipelines(data, cfg, to_example, n_train: int, *, max_shuffle_buffer: int = 10_000) -> dict[str, tf.data.Dataset]:
    """The three batched pipelines of a dataset with `train` / `validation` / `test` splits.

    `to_example` maps each unbatched element to the model's (inputs, targets); the training split is
    shuffled every epoch with `cfg.seed` (a full shuffle up to `max_shuffle_buffer` examples) and cut
    at `cfg.max_train_samples`, and every split is batched by `cfg.batch_size` (see `make_pipeline`).
    """
    return {
        "train": make_pipeline(data.train.map(to_example), cfg.batch_size, shuffle=True, seed=cfg.seed,
                               max_examples=cfg.max_train_samples,
                               shuffle_buffer=min(max(n_train, 1), max_shuffle_buffer)),
        "validation": make_pipeline(data.validation.map(to_example), cfg.batch_size),
        "test": make_pipeline(data.test.map(to_example), cfg.batch_size),
    }
