"""The pytest plugin: options from any folder, separate parameters, benchmarks opt-in,
pytest-benchmark's timing flags honoured or refused, per-case memory."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import machine

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--models", "workshop", "--modes", "torch-eager", "--phases", "forward",
        "--batch-sizes", "2", "--data", "synthetic"]


def pytest_elsewhere(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest from a folder with no configuration, the package importable: as after an install."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "benchmarks.plugin",
                           "-p", "no:cacheprovider", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def test_space_separated_options_and_separate_parameters_from_any_folder(tmp_path):
    run = pytest_elsewhere(tmp_path, "--pyargs", "benchmarks", "--collect-only", "-q", *TINY,
                           "--quick")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "bench_steps.py::test_step[forward-workshop-torch-eager-cpu-b2]" in run.stdout
    assert "bench_overhead.py::test_harness_noop[noop]" in run.stdout


def test_plain_pytest_skips_benchmarks_and_json_is_grouped_by_parameters(tmp_path):
    plain = pytest_elsewhere(tmp_path, "--pyargs", "benchmarks.bench_steps", "-rs", *TINY)
    assert plain.returncode == 0 and "1 skipped" in plain.stdout
    assert "run only with --benchmark-only" in plain.stdout
    out = tmp_path / "b.json"
    timed = pytest_elsewhere(tmp_path, "--pyargs", "benchmarks.bench_steps", "--benchmark-only",
                             *TINY, "--benchmark-min-rounds=7", "--benchmark-max-time=0.00001",
                             f"--benchmark-json={out}")
    assert timed.returncode == 0, timed.stdout[-2000:] + timed.stderr[-2000:]
    step = json.loads(out.read_text())["benchmarks"][0]
    assert step["params"] == {"model": "workshop", "mode": "torch-eager", "device": "cpu",
                              "phase": "forward", "batch": 2, "precision": "fp32",
                              "layout": "default"}
    assert step["stats"]["rounds"] == 7  # --benchmark-min-rounds honoured over a 10 µs budget
    assert step["options"]["min_rounds"] == 7 and step["options"]["max_time"] == 0.00001
    assert step["options"]["mode"] == "pedantic" and "min_time" not in step["options"]
    assert step["extra_info"]["peak_rss_scope"] in ("case", "process")
    compare = subprocess.run([Path(sys.executable).with_name("pytest-benchmark"), "compare",
                              str(out), "--group-by=param:mode"], capture_output=True, text=True)
    assert compare.returncode == 0, compare.stderr[-2000:]


@pytest.mark.parametrize("flag, hint", [("--benchmark-min-time=0.1", "--benchmark-max-time"),
                                        ("--benchmark-precision=0.02", "--passes")])
def test_timing_flags_without_meaning_here_are_refused(tmp_path, flag, hint):
    run = pytest_elsewhere(tmp_path, "--pyargs", "benchmarks.bench_steps", "--benchmark-only",
                           *TINY, flag)
    assert run.returncode == 4 and hint in run.stderr


def test_peak_rss_resets_per_case():
    if not machine.reset_peak_rss():
        pytest.skip("this kernel does not allow resetting the RSS high-water mark")
    baseline = machine.peak_rss_mb()
    block = bytearray(300 * 2**20)  # touch 300 MB
    block[::4096] = b"x" * len(block[::4096])
    grown = machine.peak_rss_mb()
    del block
    assert grown - baseline > 250
    assert machine.reset_peak_rss() and machine.peak_rss_mb() < grown - 250


def test_other_suites_keep_every_pytest_benchmark_flag(tmp_path):
    (tmp_path / "test_other.py").write_text(
        "def test_sum(benchmark):\n    benchmark(sum, range(10))\n")
    run = pytest_elsewhere(tmp_path, "test_other.py", "--benchmark-min-time=0.001",
                           "--benchmark-max-time=0.01")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
