"""Time to accuracy: training on the offline digits learns, and the command's files and report
hold the run's numbers."""

import json

import pandas as pd
import pytest

from benchmarks.cli import main
from benchmarks.data.sources import load
from benchmarks.tasks.accuracy import summary_frame, train_to_target
from impls.registry import unavailable_reason
from tests.fixtures import standard_run


@pytest.mark.parametrize("mode", ["torch-eager", "tf-graph"])
def test_three_epochs_on_the_offline_digits_are_well_above_chance(mode):
    if unavailable_reason(mode, "cpu"):
        pytest.skip(f"{mode}: {unavailable_reason(mode, 'cpu')}")
    run = train_to_target("workshop", mode, load(), target=0.999, max_epochs=3, seed=0)
    assert [e.epoch for e in run.curve] == [1, 2, 3] and not run.reached
    assert run.curve[-1].test_accuracy >= 0.80
    assert run.curve[-1].train_loss < run.curve[0].train_loss
    assert all(b.elapsed_s > a.elapsed_s for a, b in zip(run.curve, run.curve[1:], strict=False))


def test_accuracy_command_writes_results_and_the_report_shows_them(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["accuracy", "--modes", "torch-eager", "--seeds", "2", "--max-epochs", "3",
                 "--target", "70%", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "accuracy.json").read_text())
    (row,) = result["summary"]
    curves = pd.read_csv(out / "accuracy-curves.csv")
    finals = curves.groupby("seed").elapsed_s.max()
    assert row["reached"] == 2 and row["median_s"] == pytest.approx(finals.median())
    assert row["min_s"] == pytest.approx(finals.min()) and row["max_s"] == pytest.approx(finals.max())
    last = curves.sort_values("epoch").groupby("seed").tail(1)
    assert (last.test_accuracy >= 0.70).all()  # each run stopped at the target
    assert (curves[curves.epoch < curves.groupby("seed").epoch.transform("max")].test_accuracy
            < 0.70).all()
    assert (out / "accuracy.png").stat().st_size > 10_000
    (out / "benchmarks.json").write_text(json.dumps(standard_run()))
    assert main(["report", str(out / "benchmarks.json"), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    line = next(t for t in report.splitlines() if t.startswith("| workshop | torch-eager | 2/2 |"))
    assert f"{row['median_s']:.1f} s ({row['min_s']:.1f}-{row['max_s']:.1f})" in line
    assert "![accuracy](accuracy.png)" in report
    assert f"(median over seeds): workshop torch-eager {row['median_s']:.1f} s." in report


def test_unreached_target_is_reported_not_hidden():
    run = train_to_target("workshop", "torch-eager", load(), target=0.99, max_epochs=1, seed=0)
    (row,) = summary_frame([run]).to_dict(orient="records")
    assert row["reached"] == 0 and pd.isna(row["median_s"])


@pytest.mark.parametrize("args, message", [
    (["--data", "synthetic"], "no mode can learn it"),
    (["--data", "idx:/nonexistent"], "no such folder"),
])
def test_accuracy_refuses_unusable_data(tmp_path, capsys, args, message):
    assert main(["accuracy", *args, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_accuracy_refuses_an_impossible_target(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["accuracy", "--target", "1.5", "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2 and "strictly between 0 and 1" in capsys.readouterr().err
