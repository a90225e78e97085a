"""tf-mwms: MultiWorkerMirroredStrategy over the tf-graph step, one process per worker.

A custom loop (``strategy.run`` inside a tf.function), not Keras ``fit``. The cluster comes
from ``TF_CONFIG``; ring collectives on CPU, NCCL on cuda. As TensorFlow's guides do it,
the per-example loss is scaled by the global batch size and the gradients are summed over
the workers, which is the mean over the global batch. Each worker keeps its own copy of the
parameters (as DDP does): the summed gradients are identical on every worker, so the copies
stay equal without mirrored-variable machinery.

The strategy must exist before TensorFlow runs any op in the process: build this engine
first thing in a worker.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from impls.tf.modes import TFGraph, sgd_momentum_update, tf
from impls.weights import Weights


class TFMWMS(TFGraph):
    name = "tf-mwms"
    variants = ("default",)

    def _build(self, weights: Weights) -> None:
        comm = tf.distribute.experimental.CommunicationImplementation
        self.strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=comm.NCCL if self.device == "cuda" else comm.RING))
        resolver = self.strategy.cluster_resolver
        self.rank, self.world = resolver.task_id or 0, self.strategy.num_replicas_in_sync
        # set with each shard; a variable, not a Python number baked into the traced step
        self.global_batch = tf.Variable(1.0, trainable=False)
        super()._build(weights)
        self._steps = {reduce: tf.function(partial(self._run_step, reduce)) for reduce in (True, False)}
        self._grads = tf.function(self._run_grads)

    def set_global_batch(self, global_batch: int) -> None:
        self.global_batch.assign(float(global_batch))

    def _loss_fn(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        per_example = -tf.gather(self._net(x, True), y, axis=1, batch_dims=1)
        return tf.reduce_sum(per_example) / self.global_batch  # tf.nn.compute_average_loss's sum

    def _replica_grads(self, x: tf.Tensor, y: tf.Tensor, reduce: bool) -> tuple[tf.Tensor, list]:
        loss, grads = self._grads_eager(x, y)
        if reduce:
            grads = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, grads)
        return loss, grads

    def _replica_step(self, x: tf.Tensor, y: tf.Tensor, reduce: bool) -> tf.Tensor:
        loss, grads = self._replica_grads(x, y, reduce)
        sgd_momentum_update(self._vars, list(self.velocity.values()), grads,
                            self.recipe.lr, self.recipe.momentum)
        return loss

    def _run_step(self, reduce: bool, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return self.strategy.run(self._replica_step, args=(x, y, reduce))

    def _run_grads(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list]:
        return self.strategy.run(self._replica_grads, args=(x, y, True))

    def train_step(self, batch: Any) -> tf.Tensor:
        return self.step(batch)

    def step(self, batch: Any, allreduce: bool = True) -> tf.Tensor:
        """One training step on this worker's shard; without ``allreduce``, the same step
        with the gradient all-reduce left out, for the communication share."""
        with tf.device(self._dev):
            return self._steps[allreduce](*batch)

    def shard_mean_loss(self, loss: tf.Tensor, shard: int, global_batch: int) -> float:
        """This worker's mean loss over its shard (the loss here is its share of the global
        mean)."""
        return float(loss) * global_batch / shard

    def close(self) -> None:
        """Nothing to tear down: the collectives end with the process."""
