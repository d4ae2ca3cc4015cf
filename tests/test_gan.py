"""GAN tests: model builds, `.keras` round trips, GAN steps that update both networks (BCE and WGAN-GP),
the quality measures, and the CLI end to end with its bad inputs."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from apps.gan.model import GAN, build_discriminator, build_generator
from apps.gan.quality import frechet_distance, kernel_inception_distance
from common.errors import UsageError
from conftest import read_json

TINY_SETS = ["width=4", "latent_dim=8", "batch_size=32", "eval_samples=60", "val_fid_samples=40",
             "samples_per_class=2", "augment_shots=2", "augment_generated=2", "augment_steps=3",
             "classifier={epochs: 1, depth: 1, width: 4, dense_units: 8, augment: false, min_steps: 0}"]
TINY_GAN = [arg for item in TINY_SETS for arg in ("--set", item)]


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dlsuite: error: "), err
    return lines[0]


def tiny_gan(num_classes=3, shape=(8, 8, 1), ema_decay=0.0) -> GAN:
    return GAN(build_generator(8, shape, num_classes, width=4), build_discriminator(shape, num_classes, width=4),
               latent_dim=8, num_classes=num_classes, seed=1, ema_decay=ema_decay)


def real_batches(num_classes=3, count=32, shape=(8, 8, 1)) -> tf.data.Dataset:
    """Real digits from scikit-learn in pixel range, as the suite's datasets give them."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < max(num_classes, 1)
    images = (digits.images[keep][:count, :, :, None] * 16.0).astype(np.float32)
    if shape[-1] == 3:
        images = np.repeat(images, 3, axis=-1)
    return tf.data.Dataset.from_tensor_slices((images, digits.target[keep][:count])).batch(16)


# --- models ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [0, 10])
def test_builders_give_image_shapes(num_classes):
    generator = build_generator(16, (28, 28, 1), num_classes, width=4)
    discriminator = build_discriminator((32, 32, 3), num_classes, width=4)
    assert generator.output_shape == (None, 28, 28, 1)
    assert discriminator.output_shape == (None, 1)
    assert len(generator.inputs) == len(discriminator.inputs) == (2 if num_classes else 1)
    with pytest.raises(ValueError, match="multiples of 4"):
        build_generator(16, (10, 10, 1))


@pytest.mark.parametrize("num_classes,ema_decay", [(0, 0.0), (3, 0.9)])
def test_keras_round_trip_keeps_generator(tmp_path, num_classes, ema_decay):
    gan = tiny_gan(num_classes, ema_decay=ema_decay)
    if ema_decay:  # an average that differs from the trained weights, so loading must restore both
        gan.ema_generator.set_weights([w * 0.5 for w in gan.generator.get_weights()])
    labels = [0, 1, 2, 0] if num_classes else None
    before = gan.generate(4, labels, seed=7).numpy()
    assert before.shape == (4, 8, 8, 1) and before.min() >= 0 and before.max() <= 255
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GAN) and loaded.num_classes == num_classes and loaded.ema_decay == ema_decay
    np.testing.assert_allclose(loaded.generate(4, labels, seed=7).numpy(), before, atol=1e-4)


# --- training -------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss,num_classes,ema_decay", [("bce", 3, 0.5), ("wgan_gp", 0, 0.0)])
def test_gan_steps_update_both_networks(loss, num_classes, ema_decay):
    keras.utils.set_random_seed(0)
    gan = tiny_gan(num_classes, ema_decay=ema_decay)
    gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5), loss=loss,
                d_steps=2 if loss == "wgan_gp" else 1)
    g_before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    history = gan.fit(real_batches(num_classes), validation_data=real_batches(num_classes), epochs=2, verbose=0)
    assert {"d_loss", "g_loss", "loss", "val_d_loss", "val_g_loss"} <= set(history.history)
    assert all(np.isfinite(v).all() for v in history.history.values())
    for before, network in ((g_before, gan.generator), (d_before, gan.discriminator)):
        weights = network.trainable_weights
        assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, weights))
    if ema_decay:  # the average moved towards the trained weights without reaching them
        averaged = gan.ema_generator.trainable_weights
        assert any(not np.allclose(b, w.numpy()) for b, w in zip(g_before, averaged))
        assert any(not np.allclose(a.numpy(), w.numpy()) for a, w in zip(averaged, gan.generator.trainable_weights))
    assert gan.d_optimizer.iterations.numpy() == 2 * gan.g_optimizer.iterations.numpy() if loss == "wgan_gp" \
        else gan.d_optimizer.iterations.numpy() == gan.g_optimizer.iterations.numpy() == 4


def test_discriminator_learns_to_tell_real_from_noise():
    """A few hundred steps against a frozen, untrained generator: the BCE discriminator loss goes down."""
    keras.utils.set_random_seed(0)
    gan = tiny_gan(0)
    gan.compile(keras.optimizers.Adam(2e-3), keras.optimizers.Adam(0.0), loss="bce")
    first = gan.fit(real_batches(0, 64), epochs=1, verbose=0).history["d_loss"][0]
    last = gan.fit(real_batches(0, 64), epochs=15, verbose=0).history["d_loss"][-1]
    assert last < first


# --- quality ----------------------------------------------------------------------------------------
def test_frechet_and_kernel_distances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 6)), rng.normal(size=(400, 6))
    assert abs(frechet_distance(a, b)) < 0.3 and abs(kernel_inception_distance(a, b)) < 0.02
    shifted = b + 2.0
    assert frechet_distance(a, shifted) == pytest.approx(4 * 6, rel=0.1)
    assert kernel_inception_distance(a, shifted) > 10 * abs(kernel_inception_distance(a, b))
    assert np.isfinite(frechet_distance(np.zeros((50, 3)), np.zeros((50, 3))))  # singular covariances


# --- command line ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_trains_generates_and_rejects_bad_input(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("gan", "train", "--dataset", "digits", "--epochs", "1", "--quiet", "--output-dir", run,
                         *TINY_GAN)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    test = metrics["test"]
    assert {"fid", "kid", "class_accuracy", "augment_gain", "classifier_test_accuracy"} <= set(test)
    assert 0 <= test["class_accuracy"] <= 1 and len(test["class_accuracy_per_class"]) == 10
    assert "fid" in metrics["baselines"]["real_train_images"]
    assert os.listdir(run / "plots" / "samples") == ["epoch_001.png"]
    assert os.listdir(run / "logs" / "validation") and "val_fid" in (run / "training_log.csv").read_text()

    code, out, err = cli("gan", "generate", "--run", run, "--count", "3", "--label", "7", "--out", tmp_path / "gen")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "gen")) == ["0000_7.png", "0001_7.png", "0002_7.png"]
    assert tf.io.decode_png(tf.io.read_file(str(tmp_path / "gen" / "0000_7.png"))).shape == (8, 8, 1)

    for args, message in ((["--label", "10"], "--label '10' is not a class of this run"),
                          (["--label", "seven"], "is not a class"),
                          (["--count", "0"], "--count must be >= 1")):
        code, out, err = cli("gan", "generate", "--run", run, *args)
        assert code == 2 and message in one_line(err)
    code, out, err = cli("gan", "predict", "--run", run)
    assert code == 2 and "gan generate" in one_line(err)


@pytest.mark.slow
def test_dcgan_rejects_labels_and_odd_sizes(cli, tmp_path):
    run = tmp_path / "dcgan"
    code, out, err = cli("gan", "train", "--dataset", "digits", "--epochs", "1", "--quiet", "--output-dir", run,
                         "--set", "model=dcgan", "--set", "loss=wgan_gp", "--set", "d_steps=2", *TINY_GAN)
    assert code == 0, err
    assert "class_accuracy" not in read_json(run / "metrics.json")["test"]
    code, out, err = cli("gan", "generate", "--run", run, "--count", "2", "--label", "1")
    assert code == 2 and "needs a conditional GAN" in one_line(err)
    code, out, err = cli("gan", "generate", "--run", run, "--count", "2")
    assert code == 0 and len(os.listdir(run / "generated")) == 2

    code, out, err = cli("gan", "train", "--dataset", "digits", "--quiet", "--output-dir", tmp_path / "odd",
                         "--set", "image_size=10", *TINY_GAN)
    assert code == 2 and "multiples of 4" in one_line(err)
    code, out, err = cli("gan", "train", "--quiet", "--output-dir", tmp_path / "bad", "--set", "loss=hinge")
    assert code == 2 and "loss='hinge' is not one of" in one_line(err)


@pytest.mark.slow
def test_tfds_name_under_mock_data(tmp_path):
    from apps.gan.task import GANTask
    from common.config import resolve_config

    task = GANTask()
    with tfds.testing.mock_data(num_examples=24):
        cfg = resolve_config(task.config_class, "gan", overrides={"dataset": "tfds:fashion_mnist"},
                             sets=[s for s in TINY_SETS if s.startswith("classifier")])
        data = task.load_data(cfg)
    assert data.image_shape == (28, 28, 1) and data.num_classes == 10 and os.path.isfile(data.classifier_model)
    with pytest.raises(UsageError, match="classifier_run .* takes"):
        task.load_data(resolve_config(task.config_class, "gan", overrides={"dataset": "digits"},
                                      sets=[f"classifier_run={os.path.dirname(data.classifier_model)}"]))
