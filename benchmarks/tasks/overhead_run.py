"""`sidebyside overhead`: the op-chain benchmarks, the per-op fits and the step breakdown.

Writes DIR/overhead.json (pytest-benchmark JSON of the chains plus ``fits``, ``breakdown``
and ``skipped``), DIR/overhead.md and DIR/breakdown.png, each only when complete.
"""

from __future__ import annotations

import argparse
import json

from benchmarks.analysis.results import load_json
from benchmarks.output import overhead_report, plots
from benchmarks.output.files import write_text_atomically
from benchmarks.tasks.overhead import CHAIN_LENGTHS, chain_fits, profile_breakdown
from benchmarks.tasks.suite_pass import run_bench_file


def chain_options(args: argparse.Namespace) -> list[str]:
    return ["--op-chains", f"--modes={','.join(args.modes)}", f"--devices={','.join(args.devices)}",
            *(["--quick"] if args.quick else []),
            *([f"--threads={args.threads}"] if args.threads else [])]


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    partial = args.out / ".overhead.json.partial"
    try:
        code = run_bench_file("bench_op_chains.py", chain_options(args), partial, "overhead")
        if not partial.exists():
            return 1
        raw = load_json(partial)
    finally:
        partial.unlink(missing_ok=True)
    fits = chain_fits(raw)
    rows, skipped = [], []
    if "cpu" in args.devices and not args.skip_breakdown:
        rows, skipped = profile_breakdown(args.models, args.modes, "cpu", data=args.data,
                                          progress=lambda msg: print(msg, flush=True))
    raw.update(lengths=list(CHAIN_LENGTHS), fits=fits.to_dict("records"), breakdown=rows,
               skipped=skipped)
    final = write_text_atomically(args.json or args.out / "overhead.json",
                                  json.dumps(raw, indent=2, default=float) + "\n")
    figure = plots.breakdown(rows, args.out / "breakdown.png") if rows else None
    text = "\n".join(["# Why define-by-run costs what it costs", "",
                      *overhead_report.lines(raw, figure and figure.name)]) + "\n"
    write_text_atomically(args.out / "overhead.md", text)
    print(text)
    for path in (final, args.out / "overhead.md", figure):
        if path:
            print(f"wrote {path}")
    return 0 if code == 0 else 1
