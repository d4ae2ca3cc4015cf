"""Typed run configurations: one dataclass per application, overridable from a file and `--set`.

Every field carries its help text (`metadata={"help": ...}`) and, where it applies, its allowed
`choices` or `min` / `max` bounds; `__post_init__` checks them so a bad value fails before any work starts.
Resolution order: dataclass defaults < `--config FILE` (YAML or JSON) < command-line flags < `--set key=value`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from common.errors import UsageError


MAX_INT = 2**31 - 1  # every integer setting (sizes, counts, budgets) fits TensorFlow's int32
# The largest side a batch of images is resized to (`option(..., max=MAX_IMAGE_SIZE)`), checked before any image
# is read: a batch of 5000x5000 images fills memory before training could start (ImageNet models take 224-600).
MAX_IMAGE_SIZE = 1024


def option(default, help: str, choices=None, min=None, max=None, flag=False, runtime=False,  # noqa: A002
           resumable=False):
    """A dataclass field with its help text and validation bounds (the names mirror argparse's).

    `max` bounds a size that would exhaust memory before anything could say so (an image side of 5000
    pixels); every integer is bounded by `MAX_INT` anyway.

    `flag=True` also makes it a command-line option of `train` and `tune` (`backbone_run` ->
    `--backbone-run VALUE`, equivalent to `--set backbone_run=VALUE`).

    `runtime=True` marks a setting of how and where a run executes, not of what it learns
    (strategy, data dir, precision, ...): it may differ between a run and its resume, a run that
    trains another one inside it (a cached backbone) hands it on (`runtime_settings`), and it is
    not part of such a cached run's key. `resumable=True` marks a setting that may change on
    resume although it shapes the result (the epoch budget): see `resumable_keys`.
    """
    metadata = {"help": help}
    if flag:
        metadata["flag"] = True
    if runtime:
        metadata["runtime"] = True
    if resumable:
        metadata["resumable"] = True
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if min is not None:
        metadata["min"] = min
    if max is not None:
        metadata["max"] = max
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Fields every application shares: data, budget, optimisation, distribution and precision.

    `batch_size` is the global batch: under a distribution strategy each replica gets
    `batch_size / num_replicas_in_sync` examples per step.
    """

    dataset: str = option("", "Dataset: an embedded name (see `dlsuite list`), `tfds:NAME`, or a path.")
    data_dir: str = option(
        "", "TFDS data directory (prepared datasets are cached here). Default: $DLSUITE_DATA_DIR or ~/.cache/dlsuite/tfds.",
        runtime=True,
    )
    epochs: int = option(10, "Maximum number of training epochs.", min=1, resumable=True)
    batch_size: int = option(64, "Global batch size (split across replicas).", min=1)
    optimizer: str = option("adam", "Optimizer.", choices=("sgd", "adam", "adamw", "rmsprop"))
    learning_rate: float = option(1e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("constant", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    momentum: float = option(0.0, "Momentum for `sgd` (0 = plain SGD).", min=0.0)
    weight_decay: float = option(1e-4, "Decoupled weight decay for `adamw`.", min=0.0)
    min_steps: int = option(
        0, "Train for at least this many optimizer steps: on a small dataset each epoch passes over the training set "
           "several times (the run says so); 0 = one pass an epoch.", min=0, resumable=True,
    )
    early_stopping_patience: int = option(
        0, "Stop after this many epochs without a better validation loss (0 = off); the best weights are kept.", min=0,
        resumable=True,
    )
    strategy: str = option(
        "auto",
        "Distribution strategy.",
        choices=("auto", "default", "one_device", "mirrored", "multi_worker", "tpu"),
        runtime=True,
    )
    tpu: str = option("", "TPU name or address for `strategy=tpu` (empty: from the environment).", runtime=True)
    seed: int = option(0, "Random seed for data splits, shuffling and weight initialisation.", min=0)
    deterministic: bool = option(False, "Enable TensorFlow op determinism (slower, bit-reproducible).", runtime=True)
    precision: str = option(
        "float32", "Compute precision policy.", choices=("float32", "mixed_float16", "mixed_bfloat16"), runtime=True
    )
    jit_compile: bool = option(False, "Compile the train step with XLA.", runtime=True)
    max_train_samples: int = option(0, "Use at most this many training examples (0 = all); for quick runs.", min=0)
    divergence_factor: float = option(
        1e4, "Stop as diverged when the training loss exceeds this many times its first value (or 1 if that "
           "is smaller; 0 = on NaN/inf only).",
        min=0.0, runtime=True,
    )
    image_summary_every: int = option(
        5, "Write TensorBoard images (confusion matrix, forecast) every N epochs (0 = only at the end).", min=0,
        runtime=True,
    )

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            choices = f.metadata.get("choices")
            if choices is not None and value not in choices:
                raise UsageError(f"{f.name}={value!r} is not one of: {', '.join(map(str, choices))}")
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
                raise UsageError(f"{f.name}={value} is too large (at most {MAX_INT:,})")
            low = f.metadata.get("min")
            if low is not None and isinstance(value, (int, float)) and value < low:
                raise UsageError(f"{f.name}={value!r} must be >= {low}")
            high = f.metadata.get("max")
            if high is not None and isinstance(value, (int, float)) and value > high:
                raise UsageError(f"{f.name}={value!r} is too large (at most {high})")
        self.validate()

    def validate(self):
        """Cross-field checks; applications extend this."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any, hint) -> Any:
    """Converts a parsed YAML/JSON value to the field's declared type, or raises UsageError."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{name} must be a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else str
        return tuple(_coerce(name, v, item) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise UsageError(f"{name} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UsageError(f"{name} must be an integer, got {value!r}")
        try:
            as_float = float(value)
        except ValueError:
            raise UsageError(f"{name} must be an integer, got {value!r}") from None
        if not as_float.is_integer():
            raise UsageError(f"{name} must be an integer, got {value!r}")
        return int(as_float)
    if hint is float:
        if isinstance(value, bool):
            raise UsageError(f"{name} must be a number, got {value!r}")
        try:
            result = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"{name} must be a number, got {value!r}") from None
        if result != result or result in (float("inf"), float("-inf")):
            raise UsageError(f"{name} must be a finite number, got {value!r}")
        return result
    if hint is str:
        if isinstance(value, (dict, list)):
            raise UsageError(f"{name} must be a string, got {value!r}")
        return "" if value is None else str(value)
    return value


def parse_set(items: list[str]) -> dict:
    """Parses `--set key=value` strings; values are read as YAML scalars (`3`, `1e-3`, `true`, `[9, 0, 0]`)."""
    result = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        result[key.strip().replace("-", "_")] = value
    return result


def read_config_file(path: str) -> dict:
    """Reads a YAML or JSON mapping of config fields."""
    if not os.path.isfile(path):
        raise UsageError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)  # JSON is a subset of YAML
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a mapping of field: value")
    return data


def resolve_config(cls, app: str, config_file: str | None = None, overrides: dict | None = None, sets=None):
    """Builds `cls` from defaults, a config file, flag overrides and `--set` items, in that order.

    Unknown keys are errors (with the list of known ones); an `app` key in the file must match.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    layers = []
    if config_file:
        data = dict(read_config_file(config_file))
        file_app = data.pop("app", app)
        if file_app != app:
            raise UsageError(f"config file {config_file} is for application {file_app!r}, not {app!r}")
        layers.append(data)
    layers.append({k: v for k, v in (overrides or {}).items() if v is not None})
    layers.append(parse_set(sets or []))
    for layer in layers:
        for key, value in layer.items():
            if key not in known:
                raise UsageError(f"unknown config key {key!r} for {app} (known: {', '.join(sorted(known))})")
            values[key] = _coerce(key, value, hints[key])
    return cls(**values)


def _marked(cls, mark: str) -> set[str]:
    """The fields of config class `cls` declared with `option(..., <mark>=True)` there or in a config class
    it derives from: an application that declares `epochs` again (another default) keeps its kind."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {name for klass in cls.__mro__ for name, f in getattr(klass, "__dataclass_fields__", {}).items()
            if f.metadata.get(mark) and name in names}


def runtime_keys(cls) -> set[str]:
    """The fields of a config class declared with `option(..., runtime=True)`."""
    return _marked(cls, "runtime")


def resumable_keys(cls) -> set[str]:
    """The fields that may differ when an unfinished run is resumed: the runtime settings and the
    budget (`option(..., resumable=True)`); any other change would mix two trainings in one run."""
    return runtime_keys(cls) | _marked(cls, "resumable")


def runtime_settings(cfg: TrainConfig, cls=None) -> dict[str, Any]:
    """The runtime settings of `cfg` that config class `cls` (default: `cfg`'s) also has: what a run
    hands on to a run it trains inside itself, so both execute the same way."""
    return {name: getattr(cfg, name) for name in runtime_keys(type(cfg)) & runtime_keys(cls or type(cfg))}


def save_config(cfg: TrainConfig, app: str, path: str) -> None:
    from common.export import atomic_write_text  # imports Keras: this module stays TensorFlow-free for the CLI

    atomic_write_text(path, json.dumps({"app": app, **cfg.to_dict()}, indent=2) + "\n")


def describe_fields(cls) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) for each field: used by `dlsuite APP --help-config`."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        text = f.metadata.get("help", "")
        if "choices" in f.metadata:
            text += f" One of: {', '.join(map(str, f.metadata['choices']))}."
        rows.append((f.name, getattr(hints[f.name], "__name__", str(hints[f.name])), default, text))
    return rows


def flag_fields(cls) -> list[dataclasses.Field]:
    """The fields of a config class declared with `option(..., flag=True)`."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag")]
