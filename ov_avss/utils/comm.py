"""Distributed helpers that work the same with and without an initialised process group."""
from __future__ import annotations

import functools
import os
from typing import Any

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_local_rank() -> int:
    """Rank within this machine (``LOCAL_RANK`` under torchrun and our launcher)."""
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; a no-op when not distributed."""
    if get_world_size() > 1:
        if dist.get_backend() == dist.Backend.NCCL:
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


@functools.lru_cache()
def _cpu_group():
    # Objects are gathered over gloo so that Python objects never need to fit in GPU memory.
    if dist.get_backend() == dist.Backend.NCCL:
        return dist.new_group(backend="gloo")
    return dist.group.WORLD


def all_gather(data: Any) -> list[Any]:
    """Gather a picklable object from every rank; returns the list ordered by rank."""
    if get_world_size() == 1:
        return [data]
    output: list[Any] = [None] * get_world_size()
    dist.all_gather_object(output, data, group=_cpu_group())
    return output


def gather(data: Any, dst: int = 0) -> list[Any]:
    """Gather a picklable object on rank ``dst``; other ranks receive ``[]``."""
    if get_world_size() == 1:
        return [data]
    group = _cpu_group()
    if get_rank() == dst:
        output: list[Any] = [None] * get_world_size()
        dist.gather_object(data, output, dst=dst, group=group)
        return output
    dist.gather_object(data, None, dst=dst, group=group)
    return []


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place (one all-reduce) and return it."""
    if get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
