"""Refuse a bad run configuration before any work: before a folder is made or a model built.

Every problem is listed in one ConfigError line, each with the key as it is overridden on the
command line, so `seed=abc` or `profile.train.checkpoint_every=0` fail at once instead of as a
numpy cast error, a ZeroDivisionError after the first step or an error after training.
"""

from __future__ import annotations

import logging
import math
from dataclasses import MISSING, fields
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from ms2mnet.engine.trainer import TrainSettings

log = logging.getLogger(__name__)
SELECTIONS = ("last", "test_best", "authors")
MAX_SEED = 2**32 - 1    # numpy's legacy seeding accepts 0 .. 2**32 - 1


class ConfigError(ValueError):
    """The composed config cannot run; the message names each key and what it must be."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Checker:
    def __init__(self, cfg: DictConfig) -> None:
        self.cfg, self.problems = cfg, []

    def value(self, key: str) -> Any:
        return OmegaConf.select(self.cfg, key, default=None)

    def integer(self, key: str, minimum: int) -> int | None:
        value = self.value(key)
        if not _is_int(value):
            self.problems.append(f"{key}={value!r} must be an integer >= {minimum}")
            return None
        if value < minimum:
            self.problems.append(f"{key}={value} must be >= {minimum}")
            return None
        return value

    def number(self, key: str, *, positive: bool, below: float = math.inf, at_most: bool = False) -> None:
        """A finite number > 0 (positive) or >= 0, and < `below` (<= with `at_most`)."""
        value = self.value(key)
        low = "> 0" if positive else ">= 0"
        high = "" if below == math.inf else f" and {'<=' if at_most else '<'} {below:g}"
        if (not _is_number(value) or not math.isfinite(value) or (value <= 0 if positive else value < 0)
                or (value > below if at_most else value >= below)):
            self.problems.append(f"{key}={value!r} must be a finite number {low}{high}")

    def boolean(self, key: str) -> None:
        value = self.value(key)
        if not isinstance(value, bool):
            self.problems.append(f"{key}={value!r} must be true or false")


def _train_keys(checker: _Checker) -> None:
    train = checker.value("profile.train")
    expected = {f.name for f in fields(TrainSettings)}
    required = {f.name for f in fields(TrainSettings) if f.default is MISSING}   # sync_bn has a default
    given = set(train.keys()) if isinstance(train, DictConfig) else set()
    if missing := sorted(required - given):
        checker.problems.append(f"profile.train lacks {', '.join(missing)}")
    if unknown := sorted(given - expected):
        checker.problems.append(f"profile.train has unknown keys {', '.join(unknown)} (known: "
                                f"{', '.join(sorted(expected))})")


def _device(checker: _Checker) -> None:
    import torch

    name = checker.value("device")
    if name == "auto":
        return
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        checker.problems.append(f"device={name!r} must be auto, cpu, cuda or cuda:N")
        return
    if device.type == "cuda" and not torch.cuda.is_available():
        checker.problems.append(f"device={name} but CUDA is not available here; use device=cpu or device=auto")
    elif device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        checker.problems.append(f"device={name} but there are {torch.cuda.device_count()} CUDA devices")
    elif device.type not in ("cpu", "cuda"):
        checker.problems.append(f"device={name!r} must be auto, cpu, cuda or cuda:N")
def _choices(check: _Checker) -> None:
    """Named options of the evaluation, the recipe and the optimiser (#20), checked before any training."""
    from ms2mnet.engine.inference import COMBINE, WINDOWS
    from ms2mnet.engine.optim import OPTIMIZERS, SCHEDULES
    from ms2mnet.engine.recipes import RECIPES

    for key, valid, default in (("profile.eval.windows", WINDOWS, "authors"), ("profile.eval.combine", COMBINE, "logits"),
                                ("recipe", RECIPES, "protocol"), ("profile.train.optimizer", OPTIMIZERS, "sgd"),
                                ("profile.train.schedule", SCHEDULES, "multistep")):
        value = OmegaConf.select(check.cfg, key, default=default)
        if value not in valid:
            check.problems.append(f"{key}={value!r} must be one of {', '.join(valid)}")


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError naming every invalid setting of a run config; warn where it runs but is odd."""
    check = _Checker(cfg)
    seed = check.value("seed")
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        check.problems.append(f"seed={seed!r} must be an integer from 0 to {MAX_SEED}, e.g. seed=0")
    if check.value("selection") not in SELECTIONS:
        check.problems.append(f"selection={check.value('selection')!r} must be one of {', '.join(SELECTIONS)}")

    _train_keys(check)
    for key in ("crop", "batch_size", "iterations_per_epoch", "checkpoint_every", "log_every"):
        check.integer(f"profile.train.{key}", 1)
    check.integer("profile.train.num_workers", 0)
    epochs = check.integer("profile.train.epochs", 0)
    check.number("profile.train.lr", positive=True)
    check.number("profile.train.gamma", positive=True, below=1, at_most=True)   # a step decays the rate
    check.number("profile.train.momentum", positive=False, below=1)
    check.number("profile.train.weight_decay", positive=False, below=1)
    for key in ("resume", "amp", "channels_last", "profile.eval.tta"):
        check.boolean(key)
    _device(check)
    milestones = check.value("profile.train.milestones")
    if not isinstance(milestones, ListConfig) or not all(_is_int(m) and m >= 1 for m in milestones):
        check.problems.append(f"profile.train.milestones={milestones!r} must be a list of epochs >= 1, e.g. [15, 25]")

    window = check.integer("profile.eval.window", 1)
    stride = check.integer("profile.eval.stride", 1)
    if window is not None and stride is not None and window < stride:
        check.problems.append(f"profile.eval.window={window} must be >= profile.eval.stride={stride} "
                              "(else pixels between windows are never predicted)")
    check.integer("profile.eval.batch_size", 1)
    check.integer("profile.eval.figure_crop", 1)
    _choices(check)
    check.integer("profile.complexity.size", 1)
    check.integer("profile.complexity.latency_runs", 1)
    check.integer("profile.complexity.warmup", 0)

    if check.problems:
        raise ConfigError("invalid config: " + "; ".join(check.problems))
    if epochs == 0:
        log.warning("profile.train.epochs=0: nothing is trained; the run evaluates the model as initialised")
