"""The history folder (pytest-benchmark's storage layout) and the static site built from it:
what the page is given, checked as numbers; the browser test opens it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.analysis.history import MIGRATED, load_history, save_run
from benchmarks.cli import main
from tests.fixtures import slowed, standard_passes

ROOT = Path(__file__).resolve().parents[1]
TRAIN64 = "test_step[train-workshop-torch-eager-cpu-b64]"
PARITY = [["cpu", "fp32", "default", "workshop", m] for m in ("torch-eager", "tf-graph", "tf-eager")]


def three_runs(history: Path) -> list[Path]:
    """Three 3-pass runs a day apart; the third has torch-eager train b64 twice as slow."""
    saved = []
    for day, raw in enumerate([standard_passes(seed=1), standard_passes(seed=2),
                               slowed(standard_passes(seed=3), TRAIN64, 2.0)]):
        raw.update(datetime=f"2026-11-{20 + day}T10:00:00",
                   sidebyside={"parity_passed": PARITY})
        raw["machine_info"].update(cpu_model="Intel(R) Xeon(R) Processor",
                                   cpu={"flags": ["avx2", "avx512f", "amx_bf16"]})
        saved.append(save_run(raw, history, {"id": f"{day + 1:x}" * 40, "dirty": day == 2}))
    return saved


def site_data(site: Path) -> dict:
    text = (site / "data.js").read_text()
    return json.loads(text.removeprefix("window.SIDEBYSIDE = ").removesuffix(";\n"))


def test_runs_are_saved_as_pytest_benchmark_stores_them_and_its_cli_reads_them(tmp_path):
    saved = three_runs(tmp_path / "hist")
    assert [p.relative_to(tmp_path / "hist").as_posix() for p in saved] == [
        "intel-xeon-amx-2c/0001_1111111_20261120_100000.json",
        "intel-xeon-amx-2c/0002_2222222_20261121_100000.json",
        "intel-xeon-amx-2c/0003_3333333_20261122_100000_uncommitted-changes.json"]
    cli = [sys.executable, "-c", "from pytest_benchmark.cli import main; main()"]
    listed = subprocess.run([*cli, "--storage", f"file://{tmp_path / 'hist'}", "list"],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and [Path(p).name for p in listed.stdout.split()] == \
        [p.name for p in saved], listed.stderr
    compared = subprocess.run([*cli, "--storage", f"file://{tmp_path / 'hist'}", "compare",
                               "0001", "0003", "--columns=median"],
                              capture_output=True, text=True, timeout=120)
    assert compared.returncode == 0 and "Traceback" not in compared.stderr, compared.stderr
    assert compared.stdout.count("train-workshop-torch-eager-cpu-b64") == 2


def test_the_site_marks_the_run_judged_slower_and_gives_intervals(tmp_path):
    three_runs(tmp_path / "hist")
    assert main(["site", "--history", str(tmp_path / "hist"), "--out", str(tmp_path / "site")]) == 0
    data = site_data(tmp_path / "site")
    assert [r["commit"] for r in data["runs"]] == ["1111111", "2222222", "3333333"]
    series = {s["name"]: s for s in data["series"]}
    slow = series[TRAIN64]
    assert slow["mark"] == ["", "", "+"]  # only the doubled run, only this benchmark
    assert all(s["mark"] == ["", "", ""] for name, s in series.items() if name != TRAIN64)
    assert slow["y"][2] / slow["y"][1] == pytest.approx(2.0, rel=0.15)
    assert all(lo < y < hi for lo, y, hi in zip(slow["low"], slow["y"], slow["high"], strict=True))
    assert slow["model"] == "workshop" and slow["batch"] == 64 and slow["machine"] == "intel-xeon-amx-2c"
    overview = data["overview"]["intel-xeon-amx-2c"]
    row = next(r for r in overview["rows"] if r["batch"] == 64)
    # the slowed run: tf-graph 40 ms against torch-eager 160 ms
    assert row["verdict"] == "TensorFlow fastest" and row["speedup"] == pytest.approx(4.0, rel=0.1)
    assert row["cells"]["PyTorch"]["config"] == "torch-eager fp32"
    assert row["cells"]["JAX"] is None
    page = (tmp_path / "site" / "index.html").read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing from a network
    assert (tmp_path / "site" / "plotly.min.js").stat().st_size > 1_000_000


def test_corrupt_and_foreign_json_are_skipped_by_name_and_the_site_is_still_built(tmp_path, capsys):
    hist = tmp_path / "hist"
    three_runs(hist)
    (hist / "intel-xeon-amx-2c" / "0004_broken.json").write_text("{not json")
    (hist / "other" / "0001_foreign.json").parent.mkdir()
    (hist / "other" / "0001_foreign.json").write_text(json.dumps({"hello": 1}))
    assert main(["site", "--history", str(hist), "--out", str(tmp_path / "site")]) == 0
    err = capsys.readouterr().err
    assert "0004_broken.json: not valid JSON" in err and "0001_foreign.json: not pytest-benchmark" in err
    data = site_data(tmp_path / "site")
    assert len(data["runs"]) == 3 and len(data["skipped"]) == 2


def test_an_empty_history_builds_a_page_that_says_so_and_a_missing_one_is_an_error(tmp_path, capsys):
    (tmp_path / "hist").mkdir()
    assert main(["site", "--history", str(tmp_path / "hist"), "--out", str(tmp_path / "site")]) == 0
    assert site_data(tmp_path / "site")["runs"] == []
    assert "The history is empty" in (tmp_path / "site" / "index.html").read_text()
    assert main(["site", "--history", str(tmp_path / "nope"), "--out", str(tmp_path / "s2")]) == 2
    assert "no such history folder" in capsys.readouterr().err and not (tmp_path / "s2").exists()


def test_the_report_is_rendered_as_html_with_its_figures(tmp_path):
    three_runs(tmp_path / "hist")
    raw = standard_passes()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "benchmarks.json").write_text(json.dumps(raw))
    assert main(["report", str(tmp_path / "run" / "benchmarks.json"), "--out", str(tmp_path / "run")]) == 0
    assert main(["site", "--history", str(tmp_path / "hist"), "--out", str(tmp_path / "site"),
                 "--report", str(tmp_path / "run"), "--repo", "https://github.com/o/sidebyside"]) == 0
    html = (tmp_path / "site" / "report.html").read_text()
    assert "<table>" in html and '<img src="speedups.png"' in html
    assert (tmp_path / "site" / "speedups.png").exists()
    data = site_data(tmp_path / "site")
    assert data["report"] is True
    assert data["runs"][0]["url"] == "https://github.com/o/sidebyside/commit/" + "1" * 40


def test_an_old_history_csv_migrates_into_the_folder(tmp_path):
    """Two runs in the CSV: the one whose whole results are given is saved from them, the
    other keeps its medians, marked migrated, in the same machine's folder."""
    import pandas as pd

    from benchmarks.analysis.results import machine_fingerprint

    whole = standard_passes(seed=1)
    whole["machine_info"]["cpu"] = {"flags": ["avx2"]}
    rows = [{"commit": commit, "date": date, "machine": machine_fingerprint(whole),
             "threads": 2, "quick": False, "passes": 3, "name": b["name"],
             "median_s": b["stats"]["median"], "iqr_s": b["stats"]["iqr"],
             "rounds": b["stats"]["rounds"], "contended": False}
            for commit, date in (("71d9ff3", "2026-11-20T07:07:51"), ("21eb430", whole["datetime"]))
            for b in whole["benchmarks"]]
    pd.DataFrame(rows).to_csv(tmp_path / "history.csv", index=False)
    (tmp_path / "whole.json").write_text(json.dumps(whole))
    assert main(["save-history", "--history", str(tmp_path / "hist"),
                 str(tmp_path / "history.csv"), str(tmp_path / "whole.json")]) == 0
    runs, skipped = load_history(tmp_path / "hist")
    assert not skipped and len(runs) == 2
    assert {r.path.parent.name for r in runs} == {"test-avx2-2c"}  # one machine: one folder
    old, kept = runs
    assert all(b["extra_info"]["migrated"] == MIGRATED for b in old.raw["benchmarks"])
    assert old.commit == "71d9ff3" and kept.commit == "21eb430"
    assert kept.raw["benchmarks"] == whole["benchmarks"]
    # the site takes a series' axes from the run that has them, not the migrated one first
    assert main(["site", "--history", str(tmp_path / "hist"), "--out", str(tmp_path / "site")]) == 0
    series = next(s for s in site_data(tmp_path / "site")["series"] if s["name"] == TRAIN64)
    assert (series["model"], series["mode"], series["batch"], series["precision"]) == \
        ("workshop", "torch-eager", 64, "fp32")
    assert series["low"][0] is None and series["low"][1] is not None  # medians only: no interval
    assert main(["save-history", "--history", str(tmp_path / "h"), str(tmp_path / "nope.csv")]) == 2
