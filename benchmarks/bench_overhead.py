"""The harness's own cost per round, recorded in the same JSON as everything it measures."""

import pytest

from benchmarks.harness import timed_target


@pytest.mark.sidebyside("harness")
def test_harness_noop(benchmark, mode, settings):
    target = timed_target(lambda: None, lambda: None)
    benchmark.group = "harness"
    benchmark.pedantic(target, rounds=1000, warmup_rounds=settings.warmup_rounds, iterations=1)
    benchmark.extra_info.update(model="none", mode=mode, phase="noop", batch=0,
                                note="per-round overhead: timer + call + no-op sync")
