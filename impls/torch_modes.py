"""PyTorch modes: torch-eager (define-by-run) and torch-compile (torch.compile, inductor)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

from impls.base import Mode
from impls.spec import Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ModelSpec, ReLU
from impls.weights import Weights, validate_weights


class SpecNet(nn.Module):
    """An nn.Module that walks the spec; parameter names are the canonical ones."""

    def __init__(self, spec: ModelSpec, dropout: bool):
        super().__init__()
        self.spec, self.use_dropout = spec, dropout
        for layer in spec.layers:
            if isinstance(layer, Conv2d):
                self.add_module(layer.name, nn.Conv2d(layer.cin, layer.cout, layer.kernel))
            elif isinstance(layer, Linear):
                self.add_module(layer.name, nn.Linear(layer.fin, layer.fout))

    def forward(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        for layer in self.spec.layers:
            if isinstance(layer, (Conv2d, Linear)):
                x = getattr(self, layer.name)(x)
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


class TorchEager(Mode):
    name = "torch-eager"
    framework = "torch"
    style = "eager"

    def _compile(self, fn: Callable) -> Callable:
        return fn

    def _build(self, weights: Weights) -> None:
        if self.device == "cuda":
            # Strict fp32 on both frameworks: TF32 would make GPU parity and FLOP rates
            # incomparable with TF's fp32 path.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        torch.manual_seed(self.seed)  # dropout draws from torch's global generator
        self.net = SpecNet(self.spec, self.dropout).to(self.device)
        self.load_weights(weights)
        self._predict = self._compile(self._predict_eager)
        self._loss = self._compile(self._loss_eager)

    def load_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        validate_weights(self.spec, weights)
        with torch.no_grad():
            for name, p in self.net.named_parameters():
                p.copy_(torch.from_numpy(np.asarray(weights[name], dtype=np.float32)))
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=self.recipe.lr,
                                         momentum=self.recipe.momentum)

    def export_weights(self) -> Weights:
        return {n: p.detach().cpu().numpy().copy() for n, p in self.net.named_parameters()}

    def _to_device(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, ...]:
        return (torch.from_numpy(images).to(self.device), torch.from_numpy(labels).to(self.device))

    def _predict_eager(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, False)

    def _loss_eager(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.nll_loss(self.net(x, True), y)

    def forward(self, batch: Any) -> torch.Tensor:
        with torch.inference_mode():
            return self._predict(batch[0])

    def _backward(self, batch: Any) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(*batch)
        loss.backward()
        return loss.detach()

    def gradients(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = self._backward(batch)
        return loss, {n: p.grad for n, p in self.net.named_parameters()}

    def train_step(self, batch: Any) -> torch.Tensor:
        loss = self._backward(batch)
        self.optimizer.step()
        return loss

    def sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()

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

    def trace_count(self) -> int:
        return _dynamo_graphs() - self._graphs_at_build


def _dynamo_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])
