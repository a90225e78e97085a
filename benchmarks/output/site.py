"""`sidebyside site`: the run history as a static web page that opens from file:// and from
GitHub Pages with no network (plotly.js is copied in from the plotly package): an overview of
each machine's latest run at each framework's best, one time series per benchmark with its
interval and the runs judged slower or faster than the run before (compare's statistics), and
the latest report as HTML."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.analysis import best, machine_identity
from benchmarks.analysis.compare import compare_runs
from benchmarks.analysis.history import Run, history_frame, load_history
from benchmarks.analysis.results import is_quick, machine_fingerprint, threads_of, timings, to_frame
from benchmarks.analysis.stats import run_interval
from benchmarks.output.files import move_into, staging_in
from benchmarks.output.report import git_output
from impls.frameworks import FRAMEWORKS, describe_versions

AXES = ["model", "mode", "phase", "batch", "precision", "layout", "device", "machine"]
DEFAULTS = {"precision": "fp32", "layout": "default"}  # results from before those axes
PAGE_FILES = ("index.html", "site.js", "site.css")
MARK_WORDS = {"+": "slower", "-": "faster"}


def repo_url() -> str | None:
    """https://github.com/OWNER/REPO of this checkout's 'origin', or None."""
    found = re.search(r"github\.com[:/]([^/]+/[^/]+?)(\.git)?$",
                      git_output("remote", "get-url", "origin"))
    return f"https://github.com/{found.group(1)}" if found else None


def _run_meta(run: Run, repo: str | None) -> dict[str, Any]:
    commit = run.commit_id
    info = run.raw.get("machine_info", {})
    return {"file": str(run.path), "commit": run.commit, "date": run.raw["datetime"][:19],
            "machine": machine_identity.slug(run.raw), "passes": info.get("passes", 1),
            "quick": is_quick(run.raw), "threads": threads_of(run.raw),
            "versions": describe_versions(info.get("versions") or _bench_versions(run.raw)),
            "url": f"{repo.rstrip('/')}/commit/{commit}" if repo and re.fullmatch(
                r"[0-9a-f]{7,40}", commit) else None}


def _bench_versions(raw: dict[str, Any]) -> dict[str, Any]:
    return next((b["extra_info"]["versions"] for b in raw["benchmarks"]
                 if b.get("extra_info", {}).get("versions")), {})


def _marks(runs: list[Run], threshold: float) -> list[dict[str, str]]:
    """Per run, benchmark name -> '+' / '-' where compare judged it slower / faster than the
    run before it on the same machine, threads and matrix (history noise where there is
    enough, else the passes; Benjamini-Hochberg across the run's benchmarks)."""
    frame = history_frame(runs)
    marks: list[dict[str, str]] = [{} for _ in runs]
    before: dict[tuple, int] = {}
    for i, run in enumerate(runs):
        key = (machine_fingerprint(run.raw), threads_of(run.raw), is_quick(run.raw))
        if key in before:
            rows = compare_runs(runs[before[key]].raw, run.raw, threshold, frame)
            marks[i] = {r.name: r.mark for r in rows if r.mark in MARK_WORDS}
        before[key] = i
    return marks


def _series(runs: list[Run], marks: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One series per benchmark and machine: its axes and, per run, the run's typical time
    with its interval over the passes and the mark against the run before."""
    series: dict[tuple[str, str], dict[str, Any]] = {}
    for i, run in enumerate(runs):
        slug = machine_identity.slug(run.raw)
        for bench in run.raw["benchmarks"]:
            info = bench.get("extra_info", {})
            one = series.setdefault((bench["name"], slug), {
                "name": bench["name"], "machine": slug, "run": [], "y": [], "low": [],
                "high": [], "mark": []})
            for axis in AXES[:-1]:  # a migrated run has no extra_info: a later one fills them
                one[axis] = one.get(axis) or info.get(axis) or DEFAULTS.get(axis)
            measured = timings(bench)
            centre, low, high = (run_interval(measured.pass_medians) if measured is not None
                                 else (bench["stats"]["median"], np.nan, np.nan))
            one["run"].append(i)
            one["y"].append(centre)
            one["low"].append(None if np.isnan(low) else low)
            one["high"].append(None if np.isnan(high) else high)
            one["mark"].append(marks[i].get(bench["name"], ""))
    return list(series.values())


def _overview(run: Run) -> dict[str, Any]:
    """The latest run of a machine at each framework's best, per precision: each framework's
    fastest parity-passing configuration, the fastest framework and the verdict."""
    passed = {tuple(p) for p in (run.raw.get("sidebyside") or {}).get("parity_passed", [])}
    steps = best.step_configs(to_frame(run.raw))
    rows = []
    for precision, part in steps.groupby("precision", sort=False):
        table = best.best_table(part, passed) if passed else pd.DataFrame()
        for r in table.to_dict("records"):
            rows.append({"model": r["model"], "phase": r["phase"], "batch": int(r["batch"]),
                         "device": r["device"], "precision": precision,
                         "cells": {FRAMEWORKS[n].display: None if r[n] is None else
                                   {"config": r[n][0], "ms": r[n][1] * 1e3} for n in FRAMEWORKS},
                         "fastest": r["fastest"], "runner_up": r["runner_up"],
                         "speedup": None if pd.isna(r["speedup"]) else r["speedup"],
                         "low": None if pd.isna(r["low"]) else r["low"],
                         "high": None if pd.isna(r["high"]) else r["high"],
                         "verdict": r["verdict"]})
    why = None if rows else (
        "no parity results were saved with this run, so no configuration is known to compute "
        "the same numbers (runs saved by `sidebyside run --history` carry them)" if not passed
        else "no case has a parity-passing configuration")
    return {"file": str(run.path), "date": run.raw["datetime"][:19], "rows": rows, "why": why}


def site_data(runs: list[Run], skipped: list[str], repo: str | None,
              threshold: float) -> dict[str, Any]:
    latest: dict[str, Run] = {}
    for run in runs:
        latest[machine_identity.slug(run.raw)] = run  # runs are oldest first
    return {"generated": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
            "threshold": threshold, "axes": AXES, "skipped": skipped,
            "frameworks": [fw.display for fw in FRAMEWORKS.values()],
            "runs": [_run_meta(run, repo) for run in runs],
            "series": _series(runs, _marks(runs, threshold)),
            "overview": {slug: _overview(run) for slug, run in latest.items()},
            "features": {slug: machine_identity.line(run.raw).removeprefix("- CPU features: ")
                         for slug, run in latest.items()}}


def _asset(name: str) -> str:
    return resources.files("benchmarks.output").joinpath("site_assets", name).read_text()


def _report_html(report: Path, staging: Path) -> bool:
    """report.md as report.html with its figures beside it; False when there is none."""
    from markdown_it import MarkdownIt

    source = report / "report.md"
    if not source.exists():
        return False
    body = MarkdownIt("commonmark").enable("table").render(source.read_text())
    for figure in re.findall(r'<img src="([^"/]+\.png)"', body):
        if (report / figure).exists():
            shutil.copy2(report / figure, staging / figure)
    page = _asset("report.html")
    (staging / "report.html").write_text(page.replace("{{BODY}}", body))
    return True


def build_site(history: Path, out: Path, report: Path | None = None, repo: str | None = None,
               threshold: float = 0.10) -> tuple[list[Path], list[str]]:
    """Write the site into ``out`` via a temporary folder (a failure leaves ``out`` as it
    was); returns the files written and the history files skipped."""
    import plotly.offline

    runs, skipped = load_history(history) if history.exists() else ([], [])
    data = site_data(runs, skipped, repo, threshold)
    data["report"] = False
    with staging_in(out, ".site-") as staging:
        if report is not None:
            data["report"] = _report_html(report, staging)
        (staging / "plotly.min.js").write_text(plotly.offline.get_plotlyjs())
        (staging / "data.js").write_text("window.SIDEBYSIDE = " + json.dumps(data, allow_nan=False)
                                         + ";\n")
        for name in PAGE_FILES:
            (staging / name).write_text(_asset(name))
        return move_into(staging, out), skipped
