"""Each framework's record (impls/<framework>/, registered in impls/frameworks.py): what the
registry, the machine facts and the worker groups rely on, and that benchmarks/ imports none."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import machine
from impls.frameworks import FRAMEWORKS, get_framework
from impls.registry import ENGINES, MODES, engine_class, mode_class

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = [name for name, fw in FRAMEWORKS.items() if fw.installed()]


def test_every_mode_and_engine_belongs_to_its_framework():
    for name in INSTALLED:
        fw = FRAMEWORKS[name]
        assert {mode_class(m.name).framework for m in fw.modes} == {name}
        assert {engine_class(e.name).framework for e in fw.engines} <= {name}
        assert fw.eager in {m.name for m in fw.modes}
        assert {e.mode for e in fw.engines} <= {m.name for m in fw.modes}
        assert sum(m.usual for m in fw.modes) == 1
        assert fw.engines or fw.no_engine_reason
    assert len(MODES) == sum(len(fw.modes) for fw in FRAMEWORKS.values())  # names are unique
    assert len(ENGINES) == sum(len(fw.engines) for fw in FRAMEWORKS.values())


FRAMEWORK_IMPORTS = {"torch", "tensorflow", "keras", "jax", "jaxlib"}


def test_benchmarks_imports_no_framework():
    """The harness knows frameworks only through their records: no module under benchmarks/
    imports one (data sources import their own loaders' libraries, which are not frameworks)."""
    offenders = []
    for path in sorted((ROOT / "benchmarks").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[0] in FRAMEWORK_IMPORTS]
    assert not offenders, offenders


def test_importing_the_registry_imports_no_framework():
    code = ("import sys, impls.registry, benchmarks.matrix; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{sorted(FRAMEWORK_IMPORTS)!r}))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


def test_configure_threads_reaches_every_installed_framework():
    """In a fresh process (a started runtime keeps its threads): what each one reports."""
    code = "import json; from benchmarks import machine; print(json.dumps(machine.configure_threads(1)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    threads = json.loads(run.stdout.splitlines()[-1])
    assert threads["requested_intra_op"] == 1
    # fewer threads than cores: the process is kept on that many cores, for every runtime
    assert threads["pinned_cores"] == (None if machine.cpu_count() == 1
                                       else sorted(os.sched_getaffinity(0))[:1])
    for name in INSTALLED:
        key = FRAMEWORKS[name].key
        assert threads[f"{key}_intra_op"] == 1, threads
        # XLA's CPU client has no inter-op setting: None says so, never a guess
        assert threads[f"{key}_inter_op"] == (None if name == "jax" else 1), threads


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
    from impls.tf.modes import tf

    before = tf.config.experimental.tensor_float_32_execution_enabled()
    with get_framework("tensorflow").matmul(8, "cpu", "tf32" if not before else "fp32"):
        assert tf.config.experimental.tensor_float_32_execution_enabled() is not before
    assert tf.config.experimental.tensor_float_32_execution_enabled() == before


def test_cluster_env_is_each_launchers_own():
    torch_fw, tf_fw = get_framework("torch"), get_framework("tensorflow")
    assert torch_fw.rendezvous_ports(4) == 1 and tf_fw.rendezvous_ports(4) == 4
    loopback = ["127.0.0.1"] * 2
    assert torch_fw.cluster_env(1, 2, [29500], loopback, None) == {
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "RANK": "1", "LOCAL_RANK": "1",
        "WORLD_SIZE": "2"}
    config = json.loads(tf_fw.cluster_env(1, 2, [7001, 7002], loopback, None)["TF_CONFIG"])
    assert config == {"cluster": {"worker": ["127.0.0.1:7001", "127.0.0.1:7002"]},
                      "task": {"type": "worker", "index": 1}}
    # across hosts: the rendezvous on the first worker's address, gloo on the given interface
    hosts = ["10.77.0.1", "10.77.0.2"]
    assert torch_fw.cluster_env(1, 2, [29500], hosts, "eth0") == {
        "MASTER_ADDR": "10.77.0.1", "MASTER_PORT": "29500", "RANK": "1", "LOCAL_RANK": "1",
        "WORLD_SIZE": "2", "GLOO_SOCKET_IFNAME": "eth0"}
    config = json.loads(tf_fw.cluster_env(0, 2, [7001, 7002], hosts, "eth0")["TF_CONFIG"])
    assert config["cluster"]["worker"] == ["10.77.0.1:7001", "10.77.0.2:7002"]
