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
from benchmarks.tasks.suite_pass import run_bench_file
from benchmarks.tasks.workers import WorkerError

QUICK_PARITY_BATCH = 16  # per worker 8 at 2 workers: the check is the same, the oracle faster


def parity(args: argparse.Namespace, threads: int) -> dict | None:
    """The parity report as JSON; None with --skip-parity. Prints every failed check."""
    if args.skip_parity:
        return None
    batch = QUICK_PARITY_BATCH if args.quick else args.parity_batch
    report = run_dp_parity(args.models, args.engines, args.workers, args.device, threads,
                           batch=batch, steps=args.steps,
                           progress=lambda msg: print(msg, flush=True))
    for check in report.failures:
        print(f"FAILED {check.model} {check.mode} {check.quantity}: {check.measure} "
              f"{check.value:.2e} > {check.tolerance:.1e}", file=sys.stderr)
    return report.to_json()


def benchmark_options(args: argparse.Namespace, threads: int) -> list[str]:
    return [f"--workers={','.join(map(str, args.workers))}", f"--engines={','.join(args.engines)}",
            f"--models={','.join(args.models)}", f"--devices={args.device}",
            f"--threads={threads}", f"--data={args.data}", *(["--quick"] if args.quick else [])]


def run(args: argparse.Namespace) -> int:
    threads = args.threads or threads_per_worker(cpu_count(), args.workers)
    try:
        checked = parity(args, threads)
    except ValueError as err:  # a parity batch the workers cannot split, before any started
        print(f"sidebyside distributed: error: {err}", file=sys.stderr)
        return 2
    except WorkerError as err:
        print(f"sidebyside distributed: error: {err}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    partial = args.out / ".distributed.json.partial"
    try:
        code = run_bench_file("bench_distributed.py", benchmark_options(args, threads), partial,
                              "distributed")
        if not partial.exists():
            return 1
        raw = annotate(load_json(partial))
    finally:
        partial.unlink(missing_ok=True)
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
