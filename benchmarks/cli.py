"""The `sidebyside` command line."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from benchmarks.files import write_text_atomically
from benchmarks.matrix import MATRIX_HELP, parse_list, selection
from impls.registry import MODES, check_device, check_mode, torch_gpu_present
from impls.spec import MODELS, RECIPE, get_model


def comma_list(check: Callable[[str], object], choices: Sequence[str],
               what: str) -> Callable[[str], list[str]]:
    """argparse type for 'a,b,c' or 'all', validating each item with ``check``."""

    def parse(text: str) -> list[str]:
        try:
            return list(parse_list(text, check, tuple(choices), what) or ())
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def device_arg(text: str) -> str:
    try:
        return check_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def print_parity(report) -> None:
    frame = pd.DataFrame([{**vars(c), "passed": c.passed} for c in report.checks])
    if frame.empty:
        print("no mode could run; nothing was compared")
    else:
        wide = frame.pivot_table(index=["model", "mode", "quantity"], columns="reference",
                                 values=["max_abs", "max_rel", "rel_l2"], aggfunc="first", sort=False)
        wide.columns = [f"{ref} {measure}" for measure, ref in wide.columns]
        wide = wide[sorted(wide.columns, key=lambda c: (c.split()[0] != "oracle", c))]
        status = frame.groupby(["model", "mode", "quantity"], sort=False).agg(
            tolerance=("tolerance", "first"), measure=("measure", "first"), ok=("passed", "all"))
        table = wide.join(status)
        table["ok"] = table["ok"].map({True: "ok", False: "FAIL"})
        with pd.option_context("display.max_rows", None, "display.width", 200,
                               "display.float_format", "{:.2e}".format):
            for model, part in table.groupby(level="model", sort=False):
                print(f"\n== {model}: errors vs the float64 oracle and vs torch-eager "
                      f"(batch {report.batch}, {report.steps} training steps, {report.device})")
                print(part.droplevel("model").to_string())
    for skip in report.skipped:
        print(f"skipped {skip['mode']}: {skip['reason']}")


def cmd_parity(args: argparse.Namespace) -> int:
    from benchmarks.parity import run_parity

    report = run_parity(args.models, args.modes, args.device, args.batch, args.steps, args.seed)
    print_parity(report)
    if args.json:
        write_text_atomically(args.json, json.dumps(report.to_json(), indent=2) + "\n")
        print(f"wrote {args.json}")
    for c in report.failures:
        print(f"FAIL {c.model} {c.mode}: {c.quantity} vs {c.reference} {c.measure} "
              f"{c.value:.3g} > tolerance {c.tolerance:.1g}", file=sys.stderr)
    ran = len({(c.model, c.mode) for c in report.checks})
    print(f"parity: {ran} model x mode pairs checked, {len(report.failures)} failures, "
          f"{len(report.skipped)} modes skipped")
    return 1 if report.failures else 0


MATRIX_OPTIONS = ("models", "modes", "phases", "devices", "batch_sizes", "threads")


def _record_history(results: Path, history: Path, out: Path) -> int:
    from benchmarks.history import append_history, trend_plot, write_github_action_benchmark
    from benchmarks.report import git_commit
    from benchmarks.results import load_json

    raw = load_json(results)
    frame = append_history(raw, history, git_commit())
    trend_plot(frame, history.with_name("history.png"))
    write_github_action_benchmark(raw, out / "github-action-benchmark.json")
    print(f"appended {len(raw['benchmarks'])} rows to {history}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:  # validate everything before spending minutes on a run
        chosen = selection(args.models, args.modes, args.phases, args.devices, args.batch_sizes,
                           args.quick, gpu_present=torch_gpu_present())
    except ValueError as err:
        print(f"sidebyside run: error: {err}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    final = args.out / "benchmarks.json"
    tmp = args.out / ".benchmarks.json.partial"
    command = [sys.executable, "-m", "pytest", str(Path(__file__).parent), "--benchmark-only",
               "-v", "-p", "no:cacheprovider", f"--benchmark-json={tmp}",
               "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name",
               "--benchmark-save-data"]  # per-round times: the intervals downstream need them
    command += ["--quick"] if args.quick else []
    for name in MATRIX_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            command.append(f"--{name.replace('_', '-')}={value}")
    print("running:", " ".join(command), flush=True)
    code = subprocess.run(command).returncode
    if code != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        print(f"sidebyside run: the benchmark run failed (pytest exit {code}); nothing written",
              file=sys.stderr)
        return 1
    os.replace(tmp, final)
    print(f"wrote {final}")
    worst = 0
    for device in () if args.skip_parity else chosen.devices:
        name = "parity.json" if device == "cpu" else f"parity-{device}.json"
        worst = max(worst, cmd_parity(argparse.Namespace(
            models=list(chosen.models), modes=list(chosen.modes), device=device,
            batch=RECIPE.batch, steps=50, seed=0, json=args.out / name)))
    worst = max(worst, cmd_report(argparse.Namespace(
        results=[final], out=args.out, parity=None,
        command_line="sidebyside " + " ".join(args.argv))))
    return max(worst, _record_history(final, args.history, args.out))


def cmd_report(args: argparse.Namespace) -> int:
    from benchmarks.report import build
    from benchmarks.results import ResultsError

    try:
        command = getattr(args, "command_line", None) or (
            "sidebyside report " + " ".join(map(str, args.results)))
        written = build(args.results, args.out, args.parity, command=command)
    except ResultsError as err:
        print(f"sidebyside report: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from benchmarks.compare import load_and_compare, parse_threshold, to_markdown
    from benchmarks.results import ResultsError

    try:
        threshold = parse_threshold(args.threshold)
        rows = load_and_compare(args.baseline, args.current, threshold)
    except (ResultsError, ValueError) as err:
        print(f"sidebyside compare: error: {err}", file=sys.stderr)
        return 2
    text = to_markdown(rows, threshold)
    print(text)
    if args.markdown:
        write_text_atomically(args.markdown, text)
        print(f"wrote {args.markdown}")
    return 1 if any(r.mark == "+" for r in rows) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sidebyside",
        description="Matched MNIST CNNs in PyTorch and TensorFlow, run through one harness: "
                    "numerical parity, benchmarks and reports.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    parity = sub.add_parser(
        "parity", help="prove every mode computes the same numbers as a float64 NumPy oracle",
        description="Load identical weights into every available mode, feed identical batches "
                    "of real MNIST digits, and print per model x mode the max absolute and "
                    "max relative error of logits, loss and every parameter gradient against "
                    "the float64 oracle and against torch-eager; then train N SGD steps "
                    "(dropout off) and report parameter drift and the largest loss-curve "
                    "difference. Exit status: 0 all within tolerance, 1 a tolerance broken, "
                    "2 bad usage.")
    parity.add_argument("--models", type=comma_list(get_model, list(MODELS), "models"), default=list(MODELS),
                        help=f"comma-separated models, or 'all' (default): {', '.join(MODELS)}")
    parity.add_argument("--modes", type=comma_list(check_mode, list(MODES), "modes"), default=list(MODES),
                        help=f"comma-separated modes, or 'all' (default): {', '.join(MODES)}")
    parity.add_argument("--device", type=device_arg, default="cpu",
                        help="cpu (default) or cuda; modes that cannot use it are skipped")
    parity.add_argument("--batch", type=positive_int, default=RECIPE.batch,
                        help=f"images per batch (default {RECIPE.batch}, the workshop's)")
    parity.add_argument("--steps", type=positive_int, default=50,
                        help="SGD steps in the training comparison (default 50)")
    parity.add_argument("--seed", type=int, default=0,
                        help="seed for the initial weights and the batch order (default 0)")
    parity.add_argument("--json", type=Path, metavar="PATH",
                        help="also write every number as JSON to PATH")
    parity.set_defaults(func=cmd_parity)

    run = sub.add_parser(
        "run", help="the main job: the benchmark matrix through pytest-benchmark, then parity",
        description="Run the benchmark matrix (forward, backward and train step per model x "
                    "mode x device x batch, plus the variable-size stream) through "
                    "pytest-benchmark with a progress display, write DIR/benchmarks.json, then "
                    "run parity per device into DIR/parity.json (DIR/parity-cuda.json). Files "
                    "appear only when complete. Exit status: 0 done, 1 a benchmark or parity "
                    "check failed, 2 bad usage.")
    run.add_argument("--out", type=Path, default=Path("out"), metavar="DIR",
                     help="output folder (default ./out)")
    run.add_argument("--quick", action="store_true",
                     help="the small CI matrix: both models, torch-eager, tf-graph, tf-eager, "
                          "forward and train, batches 1 and 64, fewer rounds, 50-batch stream")
    for name, text in MATRIX_HELP.items():
        run.add_argument(f"--{name}", help=text,
                         **({"type": positive_int} if name == "threads" else {}))
    run.add_argument("--skip-parity", action="store_true", help="benchmarks only")
    run.add_argument("--history", type=Path, default=Path("reports/history.csv"), metavar="CSV",
                     help="history file to append this run's medians to "
                          "(default reports/history.csv; its trend plot goes beside it)")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser(
        "report", help="turn results JSON into report.md, results.csv and figures",
        description="Read pytest-benchmark JSON written by `sidebyside run` or `pytest "
                    "--benchmark-only --benchmark-json` (the first file supplies the header) and "
                    "write DIR/report.md, DIR/results.csv and DIR/*.png. Nothing in DIR changes "
                    "if anything fails. Exit status: 0 written, 2 unusable input.")
    report.add_argument("results", nargs="+", type=Path, metavar="RESULTS.json")
    report.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                        help="output folder (default ./reports)")
    report.add_argument("--parity", type=Path, metavar="PATH",
                        help="parity JSON to summarize (default: parity.json beside the first "
                             "results file, if there)")
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser(
        "compare", help="regression verdicts: CURRENT against BASELINE",
        description="For each benchmark in both runs: current/baseline median ratio with a 95% "
                    "bootstrap interval over rounds, and a mark: + significantly slower beyond "
                    "the threshold, - significantly faster, = within noise or threshold, x not "
                    "comparable (missing on one side, different machine or framework version, no "
                    "per-round data). Exit status: 1 if any +, 0 otherwise, 2 on bad input.")
    compare.add_argument("baseline", type=Path, metavar="BASELINE.json")
    compare.add_argument("current", type=Path, metavar="CURRENT.json")
    compare.add_argument("--threshold", default="10%",
                         help="slowdowns smaller than this never fail (default 10%%)")
    compare.add_argument("--markdown", type=Path, metavar="PATH",
                         help="also write the table as markdown to PATH")
    compare.set_defaults(func=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in reports: how they were made
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
