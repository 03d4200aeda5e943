"""The model registry: every network the suite trains is built by name (and variant) here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass(frozen=True)
class ModelEntry:
    builder: Callable[..., nn.Module]
    variants: dict[str, dict[str, Any]] = field(default_factory=lambda: {"full": {}})
    description: str = ""


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, entry: ModelEntry) -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = entry


def list_models() -> dict[str, list[str]]:
    """Registered model names, each with its variant names (the first is the default)."""
    return {name: list(entry.variants) for name, entry in _REGISTRY.items()}


def build_model(name: str, variant: str | None = None, num_classes: int = 6, **options: Any) -> nn.Module:
    """Build `name` in `variant` (default: its first); `options` go to the constructor and win over the variant's."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(_REGISTRY)}")
    entry = _REGISTRY[name]
    variant = variant or next(iter(entry.variants))
    if variant not in entry.variants:
        raise ValueError(f"unknown variant {variant!r} of {name}; valid variants: {', '.join(entry.variants)}")
    return entry.builder(num_classes=num_classes, **{**entry.variants[variant], **options})
