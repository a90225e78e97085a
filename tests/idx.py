"""Writes MNIST IDX files in the real format (big-endian header, uint8 payload), for tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from benchmarks.data.sources import IDX_FILES, IDX_MAGIC


def idx_bytes(array: np.ndarray, kind: str) -> bytes:
    header = IDX_MAGIC[kind].to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist_idx(folder: Path, seed: int = 0, train: int = 60, test: int = 20,
                    gz: bool = False) -> dict[tuple[str, str], np.ndarray]:
    """Four IDX files of seeded digits-shaped data in ``folder``; returns what was written."""
    rng = np.random.default_rng(seed)
    arrays = {("train", "images"): rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
              ("train", "labels"): rng.integers(0, 10, train, dtype=np.uint8),
              ("test", "images"): rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
              ("test", "labels"): rng.integers(0, 10, test, dtype=np.uint8)}
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_FILES.items():
        data = idx_bytes(arrays[key], key[1])
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays
