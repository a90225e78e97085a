"""Each framework's side of the harness (impls/frameworks.py): what the registry, the
machine facts and the worker groups rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from impls.frameworks import FRAMEWORKS, get_framework
from impls.registry import ENGINES, MODES, mode_class

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = [name for name, fw in FRAMEWORKS.items() if fw.installed()]


def test_every_mode_and_engine_names_a_known_framework():
    assert {framework for *_, framework in MODES.values()} <= set(FRAMEWORKS)
    assert {framework for _, _, framework, _ in ENGINES.values()} <= set(FRAMEWORKS)
    for name in INSTALLED:
        assert {mode_class(m).framework for m, (*_, fw) in MODES.items() if fw == name} == {name}


def test_configure_threads_reaches_every_installed_framework():
    """In a fresh process (a started runtime keeps its threads): what each one reports."""
    code = "import json; from benchmarks import machine; print(json.dumps(machine.configure_threads(1)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    threads = json.loads(run.stdout.splitlines()[-1])
    assert threads["requested_intra_op"] == 1
    for name in INSTALLED:
        key = FRAMEWORKS[name].key
        assert threads[f"{key}_intra_op"] == 1 and threads[f"{key}_inter_op"] == 1, threads


@pytest.mark.parametrize("name", INSTALLED)
def test_matmul_multiplies_on_cpu_and_waiting_there_is_free(name):
    fw = get_framework(name)
    assert fw.sync("cpu")() is None
    with fw.matmul(64, "cpu", "fp32") as run:
        product, _ = run()
    a = np.asarray(product)
    assert a.shape == (64, 64) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.abs(a).max() > 1  # a product of two normal matrices, not zeros


def test_tensorflow_matmul_restores_tf32():
    if "tensorflow" not in INSTALLED:
        pytest.skip("tensorflow is not installed")
    from impls.tf_modes import tf

    before = tf.config.experimental.tensor_float_32_execution_enabled()
    with get_framework("tensorflow").matmul(8, "cpu", "tf32" if not before else "fp32"):
        assert tf.config.experimental.tensor_float_32_execution_enabled() is not before
    assert tf.config.experimental.tensor_float_32_execution_enabled() == before


def test_cluster_env_is_each_launchers_own():
    torch_fw, tf_fw = get_framework("torch"), get_framework("tensorflow")
    assert torch_fw.rendezvous_ports(4) == 1 and tf_fw.rendezvous_ports(4) == 4
    assert torch_fw.cluster_env(1, 2, [29500]) == {
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "RANK": "1", "LOCAL_RANK": "1",
        "WORLD_SIZE": "2"}
    config = json.loads(tf_fw.cluster_env(1, 2, [7001, 7002])["TF_CONFIG"])
    assert config == {"cluster": {"worker": ["127.0.0.1:7001", "127.0.0.1:7002"]},
                      "task": {"type": "worker", "index": 1}}
