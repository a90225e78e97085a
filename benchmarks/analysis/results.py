"""Reading pytest-benchmark JSON into one tidy table; every later step reads only this."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.analysis.stats import Timings

STAT_COLUMNS = ("min", "median", "mean", "stddev", "iqr", "q1", "q3", "rounds")
# extra_info fields that become CSV columns as they are (nested dicts are flattened below)
INFO_COLUMNS = ("model", "mode", "framework", "style", "variant", "precision", "emulated",
                "layout", "device",
                "gpu_name", "phase",
                "batch", "dropout", "data", "images_per_s", "flops_per_call", "gflops", "mfu",
                "first_call_s", "first_call_cache", "first_call_cold_s", "first_call_cold_cache",
                "traces", "rounds_planned", "warmup_rounds", "rss_growth_mb", "peak_rss_mb",
                "peak_rss_scope", "gpu_peak_mb", "stream", "batches", "images", "first_pass_s",
                "s_per_image", "other_cpu_pct", "steal_pct", "contention_window_s")


class ResultsError(ValueError):
    """A results file that cannot be used, with what is wrong and how to get a good one."""


def load_json(path: Path) -> dict[str, Any]:
    hint = "write one with `sidebyside run` or `pytest --benchmark-only --benchmark-json PATH`"
    if not path.exists():
        raise ResultsError(f"{path}: no such file; {hint}")
    text = path.read_text()
    if not text.strip():
        raise ResultsError(f"{path}: the file is empty; {hint}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}); {hint}") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ResultsError(f"{path}: not pytest-benchmark JSON (no 'benchmarks' list); {hint}")
    for i, bench in enumerate(data["benchmarks"]):
        if not isinstance(bench, dict) or not isinstance(bench.get("stats"), dict) \
                or "name" not in bench:
            raise ResultsError(f"{path}: benchmark #{i} has no 'name' or 'stats'; {hint}")
        missing = [k for k in ("median", "rounds") if k not in bench["stats"]]
        if missing:
            raise ResultsError(f"{path}: benchmark {bench['name']!r} lacks stats {missing}; {hint}")
    return data


def machine_fingerprint(data: dict[str, Any]) -> str:
    """What must match for two runs' times to be comparable: CPU, cores, GPU, OS."""
    info = data.get("machine_info", {})
    cpu = info.get("cpu_model") or info.get("cpu", {}).get("brand_raw", "?")
    return f"{cpu} | {info.get('cores', info.get('cpu', {}).get('count', '?'))} cores | " \
           f"{info.get('system', '?')} {info.get('machine', '?')}"


def threads_of(raw: dict[str, Any]) -> int | None:
    """The intra-op thread count a run asked for (part of what makes runs comparable)."""
    return (raw.get("machine_info", {}).get("threads") or {}).get("requested_intra_op")


def is_quick(raw: dict[str, Any]) -> bool:
    """Whether a run used the --quick settings (fewer rounds, shorter streams and epochs)."""
    return bool((raw.get("machine_info", {}).get("matrix") or {}).get("quick"))


def timings(bench: dict[str, Any]) -> Timings | None:
    """Rounds and pass medians; None without per-round data (no --benchmark-save-data)."""
    data = bench["stats"].get("data")
    if not data:
        return None
    info = bench.get("extra_info", {})
    contended = bool(info.get("contended"))
    medians = info.get("pass_medians")
    if not medians:
        return Timings.single_pass(data, contended)
    return Timings(np.asarray(data, dtype=float), np.asarray(medians, dtype=float), contended)


def to_frame(data: dict[str, Any], source: str = "") -> pd.DataFrame:
    """One row per benchmark: every extra_info field, the summary statistics, the rounds."""
    rows = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        row: dict[str, Any] = {"name": bench["name"], "group": bench.get("group"), "source": source}
        row.update({k: info.get(k) for k in INFO_COLUMNS})
        row["rounds_planned"] = info.get("rounds")
        for key, value in (info.get("versions") or {}).items():
            row[f"version_{key}"] = value
        for key, value in (info.get("threads") or {}).items():
            row[f"threads_{key}"] = value
        row.update({f"{k}_s" if k != "rounds" else k: bench["stats"].get(k) for k in STAT_COLUMNS})
        row["passes"] = len(info.get("pass_medians") or [1])
        row["contended"] = bool(info.get("contended"))
        row["timings"] = timings(bench)
        rows.append(row)
    return pd.DataFrame(rows)


def shown_path(path: Path) -> str:
    """A path as the user would type it: relative to where they stand when inside it (so
    reports and CSVs made in a checkout do not carry the machine's folders)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_frames(paths: list[Path]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    raws = [load_json(p) for p in paths]
    frame = pd.concat([to_frame(raw, shown_path(p)) for raw, p in zip(raws, paths, strict=True)],
                      ignore_index=True)
    return frame, raws
