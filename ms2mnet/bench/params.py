"""Parameter counts: total, trainable, and per group (see groups.py)."""

from __future__ import annotations

from torch import nn

from .groups import group_of, module_groups


def count_parameters(model: nn.Module) -> dict:
    """{"total", "trainable", "by_group": {group: count}}; shared parameters are counted once."""
    groups = module_groups(model)
    by_group = dict.fromkeys(groups, 0)
    total = trainable = 0
    for name, param in model.named_parameters():
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
        group = group_of(name, groups)
        by_group[group] = by_group.get(group, 0) + param.numel()
    return {"total": total, "trainable": trainable, "by_group": by_group}
