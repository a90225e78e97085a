"""Facts about the machine a run measures: threads, fp32 GEMM peak, versions, memory."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import psutil

from benchmarks.matrix import INTER_OP_THREADS
from impls.frameworks import FRAMEWORKS


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pin_cores(count: int) -> list[int] | None:
    """Keep this process on ``count`` of the cores it may use, when that is fewer: some
    runtimes ignore thread settings and size their pools from the cores they may run on
    (XLA's CPU client does), so the budget is enforced for all of them alike. None when
    nothing changed (all cores, or no affinity on this OS)."""
    if not hasattr(os, "sched_setaffinity") or count >= cpu_count():
        return None
    cores = sorted(os.sched_getaffinity(0))[:count]
    os.sched_setaffinity(0, cores)
    return cores


def configure_threads(intra: int) -> dict[str, int | list[int] | None]:
    """Give every installed framework the same intra-op budget (the process kept on that many
    cores when it is fewer than it has) and a fixed inter-op one; returns what each framework
    actually reports (a runtime already started keeps its settings)."""
    out: dict[str, int | list[int] | None] = {"requested_intra_op": intra,
                                               "inter_op": INTER_OP_THREADS,
                                               "pinned_cores": pin_cores(intra)}
    for fw in FRAMEWORKS.values():
        if fw.installed():
            out.update(fw.set_threads(intra, INTER_OP_THREADS))
    return out


def _best_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: allocation, kernel selection
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_peak(device: str, precision: str = "fp32", threads: int | None = None,
              n: int | None = None, repeats: int = 5) -> dict:
    """Best matmul rate in ``precision``'s compute dtype over the installed frameworks and
    NumPy (fp32 only), under the cases' thread budget: the denominator of MFU ("fraction of the
    best measured GEMM").

    No single library reaches the machine's peak everywhere (on this project's CPUs one
    framework's matmul was several times another's), so the peak is the best any of them
    achieves. On cuda TF32 is on only for ``tf32``, and nothing is copied to the host inside the timed loop.
    """
    from threadpoolctl import threadpool_limits

    n = n or (8192 if device == "cuda" else 2048)
    flops = 2 * n**3
    rates: dict[str, float] = {}
    if device == "cpu" and precision == "fp32":
        a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
        with threadpool_limits(limits=threads):
            rates["numpy"] = flops / _best_seconds(lambda: a @ a, repeats) / 1e9
    for fw in FRAMEWORKS.values():
        if fw.installed() and (device == "cpu" or fw.gpu_count()):
            with fw.matmul(n, device, precision) as run:
                rates[fw.name] = flops / _best_seconds(run, repeats) / 1e9
    best = max(rates, key=rates.get)
    return {"gflops": rates[best], "library": best, "per_library_gflops": rates,
            "precision": precision, "threads": threads,
            "method": f"best of {repeats} {precision} {n}x{n} @ {n}x{n} matmuls per library, "
                      "after one warm-up; peak = the fastest library"}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "numpy": np.__version__}
    packages = [p for fw in FRAMEWORKS.values() for p in fw.version_packages]
    for dist in (*packages, "pytest-benchmark"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    for fw in FRAMEWORKS.values():
        if fw.installed():
            out = {**fw.versions(), **out}  # the first framework that knows a fact gives it
    return out


def gpu_name(device: str) -> str | None:
    """The GPU's name, from the first installed framework that can tell."""
    if device != "cuda":
        return None
    return next((name for fw in FRAMEWORKS.values() if fw.installed()
                 for name in [fw.gpu_name()] if name), None)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    return psutil.virtual_memory().total / 2**30


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux: /proc/self/clear_refs), so the next
    peak_rss_mb() covers one case instead of everything the process ran before; False where
    the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """RSS high-water mark since the last reset_peak_rss() (VmHWM), else since the process
    started (ru_maxrss: kilobytes on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
