"""GANs: a DCGAN or conditional GAN, measured on the features of a classifier the suite trains.

Training is one `fit()` call on the `GAN` model (its own `train_step`). Each epoch, `ValidationQuality`
adds the Fréchet distance of fixed-noise samples to the validation images (`val_fid`), which picks the
checkpoint that is kept, and `SampleGrid` writes a fixed-noise grid to TensorBoard and `plots/samples/`.
The test metrics are FID and KID against the test images, with the real train images' FID as the
floor (baseline `real_train_images`), and, for the conditional GAN, how often the classifier assigns
generated images to their requested class, plus an augmentation experiment: the image classifier on
k real images per class, with and without generated images added.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re

import keras
import numpy as np
import tensorflow as tf

from apps.gan.callbacks import SampleGrid, ValidationQuality, balanced_labels, grid_labels, sample_grid_figure
from apps.gan.config import GANConfig
from apps.gan.model import GAN, build_discriminator, build_generator
from apps.gan.quality import frechet_distance, kernel_inception_distance
from apps.gan.spec import SPEC
from apps.image_classification.config import ImageClassificationConfig
from apps.image_classification.task import ImageClassification
from common.config import resolve_config, runtime_settings
from common.datasets import ImageData, load_images, sample_shots, to_numpy
from common.errors import UsageError
from common.export import load_model
from common.hyperparameters import choice, float_range
from common.optimizers import build_optimizer
from common.pretrained import cached_run, cut_before_classifier, run_model_path
from common.runs import RunDir

CLASS_ACCURACY_TARGET = 0.90

@dataclasses.dataclass
class GANData(ImageData):
    """An image dataset and the model file of the classifier that measures samples of it."""

    classifier_model: str = ""


def classifier_config(cfg: GANConfig):
    """The image_classification config of the default feature classifier: its defaults, `cfg.classifier`,
    then this run's dataset, image size and channels."""
    overrides = {**cfg.classifier, "dataset": cfg.dataset, "image_size": cfg.image_size, "channels": cfg.channels,
                 **runtime_settings(cfg, ImageClassificationConfig)}
    return resolve_config(ImageClassificationConfig, "image_classification", overrides=overrides)


def classifier_run_dir(cfg: GANConfig) -> str:
    """`cfg.classifier_run`, or the default classifier's run, trained first if no finished run is cached.

    The cache is `<parent of the TFDS data dir>/backbones/image_classification-<dataset>-<hash of its config>`,
    the folder transfer_learning keeps its default backbone in, so the two share one mnist5k classifier.
    """
    if cfg.classifier_run:
        return cfg.classifier_run
    return cached_run(ImageClassification(), classifier_config(cfg), cfg.data_dir, "gan", "the feature classifier")


@functools.lru_cache(maxsize=4)
def load_classifier(path: str) -> tuple[keras.Model, keras.Model]:
    """(classifier, the same network cut before its last Dense layer) of a model file."""
    classifier = load_model(path)
    return classifier, cut_before_classifier(classifier)


class GANTask(ImageClassification):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    monitor = "val_fid"
    monitor_mode = "min"
    primary_metric = ("fid", "lower", ".2f")
    benchmark_rows = (("gan-mnist5k-dcgan", {"model": "dcgan"}),)

    # --- data -------------------------------------------------------------------------------
    def load_data(self, cfg: GANConfig) -> GANData:
        """The dataset and its feature classifier (trained and cached on first use); bad sizes fail here."""
        data = load_images(cfg.dataset, cfg.data_dir, image_size=cfg.image_size, channels=cfg.channels, seed=cfg.seed)
        self._check_shape(data.image_shape)
        run_dir = classifier_run_dir(cfg)
        keras.utils.set_random_seed(cfg.seed)  # training the classifier re-seeded the generators with its own seed
        path = run_model_path(run_dir, "classifier")
        classifier, _ = load_classifier(os.path.abspath(path))
        takes, classes = tuple(classifier.input_shape[1:]), classifier.output_shape[-1]
        if takes != tuple(data.image_shape) or classes != data.num_classes:
            raise UsageError(f"classifier_run {run_dir} takes {takes} images of {classes} classes; {cfg.dataset} has "
                             f"{data.num_classes} classes of {tuple(data.image_shape)} images")
        fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(ImageData)}
        return GANData(**fields, classifier_model=os.path.abspath(path))

    @staticmethod
    def _check_shape(image_shape):
        if image_shape[0] % 4 or image_shape[1] % 4:
            raise UsageError(f"the GAN upsamples twice by 2, so image sides must be multiples of 4, not "
                             f"{image_shape[0]}x{image_shape[1]}; set image_size (e.g. --set image_size=32)")

    def data_summary(self, data: GANData) -> dict:
        return {**super().data_summary(data), "classifier_model": data.classifier_model}

    # --- model ------------------------------------------------------------------------------
    def build_model(self, cfg: GANConfig, data: ImageData) -> GAN:
        num_classes = data.num_classes if cfg.model == "cgan" else 0
        generator = build_generator(cfg.latent_dim, data.image_shape, num_classes, width=cfg.width)
        discriminator = build_discriminator(data.image_shape, num_classes, width=cfg.width, dropout=cfg.dropout)
        return GAN(generator, discriminator, cfg.latent_dim, num_classes, seed=cfg.seed, ema_decay=cfg.ema_decay,
                   name="gan")

    @staticmethod
    def _optimizer(cfg: GANConfig, learning_rate: float, steps_per_epoch: int) -> keras.optimizers.Optimizer:
        optimizer = build_optimizer(dataclasses.replace(cfg, learning_rate=learning_rate), steps_per_epoch)
        if isinstance(optimizer, keras.optimizers.Adam):
            # The shared builder uses Adam's defaults; GANs train better with less momentum (DCGAN: beta_1 = 0.5).
            optimizer.beta_1, optimizer.beta_2 = cfg.beta_1, cfg.beta_2
        return optimizer

    def compile_model(self, model: GAN, cfg: GANConfig, steps_per_epoch: int, phase=None) -> None:
        model.compile(
            d_optimizer=self._optimizer(cfg, cfg.d_learning_rate or cfg.learning_rate, steps_per_epoch),
            g_optimizer=self._optimizer(cfg, cfg.learning_rate, steps_per_epoch),
            loss=cfg.loss, gp_weight=cfg.gp_weight, d_steps=cfg.num_d_steps, jit_compile=cfg.jit_compile,
        )

    def callbacks(self, cfg: GANConfig, data: GANData, run: RunDir) -> list:
        classifier, features = load_classifier(data.classifier_model)
        images, _ = to_numpy(data.validation)
        num_classes = data.num_classes if cfg.model == "cgan" else 0
        return [
            ValidationQuality(classifier, features, features.predict(images, verbose=0), num_classes,
                              samples=cfg.val_fid_samples, seed=cfg.seed),
            SampleGrid(run.logs, run.plots, num_classes, cfg.samples_per_class, data.class_names, seed=cfg.seed),
        ]

    # --- evaluation -------------------------------------------------------------------------
    def _check_model(self, model: GAN, data: ImageData) -> None:
        shape = tuple(model.generator.output_shape[1:])
        if shape != tuple(data.image_shape) or model.num_classes not in (0, data.num_classes):
            raise UsageError(f"{data.name} has {data.num_classes} classes of {tuple(data.image_shape)} images; the GAN "
                             f"generates {shape} images"
                             + (f" of {model.num_classes} classes" if model.num_classes else ""))

    def evaluate(self, model: GAN, cfg: GANConfig, data: GANData, inputs) -> dict:
        """FID and KID of `eval_samples` generated images against the test images; conditional: class accuracy
        (overall and per class) and the augmentation experiment."""
        self._check_model(model, data)
        classifier, features = load_classifier(data.classifier_model)
        labels = balanced_labels(model.num_classes, cfg.eval_samples)
        generated = np.asarray(model.generate(cfg.eval_samples, labels, seed=cfg.seed + 1))
        test_images, test_labels = to_numpy(data.test)
        generated_features = features.predict(generated, verbose=0)
        test_features = features.predict(test_images, verbose=0)
        metrics = {
            "fid": frechet_distance(generated_features, test_features),
            "kid": kernel_inception_distance(generated_features, test_features, seed=cfg.seed),
            "classifier_test_accuracy": float(np.mean(classifier.predict(test_images, verbose=0).argmax(-1)
                                                      == test_labels)),
        }
        if model.num_classes:
            correct = classifier.predict(generated, verbose=0).argmax(-1) == labels
            metrics["class_accuracy"] = float(np.mean(correct))
            metrics["class_accuracy_per_class"] = {
                name: float(np.mean(correct[labels == index])) for index, name in enumerate(data.class_names)}
            if cfg.augment_shots:
                metrics.update(self._augmentation(model, cfg, data, test_images, test_labels))
        return metrics

    def baselines(self, cfg: GANConfig, data: GANData) -> dict:
        """The floor: `eval_samples` real train images against the test images, on the same features."""
        _, features = load_classifier(data.classifier_model)
        train_images, _ = to_numpy(data.train.shuffle(100_000, seed=cfg.seed), cfg.eval_samples)
        test_images, _ = to_numpy(data.test)
        train_features = features.predict(train_images, verbose=0)
        test_features = features.predict(test_images, verbose=0)
        return {"real_train_images": {
            "fid": frechet_distance(train_features, test_features),
            "kid": kernel_inception_distance(train_features, test_features, seed=cfg.seed)}}

    def _augmentation(self, model: GAN, cfg: GANConfig, data: ImageData, test_images, test_labels) -> dict:
        """The image classifier (image_classification's default CNN) on `augment_shots` real images per class,
        alone and with `augment_generated` generated images per class added; test accuracy of each.

        The GAN itself was trained on the whole labelled train split, so this measures how much class
        information its samples carry, not a few-shot method.
        """
        real_images, real_labels = sample_shots(data.train, data.class_names, cfg.augment_shots, cfg.seed)
        generated_labels = np.repeat(np.arange(model.num_classes), cfg.augment_generated)
        generated = np.asarray(model.generate(len(generated_labels), generated_labels, seed=cfg.seed + 2))
        real = self._few_shot_accuracy(cfg, data, real_images, real_labels, test_images, test_labels)
        mixed = self._few_shot_accuracy(cfg, data, np.concatenate([real_images, generated]),
                                        np.concatenate([real_labels, generated_labels]), test_images, test_labels)
        return {"augment_real_accuracy": real, "augment_with_generated_accuracy": mixed, "augment_gain": mixed - real}

    def _few_shot_accuracy(self, cfg: GANConfig, data: ImageData, images, labels, test_images, test_labels) -> float:
        classifier_cfg = dataclasses.replace(classifier_config(cfg), seed=cfg.seed)
        keras.utils.set_random_seed(cfg.seed)  # the same initial weights for both training sets
        network = super().build_model(classifier_cfg, data)
        network.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                        metrics=["accuracy"])
        train = (tf.data.Dataset.from_tensor_slices((images.astype(np.float32), labels))
                 .shuffle(len(labels), seed=cfg.seed).repeat().batch(32))
        network.fit(train, steps_per_epoch=cfg.augment_steps, epochs=1, verbose=0)
        return float(np.mean(network.predict(test_images, verbose=0).argmax(-1) == test_labels))

    def figures(self, model: GAN, cfg: GANConfig, data: ImageData, inputs, split="test") -> dict:
        labels = grid_labels(model.num_classes, cfg.samples_per_class)
        count = len(labels) if model.num_classes else cfg.samples_per_class ** 2
        images = np.asarray(model.generate(count, labels, seed=cfg.seed))
        names = data.class_names if model.num_classes else None
        title = f"{data.name}: {cfg.model} samples"
        return {"samples": sample_grid_figure(images, cfg.samples_per_class, title, names)}

    # --- using a run ------------------------------------------------------------------------
    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported generator (noise, and for the conditional GAN labels, in) returns `images` in pixel range
        0..255."""
        return {"images": outputs}

    def predict(self, model, cfg, summary: dict, inputs: list[str]) -> list[dict]:
        raise UsageError("a GAN has nothing to predict; write images with: dlsuite gan generate --run DIR --count N "
                         "[--label CLASS]")

    def run_action(self, name: str, model: GAN, cfg: GANConfig, summary: dict, args) -> str:
        """`generate`: writes `--count` PNG files and says where."""
        if args.count < 1:
            raise UsageError(f"--count must be >= 1, got {args.count}")
        class_names = summary.get("class_names") or [str(i) for i in range(model.num_classes)]
        labels = None
        if model.num_classes:
            labels = balanced_labels(model.num_classes, args.count)
            if args.label is not None:
                labels = np.full(args.count, self._label_index(args.label, class_names))
        elif args.label is not None:
            raise UsageError("--label needs a conditional GAN; this run is an unconditional dcgan")
        images = np.asarray(model.generate(args.count, labels, seed=cfg.seed if args.seed is None else args.seed))
        out = args.out or os.path.join(summary["run_dir"], "generated")
        os.makedirs(out, exist_ok=True)
        for index, image in enumerate(images):
            suffix = f"_{class_names[labels[index]]}" if labels is not None else ""
            png = tf.io.encode_png(np.clip(np.round(image), 0, 255).astype(np.uint8)).numpy()
            with open(os.path.join(out, f"{index:04d}{re.sub(r'[^A-Za-z0-9_.-]+', '_', suffix)}.png"), "wb") as fh:
                fh.write(png)
        return f"wrote {args.count} images to {out}"

    @staticmethod
    def _label_index(label: str, class_names: list[str]) -> int:
        if label in class_names:
            return class_names.index(label)
        if label.isdigit() and int(label) < len(class_names):
            return int(label)
        raise UsageError(f"--label {label!r} is not a class of this run (classes: {', '.join(class_names)})")

    # --- benchmark and tuning ---------------------------------------------------------------
    def benchmark_target(self, metrics: dict):
        test = metrics["test"]
        if "class_accuracy" not in test:
            return None
        floor = (metrics.get("baselines") or {}).get("real_train_images", {}).get("fid")
        detail = f"class accuracy {test['class_accuracy']:.2%}, FID {test['fid']:.2f}"
        if floor is not None:
            detail += f" (real-image floor {floor:.2f})"
        return (f">= {CLASS_ACCURACY_TARGET:.0%} of conditional samples classified as their requested class",
                test["class_accuracy"] >= CLASS_ACCURACY_TARGET, detail)

    def benchmark_summary(self, results: list[dict]):
        return []

    def search_space(self, hp, cfg: GANConfig) -> dict:
        return {
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 5e-5, 1e-3, log=True),
            "width": choice(hp, "width", cfg.width, [16, 32, 64]),
            "latent_dim": choice(hp, "latent_dim", cfg.latent_dim, [32, 64, 128]),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.5),
        }
