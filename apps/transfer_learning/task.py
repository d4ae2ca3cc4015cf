"""Transfer learning: a pre-trained backbone adapted to a new task from k labelled images per class.

The run trains in two phases (`Task.phases`): a new head on the frozen backbone, then the top of
the backbone at a low learning rate with batch norm frozen. In the same run, the same network is
trained from scratch on the same k images for the same number of epochs (baseline `scratch`), so
every run reports what the pre-training is worth; an RBF SVC on the same images is the classical
baseline. Evaluation, figures and predictions are image classification's.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import accuracy_score, f1_score

from apps.image_classification.task import ImageClassification
from apps.transfer_learning import backbones
from apps.transfer_learning.config import TransferLearningConfig
from apps.transfer_learning.model import KeepBestWeights, build_transfer_model, freeze_backbone, unfreeze_top
from apps.transfer_learning.spec import SPEC
from common.datasets import ImageData, load_images, sample_shots, to_numpy
from common.errors import UsageError
from common.hyperparameters import choice, float_range, int_range
from common.pipeline import make_pipeline
from common.pretrained import run_model_path
from common.task import Phase
from common.training import steps_for

SHOTS = (1, 2, 5, 10, 20)
SEEDS = (0, 1, 2)
LEVEL_SHOTS = 20  # from here on (scratch has enough images) transfer need only not fall behind; below, beat scratch


@dataclasses.dataclass
class FewShotData(ImageData):
    """An image dataset whose train split is k images per class, and where its backbone comes from.

    Args:
        shots: images per class in `train`.
        seed: the seed they were drawn with.
        backbone_model: backbone=run: the model file of the backbone run ("" otherwise).
    """

    shots: int = 0
    seed: int = 0
    backbone_model: str = ""


class TransferLearning(ImageClassification):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    benchmark_rows = tuple(
        (f"transfer_learning-digits-k{k}-seed{seed}", {"shots": k, "seed": seed})
        for k in SHOTS for seed in SEEDS
        if (k, seed) != (TransferLearningConfig.shots, TransferLearningConfig.seed)  # the default row
    )

    # --- data -------------------------------------------------------------------------------
    def load_data(self, cfg: TransferLearningConfig) -> FewShotData:
        """The dataset with a k-shot train split; also resolves and checks the backbone, so a bad
        run, weights file or channel count fails before the run directory is written."""
        data = load_images(cfg.dataset, cfg.data_dir, channels=cfg.channels, seed=cfg.seed)
        images, labels = sample_shots(data.train, data.class_names, cfg.shots, cfg.seed)
        backbone_model = ""
        if cfg.backbone == "run":
            run_dir = cfg.backbone_run or backbones.pretrained_run_dir(cfg)
            keras.utils.set_random_seed(cfg.seed)  # pre-training re-seeded the generators with its own seed
            backbone_model = run_model_path(run_dir)
        few = FewShotData(
            name=data.name, train=tf.data.Dataset.from_tensor_slices((images, labels)), validation=data.validation,
            test=data.test, class_names=data.class_names, image_shape=data.image_shape,
            sizes={**data.sizes, "train": len(labels)}, shots=cfg.shots, seed=cfg.seed, backbone_model=backbone_model,
        )
        self._build(cfg, few)  # the checks; training builds the model again inside the strategy's scope
        return few

    def num_train_examples(self, cfg: TransferLearningConfig, data: FewShotData) -> int:
        """Examples per epoch: the k-shot images, repeated up to `epoch_examples`."""
        return self._repeats(cfg, data) * data.sizes["train"]

    @staticmethod
    def _repeats(cfg: TransferLearningConfig, data: FewShotData) -> int:
        return max(1, -(-cfg.epoch_examples // data.sizes["train"]))

    def build_inputs(self, cfg, data: FewShotData) -> dict:
        def cast(image, label):
            return tf.cast(image, tf.float32), label

        return {
            "train": make_pipeline(data.train.repeat(self._repeats(cfg, data)), cfg.batch_size, shuffle=True,
                                   seed=cfg.seed, shuffle_buffer=self.num_train_examples(cfg, data)),
            "validation": make_pipeline(data.validation.map(cast), cfg.batch_size),
            "test": make_pipeline(data.test.map(cast), cfg.batch_size),
        }

    def data_summary(self, data: FewShotData) -> dict:
        return {**super().data_summary(data), "shots": data.shots, "seed": data.seed,
                "backbone_model": data.backbone_model}

    # --- model ------------------------------------------------------------------------------
    def _build(self, cfg: TransferLearningConfig, data: FewShotData, pretrained: bool = True) -> keras.Model:
        backbone = backbones.build_backbone(cfg, data.backbone_model, pretrained)
        try:
            return build_transfer_model(
                data.image_shape, data.num_classes, backbone, margin=cfg.margin,
                preprocessing=backbones.preprocessing(cfg), head_units=cfg.head_units, head_dropout=cfg.head_dropout,
            )
        except ValueError as exc:
            raise UsageError(f"{data.name}: {exc}") from None

    def build_model(self, cfg: TransferLearningConfig, data: FewShotData) -> keras.Model:
        """The transfer model with its backbone frozen, as the first phase trains it."""
        model = self._build(cfg, data)
        freeze_backbone(model)
        return model

    def phases(self, cfg: TransferLearningConfig) -> list[Phase]:
        """`head_epochs` (at most `epochs`) on the head, then the rest of `epochs` fine-tuning the top."""
        head = min(cfg.head_epochs, cfg.epochs)
        return [
            Phase("head", head, cfg.learning_rate, freeze_backbone),
            Phase("fine-tune", cfg.epochs - head, cfg.finetune_learning_rate,
                  functools.partial(unfreeze_top, num_layers=cfg.finetune_layers)),
        ]

    # --- evaluation -------------------------------------------------------------------------
    def baselines(self, cfg: TransferLearningConfig, data: FewShotData) -> dict:
        """The same network trained from scratch on the same images and epochs (best validation
        epoch, as the transfer model), and an RBF SVC on their pixels."""
        from sklearn.svm import SVC

        x_train, y_train = to_numpy(data.train)
        x_test, y_test = to_numpy(data.test)
        svc = SVC(C=10, gamma="scale").fit(x_train.reshape(len(x_train), -1) / 255.0, y_train)
        results = {"svc_rbf": _scores(y_test, svc.predict(x_test.reshape(len(x_test), -1) / 255.0))}
        if cfg.scratch_baseline:
            results["scratch"] = self.train_from_scratch(cfg, data)
        return results

    def train_from_scratch(self, cfg: TransferLearningConfig, data: FewShotData) -> dict[str, float]:
        """Test scores of the transfer model's network, randomly initialised and trained end to end
        for `epochs` epochs at `scratch_learning_rate` on the same k-shot split."""
        keras.utils.set_random_seed(cfg.seed)  # its result depends on the seed only, not on the run before it
        inputs = self.build_inputs(cfg, data)
        model = self._build(cfg, data, pretrained=False)
        cfg = dataclasses.replace(cfg, learning_rate=cfg.scratch_learning_rate)
        self.compile_model(model, cfg, steps_for(self.num_train_examples(cfg, data), cfg.batch_size))
        model.fit(inputs["train"], validation_data=inputs["validation"], epochs=cfg.epochs,
                  callbacks=[KeepBestWeights(self.monitor)], shuffle=False, verbose=0)
        labels, probabilities = self._predictions(model, inputs, "test")
        return _scores(labels, probabilities.argmax(axis=1))

    # --- benchmark --------------------------------------------------------------------------
    def benchmark_target(self, metrics: dict) -> tuple[str, bool, str] | None:
        scratch = metrics["baselines"].get("scratch")
        if scratch is None:
            return None
        transfer, base, shots = metrics["test"]["accuracy"], scratch["accuracy"], metrics["data"]["shots"]
        detail = f"k={shots}: transfer {transfer:.2%} vs scratch {base:.2%} ({100 * (transfer - base):+.1f} points)"
        if shots >= LEVEL_SHOTS:  # as benchmark_summary: from k = 20 on, level is enough
            return "transfer not behind training from scratch", transfer >= base, detail
        return "transfer beats training from scratch", transfer > base, detail

    def benchmark_summary(self, results: list[dict]) -> list[tuple[str, bool, str]]:
        """Per k: mean ± std over seeds of transfer and scratch accuracy; transfer ahead of scratch below k = 20,
        not behind at k = 20."""
        by_shots: dict[int, list[tuple[float, float]]] = {}
        for result in results:
            metrics = result.get("metrics") or {}
            scratch = (metrics.get("baselines") or {}).get("scratch")
            if scratch and metrics.get("dataset") == "digits":
                by_shots.setdefault(metrics["data"]["shots"], []).append(
                    (metrics["test"]["accuracy"], scratch["accuracy"]))
        lines = []
        for shots in sorted(by_shots):
            pairs = by_shots[shots]
            transfer, scratch = [p[0] for p in pairs], [p[1] for p in pairs]
            gain = statistics.mean(transfer) - statistics.mean(scratch)
            detail = (f"transfer {_mean_std(transfer)} vs scratch {_mean_std(scratch)} over {len(pairs)} seed(s): "
                      f"{100 * gain:+.1f} points")
            if shots >= LEVEL_SHOTS:
                lines.append((f"digits, k={shots}: transfer not behind scratch (mean over seeds)", gain >= 0, detail))
            else:
                lines.append((f"digits, k={shots}: transfer beats scratch (mean over seeds)", gain > 0, detail))
        return lines

    # --- tuning -----------------------------------------------------------------------------
    def search_space(self, hp, cfg: TransferLearningConfig) -> dict:
        return {
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 1e-4, 1e-2, log=True),
            "finetune_learning_rate": float_range(hp, "finetune_learning_rate", cfg.finetune_learning_rate,
                                                  1e-5, 1e-3, log=True),
            "finetune_layers": int_range(hp, "finetune_layers", cfg.finetune_layers, 0, 5),
            "head_units": choice(hp, "head_units", cfg.head_units, [0, 64, 128]),
            "head_dropout": float_range(hp, "head_dropout", cfg.head_dropout, 0.0, 0.5),
        }


def _scores(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {"accuracy": float(accuracy_score(labels, predicted)),
            "macro_f1": float(f1_score(labels, predicted, average="macro"))}


def _mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * spread:.1f}%"
