"""The small interface every execution mode exposes; the harness and parity only see this."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

from impls.frameworks import get_framework
from impls.precision import check_precision, layout_reason, unsupported_reason
from impls.spec import RECIPE, ModelSpec, Recipe
from impls.step_profile import StepProfile
from impls.weights import Weights, init_weights

DEVICES = ("cpu", "cuda")


def check_batch(spec: ModelSpec, images: np.ndarray, labels: np.ndarray) -> None:
    """Raise ValueError naming what is wrong with a NumPy batch and what is accepted."""
    want = spec.input_shape
    if not isinstance(images, np.ndarray) or images.dtype != np.float32:
        kind = getattr(images, "dtype", type(images).__name__)
        raise ValueError(f"images must be a float32 NumPy array, got {kind}")
    if images.ndim != 4 or images.shape[1:] != want or images.shape[0] < 1:
        raise ValueError(f"images must have shape (N, {', '.join(map(str, want))}) with N >= 1 "
                         f"(NCHW), got {images.shape}")
    if not isinstance(labels, np.ndarray) or labels.dtype != np.int64:
        kind = getattr(labels, "dtype", type(labels).__name__)
        raise ValueError(f"labels must be an int64 NumPy array, got {kind}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},) to match the images, "
                         f"got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= spec.classes):
        raise ValueError(f"labels must lie in 0..{spec.classes - 1}, got {labels.min()}..{labels.max()}")


CHAIN_OPS = ("add", "matmul")  # y = y + x, and y = y @ w with w orthogonal (no growth)
CHAIN_SIZE = 16


def chain_inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x and an orthogonal w, CHAIN_SIZE^2 float32: values stay bounded (no denormals,
    no overflow) however long the chain."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((CHAIN_SIZE, CHAIN_SIZE)).astype(np.float32)
    w, _ = np.linalg.qr(rng.standard_normal((CHAIN_SIZE, CHAIN_SIZE)))
    return x, w.astype(np.float32)


def chain(op: str, length: int, y: Any, x: Any, w: Any) -> Any:
    """The chain itself, for any framework's tensors (both overload + and @)."""
    for _ in range(length):
        y = y + x if op == "add" else y @ w
    return y


class Mode(ABC):
    """One framework x execution model, built from a spec and a seed on one device.

    Native-tensor methods (``forward``, ``gradients``, ``train_step``) are what benchmarks
    time; they return framework tensors and may run asynchronously until ``sync``. The
    ``*_numpy`` helpers convert results to canonical NumPy for parity, outside any timing.
    """

    name: ClassVar[str]
    framework: ClassVar[str]  # its framework's import name (impls.frameworks)
    style: ClassVar[str]  # "eager", "graph" or "compiled"
    variants: ClassVar[tuple[str, ...]] = ("default",)  # compile options, for shape studies

    layouts: ClassVar[tuple[str, ...]] = ("default",)  # memory formats the framework offers

    def __init__(self, spec: ModelSpec, device: str = "cpu", seed: int = 0,
                 dropout: bool = True, recipe: Recipe = RECIPE, variant: str = "default",
                 precision: str = "fp32", layout: str = "default"):
        if device not in DEVICES:
            raise ValueError(f"unknown device {device!r}; choose from: {', '.join(DEVICES)}")
        if variant not in self.variants:
            raise ValueError(f"{self.name} has no variant {variant!r}; choose from: "
                             f"{', '.join(self.variants)}")
        reason = (unsupported_reason(check_precision(precision), device)
                  or get_framework(self.framework).precision_reason(precision)
                  or self.layout_reason(layout))
        if reason:
            raise ValueError(f"{self.name}: {reason}")
        self.spec, self.device, self.seed, self.dropout, self.recipe, self.variant = (
            spec, device, seed, dropout, recipe, variant)
        self.precision, self.layout = precision, layout
        self._wait = get_framework(self.framework).sync(device)
        self._build(init_weights(spec, seed))

    @classmethod
    def layout_reason(cls, layout: str) -> str | None:
        """Why this mode has no ``layout``, or None."""
        return layout_reason(get_framework(cls.framework), layout, cls.layouts)

    @abstractmethod
    def _build(self, weights: Weights) -> None:
        """Create parameters from canonical weights, optimizer state and compiled functions."""

    @abstractmethod
    def load_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Replace parameters with canonical weights and reset the optimizer state."""

    @abstractmethod
    def export_weights(self) -> Weights:
        """Current parameters in canonical layout (float32 copies)."""

    @abstractmethod
    def _to_device(self, images: np.ndarray, labels: np.ndarray) -> Any:
        ...

    def to_device(self, images: np.ndarray, labels: np.ndarray) -> Any:
        """A validated NumPy batch (NCHW float32, int64 labels) as native device tensors."""
        check_batch(self.spec, images, labels)
        return self._to_device(images, labels)

    @abstractmethod
    def forward(self, batch: Any) -> Any:
        """Inference: model output (log-probabilities), no gradient tracking, no dropout."""

    @abstractmethod
    def gradients(self, batch: Any) -> tuple[Any, dict[str, Any]]:
        """Forward + mean NLL loss + every parameter's gradient; no update."""

    @abstractmethod
    def train_step(self, batch: Any) -> Any:
        """Forward + backward + SGD-momentum update (PyTorch's form); returns the loss."""

    def sync(self) -> None:
        """Block until all queued device work is finished (the framework's wait)."""
        self._wait()

    # Per-op overhead: a chain of ``length`` identical tiny ops (CHAIN_OPS on CHAIN_SIZE^2
    # float32 tensors), timed for several lengths; the slope is the cost per op, the
    # intercept the cost per call. ``chain_variants`` are what the mode lets a user choose
    # that changes the Python-side cost (grad recording, autograph).
    chain_variants: ClassVar[tuple[str, ...]] = ("default",)

    @classmethod
    def op_chain(cls, op: str, length: int, device: str = "cpu",
                 variant: str = "default") -> Callable[[], Any]:
        """A callable running the chain once and returning when the device is done."""
        if op not in CHAIN_OPS:
            raise ValueError(f"unknown op {op!r}; choose from: {', '.join(CHAIN_OPS)}")
        if variant not in cls.chain_variants:
            raise ValueError(f"{cls.name} has no chain variant {variant!r}; choose from: "
                             f"{', '.join(cls.chain_variants)}")
        x, w = chain_inputs()
        return cls._op_chain(op, length, device, variant, x, w)

    @classmethod
    @abstractmethod
    def _op_chain(cls, op: str, length: int, device: str, variant: str, x: np.ndarray,
                  w: np.ndarray) -> Callable[[], Any]:
        ...

    @classmethod
    @contextmanager
    def profiling(cls) -> Iterator[None]:
        """Build and warm up an instance inside this to profile it afterwards (a compiler
        may have to emit its kernels with profiler hooks)."""
        yield

    @abstractmethod
    def profile_step(self, batch: Any) -> StepProfile:
        """One train step under the framework's profiler, split into kernels, framework
        and Python (impls.step_profile)."""

    # How a first call relates to compile caches that outlive the process: "none" (nothing
    # compiled, or compiled afresh in every process: tf.function traces, XLA without a
    # persistent cache) or "on-disk" (torch.compile's inductor caches kernels across runs).
    compile_cache: ClassVar[str] = "none"

    @classmethod
    @contextmanager
    def empty_compile_cache(cls) -> Iterator[None]:
        """While open, the mode's on-disk compile cache is a new, empty one, so a first call
        is a cold compile whatever earlier runs on this machine left behind."""
        yield

    @classmethod
    def compile_cache_hits(cls) -> dict[str, int]:
        """Compile-cache hit / miss counters so far in this process (empty where none)."""
        return {}

    def trace_count(self) -> int | None:
        """Graphs traced / compiled so far (retraces included); None for eager modes."""
        return None

    @abstractmethod
    def to_numpy(self, tensor: Any) -> np.ndarray:
        ...

    @abstractmethod
    def _grads_to_canonical(self, grads: dict[str, Any]) -> Weights:
        ...

    def forward_numpy(self, batch: Any) -> np.ndarray:
        return self.to_numpy(self.forward(batch))

    def gradients_numpy(self, batch: Any) -> tuple[float, Weights]:
        loss, grads = self.gradients(batch)
        return float(self.to_numpy(loss)), self._grads_to_canonical(grads)

    def train_step_numpy(self, batch: Any) -> float:
        return float(self.to_numpy(self.train_step(batch)))
