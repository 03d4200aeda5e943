"""The model registry: the single source of facts about every network the suite trains.

A model is a builder `fn(num_classes, pretrained=False, **options) -> nn.Module` decorated with
`@register_model(name, label=..., backbone=..., ...)`. Its entry holds what tables, losses and configs
need to know about it (published numbers are data: conf/references/<dataset>.yaml): label, backbone, modalities, default loss
preset with its weights, aux-loss weights, and named variants (constructor overrides).

The registry imports the packages that hold models (`LOCATIONS`) on first use, so it is complete in
any process, spawned children included; a model defined elsewhere is registered by importing its
module (`import_model_module`, or `module:` in its conf/model yaml).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

# Packages whose import registers models: MS2MNet and the baselines.
LOCATIONS = ("ms2mnet.models.ms2mnet", "baselines")
NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class WeightFile:
    """One file a model's pretrained initialisation reads (ms2mnet/weights fetches, checks and resolves it).

    `sha256` is the full hash where it is known, else the prefix its publisher put in the file name
    (torchvision, torch hub: the first 8 hex digits), else None (then `keys`, tensor names the file must
    hold, check a file put in place by hand). `url` is None where no plain download exists; `manual` then
    says how to get the file. `option` is the builder keyword that receives its path."""
    initialises: str            # what it initialises, e.g. "image and DSM trunks (ResNet-50)"
    file: str                   # its name in the weights folder
    source: str                 # a timm name, or the official release it comes from
    url: str | None             # where `ms2mnet weights fetch` downloads it from
    format: str                 # e.g. "torchvision state dict (.pth)"
    sha256: str | None = None
    pretraining: str = "ImageNet-1k"   # what it was trained on (the report's init column)
    dsm_stem: str = ""          # how the 1-channel DSM stem is made from the RGB kernel ("" where none)
    keys: tuple[str, ...] = ()  # tensors the file must hold (structure check without a published hash)
    option: str = "pretrained"  # builder keyword for the file's path
    manual: str = ""            # how to get it by hand where `url` is None
    note: str = ""              # where the official code departs from its paper, or from the old runbook


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    label: str                                   # how tables name the model
    backbone: str = ""
    modalities: tuple[str, ...] = ("image", "dsm")
    loss: str = "ce"                             # default loss preset (ms2mnet.engine.losses)
    # Per dataset layout ("vaihingen", "potsdam") or one value for all; see `for_layout`.
    loss_weights: Mapping[str, Any] = field(default_factory=dict)
    aux_weights: Any = ()                        # one weight per auxiliary output, in output order
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # first = default; {} = none
    variant_backbones: Mapping[str, str] = field(default_factory=dict)       # where a variant changes it
    description: str = ""
    weights: tuple[WeightFile, ...] = ()          # the files its pretrained initialisation reads
    recipe: Any = None                           # its official training recipe (ms2mnet.engine.recipes.Recipe)

    @property
    def module(self) -> str:
        """The module whose import registers this model (a spawned child imports it)."""
        return self.builder.__module__

    @property
    def default_variant(self) -> str | None:
        return next(iter(self.variants), None)

    @property
    def variant_names(self) -> list[str | None]:
        return list(self.variants) or [None]


_REGISTRY: dict[str, ModelEntry] = {}
_locations_imported = False


def register_model(name: str, **metadata: Any) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register `fn(num_classes, pretrained=False, **options)` under `name` with its metadata
    (the fields of `ModelEntry`: label, backbone, modalities, loss, loss_weights, aux_weights,
    variants, variant_backbones, description, weights, recipe)."""
    if not NAME.fullmatch(name):
        raise ValueError(f"model name {name!r}: use lower-case letters, digits and '_' (a '-' separates the "
                         "variant in run names)")
    bad = [v for v in metadata.get("variants", {}) if not NAME.fullmatch(v)]
    if bad:
        raise ValueError(f"model {name}: variant names {bad} must be lower-case letters, digits and '_'")

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        previous = _REGISTRY.get(name)
        if previous is not None and previous.module != builder.__module__:
            raise ValueError(f"model {name!r} is already registered by {previous.module}")
        _REGISTRY[name] = ModelEntry(name, builder, **{"label": name, **metadata})
        return builder

    return decorate


def _import_locations() -> None:
    global _locations_imported
    if _locations_imported:
        return
    _locations_imported = True
    for module in LOCATIONS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:   # a missing dependency inside the package is a real error
                raise


def import_model_module(module: str | None) -> None:
    """Import a module that registers models (`module:` of a conf/model yaml); None does nothing."""
    if not module:
        return
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise ValueError(f"model module {module!r} cannot be imported ({err}); put its folder on PYTHONPATH "
                         "or fix `module:` in the model's conf/model/<name>.yaml") from err


def get_model(name: str) -> ModelEntry:
    _import_locations()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(_REGISTRY)} (a model defined "
                         "elsewhere needs `module:` in its conf/model yaml)")
    return _REGISTRY[name]


def list_models() -> dict[str, list[str | None]]:
    """Registered model names, each with its variant names (the first is the default; [None]: no variants)."""
    _import_locations()
    return {name: entry.variant_names for name, entry in _REGISTRY.items()}


def shipped_models() -> list[str]:
    """The models the suite itself ships (registered by `LOCATIONS`), without any a user or a test added."""
    _import_locations()
    return [name for name, entry in _REGISTRY.items()
            if any(entry.module == place or entry.module.startswith(place + ".") for place in LOCATIONS)]


def resolve_variant(name: str, variant: str | None) -> str | None:
    entry = get_model(name)
    variant = variant or entry.default_variant
    if variant is not None and variant not in entry.variants:
        valid = ", ".join(entry.variants) or "none (leave variant unset)"
        raise ValueError(f"unknown variant {variant!r} of {name}; valid variants: {valid}")
    return variant


def run_name(name: str, variant: str | None = None) -> str:
    """The run's folder name: `<model>-<variant>`, or `<model>` for a model without variants."""
    variant = resolve_variant(name, variant)
    return name if variant is None else f"{name}-{variant}"


def parse_run(run: str) -> tuple[str, str | None]:
    """Inverse of `run_name`: 'ms2mnet-no_dfe' -> ('ms2mnet', 'no_dfe'), 'fusenet' -> ('fusenet', None)."""
    name, _, variant = run.partition("-")
    return name, resolve_variant(name, variant or None)


def build_model(name: str, variant: str | None = None, num_classes: int = 6, **options: Any) -> nn.Module:
    """Build `name` in `variant` (default: its first); `options` go to the builder and win over the variant's."""
    entry = get_model(name)
    variant = resolve_variant(name, variant)
    overrides = entry.variants[variant] if variant is not None else {}
    return entry.builder(num_classes=num_classes, **{**overrides, **options})


def for_layout(value: Any, layout: str) -> Any:
    """A per-dataset setting: `{vaihingen: x, potsdam: y}` gives the layout's value, anything else is itself."""
    if isinstance(value, Mapping) and layout in value:
        return value[layout]
    return value
