"""report, CSV, compare and history from fixture results: numbers checked, not just files."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.analysis.compare import compare_runs
from benchmarks.analysis.history import github_action_benchmark
from benchmarks.cli import main
from tests.fixtures import bench, run, slowed, standard_passes, standard_run

TRAIN64 = "test_step[train-workshop-torch-eager-cpu-b64]"


def write(path, raw):
    path.write_text(json.dumps(raw))
    return path


def test_report_and_csv_hold_the_measured_numbers(tmp_path):
    results = write(tmp_path / "r.json", standard_run())
    assert main(["report", str(results), "--out", str(tmp_path / "rep")]) == 0
    csv = pd.read_csv(tmp_path / "rep" / "results.csv")
    row = csv[csv.name == TRAIN64].iloc[0]
    assert row.median_s == pytest.approx(0.080)
    assert row.rounds == 30 and row.model == "workshop" and row.batch == 64
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "80.00 ms" in report  # torch-eager train b64 median
    # tf-graph 40 ms vs torch-eager 80 ms: speed-up 2.00x, interval tight around it, but one
    # pass: the interval covers one process, so no faster / slower verdict is drawn from it
    line = next(t for t in report.splitlines() if t.startswith("| workshop | train | 64 | 2.00x"))
    low, high = (float(x) for x in line.split("[")[1].split("]")[0].split(","))
    assert 1.9 < low < 2.0 < high < 2.1
    assert "no verdict (one pass" in line and "faster" not in line
    assert "not measured" in report.lower()  # no GPU, no parity, no streams in the fixture
    assert "Cores used while timing (process CPU time / wall, median over its cases): not measured" in report


def test_the_header_gives_each_modes_measured_core_use(tmp_path):
    raw = standard_run()
    for i, b in enumerate(raw["benchmarks"]):
        b["extra_info"]["cores_used"] = 1.0 + 0.5 * (b["extra_info"]["mode"] == "tf-graph") + i * 0.01
    assert main(["report", str(write(tmp_path / "r.json", raw)), "--out", str(tmp_path / "rep")]) == 0
    line = next(t for t in (tmp_path / "rep" / "report.md").read_text().splitlines()
                if t.startswith("- Cores used while timing"))
    assert "torch-eager 1.0" in line and "tf-graph 1.5" in line, line
    for png in ("throughput-cpu.png", "speedups.png", "first_call.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 10_000


def test_identical_runs_compare_equal(tmp_path, capsys):
    raw = standard_passes()
    base, cur = write(tmp_path / "a.json", raw), write(tmp_path / "b.json", raw)
    assert main(["compare", str(base), str(cur)]) == 0
    rows = compare_runs(raw, raw, 0.10)
    assert {r.mark for r in rows} == {"="} and len(rows) == 6
    assert all(r.low <= 1.0 <= r.high for r in rows)


def test_single_pass_runs_are_not_judged(tmp_path, capsys):
    """One process per side: its rounds are not replicates, so nothing is judged (exit 3),
    even for a 30% slowdown."""
    raw = standard_run()
    base = write(tmp_path / "a.json", raw)
    cur = write(tmp_path / "b.json", slowed(raw, TRAIN64, 1.3))
    assert main(["compare", str(base), str(cur)]) == 3
    assert {r.mark for r in compare_runs(raw, slowed(raw, TRAIN64, 1.3), 0.10)} == {"?"}
    assert "nothing was judged" in capsys.readouterr().err


def test_a_30_percent_slowdown_is_flagged(tmp_path, capsys):
    raw = standard_passes()
    base = write(tmp_path / "a.json", raw)
    cur = write(tmp_path / "b.json", slowed(raw, TRAIN64, 1.3))
    md = tmp_path / "cmp.md"
    assert main(["compare", str(base), str(cur), "--markdown", str(md)]) == 1
    rows = {r.name: r for r in compare_runs(raw, slowed(raw, TRAIN64, 1.3), 0.10)}
    assert rows[TRAIN64].mark == "+" and rows[TRAIN64].ratio == pytest.approx(1.3)
    assert sum(r.mark == "+" for r in rows.values()) == 1
    assert f"| `+` | {TRAIN64} | 1.300 |" in md.read_text()


def test_verdicts_come_from_passes_with_false_discovery_control(tmp_path):
    from benchmarks.analysis.passes import merge_passes

    # three passes; tf-graph 2x faster than torch-eager in each, tf-eager within noise of tf-graph
    passes = [run([bench("torch-eager", "train", 64, 80.0 * f, seed=i),
                   bench("tf-graph", "train", 64, 40.0 * f * g, seed=10 + i),
                   bench("tf-eager", "train", 64, 40.0 * f * h, seed=20 + i)])
              for i, (f, g, h) in enumerate([(1.0, 1.0, 1.02), (1.1, 0.98, 0.97), (0.95, 1.03, 1.01)])]
    results = write(tmp_path / "r.json", merge_passes(passes))
    assert main(["report", str(results), "--out", str(tmp_path / "rep")]) == 0
    lines = (tmp_path / "rep" / "report.md").read_text().splitlines()
    ratios = [t for t in lines if t.startswith("| workshop | train | 64 |") and "x | [" in t]
    assert any("| 1.99x |" in t and t.endswith("| tf-graph faster |") for t in ratios)
    assert any("| 1.00x |" in t and t.endswith("| no significant difference |") for t in ratios)
    claim = next(t for t in lines if t.startswith("- tf-graph vs torch-eager"))
    assert ("tf-graph faster in 1, slower in 0, no significant difference in 0 of 1 cases "
            "(faster: workshop train b64 (1.99x))") in claim


def test_nothing_comparable_is_its_own_exit_status(tmp_path, capsys):
    raw = standard_run()
    other = json.loads(json.dumps(raw))
    other["machine_info"]["cpu_model"] = "Other CPU"
    assert main(["compare", str(write(tmp_path / "a.json", raw)),
                 str(write(tmp_path / "b.json", other))]) == 3
    assert "no benchmark could be judged (different machine)" in capsys.readouterr().err


def test_version_change_is_compared_only_on_purpose_and_named(tmp_path, capsys):
    raw = standard_passes()
    upgraded = json.loads(json.dumps(raw))
    for b in upgraded["benchmarks"]:
        b["extra_info"]["versions"] = {"torch": "2.15.0", "tensorflow-cpu": "2.21.0"}
    base, cur = write(tmp_path / "a.json", raw), write(tmp_path / "b.json", upgraded)
    assert main(["compare", str(base), str(cur)]) == 3
    assert main(["compare", str(base), str(cur), "--allow-version-change"]) == 0
    rows = compare_runs(raw, upgraded, 0.10, allow_version_change=True)
    assert {r.mark for r in rows} == {"="}
    assert all("versions: torch 2.14.1 vs 2.15.0" in r.note for r in rows)


def test_missing_benchmark_and_other_versions_are_not_comparable():
    raw = standard_run()
    cur = json.loads(json.dumps(raw))
    cur["benchmarks"].pop(0)
    cur["benchmarks"][0]["extra_info"]["versions"] = {"torch": "2.15.0", "tensorflow-cpu": "2.21.0"}
    rows = {r.name: r for r in compare_runs(raw, cur, 0.10)}
    missing = rows[raw["benchmarks"][0]["name"]]
    assert missing.mark == "x" and missing.note == "missing in current"
    other = rows[cur["benchmarks"][0]["name"]]
    assert other.mark == "x" and "torch 2.14.1 vs 2.15.0" in other.note


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("{not json", "not valid JSON"),
    ('{"results": []}', "not pytest-benchmark JSON"),
    ('{"benchmarks": [{"name": "x", "stats": {}}]}', "lacks stats"),
    (None, "no such file"),
])
def test_bad_results_exit_2_and_write_nothing(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    good = write(tmp_path / "good.json", standard_run())
    out = tmp_path / "rep"
    md = tmp_path / "cmp.md"
    assert main(["report", str(bad), "--out", str(out)]) == 2
    assert main(["compare", str(good), str(bad), "--markdown", str(md)]) == 2
    err = capsys.readouterr().err
    assert message in err and "sidebyside run" in err
    assert not md.exists()
    assert not out.exists() or list(out.iterdir()) == []


def test_report_failure_leaves_existing_output_unchanged(tmp_path, monkeypatch):
    import benchmarks.output.plots as plots

    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.md").write_text("old report")
    monkeypatch.setattr(plots, "speedups", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        main(["report", str(write(tmp_path / "r.json", standard_run())), "--out", str(out)])
    assert [p.name for p in out.iterdir()] == ["report.md"]
    assert (out / "report.md").read_text() == "old report"


def test_github_action_benchmark_export():
    entries = {e["name"]: e for e in github_action_benchmark(standard_run())}
    assert entries[TRAIN64]["unit"] == "ms" and entries[TRAIN64]["value"] == pytest.approx(80.0)
    assert "mode=torch-eager" in entries[TRAIN64]["extra"]


def test_report_compares_pipeline_fed_training_with_the_step_alone(tmp_path):
    raw = standard_run()  # torch-eager train b64: 80 ms per 64 images = 800 images/s
    fed = bench("torch-eager", "pipeline+train", 64, 1000.0)  # 1 s per 400-image epoch
    fed["name"] = "test_pipeline_train[workshop-torch-eager-cpu-b64]"
    fed["extra_info"].update(images=400, images_per_s=400.0, data="test digits")
    raw["benchmarks"].append(fed)
    results = write(tmp_path / "r.json", raw)
    assert main(["report", str(results), "--out", str(tmp_path / "rep")]) == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "| workshop | torch-eager | cpu | 400 | 800 | 2.00x |" in report


@pytest.mark.parametrize("name, remake", [("parity.json", "sidebyside parity --json PATH"),
                                          ("accuracy.json", "sidebyside accuracy --out DIR"),
                                          ("distributed.json", "sidebyside distributed --out DIR"),
                                          ("overhead.json", "sidebyside overhead --out DIR")])
def test_unreadable_parity_or_accuracy_beside_the_results_is_a_clear_error(tmp_path, capsys,
                                                                           name, remake):
    results = write(tmp_path / "r.json", standard_run())
    (tmp_path / name).write_text("{truncated")
    assert main(["report", str(results), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / name) in err and remake in err
    assert not (tmp_path / "rep").exists() or list((tmp_path / "rep").iterdir()) == []


def test_first_calls_are_labelled_by_what_the_compile_cache_did(tmp_path):
    raw = standard_run()
    raw["benchmarks"].append(bench("torch-compile", "train", 64, 60.0, first_call_s=0.3,
                                   first_call_cache="warm", first_call_cold_s=9.0,
                                   first_call_cold_cache="cold"))
    assert main(["report", str(write(tmp_path / "r.json", raw)), "--out", str(tmp_path / "rep")]) == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    header = next(t for t in report.splitlines() if t.startswith("| model | phase | batch | device |"))
    assert "torch-compile (warm cache)" in header and "torch-compile (cold: empty cache)" in header
    assert "| torch-compile |" not in header  # never an unlabelled cache load
    row = next(t for t in report.splitlines() if t.startswith("| workshop | train | 64 | cpu |"))
    assert "0.30 s" in row and "9.00 s" in row


def test_data_parallel_and_overhead_sections_come_from_the_json_beside_the_results(tmp_path):
    from benchmarks.tasks.distributed import DPCase
    from tests.test_distributed import fake_result

    results = write(tmp_path / "r.json", standard_run())
    cases = [(DPCase("examples", "torch-ddp", "cpu", 1, "weak", 64), 0.1),
             (DPCase("examples", "torch-ddp", "cpu", 2, "weak", 128), 0.125),
             (DPCase("examples", "torch-ddp", "cpu", 2, "weak", 128, allreduce=False), 0.1)]
    dp = {"benchmarks": [fake_result(c, t) for c, t in cases], "parity": None}
    for case in dp["benchmarks"]:
        case["extra_info"].update(per_worker_batch=64, threads_per_worker=1,
                                   per_worker_images_per_s=1.0)
    write(tmp_path / "distributed.json", dp)
    over = {"benchmarks": [], "lengths": [1, 8],
            "fits": [{"mode": "torch-eager", "variant": "no_grad", "op": "add", "device": "cpu",
                      "per_op_s": 3.2e-6, "per_op_low": 3.0e-6, "per_op_high": 3.5e-6,
                      "per_call_s": 9e-6, "per_call_low": 8e-6, "per_call_high": 10e-6}],
            "breakdown": [{"model": "workshop", "mode": "torch-eager", "device": "cpu", "batch": 1,
                           "unprofiled_s": 0.002, "wall_s": 0.004, "kernels_s": 0.001,
                           "framework_s": 0.002, "python_s": 0.001, "kernels": 77}]}
    write(tmp_path / "overhead.json", over)
    assert main(["report", str(results), "--out", str(tmp_path / "rep")]) == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "| examples | torch-ddp | weak | loopback | 2 | 128 | 125.0 ms | 1,024 |" in report
    assert "| 80% | 20% |" in report  # scaling efficiency and communication share
    assert "JAX: not measured (JAX's multi-process runtime" in report  # a framework without engine
    assert "| torch-eager | no_grad | add | 3.20 | [3.00, 3.50] | 9.00 | [8.00, 10.00] | n/a |" in report
    assert "| workshop | torch-eager | 1 | 2.00 ms | 4.00 ms | 25% | 50% | 25% | 77 |" in report
    for png in ("scaling.png", "breakdown.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 10_000


COMMITTED_RESULTS = sorted(Path(__file__).resolve().parents[1].glob("reports/*/*.json"))


@pytest.mark.parametrize("path", [p for p in COMMITTED_RESULTS
                                  if "benchmarks" in json.loads(p.read_text())],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_results_open_in_pytest_benchmark_compare(path):
    """The committed JSON is pytest-benchmark's own schema: its `compare` command reads it."""
    run = subprocess.run([sys.executable, "-c", "from pytest_benchmark.cli import main; main()",
                          "compare", str(path), "--columns=median"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "test_" in run.stdout


def test_the_header_names_the_cpu_features_that_decide_the_results(tmp_path):
    from benchmarks.analysis import machine_identity

    raw = standard_run()
    raw["machine_info"].update(cpu_model="Intel(R) Xeon(R) Processor", cores=2, memory_gib=7.8,
                               cpu={"flags": ["avx2", "avx512f", "avx512_bf16", "amx_bf16",
                                              "amx_tile", "fma"]})
    assert main(["report", str(write(tmp_path / "r.json", raw)), "--out", str(tmp_path / "rep")]) == 0
    line = next(t for t in (tmp_path / "rep" / "report.md").read_text().splitlines()
                if t.startswith("- CPU features"))
    assert line == ("- CPU features: AVX2, AVX-512, AVX512_BF16, AMX-BF16, AMX-TILE (absent: "
                    "AVX512_FP16); memory 7.8 GiB; machine slug intel-xeon-amx-2c")
    raw["machine_info"].update(cpu_model="AMD EPYC 7B13", cpu={"flags": ["avx2", "fma"]})
    assert machine_identity.slug(raw) == "amd-epyc-avx2-2c"
    raw["machine_info"]["cpu"] = {}
    assert "not recorded" in machine_identity.line(raw)


EPYC = Path(__file__).resolve().parents[1] / "reports" / "cpu-amd-epyc-avx512bf16-2c"


def _machine(raw, cpu_model, flags, folder, parity=True):
    raw["machine_info"].update(cpu_model=cpu_model, cpu={"flags": flags})
    folder.mkdir()
    if parity:  # a real parity result: every fp32 mode of both models passed
        shutil.copy(EPYC / "parity.json", folder)
    return write(folder / "benchmarks.json", raw)


def test_report_over_two_machines_lines_up_their_verdicts_and_marks_the_flips(tmp_path):
    """tf-graph twice as fast as torch-eager on one CPU, half as fast on the other: the
    report is of the first machine, and its section "Across machines" shows both verdicts."""
    xeon = _machine(standard_passes(), "Intel(R) Xeon(R) Processor",
                    ["avx2", "avx512f", "avx512_bf16", "amx_bf16"], tmp_path / "xeon")
    epyc_raw = standard_passes(seed=1)
    for batch in (1, 64):
        epyc_raw = slowed(epyc_raw, f"test_step[train-workshop-tf-graph-cpu-b{batch}]", 4.0)
    epyc = _machine(epyc_raw, "AMD EPYC 7B13", ["avx2"], tmp_path / "epyc")
    assert main(["report", str(xeon), str(epyc), "--out", str(tmp_path / "rep")]) == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "machine slug intel-xeon-amx-2c" in report.split("## ")[0]  # the header: the first's
    assert len(pd.read_csv(tmp_path / "rep" / "results.csv")) == 6  # its rows only
    section = report.split("## Across machines")[1]
    assert "**intel-xeon-amx-2c**" in section and "**amd-epyc-avx2-2c**" in section
    assert "AVX512_BF16" in section.split("**amd-epyc-avx2-2c**")[0]
    rows = [t for t in section.splitlines() if t.startswith("| workshop | train |")]
    assert len(rows) == 2, rows  # the at-best table: batches 1 and 64
    for row in rows:
        xeon_cell, epyc_cell, change = row.split(" | ")[4:7]
        for cell, fastest in ((xeon_cell, "TensorFlow"), (epyc_cell, "PyTorch")):
            speedup = float(cell.removeprefix(f"{fastest} fastest, ").split("x [")[0])
            assert speedup == pytest.approx(2.0, rel=0.05), row
        assert change == "**flips** |"
    assert "tf-graph vs torch-eager, 2 cases: the same verdict in 0, flips in 2" in section
    # tf-graph 4x slower there: no longer faster than tf-eager (20 ms each)
    assert "tf-graph vs tf-eager, 2 cases: the same verdict in 0, flips in 0, differs in 2" in section
    assert "Not measured on intel-xeon-amx-2c, amd-epyc-avx2-2c" in section  # fp32 only


def test_a_machine_without_parity_results_gives_no_verdict_across_machines(tmp_path):
    xeon = _machine(standard_passes(), "Intel(R) Xeon(R) Processor", ["avx2"], tmp_path / "xeon")
    epyc = _machine(standard_passes(seed=1), "AMD EPYC 7B13", ["avx2"], tmp_path / "epyc",
                    parity=False)
    assert main(["report", str(xeon), str(epyc), "--out", str(tmp_path / "rep")]) == 0
    section = (tmp_path / "rep" / "report.md").read_text().split("## Across machines")[1]
    assert ("Not measured: no case has a parity-passing configuration of two frameworks on "
            "every machine") in section
    # the mode pairs need no parity: both machines agree there
    assert "tf-graph vs torch-eager, 2 cases: the same verdict in 2" in section
