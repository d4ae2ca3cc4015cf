"""Vision transformer (ViT) builder for image classification."""

from __future__ import annotations

import keras
from keras import layers, ops

from common.layers import transformer_encoder


@keras.saving.register_keras_serializable(package="dlsuite")
class ClassTokenAndPositionEmbedding(keras.layers.Layer):
    """Optionally prepends a learned class token to a token sequence, then adds learned position embeddings.

    Input `(batch, num_tokens, dim)`; output `(batch, num_tokens + 1, dim)` with a class token, else the
    input's shape. The class token gets its own position embedding, as in the ViT paper.

    Args:
        num_tokens: length of the input sequence (the number of patches).
        class_token: whether to prepend the class token.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> layer = ClassTokenAndPositionEmbedding(49, class_token=True)
        >>> layer(keras.ops.zeros((2, 49, 16))).shape
        (2, 50, 16)
    """

    def __init__(self, num_tokens: int, class_token: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = num_tokens
        self.class_token = class_token

    def build(self, input_shape):
        dim = input_shape[-1]
        # Small random position embeddings (ViT / BERT initialisation); a zero class token, as in the paper.
        self.position_embedding = self.add_weight(
            shape=(self.num_tokens + int(self.class_token), dim), name="position_embedding",
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        if self.class_token:
            self.class_embedding = self.add_weight(shape=(1, 1, dim), name="class_embedding", initializer="zeros")

    def call(self, tokens):
        if self.class_token:
            batch = ops.shape(tokens)[0]
            cls = ops.broadcast_to(ops.cast(self.class_embedding, tokens.dtype), (batch, 1, ops.shape(tokens)[-1]))
            tokens = ops.concatenate([cls, tokens], axis=1)
        return tokens + ops.cast(self.position_embedding, tokens.dtype)[None]

    def compute_output_shape(self, input_shape):
        batch, length, dim = input_shape
        return (batch, None if length is None else length + int(self.class_token), dim)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "class_token": self.class_token}


def build_vit(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    patch_size: int = 4,
    dim: int = 64,
    depth: int = 4,
    heads: int = 4,
    mlp_dim: int = 128,
    dropout: float = 0.1,
    pooling: str = "gap",
    augmentation: keras.Layer | None = None,
) -> keras.Model:
    """A vision transformer: non-overlapping patches, `depth` pre-norm encoder blocks, a softmax head.

    Like `build_cnn`, the model takes raw pixel values (0..255) and returns class probabilities, with
    rescaling and augmentation as layers inside it.

    Args:
        input_shape: (height, width, channels); height and width must be multiples of `patch_size`.
        num_classes: number of output classes.
        patch_size: side of the square patches (the patch embedding's kernel and stride).
        dim: token width.
        depth: number of transformer encoder blocks.
        heads: attention heads per block; each attends over `dim // heads` features.
        mlp_dim: hidden units of each block's GELU MLP.
        dropout: rate after the embeddings, the attention output and each MLP layer.
        pooling: "cls" classifies from a prepended class token, "gap" from the mean of the patch tokens.
        augmentation: optional layer applied to the rescaled images (active in training only).

    Example:
        >>> model = build_vit((28, 28, 1), 10, patch_size=7, dim=16, depth=1, heads=2, mlp_dim=32, dropout=0.0)
        >>> model.output_shape
        (None, 10)
    """
    height, width = input_shape[0], input_shape[1]
    if height % patch_size or width % patch_size:
        raise ValueError(f"patch_size={patch_size} does not divide the {height}x{width} images; "
                         f"choose a divisor of both or set image_size")
    if pooling not in ("cls", "gap"):
        raise ValueError(f"pooling={pooling!r} is not one of: cls, gap")
    num_patches = (height // patch_size) * (width // patch_size)

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if augmentation is not None:
        x = augmentation(x)
    # A linear projection of each flattened patch is a convolution with kernel = stride = patch size.
    x = layers.Conv2D(dim, patch_size, strides=patch_size, name="patch_embedding")(x)
    x = layers.Reshape((num_patches, dim), name="patches")(x)
    x = ClassTokenAndPositionEmbedding(num_patches, class_token=pooling == "cls", name="position_embedding")(x)
    if dropout:
        x = layers.Dropout(dropout, name="embedding_dropout")(x)
    x = transformer_encoder(x, depth=depth, dim=dim, heads=heads, mlp_dim=mlp_dim, dropout=dropout, name="block")
    x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = x[:, 0] if pooling == "cls" else layers.GlobalAveragePooling1D(name="token_mean")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    # float32 output keeps the softmax and loss stable under mixed precision.
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="vit")
