"""Input arrays shared by every mode: normalization and seeded batches from a data source."""

from __future__ import annotations

import numpy as np

from benchmarks.data.sources import DEFAULT_SOURCE, load
from impls.pipeline import MNIST_MEAN, MNIST_STD


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), scaled to [0, 1] then standardized."""
    scaled = images.astype(np.float32)[:, None] / np.float32(255.0)
    return (scaled - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)


def seeded_batches(count: int, batch: int, seed: int,
                   source: str = DEFAULT_SOURCE) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` batches of the source's training digits in a seeded order, identical for
    every mode; wraps around when more images are asked for than the split holds."""
    data = load(source)
    order = np.random.default_rng(seed).permutation(len(data.train_labels))
    order = np.resize(order, count * batch)
    x, y = normalize(data.train_images[order]), data.train_labels[order]
    return [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]) for i in range(count)]
