"""Calibration of every verdict path on synthetic timings (fixed seeds, no benchmarks run):
on null data each path says "faster" / "slower" / `+` / `-` no more often than its false
discovery control promises, and on a known 1.3x effect it finds the effect.

The noise model is the one measured on the project's 2-core VMs: a process (pass or run)
shifts every time it measures (sd 0.15 in log), and each case in each process moves on its
own a little more (sd 0.05); rounds inside one process vary by 2%. Timings in one pass share
the process shift; two runs do not share anything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.analysis import best
from benchmarks.analysis.compare import compare_runs, nothing_comparable
from benchmarks.analysis.stats import Timings, squeeze_variances
from benchmarks.output.report import speedup_table
from benchmarks.tasks.ab import judge
from tests.fixtures import bench, run

PASS_SD, CASE_SD, ROUND_SD = 0.15, 0.05, 0.02
PASSES = 3
SIMULATIONS = 60
CASES = [(model, phase, batch) for model in ("workshop", "examples") for phase in ("forward", "train")
         for batch in (1, 16, 64, 256)]  # 16 cases per table


def timings(rng: np.random.Generator, median: float, shifts: np.ndarray, rounds: int = 10) -> Timings:
    """One case's rounds over passes sharing ``shifts`` (log), with its own noise on top."""
    medians = median * np.exp(shifts + rng.normal(0, CASE_SD, len(shifts)))
    data = np.concatenate([m * np.exp(rng.normal(0, ROUND_SD, rounds)) for m in medians])
    return Timings(data, medians)


def steps_frame(rng: np.random.Generator, modes: dict[str, float]) -> pd.DataFrame:
    """The report's step rows: every case in every mode (true median ms given per mode)."""
    shifts = rng.normal(0, PASS_SD, PASSES)  # one run: every mode shares its passes
    rows = []
    for model, phase, batch in CASES:
        for mode, ms in modes.items():
            t = timings(rng, ms / 1e3, shifts)
            rows.append({"name": f"test_step[{phase}-{model}-{mode}-cpu-b{batch}]", "model": model,
                         "phase": phase, "batch": batch, "device": "cpu", "mode": mode,
                         "framework": "torch" if mode.startswith("torch") else "tensorflow",
                         "precision": "fp32", "layout": "default", "median_s": float(np.median(t.rounds)),
                         "timings": t, "contended": False})
    return pd.DataFrame(rows)


def decided(verdicts: pd.Series) -> pd.Series:
    return verdicts.str.contains("faster|slower")


@pytest.mark.parametrize("effect, at_most, at_least", [(1.0, 0.08, 0.0), (1.3, 1.0, 0.9)])
def test_report_speedups(effect, at_most, at_least):
    """Null: a table with any verdict in at most 8% of simulations (BH at 5% bounds the
    chance of any false verdict by 5% when nothing differs). 1.3x: found in >= 90% of rows."""
    rng = np.random.default_rng(1)
    any_verdict, found = 0, []
    for _ in range(SIMULATIONS):
        table = speedup_table(steps_frame(rng, {"tf-graph": 10 / effect, "tf-eager": 10,
                                                "torch-eager": 10}))
        graph = table[table.comparison == "tf-graph vs tf-eager"]
        if effect == 1.0:
            any_verdict += decided(table.verdict).any()
        else:
            found += list(graph.verdict == "tf-graph faster")
    if effect == 1.0:
        assert any_verdict / SIMULATIONS <= at_most
    else:
        assert np.mean(found) >= at_least


def tuned_frame(rng: np.random.Generator, tf_ms: float, torch_configs: dict[tuple[str, str], float]
                ) -> tuple[pd.DataFrame, set]:
    """tf-graph fp32 against several torch-eager configurations, all passing parity."""
    shifts = rng.normal(0, PASS_SD, PASSES)
    rows, passed = [], set()
    for model, phase, batch in CASES:
        configs = {("tf-graph", "fp32", "default"): tf_ms} | {
            ("torch-eager", p, lay): ms for (p, lay), ms in torch_configs.items()}
        for (mode, precision, layout), ms in configs.items():
            t = timings(rng, ms / 1e3, shifts)
            rows.append({"name": f"{phase}-{model}-{mode}-{precision}-{layout}-b{batch}",
                         "model": model, "phase": phase, "batch": batch, "device": "cpu",
                         "mode": mode, "framework": "torch" if mode.startswith("torch") else "tensorflow",
                         "precision": precision, "layout": layout,
                         "median_s": float(np.median(t.rounds)), "timings": t, "contended": False})
            passed.add(("cpu", precision, layout, model, mode))
    return pd.DataFrame(rows), passed


def test_at_its_best_with_two_tied_configurations_is_not_fooled_by_picking_the_fastest():
    """Two torch configurations tie with TensorFlow: picking the faster of the two on the
    same data used to call PyTorch faster 4.2% of the time; the per-case rate must stay
    within the 2.5% one direction may have."""
    rng = np.random.default_rng(2)
    torch_wins = []
    for _ in range(SIMULATIONS):
        frame, passed = tuned_frame(rng, 10, {("fp32", "default"): 10, ("bf16", "default"): 10})
        torch_wins += list(best.best_table(frame, passed).verdict == "PyTorch fastest")
    assert np.mean(torch_wins) <= 0.025


def test_at_its_best_finds_a_framework_faster_than_all_the_others_configurations():
    rng = np.random.default_rng(3)
    tf_wins = []
    for _ in range(SIMULATIONS // 2):
        frame, passed = tuned_frame(rng, 10 / 1.3, {("fp32", "default"): 10, ("bf16", "default"): 10.5})
        tf_wins += list(best.best_table(frame, passed).verdict == "TensorFlow fastest")
    assert np.mean(tf_wins) >= 0.9


@pytest.mark.parametrize("effect", [1.0, 1.3])
def test_tuning_table(effect):
    """What bf16 buys over fp32 in the same mode: paired over the run's passes."""
    rng = np.random.default_rng(4)
    said = []
    for _ in range(SIMULATIONS // 2):
        frame, _ = tuned_frame(rng, 10, {("fp32", "default"): 10, ("bf16", "default"): 10 / effect})
        said += list(best.tuning_table(frame).verdict)
    said = pd.Series(said)
    if effect == 1.0:
        assert decided(said).mean() <= 0.025
    else:
        assert (said == "faster").mean() >= 0.9


def result_run(rng: np.random.Generator, factor: float, passes: int = PASSES,
               run_sd: float = 0.0) -> dict:
    """A pytest-benchmark result of 40 benchmarks over ``passes`` passes, every time times
    ``factor``; the run as a whole drifts by ``run_sd`` (log)."""
    run_shift = rng.normal(0, run_sd)
    shifts = run_shift + rng.normal(0, CASE_SD, passes)  # no pass effect shared across runs
    benches = []
    for i in range(40):
        t = timings(rng, 0.01 * (1 + i / 10) * factor, shifts)
        one = bench("torch-eager", "train", 64, 10.0, seed=i)
        one["name"] = f"test_step[b{i}]"
        one["stats"]["data"] = t.rounds.tolist()
        one["stats"]["median"] = float(np.median(t.rounds))
        one["extra_info"]["pass_medians"] = t.pass_medians.tolist() if passes > 1 else None
        benches.append(one)
    return run(benches)


@pytest.mark.parametrize("effect", [1.0, 1.3])
def test_compare_between_passes(effect):
    """No history: judged against the passes (unpaired: two runs share no process). A/A: any
    `+` or `-` in at most 8% of comparisons; a 1.3x slowdown (threshold 10%): `+` for at
    least 60% of benchmarks with 3 passes a side."""
    rng = np.random.default_rng(5)
    marked, plus = 0, []
    for _ in range(SIMULATIONS // 2):
        rows = compare_runs(result_run(rng, 1.0), result_run(rng, effect), 0.10)
        marked += any(r.mark in "+-" for r in rows)
        plus += [r.mark == "+" for r in rows]
    if effect == 1.0:
        assert marked / (SIMULATIONS // 2) <= 0.08
    else:
        assert np.mean(plus) >= 0.6


def history(rng: np.random.Generator, raw: dict, run_sd: float, runs: int = 8) -> pd.DataFrame:
    from benchmarks.analysis.results import machine_fingerprint

    return pd.DataFrame([{"commit": "old", "date": f"2026-11-{10 + i:02d}T00:00:00",
                          "machine": machine_fingerprint(raw), "threads": 2, "quick": False,
                          "passes": PASSES, "name": b["name"],
                          "median_s": b["stats"]["median"] * np.exp(shift)}
                         for i, shift in enumerate(rng.normal(0, run_sd, runs))
                         for b in raw["benchmarks"]])


def test_compare_against_history_holds_its_rate_when_runs_drift_more_than_passes():
    """Runs drift (sd 0.12) far more than the passes inside a run: judged against the
    passes, an A/A comparison would mark about a fifth of benchmarks; against the history's
    run-to-run noise at most 8% of comparisons mark any."""
    rng = np.random.default_rng(6)
    marked = 0
    for _ in range(SIMULATIONS // 2):
        base, cur = result_run(rng, 1.0, run_sd=0.12), result_run(rng, 1.0, run_sd=0.12)
        rows = compare_runs(base, cur, 0.10, history(rng, base, 0.12))
        assert all("between runs" in r.note for r in rows)
        marked += any(r.mark in "+-" for r in rows)
    assert marked / (SIMULATIONS // 2) <= 0.08


def test_compare_against_history_finds_a_slowdown_beyond_the_run_to_run_noise():
    """With runs wandering by sd 0.12, a 2x slowdown is `+` for >= 80% of benchmarks (a 1.3x
    one hides in that noise, as it should: it is what the machine does between runs)."""
    rng = np.random.default_rng(10)
    plus = []
    for _ in range(SIMULATIONS // 4):
        base, cur = result_run(rng, 1.0, run_sd=0.12), result_run(rng, 2.0, run_sd=0.12)
        plus += [r.mark == "+" for r in compare_runs(base, cur, 0.10, history(rng, base, 0.12))]
    assert np.mean(plus) >= 0.8


def test_compare_of_single_pass_runs_judges_nothing():
    """Rounds of one process are not replicates: even a 2x slowdown is `?`, and the gate
    says nothing was judged (its own exit status)."""
    rng = np.random.default_rng(7)
    rows = compare_runs(result_run(rng, 1.0, passes=1), result_run(rng, 2.0, passes=1), 0.10)
    assert {r.mark for r in rows} == {"?"}
    assert "not judged" in nothing_comparable(rows)


def ab_runs(rng: np.random.Generator, pairs: int, slow: float) -> tuple[list, list]:
    """K pairs; each pair shares its machine state (sd 0.15), each run its own noise."""
    a_runs, b_runs = [], []
    for _ in range(pairs):
        shift = rng.normal(0, PASS_SD)
        for runs, factor in ((a_runs, 1.0), (b_runs, slow)):
            benches = []
            for i in range(20):
                one = bench("torch-eager", "train", 64, 10.0, seed=i)
                one["name"] = f"test_step[b{i}]"
                one["stats"]["median"] = 0.01 * factor * np.exp(shift + rng.normal(0, CASE_SD))
                benches.append(one)
            runs.append(run(benches))
    return a_runs, b_runs


@pytest.mark.parametrize("effect", [1.0, 1.3])
def test_ab(effect):
    """8 pairs (the default). A/A: any `+` or `-` in at most 8% of jobs; 1.3x: `+` for >= 80%
    of benchmarks."""
    rng = np.random.default_rng(8)
    marked, plus = 0, []
    for _ in range(SIMULATIONS // 2):
        rows = judge(*ab_runs(rng, 8, effect), 0.10)
        marked += any(r.mark in "+-" for r in rows)
        plus += [r.mark == "+" for r in rows]
    if effect == 1.0:
        assert marked / (SIMULATIONS // 2) <= 0.08
    else:
        assert np.mean(plus) >= 0.8


def test_one_benchmark_fits_no_prior_and_a_zero_variance_does_not_drag_the_others():
    """limma: one variance alone gives d0 = 0 (no pooling, not a z-test); a single zero
    among many is floored before the fit instead of pulling the prior to zero."""
    posterior, d0 = squeeze_variances(np.array([0.04]), 4)
    assert d0 == 0 and posterior[0] == 0.04
    rng = np.random.default_rng(9)
    s2 = 0.04 * np.exp(rng.normal(0, 1.0, 40)) * rng.chisquare(4, 40) / 4  # varied true variances
    _, d0_clean = squeeze_variances(s2, 4)
    assert 1 < d0_clean < np.inf
    _, d0_zero = squeeze_variances(np.concatenate([s2, [0.0]]), 4)
    assert d0_zero > 0.5 * d0_clean


def test_no_spread_at_all_is_not_judged_rather_than_certain():
    from benchmarks.analysis.stats import passes_ratio_ci

    ratio = passes_ratio_ci(np.array([0.01, 0.01, 0.01]), np.array([0.02, 0.02, 0.02]))
    assert not ratio.judged and np.isnan(ratio.p)


def test_plus_means_beyond_the_threshold_not_merely_different():
    """A certain 5% slowdown is not `+` at a 10% threshold; a certain 20% one is."""
    from benchmarks.analysis.stats import _t_ratio

    five, twenty = _t_ratio(np.log(1.05), 0.005, 10, "paired runs"), _t_ratio(np.log(1.2), 0.005, 10,
                                                                               "paired runs")
    assert five.p < 1e-4 and five.p_beyond(0.10) > 0.5
    assert twenty.p_beyond(0.10) < 1e-4
