"""Uncertainty on ratios of step times, and the verdict it supports.

Three levels of repetition (Kalibera & Jones, "Rigorous benchmarking in reasonable time"):
rounds inside one process, passes (separate processes minutes apart inside one run), and runs
(hours apart). On a shared VM each level adds noise the one below cannot see: rounds vary by
a few %, passes by more, whole runs by 10-30% (sd of log medians 0.02-0.30 across nine quick
runs of unchanged code here). So a comparison of two runs takes its noise from earlier runs
on the same machine when there are enough (``history_ratio_ci``), else from the passes, else
from the rounds, and says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

CONFIDENCE = 0.95
RESAMPLES = 2000
BETWEEN_RUNS = "between runs"
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
    p: float = float("nan")  # two-sided, H0: ratio = 1

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
    boot = result.bootstrap_distribution
    p = min(1.0, 2 * min(np.mean(boot <= 1), np.mean(boot >= 1)))
    return Ratio(value, float(low), float(high), WITHIN_RUN, float(p))


def passes_ratio_ci(a: np.ndarray, b: np.ndarray) -> Ratio:
    """Ratio of the geometric means of pass medians, with a t interval on the log scale.

    The between-pass variance is pooled over the sides that have two or more passes, so a
    single-pass baseline can still be compared against a multi-pass current run.
    """
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    diff = la.mean() - lb.mean()
    dof = sum(len(x) - 1 for x in (la, lb))
    pooled = sum(((x - x.mean()) ** 2).sum() for x in (la, lb)) / dof
    return _t_ratio(diff, np.sqrt(pooled * (1 / len(la) + 1 / len(lb))), dof, BETWEEN_PASSES)


def history_ratio_ci(a: np.ndarray, b: np.ndarray, run_sd: float, runs: int) -> Ratio:
    """Ratio of the pass medians' geometric means; the noise is the sd of log run medians of
    ``runs`` earlier runs, counted once for each side (each run has its own run effect)."""
    diff = np.log(np.asarray(a, dtype=float)).mean() - np.log(np.asarray(b, dtype=float)).mean()
    return _t_ratio(diff, run_sd * np.sqrt(2), runs - 1, BETWEEN_RUNS)


def _t_ratio(log_diff: float, se: float, dof: float, method: str) -> Ratio:
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * se
    if se > 0:
        p = 2 * stats.t.sf(abs(log_diff) / se, dof)
    else:  # no noise at all: any difference is certain
        p = 1.0 if log_diff == 0 else 0.0
    return Ratio(float(np.exp(log_diff)), float(np.exp(log_diff - half)),
                 float(np.exp(log_diff + half)), method, float(p))


def ratio_ci(a: Timings, b: Timings, seed: int = 0) -> Ratio:
    """time(a) / time(b): between passes when either side has several, else over rounds."""
    if max(len(a.pass_medians), len(b.pass_medians)) >= 2:
        return passes_ratio_ci(a.pass_medians, b.pass_medians)
    return rounds_ratio_ci(a.rounds, b.rounds, seed)


PAIRED_RUNS = "paired runs"


def _trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x, by Newton's method (limma's trigammaInverse)."""
    if x > 1e7:
        return 1 / np.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(50):
        tri = special.polygamma(1, y)
        step = tri * (1 - tri / x) / special.polygamma(2, y)
        y += step
        if -step / y < 1e-8:
            break
    return float(y)


def squeeze_variances(s2: np.ndarray, dof: float) -> tuple[np.ndarray, float]:
    """Empirical-Bayes variances (Smyth 2004, limma's squeezeVar): each benchmark's sample
    variance (``dof`` degrees of freedom) is pulled towards a prior fitted to all of them, by
    as much as their spread allows; returns the posterior variances and the prior's degrees
    of freedom d0 (inf: one common variance fits all; small: little pooling)."""
    z = np.log(np.maximum(s2, 1e-12))
    e = z - special.digamma(dof / 2) + np.log(dof / 2)
    excess = e.var(ddof=1) - special.polygamma(1, dof / 2) if len(e) > 1 else 0.0
    if excess > 0:
        d0 = 2 * _trigamma_inverse(float(excess))
        prior = np.exp(e.mean() + special.digamma(d0 / 2) - np.log(d0 / 2))
        return (d0 * prior + dof * s2) / (d0 + dof), d0
    return np.full_like(s2, np.exp(e.mean())), np.inf


def paired_ratios(a: np.ndarray, b: np.ndarray) -> list[Ratio]:
    """time(b) / time(a) per benchmark (rows) from K paired run medians (columns; pair i ran
    minutes apart on this machine): a t interval on the mean of log(b_i / a_i), so drift
    shared by a pair cancels. With K pairs each benchmark's own variance has only K - 1
    degrees of freedom (5 pairs: t = 2.78 at 95%), so the variances are moderated across the
    benchmarks judged together (``squeeze_variances``); what that buys on a real machine is
    measured in the README ("Interleaved A/B")."""
    diffs = np.log(np.asarray(b, dtype=float)) - np.log(np.asarray(a, dtype=float))
    pairs = diffs.shape[1]
    if pairs < 2:
        return [Ratio(float(np.exp(d.mean())), float("nan"), float("nan"), PAIRED_RUNS)
                for d in diffs]
    posterior, d0 = squeeze_variances(diffs.var(axis=1, ddof=1), pairs - 1)
    dof = pairs - 1 + min(d0, 1e6)
    return [_t_ratio(float(d.mean()), float(np.sqrt(v / pairs)), dof, PAIRED_RUNS)
            for d, v in zip(diffs, posterior, strict=True)]


def timing_ratio(a: Timings | None, b: Timings | None, a_median: float,
                 b_median: float) -> Ratio:
    """time(a) / time(b) with a 95% interval, or the bare ratio of the medians (no interval)
    when either side has no per-round data."""
    if a is None or b is None:
        return Ratio(a_median / b_median, float("nan"), float("nan"))
    return ratio_ci(a, b)


NO_VERDICT = "no verdict (one pass: its interval covers one process only)"
FDR = 0.05  # Benjamini-Hochberg false discovery rate across the ratios judged together


def q_values(p_values: list[float], tested: list[bool]) -> list[float]:
    """Benjamini-Hochberg q values over the tested p values (NaN for the others): the one
    false discovery control the report's verdicts and compare's marks share."""
    index = [i for i, t in enumerate(tested) if t]
    out = [float("nan")] * len(p_values)
    if index:
        for i, q in zip(index, stats.false_discovery_control([p_values[i] for i in index]),
                        strict=True):
            out[i] = float(q)
    return out


def verdicts(ratios: list[Ratio]) -> list[str]:
    """Verdicts for ratios judged together (time(candidate) / time(baseline)): faster /
    slower only where the interval spans processes (passes or runs) and the Benjamini-
    Hochberg q value is <= FDR; round-only intervals get no verdict (the same process
    measured 16 ms and 35 ms in two runs here, so they cannot speak for a difference)."""
    out = [NO_VERDICT if r.method == WITHIN_RUN else speedup_verdict(r) for r in ratios]
    tested = [r.method != WITHIN_RUN and bool(np.isfinite(r.p) and np.isfinite(r.low))
              for r in ratios]
    for i, q in enumerate(q_values([r.p for r in ratios], tested)):
        if tested[i]:
            out[i] = (("faster" if ratios[i].value < 1 else "slower") if q <= FDR
                      else "no significant difference")
    return out


def speedup_verdict(ratio: Ratio) -> str:
    """For ratio = time(candidate) / time(baseline): faster, slower or no significant difference."""
    if not np.isfinite(ratio.low):
        return "not enough rounds"
    if not ratio.significant:
        return "no significant difference"
    return "faster" if ratio.value < 1 else "slower"
