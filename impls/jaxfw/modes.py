"""JAX modes: jax-jit (the whole step under jax.jit: traced once per input shape, compiled by
XLA) and jax-eager (the same pure functions un-jitted: every primitive dispatched on its own).

Parameters live in TensorFlow's layout (NHWC activations, HWIO kernels, (in, out) dense
weights, NHWC flatten order), converted by impls.weights' table. The optimizer is optax's SGD
with momentum, whose trace is PyTorch's form (v = m v + g; p -= lr v). JAX dispatches
asynchronously, on CPU too: ``sync`` blocks on the last result, inside the timed region.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from impls.base import Mode, chain
from impls.precision import layer_dtype
from impls.spec import Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ReLU
from impls.step_profile import StepProfile, union_length
from impls.weights import Weights, from_tf_layout, to_tf_layout

LOW_DTYPES = {"bf16": jnp.bfloat16}
# fp32 means strict fp32 on every device (XLA's GPU default for fp32 is TF32); tf32 asks for
# the default, and bf16 operands compute in bf16 whatever is asked
MATMUL_PRECISION = {"tf32": lax.Precision.DEFAULT, "bf16": lax.Precision.DEFAULT}


def device_of(device: str) -> jax.Device:
    return jax.devices("gpu" if device == "cuda" else "cpu")[0]


class JaxEager(Mode):
    name = "jax-eager"
    framework = "jax"
    style = "eager"

    def _compile(self, fn: Callable) -> Callable:
        return fn

    def _build(self, weights: Weights) -> None:
        self._dev = device_of(self.device)
        self._low = LOW_DTYPES.get(self.precision)
        self._matmul = MATMUL_PRECISION.get(self.precision, lax.Precision.HIGHEST)
        self._optimizer = optax.sgd(self.recipe.lr, momentum=self.recipe.momentum)
        self.load_weights(weights)
        self._key = jax.device_put(jax.random.key(self.seed), self._dev)
        self._last: Any = None
        self._predict = self._compile(partial(self._net, train=False, key=None))
        self._grads = self._compile(self._grads_pure)
        self._train = self._compile(self._train_pure)

    def load_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        self.params = {n: jax.device_put(w, self._dev)
                       for n, w in to_tf_layout(self.spec, weights).items()}
        self.opt_state = self._optimizer.init(self.params)

    def export_weights(self) -> Weights:
        return from_tf_layout(self.spec, {n: np.array(v) for n, v in self.params.items()})

    def _to_device(self, images: np.ndarray, labels: np.ndarray) -> tuple[jax.Array, ...]:
        return (jax.device_put(np.ascontiguousarray(images.transpose(0, 2, 3, 1)), self._dev),
                jax.device_put(labels, self._dev))

    def _net(self, params: dict[str, jax.Array], x: jax.Array, train: bool,
             key: jax.Array | None) -> jax.Array:
        for layer in self.spec.layers:
            compute = layer_dtype(layer, self.precision)  # impls.precision's table
            if compute != "input":
                x = x.astype(self._low if compute == "low" else jnp.float32)
            if isinstance(layer, Conv2d):
                w = params[f"{layer.name}.weight"].astype(x.dtype)
                x = lax.conv_general_dilated(x, w, (1, 1), "VALID", precision=self._matmul,
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
                x = x + params[f"{layer.name}.bias"].astype(x.dtype)
            elif isinstance(layer, Linear):
                w = params[f"{layer.name}.weight"].astype(x.dtype)
                x = jnp.matmul(x, w, precision=self._matmul)
                x = x + params[f"{layer.name}.bias"].astype(x.dtype)
            elif isinstance(layer, MaxPool2d):
                window = (1, layer.kernel, layer.kernel, 1)
                x = lax.reduce_window(x, -jnp.inf, lax.max, window, window, "VALID")
            elif isinstance(layer, ReLU):
                x = jax.nn.relu(x)
            elif isinstance(layer, Dropout) and train and self.dropout:
                key, sub = jax.random.split(key)
                shape = (x.shape[0], 1, 1, x.shape[3]) if layer.channelwise else x.shape
                keep = jax.random.bernoulli(sub, 1.0 - layer.rate, shape)
                x = jnp.where(keep, x / (1.0 - layer.rate), 0).astype(x.dtype)
            elif isinstance(layer, Flatten):
                x = x.reshape(x.shape[0], -1)  # NHWC order: see impls.weights
            elif isinstance(layer, LogSoftmax):
                x = jax.nn.log_softmax(x, axis=1)
        return x

    def _loss(self, params: dict[str, jax.Array], x: jax.Array, y: jax.Array,
              key: jax.Array) -> jax.Array:
        logp = self._net(params, x, True, key)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def _grads_pure(self, params: dict[str, jax.Array], key: jax.Array, x: jax.Array,
                    y: jax.Array) -> tuple[jax.Array, dict[str, jax.Array], jax.Array]:
        key, sub = jax.random.split(key)
        loss, grads = jax.value_and_grad(self._loss)(params, x, y, sub)
        return loss, grads, key

    def _train_pure(self, params: dict[str, jax.Array], opt_state: Any, key: jax.Array,
                    x: jax.Array, y: jax.Array) -> tuple[dict[str, jax.Array], Any, jax.Array,
                                                         jax.Array]:
        loss, grads, key = self._grads_pure(params, key, x, y)
        updates, opt_state = self._optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, key, loss

    def forward(self, batch: Any) -> jax.Array:
        self._last = self._predict(self.params, batch[0])
        return self._last

    def gradients(self, batch: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
        loss, grads, self._key = self._grads(self.params, self._key, *batch)
        self._last = (loss, grads)
        return loss, grads

    def train_step(self, batch: Any) -> jax.Array:
        self.params, self.opt_state, self._key, loss = self._train(
            self.params, self.opt_state, self._key, *batch)
        self._last = (self.params, loss)
        return loss

    def sync(self) -> None:
        """JAX returns before the work is done, on CPU too: wait for the last result."""
        jax.block_until_ready(self._last)

    def to_numpy(self, tensor: jax.Array) -> np.ndarray:
        return np.asarray(tensor)  # outputs, losses and gradients are fp32 (impls.precision)

    def _grads_to_canonical(self, grads: dict[str, jax.Array]) -> Weights:
        return from_tf_layout(self.spec, {n: np.array(g) for n, g in grads.items()})

    @classmethod
    def _chain_compile(cls, fn: Callable) -> Callable:
        return fn

    @classmethod
    def _op_chain(cls, op: str, length: int, device: str, variant: str, x: np.ndarray,
                  w: np.ndarray) -> Callable[[], Any]:
        dev = device_of(device)
        x_j, w_j = jax.device_put(x, dev), jax.device_put(w, dev)
        run = cls._chain_compile(lambda y: chain(op, length, y, x_j, w_j))
        return lambda: run(x_j).block_until_ready()

    def profile_step(self, batch: Any) -> StepProfile:
        """jax.profiler's trace (the XSpace format TensorFlow writes), read with JAX's own
        ProfileData, Python tracer off: the calling thread's events are JAX's C++ entry
        points (dispatch, argument handling, execution) and the wait for the result, so its
        time inside them is framework and the rest Python. Kernels are XLA's thunks, on any
        thread: the events the runtime closes with an "end: <thunk>" marker. Un-jitted, each
        primitive is its own small executable, and its thunks often run on the calling
        thread."""
        options = jax.profiler.ProfileOptions()
        options.python_tracer_level = 0
        with tempfile.TemporaryDirectory(prefix="sidebyside-jax-profile-") as folder:
            jax.profiler.start_trace(folder, profiler_options=options)
            start = time.perf_counter()
            try:
                self.train_step(batch)
                with jax.profiler.TraceAnnotation(WAIT_EVENT):  # waiting is time inside JAX
                    self.sync()
                wall = time.perf_counter() - start
            finally:
                jax.profiler.stop_trace()
            data = jax.profiler.ProfileData.from_file(str(next(Path(folder).rglob("*.xplane.pb"))))
        lines = [[(e.name, e.start_ns / 1e9, (e.start_ns + e.duration_ns) / 1e9) for e in line.events]
                 for line in data.find_plane_with_name("/host:CPU").lines]
        caller = next((events for events in lines
                       if any(e[0] == WAIT_EVENT for e in events)), [])
        everything = [e for events in lines for e in events]
        thunks = {name[len("end: "):] for name, _, _ in everything if name.startswith("end: ")}
        kernels = [e for e in everything if e[0] in thunks]
        return StepProfile(wall, union_length((s, e) for _, s, e in caller),
                           union_length((s, e) for _, s, e in kernels), len(kernels))


WAIT_EVENT = "sidebyside: block_until_ready"


class JaxJit(JaxEager):
    """jax.jit over the forward, the gradients and the whole train step (optimizer included),
    as JAX users write a step. One trace and one XLA compile per new input shape."""

    name = "jax-jit"
    style = "compiled"

    def _compile(self, fn: Callable) -> Callable:
        compiled = jax.jit(fn)
        self._functions = [*getattr(self, "_functions", []), compiled]
        return compiled

    @classmethod
    def _chain_compile(cls, fn: Callable) -> Callable:
        return jax.jit(fn)

    def trace_count(self) -> int:
        """Compiled executables in the jitted functions' caches: one per input shape."""
        return sum(f._cache_size() for f in self._functions)
