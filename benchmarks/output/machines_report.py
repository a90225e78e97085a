"""The report section "Across machines": the same cases lined up per machine, with where a
verdict flips, so a reader sees which findings hold on the CPU they rent."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from benchmarks.analysis import machine_identity
from benchmarks.analysis import machines as across
from benchmarks.analysis.machines import Machine
from benchmarks.analysis.results import shown_path

CHANGE_NOTE = ("Change: *same* = the same verdict on every machine; *flips* = opposite "
               "verdicts (one framework or mode faster on one machine, the other on another); "
               "*differs* = a verdict on one machine, no significant difference on another; "
               "- = a machine has no verdict there.")


def _machine_line(m: Machine) -> str:
    info = m.raw.get("machine_info", {})
    features = machine_identity.line(m.raw).removeprefix("- CPU features: ")
    return (f"- **{m.slug}**: {info.get('cpu_model', '?')}, {info.get('cores', '?')} cores; "
            f"{features}; results from {m.raw.get('datetime', '?')[:10]} "
            f"({', '.join(f'`{shown_path(p)}`' for p in m.paths)})")



def _table(rows: pd.DataFrame, keys: list[str], machines: list[Machine]) -> list[str]:
    heads = " | ".join([*keys, *(m.slug for m in machines), "change"])
    out = [f"| {heads} |", "|" + "---|" * (len(keys) + len(machines) + 1)]
    for r in rows.to_dict("records"):
        cells = [str(r[k]) for k in keys] + [
            "not measured" if r[m.slug] is None else r[m.slug][1] for m in machines]
        change = f"**{r['change']}**" if r["change"] in ("flips", "differs") else r["change"]
        out.append(f"| {' | '.join(cells)} | {change} |")
    return out


def _counts(rows: pd.DataFrame) -> str:
    counts = rows.change.value_counts()
    return ", ".join(f"{label} in {counts.get(key, 0)}" for key, label in
                     (("same", "the same verdict"), ("flips", "flips"), ("differs", "differs"),
                      ("-", "no verdict on some machine")))


def lines(machines: list[Machine], pairs: Callable[[pd.DataFrame], pd.DataFrame]) -> list[str]:
    """The section; ``pairs`` is the report's mode-pair speed-up table of one machine's fp32 /
    default steps."""
    out = ["Each machine is judged from its own passes and its own parity results; times are "
           "never compared across machines, only verdicts. " + CHANGE_NOTE, "",
           *map(_machine_line, machines), ""]
    best_rows, common = across.at_best(machines)
    out += ["### Each framework at its best, on every machine", ""]
    if best_rows.empty:
        out.append("Not measured: no case has a parity-passing configuration of two frameworks "
                   "on every machine (each machine needs its parity results beside its results "
                   "file).")
    else:
        names = ", ".join(f"{mode} {precision}" + ("" if layout == "default" else f" {layout}")
                          for mode, precision, layout in common)
        out += [f"Over the configurations every machine timed ({names}), so a change comes from "
                "the machine, not from a configuration one machine lacks. Of "
                f"{len(best_rows)} cases: {_counts(best_rows)}.", "",
                *_table(best_rows, across.CASE, machines)]
    steps = [m.steps for m in machines]
    plain = [s[(s.precision == "fp32") & (s.layout == "default")] for s in steps]
    mode_rows = across.line_up(machines, [pairs(p) for p in plain],
                               ["comparison", *across.CASE], across.ratio_cell)
    out += ["", "### Mode against mode (fp32, default layout)", ""]
    if mode_rows.empty:
        out.append("Not measured: no mode pair was timed on every machine.")
    else:
        changed = mode_rows[mode_rows.change.isin(["flips", "differs"])]
        for comparison, part in mode_rows.groupby("comparison", sort=False):
            out.append(f"- {comparison}, {len(part)} cases: {_counts(part)}")
        out += ["", "The cases whose verdict changes with the machine:", ""]
        out += (_table(changed, ["comparison", *across.CASE], machines) if not changed.empty
                else ["None."])
    tuned = across.tuned(machines)
    out += ["", "### What tuned configurations buy (over the same mode's fp32 / default)", ""]
    missing = [m.slug for m in machines if m.steps[["precision", "layout"]].drop_duplicates()
               .shape[0] < 2]
    if missing:
        out.append("Not measured on " + ", ".join(missing) + ": the results have only fp32 / "
                   "default configurations (a run limited to them, or from before the precision "
                   "and layout axes).")
        out.append("")
    if tuned.empty:
        out.append("Not lined up: no tuned configuration was timed on two machines; each "
                   "machine's own report has what its tuned configurations buy.")
    else:
        out += [f"{len(tuned)} cases: {_counts(tuned)}.", "",
                *_table(tuned, [*across.CASE, "mode", "config"], machines)]
    return out
