"""Tabular prediction: an MLP on raw rows (Keras preprocessing inside the model), against logistic or
linear regression and histogram gradient boosting on the same split."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import classification_report, confusion_matrix, mean_absolute_error, mean_squared_error, r2_score

from apps.tabular.config import TabularConfig
from apps.tabular.data import Penguins, TableData, category_strings, load_table, numeric_values
from apps.tabular.model import (build_tabular_mlp, input_name, learn_preprocessing, model_inputs, quantile_bins,
                                start_wide_at_linear_fit)
from apps.tabular.spec import SPEC
from common.datasets.files import read_csv_frame
from common.errors import UsageError
from common.export import atomic_write_text, classifier_outputs
from common.hyperparameters import choice, float_range, int_range
from common.metrics import classification_metrics
from common.monitoring import confusion_matrix_figure
from common.optimizers import build_optimizer
from common.pipeline import make_pipeline
from common.task import Task

CLASSIFICATION_METRIC = ("accuracy", "higher", ".4f")
REGRESSION_METRIC = ("mae", "lower", ".1f")


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Mean absolute error, root mean squared error and R² (scikit-learn)."""
    return {"mae": float(mean_absolute_error(actual, predicted)),
            "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
            "r2": float(r2_score(actual, predicted))}


def budget_epochs(cfg: TabularConfig, steps_per_epoch: int) -> int:
    """`epochs`, or fewer where they would take more than `train_steps` optimizer steps.

    Example:
        >>> cfg = TabularConfig(epochs=60, train_steps=3000)
        >>> budget_epochs(cfg, 8), budget_epochs(cfg, 140)
        (60, 22)
    """
    if not cfg.train_steps:
        return cfg.epochs
    return max(1, min(cfg.epochs, math.ceil(cfg.train_steps / max(1, steps_per_epoch))))


class StopAtEpoch(keras.callbacks.Callback):
    """Ends training after `epochs` epochs (the step budget), before the config's `epochs`."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True


class Tabular(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (Penguins,)
    primary_metric = CLASSIFICATION_METRIC
    benchmark_rows = (("tabular-penguins-body_mass_g", {"target": "body_mass_g"}),)

    # --- data -------------------------------------------------------------------------------
    def load_data(self, cfg: TabularConfig) -> TableData:
        data = load_table(cfg.dataset, target=cfg.target, data_dir=cfg.data_dir, task=cfg.task_type,
                          categorical_columns=cfg.categorical_columns, drop_columns=cfg.drop_columns,
                          max_classes=cfg.max_classes, seed=cfg.seed)
        names = [input_name(c) for c in data.columns]
        if len(set(names)) != len(names):
            clashes = sorted({c for c, n in zip(data.columns, names) if names.count(n) > 1})
            raise UsageError(f"columns {', '.join(map(repr, clashes))} of {cfg.dataset} differ only in characters "
                             "other than letters, digits and _.-/; rename or drop one (drop_columns)")
        if cfg.max_train_samples:
            data.frames["train"] = data.frames["train"].iloc[: cfg.max_train_samples]
            data.targets["train"] = data.targets["train"][: cfg.max_train_samples]
        # Learned here, outside the strategy scope that `build_model` runs in, from training rows only.
        train = data.frames["train"]
        data.preprocessing = learn_preprocessing(train, data.numeric, data.categorical, cfg.max_categories)
        if data.task == "regression":
            y = data.targets["train"].astype(np.float64)
            data.preprocessing["target"] = [float(y.mean()), float(y.std()) or 1.0]
        # The served epoch (and early stopping, and the tuner's objective) follow the metric a regressor is
        # judged by, the MAE, whatever `regression_loss` it is trained with; a classifier's, the cross-entropy.
        self.monitor, self.monitor_mode = ("val_mae", "min") if data.task == "regression" else ("val_loss", "auto")
        return data

    def num_train_examples(self, cfg, data: TableData) -> int:
        return len(data.targets["train"])

    def _inputs(self, data: TableData, split: str) -> dict[str, np.ndarray]:
        return model_inputs(data.frames[split], data.numeric, data.categorical)

    def build_inputs(self, cfg, data: TableData) -> dict:
        def dataset(split):
            return tf.data.Dataset.from_tensor_slices((self._inputs(data, split), data.targets[split]))

        return {
            "train": make_pipeline(dataset("train"), cfg.batch_size, shuffle=True, seed=cfg.seed,
                                   shuffle_buffer=max(1, len(data.targets["train"]))),
            "validation": make_pipeline(dataset("validation"), cfg.batch_size),
            "test": make_pipeline(dataset("test"), cfg.batch_size),
        }

    def data_summary(self, data: TableData) -> dict:
        return {"task": data.task, "target": data.target, "class_names": data.class_names,
                "numeric": data.numeric, "categorical": data.categorical, "sizes": data.sizes,
                "rows_without_target": data.dropped}

    # --- model ------------------------------------------------------------------------------
    def build_model(self, cfg: TabularConfig, data: TableData):
        mean, std = data.preprocessing.get("target", (0.0, 1.0))
        # The quantile bins here rather than in `load_data`, so a tuner trial can choose their number.
        preprocessing = {**data.preprocessing,
                         "bins": quantile_bins(data.frames["train"], data.numeric, cfg.numeric_bins)}
        model = build_tabular_mlp(preprocessing, len(data.class_names), units=cfg.units, depth=cfg.depth,
                                  dropout=cfg.dropout, target_mean=mean, target_std=std, seed=cfg.seed,
                                  ensemble=cfg.ensemble, wide=cfg.wide)
        if cfg.wide and cfg.wide_init == "fit":
            start_wide_at_linear_fit(model, self._inputs(data, "train"), data.targets["train"],
                                     len(data.class_names), target_mean=mean, target_std=std,
                                     max_iter=cfg.baseline_max_iter)
        return model

    def compile_model(self, model, cfg, steps_per_epoch, phase=None):
        """Cross-entropy and accuracy for a classifier, `regression_loss` and MAE for a regressor: the task type is
        known from the data only, so it is read off the model's output width. The learning-rate schedule spans
        the epochs the step budget allows (`budget_epochs`)."""
        classification = model.output_shape[-1] > 1
        cfg = dataclasses.replace(cfg, epochs=budget_epochs(cfg, steps_per_epoch))
        model.compile(optimizer=build_optimizer(cfg, steps_per_epoch),
                      loss="sparse_categorical_crossentropy" if classification else cfg.regression_loss,
                      metrics=["accuracy"] if classification else ["mae"], jit_compile=cfg.jit_compile)

    def callbacks(self, cfg: TabularConfig, data: TableData, run) -> list:
        steps_per_epoch = max(1, math.ceil(len(data.targets["train"]) / cfg.batch_size))
        return [StopAtEpoch(budget_epochs(cfg, steps_per_epoch))]

    def primary_metric_of(self, metrics: dict) -> tuple[str, str, str]:
        return REGRESSION_METRIC if metrics.get("data", {}).get("task") == "regression" else CLASSIFICATION_METRIC

    # --- evaluation -------------------------------------------------------------------------
    def _check_model(self, model, data: TableData) -> None:
        expected = len(data.class_names) or 1
        if model.output_shape[-1] != expected:
            raise UsageError(f"{data.name} target {data.target!r} is {data.task} with {expected} output(s); "
                             f"the model has {model.output_shape[-1]}")
        missing = sorted({input_name(c) for c in data.columns} - {t.name.split(":")[0] for t in model.inputs})
        if missing:
            raise UsageError(f"the model has no input for column(s) {', '.join(missing)} of {data.name}")

    def _predict(self, model, data: TableData, split: str) -> np.ndarray:
        outputs = model.predict(self._inputs(data, split), batch_size=1024, verbose=0)
        return outputs if data.task == "classification" else outputs.reshape(-1)

    def _metrics(self, data: TableData, split: str, outputs: np.ndarray) -> dict:
        if data.task == "regression":
            return regression_metrics(data.targets[split], outputs)
        return classification_metrics(data.targets[split], outputs)

    def evaluate(self, model, cfg, data: TableData, inputs) -> dict:
        self._check_model(model, data)
        outputs = self._predict(model, data, "test")
        metrics = self._metrics(data, "test", outputs)
        if data.task == "classification":
            metrics["report"] = classification_report(
                data.targets["test"], outputs.argmax(axis=1), labels=range(len(data.class_names)),
                target_names=data.class_names, output_dict=True, zero_division=0)
        return metrics

    def baselines(self, cfg: TabularConfig, data: TableData) -> dict:
        """Logistic (classification) or linear (regression) regression on mean-imputed, standardised numbers with
        missing indicators and one-hot categories; and HistGradientBoosting with its native missing values and
        categories. Both fit on the training split only."""
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LinearRegression, LogisticRegression
        from sklearn.pipeline import make_pipeline as sk_pipeline
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

        numeric, categorical = data.numeric, data.categorical
        linear_features = ColumnTransformer([
            ("numeric", sk_pipeline(SimpleImputer(strategy="mean", add_indicator=True, keep_empty_features=True),
                                    StandardScaler()), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", max_categories=cfg.max_categories + 1), categorical),
        ])
        # Categories as ordinal codes, unseen ones as missing; HistGradientBoosting treats both natively.
        tree_features = ColumnTransformer([
            ("numeric", "passthrough", numeric),
            ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                           max_categories=min(cfg.max_categories + 1, 250)), categorical),
        ])
        is_categorical = [False] * len(numeric) + [True] * len(categorical)
        if data.task == "classification":
            logistic = LogisticRegression(max_iter=cfg.baseline_max_iter)
            models = {"logistic_regression": sk_pipeline(linear_features, logistic),
                      "hist_gradient_boosting": sk_pipeline(tree_features, HistGradientBoostingClassifier(
                          categorical_features=is_categorical, random_state=cfg.seed))}
        else:
            models = {"linear_regression": sk_pipeline(linear_features, LinearRegression()),
                      "hist_gradient_boosting": sk_pipeline(tree_features, HistGradientBoostingRegressor(
                          categorical_features=is_categorical, random_state=cfg.seed))}
        results = {}
        for name, model in models.items():
            model.fit(data.frames["train"], data.targets["train"])
            test = data.frames["test"]
            outputs = model.predict_proba(test) if data.task == "classification" else model.predict(test)
            results[name] = self._metrics(data, "test", outputs)
        return results

    def figures(self, model, cfg, data: TableData, inputs, split="test") -> dict:
        import matplotlib.pyplot as plt

        outputs = self._predict(model, data, split)
        actual = data.targets[split]
        if data.task == "classification":
            matrix = confusion_matrix(actual, outputs.argmax(axis=1), labels=range(len(data.class_names)))
            title = f"{data.name} {split}: {data.target} accuracy {np.trace(matrix) / max(1, matrix.sum()):.4f}"
            return {"confusion_matrix": confusion_matrix_figure(matrix, data.class_names, title)}
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(actual, outputs, s=12, alpha=0.7)
        low, high = float(min(actual.min(), outputs.min())), float(max(actual.max(), outputs.max()))
        ax.plot([low, high], [low, high], color="grey", ls="--", lw=1)
        ax.set_xlabel(f"true {data.target}")
        ax.set_ylabel(f"predicted {data.target}")
        ax.set_title(f"{data.name} {split}: MAE {regression_metrics(actual, outputs)['mae']:.4g}")
        return {"predicted_vs_true": fig}

    def _describe(self, data: TableData, outputs: np.ndarray) -> list[str]:
        if data.task == "regression":
            return [f"{value:.4g}" for value in outputs]
        return [f"{data.class_names[int(p.argmax())]} ({p.max():.3f})" for p in outputs]

    def text_examples(self, model, cfg: TabularConfig, data: TableData, split="test") -> dict:
        """The first `examples` rows of the split, missing cells shown empty, with the true and predicted target."""
        if not cfg.examples:
            return {}
        rows = data.frames[split].iloc[: cfg.examples]
        outputs = model.predict(model_inputs(rows, data.numeric, data.categorical), verbose=0)
        outputs = outputs if data.task == "classification" else outputs.reshape(-1)
        truth = data.targets[split][: cfg.examples]
        if data.task == "classification":
            truth = [data.class_names[int(t)] for t in truth]
        else:
            truth = [f"{t:.4g}" for t in truth]
        lines = ["| " + " | ".join([*data.columns, f"true {data.target}", "predicted"]) + " |",
                 "|" + "---|" * (len(data.columns) + 2)]
        for (_, row), true, predicted in zip(rows.iterrows(), truth, self._describe(data, outputs)):
            cells = ["" if pd.isna(v) else f"{v:g}" if isinstance(v, (float, np.floating)) else str(v) for v in row]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in [*cells, true, predicted]) + " |")
        return {"predictions": "\n".join(lines)}

    # --- serving ----------------------------------------------------------------------------
    def predict(self, model, cfg: TabularConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """Predictions for every row of the CSV files given; cells may be missing, the target column is ignored."""
        if not inputs:
            raise UsageError("predict needs a CSV of rows: dlsuite tabular predict --run DIR rows.csv")
        numeric, categorical = summary.get("numeric", []), summary.get("categorical", [])
        class_names = summary.get("class_names", [])
        target = summary.get("target", cfg.target)
        frames, records = [], []
        for path in inputs:
            frame = read_csv_frame(path)
            columns = [str(c) for c in frame.columns]
            known = set(numeric) | set(categorical) | {target} | set(cfg.drop_columns)
            unknown = [c for c in columns if c not in known]
            if unknown:
                raise UsageError(f"{path} has column(s) {', '.join(map(repr, unknown))} the model was not trained on "
                                 f"(its columns: {', '.join(numeric + categorical)})")
            absent = [c for c in numeric + categorical if c not in columns]
            if absent:
                raise UsageError(f"{path} lacks column(s) {', '.join(map(repr, absent))}; add them (empty cells "
                                 "are fine: they count as missing)")
            table = pd.DataFrame(index=frame.index)
            for c in numeric:
                table[c] = numeric_values(frame[c], c, path)
            for c in categorical:
                table[c] = category_strings(frame[c])
            outputs = model.predict(model_inputs(table, numeric, categorical), verbose=0)
            for i, p in enumerate(outputs):
                if class_names:
                    records.append({"file": path, "row": i + 1, "prediction": class_names[int(p.argmax())],
                                    "probability": round(float(p.max()), 4)})
                else:
                    records.append({"file": path, "row": i + 1, "prediction": round(float(p[0]), 4)})
            frames.append(frame.assign(**{f"predicted_{target}": [r["prediction"] for r in records[-len(frame):]]}))
        if cfg.predictions_csv:
            atomic_write_text(cfg.predictions_csv, pd.concat(frames, ignore_index=True).to_csv(index=False))
        return records

    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported model takes one input per feature column (`[n]` or `[n, 1]`; NaN or "" for a missing
        cell) and returns, for a classifier, `probabilities`, `label` (class index) and `class_name`; for a
        regressor `prediction` (`[n]`, in the target's units)."""
        if summary.get("class_names"):
            return classifier_outputs(outputs, summary["class_names"])
        return {"prediction": tf.reshape(outputs, [-1])}

    # --- tuning -----------------------------------------------------------------------------
    def search_space(self, hp, cfg: TabularConfig) -> dict:
        return {
            "units": choice(hp, "units", cfg.units, [32, 64, 128, 256]),
            "depth": int_range(hp, "depth", cfg.depth, 1, 3),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.4),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 3e-4, 1e-2, log=True),
            "numeric_bins": choice(hp, "numeric_bins", cfg.numeric_bins, [0, 4, 8, 16]),
        }
