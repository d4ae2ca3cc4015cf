"""Speech recognition of spoken digit strings: a CTC model (convolutions + bidirectional GRU/LSTM) on
log-mel spectrograms, greedy and beam-search decoding, word error rate (jiwer) on unseen voices."""

from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf

from apps.speech_recognition.config import SpeechRecognitionConfig
from apps.speech_recognition.data import (SpokenDigits, UtteranceData, labels_to_text, load_utterances, pad_batch,
                                          text_to_labels)
from apps.speech_recognition.model import CTCLoss, build_ctc_model, decode, decode_ops
from apps.speech_recognition.spec import SPEC
from common.audio import DIGIT_WORDS, SAMPLE_RATE
from common.audio.real import PocketsphinxUtterances
from common.audio.summary import AudioSummary
from common.audio.wav import check_speech, read_wav
from common.errors import UsageError
from common.hyperparameters import choice, float_range, int_range
from common.pipeline import epoch_shuffle, keep_orders
from common.task import Task


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus word error rate (jiwer): substitutions + deletions + insertions over reference words."""
    import jiwer

    # jiwer refuses empty hypotheses' neighbours only for empty references, which digit strings never are.
    return float(jiwer.wer(references, [h if h else "" for h in hypotheses]))


def digit_words(text: str) -> str:
    """The digit words of a transcript, in order ("eight of spades four" -> "eight four")."""
    return " ".join(w for w in text.lower().split() if w in DIGIT_WORDS)


def transcript_scores(references: list[str], hypotheses: list[str]) -> dict:
    return {"wer": word_error_rate(references, hypotheses),
            "sentence_accuracy": float(np.mean([r == h for r, h in zip(references, hypotheses)])),
            "words": sum(len(r.split()) for r in references)}


class SpeechRecognition(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (SpokenDigits, PocketsphinxUtterances)  # the second: real_world only
    primary_metric = ("wer", "lower", ".4f")

    def load_data(self, cfg: SpeechRecognitionConfig) -> UtteranceData:
        return load_utterances(cfg.dataset, cfg.data_dir)

    def num_train_examples(self, cfg, data: UtteranceData) -> int:
        n = len(data.texts["train"])
        return min(n, cfg.max_train_samples) if cfg.max_train_samples else n

    def _dataset(self, data: UtteranceData, split: str, cfg, *, train: bool = False) -> tf.data.Dataset:
        """Batches of utterances of similar length (sorted, then padded), built once; training shuffles the
        order of the batches every epoch. Fixed batches keep the number of steps per epoch constant,
        which Keras expects of a dataset of unknown size, where re-bucketing after every shuffle would not."""
        limit = self.num_train_examples(cfg, data) if train else len(data.texts[split])
        clips, texts = data.audio[split][:limit], data.texts[split][:limit]
        order = np.argsort([len(c) for c in clips], kind="stable")

        def rows():
            for i in order:
                yield clips[i], np.asarray(text_to_labels(texts[i]), np.int32)

        ds = tf.data.Dataset.from_generator(rows, output_signature=(tf.TensorSpec((None,), tf.int16),
                                                                    tf.TensorSpec((None,), tf.int32)))
        batches = max(1, -(-limit // cfg.batch_size))
        ds = ds.padded_batch(cfg.batch_size, padded_shapes=([None], [None])).cache()
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))  # a generator's size is unknown to Keras
        shuffled = ds = epoch_shuffle(ds, batches, cfg.seed) if train else ds
        ds = ds.map(lambda a, y: (tf.cast(a, tf.float32) / 32768.0, y), num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return keep_orders(ds.with_options(options).prefetch(tf.data.AUTOTUNE), shuffled)

    def build_inputs(self, cfg, data: UtteranceData) -> dict:
        return {"train": self._dataset(data, "train", cfg, train=True),
                "validation": self._dataset(data, "validation", cfg),
                "test": self._dataset(data, "test", cfg)}

    def data_summary(self, data: UtteranceData) -> dict:
        return {"vocabulary": list(data.vocabulary), "sizes": data.sizes}

    def build_model(self, cfg: SpeechRecognitionConfig, data: UtteranceData):
        return build_ctc_model(len(data.vocabulary), num_mel_bins=cfg.num_mel_bins, width=cfg.width, rnn=cfg.rnn,
                               rnn_layers=cfg.rnn_layers, rnn_units=cfg.rnn_units, dropout=cfg.dropout,
                               augment=cfg.augment, seed=cfg.seed)

    def build_losses(self, cfg):
        return CTCLoss()

    def transcribe(self, model, clips: list[np.ndarray], *, strategy: str = "greedy", beam_width: int = 8,
                   batch_size: int = 32) -> list[str]:
        """Transcripts of float or int16 clips (batches of similar length, padded with silence)."""
        order = np.argsort([len(c) for c in clips])
        texts = [""] * len(clips)
        for i in range(0, len(order), batch_size):
            picks = order[i: i + batch_size]
            logits = model.predict_on_batch(pad_batch([clips[j] for j in picks]))
            for j, labels in zip(picks, decode(logits, strategy=strategy, beam_width=beam_width)):
                texts[j] = labels_to_text(labels)
        return texts

    def evaluate(self, model, cfg: SpeechRecognitionConfig, data: UtteranceData, inputs) -> dict:
        references = data.texts["test"]
        greedy = self.transcribe(model, data.audio["test"], strategy="greedy")
        beam = self.transcribe(model, data.audio["test"], strategy="beam", beam_width=cfg.beam_width)
        return {
            "wer": word_error_rate(references, beam),
            "wer_greedy": word_error_rate(references, greedy),
            "sentence_accuracy": float(np.mean([r == h for r, h in zip(references, beam)])),
            "loss": float(model.evaluate(inputs["test"], verbose=0, return_dict=True)["loss"]),
        }

    def baselines(self, cfg: SpeechRecognitionConfig, data: UtteranceData) -> dict:
        """The most common training transcript length, all of the most common digit: what a system that
        ignores the audio scores."""
        from collections import Counter

        words = Counter(w for t in data.texts["train"] for w in t.split())
        lengths = Counter(len(t.split()) for t in data.texts["train"])
        guess = " ".join([words.most_common(1)[0][0]] * lengths.most_common(1)[0][0])
        return {"constant_guess": {"wer": word_error_rate(data.texts["test"], [guess] * len(data.texts["test"])),
                                   "transcript": guess}}

    def real_world(self, model, cfg: SpeechRecognitionConfig, data: UtteranceData) -> dict:
        """The model (beam search) and PocketSphinx on the real recordings of Debian pocketsphinx-testdata
        that hold digit words (`common.audio.real`): `pocketsphinx_digit_strings`, the clips that are
        digit strings and nothing else, and `pocketsphinx_digit_words`, every clip with digit words, its
        reference those words alone ("eight of spades four of clubs" -> "eight four"). PocketSphinx
        decodes with a grammar of digit strings (`pocketsphinx_digits`, what the model is asked) and
        with its full en-us language model, digit words kept (`pocketsphinx_lm`). Skipped for the `/tiny`
        test sets and with `real_world=false`."""
        if not cfg.real_world or data.name.endswith("tiny"):
            return {}
        from common.audio.real import load_real_clips
        from common.audio.sphinx import PocketSphinx

        try:
            clips = load_real_clips("pocketsphinx_utterances", cfg.data_dir)
        except UsageError as exc:
            print(f"speech_recognition: real-world sets skipped: {exc}", file=sys.stderr)
            return {}
        try:
            sphinx = PocketSphinx()
        except UsageError as exc:
            print(f"speech_recognition: the PocketSphinx baseline is skipped: {exc}", file=sys.stderr)
            sphinx = None
        picks = [i for i, t in enumerate(clips.texts) if digit_words(t)]
        audio = [clips.audio[i] for i in picks]
        references = [digit_words(clips.texts[i]) for i in picks]
        whole = [references[k] == clips.texts[i].lower().strip() for k, i in enumerate(picks)]
        heard = {"model": self.transcribe(model, audio, strategy="beam", beam_width=cfg.beam_width)}
        if sphinx is not None:
            heard["pocketsphinx_digits"] = [sphinx.digits(a) for a in audio]
            heard["pocketsphinx_lm"] = [digit_words(sphinx.transcribe(a)) for a in audio]
        found = {}
        for name, keep in (("pocketsphinx_digit_strings", whole), ("pocketsphinx_digit_words", [True] * len(picks))):
            refs = [r for r, k in zip(references, keep) if k]
            scores = {who: transcript_scores(refs, [h for h, k in zip(hyps, keep) if k]) for who, hyps in heard.items()}
            found[name] = {"source": clips.source, "examples": len(refs), "model": scores.pop("model"),
                           "baselines": scores}
        return found

    def callbacks(self, cfg: SpeechRecognitionConfig, data: UtteranceData, run) -> list:
        if not cfg.audio_examples:
            return []
        clips = data.audio["test"][: cfg.audio_examples]
        texts = "; ".join(f"{i}: {t}" for i, t in enumerate(data.texts["test"][: cfg.audio_examples]))
        return [AudioSummary(run.logs, {"test_utterances": (pad_batch(clips), f"Test utterances (unseen voices): {texts}")})]

    def text_examples(self, model, cfg: SpeechRecognitionConfig, data: UtteranceData, split="test") -> dict:
        if not cfg.audio_examples:
            return {}
        n = max(cfg.audio_examples, 10)
        clips, references = data.audio[split][:n], data.texts[split][:n]
        greedy = self.transcribe(model, clips, strategy="greedy")
        beam = self.transcribe(model, clips, strategy="beam", beam_width=cfg.beam_width)
        rows = ["| utterance | reference | greedy | beam search |", "|---|---|---|---|"]
        rows += [f"| {i} | {r} | {g} | {b} |" for i, (r, g, b) in enumerate(zip(references, greedy, beam))]
        return {"transcripts": "\n".join(rows)}

    def predict(self, model, cfg: SpeechRecognitionConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """Transcript of each WAV file (other sample rates are resampled to 16 kHz)."""
        if not inputs:
            raise UsageError("predict needs WAV files: dlsuite speech_recognition predict --run DIR digits.wav")
        records = []
        for path in inputs:
            audio, rate = read_wav(path)
            check_speech(audio, path)
            text = self.transcribe(model, [audio], strategy=cfg.decoder, beam_width=cfg.beam_width)[0]
            record = {"file": path, "transcript": text,
                      "digits": "".join(str(DIGIT_WORDS.index(w)) for w in text.split())}
            if rate != SAMPLE_RATE:
                record["resampled_from_hz"] = rate
            records.append(record)
        return records

    def serving_outputs(self, cfg: SpeechRecognitionConfig, outputs, summary: dict):
        """The exported recogniser (16 kHz float audio in, `[n, samples]`, zero-padded) returns `transcript`, the
        words decoded as `predict` decodes (`decoder`: beam search of `beam_width` by default), the id-to-word
        mapping kept in the graph, and the per-frame CTC `logits`."""
        ids = decode_ops(outputs, strategy=cfg.decoder, beam_width=cfg.beam_width)
        words = ["", *(summary.get("vocabulary") or DIGIT_WORDS)]  # id 0 is the CTC blank, -1 the padding
        spoken = tf.ragged.boolean_mask(tf.gather(tf.constant(words), tf.clip_by_value(ids, 0, len(words) - 1)),
                                        (ids > 0) & (ids < len(words)))
        return {"transcript": tf.strings.reduce_join(spoken, axis=-1, separator=" "), "logits": outputs}

    def benchmark_target(self, metrics: dict):
        if metrics["dataset"] != "spoken_digits":
            return None
        wer = metrics["test"]["wer"]
        return ("word error rate <= 10% on held-out voices", wer <= 0.10, f"WER {wer:.2%}")

    def search_space(self, hp, cfg: SpeechRecognitionConfig) -> dict:
        return {
            "rnn": choice(hp, "rnn", cfg.rnn, ["gru", "lstm"]),
            "rnn_units": choice(hp, "rnn_units", cfg.rnn_units, [64, 96, 128]),
            "rnn_layers": int_range(hp, "rnn_layers", cfg.rnn_layers, 1, 3),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.4),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 3e-4, 3e-3, log=True),
        }
