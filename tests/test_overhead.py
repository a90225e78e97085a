"""Per-op overhead: the chains compute what they say in every mode, the fit recovers a known
slope, and a profiled step's parts add up to the step."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.tasks.overhead import chain_fits, fit_chain, profile_breakdown
from impls.base import CHAIN_OPS, chain_inputs
from impls.registry import MODES, mode_class, unavailable_reason
from impls.step_profile import StepProfile, union_length
from tests.conftest import COMPILED


def test_union_counts_overlaps_once():
    assert union_length([]) == 0
    assert union_length([(0, 2), (1, 3), (5, 6), (5.5, 5.7)]) == pytest.approx(4)


def test_profile_parts_never_negative_and_add_up():
    profile = StepProfile(wall_s=10, in_framework_s=8, kernel_s=5, kernels=3)
    assert profile.parts() == {"kernels_s": 5, "framework_s": 3, "python_s": 2}
    odd = StepProfile(wall_s=10, in_framework_s=4, kernel_s=7, kernels=3)  # kernels off-thread
    assert odd.parts() == {"kernels_s": 4, "framework_s": 0, "python_s": 6}


@pytest.mark.parametrize("mode", [pytest.param(m, marks=[pytest.mark.slow] if m in COMPILED else [])
                                  for m in MODES])
def test_every_chain_variant_computes_the_chain(mode):
    reason = unavailable_reason(mode, "cpu")
    if reason:
        pytest.skip(reason)
    cls = mode_class(mode)
    x, w = chain_inputs()
    expected = {"add": x * 6, "matmul": x @ np.linalg.matrix_power(w.astype(np.float64), 5)}
    for variant in cls.chain_variants:
        for op in CHAIN_OPS:
            out = cls.op_chain(op, 5, "cpu", variant)()
            got = np.asarray(out.detach() if hasattr(out, "detach") else out)
            np.testing.assert_allclose(got, expected[op], rtol=1e-4, atol=1e-5,
                                       err_msg=f"{mode} {variant} {op}")
    with pytest.raises(ValueError, match="no chain variant 'nope'"):
        cls.op_chain("add", 1, "cpu", "nope")


def test_fit_recovers_a_known_synthetic_slope():
    rng = np.random.default_rng(0)
    lengths = [1, 8, 32, 128]
    # 3 us per op, 20 us per call, skewed noise as timings have it (median of the noise: ~1.4 us)
    rounds = [20e-6 + 3e-6 * k + rng.exponential(2e-6, 100) for k in lengths]
    fit = fit_chain(lengths, rounds)
    assert fit["per_op_low"] <= 3e-6 <= fit["per_op_high"]
    assert fit["per_op_s"] == pytest.approx(3e-6, rel=0.01)
    assert fit["fit_max_miss"] < 0.05  # a line fits a line
    assert fit["per_call_s"] == pytest.approx(20e-6 + 2e-6 * np.log(2), rel=0.02)
    assert fit["per_call_low"] < fit["per_call_s"] < fit["per_call_high"]
    raw = {"benchmarks": [{"name": f"k{k}", "stats": {"median": float(np.median(r)),
                                                       "rounds": 100, "data": list(r)},
                           "extra_info": {"phase": "op-chain", "mode": "m", "variant": "v",
                                          "op": "add", "device": "cpu", "length": k}}
                          for k, r in zip(lengths, rounds, strict=True)]}
    row = chain_fits(raw).iloc[0]
    assert row["per_op_s"] == pytest.approx(fit["per_op_s"]) and row["lengths"] == lengths


PARTS_TOLERANCE = 0.01  # parts vs the profiled step: they are defined to cover it exactly


def test_breakdown_parts_add_up_to_the_measured_step():
    modes = [m for m in ("torch-eager", "tf-graph") if not unavailable_reason(m, "cpu")]
    rows, skipped = profile_breakdown(["workshop"], modes, batches=[16],
                                      progress=lambda msg: None)
    assert [r["mode"] for r in rows] == modes and not skipped
    for r in rows:
        parts = r["kernels_s"] + r["framework_s"] + r["python_s"]
        assert abs(parts - r["wall_s"]) <= PARTS_TOLERANCE * r["wall_s"], r
        assert min(r["kernels_s"], r["framework_s"], r["python_s"]) >= 0
        assert r["kernels_s"] > 0 and r["kernels"] >= 8, r  # 2 convs, 2 linears, pools, relus ...
        assert r["unprofiled_s"] > 0  # the profiler's own cost is a figure for the report, not a test
