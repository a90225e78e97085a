"""A group of data-parallel worker processes on this machine, driven step by step.

Each worker is ``python -m benchmarks.tasks.dp_worker --serve`` in its own session (process group),
told its place in the cluster through the environment as ``torchrun`` (MASTER_ADDR,
MASTER_PORT, RANK, WORLD_SIZE) or TensorFlow (TF_CONFIG) would: over loopback, or each in its
own network namespace with its own address (``Hosts("netns")``, see netns.py). Every
command goes to all workers and returns when all have answered, within a deadline; a worker
that crashes, hangs or cannot bind its port ends the group with a WorkerError naming the
worker, the engine and the cause, and every worker process is killed.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchmarks.tasks.netns import INTERFACE, HostsError, Namespaces
from impls.frameworks import get_framework
from impls.registry import framework_of

CHECKOUT = Path(__file__).resolve().parents[2]
SETUP_TIMEOUT_S = 300.0  # imports, rendezvous, TensorFlow's server start
STEP_TIMEOUT_S = 300.0  # one command (a step at batch 256 on one thread takes ~1 s here)


class WorkerError(RuntimeError):
    """A worker failed; the message names the worker, the engine and the cause."""


def free_ports(count: int) -> list[int]:
    """Ports free on loopback now (the OS's choice); a race with another process stays
    possible and is reported as a bind failure."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@dataclass(frozen=True)
class Hosts:
    """Where the workers run: ``loopback`` (processes of this machine on 127.0.0.1) or
    ``netns`` (each in its own network namespace with its own address, as on separate
    hosts), and the link speed ``netns`` shapes every worker's link to (None: unshaped)."""

    kind: str = "loopback"
    link_mbit: float | None = None


HOST_KINDS = ("loopback", "netns")
LOOPBACK = Hosts()


class WorkerGroup:
    """``workers`` processes of ``engine`` on ``model``; use as a context manager."""

    def __init__(self, engine: str, model: str, device: str, workers: int, threads: int,
                 ports: list[int] | None = None, setup_timeout_s: float = SETUP_TIMEOUT_S,
                 step_timeout_s: float = STEP_TIMEOUT_S, hosts: Hosts = LOOPBACK):
        self.engine, self.model, self.device = engine, model, device
        self.workers, self.threads, self.hosts = workers, threads, hosts
        self.framework = get_framework(framework_of(engine))
        self.ports = ports or free_ports(self.framework.rendezvous_ports(workers))
        self.setup_timeout_s, self.step_timeout_s = setup_timeout_s, step_timeout_s
        self.procs: list[subprocess.Popen] = []
        self.logs: list[IO[bytes]] = []
        self.setup_s = float("nan")
        self.namespaces: Namespaces | None = None

    def __enter__(self) -> WorkerGroup:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        busy = [p for p in self.ports if port_in_use(p)] if self.hosts.kind == "loopback" else []
        if busy:
            raise WorkerError(f"{self.engine}: cannot bind port {busy[0]} on 127.0.0.1: it is in "
                              "use by another process; free it or let sidebyside choose ports")
        started = time.perf_counter()
        addresses, interface = ["127.0.0.1"] * self.workers, None
        if self.hosts.kind == "netns":
            try:
                self.namespaces = Namespaces(self.workers, self.hosts.link_mbit).create()
            except HostsError as err:
                raise WorkerError(f"{self.engine}: {err}") from None
            addresses = [self.namespaces.address(r) for r in range(self.workers)]
            interface = INTERFACE
        path = os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")]))
        for rank in range(self.workers):
            log = tempfile.TemporaryFile()
            env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(self.threads),
                   **self.framework.cluster_env(rank, self.workers, self.ports, addresses,
                                                interface)}
            self.logs.append(log)
            prefix = self.namespaces.prefix(rank) if self.namespaces else []
            self.procs.append(subprocess.Popen(
                [*prefix, sys.executable, "-m", "benchmarks.tasks.dp_worker", "--serve",
                 "--engine", self.engine, "--model", self.model, "--device", self.device,
                 "--threads", str(self.threads)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                start_new_session=True, bufsize=0))
        try:
            self.ready = self._collect("start", self.setup_timeout_s)
        except WorkerError:
            self.close(graceful=False)
            raise
        self.setup_s = time.perf_counter() - started

    def request(self, op: str, **fields: Any) -> list[dict[str, Any]]:
        """Send one command to every worker; each worker's answer, in rank order."""
        line = (json.dumps({"op": op, **fields}) + "\n").encode()
        try:
            for rank, proc in enumerate(self.procs):
                try:
                    proc.stdin.write(line)
                    proc.stdin.flush()
                except BrokenPipeError:
                    raise self._failure(rank, op) from None
            return self._collect(op, self.step_timeout_s)
        except WorkerError:
            self.close(graceful=False)
            raise

    def _collect(self, op: str, timeout_s: float) -> list[dict[str, Any]]:
        answers: dict[int, dict[str, Any]] = {}
        buffers = {rank: b"" for rank in range(len(self.procs))}
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as sel:
            for rank, proc in enumerate(self.procs):
                sel.register(proc.stdout, selectors.EVENT_READ, rank)
            while len(answers) < len(self.procs):
                left = deadline - time.monotonic()
                if left <= 0:
                    late = min(set(buffers) - set(answers))
                    raise WorkerError(f"{self.engine} worker {late}: no answer to {op!r} within "
                                      f"{timeout_s:.0f} s (hung, or waiting on a peer that is)"
                                      f"{self._links_down()}{self._stderr_tail(late)}")
                for key, _ in sel.select(timeout=min(left, 1.0)):
                    rank = key.data
                    chunk = os.read(key.fileobj.fileno(), 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        raise self._failure(rank, op)
                    buffers[rank] += chunk
                    if b"\n" in buffers[rank]:
                        answer, _, buffers[rank] = buffers[rank].partition(b"\n")
                        answers[rank] = json.loads(answer)
                        sel.unregister(key.fileobj)
        return [answers[rank] for rank in range(len(self.procs))]

    def _failure(self, rank: int, op: str) -> WorkerError:
        """The error for a worker that stopped answering. Its peers usually fail a moment
        later (their collective lost a member); a worker killed by a signal is the cause."""
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and self.procs[rank].poll() is None:
            time.sleep(0.05)
        time.sleep(0.2)
        killed = [r for r, p in enumerate(self.procs) if (p.poll() or 0) < 0]
        rank = killed[0] if killed and rank not in killed else rank
        code = self.procs[rank].poll()
        tail = self._stderr_tail(rank)
        cause = "closed its output" if code is None else (
            f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}")
        if "address already in use" in tail.lower():
            cause = f"cannot bind its port ({', '.join(map(str, self.ports))}): address already in use"
        return WorkerError(f"{self.engine} worker {rank} {cause} during {op!r}"
                           f"{self._links_down()}{tail}")

    def _links_down(self) -> str:
        """The likely cause when workers on namespaces stop answering: a link that is down."""
        down = self.namespaces.links_down() if self.namespaces else []
        return "".join(f"; worker {r}'s link ({self.namespaces.host_link(r)}, "
                       f"{self.namespaces.address(r)}) is down" for r in down)

    def _stderr_tail(self, rank: int, lines: int = 8) -> str:
        log = self.logs[rank]
        log.seek(0)
        text = log.read().decode(errors="replace").strip().splitlines()
        return ("; its stderr ends:\n    " + "\n    ".join(text[-lines:])) if text else ""

    @property
    def alive(self) -> bool:
        """Started and not closed (a failure closes the group)."""
        return bool(self.procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def close(self, graceful: bool = True) -> None:
        """Ask the workers to quit (``graceful``), then kill whatever is left, process group
        and all."""
        for proc in self.procs:
            try:
                if graceful and proc.poll() is None:
                    proc.stdin.write(b'{"op": "quit"}\n')
                proc.stdin.close()
            except OSError:
                pass
        deadline = time.monotonic() + (10 if graceful else 0)
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
            proc.stdout.close()
        for log in self.logs:
            log.close()
        self.procs, self.logs = [], []
        if self.namespaces is not None:
            self.namespaces.remove()
            self.namespaces = None
