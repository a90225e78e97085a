"""`sidebyside report`: results JSON -> report.md, results.csv and figures, written whole."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.analysis import best, machine_identity
from benchmarks.analysis.machines import Machine
from benchmarks.analysis.machines import group as group_machines
from benchmarks.analysis.results import ResultsError, load_frames, machine_fingerprint, shown_path
from benchmarks.analysis.stats import CONTENDED, PAIRED_PASSES, WITHIN_RUN, same_run_ratios, verdicts
from benchmarks.matrix import PHASES
from benchmarks.output import dp_report, machines_report, overhead_report, plots
from benchmarks.output.files import move_into, staging_in
from benchmarks.tasks.distributed import summarize
from impls.framework import Comparison
from impls.frameworks import FRAMEWORKS, describe_versions
from impls.registry import MODES


def comparisons() -> tuple[Comparison, ...]:
    """The claims' mode pairs: inside each framework, then each framework's usual mode
    against every earlier registered framework's."""
    usual = [m.name for fw in FRAMEWORKS.values() for m in fw.modes if m.usual]
    return tuple(c for fw in FRAMEWORKS.values() for c in fw.comparisons) + tuple(
        Comparison(later, earlier, "across frameworks, each in its usual mode")
        for i, later in enumerate(usual) for earlier in usual[:i])


COMPARISONS = comparisons()


def git_output(*args: str) -> str:
    """What a git command prints about this checkout; '' outside one or on failure."""
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def git_commit() -> str:
    return git_output("rev-parse", "--short", "HEAD") or "unknown"


def commit_info() -> dict[str, Any]:
    """This checkout's commit as pytest-benchmark's commit_info records it (id, dirty,
    branch), for runs saved to the history; 'unversioned' outside a git checkout."""
    sha = git_output("rev-parse", "HEAD")
    if not sha:
        return {"id": "unversioned", "dirty": False, "project": "sidebyside"}
    return {"id": sha, "time": git_output("log", "-1", "--format=%cI"),
            "dirty": bool(git_output("status", "--porcelain")), "project": "sidebyside",
            "branch": git_output("rev-parse", "--abbrev-ref", "HEAD")}


def speedup_table(steps: pd.DataFrame) -> pd.DataFrame:
    """Speed-up = time of the baseline / time of the candidate with a 95% interval (paired
    over the run's passes: both modes ran in the same processes; rounds when the run has one
    pass, which judge nothing); > 1 means the candidate is faster."""
    rows, pairs = [], []
    for cand, base, _ in COMPARISONS:
        for (model, phase, batch, device), part in steps.groupby(
                ["model", "phase", "batch", "device"], sort=False):
            by_mode = part.set_index("mode")
            if cand not in by_mode.index or base not in by_mode.index:
                continue
            pairs.append((by_mode.at[cand, "timings"], by_mode.at[base, "timings"],
                          by_mode.at[cand, "median_s"], by_mode.at[base, "median_s"]))
            rows.append({"comparison": f"{cand} vs {base}", "model": model, "phase": phase,
                         "batch": int(batch), "device": device, "candidate": cand})
    table = pd.DataFrame(rows, columns=["comparison", "model", "phase", "batch", "device",
                                        "candidate"])
    ratios = same_run_ratios(pairs)
    table["speedup"] = [1 / r.value for r in ratios]
    table["low"] = [1 / r.high for r in ratios]
    table["high"] = [1 / r.low for r in ratios]
    table["interval"] = [r.method for r in ratios]
    table["verdict"] = [v.replace("faster", f"{c} faster").replace("slower", f"{c} slower")
                        if not v.startswith("no verdict") else v
                        for v, c in zip(verdicts(ratios), table.candidate, strict=True)]
    return table.drop(columns=["candidate"])


CONTENDED_MARK = "†"


def _fmt_cell(row: pd.Series, under: set[tuple[str, str]]) -> str:
    text = f"{row.median_s * 1e3:.2f} ms ({row.iqr_s * 1e3:.2f}) · {row.images_per_s:,.0f}/s"
    if pd.notna(row.mfu):
        text += (" · MFU n/a (peak under-measured)"
                 if (row.device, row.get("precision") or "fp32") in under else f" · {row.mfu:.0%}")
    return text + (f" {CONTENDED_MARK}" if row.get("contended") else "")


def under_measured(raw: dict[str, Any]) -> set[tuple[str, str]]:
    """(device, precision) whose GEMM peak cannot be trusted: its best measurement ran beside
    other processes, or a case beat it (an MFU above 100% is impossible: the peak was low)."""
    out = set()
    for device, by in (raw.get("machine_info", {}).get("gemm_peaks") or {}).items():
        for precision, peak in by.items():
            if isinstance(peak, dict) and peak.get("contended"):
                out.add((device, precision))
    for bench in raw["benchmarks"]:
        info = bench.get("extra_info", {})
        if (info.get("mfu") or 0) > 1:
            out.add((info.get("device", "cpu"), info.get("peak_precision", "fp32")))
    return out


def contention_line(frame: pd.DataFrame, raw: dict[str, Any]) -> str:
    """The header's account of other processes' CPU use during the timed rounds."""
    if "other_cpu_pct" not in frame or frame.other_cpu_pct.isna().all():
        return "- Contention: not measured (results from before the suite recorded it)"
    threshold = raw.get("machine_info", {}).get("contention_threshold_pct", "?")
    frame = frame[frame.other_cpu_pct.notna()]  # the harness's own no-op is not a case
    busy = frame[frame.contended]
    # windows under half a second read a few clock ticks: their share is rounding, not load
    long = frame[frame.get("contention_window_s", pd.Series(1.0, index=frame.index)) >= 0.5]
    share = (long if not long.empty else frame).other_cpu_pct.dropna()
    text = (f"- Contention (share of the machine's CPU other processes used during each case's "
            f"timed rounds, worst pass; a case is contended from {threshold}% and at least 3 "
            f"clock ticks): ")
    if busy.empty:
        return text + (f"none of {len(frame)} cases contended (in the cases timed for half a "
                       f"second or more others used at most {share.max():.1f}%, median "
                       f"{share.median():.1f}%).")
    return text + (f"**{len(busy)} of {len(frame)} cases contended** (others used up to "
                   f"{share.max():.0f}%, median {busy.other_cpu_pct.median():.0f}% among them); "
                   f"they were re-timed once at the end of their pass, still contended, and are "
                   f"marked {CONTENDED_MARK} in the tables and hollow in the throughput figure: "
                   "their numbers are kept and give no verdict.")


def phase_tables(steps: pd.DataFrame, under: set[tuple[str, str]]) -> list[str]:
    out = []
    for device in dict.fromkeys(steps.device):
        for phase in PHASES:
            part = steps[(steps.phase == phase) & (steps.device == device)]
            if part.empty:
                continue
            modes = [m for m in MODES if m in set(part["mode"])]
            out += [f"### {phase} · {device}", "",
                    "Cells: median step time (IQR) · images/s · MFU (fraction of the best measured "
                    f"GEMM); {CONTENDED_MARK}: contended.",
                    "",
                    "| model | batch | " + " | ".join(modes) + " |",
                    "|---|---:|" + "---:|" * len(modes)]
            for (model, batch), rows in part.groupby(["model", "batch"], sort=False):
                by_mode = rows.set_index("mode")
                cells = [_fmt_cell(by_mode.loc[m], under) if m in by_mode.index else "not measured"
                         for m in modes]
                out.append(f"| {model} | {batch} | " + " | ".join(cells) + " |")
            out.append("")
    return out


CACHE_LABELS = {"cold": "cold cache", "warm": "warm cache", "mixed": "mixed cache"}


def first_call_rows(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per first-call measurement, with a series name that says what the compile
    caches did, so a cache load never stands unlabelled beside a cold compile."""
    def series(mode: str, style, cache) -> str:
        if cache in CACHE_LABELS:
            return f"{mode} ({CACHE_LABELS[cache]})"
        # results from before the label existed: a compiled mode's first call may be either
        return f"{mode} (cache not recorded)" if style == "compiled" and pd.isna(cache) else mode

    keys = ["model", "phase", "batch", "device"]
    caches = steps["first_call_cache"] if "first_call_cache" in steps else [None] * len(steps)
    rows = steps[keys].assign(
        series=[series(m, st, c) for m, st, c in zip(steps["mode"], steps["style"], caches,
                                                     strict=True)],
        seconds=steps["first_call_s"])
    if "first_call_cold_s" in steps:
        cold = steps[steps["first_call_cold_s"].notna()]
        rows = pd.concat([rows, cold[keys].assign(
            series=cold["mode"] + " (cold: empty cache)", seconds=cold["first_call_cold_s"])])
    return rows


def first_call_table(steps: pd.DataFrame) -> list[str]:
    rows = first_call_rows(steps)
    order = {m: i for i, m in enumerate(MODES)}
    columns = sorted(dict.fromkeys(rows.series), key=lambda s: (order.get(s.split(" ")[0], 99), s))
    wide = rows.pivot_table(index=["model", "phase", "batch", "device"], columns="series",
                            values="seconds", aggfunc="first")
    out = ["| model | phase | batch | device | " + " | ".join(columns) + " |",
           "|---|---|---:|---|" + "---:|" * len(columns)]
    for (model, phase, batch, device), row in wide.iterrows():
        cells = ["-" if pd.isna(row.get(c)) else f"{row[c]:.2f} s" for c in columns]
        out.append(f"| {model} | {phase} | {batch} | {device} | " + " | ".join(cells) + " |")
    out += ["", "Cache labels come from the compile-cache hit / miss counters of that very call: "
            "`warm cache` is a load of kernels compiled by an earlier run, `cold cache` a compile "
            "from scratch. `cold: empty cache` is timed once per model x phase (at one batch) "
            "with a new, empty cache, whatever this machine ran before."]
    return out


INTERVAL_NOTES = {
    PAIRED_PASSES: "95% intervals come from the pass medians (separate processes at different "
                   "times), paired: both modes ran in the same processes, so the t interval is on "
                   "the per-pass log ratios, with variances moderated across the table (empirical "
                   "Bayes). They include the drift between processes.",
    CONTENDED: "Rows marked contended were timed while other processes used the CPU (see the "
               "header); their ratios are shown and give no verdict.",
    WITHIN_RUN: "95% intervals are a bootstrap over the rounds of a single pass: they cover "
                "noise inside one process only, not run-to-run drift (20-80% on a shared VM), "
                "so no faster / slower verdict is drawn from them. Use `sidebyside run "
                "--passes 3` for intervals that include the drift, and verdicts.",
}


def speedup_lines(table: pd.DataFrame) -> list[str]:
    out = [INTERVAL_NOTES[m] for m in dict.fromkeys(table.get("interval", []))] + [""]
    for cand, base, meaning in COMPARISONS:
        part = table[table.comparison == f"{cand} vs {base}"]
        if part.empty:
            out += [f"### {cand} vs {base}", "", f"Not measured: this run has no {cand} "
                    f"and {base} results side by side.", ""]
            continue
        out += [f"### {cand} vs {base} ({meaning})", "",
                f"Speed-up = time({base}) / time({cand}); > 1: {cand} is faster.", "",
                "| model | phase | batch | speed-up | 95% CI | verdict |", "|---|---|---:|---:|---|---|"]
        for r in part.itertuples():
            out.append(f"| {r.model} | {r.phase} | {r.batch} | {r.speedup:.2f}x | "
                       f"[{r.low:.2f}, {r.high:.2f}] | {r.verdict} |")
        out.append("")
    return out


def stream_lines(streams: pd.DataFrame) -> list[str]:
    if streams.empty:
        return ["Not measured: this run has no variable-size stream results."]
    out = ["Each mode trains over the same seeded stream of batches with sizes drawn from 1..128 "
           "(`variable`) and over the same images in batches of 64 (`fixed`). `first pass` is a "
           "fresh instance's first pass (every trace / compile the shapes cause); `steady` is "
           "the median of the following passes.", "",
           "| mode | variant | stream | images | traces | first pass | steady | µs / image |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in streams.sort_values(["mode", "variant", "stream"]).itertuples():
        traces = "-" if pd.isna(r.traces) else f"{int(r.traces)}"
        out.append(f"| {r.mode} | {r.variant} | {r.stream} | {int(r.images)} | {traces} | "
                   f"{r.first_pass_s:.2f} s | {r.median_s:.2f} s | {r.median_s / r.images * 1e6:.1f} |")
    return out


def pipeline_lines(pipes: pd.DataFrame, steps: pd.DataFrame) -> list[str]:
    if pipes.empty:
        return ["Not measured: this run has no input-pipeline results."]
    alone = pipes[pipes.phase == "pipeline"]
    names = ", ".join(fw.pipeline_name for fw in FRAMEWORKS.values())
    out = [f"{names} over the same uint8 digits: same epoch order, batch, "
           "remainder kept, normalization on the fly (bit-identical outputs), single-threaded, no "
           f"prefetch. Data: {pipes.data.iloc[0]}.", "",
           "| pipeline | device | images / epoch | epoch | images/s |", "|---|---|---:|---:|---:|"]
    for r in alone.itertuples():
        out.append(f"| {r.framework} | {r.device} | {r.images:,.0f} | {r.median_s * 1e3:.1f} ms | "
                   f"{r.images_per_s:,.0f} |")
    fed = pipes[pipes.phase == "pipeline+train"]
    if not fed.empty:
        out += ["", "Training fed by the pipeline, against the train step alone on one resident "
                "batch (same model, batch, device): the slowdown is what the pipeline and batch "
                "changes cost a real training loop.", "",
                "| model | mode | device | fed images/s | step-only images/s | slowdown |",
                "|---|---|---|---:|---:|---:|"]
        for r in fed.itertuples():
            alone_step = steps[(steps.model == r.model) & (steps["mode"] == r.mode) &
                               (steps.device == r.device) & (steps.phase == "train") &
                               (steps.batch == r.batch)]
            if alone_step.empty:
                ref, slow = "not measured", "-"
            else:
                ips = alone_step.images_per_s.iloc[0]
                ref, slow = f"{ips:,.0f}", f"{ips / r.images_per_s:.2f}x"
            out.append(f"| {r.model} | {r.mode} | {r.device} | {r.images_per_s:,.0f} | {ref} | "
                       f"{slow} |")
    return out


def accuracy_lines(acc: dict[str, Any] | None) -> list[str]:
    if acc is None:
        return ["Not measured: no accuracy.json next to the results (run `sidebyside accuracy "
                "--out DIR` with DIR the results' folder)."]
    out = [f"Time for each mode to reach {acc['target']:.1%} test accuracy, MLPerf-style: "
           f"workshop recipe (batch {acc['batch']}), identical initial weights and data order per "
           f"seed, evaluation after every epoch, stop at the target; wall time from building the "
           f"model, so tracing / compiling, the input pipeline and evaluation are included. "
           f"Median (min-max) over {acc['seeds']} seeds, {acc['device']}, at most "
           f"{acc['max_epochs']} epochs. Data: {acc['data']}. Made by `{acc.get('command', '?')}`.",
           "", "| model | mode | reached | time to target | epochs (median) | final accuracy "
           "(median) |", "|---|---|---:|---:|---:|---:|"]
    for r in acc["summary"]:
        time_text = (f"{r['median_s']:.1f} s ({r['min_s']:.1f}-{r['max_s']:.1f})" if r["reached"]
                     else f"not reached in {acc['max_epochs']} epochs")
        epochs = f"{r['median_epochs']:g}" if r["reached"] else "-"
        out.append(f"| {r['model']} | {r['mode']} | {r['reached']}/{r['runs']} | {time_text} | "
                   f"{epochs} | {r['final_accuracy']:.1%} |")
    out += [f"skipped {mode}: {why}" for mode, why in acc.get("skipped", {}).items()]
    return out


def parity_lines(parity: dict[str, Any] | None) -> list[str]:
    if parity is None:
        return ["Not measured: no parity.json next to the results (run `sidebyside parity --json`)."]
    checks = pd.DataFrame(parity["checks"])
    vs_oracle = checks[checks.reference == "oracle"].copy()
    vs_oracle["kind"] = vs_oracle.quantity.str.split(":").str[0]
    config = f"{parity.get('precision', 'fp32')}, layout {parity.get('layout', 'default')}"
    out = [f"Against the float64 oracle (batch {parity['batch']}, {parity['steps']} SGD steps, "
           f"{parity['device']}, {config}); "
           f"{'all checks passed' if parity['passed'] else 'SOME CHECKS FAILED'}.",
           "", "| model | mode | logits max_rel | worst grad max_rel | worst drift rel_l2 | "
           f"loss-curve max_abs (first {parity['tolerances'].get('loss_curve_steps', 'all')} "
           "steps) |", "|---|---|---:|---:|---:|---:|"]
    for (model, mode), part in vs_oracle.groupby(["model", "mode"], sort=False):
        worst = part.groupby("kind").agg(max_rel=("max_rel", "max"), rel_l2=("rel_l2", "max"),
                                         max_abs=("max_abs", "max"))
        out.append(f"| {model} | {mode} | {worst.at['logits', 'max_rel']:.1e} | "
                   f"{worst.at['grad', 'max_rel']:.1e} | {worst.at['drift', 'rel_l2']:.1e} | "
                   f"{worst.at['loss-curve', 'max_abs']:.1e} |")
    out += [f"skipped {s['mode']}: {s['reason']}" for s in parity.get("skipped", [])]
    return out


def _wins(part: pd.DataFrame) -> str:
    """'faster in 3, slower in 1, no significant difference in 20 of 24 cases (faster: ...)':
    the counts first (the terminal prints only them), then where."""
    unjudged = part.verdict.str.startswith("no verdict")
    if unjudged.all():
        return (f"no verdict in {len(part)} cases: one pass gives intervals from one process "
                "only, and a contended case none; run with --passes 3 (see Speed-ups for the "
                "ratios).")
    won = part[part.verdict.str.contains("faster")]
    lost = part[part.verdict.str.contains("slower")]
    same = part[part.verdict == "no significant difference"]

    def where(rows: pd.DataFrame) -> str:
        return ", ".join(f"{r.model} {r.phase} b{r.batch} ({r.speedup:.2f}x)" for r in rows.itertuples())

    counts = (f"faster in {len(won)}, slower in {len(lost)}, no significant difference in "
              f"{len(same)}" + (f", no verdict (one pass or contended) in {int(unjudged.sum())}"
                                if unjudged.any() else "") + f" of {len(part)} cases")
    details = "; ".join(f"{what}: {where(rows)}" for what, rows in (("faster", won), ("slower", lost))
                        if not rows.empty)
    return counts + (f" ({details})" if details else "") + "."


def claims(steps: pd.DataFrame, table: pd.DataFrame, streams: pd.DataFrame,
           acc: dict[str, Any] | None = None, tuned: pd.DataFrame | None = None,
           parities: list[dict[str, Any]] | None = None) -> list[str]:
    out = ['**"TensorFlow is faster at run time because the graph is built before running."**', ""]
    for cand, base, meaning in COMPARISONS:
        part = table[table.comparison == f"{cand} vs {base}"]
        if part.empty:
            out.append(f"- {cand} vs {base}: not measured in this run.")
        else:
            out.append(f"- {cand} vs {base} ({meaning}): {cand} {_wins(part)}")
    out.append(best.claim_line(steps if tuned is None else tuned, parities or []))
    reached = [r for r in (acc or {}).get("summary", []) if r["reached"]]
    if reached:
        ranked = sorted(reached, key=lambda r: r["median_s"])
        out.append(f"- End to end, time to {acc['target']:.0%} test accuracy with the input "
                   "pipeline, tracing and evaluation included (median over seeds): "
                   + "; ".join(f"{r['model']} {r['mode']} {r['median_s']:.1f} s" for r in ranked)
                   + ".")
    else:
        out.append("- End to end (time to accuracy): not measured in this run.")
    first = first_call_rows(steps[steps.phase == "train"]).groupby("series")["seconds"].median()
    if not first.empty:
        out += ["", "What tracing or compiling costs (median first call over the train cases, "
                "labelled by what the compile cache did): "
                + "; ".join(f"{s} {first[s]:.2f} s" for s in first.index) + "."]
    out += ["", '**"GPUs speed up forward and backward passes."**', ""]
    if {"cpu", "cuda"} <= set(steps.device):
        pivot = steps.pivot_table(index=["model", "mode", "phase", "batch"], columns="device",
                                  values="median_s")
        gain = (pivot["cpu"] / pivot["cuda"]).dropna()
        out.append(f"- cuda vs cpu, same mode: speed-up from {gain.min():.1f}x to {gain.max():.1f}x "
                   f"(median {gain.median():.1f}x) over {len(gain)} cases.")
    elif "cuda" in set(steps.device):
        out.append("- Not measured: this run has cuda results but no cpu results to set them "
                   "against (run with `--devices all`, or compare with a CPU report).")
    else:
        out.append("- Not measured: this run has no cuda results (no GPU on the machine, or "
                   "`--devices cpu`).")
    out += ["", '**"Define-by-run is easier with variable-size inputs."**', ""]
    if streams.empty:
        out.append("- Not measured: no variable-size stream in this run.")
    else:
        var = streams[streams.stream == "variable"].set_index(["mode", "variant"])
        for (mode, variant), r in var.iterrows():
            traces = "no tracing" if pd.isna(r.traces) else f"{int(r.traces)} traces/graphs"
            out.append(f"- {mode} ({variant}): first pass {r.first_pass_s:.2f} s with {traces}, "
                       f"then {r.median_s / r.images * 1e6:.0f} µs per image.")
    return out


def _peak_text(device: str, precision: str, peak: Any, under: bool) -> str:
    if not isinstance(peak, dict):
        return f"{device} {precision}: {peak}"
    seen = peak.get("measurements") or []
    text = f"{device} {precision}: {peak['gflops']:.0f} GFLOP/s ({peak['library']}"
    text += f", best of {len(seen)} measurements: start and end of each pass)" if len(seen) > 1 else ")"
    if under:
        busy = max((m.get("other_cpu_pct") or 0 for m in seen), default=peak.get("other_cpu_pct") or 0)
        text += (f" **UNDER-MEASURED**: other processes used up to {busy:.0f}% of the CPU while "
                 "it was measured, or a case ran faster than it; MFU at this precision is not "
                 "shown")
    return text


def cores_used(raw: dict[str, Any]) -> str:
    """Per mode, how many cores its timed rounds kept busy: what a thread budget really gave."""
    used = pd.DataFrame([{"mode": b["extra_info"]["mode"], "cores": b["extra_info"]["cores_used"]}
                         for b in raw["benchmarks"]
                         if "cores_used" in b.get("extra_info", {}) and "mode" in b["extra_info"]])
    if used.empty:
        return "not measured (results from before this was recorded)"
    medians = used.groupby("mode", sort=False).cores.median()
    return ", ".join(f"{mode} {medians[mode]:.2f}" for mode in MODES if mode in medians)


def header(raw: dict[str, Any], command: str) -> list[str]:
    info = raw.get("machine_info", {})
    versions = info.get("versions", {})
    peaks = info.get("gemm_peaks") or {dev: {"fp32": p} for dev, p in
                                         (info.get("gemm_peak") or {}).items()
                                         if isinstance(info.get("gemm_peak"), dict)}
    under = under_measured(raw)
    peak_text = "; ".join(_peak_text(dev, prec, p, (dev, prec) in under)
                          for dev, by in peaks.items() for prec, p in by.items()) or str(
        info.get("gemm_peak", "not recorded"))
    method = next((p.get("method") for by in peaks.values() for p in by.values()
                   if isinstance(p, dict)), None)
    threads = info.get("threads", {})
    gpu = next((b["extra_info"].get("gpu_name") for b in raw["benchmarks"]
                if b.get("extra_info", {}).get("gpu_name")), None)
    return [
        f"- Machine: {machine_fingerprint(raw)}; CPU {info.get('cpu_model', '?')}, "
        f"{info.get('cores', '?')} cores; GPU: {gpu or 'none used'}",
        f"- OS: {info.get('system', '?')} {info.get('release', '')}; Python {versions.get('python')}",
        machine_identity.line(raw),
        *machine_identity.emulated_line(raw),
        f"- {describe_versions(versions)}, "
        f"CUDA {versions.get('cuda')}, cuDNN {versions.get('cudnn')}, numpy {versions.get('numpy')}",
        "- Threads: intra-op " + " / ".join(f"{threads.get(f'{fw.key}_intra_op', 'not recorded')} "
                                            f"({fw.display})"
                                            for fw in FRAMEWORKS.values())
        + f", inter-op {threads.get('inter_op')}"
        + (f"; process kept on cores {threads['pinned_cores']}" if threads.get("pinned_cores")
           else ""),
        f"- Cores used while timing (process CPU time / wall, median over its cases): "
        f"{cores_used(raw)}",
        f"- Best measured GEMM per compute precision (MFU = fraction of it, at the case's own "
        f"precision): {peak_text}" + (f"; {method}" if method else ""),
        f"- Results from {raw.get('datetime', '?')}; report made "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC at commit {git_commit()} by `{command}`",
    ]


def _beside(paths: list[Path], given: Path | None, name: str, remake: str) -> dict[str, Any] | None:
    """An optional JSON input: the path given, else ``name`` beside the first results file;
    ``remake`` is the command that writes it again."""
    path = given or paths[0].parent / name
    if given is None and not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: cannot read it ({err}); write it again with `{remake}`") from None


def parities_beside(first: Path, given: Path | None = None) -> list[dict[str, Any]]:
    """The parity results for a machine: the file given, else parity*.json beside its first
    results file."""
    return [_beside([first], path, path.name, "sidebyside parity --json PATH")
            for path in ([given] if given else sorted(first.parent.glob("parity*.json")))]


def _machines(paths: list[Path], raws: list[dict[str, Any]], frame: pd.DataFrame,
              parity_path: Path | None) -> list[Machine]:
    """The results per machine, the first file's machine first (the report's own); --parity
    names the first machine's parity results."""
    out = []
    for slug, idx in group_machines(raws):
        mine = [paths[i] for i in idx]
        out.append(Machine(slug, raws[idx[0]], mine,
                           frame[frame.source.isin([shown_path(p) for p in mine])].reset_index(drop=True),
                           parities_beside(mine[0], parity_path if not out else None)))
    return out


def build(paths: list[Path], out: Path, parity_path: Path | None = None,
          command: str = "sidebyside report", accuracy_path: Path | None = None) -> list[Path]:
    """Write report.md, results.csv and PNGs into ``out`` via a temporary folder: a failure
    leaves ``out`` as it was."""
    frame, raws = load_frames(paths)
    machines = _machines(paths, raws, frame, parity_path)
    frame, raw, parities = machines[0].frame, machines[0].raw, machines[0].parities
    acc = _beside(paths, accuracy_path, "accuracy.json", "sidebyside accuracy --out DIR")
    dp = _beside(paths, None, "distributed.json", "sidebyside distributed --out DIR")
    over = _beside(paths, None, "overhead.json", "sidebyside overhead --out DIR")
    dp_frame = summarize(dp) if dp is not None else pd.DataFrame()
    tuned = machines[0].steps
    # the tables, speed-ups and figures compare modes at fp32 / default; tuned configurations
    # have their own section
    steps = tuned[(tuned.precision == "fp32") & (tuned.layout == "default")].copy()
    streams = frame[frame["stream"].notna()].copy()
    pipes = frame[frame.phase.isin(["pipeline", "pipeline+train"])].copy()
    table = speedup_table(steps)
    with staging_in(out, ".report-") as staging:
        figures = []
        for device in dict.fromkeys(steps.device):
            figures.append(plots.throughput(steps[steps.device == device], device,
                                            staging / f"throughput-{device}.png"))
        if not table.empty:
            figures.append(plots.speedups(table, staging / "speedups.png"))
        if not steps.empty:
            figures.append(plots.first_call(first_call_rows(steps), staging / "first_call.png"))
        if acc is not None and acc["curves"]:
            figures.append(plots.accuracy_curves(pd.DataFrame(acc["curves"]), acc["target"],
                                                 staging / "accuracy.png"))
        dp_figure = None if dp_frame.empty else plots.scaling(dp_frame, staging / "scaling.png")
        over_figure = (plots.breakdown(over["breakdown"], staging / "breakdown.png")
                       if over and over.get("breakdown") else None)
        lines = ["# sidebyside report", "", *header(raw, command),
                 contention_line(frame[frame.name.str.startswith("test_")], raw), "",
                 "## The workshop's claims, checked", "",
                 *claims(steps, table, streams, acc, tuned, parities), "",
                 "## Step times", "", *phase_tables(steps, under_measured(raw)),
                 "## First call (trace / compile + one step, fresh instance)", "",
                 *first_call_table(steps), "", "## Speed-ups", "", *speedup_lines(table),
                 "## Each framework at its best", "", *best.lines(tuned, parities), "",
                 "## Variable-size inputs", "", *stream_lines(streams), "",
                 "## Input pipelines", "", *pipeline_lines(pipes, steps), "",
                 "## Time to accuracy", "", *accuracy_lines(acc), "",
                 "## Data parallel", "", *dp_report.lines(dp, dp_figure and dp_figure.name), "",
                 "## Why define-by-run costs what it costs", "",
                 *overhead_report.lines(over, over_figure and over_figure.name), "",
                 "## Parity", "", *[line for parity in parities or [None]
                                     for line in [*parity_lines(parity), ""]],
                 *([] if len(machines) < 2 else
                   ["## Across machines", "", *machines_report.lines(machines, speedup_table), ""]),
                 "## Figures", ""]
        lines += [f"![{f.stem}]({f.name})" for f in figures]
        (staging / "report.md").write_text("\n".join(lines) + "\n")
        frame.drop(columns=["timings"]).to_csv(staging / "results.csv", index=False)
        return move_into(staging, out)
