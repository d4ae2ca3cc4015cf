"""Image classification: a configurable CNN or vision transformer against an SVC baseline on the same split."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from apps.image_classification.config import ImageClassificationConfig
from apps.image_classification.model import build_augmentation, build_cnn
from apps.image_classification.preset import build_preset_image_classifier
from apps.image_classification.spec import SPEC
from apps.image_classification.vit import build_vit
from common.datasets import ImageData, load_images, to_numpy
from common.datasets.embedded import Digits, Mnist5k
from common.datasets.files import check_image
from common.errors import UsageError
from common.export import classifier_outputs
from common.hyperparameters import choice, float_range, int_range
from common.metrics import classification_metrics
from common.monitoring import confusion_matrix_figure
from common.pipeline import split_pipelines
from common.task import Task


class ImageClassification(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (Mnist5k, Digits)
    benchmark_rows = (
        ("image_classification-digits", {"dataset": "digits"}),
        ("image_classification-mnist5k-vit", {"model": "vit"}),
    )

    def load_data(self, cfg: ImageClassificationConfig) -> ImageData:
        return load_images(cfg.dataset, cfg.data_dir, image_size=cfg.image_size, channels=cfg.channels, seed=cfg.seed)

    def num_train_examples(self, cfg, data: ImageData) -> int:
        n = data.sizes.get("train") or 0
        if not n:
            n = int(data.train.reduce(0, lambda count, _: count + 1))
            data.sizes["train"] = n
        return min(n, cfg.max_train_samples) if cfg.max_train_samples else n

    def build_inputs(self, cfg, data: ImageData) -> dict:
        def cast(image, label):
            return tf.cast(image, tf.float32), label

        return split_pipelines(data, cfg, cast, self.num_train_examples(cfg, data), max_shuffle_buffer=20_000)

    def data_summary(self, data: ImageData) -> dict:
        return {"class_names": data.class_names, "image_shape": list(data.image_shape), "sizes": data.sizes}

    def build_model(self, cfg: ImageClassificationConfig, data: ImageData):
        augmentation = build_augmentation(cfg.rotation, cfg.translation, cfg.zoom, seed=cfg.seed) if cfg.augment else None
        if getattr(cfg, "preset", ""):
            return build_preset_image_classifier(cfg.preset, data.image_shape, data.num_classes,
                                                 augmentation=augmentation)
        try:
            if cfg.model == "vit":
                return build_vit(
                    data.image_shape, data.num_classes, patch_size=cfg.patch_size, dim=cfg.vit_dim,
                    depth=cfg.vit_depth, heads=cfg.vit_heads, mlp_dim=cfg.vit_mlp_dim, dropout=cfg.vit_dropout,
                    pooling=cfg.vit_pooling, augmentation=augmentation,
                )
            return build_cnn(
                data.image_shape, data.num_classes, depth=cfg.depth, width=cfg.width, kernel_size=cfg.kernel_size,
                activation=cfg.activation, batch_norm=cfg.batch_norm, dropout=cfg.dropout,
                dense_units=cfg.dense_units, pooling=cfg.pooling, l1=cfg.l1, l2=cfg.l2, augmentation=augmentation,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def build_losses(self, cfg):
        return "sparse_categorical_crossentropy"

    def build_metrics(self, cfg):
        return ["accuracy"]

    def _predictions(self, model, inputs, split):
        probabilities = model.predict(inputs[split], verbose=0)
        labels = np.concatenate([y for _, y in inputs[split].as_numpy_iterator()])
        return labels, probabilities

    def evaluate(self, model, cfg, data: ImageData, inputs) -> dict:
        if tuple(model.input_shape[1:]) != tuple(data.image_shape) or model.output_shape[-1] != data.num_classes:
            raise UsageError(f"{data.name} has {data.num_classes} classes of {data.image_shape} images; the model takes "
                             f"{tuple(model.input_shape[1:])} and predicts {model.output_shape[-1]} classes")
        return classification_metrics(*self._predictions(model, inputs, "test"))

    def figures(self, model, cfg, data: ImageData, inputs, split="test") -> dict:
        labels, probabilities = self._predictions(model, inputs, split)
        matrix = confusion_matrix(labels, probabilities.argmax(axis=1), labels=range(data.num_classes))
        title = f"{data.name} {split}: accuracy {np.trace(matrix) / max(1, matrix.sum()):.4f}"
        return {"confusion_matrix": confusion_matrix_figure(matrix, data.class_names, title)}

    def baselines(self, cfg: ImageClassificationConfig, data: ImageData) -> dict:
        """An RBF SVC on raw pixels scaled to [0, 1], trained on train + validation (the same 80%)."""
        if not cfg.baseline_max_samples:
            return {}
        from sklearn.svm import SVC

        x_train, y_train = to_numpy(data.train.concatenate(data.validation), cfg.baseline_max_samples)
        x_test, y_test = to_numpy(data.test)
        svc = SVC(C=10, gamma="scale").fit(x_train.reshape(len(x_train), -1) / 255.0, y_train)
        predicted = svc.predict(x_test.reshape(len(x_test), -1) / 255.0)
        return {"svc_rbf": {"accuracy": float(accuracy_score(y_test, predicted)),
                            "macro_f1": float(f1_score(y_test, predicted, average="macro"))}}

    def predict(self, model, cfg, summary: dict, inputs: list[str]) -> list[dict]:
        if not inputs:
            raise UsageError("predict needs image files: dlsuite image_classification predict --run DIR IMAGE...")
        height, width, channels = model.input_shape[1:]
        class_names = summary.get("class_names") or [str(i) for i in range(model.output_shape[-1])]
        batch = []
        for path in inputs:
            check_image(path)
            image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
            if image.shape[-1] == 4 and channels == 3:
                image = image[..., :3]  # drop the alpha channel
            if image.shape[-1] != channels:
                raise UsageError(f"{path} has {image.shape[-1]} channel(s); the model expects {channels}")
            batch.append(tf.image.resize(tf.cast(image, tf.float32), (height, width)))
        probabilities = model.predict(tf.stack(batch), verbose=0)
        return [
            {"input": path, "label": class_names[int(p.argmax())], "probability": round(float(p.max()), 4)}
            for path, p in zip(inputs, probabilities)
        ]

    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported classifier returns `probabilities`, `label` (class index) and `class_name` (the run's class
        names, kept in the graph)."""
        return classifier_outputs(outputs, summary.get("class_names"))

    def benchmark_target(self, metrics: dict):
        acc = metrics["test"]["accuracy"]
        if metrics["dataset"] == "mnist5k" and metrics["config"]["model"] == "cnn":
            secs = metrics["train_seconds"]
            return (">= 98.0% test accuracy in < 5 min of training", acc >= 0.98 and secs < 300,
                    f"accuracy {acc:.2%} in {secs / 60:.1f} min")
        if metrics["dataset"] == "digits":
            return ">= 99.0% test accuracy", acc >= 0.99, f"accuracy {acc:.2%}"
        return None

    def benchmark_summary(self, results: list[dict]):
        """The vision transformer next to the CNN on mnist5k: accuracy, parameters, training time."""
        runs = {r["metrics"]["config"]["model"]: r["metrics"] for r in results
                if r["metrics"]["dataset"] == "mnist5k"}
        if not {"cnn", "vit"} <= runs.keys():
            return []
        cnn, vit = runs["cnn"], runs["vit"]
        detail = "; ".join(
            f"{name} {m['test']['accuracy']:.2%}, {m['parameters']:,} parameters, {m['train_seconds']:.0f} s"
            for name, m in (("CNN", cnn), ("ViT", vit)))
        return [("ViT vs CNN on mnist5k (comparison, no target)", None, detail)]

    def search_space(self, hp, cfg: ImageClassificationConfig) -> dict:
        space = {}
        if cfg.model == "cnn":
            space.update({
                "depth": int_range(hp, "depth", cfg.depth, 1, 3),
                "width": choice(hp, "width", cfg.width, [16, 32, 64]),
                "activation": choice(hp, "activation", cfg.activation, ["relu", "gelu", "tanh"]),
                "batch_norm": hp.Boolean("batch_norm", default=cfg.batch_norm),
            })
        dropout = "dropout" if cfg.model == "cnn" else "vit_dropout"
        space.update({
            dropout: float_range(hp, dropout, getattr(cfg, dropout), 0.0, 0.5),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 1e-4, 1e-2, log=True),
            "optimizer": choice(hp, "optimizer", cfg.optimizer, ["adam", "adamw", "rmsprop", "sgd"]),
        })
        if cfg.model == "vit":
            # patch_size stays as configured: the sizes that divide the images depend on the data, not the config.
            # Every width on offer is a multiple of every head count on offer, so each combination is valid.
            dims = sorted({d for d in (32, 64, 128) if d % cfg.vit_heads == 0} | {cfg.vit_dim})
            heads = sorted({h for h in (2, 4, 8) if all(d % h == 0 for d in dims)} | {cfg.vit_heads})
            space.update({
                "vit_dim": choice(hp, "vit_dim", cfg.vit_dim, dims),
                "vit_depth": int_range(hp, "vit_depth", cfg.vit_depth, 2, 6),
                "vit_heads": choice(hp, "vit_heads", cfg.vit_heads, heads),
                "vit_mlp_dim": choice(hp, "vit_mlp_dim", cfg.vit_mlp_dim, [64, 128, 256]),
                "vit_pooling": choice(hp, "vit_pooling", cfg.vit_pooling, ["gap", "cls"]),
            })
        return space
