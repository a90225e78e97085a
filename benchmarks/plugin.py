"""The sidebyside pytest plugin: matrix options, parametrization and fixtures of the suite.

Registered through the ``pytest11`` entry point (and ``-p benchmarks.plugin`` in the
checkout's and `sidebyside run`'s configuration), so its options exist before pytest parses
the command line, from any folder: ``pytest --benchmark-only --pyargs benchmarks --models
examples``. It acts only on test functions marked ``sidebyside`` (the ``bench_*.py``
modules); other test suites in the same environment see three options and nothing else.
"""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatch
from pathlib import Path

import pytest

from benchmarks import machine, progress
from benchmarks.contention import THRESHOLD_PCT, watch
from benchmarks.harness import DEFAULT_SETTINGS, QUICK_SETTINGS, Settings
from benchmarks.matrix import MATRIX_HELP, Case, Selection, parse_list, selection
from benchmarks.peaks import Peaks, best_peaks, rescale_mfu
from benchmarks.tasks.distributed import (
    ENGINE_NAMES,
    DPCase,
    GroupHolder,
    dp_cases,
    parse_workers,
    threads_per_worker,
)
from benchmarks.tasks.overhead import ChainCase, chain_cases
from benchmarks.tasks.workers import HOST_KINDS, Hosts
from impls.precision import timing_reason
from impls.registry import (
    check_engine,
    engine_unavailable_reason,
    framework_of,
    gpu_present,
    mode_class,
    unavailable_reason,
)
from impls.spec import RECIPE

STREAM_MODELS = ("workshop",)  # overhead-bound: where tracing and shape handling show
PIPELINE_MODELS = ("workshop",)  # where the input pipeline's share of an epoch is largest
SELECTION = pytest.StashKey[Selection]()
CONTEXT = pytest.StashKey[dict]()
MARKER = "sidebyside"
NOT_ENABLED = ("sidebyside benchmarks run only with --benchmark-only or --benchmark-enable "
               "(--benchmark-disable runs each once, untimed); a plain pytest runs the tests")
# pytest-benchmark's defaults, to tell the timing flags a user really set
BENCHMARK_DEFAULTS = {"benchmark_min_rounds": 5, "benchmark_max_time": 1.0,
                      "benchmark_min_time": 0.000005, "benchmark_calibration_precision": 10,
                      "benchmark_warmup_iterations": 100000, "benchmark_precision": None}
REFUSED = {  # pytest-benchmark timing flags that have no meaning here, and what to use
    "benchmark_min_time": "--benchmark-min-time sizes the loops pytest-benchmark calibrates; "
                          "sidebyside times one call per round (iterations=1, device sync inside): "
                          "use --benchmark-max-time for the time spent per case",
    "benchmark_calibration_precision": "--benchmark-calibration-precision tunes a calibration "
                                       "sidebyside does not do (one call per round): use "
                                       "--benchmark-min-rounds / --benchmark-max-time",
    "benchmark_precision": "--benchmark-precision adds rounds until the mean's margin is small; "
                           "one process's rounds miss the run-to-run drift that matters here: "
                           "use `sidebyside run --passes N` (see README, Passes)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sidebyside", "sidebyside benchmark matrix")
    for name, text in MATRIX_HELP.items():
        group.addoption(f"--{name}", help=text, **({"type": int} if name == "threads" else {}))
    group.addoption("--quick", action="store_true",
                    help="the small CI matrix with fewer rounds and a 30-batch stream")
    group.addoption("--workers", help="data-parallel cases: comma-separated worker counts "
                    "(e.g. 1,2); without it no data-parallel case runs (sidebyside distributed)")
    group.addoption("--engines", help="data-parallel engines, comma-separated or 'all': "
                    + ", ".join(ENGINE_NAMES) + " (default: all)")
    group.addoption("--hosts", choices=HOST_KINDS, default="loopback",
                    help="data-parallel workers over loopback (default) or each in its own "
                         "network namespace (netns: root and iproute2)")
    group.addoption("--link-mbit", type=float,
                    help="with --hosts netns: shape every worker's link to this many Mbit/s")
    group.addoption("--op-chains", action="store_true",
                    help="per-op overhead cases: chains of tiny ops in every mode (sidebyside "
                         "overhead); without it none runs")
    group.addoption("--reverse-order", action="store_true",
                    help="run the cases last to first; `sidebyside run --passes` reverses every "
                         "other pass so drift inside a run does not favour the cases run first")
    group.addoption("--steady-only", action="store_true",
                    help="only the steady-state step cases, without the cold compile: the later "
                         "passes of `sidebyside run` (one-off measurements run once, in pass 1)")
    group.addoption("--no-cold-compile", action="store_true",
                    help="no extra first call with an empty compile cache (a re-timed case)")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect this package's bench_*.py under any python_files setting (pytest's default
    is test_*.py), unless pytest's own collector already takes the file."""
    if file_path.parent != Path(__file__).parent or not fnmatch(file_path.name, "bench_*.py"):
        return None
    if parent.session.isinitpath(file_path) or any(
            fnmatch(file_path.name, pattern) for pattern in parent.config.getini("python_files")):
        return None
    return pytest.Module.from_parent(parent, path=file_path)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(axes): a sidebyside benchmark, parametrized "
                                       "over the matrix options (--models, --modes, ...)")
    opt = config.getoption
    threads = opt("--threads")
    if threads is not None and threads < 1:
        raise pytest.UsageError(f"--threads must be >= 1, got {threads}")
    devices = opt("--devices")
    try:
        config.stash[SELECTION] = selection(
            opt("--models"), opt("--modes"), opt("--phases"), devices, opt("--batch-sizes"),
            opt("--quick"), gpu_present=gpu_present() if devices not in (None, "cpu") else False,
            data=opt("--data"), precisions=opt("--precisions"), layouts=opt("--layouts"))
        if _benchmarks_enabled(config):
            from benchmarks.data.sources import load

            load(config.stash[SELECTION].data)  # a missing or corrupt data set stops the run here
    except ValueError as err:  # DataError included
        raise pytest.UsageError(str(err)) from None


def _given(config: pytest.Config, name: str) -> bool:
    """Whether a pytest-benchmark flag differs from its default (it parses seconds to strings)."""
    value, default = config.getoption(name, None), BENCHMARK_DEFAULTS[name]
    if value is None or default is None:
        return value is not None
    return float(value) != float(default)


def _benchmarks_enabled(config: pytest.Config) -> bool:
    return any(config.getoption(name, False) for name in
               ("benchmark_only", "benchmark_enable", "benchmark_disable"))


def _axes(node) -> str | None:
    """Which matrix a test function is parametrized over: the argument of its marker."""
    marker = getattr(node, "definition", node).get_closest_marker(MARKER)
    return None if marker is None else marker.args[0]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    axes = _axes(metafunc)
    if axes is None:
        return
    chosen = metafunc.config.stash[SELECTION]
    if axes == "steps":
        cases = chosen.cases()
        metafunc.parametrize("model,mode,device,phase,batch,precision,layout",
                             [(c.model, c.mode, c.device, c.phase, c.batch, c.precision, c.layout)
                              for c in cases], ids=[c.id for c in cases])
    elif axes == "streams":
        streams = [(kind, model, mode, variant, device)
                   for model in chosen.models if model in STREAM_MODELS
                   for mode in chosen.modes for variant in _variants(mode)
                   for device in chosen.devices for kind in ("variable", "fixed")]
        metafunc.parametrize("stream,model,mode,variant,device", streams,
                             ids=["-".join(s) for s in streams])
    elif axes == "pipelines":
        first_mode = {framework_of(mode): mode for mode in reversed(chosen.modes)}
        pipes = [(fw, mode, device) for fw, mode in sorted(first_mode.items())
                 for device in chosen.devices]
        metafunc.parametrize("framework,mode,device", pipes,
                             ids=[f"{fw}-{d}-b{RECIPE.batch}" for fw, _, d in pipes])
    elif axes == "pipeline-train":
        fed = [(model, mode, device) for model in chosen.models if model in PIPELINE_MODELS
               for mode in chosen.modes for device in chosen.devices]
        metafunc.parametrize("model,mode,device", fed,
                             ids=[f"{m}-{mode}-{d}-b{RECIPE.batch}" for m, mode, d in fed])
    elif axes == "distributed":
        cases = _dp_cases(metafunc.config)
        metafunc.parametrize("model,engine,device,workers,scaling,batch,allreduce",
                             [(c.model, c.engine, c.device, c.workers, c.scaling, c.batch,
                               c.allreduce) for c in cases], ids=[c.id for c in cases])
    elif axes == "chains":
        chains = chain_cases(chosen.modes, chosen.devices)
        metafunc.parametrize("mode,variant,op,length,device",
                             [(c.mode, c.variant, c.op, c.length, c.device) for c in chains],
                             ids=[c.id for c in chains])
    elif axes == "harness":  # a mode parameter too, so --benchmark-group-by=param:mode works
        metafunc.parametrize("mode", ["harness-noop"], ids=["noop"])
    else:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown sidebyside axes {axes!r}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(_axes(item) is not None for item in items):  # other suites keep every flag
        for name, why in REFUSED.items():
            if _given(config, name):
                raise pytest.UsageError(why)
    if not _benchmarks_enabled(config) and not config.getoption("benchmark_skip", False):
        skip = pytest.mark.skip(reason=NOT_ENABLED)
        for item in items:
            if _axes(item) is not None:
                item.add_marker(skip)
    wanted = {"distributed": config.getoption("--workers") is not None,
              "chains": config.getoption("--op-chains")}
    # data parallel and op chains only when asked for; the later passes of a run: steps only
    _keep(config, items, lambda axes: wanted.get(axes, True))
    if config.getoption("--steady-only"):
        _keep(config, items, lambda axes: axes in (None, "steps"))
    if config.getoption("--reverse-order"):
        items.reverse()


def _keep(config: pytest.Config, items: list[pytest.Item], wanted) -> None:
    """Deselect (as pytest reports it) the items whose axes ``wanted`` refuses."""
    kept = [item for item in items if wanted(_axes(item))]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the progress display `sidebyside run` asked for (see benchmarks/progress.py)."""
    if any(_axes(item) is not None for item in session.items):
        progress.start(session.config, len(session.items))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    yield
    progress.advance(item.config, item.nodeid)


def _dp_cases(config: pytest.Config) -> list[DPCase]:
    chosen = config.stash[SELECTION]
    try:
        engines = parse_list(config.getoption("--engines"), check_engine, ENGINE_NAMES,
                             "engines") or ENGINE_NAMES
        return dp_cases(chosen.models, engines, parse_workers(config.getoption("--workers")),
                        chosen.devices)
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None


def _variants(mode: str) -> tuple[str, ...]:
    try:
        return mode_class(mode).variants
    except ImportError:
        return ("default",)  # framework missing: the case will skip with the reason


def skip_unless_available(mode: str, device: str, precision: str = "fp32",
                          layout: str = "default", timing: bool = False,
                          named: bool = False) -> None:
    reason = unavailable_reason(mode, device, precision, layout, timing, named)
    if reason:
        pytest.skip(f"{mode} {precision} {layout} on {device}: {reason}")


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Settings:
    """The suite's timing settings, with pytest-benchmark's own timing flags honoured:
    --benchmark-min-rounds, --benchmark-max-time (seconds of rounds per case) and, with
    --benchmark-warmup=on, --benchmark-warmup-iterations (warm-up rounds of one call)."""
    base = QUICK_SETTINGS if pytestconfig.stash[SELECTION].quick else DEFAULT_SETTINGS
    changes: dict[str, float | int] = {}
    if _given(pytestconfig, "benchmark_min_rounds"):
        changes["min_rounds"] = pytestconfig.getoption("benchmark_min_rounds")
        changes["max_rounds"] = max(base.max_rounds, changes["min_rounds"])
    if _given(pytestconfig, "benchmark_max_time"):
        changes["round_budget_s"] = float(pytestconfig.getoption("benchmark_max_time"))
    if pytestconfig.getoption("benchmark_warmup", False) and _given(pytestconfig,
                                                                    "benchmark_warmup_iterations"):
        changes["warmup_rounds"] = pytestconfig.getoption("benchmark_warmup_iterations")
    return replace(base, **changes)


def measured_peaks(chosen: Selection, threads: int, when: str) -> Peaks:
    """The GEMM peak per device and compute precision, each with the load it was measured
    under (a peak measured beside a busy process comes out low)."""
    peaks: Peaks = {}
    for device in chosen.devices:
        for precision in dict.fromkeys(("fp32", *chosen.precisions)):
            why = timing_reason(precision, device, chosen.precisions_named)
            if why:
                peaks.setdefault(device, {})[precision] = f"not measured: {why}"
                continue
            with watch() as load:
                peak = machine.gemm_peak(device, precision, threads)
            peaks.setdefault(device, {})[precision] = {**peak, **load[0].as_info(), "when": when}
    return peaks


@pytest.fixture(scope="session")
def context(pytestconfig: pytest.Config) -> dict:
    """Once per run: threads configured for every framework, the GEMM peak measured (again
    when the session ends: the best of the two is the pass's peak)."""
    chosen = pytestconfig.stash[SELECTION]
    threads = machine.configure_threads(pytestconfig.getoption("--threads") or machine.cpu_count())
    ctx = {"threads": threads, "versions": machine.versions(),
           "peaks": measured_peaks(chosen, threads["requested_intra_op"], "start"),
           "data": chosen.data,
           "cold_compile_batch": None if (pytestconfig.getoption("--steady-only")
                                          or pytestconfig.getoption("--no-cold-compile"))
           else chosen.cold_compile_batch()}
    pytestconfig.stash[CONTEXT] = ctx
    return ctx


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int):
    """The end-of-pass GEMM peak, before pytest-benchmark writes the JSON (it does so in its
    own sessionfinish wrapper, inside this one)."""
    progress.close(session.config)
    ctx = session.config.stash.get(CONTEXT, None)
    if ctx is not None and exitstatus != pytest.ExitCode.INTERRUPTED:
        end = measured_peaks(session.config.stash[SELECTION], ctx["threads"]["requested_intra_op"],
                             "end")
        ctx["peaks_start"] = ctx["peaks"]
        ctx["peaks"] = best_peaks([ctx["peaks"], end], ["", ""])
    yield


def device_context(context: dict, device: str) -> dict:
    return {**context, "peak": context["peaks"][device]}


@pytest.fixture
def case(model: str, mode: str, device: str, phase: str, batch: int, precision: str,
         layout: str, pytestconfig: pytest.Config) -> Case:
    """The step case the separate parameters name; skipped when it cannot run here, or when
    its precision would only be emulated on this device and was not asked for by name."""
    skip_unless_available(mode, device, precision, layout, timing=True,
                          named=pytestconfig.stash[SELECTION].precisions_named)
    return Case(model, mode, device, phase, batch, precision, layout)


@pytest.fixture(scope="session")
def worker_groups(pytestconfig: pytest.Config):
    """The data-parallel worker group of the case running now, reused by the next case of
    the same engine, model, device and worker count; every worker ends with the session."""
    workers = parse_workers(pytestconfig.getoption("--workers"))
    holder = GroupHolder(pytestconfig.getoption("--threads")
                         or threads_per_worker(machine.cpu_count(), workers),
                         Hosts(pytestconfig.getoption("--hosts"),
                               pytestconfig.getoption("--link-mbit")))
    yield holder
    holder.close()


@pytest.fixture
def chain_case(mode: str, variant: str, op: str, length: int, device: str) -> ChainCase:
    skip_unless_available(mode, device)
    return ChainCase(mode, variant, op, length, device)


@pytest.fixture
def dp_case(model: str, engine: str, device: str, workers: int, scaling: str, batch: int,
            allreduce: bool) -> DPCase:
    reason = engine_unavailable_reason(engine, device, workers)
    if reason:
        pytest.skip(f"{engine} with {workers} worker(s) on {device}: {reason}")
    return DPCase(model, engine, device, workers, scaling, batch, allreduce)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    ctx = config.stash.get(CONTEXT, None)
    chosen = config.stash.get(SELECTION, None)
    if chosen is None:
        return
    machine_info["cpu_model"] = machine.cpu_model()
    machine_info["cores"] = machine.cpu_count()
    machine_info["memory_gib"] = machine.memory_gib()
    machine_info["versions"] = machine.versions()
    machine_info["matrix"] = {"quick": chosen.quick, "models": chosen.models, "modes": chosen.modes,
                              "phases": chosen.phases, "devices": chosen.devices,
                              "batches": chosen.batches, "data": chosen.data}
    if ctx is None:
        machine_info["gemm_peak"] = "not measured: no benchmark ran"
        return
    machine_info["threads"] = ctx["threads"]
    machine_info["gemm_peak"] = {device: peaks["fp32"] for device, peaks in ctx["peaks"].items()}
    machine_info["gemm_peaks"] = ctx["peaks"]  # per device and compute precision
    machine_info["contention_threshold_pct"] = THRESHOLD_PCT


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """MFU against the pass's best peak (the cases computed it against the first one)."""
    ctx = config.stash.get(CONTEXT, None)
    if ctx is not None and "peaks_start" in ctx:
        rescale_mfu(output_json["benchmarks"], ctx["peaks_start"], ctx["peaks"])
