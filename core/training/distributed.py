"""Several processes, one run: PyTorch's DistributedDataParallel under torchrun.

``convstudio train`` started by ``torchrun --nproc-per-node=N`` finds the
variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, ...) and
joins the process group: NCCL on GPUs, Gloo on CPU. Each process trains its
shard of every epoch's shuffled order (the DistributedSampler's layout: rank r
takes positions r, r + N, r + 2N, ...), DDP averages gradients, validation sums
are reduced across processes, and only rank 0 writes the run folder.

With per-process batch B / N the union of the processes' batches is exactly the
single-process batch B, so the run follows the single-process run (up to batch
norm statistics, unless synchronised, and floating-point summation order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class ProcessGroup:
    """Where this process stands among the run's processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0


SINGLE_PROCESS = ProcessGroup()


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher) set the process-group variables."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def join_process_group(device_type: str) -> ProcessGroup:
    """Join the process group torchrun describes (idempotent); single process when not launched so."""
    if not launched_by_torchrun():
        return SINGLE_PROCESS
    group = ProcessGroup(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return group


def leave_process_group() -> None:
    """Tear the group down at the end of a run."""
    if dist.is_initialized():
        dist.destroy_process_group()


def device_for(group: ProcessGroup, device: torch.device) -> torch.device:
    """One GPU per process: cuda:LOCAL_RANK; other devices as they are."""
    if group.is_distributed and device.type == "cuda":
        torch.cuda.set_device(group.local_rank)
        return torch.device("cuda", group.local_rank)
    return device


class LogitsModule(nn.Module):
    """Exposes a DesignNet's logits as forward, which is what DDP wraps."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.logits(images)


def wrap_for_training(model: nn.Module, group: ProcessGroup, sync_batchnorm: bool) -> nn.Module:
    """The module the loop calls for logits: DDP around the model when distributed."""
    if not group.is_distributed:
        return LogitsModule(model)
    if sync_batchnorm:
        nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [group.local_rank] if next(model.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(LogitsModule(model), device_ids=device_ids)


def all_reduce_sum(values: torch.Tensor, group: ProcessGroup) -> torch.Tensor:
    """Sum a tensor over processes (identity in a single process)."""
    if group.is_distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values
