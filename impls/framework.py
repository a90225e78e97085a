"""What a framework is to the harness: one record per framework package under ``impls/``.

A ``Framework`` owns everything that differs between frameworks: its modes and data-parallel
engines (named records), threads, GPUs, waiting for a device, peak GPU memory, a data-parallel
group's rendezvous, a matmul for the GEMM peak, layouts, precisions, the input pipeline, the
eager reference for parity, version packages, display names, report wording and plot style.
``benchmarks/`` iterates over the registered frameworks (``impls.frameworks``) and names none
of them. Every import of the framework itself happens inside a method, so a record can be
read (and its modes listed as skipped) where the framework is not installed.
"""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple


def nothing() -> None:
    """Waiting on a CPU: the op has finished when it returns (frameworks that queue work
    asynchronously on CPU, like JAX, wait on their results instead)."""


def load(path: str) -> Any:
    """The object at ``module:attribute``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class ModeInfo:
    """A mode as the registry knows it before its framework is imported."""

    name: str
    cls: str  # module:class of its Mode
    usual: bool = False  # the framework's usual mode: the cross-framework comparisons use it
    quick: bool = False  # in the --quick matrix
    tuned: bool = False  # timed in bf16 / channels_last by the default run
    line: str = "-"  # matplotlib line style in the figures
    overhead: str = ""  # one sentence: what a mode's per-op cost is made of, with sources


@dataclass(frozen=True)
class EngineInfo:
    """A data-parallel engine: the framework's own distributed runtime over one of its modes."""

    name: str
    cls: str  # module:class of its Mode
    mode: str  # the single-process mode it runs on each worker
    color: str  # matplotlib colour in the scaling figure


class Comparison(NamedTuple):
    """Two modes the report's claims set side by side: time(baseline) / time(candidate)."""

    candidate: str
    baseline: str
    meaning: str


class Framework(ABC):
    name: ClassVar[str]  # its import name, as in Mode.framework and the results' "framework"
    display: ClassVar[str]  # how reports name it
    key: ClassVar[str]  # prefix of its entries in the run's thread record
    install: ClassVar[str]  # how a user gets it
    version_packages: ClassVar[tuple[str, ...]]  # distributions whose versions a run records
    modes: ClassVar[tuple[ModeInfo, ...]]
    engines: ClassVar[tuple[EngineInfo, ...]] = ()
    no_engine_reason: ClassVar[str] = ""  # why it has no data-parallel engine here, if none
    eager: ClassVar[str]  # its define-by-run mode: the low-precision parity peer
    comparisons: ClassVar[tuple[Comparison, ...]] = ()  # inside the framework
    layouts: ClassVar[tuple[str, ...]] = ("default",)  # memory formats it offers
    native_layout: ClassVar[str]  # what "default" means
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "bf16", "fp16", "tf32")
    pipeline: ClassVar[str]  # module:class of its input pipeline (impls.pipeline.Pipeline)
    pipeline_name: ClassVar[str]  # what its users call that pipeline

    def installed(self) -> bool:
        return importlib.util.find_spec(self.name) is not None

    def mode_reason(self, mode: str, device: str) -> str | None:
        """Why one of its installed modes cannot run on ``device`` here (a missing compiler),
        or None."""
        return None

    def precision_reason(self, precision: str) -> str | None:
        if precision in self.precisions:
            return None
        return f"{self.display} modes here offer {', '.join(self.precisions)}, not {precision}"

    def versions(self) -> dict[str, str | None]:
        """Runtime facts beyond the package versions (CUDA, cuDNN), for installed frameworks."""
        return {}

    def gpu_name(self) -> str | None:
        return None

    @abstractmethod
    def set_threads(self, intra: int, inter: int) -> dict[str, int | None]:
        """Apply the thread budget where the runtime still allows it (one already started
        keeps its settings); return what the framework then reports, keyed ``<key>_intra_op``
        and ``<key>_inter_op``."""

    @abstractmethod
    def gpu_count(self) -> int:
        """CUDA GPUs this framework can use."""

    @abstractmethod
    def sync(self, device: str) -> Callable[[], None]:
        """A call that waits until work queued on ``device`` is done."""

    @abstractmethod
    def reset_gpu_peak(self) -> None:
        """Start a new peak for gpu_peak_mb()."""

    @abstractmethod
    def gpu_peak_mb(self) -> float:
        """Peak GPU memory this framework allocated since reset_gpu_peak()."""

    def rendezvous_ports(self, workers: int) -> int:
        """Loopback ports a data-parallel group of ``workers`` processes needs."""
        raise NotImplementedError(self.no_engine_reason)

    def cluster_env(self, rank: int, workers: int, ports: list[int], addresses: list[str],
                    interface: str | None) -> dict[str, str]:
        """Worker ``rank``'s place in the group, as the framework's own launcher describes it
        (so the same worker runs under that launcher on several machines): each worker's
        address, and the network interface to use (None: the framework's choice)."""
        raise NotImplementedError(self.no_engine_reason)

    @abstractmethod
    def matmul(self, n: int, device: str, precision: str) -> Iterator[Callable[[], object]]:
        """Context manager: inside it, a call that multiplies two n x n matrices in the
        precision's compute dtype on ``device`` and waits for the result; TF32 is on only
        for ``tf32`` and restored afterwards."""
