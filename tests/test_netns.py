"""Data parallel across "hosts": each worker in its own network namespace with its own
address, links shaped or cut. Needs root and iproute2; skipped with the reason elsewhere."""

import time

import pytest

from benchmarks.data.batches import seeded_batches
from benchmarks.tasks import netns
from benchmarks.tasks.distributed import run_dp_parity, write_batches
from benchmarks.tasks.workers import Hosts, WorkerError, WorkerGroup
from tests.test_distributed import gone, need

NETNS = Hosts("netns")
CUT_TIMEOUT_S = 20  # the step deadline the cut-link test gives the group
pytestmark = pytest.mark.skipif(netns.unavailable_reason(100) is not None,
                                reason=str(netns.unavailable_reason(100)))


def test_two_workers_on_separate_stacks_match_one_process_in_both_engines():
    engines = ["torch-ddp", "tf-mwms"]
    for engine in engines:
        need(engine)
    before = netns.existing()
    report = run_dp_parity(["workshop"], engines, [2], "cpu", threads=1, batch=8, steps=3,
                           progress=lambda msg: None, hosts=NETNS)
    assert not report.skipped and not report.failures
    assert {c.mode for c in report.checks} == {"torch-ddp-w2", "tf-mwms-w2"}
    assert netns.existing() == before


def test_namespaces_have_their_own_addresses_and_a_shaped_link(tmp_path):
    spaces = netns.Namespaces(2, link_mbit=100).create()
    try:
        assert spaces.address(0) != spaces.address(1) and not spaces.address(0).startswith("127.")
        assert set(spaces.made) <= set(netns.existing())
        shown = netns._run(*spaces.prefix(1), "tc", "qdisc", "show", "dev", netns.INTERFACE).stdout
        assert "tbf" in shown and "100Mbit" in shown
    finally:
        spaces.remove()
    assert not set(spaces.made) & set(netns.existing()) and spaces.tag not in " ".join(netns.existing())


@pytest.mark.parametrize("engine", ["torch-ddp", "tf-mwms"])
def test_a_cut_link_ends_the_step_naming_the_worker_and_leaves_nothing_behind(engine, tmp_path):
    need(engine)
    group = WorkerGroup(engine, "workshop", "cpu", 2, 1, step_timeout_s=CUT_TIMEOUT_S, hosts=NETNS)
    group.start()
    try:
        names, pids = list(group.namespaces.made), group.pids()
        group.request("batches", path=str(write_batches(tmp_path / "b.npz", seeded_batches(1, 4, 0))))
        assert len(group.request("step")) == 2  # completed before the cut
        group.namespaces.cut(1)
        started = time.monotonic()
        with pytest.raises(WorkerError, match=rf"{engine} worker \d.*worker 1's link .* is down"):
            group.request("step")
        assert time.monotonic() - started < CUT_TIMEOUT_S + 15
    finally:
        group.close()
    assert gone(pids)
    assert not set(names) & set(netns.existing())
