"""Per-op overhead: chains of K tiny identical ops in every mode (with --op-chains only)."""

import pytest

from benchmarks.tasks.overhead import run_chain_case


@pytest.mark.sidebyside("chains")
def test_op_chain(benchmark, chain_case, settings, context):
    benchmark.group = f"chain-{chain_case.op}-{chain_case.device}"
    run_chain_case(benchmark, chain_case, settings, context)
