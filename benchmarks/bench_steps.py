"""The matrix: forward, backward and train step per model x mode x device x batch."""

import pytest

from benchmarks.harness import run_case
from benchmarks.plugin import device_context


@pytest.mark.sidebyside("steps")
def test_step(benchmark, case, settings, context):
    benchmark.group = f"{case.phase}-{case.model}-{case.device}-b{case.batch}"
    run_case(benchmark, case, settings, device_context(context, case.device))
