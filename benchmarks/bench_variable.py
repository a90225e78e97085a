"""Variable-size inputs: the seed's claim that define-by-run copes better with them."""

from benchmarks.conftest import device_context, skip_unless_available
from benchmarks.harness import run_stream


def test_stream(benchmark, stream, settings, context):
    model, mode, variant, device, kind = stream
    skip_unless_available(mode, device)
    benchmark.group = f"stream-{model}-{device}"
    run_stream(benchmark, model, mode, variant, device, kind, settings,
               device_context(context, device))
