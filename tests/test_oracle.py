"""The oracle checked on its own terms: finite differences, independent of any framework."""

import numpy as np
import pytest

from impls.oracle import Oracle
from impls.spec import (
    EXAMPLES,
    WORKSHOP,
    Conv2d,
    Flatten,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ModelSpec,
    ReLU,
)
from impls.weights import init_weights

TINY = ModelSpec(
    name="tiny",
    layers=(Conv2d("conv1", 2, 3, 3), MaxPool2d(2), ReLU(), Conv2d("conv2", 3, 4, 2), ReLU(),
            Flatten(), Linear("fc1", 4, 5), ReLU(), Linear("fc2", 5, 3), LogSoftmax()),
    input_shape=(2, 7, 7),
    classes=3,
)
# Central differences in float64: cancellation error ~1e-16/EPS. Small, because ReLU nets are
# piecewise linear: a step that crosses a kink (a pre-activation at 0) breaks the difference.
EPS = 1e-7  # -> ~2e-9 absolute noise on the difference quotient (atol 1e-8 below)


def numeric_grad(oracle: Oracle, x, y, name: str, index: tuple) -> float:
    w = oracle.weights[name]
    saved = w[index]
    w[index] = saved + EPS
    plus = oracle.loss(x, y)
    w[index] = saved - EPS
    minus = oracle.loss(x, y)
    w[index] = saved
    return (plus - minus) / (2 * EPS)


def test_tiny_model_every_gradient_entry_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, *TINY.input_shape))
    y = np.array([0, 2, 1])
    oracle = Oracle(TINY, {k: v.astype(np.float64) for k, v in init_weights(TINY, 1).items()})
    _, grads = oracle.gradients(x, y)
    for name, g in grads.items():
        numeric = np.array([numeric_grad(oracle, x, y, name, i) for i in np.ndindex(g.shape)])
        np.testing.assert_allclose(g.ravel(), numeric, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("spec", [WORKSHOP, EXAMPLES], ids=lambda s: s.name)
def test_real_models_sampled_gradient_entries_match_finite_differences(spec):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, *spec.input_shape))
    y = np.array([3, 7])
    oracle = Oracle(spec, init_weights(spec, 0))
    _, grads = oracle.gradients(x, y)
    for name, g in grads.items():
        for flat in rng.choice(g.size, size=min(6, g.size), replace=False):
            index = np.unravel_index(flat, g.shape)
            assert g[index] == pytest.approx(numeric_grad(oracle, x, y, name, index),
                                             rel=1e-5, abs=1e-8), (name, index)


def test_loss_is_mean_nll_of_log_softmax():
    oracle = Oracle(WORKSHOP, init_weights(WORKSHOP, 0))
    x = np.random.default_rng(2).standard_normal((4, 1, 28, 28))
    logp = oracle.forward(x)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, rtol=1e-12)
    y = np.array([1, 2, 3, 4])
    assert oracle.loss(x, y) == pytest.approx(-np.mean(logp[np.arange(4), y]), rel=1e-14)


def test_sgd_step_is_pytorchs_momentum_form():
    oracle = Oracle(TINY, init_weights(TINY, 0))
    x = np.random.default_rng(3).standard_normal((2, *TINY.input_shape))
    y = np.array([0, 1])
    before = {k: v.copy() for k, v in oracle.weights.items()}
    _, g1 = oracle.gradients(x, y)
    velocity = {}
    oracle.train_step(x, y, velocity, lr=0.1, momentum=0.5)
    _, g2 = oracle.gradients(x, y)
    oracle.train_step(x, y, velocity, lr=0.1, momentum=0.5)
    for name in before:  # v1 = g1, v2 = 0.5 g1 + g2, p2 = p0 - lr (v1 + v2)
        expected = before[name] - 0.1 * (g1[name] + 0.5 * g1[name] + g2[name])
        np.testing.assert_allclose(oracle.weights[name], expected, rtol=1e-12, atol=1e-15)
