"""Uncertainty on ratios of medians: a bootstrap over rounds, and the verdict it supports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000


@dataclass(frozen=True)
class Ratio:
    """median(a) / median(b) with a bootstrap confidence interval over each side's rounds."""

    value: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return not (self.low <= 1.0 <= self.high)


def _median_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis) / np.median(b, axis=axis)


def ratio_ci(a: np.ndarray, b: np.ndarray, seed: int = 0) -> Ratio:
    """Percentile bootstrap, resampling each side's rounds independently (rounds are the
    unit of repetition; medians resist the odd preempted round on a shared machine)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    value = float(np.median(a) / np.median(b))
    if len(a) < 2 or len(b) < 2:
        return Ratio(value, float("nan"), float("nan"))
    result = stats.bootstrap((a, b), _median_ratio, n_resamples=RESAMPLES,
                             confidence_level=CONFIDENCE, method="percentile", vectorized=True,
                             random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return Ratio(value, float(low), float(high))


def speedup_verdict(ratio: Ratio) -> str:
    """For ratio = time(candidate) / time(baseline): faster, slower or no significant difference."""
    if not np.isfinite(ratio.low):
        return "not enough rounds"
    if not ratio.significant:
        return "no significant difference"
    return "faster" if ratio.value < 1 else "slower"
