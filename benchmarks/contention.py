"""How much of the CPU other processes took while we timed: measured, not guessed.

On a 2-core machine one busy process elsewhere made a run's GEMM peak 2.5x too low and its
steps 10-100x slower, silently. Around each timed window we read the machine's CPU time
(/proc/stat through psutil) and our own process tree's; what the machine spent beyond our
tree went to other processes, and steal time to other guests of the hypervisor. Both are
read outside the timed calls: two snapshots per window.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

# A case is contended when other processes took at least this share of the machine's CPU
# time during its timed rounds (or the hypervisor stole it). An idle 2-core VM reads 0.3-0.5%;
# one single-threaded hog beside a 2-thread benchmark reads 25-50%: 10% lies well between.
THRESHOLD_PCT = 10.0
# The kernel counts CPU time in ticks (10 ms on Linux): a window of a few ms reads 0 or 1 tick
# of "other" time (an idle machine showed 14-50% on 5-25 ms windows). Fewer than 3 ticks of
# others' time cannot be told from that rounding; a case slowed by a real hog runs long
# enough to show many more.
TICK_S = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
MIN_TICKS = 3
BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")


@dataclass(frozen=True)
class Load:
    """Other processes' share and steal share of the machine's CPU time over a window, %."""

    other_cpu_pct: float
    steal_pct: float
    seconds: float  # wall time of the window
    capacity_s: float = 0.0  # CPU seconds the machine had in it (all cores)
    own_s: float = 0.0  # CPU seconds our process tree used in it

    def _beyond(self, pct: float) -> bool:
        return pct >= THRESHOLD_PCT and pct / 100 * self.capacity_s >= MIN_TICKS * TICK_S

    @property
    def contended(self) -> bool:
        return self._beyond(self.other_cpu_pct) or self._beyond(self.steal_pct)

    def as_info(self) -> dict[str, float | bool]:
        return {"other_cpu_pct": round(self.other_cpu_pct, 2), "steal_pct": round(self.steal_pct, 2),
                "contended": self.contended, "contention_window_s": round(self.seconds, 3),
                "contention_threshold_pct": THRESHOLD_PCT, "cores_used": self.cores_used}

    @property
    def cores_used(self) -> float:
        """Cores our process tree kept busy on average: its CPU time / the wall time. How
        many cores a mode really uses under the thread budget, whatever it was told."""
        return round(self.own_s / self.seconds, 2) if self.seconds > 0 else 0.0


def own_cpu_seconds() -> float:
    """CPU seconds of this process, its reaped children and its live descendants (the
    data-parallel workers, compile workers), so their work is never counted as others'."""
    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in me.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += child_times.user + child_times.system
    return total


def _machine() -> tuple[float, float, float]:
    """(busy, steal, total) CPU seconds of the whole machine since boot."""
    times = psutil.cpu_times()
    fields = times._asdict()
    busy = sum(fields.get(k, 0.0) for k in BUSY_FIELDS)
    total = sum(v for k, v in fields.items() if k not in ("guest", "guest_nice"))  # in user/nice
    return busy, fields.get("steal", 0.0), total


class Window:
    """Snapshots at start and at ``stop()``: the load of everything but us in between."""

    def __init__(self) -> None:
        self.start_wall = time.perf_counter()
        self.start_machine = _machine()
        self.start_own = own_cpu_seconds()

    def stop(self) -> Load:
        busy, steal, total = _machine()
        own = own_cpu_seconds() - self.start_own
        d_busy, d_steal, d_total = (now - then for now, then in
                                     zip((busy, steal, total), self.start_machine, strict=True))
        wall = time.perf_counter() - self.start_wall
        if d_total <= 0:  # a window shorter than the kernel's tick: nothing to tell
            return Load(0.0, 0.0, wall, own_s=own)
        other = max(0.0, d_busy - own)
        return Load(100 * other / d_total, 100 * d_steal / d_total, wall, d_total, own)


@contextmanager
def watch() -> Iterator[list[Load]]:
    """``with watch() as load: ...``; afterwards ``load[0]`` is the window's Load."""
    window, out = Window(), []
    try:
        yield out
    finally:
        out.append(window.stop())


def busy_processes(seconds: float = 1.0, top: int = 3) -> tuple[Load, list[str]]:
    """The machine's load over ``seconds`` while we sleep, and the busiest other processes
    ('name (pid) 97%'), as pyperf's system check does before a benchmark."""
    mine = {psutil.Process().pid, *(c.pid for c in psutil.Process().children(recursive=True))}
    procs = []
    for proc in psutil.process_iter(["name"]):
        if proc.pid in mine:
            continue
        try:
            proc.cpu_percent(None)
            procs.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    with watch() as load:
        time.sleep(seconds)
    usage = []
    for proc in procs:
        try:
            usage.append((proc.cpu_percent(None), f"{proc.info['name']} ({proc.pid})"))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    busiest = [f"{name} {pct:.0f}%" for pct, name in sorted(usage, reverse=True)[:top] if pct >= 5]
    return load[0], busiest


def preflight(say) -> Load:
    """Warn before a run when the machine is already busy; returns what was measured."""
    load, busiest = busy_processes()
    if load.contended:
        say(f"warning: other processes are using {load.other_cpu_pct:.0f}% of this machine's CPU "
            f"(steal {load.steal_pct:.0f}%) before the run starts"
            + (f": {', '.join(busiest)}" if busiest else "")
            + f". Cases timed with {THRESHOLD_PCT:.0f}% or more taken by others are marked "
              "contended, re-timed once, and give no verdict; stop them for a clean run.")
    return load
