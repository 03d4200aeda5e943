"""The training loop: random crops -> model -> deep-supervision loss -> SGD, checkpointed to resume.

Iteration-based: `epochs x iterations_per_epoch` steps; the optimiser and schedule are the settings'
(ms2mnet/engine/optim.py: the protocol's SGD + MultiStepLR at each epoch's end, or a model's official recipe).
Sample `k` of epoch `e` is always the same crop (RandomCrops), and the loader's own generator keeps
torch's global RNG for dropout alone, so an interrupted run resumed from its checkpoint ends with
the same weights as an uninterrupted one (on the CPU).
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from dvclive import Live
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from ms2mnet.data.sampling import RandomCrops
from ms2mnet.io import remove_stale_temporaries

from .checkpoint import RESUME_KEYS, check_state_fits, load_checkpoint, non_finite, save_checkpoint, set_rng_state
from .distributed import World, wrap
from .fingerprint import check_fingerprint
from .inference import autocast
from .losses import DeepSupervisionLoss
from .optim import build_optimizer, build_scheduler, step_schedule

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


class NonFiniteLossError(RuntimeError):
    pass


@dataclass(frozen=True)
class TrainSettings:
    crop: int
    batch_size: int
    epochs: int
    iterations_per_epoch: int
    milestones: tuple[int, ...]
    gamma: float
    lr: float
    momentum: float
    weight_decay: float
    num_workers: int
    checkpoint_every: int
    log_every: int
    sync_bn: bool | None = None   # SyncBatchNorm across processes; None: on when several GPUs train
    # The optimiser and schedule (ms2mnet/engine/optim.py); the defaults are the protocol's.
    optimizer: str = "sgd"                 # sgd | adamw | adamax
    nesterov: bool = False
    lookahead: int = 0                     # k of a Lookahead wrapper (alpha 0.5); 0: none
    param_groups: tuple = ()               # [{pattern, lr, weight_decay}, ...] by parameter name
    no_bias_decay: bool = False
    bias_lr_mult: float = 1.0
    schedule: str = "multistep"            # multistep | cosine_restarts | onecycle | poly
    schedule_options: dict | None = None   # the schedule's own arguments (T_0, pct_start, power, ...)

    @property
    def total_iterations(self) -> int:
        return self.epochs * self.iterations_per_epoch


class EpochBatches(Sampler[int]):
    """This rank's sample indices for the batches `first`..end of one epoch (a global batch is
    split across ranks, so the effective batch size does not depend on the number of GPUs)."""

    def __init__(self, batches: int, batch_size: int, first: int, world: World) -> None:
        self.batches, self.batch_size, self.first, self.world = batches, batch_size, first, world

    def __iter__(self):
        for batch in range(self.first, self.batches):
            for j in range(self.world.rank, self.batch_size, self.world.size):
                yield batch * self.batch_size + j

    def __len__(self) -> int:
        return (self.batches - self.first) * len(range(self.world.rank, self.batch_size, self.world.size))


@dataclass
class TrainState:
    """What a checkpoint restores: the optimiser, its schedule, the AMP scaler and the iteration reached."""
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    iteration: int = 0
    saved_at: int | None = None      # the iteration of the checkpoint on disk, when this training wrote or read it


def train_step(net: nn.Module, batch: dict, criterion: DeepSupervisionLoss, state: TrainState,
               device: torch.device, epoch: int, *, amp: bool, channels_last: bool, world: World) -> float:
    """One optimiser step on one batch; returns the loss (NaN, and no step, when it is not finite)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    image = batch["image"].to(device, non_blocking=True, memory_format=fmt)
    dsm = batch["dsm"].to(device, non_blocking=True, memory_format=fmt)
    label = batch["label"].to(device, non_blocking=True)
    with autocast(device, amp):
        outputs = net(image, dsm)
    loss = criterion(tuple(o.float() for o in outputs) if isinstance(outputs, tuple) else outputs.float(),
                     label, epoch)
    value = loss.detach().clone()
    if world.size > 1:  # every rank must see a non-finite loss, or the others hang in backward
        dist.all_reduce(value)
        value /= world.size
    if not torch.isfinite(value):
        return math.nan
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    return value.item()


def make_train_state(model: nn.Module, settings: TrainSettings, device: torch.device, amp: bool) -> TrainState:
    optimizer = build_optimizer(model, settings)
    scheduler = build_scheduler(optimizer, settings)
    fp16 = amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    return TrainState(optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=fp16))


def restore(model: nn.Module, state: TrainState, checkpoint: Path, fingerprint: dict | None = None) -> None:
    """Load `checkpoint` into `model` and `state`; with a `fingerprint`, only if the checkpoint's agrees."""
    saved = load_checkpoint(checkpoint, require=RESUME_KEYS)
    if fingerprint is not None:
        check_fingerprint(saved.get("fingerprint"), fingerprint, checkpoint)
    check_state_fits(saved["model"], model, checkpoint)
    model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    state.scaler.load_state_dict(saved["scaler"])
    set_rng_state(saved["rng"])
    state.iteration = state.saved_at = saved["iteration"]
    log.info("resumed %s at iteration %d", checkpoint, state.iteration)


def save(model: nn.Module, state: TrainState, checkpoint: Path, config: dict, fingerprint: dict | None) -> None:
    """Checkpoint, unless a weight is not finite: then the previous checkpoint stays (a diverged step can give
    NaN weights before the loss shows it)."""
    weights = model.state_dict()
    if bad := non_finite(weights):
        log.warning("%s not saved at iteration %d: %d tensors hold NaN or infinity (e.g. %s)", checkpoint,
                    state.iteration, len(bad), bad[0])
        return
    state.saved_at = state.iteration
    save_checkpoint(checkpoint, model=weights, optimizer=state.optimizer.state_dict(),
                    scheduler=state.scheduler.state_dict(), scaler=state.scaler.state_dict(),
                    iteration=state.iteration, config=config, fingerprint=fingerprint)


def train_one_epoch(net: nn.Module, model: nn.Module, crops: RandomCrops, criterion: DeepSupervisionLoss,
                    state: TrainState, settings: TrainSettings, *, device: torch.device, world: World, amp: bool,
                    channels_last: bool, generator: torch.Generator, live: Live | None, progress: tqdm,
                    checkpoint: Path, config: dict, fingerprint: dict | None = None, on_iteration_end=None) -> None:
    """The rest of the current epoch: from `state.iteration` to the epoch's end, logging and checkpointing.
    `on_iteration_end(iteration, epoch)` runs after each step, before the checkpoint of that iteration."""
    ipe = settings.iterations_per_epoch
    epoch = state.iteration // ipe
    crops.set_epoch(epoch)
    sampler = EpochBatches(ipe, settings.batch_size, state.iteration % ipe, world)
    loader = DataLoader(crops, batch_size=settings.batch_size // world.size, sampler=sampler,
                        num_workers=settings.num_workers, pin_memory=device.type == "cuda", generator=generator)
    net.train()
    for batch in loader:
        loss = train_step(net, batch, criterion, state, device, epoch + 1, amp=amp, channels_last=channels_last,
                          world=world)
        if not math.isfinite(loss):
            kept = ("no checkpoint with finite weights was saved" if state.saved_at is None else
                    f"the last good checkpoint (all weights finite), {checkpoint} at iteration {state.saved_at}, "
                    "is kept")
            raise NonFiniteLossError(f"non-finite loss at iteration {state.iteration + 1} (epoch {epoch + 1}); the "
                                     f"run stopped and {kept}. Lower the learning rate or disable AMP.")
        state.iteration += 1
        lr = state.optimizer.param_groups[0]["lr"]
        progress.update()
        progress.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
        if live is not None and state.iteration % settings.log_every == 0:
            live.step = state.iteration
            live.log_metric("train/loss", loss)
            live.log_metric("train/lr", lr)
        if on_iteration_end is not None:
            on_iteration_end(state.iteration, epoch + 1)
        step_schedule(state.scheduler, settings, state.iteration)
        if world.is_main and (state.iteration % settings.checkpoint_every == 0
                              or state.iteration == settings.total_iterations):
            save(model, state, checkpoint, config, fingerprint)


def trim_curves(folder: Path, iteration: int) -> None:
    """Drop the logged steps after `iteration` (all of them when training starts over): a run killed after
    logging but before its next checkpoint logs those steps again when resumed."""
    for path in (folder / "plots" / "metrics").rglob("*.tsv"):
        with path.open(newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        if not rows or "step" not in rows[0]:
            continue
        step = rows[0].index("step")
        kept = [rows[0]] + [row for row in rows[1:] if len(row) > step and int(row[step]) <= iteration]
        if len(kept) < len(rows):
            with path.open("w", newline="") as f:
                csv.writer(f, delimiter="\t").writerows(kept)
            log.info("%s: dropped %d steps logged after iteration %d", path, len(rows) - len(kept), iteration)


def train(model: nn.Module, crops: RandomCrops, criterion: DeepSupervisionLoss, settings: TrainSettings,
          run_dir: Path, device: torch.device, *, world: World = World(), amp: bool = False,
          channels_last: bool = False, resume: bool = True, config: dict | None = None,
          fingerprint: dict | None = None, on_epoch_end=None, on_iteration_end=None) -> int:
    """Train `model` in place to `settings.total_iterations`; returns the iteration reached.

    `fingerprint` (engine.fingerprint) is stored in every checkpoint, and a resume refuses a checkpoint
    whose fingerprint differs. `on_epoch_end(epoch)` (1-based) runs on every rank after each epoch, and
    `on_iteration_end(iteration, epoch)` after each step (the test-set model selections hook in here)."""
    checkpoint = Path(run_dir) / CHECKPOINT
    if settings.batch_size % world.size:
        raise ValueError(f"batch_size {settings.batch_size} must be divisible by the {world.size} processes")
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net = wrap(model, world, device, settings.sync_bn)   # SyncBatchNorm conversion, then DDP
    state = make_train_state(model, settings, device, amp)
    if world.is_main:   # a kill -9 during a save leaves its temporary file behind
        remove_stale_temporaries(checkpoint)
    if resume and checkpoint.exists():
        restore(model, state, checkpoint, fingerprint)

    if world.is_main:
        trim_curves(Path(run_dir) / "dvclive", state.iteration)
    live = Live(str(Path(run_dir) / "dvclive"), resume=state.iteration > 0, save_dvc_exp=False,
                dvcyaml=None) if world.is_main else None
    generator = torch.Generator().manual_seed(crops.seed)
    with tqdm(total=settings.total_iterations, initial=state.iteration, desc="train", unit="it",
              disable=not world.is_main) as progress:
        while state.iteration < settings.total_iterations:
            train_one_epoch(net, model, crops, criterion, state, settings, device=device, world=world, amp=amp,
                            channels_last=channels_last, generator=generator, live=live, progress=progress,
                            checkpoint=checkpoint, config=config or {}, fingerprint=fingerprint,
                            on_iteration_end=on_iteration_end)
            if on_epoch_end is not None:
                on_epoch_end(state.iteration // settings.iterations_per_epoch)
    if live is not None:
        live.end()
    return state.iteration
