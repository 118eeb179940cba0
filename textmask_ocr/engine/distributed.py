"""Process-group set-up for ``torchrun`` and the few collectives the engine needs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from textmask_ocr.errors import InputError


def resolve_device(name: str | torch.device | None, flag: str = "device") -> torch.device:
    """The device ``name`` (``cpu``, ``cuda``, ``cuda:1``, ...; None: CUDA if available, else CPU).

    Raises:
        InputError: naming ``flag``, for a name that is no device or a GPU this machine lacks.
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(f"{flag} {name!r}: not a device (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"{flag} {name}: no CUDA GPU is available")
        if device.index is not None and device.index >= count:
            raise InputError(f"{flag} {name}: this machine has {count} CUDA GPU(s)")
    elif device.type != "cpu" and device.type != "mps":
        raise InputError(f"{flag} {name}: not supported (cpu or cuda)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{flag} {name}: MPS is not available")
    return device


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly single-process) job.

    Attributes:
        rank: global rank, 0 in a single-process run.
        world_size: number of processes.
        local_rank: rank on this machine (selects the CUDA device).
        device: the device this process computes on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Only the main process logs, draws progress bars and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls, device: str | None = None) -> DistributedContext:
        """Join the process group described by ``torchrun``'s variables, or run alone.

        Uses NCCL when CUDA is available and gloo otherwise. ``device`` overrides the choice of
        ``cuda:<local_rank>`` / ``cpu``; a plain ``"cuda"`` means each rank's ``cuda:<local_rank>``.
        """
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device is not None:
            chosen = resolve_device(device)
            if chosen.type == "cuda" and chosen.index is None:
                chosen = torch.device("cuda", local_rank)
        elif torch.cuda.is_available():
            chosen = torch.device("cuda", local_rank)
        else:
            chosen = torch.device("cpu")
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        if world_size > 1 and not dist.is_initialized():
            backend = "nccl" if chosen.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=chosen)

    def all_reduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum a tensor over all processes (identity in a single-process run)."""
        if not self.is_distributed:
            return values
        values = values.to(self.device).clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def gather_objects(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order (``[value]`` in a single-process run)."""
        if not self.is_distributed:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()

    def shutdown(self) -> None:
        """Leave the process group (a no-op when none was joined)."""
        if self.is_distributed and dist.is_initialized():
            dist.barrier()  # no rank tears down its links while another still uses them
            dist.destroy_process_group()
