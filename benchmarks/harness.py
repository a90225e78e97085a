"""Turns (model, mode, device, phase, batch) into one timed callable and runs it through
pytest-benchmark: data on the device before timing, warm-up outside it, device sync inside."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import machine
from benchmarks.contention import watch
from benchmarks.data.batches import seeded_batches
from benchmarks.data.sources import load
from benchmarks.matrix import Case
from impls.base import Mode
from impls.frameworks import get_framework
from impls.pipeline import epoch_order, make_pipeline
from impls.precision import emulated
from impls.registry import mode_class
from impls.spec import RECIPE, get_model

PHASE_METHODS = {"forward": "forward", "backward": "gradients", "train": "train_step"}


@dataclass(frozen=True)
class Settings:
    """How long to measure. Rounds are explicit per case: enough to fill the budget, within
    [min_rounds, max_rounds], from one calibration call after the first call."""

    round_budget_s: float = 0.2  # per pass: verdicts come from 3 passes, not from rounds
    min_rounds: int = 3  # a pass median; the slowest cases (0.7 s a step) stay affordable
    max_rounds: int = 100
    warmup_rounds: int = 1  # after the first call and the calibration call: 3 calls in all
    # Variable-size stream length: 16 batches of 1..128 images hold ~15 distinct sizes, enough
    # to show every retrace and compile the shapes cause. Each size costs a compile per
    # compiled mode and, un-jitted, one per JAX primitive: at 32 batches the streams were
    # half of the default run's first pass.
    stream_batches: int = 16
    stream_rounds: int = 3
    pipeline_images: int | None = 2048  # per epoch round; None: the whole training split
    pipeline_rounds: int = 5


DEFAULT_SETTINGS = Settings()
# --quick runs 3 passes (see cli.QUICK_PASSES), so each pass is kept short
QUICK_SETTINGS = Settings(round_budget_s=0.3, min_rounds=5, max_rounds=30, warmup_rounds=2,
                          stream_batches=16, stream_rounds=2, pipeline_images=1024,
                          pipeline_rounds=3)


def timed_target(step: Callable[[], Any], sync: Callable[[], None]) -> Callable[[], Any]:
    """The one callable pytest-benchmark times: the work, then the device barrier."""

    def target() -> Any:
        out = step()
        sync()
        return out

    return target


def rounds_for(seconds_per_call: float, settings: Settings) -> int:
    wanted = math.ceil(settings.round_budget_s / max(seconds_per_call, 1e-9))
    return max(settings.min_rounds, min(settings.max_rounds, wanted))


def time_once(target: Callable[[], Any]) -> float:
    start = time.perf_counter()
    target()
    return time.perf_counter() - start


def flops_per_call(model: str, phase: str, batch: int) -> int:
    spec = get_model(model)
    return batch * (spec.forward_flops() if phase == "forward" else spec.train_flops())


class MemoryProbe:
    """Peak memory of one case: RSS high-water mark (reset when the case starts, where the
    kernel allows) and RSS growth on CPU, peak allocated GPU memory on cuda."""

    def __init__(self, impl_framework: str, device: str):
        self.framework, self.device = get_framework(impl_framework), device
        self.scope = "case" if machine.reset_peak_rss() else "process"
        self.rss_before = machine.rss_mb()
        if device == "cuda":
            self.framework.reset_gpu_peak()

    def read(self) -> dict[str, float | str]:
        out: dict[str, float | str] = {"rss_growth_mb": machine.rss_mb() - self.rss_before,
                                       "peak_rss_mb": machine.peak_rss_mb(),
                                       "peak_rss_scope": self.scope}
        if self.device == "cuda":
            out["gpu_peak_mb"] = self.framework.gpu_peak_mb()
        return out


def build(mode: str, model: str, device: str, variant: str = "default", precision: str = "fp32",
          layout: str = "default") -> Mode:
    """A fresh instance as benchmarked: dropout on (the real models), seed 0."""
    return mode_class(mode)(get_model(model), device, seed=0, dropout=True, variant=variant,
                            precision=precision, layout=layout)


def case_info(impl: Mode, phase: str, batch: int, context: dict) -> dict[str, Any]:
    return {"model": impl.spec.name, "mode": impl.name, "framework": impl.framework,
            "style": impl.style, "variant": impl.variant, "device": impl.device,
            "precision": impl.precision, "layout": impl.layout,
            "emulated": emulated(impl.precision, impl.device),
            "gpu_name": machine.gpu_name(impl.device), "phase": phase, "batch": batch,
            "dropout": impl.dropout, "data": load(context["data"]).description,
            "versions": context["versions"], "threads": context["threads"]}


def add_rates(info: dict[str, Any], benchmark, images_per_call: int, flops: int,
              peak_gflops: float, peak_precision: str = "fp32") -> None:
    """Throughput, FLOP rate and MFU from the median; absent when timing is disabled. MFU is
    against the peak measured before the cases; the plugin rescales it to the best peak of
    the pass (``peak_precision`` says which) when the pass ends."""
    stats = getattr(benchmark, "stats", None)
    if not stats:
        return
    median = stats.stats.median
    info["images_per_s"] = images_per_call / median
    if flops:  # an input pipeline alone does no model arithmetic
        info["gflops"] = flops / median / 1e9
        info["mfu"] = info["gflops"] / peak_gflops
        info["peak_precision"] = peak_precision


def measure(benchmark, target: Callable[[], Any], settings: Settings, rounds: int,
            warmup_rounds: int) -> None:
    """pytest-benchmark's pedantic timing (one call per round), with the share of the CPU
    other processes took during the rounds recorded beside it (``contention``)."""
    with watch() as load:
        benchmark.pedantic(target, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
    benchmark.extra_info.update(load[0].as_info())
    record_options(benchmark, settings, rounds, warmup_rounds)


def record_options(benchmark, settings: Settings, rounds: int, warmup_rounds: int) -> None:
    """Make the JSON's ``options`` say what was done (pedantic rounds of one call each),
    not pytest-benchmark's calibration settings, which the suite does not use."""
    meta = getattr(benchmark, "stats", None)
    if not meta:
        return
    kept = {k: meta.options[k] for k in ("disable_gc", "timer") if k in meta.options}
    meta.options.clear()
    meta.options.update(kept, mode="pedantic", rounds=rounds, iterations=1,
                        warmup_rounds=warmup_rounds, min_rounds=settings.min_rounds,
                        max_rounds=settings.max_rounds, max_time=settings.round_budget_s)


def _prepared(case: Case, context: dict) -> tuple[Mode, Callable[[], Any]]:
    """A fresh instance, its batch already on the device, and the callable to time."""
    impl = build(case.mode, case.model, case.device, precision=case.precision, layout=case.layout)
    images, labels = seeded_batches(1, case.batch, seed=0, source=context["data"])[0]
    native = impl.to_device(images, labels)
    method = getattr(impl, PHASE_METHODS[case.phase])
    return impl, timed_target(lambda: method(native), impl.sync)


def _cache_kind(cls: type[Mode], counts: dict[str, int]) -> str:
    """'none' (no cache outlives the process), else cold / warm / mixed from the counters."""
    if cls.compile_cache == "none":
        return "none"
    hits = sum(v for k, v in counts.items() if k.endswith("_hit"))
    misses = sum(v for k, v in counts.items() if k.endswith("_miss"))
    return "warm" if hits and not misses else "cold" if misses and not hits else "mixed"


def _timed_first_call(cls: type[Mode], target: Callable[[], Any]) -> tuple[float, dict[str, int]]:
    before = cls.compile_cache_hits()
    seconds = time_once(target)
    after = cls.compile_cache_hits()
    return seconds, {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def first_calls(case: Case, context: dict) -> tuple[Mode, Callable[[], Any], dict[str, Any]]:
    """The first call (trace / compile / kernel selection + one step) of a fresh instance,
    labelled by what the compile caches did. At the cold-compile batch, compiled modes with
    an on-disk cache also report a cold first call (``first_call_cold_s``): that first call
    when the caches were cold anyway (a fresh machine: no second compile spent), else one
    more with an empty cache."""
    cls = mode_class(case.mode)
    impl, target = _prepared(case, context)
    info: dict[str, Any] = {}
    info["first_call_s"], counts = _timed_first_call(cls, target)
    info["first_call_cache"] = _cache_kind(cls, counts)
    info["compile_cache_counts"] = counts
    if cls.compile_cache != "none" and case.batch == context["cold_compile_batch"]:
        if info["first_call_cache"] == "cold":
            info["first_call_cold_s"], info["first_call_cold_cache"] = info["first_call_s"], "cold"
        else:
            with cls.empty_compile_cache():
                _, cold_target = _prepared(case, context)
                info["first_call_cold_s"], cold_counts = _timed_first_call(cls, cold_target)
                info["first_call_cold_cache"] = _cache_kind(cls, cold_counts)
            impl, target = _prepared(case, context)  # a fresh instance resets the compiler's
            target()  # in-process state: the timed instance is the last one built, warmed up
    return impl, target, info


def run_case(benchmark, case: Case, settings: Settings, context: dict) -> None:
    """Build a fresh instance, time its first call, warm up, then measure steady state."""
    probe = MemoryProbe(mode_class(case.mode).framework, case.device)
    impl, target, first = first_calls(case, context)
    rounds = rounds_for(time_once(target), settings)
    measure(benchmark, target, settings, rounds, settings.warmup_rounds)
    info = case_info(impl, case.phase, case.batch, context)
    flops = flops_per_call(case.model, case.phase, case.batch)
    info.update(flops_per_call=flops, rounds=rounds, warmup_rounds=settings.warmup_rounds,
                traces=impl.trace_count(), **first, **probe.read())
    add_rates(info, benchmark, case.batch, flops, context["peak"][case.precision]["gflops"],
              case.precision)
    benchmark.extra_info.update(info)


def stream_sizes(kind: str, count: int, seed: int = 0, high: int = 128) -> list[int]:
    """'variable': seeded sizes in 1..high; 'fixed': the same number of images in 64s."""
    sizes = np.random.default_rng(seed).integers(1, high + 1, size=count).tolist()
    if kind == "variable":
        return sizes
    full, rest = divmod(sum(sizes), 64)
    return [64] * full + ([rest] if rest else [])


def run_stream(benchmark, model: str, mode: str, variant: str, device: str, kind: str,
               settings: Settings, context: dict) -> None:
    """Train over a stream of batches (variable sizes, or fixed at 64 for the same images).

    The first pass on a fresh instance carries every trace / compile the shapes cause; the
    timed rounds that follow replay the same stream with everything compiled.
    """
    impl = build(mode, model, device, variant)
    sizes = stream_sizes(kind, settings.stream_batches)
    pool = seeded_batches(1, max(sizes), seed=0, source=context["data"])[0]
    stream = [impl.to_device(pool[0][:n], pool[1][:n]) for n in sizes]

    def one_pass() -> None:
        for batch in stream:
            impl.train_step(batch)
        impl.sync()

    first_pass = time_once(one_pass)
    traces_first_pass = impl.trace_count()
    measure(benchmark, one_pass, settings, settings.stream_rounds, 0)
    images = sum(sizes)
    info = case_info(impl, "train", 0, context)
    flops = flops_per_call(model, "train", images)
    info.update(stream=kind, batches=len(sizes), images=images, batch_sizes=sizes,
                first_pass_s=first_pass, traces=traces_first_pass,
                traces_after_rounds=impl.trace_count(), flops_per_call=flops,
                rounds=settings.stream_rounds, warmup_rounds=0)
    add_rates(info, benchmark, images, flops, context["peak"]["fp32"]["gflops"])
    if "images_per_s" in info:
        info["s_per_image"] = 1 / info["images_per_s"]
    benchmark.extra_info.update(info)


def _pipeline_over(framework: str, device: str, settings: Settings, context: dict):
    data = load(context["data"])
    count = settings.pipeline_images or len(data.train_labels)
    pipe = make_pipeline(framework, data.train_images[:count], data.train_labels[:count],
                         RECIPE.batch, device)
    return pipe, epoch_order(pipe.size, seed=0, epoch=1), data.description


def _time_epochs(benchmark, one_epoch: Callable[[], None], settings: Settings) -> float:
    """First epoch on its own (graph building, tracing), then the rounds; returns the first."""
    first = time_once(one_epoch)
    measure(benchmark, one_epoch, settings, settings.pipeline_rounds, 1)
    return first


def run_pipeline(benchmark, framework: str, device: str, settings: Settings, context: dict) -> None:
    """The input pipeline alone: one epoch of batches made and placed on the device."""
    pipe, order, description = _pipeline_over(framework, device, settings, context)
    sync = get_framework(framework).sync(device)

    def one_epoch() -> None:
        for _ in pipe.epoch(order):
            pass  # both frameworks produce each batch's values eagerly while iterating
        sync()

    first = _time_epochs(benchmark, one_epoch, settings)
    info = {"framework": framework, "device": device, "phase": "pipeline", "batch": RECIPE.batch,
            "images": pipe.size, "batches": pipe.batches_per_epoch(), "data": description,
            "first_pass_s": first, "rounds": settings.pipeline_rounds, "warmup_rounds": 1,
            "versions": context["versions"], "threads": context["threads"]}
    add_rates(info, benchmark, pipe.size, 0, context["peak"]["fp32"]["gflops"])
    benchmark.extra_info.update(info)


def run_pipeline_train(benchmark, model: str, mode: str, device: str, settings: Settings,
                       context: dict) -> None:
    """An epoch of training fed by the mode's framework pipeline: what a user's loop costs."""
    impl = build(mode, model, device)
    pipe, order, description = _pipeline_over(impl.framework, device, settings, context)

    def one_epoch() -> None:
        for batch in pipe.epoch(order):
            impl.train_step(batch)
        impl.sync()

    first = _time_epochs(benchmark, one_epoch, settings)
    info = case_info(impl, "pipeline+train", RECIPE.batch, context)
    flops = flops_per_call(model, "train", pipe.size)
    info.update(data=description, images=pipe.size, batches=pipe.batches_per_epoch(),
                first_pass_s=first, flops_per_call=flops, traces=impl.trace_count(),
                rounds=settings.pipeline_rounds, warmup_rounds=1)
    add_rates(info, benchmark, pipe.size, flops, context["peak"]["fp32"]["gflops"])
    benchmark.extra_info.update(info)


