"""Shared fixtures: seeded batches and modes built once per session (compiling is slow)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.data.batches import seeded_batches
from impls.base import Mode
from impls.registry import MODES, mode_class, unavailable_reason
from impls.spec import MODELS, get_model

pytest_plugins = ["pytester"]

ALL_MODES = list(MODES)
ALL_MODELS = list(MODELS)
COMPILED = {"torch-compile", "tf-xla"}


def mode_params(models: list[str] = ALL_MODELS) -> list:
    """(model, mode) pairs, compiled modes marked slow."""
    return [pytest.param(model, mode, id=f"{model}-{mode}",
                         marks=[pytest.mark.slow] if mode in COMPILED else [])
            for model in models for mode in ALL_MODES]


def build_mode(mode: str, model: str, seed: int = 0, dropout: bool = False) -> Mode:
    reason = unavailable_reason(mode, "cpu")
    if reason:
        pytest.skip(f"{mode}: {reason}")
    return mode_class(mode)(get_model(model), "cpu", seed=seed, dropout=dropout)


_BUILT: dict[tuple[str, str], Mode] = {}


@pytest.fixture
def shared_mode():
    """A cached, dropout-off mode per (model, mode); tests must restore weights they change."""

    def get(model: str, mode: str) -> Mode:
        if (model, mode) not in _BUILT:
            _BUILT[(model, mode)] = build_mode(mode, model)
        return _BUILT[(model, mode)]

    return get


@pytest.fixture(scope="session")
def batch() -> tuple[np.ndarray, np.ndarray]:
    """16 real MNIST digits, normalized, in a seeded order."""
    return seeded_batches(1, 16, seed=0)[0]
