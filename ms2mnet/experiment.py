"""run(cfg): the one function behind every entry point. Train, then evaluate, then measure complexity.

Everything a run writes goes to runs/<dataset>/<run>/seed<k>/: config.yaml (the composed config),
env.json (commit, versions, device, seed), checkpoint.pt, dvclive/ (training curves),
metrics.json, predictions/ (palette PNGs of a fixed crop of each test tile), complexity.json.
"""

from __future__ import annotations

import logging
import platform
import random
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ms2mnet.bench.complexity import measure_complexity
from ms2mnet.bench.latency import device_name
from ms2mnet.data.sampling import RandomCrops, WholeTiles
from ms2mnet.data.store import TileStore
from ms2mnet.engine import distributed
from ms2mnet.engine.evaluate import evaluate
from ms2mnet.engine.losses import DeepSupervisionLoss
from ms2mnet.engine.trainer import TrainSettings, train
from ms2mnet.io import atomic_path, write_json
from ms2mnet.models import build_model

log = logging.getLogger(__name__)
PACKAGES = ("torch", "torchvision", "timm", "fvcore", "numpy", "hydra-core", "dvc", "dvclive", "mamba-ssm", "ms2mnet")
REPO = Path(__file__).resolve().parents[1]


def run_dir_of(cfg: DictConfig) -> Path:
    return Path(cfg.paths.runs) / cfg.dataset.name / cfg.run / f"seed{cfg.seed}"


def environment(cfg: DictConfig, device: torch.device) -> dict:
    def package_version(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                                    text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": {name: package_version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "host": platform.node(),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "seed": cfg.seed,
    }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build(cfg: DictConfig) -> torch.nn.Module:
    options = OmegaConf.to_container(cfg.model.options, resolve=True) or {}
    return build_model(cfg.model.name, variant=cfg.variant.name, num_classes=cfg.dataset.num_classes,
                       pretrained=cfg.model.pretrained, **options)


def run(cfg: DictConfig) -> dict:
    """Run one configuration end to end; returns the test metrics (on the main process)."""
    world, device = distributed.setup(cfg.device)
    run_dir = run_dir_of(cfg)
    seed_everything(cfg.seed)
    if cfg.selection not in ("last", "test_best"):
        raise ValueError(f"selection={cfg.selection}: expected last or test_best")
    store = TileStore(Path(cfg.paths.prepared) / cfg.dataset.name)
    model = build(cfg)
    container = OmegaConf.to_container(cfg, resolve=True)
    if world.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(run_dir / "config.yaml") as tmp:
            OmegaConf.save(cfg, tmp, resolve=True)
        write_json(run_dir / "env.json", environment(cfg, device))

    train_cfg, eval_cfg = cfg.profile.train, cfg.profile.eval
    settings = TrainSettings(**OmegaConf.to_container(train_cfg, resolve=True))
    crops = RandomCrops(store, "train", settings.crop, settings.iterations_per_epoch * settings.batch_size, cfg.seed)
    criterion = DeepSupervisionLoss(settings.loss, getattr(model, "aux_weights", ()), **cfg.dataset.loss_weights)
    amp = cfg.amp and device.type == "cuda"
    test_tiles = WholeTiles(store, "test")

    def evaluate_on_test(figure_dir: Path | None = None) -> dict:
        return evaluate(model, test_tiles, device, eval_cfg.window, eval_cfg.stride, eval_cfg.batch_size,
                        eval_cfg.tta, amp, figure_dir, eval_cfg.figure_crop)

    best: dict = {}

    def select_on_test(epoch: int) -> None:
        # The authors' choice: keep the epoch whose test mIoU is highest. Marked in metrics.json.
        if world.is_main:
            metrics = evaluate_on_test()
            if metrics["miou"] > best.get("metrics", {}).get("miou", -1.0):
                best.update(epoch=epoch, metrics=metrics,
                            state={k: v.detach().clone() for k, v in model.state_dict().items()})

    train(model, crops, criterion, settings, run_dir, device, world, amp, cfg.channels_last, cfg.resume,
          container, select_on_test if cfg.selection == "test_best" else None)

    metrics: dict = {}
    if world.is_main:
        if best:
            model.load_state_dict(best["state"])
        metrics = evaluate_on_test(run_dir / "predictions")
        metrics.update(selection=cfg.selection, selected_epoch=best.get("epoch", settings.epochs),
                       run=cfg.run, model=cfg.model.name, variant=cfg.variant.name, dataset=cfg.dataset.name,
                       profile=cfg.profile.name, seed=cfg.seed, eval_window=eval_cfg.window,
                       eval_stride=eval_cfg.stride, tta=eval_cfg.tta)
        if cfg.selection == "test_best":
            metrics["warning"] = "checkpoint selected on the test set (the authors' protocol), not the last one"
        write_json(run_dir / "metrics.json", metrics)
        complexity = cfg.profile.complexity
        measure_complexity(cfg.model.name, cfg.variant.name, cfg.dataset.num_classes, complexity.size,
                           device=str(device), latency_runs=complexity.latency_runs,
                           latency_warmup=complexity.warmup, amp=amp, out_path=run_dir / "complexity.json")
    distributed.barrier(world)
    distributed.close(world)
    return metrics
