"""One pytest process over the suite or one of its bench files, with the packaged
configuration, writing pytest-benchmark JSON: each pass of `sidebyside run`, and the commands
that run a part of the suite on their own (distributed, overhead)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # benchmarks/: run.ini and the bench_*.py files


def pytest_command(partial: Path, options: list[str], name: str = "",
                   targets: list[str] | None = None) -> list[str]:
    """The pytest process of one pass over ``name`` (a bench_*.py file; all of them when
    empty) or over ``targets`` (node ids relative to this package): the packaged run.ini,
    JSON with per-round times (the intervals need them)."""
    paths = [str(HERE / t) for t in targets] if targets else [str(HERE / name) if name else str(HERE)]
    return [sys.executable, "-m", "pytest", "-c", str(HERE / "run.ini"), f"--rootdir={HERE}",
            *paths, "--benchmark-only", "-v",
            f"--benchmark-json={partial}", "--benchmark-columns=median,iqr,rounds",
            "--benchmark-sort=name", "--benchmark-save-data", *options]


def run_bench_file(name: str, options: list[str], partial: Path, command_name: str) -> int:
    """pytest's exit status; the JSON at ``partial`` holds every case that ran, also when
    some failed (their results are kept: the caller writes them and reports the failure)."""
    command = pytest_command(partial, options, name)
    print(" ".join(command), flush=True)
    code = subprocess.run(command).returncode
    if code != 0:
        kept = "the cases that ran are kept" if partial.exists() else "nothing written"
        print(f"sidebyside {command_name}: some benchmarks failed (pytest exit {code}); {kept}",
              file=sys.stderr)
    return code
