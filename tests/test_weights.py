"""Canonical weight format, validation, and the TF conversion table (framework-free)."""

import numpy as np
import pytest

from impls.spec import EXAMPLES, MODELS, WORKSHOP, get_model
from impls.weights import (
    from_tf_layout,
    init_weights,
    tf_converters,
    to_tf_layout,
    validate_weights,
)


@pytest.mark.parametrize("name", list(MODELS))
def test_init_is_seeded_float32_in_canonical_shapes(name):
    spec = get_model(name)
    a, b, c = init_weights(spec, 0), init_weights(spec, 0), init_weights(spec, 1)
    assert {k: v.shape for k, v in a.items()} == spec.parameter_shapes()
    assert all(v.dtype == np.float32 for v in a.values())
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["fc1.weight"], c["fc1.weight"])


@pytest.mark.parametrize("name", list(MODELS))
def test_tf_layout_round_trip_is_exact(name):
    spec = get_model(name)
    w = init_weights(spec, 0)
    back = from_tf_layout(spec, to_tf_layout(spec, w))
    assert all(np.array_equal(w[k], back[k]) for k in w)


@pytest.mark.parametrize("spec", [WORKSHOP, EXAMPLES], ids=lambda s: s.name)
def test_first_dense_layer_follows_nhwc_flatten_order(spec):
    """W @ flatten_nchw(a) must equal flatten_nhwc(a) @ W_tf for any activation a."""
    name = spec.first_dense_after_flatten() + ".weight"
    w = init_weights(spec, 0)
    a = np.random.default_rng(0).standard_normal(spec.flatten_input_shape()).astype(np.float32)
    torch_style = w[name] @ a.reshape(-1)
    tf_style = a.transpose(1, 2, 0).reshape(-1) @ to_tf_layout(spec, w)[name]
    np.testing.assert_allclose(tf_style, torch_style, rtol=1e-5, atol=1e-6)
    naive = a.transpose(1, 2, 0).reshape(-1) @ w[name].T  # plain transpose: the silent bug
    assert np.abs(naive - torch_style).max() > 1e-2


def test_conversion_table_is_explicit_about_shapes():
    table = tf_converters(EXAMPLES)
    assert table["conv2.weight"].canonical_shape == (64, 32, 3, 3)
    assert table["conv2.weight"].tf_shape == (3, 3, 32, 64)
    assert table["fc1.weight"].tf_shape == (9216, 128)
    assert set(table) == set(EXAMPLES.parameter_shapes())


@pytest.mark.parametrize("change, message", [
    (lambda w: w.pop("fc2.bias"), r"missing keys \['fc2.bias'\]"),
    (lambda w: w.update(extra=np.zeros(1)), r"unexpected keys \['extra'\]"),
    (lambda w: w.update({"conv1.weight": np.zeros((10, 1, 3, 3))}),
     r"conv1.weight has shape \(10, 1, 3, 3\), expected \(10, 1, 5, 5\)"),
])
def test_bad_weights_are_named(change, message):
    w = init_weights(WORKSHOP, 0)
    change(w)
    with pytest.raises(ValueError, match=message) as err:
        validate_weights(WORKSHOP, w)
    assert "Accepted keys and shapes" in str(err.value)
