"""Which modes and engines exist, and whether each can run here, without importing any
framework: the registered frameworks' records (impls.frameworks) say it all."""

from __future__ import annotations

from functools import cache

from impls.base import DEVICES, Mode
from impls.framework import load
from impls.frameworks import ENGINE_INFO, FRAMEWORK_OF, FRAMEWORKS, MODE_INFO, get_framework
from impls.precision import check_choice, check_precision, layout_reason, slow_reason, unsupported_reason

MODES = MODE_INFO
ENGINES = ENGINE_INFO


def check_mode(name: str) -> str:
    return check_choice(name, MODES, "mode")


def check_device(name: str) -> str:
    return check_choice(name, DEVICES, "device")


def framework_of(mode_or_engine: str) -> str:
    """The framework (its import name) a mode or engine belongs to."""
    return FRAMEWORK_OF[check_choice(mode_or_engine, FRAMEWORK_OF, "mode or engine")].name


@cache
def _gpu_count(framework: str) -> int:
    return get_framework(framework).gpu_count()


def gpu_present() -> bool:
    """Whether the first installed framework sees a CUDA GPU: what `--devices` defaults and
    checks go by (without importing the others)."""
    first = next((fw for fw in FRAMEWORKS.values() if fw.installed()), None)
    return first is not None and _gpu_count(first.name) > 0


def gpu_framework() -> str:
    """Display name of the framework gpu_present() asks."""
    return next((fw.display for fw in FRAMEWORKS.values() if fw.installed()), "no framework")


def layouts_of(mode: str) -> tuple[str, ...]:
    return FRAMEWORK_OF[check_mode(mode)].layouts


def unavailable_reason(mode: str, device: str, precision: str = "fp32",
                       layout: str = "default", timing: bool = False,
                       named: bool = False) -> str | None:
    """Why ``mode`` cannot run on ``device`` in that configuration here, or None when it can.
    ``timing``: also refuse a precision the device would only emulate (fine for parity),
    unless it was ``named`` by the user."""
    fw = FRAMEWORK_OF[check_mode(mode)]
    check_device(device)
    reason = (unsupported_reason(check_precision(precision), device)
              or fw.precision_reason(precision)
              or (slow_reason(precision, device, named) if timing else None)
              or layout_reason(fw, layout))
    if reason:
        return reason
    if not fw.installed():
        return f"{fw.name} is not installed ({fw.install})"
    reason = fw.mode_reason(mode, device)
    if reason:
        return reason
    if device == "cuda" and not _gpu_count(fw.name):
        return f"no CUDA GPU visible to {fw.name}"
    return None


def mode_class(mode: str) -> type[Mode]:
    return load(MODES[check_mode(mode)].cls)


def check_engine(name: str) -> str:
    return check_choice(name, ENGINES, "engine")


def engine_unavailable_reason(engine: str, device: str, workers: int = 1) -> str | None:
    """Why ``engine`` cannot run ``workers`` workers on ``device`` here, or None."""
    reason = unavailable_reason(ENGINES[check_engine(engine)].mode, device)
    if reason or device != "cuda":
        return reason
    gpus = _gpu_count(FRAMEWORK_OF[engine].name)
    if workers > gpus:
        return (f"{workers} workers need {workers} GPUs (one each); {gpus} visible: "
                "multi-GPU scaling not measured here")
    return None


def engine_class(engine: str) -> type[Mode]:
    return load(ENGINES[check_engine(engine)].cls)
