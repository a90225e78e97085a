"""Data-parallel training steps on the frameworks' own engines (with --workers only)."""

import pytest

from benchmarks.plugin import device_context
from benchmarks.tasks.distributed import run_dp_case


@pytest.mark.sidebyside("distributed")
def test_data_parallel(benchmark, dp_case, worker_groups, settings, context):
    benchmark.group = f"dp-{dp_case.scaling}-{dp_case.model}-{dp_case.device}"
    run_dp_case(benchmark, dp_case, worker_groups, settings, device_context(context, dp_case.device))
