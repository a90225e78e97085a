"""Passes: merging separate pytest processes, and intervals from their medians."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from benchmarks.analysis.compare import compare_runs
from benchmarks.analysis.passes import PassMismatch, merge_passes
from benchmarks.analysis.stats import BETWEEN_PASSES, WITHIN_RUN, Timings, passes_ratio_ci, runs_ratios
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


def test_merge_refuses_a_later_pass_with_benchmarks_the_first_did_not_run():
    with pytest.raises(PassMismatch, match="pass 2 ran benchmarks pass 1 did not"):
        merge_passes([run(standard_run()["benchmarks"][:2]), standard_run()])


def test_one_off_benchmarks_of_the_first_pass_stay_single_pass():
    """`sidebyside run` repeats only the steady-state steps after pass 1."""
    first, later = standard_run(), run(standard_run()["benchmarks"][:2])
    merged = {b["name"]: b for b in merge_passes([first, later, later])["benchmarks"]}
    medians = [len(b["extra_info"]["pass_medians"]) for b in merged.values()]
    assert len(merged) == 6 and sorted(medians) == [1, 1, 1, 1, 3, 3]


def test_contention_and_gemm_peaks_survive_the_merge():
    """A case contended in any pass is contended; the peak is the best measurement, and
    MFU is rescaled to it."""
    passes = passes_of([10.0, 12.0, 11.0])
    for i, p in enumerate(passes):
        p["benchmarks"][0]["extra_info"].update(contended=i == 1, other_cpu_pct=[1.0, 40.0, 0.5][i],
                                                steal_pct=0.0, contention_window_s=0.5,
                                                peak_precision="fp32")
        p["machine_info"]["gemm_peaks"] = {"cpu": {"fp32": {
            "gflops": [100.0, 40.0, 120.0][i], "library": "torch", "contended": i == 1,
            "other_cpu_pct": [1.0, 40.0, 0.5][i], "when": "start"}}}
    mfu_before = passes[0]["benchmarks"][0]["extra_info"]["mfu"]
    merged = merge_passes(passes)
    info = merged["benchmarks"][0]["extra_info"]
    assert info["contended"] is True and info["contended_passes"] == [False, True, False]
    assert info["other_cpu_pct"] == 40.0
    peak = merged["machine_info"]["gemm_peaks"]["cpu"]["fp32"]
    assert peak["gflops"] == 120.0 and len(peak["measurements"]) == 3
    assert [m["when"] for m in peak["measurements"]] == ["pass 1 start", "pass 2 start",
                                                         "pass 3 start"]
    scale = passes[0]["benchmarks"][0]["stats"]["median"] / merged["benchmarks"][0]["stats"]["median"]
    assert info["mfu"] == pytest.approx(mfu_before * scale * 100.0 / 120.0)


def test_pass_interval_is_the_pooled_t_interval_on_logs():
    a, b = np.array([0.020, 0.024, 0.018]), np.array([0.010, 0.011, 0.009, 0.010])
    ratio = passes_ratio_ci(a, b)
    expected = scipy_stats.ttest_ind(np.log(a), np.log(b)).confidence_interval(0.95)
    assert ratio.value == pytest.approx(np.exp(np.log(a).mean() - np.log(b).mean()))
    assert (np.log(ratio.low), np.log(ratio.high)) == pytest.approx(tuple(expected))
    assert ratio.method == BETWEEN_PASSES and ratio.significant


def test_single_pass_falls_back_to_rounds_and_says_so():
    rounds = np.linspace(0.009, 0.011, 30)
    (ratio,) = runs_ratios([(Timings.single_pass(rounds * 1.3), Timings.single_pass(rounds))])
    assert ratio.method == WITHIN_RUN and ratio.value == pytest.approx(1.3)
    assert ratio.low > 1 and not ratio.judged and not ratio.significant  # shown, never a verdict


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
    (rounds_only,) = runs_ratios([(pooled[1], pooled[0])])
    assert rounds_only.low > 1 and not rounds_only.judged  # it would have said "slower"


def test_a_cold_compile_timed_in_pass_1_only_is_kept():
    passes = passes_of([10.0, 12.0, 11.0])
    passes[0]["benchmarks"][0]["extra_info"].update(first_call_cold_s=9.0,
                                                    first_call_cold_cache="cold")
    info = merge_passes(passes)["benchmarks"][0]["extra_info"]
    assert info["first_call_cold_s_passes"] == [9.0, None, None]
    assert info["first_call_cold_s"] == 9.0 and info["first_call_cold_cache"] == "cold"


def test_merged_result_keeps_the_schema_and_labels_mixed_caches():
    passes = passes_of([10.0, 12.0])
    passes[0]["benchmarks"][0]["extra_info"]["first_call_cache"] = "cold"
    passes[1]["benchmarks"][0]["extra_info"]["first_call_cache"] = "warm"
    one = merge_passes(passes)["benchmarks"][0]
    assert one["stats"]["iterations"] == 1  # `pytest-benchmark compare` reads it
    assert one["extra_info"]["first_call_cache"] == "mixed"
