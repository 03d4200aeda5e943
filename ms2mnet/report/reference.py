"""How the report names each model and which published numbers it compares with.

Names come from the model registry (`register_model(..., label=, backbone=)`), so a new model needs no
edit here; published values come from conf/references/<dataset>.yaml (`published.py`), in percent,
protocol `isprs-ssrs` (mF1 and mIoU over the five classes without clutter), each with its source.
"""

from __future__ import annotations

from ms2mnet.models import get_model
from ms2mnet.models.registry import ModelEntry

from .published import References, Value


def _entry(model: str) -> ModelEntry | None:
    try:
        return get_model(model)
    except ValueError:   # a run of a model this checkout no longer has: name it as it is
        return None


SYNTHETIC_CAVEAT = "synthetic data, not paper numbers"


def is_synthetic(dataset: str) -> bool:
    return dataset.startswith("synthetic")


def titled(title: str, dataset: str) -> str:
    """A table or figure title naming the dataset, with the caveat when the data are synthetic."""
    return f"{title} ({dataset}; {SYNTHETIC_CAVEAT})" if is_synthetic(dataset) else f"{title} ({dataset})"


def default_variant(model: str) -> str | None:
    entry = _entry(model)
    return entry.default_variant if entry else None


def model_label(model: str, variant: str | None) -> str:
    entry = _entry(model)
    label = entry.label if entry else model
    if entry and variant and variant != entry.default_variant:
        return f"{label} ({variant})"
    return label


def backbone(model: str, variant: str | None) -> str | None:
    entry = _entry(model)
    if entry is None:
        return None
    return entry.variant_backbones.get(variant, entry.backbone) if variant else entry.backbone


def reported(refs: References, model: str, variant: str | None) -> dict[str, Value]:
    """Published numbers for this configuration (metric -> Value); empty for synthetic data, unknown models
    and variants other than the default one (ablation rows are compared as deltas, `ablation_verdict`)."""
    entry = _entry(model)
    if is_synthetic(refs.dataset) or entry is None or (variant or entry.default_variant) != entry.default_variant:
        return {}
    return refs.of(model)
