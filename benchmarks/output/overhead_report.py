"""The report section "Why define-by-run costs what it costs", from `sidebyside overhead`'s
JSON (pytest-benchmark JSON of the op chains, plus ``fits`` and ``breakdown``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from impls.registry import MODES

NOT_MEASURED = ("Not measured: no overhead.json next to the results (run `sidebyside overhead "
                "--out DIR` with the report's folder).")
# what each mode's numbers mean, in one sentence, with the sources the claims rest on
MODE_SENTENCES = {name: mode.overhead for name, mode in MODES.items() if mode.overhead}


POOR_FIT = 0.10


def _pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.0%}"


def _us(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value * 1e6:.2f}"


def fits_lines(fits: pd.DataFrame) -> list[str]:
    out = ["| mode | variant | op | per-op cost (µs) | 95% CI | per-call cost (µs) | 95% CI | "
           "line misses a median by |", "|---|---|---|---:|---|---:|---|---:|"]
    for r in fits.itertuples():
        miss = getattr(r, "fit_max_miss", float("nan"))
        out.append(f"| {r.mode} | {r.variant} | {r.op} | {_us(r.per_op_s)} | "
                   f"[{_us(r.per_op_low)}, {_us(r.per_op_high)}] | {_us(r.per_call_s)} | "
                   f"[{_us(r.per_call_low)}, {_us(r.per_call_high)}] | {_pct(miss)} |")
    if "fit_max_miss" in fits and (fits["fit_max_miss"] > POOR_FIT).any():
        out += ["", f"Where the line misses a median by more than {POOR_FIT:.0%}, the cost per op "
                "changes with the chain's length (caches, allocation) and the per-call cost "
                "(intercept, possibly negative) is not a cost: read the slope as the cost per op "
                "of long chains."]
    return out


def breakdown_lines(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| model | mode | batch | step, unprofiled | step, profiled | kernels | framework | "
           "Python | kernels launched |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        wall = r["wall_s"]
        out.append(f"| {r['model']} | {r['mode']} | {r['batch']} | {r['unprofiled_s'] * 1e3:.2f} ms | "
                   f"{wall * 1e3:.2f} ms | {r['kernels_s'] / wall:.0%} | "
                   f"{r['framework_s'] / wall:.0%} | {r['python_s'] / wall:.0%} | {r['kernels']} |")
    return out


def lines(raw: dict[str, Any] | None, figure: str | None = None) -> list[str]:
    if raw is None:
        return [NOT_MEASURED]
    fits = pd.DataFrame(raw.get("fits", []))
    out = ["Per-op overhead: chains of K identical tiny ops (an add, a 16x16 matmul) for K in "
           f"{', '.join(map(str, raw.get('lengths', [])))}, one call per round; the slope of the "
           "median call time over K is the cost of one more op, the intercept the cost of a call "
           "(95% bootstrap intervals over rounds). The arithmetic on such tensors takes "
           "nanoseconds, so the slope is overhead.", ""]
    out += fits_lines(fits) if not fits.empty else ["Per-op chains: not measured in this run."]
    out += ["", "Where a train step's time goes (one warmed-up step under each framework's own "
            "profiler; shares of the profiled step; \"kernels\" is the union of the intervals in "
            "which a compute kernel ran, \"framework\" the rest of the time inside the framework, "
            "\"Python\" the calling thread outside it). The profiler adds its own cost per op: "
            "compare the two step columns.", ""]
    rows = raw.get("breakdown", [])
    out += breakdown_lines(rows) if rows else ["Step breakdown: not measured in this run."]
    out += [f"skipped {s['mode']}: {s['reason']}" for s in raw.get("skipped", [])]
    out += ["", *[f"- {mode}: {text}." for mode, text in MODE_SENTENCES.items()
                  if not fits.empty and mode in set(fits["mode"])]]
    if figure:
        out += ["", f"![step breakdown]({figure})"]
    return out
