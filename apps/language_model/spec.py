"""What the command line knows of language_model without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.language_model.config import LanguageModelConfig
from common.spec import AppSpec, EmbeddedSet

ENGLISH_CORPUS = EmbeddedSet(
    "english_corpus", "corpus",
    "WordNet glosses, GCIDE definitions, the World English Bible, CPython's pydoc topics, chatterbot conversations "
    "and the vaderSentiment sentences less sentiment's test splits (unlabelled).")

# The suite's own pre-trained encoder, as `--preset` of the language applications: pre-trained once with the
# default config into the data-dir cache, then reused (`apps.language_model.pretrained.resolve_preset`).
OWN_PRESET = "dlsuite:bert_small_en"

SPEC = AppSpec(
    name="language_model",
    description=("masked-language-model pre-training of a small KerasHub BERT on offline English text, saved as a "
                 "KerasHub preset (sentiment fine-tunes it: --preset dlsuite:bert_small_en), vs a unigram "
                 "model"),
    config_class=LanguageModelConfig,
    task="apps.language_model.task:LanguageModel",
    models=("bert",),
    embedded_datasets=(ENGLISH_CORPUS,),
)
