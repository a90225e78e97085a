"""compare judges each ratio against run-to-run noise from the history when it can, and
controls the false discovery rate across benchmarks."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmarks.analysis.compare import compare_runs, run_noise
from benchmarks.analysis.results import machine_fingerprint
from benchmarks.cli import main
from tests.fixtures import bench, run, slowed, standard_run

TRAIN64 = "test_step[train-workshop-torch-eager-cpu-b64]"


def history_for(raw, sd: float, runs: int = 8, machine: str | None = None,
                threads: int = 2) -> pd.DataFrame:
    """``runs`` earlier runs of every benchmark in ``raw`` whose log medians have sample sd
    exactly ``sd`` around the run's own medians."""
    offsets = np.linspace(-1, 1, runs)
    offsets = offsets / offsets.std(ddof=1) * sd
    rows = [{"commit": "old", "date": f"2026-11-{10 + i:02d}T00:00:00",
             "machine": machine or machine_fingerprint(raw), "threads": threads, "quick": False,
             "passes": 1,
             "name": b["name"], "median_s": b["stats"]["median"] * np.exp(off)}
            for i, off in enumerate(offsets) for b in raw["benchmarks"]]
    return pd.DataFrame(rows)


def test_noise_comes_from_comparable_earlier_runs_only():
    raw = standard_run()
    history = pd.concat([history_for(raw, 0.2),
                         history_for(raw, 5.0, machine="Other CPU | 8 cores | Linux x86_64"),
                         history_for(raw, 5.0, threads=1)])
    noise = run_noise(history, raw, raw)
    assert noise[TRAIN64] == (pytest.approx(0.2), 8)
    assert run_noise(history_for(raw, 0.2, runs=4), raw, raw) == {}  # too few runs
    quick_runs = history_for(raw, 0.2).assign(quick=True)
    assert run_noise(quick_runs, raw, raw) == {}  # other settings: not comparable


def test_a_slowdown_inside_the_run_to_run_noise_is_not_a_regression():
    raw = standard_run()
    history = history_for(raw, 0.15)  # runs here wander +-15% in log
    rows = {r.name: r for r in compare_runs(raw, slowed(raw, TRAIN64, 1.25), 0.10, history)}
    assert rows[TRAIN64].mark == "=" and "between runs (8 earlier runs)" in rows[TRAIN64].note
    assert rows[TRAIN64].low < 1 < rows[TRAIN64].high
    rows = {r.name: r for r in compare_runs(raw, slowed(raw, TRAIN64, 3.0), 0.10, history)}
    assert rows[TRAIN64].mark == "+" and rows[TRAIN64].ratio == pytest.approx(3.0)
    # without the history there is only one process per side: its rounds judge nothing
    rows = {r.name: r for r in compare_runs(raw, slowed(raw, TRAIN64, 1.25), 0.10)}
    assert rows[TRAIN64].mark == "?" and "not judged: rounds of one pass" in rows[TRAIN64].note


def test_false_discovery_control_across_benchmarks():
    """40 benchmarks, one shifted beyond the 10% threshold to p = 0.03 (significant alone,
    not among 40), one to p = 1e-6: only the second is flagged."""
    names = [f"b{i}" for i in range(40)]
    base = run([dict(bench("torch-eager", "train", 64, 10.0, seed=i), name=n)
                for i, n in enumerate(names)])
    sd, runs = 0.1, 8
    history = history_for(base, sd, runs=runs)
    # H0 of `+`: ratio <= 1.1; p of the two one-sided tests together is 2 x the upper tail
    t_for = lambda p: np.log(1.1) + stats.t.isf(p / 2, runs - 1) * sd * np.sqrt(2)  # noqa: E731
    cur = slowed(slowed(base, "b3", float(np.exp(t_for(0.03)))), "b7", float(np.exp(t_for(1e-6))))
    rows = {r.name: r for r in compare_runs(base, cur, 0.10, history)}
    assert rows["b3"].p == pytest.approx(0.03, rel=1e-3) and rows["b3"].mark == "="
    assert rows["b7"].mark == "+" and rows["b7"].q < 0.05
    assert sum(r.mark == "+" for r in rows.values()) == 1


def scaled(raw, factor: float, date: str):
    """``raw`` with every time multiplied by ``factor``, dated ``date``."""
    out = raw
    for b in raw["benchmarks"]:
        out = slowed(out, b["name"], factor)
    return {**out, "datetime": date}


def test_compare_command_reads_the_history_folder(tmp_path, capsys):
    import json

    from benchmarks.analysis.history import save_run

    raw = standard_run()
    base, cur = tmp_path / "a.json", tmp_path / "b.json"
    base.write_text(json.dumps(raw))
    cur.write_text(json.dumps(slowed(raw, TRAIN64, 1.25)))
    history = tmp_path / "history"
    offsets = np.linspace(-1, 1, 8)
    for i, off in enumerate(offsets / offsets.std(ddof=1) * 0.15):
        save_run(scaled(raw, float(np.exp(off)), f"2026-11-{10 + i:02d}T00:00:00"), history,
                 {"id": f"{i:07x}", "dirty": False})
    assert main(["compare", str(base), str(cur), "--history", str(history)]) == 0
    assert "noise: between runs (8 earlier runs)" in capsys.readouterr().out
    assert main(["compare", str(base), str(cur), "--no-history"]) == 3  # one pass: not judged
    # the same folder found beside CURRENT.json by default
    (tmp_path / "history").rename(tmp_path / "kept")
    assert main(["compare", str(base), str(cur)]) == 3
    old_csv = tmp_path / "history.csv"
    old_csv.write_text("commit,date\n")
    assert main(["compare", str(base), str(cur), "--history", str(old_csv)]) == 2
    assert "sidebyside save-history" in capsys.readouterr().err
