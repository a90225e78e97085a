"""Uncertainty on ratios of step times, and the verdict it supports.

Two levels of repetition (Kalibera & Jones, "Rigorous benchmarking in reasonable time"):
rounds inside one process, and passes, i.e. separate processes at different times. On a
shared VM the process-to-process variation dominates (we measured 20-80% between runs against
a few % between rounds), so whenever either side has two or more passes the interval comes
from the pass medians; a bootstrap over rounds is the fallback for single-pass results and
says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000
BETWEEN_PASSES = "between passes"
WITHIN_RUN = "rounds of one pass"


@dataclass(frozen=True)
class Timings:
    """One benchmark's times: every round, and the median of each pass that produced them."""

    rounds: np.ndarray
    pass_medians: np.ndarray

    @classmethod
    def single_pass(cls, rounds) -> Timings:
        rounds = np.asarray(rounds, dtype=float)
        return cls(rounds, np.array([np.median(rounds)]))


@dataclass(frozen=True)
class Ratio:
    """time(a) / time(b) with a confidence interval and the level of repetition behind it."""

    value: float
    low: float
    high: float
    method: str = WITHIN_RUN

    @property
    def significant(self) -> bool:
        return not (self.low <= 1.0 <= self.high)


def _median_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis) / np.median(b, axis=axis)


def rounds_ratio_ci(a: np.ndarray, b: np.ndarray, seed: int = 0) -> Ratio:
    """Percentile bootstrap of median(a) / median(b), resampling each side's rounds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    value = float(np.median(a) / np.median(b))
    if len(a) < 2 or len(b) < 2:
        return Ratio(value, float("nan"), float("nan"))
    result = stats.bootstrap((a, b), _median_ratio, n_resamples=RESAMPLES,
                             confidence_level=CONFIDENCE, method="percentile", vectorized=True,
                             random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return Ratio(value, float(low), float(high))


def passes_ratio_ci(a: np.ndarray, b: np.ndarray) -> Ratio:
    """Ratio of the geometric means of pass medians, with a t interval on the log scale.

    The between-pass variance is pooled over the sides that have two or more passes, so a
    single-pass baseline can still be compared against a multi-pass current run.
    """
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    diff = la.mean() - lb.mean()
    dof = sum(len(x) - 1 for x in (la, lb))
    pooled = sum(((x - x.mean()) ** 2).sum() for x in (la, lb)) / dof
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * np.sqrt(pooled * (1 / len(la) + 1 / len(lb)))
    return Ratio(float(np.exp(diff)), float(np.exp(diff - half)), float(np.exp(diff + half)),
                 BETWEEN_PASSES)


def ratio_ci(a: Timings, b: Timings, seed: int = 0) -> Ratio:
    """time(a) / time(b): between passes when either side has several, else over rounds."""
    if max(len(a.pass_medians), len(b.pass_medians)) >= 2:
        return passes_ratio_ci(a.pass_medians, b.pass_medians)
    return rounds_ratio_ci(a.rounds, b.rounds, seed)


def speedup_verdict(ratio: Ratio) -> str:
    """For ratio = time(candidate) / time(baseline): faster, slower or no significant difference."""
    if not np.isfinite(ratio.low):
        return "not enough rounds"
    if not ratio.significant:
        return "no significant difference"
    return "faster" if ratio.value < 1 else "slower"
