"""Several machines' results side by side: the same cases lined up per machine, and where a
verdict holds on every machine or changes with the CPU (a framework fastest on one, no
difference or the other fastest on another). Each machine is judged from its own passes and
its own parity; nothing is pooled across machines, whose times are not comparable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.analysis import best, machine_identity
from benchmarks.analysis.results import machine_fingerprint

CASE = ["model", "phase", "batch", "device"]
CONFIG = ["mode", "precision", "layout"]


@dataclass
class Machine:
    """One machine's results: its slug, its first results file (header facts), the files,
    its benchmark rows and the parity results beside its first file."""

    slug: str
    raw: dict[str, Any]
    paths: list[Path]
    frame: pd.DataFrame
    parities: list[dict[str, Any]]

    @cached_property
    def steps(self) -> pd.DataFrame:
        """Step rows with precision and layout filled in (the report and every lineup use
        them)."""
        return best.step_configs(self.frame)


def group(raws: list[dict[str, Any]]) -> list[tuple[str, list[int]]]:
    """Indices of the results files per machine, in first-seen order; files with the same
    fingerprint (CPU, cores, OS) and slug are one machine, e.g. several runs' modes."""
    machines: dict[tuple[str, str], list[int]] = {}
    for i, raw in enumerate(raws):
        machines.setdefault((machine_identity.slug(raw), machine_fingerprint(raw)), []).append(i)
    slugs = [slug for slug, _ in machines]
    # one slug for two fingerprints (same CPU family, another OS): tell them apart
    return [(slug if slugs.count(slug) == 1 else f"{slug} ({print_.split(' | ')[-1]})", idx)
            for (slug, print_), idx in machines.items()]


def _common(steps: list[pd.DataFrame]) -> set[tuple]:
    """(mode, precision, layout) configurations every machine timed."""
    sets = [set(map(tuple, s[CONFIG].drop_duplicates().itertuples(index=False))) for s in steps]
    return set.intersection(*sets) if sets else set()


def change(verdicts: list[str | None]) -> str:
    """Across the machines that have a case: 'same', 'flips' (opposite judgements),
    'differs' (judged on one machine, no significant difference on another) or '-' (a
    machine has no verdict there)."""
    said = [v for v in verdicts if not v.startswith("no verdict")]
    if len(said) < len(verdicts) or len(said) < 2:
        return "-"
    if len(set(said)) == 1:
        return "same"
    judged = {v for v in said if v != "no significant difference"}
    return "flips" if len(judged) > 1 else "differs"


def at_best(machines: list[Machine]) -> tuple[pd.DataFrame, list[tuple]]:
    """Per case, each machine's "each framework at its best" verdict over the configurations
    every machine timed (so a change is the machine's doing, not a configuration one machine
    lacks), and those configurations."""
    steps = [m.steps for m in machines]
    common = sorted(_common(steps))
    per = []
    for m, s in zip(machines, steps, strict=True):
        keep = s[[tuple(r) in common for r in s[CONFIG].itertuples(index=False)]]
        table = best.best_table(keep, best.passed_configs(m.parities)) if m.parities \
            else pd.DataFrame()
        per.append(table)
    return line_up(machines, per, CASE, _best_cell), common


def _best_cell(r: dict[str, Any]) -> tuple[str, str]:
    if pd.isna(r["speedup"]):
        return r["verdict"], r["verdict"]
    ratio = f"{r['speedup']:.2f}x [{r['low']:.2f}, {r['high']:.2f}]"
    if r["verdict"].endswith(" fastest"):
        return r["verdict"], f"{r['verdict']}, {ratio}"
    return r["verdict"], f"{r['verdict']} ({r['fastest']} {ratio})"


def ratio_cell(r: dict[str, Any]) -> tuple[str, str]:
    """A speed-up row's verdict and its cell text."""
    return r["verdict"], f"{r['verdict']}: {r['speedup']:.2f}x [{r['low']:.2f}, {r['high']:.2f}]"


def tuned(machines: list[Machine]) -> pd.DataFrame:
    """Per mode, case and tuned configuration that two or more machines timed: what it buys
    over fp32 / default on each."""
    return line_up(machines, [best.tuning_table(m.steps) for m in machines],
                   [*CASE, "mode", "config"], ratio_cell, least=2)


def line_up(machines: list[Machine], tables: list[pd.DataFrame], keys: list[str],
            cell: Callable[[dict[str, Any]], tuple[str, str]], least: int | None = None
            ) -> pd.DataFrame:
    """One row per key that at least ``least`` machines (default: every one) have: per
    machine its (verdict, cell text) or None, and the change across machines."""
    cells: dict[tuple, dict[str, Any]] = {}
    for m, table in zip(machines, tables, strict=True):
        for r in ([] if table.empty else table.to_dict("records")):
            key = tuple(r[k] for k in keys)
            cells.setdefault(key, {})[m.slug] = cell(r)
    rows = []
    for key, by in cells.items():
        if len(by) < (least or len(machines)):
            continue
        row = dict(zip(keys, key, strict=True))
        row.update({m.slug: by.get(m.slug) for m in machines})
        row["change"] = change([verdict for verdict, _ in by.values()])
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *(m.slug for m in machines), "change"])
