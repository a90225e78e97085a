"""Where one training step's time goes, from the framework's own profiler.

Three parts that add up to the profiled step's wall time:
- kernels: the union of the intervals in which a compute kernel ran, on any thread;
- framework: the rest of the time inside the framework's entry points (op dispatch,
  autograd bookkeeping, graph executor scheduling, allocation, copies);
- Python: the calling thread outside the framework (the interpreter running the model code).
Which profiler events count as kernels is each framework's to say (its ``profile_step``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length covered by (start, end) intervals, overlaps counted once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


@dataclass(frozen=True)
class StepProfile:
    wall_s: float  # the profiled step, start to finish (device synced)
    in_framework_s: float  # calling thread inside the framework's entry points
    kernel_s: float  # union of compute-kernel intervals, all threads
    kernels: int  # compute kernels launched in the step

    @property
    def python_s(self) -> float:
        return self.wall_s - min(self.in_framework_s, self.wall_s)

    def parts(self) -> dict[str, float]:
        """Kernels, framework and Python, adding up to the wall time. Kernels that ran on
        other threads while the caller was outside the framework (asynchronous work) are
        counted only up to the caller's time inside it, so no time is counted twice."""
        inside = min(self.in_framework_s, self.wall_s)
        kernels = min(self.kernel_s, inside)
        return {"kernels_s": kernels, "framework_s": inside - kernels, "python_s": self.python_s}
