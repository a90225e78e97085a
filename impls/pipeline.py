"""Matched input pipelines: each framework's own (torch DataLoader, tf.data, ...) over the
same uint8 arrays, yielding the batches that framework's modes take.

Matched means: the same epoch order (a NumPy permutation seeded by (seed, epoch), handed to
every one, so the data order is identical across frameworks), the same batch size, the last
partial batch kept, and the same normalization done on the fly from uint8 by the same float32
operations ((x / 255 - mean) / std), so all produce bit-identical values. All gather a whole
batch of indices at once and run single-threaded in the caller's loop (no worker processes,
no prefetch): the difference measured is each framework's pipeline machinery, not how many
cores it was allowed to take from the training step on a 2-core machine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the workshop's normalization


def epoch_order(size: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of one epoch, the same for every framework."""
    return np.random.default_rng([seed, epoch]).permutation(size).astype(np.int64)


class Pipeline(ABC):
    """Batches of (images, labels) in a framework's native layout, for one split."""

    framework: ClassVar[str]

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch: int, device: str = "cpu"):
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.size, self.batch, self.device = len(labels), batch, device

    def epoch(self, order: np.ndarray) -> Iterable[Any]:
        """One pass over the split in ``order``; the last batch may be smaller."""
        if order.shape != (self.size,):
            raise ValueError(f"order must hold {self.size} indices, got shape {order.shape}")
        return self._epoch(order)

    @abstractmethod
    def _epoch(self, order: np.ndarray) -> Iterable[Any]:
        ...

    def in_order(self) -> Iterable[Any]:
        """The split as stored, for evaluation."""
        return self.epoch(np.arange(self.size, dtype=np.int64))

    def batches_per_epoch(self) -> int:
        return -(-self.size // self.batch)


def make_pipeline(framework: str, images: np.ndarray, labels: np.ndarray, batch: int,
                  device: str = "cpu") -> Pipeline:
    """The pipeline of a mode's framework (``Mode.framework``)."""
    from impls.framework import load
    from impls.frameworks import get_framework

    return load(get_framework(framework).pipeline)(images, labels, batch, device)
