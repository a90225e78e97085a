"""Each framework's side of the harness beyond its modes: thread budget, GPUs, waiting for a
device, peak GPU memory, a data-parallel group's rendezvous and a matmul for the GEMM peak.

The harness, the machine facts and the registry ask these objects instead of branching on a
framework's name, so a third framework (JAX is the obvious one) is one class here plus its
modes and their registry lines. Every import happens inside a method: asking about one
framework never imports the other, and TensorFlow comes through ``impls.tf_modes`` (which
must load before it; see there).
"""

from __future__ import annotations

import importlib.util
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar


def _nothing() -> None:
    """Waiting on a CPU: eager ops have finished when they return."""


class Framework(ABC):
    name: ClassVar[str]  # the package, as in Mode.framework
    key: ClassVar[str]  # prefix of its entries in the run's thread record
    install: ClassVar[str]  # how a user gets it

    def installed(self) -> bool:
        return importlib.util.find_spec(self.name) is not None

    @abstractmethod
    def set_threads(self, intra: int, inter: int) -> dict[str, int | None]:
        """Apply the thread budget where the runtime still allows it (one already started
        keeps its settings); return what the framework then reports."""

    @abstractmethod
    def gpu_count(self) -> int:
        """CUDA GPUs this framework can use."""

    @abstractmethod
    def sync(self, device: str) -> Callable[[], None]:
        """A call that waits until work queued on ``device`` is done."""

    @abstractmethod
    def reset_gpu_peak(self) -> None:
        """Start a new peak for gpu_peak_mb()."""

    @abstractmethod
    def gpu_peak_mb(self) -> float:
        """Peak GPU memory this framework allocated since reset_gpu_peak()."""

    @abstractmethod
    def rendezvous_ports(self, workers: int) -> int:
        """Loopback ports a data-parallel group of ``workers`` processes needs."""

    @abstractmethod
    def cluster_env(self, rank: int, workers: int, ports: list[int]) -> dict[str, str]:
        """Worker ``rank``'s place in the group, as the framework's own launcher describes it
        (so the same worker runs under that launcher on several machines)."""

    @abstractmethod
    def matmul(self, n: int, device: str, precision: str) -> Iterator[Callable[[], object]]:
        """Context manager: inside it, a call that multiplies two n x n matrices in the
        precision's compute dtype on ``device`` and waits for the result; TF32 is on only
        for ``tf32`` and restored afterwards."""


class Torch(Framework):
    name, key, install = "torch", "torch", "pip install torch"

    def set_threads(self, intra: int, inter: int) -> dict[str, int | None]:
        import torch

        torch.set_num_threads(intra)
        try:
            torch.set_num_interop_threads(inter)
        except RuntimeError:
            pass  # parallel work already ran in this process; the getter reports the truth
        return {"torch_intra_op": torch.get_num_threads(),
                "torch_inter_op": torch.get_num_interop_threads()}

    def gpu_count(self) -> int:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    def sync(self, device: str) -> Callable[[], None]:
        if device != "cuda":
            return _nothing
        import torch

        return torch.cuda.synchronize

    def reset_gpu_peak(self) -> None:
        import torch

        torch.cuda.reset_peak_memory_stats()

    def gpu_peak_mb(self) -> float:
        import torch

        return torch.cuda.max_memory_allocated() / 2**20

    def rendezvous_ports(self, workers: int) -> int:
        return 1  # torchrun's MASTER_PORT

    def cluster_env(self, rank: int, workers: int, ports: list[int]) -> dict[str, str]:
        return {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(ports[0]), "RANK": str(rank),
                "LOCAL_RANK": str(rank), "WORLD_SIZE": str(workers)}

    @contextmanager
    def matmul(self, n: int, device: str, precision: str) -> Iterator[Callable[[], object]]:
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
        t = torch.randn(n, n, device=device).to(dtype)
        sync = self.sync(device)
        saved = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        try:
            yield lambda: (t @ t, sync())
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved


class TensorFlow(Framework):
    name, key, install = "tensorflow", "tf", "pip install 'sidebyside[cpu]'"

    def set_threads(self, intra: int, inter: int) -> dict[str, int | None]:
        from impls.tf_modes import tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(inter)
        except RuntimeError:
            pass  # TF's runtime is initialized; its settings can no longer change
        return {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads() or None,
                "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads() or None}

    def gpu_count(self) -> int:
        from impls.tf_modes import tf

        return len(tf.config.list_physical_devices("GPU"))

    def sync(self, device: str) -> Callable[[], None]:
        # On CPU, eager ops and tf.function calls return only once their outputs are
        # computed (async eager is off by default), and sync_devices() would add ~0.3 ms.
        if device != "cuda":
            return _nothing
        from impls.tf_modes import tf

        return tf.test.experimental.sync_devices

    def reset_gpu_peak(self) -> None:
        from impls.tf_modes import tf

        tf.config.experimental.reset_memory_stats("GPU:0")

    def gpu_peak_mb(self) -> float:
        from impls.tf_modes import tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20

    def rendezvous_ports(self, workers: int) -> int:
        return workers  # every worker runs a server: TF_CONFIG lists them all

    def cluster_env(self, rank: int, workers: int, ports: list[int]) -> dict[str, str]:
        return {"TF_CONFIG": json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                         "task": {"type": "worker", "index": rank}})}

    @contextmanager
    def matmul(self, n: int, device: str, precision: str) -> Iterator[Callable[[], object]]:
        from impls.tf_modes import tf, tf_device_name

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


FRAMEWORKS: dict[str, Framework] = {f.name: f for f in (Torch(), TensorFlow())}


def get_framework(name: str) -> Framework:
    """The framework a mode or engine names in its ``framework`` attribute."""
    return FRAMEWORKS[name]
