"""Face data: scikit-image's `lfw_subset` as an embedded TFDS set, and face-free photo windows.

`lfw_subset` holds 200 real 25x25 grey images: 100 LFW faces and 100 non-face patches. The
builder writes them with a fixed stratified 70/10/20 split (seed 0), like the suite's other
embedded sets, so every run and machine sees the same 40 test images.
"""

from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from apps.face_detection.detector import WINDOW, pyramid_windows
from common.datasets import default_data_dir
from common.datasets.embedded import stratified_split_indices
from common.datasets.files import fetch_sdist
from common.errors import UsageError

CLASS_NAMES = ["non_face", "face"]
# scikit-image photos without a human face: windows cut from them are extra negatives.
FACE_FREE_PHOTOS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "brick", "grass",
                    "gravel", "coins", "moon", "page", "text", "clock", "horse", "cell", "colorwheel", "retina",
                    "checkerboard", "shepp_logan_phantom")

INSIGHTFACE_VERSION = "2.1"  # its sdist carries insightface/data/images/t1.jpg (its wheel does not install here)
FACE_RECOGNITION_VERSION = "1.3.0"  # its sdist carries tests/test_images/*.jpg

# Real photos of faces that install offline, each face marked by hand as x0, y0, x1, y1 (looking at the
# photo: from the hairline, or the cap's brim, to the chin and from cheek to cheek, as lfw_subset crops
# faces). Never trained on and never used to choose anything: they are the real-world test set.
REAL_PHOTOS = {
    # scikit-image's astronaut (Eileen Collins, NASA, 512x512 RGB): one face.
    "astronaut": ("scikit-image: skimage/data/astronaut.png", ((176, 78, 272, 186),)),
    # scikit-image's cameraman (512x512 grey): one face in three-quarter profile, looking right.
    "camera": ("scikit-image: skimage/data/camera.png", ((190, 122, 256, 198),)),
    # Matplotlib's sample Grace Hopper portrait (512x600 RGB): one face under a navy cap, glasses.
    "grace_hopper": ("matplotlib: mpl-data/sample_data/grace_hopper.jpg", ((168, 140, 362, 328),)),
    # InsightFace's test photo (1280x886 RGB, six people at a poker table, faces 95-110 pixels wide, one
    # turned aside), in the insightface sdist; the boxes are MTCNN's on it, checked by eye: all six on a face.
    "insightface_t1": (f"insightface {INSIGHTFACE_VERSION} sdist: insightface/data/images/t1.jpg",
                       ((54, 266, 164, 395), (269, 152, 365, 269), (466, 265, 569, 405), (743, 343, 842, 475),
                        (911, 62, 1012, 198), (1134, 272, 1227, 397))),
}

# Validation photos with faces, for the threshold calibration only (never trained on, never a test photo): the
# portraits in face_recognition's sdist (tests/test_images; the others there are crops or copies of these), one
# face each in a room (clothes, hands, flags, a chandelier). Boxes in the photo's own pixels, MTCNN's on it,
# checked by eye: hairline to chin, cheek to cheek. `validation_face_photos` shrinks each photo to
# `VALIDATION_FACE_SIDE` pixels on its longer side (faces then 73-144 pixels wide).
VALIDATION_FACE_PHOTOS = {
    "biden": (433, 170, 716, 559),  # 970x2204, standing, arms crossed
    "obama": (371, 83, 615, 425),  # 910x1137, smiling, arms crossed
    "obama2": (199, 218, 469, 632),  # 1200x626, at a microphone, flag behind
    "obama3": (642, 253, 907, 609),  # 2333x1434, under a chandelier
}
VALIDATION_FACE_SIDE = 640


class LfwSubset(tfds.core.GeneratorBasedBuilder):
    """scikit-image's `lfw_subset`: 100 faces and 100 non-faces, 25x25 grey; label 1 = face."""

    name = "lfw_subset"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    KIND = "faces"  # read by its own loader (`load_lfw_subset`), not the shared ones
    DESCRIPTION = "100 LFW faces and 100 non-face patches, 25x25 grey, as shipped by scikit-image (data.lfw_subset)."

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(WINDOW, WINDOW, 1)),
                "label": tfds.features.ClassLabel(names=CLASS_NAMES),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        from skimage.data import lfw_subset

        images = np.round(lfw_subset() * 255).astype(np.uint8)[..., None]
        labels = np.r_[np.ones(100, np.int64), np.zeros(100, np.int64)]  # images 0-99 are faces
        splits = stratified_split_indices(labels)
        return {name: self._generate_examples(images, labels, idx) for name, idx in splits.items()}

    def _generate_examples(self, images, labels, indices):
        for i in indices:
            yield int(i), {"image": images[i], "label": int(labels[i])}


def fetch_insightface_sdist(cache_dir: str) -> str:
    """The insightface sdist (`INSIGHTFACE_VERSION`), from `cache_dir` or fetched from PyPI into it with
    `pip download --no-binary :all:` (a package registry, reachable where the suite installs);
    `$DLSUITE_INSIGHTFACE_SDIST` names a local copy instead. Only its test photo is read."""
    return fetch_sdist(f"insightface=={INSIGHTFACE_VERSION}", f"insightface-{INSIGHTFACE_VERSION}.tar.gz", cache_dir,
                       "DLSUITE_INSIGHTFACE_SDIST")


def sdist_images(sdist: str, members: list[str]) -> list:
    """The RGB PIL images `members` of the sdist archive `sdist`, read in one opening; a `UsageError` where it
    lacks a readable one."""
    from PIL import Image

    images = []
    with tarfile.open(sdist) as archive:
        for member in members:
            try:
                images.append(Image.open(io.BytesIO(archive.extractfile(member).read())).convert("RGB"))
            except (KeyError, AttributeError, OSError):
                raise UsageError(f"{sdist} has no readable {member}") from None
    return images


def validation_face_photos(cache_dir: str = "") -> list[tuple[np.ndarray, list]]:
    """`VALIDATION_FACE_PHOTOS` as (grey float32 (H, W) at `VALIDATION_FACE_SIDE` pixels on the longer side,
    [its face box scaled alike]), read from the face_recognition sdist (`cache_dir`, default the suite's data
    dir's `downloads/`, or fetched from PyPI into it; `$DLSUITE_FACE_RECOGNITION_SDIST` names a local copy).
    A `UsageError` where the sdist can be neither found nor fetched, or lacks a photo."""
    from PIL import Image

    cache_dir = cache_dir or os.path.join(default_data_dir(), "downloads")
    sdist = fetch_sdist(f"face_recognition=={FACE_RECOGNITION_VERSION}",
                        f"face_recognition-{FACE_RECOGNITION_VERSION}.tar.gz", cache_dir,
                        "DLSUITE_FACE_RECOGNITION_SDIST")
    photos = []
    members = [f"face_recognition-{FACE_RECOGNITION_VERSION}/tests/test_images/{name}.jpg" for name in
               VALIDATION_FACE_PHOTOS]
    for image, box in zip(sdist_images(sdist, members), VALIDATION_FACE_PHOTOS.values()):
        scale = VALIDATION_FACE_SIDE / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        photos.append((to_grey(np.asarray(image)), [[round(c * scale, 1) for c in box]]))
    return photos


def real_photo(name: str, cache_dir: str = "") -> np.ndarray:
    """The uint8 (H, W, 3) or (H, W) pixels of one of `REAL_PHOTOS` or another scikit-image data photo;
    `cache_dir` keeps the insightface sdist (default: the suite's data dir, `downloads/`)."""
    from PIL import Image

    if name == "insightface_t1":
        sdist = fetch_insightface_sdist(cache_dir or os.path.join(default_data_dir(), "downloads"))
        return np.asarray(sdist_images(sdist, [f"insightface-{INSIGHTFACE_VERSION}/insightface/data/images/t1.jpg"])[0])
    if name == "grace_hopper":
        from matplotlib.cbook import get_sample_data

        with get_sample_data("grace_hopper.jpg") as file:
            return np.asarray(Image.open(file).convert("RGB"))
    import skimage.data

    return getattr(skimage.data, name)()


def load_lfw_subset(data_dir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (uint8 images (n, 25, 25, 1), labels (n,))}, prepared once into `data_dir`."""
    builder = LfwSubset(data_dir=data_dir)
    builder.download_and_prepare()
    splits = {}
    for split in ("train", "validation", "test"):
        examples = list(tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True)))
        splits[split] = (np.stack([x for x, _ in examples]), np.array([y for _, y in examples], np.int64))
    return splits


def to_grey(image: np.ndarray) -> np.ndarray:
    """float32 (H, W) grey levels in 0..255 of a (H, W), (H, W, 1) or (H, W, 3) image (uint8 or float in 0..1)."""
    scale = 255.0 if image.dtype.kind in "fb" else 1.0  # float and boolean images are in 0..1
    image = np.asarray(image, np.float32) * scale
    if image.ndim == 3 and image.shape[-1] == 3:
        image = image @ np.array([0.2989, 0.5870, 0.1140], np.float32)  # ITU-R 601, as tf.image.rgb_to_grayscale
    return image.reshape(image.shape[:2])


def face_free_photos() -> list[np.ndarray]:
    """The grey (H, W) uint8 photos of `FACE_FREE_PHOTOS`."""
    import skimage.data

    return [np.clip(np.round(to_grey(getattr(skimage.data, name)())), 0, 255).astype(np.uint8)
            for name in FACE_FREE_PHOTOS]


def validation_photos() -> list[np.ndarray]:
    """Three face-free photos never trained on, grey float32 (H, W): scikit-learn's two sample photos
    (china.jpg, flower.jpg) and the left view of scikit-image's stereo motorcycle (a cluttered garage)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    return [to_grey(photo) for photo in (*load_sample_images().images, skimage.data.stereo_motorcycle()[0])]


def held_out_windows(count: int, seed: int = 0) -> np.ndarray:
    """`count` windows of the `validation_photos` (no faces, never trained on), drawn from every level of a
    detector pyramid: float32 (count, 25, 25, 1)."""
    windows = np.concatenate([pyramid_windows(photo, min_face=WINDOW, scale_step=1.3)[0]
                              for photo in validation_photos()])
    return windows[np.sort(np.random.default_rng(seed).choice(len(windows), min(count, len(windows)), replace=False))]


def random_windows(photos: list[np.ndarray], count: int, seed: int = 0):
    """A `tf.data` set of `count` random square windows of `photos`, resized to 25x25x1 float32, label 0.

    Windows have sides from 25 pixels to the photo's shorter side, as the detector's image pyramid
    shows them at every scale. The draws are new on every pass over the set (every epoch), so the
    classifier meets `count` fresh negatives per epoch.
    """
    height = max(p.shape[0] for p in photos)
    width = max(p.shape[1] for p in photos)
    canvas = np.zeros((len(photos), height, width, 1), np.uint8)
    for k, photo in enumerate(photos):
        canvas[k, : photo.shape[0], : photo.shape[1], 0] = photo
    canvas = tf.constant(canvas)
    sizes = tf.constant([p.shape for p in photos], tf.float32)

    def window(index, pair):
        k = index % len(photos)
        h, w = sizes[k, 0], sizes[k, 1]
        side_u, top_u, left_u = tf.unstack(tf.random.stateless_uniform((3,), seed=pair))
        side = tf.cast(tf.exp(np.log(WINDOW) + side_u * (tf.math.log(tf.minimum(h, w)) - np.log(WINDOW))), tf.int32)
        top = tf.cast(top_u * tf.cast(tf.cast(h, tf.int32) - side + 1, tf.float32), tf.int32)
        left = tf.cast(left_u * tf.cast(tf.cast(w, tf.int32) - side + 1, tf.float32), tf.int32)
        crop = tf.image.crop_to_bounding_box(tf.cast(canvas[k], tf.float32), top, left, side, side)
        return tf.image.resize(crop, (WINDOW, WINDOW), antialias=True), tf.constant([0.0])

    # Seeds drawn anew on every pass (rerandomize_each_iteration), each turned into one window by stateless ops.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2).take(count)
    return tf.data.Dataset.zip(tf.data.Dataset.range(count), seeds).map(window, num_parallel_calls=tf.data.AUTOTUNE)

