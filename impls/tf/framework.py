"""TensorFlow's record: tf-graph, tf-eager and tf-xla, tf-mwms, TF's threads, GPUs and matmul."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from impls.framework import Comparison, EngineInfo, Framework, ModeInfo, nothing


class TensorFlow(Framework):
    name, display, key, install = ("tensorflow", "TensorFlow", "tf",
                                   "pip install 'sidebyside[cpu]'")
    version_packages = ("tensorflow", "tensorflow-cpu")
    modes = (
        ModeInfo("tf-graph", "impls.tf.modes:TFGraph", usual=True, quick=True, tuned=True,
                 line="-",
                 overhead="the Python function is traced once; a call runs the whole graph in "
                          "the C++ executor, so the per-op cost is the executor's scheduling of "
                          "one node and the per-call cost (argument handling, executor start) "
                          "dominates small graphs"),
        ModeInfo("tf-eager", "impls.tf.modes:TFEager", quick=True, line=":",
                 overhead="each op is dispatched from Python through TensorFlow's eager "
                          "runtime, which runs it as a small function; the TensorFlow Eager "
                          "paper (Agrawal et al., MLSys 2019) presents staging with tf.function "
                          "as the way to remove this per-op interpretive overhead"),
        ModeInfo("tf-xla", "impls.tf.modes:TFXLA", line="--",
                 overhead="XLA compiles the traced graph into fused machine code: per-op cost "
                          "close to zero, a per-call cost like tf.function's"),
    )
    engines = (EngineInfo("tf-mwms", "impls.tf.mwms:TFMWMS", "tf-graph", "tab:orange"),)
    eager = "tf-eager"
    comparisons = (Comparison("tf-graph", "tf-eager",
                              "define-then-run vs define-by-run inside TensorFlow"),)
    native_layout = "NHWC"
    pipeline, pipeline_name = "impls.tf.pipeline:TFPipeline", "tf.data"

    def set_threads(self, intra: int, inter: int) -> dict[str, int | None]:
        from impls.tf.modes import tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(inter)
        except RuntimeError:
            pass  # TF's runtime is initialized; its settings can no longer change
        return {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads() or None,
                "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads() or None}

    def gpu_count(self) -> int:
        from impls.tf.modes import tf

        return len(tf.config.list_physical_devices("GPU"))

    def sync(self, device: str) -> Callable[[], None]:
        # On CPU, eager ops and tf.function calls return only once their outputs are
        # computed (async eager is off by default), and sync_devices() would add ~0.3 ms.
        if device != "cuda":
            return nothing
        from impls.tf.modes import tf

        return tf.test.experimental.sync_devices

    def reset_gpu_peak(self) -> None:
        from impls.tf.modes import tf

        tf.config.experimental.reset_memory_stats("GPU:0")

    def gpu_peak_mb(self) -> float:
        from impls.tf.modes import tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20

    def rendezvous_ports(self, workers: int) -> int:
        return workers  # every worker runs a server: TF_CONFIG lists them all

    def cluster_env(self, rank: int, workers: int, ports: list[int], addresses: list[str],
                    interface: str | None) -> dict[str, str]:
        workers_at = [f"{a}:{p}" for a, p in zip(addresses, ports, strict=True)]
        return {"TF_CONFIG": json.dumps({"cluster": {"worker": workers_at},
                                         "task": {"type": "worker", "index": rank}})}

    @contextmanager
    def matmul(self, n: int, device: str, precision: str) -> Iterator[Callable[[], object]]:
        from impls.tf.modes import tf, tf_device_name

        dtype = {"bf16": tf.bfloat16, "fp16": tf.float16}.get(precision, tf.float32)
        saved = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
        sync = self.sync(device)
        try:
            with tf.device(tf_device_name(device)):
                m = tf.cast(tf.random.normal((n, n)), dtype)
                yield lambda: (tf.matmul(m, m), sync())
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(saved)


FRAMEWORK = TensorFlow()
