"""The matrix: forward, backward and train step per model x mode x device x batch."""

from benchmarks.conftest import device_context, skip_unless_available
from benchmarks.harness import run_case


def test_step(benchmark, case, settings, context):
    skip_unless_available(case.mode, case.device)
    benchmark.group = f"{case.phase}-{case.model}-{case.device}-b{case.batch}"
    run_case(benchmark, case, settings, device_context(context, case.device))
