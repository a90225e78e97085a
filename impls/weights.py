"""The canonical weight format and the explicit table converting it to TensorFlow's layout.

Canonical = ``dict[str, np.ndarray]`` in PyTorch layout (conv OIHW, linear (out, in)). TF keeps
images NHWC, so conv kernels are HWIO, dense kernels (in, out), and the first dense layer's
rows follow the NHWC flatten order (h, w, c) instead of NCHW's (c, h, w). Forgetting that
permutation still "works" (the shapes match) and silently computes a different network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from impls.spec import Conv2d, Linear, ModelSpec

Weights = dict[str, np.ndarray]


def init_weights(spec: ModelSpec, seed: int) -> Weights:
    """Seeded float32 weights, PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Generated in NumPy so every framework starts from bit-identical numbers.
    """
    rng = np.random.default_rng(seed)
    shapes = spec.parameter_shapes()
    weights: Weights = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shapes[name.rsplit(".", 1)[0] + ".weight"][1:]))
        bound = 1.0 / np.sqrt(fan_in)
        weights[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return weights


def validate_weights(spec: ModelSpec, weights: Mapping[str, np.ndarray]) -> None:
    """Raise ValueError naming every missing, extra or mis-shaped key."""
    expected = spec.parameter_shapes()
    problems = []
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing:
        problems.append(f"missing keys {missing}")
    if extra:
        problems.append(f"unexpected keys {extra}")
    for name in sorted(set(expected) & set(weights)):
        shape = tuple(np.shape(weights[name]))
        if shape != expected[name]:
            problems.append(f"{name} has shape {shape}, expected {expected[name]}")
    if problems:
        accepted = ", ".join(f"{k} {v}" for k, v in expected.items())
        raise ValueError(f"bad weights for model {spec.name!r}: {'; '.join(problems)}. "
                         f"Accepted keys and shapes (PyTorch layout): {accepted}")


@dataclass(frozen=True)
class Converter:
    """One parameter's move between canonical and TF layout, with its expected shapes."""

    canonical_shape: tuple[int, ...]
    tf_shape: tuple[int, ...]
    to_tf: Callable[[np.ndarray], np.ndarray]
    from_tf: Callable[[np.ndarray], np.ndarray]


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _oihw_to_hwio(a: np.ndarray) -> np.ndarray:
    return a.transpose(2, 3, 1, 0)


def _hwio_to_oihw(a: np.ndarray) -> np.ndarray:
    return a.transpose(3, 2, 0, 1)


def _transpose(a: np.ndarray) -> np.ndarray:
    return a.T


def _flatten_dense(chw: tuple[int, ...]) -> tuple[Callable, Callable]:
    """(out, c*h*w) in NCHW flatten order <-> (h*w*c, out) in NHWC flatten order."""
    c, h, w = chw

    def to_tf(a: np.ndarray) -> np.ndarray:
        out = a.shape[0]
        return a.reshape(out, c, h, w).transpose(0, 2, 3, 1).reshape(out, h * w * c).T

    def from_tf(a: np.ndarray) -> np.ndarray:
        out = a.shape[1]
        return a.T.reshape(out, h, w, c).transpose(0, 3, 1, 2).reshape(out, c * h * w)

    return to_tf, from_tf


def tf_converters(spec: ModelSpec) -> dict[str, Converter]:
    """The explicit conversion table for one model, derived from its spec."""
    table: dict[str, Converter] = {}
    flatten_dense = spec.first_dense_after_flatten()
    for layer in spec.layers:
        if isinstance(layer, Conv2d):
            k = layer.kernel
            table[f"{layer.name}.weight"] = Converter(
                (layer.cout, layer.cin, k, k), (k, k, layer.cin, layer.cout),
                _oihw_to_hwio, _hwio_to_oihw)
        elif isinstance(layer, Linear):
            to_tf, from_tf = ((_flatten_dense(spec.flatten_input_shape()))
                              if layer.name == flatten_dense else (_transpose, _transpose))
            table[f"{layer.name}.weight"] = Converter(
                (layer.fout, layer.fin), (layer.fin, layer.fout), to_tf, from_tf)
        else:
            continue
        bias = (layer.cout if isinstance(layer, Conv2d) else layer.fout,)
        table[f"{layer.name}.bias"] = Converter(bias, bias, _identity, _identity)
    return table


def to_tf_layout(spec: ModelSpec, weights: Mapping[str, np.ndarray]) -> Weights:
    validate_weights(spec, weights)
    out = {}
    for name, conv in tf_converters(spec).items():
        out[name] = np.ascontiguousarray(conv.to_tf(np.asarray(weights[name])))
        assert out[name].shape == conv.tf_shape, (name, out[name].shape, conv.tf_shape)
    return out


def from_tf_layout(spec: ModelSpec, tf_weights: Mapping[str, np.ndarray]) -> Weights:
    out = {}
    for name, conv in tf_converters(spec).items():
        a = np.asarray(tf_weights[name])
        assert a.shape == conv.tf_shape, (name, a.shape, conv.tf_shape)
        out[name] = np.ascontiguousarray(conv.from_tf(a))
        assert out[name].shape == conv.canonical_shape, (name, out[name].shape)
    return out
