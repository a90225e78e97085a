"""The GEMM peak behind MFU, taken as the best of several measurements.

A peak measured while another process held a core came out 2.5x low (153 GFLOP/s against 379
idle), which made every MFU 2.5x high (158% shown). A slow measurement is never too fast, so
the peak is the highest of all measurements (start and end of every pass), each kept with the
load it was measured under; MFUs are rescaled to it.
"""

from __future__ import annotations

import copy
from typing import Any

Peaks = dict[str, dict[str, Any]]  # device -> precision -> peak record, or "not measured: why"


def _measurements(peak: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """The measurements behind a peak record, each named by when it was taken."""
    own = peak.get("measurements") or [{"when": peak.get("when", ""), "gflops": peak["gflops"],
                                        "library": peak.get("library"),
                                        "other_cpu_pct": peak.get("other_cpu_pct"),
                                        "contended": peak.get("contended")}]
    return [{**m, "when": f"{label} {m['when']}".strip()} for m in own]


def best_peaks(tables: list[Peaks], labels: list[str]) -> Peaks:
    """Per device and precision the highest measured peak of ``tables`` (each labelled, e.g.
    'pass 1'), with every measurement listed under ``measurements``."""
    found: dict[tuple[str, str], list[tuple[dict[str, Any], str]]] = {}
    out: Peaks = {}
    for table, label in zip(tables, labels, strict=True):
        for device, by_precision in table.items():
            for precision, peak in by_precision.items():
                out.setdefault(device, {}).setdefault(precision, peak)  # "not measured: ..."
                if isinstance(peak, dict):
                    found.setdefault((device, precision), []).append((peak, label))
    for (device, precision), peaks in found.items():
        best = max((peak for peak, _ in peaks), key=lambda peak: peak["gflops"])
        out[device][precision] = {**copy.deepcopy(best), "measurements": [
            m for peak, label in peaks for m in _measurements(peak, label)]}
    return out


def peak_of(peaks: Peaks, device: str, precision: str) -> float | None:
    peak = peaks.get(device, {}).get(precision)
    return peak["gflops"] if isinstance(peak, dict) else None


def rescale_mfu(benchmarks: list[dict[str, Any]], old: Peaks, new: Peaks) -> None:
    """MFU of each benchmark, computed against ``old``, rescaled to the ``new`` peaks."""
    for bench in benchmarks:
        info = bench.get("extra_info", {})
        if "mfu" not in info:
            continue
        device, precision = info.get("device", "cpu"), info.get("peak_precision", "fp32")
        before, after = peak_of(old, device, precision), peak_of(new, device, precision)
        if before and after:
            info["mfu"] *= before / after
