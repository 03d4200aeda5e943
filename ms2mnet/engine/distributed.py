"""DistributedDataParallel plumbing for `torchrun`; a plain single process when not launched by it."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_name: str) -> tuple[World, torch.device]:
    """The process's place in the torchrun world and its device; joins the process group
    (NCCL on CUDA, gloo on the CPU) when there is more than one process."""
    world = World()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    device = resolve_device(device_name, world.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world.size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, device


def use_sync_bn(setting: bool | None, world: World, device: torch.device) -> bool:
    """`profile.train.sync_bn`: None (the default) means on when more than one process trains on GPUs.
    torch's SyncBatchNorm does not run on the CPU, so `true` there is refused."""
    if setting is None:
        return world.size > 1 and device.type == "cuda"
    if setting and world.size > 1 and device.type == "cpu":
        raise ValueError("profile.train.sync_bn=true: torch's SyncBatchNorm does not train on the CPU; "
                         "set profile.train.sync_bn=false (or null: on for several GPUs only)")
    return bool(setting) and world.size > 1


def wrap(model: nn.Module, world: World, device: torch.device, sync_bn: bool | None = None) -> nn.Module:
    """The model as this process trains it: itself alone, else DistributedDataParallel around it, its
    BatchNorm layers first converted in place to SyncBatchNorm where `use_sync_bn` says so (with batch 10
    over 4 GPUs each would otherwise normalise over 2-3 images)."""
    if world.size == 1:
        return model
    if use_sync_bn(sync_bn, world, device):
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:   # only a bare BatchNorm model is replaced rather than changed in place
            raise TypeError("sync_bn: the model itself is a BatchNorm layer; wrap it in a module")
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def close(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` -> the local rank's GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={name} requested but CUDA is not available; use device=cpu or device=auto")
    return device
