"""One pytest process over one of the suite's bench files, with the configuration
`sidebyside run` uses, writing pytest-benchmark JSON; for the commands that run a part of
the suite on its own (distributed, overhead)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def run_bench_file(name: str, options: list[str], partial: Path, command_name: str) -> int:
    """pytest's exit status; the JSON at ``partial`` holds every case that ran, also when
    some failed (their results are kept: the caller writes them and reports the failure)."""
    command = [sys.executable, "-m", "pytest", "-c", str(HERE / "run.ini"), f"--rootdir={HERE}",
               str(HERE / name), "--benchmark-only", "-v", f"--benchmark-json={partial}",
               "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name",
               "--benchmark-save-data", *options]  # per-round times: the intervals need them
    print(" ".join(command), flush=True)
    code = subprocess.run(command).returncode
    if code != 0:
        kept = "the cases that ran are kept" if partial.exists() else "nothing written"
        print(f"sidebyside {command_name}: some benchmarks failed (pytest exit {code}); {kept}",
              file=sys.stderr)
    return code
