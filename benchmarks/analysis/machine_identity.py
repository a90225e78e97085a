"""Which machine a run measured, as a reader needs it: the CPU features that decide these
results (read from the py-cpuinfo flags pytest-benchmark stores), cores, memory, and a short
slug to name the machine's results folder by."""

from __future__ import annotations

import re
from typing import Any

from impls.precision import CPU_BF16_FLAGS

# (cpuinfo flag, how reports name it): the instruction sets oneDNN and XLA pick kernels by
FEATURES = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX512_BF16"),
            ("amx_bf16", "AMX-BF16"), ("amx_tile", "AMX-TILE"), ("avx512_fp16", "AVX512_FP16"))
TIERS = (("amx_bf16", "amx"), ("avx512_bf16", "avx512bf16"), ("avx512f", "avx512"),
         ("avx2", "avx2"))  # the slug names the best one present
BF16_NAMES = [name for flag, name in FEATURES if flag in CPU_BF16_FLAGS]  # native bf16 needs one
NOISE = re.compile(r"\((r|tm)\)|\b(processor|cpu|\d+-core)\b|@.*$", re.IGNORECASE)


def _cpu(raw: dict[str, Any]) -> dict[str, Any]:
    return raw.get("machine_info", {}).get("cpu") or {}


def features(raw: dict[str, Any]) -> tuple[list[str], list[str]] | None:
    """(present, absent) report names of FEATURES, or None when the run has no flags."""
    flags = set(_cpu(raw).get("flags") or ())
    if not flags:
        return None
    return ([name for flag, name in FEATURES if flag in flags],
            [name for flag, name in FEATURES if flag not in flags])


def slug(raw: dict[str, Any]) -> str:
    """e.g. intel-xeon-amx-2c, amd-epyc-avx2-2c: brand words, best feature tier, cores."""
    info = raw.get("machine_info", {})
    brand = NOISE.sub(" ", info.get("cpu_model") or _cpu(raw).get("brand_raw") or "cpu")
    words = re.findall(r"[a-z0-9]+", brand.lower())[:2] or ["cpu"]
    flags = set(_cpu(raw).get("flags") or ())
    tier = next((name for flag, name in TIERS if flag in flags), None)
    cores = info.get("cores") or _cpu(raw).get("count")
    return "-".join([*words, *([tier] if tier else []), *([f"{cores}c"] if cores else [])])


def line(raw: dict[str, Any]) -> str:
    """The report header's line on the machine's features."""
    found = features(raw)
    memory = raw.get("machine_info", {}).get("memory_gib")
    mem = f"; memory {memory:.1f} GiB" if memory else ""
    if found is None:
        return f"- CPU features: not recorded in these results{mem}; machine slug {slug(raw)}"
    present, absent = found
    return (f"- CPU features: {', '.join(present) or 'none of ' + ', '.join(n for _, n in FEATURES)}"
            + (f" (absent: {', '.join(absent)})" if absent and present else "")
            + f"{mem}; machine slug {slug(raw)}")


def emulated_line(raw: dict[str, Any]) -> list[str]:
    """A header line when some cases ran a precision this CPU only emulates (named by the
    user), so no reader takes their times for the precision's native speed."""
    cases = [b for b in raw.get("benchmarks", []) if b.get("extra_info", {}).get("emulated")]
    if not cases:
        return []
    precisions = sorted({b["extra_info"].get("precision", "?") for b in cases})
    return [f"- **Emulated**: {len(cases)} cases ran {', '.join(precisions)}, which this CPU has "
            f"no native instructions for (neither {' nor '.join(BF16_NAMES)}): they measure the "
            "emulation and are labelled \"(emulated)\" wherever they appear"]
