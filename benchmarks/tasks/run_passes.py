"""The passes of `sidebyside run`: separate pytest processes over the matrix, kept one file
each under DIR/passes/ as they finish, contended cases re-timed once at the end of their pass,
then merged into DIR/benchmarks.json.

A pass that fails or is interrupted leaves the passes before it on disk (and merged, marked
"2 of 3 passes"); `sidebyside run --resume DIR` runs only the missing ones. Each pass's pytest
output goes to DIR/passes/pass-N.log; the terminal shows a progress bar with an ETA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.analysis.passes import PassMismatch, merge_passes
from benchmarks.analysis.results import ResultsError, load_json
from benchmarks.output.files import write_text_atomically
from benchmarks.peaks import best_peaks, rescale_mfu
from benchmarks.progress import PROGRESS_FD, PROGRESS_LABEL
from benchmarks.tasks.suite_pass import HERE, pytest_command

NO_TESTS_COLLECTED = 5  # pytest's exit status


class PassFailed(RuntimeError):
    """A pass that did not complete, with what happened and where its log is."""


@dataclass(frozen=True)
class Plan:
    """What each pass runs: the matrix options, how many passes, and how many of them run
    everything (the rest run the steady-state steps only)."""

    out: Path
    passes: int
    options: tuple[str, ...]
    full_passes: int

    @property
    def folder(self) -> Path:
        return self.out / "passes"

    def path(self, index: int) -> Path:
        return self.folder / f"pass-{index}.json"

    def done(self) -> list[int]:
        return [i for i in range(1, self.passes + 1) if self.path(i).exists()]

    def pass_options(self, index: int) -> list[str]:
        return [*self.options, *(["--reverse-order"] if index % 2 == 0 else []),
                *(["--steady-only"] if index > self.full_passes else [])]


def _pytest(command: list[str], log: Path, label: str) -> int:
    """pytest's exit status; its output goes to ``log``, its progress bar to our stderr
    through a copy of the descriptor (pytest captures 0-2 while it collects and runs). It
    runs from this package's parent folder, so the plugin it loads is the one beside its
    bench files even when the user stands inside another checkout of the project."""
    try:
        fds: tuple[int, ...] = (os.dup(sys.stderr.fileno()),)
    except (OSError, ValueError):  # a stderr that is no file (captured): no progress bar
        fds = ()
    env = {**os.environ, PROGRESS_LABEL: label, **({PROGRESS_FD: str(fds[0])} if fds else {})}
    try:
        with log.open("w") as handle:
            return subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                  cwd=HERE.parent, pass_fds=fds).returncode
    finally:
        for fd in fds:
            os.close(fd)


def _why_empty(log: Path) -> str:
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-3:]
    return ("it collected no benchmark (every case deselected, or the plugin and the bench "
            f"files come from different installs); last lines of {log}: " + " | ".join(tail))


def run_pass(plan: Plan, index: int, say: Callable[[str], None]) -> Path:
    """One pass into DIR/passes/pass-N.json, its contended cases re-timed; PassFailed if it
    did not complete (a JSON it wrote anyway is kept as pass-N.failed.json)."""
    plan.folder.mkdir(parents=True, exist_ok=True)
    partial, log = plan.folder / f"pass-{index}.json.partial", plan.folder / f"pass-{index}.log"
    label = f"pass {index}/{plan.passes}"
    code = _pytest(pytest_command(partial, plan.pass_options(index)), log, label)
    if code != 0 or not partial.exists():
        kept = ""
        if partial.exists():
            partial.replace(plan.folder / f"pass-{index}.failed.json")
            kept = f"; the cases it finished are in {plan.folder / f'pass-{index}.failed.json'}"
        why = _why_empty(log) if code == NO_TESTS_COLLECTED else f"pytest exit {code}; log: {log}"
        raise PassFailed(f"{label} failed ({why}){kept}")
    raw = load_json(partial)
    retimed = _retime_contended(raw, plan, index, say)
    if retimed:
        write_text_atomically(partial, json.dumps(raw, indent=4) + "\n")
    partial.replace(plan.path(index))
    return plan.path(index)


def _retime_contended(raw: dict[str, Any], plan: Plan, index: int,
                      say: Callable[[str], None]) -> int:
    """Re-time the pass's contended cases once, in a fresh process at the end of the pass;
    each keeps whichever timing is its own now, with the first attempt's figures beside it.
    Returns how many were re-timed."""
    contended = [b for b in raw["benchmarks"] if b.get("extra_info", {}).get("contended")]
    if not contended:
        return 0
    say(f"pass {index}: {len(contended)} of {len(raw['benchmarks'])} cases were timed while other "
        "processes used the CPU; re-timing them once")
    partial = plan.folder / f"pass-{index}-retime.json.partial"
    log = plan.folder / f"pass-{index}-retime.log"
    command = pytest_command(partial, [*plan.options, "--no-cold-compile"],
                             targets=[b["fullname"] for b in contended])
    code = _pytest(command, log, f"pass {index}/{plan.passes} re-time")
    if code != 0 or not partial.exists():
        say(f"pass {index}: re-timing failed (pytest exit {code}; log: {log}); the contended "
            "timings stay, marked")
        partial.unlink(missing_ok=True)
        return 0
    again = load_json(partial)
    partial.unlink()
    fresh = {b["name"]: b for b in again["benchmarks"]}
    old_peaks = raw["machine_info"].get("gemm_peaks") or {}
    new_peaks = best_peaks([old_peaks, again["machine_info"].get("gemm_peaks") or {}],
                           ["", "re-time"])
    rescale_mfu(raw["benchmarks"], old_peaks, new_peaks)
    rescale_mfu(list(fresh.values()), again["machine_info"].get("gemm_peaks") or {}, new_peaks)
    raw["machine_info"]["gemm_peaks"] = new_peaks
    raw["machine_info"]["gemm_peak"] = {d: by["fp32"] for d, by in new_peaks.items()}
    still = 0
    for i, bench in enumerate(raw["benchmarks"]):
        if bench["name"] not in fresh:
            continue
        first, info = bench["extra_info"], fresh[bench["name"]]["extra_info"]
        for key, value in first.items():  # first-call figures the re-time did not measure
            info.setdefault(key, value)
        info["retimed"] = True
        info["first_attempt"] = {"median": bench["stats"]["median"],
                                 "other_cpu_pct": first.get("other_cpu_pct"),
                                 "steal_pct": first.get("steal_pct")}
        still += bool(info.get("contended"))
        raw["benchmarks"][i] = fresh[bench["name"]]
    say(f"pass {index}: re-timed {len(fresh)}; {still} still contended (kept, marked, no verdict)")
    return len(fresh)


def merge_completed(plan: Plan, final: Path) -> int:
    """Merge the passes on disk into ``final``; returns how many there were."""
    done = plan.done()
    try:
        merged = merge_passes([load_json(plan.path(i)) for i in done])
    except (ResultsError, PassMismatch) as err:
        raise PassFailed(f"the kept passes cannot be merged ({err}); delete {plan.folder} and "
                         "run again") from None
    merged["machine_info"]["passes_planned"] = plan.passes
    write_text_atomically(final, json.dumps(merged, indent=4) + "\n")
    return len(done)


def run_all(plan: Plan, final: Path, say: Callable[[str], None]) -> None:
    """Every missing pass, then the merge into ``final``. On failure or Ctrl-C the completed
    passes are merged into ``final`` before the exception goes on."""
    try:
        for index in range(1, plan.passes + 1):
            if plan.path(index).exists():
                say(f"pass {index}/{plan.passes}: kept from before ({plan.path(index)})")
                continue
            run_pass(plan, index, say)
    except (PassFailed, KeyboardInterrupt):
        if plan.done():
            count = merge_completed(plan, final)
            say(f"kept {count} of {plan.passes} passes in {final} (and {plan.folder}); finish "
                f"with `sidebyside run --resume {plan.out}`")
        raise
    merge_completed(plan, final)
