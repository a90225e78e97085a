"""JAX's matched input pipeline (see impls.pipeline for what matched means): what JAX users
feed a step, NumPy batches gathered and normalized on the host, placed with device_put."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import numpy as np

from impls.jaxfw.modes import device_of
from impls.pipeline import MNIST_MEAN, MNIST_STD, Pipeline


class JaxPipeline(Pipeline):
    """A generator over the epoch order: one fancy-indexing gather per batch, normalized with
    the same float32 operations as the other pipelines, NHWC (the JAX modes' layout)."""

    framework = "jax"

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch: int, device: str = "cpu"):
        super().__init__(images, labels, batch, device)
        self._images, self._labels = images[..., None], labels  # NHWC view, no copy
        self._dev = device_of(device)

    def _epoch(self, order: np.ndarray) -> Iterable[Any]:
        scale, mean, std = np.float32(255.0), np.float32(MNIST_MEAN), np.float32(MNIST_STD)
        for start in range(0, self.size, self.batch):
            indices = order[start:start + self.batch]
            x = (self._images[indices].astype(np.float32) / scale - mean) / std
            yield jax.device_put(x, self._dev), jax.device_put(self._labels[indices], self._dev)
