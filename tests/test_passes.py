"""Passes: merging separate pytest processes, and intervals from their medians."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from benchmarks.analysis.compare import compare_runs
from benchmarks.analysis.passes import PassMismatch, merge_passes
from benchmarks.analysis.stats import BETWEEN_PASSES, WITHIN_RUN, Timings, passes_ratio_ci, ratio_ci
from tests.fixtures import bench, run, standard_run

NAME = "test_step[train-workshop-torch-eager-cpu-b64]"


def passes_of(medians_ms: list[float], seed: int = 0) -> list[dict]:
    """One single-benchmark run per pass, each with its own median."""
    return [run([bench("torch-eager", "train", 64, ms, seed=seed + i)])
            for i, ms in enumerate(medians_ms)]


def test_merge_pools_rounds_and_keeps_pass_medians():
    passes = passes_of([10.0, 12.0, 11.0])
    passes[1]["benchmarks"][0]["extra_info"]["first_call_s"] = 2.0
    merged = merge_passes(passes)
    one = merged["benchmarks"][0]
    pooled = np.concatenate([p["benchmarks"][0]["stats"]["data"] for p in passes])
    assert one["stats"]["rounds"] == 90 and one["stats"]["data"] == pooled.tolist()
    assert one["stats"]["median"] == pytest.approx(np.median(pooled))
    assert one["extra_info"]["pass_medians"] == pytest.approx([0.010, 0.012, 0.011])
    assert one["extra_info"]["first_call_s_passes"] == [0.5, 2.0, 0.5]
    assert one["extra_info"]["first_call_s"] == 0.5  # median over passes
    assert one["extra_info"]["images_per_s"] == pytest.approx(64 / np.median(pooled))
    assert merged["machine_info"]["passes"] == 3


def test_merge_refuses_passes_with_different_benchmarks():
    with pytest.raises(PassMismatch, match="different benchmarks"):
        merge_passes([standard_run(), run(standard_run()["benchmarks"][:2])])


def test_pass_interval_is_the_pooled_t_interval_on_logs():
    a, b = np.array([0.020, 0.024, 0.018]), np.array([0.010, 0.011, 0.009, 0.010])
    ratio = passes_ratio_ci(a, b)
    expected = scipy_stats.ttest_ind(np.log(a), np.log(b)).confidence_interval(0.95)
    assert ratio.value == pytest.approx(np.exp(np.log(a).mean() - np.log(b).mean()))
    assert (np.log(ratio.low), np.log(ratio.high)) == pytest.approx(tuple(expected))
    assert ratio.method == BETWEEN_PASSES and ratio.significant


def test_single_pass_falls_back_to_rounds_and_says_so():
    rounds = np.linspace(0.009, 0.011, 30)
    ratio = ratio_ci(Timings.single_pass(rounds * 1.3), Timings.single_pass(rounds))
    assert ratio.method == WITHIN_RUN and ratio.value == pytest.approx(1.3) and ratio.significant


def test_drift_between_passes_is_not_a_regression_but_a_real_one_is():
    """Each pass is tight inside (+-2%) but passes move +-15%: rounds alone would call a 12%
    shift significant; the pass interval knows the machine does that between runs."""
    base = merge_passes(passes_of([10.0, 11.5, 8.7]))
    drifted = merge_passes(passes_of([11.2, 12.9, 9.8], seed=10))  # +12%, inside the drift
    slower = merge_passes(passes_of([20.0, 23.0, 17.4], seed=20))  # 2x
    (row,) = compare_runs(base, drifted, 0.10)
    assert row.mark == "=" and row.low < 1 < row.high and "between passes" in row.note
    (row,) = compare_runs(base, slower, 0.10)
    assert row.mark == "+" and row.ratio == pytest.approx(2.0, rel=0.01)
    pooled = [Timings.single_pass(r["benchmarks"][0]["stats"]["data"]) for r in (base, drifted)]
    assert ratio_ci(pooled[1], pooled[0]).significant  # what the rounds-only interval says


def test_merged_result_keeps_the_schema_and_labels_mixed_caches():
    passes = passes_of([10.0, 12.0])
    passes[0]["benchmarks"][0]["extra_info"]["first_call_cache"] = "cold"
    passes[1]["benchmarks"][0]["extra_info"]["first_call_cache"] = "warm"
    one = merge_passes(passes)["benchmarks"][0]
    assert one["stats"]["iterations"] == 1  # `pytest-benchmark compare` reads it
    assert one["extra_info"]["first_call_cache"] == "mixed"
