"""Precisions and layouts: one dtype table for both frameworks, ids, refusals, fp16 loss
scaling, and parity's low-precision checks (absolute bounds and error ratios)."""

import numpy as np
import pytest

from benchmarks.matrix import Case, selection
from benchmarks.tasks.parity import ModeResult, peer_checks, run_parity, tolerances
from impls.precision import UNIT_ROUNDOFF, layer_dtype, tag
from impls.registry import MODES, layouts_of, mode_class
from impls.spec import EXAMPLES, WORKSHOP, Conv2d, Dropout, Linear, LogSoftmax, MaxPool2d, ReLU
from tests.conftest import build_mode


def test_the_dtype_table_is_torch_autocasts_for_every_layer_the_models_use():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    ops = {Conv2d: lambda x: F.conv2d(x, torch.randn(2, x.shape[1], 3, 3)),
           Linear: lambda x: F.linear(x.flatten(1), torch.randn(3, x[0].numel())),
           MaxPool2d: lambda x: F.max_pool2d(x, 2), ReLU: F.relu,
           Dropout: lambda x: F.dropout(x, 0.5, training=True)}
    layers = {type(layer): layer for layer in WORKSHOP.layers + EXAMPLES.layers}
    for kind, op in ops.items():
        for given in (torch.float32, torch.bfloat16):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                got = op(torch.randn(2, 4, 6, 6, dtype=given)).dtype
            want = {"low": torch.bfloat16, "input": given}[layer_dtype(layers[kind], "bf16")]
            assert got == want, (kind, given)
    assert layer_dtype(layers[LogSoftmax], "bf16") == "fp32"  # softmax and loss in fp32
    assert {layer_dtype(layer, "fp32") for layer in WORKSHOP.layers} == {"fp32"}


@pytest.mark.parametrize("mode", ["torch-eager", "tf-graph"])
def test_mixed_precision_keeps_fp32_outputs_and_master_weights(mode, batch):
    impl = type(build_mode(mode, "workshop"))(WORKSHOP, "cpu", dropout=False, precision="bf16")
    native = impl.to_device(*batch)
    assert impl.forward_numpy(native).dtype == np.float32  # log-softmax cast back up
    _, grads = impl.gradients_numpy(native)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(w.dtype == np.float32 for w in impl.export_weights().values())


def test_ids_keep_fp32_default_and_name_other_configurations():
    assert Case("examples", "tf-graph", "cpu", "train", 64).id == "train-examples-tf-graph-cpu-b64"
    assert (Case("examples", "torch-eager", "cpu", "train", 64, "bf16", "channels_last").id
            == "train-examples-torch-eager-bf16-cl-cpu-b64")
    assert tag("fp32", "channels_last") == "-cl" and tag("fp16", "default") == "-fp16"


def test_default_matrix_times_tuned_configurations_on_the_flop_bound_half():
    full, quick = selection(), selection(quick=True)
    tuned = [c for c in full.cases() if (c.precision, c.layout) != ("fp32", "default")]
    assert {c.batch for c in tuned} == {64, 256} and {c.phase for c in tuned} == {"forward", "train"}
    assert all(c.layout == "default" for c in tuned if len(layouts_of(c.mode)) == 1)
    assert {c.mode for c in tuned} == {"torch-eager", "tf-graph", "jax-jit"}  # the usual modes
    assert full.modes_timed("bf16", "default") == ["torch-eager", "tf-graph", "jax-jit"]
    assert full.modes_timed("fp32", "channels_last") == ["torch-eager"]
    assert {(c.precision, c.layout) for c in quick.cases()} == {("fp32", "default")}
    explicit = selection(precisions="fp32,bf16", layouts="default")
    assert len(explicit.cases()) == 2 * len(selection(precisions="fp32", layouts="default").cases())


def test_impossible_configurations_are_refused_with_the_reason():
    for mode in MODES:
        assert mode_class(mode).layouts == layouts_of(mode)  # the registry knows without importing
    with pytest.raises(ValueError, match="tensorflow has no channels_last variant here: it runs NHWC"):
        mode_class("tf-graph")(WORKSHOP, "cpu", layout="channels_last")
    with pytest.raises(ValueError, match="tf32 runs on cuda only"):
        mode_class("torch-eager")(WORKSHOP, "cpu", precision="tf32")
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        selection(precisions="int8")


def test_tf_loss_scale_skips_overflowed_steps_and_halves_like_grad_scaler():
    from impls.tf.modes import SCALE_INIT, LossScale, tf

    scale, updates = LossScale(), []
    scale.apply([tf.constant([1.0, np.inf])], lambda: updates.append(1))
    assert updates == [] and float(scale.scale) == SCALE_INIT / 2
    scale.apply([tf.constant([1.0, 2.0])], lambda: updates.append(1))
    assert updates == [1] and int(scale.clean_steps) == 1


def result(err: float, oracle: ModeResult) -> ModeResult:
    """The oracle's numbers with a relative error ``err`` on the logits and gradients."""
    return ModeResult(oracle.logits * (1 + err), oracle.loss,
                      {n: g * (1 + err) for n, g in oracle.grads.items()}, {}, np.zeros(1))


def test_error_ratio_names_the_mode_far_worse_than_its_peers():
    rng = np.random.default_rng(0)
    oracle = ModeResult(rng.standard_normal((4, 10)), 1.0, {"w": rng.standard_normal(5)}, {},
                        np.zeros(1))
    results = {"torch-eager": result(0.01, oracle), "tf-eager": result(0.012, oracle),
               "tf-graph": result(0.05, oracle)}
    checks = peer_checks("workshop", results, oracle, 3.0)
    failed = {(c.mode, c.reference, c.quantity) for c in checks if not c.passed}
    assert failed == {("tf-graph", "torch-eager", "error-ratio:logits"),
                      ("tf-graph", "torch-eager", "error-ratio:grads"),
                      ("tf-graph", "tf-eager", "error-ratio:logits"),
                      ("tf-graph", "tf-eager", "error-ratio:grads")}


def test_low_precision_tolerances_scale_with_unit_roundoff():
    assert tolerances("bf16")["forward_rtol"] == 4 * 2.0**-8
    assert tolerances("fp16")["grad_rtol"] == 128 * UNIT_ROUNDOFF["fp16"]
    assert tolerances("fp32")["forward_rtol"] == 1e-5  # fp32 unchanged


def test_bf16_parity_passes_and_adds_the_eager_references():
    pytest.importorskip("tensorflow")
    report = run_parity(["workshop"], ["tf-graph"], steps=3, precision="bf16",
                        progress=lambda _: None)
    assert not report.failures, [(c.mode, c.quantity, c.value) for c in report.failures]
    modes = {c.mode for c in report.checks}
    assert modes == {"tf-graph", "tf-eager", "torch-eager"}
    assert any(c.quantity == "error-ratio:grads" and c.mode == "tf-graph" for c in report.checks)


def test_bf16_named_on_a_cpu_without_it_is_timed_and_labelled_emulated(tmp_path):
    """Faked flags (SIDEBYSIDE_CPU_FLAGS): the default matrix leaves emulated bf16 out; named
    in --precisions it is timed, marked emulated in the JSON, and the report says so."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "SIDEBYSIDE_CPU_FLAGS": "avx2 fma"}
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "benchmarks.cli", "run", "--quick", "--passes", "1",
                          "--precisions", "bf16", "--models", "workshop", "--modes", "torch-eager",
                          "--phases", "forward", "--batch-sizes", "4", "--data", "synthetic",
                          "--skip-parity", "--out", str(out)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    steps = [b for b in json.loads((out / "benchmarks.json").read_text())["benchmarks"]
             if b["name"].startswith("test_step")]
    assert steps and all(b["extra_info"]["precision"] == "bf16" and b["extra_info"]["emulated"]
                         for b in steps)
    assert f"- **Emulated**: {len(steps)} cases ran bf16" in (out / "report.md").read_text()
    code = ("from benchmarks.matrix import selection; from impls.precision import timing_reason; "
            "print(timing_reason('bf16', 'cpu'))")
    said = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)
    assert "no native bf16 (neither avx512_bf16 nor amx_bf16)" in said.stdout  # default: left out
