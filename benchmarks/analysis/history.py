"""Run history (append-only CSV + trend plot) and github-action-benchmark's export format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from scipy.stats import gmean

from benchmarks.analysis.results import is_quick, machine_fingerprint, threads_of
from benchmarks.output.files import replace_atomically, write_text_atomically

HISTORY_COLUMNS = ["commit", "date", "machine", "threads", "quick", "passes", "name", "median_s",
                   "iqr_s", "rounds", "contended"]


def append_history(raw: dict[str, Any], path: Path, commit: str) -> pd.DataFrame:
    """Add this run's medians to the history; earlier rows are kept as they are."""
    rows = pd.DataFrame([{"commit": commit, "date": raw.get("datetime"),
                          "machine": machine_fingerprint(raw), "threads": threads_of(raw),
                          "quick": is_quick(raw),
                          "passes": raw.get("machine_info", {}).get("passes", 1), "name": b["name"],
                          "median_s": _run_median(b), "iqr_s": b["stats"].get("iqr"),
                          "rounds": b["stats"]["rounds"],
                          "contended": bool(b.get("extra_info", {}).get("contended"))}
                         for b in raw["benchmarks"]],
                        columns=HISTORY_COLUMNS)
    old = pd.read_csv(path) if path.exists() and path.stat().st_size else None
    history = rows if old is None else pd.concat([old, rows], ignore_index=True)
    replace_atomically(path, lambda tmp: history.to_csv(tmp, index=False))
    return history


def _run_median(bench: dict[str, Any]) -> float:
    """The run's typical time: geometric mean of its pass medians (the median for one pass),
    the same summary `sidebyside compare` judges."""
    return float(gmean(bench.get("extra_info", {}).get("pass_medians") or [bench["stats"]["median"]]))


def trend_plot(history: pd.DataFrame, path: Path, pattern: str = "test_step[train-") -> Path:
    """Each train-step benchmark's median over runs, relative to its first run."""
    part = history[history.name.str.startswith(pattern)]
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, rows in part.groupby("name"):
        rows = rows.reset_index(drop=True)
        label = name.removeprefix("test_step[").removesuffix("]")
        ax.plot(rows.index, rows.median_s / rows.median_s.iloc[0], marker="o", markersize=3,
                label=label, linewidth=1)
    ax.axhline(1.0, color="black", linewidth=0.8)
    runs = int(part.groupby("name").size().max()) if not part.empty else 0
    ax.set_xticks(range(runs))
    ax.set_xlabel(f"run (oldest first; {runs} so far)")
    ax.set_ylabel("median / first run's median")
    ax.set_title("Train-step medians across runs (> 1: slower than the first run)")
    ax.grid(True, alpha=0.3)
    if 0 < len(part.name.unique()) <= 24:  # no train steps in the run: nothing to label
        ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1))
    replace_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight",
                                                       format="png"))
    plt.close(fig)
    return path


def github_action_benchmark(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """github-action-benchmark's `customSmallerIsBetter` entries, one per benchmark (ms)."""
    out = []
    for b in raw["benchmarks"]:
        info = b.get("extra_info", {})
        out.append({"name": b["name"], "unit": "ms", "value": b["stats"]["median"] * 1e3,
                    "range": f"IQR {(b['stats'].get('iqr') or 0) * 1e3:.4f} ms",
                    "extra": ", ".join(f"{k}={info[k]}" for k in ("model", "mode", "device",
                                                                  "phase", "batch") if k in info)})
    return out


def write_github_action_benchmark(raw: dict[str, Any], path: Path) -> Path:
    return write_text_atomically(path, json.dumps(github_action_benchmark(raw), indent=1) + "\n")
