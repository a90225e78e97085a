"""TF's update must be PyTorch's SGD-momentum update (v = m v + g; p -= lr v).

Keras writes momentum as v = m v - lr g; p += v. With a constant lr both are the same in
exact arithmetic; they part ways once lr changes between steps (Keras' velocity carries the
old lr), and in float32 torch fuses p - lr v into one rounding (FMA) where TF rounds twice.
"""

import numpy as np
import pytest

from impls.spec import RECIPE

torch = pytest.importorskip("torch", reason="PyTorch is not installed")
tf_modes = pytest.importorskip("impls.tf.modes", reason="TensorFlow is not installed",
                               exc_type=ImportError)
tf, sgd_momentum_update = tf_modes.tf, tf_modes.sgd_momentum_update

SHAPE = (40, 30)


def run_torch(start, grads, lrs, momentum):
    p = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = torch.optim.SGD([p], lr=lrs[0], momentum=momentum)
    for g, lr in zip(grads, lrs, strict=True):
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.from_numpy(g)
        opt.step()
    return p.detach().numpy()


def run_tf(start, grads, lrs, momentum):
    p, v = tf.Variable(start), tf.Variable(np.zeros_like(start))
    for g, lr in zip(grads, lrs, strict=True):
        sgd_momentum_update([p], [v], [tf.constant(g)], lr, momentum)
    return p.numpy()


def run_keras_form(start, grads, lrs, momentum):
    p, v = start.astype(np.float64), np.zeros(start.shape)
    for g, lr in zip(grads, lrs, strict=True):
        v = momentum * v - lr * g
        p = p + v
    return p


def test_bit_identical_to_torch_when_arithmetic_is_exact():
    """Dyadic values make every float32 operation exact, so any difference in the rule
    (sign, where lr enters, the first step's velocity) would show as unequal bits."""
    rng = np.random.default_rng(0)
    start = rng.integers(-64, 64, SHAPE).astype(np.float32)
    grads = [rng.integers(-8, 8, SHAPE).astype(np.float32) for _ in range(12)]
    lrs = [2.0**-4] * 12
    np.testing.assert_array_equal(run_tf(start, grads, lrs, 0.5), run_torch(start, grads, lrs, 0.5))


def test_matches_torch_with_the_recipe_and_a_schedule_where_keras_form_does_not():
    rng = np.random.default_rng(1)
    start = rng.standard_normal(SHAPE).astype(np.float32)
    grads = [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(20)]
    lrs = [RECIPE.lr] * 10 + [RECIPE.lr / 10] * 10  # a step schedule
    torch_p = run_torch(start, grads, lrs, RECIPE.momentum)
    # float32 rounding only: one ulp of |p| ~ 1e-7 per step, over 20 steps
    np.testing.assert_allclose(run_tf(start, grads, lrs, RECIPE.momentum), torch_p,
                               rtol=1e-6, atol=1e-6)
    keras = run_keras_form(start, grads, lrs, RECIPE.momentum)
    assert np.abs(keras - torch_p).max() > 1e-3
