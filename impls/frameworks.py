"""The registered frameworks, in report order: one line per framework package.

The first registered framework's eager mode is the fp32 parity reference (besides the float64
oracle) and its GPU count is what ``--devices`` defaults go by.
"""

from __future__ import annotations

import importlib

from impls.framework import EngineInfo, Framework, ModeInfo

PACKAGES = (
    "impls.pytorch",
    "impls.tf",
    "impls.jaxfw",
)

FRAMEWORKS: dict[str, Framework] = {
    fw.name: fw for fw in (importlib.import_module(p).FRAMEWORK for p in PACKAGES)}


def get_framework(name: str) -> Framework:
    """The framework a mode or engine names in its ``framework`` attribute."""
    if name not in FRAMEWORKS:
        raise ValueError(f"unknown framework {name!r}; choose from: {', '.join(FRAMEWORKS)}")
    return FRAMEWORKS[name]


MODE_INFO: dict[str, ModeInfo] = {m.name: m for fw in FRAMEWORKS.values() for m in fw.modes}
ENGINE_INFO: dict[str, EngineInfo] = {e.name: e for fw in FRAMEWORKS.values() for e in fw.engines}
FRAMEWORK_OF: dict[str, Framework] = {
    **{m.name: fw for fw in FRAMEWORKS.values() for m in fw.modes},
    **{e.name: fw for fw in FRAMEWORKS.values() for e in fw.engines}}
REFERENCE = next(iter(FRAMEWORKS.values())).eager  # fp32 parity reference beside the oracle
VERSION_KEYS = tuple(p for fw in FRAMEWORKS.values() for p in fw.version_packages)


def describe_versions(versions: dict) -> str:
    """'PyTorch 2.14.1, TensorFlow 2.21.0' from a run's recorded package versions."""
    return ", ".join(
        f"{fw.display} "
        + next((versions[p] for p in fw.version_packages if versions.get(p)), "not recorded")
        for fw in FRAMEWORKS.values())
