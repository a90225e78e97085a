"""Data parallel: N workers equal one process on the global batch (both engines), scaling
arithmetic, and failures (killed, hung, port taken) that end the group with a clear error and
leave no process behind."""

from __future__ import annotations

import os
import signal
import socket
import time

import numpy as np
import psutil
import pytest

from benchmarks.cli import main
from benchmarks.data.batches import seeded_batches
from benchmarks.tasks.distributed import (
    DPCase,
    annotate,
    dp_cases,
    parse_workers,
    run_dp_parity,
    summarize,
    threads_per_worker,
    write_batches,
)
from benchmarks.tasks.dp_worker import shard_rows
from benchmarks.tasks.workers import WorkerError, WorkerGroup
from impls.registry import engine_unavailable_reason


def need(engine: str) -> None:
    reason = engine_unavailable_reason(engine, "cpu")
    if reason:
        pytest.skip(f"{engine}: {reason}")


def gone(pids: list[int]) -> bool:
    """No process left with these pids (a zombie would count as left)."""
    return not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in pids)


def test_two_workers_match_one_process_on_the_global_batch_in_both_engines():
    engines = ["torch-ddp", "tf-mwms"]
    for engine in engines:
        need(engine)
    report = run_dp_parity(["workshop"], engines, [2], "cpu", threads=1, batch=8, steps=3,
                           progress=lambda msg: None)
    assert not report.skipped
    assert {c.mode for c in report.checks} == {"torch-ddp-w2", "tf-mwms-w2"}
    assert not report.failures, [(c.mode, c.quantity, c.value) for c in report.failures]
    grads = [c for c in report.checks if c.quantity.startswith("grad:")]
    assert len(grads) == 2 * 8 and max(c.max_rel for c in grads) < 1e-5


@pytest.fixture
def ddp_group(tmp_path):
    """Two torch-ddp workers, each with its shard of a 4-image batch."""
    need("torch-ddp")
    group = WorkerGroup("torch-ddp", "workshop", "cpu", 2, 1, step_timeout_s=5)
    group.start()
    group.request("batches", path=str(write_batches(tmp_path / "b.npz", seeded_batches(1, 4, 0))))
    yield group
    group.close()


def test_a_killed_worker_ends_the_step_naming_it_and_leaves_no_process(ddp_group):
    pids = ddp_group.pids()
    assert len(ddp_group.request("step")) == 2
    os.kill(pids[1], signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(WorkerError, match=r"torch-ddp worker 1 was killed by SIGKILL during 'step'"):
        ddp_group.request("step")
    assert time.monotonic() - started < 10
    assert gone(pids)


def test_a_hung_worker_times_out_naming_it_and_leaves_no_process(ddp_group):
    pids = ddp_group.pids()
    os.kill(pids[0], signal.SIGSTOP)
    with pytest.raises(WorkerError, match=r"torch-ddp worker 0: no answer to 'step' within 5 s"):
        ddp_group.request("step")
    assert gone(pids)


def test_a_port_in_use_is_named_before_any_worker_starts():
    need("torch-ddp")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        group = WorkerGroup("torch-ddp", "workshop", "cpu", 2, 1, ports=[port])
        with pytest.raises(WorkerError, match=rf"cannot bind port {port} .* in use"):
            group.start()
        assert group.pids() == []


def test_shards_are_contiguous_blocks_and_must_split_evenly():
    assert [shard_rows(8, r, 2) for r in range(2)] == [slice(0, 4), slice(4, 8)]
    with pytest.raises(ValueError, match="does not split evenly over 3 workers"):
        shard_rows(8, 0, 3)


def test_cases_threads_and_worker_counts():
    cases = dp_cases(["examples"], ["torch-ddp"], [1, 2], ["cpu"])
    assert [c.id for c in cases] == [
        "dp-examples-torch-ddp-w1-weak-cpu-b64", "dp-examples-torch-ddp-w1-strong-cpu-b256",
        "dp-examples-torch-ddp-w2-weak-cpu-b128", "dp-examples-torch-ddp-w2-weak-noreduce-cpu-b128",
        "dp-examples-torch-ddp-w2-strong-cpu-b256",
        "dp-examples-torch-ddp-w2-strong-noreduce-cpu-b256"]
    assert threads_per_worker(2, (1, 2)) == 1 and threads_per_worker(16, (1, 2, 4)) == 4
    assert parse_workers("1,2") == (1, 2)
    for bad, why in (("0", ">= 1"), ("a", "integers")):
        with pytest.raises(ValueError, match=why):
            parse_workers(bad)
    with pytest.raises(ValueError, match=r"divide the strong-scaling global batch 256 .*got 3, 6"):
        parse_workers("1,3,4,6")


def fake_result(case: DPCase, median_s: float) -> dict:
    return {"name": case.id, "stats": {"median": median_s, "rounds": 5},
            "extra_info": {"model": case.model, "engine": case.engine, "device": case.device,
                           "phase": "dp-train", "workers": case.workers, "scaling": case.scaling,
                           "batch": case.batch, "allreduce": case.allreduce,
                           "images_per_s": case.batch / median_s}}


def test_scaling_efficiency_and_communication_share():
    one = DPCase("examples", "tf-mwms", "cpu", 1, "weak", 64)
    two = DPCase("examples", "tf-mwms", "cpu", 2, "weak", 128)
    two_alone = DPCase("examples", "tf-mwms", "cpu", 2, "weak", 128, allreduce=False)
    raw = {"benchmarks": [fake_result(one, 0.100), fake_result(two, 0.125),
                          fake_result(two_alone, 0.100)]}
    frame = summarize(raw).set_index("name")
    # 2 workers: 128 / 0.125 = 1024 images/s against 2 x 640 -> 80%; 20% of the step reduces
    assert frame.at[two.id, "scaling_efficiency"] == pytest.approx(0.8)
    assert frame.at[two.id, "comm_share"] == pytest.approx(0.2)
    assert frame.at[one.id, "scaling_efficiency"] == pytest.approx(1.0)
    assert np.isnan(frame.at[one.id, "comm_share"])
    info = {b["name"]: b["extra_info"] for b in annotate(raw)["benchmarks"]}
    assert info[two.id]["scaling_efficiency"] == pytest.approx(0.8)
    assert info[one.id]["comm_share"] is None


def test_command_refuses_bad_input_before_starting_workers(capsys):
    from benchmarks.cli import main

    for argv, message in ((["--workers", "0"], ">= 1"), (["--engines", "horovod"], "unknown engine"),
                          (["--device", "tpu"], "unknown device"),
                          (["--workers", "1,3"], "divide the strong-scaling global batch 256")):
        with pytest.raises(SystemExit) as exit_info:
            main(["distributed", *argv])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert main(["distributed", "--workers", "1,4", "--parity-batch", "6", "--out", "/nonexistent"]) == 2
    assert "parity batch 6 does not split evenly over 4 workers" in capsys.readouterr().err
    import benchmarks.cli as cli

    if not cli.gpu_present():
        assert main(["distributed", "--device", "cuda"]) == 2
        assert "sees no CUDA GPU" in capsys.readouterr().err


def test_namespaces_without_root_are_refused_with_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["distributed", "--hosts", "netns", "--workers", "2", "--quick",
                 "--out", str(tmp_path / "o")]) == 2
    assert "needs root" in capsys.readouterr().err and not (tmp_path / "o").exists()
    monkeypatch.undo()
    assert main(["distributed", "--link-mbit", "100", "--out", str(tmp_path / "o")]) == 2
    assert "use it with --hosts netns" in capsys.readouterr().err


def test_each_link_speed_is_its_own_series_and_the_ring_bound_is_the_links():
    """The same cases at two link speeds: efficiency and share per link, and the least time
    a 2-worker ring all-reduce of examples' 4.8 MB of gradients needs at 100 Mbit/s."""
    from benchmarks.output.dp_report import link_lines, parameter_bytes

    benches = []
    for link, comm in ((None, 0.010), (100.0, 0.400)):
        for case in dp_cases(["examples"], ["torch-ddp"], [1, 2], ["cpu"]):
            step = 0.1 * case.batch / 64 / case.workers + (comm if case.allreduce and case.workers > 1 else 0)
            bench = fake_result(case, step)
            bench["extra_info"].update(hosts="netns", link_mbit=link)
            benches.append(bench)
    frame = summarize({"benchmarks": benches})
    two = frame[(frame.workers == 2) & frame.allreduce & (frame.scaling == "weak")].set_index("link")
    assert two.comm_share["netns, unshaped"] == pytest.approx(0.010 / 0.110)
    assert two.comm_share["netns, 100 Mbit/s"] == pytest.approx(0.400 / 0.500)
    assert two.scaling_efficiency["netns, 100 Mbit/s"] == pytest.approx(0.1 / 0.5)
    assert parameter_bytes("examples") == 4 * 1_199_882
    text = "\n".join(link_lines(frame))
    # 2 (N-1) / N x 4,799,528 bytes x 8 bits / 100e6 bit/s = 384.0 ms
    assert "| examples | 4.80 MB | torch-ddp | weak | netns, 100 Mbit/s | 2 | 384.0 ms | 400.0 ms |" in text
    assert "| netns, unshaped | 2 | - | 10.0 ms |" in text
