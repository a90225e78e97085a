"""Workers on separate network stacks, as on separate hosts: one Linux network namespace per
worker, each joined by a veth pair to a bridge, with its own address on a private subnet
(not 127.0.0.1), optionally shaped to a link speed with tc's token bucket filter.

Everything is created by ``Namespaces.create`` and removed by ``remove`` (processes left in
a namespace are killed first), also after a failure; names carry a per-group tag so two
groups never collide. Needs root and iproute2 (`ip`, and `tc` for --link-mbit).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field

INTERFACE = "eth0"  # each worker's side of its veth pair, inside its namespace


class HostsError(RuntimeError):
    """Namespaces cannot be made or used here; the message says why and what to do."""


def unavailable_reason(link_mbit: float | None = None) -> str | None:
    """Why workers cannot get namespaces here, or None."""
    if os.geteuid() != 0:
        return ("--hosts netns makes network namespaces, which needs root; run as root, or use "
                "--hosts loopback")
    for tool, needed in (("ip", True), ("tc", link_mbit is not None)):
        if needed and shutil.which(tool) is None:
            return (f"--hosts netns needs iproute2's `{tool}` (apt-get install iproute2), or use "
                    "--hosts loopback")
    return None


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 inside 10.0.0.0/8 that no address on this machine is in (random, so concurrent
    groups rarely pick the same one; a clash fails loudly when the address is added)."""
    used = [ipaddress.ip_interface(word).network for line in _run("ip", "-4", "-o", "addr").stdout
            .splitlines() for word in line.split() if "/" in word and word[0].isdigit()]
    for _ in range(100):
        net = ipaddress.ip_network(f"10.{secrets.randbelow(200) + 40}.{secrets.randbelow(254) + 1}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise HostsError("no free /24 in 10.0.0.0/8 for the workers' subnet")


@dataclass
class Namespaces:
    """``workers`` namespaces on one bridge; ``link_mbit`` shapes every worker's link both
    ways (None: unshaped)."""

    workers: int
    link_mbit: float | None = None
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    subnet: ipaddress.IPv4Network | None = None
    made: list[str] = field(default_factory=list)  # namespaces created, for remove()

    def namespace(self, rank: int) -> str:
        return f"sbs-{self.tag}-w{rank}"

    def host_link(self, rank: int) -> str:
        return f"sbs{self.tag}h{rank}"  # at most 15 characters, as Linux requires

    @property
    def bridge(self) -> str:
        return f"sbs{self.tag}br"

    def address(self, rank: int) -> str:
        assert self.subnet is not None, "create() first"
        return str(self.subnet.network_address + rank + 1)

    def prefix(self, rank: int) -> list[str]:
        """The command prefix that runs a process in worker ``rank``'s namespace."""
        return ["ip", "netns", "exec", self.namespace(rank)]

    def _do(self, *args: str) -> None:
        done = _run(*args)
        if done.returncode:
            raise HostsError(f"`{' '.join(args)}` failed: {done.stderr.strip()}")

    def create(self) -> Namespaces:
        why = unavailable_reason(self.link_mbit)
        if why:
            raise HostsError(why)
        try:
            self.subnet = _free_subnet()
            self._do("ip", "link", "add", self.bridge, "type", "bridge")
            self._do("ip", "link", "set", self.bridge, "up")
            for rank in range(self.workers):
                self._add_worker(rank)
        except (HostsError, OSError, subprocess.SubprocessError):
            self.remove()
            raise
        return self

    def _add_worker(self, rank: int) -> None:
        ns, host = self.namespace(rank), self.host_link(rank)
        self._do("ip", "netns", "add", ns)
        self.made.append(ns)
        self._do("ip", "link", "add", host, "type", "veth", "peer", "name", INTERFACE, "netns", ns)
        self._do("ip", "link", "set", host, "master", self.bridge, "up")
        inside = ["ip", "netns", "exec", ns]
        self._do(*inside, "ip", "addr", "add", f"{self.address(rank)}/{self.subnet.prefixlen}",
                 "dev", INTERFACE)
        self._do(*inside, "ip", "link", "set", INTERFACE, "up")
        self._do(*inside, "ip", "link", "set", "lo", "up")
        if self.link_mbit is not None:
            for side in ([], inside):  # towards the worker, and from it
                dev = host if not side else INTERFACE
                self._do(*side, "tc", "qdisc", "add", "dev", dev, "root", *self.shaping())

    def shaping(self) -> list[str]:
        """tbf arguments for the link speed; the burst holds 10 ms at that rate (at least
        32 kbit), so the filter passes the full rate at the kernel's timer resolution."""
        burst_bytes = max(4096, int(self.link_mbit * 1e6 / 8 / 100))
        return ["tbf", "rate", f"{self.link_mbit:g}mbit", "burst", str(burst_bytes),
                "latency", "400ms"]

    def cut(self, rank: int) -> None:
        """Take worker ``rank``'s link down, as a pulled cable."""
        self._do("ip", "link", "set", self.host_link(rank), "down")

    def links_down(self) -> list[int]:
        """Ranks whose link is down now."""
        shown = [_run("ip", "link", "show", self.host_link(rank)) for rank in range(len(self.made))]
        return [rank for rank, link in enumerate(shown)
                if link.returncode or "state DOWN" in link.stdout]

    def remove(self) -> None:
        """Kill what still runs in the namespaces, then delete them and the bridge (their
        veth pairs go with them). Safe to call twice."""
        for ns in self.made:
            for pid in _run("ip", "netns", "pids", ns).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _run("ip", "netns", "del", ns)
        self.made = []
        _run("ip", "link", "del", self.bridge)


def existing() -> list[str]:
    """This project's namespaces that exist now (for tests and a clean-up check)."""
    return [line.split()[0] for line in _run("ip", "netns", "list").stdout.splitlines()
            if line.startswith("sbs-")]
