"""Facts about the machine a run measures: threads, fp32 GEMM peak, versions, memory."""

from __future__ import annotations

import importlib.util
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


def has(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def configure_threads(intra: int) -> dict[str, int | None]:
    """Give both frameworks the same intra-op budget and a fixed inter-op one; returns what
    each framework actually reports (a runtime already started keeps its settings)."""
    out: dict[str, int | None] = {"requested_intra_op": intra, "inter_op": INTER_OP_THREADS}
    if has("torch"):
        import torch

        torch.set_num_threads(intra)
        try:
            torch.set_num_interop_threads(INTER_OP_THREADS)
        except RuntimeError:
            pass  # parallel work already ran in this process; the getter reports the truth
        out["torch_intra_op"] = torch.get_num_threads()
        out["torch_inter_op"] = torch.get_num_interop_threads()
    if has("tensorflow"):
        from impls.tf_modes import tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(INTER_OP_THREADS)
        except RuntimeError:
            pass  # TF's runtime is initialized; its settings can no longer change
        out["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads() or None
        out["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads() or None
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
    """Best matmul rate in ``precision``'s compute dtype over torch, TensorFlow and NumPy
    (fp32 only), under the cases' thread budget: the denominator of MFU ("fraction of the
    best measured GEMM").

    No single library reaches the machine's peak everywhere (on this project's CPUs TF's
    oneDNN matmul was ~2.3x torch's), so the peak is the best any of them achieves. On cuda
    TF32 is on only for ``tf32``, and nothing is copied to the host inside the timed loop.
    """
    from threadpoolctl import threadpool_limits

    n = n or (8192 if device == "cuda" else 2048)
    flops = 2 * n**3
    rates: dict[str, float] = {}
    if device == "cpu" and precision == "fp32":
        a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
        with threadpool_limits(limits=threads):
            rates["numpy"] = flops / _best_seconds(lambda: a @ a, repeats) / 1e9
    if has("torch"):
        import torch

        if device == "cpu" or torch.cuda.is_available():
            dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
            t = torch.randn(n, n, device=device).to(dtype)
            sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
            saved = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
            try:
                rates["torch"] = flops / _best_seconds(lambda: (t @ t, sync()), repeats) / 1e9
            finally:
                torch.backends.cuda.matmul.allow_tf32 = saved
    if has("tensorflow"):
        from impls.tf_modes import tf, tf_device_name

        if device == "cpu" or tf.config.list_physical_devices("GPU"):
            dtype = {"bf16": tf.bfloat16, "fp16": tf.float16}.get(precision, tf.float32)
            tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
            # eager ops on CPU return once computed; a GPU needs the barrier
            sync = tf.test.experimental.sync_devices if device == "cuda" else (lambda: None)
            with tf.device(tf_device_name(device)):
                m = tf.cast(tf.random.normal((n, n)), dtype)
                rates["tensorflow"] = flops / _best_seconds(
                    lambda: (tf.matmul(m, m), sync()), repeats) / 1e9
    best = max(rates, key=rates.get)
    return {"gflops": rates[best], "library": best, "per_library_gflops": rates,
            "precision": precision, "threads": threads,
            "method": f"best of {repeats} {precision} {n}x{n} @ {n}x{n} matmuls per library, "
                      "after one warm-up; peak = the fastest library"}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "numpy": np.__version__}
    for dist in ("torch", "tensorflow", "tensorflow-cpu", "pytest-benchmark"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    if has("torch"):
        import torch

        out["cuda"] = torch.version.cuda
        out["cudnn"] = str(torch.backends.cudnn.version()) if torch.cuda.is_available() else None
    return out


def gpu_name(device: str) -> str | None:
    if device != "cuda" or not has("torch"):
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
