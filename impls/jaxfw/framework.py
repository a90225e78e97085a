"""JAX's record: jax-jit and jax-eager, XLA's CPU threads, GPUs and matmul."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from impls.framework import Comparison, Framework, ModeInfo, nothing


class JAX(Framework):
    name, display, key, install = "jax", "JAX", "jax", "pip install 'sidebyside[cpu]'"
    version_packages = ("jax", "jaxlib")
    modes = (
        ModeInfo("jax-jit", "impls.jaxfw.modes:JaxJit", usual=True, tuned=True,
                 line="-.",
                 overhead="jax.jit traces the pure function once per input shape and XLA "
                          "compiles it into fused machine code (Frostig et al., SysML 2018): "
                          "per-op cost close to zero, a per-call cost for argument handling "
                          "and dispatch"),
        ModeInfo("jax-eager", "impls.jaxfw.modes:JaxEager", line=(0, (1, 1)),
                 overhead="un-jitted, every primitive is dispatched from Python as its own "
                          "small compiled XLA computation (cached per shape), so each op pays "
                          "JAX's Python dispatch and an executable launch"),
    )
    no_engine_reason = ("JAX's multi-process runtime (jax.distributed) is not wired into "
                        "`sidebyside distributed` yet: not measured")
    eager = "jax-eager"
    comparisons = (Comparison("jax-jit", "jax-eager",
                              "define-then-run (jit) vs define-by-run inside JAX"),)
    native_layout = "NHWC"
    precisions = ("fp32", "bf16", "tf32")  # fp16 would need loss scaling, not written for JAX
    pipeline, pipeline_name = "impls.jaxfw.pipeline:JaxPipeline", "NumPy batches (JAX)"

    def set_threads(self, intra: int, inter: int) -> dict[str, int | None]:
        """XLA's CPU client takes no thread settings (XLA_FLAGS' intra_op_parallelism_threads
        changed nothing here: 1.87 cores used either way): it starts one pool thread per core
        the process may run on, which is how the harness gives it the budget
        (benchmarks.machine keeps the process on ``intra`` cores). Reported: the pool it has."""
        import jax
        import jax.numpy as jnp

        jax.jit(lambda x: x + 1)(jnp.zeros(1)).block_until_ready()  # the pool starts here
        return {"jax_intra_op": xla_pool_threads(), "jax_inter_op": None}

    def gpu_count(self) -> int:
        import jax

        try:
            return len(jax.devices("gpu"))
        except RuntimeError:
            return 0

    def sync(self, device: str) -> Callable[[], None]:
        return nothing  # JAX waits on arrays, not devices: its modes block on their results

    def reset_gpu_peak(self) -> None:
        pass  # JAX's peak_bytes_in_use cannot be reset: gpu_peak_mb is the process's peak

    def gpu_peak_mb(self) -> float:
        import jax

        return jax.devices("gpu")[0].memory_stats()["peak_bytes_in_use"] / 2**20

    @contextmanager
    def matmul(self, n: int, device: str, precision: str) -> Iterator[Callable[[], object]]:
        import jax
        import jax.numpy as jnp
        from jax import lax

        from impls.jaxfw.modes import device_of

        dtype = {"bf16": jnp.bfloat16, "fp16": jnp.float16}.get(precision, jnp.float32)
        exact = lax.Precision.DEFAULT if precision == "tf32" else lax.Precision.HIGHEST
        m = jax.device_put(jax.random.normal(jax.random.key(0), (n, n)).astype(dtype),
                           device_of(device))
        product = jax.jit(lambda a: jnp.matmul(a, a, precision=exact))
        yield lambda: (product(m).block_until_ready(), None)


def xla_pool_threads() -> int | None:
    """Threads in XLA's CPU pool (named tf_XLAEigen) in this process, or None where /proc
    cannot tell."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    names = []
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm") as handle:
                names.append(handle.read().strip())
        except OSError:
            continue  # the thread ended meanwhile
    return names.count("tf_XLAEigen")


FRAMEWORK = JAX()
