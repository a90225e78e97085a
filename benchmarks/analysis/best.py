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

FRAMEWORK_NAMES = {"torch": "PyTorch", "tensorflow": "TensorFlow"}
KEYS = ["model", "phase", "batch", "device"]


def config_name(row: pd.Series) -> str:
    cl = " channels_last" if row.get("layout") == "channels_last" else ""
    return f"{row['mode']} {row.get('precision') or 'fp32'}{cl}"


def with_config(steps: pd.DataFrame) -> pd.DataFrame:
    """Steps with precision / layout filled in (results from before those axes are fp32 /
    default) and the parity key each row is gated by."""
    out = steps.copy()
    out["precision"] = out.get("precision", pd.Series(index=out.index, dtype=object)).fillna("fp32")
    out["layout"] = out.get("layout", pd.Series(index=out.index, dtype=object)).fillna("default")
    out.loc[out.framework == "tensorflow", "layout"] = "default"  # NHWC always
    return out


def passed_configs(parities: list[dict[str, Any]]) -> set[tuple]:
    """(device, precision, layout, model, mode) of every configuration whose parity checks all
    passed; a TensorFlow mode counts for every layout (it runs NHWC whatever is asked)."""
    passed = set()
    for parity in parities:
        checks = pd.DataFrame(parity["checks"])
        if checks.empty:
            continue
        ok = checks.groupby(["model", "mode"])["passed"].all()
        for (model, mode), good in ok.items():
            if good:
                layout = parity.get("layout", "default") if mode.startswith("torch") else "default"
                passed.add((parity["device"], parity.get("precision", "fp32"), layout, model, mode))
    return passed


def _framework_p(winner: pd.Series, rivals: pd.DataFrame, own: int,
                 ratios: dict[tuple[str, str], Ratio]) -> float:
    """p for "``winner`` (its framework's fastest configuration) is faster than every
    configuration of the other framework": an intersection-union test (each comparison at
    the full level), Bonferroni-corrected for having picked the winner among ``own``
    configurations of its framework. Without that correction the fastest of two tied
    configurations looked faster than the other framework 4.2% of the time instead of 2.5%."""
    worst = max(ratios[(winner["name"], rival)].p_faster() for rival in rivals["name"])
    return float(min(1.0, own * worst))


def best_table(steps: pd.DataFrame, passed: set[tuple]) -> pd.DataFrame:
    """One row per case where both frameworks have a parity-passing configuration."""
    steps = with_config(steps)
    gate = [(r.device, r.precision, r.layout, r.model, r.mode) in passed
            for r in steps.itertuples()]
    eligible = steps[gate]
    rows, cases = [], []
    for key, part in eligible.groupby(KEYS, sort=False):
        frameworks = dict(tuple(part.groupby("framework")))
        if set(frameworks) != {"torch", "tensorflow"}:
            continue
        cases.append((key, part, frameworks))
    # every cross-framework pair of each case, judged together (variances moderated across them)
    pairs = [(key, a, b) for key, part, fw in cases for _, a in fw["tensorflow"].iterrows()
             for _, b in fw["torch"].iterrows()]
    judged = same_run_ratios([(a.timings, b.timings, a.median_s, b.median_s) for _, a, b in pairs])
    ratios: dict[tuple[str, str], Ratio] = {}
    for (_, a, b), r in zip(pairs, judged, strict=True):
        ratios[(a["name"], b["name"])] = r
        ratios[(b["name"], a["name"])] = Ratio(1 / r.value, 1 / r.high, 1 / r.low, r.method, r.p,
                                               -r.log_diff, r.se, r.dof)
    for key, part, fw in cases:
        best = {name: grp.loc[grp.median_s.idxmin()] for name, grp in fw.items()}
        tf_row, torch_row = best["tensorflow"], best["torch"]
        ratio = ratios[(tf_row["name"], torch_row["name"])]
        if ratio.judged and all(ratios[(a, b)].judged for a in fw["tensorflow"]["name"]
                                for b in fw["torch"]["name"]):
            p_tf = _framework_p(tf_row, fw["torch"], len(fw["tensorflow"]), ratios)
            p_torch = _framework_p(torch_row, fw["tensorflow"], len(fw["torch"]), ratios)
            # the verdict's direction follows the medians: TF faster iff ratio < 1
            p = min(1.0, 2 * (p_tf if ratio.value < 1 else p_torch))
            ratio = replace(ratio, p=p)
        elif ratio.judged:  # a rival configuration was contended or unreplicated
            ratio = replace(ratio, method=CONTENDED if part.contended.any() else WITHIN_RUN,
                            p=float("nan"))
        rows.append({**dict(zip(KEYS, key, strict=True)), "torch_config": config_name(torch_row),
                     "torch_s": torch_row.median_s, "tf_config": config_name(tf_row),
                     "tf_s": tf_row.median_s, "speedup": 1 / ratio.value, "low": 1 / ratio.high,
                     "high": 1 / ratio.low, "ratio": ratio})
    return _judged(pd.DataFrame(rows), {"faster": "TensorFlow faster", "slower": "PyTorch faster"})


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
                         "config": f"{precision}{' channels_last' if layout != 'default' else ''}"})
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
           "PyTorch's best time / TensorFlow's best time; > 1: TensorFlow is faster. A framework "
           "is called faster only when its best beats every configuration of the other one "
           "(paired over the passes), Bonferroni-corrected for having picked its best among its "
           "own: an interval that excludes 1 can still be 'no significant difference'.", ""]
    if best.empty:
        out.append("Not measured: no case has a parity-passing configuration of both frameworks.")
    else:
        out += ["| model | phase | batch | device | PyTorch best | TensorFlow best | speed-up | "
                "95% CI | verdict |", "|---|---|---:|---|---|---|---:|---|---|"]
        for r in best.itertuples():
            out.append(f"| {r.model} | {r.phase} | {r.batch} | {r.device} | {r.torch_config}: "
                       f"{r.torch_s * 1e3:.2f} ms | {r.tf_config}: {r.tf_s * 1e3:.2f} ms | "
                       f"{r.speedup:.2f}x | [{r.low:.2f}, {r.high:.2f}] | {r.verdict} |")
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
    if best.empty:
        return ("- At each framework's best (fastest parity-passing configuration): not measured "
                "(no parity results, or no case with both frameworks).")
    counts = best.verdict.value_counts()
    unjudged = int(best.verdict.str.startswith("no verdict").sum())
    if unjudged == len(best):
        return (f"- At each framework's best (fastest parity-passing configuration of each): no "
                f"verdict in {len(best)} cases (one pass, or contended; run with --passes 3).")
    return (f"- At each framework's best (fastest parity-passing configuration of each): "
            f"TensorFlow faster in {counts.get('TensorFlow faster', 0)} of {len(best)} cases, "
            f"PyTorch faster in {counts.get('PyTorch faster', 0)}, no significant difference in "
            f"{counts.get('no significant difference', 0)}"
            + (f", no verdict in {unjudged} (one pass or contended)" if unjudged else "") + ".")
