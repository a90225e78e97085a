"""Variable-size inputs: the seed's claim that define-by-run copes better with them."""

import pytest

from benchmarks.harness import run_stream
from benchmarks.plugin import device_context, skip_unless_available


@pytest.mark.sidebyside("streams")
def test_stream(benchmark, stream, model, mode, variant, device, settings, context):
    skip_unless_available(mode, device)
    benchmark.group = f"stream-{model}-{device}"
    run_stream(benchmark, model, mode, variant, device, stream, settings,
               device_context(context, device))
