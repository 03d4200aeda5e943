"""DistributedDataParallel: two CPU processes (gloo) under torchrun train and evaluate one run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_gloo_run(prepared, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(REPO / "ablations" / "run.py"), f"paths.prepared={prepared}", f"paths.runs={tmp_path}",
               "device=cpu", "profile=tiny", "profile.train.batch_size=4"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "synthetic" / "tiny" / "ms2mnet-full" / "seed0"
    assert json.loads((run_dir / "metrics.json").read_text())["pixels"] > 0


def _sync_bn_rank(rank: int, port: int) -> None:
    """One of two gloo processes. By default (sync_bn null) the CPU keeps BatchNorm under real DDP; forced
    on (as on GPUs), BatchNorm is already SyncBatchNorm, in place, when DDP receives the model. (torch's
    DDP refuses SyncBatchNorm on CPU modules, so that DDP is a recording stand-in.)"""
    import datetime
    import os

    import torch
    import torch.distributed as dist
    from torch import nn

    from ms2mnet.engine import distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=datetime.timedelta(seconds=60))
    try:
        world, cpu = distributed.World(rank, 2, rank), torch.device("cpu")
        torch.manual_seed(rank)   # different weights per rank: DDP must broadcast rank 0's
        make = lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))  # noqa: E731
        net = distributed.wrap(make(), world, cpu)
        assert isinstance(net, nn.parallel.DistributedDataParallel) and type(net.module[1]) is nn.BatchNorm2d
        out = net(torch.ones(2, 3, 5, 5))
        gathered = [torch.empty_like(out) for _ in range(2)]
        dist.all_gather(gathered, out.detach())
        assert torch.equal(gathered[0], gathered[1])   # rank 0's weights on both ranks

        model = make()
        keys = list(model.state_dict())
        seen = []
        distributed.use_sync_bn = lambda setting, world, device: True
        nn.parallel.DistributedDataParallel = lambda module, device_ids: seen.append(type(module[1])) or module
        assert distributed.wrap(model, world, cpu, sync_bn=True) is model
        assert seen == [nn.SyncBatchNorm] and list(model.state_dict()) == keys
    finally:
        dist.destroy_process_group()


def test_sync_bn_setting():
    from ms2mnet.engine.distributed import World, use_sync_bn
    two, gpu, cpu = World(0, 2, 0), torch.device("cuda", 0), torch.device("cpu")
    assert use_sync_bn(None, two, gpu) and not use_sync_bn(None, World(), gpu) and not use_sync_bn(None, two, cpu)
    assert not use_sync_bn(False, two, gpu) and not use_sync_bn(True, World(), gpu)
    with pytest.raises(ValueError, match="profile.train.sync_bn=true"):
        use_sync_bn(True, two, cpu)


def test_sync_bn_is_converted_before_ddp_wraps_the_model_gloo():
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_sync_bn_rank, args=(port,), nprocs=2, join=True)
