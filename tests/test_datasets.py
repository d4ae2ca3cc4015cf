import numpy as np
import pytest
import tensorflow_datasets as tfds

from common.datasets import load_images, load_series, parse_source
from common.datasets.embedded import stratified_split_indices
from common.datasets.files import read_series_csv
from common.errors import UsageError


def labels_of(ds):
    return np.array([int(y) for _, y in ds.as_numpy_iterator()])


@pytest.mark.parametrize("name, sizes, shape", [
    ("digits", {"train": 1257, "validation": 180, "test": 360}, (8, 8, 1)),
    ("mnist5k", {"train": 3500, "validation": 500, "test": 1000}, (28, 28, 1)),
])
def test_embedded_image_splits(name, sizes, shape):
    data = load_images(name)
    assert data.sizes == sizes and data.image_shape == shape and data.num_classes == 10
    test = labels_of(data.test)
    assert len(test) == sizes["test"]
    # stratified: every class within one example of its share
    counts = np.bincount(test, minlength=10)
    assert counts.max() - counts.min() <= (2 if name == "digits" else 0)
    image, _ = next(iter(data.train))
    assert image.dtype.name == "uint8" and int(image.numpy().max()) > 100  # raw 0..255 pixel values


def test_embedded_splits_are_fixed_and_disjoint():
    first, second = load_images("digits"), load_images("digits")
    as_set = lambda ds: {x.tobytes() for x, _ in ds.as_numpy_iterator()}  # noqa: E731
    assert as_set(first.test) == as_set(second.test)
    assert not as_set(first.test) & as_set(first.train)


def test_split_indices_depend_on_seed_only():
    labels = np.repeat(np.arange(4), 25)
    a, b, c = (stratified_split_indices(labels, seed=s) for s in (0, 0, 1))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    assert sum(len(v) for v in a.values()) == 100 and len(a["test"]) == 20 and len(a["validation"]) == 10


def test_series_splits_keep_time_order():
    sun = load_series("sunspots")
    assert (len(sun.values), sun.n_train, sun.n_validation, sun.n_test, sun.season) == (309, 239, 30, 40, 11)
    assert np.all(np.diff(sun.times) > 0) and sun.times[0] == 1700 and sun.times[-1] == 2008
    co2 = load_series("co2")
    assert len(co2.values) == 2284 and co2.n_test == 104 and not np.isnan(co2.values).any()


def test_parse_source_and_kind_mismatch():
    assert parse_source("tfds:mnist") == ("tfds", "mnist")
    assert parse_source("digits") == ("embedded", "digits")
    assert parse_source("./x.csv") == ("path", "./x.csv")
    with pytest.raises(UsageError, match="unknown dataset 'nope'"):
        parse_source("nope")
    with pytest.raises(UsageError, match="is a series dataset"):
        load_images("sunspots")
    with pytest.raises(UsageError, match="is an image dataset"):
        load_series("digits")


def test_tfds_name_under_mock_data():
    with tfds.testing.mock_data(num_examples=12):
        data = load_images("tfds:mnist")
        assert data.image_shape == (28, 28, 1) and data.num_classes == 10
        image, label = next(iter(data.train))
        assert image.shape == (28, 28, 1) and 0 <= int(label) < 10


def test_unknown_tfds_name():
    with pytest.raises(UsageError, match="unknown TFDS dataset 'no_such_set'"):
        load_images("tfds:no_such_set")


def test_image_folder(image_folder):
    data = load_images(image_folder, image_size=16)
    assert data.class_names == ["digit0", "digit1"] and data.image_shape == (16, 16, 3)
    assert sum(data.sizes.values()) == 24 and len(labels_of(data.test)) == data.sizes["test"]


def test_image_folder_errors(tmp_path, image_folder):
    with pytest.raises(UsageError, match="dataset folder not found"):
        load_images(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no class sub-folders"):
        load_images(str(tmp_path / "empty"))
    (tmp_path / "empty" / "cats").mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        load_images(str(tmp_path / "empty"))
    corrupt = f"{image_folder}/digit1/broken.png"
    with open(corrupt, "wb") as fh:
        fh.write(b"\x89PNG not really an image")
    with pytest.raises(UsageError, match="cannot read image .*broken.png"):
        load_images(image_folder)


def test_series_csv(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("t,value,name\n1,1.0,a\n2,,b\n3,3.0,c\n4,4.0,d\n")
    times, values = read_series_csv(str(path), column="value", time_column="t")
    assert values.tolist() == [1.0, 2.0, 3.0, 4.0] and times.tolist() == [1, 2, 3, 4]
    with pytest.raises(UsageError, match="has no column 'sales'"):
        read_series_csv(str(path), column="sales")
    path.write_text("t,value\n1,1.0\n2,oops\n3,3.0\n")
    with pytest.raises(UsageError, match="non-numeric value 'oops' on data row 2"):
        read_series_csv(str(path), column="value")
    path.write_text("")
    with pytest.raises(UsageError, match="cannot read CSV"):
        read_series_csv(str(path))


def test_unprepared_tfds_name_offline_fails_fast(tmp_path, monkeypatch):
    import socket
    import time

    def no_dns(*args, **kwargs):
        raise socket.gaierror("Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    start = time.perf_counter()
    with pytest.raises(UsageError, match="'mnist' is not prepared in .* and there is no internet"):
        load_images("tfds:mnist", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 30
