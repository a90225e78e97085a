"""Numeric precisions and memory layouts, framework-neutral: what each one computes in, where it
can run, and how much rounding it brings.

Mixed precision (``bf16``, ``fp16``) follows torch.autocast's CUDA op lists, written here once
for every framework: conv and matmul layers compute in the low dtype (input, weight and bias
cast down, output left low), log-softmax casts back up so the softmax and the loss are fp32,
and every other layer (pooling, ReLU, dropout, flatten) runs in the dtype it receives.
Weights, gradients and optimizer state stay fp32 (master weights). torch gets the low layers
from autocast and casts up before log-softmax itself (CPU autocast would leave it low);
frameworks without autocast apply the whole table with explicit casts. Tests check the table
against torch.autocast layer by layer.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

from impls.spec import Conv2d, Layer, Linear, LogSoftmax

if TYPE_CHECKING:
    from impls.framework import Framework

PRECISIONS = ("fp32", "bf16", "fp16", "tf32")
LAYOUTS = ("default", "channels_last")
MIXED = ("bf16", "fp16")  # low-precision compute, fp32 master weights
CUDA_ONLY = ("tf32",)  # a GPU tensor-core format: on CPU the frameworks compute plain fp32
LOW_PRECISION_LAYERS: tuple[type, ...] = (Conv2d, Linear)
FP32_LAYERS: tuple[type, ...] = (LogSoftmax,)
# Unit roundoff of each format's significand (2^-(mantissa bits + 1)): what tolerances scale with.
UNIT_ROUNDOFF = {"fp32": 2.0**-24, "tf32": 2.0**-11, "bf16": 2.0**-8, "fp16": 2.0**-11}
# CPU features that run bf16 matmuls and convolutions natively (oneDNN uses them in torch and
# frameworks); without them bf16 is emulated in fp32 and timing it measures the emulation.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def layer_dtype(layer: Layer, precision: str) -> str:
    """'low', 'fp32' or 'input': the dtype ``layer`` computes in under ``precision``."""
    if precision not in MIXED:
        return "fp32"
    if isinstance(layer, LOW_PRECISION_LAYERS):
        return "low"
    if isinstance(layer, FP32_LAYERS):
        return "fp32"
    return "input"


def check_choice(name: str, choices, what: str) -> str:
    """``name`` when it is one of ``choices``, else a ValueError that lists them."""
    if name not in choices:
        raise ValueError(f"unknown {what} {name!r}; choose from: {', '.join(choices)}")
    return name


def check_precision(name: str) -> str:
    return check_choice(name, PRECISIONS, "precision")


def check_layout(name: str) -> str:
    return check_choice(name, LAYOUTS, "layout")


def tag(precision: str, layout: str) -> str:
    """The id part a configuration adds ('' for fp32 / default, so those ids never change)."""
    parts = ([] if precision == "fp32" else [precision]) + ([] if layout == "default" else ["cl"])
    return "".join(f"-{p}" for p in parts)


@cache
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags; SIDEBYSIDE_CPU_FLAGS (space-separated) stands in for them,
    to see what the suite does on a CPU with other features."""
    if "SIDEBYSIDE_CPU_FLAGS" in os.environ:
        return frozenset(os.environ["SIDEBYSIDE_CPU_FLAGS"].split())
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def unsupported_reason(precision: str, device: str) -> str | None:
    """Why ``precision`` cannot run on ``device`` at all, or None."""
    if device == "cpu" and precision in CUDA_ONLY:
        return f"{precision} runs on cuda only"
    return None


def emulated(precision: str, device: str) -> bool:
    """bf16 on a CPU without native bf16: it runs, converted to fp32 for the arithmetic."""
    return device == "cpu" and precision == "bf16" and not cpu_flags() & set(CPU_BF16_FLAGS)


def slow_reason(precision: str, device: str, named: bool = False) -> str | None:
    """Why timing ``precision`` on ``device`` would measure an emulation, or None. Parity
    still runs such a precision: the numbers are right, only slow. ``named``: the user asked
    for the precision by name, so an emulated bf16 is timed (and labelled emulated)."""
    if emulated(precision, device):
        return None if named else (
            "this CPU has no native bf16 (neither " + " nor ".join(CPU_BF16_FLAGS)
            + "): bf16 would be emulated, so it is not timed (name it in --precisions to time "
              "the emulation)")
    if device == "cpu" and precision == "fp16":
        return "fp16 is timed on cuda only: CPUs convert it to fp32 for the arithmetic"
    return None


def timing_reason(precision: str, device: str, named: bool = False) -> str | None:
    """Why ``precision`` on ``device`` is not timed (it cannot run, or would be emulated and
    was not asked for by name)."""
    return unsupported_reason(precision, device) or slow_reason(precision, device, named)


def layout_reason(framework: Framework, layout: str, offered: tuple[str, ...] | None = None) -> str | None:
    """Why ``framework`` (an impls.framework.Framework), or a mode of it offering only
    ``offered``, has no ``layout``, or None."""
    if check_layout(layout) in (offered or framework.layouts):
        return None
    return f"{framework.name} has no {layout} variant here: it runs {framework.native_layout}"
