"""The groups complexity is reported by (encoder, fusion, VFE, decoder, heads for MS2MNet).

A model may declare `complexity_groups = {group: (module prefix, ...)}`; a module belongs to the group
of its longest matching prefix. Models that declare nothing are grouped by their top-level children.
"""

from __future__ import annotations

from torch import nn

OTHER = "other"  # parameters or ops that sit on the model itself, outside every declared group


def module_groups(model: nn.Module) -> dict[str, tuple[str, ...]]:
    """The model's declared groups, or one group per top-level child."""
    declared = getattr(model, "complexity_groups", None)
    if declared:
        return {group: tuple(prefixes) for group, prefixes in declared.items()}
    return {name: (name,) for name, _ in model.named_children()}


def group_of(name: str, groups: dict[str, tuple[str, ...]]) -> str:
    """The group of a module or parameter name: the one with the longest prefix that covers it."""
    best, best_length = OTHER, -1
    for group, prefixes in groups.items():
        for prefix in prefixes:
            covers = name == prefix or name.startswith(prefix + ".")
            if covers and len(prefix) > best_length:
                best, best_length = group, len(prefix)
    return best
