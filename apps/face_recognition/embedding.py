"""The face embedding network and its metric-learning loss: triplets with online batch-hard mining.

Embeddings are L2-normalised, so the cosine similarity of two faces is the dot product of their
embeddings, and the Euclidean distance the loss works with is sqrt(2 - 2 cos).
"""

from __future__ import annotations

import keras
from keras import layers, ops


def _augment(x, seed: int):
    """Training-time flips, shifts and contrast changes of images in [0, 1] (identity at inference)."""
    x = layers.RandomFlip("horizontal", seed=seed)(x)
    x = layers.RandomTranslation(0.05, 0.05, fill_mode="reflect", seed=seed + 1)(x)
    return layers.RandomContrast(0.2, value_range=(0, 1), seed=seed + 2)(x)


def _embedding_head(features, embedding_dim: int, dropout: float):
    """Dropout, then the linear embedding layer, L2-normalised (float32 under mixed precision)."""
    x = layers.Dropout(dropout)(features) if dropout else features
    x = layers.Dense(embedding_dim, name="embedding")(x)
    return layers.UnitNormalization(dtype="float32", name="l2_normalise")(x)


def build_embedding_network(input_shape: tuple[int, int, int], *, embedding_dim: int = 64, width: int = 32,
                            depth: int = 3, dropout: float = 0.1, augment: bool = True, seed: int = 0) -> keras.Model:
    """A CNN that maps a face image (raw levels 0..255) to an L2-normalised embedding.

    Args:
        input_shape: (height, width, channels) of the face crops.
        embedding_dim: length of the embedding.
        width: filters of the first block; each further block doubles them.
        depth: convolution blocks, each two 3x3 convolutions with batch norm and a 2x2 max-pool.
        dropout: dropout rate before the embedding layer.
        augment: random flips, small shifts and contrast changes in training.
        seed: seed of the augmentation layers.

    Example:
        >>> model = build_embedding_network((64, 64, 3), embedding_dim=32, width=8)
        >>> model.output_shape
        (None, 32)
    """
    if input_shape[0] // 2**depth < 1 or input_shape[1] // 2**depth < 1:
        raise ValueError(f"depth={depth} pools {input_shape[0]}x{input_shape[1]} images below one pixel")
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if augment:
        x = _augment(x, seed)
    for block in range(depth):
        for conv in range(2):
            x = layers.Conv2D(width * 2**block, 3, padding="same", use_bias=False,
                              name=f"block{block + 1}_conv{conv + 1}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"block{block + 1}_bn{conv + 1}")(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(name=f"block{block + 1}_pool")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, _embedding_head(x, embedding_dim, dropout), name="face_embedding")


def build_fer_embedding_network(input_shape: tuple[int, int, int], *, embedding_dim: int = 64, dropout: float = 0.1,
                                augment: bool = True, seed: int = 0, trainable_blocks: int = 0) -> keras.Model:
    """`fer`'s mini-Xception, pre-trained on real faces (`common.fer`), under a new L2-normalised embedding
    layer: faces (raw levels 0..255, grey or colour, any size) are turned into the 64x64 grey faces in [-1, 1]
    it was trained on. The backbone is one nested model named "fer_backbone", frozen (inference-mode batch
    norm) but for its last `trainable_blocks` residual blocks (at most 3: on this CPU build of TensorFlow, 2.21
    with oneDNN, the first block's gradient crashes the process; see common/fer.py); the embedding layer on its
    flattened 4x4x128 features trains too.

    Example:
        >>> build_fer_embedding_network((64, 64, 3), embedding_dim=32).output_shape
        (None, 32)
    """
    from common.fer import fer_backbone, to_fer_input

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if augment:
        x = _augment(x, seed)
    x = fer_backbone(trainable_blocks)(to_fer_input(x, input_shape[-1]))
    x = layers.Flatten()(x)
    return keras.Model(inputs, _embedding_head(x, embedding_dim, dropout), name="face_embedding")


@keras.saving.register_keras_serializable(package="dlsuite")
class BatchHardTripletLoss(keras.losses.Loss):
    """Triplet loss with online batch-hard mining (Hermans, Beyer and Leibe, 2017).

    For each anchor in the batch it takes the farthest image of the same person and the closest
    image of another person, and asks the second to be at least `margin` farther away. Anchors
    without a positive or a negative in the batch add nothing. The labels are person ids; batches
    should hold several images of each person (`images_per_person`).

    Args:
        margin: required gap between the hardest negative and the hardest positive distance.

    Example:
        >>> import numpy as np
        >>> loss = BatchHardTripletLoss(margin=0.2)  # orthogonal embeddings: every pair equally far apart
        >>> round(float(loss(np.array([0, 0, 1, 1]), np.eye(4, 8, dtype="float32"))), 4)
        0.2
    """

    def __init__(self, margin: float = 0.2, name: str = "batch_hard_triplet", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        embeddings = ops.cast(y_pred, "float32")
        cosine = ops.matmul(embeddings, ops.transpose(embeddings))
        distance = ops.sqrt(ops.maximum(2.0 - 2.0 * cosine, 1e-12))
        same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
        positive = ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool")))
        hardest_positive = ops.max(ops.where(positive, distance, 0.0), axis=1)
        hardest_negative = ops.min(ops.where(same, 4.0, distance), axis=1)  # 4 > any distance of unit vectors
        valid = ops.logical_and(ops.any(positive, axis=1), ops.logical_not(ops.all(same, axis=1)))
        loss = ops.relu(hardest_positive - hardest_negative + self.margin)
        return ops.where(valid, loss, 0.0)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}

