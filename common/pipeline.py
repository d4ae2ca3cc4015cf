"""Shared `tf.data` input pipelines: cache, shuffle, batch and prefetch, in that order.

Preprocessing that must also happen at serving time (rescaling, normalisation) lives in the
model as Keras preprocessing layers; augmentation lives in the model too, where Keras runs it only
in training. The pipeline therefore only moves data.
"""

from __future__ import annotations

import weakref

import keras
import tensorflow as tf


class EpochOrder:
    """A shuffle whose order is a function of (seed, epoch, pass) alone, so a resumed run sees the rest of
    the epochs in the order an uninterrupted one did.

    `Dataset.shuffle(reshuffle_each_iteration=True)` draws each epoch's order from a generator that every
    new iterator advances; a resumed run starts that generator again, and Keras' own iterators (one per
    epoch, one more to build the model under a strategy) decide how far it has gone. Here each pass over
    the data is shuffled with the seeds (seed, pass number + 1), the pass number is counted by a variable,
    and `callback(passes)` sets that count to `epoch * passes` at the start of every epoch.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self.passes_started = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_order_pass")

    def shuffle(self, dataset: tf.data.Dataset, buffer_size: int) -> tf.data.Dataset:
        """`dataset` shuffled anew on every pass (every iterator), by this order's count of passes."""
        flat = tf.nest.flatten(dataset.element_spec)
        if not all(isinstance(spec, tf.TensorSpec) for spec in flat):
            raise TypeError(f"EpochOrder shuffles datasets of dense tensors, not {dataset.element_spec}")
        seed = tf.constant(self.seed, tf.int64)

        def one_pass(_):
            pass_number = self.passes_started.assign_add(1)  # >= 1: seeds (0, 0) would mean "random"
            variant = tf.raw_ops.ShuffleDataset(
                input_dataset=tf.data.experimental.to_variant(dataset), buffer_size=tf.constant(buffer_size, tf.int64),
                seed=seed, seed2=pass_number, reshuffle_each_iteration=False,
                output_types=[spec.dtype for spec in flat], output_shapes=[spec.shape for spec in flat])
            return tf.data.experimental.from_variant(variant, dataset.element_spec)

        shuffled = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).flat_map(one_pass)
        size = int(dataset.cardinality())
        # flat_map hides the size; Keras needs it to know an epoch's steps (else: "input ran out of data")
        return shuffled.apply(tf.data.experimental.assert_cardinality(size)) if size >= 0 else shuffled

    def start_epoch(self, epoch: int, passes: int = 1) -> None:
        self.passes_started.assign(epoch * passes)

    def callback(self, passes: int = 1) -> keras.callbacks.Callback:
        """Sets the pass count at each epoch's start (Keras makes the epoch's iterator after `on_epoch_begin`)."""
        return keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs=None: self.start_epoch(epoch, passes))


_ORDERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def epoch_shuffle(dataset: tf.data.Dataset, buffer_size: int, seed: int) -> tf.data.Dataset:
    """`dataset` reshuffled every pass in an `EpochOrder` (found again by `epoch_orders`)."""
    order = EpochOrder(seed)
    return keep_orders(order.shuffle(dataset, buffer_size), order)


def keep_orders(dataset: tf.data.Dataset, *sources) -> tf.data.Dataset:
    """Records that `dataset` is fed by the `EpochOrder`s of `sources` (orders, or datasets made with them)."""
    orders = []
    for source in sources:
        orders += [source] if isinstance(source, EpochOrder) else epoch_orders(source)
    _ORDERS[dataset] = _ORDERS.get(dataset, []) + orders
    return dataset


def epoch_orders(dataset: tf.data.Dataset) -> list[EpochOrder]:
    """The `EpochOrder`s that decide `dataset`'s order (none for a dataset not made with them)."""
    return list(_ORDERS.get(dataset, []))


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
        shuffle: reshuffle every epoch with `seed` (training data only), by an `EpochOrder`.
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
    shuffled = dataset = epoch_shuffle(dataset, shuffle_buffer, seed) if shuffle else dataset
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    # Shard by data, not files: embedded sets and in-memory arrays have one file or none,
    # which the default FILE policy cannot split across workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return keep_orders(dataset.with_options(options).prefetch(tf.data.AUTOTUNE), shuffled)


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
