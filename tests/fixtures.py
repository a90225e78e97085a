"""Small pytest-benchmark-shaped results with known round times, for report and compare tests."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from impls.registry import framework_of

MACHINE = {"cpu_model": "Test CPU", "cores": 2, "system": "Linux", "machine": "x86_64",
           "versions": {"python": "3.11", "torch": "2.14.1", "tensorflow-cpu": "2.21.0"},
           "gemm_peak": {"cpu": {"gflops": 100.0, "library": "numpy", "per_library_gflops":
                                 {"numpy": 100.0}, "method": "test"}},
           "threads": {"requested_intra_op": 2, "torch_intra_op": 2, "tf_intra_op": 2, "inter_op": 1}}


def bench(mode: str, phase: str, batch: int, median_ms: float, model: str = "workshop",
          seed: int = 0, rounds: int = 30, **extra: Any) -> dict[str, Any]:
    """Rounds spread +-2% around the median, seeded; stats computed from them."""
    rng = np.random.default_rng(seed)
    data = median_ms / 1e3 * (1 + rng.uniform(-0.02, 0.02, rounds))
    data = data - np.median(data) + median_ms / 1e3  # exact median
    q1, q3 = np.percentile(data, [25, 75])
    info = {"model": model, "mode": mode, "framework": framework_of(mode),
            "style": "eager", "variant": "default", "device": "cpu", "gpu_name": None,
            "phase": phase, "batch": batch, "images_per_s": batch / np.median(data),
            "flops_per_call": 1e6 * batch, "gflops": 1e6 * batch / np.median(data) / 1e9,
            "mfu": 1e6 * batch / np.median(data) / 1e11, "first_call_s": 0.5,
            "versions": MACHINE["versions"], "threads": MACHINE["threads"], **extra}
    return {"name": f"test_step[{phase}-{model}-{mode}-cpu-b{batch}]", "group": "g",
            "extra_info": info,
            "stats": {"min": float(data.min()), "max": float(data.max()), "mean": float(data.mean()),
                      "stddev": float(data.std(ddof=1)), "median": float(np.median(data)),
                      "iqr": float(q3 - q1), "q1": float(q1), "q3": float(q3), "rounds": rounds,
                      "data": data.tolist(), "iterations": 1}}


def run(benches: list[dict[str, Any]]) -> dict[str, Any]:
    return {"machine_info": copy.deepcopy(MACHINE), "datetime": "2026-11-27T00:00:00",
            "benchmarks": benches}


def standard_run() -> dict[str, Any]:
    """torch-eager 10 ms, tf-graph 5 ms, tf-eager 20 ms, at batches 1 and 64, train."""
    benches = []
    for i, (mode, ms) in enumerate([("torch-eager", 10.0), ("tf-graph", 5.0), ("tf-eager", 20.0)]):
        for batch in (1, 64):
            benches.append(bench(mode, "train", batch, ms * (1 if batch == 1 else 8), seed=i * 10 + batch))
    return run(benches)


def standard_passes(jitter: float = 0.02, seed: int = 0) -> dict[str, Any]:
    """standard_run's benchmarks over 3 passes (merged as `sidebyside run` merges them):
    each pass shifts every time by a few %, and each benchmark moves by ``jitter`` more."""
    from benchmarks.analysis.passes import merge_passes

    rng = np.random.default_rng(seed)
    passes = []
    for shift in (1.0, 1.03, 0.97):
        one = standard_run()
        for i, b in enumerate(one["benchmarks"]):
            factor = shift * (1 + rng.normal(0, jitter))
            scaled = bench(b["extra_info"]["mode"], "train", b["extra_info"]["batch"],
                           b["stats"]["median"] * 1e3 * factor, seed=i)
            one["benchmarks"][i] = scaled
        passes.append(one)
    return merge_passes(passes)


def slowed(raw: dict[str, Any], name: str, factor: float) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    for b in out["benchmarks"]:
        if b["name"] == name:
            b["stats"]["data"] = [t * factor for t in b["stats"]["data"]]
            for k in ("min", "max", "mean", "median", "q1", "q3"):
                b["stats"][k] *= factor
            if b["extra_info"].get("pass_medians"):
                b["extra_info"]["pass_medians"] = [t * factor for t in b["extra_info"]["pass_medians"]]
    return out
