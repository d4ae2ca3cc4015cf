"""Images of the style transfer application: named photos and textures from scikit-image and scikit-learn,
image files, resizing to the working size, random training crops, PNG output, and the colour-transfer baseline."""

from __future__ import annotations

import os

import numpy as np

from common.datasets.files import IMAGE_EXTENSIONS, check_image
from common.errors import UsageError

SKLEARN_IMAGES = ("china", "flower")  # sklearn.datasets.load_sample_images(): china.jpg, flower.jpg
# Photos the fast network trains on by default (dataset "photos"): none of them is a default test image.
TRAINING_PHOTOS = ("rocket", "china", "stereo_motorcycle", "camera", "clock", "coins", "flower",
                   "hubble_deep_field")


def named_image(name: str) -> np.ndarray:
    """A photo or texture shipped with scikit-image (`skimage.data.NAME`) or scikit-learn (china, flower) as
    uint8 RGB; raises UsageError for an unknown name."""
    if name in SKLEARN_IMAGES:
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(f"{name}.jpg"), np.uint8)
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if not callable(loader) or name.startswith("_") or name in ("download_all", "data_dir", "lbp_frontal_face"):
        raise UsageError(f"{name!r} is neither an image file nor a scikit-image/scikit-learn image name "
                         "(e.g. astronaut, chelsea, coffee, rocket, brick, flower, china)")
    try:
        image = loader()
    except Exception as exc:  # noqa: BLE001 - names that need a download (skin, lily, ...) or take arguments
        raise UsageError(f"scikit-image image {name!r} is not available offline ({type(exc).__name__})") from None
    if isinstance(image, tuple):  # stereo pairs: the left view
        image = image[0]
    return as_rgb(np.asarray(image), name)


def as_rgb(image: np.ndarray, name: str) -> np.ndarray:
    """uint8 (H, W, 3) from a grey, RGB or RGBA array of bools, integers or floats in 0..1."""
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype.kind == "f":
        image = np.clip(image * 255.0 if image.max() <= 1.0 else image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise UsageError(f"{name} is not a 2-D grey or colour image (shape {image.shape})")
    return np.asarray(image[..., :3], np.uint8)


def read_image(spec: str) -> np.ndarray:
    """uint8 RGB of an image file or a named scikit-image/scikit-learn image; UsageError for anything else."""
    if os.path.sep in spec or os.path.splitext(spec)[1] or os.path.exists(spec):
        if not os.path.exists(spec):
            raise UsageError(f"image not found: {spec}")
        if os.path.isdir(spec):
            raise UsageError(f"{spec} is a folder, not an image file")
        check_image(spec)
        from PIL import Image

        with Image.open(spec) as image:
            return as_rgb(np.asarray(image.convert("RGB")), spec)
    return named_image(spec)


def fit_size(image: np.ndarray, longer_side: int, multiple: int = 4) -> np.ndarray:
    """`image` resized so that its longer side is `longer_side`, both sides rounded down to a multiple of
    `multiple` (the fast network halves the resolution twice); float32 in 0..255."""
    import tensorflow as tf

    height, width = image.shape[:2]
    scale = longer_side / max(height, width)
    new = [max(0, int(round(side * scale)) // multiple * multiple) for side in (height, width)]
    if min(new) < 16:
        raise UsageError(f"image of {height}x{width} pixels at longer side {longer_side} would be {new[0]}x{new[1]}: "
                         "too small (at least 16 pixels a side); raise image_size")
    resized = tf.image.resize(tf.cast(image, tf.float32), new, antialias=True)
    return np.clip(resized.numpy(), 0.0, 255.0).astype(np.float32)


def load_image(spec: str, longer_side: int) -> np.ndarray:
    """float32 (H, W, 3) in 0..255 of a named image or file, at the working size."""
    return fit_size(read_image(spec), longer_side)


def training_images(spec: str, shorter_side: int) -> tuple[list[np.ndarray], list[str]]:
    """The fast network's content photos (dataset `photos` or a folder of image files), each resized so its
    shorter side is `shorter_side` (crops are cut from them), with their names."""
    if spec == "photos":
        names = list(TRAINING_PHOTOS)
        images = [named_image(name) for name in names]
    else:
        if not os.path.isdir(spec):
            raise UsageError(f"dataset {spec!r} is neither `photos` nor a folder of image files")
        names = sorted(f for f in os.listdir(spec) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not names:
            raise UsageError(f"{spec} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        images = [read_image(os.path.join(spec, name)) for name in names]
    resized = []
    for image in images:
        height, width = image.shape[:2]
        resized.append(fit_size(image, int(np.ceil(shorter_side * max(height, width) / min(height, width))), 1))
    return resized, names


def random_crops(images: list[np.ndarray], size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random `size` x `size` crops (randomly mirrored) from randomly chosen images: (count, size, size, 3)."""
    crops = np.empty((count, size, size, 3), np.float32)
    for i in range(count):
        image = images[rng.integers(len(images))]
        top = rng.integers(image.shape[0] - size + 1)
        left = rng.integers(image.shape[1] - size + 1)
        crop = image[top:top + size, left:left + size]
        crops[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return crops


def color_transfer(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """The classical baseline: each RGB channel of `content` shifted and scaled to the style image's mean and
    standard deviation (colour transfer after Reinhard et al. 2001, who do it in the lab colour space); float32
    in 0..255."""
    content = np.asarray(content, np.float64)
    style = np.asarray(style, np.float64)
    mean_c, std_c = content.mean(axis=(0, 1)), content.std(axis=(0, 1)) + 1e-6
    mean_s, std_s = style.mean(axis=(0, 1)), style.std(axis=(0, 1))
    return np.clip((content - mean_c) / std_c * std_s + mean_s, 0, 255).astype(np.float32)


def write_image(path: str, image) -> str:
    """Writes a float 0..255 (H, W, 3) image as PNG, atomically."""
    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".tmp-{os.getpid()}-{os.path.basename(path)}")
    Image.fromarray(np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
