import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.image_classification.model import build_augmentation
from apps.image_classification.vit import ClassTokenAndPositionEmbedding, build_vit
from conftest import read_json

# A ViT small enough for seconds-long runs on 8x8 digits (four 4x4 patches).
TINY_VIT = ["--set", "model=vit", "--set", "patch_size=4", "--set", "vit_dim=16", "--set", "vit_depth=1",
            "--set", "vit_heads=2", "--set", "vit_mlp_dim=32", "--set", "baseline_max_samples=300"]


def tiny_vit(input_shape=(28, 28, 1), **kwargs):
    options = dict(patch_size=7, dim=16, depth=2, heads=2, mlp_dim=32, dropout=0.1, pooling="gap")
    return build_vit(input_shape, 10, **{**options, **kwargs})


@pytest.mark.parametrize("pooling", ["gap", "cls"])
def test_build_vit_shapes(pooling):
    model = tiny_vit(pooling=pooling, augmentation=build_augmentation(0.05, 0.1, 0.1))
    assert model.output_shape == (None, 10)
    tokens = model.get_layer("position_embedding").output.shape
    assert tokens == (None, 16 + (pooling == "cls"), 16)  # 4x4 patches of 7x7, plus the class token
    out = model(np.full((3, 28, 28, 1), 255.0, np.float32))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out).sum(axis=1), 1.0, rtol=1e-5)


def test_position_embedding_layer_config_round_trips():
    layer = ClassTokenAndPositionEmbedding(9, class_token=True, name="pos")
    clone = ClassTokenAndPositionEmbedding.from_config(layer.get_config())
    assert (clone.num_tokens, clone.class_token, clone.name) == (9, True, "pos")
    assert clone(np.zeros((2, 9, 4), np.float32)).shape == (2, 10, 4)


@pytest.mark.parametrize("pooling", ["gap", "cls"])
def test_keras_file_round_trip_gives_identical_predictions(tmp_path, pooling):
    keras.utils.set_random_seed(0)
    model = tiny_vit(pooling=pooling)
    batch = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype(np.float32)
    expected = model.predict(batch, verbose=0)
    model.save(tmp_path / "vit.keras")
    loaded = keras.saving.load_model(tmp_path / "vit.keras")
    assert isinstance(loaded.get_layer("position_embedding"), ClassTokenAndPositionEmbedding)
    np.testing.assert_array_equal(loaded.predict(batch, verbose=0), expected)


def test_image_size_not_divisible_by_patch_size_is_an_error():
    with pytest.raises(ValueError, match="patch_size=5 does not divide the 28x28 images"):
        tiny_vit(patch_size=5)


def test_training_lowers_the_loss():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:256, :, :, None] * 16).astype(np.float32)
    y = digits.target[:256]
    keras.utils.set_random_seed(0)
    model = build_vit((8, 8, 1), 10, patch_size=2, dim=32, depth=1, heads=2, mlp_dim=64, dropout=0.0, pooling="gap")
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_config_and_search_space():
    import keras_tuner

    from dlsuite.registry import get_app
    from common.config import resolve_config
    from common.errors import UsageError
    from tuning.search import AppHyperModel

    task = get_app("image_classification")
    assert "vit" in task.spec.models
    with pytest.raises(UsageError, match="vit_dim=30 must be a multiple of vit_heads=4"):
        resolve_config(task.config_class, task.name, sets=["model=vit", "vit_dim=30"])
    cnn = resolve_config(task.config_class, task.name)
    assert not any(name.startswith("vit_") for name in task.search_space(keras_tuner.HyperParameters(), cnn))

    cfg = resolve_config(task.config_class, task.name, sets=["model=vit", "vit_dim=48", "vit_heads=3"])
    hypermodel = AppHyperModel(task, cfg, data=None, steps_per_epoch=1)
    assert hypermodel.config_for(keras_tuner.HyperParameters()) == cfg
    hp = keras_tuner.HyperParameters()
    space = task.search_space(hp, cfg)
    assert {"vit_dim", "vit_depth", "vit_heads", "vit_mlp_dim", "vit_pooling"} <= set(space)
    values = {p.name: p.values for p in hp.space if p.name in ("vit_dim", "vit_heads")}
    assert 48 in values["vit_dim"] and 3 in values["vit_heads"]
    assert all(dim % heads == 0 for dim in values["vit_dim"] for heads in values["vit_heads"])


@pytest.mark.slow
def test_train_and_export_end_to_end(cli, tmp_path):
    run = tmp_path / "run"
    # The class token path: its slice of the token sequence must survive the .keras file and the export too.
    code, out, err = cli("image_classification", "train", "--dataset", "digits", "--epochs", "1", "--quiet",
                         "--output-dir", run, *TINY_VIT, "--set", "vit_pooling=cls")
    assert code == 0, err
    assert "svc_rbf" in out
    metrics = read_json(run / "metrics.json")
    assert metrics["epochs"] == 1 and {"accuracy", "macro_f1", "loss"} <= set(metrics["test"])
    assert read_json(run / "config.json")["model"] == "vit" and metrics["train_seconds"] > 0

    # The SavedModel serves the same predictions as the .keras model.
    from common.datasets import load_images

    batch = np.stack([x.astype(np.float32) for x, _ in load_images("digits").test.take(16).as_numpy_iterator()])
    model = keras.saving.load_model(run / "model.keras")
    assert model.name == "vit"
    expected = model.predict(batch, verbose=0)
    code, out, err = cli("image_classification", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model"))
    result = served.signatures["serving_default"](tf.constant(batch))
    np.testing.assert_allclose(result["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)

    code, out, err = cli("image_classification", "train", "--dataset", "digits", "--epochs", "1", "--quiet",
                         "--output-dir", tmp_path / "bad", *TINY_VIT, "--set", "patch_size=3")
    assert code == 2 and "patch_size=3 does not divide the 8x8 images" in err
