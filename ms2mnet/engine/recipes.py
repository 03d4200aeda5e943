"""Training recipes: `recipe=protocol` (default) or `recipe=official`.

`protocol` trains every model on the one schedule of its profile (docs/protocol.md), a fair
comparison. `official` trains a model as its own published code does: each registration holds a
`Recipe` (optimiser, lr and groups, schedule, epochs, crop, batch, loss and class weights, aux weights)
with the file and line of the official code each value comes from, so a baseline that lands below its
paper can be told apart from one that needs its own recipe. Datasets, splits, crops sampling, evaluation
and selection stay the suite's: only the training recipe changes.

A profile may keep its own run length under `official` (`recipe_keeps`: smoke and tiny keep epochs,
iterations, batch and crop so that a pipeline check stays seconds long).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, open_dict

RECIPES = ("protocol", "official")
MODEL_KEYS = ("loss", "loss_weights", "aux_weights")


@dataclass(frozen=True)
class Recipe:
    """A model's official training recipe. `train`: values of profile.train; `model`: loss, loss_weights,
    aux_weights where they differ from the registration; `cites`: what each value was read from (file
    and line in `source`); `notes`: where the suite cannot follow the official code, and why."""
    source: str
    train: Mapping[str, Any]
    model: Mapping[str, Any] = field(default_factory=dict)
    cites: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:
        bad = set(self.model) - set(MODEL_KEYS)
        if bad:
            raise ValueError(f"Recipe.model: unknown keys {sorted(bad)} (known: {', '.join(MODEL_KEYS)})")


def apply_recipe(cfg: DictConfig, recipe: Recipe | None, model_name: str, layout: str) -> None:
    """Under `recipe=official`, write `recipe` into cfg (profile.train and the model's loss keys), in place."""
    from ms2mnet.models import for_layout

    choice = cfg.get("recipe", "protocol")
    if choice not in RECIPES:
        raise ValueError(f"recipe={choice!r}: expected one of {', '.join(RECIPES)}")
    if choice == "protocol":
        return
    if recipe is None:
        raise ValueError(f"model {model_name} registers no official recipe; use recipe=protocol")
    keeps = set(cfg.profile.get("recipe_keeps") or ())
    with open_dict(cfg):
        for key, value in recipe.train.items():
            if key not in keeps:
                cfg.profile.train[key] = _plain(value)
        for key, value in recipe.model.items():
            cfg.model[key] = _plain(for_layout(value, layout))


def _plain(value: Any) -> Any:
    """Tuples to lists and mappings to dicts, all the way down (what OmegaConf accepts)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# What an official recipe sets when its code has no such thing: no Nesterov, Lookahead, parameter
# groups, bias rules or milestones. `train_values(**official)` starts from here, so nothing of the
# profile's own optimiser leaks into a recipe.
NEUTRAL = {"nesterov": False, "lookahead": 0, "param_groups": [], "no_bias_decay": False, "bias_lr_mult": 1.0,
           "schedule_options": {}, "milestones": [], "gamma": 0.1, "momentum": 0.0}


def train_values(**official: Any) -> dict[str, Any]:
    return {**NEUTRAL, **official}


# The SSRS lineage (DeepNetsForEO's PyTorch notebook, then sstary/SSRS): SGD 0.01, momentum 0.9, weight
# decay 5e-4 on all parameters, 256 crops, batch 10, epochs of 1000 iterations, MultiStepLR 25/35/45.
SSRS_REPO = "sstary/SSRS@707b454"


def ssrs_train(epochs: int, milestones=(25, 35, 45)) -> dict[str, Any]:
    return train_values(optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="multistep",
                        milestones=list(milestones), gamma=0.1, epochs=epochs, iterations_per_epoch=1000,
                        batch_size=10, crop=256)
