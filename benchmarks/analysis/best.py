"""Each framework at its best: per model x phase x batch x device, the fastest configuration
(mode x precision x layout) of each framework that passed parity, the cross-framework verdict
there, and per mode what bf16 and channels_last buy over the fp32 / default baseline.

Defaults are one configuration among many: a verdict between frameworks is only a statement
about the frameworks when each runs as its users would tune it, and computes the same thing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from benchmarks.analysis.stats import CONTENDED, WITHIN_RUN, Ratio, same_run_ratios, verdicts
from impls.frameworks import FRAMEWORK_OF, FRAMEWORKS

KEYS = ["model", "phase", "batch", "device"]


def config_label(row: Any) -> str:
    """A configuration without its mode: 'bf16 (emulated) channels_last', 'fp32'."""
    cl = " channels_last" if row.get("layout") == "channels_last" else ""
    emulated = " (emulated)" if row.get("emulated") in (True,) else ""  # NaN, None: no
    return f"{row.get('precision') or 'fp32'}{emulated}{cl}"


def config_name(row: Any) -> str:
    return f"{row['mode']} {config_label(row)}"


def with_config(steps: pd.DataFrame) -> pd.DataFrame:
    """Steps with precision / layout filled in (results from before those axes are fp32 /
    default) and the parity key each row is gated by."""
    out = steps.copy()
    out["precision"] = out.get("precision", pd.Series(index=out.index, dtype=object)).fillna("fp32")
    out["layout"] = out.get("layout", pd.Series(index=out.index, dtype=object)).fillna("default")
    one_layout = [name for name, fw in FRAMEWORKS.items() if len(fw.layouts) == 1]
    out.loc[out.framework.isin(one_layout), "layout"] = "default"  # their native layout always
    return out


def step_configs(frame: pd.DataFrame) -> pd.DataFrame:
    """The step benchmarks of a results table, with their configuration filled in."""
    return with_config(frame[frame.name.str.startswith("test_step")])


def passed_configs(parities: list[dict[str, Any]]) -> set[tuple]:
    """(device, precision, layout, model, mode) of every configuration whose parity checks all
    passed; a mode whose framework has one layout counts for every layout (it runs its native
    one whatever is asked)."""
    passed = set()
    for parity in parities:
        checks = pd.DataFrame(parity["checks"])
        if checks.empty:
            continue
        ok = checks.groupby(["model", "mode"])["passed"].all()
        for (model, mode), good in ok.items():
            if good and mode in FRAMEWORK_OF:
                layouts = FRAMEWORK_OF[mode].layouts
                layout = parity.get("layout", "default") if len(layouts) > 1 else "default"
                passed.add((parity["device"], parity.get("precision", "fp32"), layout, model, mode))
    return passed


def _framework_p(winner: pd.Series, rivals: pd.DataFrame, own: int, contenders: int,
                 ratios: dict[tuple[str, str], Ratio]) -> float:
    """p for "``winner`` (its framework's fastest configuration) is faster than every
    configuration of every other framework": an intersection-union test (each comparison at
    the full level), Bonferroni-corrected for having picked the winner among ``own``
    configurations of its framework and its framework among ``contenders``. Without the first
    correction the fastest of two tied configurations looked faster than the other framework
    4.2% of the time instead of 2.5%."""
    worst = max(ratios[(winner["name"], rival)].p_faster() for rival in rivals["name"])
    return float(min(1.0, contenders * own * worst))


def _pair_ratios(cases: list) -> dict[tuple[str, str], Ratio]:
    """Every cross-framework pair of configurations of each case, judged together (variances
    moderated across them), both ways round."""
    pairs = [(a, b) for _, fw in cases for i, (_, one) in enumerate(fw.items())
             for _, other in list(fw.items())[i + 1:]
             for _, a in one.iterrows() for _, b in other.iterrows()]
    judged = same_run_ratios([(a.timings, b.timings, a.median_s, b.median_s) for a, b in pairs])
    ratios: dict[tuple[str, str], Ratio] = {}
    for (a, b), r in zip(pairs, judged, strict=True):
        ratios[(a["name"], b["name"])] = r
        ratios[(b["name"], a["name"])] = Ratio(1 / r.value, 1 / r.high, 1 / r.low, r.method, r.p,
                                               -r.log_diff, r.se, r.dof)
    return ratios


def best_table(steps: pd.DataFrame, passed: set[tuple]) -> pd.DataFrame:
    """One row per case with a parity-passing configuration: each registered framework's
    fastest one (None where it has none), the fastest framework, its speed-up over the
    runner-up's best and the verdict (at least two frameworks needed)."""
    steps = with_config(steps)
    gate = [(r.device, r.precision, r.layout, r.model, r.mode) in passed
            for r in steps.itertuples()]
    cases = []
    for key, part in steps[gate].groupby(KEYS, sort=False):
        groups = dict(tuple(part.groupby("framework")))
        cases.append((key, {n: groups[n] for n in FRAMEWORKS if n in groups}))
    ratios = _pair_ratios(cases)
    rows = []
    for key, fw in cases:
        best = sorted(((grp.loc[grp.median_s.idxmin()], name) for name, grp in fw.items()),
                      key=lambda pair: pair[0].median_s)
        row: dict[str, Any] = dict(zip(KEYS, key, strict=True))
        for name in FRAMEWORKS:
            top = next((b for b, n in best if n == name), None)
            row[name] = None if top is None else (config_name(top), float(top.median_s))
        (win, winner), runner = best[0], best[1] if len(best) > 1 else None
        row["fastest"] = FRAMEWORKS[winner].display
        if runner is None:
            row.update(runner_up=None, speedup=float("nan"), low=float("nan"), high=float("nan"),
                       ratio=None)
            rows.append(row)
            continue
        ratio = ratios[(win["name"], runner[0]["name"])]
        rivals = pd.concat([grp for name, grp in fw.items() if name != winner])
        if ratio.judged and all(ratios[(a, b)].judged for a in fw[winner]["name"]
                                for b in rivals["name"]):
            ratio = replace(ratio, p=_framework_p(win, rivals, len(fw[winner]), len(fw), ratios))
        elif ratio.judged:  # a rival configuration was contended or unreplicated
            contended = pd.concat(fw.values()).contended.any()
            ratio = replace(ratio, method=CONTENDED if contended else WITHIN_RUN, p=float("nan"))
        row.update(runner_up=FRAMEWORKS[runner[1]].display, speedup=1 / ratio.value,
                   low=1 / ratio.high, high=1 / ratio.low, ratio=ratio)
        rows.append(row)
    return _framework_verdicts(pd.DataFrame(rows))


def _framework_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """"<fastest> fastest" where its best beat every other framework's configurations."""
    if table.empty:
        return table
    compared = table.ratio.notna()
    out = table.copy()
    out["verdict"] = "no verdict: only one framework has a parity-passing configuration"
    if compared.any():
        said = _judged(table[compared].copy())
        out.loc[compared, "verdict"] = [
            f"{r.fastest} fastest" if v == "faster" else f"{r.runner_up} fastest"
            if v == "slower" else v for r, v in zip(said.itertuples(), said.verdict, strict=True)]
    return out.drop(columns=["ratio"])


def _judged(table: pd.DataFrame, words: dict[str, str] | None = None) -> pd.DataFrame:
    """Verdicts for all of a table's ratios at once (false discovery control across them)."""
    if table.empty:
        return table
    said = verdicts(list(table.ratio))
    table = table.drop(columns=["ratio"])
    table["verdict"] = [(words or {}).get(v, v) for v in said]
    return table


def tuning_table(steps: pd.DataFrame) -> pd.DataFrame:
    """Per mode and case: bf16 over fp32 and channels_last over default, each against the
    fp32 / default baseline of the same mode (paired over the run's passes)."""
    steps = with_config(steps)
    rows, pairs = [], []
    for key, part in steps.groupby([*KEYS, "mode"], sort=False):
        by = {(r.precision, r.layout): r for r in part.itertuples()}
        base = by.get(("fp32", "default"))
        if base is None:
            continue
        for (precision, layout), row in by.items():
            if (precision, layout) == ("fp32", "default"):
                continue
            pairs.append((row.timings, base.timings, row.median_s, base.median_s))
            rows.append({**dict(zip([*KEYS, "mode"], key, strict=True)),
                         "config": config_label(row._asdict())})
    for row, ratio in zip(rows, same_run_ratios(pairs), strict=True):
        row.update(speedup=1 / ratio.value, low=1 / ratio.high, high=1 / ratio.low, ratio=ratio)
    return _judged(pd.DataFrame(rows))


def lines(steps: pd.DataFrame, parities: list[dict[str, Any]]) -> list[str]:
    """The report section "Each framework at its best"."""
    if not parities:
        return ["Not measured: no parity results beside the benchmarks, so no configuration is "
                "known to compute the same numbers (run `sidebyside run` without --skip-parity, or "
                "`sidebyside parity --precision P --json DIR/parity-P.json`)."]
    best = best_table(steps, passed_configs(parities))
    checked = sorted({f"{p.get('precision', 'fp32')}/{p.get('layout', 'default')} on {p['device']}"
                      for p in parities})
    out = ["Per case, the fastest configuration (mode x precision x layout) of each framework "
           "whose parity checks passed (parity run for: " + ", ".join(checked) + "). Speed-up = "
           "the runner-up framework's best time / the fastest framework's best time. A framework "
           "is called fastest only when its best beats every configuration of every other "
           "framework (paired over the passes), Bonferroni-corrected for having picked its best "
           "among its own and itself among the frameworks: an interval that excludes 1 can still "
           "be 'no significant difference'.", ""]
    if best.empty:
        out.append("Not measured: no case has a parity-passing configuration.")
    else:
        shown = [name for name in FRAMEWORKS if best[name].notna().any()]
        missing = [FRAMEWORKS[name].display for name in FRAMEWORKS if name not in shown]
        if missing:
            out += [f"Not measured: {', '.join(missing)} (no parity-passing configuration timed "
                    "in this run).", ""]
        heads = " | ".join(f"{FRAMEWORKS[name].display} best" for name in shown)
        out += [f"| model | phase | batch | device | {heads} | fastest | speed-up | 95% CI | "
                "verdict |", "|---|---|---:|---|" + "---|" * len(shown) + "---|---:|---|---|"]
        for r in best.to_dict("records"):
            cells = " | ".join("not measured" if r[name] is None
                               else f"{r[name][0]}: {r[name][1] * 1e3:.2f} ms" for name in shown)
            ratio = "- | -" if pd.isna(r["speedup"]) else (
                f"{r['speedup']:.2f}x | [{r['low']:.2f}, {r['high']:.2f}]")
            out.append(f"| {r['model']} | {r['phase']} | {r['batch']} | {r['device']} | {cells} | "
                       f"{r['fastest']} | {ratio} | {r['verdict']} |")
    tuning = tuning_table(steps)
    out += ["", "What each tuned configuration buys over the same mode's fp32 / default "
            "configuration (> 1: faster):", ""]
    if tuning.empty:
        out.append("Not measured: this run has only fp32 / default configurations (use "
                   "`--precisions fp32,bf16 --layouts all`).")
    else:
        out += ["| model | phase | batch | device | mode | configuration | speed-up | 95% CI | "
                "verdict |", "|---|---|---:|---|---|---|---:|---|---|"]
        for r in tuning.itertuples():
            out.append(f"| {r.model} | {r.phase} | {r.batch} | {r.device} | {r.mode} | {r.config} "
                       f"| {r.speedup:.2f}x | [{r.low:.2f}, {r.high:.2f}] | {r.verdict} |")
    return out


def claim_line(steps: pd.DataFrame, parities: list[dict[str, Any]]) -> str:
    """The first claim, judged at each framework's best configuration."""
    best = best_table(steps, passed_configs(parities)) if parities else pd.DataFrame()
    compared = best[best.runner_up.notna()] if not best.empty else best
    if compared.empty:
        return ("- At each framework's best (fastest parity-passing configuration): not measured "
                "(no parity results, or no case with two frameworks).")
    counts = compared.verdict.value_counts()
    unjudged = int(compared.verdict.str.startswith("no verdict").sum())
    if unjudged == len(compared):
        return (f"- At each framework's best (fastest parity-passing configuration of each): no "
                f"verdict in {len(compared)} cases (one pass, or contended; run with --passes 3).")
    wins = ", ".join(f"{fw.display} fastest in {counts.get(f'{fw.display} fastest', 0)}"
                     if compared[name].notna().any() else f"{fw.display} not measured"
                     for name, fw in FRAMEWORKS.items())
    return (f"- At each framework's best (fastest parity-passing configuration of each), of "
            f"{len(compared)} cases: {wins}, no significant difference in "
            f"{counts.get('no significant difference', 0)}"
            + (f", no verdict in {unjudged} (one pass or contended)" if unjudged else "") + ".")
