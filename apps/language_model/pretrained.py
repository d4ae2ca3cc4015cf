"""The suite's own pre-trained English encoder as a preset name: `--preset dlsuite:bert_small_en`.

The first application that asks for it pre-trains language_model's default config into the cache next to the
TFDS data dir (`common.pretrained.cached_run`: progress lines, resumable when interrupted, keyed by the config)
and writes the run's task there as a KerasHub preset folder; later runs reuse it. The language applications
call `resolve_preset` on their `preset` setting: any other value (a folder, a KerasHub name) is returned as it is.
"""

from __future__ import annotations

import os

from apps.language_model.spec import OWN_PRESET


def own_preset(data_dir: str = "", app: str = "language_model") -> str:
    """The folder of the suite's pre-trained encoder preset, pre-trained first if none is cached."""
    import keras

    from apps.language_model.config import LanguageModelConfig
    from apps.language_model.task import LanguageModel
    from common.presets import export_preset
    from common.pretrained import cached_run
    from common.runs import RunDir

    run_dir = cached_run(LanguageModel(), LanguageModelConfig(data_dir=data_dir), data_dir, app,
                         f"the pre-trained English encoder {OWN_PRESET}", "pre-training")
    preset = os.path.join(run_dir, "preset")
    if not os.path.isfile(os.path.join(preset, "task.json")):
        export_preset(keras.saving.load_model(RunDir(run_dir).model, compile=False), preset)
    return preset


def resolve_preset(preset: str, data_dir: str = "", app: str = "language_model") -> str:
    """`preset` as a folder or name KerasHub loads: `dlsuite:bert_small_en` becomes `own_preset(data_dir)`.

    Example:
        >>> resolve_preset("/presets/my_bert")
        '/presets/my_bert'
    """
    return own_preset(data_dir, app) if preset == OWN_PRESET else preset
