"""pytest options and parametrization for the benchmark suite (`pytest --benchmark-only`)."""

from __future__ import annotations

import pytest

from benchmarks import machine
from benchmarks.harness import DEFAULT_SETTINGS, QUICK_SETTINGS, Settings
from benchmarks.matrix import MATRIX_HELP, Selection, selection
from benchmarks.sources import load
from impls.registry import MODES, mode_class, torch_gpu_present, unavailable_reason
from impls.spec import RECIPE

STREAM_MODELS = ("workshop",)  # overhead-bound: where tracing and shape handling show
PIPELINE_MODELS = ("workshop",)  # where the input pipeline's share of an epoch is largest
SELECTION = pytest.StashKey[Selection]()
CONTEXT = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sidebyside", "sidebyside benchmark matrix")
    for name, text in MATRIX_HELP.items():
        group.addoption(f"--{name}", help=text, **({"type": int} if name == "threads" else {}))
    group.addoption("--quick", action="store_true",
                    help="the small CI matrix with fewer rounds and a 30-batch stream")
    group.addoption("--reverse-order", action="store_true",
                    help="run the cases last to first; `sidebyside run --passes` reverses every "
                         "other pass so drift inside a run does not favour the cases run first")


def pytest_configure(config: pytest.Config) -> None:
    opt = config.getoption
    threads = opt("--threads")
    if threads is not None and threads < 1:
        raise pytest.UsageError(f"--threads must be >= 1, got {threads}")
    devices = opt("--devices")
    try:
        config.stash[SELECTION] = selection(
            opt("--models"), opt("--modes"), opt("--phases"), devices, opt("--batch-sizes"),
            opt("--quick"), gpu_present=torch_gpu_present() if devices not in (None, "cpu") else False,
            data=opt("--data"))
        load(config.stash[SELECTION].data)  # a missing or corrupt data set stops the run here
    except ValueError as err:  # DataError included
        raise pytest.UsageError(str(err)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    chosen = metafunc.config.stash[SELECTION]
    if "case" in metafunc.fixturenames:
        cases = chosen.cases()
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])
    if "stream" in metafunc.fixturenames:
        streams = [(model, mode, variant, device, kind)
                   for model in chosen.models if model in STREAM_MODELS
                   for mode in chosen.modes for variant in _variants(mode)
                   for device in chosen.devices for kind in ("variable", "fixed")]
        metafunc.parametrize("stream", streams,
                             ids=["-".join((kind, m, mode, v, d)) for m, mode, v, d, kind in streams])
    if "pipeline" in metafunc.fixturenames:
        first_mode = {MODES[mode][2]: mode for mode in reversed(chosen.modes)}
        pipes = [(fw, mode, device) for fw, mode in sorted(first_mode.items())
                 for device in chosen.devices]
        metafunc.parametrize("pipeline", pipes, ids=[f"{fw}-{d}-b{RECIPE.batch}" for fw, _, d in pipes])
    if "pipeline_train" in metafunc.fixturenames:
        fed = [(model, mode, device) for model in chosen.models if model in PIPELINE_MODELS
               for mode in chosen.modes for device in chosen.devices]
        metafunc.parametrize("pipeline_train", fed,
                             ids=[f"{m}-{mode}-{d}-b{RECIPE.batch}" for m, mode, d in fed])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--reverse-order"):
        items.reverse()


def _variants(mode: str) -> tuple[str, ...]:
    try:
        return mode_class(mode).variants
    except ImportError:
        return ("default",)  # framework missing: the case will skip with the reason


def skip_unless_available(mode: str, device: str) -> None:
    reason = unavailable_reason(mode, device)
    if reason:
        pytest.skip(f"{mode} on {device}: {reason}")


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Settings:
    return QUICK_SETTINGS if pytestconfig.stash[SELECTION].quick else DEFAULT_SETTINGS


@pytest.fixture(scope="session")
def context(pytestconfig: pytest.Config) -> dict:
    """Once per run: threads configured for both frameworks, the GEMM peak measured."""
    chosen = pytestconfig.stash[SELECTION]
    threads = machine.configure_threads(pytestconfig.getoption("--threads") or machine.cpu_count())
    peaks = {device: machine.gemm_peak(device) for device in chosen.devices}
    ctx = {"threads": threads, "versions": machine.versions(), "peaks": peaks,
           "compile_caches": machine.compile_cache_state(), "data": chosen.data}
    pytestconfig.stash[CONTEXT] = ctx
    return ctx


def device_context(context: dict, device: str) -> dict:
    return {**context, "peak": context["peaks"][device]}


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    ctx = config.stash.get(CONTEXT, None)
    chosen = config.stash[SELECTION]
    machine_info["cpu_model"] = machine.cpu_model()
    machine_info["cores"] = machine.cpu_count()
    machine_info["versions"] = machine.versions()
    machine_info["matrix"] = {"quick": chosen.quick, "models": chosen.models, "modes": chosen.modes,
                              "phases": chosen.phases, "devices": chosen.devices,
                              "batches": chosen.batches, "data": chosen.data}
    if ctx is None:
        machine_info["gemm_peak"] = "not measured: no benchmark ran"
        return
    machine_info["threads"] = ctx["threads"]
    machine_info["compile_caches"] = ctx["compile_caches"]
    machine_info["gemm_peak"] = ctx["peaks"]

