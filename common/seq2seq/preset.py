"""A KerasHub `Seq2SeqLM` preset (BART, T5, ...) as the encoder–decoder of translation and chatbot: fine-tuned on
the (source, target) string pairs with its own tokenizer, decoded with its own `generate` and a KerasHub
sampler, scored like the suite's own models.

* The model of a `--preset` run is the `keras_hub.models.Seq2SeqLM` task itself (backbone, LM head and its
  `Seq2SeqLMPreprocessor`), so `model.keras` carries the tokenizer and `export --format preset`
  (`common.presets.export_preset`) writes a folder any KerasHub user loads with
  `keras_hub.models.Seq2SeqLM.from_preset`.
* Training examples are `{"encoder_text": source, "decoder_text": target}` strings (`pair_dataset`); the task's
  `fit` turns them into token ids, next-token targets and padding weights with the preprocessor.
* The packers' lengths (`fit_lengths`) follow the data: the longest training source and target in the
  preset's tokens, plus the start and end tokens, at most the backbone's context. KerasHub 0.32 leaves them
  out of the preprocessor's config (`get_config`), so a saved model would pack to 1024 tokens when loaded:
  `set_lengths` adds them to that config (`model.keras` keeps them), and `common.presets.export_preset`
  writes them into the exported preset's preprocessor.json.
* Decoding (`PresetTranslator`): greedy (`keras_hub.samplers.GreedySampler`) or beam search
  (`BeamSampler(num_beams=beam_size)`, which ranks by log-probability: the suite's `length_penalty` does not
  apply), batched; the last batch is padded to the batch size, so `generate` is traced once per sampler.
* Teacher-forced scores (`teacher_forced`): the summed cross-entropy of the target tokens (the preset's,
  `[end]` included), per preset token and, over the number of the suite's word tokens of the targets (words
  and punctuation marks, plus one for `[end]`), per word, so the perplexity compares with the word models'
  and the chatbot's unigram baseline whatever the tokenizer.
"""

from __future__ import annotations

import numpy as np

import weakref

from common.errors import UsageError
from common.presets import keras_hub_module as hub, set_sampler, text_of as _text
from common.seq2seq.tokens import tokenize

# Tokens the packers add around a text: the start and end tokens (BART's decoder starts with two).
SPECIAL_TOKENS = 3


def is_seq2seq_lm(model) -> bool:
    """Whether `model` is a KerasHub `Seq2SeqLM` task (the model of a `--preset` run)."""
    return isinstance(model, hub().models.Seq2SeqLM)


def token_counts(tokenizer, texts: list[str]) -> list[int]:
    """Tokens of each text under the preset's tokenizer (no start or end token)."""
    if not texts:
        return []
    return [len(np.asarray(ids).reshape(-1)) for ids in tokenizer(list(texts))]


def context_of(task) -> int | None:
    """The backbone's context (positions it embeds), or None where it has no limit (T5's relative positions)."""
    return getattr(task.backbone, "max_sequence_length", None)


def set_lengths(task, encoder_length: int, decoder_length: int) -> tuple[int, int]:
    """Sets the preprocessor's packer lengths (at most the backbone's context), kept in its config from now on
    (`keep_lengths_in_config`); returns them."""
    context = context_of(task)
    if context:
        encoder_length, decoder_length = min(encoder_length, context), min(decoder_length, context)
    preprocessor = task.preprocessor
    preprocessor.encoder_sequence_length = int(encoder_length)
    preprocessor.decoder_sequence_length = int(decoder_length)
    keep_lengths_in_config(preprocessor)
    return preprocessor.encoder_sequence_length, preprocessor.decoder_sequence_length


def keep_lengths_in_config(preprocessor) -> None:
    """Makes this preprocessor's `get_config` return its encoder and decoder lengths, which
    `Seq2SeqLMPreprocessor.__init__` takes but KerasHub 0.32's `get_config` leaves out, so a `.keras` file of
    the task loads with the lengths it was fine-tuned with. The class stays KerasHub's own."""
    if getattr(preprocessor, "_keeps_lengths", False):
        return
    base = preprocessor.get_config

    def get_config():
        return {**base(), "encoder_sequence_length": preprocessor.encoder_sequence_length,
                "decoder_sequence_length": preprocessor.decoder_sequence_length}

    preprocessor.get_config = get_config
    preprocessor._keeps_lengths = True


def fit_lengths(task, sources: list[str], targets: list[str]) -> tuple[int, int]:
    """Packer lengths for these training pairs: their longest source and target in the preset's tokens plus
    the special tokens, at most the backbone's context; set on the task's preprocessor and returned."""
    tokenizer = task.preprocessor.tokenizer
    return set_lengths(task, max(token_counts(tokenizer, sources), default=1) + SPECIAL_TOKENS,
                       max(token_counts(tokenizer, targets), default=1) + SPECIAL_TOKENS)


def build_preset_seq2seq(preset: str, *, app: str):
    """The KerasHub `Seq2SeqLM` of a preset, uncompiled, with its preprocessor (lengths: `fit_lengths`).

    Args:
        preset: a local preset folder (`save_to_preset`), a built-in KerasHub name (`bart_base_en`,
            `t5_small_multi`, ...) or a `kaggle://` / `hf://` handle (these need internet).
        app: the application asking, for the messages.
    """
    from common.presets import load_task

    task = load_task("Seq2SeqLM", preset, app=app, compile=False)
    if task.preprocessor is None:
        raise UsageError(f"preset {preset} has no preprocessor (preprocessor.json); {app} needs its tokenizer to "
                         "read the text")
    return task


def pair_dataset(sources: list[str], targets: list[str]):
    """The pairs as a `tf.data.Dataset` of `{"encoder_text", "decoder_text"}` strings, what `Seq2SeqLM.fit` takes."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices({"encoder_text": tf.constant(list(sources), tf.string),
                                               "decoder_text": tf.constant(list(targets), tf.string)})


def compile_preset(task, optimizer, *, jit_compile: bool = False) -> None:
    """Compiles for fine-tuning: cross-entropy on the logits, the padding weighted out (the preprocessor's sample
    weights), next-token accuracy named as the suite's models name theirs."""
    import keras

    task.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
                 jit_compile=jit_compile)


def teacher_forced(task, sources: list[str], targets: list[str], batch_size: int = 32):
    """Per pair: the summed cross-entropy (nats) of the target's tokens under teacher forcing, their number and
    how many the model ranks first; three arrays of `len(sources)`."""
    import keras

    nats, counts, correct = [], [], []
    for begin in range(0, len(sources), batch_size):
        x, y, weights = task.preprocessor({"encoder_text": list(sources[begin:begin + batch_size]),
                                           "decoder_text": list(targets[begin:begin + batch_size])})
        # keras.Model's own predict_on_batch: the task's would run the preprocessor on these ids again.
        logits = np.asarray(keras.Model.predict_on_batch(task, x), np.float64)
        y, weights = np.asarray(y), np.asarray(weights).astype(bool)
        top = logits.max(axis=-1, keepdims=True)
        log_norm = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        loss = log_norm - np.take_along_axis(logits, y[..., None], axis=-1)[..., 0]
        nats.append((loss * weights).sum(axis=1))
        counts.append(weights.sum(axis=1))
        correct.append(((logits.argmax(axis=-1) == y) & weights).sum(axis=1))
    if not nats:
        return np.zeros(0), np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(nats), np.concatenate(counts), np.concatenate(correct)


def preset_scores(task, sources: list[str], targets: list[str], batch_size: int = 32) -> dict:
    """Teacher-forced scores of the targets: "loss" and "perplexity" per word token of the suite's tokenizer
    (`[end]` included), "token_loss", "token_perplexity", "token_accuracy" per preset token, and both counts."""
    nats, counts, correct = teacher_forced(task, sources, targets, batch_size)
    total, tokens = float(nats.sum()), max(1, int(counts.sum()))
    words = max(1, sum(len(t) + 1 for t in tokenize(targets)))
    return {"loss": total / words, "perplexity": float(np.exp(total / words)), "token_loss": total / tokens,
            "token_perplexity": float(np.exp(total / tokens)), "token_accuracy": int(correct.sum()) / tokens,
            "words": words, "tokens": tokens}


class PresetTranslator:
    """Greedy and beam-search outputs of a `Seq2SeqLM` task, with the API of `common.seq2seq.decoding.Translator`
    that translation and chatbot use (`translate`, `replies`, `max_length`).

    Args:
        task: the `keras_hub.models.Seq2SeqLM`, its preprocessor's lengths set (`set_lengths`).
        batch_size: sources per `generate` call.

    Example:
        >>> translator = PresetTranslator(keras_hub.models.Seq2SeqLM.from_preset("runs/mt/preset"))
        >>> translator.translate(["Das ist gut."], beam_size=4)
        ['That is good.']
    """

    def __init__(self, task, batch_size: int = 32):
        self.task = task
        self.batch_size = max(1, batch_size)
        self.max_length = task.preprocessor.encoder_sequence_length  # source tokens read
        self._generate = {}  # beam size -> (sampler, generate function): each traced once

    def _use_sampler(self, beam_size: int) -> None:
        if beam_size in self._generate:
            self.task.sampler, self.task.generate_function = self._generate[beam_size]
            return
        samplers = hub().samplers
        set_sampler(self.task, samplers.GreedySampler() if beam_size == 1 else samplers.BeamSampler(num_beams=beam_size))
        self._generate[beam_size] = self.task.sampler, self.task.make_generate_function()

    def source_lengths(self, texts: list[str]) -> list[int]:
        """Tokens of each source, as the encoder counts them (with its start and end tokens)."""
        return [count + 2 for count in token_counts(self.task.preprocessor.tokenizer, texts)]

    def translate(self, texts: list[str], beam_size: int = 1, length_penalty: float = 0.0) -> list[str]:
        """The outputs for `texts`: greedy for `beam_size` 1, else beam search (`length_penalty` does not apply:
        KerasHub's `BeamSampler` ranks by log-probability)."""
        if not texts:
            return []
        self._use_sampler(beam_size)
        size = min(self.batch_size, len(texts))
        outputs = []
        for begin in range(0, len(texts), size):
            batch = list(texts[begin:begin + size])
            padded = batch + [batch[-1]] * (size - len(batch))  # one batch shape: one trace of `generate`
            found = self.task.generate(padded, max_length=self.task.preprocessor.decoder_sequence_length)
            outputs += [" ".join(_text(text).split()) for text in found[:len(batch)]]
        return outputs

    def replies(self, texts: list[str], beam_size: int = 1, length_penalty: float = 0.0):
        """Outputs as `translate` gives them and the model's confidence in each: the mean log-probability of its
        tokens (`[end]` included), by teacher forcing (as `apps.chatbot.decoding.IncrementalReplier.replies`)."""
        outputs = self.translate(texts, beam_size, length_penalty)
        if not outputs:
            return [], np.zeros(0)
        nats, counts, _ = teacher_forced(self.task, texts, outputs, self.batch_size)
        return outputs, -nats / np.maximum(counts, 1)


_TRANSLATORS = weakref.WeakKeyDictionary()  # task -> its PresetTranslator, so its traced decoders are reused


def translator_of(task, batch_size: int = 32) -> PresetTranslator:
    """The `PresetTranslator` of `task` for this batch size, one per task: evaluation, the examples and the
    actions of one process trace each decoder once."""
    found = _TRANSLATORS.get(task)
    if found is None or found.batch_size != max(1, batch_size):
        found = _TRANSLATORS[task] = PresetTranslator(task, batch_size)
    return found
