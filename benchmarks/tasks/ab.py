"""Interleaved A/B: did an upgrade, a setting or a commit make us slower?

Both sides run on this machine in one job, alternately (A B B A A B ...), each run a
separate pytest process over the same selection. Each benchmark is judged on its K paired
log ratios log(B_i / A_i) of run medians taken minutes apart (a paired t interval), with
Benjamini-Hochberg control across benchmarks as in `compare`. Drift slower than one pair
cancels in the pairing, which a stored baseline from another day cannot offer: the design of
asv's `continuous` and of "duet benchmarking" (Bulej et al., 2020).

A SPEC names one side: ``python:PATH`` (another interpreter with sidebyside installed, e.g. a
venv with another torch or TensorFlow), ``env:K=V[,K=V]`` (this code with environment
variables set), ``args:...`` (this code with other suite options, e.g. ``args:--threads 1``),
or a git revision of this project (run from a temporary worktree with this interpreter).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.compare import Row, fdr_marks, judged_row, version_change
from benchmarks.analysis.results import load_json
from benchmarks.analysis.stats import paired_ratios
from impls.frameworks import describe_versions

CHECKOUT = Path(__file__).resolve().parents[2]


class SpecError(ValueError):
    """A SPEC that cannot be run, with what is wrong and the accepted forms."""


@dataclass(frozen=True)
class Side:
    spec: str
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()


FORMS = ("python:PATH, env:K=V[,K=V], args:OPTIONS, or a git revision of this project "
         "(e.g. HEAD~1, origin/main)")


@contextmanager
def side(spec: str) -> Iterator[Side]:
    """The runnable side a SPEC names; a git revision lives in a temporary worktree for the
    duration."""
    kind, _, value = spec.partition(":")
    if kind == "python" and value:
        if not os.access(value, os.X_OK):
            raise SpecError(f"{spec}: {value} is not an executable interpreter")
        yield Side(spec, python=value)
    elif kind == "env" and value:
        pairs = [item.partition("=") for item in value.split(",")]
        if any(not k or not sep for k, sep, _ in pairs):
            raise SpecError(f"{spec}: env: takes K=V pairs separated by commas")
        yield Side(spec, env={k: v for k, _, v in pairs})
    elif kind == "args" and value:
        yield Side(spec, args=tuple(shlex.split(value)))
    else:
        with _worktree(spec) as tree:
            yield Side(spec, env={"PYTHONPATH": os.pathsep.join(
                filter(None, [str(tree), os.environ.get("PYTHONPATH")]))})


@contextmanager
def _worktree(revision: str) -> Iterator[Path]:
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True)

    if git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").returncode != 0:
        raise SpecError(f"{revision!r} is neither a git revision of {CHECKOUT} nor one of: {FORMS}")
    folder = Path(tempfile.mkdtemp(prefix="sidebyside-ab-")) / "tree"
    made = git("worktree", "add", "--detach", str(folder), revision)
    if made.returncode != 0:
        raise SpecError(f"{revision}: git worktree add failed: {made.stderr.strip()}")
    try:
        if not (folder / "benchmarks" / "plugin.py").exists():
            raise SpecError(f"{revision}: predates the sidebyside pytest plugin; A/B needs "
                            "revisions that have benchmarks/plugin.py")
        yield folder
    finally:
        git("worktree", "remove", "--force", str(folder))


def pass_command(chosen: Side, selection_args: list[str], json_path: Path) -> list[str]:
    """One pytest process over the selection, configured by the plugin alone."""
    return [chosen.python, "-m", "pytest", "-p", "benchmarks.plugin", "-p", "no:cacheprovider",
            "-q", "--pyargs", "benchmarks", "--benchmark-only", f"--benchmark-json={json_path}",
            *selection_args, *chosen.args]


def order(pairs: int) -> list[int]:
    """0 = A, 1 = B: A B, B A, A B, ... so neither side always runs first in a pair."""
    return [side for i in range(pairs) for side in ((0, 1) if i % 2 == 0 else (1, 0))]


def run_pairs(specs: tuple[str, str], pairs: int, selection_args: list[str], folder: Path,
              say: Callable[[str], None], runner=subprocess.run) -> tuple[list[dict], list[dict]]:
    """Every run in ABBA order; the results of each side in run order. A failed run raises
    RuntimeError naming the side and the command."""
    results: tuple[list[dict], list[dict]] = ([], [])
    with ExitStack() as stack:
        sides = [stack.enter_context(side(spec)) for spec in specs]
        cwd = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sidebyside-ab-")))
        for n, which in enumerate(order(pairs)):
            chosen = sides[which]
            path = folder / f"run-{n + 1:02d}-{'AB'[which]}.json"
            command = pass_command(chosen, selection_args, path)
            say(f"run {n + 1}/{2 * pairs}: {'AB'[which]} ({chosen.spec})")
            done = runner(command, cwd=cwd, env={**os.environ, **chosen.env})
            if done.returncode != 0 or not path.exists():
                raise RuntimeError(f"{'AB'[which]} ({chosen.spec}) failed (pytest exit "
                                   f"{done.returncode}): {' '.join(command)}")
            results[which].append(load_json(path))
    return results


MIN_PAIRS = 3  # two pairs leave one degree of freedom per benchmark: no test worth the name


def judge(a_runs: list[dict], b_runs: list[dict], threshold: float) -> list[Row]:
    """Per benchmark: B / A from the paired run medians, its interval, q and mark; `?` for a
    benchmark timed under contention in any run (its medians say more about the machine)."""
    def medians(runs: list[dict]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for raw in runs:
            for bench in raw["benchmarks"]:
                out.setdefault(bench["name"], []).append(bench["stats"]["median"])
        return out

    def contended(runs: list[dict]) -> set[str]:
        return {bench["name"] for raw in runs for bench in raw["benchmarks"]
                if bench.get("extra_info", {}).get("contended")}

    a, b = medians(a_runs), medians(b_runs)
    busy = contended(a_runs) | contended(b_runs)
    rows: list[Row] = []
    paired = []
    for name in sorted(a.keys() | b.keys()):
        if len(a.get(name, [])) != len(a_runs) or len(b.get(name, [])) != len(b_runs):
            rows.append(Row(name, "x", note="not measured in every run of both sides (skipped?)"))
        elif name in busy:
            ratio = float(np.exp(np.mean(np.log(b[name])) - np.mean(np.log(a[name]))))
            rows.append(Row(name, "?", ratio, note="contended in at least one run: no verdict"))
        else:
            paired.append(name)
    ratios = paired_ratios([a[n] for n in paired], [b[n] for n in paired])
    rows += [judged_row(name, r, threshold, f"noise: {r.method} ({len(a_runs)} pairs, variance "
                                            f"moderated across {len(paired)} benchmarks)")
             for name, r in zip(paired, ratios, strict=True)]
    return fdr_marks(sorted(rows, key=lambda r: r.name))


def versions_line(a_runs: list[dict], b_runs: list[dict]) -> str:
    """Both sides' framework versions (from the run's machine_info), and what changed."""
    def first(runs: list[dict]) -> dict[str, Any]:
        """The versions of a side's first run, shaped as compare reads them from a case."""
        versions = runs[0].get("machine_info", {}).get("versions", {}) if runs else {}
        return {"extra_info": {"versions": versions}}

    def describe(bench: dict[str, Any]) -> str:
        v = bench["extra_info"]["versions"]
        return f"{describe_versions(v)}, Python {v.get('python')}"

    changed = version_change(first(a_runs), first(b_runs))
    return (f"A: {describe(first(a_runs))}. B: {describe(first(b_runs))}. "
            + (f"Changed: {changed}." if changed else "Same framework versions."))
