"""Several passes of the same matrix (separate pytest processes) merged into one
pytest-benchmark JSON: rounds pooled, stats recomputed, each pass's median kept.

Passes are what make the intervals honest on a shared machine: rounds inside one process see
one machine state, while a later process sees another (see benchmarks/analysis/stats.py).
One-off measurements (first-call streams, input pipelines) may run in the first pass only:
they stay single-pass entries. Each pass's contention is kept, and a case contended in any
pass is contended in the merge. The GEMM peak is the best of all passes' measurements.
"""

from __future__ import annotations

import copy
import statistics
from typing import Any

from pytest_benchmark.stats import Stats

from benchmarks.peaks import best_peaks, rescale_mfu

# extra_info rates derived from the median: rescaled when the pooled median replaces pass 1's
RATES = ("images_per_s", "gflops", "mfu")
FIRST_CALL_KEYS = ("first_call_s", "first_call_cold_s", "first_pass_s")
LABEL_KEYS = ("first_call_cache", "first_call_cold_cache")  # "mixed" when the passes differ
CONTENTION_KEYS = ("contended", "other_cpu_pct", "steal_pct", "contention_window_s")  # per pass


class PassMismatch(ValueError):
    """The passes did not run the same benchmarks."""


def merge_passes(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from ``runs`` (pass order): pass 1 supplies machine_info and the layout;
    every later pass must hold a subset of pass 1's benchmarks."""
    first = {b["name"] for b in runs[0]["benchmarks"]}
    for i, run in enumerate(runs[1:], start=2):
        extra = sorted({b["name"] for b in run["benchmarks"]} - first)
        if extra:
            raise PassMismatch(f"pass {i} ran benchmarks pass 1 did not ({', '.join(extra[:3])}"
                               f"{', ...' if len(extra) > 3 else ''}); was the matrix changed "
                               "mid-run?")
    by_name = [{b["name"]: b for b in run["benchmarks"]} for run in runs]
    merged = copy.deepcopy(runs[0])
    info = merged["machine_info"]
    info["passes"] = len(runs)
    merged["benchmarks"] = [_merge_one([passes[b["name"]] for passes in by_name
                                        if b["name"] in passes])
                            for b in runs[0]["benchmarks"]]
    tables = [run["machine_info"].get("gemm_peaks") for run in runs]
    if all(isinstance(t, dict) for t in tables):
        info["gemm_peaks"] = best_peaks(tables, [f"pass {i + 1}" for i in range(len(runs))])
        info["gemm_peak"] = {device: by["fp32"] for device, by in info["gemm_peaks"].items()}
        rescale_mfu(merged["benchmarks"], tables[0], info["gemm_peaks"])
    return merged


def _merge_one(passes: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(passes[0])
    pooled = Stats()
    for bench in passes:
        for duration in bench["stats"]["data"]:
            pooled.update(duration)
    stats = pooled.as_dict()
    stats["data"] = pooled.data
    stats["iterations"] = passes[0]["stats"].get("iterations", 1)  # part of the schema
    info = out["extra_info"]
    if info.get("images_per_s"):
        scale = out["stats"]["median"] / stats["median"]
        for key in RATES:
            if key in info:
                info[key] *= scale
        if "s_per_image" in info:
            info["s_per_image"] /= scale
    info["pass_medians"] = [b["stats"]["median"] for b in passes]
    for key in FIRST_CALL_KEYS:  # the cold compile is timed in pass 1 only: None elsewhere
        if key in info:
            info[f"{key}_passes"] = [b["extra_info"].get(key) for b in passes]
            info[key] = statistics.median(v for v in info[f"{key}_passes"] if v is not None)
    for key in LABEL_KEYS:
        if key in info:
            labels = {b["extra_info"][key] for b in passes if key in b["extra_info"]}
            info[key] = labels.pop() if len(labels) == 1 else "mixed"
    info["rounds"] = sum(b["extra_info"].get("rounds", 0) for b in passes)
    for key in CONTENTION_KEYS:
        if any(key in b["extra_info"] for b in passes):
            info[f"{key}_passes"] = [b["extra_info"].get(key) for b in passes]
    if "contended_passes" in info:
        info["contended"] = any(bool(c) for c in info["contended_passes"])
        info["other_cpu_pct"] = max(v or 0.0 for v in info["other_cpu_pct_passes"])
        info["steal_pct"] = max(v or 0.0 for v in info["steal_pct_passes"])
        info["contention_window_s"] = min(v or 0.0 for v in info["contention_window_s_passes"])
    out["stats"] = stats
    return out
