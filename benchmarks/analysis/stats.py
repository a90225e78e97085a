"""Uncertainty on ratios of step times, and the verdict it supports.

Three levels of repetition (Kalibera & Jones, "Rigorous benchmarking in reasonable time"):
rounds inside one process, passes (separate processes minutes apart inside one run), and runs
(hours apart). On a shared VM each level adds noise the one below cannot see, so a verdict
comes only from replication at a level that varies: passes or runs, never the rounds of one
process (their interval is shown, and judges nothing). Where two timings come from the same
processes (two modes of one run, A and B of one pair) the test is paired, so the drift they
share cancels; their variances are moderated across the ratios judged together (empirical
Bayes, Smyth 2004), which buys degrees of freedom that three passes alone do not have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

CONFIDENCE = 0.95
RESAMPLES = 2000
FDR = 0.05  # Benjamini-Hochberg false discovery rate across the ratios judged together
BETWEEN_RUNS = "between runs"
BETWEEN_PASSES = "between passes"
PAIRED_PASSES = "paired passes"
PAIRED_RUNS = "paired runs"
WITHIN_RUN = "rounds of one pass"
CONTENDED = "contended"
JUDGING = (BETWEEN_RUNS, BETWEEN_PASSES, PAIRED_PASSES, PAIRED_RUNS)  # methods that may judge


@dataclass(frozen=True)
class Timings:
    """One benchmark's times: every round, the median of each pass that produced them (in
    pass order), and whether any of those passes was timed under contention."""

    rounds: np.ndarray
    pass_medians: np.ndarray
    contended: bool = False

    @classmethod
    def single_pass(cls, rounds, contended: bool = False) -> Timings:
        rounds = np.asarray(rounds, dtype=float)
        return cls(rounds, np.array([np.median(rounds)]), contended)


def t_cdf(x: float, dof: float) -> float:
    """Student's t CDF: scipy's ufunc (what stats.t.cdf computes, without its per-call
    overhead: a site over 100 runs asks for it tens of thousands of times)."""
    return float(special.stdtr(dof, x))


def t_quantile(q: float, dof: float) -> float:
    return float(special.stdtrit(dof, q))


@dataclass(frozen=True)
class Ratio:
    """time(a) / time(b) with a confidence interval and the level of repetition behind it.
    ``log_diff``, ``se`` and ``dof`` describe the t statistic on the log scale where the
    method judges; the other methods leave them NaN (and p NaN: not judged)."""

    value: float
    low: float
    high: float
    method: str = WITHIN_RUN
    p: float = float("nan")  # two-sided, H0: ratio = 1
    log_diff: float = float("nan")
    se: float = float("nan")
    dof: float = float("nan")

    @property
    def judged(self) -> bool:
        return self.method in JUDGING and bool(np.isfinite(self.p))

    @property
    def significant(self) -> bool:
        return self.judged and not (self.low <= 1.0 <= self.high)

    def p_faster(self, margin: float = 0.0) -> float:
        """One-sided p for H0: ratio >= 1 / (1 + margin), i.e. evidence that a is faster
        than b by more than ``margin``; NaN when not judged."""
        if not self.judged:
            return float("nan")
        return t_cdf((self.log_diff + np.log1p(margin)) / self.se, self.dof)

    def p_slower(self, margin: float = 0.0) -> float:
        """One-sided p for H0: ratio <= 1 + margin: evidence that a is slower by more than
        ``margin``; NaN when not judged."""
        if not self.judged:
            return float("nan")
        return t_cdf(-(self.log_diff - np.log1p(margin)) / self.se, self.dof)

    def p_beyond(self, margin: float) -> float:
        """Two-sided p that the ratio lies outside [1 / (1 + margin), 1 + margin] (both
        one-sided tests at half the level): what compare's `+` and `-` test."""
        return float(min(1.0, 2 * min(self.p_faster(margin), self.p_slower(margin))))


def not_judged(value: float, method: str, low: float = float("nan"),
               high: float = float("nan")) -> Ratio:
    return Ratio(float(value), float(low), float(high), method)


def _median_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis) / np.median(b, axis=axis)


def rounds_ratio_ci(a: np.ndarray, b: np.ndarray, seed: int = 0) -> Ratio:
    """Percentile bootstrap of median(a) / median(b) over each side's rounds: a description
    of one process's noise, never a test (p stays NaN). In a simulated A/A a bootstrap p
    under 0.05 came out for a third of benchmarks with 2 rounds: rounds are not replicates."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    value = float(np.median(a) / np.median(b))
    if len(a) < 2 or len(b) < 2:
        return not_judged(value, WITHIN_RUN)
    result = stats.bootstrap((a, b), _median_ratio, n_resamples=RESAMPLES,
                             confidence_level=CONFIDENCE, method="percentile", vectorized=True,
                             random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return not_judged(value, WITHIN_RUN, low, high)


def passes_ratio_ci(a: np.ndarray, b: np.ndarray) -> Ratio:
    """Ratio of the geometric means of pass medians of two separate runs, with a t interval
    on the log scale. Unpaired: the passes of two runs share nothing. The between-pass
    variance is pooled over the sides with two or more passes."""
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    diff = la.mean() - lb.mean()
    dof = sum(len(x) - 1 for x in (la, lb))
    if dof < 1:
        return not_judged(np.exp(diff), BETWEEN_PASSES)
    pooled = sum(((x - x.mean()) ** 2).sum() for x in (la, lb)) / dof
    return _t_ratio(diff, np.sqrt(pooled * (1 / len(la) + 1 / len(lb))), dof, BETWEEN_PASSES)


def passes_ratios(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[Ratio]:
    """``passes_ratio_ci`` for many benchmarks of the same two runs, the between-pass
    variances moderated across the benchmarks with the same pass counts (empirical Bayes, as
    ``paired_ratios``): three passes a side leave each benchmark 4 degrees of freedom."""
    out: list[Ratio | None] = [None] * len(pairs)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (a, b) in enumerate(pairs):
        groups.setdefault((len(a), len(b)), []).append(i)
    for (na, nb), rows in groups.items():
        dof = na + nb - 2
        if dof < 1:
            for i in rows:
                out[i] = passes_ratio_ci(*pairs[i])
            continue
        logs = [(np.log(np.asarray(pairs[i][0], dtype=float)),
                 np.log(np.asarray(pairs[i][1], dtype=float))) for i in rows]
        s2 = [(((la - la.mean()) ** 2).sum() + ((lb - lb.mean()) ** 2).sum()) / dof
              for la, lb in logs]
        diffs = [la.mean() - lb.mean() for la, lb in logs]
        for i, ratio in zip(rows, _moderated(diffs, s2, dof, 1 / na + 1 / nb, BETWEEN_PASSES),
                            strict=True):
            out[i] = ratio
    return [r for r in out if r is not None]


def _moderated(diffs: Sequence[float], s2: Sequence[float], dof: int, scale: float,
               method: str) -> list[Ratio]:
    """t ratios for rows whose variances share ``dof``: the variances squeezed together, the
    total degrees of freedom capped at the pooled ones as limma does; se = sqrt(v * scale)."""
    posterior, d0 = squeeze_variances(np.asarray(s2, dtype=float), dof)
    total = min(dof + d0, len(posterior) * dof)
    return [_t_ratio(float(d), float(np.sqrt(v * scale)), total, method)
            for d, v in zip(diffs, posterior, strict=True)]


def history_ratio_ci(a: np.ndarray, b: np.ndarray, run_sd: float, runs: int) -> Ratio:
    """Ratio of the pass medians' geometric means; the noise is the sd of log run medians of
    ``runs`` earlier runs, counted once for each side (each run has its own run effect)."""
    diff = np.log(np.asarray(a, dtype=float)).mean() - np.log(np.asarray(b, dtype=float)).mean()
    return _t_ratio(diff, run_sd * np.sqrt(2), runs - 1, BETWEEN_RUNS)


def _t_ratio(log_diff: float, se: float, dof: float, method: str) -> Ratio:
    """A t interval and two-sided p on the log scale. A standard error of 0 (identical
    replicates: a coarse timer, synthetic data) cannot support a verdict: not judged."""
    if not (np.isfinite(se) and se > 0 and dof >= 1):
        return not_judged(np.exp(log_diff), method)
    half = t_quantile(0.5 + CONFIDENCE / 2, dof) * se
    p = 2 * t_cdf(-abs(log_diff) / se, dof)
    return Ratio(float(np.exp(log_diff)), float(np.exp(log_diff - half)),
                 float(np.exp(log_diff + half)), method, float(p), float(log_diff), float(se),
                 float(dof))


def runs_ratios(pairs: Sequence[tuple[Timings, Timings]], seed: int = 0) -> list[Ratio]:
    """time(a) / time(b) for benchmarks of two separate runs: between passes (moderated
    across the benchmarks) when either side has several, else a description over rounds
    (not judged); contended timings judge nothing."""
    out: list[Ratio | None] = [None] * len(pairs)
    by_passes = []
    for i, (a, b) in enumerate(pairs):
        if a.contended or b.contended:
            out[i] = not_judged(np.median(a.pass_medians) / np.median(b.pass_medians), CONTENDED)
        elif max(len(a.pass_medians), len(b.pass_medians)) >= 2:
            by_passes.append(i)
        else:
            out[i] = rounds_ratio_ci(a.rounds, b.rounds, seed)
    judged = passes_ratios([(pairs[i][0].pass_medians, pairs[i][1].pass_medians) for i in by_passes])
    for i, ratio in zip(by_passes, judged, strict=True):
        out[i] = ratio
    return [r for r in out if r is not None]



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
    of freedom d0 (inf: one common variance fits all; 0: no pooling).

    As in limma, one variance alone fits no prior (d0 = 0). Variances at or near zero
    (below 1e-5 of the median: identical replicates, a coarse timer) are left out of the fit
    and floored, so one of them cannot drag the prior down for all the others."""
    s2 = np.asarray(s2, dtype=float)
    middle = float(np.median(s2)) if len(s2) else 0.0
    fit = s2[s2 > 1e-5 * middle] if middle > 0 else s2[:0]
    if len(fit) < 2:
        return s2.copy(), 0.0  # nothing to fit a prior to
    s2 = np.maximum(s2, 1e-5 * middle)
    e = np.log(fit) - special.digamma(dof / 2) + np.log(dof / 2)
    excess = e.var(ddof=1) - special.polygamma(1, dof / 2)
    if excess > 0:
        d0 = 2 * _trigamma_inverse(float(excess))
        prior = np.exp(e.mean() + special.digamma(d0 / 2) - np.log(d0 / 2))
        return (d0 * prior + dof * s2) / (d0 + dof), d0
    return np.full_like(s2, np.exp(e.mean())), np.inf


def paired_ratios(a: Sequence[np.ndarray], b: Sequence[np.ndarray],
                  method: str = PAIRED_RUNS) -> list[Ratio]:
    """time(b) / time(a) per row from K paired medians (replicate i of a and of b ran in the
    same process, or minutes apart in one A/B pair): a t interval on the mean of
    log(b_i / a_i), so drift shared by a replicate cancels. Each row's own variance has only
    K - 1 degrees of freedom (3 passes: t = 4.30 at 95%), so the variances of rows with the
    same K are moderated together (``squeeze_variances``), the total degrees of freedom
    capped at the pooled ones as limma does. Rows with fewer than 2 replicates, or with
    replicate counts that differ between a and b, are not judged."""
    out: list[Ratio | None] = [None] * len(a)
    groups: dict[int, list[int]] = {}
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x) != len(y) or len(x) < 2:
            out[i] = not_judged(np.exp(np.log(y).mean() - np.log(x).mean()), method)
        else:
            groups.setdefault(len(x), []).append(i)
    for k, rows in groups.items():
        diffs = np.array([np.log(np.asarray(b[i], dtype=float)) - np.log(np.asarray(a[i], dtype=float))
                          for i in rows])
        moderated = _moderated(diffs.mean(axis=1), diffs.var(axis=1, ddof=1), k - 1, 1 / k, method)
        for i, ratio in zip(rows, moderated, strict=True):
            out[i] = ratio
    return [r for r in out if r is not None]


def same_run_ratios(pairs: Sequence[tuple[Timings | None, Timings | None, float, float]]
                    ) -> list[Ratio]:
    """time(a) / time(b) for (a, b, a_median, b_median) rows of one run (two modes or two
    configurations timed in the same processes): paired over passes, variances moderated
    across the rows given together. One pass gives the rounds' interval and no verdict; a
    contended side gives none either; a side without per-round data only the bare ratio."""
    out: list[Ratio | None] = [None] * len(pairs)
    paired: list[int] = []
    for i, (a, b, a_median, b_median) in enumerate(pairs):
        if a is None or b is None:
            out[i] = not_judged(a_median / b_median, WITHIN_RUN)
        elif a.contended or b.contended:
            out[i] = not_judged(a_median / b_median, CONTENDED)
        elif min(len(a.pass_medians), len(b.pass_medians)) < 2:
            out[i] = rounds_ratio_ci(a.rounds, b.rounds)
        else:
            paired.append(i)
    # paired_ratios gives time(second) / time(first): a is the second argument here
    judged = paired_ratios([pairs[i][1].pass_medians for i in paired],  # type: ignore[union-attr]
                           [pairs[i][0].pass_medians for i in paired], PAIRED_PASSES)  # type: ignore[union-attr]
    for i, ratio in zip(paired, judged, strict=True):
        out[i] = ratio
    return [r for r in out if r is not None]


NO_VERDICT = "no verdict (one pass: its interval covers one process only)"
NO_VERDICT_CONTENDED = "no verdict (contended: timed while other processes used the CPU)"


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


def no_verdict(ratio: Ratio) -> str:
    return NO_VERDICT_CONTENDED if ratio.method == CONTENDED else NO_VERDICT


def verdicts(ratios: list[Ratio]) -> list[str]:
    """Verdicts for ratios judged together (time(candidate) / time(baseline)): faster /
    slower where the ratio was judged (replication across processes) and the
    Benjamini-Hochberg q value is <= FDR; the others say why they have no verdict."""
    tested = [r.judged for r in ratios]
    out = [no_verdict(r) for r in ratios]
    for i, q in enumerate(q_values([r.p for r in ratios], tested)):
        if tested[i]:
            out[i] = (("faster" if ratios[i].value < 1 else "slower") if q <= FDR
                      else "no significant difference")
    return out


def run_interval(pass_medians: Sequence[float]) -> tuple[float, float, float]:
    """A run's typical time (the geometric mean of its pass medians) with a 95% t interval
    over the passes, on the log scale; one pass gives no interval (NaN bounds): the rounds of
    one process are not replicates."""
    logs = np.log(np.asarray(pass_medians, dtype=float))
    centre = float(np.exp(logs.mean()))
    if len(logs) < 2:
        return centre, float("nan"), float("nan")
    half = t_quantile(0.5 + CONFIDENCE / 2, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs))
    return centre, float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half))
