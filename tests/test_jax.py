"""JAX, the third framework: parity in fp32 and bf16 from the command line, the benchmark
matrix naming it, one trace per shape under jit, its thread budget, and a checkout without it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import main
from impls.registry import unavailable_reason
from tests.test_plugin import pytest_elsewhere

ROOT = Path(__file__).resolve().parents[1]
JAX_MISSING = unavailable_reason("jax-jit", "cpu")
needs_jax = pytest.mark.skipif(JAX_MISSING is not None, reason=str(JAX_MISSING))


@needs_jax
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_parity_passes_for_both_jax_modes(tmp_path, precision):
    out = tmp_path / "parity.json"
    assert main(["parity", "--models", "workshop", "--modes", "jax-jit,jax-eager", "--batch", "8",
                 "--steps", "3", "--precision", precision, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["passed"] and not report["skipped"]
    refs = {(c["mode"], c["reference"]) for c in report["checks"]}
    assert ("jax-jit", "oracle") in refs and ("jax-eager", "oracle") in refs
    if precision == "bf16":  # each within 3x of the reference's and its own eager mode's error
        assert ("jax-jit", "torch-eager") in refs and ("jax-jit", "jax-eager") in refs


@needs_jax
def test_benchmarks_name_the_framework_jax(tmp_path):
    out = tmp_path / "b.json"
    run = pytest_elsewhere(tmp_path, "--pyargs", "benchmarks.bench_steps", "--benchmark-only",
                           "--quick", "--models", "workshop", "--modes", "jax-jit,jax-eager",
                           "--phases", "train", "--batch-sizes", "2", "--data", "synthetic",
                           f"--benchmark-json={out}")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    cases = {b["extra_info"]["mode"]: b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]}
    assert set(cases) == {"jax-jit", "jax-eager"}
    assert {info["framework"] for info in cases.values()} == {"jax"}
    assert cases["jax-jit"]["traces"] == 1 and cases["jax-eager"]["traces"] is None
    assert cases["jax-jit"]["first_call_s"] > 0


@needs_jax
def test_jit_traces_once_per_input_shape():
    import numpy as np

    from impls.registry import mode_class
    from impls.spec import get_model

    impl = mode_class("jax-jit")(get_model("workshop"), "cpu", dropout=False)
    rng = np.random.default_rng(0)
    for size in (4, 4, 8, 4):
        batch = impl.to_device(rng.standard_normal((size, 1, 28, 28)).astype(np.float32),
                               rng.integers(0, 10, size).astype(np.int64))
        impl.train_step(batch)
    impl.sync()
    assert impl.trace_count() == 2  # batch 4 and batch 8: the repeats hit the cache


@needs_jax
def test_jax_gets_the_thread_budget_before_its_backend_starts():
    """XLA sizes its CPU thread pool when the backend starts: the budget must reach it first.
    Counted by the pool's own threads in /proc, not by timing."""
    code = ("import json; from benchmarks import machine; from impls.jaxfw.framework import "
            "xla_pool_threads; t = machine.configure_threads(1); "
            "print(json.dumps({**t, 'pool': xla_pool_threads()}))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    threads = json.loads(run.stdout.splitlines()[-1])
    assert threads["jax_intra_op"] == 1 and threads["pool"] <= 1, threads
