"""TensorFlow modes: tf-eager, tf-graph (tf.function) and tf-xla (tf.function + jit_compile).

The three share one set of Python functions; the mode only decides how they are wrapped,
so "which framework" and "define-by-run vs define-then-run" can be told apart. Images are
NHWC inside TF (its native, fastest layout); weights convert through impls.weights' table.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep oneDNN/CPU-feature banners quiet
if importlib.util.find_spec("triton") is not None:
    # triton's native library segfaults on load once TensorFlow's is loaded (seen with
    # TF 2.21 + triton 3.8; torch.compile and even torch.optim import triton lazily), so
    # load it first. Import TensorFlow through this module, not directly, next to torch.
    import triton  # noqa: F401

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from impls.base import Mode, chain
from impls.precision import layer_dtype
from impls.spec import Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ReLU
from impls.step_profile import StepProfile, union_length
from impls.weights import Weights, from_tf_layout, to_tf_layout


def tf_device_name(device: str) -> str:
    return "/GPU:0" if device == "cuda" else "/CPU:0"


def sgd_momentum_update(params: list[tf.Variable], velocity: list[tf.Variable],
                        grads: list[tf.Tensor], lr: float, momentum: float) -> None:
    """SGD with momentum in PyTorch's form: v = m v + g; p -= lr v.

    Keras writes it v = m v - lr g; p += v: equal in exact arithmetic, not in float32
    rounding, so TF uses torch's form here; tests prove it matches torch.optim.SGD.
    """
    for p, v, g in zip(params, velocity, grads, strict=True):
        v.assign(momentum * v + g)
        p.assign_sub(lr * v)


LOW_DTYPES = {"bf16": tf.bfloat16, "fp16": tf.float16}
# torch.amp.GradScaler's defaults, mirrored so fp16 training matches step for step
SCALE_INIT, SCALE_GROWTH, SCALE_BACKOFF, SCALE_INTERVAL = 2.0**16, 2.0, 0.5, 2000


class LossScale:
    """Dynamic loss scaling as torch.amp.GradScaler does it: gradients are unscaled; a step
    whose gradients overflowed is skipped and halves the scale; 2000 clean steps double it."""

    def __init__(self) -> None:
        self.scale = tf.Variable(SCALE_INIT, trainable=False)
        self.clean_steps = tf.Variable(0, trainable=False)

    def apply(self, grads: list[tf.Tensor], update: Callable[[], None]) -> None:
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])

        def step() -> None:
            update()
            grown = self.clean_steps + 1 >= SCALE_INTERVAL
            self.scale.assign(tf.where(grown, self.scale * SCALE_GROWTH, self.scale))
            self.clean_steps.assign(tf.where(grown, 0, self.clean_steps + 1))

        def skip() -> None:
            self.scale.assign(self.scale * SCALE_BACKOFF)
            self.clean_steps.assign(0)

        tf.cond(finite, step, skip)


class TFEager(Mode):
    name = "tf-eager"
    framework = "tensorflow"
    style = "eager"

    def _compile(self, fn: Callable) -> Callable:
        return fn

    def _build(self, weights: Weights) -> None:
        if self.device == "cuda":  # TF32 only when asked for, as in torch
            tf.config.experimental.enable_tensor_float_32_execution(self.precision == "tf32")
        self._dev = tf_device_name(self.device)
        self._low = LOW_DTYPES.get(self.precision)
        tf_weights = to_tf_layout(self.spec, weights)
        with tf.device(self._dev):
            self.params = {n: tf.Variable(w, name=n) for n, w in tf_weights.items()}
            self.velocity = {n: tf.Variable(tf.zeros_like(w)) for n, w in tf_weights.items()}
            self.rng = tf.random.Generator.from_seed(self.seed)
            self.loss_scale = LossScale() if self.precision == "fp16" else None
        self._vars = list(self.params.values())
        self._predict = self._compile(self._predict_eager)
        self._grads = self._compile(self._grads_eager)
        self._train = self._compile(self._train_eager)

    def load_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        for name, w in to_tf_layout(self.spec, weights).items():
            self.params[name].assign(w)
            self.velocity[name].assign(tf.zeros_like(w))
        if self.loss_scale is not None:
            self.loss_scale.scale.assign(SCALE_INIT)
            self.loss_scale.clean_steps.assign(0)

    def export_weights(self) -> Weights:
        return from_tf_layout(self.spec, {n: v.numpy() for n, v in self.params.items()})

    def _to_device(self, images: np.ndarray, labels: np.ndarray) -> tuple[tf.Tensor, ...]:
        with tf.device(self._dev):
            return (tf.identity(np.ascontiguousarray(images.transpose(0, 2, 3, 1))),
                    tf.identity(labels))

    def _param(self, name: str, dtype: tf.DType) -> tf.Tensor:
        value = self.params[name]
        return value if dtype == tf.float32 else tf.cast(value, dtype)

    def _net(self, x: tf.Tensor, train: bool) -> tf.Tensor:
        for layer in self.spec.layers:
            compute = layer_dtype(layer, self.precision)  # impls.precision's table
            if compute != "input":
                x = tf.cast(x, self._low if compute == "low" else tf.float32)
            if isinstance(layer, Conv2d):
                x = tf.nn.conv2d(x, self._param(f"{layer.name}.weight", x.dtype), 1, "VALID")
                x = tf.nn.bias_add(x, self._param(f"{layer.name}.bias", x.dtype))
            elif isinstance(layer, Linear):
                x = tf.matmul(x, self._param(f"{layer.name}.weight", x.dtype))
                x = tf.nn.bias_add(x, self._param(f"{layer.name}.bias", x.dtype))
            elif isinstance(layer, MaxPool2d):
                x = tf.nn.max_pool2d(x, layer.kernel, layer.kernel, "VALID")
            elif isinstance(layer, ReLU):
                x = tf.nn.relu(x)
            elif isinstance(layer, Dropout) and train and self.dropout:
                shape = tf.shape(x)
                noise = tf.stack([shape[0], 1, 1, shape[3]]) if layer.channelwise else shape
                x = tf.nn.experimental.stateless_dropout(
                    x, layer.rate, seed=self.rng.make_seeds(1)[:, 0], noise_shape=noise)
            elif isinstance(layer, Flatten):
                x = tf.reshape(x, [tf.shape(x)[0], -1])  # NHWC order: see impls.weights
            elif isinstance(layer, LogSoftmax):
                x = tf.nn.log_softmax(x, axis=1)
        return x

    def _loss_fn(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        logp = self._net(x, True)
        return -tf.reduce_mean(tf.gather(logp, y, axis=1, batch_dims=1))

    def _predict_eager(self, x: tf.Tensor) -> tf.Tensor:
        return self._net(x, False)

    def _grads_eager(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """Gradients of the mean loss, unscaled (fp16's loss scale is taken out here)."""
        with tf.GradientTape() as tape:
            loss = self._loss_fn(x, y)
            scaled = loss if self.loss_scale is None else loss * self.loss_scale.scale
        grads = tape.gradient(scaled, self._vars)
        if self.loss_scale is not None:
            grads = [g * (1.0 / self.loss_scale.scale) for g in grads]
        return loss, grads

    def _train_eager(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        loss, grads = self._grads_eager(x, y)

        def update() -> None:
            sgd_momentum_update(self._vars, list(self.velocity.values()), grads,
                                self.recipe.lr, self.recipe.momentum)

        if self.loss_scale is None:
            update()
        else:
            self.loss_scale.apply(grads, update)
        return loss

    def forward(self, batch: Any) -> tf.Tensor:
        with tf.device(self._dev):
            return self._predict(batch[0])

    def gradients(self, batch: Any) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        with tf.device(self._dev):
            loss, grads = self._grads(*batch)
        return loss, dict(zip(self.params, grads, strict=True))

    def train_step(self, batch: Any) -> tf.Tensor:
        with tf.device(self._dev):
            return self._train(*batch)

    def to_numpy(self, tensor: tf.Tensor) -> np.ndarray:
        return tensor.numpy()

    @classmethod
    def _chain_compile(cls, fn: Callable, variant: str) -> Callable:
        return fn

    def profile_step(self, batch: Any) -> StepProfile:
        """TensorFlow's trace API (host tracer), read from its XSpace file: what the calling
        thread spends inside TensorFlow (every traced event on it) is framework, the rest
        Python; kernels are the mode's ``_kernel_events``."""
        from tensorflow.tsl.profiler.protobuf import xplane_pb2

        options = tf.profiler.experimental.ProfilerOptions(
            host_tracer_level=2, python_tracer_level=0, device_tracer_level=0)
        with tempfile.TemporaryDirectory(prefix="sidebyside-tf-profile-") as folder:
            tf.profiler.experimental.start(folder, options=options)
            start = time.perf_counter()
            try:
                self.train_step(batch)
                self.sync()
                wall = time.perf_counter() - start
            finally:
                tf.profiler.experimental.stop()
            space = xplane_pb2.XSpace()
            space.ParseFromString(next(Path(folder).rglob("*.xplane.pb")).read_bytes())
        plane = next(p for p in space.planes if p.name == "/host:CPU")
        lines = {line.name: [(plane.event_metadata[e.metadata_id].name,
                              (line.timestamp_ns * 1000 + e.offset_ps) / 1e12,
                              (line.timestamp_ns * 1000 + e.offset_ps + e.duration_ps) / 1e12)
                             for e in line.events] for line in plane.lines}
        # the calling thread's line is named after the thread (the process name, for the main
        # thread): find it by TensorFlow's Python C-API entry points instead
        name = next((n for n, events in lines.items()
                     if any(e[0].startswith("TFE_Py") for e in events)), None)
        caller = lines.pop(name, [])
        kernels = self._kernel_events(caller, [e for events in lines.values() for e in events])
        return StepProfile(wall, union_length((s, e) for _, s, e in caller),
                           union_length((s, e) for _, s, e in kernels), len(kernels))

    def _kernel_events(self, caller: list, workers: list) -> list:
        """Eager ops run on the calling thread, each as its own small function
        (KernelAndDeviceFunc::Run): that run, kernel plus the function runtime around it, is
        the kernel here, so the kernel share of an eager step is an upper bound."""
        return [e for e in caller if e[0] == "KernelAndDeviceFunc::Run"]

    @classmethod
    def _op_chain(cls, op: str, length: int, device: str, variant: str, x: np.ndarray,
                  w: np.ndarray) -> Callable[[], Any]:
        with tf.device(tf_device_name(device)):
            x_t, w_t = tf.constant(x), tf.constant(w)
        run = cls._chain_compile(lambda y: chain(op, length, y, x_t, w_t), variant)

        def call() -> tf.Tensor:
            with tf.device(tf_device_name(device)):
                out = run(x_t)
            if device == "cuda":
                tf.test.experimental.sync_devices()
            return out

        return call

    def _grads_to_canonical(self, grads: dict[str, tf.Tensor]) -> Weights:
        return from_tf_layout(self.spec, {n: g.numpy() for n, g in grads.items()})


class TFGraph(TFEager):
    """tf.function. Variants: ``default`` (one trace per new input shape),
    ``input-signature`` (batch dimension declared None: one trace), ``reduce-retracing``
    (TF generalizes shapes after a retrace)."""

    name = "tf-graph"
    style = "graph"
    variants = ("default", "input-signature", "reduce-retracing")
    jit_compile = False
    chain_variants = ("autograph", "no-autograph")

    @classmethod
    def _chain_compile(cls, fn: Callable, variant: str) -> Callable:
        return tf.function(fn, jit_compile=cls.jit_compile, autograph=variant != "no-autograph")

    def _kernel_events(self, caller: list, workers: list) -> list:
        """A graph's ops (XLA: its compiled thunks) run on the runtime's threads; their
        events are the kernels, its scheduling and thread-pool events are not."""
        return [e for e in workers if "::" not in e[0] and e[0] != "ParallelFor"]

    def _compile(self, fn: Callable) -> Callable:
        options: dict[str, Any] = {"jit_compile": self.jit_compile}
        if self.variant == "input-signature":
            c, h, w = self.spec.input_shape
            images = tf.TensorSpec([None, h, w, c], tf.float32)
            labels = tf.TensorSpec([None], tf.int64)
            options["input_signature"] = [images] if fn == self._predict_eager else [images, labels]
        elif self.variant == "reduce-retracing":
            options["reduce_retracing"] = True
        compiled = tf.function(fn, **options)
        self._functions = [*getattr(self, "_functions", []), compiled]
        return compiled

    def trace_count(self) -> int:
        """tf.function traces; XLA also compiles once per concrete input shape, which a
        None-batch signature does not avoid and this count does not see."""
        return sum(f.experimental_get_tracing_count() for f in self._functions)


class TFXLA(TFGraph):
    """tf.function(jit_compile=True). Only the default variant: XLA compiles once per
    concrete input shape whatever the signature says, and with reduce_retracing the run
    segfaulted inside XLA execution (TF 2.21, CPU, variable batch sizes)."""

    name = "tf-xla"
    style = "compiled"
    variants = ("default",)
    chain_variants = ("default",)
    jit_compile = True
