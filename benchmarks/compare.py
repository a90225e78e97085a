"""Regression verdicts between two runs: ratio current/baseline, interval, one-character mark."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results import load_json, machine_fingerprint, timings
from benchmarks.stats import ratio_ci

MARKS = {"+": "significantly slower beyond the threshold", "-": "significantly faster",
         "=": "within noise or threshold", "x": "not comparable"}
VERSION_KEYS = ("torch", "tensorflow", "tensorflow-cpu")


@dataclass(frozen=True)
class Row:
    name: str
    mark: str
    ratio: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    note: str = ""


def _versions(bench: dict[str, Any]) -> dict[str, Any]:
    versions = bench.get("extra_info", {}).get("versions") or {}
    return {k: versions.get(k) for k in VERSION_KEYS if versions.get(k)}


def _mark(ratio, threshold: float) -> str:
    if ratio.significant and ratio.value > 1 + threshold:
        return "+"
    if ratio.significant and ratio.value < 1 / (1 + threshold):
        return "-"
    return "="


def compare_runs(baseline: dict[str, Any], current: dict[str, Any], threshold: float) -> list[Row]:
    base = {b["name"]: b for b in baseline["benchmarks"]}
    cur = {b["name"]: b for b in current["benchmarks"]}
    machines = machine_fingerprint(baseline), machine_fingerprint(current)
    rows = []
    for name in sorted(base.keys() | cur.keys()):
        if name not in cur:
            rows.append(Row(name, "x", note="missing in current"))
            continue
        if name not in base:
            rows.append(Row(name, "x", note="missing in baseline"))
            continue
        if machines[0] != machines[1]:
            rows.append(Row(name, "x", note=f"different machine: {machines[0]} vs {machines[1]}"))
            continue
        old_v, new_v = _versions(base[name]), _versions(cur[name])
        if old_v != new_v:
            diff = ", ".join(f"{k} {old_v.get(k)} vs {new_v.get(k)}"
                             for k in sorted(old_v.keys() | new_v.keys()) if old_v.get(k) != new_v.get(k))
            rows.append(Row(name, "x", note=f"different framework version: {diff}"))
            continue
        a, b = timings(cur[name]), timings(base[name])
        if a is None or b is None:
            rows.append(Row(name, "x", note="no per-round data (run with --benchmark-save-data)"))
            continue
        ratio = ratio_ci(a, b)
        rows.append(Row(name, _mark(ratio, threshold), ratio.value, ratio.low, ratio.high,
                        note=f"interval: {ratio.method}"))
    return rows


def load_and_compare(baseline: Path, current: Path, threshold: float) -> list[Row]:
    return compare_runs(load_json(baseline), load_json(current), threshold)


def parse_threshold(text: str) -> float:
    """'10%' or '0.1' -> 0.1."""
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0 <= value < 10:
        raise ValueError(f"threshold must be between 0% and 1000%, got {text!r}")
    return value


def to_markdown(rows: list[Row], threshold: float) -> str:
    lines = ["| mark | benchmark | current / baseline | 95% CI | note |", "|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.ratio:.3f}" if np.isfinite(r.ratio) else ""
        ci = f"[{r.low:.3f}, {r.high:.3f}]" if np.isfinite(r.low) else ""
        lines.append(f"| `{r.mark}` | {r.name} | {ratio} | {ci} | {r.note} |")
    counts = {m: sum(r.mark == m for r in rows) for m in MARKS}
    legend = "; ".join(f"`{m}` {MARKS[m]} ({counts[m]})" for m in MARKS)
    return (f"Threshold {threshold:.0%}. {legend}.\n\n" + "\n".join(lines) + "\n")
