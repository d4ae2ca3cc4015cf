"""Face recognition tests. The folders here are made of lfw_subset faces, one face per "person" and its
flips and shifts as that person's other images: they test the mechanics, not face verification."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from apps.face_recognition.embedding import BatchHardTripletLoss, build_embedding_network
from apps.face_recognition.identities import load_identities, person_batches
from apps.face_recognition.verification import best_threshold, pair_similarities, verify
from common.errors import UsageError
from conftest import read_json, write_png

TINY_EMBEDDING = ["--batch-size", "16", "--set", "image_size=24", "--set", "width=4", "--set", "depth=2",
                  "--set", "embedding_dim=8"]


def make_people(root, people: int, images: int = 4, channels: int = 3) -> str:
    """`root/personNN/K.png`: each person is one lfw_subset face, flipped and shifted."""
    from skimage.data import lfw_subset

    faces = np.round(lfw_subset()[:100] * 255)
    for p in range(people):
        for k in range(images):
            face = np.roll(faces[p][:, ::-1] if k % 2 else faces[p], k // 2, axis=0)
            write_png(os.path.join(root, f"person{p:02d}", f"{k}.png"),
                      np.stack([face] * channels, axis=-1) if channels == 3 else face)
    return str(root)


@pytest.fixture
def people_folder(tmp_path):
    return make_people(tmp_path / "people", 12)


def test_embeddings_are_unit_vectors_and_round_trip(tmp_path):
    model = build_embedding_network((24, 24, 3), embedding_dim=8, width=4, depth=2)
    images = np.random.default_rng(0).uniform(0, 255, (5, 24, 24, 3)).astype(np.float32)
    embeddings = model.predict(images, verbose=0)
    assert embeddings.shape == (5, 8)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "embedding.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "embedding.keras").predict(images, verbose=0),
                               embeddings, atol=1e-6)


def test_dlib_embedding_of_face_crops():
    """dlib's pre-trained descriptor: 128 values a face, a flipped and shifted copy of a face nearer to it
    than the other faces are (lfw_subset crops, 25 px, upsampled as the app's images are)."""
    from skimage.data import lfw_subset

    from apps.face_recognition.dlib_embedding import DlibFaceEmbedding

    faces = np.round(lfw_subset()[:6] * 255).astype(np.uint8)
    faces = tf.image.resize(faces[..., None], (64, 64)).numpy().round().astype(np.uint8)
    copy = np.roll(faces[0][:, ::-1], 2, axis=0)[None]
    descriptors = DlibFaceEmbedding()(np.concatenate([faces, copy]))
    assert descriptors.shape == (7, 128) and np.all(np.isfinite(descriptors))
    distances = np.linalg.norm(descriptors[:6] - descriptors[6], axis=1)
    assert distances.argmin() == 0


def test_depth_too_large_for_image_is_an_error():
    with pytest.raises(ValueError, match="below one pixel"):
        build_embedding_network((8, 8, 3), depth=4)


def test_batch_hard_triplet_loss_values():
    loss = BatchHardTripletLoss(margin=0.2)
    labels = np.array([0, 0, 1, 1])
    apart = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)  # positives at 0, negatives at sqrt(2)
    assert float(loss(labels, apart)) == pytest.approx(0.0)
    mixed = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32)  # positives at sqrt(2), negatives at 0
    assert float(loss(labels, mixed)) == pytest.approx(np.sqrt(2) + 0.2, rel=1e-4)
    # An anchor without a positive in the batch adds nothing (the mean still counts it).
    assert float(loss(np.array([0, 1]), np.array([[1, 0], [1, 0]], np.float32))) == pytest.approx(0.0)
    again = BatchHardTripletLoss.from_config(loss.get_config())
    assert again.margin == 0.2


def test_threshold_and_metrics():
    same = np.array([1, 1, 1, 0, 0, 0], bool)
    similarities = np.array([0.9, 0.8, 0.4, 0.5, 0.1, 0.0])
    threshold = best_threshold(similarities, same)
    assert 0.5 < threshold <= 0.8 or 0.1 < threshold < 0.4
    features = np.array([[1, 0], [2, 0], [0, 1]], np.float32)
    pairs = np.array([[0, 1, 1], [0, 2, 0]])
    np.testing.assert_allclose(pair_similarities(features, pairs), [1.0, 0.0], atol=1e-6)
    assert verify(features, pairs, features, pairs) == {"accuracy": 1.0, "roc_auc": 1.0, "threshold": pytest.approx(0.5)}


def test_folder_splits_people_and_balances_pairs(people_folder):
    data = load_identities(people_folder, image_size=24, max_pairs=40, seed=0)
    assert data.images.shape == (48, 24, 24, 3)
    parts = [set(data.split_people[s]) for s in ("train", "validation", "test")]
    assert sum(map(len, parts)) == 12 and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    for split in ("validation", "test"):
        pairs = data.pairs[split]
        assert pairs[:, 2].sum() * 2 == len(pairs) > 0
        assert set(data.labels[pairs[:, :2].ravel()]) <= set(data.split_people[split])
        same = data.labels[pairs[:, 0]] == data.labels[pairs[:, 1]]
        np.testing.assert_array_equal(same, pairs[:, 2] == 1)


def test_person_batches_hold_several_images_per_person(people_folder):
    data = load_identities(people_folder, image_size=24, seed=0)
    dataset, steps = person_batches(data, "train", 8, 4, shuffle=True, seed=0)
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == steps >= 1
    for images, labels in batches:
        assert images.shape == (8, 24, 24, 3)
        assert all(np.sum(labels == p) >= 2 for p in labels)
        assert set(labels) <= set(data.split_people["train"])


def test_bad_folders(tmp_path):
    with pytest.raises(UsageError, match="one person only"):
        load_identities(make_people(tmp_path / "one", 1))
    with pytest.raises(UsageError, match="3 people with at least 2 images; need at least 6"):
        load_identities(make_people(tmp_path / "three", 3))
    with pytest.raises(UsageError, match="not found|neither"):
        load_identities(str(tmp_path / "missing"))
    folder = make_people(tmp_path / "corrupt", 6)
    with open(os.path.join(folder, "person00", "broken.jpg"), "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(UsageError, match="cannot read image .*broken.jpg"):
        load_identities(folder)


def test_training_lowers_the_loss(people_folder):
    data = load_identities(people_folder, image_size=24, seed=0)
    train, _ = person_batches(data, "train", 16, 4, shuffle=True, seed=0)
    keras.utils.set_random_seed(0)
    model = build_embedding_network((24, 24, 3), embedding_dim=8, width=8, depth=2, dropout=0.0, augment=False)
    model.compile(keras.optimizers.Adam(3e-3), BatchHardTripletLoss(margin=0.5))
    history = model.fit(train.repeat(4), epochs=6, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


def lfw_like(builder, split=None, **kwargs):
    """Mock `tfds:lfw` examples: lfw_subset faces of 10 "people", 4 images each, as 250x250 RGB."""
    from skimage.data import lfw_subset

    faces = np.round(lfw_subset()[:10] * 255).astype(np.uint8)
    images = [tf.image.resize(np.repeat(faces[i // 4][..., None], 3, -1), (250, 250)).numpy().astype(np.uint8)
              for i in range(40)]
    names = [f"Person_{i // 4}" for i in range(40)]
    return tf.data.Dataset.from_tensor_slices({"image": np.stack(images), "label": names})


def test_embedded_set_classes_are_identities():
    """The offline default's mechanics, on `digits` (same loader as mnist5k, smaller): classes as people."""
    data = load_identities("digits", seed=0)
    assert data.images.shape == (1797, 8, 8, 1) and data.images.dtype == np.uint8
    assert len(data.people) == 10 and {len(p) for p in data.split_people.values()} == {6, 2}
    assert set(data.labels[data.pairs["test"][:, :2].ravel()]) == set(data.split_people["test"])
    resized = load_identities("digits", image_size=16, channels=3, seed=0)
    assert resized.images.shape == (1797, 16, 16, 3)
    with pytest.raises(UsageError, match="is a series dataset"):
        load_identities("sunspots")
    with pytest.raises(UsageError, match="neither tfds:NAME"):
        load_identities("no_such_set")


def test_tfds_lfw_under_mock_data(cli, tmp_path):
    with tfds.testing.mock_data(as_dataset_fn=lfw_like):
        data = load_identities("tfds:lfw", image_size=24, seed=0)
        assert data.images.shape == (40, 24, 24, 3) and len(data.people) == 10
        code, out, err = cli("face_recognition", "train", "--dataset", "tfds:lfw", "--epochs", "1", "--quiet",
                             "--output-dir", tmp_path / "run", *TINY_EMBEDDING)
    assert code == 0, err
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert metrics["dataset"] == "tfds:lfw" and metrics["data"]["people"] == {"train": 6, "validation": 2, "test": 2}


def test_end_to_end_cli_and_bad_inputs(cli, tmp_path, people_folder):
    run = tmp_path / "run"
    code, out, err = cli("face_recognition", "train", "--dataset", people_folder, "--epochs", "2", "--quiet",
                         "--output-dir", run, *TINY_EMBEDDING)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert {"accuracy", "roc_auc", "threshold"} <= set(metrics["test"])
    assert {"pixels", "eigenfaces", "dlib_resnet"} <= set(metrics["baselines"])  # a face folder: dlib too
    assert metrics["data"]["threshold"] == metrics["test"]["threshold"]
    assert (run / "plots" / "roc.png").exists() and os.listdir(run / "logs" / "train")

    code, out, err = cli("face_recognition", "evaluate", "--run", run)
    assert code == 0 and f"roc_auc={metrics['test']['roc_auc']:.4f}" in out, err

    first, second = (os.path.join(people_folder, "person00", f"{k}.png") for k in (0, 1))
    code, out, err = cli("face_recognition", "predict", "--run", run, first, second)
    assert code == 0, err
    assert '"similarity"' in out and '"same_person"' in out

    grey = make_people(tmp_path / "grey", 1, images=1, channels=1)
    grey_face = os.path.join(grey, "person00", "0.png")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    for args, message in (((first, grey_face), "has 1 channel(s); the model expects 3"),
                          ((first, corrupt), "cannot read image"),
                          ((first,), "takes two face images")):
        code, out, err = cli("face_recognition", "predict", "--run", run, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    code, out, err = cli("face_recognition", "train", "--dataset", make_people(tmp_path / "solo", 1), "--quiet",
                         "--output-dir", tmp_path / "solo_run", *TINY_EMBEDDING)
    assert code == 2 and "one person only" in err and not (tmp_path / "solo_run").exists()

    code, out, err = cli("face_recognition", "export", "--run", run)
    assert code == 0, err
    data = load_identities(people_folder, image_size=24)
    expected = keras.saving.load_model(run / "model.keras").predict(data.images[:4].astype(np.float32), verbose=0)
    served = tf.saved_model.load(str(run / "saved_model"))
    result = served.signatures["serving_default"](tf.constant(data.images[:4].astype(np.float32)))
    np.testing.assert_allclose(result["embedding"].numpy(), expected, atol=1e-5)
