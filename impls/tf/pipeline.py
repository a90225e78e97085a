"""TensorFlow's matched input pipeline (see impls.pipeline for what matched means)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from impls.pipeline import MNIST_MEAN, MNIST_STD, Pipeline
from impls.tf.modes import tf


class TFPipeline(Pipeline):
    """tf.data built once: a range of batch numbers mapped to gather-and-normalize, reading the
    epoch order from a variable, so the map function is traced once per run as a user's would
    be (rebuilding the dataset each epoch would retrace it: 16 ms per epoch measured here)."""

    framework = "tensorflow"

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch: int, device: str = "cpu"):

        super().__init__(images, labels, batch, device)
        self._images = tf.constant(images[..., None])  # NHWC, the TF modes' layout
        self._labels = tf.constant(labels)
        self._order = tf.Variable(np.arange(self.size, dtype=np.int64), trainable=False)
        self._dataset = tf.data.Dataset.range(self.batches_per_epoch()).map(self._gather)

    def _gather(self, index):
        indices = self._order[index * self.batch:(index + 1) * self.batch]
        x = tf.cast(tf.gather(self._images, indices), tf.float32)
        return ((x / tf.constant(255.0) - tf.constant(MNIST_MEAN, tf.float32))
                / tf.constant(MNIST_STD, tf.float32), tf.gather(self._labels, indices))

    def _epoch(self, order: np.ndarray) -> Iterable[Any]:
        self._order.assign(order)
        return self._dataset
