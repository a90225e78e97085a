"""`sidebyside parity` end to end: exit codes, JSON, skips and usage errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import benchmarks.tasks.parity as parity
from benchmarks.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["parity", "--models", "workshop", "--modes", "torch-eager,tf-graph",
         "--batch", "8", "--steps", "3"]


def test_parity_passes_and_json_holds_the_printed_numbers(tmp_path, capsys):
    out = tmp_path / "parity.json"
    assert main([*SMALL, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["passed"] is True
    assert {c["mode"] for c in report["checks"]} == {"torch-eager", "tf-graph"}
    refs = {(c["mode"], c["reference"]) for c in report["checks"]}
    assert ("tf-graph", "torch-eager") in refs and ("tf-graph", "oracle") in refs
    logits = next(c for c in report["checks"] if c["mode"] == "tf-graph"
                  and c["quantity"] == "logits" and c["reference"] == "oracle")
    assert 0 < logits["max_rel"] <= parity.FORWARD_RTOL
    assert f"{logits['max_rel']:.2e}" in printed
    assert "grad:fc1.weight" in printed and "loss-curve" in printed


def test_broken_tolerance_exits_1_naming_quantity_mode_and_size(monkeypatch, capsys):
    monkeypatch.setattr(parity, "GRAD_RTOL", 1e-12)
    assert main(SMALL) == 1
    err = capsys.readouterr().err
    assert "FAIL workshop tf-graph: grad:" in err and "> tolerance 1e-12" in err


@pytest.mark.parametrize("args, message", [
    (["parity", "--modes", "jax"], "unknown mode 'jax'; choose from: torch-eager"),
    (["parity", "--models", "resnet"], "unknown model 'resnet'"),
    (["parity", "--batch", "0"], "expected a positive integer, got 0"),
    (["parity", "--device", "tpu"], "unknown device 'tpu'"),
])
def test_bad_options_are_usage_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cuda_without_gpu_skips_every_mode_with_reason(capsys):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["parity", "--models", "workshop", "--modes", "torch-eager",
                 "--device", "cuda", "--steps", "1"]) == 0
    assert "skipped torch-eager: no CUDA GPU visible to torch" in capsys.readouterr().out


@pytest.mark.parametrize("package, modes", [("tensorflow", ["tf-graph", "tf-eager", "tf-xla"]),
                                            ("jax", ["jax-jit", "jax-eager"])])
def test_without_a_framework_its_modes_skip_with_the_reason_and_torch_runs(package, modes):
    """A checkout on a machine without that framework: PYTHONPATH=., no ImportError."""
    code = (f"import sys; sys.modules[{package!r}] = None\n"  # makes find_spec and import fail
            "from benchmarks.cli import main\n"
            f"sys.exit(main(['parity', '--models', 'workshop', '--modes', "
            f"'torch-eager,{','.join(modes)}', '--batch', '8', '--steps', '2']))\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert run.returncode == 0, run.stderr
    for mode in modes:
        assert f"skipped {mode}: {package} is not installed" in run.stdout
    assert "torch-eager" in run.stdout and "1 model x mode pairs checked" in run.stdout


def test_a_one_percent_learning_rate_error_fails_the_loss_curve(monkeypatch):
    """The training checks can fail: an oracle stepping with lr 1% high is caught."""
    import dataclasses

    import benchmarks.tasks.parity as parity

    monkeypatch.setattr(parity, "RECIPE", dataclasses.replace(parity.RECIPE, lr=parity.RECIPE.lr * 1.01))
    report = parity.run_parity(["workshop"], ["torch-eager"], steps=parity.LOSS_CURVE_STEPS,
                               progress=lambda _: None)
    failed = {(c.quantity, c.reference) for c in report.failures}
    assert ("loss-curve", "oracle") in failed
    assert not any(q.startswith(("logits", "grad:")) for q, _ in failed)  # one-step checks hold
