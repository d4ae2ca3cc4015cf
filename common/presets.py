"""KerasHub presets in and out: loading a task from a preset spec with one-line errors, and writing a
trained task back as a preset folder.

A preset spec is one of

* a built-in KerasHub name (`bert_tiny_en_uncased`, `gpt2_base_en`, ...) or a `kaggle://` / `hf://`
  handle: downloaded on first use, so it needs internet;
* a local folder written by `keras_hub.models.Task.save_to_preset` (config.json, metadata.json,
  model.weights.h5, tokenizer.json with its assets, and usually preprocessor.json, task.json and
  task.weights.h5), which loads offline.

Every way a spec can be wrong (a folder that is not a preset, a preset of another kind of task, a
tokenizer with more tokens than the backbone embeds, no internet for a remote one) is a `UsageError`
of one line, raised before anything is written; an `hf://` handle on a machine that cannot reach the
Hugging Face Hub fails in seconds, not after the Hub client's retries.
"""

from __future__ import annotations

import json
import os

import keras

from common.errors import UsageError
from common.export import atomic_directory

REMOTE_SCHEMES = ("kaggle://", "hf://", "modelscope://")


def keras_hub_module():
    """The `keras_hub` module, imported on first use (2-3 s: tensorflow-text), so only runs that use a preset pay."""
    import keras_hub

    return keras_hub


def text_of(value) -> str:
    """A detokenized string, whether a KerasHub tokenizer gave a Python str, bytes or a string tensor."""
    if isinstance(value, str):
        return value
    value = value.numpy() if hasattr(value, "numpy") else value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def set_sampler(task, sampler) -> None:
    """What a generative task's `compile(sampler=...)` does to the sampler (`CausalLM`, `Seq2SeqLM`), without
    compiling again (which would replace the optimizer of a model in training): the sampler, and a fresh
    generate function that reads it."""
    task.sampler = sampler
    task.generate_function = None


def is_remote(preset: str) -> bool:
    return preset.startswith(REMOTE_SCHEMES)


def _preset_json(preset: str, name: str) -> dict:
    path = os.path.join(preset, name)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise UsageError(f"preset {preset}: {name} is not JSON ({exc})") from None


def check_local_preset(preset: str, *, tokenizer: bool = True) -> dict:
    """The backbone config (config.json) of a local preset folder (with its tokenizer.json where `tokenizer`:
    text presets); UsageError if it is not one."""
    if preset.startswith("dlsuite:"):  # the suite's own presets (language_model's encoder) resolve in the apps
        raise UsageError(f"preset {preset!r} is the suite's own masked-LM encoder (language_model), which only "
                         f"sentiment fine-tunes; here give a KerasHub preset name or a local preset folder")
    if not os.path.exists(preset):
        raise UsageError(f"preset {preset!r} is neither a local folder nor a KerasHub preset name "
                         f"(see keras_hub.models.TextClassifier.presets / CausalLM.presets / Seq2SeqLM.presets / "
                         f"ImageClassifier.presets)")
    if not os.path.isdir(preset):
        raise UsageError(f"preset {preset} is a file; a preset is a folder written by save_to_preset")
    missing = [name for name in ("config.json", "metadata.json", *(("tokenizer.json",) if tokenizer else ())) if
               not os.path.isfile(os.path.join(preset, name))]
    if missing:
        raise UsageError(f"{preset} is not a KerasHub preset folder (no {', '.join(missing)}; write one with "
                         f"task.save_to_preset(DIR))")
    config = _preset_json(preset, "config.json")
    if "class_name" not in config:
        raise UsageError(f"{preset} is not a KerasHub preset folder (config.json names no backbone class)")
    return config


def preset_num_classes(preset: str) -> int | None:
    """The classes of a local classifier preset's saved head (task.json), or None."""
    if is_remote(preset) or not os.path.isdir(preset):
        return None
    return _preset_json(preset, "task.json").get("config", {}).get("num_classes")


def _remote_error(preset: str, exc: Exception) -> UsageError:
    return UsageError(f"preset {preset!r} must be downloaded (Kaggle or Hugging Face) and this machine is offline "
                      f"or cannot reach it ({type(exc).__name__}); where there is internet, load it once and "
                      f"save_to_preset(DIR), then pass --preset DIR")


def _unreachable_hugging_face(preset: str) -> str | None:
    """For an `hf://` handle on a machine that cannot open a connection to the Hugging Face Hub (3 s): its
    host, else None. `huggingface_hub` would retry five times over some 25 s, logging each try, before
    failing. Not checked behind a proxy (the proxy decides), nor with HF_HUB_OFFLINE set (the Hub's cache
    answers then)."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    if not preset.startswith("hf://") or offline or any(
            os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    try:
        socket.create_connection((host, endpoint.port or (80 if endpoint.scheme == "http" else 443)), timeout=3).close()
    except OSError:
        return host
    return None


def check_preset(task_class_name: str, preset: str, *, app: str):
    """UsageError unless `preset` can become a `keras_hub.models.<task_class_name>`: a preset folder (or a
    reachable remote preset) of a backbone KerasHub has that task for, whose tokenizer fits the backbone.

    Cheap (reads the JSON files and the tokenizer, no weights), so an application calls it while it
    loads its data, before the run directory is written. Returns the preset's tokenizer (for an
    ImageClassifier: its image converter if remote, None if local)."""
    hub = keras_hub_module()
    task_class = getattr(hub.models, task_class_name)
    text = task_class_name != "ImageClassifier"
    if is_remote(preset) or (not os.path.exists(preset) and preset in task_class.presets):
        host = _unreachable_hugging_face(preset)
        if host is not None:
            raise UsageError(f"preset {preset!r} must be downloaded from the Hugging Face Hub and this machine cannot "
                             f"reach {host}; where there is internet, load it once and save_to_preset(DIR), then "
                             f"pass --preset DIR (or set HF_HUB_OFFLINE=1 to use a copy in the Hugging Face cache)")
        try:
            return (hub.models.Tokenizer if text else hub.layers.ImageConverter).from_preset(preset)
        except Exception as exc:  # noqa: BLE001 - connection, DNS, HTTP and auth errors alike
            raise _remote_error(preset, exc) from None
    config = check_local_preset(preset, tokenizer=text)
    backbone = config["class_name"]
    saved_task = _preset_json(preset, "task.json").get("class_name", "")
    kind = _kind_of(hub, saved_task)
    # A masked-LM preset is a pre-trained encoder: a TextClassifier takes its backbone and tokenizer under a new
    # head (KerasHub's loader does so when task.json holds another task).
    pretrained_encoder = kind is hub.models.MaskedLM and task_class is hub.models.TextClassifier
    if kind is not None and kind is not task_class and not pretrained_encoder:
        article = "an" if task_class_name[0] in "AEIOU" else "a"
        raise UsageError(f"{preset} is a {saved_task} preset (a {kind.__name__}); {app} needs {article} "
                         f"{task_class_name} preset")
    if not _task_exists(hub, task_class, backbone):
        raise UsageError(f"{preset} holds a {backbone}; KerasHub has no {task_class_name} for it, so {app} "
                         f"cannot use it")
    if not text:
        return None
    try:
        tokenizer = hub.models.Tokenizer.from_preset(preset)
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"preset {preset}: cannot load its tokenizer: {first}") from None
    embedded = config.get("config", {}).get("vocabulary_size")
    size = tokenizer.vocabulary_size()
    if embedded is not None and size > embedded:
        raise UsageError(f"preset {preset}: its tokenizer has {size} tokens but the backbone embeds {embedded}; "
                         f"the tokenizer does not belong to this backbone")
    return tokenizer


def load_task(task_class_name: str, preset: str, *, app: str, **kwargs):
    """`keras_hub.models.<task_class_name>.from_preset(preset, **kwargs)` after `check_preset`, with one-line
    errors.

    Args:
        task_class_name: "TextClassifier", "CausalLM", ... (a `keras_hub.models` task base class).
        preset: a built-in name, a `kaggle://` / `hf://` handle or a local preset folder.
        app: the application asking, for the messages.
        **kwargs: passed to `from_preset` (`num_classes=`, `activation=`, ...).
    """
    check_preset(task_class_name, preset, app=app)
    task_class = getattr(keras_hub_module().models, task_class_name)
    try:
        task = task_class.from_preset(preset, **kwargs)
    except Exception as exc:  # noqa: BLE001 - download and format errors all mean "cannot use this preset"
        if is_remote(preset) or not os.path.exists(preset):
            raise _remote_error(preset, exc) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot load preset {preset}: {first}") from None
    check_vocabulary(task, preset)
    return task


def load_image_backbone(preset: str, *, app: str):
    """(backbone, image converter or None) of an image preset: `keras_hub.models.Backbone.from_preset` and
    `keras_hub.layers.ImageConverter.from_preset`, with one-line errors (a text preset is refused)."""
    hub = keras_hub_module()
    if is_remote(preset) and _unreachable_hugging_face(preset) is not None:
        raise _remote_error(preset, ConnectionError("the Hugging Face Hub is unreachable"))
    if not (is_remote(preset) or (not os.path.exists(preset) and preset in hub.models.Backbone.presets)):
        config = check_local_preset(preset, tokenizer=False)
        if os.path.isfile(os.path.join(preset, "tokenizer.json")):
            raise UsageError(f"{preset} is a text preset ({config['class_name']}); {app} needs an image backbone")
    try:
        backbone = hub.models.Backbone.from_preset(preset)
        converter = (hub.layers.ImageConverter.from_preset(preset)
                     if is_remote(preset) or not os.path.isdir(preset)
                     or os.path.isfile(os.path.join(preset, "image_converter.json")) else None)
    except Exception as exc:  # noqa: BLE001 - download and format errors all mean "cannot use this preset"
        if is_remote(preset) or not os.path.exists(preset):
            raise _remote_error(preset, exc) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot load preset {preset}: {first}") from None
    if len(backbone.output_shape) != 4:
        raise UsageError(f"preset {preset}'s {type(backbone).__name__} gives {backbone.output_shape} features, not "
                         f"an image feature map; {app} needs an image backbone")
    return backbone, converter


def _kind_of(hub, class_name: str):
    """The task base class (TextClassifier, CausalLM, ...) a saved task class belongs to, or None."""
    found = getattr(hub.models, class_name, None)
    if not isinstance(found, type):
        return None
    # Seq2SeqLM before CausalLM: KerasHub's Seq2SeqLM subclasses CausalLM.
    for base in (hub.models.TextClassifier, hub.models.Seq2SeqLM, hub.models.CausalLM, hub.models.MaskedLM,
                 hub.models.ImageClassifier):
        if issubclass(found, base):
            return base
    return None


def _task_exists(hub, task_class, backbone_name: str) -> bool:
    """Whether KerasHub has a subclass of `task_class` for the backbone class `backbone_name` (for a CausalLM,
    not a Seq2SeqLM, which KerasHub derives from CausalLM but which needs source and target texts)."""
    pending = [task_class]
    while pending:
        cls = pending.pop()
        if issubclass(cls, hub.models.Seq2SeqLM) and not issubclass(task_class, hub.models.Seq2SeqLM):
            continue
        backbone_cls = getattr(cls, "backbone_cls", None)
        if backbone_cls is not None and backbone_cls.__name__ == backbone_name:
            return True
        pending.extend(cls.__subclasses__())
    return False


def check_vocabulary(task, preset: str) -> None:
    """UsageError where the preset's tokenizer has ids the backbone cannot embed."""
    preprocessor = getattr(task, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    embedded = getattr(task.backbone, "vocabulary_size", None)
    if tokenizer is None or embedded is None:
        return
    size = tokenizer.vocabulary_size()
    if size > embedded:
        raise UsageError(f"preset {preset}: its tokenizer has {size} tokens but the backbone embeds "
                         f"{embedded}; the tokenizer does not belong to this backbone")


def find_task(model: keras.Model):
    """The KerasHub task a suite model is or wraps (with its preprocessor), or None."""
    hub = keras_hub_module()
    if isinstance(model, hub.models.Task):
        return model
    for layer in getattr(model, "layers", ()):
        for candidate in (layer, getattr(layer, "task", None)):  # the task itself, or a layer wrapping one
            if isinstance(candidate, hub.models.Task):
                return candidate
    return None


def export_preset(model: keras.Model, path: str) -> str:
    """Writes the KerasHub task of `model` as a preset folder at `path` (replaced atomically), loadable
    with `keras_hub.models.<Task>.from_preset(path)` by any KerasHub user."""
    task = find_task(model)
    if task is None:
        raise UsageError(f"export --format preset needs a run whose model is a KerasHub task (trained with "
                         f"--preset); this run's model {model.name!r} is not: export it as a saved_model")
    if task.preprocessor is None:
        raise UsageError(f"the run's KerasHub task {type(task).__name__} has no preprocessor to save with it")
    with atomic_directory(path, prefix=".tmp-preset-") as tmp:
        task.save_to_preset(tmp)
        _keep_sequence_lengths(task.preprocessor, tmp)
    return path


def _keep_sequence_lengths(preprocessor, folder: str) -> None:
    """Writes a `Seq2SeqLMPreprocessor`'s encoder and decoder lengths into the preset's preprocessor config
    (preprocessor.json, and task.json's copy, which `Seq2SeqLM.from_preset` reads), where KerasHub left them
    out (its `get_config` does not return them in 0.32), so `from_preset` packs the texts as the fine-tuned
    task did instead of to 1024 tokens."""
    if not isinstance(preprocessor, keras_hub_module().models.Seq2SeqLMPreprocessor):
        return
    lengths = {name: int(getattr(preprocessor, name)) for name in ("encoder_sequence_length",
                                                                    "decoder_sequence_length")}
    for name, nested in (("preprocessor.json", ()), ("task.json", ("config", "preprocessor"))):
        saved = _preset_json(folder, name)
        config = saved
        for key in nested:
            config = config.get(key) if isinstance(config, dict) else None
        if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
            continue
        config["config"].update(lengths)
        with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
            json.dump(saved, fh, indent=4)
