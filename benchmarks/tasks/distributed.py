"""Data-parallel training on the frameworks' own engines: cases, parity and scaling.

Matched semantics in both engines: every worker starts from the same canonical weights,
worker r takes the r-th contiguous block of each global batch, and the gradient is the mean
over the global batch (DDP averages the workers' mean-loss gradients; TensorFlow scales the
per-example loss by the global batch and sums). So N workers on their shards must equal one
process on the whole batch, up to the order of the reduction: parity checks exactly that,
against the float64 oracle, at the fp32 tolerances.

Scaling: weak (per-worker batch fixed at WEAK_PER_WORKER, global = N x that) and strong (the
global batch fixed at STRONG_GLOBAL, split N ways). Every worker count runs with the same
per-worker thread budget (the cores divided by the largest worker count), so that scaling
efficiency = throughput(N) / (N x throughput(1)) measures the engine, not a thread split.
The communication share is 1 - t(step without the gradient all-reduce) / t(step).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.data.batches import seeded_batches
from benchmarks.data.sources import load
from benchmarks.tasks.parity import ModeResult, ParityReport, compare, oracle_result, tolerances
from benchmarks.tasks.workers import LOOPBACK, Hosts, WorkerGroup
from impls.registry import ENGINES, engine_unavailable_reason, framework_of
from impls.spec import RECIPE, get_model
from impls.weights import init_weights

ENGINE_NAMES = tuple(ENGINES)
DEFAULT_WORKERS = (1, 2)
WEAK_PER_WORKER = 64
STRONG_GLOBAL = 256
PARITY_STEPS = 20


@dataclass(frozen=True)
class DPCase:
    model: str
    engine: str
    device: str
    workers: int
    scaling: str  # "weak" or "strong"
    batch: int  # the global batch
    allreduce: bool = True  # False: the same step without the gradient all-reduce

    @property
    def id(self) -> str:
        """e.g. dp-examples-torch-ddp-w2-weak-cpu-b128 (-noreduce without the all-reduce)."""
        return (f"dp-{self.model}-{self.engine}-w{self.workers}-{self.scaling}"
                f"{'' if self.allreduce else '-noreduce'}-{self.device}-b{self.batch}")

    @property
    def group_key(self) -> tuple[str, str, str, int]:
        return (self.engine, self.model, self.device, self.workers)


def dp_cases(models: Sequence[str], engines: Sequence[str], workers: Sequence[int],
             devices: Sequence[str]) -> list[DPCase]:
    """Ordered so that the cases of one worker group run one after another; ``workers`` as
    parse_workers checked them."""
    cases = []
    for device in devices:
        for model in models:
            for engine in engines:
                for n in workers:
                    for scaling, batch in (("weak", WEAK_PER_WORKER * n), ("strong", STRONG_GLOBAL)):
                        cases += [DPCase(model, engine, device, n, scaling, batch, reduce)
                                  for reduce in ((True, False) if n > 1 else (True,))]
    return cases


def parse_workers(text: str | None) -> tuple[int, ...]:
    """'1,2' -> (1, 2); DEFAULT_WORKERS when not given. ValueError names the problem."""
    if text is None:
        return DEFAULT_WORKERS
    try:
        counts = tuple(dict.fromkeys(int(t) for t in text.split(",")))
    except ValueError:
        raise ValueError(f"--workers must be comma-separated integers, got {text!r}") from None
    if any(n < 1 for n in counts):
        raise ValueError(f"--workers must all be >= 1, got {text!r}")
    if bad := [n for n in counts if STRONG_GLOBAL % n]:
        raise ValueError(f"--workers must each divide the strong-scaling global batch "
                         f"{STRONG_GLOBAL} (e.g. 1,2,4,8), got {', '.join(map(str, bad))}")
    return counts


def threads_per_worker(cores: int, workers: Sequence[int]) -> int:
    return max(1, cores // max(workers))


def write_batches(path: Path, batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> Path:
    np.savez(path, images=np.stack([x for x, _ in batches]), labels=np.stack([y for _, y in batches]))
    return path


class GroupHolder:
    """At most one worker group alive at a time, reused by consecutive cases of one key."""

    def __init__(self, threads: int, hosts: Hosts = LOOPBACK):
        self.threads, self.hosts = threads, hosts
        self.group: WorkerGroup | None = None
        self.fresh = False  # the current group has not run a case yet

    def get(self, case: DPCase) -> WorkerGroup:
        if self.group is not None and self.group.alive and (
                self.group.engine, self.group.model, self.group.device,
                self.group.workers) == case.group_key:
            self.fresh = False
            return self.group
        self.close()
        engine, model, device, workers = case.group_key
        self.group = WorkerGroup(engine, model, device, workers, self.threads, hosts=self.hosts)
        self.group.start()
        self.fresh = True
        return self.group

    def close(self) -> None:
        if self.group is not None:
            self.group.close()
            self.group = None


def _mean_loss(answers: list[dict[str, Any]]) -> float:
    """The global batch's mean loss from the workers' shard means (equal shards)."""
    return float(np.mean([a["loss"] for a in answers]))


def run_engine(group: WorkerGroup, weights: dict[str, np.ndarray],
               batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> ModeResult:
    """What N workers produce from ``weights`` on ``batches``: the first batch's loss and
    all-reduced gradients, then the loss curve and final weights of one step per batch."""
    with tempfile.TemporaryDirectory(prefix="sidebyside-dp-") as folder:
        tmp = Path(folder)
        np.savez(tmp / "weights.npz", **weights)
        group.request("weights", path=str(tmp / "weights.npz"))
        group.request("batches", path=str(write_batches(tmp / "batches.npz", batches)))
        loss = _mean_loss(group.request("grads", index=0, path=str(tmp / "grads.npz")))
        with np.load(tmp / "grads.npz") as data:
            grads = {k: data[k] for k in data.files}
        curve = [_mean_loss(group.request("step", index=i)) for i in range(len(batches))]
        group.request("export", path=str(tmp / "final.npz"))
        with np.load(tmp / "final.npz") as data:
            final = {k: data[k] for k in data.files}
    return ModeResult(None, loss, grads, final, np.array(curve))


def run_dp_parity(models: Sequence[str], engines: Sequence[str], workers: Sequence[int],
                  device: str, threads: int, batch: int = RECIPE.batch, steps: int = PARITY_STEPS,
                  seed: int = 0, progress: Callable[[str], None] = print,
                  hosts: Hosts = LOOPBACK) -> ParityReport:
    """Each engine with N workers against the float64 oracle on the whole global batch.
    ValueError, before any work, when the batch does not split evenly over a worker count."""
    if bad := [n for n in workers if batch % n]:
        raise ValueError(f"the parity batch {batch} does not split evenly over "
                         f"{', '.join(map(str, bad))} workers; pass --parity-batch a multiple of "
                         "every worker count, or --skip-parity")
    tol = tolerances("fp32")
    report = ParityReport(device, batch, steps, seed, load().description, tolerances=tol)
    batches = seeded_batches(steps, batch, seed)
    for model in models:
        spec = get_model(model)
        weights = init_weights(spec, seed)
        progress(f"[{model}] oracle (float64 NumPy): {steps} steps at global batch {batch}")
        oracle = oracle_result(model, seed, batch, steps)
        for engine in engines:
            for n in workers:
                name = f"{engine}-w{n}"
                reason = engine_unavailable_reason(engine, device, n)
                if reason:
                    report.skipped.append({"mode": name, "reason": reason})
                    continue
                progress(f"[{model}] {engine}, {n} worker(s), {batch // n} images each")
                with WorkerGroup(engine, model, device, n, threads, hosts=hosts) as group:
                    got = run_engine(group, weights, batches)
                report.checks += compare(model, name, "oracle", got, oracle, tol)
    return report


def summarize(raw: dict[str, Any]) -> pd.DataFrame:
    """One row per data-parallel case, with scaling efficiency against the same engine's
    1-worker case of the same scaling series, and the communication share."""
    rows = [{**b["extra_info"], "median_s": b["stats"]["median"], "name": b["name"]}
            for b in raw["benchmarks"] if b.get("extra_info", {}).get("phase") == "dp-train"]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    frame["link"] = [link_name(h, m) for h, m in
                     zip(frame.get("hosts", pd.Series([None] * len(frame))),
                         frame.get("link_mbit", pd.Series([None] * len(frame))), strict=True)]
    keys = ["model", "engine", "device", "scaling", "link"]
    reduced = frame[frame["allreduce"]]
    one = reduced[reduced["workers"] == 1].set_index(keys)["images_per_s"]
    frame["scaling_efficiency"] = [
        r.images_per_s / (r.workers * one[tuple(getattr(r, k) for k in keys)])
        if r.allreduce and tuple(getattr(r, k) for k in keys) in one.index else np.nan
        for r in frame.itertuples()]
    without = frame[~frame["allreduce"]].set_index([*keys, "workers"])["median_s"]
    frame["comm_share"] = [
        1 - without[(*(getattr(r, k) for k in keys), r.workers)] / r.median_s
        if r.allreduce and (*(getattr(r, k) for k in keys), r.workers) in without.index else np.nan
        for r in frame.itertuples()]
    return frame


def link_name(hosts: str | None, link_mbit: float | None) -> str:
    """How a case's workers were connected: loopback, or namespaces at a link speed."""
    if hosts != "netns":
        return "loopback"
    return "netns, unshaped" if link_mbit is None or pd.isna(link_mbit) else f"netns, {link_mbit:g} Mbit/s"


def annotate(raw: dict[str, Any]) -> dict[str, Any]:
    """The JSON with each case's scaling efficiency and communication share in extra_info."""
    frame = summarize(raw)
    if frame.empty:
        return raw
    cases = [b for b in raw["benchmarks"] if b.get("extra_info", {}).get("phase") == "dp-train"]
    for bench, row in zip(cases, frame.to_dict("records"), strict=True):  # summarize's order
        for column in ("scaling_efficiency", "comm_share"):
            bench["extra_info"][column] = None if pd.isna(row[column]) else float(row[column])
    return raw


def run_dp_case(benchmark, case: DPCase, holder: GroupHolder, settings, context: dict) -> None:
    """Time one global step across all workers: the callable sends the step to every worker
    and returns when all have finished it (each worker syncs its device first)."""
    from benchmarks.harness import add_rates, flops_per_call, measure, rounds_for, time_once

    group = holder.get(case)
    setup_s = group.setup_s if holder.fresh else None
    with tempfile.TemporaryDirectory(prefix="sidebyside-dp-") as folder:
        path = write_batches(Path(folder) / "batch.npz",
                             seeded_batches(1, case.batch, seed=0, source=context["data"]))
        group.request("batches", path=str(path))

    def target() -> None:
        group.request("step", index=0, allreduce=case.allreduce)

    first = time_once(target)  # tracing (tf.function) or DDP's first bucket set-up included
    rounds = rounds_for(time_once(target), settings)
    measure(benchmark, target, settings, rounds, settings.warmup_rounds)
    flops = flops_per_call(case.model, "train", case.batch)
    info: dict[str, Any] = {
        "model": case.model, "engine": case.engine, "mode": ENGINES[case.engine].mode,
        "framework": framework_of(case.engine), "device": case.device, "phase": "dp-train",
        "workers": case.workers, "scaling": case.scaling, "batch": case.batch,
        "per_worker_batch": case.batch // case.workers, "allreduce": case.allreduce,
        "threads_per_worker": group.threads, "hosts": group.hosts.kind,
        "link_mbit": group.hosts.link_mbit, "group_setup_s": setup_s, "first_call_s": first,
        "flops_per_call": flops, "rounds": rounds, "warmup_rounds": settings.warmup_rounds,
        "data": load(context["data"]).description, "versions": context["versions"]}
    add_rates(info, benchmark, case.batch, flops,
              context["peak"]["fp32"]["gflops"] * case.workers)
    if "images_per_s" in info:
        info["per_worker_images_per_s"] = info["images_per_s"] / case.workers
    benchmark.extra_info.update(info)
