"""Float64 NumPy reference: forward pass and backpropagation written out by hand.

Independent of both frameworks on purpose: it is the oracle both are checked against. It
models the network with dropout off (dropout masks cannot match across RNGs). The linear
layers follow the seed's backpropagation equations; convolution and pooling apply the same
chain rule to their own index maps.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from impls.spec import Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ModelSpec, ReLU
from impls.weights import Weights, validate_weights


def _conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Valid cross-correlation via im2col; returns output and the columns for backward."""
    n, c = x.shape[:2]
    o, _, k, _ = w.shape
    cols = sliding_window_view(x, (k, k), axis=(2, 3))  # n c ho wo k k
    ho, wo = cols.shape[2], cols.shape[3]
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
    out = cols @ w.reshape(o, -1).T + b
    return out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), cols


def _conv_backward(dout: np.ndarray, x_shape: tuple, cols: np.ndarray,
                   w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o, c, k, _ = w.shape
    n, _, ho, wo = dout.shape
    d2 = dout.transpose(0, 2, 3, 1).reshape(n * ho * wo, o)
    dw = (d2.T @ cols).reshape(w.shape)
    db = d2.sum(axis=0)
    dcols = (d2 @ w.reshape(o, -1)).reshape(n, ho, wo, c, k, k)
    dx = np.zeros(x_shape)
    for i in range(k):  # col2im: each kernel tap scatters its column gradient to its input window
        for j in range(k):
            dx[:, :, i:i + ho, j:j + wo] += dcols[..., i, j].transpose(0, 3, 1, 2)
    return dx, dw, db


def _pool_forward(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    win = x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, ho, wo, k * k)
    arg = win.argmax(axis=-1)  # first maximum wins ties, as in both frameworks
    return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], arg


def _pool_backward(dout: np.ndarray, arg: np.ndarray, x_shape: tuple, k: int) -> np.ndarray:
    n, c, ho, wo = dout.shape
    onehot = np.zeros((n, c, ho, wo, k * k))
    np.put_along_axis(onehot, arg[..., None], dout[..., None], axis=-1)
    blocks = onehot.reshape(n, c, ho, wo, k, k).transpose(0, 1, 2, 4, 3, 5)
    dx = np.zeros(x_shape)
    dx[:, :, :ho * k, :wo * k] = blocks.reshape(n, c, ho * k, wo * k)
    return dx


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class Oracle:
    """Float64 forward/backward for one spec; weights in canonical layout."""

    def __init__(self, spec: ModelSpec, weights: Mapping[str, np.ndarray]):
        validate_weights(spec, weights)
        self.spec = spec
        self.weights: Weights = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}

    def forward(self, images: np.ndarray) -> np.ndarray:
        return self._forward(images)[0]

    def loss(self, images: np.ndarray, labels: np.ndarray) -> float:
        logp = self.forward(images)
        return float(-logp[np.arange(len(labels)), labels].mean())

    def _forward(self, images: np.ndarray) -> tuple[np.ndarray, list]:
        a = np.asarray(images, dtype=np.float64)
        tape = []
        for layer in self.spec.layers:
            x = a
            if isinstance(layer, Conv2d):
                a, saved = _conv_forward(x, self.weights[f"{layer.name}.weight"],
                                         self.weights[f"{layer.name}.bias"])
            elif isinstance(layer, Linear):
                a, saved = x @ self.weights[f"{layer.name}.weight"].T + self.weights[
                    f"{layer.name}.bias"], None
            elif isinstance(layer, MaxPool2d):
                a, saved = _pool_forward(x, layer.kernel)
            elif isinstance(layer, ReLU):
                a, saved = np.maximum(x, 0.0), None
            elif isinstance(layer, Flatten):
                a, saved = x.reshape(len(x), -1), None
            elif isinstance(layer, LogSoftmax):
                a, saved = _log_softmax(x), None
            elif isinstance(layer, Dropout):
                saved = None  # the oracle models dropout off
            else:
                raise TypeError(f"oracle has no rule for {layer!r}")
            tape.append((layer, x, saved, a))
        return a, tape

    def gradients(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, Weights]:
        """Mean NLL loss and d loss / d parameter for every parameter (canonical layout)."""
        logp, tape = self._forward(images)
        n = len(labels)
        loss = float(-logp[np.arange(n), labels].mean())
        delta = np.zeros_like(logp)  # d loss / d log-probabilities
        delta[np.arange(n), labels] = -1.0 / n
        grads: Weights = {}
        for layer, x, saved, out in reversed(tape):
            if isinstance(layer, LogSoftmax):
                delta = delta - np.exp(out) * delta.sum(axis=1, keepdims=True)
            elif isinstance(layer, Linear):
                w = self.weights[f"{layer.name}.weight"]
                grads[f"{layer.name}.weight"] = delta.T @ x  # BP4: dC/dw_jk = a_k delta_j
                grads[f"{layer.name}.bias"] = delta.sum(axis=0)  # BP3: dC/db_j = delta_j
                delta = delta @ w  # BP2, before the activation's sigma' (applied by ReLU below)
            elif isinstance(layer, ReLU):
                delta = delta * (x > 0)  # the sigma'(z) factor of BP1/BP2
            elif isinstance(layer, Conv2d):
                delta, grads[f"{layer.name}.weight"], grads[f"{layer.name}.bias"] = (
                    _conv_backward(delta, x.shape, saved, self.weights[f"{layer.name}.weight"]))
            elif isinstance(layer, MaxPool2d):
                delta = _pool_backward(delta, saved, x.shape, layer.kernel)
            elif isinstance(layer, Flatten):
                delta = delta.reshape(x.shape)
        return loss, {k: grads[k] for k in self.spec.parameter_shapes()}

    def train_step(self, images: np.ndarray, labels: np.ndarray, velocity: Weights,
                   lr: float, momentum: float) -> float:
        """SGD with momentum in PyTorch's form: v = m v + g; p -= lr v. Updates in place."""
        loss, grads = self.gradients(images, labels)
        for name, g in grads.items():
            velocity[name] = momentum * velocity.get(name, 0.0) + g
            self.weights[name] = self.weights[name] - lr * velocity[name]
        return loss
