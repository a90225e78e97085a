"""PyTorch's matched input pipeline (see impls.pipeline for what matched means)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader

from impls.pipeline import MNIST_MEAN, MNIST_STD, Pipeline


class TorchPipeline(Pipeline):
    """DataLoader with a BatchSampler over the epoch order: one dataset call per batch."""

    framework = "torch"

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch: int, device: str = "cpu"):

        super().__init__(images, labels, batch, device)
        self._data = _BatchGather(torch.tensor(images), torch.tensor(labels))  # copies: sources are read-only

    def _epoch(self, order: np.ndarray) -> Iterable[Any]:

        sampler = BatchSampler(order.tolist(), self.batch, drop_last=False)
        for x, y in DataLoader(self._data, sampler=sampler, batch_size=None, num_workers=0):
            yield x.to(self.device), y.to(self.device)


class _BatchGather:
    """Map-style dataset indexed by a list of indices: gathers and normalizes a whole batch."""

    def __init__(self, images, labels):

        self.images, self.labels = images, labels
        self.mean = torch.tensor(MNIST_MEAN, dtype=torch.float32)
        self.std = torch.tensor(MNIST_STD, dtype=torch.float32)
        self.scale = torch.tensor(255.0, dtype=torch.float32)

    def __getitem__(self, indices: list[int]):
        x = self.images[indices].unsqueeze(1).float()  # NCHW
        return (x / self.scale - self.mean) / self.std, self.labels[indices]

    def __len__(self) -> int:
        return len(self.labels)
