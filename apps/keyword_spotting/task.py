"""Keyword spotting: a CNN or CRNN on log-mel spectrograms of one-second clips, against an RBF SVC on
pooled log-mel features; `predict` classifies WAV files, `listen` slides over a long recording."""

from __future__ import annotations

import sys

import keras
import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from apps.keyword_spotting.config import KeywordSpottingConfig
from apps.keyword_spotting.data import BACKGROUND, UNKNOWN, KeywordData, SpokenKeywords, load_keywords
from apps.keyword_spotting.model import build_keyword_model
from apps.keyword_spotting.real_world import REAL_SETS, real_world_keywords
from apps.keyword_spotting.spec import SPEC
from common.audio import SAMPLE_RATE
from common.audio.frontend import FFT, HOP, WINDOW
from common.audio.real import KlettresWords, PocketsphinxUtterances
from common.audio.summary import AudioSummary
from common.audio.wav import check_speech, fit_length, read_wav
from common.errors import UsageError
from common.export import classifier_outputs
from common.hyperparameters import choice, float_range
from common.metrics import classification_metrics
from common.monitoring import confusion_matrix_figure
from common.pipeline import make_pipeline
from common.task import Task


def listen(model: keras.Model, audio: np.ndarray, class_names: list[str], *, threshold: float = 0.7,
           hop: int = SAMPLE_RATE // 4) -> list[dict]:
    """Keywords heard in a long recording: one-second windows every `hop` samples are classified, and
    consecutive windows whose best class is the same keyword at probability >= `threshold` merge into
    one detection (its times span those windows; its probability is their highest).

    Returns:
        [{"keyword", "start", "end" (seconds), "probability"}] in time order.
    """
    padded = np.pad(audio, (SAMPLE_RATE // 2, SAMPLE_RATE // 2))  # keywords at the very edges still fill a window
    starts = np.arange(0, max(1, len(padded) - SAMPLE_RATE + 1), hop)
    windows = np.stack([fit_length(padded[s: s + SAMPLE_RATE]) for s in starts])
    probabilities = model.predict(windows, batch_size=128, verbose=0)
    ignore = {UNKNOWN, BACKGROUND, "_silence_", "_unknown"}
    detections, current = [], None
    for start, p in zip(starts, probabilities):
        best = int(p.argmax())
        word = class_names[best]
        hit = word not in ignore and p[best] >= threshold
        t0 = max(0.0, (start - SAMPLE_RATE // 2) / SAMPLE_RATE)
        t1 = min(len(audio) / SAMPLE_RATE, t0 + 1.0)
        if hit and current is not None and current["keyword"] == word and t0 <= current["end"]:
            current["end"], current["probability"] = t1, max(current["probability"], float(p[best]))
            continue
        if current is not None:
            detections.append(current)
            current = None
        if hit:
            current = {"keyword": word, "start": t0, "end": t1, "probability": float(p[best])}
    if current is not None:
        detections.append(current)
    merged = []  # one word heard in overlapping windows with a weaker window between them is still one word
    for d in detections:
        if merged and merged[-1]["keyword"] == d["keyword"] and d["start"] < merged[-1]["end"]:
            merged[-1]["end"] = d["end"]
            merged[-1]["probability"] = max(merged[-1]["probability"], d["probability"])
        else:
            merged.append(d)
    return [{**d, "start": round(d["start"], 2), "end": round(d["end"], 2), "probability": round(d["probability"], 4)}
            for d in merged]


def pooled_log_mel(audio: np.ndarray, chunks: int = 10, num_mel_bins: int = 40) -> np.ndarray:
    """Baseline features: log-mel energies averaged over `chunks` equal stretches of time (n, chunks * mels)."""
    frontend = keras.layers.MelSpectrogram(fft_length=FFT, sequence_stride=HOP, sequence_length=WINDOW,
                                           sampling_rate=SAMPLE_RATE, num_mel_bins=num_mel_bins, top_db=1000.0,
                                           min_power=1e-6)
    rows = []
    for i in range(0, len(audio), 256):
        mel = keras.ops.convert_to_numpy(frontend(audio[i: i + 256]))  # (n, mels, frames)
        parts = np.array_split(mel, chunks, axis=2)
        rows.append(np.concatenate([p.mean(axis=2) for p in parts], axis=1))
    return np.concatenate(rows)


class KeywordSpotting(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (SpokenKeywords, PocketsphinxUtterances, KlettresWords)  # the last two: real_world only
    monitor = "val_accuracy"
    benchmark_rows = (("keyword_spotting-spoken_keywords-cnn", {"model": "cnn"}),)

    def load_data(self, cfg: KeywordSpottingConfig) -> KeywordData:
        return load_keywords(cfg.dataset, cfg.data_dir)

    def num_train_examples(self, cfg, data: KeywordData) -> int:
        n = data.sizes.get("train", 0)
        return min(n, cfg.max_train_samples) if cfg.max_train_samples else n

    def build_inputs(self, cfg, data: KeywordData) -> dict:
        n_train = self.num_train_examples(cfg, data)
        return {
            "train": make_pipeline(data.splits["train"], cfg.batch_size, shuffle=True, seed=cfg.seed,
                                   max_examples=cfg.max_train_samples, shuffle_buffer=max(n_train, 1)),
            "validation": make_pipeline(data.splits["validation"], cfg.batch_size),
            "test": make_pipeline(data.splits["test"], cfg.batch_size),
        }

    def data_summary(self, data: KeywordData) -> dict:
        return {"class_names": data.class_names, "sizes": data.sizes}

    def build_model(self, cfg: KeywordSpottingConfig, data: KeywordData):
        return build_keyword_model(len(data.class_names), model=cfg.model, num_mel_bins=cfg.num_mel_bins,
                                   width=cfg.width, rnn_units=cfg.rnn_units, dropout=cfg.dropout,
                                   time_shift=cfg.time_shift_ms * SAMPLE_RATE // 1000, augment=cfg.augment,
                                   seed=cfg.seed)

    def build_losses(self, cfg):
        return "sparse_categorical_crossentropy"

    def build_metrics(self, cfg):
        return ["accuracy"]

    def callbacks(self, cfg: KeywordSpottingConfig, data: KeywordData, run) -> list:
        if not cfg.audio_examples:
            return []
        audio, labels = data.arrays("test", cfg.audio_examples)
        names = ", ".join(f"{i}: {data.class_names[y]}" for i, y in enumerate(labels))
        return [AudioSummary(run.logs, {"test_clips": (audio, f"Test clips (unseen voices) with their labels: {names}")})]

    def evaluate(self, model, cfg, data: KeywordData, inputs) -> dict:
        if model.output_shape[-1] != len(data.class_names):
            raise UsageError(f"{data.name} has {len(data.class_names)} classes; the model predicts "
                             f"{model.output_shape[-1]}")
        audio, labels = data.arrays("test")
        probabilities = model.predict(audio, batch_size=256, verbose=0)
        report = classification_report(labels, probabilities.argmax(axis=1), labels=range(len(data.class_names)),
                                       target_names=data.class_names, output_dict=True, zero_division=0)
        return {**classification_metrics(labels, probabilities), "report": report}

    def baselines(self, cfg: KeywordSpottingConfig, data: KeywordData) -> dict:
        """RBF SVC on log-mel energies pooled over ten stretches of time, standardised, C chosen on validation."""
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.pipeline import make_pipeline as sk_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        x_train, y_train = data.arrays("train", cfg.max_train_samples or 4000)
        x_val, y_val = data.arrays("validation")
        x_test, y_test = data.arrays("test")
        f_train, f_val, f_test = (pooled_log_mel(x, num_mel_bins=cfg.num_mel_bins) for x in (x_train, x_val, x_test))
        fits = [sk_pipeline(StandardScaler(), SVC(C=c)).fit(f_train, y_train) for c in (1.0, 10.0)]
        best = max(fits, key=lambda m: m.score(f_val, y_val))
        predicted = best.predict(f_test)
        return {"logmel_svc": {"accuracy": float(accuracy_score(y_test, predicted)),
                               "macro_f1": float(f1_score(y_test, predicted, average="macro")),
                               "C": float(best[-1].C)}}

    def real_world(self, model, cfg: KeywordSpottingConfig, data: KeywordData) -> dict:
        """The model (`listen` at the config's threshold and hop) and PocketSphinx keyword search on the
        real recordings of `common.audio.real` (`apps.keyword_spotting.real_world`); skipped for the
        `/tiny` test sets and with `real_world=false`."""
        if not cfg.real_world or data.name.endswith("tiny"):
            return {}
        from common.audio.real import load_real_clips
        from common.audio.sphinx import PocketSphinx

        keywords = [c for c in data.class_names if not c.startswith("_")]
        hop = cfg.hop_ms * SAMPLE_RATE // 1000

        def spot(audio):
            return [d["keyword"] for d in listen(model, audio, data.class_names, threshold=cfg.threshold, hop=hop)]

        try:
            sphinx = PocketSphinx()
        except UsageError as exc:
            print(f"keyword_spotting: the PocketSphinx baseline is skipped: {exc}", file=sys.stderr)
            sphinx = None
        found = {}
        for name in REAL_SETS:
            try:
                clips = load_real_clips(name, cfg.data_dir)
            except UsageError as exc:  # the Debian package is not installed
                print(f"keyword_spotting: real-world set {name} skipped: {exc}", file=sys.stderr)
                continue
            found[name] = real_world_keywords(spot, sphinx, clips, keywords)
        return found

    def figures(self, model, cfg, data: KeywordData, inputs, split="test") -> dict:
        audio, labels = data.arrays(split)
        predicted = model.predict(audio, batch_size=256, verbose=0).argmax(axis=1)
        matrix = confusion_matrix(labels, predicted, labels=range(len(data.class_names)))
        title = f"{data.name} {split}: accuracy {np.trace(matrix) / max(1, matrix.sum()):.4f}"
        return {"confusion_matrix": confusion_matrix_figure(matrix, data.class_names, title)}

    def text_examples(self, model, cfg: KeywordSpottingConfig, data: KeywordData, split="test") -> dict:
        """The clips of TensorBoard's Audio tab (the first test clips) with the model's answers."""
        if not cfg.audio_examples:
            return {}
        audio, labels = data.arrays(split, cfg.audio_examples)
        probabilities = model.predict(audio, verbose=0)
        rows = ["| clip | true | predicted | probability |", "|---|---|---|---|"]
        for i, (label, p) in enumerate(zip(labels, probabilities)):
            rows.append(f"| {i} | {data.class_names[label]} | {data.class_names[int(p.argmax())]} | {p.max():.3f} |")
        return {"predictions": "\n".join(rows)}

    def _class_names(self, model, summary: dict) -> list[str]:
        return summary.get("class_names") or [str(i) for i in range(model.output_shape[-1])]

    def predict(self, model, cfg, summary: dict, inputs: list[str]) -> list[dict]:
        """Keyword of each WAV file (its middle second; other sample rates are resampled to 16 kHz)."""
        if not inputs:
            raise UsageError("predict needs WAV files: dlsuite keyword_spotting predict --run DIR yes.wav no.wav")
        class_names = self._class_names(model, summary)
        records = []
        for path in inputs:
            audio, rate = read_wav(path)
            check_speech(audio, path)
            p = model.predict(fit_length(audio)[None], verbose=0)[0]
            top = np.argsort(p)[::-1][:3]
            record = {"file": path, "keyword": class_names[int(top[0])], "probability": round(float(p[top[0]]), 4),
                      "top3": {class_names[int(i)]: round(float(p[i]), 4) for i in top}}
            if rate != SAMPLE_RATE:
                record["resampled_from_hz"] = rate
            records.append(record)
        return records

    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported keyword classifier (one-second clips in) returns `probabilities`, `label` (class index)
        and `class_name` (the run's class names, kept in the graph)."""
        return classifier_outputs(outputs, summary.get("class_names"))

    def run_action(self, name: str, model, cfg: KeywordSpottingConfig, summary: dict, args) -> str:
        threshold = cfg.threshold if args.threshold is None else args.threshold
        hop_ms = cfg.hop_ms if args.hop_ms is None else args.hop_ms
        if not 0.0 <= threshold <= 1.0 or hop_ms < 10:
            raise UsageError("--threshold must be in [0, 1] and --hop-ms at least 10")
        audio, _ = read_wav(args.wav)
        check_speech(audio, args.wav)
        found = listen(model, audio, self._class_names(model, summary), threshold=threshold,
                       hop=hop_ms * SAMPLE_RATE // 1000)
        lines = [f"{d['start']:7.2f} - {d['end']:6.2f} s  {d['keyword']:6s} ({d['probability']:.3f})" for d in found]
        return "\n".join(lines + [f"{len(found)} keyword(s) in {len(audio) / SAMPLE_RATE:.2f} s of {args.wav}"])

    def benchmark_target(self, metrics: dict):
        if metrics["dataset"] != "spoken_keywords":
            return None
        accuracy = metrics["test"]["accuracy"]
        return ("test accuracy >= 95% on held-out voices", accuracy >= 0.95, f"accuracy {accuracy:.2%}")

    def search_space(self, hp, cfg: KeywordSpottingConfig) -> dict:
        return {
            "model": choice(hp, "model", cfg.model, ["cnn", "crnn"]),
            "width": choice(hp, "width", cfg.width, [16, 32, 64]),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.5),
            "time_shift_ms": choice(hp, "time_shift_ms", cfg.time_shift_ms, [0, 100, 200]),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 3e-4, 3e-3, log=True),
        }
