"""Which modes exist, and whether each can run here, without importing any framework."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
from functools import cache

from impls.base import DEVICES, Mode

# mode -> (module, class, framework package)
MODES: dict[str, tuple[str, str, str]] = {
    "torch-eager": ("impls.torch_modes", "TorchEager", "torch"),
    "tf-graph": ("impls.tf_modes", "TFGraph", "tensorflow"),
    "tf-eager": ("impls.tf_modes", "TFEager", "tensorflow"),
    "torch-compile": ("impls.torch_modes", "TorchCompile", "torch"),
    "tf-xla": ("impls.tf_modes", "TFXLA", "tensorflow"),
}


def check_mode(name: str) -> str:
    if name not in MODES:
        raise ValueError(f"unknown mode {name!r}; choose from: {', '.join(MODES)}")
    return name


def check_device(name: str) -> str:
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; choose from: {', '.join(DEVICES)}")
    return name


@cache
def _has_gpu(framework: str) -> bool:
    if framework == "torch":
        import torch
        return torch.cuda.is_available()
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))


def torch_gpu_present() -> bool:
    """Whether torch sees a CUDA GPU: what `--devices` defaults and checks go by."""
    return importlib.util.find_spec("torch") is not None and _has_gpu("torch")


def unavailable_reason(mode: str, device: str) -> str | None:
    """Why ``mode`` cannot run on ``device`` here, or None when it can."""
    framework = MODES[check_mode(mode)][2]
    check_device(device)
    if importlib.util.find_spec(framework) is None:
        extra = "pip install 'sidebyside[cpu]'" if framework == "tensorflow" else "pip install torch"
        return f"{framework} is not installed ({extra})"
    if mode == "torch-compile":
        if sys.platform == "win32":
            return "torch.compile's inductor backend is not supported on Windows"
        if device == "cpu" and not (shutil.which("c++") or shutil.which("g++")):
            return "torch.compile on CPU needs a C++ compiler (g++) on PATH"
    if device == "cuda" and not _has_gpu(framework):
        return f"no CUDA GPU visible to {framework}"
    return None


def mode_class(mode: str) -> type[Mode]:
    module, cls, _ = MODES[check_mode(mode)]
    return getattr(importlib.import_module(module), cls)
