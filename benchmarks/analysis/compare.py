"""Regression verdicts between two runs: ratio current/baseline, interval, one-character mark.

The noise each ratio is judged against comes from the widest level of repetition available
(see benchmarks/analysis/stats.py): earlier runs of the same benchmark on the same machine and thread
count in the history (at least MIN_HISTORY_RUNS), else the passes. Rounds of one process
judge nothing: a single-pass run against another without history is `?`, not judged.
`+` tests H0: ratio <= 1 + threshold (and `-` H0: ratio >= 1 / (1 + threshold)), so a mark
is evidence of a change beyond the threshold, not merely of a change. Marks are decided after
Benjamini-Hochberg control across all benchmarks compared: comparing 40 benchmarks at 95%
each would otherwise flag about two in an A/A comparison by chance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.analysis.history import read_history
from benchmarks.analysis.results import (
    is_quick,
    load_json,
    machine_fingerprint,
    threads_of,
    timings,
)
from benchmarks.analysis.stats import (
    CONTENDED,
    FDR,
    Ratio,
    history_ratio_ci,
    not_judged,
    q_values,
    runs_ratios,
)
from benchmarks.matrix import parse_fraction
from impls.frameworks import VERSION_KEYS

MARKS = {"+": "slower by more than the threshold (H0: ratio <= 1 + threshold rejected)",
         "-": "faster by more than the threshold (H0: ratio >= 1 / (1 + threshold) rejected)",
         "=": "no evidence of a change beyond the threshold",
         "?": "not judged (no replication across processes or runs, or contended)",
         "x": "not comparable"}
MIN_HISTORY_RUNS = 5  # fewer runs give so few degrees of freedom that passes judge better
HISTORY_RUNS = 20  # the most recent runs used for the noise estimate


@dataclass(frozen=True)
class Row:
    name: str
    mark: str
    ratio: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    note: str = ""
    p: float = float("nan")  # two-sided p that the ratio lies beyond the threshold
    q: float = float("nan")  # p adjusted for the false discovery rate


def _versions(bench: dict[str, Any]) -> dict[str, Any]:
    versions = bench.get("extra_info", {}).get("versions") or {}
    return {k: versions.get(k) for k in VERSION_KEYS if versions.get(k)}


def run_noise(history: pd.DataFrame | None, baseline: dict[str, Any],
              current: dict[str, Any]) -> dict[str, tuple[float, int]]:
    """Per benchmark: (sd of log medians, runs) over earlier comparable runs in the history:
    same machine, threads and matrix (quick or full) as the baseline, not contended, the two
    runs being compared left out."""
    if history is None or history.empty:
        return {}
    same = history[(history.machine == machine_fingerprint(baseline))
                   & ~history.date.isin([baseline.get("datetime"), current.get("datetime")])]
    if "threads" in same:
        same = same[same.threads == threads_of(baseline)]
    if "quick" in same:
        same = same[same.quick.astype(str) == str(is_quick(baseline))]
    if "contended" in same:  # a run timed beside other work says nothing about the noise
        same = same[same.contended.astype(str) != "True"]
    recent = same.assign(log=np.log(same.median_s.astype(float))).groupby("name").tail(HISTORY_RUNS)
    spread = recent.groupby("name").log.agg(["std", "count"])  # std: ddof 1
    return {name: (float(sd), int(n)) for name, sd, n in
            zip(spread.index, spread["std"], spread["count"], strict=True) if n >= MIN_HISTORY_RUNS}


def _mark(ratio: float, significant: bool) -> str:
    if significant:
        return "+" if ratio > 1 else "-"
    return "="


def judged_row(name: str, ratio: Ratio, threshold: float, note: str) -> Row:
    """A row for one ratio: to be marked by ``fdr_marks`` when it was judged, else `?`."""
    if not ratio.judged:
        why = CONTENDED if ratio.method == CONTENDED else f"not judged: {ratio.method} only"
        return Row(name, "?", ratio.value, ratio.low, ratio.high, f"{why}; {note}")
    return Row(name, "=", ratio.value, ratio.low, ratio.high, note, ratio.p_beyond(threshold))


def version_change(base: dict, cur: dict) -> str:
    """'torch 2.13.0 vs 2.14.1, ...' for the framework versions that differ, else ''."""
    old_v, new_v = _versions(base), _versions(cur)
    return ", ".join(f"{k} {old_v.get(k)} vs {new_v.get(k)}"
                     for k in sorted(old_v.keys() | new_v.keys()) if old_v.get(k) != new_v.get(k))


def _not_comparable(name: str, base: dict, cur: dict, machines: tuple[str, str],
                    allow_version_change: bool = False) -> str | None:
    if name not in cur:
        return "missing in current"
    if name not in base:
        return "missing in baseline"
    if machines[0] != machines[1]:
        return f"different machine: {machines[0]} vs {machines[1]}"
    changed = version_change(base[name], cur[name])
    if changed and not allow_version_change:
        return (f"different framework version: {changed} (--allow-version-change compares them "
                "on purpose)")
    if timings(cur[name]) is None or timings(base[name]) is None:
        return "no per-round data (run with --benchmark-save-data)"
    return None


def compare_runs(baseline: dict[str, Any], current: dict[str, Any], threshold: float,
                 history: pd.DataFrame | None = None,
                 allow_version_change: bool = False) -> list[Row]:
    base = {b["name"]: b for b in baseline["benchmarks"]}
    cur = {b["name"]: b for b in current["benchmarks"]}
    machines = machine_fingerprint(baseline), machine_fingerprint(current)
    # run-to-run noise from the history describes one software stack, not a version change
    noise = {} if allow_version_change else run_noise(history, baseline, current)
    rows: list[Row | None] = []
    between_passes: list[tuple[int, str]] = []
    for name in sorted(base.keys() | cur.keys()):
        why = _not_comparable(name, base, cur, machines, allow_version_change)
        if why:
            rows.append(Row(name, "x", note=why))
        elif name in noise:
            a, b = timings(cur[name]), timings(base[name])
            ratio = history_ratio_ci(a.pass_medians, b.pass_medians, *noise[name])
            if a.contended or b.contended:
                ratio = not_judged(ratio.value, CONTENDED)
            rows.append(judged_row(name, ratio, threshold, _note(
                f"noise: {ratio.method} ({noise[name][1]} earlier runs)", base[name], cur[name])))
        else:
            between_passes.append((len(rows), name))
            rows.append(None)
    ratios = runs_ratios([(timings(cur[n]), timings(base[n])) for _, n in between_passes])
    for (i, name), ratio in zip(between_passes, ratios, strict=True):
        rows[i] = judged_row(name, ratio, threshold,
                             _note(f"noise: {ratio.method}", base[name], cur[name]))
    return fdr_marks([r for r in rows if r is not None])


def _note(note: str, base: dict, cur: dict) -> str:
    changed = version_change(base, cur)
    return note + (f"; versions: {changed}" if changed else "")


def fdr_marks(rows: list[Row]) -> list[Row]:
    """Marks for the rows still `=` with a finite p, after Benjamini-Hochberg control; a
    row whose p is not finite judged nothing and becomes `?`."""
    tested = [r.mark == "=" and bool(np.isfinite(r.p)) for r in rows]
    return [replace(r, q=q, mark=_mark(r.ratio, q <= FDR)) if t
            else replace(r, mark="?") if r.mark == "=" else r
            for r, t, q in zip(rows, tested, q_values([r.p for r in rows], tested), strict=True)]


def load_and_compare(baseline: Path, current: Path, threshold: float,
                     history: Path | None = None, allow_version_change: bool = False) -> list[Row]:
    return compare_runs(load_json(baseline), load_json(current), threshold, read_history(history),
                        allow_version_change)


def nothing_comparable(rows: list[Row]) -> str | None:
    """Why no benchmark could be judged (every row `x` or `?`, or none at all), or None."""
    if not rows:
        return "neither run holds any benchmark"
    if all(r.mark in ("x", "?") for r in rows):
        reasons = sorted({r.note.split(" (")[0].split(";")[0].split(":")[0] for r in rows})
        return f"no benchmark could be judged ({'; '.join(reasons)})"
    return None


def parse_threshold(text: str) -> float:
    """'10%' or '0.1' -> 0.1."""
    value = parse_fraction(text)
    if not 0 <= value < 10:
        raise ValueError(f"threshold must be between 0% and 1000%, got {text!r}")
    return value


def to_markdown(rows: list[Row], threshold: float) -> str:
    lines = ["| mark | benchmark | current / baseline | 95% CI | q | note |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.ratio:.3f}" if np.isfinite(r.ratio) else ""
        ci = f"[{r.low:.3f}, {r.high:.3f}]" if np.isfinite(r.low) else ""
        q = f"{r.q:.3g}" if np.isfinite(r.q) else ""
        lines.append(f"| `{r.mark}` | {r.name} | {ratio} | {ci} | {q} | {r.note} |")
    counts = {m: sum(r.mark == m for r in rows) for m in MARKS}
    legend = "; ".join(f"`{m}` {MARKS[m]} ({counts[m]})" for m in MARKS)
    return (f"Threshold {threshold:.0%}; a mark needs Benjamini-Hochberg q <= {FDR} across the "
            f"{sum(np.isfinite(r.q) for r in rows)} benchmarks judged for a change beyond the "
            f"threshold. {legend}.\n\n"
            + "\n".join(lines) + "\n")
