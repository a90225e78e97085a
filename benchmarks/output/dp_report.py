"""The "Data parallel" report section and its scaling figure, from `sidebyside distributed`'s
JSON (pytest-benchmark JSON plus a top-level ``parity`` report)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmarks.tasks.distributed import summarize
from impls.frameworks import FRAMEWORKS
from impls.spec import get_model

NOT_MEASURED = ("Not measured: no distributed.json next to the results (run `sidebyside "
                "distributed --out DIR` with the report's folder).")


def _pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.0%}"


def table_lines(frame: pd.DataFrame) -> list[str]:
    """One row per engine x model x scaling x link x workers (with the all-reduce)."""
    out = ["| model | engine | scaling | link | workers | global batch | step (median) | "
           "images/s | images/s per worker | scaling efficiency | communication share |",
           "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    reduced = frame[frame["allreduce"]].sort_values(["model", "scaling", "engine", "workers"],
                                                    kind="stable")
    for r in reduced.itertuples():
        out.append(f"| {r.model} | {r.engine} | {r.scaling} | {r.link} | {r.workers} | {r.batch} "
                   f"| {r.median_s * 1e3:.1f} ms | {r.images_per_s:,.0f} | "
                   f"{r.per_worker_images_per_s:,.0f} | {_pct(r.scaling_efficiency)} | "
                   f"{_pct(r.comm_share)} |")
    return out


def parameter_bytes(model: str) -> int:
    """Bytes one fp32 all-reduce of every gradient moves per worker before the ring."""
    return 4 * sum(int(np.prod(shape)) for shape in get_model(model).parameter_shapes().values())


def link_lines(frame: pd.DataFrame) -> list[str]:
    """What the links carry: per model, the bytes each step all-reduces, the least time a
    ring all-reduce of them needs on each shaped link, and the communication measured."""
    reduced = frame[frame["allreduce"] & (frame.workers > 1) & (frame.link != "loopback")]
    if reduced.empty:
        return []
    out = ["What the link carries: every step all-reduces each gradient once, parameters x 4 "
           "bytes in fp32. torch-ddp uses gloo's ring all-reduce over DDP's gradient buckets "
           "(25 MB each, so each model's gradients fit one bucket); tf-mwms uses "
           "MultiWorkerMirroredStrategy's ring collectives (CommunicationOptions RING on CPU). "
           "A ring all-reduce sends 2(N-1)/N of the bytes out of every worker (and as many in), "
           "so on a link of L Mbit/s it needs at least 2(N-1)/N x bytes x 8 / L. Measured "
           "communication = step - the same step without the all-reduce.", "",
           "| model | bytes per all-reduce | engine | scaling | link | workers | ring lower bound "
           "| measured communication | scaling efficiency | communication share |",
           "|---|---:|---|---|---|---:|---:|---:|---:|---:|"]
    for r in reduced.sort_values(["model", "scaling", "engine", "workers"], kind="stable").itertuples():
        size = parameter_bytes(r.model)
        bound = ("-" if pd.isna(r.link_mbit) else
                 f"{2 * (r.workers - 1) / r.workers * size * 8 / (r.link_mbit * 1e6) * 1e3:.1f} ms")
        measured = "n/a" if pd.isna(r.comm_share) else f"{r.comm_share * r.median_s * 1e3:.1f} ms"
        out.append(f"| {r.model} | {size / 1e6:.2f} MB | {r.engine} | {r.scaling} | {r.link} | "
                   f"{r.workers} | {bound} | {measured} | {_pct(r.scaling_efficiency)} | "
                   f"{_pct(r.comm_share)} |")
    return out


def parity_lines(parity: dict[str, Any] | None) -> list[str]:
    if parity is None:
        return ["Parity: not measured (run without --skip-parity)."]
    state = "all checks passed" if parity["passed"] else "SOME CHECKS FAILED"
    out = [f"Parity: N workers on their shards against the float64 oracle on the whole global "
           f"batch of {parity['batch']}, {parity['steps']} SGD steps, fp32 tolerances "
           f"(gradients max_rel {parity['tolerances']['grad_rtol']:.0e}, parameters after the "
           f"steps rel_l2 {parity['tolerances']['drift_rtol']:.0e}, loss curve max_abs "
           f"{parity['tolerances']['loss_curve_atol']:.0e}): {state}.", ""]
    checks = pd.DataFrame(parity["checks"])
    if checks.empty:
        return out[:1]
    kind = checks.quantity.str.partition(":")[0]
    out += ["| model | engine, workers | worst gradient max_rel | worst parameter rel_l2 | "
            "loss curve max_abs |", "|---|---|---:|---:|---:|"]
    for (model, mode), part in checks.groupby(["model", "mode"], sort=False):
        grads = part[kind[part.index] == "grad"].max_rel.max()
        drift = part[kind[part.index] == "drift"].rel_l2.max()
        curve = part[part.quantity == "loss-curve"].max_abs.max()
        out.append(f"| {model} | {mode} | {grads:.1e} | {drift:.1e} | {curve:.1e} |")
    return out


def lines(raw: dict[str, Any] | None, figure: str | None = None) -> list[str]:
    if raw is None:
        return [NOT_MEASURED]
    frame = summarize(raw)
    if frame.empty:
        return ["Not measured: distributed.json holds no data-parallel case."]
    threads = sorted(set(frame["threads_per_worker"]))
    out = [f"Weak scaling: {int(frame[frame.scaling == 'weak'].per_worker_batch.min())} images per "
           "worker; strong scaling: the global batch fixed and split. Each worker has "
           f"{', '.join(map(str, threads))} intra-op thread(s) whatever the worker count, so "
           "efficiency = images/s with N workers / (N x images/s with 1 worker) measures the "
           "engine, not a thread split. Communication share = 1 - step without the gradient "
           "all-reduce / step. All workers share one machine: on a machine with fewer cores "
           "than workers x threads they compete for cores.", "", *table_lines(frame), ""]
    shaped = link_lines(frame)
    out += [*shaped, ""] if shaped else []
    out += parity_lines(raw.get("parity"))
    if set(frame.device) == {"cuda"} and frame.workers.max() == 1:
        out.append("Multi-GPU scaling: not measured (one GPU).")
    skipped = raw.get("skipped", [])
    out += [f"skipped {s['case']}: {s['reason']}" for s in skipped]
    out += [f"{fw.display}: not measured ({fw.no_engine_reason})."
            for fw in FRAMEWORKS.values() if not fw.engines]
    if figure:
        out += ["", f"![scaling]({figure})"]
    return out
