"""Fundamentals: a dense network written out with keras.ops and checked, then studies that train many
small networks to compare activations, optimizers and learning rates, depth and width, and regularisers."""

from __future__ import annotations

import json
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from apps.fundamentals import report, scratch
from apps.fundamentals.config import FundamentalsConfig
from apps.fundamentals.spec import SPEC
from apps.fundamentals.studies import Arrays, summarize, train_variant, training_subset, variants
from apps.image_classification.task import ImageClassification
from common.datasets import load_images, to_numpy
from common.datasets.embedded import Digits, Mnist5k
from common.errors import TrainingDiverged, UsageError
from common.export import atomic_write_json, atomic_write_text, classifier_outputs, load_model, save_model
from common.metrics import classification_metrics
from common.monitoring import figure_to_png, log_images, log_texts, rewind_logs, write_png
from common.task import Task


def to_arrays(name: str, splits: dict[str, tf.data.Dataset], class_names: list[str]) -> Arrays:
    x, y = {}, {}
    for split, dataset in splits.items():
        x[split], y[split] = to_numpy(dataset)
    return Arrays(name=name, x=x, y=y, class_names=list(class_names))


def read_record(path: str) -> dict | None:
    """A finished variant's saved record, or None (not there, or cut short by a crash while written)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class Fundamentals(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (Digits, Mnist5k)
    trains_with_fit = False
    primary_metric = ("accuracy", "higher", ".4f")

    # --- data -------------------------------------------------------------------------------
    def load_data(self, cfg: FundamentalsConfig) -> Arrays:
        data = load_images(cfg.dataset, cfg.data_dir, seed=cfg.seed)
        arrays = to_arrays(cfg.dataset, {"train": data.train, "validation": data.validation, "test": data.test},
                           data.class_names)
        for split in ("train", "validation", "test"):
            if not len(arrays.y[split]):
                raise UsageError(f"{cfg.dataset} has an empty {split} split")
        if cfg.max_train_samples:
            arrays.x["train"], arrays.y["train"] = training_subset(arrays, cfg.max_train_samples, cfg.seed)
        return arrays

    def build_inputs(self, cfg, data: Arrays) -> dict:
        return {s: tf.data.Dataset.from_tensor_slices((data.x[s], data.y[s])).batch(cfg.batch_size) for s in data.x}

    def num_train_examples(self, cfg, data: Arrays) -> int:
        return len(data.y["train"])

    def data_summary(self, data: Arrays) -> dict:
        return {"class_names": data.class_names, "image_shape": list(data.image_shape),
                "sizes": {s: int(len(v)) for s, v in data.y.items()}}

    # --- the studies ------------------------------------------------------------------------
    def train_loop(self, cfg: FundamentalsConfig, run, verbose) -> dict:
        data = self.load_data(cfg)
        if "regularization" in cfg.studies():
            training_subset(data, cfg.reg_train_samples, cfg.seed)  # impossible sizes fail before any training
        results_dir = os.path.join(run.checkpoints, "results")
        models_dir = os.path.join(run.checkpoints, "models")
        say = (lambda text: print(text, flush=True)) if verbose != 0 else (lambda text: None)
        say(f"{len(data.y['train'])} training, {len(data.y['validation'])} validation, {len(data.y['test'])} test "
            f"examples of {data.image_shape}; studies: {', '.join(cfg.studies())}")
        test: dict = {"studies": {}}
        candidates = []  # (validation accuracy, test accuracy, sd, name, model file, parameters)
        tables, figures = [], {}
        trained = []  # every (variant, seed) record of the comparisons, for the throughput
        for study in cfg.studies():
            if study == "scratch":
                result = self._scratch_study(cfg, data, run, results_dir, models_dir, say)
                tables.append(report.scratch_table(result))
                figures["scratch"] = report.scratch_figure(result, cfg.dataset)
                test["studies"]["scratch"] = {"table": tables[-1], **{
                    k: v for k, v in result.items() if not (k.startswith("gradient_") and isinstance(v, list))}}
                candidates.append((result["fit_validation_accuracy"], result["fit_test_accuracy"], 0.0,
                                   "scratch/keras_twin", os.path.join(models_dir, "scratch.keras"),
                                   result["parameters"]))
                continue
            summaries, records = [], {}
            for variant in variants(cfg, study):
                runs = []
                for k in range(cfg.seeds):
                    seed = cfg.seed + k
                    path = os.path.join(results_dir, study, f"{variant.slug}__seed{seed}.json")
                    cached = read_record(path)
                    if cached and cached.get("planned_epochs") == variant.epochs:
                        runs.append(cached)
                        continue
                    log_dir = os.path.join(run.logs, study, variant.slug, f"seed{seed}")
                    shutil.rmtree(log_dir, ignore_errors=True)  # an interrupted attempt's partial curves
                    model_path = os.path.join(models_dir, f"{study}__{variant.slug}.keras") if k == 0 else ""
                    record = train_variant(cfg, variant, data, seed, log_dir, model_path)
                    atomic_write_json(path, record)
                    runs.append(record)
                    say(f"{study}: {variant.name}, seed {seed}: test accuracy {record['test_accuracy']:.4f}, "
                        f"{record['epochs']} epochs in {record['seconds']:.1f} s"
                        + (" (diverged)" if record["diverged"] else ""))
                summary = summarize(variant, runs)
                summaries.append(summary)
                records[variant.name] = runs
                trained += runs
                if not summary["diverged"] and study != "regularization":  # few examples: not the task's model
                    candidates.append((summary["validation_accuracy"], summary["test_accuracy"],
                                       summary["test_accuracy_sd"], f"{study}/{variant.name}",
                                       os.path.join(models_dir, f"{study}__{variant.slug}.keras"),
                                       summary["parameters"]))
            tables.append(report.study_table(study, summaries))
            figures[study] = report.study_figure(study, summaries, records, cfg.dataset)
            test["studies"][study] = {"table": tables[-1], "variants": {s["variant"]: s for s in summaries}}

        pngs = {name: figure_to_png(fig) for name, fig in figures.items()}
        for name, png in pngs.items():
            write_png(os.path.join(run.plots, f"{name}.png"), png)
        rewind_logs(os.path.join(run.logs, "test"), None)  # once, even where a killed run had written them already
        log_images(run.logs, pngs, step=0, split="test")
        markdown = "\n\n".join(tables) + "\n"
        atomic_write_text(os.path.join(run.root, "tables.md"), markdown)
        log_texts(run.logs, {"tables": markdown}, step=0, split="test")

        best = max(candidates, default=None, key=lambda c: c[0])  # chosen on validation, reported on test
        parameters = 0
        if best is not None:
            _, test["accuracy"], test["accuracy_sd"], test["best_variant"], model_file, parameters = best
            save_model(load_model(model_file), run.model)
        elif "regularization" in test["studies"]:  # only the regularization study ran
            rows = test["studies"]["regularization"]["variants"].values()
            top = max(rows, key=lambda s: s["validation_accuracy"])
            test.update(accuracy=top["test_accuracy"], accuracy_sd=top["test_accuracy_sd"],
                        best_variant=f"regularization/{top['variant']}")
            slug = next(v.slug for v in variants(cfg, "regularization") if v.name == top["variant"])
            save_model(load_model(os.path.join(models_dir, f"regularization__{slug}.keras")), run.model)
            parameters = top["parameters"]
        say("\n" + markdown)
        seconds = sum(r["seconds"] for r in trained)
        examples = sum(r["train_examples"] * r["epochs"] for r in trained)
        return {"test": test, "baselines": self.baselines(cfg, data), "epochs": cfg.epochs, "parameters": parameters,
                "data": self.data_summary(data),
                "examples_per_second": round(examples / seconds, 1) if seconds else 0.0}

    def _scratch_study(self, cfg: FundamentalsConfig, data: Arrays, run, results_dir: str, models_dir: str,
                       say) -> dict:
        """The hand-written network against its Keras twin, and its gradients against finite differences."""
        path = os.path.join(results_dir, "scratch.json")
        cached = read_record(path)
        if cached and cached.get("planned_epochs") == cfg.epochs:
            return cached
        x, y = scratch.flatten_images(data.x["train"]), data.y["train"]
        order = np.random.default_rng(cfg.seed).permutation(len(y))  # one shuffle, the same batches for both
        x, y = x[order], y[order]
        sizes = (x.shape[1],) + (cfg.width,) * cfg.depth + (data.num_classes,)

        probe = scratch.DenseNetwork(sizes, cfg.activation, seed=cfg.seed, dtype="float64")
        check = scratch.gradient_check(probe, x[:64].astype(np.float64), y[:64], entries=cfg.gradient_checks,
                                       seed=cfg.seed)

        rewind_logs(os.path.join(run.logs, "scratch"), None)  # an interrupted attempt's partial curves
        net = scratch.DenseNetwork(sizes, cfg.activation, seed=cfg.seed)
        twin = scratch.keras_twin(net, data.image_shape)
        update, keras_optimizer = scratch.make_optimizer(cfg.scratch_optimizer, cfg.learning_rate)
        writer = tf.summary.create_file_writer(os.path.join(run.logs, "scratch", "from_scratch", "train"))

        def log_epoch(epoch, loss):
            with writer.as_default():
                tf.summary.scalar("epoch_loss", loss, step=epoch)

        start = time.perf_counter()
        try:
            scratch_loss = scratch.train_from_scratch(net, update, x, y, cfg.batch_size, cfg.epochs, on_epoch=log_epoch)
        except FloatingPointError as exc:
            raise TrainingDiverged(f"{exc}; lower learning_rate (now {cfg.learning_rate:g})") from None
        scratch_seconds = time.perf_counter() - start
        writer.close()
        start = time.perf_counter()
        images = data.x["train"][order]
        fit_loss = scratch.train_keras_twin(
            twin, keras_optimizer, images, y, cfg.batch_size, cfg.epochs,
            callbacks=[keras.callbacks.TensorBoard(os.path.join(run.logs, "scratch", "model_fit"), write_graph=False)])
        fit_seconds = time.perf_counter() - start
        x_test = scratch.flatten_images(data.x["test"])
        probabilities = twin.predict(data.x["test"], verbose=0)
        result = {
            "planned_epochs": cfg.epochs,
            "optimizer": cfg.scratch_optimizer, "learning_rate": cfg.learning_rate, "sizes": list(sizes),
            "activation": cfg.activation, "steps": cfg.epochs * -(-len(y) // cfg.batch_size),
            "parameters": int(twin.count_params()),
            "scratch_loss": scratch_loss, "fit_loss": fit_loss,
            "scratch_seconds": round(scratch_seconds, 3), "fit_seconds": round(fit_seconds, 3),
            "max_weight_difference": float(max(np.abs(a - b).max() for a, b in zip(net.get_weights(),
                                                                                     twin.get_weights()))),
            "scratch_test_accuracy": net.accuracy(x_test, data.y["test"]),
            "fit_test_accuracy": float(np.mean(probabilities.argmax(axis=1) == data.y["test"])),
            "fit_validation_accuracy": float(np.mean(
                twin.predict(data.x["validation"], verbose=0).argmax(axis=1) == data.y["validation"])),
            "gradient_entries": int(len(check["analytic"])),
            "gradient_max_relative_error": check["max_relative_error"],
            "gradient_max_abs_error": check["max_abs_error"],
            "gradient_analytic": check["analytic"].tolist(), "gradient_numeric": check["numeric"].tolist(),
        }
        served = keras.Sequential([twin, keras.layers.Softmax()], name="keras_twin_probabilities")
        save_model(served, os.path.join(models_dir, "scratch.keras"))
        atomic_write_json(path, result)
        say(f"scratch: loss {scratch_loss[-1]:.4f} (from scratch) vs {fit_loss[-1]:.4f} (model.fit), "
            f"max weight difference {result['max_weight_difference']:.2e}, gradient check max relative error "
            f"{check['max_relative_error']:.2e}")
        return result

    # --- evaluation and serving -------------------------------------------------------------
    def evaluate(self, model, cfg, data: Arrays, inputs) -> dict:
        if tuple(model.input_shape[1:]) != data.image_shape or model.output_shape[-1] != data.num_classes:
            raise UsageError(f"{data.name} has {data.num_classes} classes of {data.image_shape} images; the model "
                             f"takes {tuple(model.input_shape[1:])} and predicts {model.output_shape[-1]} classes")
        return classification_metrics(data.y["test"], model.predict(data.x["test"], verbose=0))

    def baselines(self, cfg: FundamentalsConfig, data: Arrays) -> dict:
        """Multinomial logistic regression (scikit-learn) on the same pixels scaled to [0, 1], same training data."""
        from sklearn.linear_model import LogisticRegression

        def fit_score(x, y) -> dict:
            clf = LogisticRegression(max_iter=2000).fit(scratch.flatten_images(x), y)
            predicted = clf.predict(scratch.flatten_images(data.x["test"]))
            return {"accuracy": float(np.mean(predicted == data.y["test"]))}

        result = {"logistic_regression": fit_score(data.x["train"], data.y["train"])}
        if "regularization" in cfg.studies():
            x, y = training_subset(data, cfg.reg_train_samples, cfg.seed)
            result[f"logistic_regression_{len(y)}_examples"] = fit_score(x, y)
        return result

    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported classifier returns `probabilities`, `label` (class index) and `class_name` (the run's class
        names, kept in the graph)."""
        return classifier_outputs(outputs, summary.get("class_names"))

    def predict(self, model, cfg, summary: dict, inputs: list[str]) -> list[dict]:
        return ImageClassification().predict(model, cfg, summary, inputs)
