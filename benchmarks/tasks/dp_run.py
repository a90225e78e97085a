"""`sidebyside distributed`: data-parallel parity, then the benchmarks, then the section.

Writes DIR/distributed.json (pytest-benchmark JSON with each case's scaling efficiency and
communication share in extra_info, and the parity report under ``parity``),
DIR/distributed.md and DIR/scaling.png, each only when complete.
"""

from __future__ import annotations

import argparse
import json
import sys

from benchmarks.analysis.results import load_json
from benchmarks.machine import cpu_count
from benchmarks.output import dp_report, plots
from benchmarks.output.files import write_text_atomically
from benchmarks.tasks.distributed import annotate, run_dp_parity, summarize, threads_per_worker
from benchmarks.tasks.netns import unavailable_reason as netns_unavailable
from benchmarks.tasks.suite_pass import run_bench_file
from benchmarks.tasks.workers import Hosts, WorkerError

QUICK_PARITY_BATCH = 16  # per worker 8 at 2 workers: the check is the same, the oracle faster


def parity(args: argparse.Namespace, threads: int) -> dict | None:
    """The parity report as JSON; None with --skip-parity. Prints every failed check."""
    if args.skip_parity:
        return None
    batch = QUICK_PARITY_BATCH if args.quick else args.parity_batch
    report = run_dp_parity(args.models, args.engines, args.workers, args.device, threads,
                           batch=batch, steps=args.steps,
                           progress=lambda msg: print(msg, flush=True),
                           hosts=Hosts(args.hosts))  # parity over the unshaped links
    for check in report.failures:
        print(f"FAILED {check.model} {check.mode} {check.quantity}: {check.measure} "
              f"{check.value:.2e} > {check.tolerance:.1e}", file=sys.stderr)
    return report.to_json()


def benchmark_options(args: argparse.Namespace, threads: int, link: float | None) -> list[str]:
    return [f"--workers={','.join(map(str, args.workers))}", f"--engines={','.join(args.engines)}",
            f"--models={','.join(args.models)}", f"--devices={args.device}",
            f"--threads={threads}", f"--data={args.data}", f"--hosts={args.hosts}",
            *([f"--link-mbit={link:g}"] if link else []), *(["--quick"] if args.quick else [])]


def _benchmarks(args: argparse.Namespace, threads: int) -> tuple[int, dict | None]:
    """The benchmark cases at each link speed (one pytest process each), pooled into one
    results JSON; the worst exit status."""
    worst, raw = 0, None
    for link in args.link_mbit or [None]:
        partial = args.out / ".distributed.json.partial"
        try:
            code = run_bench_file("bench_distributed.py", benchmark_options(args, threads, link),
                                  partial, "distributed")
            worst = max(worst, code)
            if partial.exists():
                one = load_json(partial)
                raw = one if raw is None else {**raw, "benchmarks": raw["benchmarks"] + one["benchmarks"]}
        finally:
            partial.unlink(missing_ok=True)
    return worst, raw


def run(args: argparse.Namespace) -> int:
    threads = args.threads or threads_per_worker(cpu_count(), args.workers)
    shaped = [link for link in args.link_mbit or [] if link]
    why = (netns_unavailable(shaped[0] if shaped else None) if args.hosts == "netns" else
           "--link-mbit shapes the namespaces' links: use it with --hosts netns"
           if args.link_mbit else None)
    if why:
        print(f"sidebyside distributed: error: {why}", file=sys.stderr)
        return 2
    try:
        checked = parity(args, threads)
    except ValueError as err:  # a parity batch the workers cannot split, before any started
        print(f"sidebyside distributed: error: {err}", file=sys.stderr)
        return 2
    except WorkerError as err:
        print(f"sidebyside distributed: error: {err}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    code, raw = _benchmarks(args, threads)
    if raw is None:
        return 1
    raw = annotate(raw)
    raw["parity"] = checked
    final = write_text_atomically(args.out / "distributed.json", json.dumps(raw, indent=2) + "\n")
    frame = summarize(raw)
    figure = plots.scaling(frame, args.out / "scaling.png") if not frame.empty else None
    text = "\n".join(["# Data parallel", "", *dp_report.lines(raw, figure and figure.name)]) + "\n"
    write_text_atomically(args.out / "distributed.md", text)
    print(text)
    for path in (final, args.out / "distributed.md", figure):
        if path:
            print(f"wrote {path}")
    return 0 if code == 0 and (checked is None or checked["passed"]) else 1
