"""PyTorch's record: torch-eager and torch-compile, torch-ddp, torch's threads, GPUs and matmul."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from impls.framework import Comparison, EngineInfo, Framework, ModeInfo, nothing


class PyTorch(Framework):
    name, display, key, install = "torch", "PyTorch", "torch", "pip install torch"
    version_packages = ("torch",)
    modes = (
        ModeInfo("torch-eager", "impls.pytorch.modes:TorchEager", usual=True, quick=True,
                 tuned=True, line="-",
                 overhead="every op goes through Python, the dispatcher and (with grad) "
                          "autograd's recording, so each one pays a fixed cost whatever its size; "
                          "the PyTorch paper (Paszke et al., NeurIPS 2019) keeps that cost small "
                          "with a C++ core and hides it behind asynchronous GPU execution, which "
                          "a CPU step cannot do"),
        ModeInfo("torch-compile", "impls.pytorch.modes:TorchCompile", line="--",
                 overhead="the chain is traced once and inductor fuses it into few kernels: the "
                          "per-op cost nearly vanishes and what remains is a per-call guard check "
                          "and launch"),
    )
    engines = (EngineInfo("torch-ddp", "impls.pytorch.ddp:TorchDDP", "torch-eager", "tab:blue"),)
    eager = "torch-eager"
    comparisons = (Comparison("torch-compile", "torch-eager",
                              "compiled vs define-by-run inside PyTorch"),)
    layouts = ("default", "channels_last")
    native_layout = "NCHW"
    pipeline, pipeline_name = "impls.pytorch.pipeline:TorchPipeline", "torch DataLoader"

    def mode_reason(self, mode: str, device: str) -> str | None:
        if mode != "torch-compile":
            return None
        if sys.platform == "win32":
            return "torch.compile's inductor backend is not supported on Windows"
        if device == "cpu" and not (shutil.which("c++") or shutil.which("g++")):
            return "torch.compile on CPU needs a C++ compiler (g++) on PATH"
        return None

    def versions(self) -> dict[str, str | None]:
        import torch

        return {"cuda": torch.version.cuda,
                "cudnn": str(torch.backends.cudnn.version()) if torch.cuda.is_available() else None}

    def gpu_name(self) -> str | None:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None

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
            return nothing
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

    def cluster_env(self, rank: int, workers: int, ports: list[int], addresses: list[str],
                    interface: str | None) -> dict[str, str]:
        # torchrun's variables (the rendezvous on the first worker) and the interface gloo
        # connects its pairs over, as across machines
        return {"MASTER_ADDR": addresses[0], "MASTER_PORT": str(ports[0]), "RANK": str(rank),
                "LOCAL_RANK": str(rank), "WORLD_SIZE": str(workers),
                **({"GLOO_SOCKET_IFNAME": interface} if interface else {})}

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


FRAMEWORK = PyTorch()
