"""Face detection: a 25x25 face/non-face CNN, run as a multi-scale sliding-window detector over whole photos.

Training windows are lfw_subset's training split (faces oversampled to balance the classes), plus
`negatives` fresh random windows of face-free scikit-image photos every epoch, plus `hard_negatives`
more: random windows at first, then, for the last `hard_negative_epochs` epochs, the windows of those
photos that the model trained so far scores most face-like (bootstrapping, as in Sung and Poggio's
and Viola and Jones' detectors). Without them, a classifier that is right on 40 held-out windows
still fires on thousands of the astronaut photo's windows. Test metrics: classifier accuracy on the
held-out lfw_subset test split (20 faces, 20 non-faces), and the detector's best box on the
astronaut photo against a box marked there by hand (`ASTRONAUT_FACE`). The detection threshold is
calibrated on validation photos (`FaceDetection.calibrate`); `real_world` scores the detector and
three pre-trained detectors (`baselines.py`) on real photos with faces marked by hand.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from apps.face_detection.config import FaceDetectionConfig
from apps.face_detection.data import (
    CLASS_NAMES,
    REAL_PHOTOS,
    LfwSubset,
    face_free_photos,
    held_out_windows,
    load_lfw_subset,
    random_windows,
    real_photo,
    to_grey,
    validation_face_photos,
    validation_photos,
)
from apps.face_detection.detector import (
    box_iou,
    build_face_classifier,
    build_fer_face_classifier,
    calibrate_threshold,
    detect_faces,
    match_scores,
    score_windows,
    select_faces,
    window_logits,
)
from apps.face_detection.spec import SPEC
from common.datasets import default_data_dir
from common.datasets.files import read_image
from common.errors import UsageError
from common.export import classifier_outputs
from common.hyperparameters import choice, float_range
from common.pipeline import make_pipeline
from common.task import Phase, Task

# The astronaut's face in skimage.data.astronaut() (512x512), marked by hand: x0, y0, x1, y1 from the
# hairline above the eyebrows to the chin and from cheek to cheek, as lfw_subset crops faces.
ASTRONAUT_FACE = REAL_PHOTOS["astronaut"][1][0]
# Photos `predict` accepts by name besides image files: scikit-image's data photos and Matplotlib's Grace Hopper.
PHOTO_NAMES = ("astronaut", "camera", "grace_hopper", "insightface_t1", "coffee", "chelsea", "rocket", "immunohistochemistry",
               "hubble_deep_field", "coins", "moon", "page", "text", "clock")


@dataclass
class DetectionData:
    """lfw_subset splits as (uint8 windows, labels), the face-free photos, the current hard negatives
    (float32 windows), the astronaut's detections and the calibrated threshold (`calibrate_threshold`)."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    photos: list[np.ndarray]
    hard_negatives: np.ndarray | None = None
    validation_negatives: np.ndarray | None = None
    astronaut: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    face_photos: list = field(default_factory=list)  # validation photos with faces: (grey, [boxes])


def mine_hard_negatives(model, photos: list[np.ndarray], count: int, min_face: int) -> np.ndarray:
    """The `count` windows of `photos` (all face-free) that `model` scores most face-like, an equal share per photo."""
    scorer = window_logits(model)
    share = -(-count // len(photos))
    hardest = []
    for photo in photos:
        # A coarser pyramid than detection's: mining needs hard windows, not every one of them.
        windows, scores, _ = score_windows(scorer, photo.astype(np.float32), min_face=min_face, scale_step=1.3)
        hardest.append(windows[np.argsort(-scores)[:share]])
    return np.concatenate(hardest)[:count]


def load_photo(source: str) -> tuple[str, np.ndarray]:
    """(name, uint8 (H, W, C) pixels) of an image file or a scikit-image photo name."""
    if source in PHOTO_NAMES and not os.path.exists(source):
        image = real_photo(source, os.path.join(default_data_dir(), "downloads"))
        return source, image if image.ndim == 3 else image[..., None]
    image = read_image(source)
    if image.shape[-1] == 2 or image.shape[-1] > 4:
        raise UsageError(f"{source} has {image.shape[-1]} channels; give a grey (1), RGB (3) or RGBA (4) image")
    return os.path.splitext(os.path.basename(source))[0], image[..., :3]


def draw_boxes(image: np.ndarray, detections: list[dict], marked=None):
    """A PIL image of `image` with the detected boxes (and, dashed-free in green, a hand-marked one)."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray(image if image.shape[-1] == 3 else image[..., 0]).convert("RGB")
    draw = ImageDraw.Draw(picture)
    width = max(2, picture.width // 200)
    if marked is not None:
        draw.rectangle(list(marked), outline=(0, 200, 0), width=width)
    for rank, det in enumerate(detections):
        draw.rectangle(det["box"], outline=(255, 0, 0) if rank == 0 else (255, 160, 0), width=width)
        draw.text((det["box"][0] + width, det["box"][1] + width), f"{det['score']:.2f}", fill=(255, 0, 0))
    return picture


class FaceDetection(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (LfwSubset,)
    # fer's pre-trained face CNN (frozen) under the window classifier, next to the default's CNN from scratch
    # (README; about 1 hour on 2 CPU cores).
    benchmark_rows = (("face_detection-lfw_subset-fer", {"backbone": "fer"}),)

    def load_data(self, cfg: FaceDetectionConfig) -> DetectionData:
        photos = face_free_photos()
        initial = random_windows(photos, cfg.hard_negatives, seed=cfg.seed + 100).batch(max(1, cfg.hard_negatives))
        hard = next(initial.as_numpy_iterator())[0] if cfg.hard_negatives else np.zeros((0, 25, 25, 1), np.float32)
        try:
            face_photos = validation_face_photos(os.path.join(cfg.data_dir or default_data_dir(), "downloads"))
        except UsageError as exc:  # no sdist and no PyPI: calibrate on the face-free photos alone
            print(f"face_detection: calibrating without validation photos of faces: {exc}", file=sys.stderr)
            face_photos = []
        return DetectionData(load_lfw_subset(cfg.data_dir or default_data_dir()), photos, hard,
                             held_out_windows(cfg.validation_negatives), face_photos=face_photos)

    def _training_windows(self, cfg, data: DetectionData) -> tuple[np.ndarray, np.ndarray]:
        """lfw_subset's training windows with the faces repeated to match the negatives in number."""
        images, labels = data.splits["train"]
        if cfg.max_train_samples:
            images, labels = images[: cfg.max_train_samples], labels[: cfg.max_train_samples]
        faces = labels == 1
        repeats = max(1, round((np.sum(~faces) + cfg.negatives + cfg.hard_negatives) / max(1, np.sum(faces))))
        images = np.concatenate([np.repeat(images[faces], repeats, axis=0), images[~faces]])
        labels = np.r_[np.ones(np.sum(faces) * repeats), np.zeros(np.sum(~faces))]
        return images.astype(np.float32), labels[:, None].astype(np.float32)

    def num_train_examples(self, cfg, data: DetectionData) -> int:
        return len(self._training_windows(cfg, data)[0]) + cfg.negatives + len(data.hard_negatives)

    def build_inputs(self, cfg, data: DetectionData) -> dict:
        windows = tf.data.Dataset.from_tensor_slices(self._training_windows(cfg, data))
        if cfg.negatives:
            windows = windows.concatenate(random_windows(data.photos, cfg.negatives, seed=cfg.seed))
        if len(data.hard_negatives):
            # A generator, so each epoch reads the hard negatives of the current phase.
            windows = windows.concatenate(tf.data.Dataset.from_generator(
                lambda: ((window, [0.0]) for window in data.hard_negatives),
                output_signature=(tf.TensorSpec((25, 25, 1), tf.float32), tf.TensorSpec((1,), tf.float32))))
        self._data = data  # for the hard-negative phase's `prepare`; see `phases`
        n_train = self.num_train_examples(cfg, data)
        windows = windows.apply(tf.data.experimental.assert_cardinality(n_train))  # the generator hides it

        def fixed(split):
            images, labels = data.splits[split]
            return tf.data.Dataset.from_tensor_slices((images.astype(np.float32), labels[:, None].astype(np.float32)))

        return {
            # No cache: the random negatives are drawn afresh each epoch.
            "train": make_pipeline(windows, cfg.batch_size, shuffle=True, seed=cfg.seed, cache=False,
                                   shuffle_buffer=n_train),
            "validation": make_pipeline(self._validation(cfg, data), cfg.batch_size),
            "test": make_pipeline(fixed("test"), cfg.batch_size),
        }

    def _validation(self, cfg, data: DetectionData) -> tf.data.Dataset:
        """lfw_subset's validation windows and `validation_negatives` windows of the three validation photos
        (never trained on), with weights that give faces and non-faces equal shares of the validation loss.

        Without the photo windows, the validation loss would judge 20 easy windows and pick the
        checkpoint of an early epoch, before any hard negatives.
        """
        images, labels = data.splits["validation"]
        images = np.concatenate([images.astype(np.float32), data.validation_negatives])
        labels = np.r_[labels, np.zeros(len(data.validation_negatives), np.int64)].astype(np.float32)
        faces = labels == 1
        weights = np.where(faces, len(labels) / (2.0 * faces.sum()), len(labels) / (2.0 * (~faces).sum()))
        return tf.data.Dataset.from_tensor_slices((images, labels[:, None], weights.astype(np.float32)))

    def data_summary(self, data: DetectionData) -> dict:
        return {"class_names": CLASS_NAMES, "window": [25, 25, 1],
                "sizes": {s: int(len(y)) for s, (_, y) in data.splits.items()},
                # Filled by `evaluate`, which `train` runs before it writes this summary.
                "astronaut": data.astronaut, "calibration": data.calibration}

    def build_model(self, cfg: FaceDetectionConfig, data: DetectionData):
        if cfg.backbone == "fer":
            return build_fer_face_classifier(dropout=cfg.dropout, flip=cfg.flip, translation=cfg.translation,
                                             zoom=cfg.zoom, rotation=cfg.rotation, seed=cfg.seed)
        return build_face_classifier(width=cfg.width, dropout=cfg.dropout, flip=cfg.flip,
                                     translation=cfg.translation, zoom=cfg.zoom, rotation=cfg.rotation,
                                     seed=cfg.seed)

    def phases(self, cfg: FaceDetectionConfig) -> list[Phase]:
        """Random negatives first, then `hard_negative_rounds` phases of `hard_negative_epochs` epochs, each with
        hard negatives mined by the model as it is when the phase starts (the mined phases take at most
        epochs - 1 epochs in all).

        `Task.phases` gets no data, so the mining phases reach it through the task (`build_inputs` runs
        first in `common.training.train`).
        """
        rounds = cfg.hard_negative_rounds if cfg.hard_negatives and cfg.hard_negative_epochs else 0
        per_round = min(cfg.hard_negative_epochs, (cfg.epochs - 1) // rounds) if rounds else 0
        if not per_round:
            return [Phase("train", cfg.epochs)]

        def mine(model):  # replaces the whole hard set, so a resumed run mines the same windows again
            self._data.hard_negatives = mine_hard_negatives(model, self._data.photos, cfg.hard_negatives, cfg.min_face)

        mined = [Phase(f"hard negatives {r + 1}", per_round, prepare=mine) for r in range(rounds)]
        return [Phase("random negatives", cfg.epochs - rounds * per_round), *mined]

    def build_losses(self, cfg):
        return "binary_crossentropy"

    def build_metrics(self, cfg):
        return ["accuracy"]

    def calibrate(self, model, cfg: FaceDetectionConfig, data: DetectionData) -> dict:
        """Chooses the detection threshold on validation material only (`calibrate_threshold`): every pyramid
        window of the three face-free validation photos (`validation_photos`) and of the four portraits of
        `validation_face_photos` (their faces marked), never trained on; where the portraits could not be
        read, the face-free photos and lfw_subset's validation faces with their mirror images. Kept in
        `data.calibration`."""
        scorer = window_logits(model)
        face_free = validation_photos()
        photos = [*face_free, *(grey for grey, _ in data.face_photos)]
        marked = [*([] for _ in face_free), *(boxes for _, boxes in data.face_photos)]
        photo_scores = [score_windows(scorer, photo, min_face=cfg.min_face, max_face=cfg.max_face,
                                      scale_step=cfg.scale_step)[1:] for photo in photos]
        images, labels = data.splits["validation"]
        faces = images[labels == 1].astype(np.float32)
        faces = np.concatenate([faces, faces[:, :, ::-1]])
        face_logits = np.asarray(scorer(faces, training=False)).ravel()
        data.calibration = calibrate_threshold(photo_scores, face_logits, marked=marked, iou=cfg.nms_iou,
                                               min_neighbors=cfg.min_neighbors, max_faces=cfg.max_faces,
                                               min_recall=cfg.calibration_recall)
        return data.calibration

    @staticmethod
    def threshold(cfg: FaceDetectionConfig, calibration: dict | None) -> float:
        """`cfg.threshold`, or where it is 0 the calibrated one (0.5 before any calibration)."""
        return cfg.threshold or (calibration or {}).get("threshold", 0.5)

    def detect(self, model, cfg: FaceDetectionConfig, image: np.ndarray, threshold: float) -> list[dict]:
        return detect_faces(model, to_grey(image), min_face=cfg.min_face, max_face=cfg.max_face,
                            scale_step=cfg.scale_step, threshold=threshold, iou=cfg.nms_iou,
                            min_neighbors=cfg.min_neighbors, max_faces=cfg.max_faces)

    def evaluate(self, model, cfg, data: DetectionData, inputs) -> dict:
        images, labels = data.splits["test"]
        probabilities = model.predict(images.astype(np.float32), verbose=0).ravel()
        threshold = self.threshold(cfg, self.calibrate(model, cfg, data))
        _, astronaut = load_photo("astronaut")
        _, logits, boxes = score_windows(window_logits(model), to_grey(astronaut), min_face=cfg.min_face,
                                         max_face=cfg.max_face, scale_step=cfg.scale_step)
        faces = select_faces(logits, boxes, threshold=threshold, iou=cfg.nms_iou, min_neighbors=cfg.min_neighbors,
                             max_faces=cfg.max_faces)
        best = faces[0] if faces else {"box": [0, 0, 0, 0], "score": 0.0}
        data.astronaut = {"marked_box": list(ASTRONAUT_FACE), "best_box": best["box"], "best_score": best["score"],
                          "boxes": [face["box"] for face in faces], "threshold": threshold,
                          "windows_above_threshold": int(np.sum(1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
                                                                >= threshold)),
                          "windows": int(len(logits))}
        return {
            "accuracy": float(np.mean((probabilities >= 0.5) == (labels == 1))),
            "loss": float(tf.reduce_mean(tf.keras.losses.binary_crossentropy(labels[:, None].astype(np.float32),
                                                                             probabilities[:, None]))),
            "astronaut_iou": box_iou(best["box"], ASTRONAUT_FACE),
            "astronaut_false_boxes": match_scores([[f["box"] for f in faces]], [[ASTRONAUT_FACE]])["false_boxes"],
        }

    def baselines(self, cfg: FaceDetectionConfig, data: DetectionData) -> dict:
        """HOG features + a linear SVM, trained on lfw_subset's training and validation windows."""
        from skimage.feature import hog
        from sklearn.svm import LinearSVC

        def features(images):
            return np.stack([hog(image[..., 0], orientations=9, pixels_per_cell=(5, 5), cells_per_block=(2, 2))
                             for image in images])

        x_train = np.concatenate([data.splits["train"][0], data.splits["validation"][0]])
        y_train = np.concatenate([data.splits["train"][1], data.splits["validation"][1]])
        svm = LinearSVC(C=0.1).fit(features(x_train), y_train)
        x_test, y_test = data.splits["test"]
        return {"hog_linear_svm": {"accuracy": float(np.mean(svm.predict(features(x_test)) == y_test))}}

    def real_world(self, model, cfg: FaceDetectionConfig, data: DetectionData) -> dict:
        """The detector on `REAL_PHOTOS` (the astronaut, the cameraman, Grace Hopper: one face each, marked
        by hand; InsightFace's poker table: six) at its threshold, next to MTCNN, OpenCV's Haar cascade and BlazeFace on the same photos
        (`apps.face_detection.baselines`, each at its own default settings): precision, recall and mean
        IoU, a detection matching a marked face at IoU >= 0.5."""
        from apps.face_detection.baselines import BASELINES

        threshold = self.threshold(cfg, data.calibration or self.calibrate(model, cfg, data))
        photos = {}
        for name in REAL_PHOTOS:
            try:
                photos[name] = real_photo(name, os.path.join(cfg.data_dir or default_data_dir(), "downloads"))
            except UsageError as exc:  # the insightface sdist cannot be fetched: score the others
                print(f"face_detection: real photo {name} skipped: {exc}", file=sys.stderr)
        marked = [list(REAL_PHOTOS[name][1]) for name in photos]

        def scores(detector) -> dict:
            found = [[face["box"] for face in detector(image)] for image in photos.values()]
            return {**match_scores(found, marked), "boxes": dict(zip(photos, found))}

        baselines = {name: scores(detector) for name, detector in BASELINES.items()} if cfg.real_world_baselines else {}
        return {"real_photos": {
            "source": "; ".join(f"{name}: {REAL_PHOTOS[name][0]}" for name in photos),
            "examples": len(photos),
            "model": {**scores(lambda image: self.detect(model, cfg, image, threshold)), "threshold": threshold},
            "baselines": baselines,
        }}

    def figures(self, model, cfg, data: DetectionData, inputs, split="test") -> dict:
        import matplotlib.pyplot as plt

        _, astronaut = load_photo("astronaut")
        detections = self.detect(model, cfg, astronaut, self.threshold(cfg, data.calibration))
        figure, axes = plt.subplots(figsize=(6, 6))
        axes.imshow(draw_boxes(astronaut, detections, ASTRONAUT_FACE))
        best = box_iou(detections[0]["box"], ASTRONAUT_FACE) if detections else 0.0
        axes.set_title(f"{len(detections)} boxes; best (red) IoU {best:.2f} with the marked face (green)")
        axes.axis("off")
        return {"astronaut_detections": figure}

    def predict(self, model, cfg: FaceDetectionConfig, summary: dict, inputs: list[str]) -> list[dict]:
        if not inputs:
            raise UsageError("predict needs images: image files or scikit-image photo names "
                             f"({', '.join(PHOTO_NAMES)}), e.g. dlsuite face_detection predict --run DIR astronaut")
        photos = [load_photo(source) for source in inputs]  # every input is checked before any work
        out_dir = cfg.predictions_dir or os.path.join(summary["run_dir"], "predictions")
        os.makedirs(out_dir, exist_ok=True)
        threshold = self.threshold(cfg, summary.get("calibration"))
        records = []
        for source, (name, image) in zip(inputs, photos):
            detections = self.detect(model, cfg, image, threshold)
            path = os.path.join(out_dir, f"{name}_faces.png")
            draw_boxes(image, detections).save(path)
            records.append({"input": source, "faces": detections, "image": path})
        return records

    def serving_outputs(self, cfg: FaceDetectionConfig, outputs, summary: dict):
        """The exported window classifier (25x25 grey windows in) returns `probabilities` (non_face, face),
        `label` (1 where the face probability reaches the threshold `predict` uses, the calibrated one by
        default) and `class_name`."""
        face = tf.reshape(tf.cast(outputs, tf.float32), [-1])
        label = tf.cast(face >= self.threshold(cfg, summary.get("calibration")), tf.int64)
        return classifier_outputs(tf.stack([1.0 - face, face], axis=-1), summary.get("class_names") or CLASS_NAMES,
                                  label=label)

    def benchmark_target(self, metrics: dict):
        test = metrics["test"]
        met = test["accuracy"] >= 0.9 and test["astronaut_iou"] >= 0.5 and not test.get("astronaut_false_boxes", 1)
        text = "accuracy >= 90% on held-out lfw_subset, one box on the astronaut's face (IoU >= 0.5) and no false box"
        detail = (f"accuracy {test['accuracy']:.2%}, astronaut IoU {test['astronaut_iou']:.2f}, "
                  f"{test.get('astronaut_false_boxes', '?')} false boxes")
        real = metrics.get("real_world", {}).get("real_photos")
        haar = (real or {}).get("baselines", {}).get("haar_cascade")
        if real and haar:
            ours = real["model"]
            met = met and ours["precision"] >= haar["precision"] and ours["recall"] >= haar["recall"]
            text += "; precision and recall on the real photos no worse than the Haar cascade"
            detail += (f"; real photos precision {ours['precision']:.2f} recall {ours['recall']:.2f} "
                       f"(Haar {haar['precision']:.2f} / {haar['recall']:.2f})")
        return text, met, detail

    def search_space(self, hp, cfg: FaceDetectionConfig) -> dict:
        return {
            "width": choice(hp, "width", cfg.width, [8, 16, 32]),
            "dropout": float_range(hp, "dropout", cfg.dropout, 0.0, 0.5),
            "learning_rate": float_range(hp, "learning_rate", cfg.learning_rate, 1e-4, 1e-2, log=True),
            "negatives": choice(hp, "negatives", cfg.negatives, [1000, 3000, 6000]),
        }
