"""Every mode against the float64 oracle, plus the interface contracts of each mode."""

import numpy as np
import pytest

from benchmarks.tasks.parity import FORWARD_RTOL, GRAD_RTOL, errors
from impls.oracle import Oracle
from impls.spec import WORKSHOP, get_model
from impls.weights import init_weights
from tests.conftest import ALL_MODES, build_mode, mode_params


def oracle_for(model: str) -> Oracle:
    return Oracle(get_model(model), init_weights(get_model(model), 0))


@pytest.mark.parametrize("model, mode", mode_params())
def test_forward_matches_oracle(shared_mode, model, mode, batch):
    impl = shared_mode(model, mode)
    logits = impl.forward_numpy(impl.to_device(*batch))
    assert logits.dtype == np.float32
    _, max_rel, _ = errors(logits, oracle_for(model).forward(batch[0]))
    assert max_rel <= FORWARD_RTOL


@pytest.mark.parametrize("model, mode", mode_params())
def test_backward_matches_oracle(shared_mode, model, mode, batch):
    impl = shared_mode(model, mode)
    loss, grads = impl.gradients_numpy(impl.to_device(*batch))
    ref_loss, ref_grads = oracle_for(model).gradients(*batch)
    assert errors(loss, ref_loss)[1] <= FORWARD_RTOL
    assert set(grads) == set(ref_grads)
    for name, g in grads.items():
        assert g.shape == ref_grads[name].shape, name
        assert errors(g, ref_grads[name])[1] <= GRAD_RTOL, name


@pytest.mark.parametrize("model, mode", mode_params())
def test_export_load_export_round_trip_is_identical(shared_mode, model, mode):
    impl = shared_mode(model, mode)
    original = impl.export_weights()
    other = init_weights(get_model(model), 7)
    impl.load_weights(other)
    try:
        exported = impl.export_weights()
        assert all(np.array_equal(exported[k], other[k]) for k in other)
        impl.load_weights(exported)
        assert all(np.array_equal(impl.export_weights()[k], other[k]) for k in other)
    finally:
        impl.load_weights(original)


@pytest.mark.parametrize("model, mode", mode_params(["workshop"]))
def test_same_seed_twice_is_bit_identical(model, mode, batch):
    """Two fresh builds with one seed, dropout on, three training steps: identical bits."""
    runs = []
    for _ in range(2):
        impl = build_mode(mode, model, seed=3, dropout=True)
        native = impl.to_device(*batch)
        losses = [impl.train_step_numpy(native) for _ in range(3)]
        runs.append((losses, impl.export_weights(), impl.forward_numpy(native)))
    (l1, w1, f1), (l2, w2, f2) = runs
    assert l1 == l2
    assert all(np.array_equal(w1[k], w2[k]) for k in w1)
    assert np.array_equal(f1, f2)


@pytest.mark.parametrize("mode", [m for m in ALL_MODES if m not in ("torch-compile", "tf-xla")])
def test_dropout_switch(mode, batch):
    """Dropout changes training-step gradients when on; inference never uses it."""
    on = build_mode(mode, "workshop", dropout=True)
    off = build_mode(mode, "workshop", dropout=False)
    native_on, native_off = on.to_device(*batch), off.to_device(*batch)
    np.testing.assert_array_equal(on.forward_numpy(native_on), off.forward_numpy(native_off))
    loss_on, _ = on.gradients_numpy(native_on)
    loss_off, _ = off.gradients_numpy(native_off)
    assert loss_on != loss_off


@pytest.mark.parametrize("mode", ["torch-eager", "tf-eager"])
@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((4, 28, 28), np.float32), np.zeros(4, np.int64), r"shape \(N, 1, 28, 28\)"),
    (np.zeros((4, 1, 28, 28), np.float64), np.zeros(4, np.int64), "float32 NumPy array, got float64"),
    (np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int32), "int64 NumPy array, got int32"),
    (np.zeros((4, 1, 28, 28), np.float32), np.zeros(3, np.int64), r"shape \(4,\) to match"),
    (np.zeros((4, 1, 28, 28), np.float32), np.full(4, 10, np.int64), r"labels must lie in 0..9"),
], ids=["no-channel-dim", "float64", "int32-labels", "label-count", "label-range"])
def test_bad_batch_is_named(shared_mode, mode, images, labels, message):
    impl = shared_mode("workshop", mode)
    with pytest.raises(ValueError, match=message):
        impl.to_device(images, labels)


def test_unknown_device_is_named():
    with pytest.raises(ValueError, match="unknown device 'tpu'; choose from: cpu, cuda"):
        build_mode("torch-eager", "workshop").__class__(WORKSHOP, "tpu")
