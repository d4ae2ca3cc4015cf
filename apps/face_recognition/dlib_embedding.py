"""dlib's pre-trained ResNet face embedding: the face-verification baseline a user would pick instead.

dlib's `dlib_face_recognition_resnet_model_v1` maps an aligned 150x150 face chip to 128 values
(trained by Davis King on about 3 million faces; the `face_recognition` package's model). The
weights come in the `face_recognition_models` sdist (stated public domain / CC0), dlib itself in
the `dlib-bin` wheel; both install from PyPI, so the baseline runs offline.

Each image is aligned as the `face_recognition` package does for a known face location: dlib's
5-point landmark model is run on the whole image (the images here are face crops), and the face
chip is cut from those landmarks. The images are the ones the network sees (resized to
`image_size`), so both are judged on the same pixels. Similarities are cosine, with the threshold
chosen on the validation pairs, as for every representation in `verification`.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from common.errors import UsageError

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"
EMBEDDING_DIM = 128


def dlib_models_dir() -> str:
    """The `models/` folder of the installed `face_recognition_models` package, found without importing it
    (its `__init__` needs `pkg_resources`, which new setuptools no longer has)."""
    spec = importlib.util.find_spec("face_recognition_models")
    folder = os.path.join(spec.submodule_search_locations[0], "models") if spec else ""
    if not os.path.isfile(os.path.join(folder, RECOGNITION_MODEL)):
        raise UsageError("dlib's face embedding needs the face_recognition_models package: "
                         "pip install face_recognition_models dlib-bin")
    return folder


class DlibFaceEmbedding:
    """dlib's 128-d ResNet face descriptor of face crops.

    Example:
        >>> embedding = DlibFaceEmbedding()
        >>> embedding(faces).shape   # faces: uint8 (n, h, w, 1 or 3)
        (n, 128)
    """

    def __init__(self):
        try:
            import dlib
        except ImportError:
            raise UsageError("dlib's face embedding needs dlib: pip install dlib-bin") from None
        folder = dlib_models_dir()
        self._dlib = dlib
        self._landmarks = dlib.shape_predictor(os.path.join(folder, LANDMARK_MODEL))
        self._recognition = dlib.face_recognition_model_v1(os.path.join(folder, RECOGNITION_MODEL))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Descriptors (n, 128) float32 of uint8 face crops (n, h, w, channels)."""
        out = np.zeros((len(images), EMBEDDING_DIM), np.float32)
        for k, image in enumerate(images):
            rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
            rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
            whole = self._dlib.rectangle(0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1)
            out[k] = self._recognition.compute_face_descriptor(rgb, self._landmarks(rgb, whole))
        return out
