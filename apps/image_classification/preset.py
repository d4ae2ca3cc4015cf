"""A KerasHub `ImageClassifier` preset as the suite's image classifier: raw images in, class probabilities out.

The preset's image converter (its resizing and pixel scaling) runs inside the model, so a saved `.keras`
file and an exported SavedModel take images as the dataset stores them (pixel values 0-255, the
dataset's own size and channels); `dlsuite image_classification export --format preset` writes the
fine-tuned task (backbone, new head, preprocessor) back as a preset folder.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="dlsuite")
class GreyToColour(layers.Layer):
    """Repeats a one-channel image into the three channels a colour backbone takes."""

    def call(self, images):
        return ops.repeat(images, 3, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


def build_preset_image_classifier(preset: str, image_shape: tuple[int, ...], num_classes: int, *,
                                  augmentation: keras.Model | None = None) -> keras.Model:
    """A KerasHub `ImageClassifier` from `preset` with a new `num_classes` head (its own head is kept when it
    has as many classes), on images of `image_shape`: augmentation (training only), grey to colour where
    the backbone takes three channels, the preset's image converter, backbone, softmax head.

    Args:
        preset: a local preset folder (`save_to_preset`), a built-in KerasHub name or a `kaggle://` / `hf://`
            handle (these need internet).
        image_shape: (height, width, channels) of the dataset's images, pixel values 0-255.
        num_classes: classes of the head.
        augmentation: random layers applied to the raw images in training.
    """
    from common.errors import UsageError
    from common.presets import load_task, preset_num_classes

    kwargs = {"activation": "softmax", "compile": False}  # the wrapping model is compiled instead
    if preset_num_classes(preset) != num_classes:
        kwargs["num_classes"] = num_classes  # a new head; KerasHub then loads the backbone weights only
    task = load_task("ImageClassifier", preset, app="image_classification", **kwargs)
    if task.preprocessor is None or getattr(task.preprocessor, "image_converter", None) is None:
        raise UsageError(f"preset {preset} has no image converter (preprocessor.json / image_converter.json), so "
                         f"its input size and pixel scaling are unknown; save the preset with its preprocessor")
    colour = task.backbone.input_shape[-1]
    if image_shape[-1] not in (1, colour):
        raise UsageError(f"the images have {image_shape[-1]} channel(s); the preset's backbone takes {colour} "
                         f"(--set channels={colour} converts them)")
    inputs = keras.Input(shape=image_shape, name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    if image_shape[-1] == 1 and colour == 3:
        x = GreyToColour(name="grey_to_colour")(x)
    x = task.preprocessor.image_converter(x)
    outputs = task(x)
    return keras.Model(inputs, outputs, name=f"image_preset_{task.backbone.name}")
