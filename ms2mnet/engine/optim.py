"""Optimisers and learning-rate schedules named by the training settings.

The protocol (`recipe=protocol`) is SGD with MultiStepLR stepped once per epoch. A model's official
recipe (`recipe=official`, ms2mnet/engine/recipes.py) may name another optimiser, parameter groups, a
Lookahead wrapper and another schedule; everything a resume needs lives in the optimiser's and the
scheduler's state dicts, so checkpoints are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adamw", "adamax")
SCHEDULES = ("multistep", "cosine_restarts", "onecycle", "poly")
PER_ITERATION = ("poly",)          # stepped after every iteration; the others once per epoch


def parameter_groups(model: nn.Module, groups: Sequence[Mapping[str, Any]], no_bias_decay: bool,
                     bias_lr_mult: float, lr: float, weight_decay: float) -> list[dict]:
    """One optimiser group per distinct setting. `groups`: [{"pattern": regex on the parameter name
    (re.match), "lr": ..., "weight_decay": ...}, ...], later patterns writing over earlier ones (as GeoSeg's
    process_model_params); `no_bias_decay`: biases get weight decay 0; `bias_lr_mult`: biases get that
    multiple of their group's lr (Caffe's lr_mult 2 for biases, as FuseNet trains)."""
    merged: dict[tuple, dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        options = {"lr": lr, "weight_decay": weight_decay}
        for group in groups:
            if re.match(group["pattern"], name):
                options.update({k: v for k, v in group.items() if k != "pattern"})
        if name.endswith("bias"):
            if no_bias_decay:
                options["weight_decay"] = 0.0
            options["lr"] = options["lr"] * bias_lr_mult
        key = (options["lr"], options["weight_decay"])
        merged.setdefault(key, {"params": [], **options})["params"].append(param)
    return list(merged.values())


def add_lookahead(optimizer: torch.optim.Optimizer, k: int, alpha: float = 0.5) -> None:
    """Lookahead (Zhang et al. 2019) as GeoSeg wraps AdamW (tools/utils.py L91-149): after base steps
    1, k+1, 2k+1, ... the slow weights move `alpha` of the way to the fast ones and the fast weights are
    reset to them (the slow copy starts as the weights after step 1). Its counter and slow weights live in
    the optimiser's own state, so a checkpoint resumes it."""
    def after_step(opt: torch.optim.Optimizer, args, kwargs) -> None:
        for group in opt.param_groups:
            counter = group.setdefault("lookahead_counter", 0)
            if counter == 0:
                for fast in group["params"]:
                    state = opt.state[fast]
                    slow = state.setdefault("lookahead_slow", fast.detach().clone())
                    slow += (fast.detach() - slow) * alpha
                    fast.data.copy_(slow)
            group["lookahead_counter"] = (counter + 1) % k

    optimizer.register_step_post_hook(after_step)


def build_optimizer(model: nn.Module, settings) -> torch.optim.Optimizer:
    groups = parameter_groups(model, settings.param_groups, settings.no_bias_decay, settings.bias_lr_mult,
                              settings.lr, settings.weight_decay)
    if settings.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum,
                                    weight_decay=settings.weight_decay, nesterov=settings.nesterov)
    elif settings.optimizer == "adamw":
        optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)
    elif settings.optimizer == "adamax":
        optimizer = torch.optim.Adamax(groups, lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        raise ValueError(f"profile.train.optimizer={settings.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
    if settings.lookahead:
        add_lookahead(optimizer, settings.lookahead)
    return optimizer


def build_scheduler(optimizer: torch.optim.Optimizer, settings) -> torch.optim.lr_scheduler.LRScheduler:
    options = dict(settings.schedule_options or {})
    if settings.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(settings.milestones), settings.gamma)
    if settings.schedule == "cosine_restarts":      # per epoch, as Lightning steps GeoSeg's scheduler
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, **options)
    if settings.schedule == "onecycle":             # per epoch over `epochs` steps, as ESANet's train.py
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                                   total_steps=max(settings.epochs, 1), **options)
    if settings.schedule == "poly":                 # per iteration: lr x (1 - i / total) ** power
        total, power = settings.total_iterations, options.get("power", 0.9)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: max(1 - i / total, 0.0) ** power)
    raise ValueError(f"profile.train.schedule={settings.schedule!r}: expected one of {', '.join(SCHEDULES)}")


def step_schedule(scheduler: torch.optim.lr_scheduler.LRScheduler, settings, iteration: int) -> None:
    """Advance the schedule after `iteration` (1-based) iterations are done."""
    if settings.schedule in PER_ITERATION:
        scheduler.step()
    elif iteration % settings.iterations_per_epoch == 0:
        # OneCycle has exactly `epochs` steps: one more after the last epoch would run past its end.
        if not (settings.schedule == "onecycle" and iteration >= settings.total_iterations):
            scheduler.step()
