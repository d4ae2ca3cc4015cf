"""`--strategy` names mapped to `tf.distribute` strategies.

| name           | strategy                                                        |
|----------------|-----------------------------------------------------------------|
| `default`      | the no-op default strategy (one device, whatever TF places on)  |
| `one_device`   | `OneDeviceStrategy` on the first GPU, else the CPU              |
| `mirrored`     | `MirroredStrategy`: synchronous data parallel over local GPUs    |
| `multi_worker` | `MultiWorkerMirroredStrategy`: several machines, from TF_CONFIG   |
| `tpu`          | `TPUStrategy` on the TPU named by `--set tpu=` or the environment |
| `auto`         | TPU if `TPU_NAME` is set, multi-worker if TF_CONFIG lists several workers, mirrored if several GPUs, one_device on one GPU, else default |

Build and compile models inside `strategy.scope()`; the batch size in the config is global.
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from common.errors import UsageError

log = logging.getLogger(__name__)

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")


def tf_config() -> dict:
    """`TF_CONFIG`, parsed and checked: {} when unset; a one-line `UsageError` when malformed (not JSON, not
    an object, a cluster that is not a map of address lists, a cluster without this process's `task`)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError:
        raise UsageError("TF_CONFIG is not valid JSON") from None
    if not isinstance(config, dict):
        raise UsageError(f"TF_CONFIG must be a JSON object with 'cluster' and 'task', not {type(config).__name__}")
    cluster = config.get("cluster", {})
    if not isinstance(cluster, dict) or not all(
            isinstance(v, list) and all(isinstance(a, str) for a in v) for v in cluster.values()):
        raise UsageError('TF_CONFIG "cluster" must map job names to lists of "host:port" addresses')
    if cluster:
        task = config.get("task")
        if not isinstance(task, dict) or not isinstance(task.get("type"), str) or not isinstance(task.get("index"), int):
            raise UsageError('TF_CONFIG has a cluster but no "task": {"type": "worker", "index": N} naming this process')
        if task["type"] not in cluster or not 0 <= task["index"] < len(cluster[task["type"]]):
            raise UsageError(f"TF_CONFIG task {task['type']}:{task['index']} is not in its cluster")
    return config


def _cluster_workers() -> int:
    cluster = tf_config().get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` with a `reduce` that accepts the calls Keras 3's `fit` makes.

    Keras 3's TF trainer calls `strategy.reduce` in two ways that the collective implementation
    rejects as soon as there are two workers (keras-team/keras#20585), so `fit` fails at once:

    * `_maybe_symbolic_build` (start of `fit` / `evaluate`) reduces the whole first `(x, y)` batch,
      a nest: "Attempt to convert a value (PerReplica...) ... to a Tensor". `MirroredStrategy` maps
      `reduce` over a nest; here too, element by element (every worker makes the same calls in the
      same order, so the collectives pair up; Keras only uses the result's shapes and dtypes).
    * `reduce_per_replica(reduction="mean")` reduces each step's scalar logs (loss, metrics) with
      `axis=0`: "Invalid reduction dimension 0 for input with 0 dimensions". A scalar has no batch
      axis; the mean across replicas (`axis=None`) is what Keras computes for `MirroredStrategy`.
    """

    def reduce(self, reduce_op, value, axis):
        if not isinstance(value, tf.distribute.DistributedValues) and tf.nest.is_nested(value):
            return tf.nest.map_structure(lambda v: self.reduce(reduce_op, v, axis), value)
        shape = getattr(self.experimental_local_results(value)[0], "shape", None)
        if axis is not None and shape is not None and tf.TensorShape(shape).rank == 0:
            axis = None
        return super().reduce(reduce_op, value, axis)


def resolve_name(name: str) -> str:
    """Turns `auto` into the concrete strategy name for this machine."""
    if name not in STRATEGIES:
        raise UsageError(f"unknown strategy {name!r} (choose from: {', '.join(STRATEGIES)})")
    if name != "auto":
        return name
    if os.environ.get("TPU_NAME"):
        return "tpu"
    if _cluster_workers() > 1:
        return "multi_worker"
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return "mirrored"
    if len(gpus) == 1:
        return "one_device"
    return "default"


def get_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    """Creates the strategy for `name` (see the module docstring)."""
    name = resolve_name(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not tf_config():
            log.warning("strategy multi_worker without TF_CONFIG: running as a single worker")
        return _MultiWorkerMirroredStrategy()
    # tpu. OSError: off Google Cloud, looking a TPU *name* up on the GCE metadata server is a URLError.
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, OSError, tf.errors.OpError, RuntimeError) as exc:
        raise UsageError(f"no TPU found ({str(exc).splitlines()[0][:120]}); use another --strategy") from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the worker that writes the run's files (always true outside multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "cluster_spec", None) or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_id(strategy: tf.distribute.Strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return "0"
    return f"{resolver.task_type}-{resolver.task_id}"
