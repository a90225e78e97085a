"""The timing harness: sync inside every timed round, warm-up outside, honest rounds."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from benchmarks.harness import DEFAULT_SETTINGS, rounds_for, stream_sizes
from benchmarks.matrix import Case, selection

ROOT = Path(__file__).resolve().parents[1]

FAKE_CLOCK = '''
EVENTS = []
NOW = [0.0]

def timer():
    EVENTS.append("t")
    return NOW[0]

def step():
    EVENTS.append("step")
    NOW[0] += 1.0

def sync():
    EVENTS.append("sync")
    NOW[0] += 0.5
'''

FAKE_BENCH = '''
import json
import os
import fakeclock
from benchmarks.harness import timed_target

def test_fake(benchmark):
    benchmark.pedantic(timed_target(fakeclock.step, fakeclock.sync), rounds=4,
                       warmup_rounds=2, iterations=1)
    with open("events.json", "w") as f:
        json.dump(fakeclock.EVENTS, f)
'''


@pytest.fixture
def inner(pytester, monkeypatch):
    """A separate pytest process in a scratch folder that can import this checkout."""
    monkeypatch.setenv("PYTHONPATH", f"{pytester.path}:{ROOT}")
    return pytester


def run_fake(pytester, *args):
    pytester.makepyfile(fakeclock=FAKE_CLOCK, test_fake=FAKE_BENCH)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           "--benchmark-timer=fakeclock.timer",
                                           "--benchmark-json=out.json", *args)
    result.assert_outcomes(passed=1)
    return (json.loads((pytester.path / "out.json").read_text())["benchmarks"][0],
            json.loads((pytester.path / "events.json").read_text()))


def test_sync_runs_inside_every_round_and_warmup_is_excluded(inner):
    bench, events = run_fake(inner)
    stats = bench["stats"]
    assert stats["rounds"] == 4  # the two warm-up rounds are not in the statistics
    assert stats["min"] == stats["max"] == 1.5  # step (1.0) + sync (0.5): sync is timed
    assert events.count("step") == 6 and events.count("sync") == 6  # warm-up did run
    assert events[-16:] == ["t", "step", "sync", "t"] * 4  # each measured round: t..work..t


def test_harness_times_a_20ms_sleep_within_10_percent(inner):
    inner.makepyfile(test_sleep='''
import time
from benchmarks.harness import timed_target

def test_sleep(benchmark):
    benchmark.pedantic(timed_target(lambda: time.sleep(0.02), lambda: None), rounds=15,
                       warmup_rounds=1, iterations=1)
''')
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "--benchmark-json=out.json")
    result.assert_outcomes(passed=1)
    median = json.loads((inner.path / "out.json").read_text())["benchmarks"][0]["stats"]["median"]
    assert 0.018 <= median <= 0.022


def test_rounds_fill_the_budget_within_bounds():
    assert rounds_for(0.001, DEFAULT_SETTINGS) == 100  # capped
    assert rounds_for(0.02, DEFAULT_SETTINGS) == 10  # 0.2 s of rounds
    assert rounds_for(2.0, DEFAULT_SETTINGS) == DEFAULT_SETTINGS.min_rounds


def test_fixed_stream_carries_the_same_images_as_the_variable_one():
    variable, fixed = stream_sizes("variable", 200), stream_sizes("fixed", 200)
    assert len(variable) == 200 and min(variable) >= 1 and max(variable) <= 128
    assert len(set(variable)) > 50  # many distinct shapes: what retracing is about
    assert sum(fixed) == sum(variable) and set(fixed[:-1]) == {64}
    assert stream_sizes("variable", 200) == variable  # seeded


def test_quick_matrix_and_ids():
    chosen = selection(quick=True)
    assert chosen.modes == ("torch-eager", "tf-graph", "tf-eager")
    assert chosen.phases == ("forward", "train") and chosen.batches == (1, 64)
    assert len(chosen.cases()) == 2 * 3 * 2 * 2
    assert Case("examples", "tf-graph", "cpu", "train", 64).id == "train-examples-tf-graph-cpu-b64"


@pytest.mark.parametrize("kwargs, message", [
    ({"modes": "jax"}, "unknown mode 'jax'"),
    ({"batch_sizes": "0"}, "--batch-sizes must all be >= 1"),
    ({"batch_sizes": "a,b"}, "comma-separated integers"),
    ({"phases": "inference"}, "unknown phase 'inference'; choose from: forward, backward, train"),
    ({"devices": "cuda"}, "no CUDA GPU is visible"),
])
def test_bad_matrix_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        selection(**kwargs, gpu_present=False)


def pytest_in_benchmarks(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_every_benchmark_function_runs_once_and_records_its_context(tmp_path):
    out = tmp_path / "b.json"
    run = pytest_in_benchmarks("--benchmark-only", "--quick", "--models", "workshop",
                               "--modes", "torch-eager,tf-eager", "--phases", "train",
                               "--batch-sizes", "4", f"--benchmark-json={out}",
                               "--benchmark-min-rounds=1", "--data", "synthetic")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    data = json.loads(out.read_text())
    names = {b["name"].split("[")[0] for b in data["benchmarks"]}
    assert names == {"test_step", "test_stream", "test_harness_noop", "test_pipeline",
                     "test_pipeline_train"}
    step = next(b for b in data["benchmarks"] if b["name"] == "test_step[train-workshop-tf-eager-cpu-b4]")
    info = step["extra_info"]
    for key in ("model", "mode", "framework", "style", "device", "phase", "batch", "images_per_s",
                "flops_per_call", "gflops", "mfu", "first_call_s", "rss_growth_mb", "versions",
                "threads", "rounds", "cores_used"):
        assert key in info, key
    assert info["images_per_s"] == pytest.approx(4 / step["stats"]["median"])
    assert 0 < info["cores_used"] <= len(os.sched_getaffinity(0)) + 0.5  # CPU time / wall
    assert 0 < info["mfu"] < 1
    assert info["data"].startswith("SYNTHETIC")  # labelled wherever it is reported
    fed = next(b for b in data["benchmarks"]
               if b["name"] == "test_pipeline_train[workshop-torch-eager-cpu-b64]")["extra_info"]
    assert fed["phase"] == "pipeline+train" and fed["images"] == 1024 and fed["batches"] == 16
    pipe = next(b for b in data["benchmarks"] if b["name"] == "test_pipeline[tensorflow-cpu-b64]")
    assert pipe["extra_info"]["images_per_s"] == pytest.approx(1024 / pipe["stats"]["median"])
    peak = data["machine_info"]["gemm_peak"]["cpu"]
    assert peak["gflops"] == max(peak["per_library_gflops"].values())
    noop = next(b for b in data["benchmarks"] if b["name"] == "test_harness_noop[noop]")
    assert 0 < noop["stats"]["median"] < 1e-3  # recorded, and far below any real step


@pytest.mark.parametrize("args, message", [
    (["--modes", "jax"], "unknown mode 'jax'"),
    (["--batch-sizes", "0"], "--batch-sizes must all be >= 1"),
    (["--devices", "cuda"], "no CUDA GPU is visible"),
    (["--data", "imagenet"], "unknown data source 'imagenet'"),
    (["--data", "idx:/nonexistent"], "/nonexistent: no such folder"),
])
def test_bad_pytest_options_are_usage_errors(args, message):
    pytest.importorskip("torch")
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    run = pytest_in_benchmarks("--benchmark-only", *args)
    assert run.returncode == 4  # pytest's usage-error exit code
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_sidebyside_run_rejects_bad_options_before_running(tmp_path, capsys):
    from benchmarks.cli import main

    assert main(["run", "--out", str(tmp_path / "o"), "--modes", "jax"]) == 2
    assert "unknown mode 'jax'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


class FakeCompiled:
    """A compiled mode whose on-disk cache is cold or warm as told; counts compiles."""

    compile_cache = "on-disk"
    compiles: ClassVar[list[str]] = []
    warm = False
    _counts: ClassVar[dict[str, int]] = {"fxgraph_cache_miss": 0, "fxgraph_cache_hit": 0}
    _in_empty = False

    @classmethod
    def compile_cache_hits(cls):
        return dict(cls._counts)

    @classmethod
    def empty_compile_cache(cls):
        from contextlib import contextmanager

        @contextmanager
        def empty():
            cls._in_empty = True
            yield
            cls._in_empty = False

        return empty()

    @classmethod
    def first_call(cls):
        hit = cls.warm and not cls._in_empty
        cls._counts["fxgraph_cache_hit" if hit else "fxgraph_cache_miss"] += 1
        cls.compiles.append("warm" if hit else "cold")


@pytest.mark.parametrize("warm, compiles", [(False, ["cold"]), (True, ["warm", "cold", "warm"])])
def test_a_cold_first_call_is_not_compiled_twice(monkeypatch, warm, compiles):
    import benchmarks.harness as harness

    FakeCompiled.warm, FakeCompiled.compiles = warm, []
    monkeypatch.setattr(harness, "mode_class", lambda mode: FakeCompiled)
    monkeypatch.setattr(harness, "_prepared", lambda case, context: (object(), FakeCompiled.first_call))
    case = Case("workshop", "torch-compile", "cpu", "train", 64)
    _, _, info = harness.first_calls(case, {"cold_compile_batch": 64})
    assert FakeCompiled.compiles == compiles
    assert info["first_call_cache"] == ("warm" if warm else "cold")
    assert info["first_call_cold_cache"] == "cold"
    if not warm:
        assert info["first_call_cold_s"] == info["first_call_s"]
