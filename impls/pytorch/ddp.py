"""torch-ddp: DistributedDataParallel over the torch-eager step, one process per worker.

The cluster comes from the environment as ``torchrun`` sets it (MASTER_ADDR, MASTER_PORT,
RANK, WORLD_SIZE); `gloo` on CPU, `nccl` on cuda (one GPU per worker, by local rank).
DDP averages the gradient over the workers, so with equal shards it is the mean over the
global batch, as in one process on the whole batch.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from impls.pytorch.modes import TorchEager
from impls.weights import Weights

RENDEZVOUS_TIMEOUT = timedelta(seconds=60)  # a worker that never shows up ends the group


class TorchDDP(TorchEager):
    name = "torch-ddp"
    layouts = ("default",)

    def _build(self, weights: Weights) -> None:
        if not dist.is_initialized():
            backend = "nccl" if self.device == "cuda" else "gloo"
            if self.device == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend, timeout=RENDEZVOUS_TIMEOUT)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        super()._build(weights)  # every worker loads the same canonical weights
        self.ddp = DistributedDataParallel(self.net)  # also broadcasts rank 0's parameters

    def _loss_eager(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return torch.nn.functional.nll_loss(self.ddp(x, True), y)

    def step(self, batch: Any, allreduce: bool = True) -> torch.Tensor:
        """One training step on this worker's shard; without ``allreduce``, the same step
        with DDP's gradient all-reduce left out (``no_sync``), for the communication share."""
        if allreduce:
            return self.train_step(batch)
        with self.ddp.no_sync():
            return self.train_step(batch)

    def set_global_batch(self, global_batch: int) -> None:
        """Nothing to do: DDP averages each worker's mean loss gradient."""

    def shard_mean_loss(self, loss: torch.Tensor, shard: int, global_batch: int) -> float:
        """This worker's mean loss over its shard (DDP's loss already is)."""
        return float(loss)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()
