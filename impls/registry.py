"""Which modes exist, and whether each can run here, without importing any framework."""

from __future__ import annotations

import importlib
import shutil
import sys
from functools import cache

from impls.base import DEVICES, Mode
from impls.frameworks import get_framework
from impls.precision import (
    FRAMEWORK_LAYOUTS,
    check_choice,
    check_precision,
    layout_reason,
    slow_reason,
    unsupported_reason,
)

# mode -> (module, class, framework package)
MODES: dict[str, tuple[str, str, str]] = {
    "torch-eager": ("impls.torch_modes", "TorchEager", "torch"),
    "tf-graph": ("impls.tf_modes", "TFGraph", "tensorflow"),
    "tf-eager": ("impls.tf_modes", "TFEager", "tensorflow"),
    "torch-compile": ("impls.torch_modes", "TorchCompile", "torch"),
    "tf-xla": ("impls.tf_modes", "TFXLA", "tensorflow"),
}


def check_mode(name: str) -> str:
    return check_choice(name, MODES, "mode")


def check_device(name: str) -> str:
    return check_choice(name, DEVICES, "device")


@cache
def _gpu_count(framework: str) -> int:
    return get_framework(framework).gpu_count()


def torch_gpu_present() -> bool:
    """Whether torch sees a CUDA GPU: what `--devices` defaults and checks go by."""
    return get_framework("torch").installed() and _gpu_count("torch") > 0


def layouts_of(mode: str) -> tuple[str, ...]:
    return FRAMEWORK_LAYOUTS[MODES[check_mode(mode)][2]]


def unavailable_reason(mode: str, device: str, precision: str = "fp32",
                       layout: str = "default", timing: bool = False) -> str | None:
    """Why ``mode`` cannot run on ``device`` in that configuration here, or None when it can.
    ``timing``: also refuse a precision the device would only emulate (fine for parity)."""
    framework = MODES[check_mode(mode)][2]
    check_device(device)
    reason = unsupported_reason(check_precision(precision), device) or (
        slow_reason(precision, device) if timing else None) or layout_reason(framework, layout)
    if reason:
        return reason
    if not get_framework(framework).installed():
        return f"{framework} is not installed ({get_framework(framework).install})"
    if mode == "torch-compile":
        if sys.platform == "win32":
            return "torch.compile's inductor backend is not supported on Windows"
        if device == "cpu" and not (shutil.which("c++") or shutil.which("g++")):
            return "torch.compile on CPU needs a C++ compiler (g++) on PATH"
    if device == "cuda" and not _gpu_count(framework):
        return f"no CUDA GPU visible to {framework}"
    return None


def mode_class(mode: str) -> type[Mode]:
    module, cls, _ = MODES[check_mode(mode)]
    return getattr(importlib.import_module(module), cls)


# data-parallel engine -> (module, class, framework package, the single-process mode it runs)
ENGINES: dict[str, tuple[str, str, str, str]] = {
    "torch-ddp": ("impls.torch_ddp", "TorchDDP", "torch", "torch-eager"),
    "tf-mwms": ("impls.tf_mwms", "TFMWMS", "tensorflow", "tf-graph"),
}


def check_engine(name: str) -> str:
    return check_choice(name, ENGINES, "engine")


def engine_unavailable_reason(engine: str, device: str, workers: int = 1) -> str | None:
    """Why ``engine`` cannot run ``workers`` workers on ``device`` here, or None."""
    reason = unavailable_reason(ENGINES[check_engine(engine)][3], device)
    if reason or device != "cuda":
        return reason
    framework = ENGINES[engine][2]
    gpus = _gpu_count(framework)
    if workers > gpus:
        return (f"{workers} workers need {workers} GPUs (one each); {gpus} visible: "
                "multi-GPU scaling not measured here")
    return None


def engine_class(engine: str) -> type[Mode]:
    module, cls, _, _ = ENGINES[check_engine(engine)]
    return getattr(importlib.import_module(module), cls)
