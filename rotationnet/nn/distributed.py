"""Multi-process training under ``torchrun``: the process group, this process's
rank, and the few collectives training needs.

``torchrun --nproc-per-node=N -m rotationnet.cli train ...`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_from_env` then joins the group
(gloo on CPU, nccl on CUDA) and picks this process's device.  Without those
variables everything is a single process and every collective is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rotationnet.core.errors import RotationNetError

__all__ = ["DistContext", "init_from_env", "default_device"]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, values) -> list[float]:
        """Element-wise sum of a list of numbers over all ranks."""
        if not self.enabled:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def gather_rows(self, part: torch.Tensor, total: int) -> torch.Tensor:
        """Rows computed round-robin (rank r holds rows r, r+W, ...) → all
        ``total`` rows in order, on every rank.

        Args:
            part: (ceil-or-floor(total / W), ...) this rank's rows.
        Returns:
            (total, ...) on the CPU.
        """
        if not self.enabled:
            return part
        per = -(-total // self.world_size)
        pad = torch.zeros((per,) + tuple(part.shape[1:]), dtype=part.dtype, device=self.device)
        pad[: len(part)] = part.to(self.device)
        parts = [torch.empty_like(pad) for _ in range(self.world_size)]
        dist.all_gather(parts, pad)
        out = torch.empty((total,) + tuple(part.shape[1:]), dtype=part.dtype)
        for r, p in enumerate(parts):
            n = len(range(r, total, self.world_size))
            out[r::self.world_size] = p[:n].cpu()
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_from_env(device: str | None = None) -> DistContext:
    """Join the process group torchrun describes in the environment, if any.

    Raises:
        RotationNetError: a CUDA device was asked for but there is none, or
            the group cannot be joined.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device:
        dev = torch.device(device)
    else:
        dev = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RotationNetError(f"device '{device}' asked for, but CUDA is not available")
        if world > 1 and dev.index is None:
            dev = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    ctx = DistContext(rank=rank, world_size=world, local_rank=local, device=dev)
    if world > 1 and not dist.is_initialized():
        try:
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        except (RuntimeError, ValueError) as e:
            raise RotationNetError(f"cannot join the torchrun process group: {e}") from None
    return ctx
