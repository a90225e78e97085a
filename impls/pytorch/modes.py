"""PyTorch modes: torch-eager (define-by-run) and torch-compile (torch.compile, inductor)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

from impls.base import Mode, chain
from impls.precision import layer_dtype
from impls.pytorch.framework import FRAMEWORK
from impls.spec import Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ModelSpec, ReLU
from impls.step_profile import StepProfile, union_length
from impls.weights import Weights, validate_weights


class SpecNet(nn.Module):
    """An nn.Module that walks the spec; parameter names are the canonical ones."""

    def __init__(self, spec: ModelSpec, dropout: bool, precision: str = "fp32"):
        super().__init__()
        self.spec, self.use_dropout, self.precision = spec, dropout, precision
        for layer in spec.layers:
            if isinstance(layer, Conv2d):
                self.add_module(layer.name, nn.Conv2d(layer.cin, layer.cout, layer.kernel))
            elif isinstance(layer, Linear):
                self.add_module(layer.name, nn.Linear(layer.fin, layer.fout))

    def forward(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        for layer in self.spec.layers:
            if layer_dtype(layer, self.precision) == "fp32":
                x = x.float()  # autocast does this for log-softmax on cuda, not on cpu
            if isinstance(layer, (Conv2d, Linear)):
                x = getattr(self, layer.name)(x)  # autocast computes these in the low dtype
            elif isinstance(layer, MaxPool2d):
                x = F.max_pool2d(x, layer.kernel)
            elif isinstance(layer, ReLU):
                x = F.relu(x)
            elif isinstance(layer, Dropout):
                drop = F.dropout2d if layer.channelwise else F.dropout
                x = drop(x, layer.rate, training=train and self.use_dropout)
            elif isinstance(layer, Flatten):
                x = torch.flatten(x, 1)
            elif isinstance(layer, LogSoftmax):
                x = F.log_softmax(x, dim=1)
        return x


LOW_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# ops that allocate, view or reshape without computing: a compute op whose children are only
# these is a kernel in the step profile
METADATA_OPS = frozenset({
    "aten::empty", "aten::empty_strided", "aten::empty_like", "aten::as_strided",
    "aten::as_strided_", "aten::view", "aten::_reshape_alias", "aten::reshape", "aten::resize_",
    "aten::detach", "detach", "aten::detach_", "aten::t", "aten::transpose", "aten::expand",
    "aten::permute", "aten::unsqueeze", "aten::squeeze", "aten::alias", "aten::resolve_conj",
    "aten::resolve_neg", "aten::select", "aten::slice", "aten::flatten", "aten::to",
    "aten::lift_fresh", "aten::zeros_like"})


class TorchEager(Mode):
    name = "torch-eager"
    framework = "torch"
    style = "eager"
    layouts = FRAMEWORK.layouts

    def _compile(self, fn: Callable) -> Callable:
        return fn

    def _build(self, weights: Weights) -> None:
        if self.device == "cuda":
            # TF32 only when asked for: strict fp32 is the baseline on both frameworks.
            tf32 = self.precision == "tf32"
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        torch.manual_seed(self.seed)  # dropout draws from torch's global generator
        self.net = SpecNet(self.spec, self.dropout, self.precision).to(self.device)
        if self.layout == "channels_last":
            self.net = self.net.to(memory_format=torch.channels_last)
        self.load_weights(weights)
        self._predict = self._compile(self._predict_eager)
        self._loss = self._compile(self._loss_eager)

    def _autocast(self):
        """torch.autocast for bf16 / fp16 (impls.precision's table is autocast's op lists),
        inside the functions torch.compile traces, so compiled graphs differ per dtype."""
        low = LOW_DTYPES.get(self.precision)
        return torch.autocast(self.device, dtype=low, enabled=low is not None)

    def load_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        validate_weights(self.spec, weights)
        with torch.no_grad():
            for name, p in self.net.named_parameters():
                p.copy_(torch.from_numpy(np.asarray(weights[name], dtype=np.float32)))
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=self.recipe.lr,
                                         momentum=self.recipe.momentum)
        # fp16 needs loss scaling (its range ends at 65504); GradScaler's defaults, which the
        # TensorFlow modes mirror
        self.scaler = torch.amp.GradScaler(self.device, enabled=self.precision == "fp16")

    def export_weights(self) -> Weights:
        return {n: p.detach().cpu().numpy().copy() for n, p in self.net.named_parameters()}

    def _to_device(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, ...]:
        fmt = torch.channels_last if self.layout == "channels_last" else torch.contiguous_format
        return (torch.from_numpy(images).to(self.device).contiguous(memory_format=fmt),
                torch.from_numpy(labels).to(self.device))

    def _predict_eager(self, x: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.net(x, False)

    def _loss_eager(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return F.nll_loss(self.net(x, True), y)

    def forward(self, batch: Any) -> torch.Tensor:
        with torch.inference_mode():
            return self._predict(batch[0])

    def _backward(self, batch: Any) -> torch.Tensor:
        """Gradients of the mean loss, unscaled (fp16's loss scale is taken out here)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(*batch)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        return loss.detach()

    def gradients(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = self._backward(batch)
        self.scaler.update()  # no step follows: close the scaler's iteration all the same
        return loss, {n: p.grad for n, p in self.net.named_parameters()}

    def train_step(self, batch: Any) -> torch.Tensor:
        loss = self._backward(batch)
        self.scaler.step(self.optimizer)  # skips the step when fp16 gradients overflowed
        self.scaler.update()
        return loss

    chain_variants = ("no_grad", "inference_mode", "grad")  # grad: autograd records each op

    def profile_step(self, batch: Any) -> StepProfile:
        """torch.profiler on CPU: kernels are the innermost ops that compute (their children,
        if any, only allocate or reshape), with their self time; everything else recorded is
        framework; the calling thread outside any top-level op is Python."""
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            self.train_step(batch)
            self.sync()
            wall = time.perf_counter() - start
        events = prof.events()
        top = [e for e in events if e.cpu_parent is None]
        kernels = [e for e in events if e.name not in METADATA_OPS
                   and all(c.name in METADATA_OPS for c in e.cpu_children)]
        return StepProfile(
            wall, union_length((e.time_range.start, e.time_range.end) for e in top) / 1e6,
            union_length((e.time_range.start, e.time_range.end) for e in kernels) / 1e6,
            len(kernels))

    @classmethod
    def _chain_compile(cls, fn: Callable) -> Callable:
        return fn

    @classmethod
    def _op_chain(cls, op: str, length: int, device: str, variant: str, x: np.ndarray,
                  w: np.ndarray) -> Callable[[], Any]:
        x_t = torch.from_numpy(x).to(device).requires_grad_(variant == "grad")
        w_t = torch.from_numpy(w).to(device)
        run = cls._chain_compile(lambda y: chain(op, length, y, x_t, w_t))
        context = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode,
                   "grad": torch.enable_grad}[variant]

        def call() -> torch.Tensor:
            with context():
                out = run(x_t)
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        return call

    def to_numpy(self, tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().cpu().numpy()

    def _grads_to_canonical(self, grads: dict[str, torch.Tensor]) -> Weights:
        return {n: self.to_numpy(g).copy() for n, g in grads.items()}


class TorchCompile(TorchEager):
    """torch.compile (inductor) on the forward and loss; autograd's backward is compiled
    ahead of time by AOTAutograd, the optimizer step stays eager as in the usual recipe.

    Variants: ``default`` (dynamic left unset: specialize, then go dynamic after a shape
    change) and ``dynamic`` (dynamic=True from the first call).
    """

    name = "torch-compile"
    style = "compiled"
    variants = ("default", "dynamic")
    compile_cache = "on-disk"
    CACHE_DIRS = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")  # read at each compile

    @classmethod
    @contextmanager
    def empty_compile_cache(cls) -> Iterator[None]:
        saved = {name: os.environ.get(name) for name in cls.CACHE_DIRS}
        folder = tempfile.mkdtemp(prefix="sidebyside-inductor-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = folder
        os.environ["TRITON_CACHE_DIR"] = os.path.join(folder, "triton")
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            shutil.rmtree(folder, ignore_errors=True)

    @classmethod
    @contextmanager
    def profiling(cls) -> Iterator[None]:
        """Inductor's C++ kernels then record themselves in torch.profiler (a new compile)."""
        import torch._inductor.config as inductor

        with inductor.patch({"cpp.enable_kernel_profile": True}):
            yield

    @classmethod
    def compile_cache_hits(cls) -> dict[str, int]:
        from torch._dynamo.utils import counters

        return {key: int(value) for key, value in counters["inductor"].items() if "cache" in key}

    def _build(self, weights: Weights) -> None:
        # Dynamo caches compiled code per code object, shared by every instance, with a
        # recompile limit: a fresh instance starts from a clean cache, so its first call is
        # a real compile and many instances never push each other into eager fallback.
        torch._dynamo.reset()
        self._graphs_at_build = _dynamo_graphs()
        super()._build(weights)

    def _compile(self, fn: Callable) -> Callable:
        return torch.compile(fn, dynamic=True if self.variant == "dynamic" else None)

    chain_variants = ("no_grad", "grad")  # inference_mode adds nothing to a compiled graph

    @classmethod
    def _chain_compile(cls, fn: Callable) -> Callable:
        torch._dynamo.reset()  # a fresh compile per chain, never an eager fallback
        return torch.compile(fn)

    def trace_count(self) -> int:
        return _dynamo_graphs() - self._graphs_at_build


def _dynamo_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])
