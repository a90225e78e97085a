"""The run history: every `sidebyside run` saved whole, as pytest-benchmark's own storage
keeps runs (DIR/<machine>/NNNN_<commit>_<date>.json, the layout `--benchmark-autosave`
writes), so `pytest-benchmark --storage file://DIR list` and `compare` read it, and every
verdict later drawn from it (compare's run-to-run noise, the site's markers) has the pass
medians, machine identity, commit and versions it needs. Plus github-action-benchmark's
export format."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.analysis import machine_identity
from benchmarks.analysis.results import (
    ResultsError,
    is_quick,
    load_json,
    machine_fingerprint,
    threads_of,
)
from benchmarks.output.files import write_text_atomically

HISTORY_COLUMNS = ["run", "commit", "date", "machine", "slug", "threads", "quick", "passes",
                   "name", "median_s", "iqr_s", "rounds", "contended"]
RUN_FILE = re.compile(r"^(\d{4})_.*\.json$")
MIGRATED = "migrated from history.csv: this run's medians only (no rounds or passes kept)"


@dataclass(frozen=True)
class Run:
    """One saved run: its file (relative to the history folder) and its JSON."""

    path: Path
    raw: dict[str, Any]

    @property
    def commit_id(self) -> str:
        return (self.raw.get("commit_info") or {}).get("id") or "unknown"

    @property
    def commit(self) -> str:
        return self.commit_id[:7]


def save_run(raw: dict[str, Any], folder: Path, commit: dict[str, Any]) -> Path:
    """Save a run as DIR/<machine slug>/NNNN_<commit>_<YYYYmmdd_HHMMSS>[_uncommitted-changes]
    .json (pytest-benchmark's autosave name), whole: ``commit`` is its commit_info."""
    raw = {**raw, "commit_info": commit}
    machine = folder / machine_identity.slug(raw)
    taken = [int(m.group(1)) for f in machine.glob("*.json") if (m := RUN_FILE.match(f.name))]
    stamp = re.sub(r"[-:]", "", (raw.get("datetime") or "unknown")[:19]).replace("T", "_")
    dirty = "_uncommitted-changes" if commit.get("dirty") else ""
    name = f"{max(taken, default=0) + 1:04d}_{(commit.get('id') or 'unversioned')[:7]}_{stamp}{dirty}"
    return write_text_atomically(machine / f"{name}.json", json.dumps(raw, indent=1) + "\n")


def load_history(folder: Path) -> tuple[list[Run], list[str]]:
    """Every run in the history, oldest first, and a warning per file skipped (corrupt, or
    not a benchmark run), naming it."""
    runs, skipped = [], []
    for path in sorted(folder.glob("*/*.json")):
        try:
            raw = load_json(path)
        except ResultsError as err:
            skipped.append(f"skipped {err}")
            continue
        if not raw.get("datetime"):
            skipped.append(f"skipped {path}: no 'datetime' (not a run saved by `sidebyside run "
                           "--history`)")
            continue
        runs.append(Run(path.relative_to(folder), raw))
    return sorted(runs, key=lambda r: (r.raw["datetime"], str(r.path))), skipped


def read_history(folder: Path | None) -> pd.DataFrame | None:
    """The history as one row per run and benchmark, or None when there is none; skipped
    files are warned about."""
    if folder is None or not folder.exists():
        return None
    if not folder.is_dir():
        raise ResultsError(f"{folder}: not a history folder (since the history keeps whole "
                           "runs, a history.csv is migrated once with `sidebyside save-history "
                           f"--history DIR {folder}`); or pass --no-history")
    runs, skipped = load_history(folder)
    for why in skipped:
        warnings.warn(why, stacklevel=2)
    return history_frame(runs)


def history_frame(runs: list[Run]) -> pd.DataFrame:
    rows = [{"run": str(run.path), "commit": run.commit, "date": run.raw.get("datetime"),
             "machine": machine_fingerprint(run.raw), "slug": machine_identity.slug(run.raw),
             "threads": threads_of(run.raw), "quick": is_quick(run.raw),
             "passes": run.raw.get("machine_info", {}).get("passes", 1), "name": b["name"],
             "median_s": run_median(b), "iqr_s": b["stats"].get("iqr"),
             "rounds": b["stats"]["rounds"], "contended": bool(b.get("extra_info", {}).get("contended"))}
            for run in runs for b in run.raw["benchmarks"]]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def run_median(bench: dict[str, Any]) -> float:
    """The run's typical time: geometric mean of its pass medians (the median for one pass),
    the same summary `sidebyside compare` judges."""
    medians = bench.get("extra_info", {}).get("pass_medians") or [bench["stats"]["median"]]
    return float(np.exp(np.mean(np.log(medians))))


def migrate_csv(csv: Path, folder: Path, whole: list[dict[str, Any]]) -> tuple[list[Path], set[str]]:
    """Save each run of an old history.csv into the history folder: a run whose whole results
    are in ``whole`` (same date) is saved from them; the others keep the medians, IQR and
    rounds the CSV has, marked migrated, with the machine facts of a whole run on the same
    machine when there is one (so they share its folder). Returns the files saved and the
    dates of the whole runs used."""
    try:
        table = pd.read_csv(csv)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ResultsError(f"{csv}: not a readable history CSV ({err})") from None
    missing = {"commit", "date", "machine", "name", "median_s"} - set(table.columns)
    if missing:
        raise ResultsError(f"{csv}: not a sidebyside history CSV (lacks columns {sorted(missing)})")
    by_date = {raw["datetime"]: raw for raw in whole}
    saved = []
    for (commit, date, machine), rows in table.groupby(["commit", "date", "machine"], sort=False):
        raw = by_date.get(date) or _from_rows(rows, date, machine, whole)
        saved.append(save_run(raw, folder, {**(raw.get("commit_info") or {}), "id": str(commit)}))
    return saved, set(by_date) & set(table.date)


def _from_rows(rows: pd.DataFrame, date: str, machine: str, whole) -> dict[str, Any]:
    info = next((dict(raw["machine_info"]) for raw in whole
                 if machine_fingerprint(raw) == machine), None)
    if info is None:  # "CPU | N cores | OS arch", as machine_fingerprint writes it
        cpu, cores, system = machine.split(" | ")
        info = {"cpu_model": cpu, "cores": int(cores.split()[0]), "system": system.split()[0],
                "machine": system.split()[-1]}
    first = rows.iloc[0]
    info.update(passes=int(first.passes) if pd.notna(first.get("passes")) else 1,
                threads={"requested_intra_op": None if pd.isna(first.get("threads"))
                         else int(first.threads)},
                matrix={"quick": str(first.get("quick")) == "True"})
    benches = [{"name": r.name, "stats": {"median": r.median_s, "iqr": r.iqr_s,
                                          "rounds": int(r.rounds)},
                "extra_info": {"migrated": MIGRATED}} for r in rows.itertuples()]
    return {"machine_info": info, "datetime": date, "benchmarks": benches}


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
