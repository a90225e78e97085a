"""Matched input pipelines: a torch DataLoader and a tf.data pipeline over the same uint8
arrays, yielding the batches each framework's modes take.

Matched means: the same epoch order (a NumPy permutation seeded by (seed, epoch), handed to
both, so the data order is identical across frameworks), the same batch size, the last
partial batch kept, and the same normalization done on the fly from uint8 by the same float32
operations ((x / 255 - mean) / std), so both produce bit-identical values. Both gather a whole
batch of indices at once and run single-threaded in the caller's loop (no worker processes,
no prefetch): the difference measured is each framework's pipeline machinery, not how many
cores it was allowed to take from the training step on a 2-core machine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from benchmarks.data.batches import MNIST_MEAN, MNIST_STD


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


class TorchPipeline(Pipeline):
    """DataLoader with a BatchSampler over the epoch order: one dataset call per batch."""

    framework = "torch"

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch: int, device: str = "cpu"):
        import torch

        super().__init__(images, labels, batch, device)
        self._data = _BatchGather(torch.tensor(images), torch.tensor(labels))  # copies: sources are read-only

    def _epoch(self, order: np.ndarray) -> Iterable[Any]:
        from torch.utils.data import BatchSampler, DataLoader

        sampler = BatchSampler(order.tolist(), self.batch, drop_last=False)
        for x, y in DataLoader(self._data, sampler=sampler, batch_size=None, num_workers=0):
            yield x.to(self.device), y.to(self.device)


class _BatchGather:
    """Map-style dataset indexed by a list of indices: gathers and normalizes a whole batch."""

    def __init__(self, images, labels):
        import torch

        self.images, self.labels = images, labels
        self.mean = torch.tensor(MNIST_MEAN, dtype=torch.float32)
        self.std = torch.tensor(MNIST_STD, dtype=torch.float32)
        self.scale = torch.tensor(255.0, dtype=torch.float32)

    def __getitem__(self, indices: list[int]):
        x = self.images[indices].unsqueeze(1).float()  # NCHW
        return (x / self.scale - self.mean) / self.std, self.labels[indices]

    def __len__(self) -> int:
        return len(self.labels)


class TFPipeline(Pipeline):
    """tf.data built once: a range of batch numbers mapped to gather-and-normalize, reading the
    epoch order from a variable, so the map function is traced once per run as a user's would
    be (rebuilding the dataset each epoch would retrace it: 16 ms per epoch measured here)."""

    framework = "tensorflow"

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch: int, device: str = "cpu"):
        from impls.tf_modes import tf

        super().__init__(images, labels, batch, device)
        self._images = tf.constant(images[..., None])  # NHWC, the TF modes' layout
        self._labels = tf.constant(labels)
        self._order = tf.Variable(np.arange(self.size, dtype=np.int64), trainable=False)
        self._dataset = tf.data.Dataset.range(self.batches_per_epoch()).map(self._gather)

    def _gather(self, index):
        from impls.tf_modes import tf

        indices = self._order[index * self.batch:(index + 1) * self.batch]
        x = tf.cast(tf.gather(self._images, indices), tf.float32)
        return ((x / tf.constant(255.0) - tf.constant(MNIST_MEAN, tf.float32))
                / tf.constant(MNIST_STD, tf.float32), tf.gather(self._labels, indices))

    def _epoch(self, order: np.ndarray) -> Iterable[Any]:
        self._order.assign(order)
        return self._dataset


PIPELINES: dict[str, type[Pipeline]] = {"torch": TorchPipeline, "tensorflow": TFPipeline}


def make_pipeline(framework: str, images: np.ndarray, labels: np.ndarray, batch: int,
                  device: str = "cpu") -> Pipeline:
    """The pipeline for a mode's framework (``Mode.framework``)."""
    if framework not in PIPELINES:
        raise ValueError(f"no pipeline for framework {framework!r}; choose from: "
                         f"{', '.join(PIPELINES)}")
    return PIPELINES[framework](images, labels, batch, device)
