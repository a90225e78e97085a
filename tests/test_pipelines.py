"""Every framework's pipeline is matched to the others: same order, values, batch sizes, remainder."""

import numpy as np
import pytest

from benchmarks.data.batches import normalize
from benchmarks.data.sources import load
from impls.frameworks import FRAMEWORKS
from impls.pipeline import epoch_order, make_pipeline
from impls.registry import unavailable_reason


def collect(pipe, order) -> tuple[np.ndarray, np.ndarray, list[int]]:
    xs, ys = [], []
    for x, y in pipe.epoch(order):
        x = np.asarray(x)
        xs.append(x.transpose(0, 3, 1, 2) if x.shape[-1] == 1 else x)  # NHWC frameworks
        ys.append(np.asarray(y))
    return np.concatenate(xs), np.concatenate(ys), [len(y) for y in ys]


@pytest.fixture(scope="module")
def digits():
    data = load()
    return data.train_images[:200], data.train_labels[:200]


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_pipeline_gives_the_normalized_digits_in_the_epoch_order(framework, digits):
    reason = unavailable_reason(FRAMEWORKS[framework].eager, "cpu")
    if reason:
        pytest.skip(reason)
    images, labels = digits
    pipe = make_pipeline(framework, images, labels, batch=64)
    order = epoch_order(200, seed=3, epoch=2)
    x, y, sizes = collect(pipe, order)
    assert sizes == [64, 64, 64, 8]  # the remainder is kept, as its own smaller batch
    assert np.array_equal(x, normalize(images[order]))  # bit-identical normalization
    assert np.array_equal(y, labels[order]) and y.dtype.kind == "i"  # JAX's default: int32
    x2, _, _ = collect(pipe, epoch_order(200, seed=3, epoch=3))  # the next epoch reshuffles
    assert not np.array_equal(x2, x)
    in_order = np.concatenate([np.asarray(y) for _, y in pipe.in_order()])
    assert np.array_equal(in_order, labels)  # evaluation: the split as stored


def test_orders_depend_on_seed_and_epoch_only():
    assert np.array_equal(epoch_order(100, 0, 1), epoch_order(100, 0, 1))
    assert not np.array_equal(epoch_order(100, 0, 1), epoch_order(100, 1, 1))
    assert sorted(epoch_order(100, 0, 1)) == list(range(100))


def test_bad_pipeline_arguments(digits):
    images, labels = digits
    with pytest.raises(ValueError, match="unknown framework 'mxnet'"):
        make_pipeline("mxnet", images, labels, 64)
    with pytest.raises(ValueError, match="batch must be >= 1"):
        make_pipeline("torch", images, labels, 0)
    with pytest.raises(ValueError, match="order must hold 200 indices"):
        list(make_pipeline("torch", images, labels, 64).epoch(np.arange(10)))
