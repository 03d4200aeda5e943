"""The numbers the papers report, and how the report names each model.

Sources (see shared/spec/PROTOCOL.md, "The numbers to reproduce"):
- MS2MNet: the authors' seed README gives mIoU only: Vaihingen 84.14, Potsdam 86.21.
- Baselines: MFNet (TGRS 2025) Table I, OA / mF1 / mIoU, copied from a secondary note and not yet
  checked against the paper itself.
All values in percent, protocol `isprs-ssrs` (mF1 and mIoU over the five classes without clutter).
"""

from __future__ import annotations

from dataclasses import dataclass

MS2MNET_SOURCE = "MS2MNet authors' README (mIoU only)"
BASELINE_SOURCE = "MFNet (TGRS 2025) Table I, via a secondary note (unchecked)"


@dataclass(frozen=True)
class Reported:
    """Published OA / mF1 / mIoU in percent; None where the paper gives no number."""
    oa: float | None
    mf1: float | None
    miou: float | None
    source: str

    def get(self, metric: str) -> float | None:
        return getattr(self, metric)


@dataclass(frozen=True)
class ModelInfo:
    label: str        # how tables name the model
    backbone: str
    reported: dict[str, Reported]   # real dataset name -> published numbers


def _baseline(label: str, backbone: str, vaihingen: tuple[float, float, float],
              potsdam: tuple[float, float, float]) -> ModelInfo:
    return ModelInfo(label, backbone, {"vaihingen": Reported(*vaihingen, BASELINE_SOURCE),
                                       "potsdam": Reported(*potsdam, BASELINE_SOURCE)})


# Keys are registry names (BASELINES.md); backbones as the published table gives them.
MODELS: dict[str, ModelInfo] = {
    "ms2mnet": ModelInfo("MS2MNet", "2x ResNet-50", {
        "vaihingen": Reported(None, None, 84.14, MS2MNET_SOURCE),
        "potsdam": Reported(None, None, 86.21, MS2MNET_SOURCE)}),
    "fusenet": _baseline("FuseNet", "VGG-16", (90.51, 87.71, 78.71), (90.58, 91.60, 84.86)),
    "vfusenet": _baseline("vFuseNet", "VGG-16", (90.49, 87.89, 78.92), (90.22, 91.26, 84.26)),
    "esanet": _baseline("ESANet", "ResNet-34", (90.61, 88.18, 79.42), (89.74, 91.22, 84.15)),
    "sagate": _baseline("SA-GATE", "ResNet-101", (91.10, 89.81, 81.27), (87.91, 90.26, 82.53)),
    "cmgfnet": _baseline("CMGFNet", "ResNet-34", (91.72, 90.00, 82.26), (90.21, 91.40, 84.53)),
    "mftransnet": _baseline("MFTransNet", "ResNet-34", (91.22, 89.62, 81.61), (89.96, 91.11, 84.04)),
    "cmfnet": _baseline("CMFNet", "VGG-16", (91.40, 89.48, 81.44), (91.16, 92.10, 85.63)),
    "ftransunet": _baseline("FTransUNet", "R50-ViT-B", (92.40, 91.21, 84.23), (91.34, 92.41, 86.20)),
    "rs3mamba": _baseline("RS3Mamba (image only)", "R18 + VMamba", (91.64, 90.34, 82.78),
                          (90.49, 91.69, 85.01)),
}
# Not in the published table; named and described as BASELINES.md describes them.
MODELS["unetformer"] = ModelInfo("UNetFormer (image only)", "ResNet-18", {})

REFERENCE_VARIANT = "full"
SINGLE_TRUNK_VARIANTS = {"rgb_only"}


SYNTHETIC_CAVEAT = "synthetic data: pipeline check, not paper numbers"


def is_synthetic(dataset: str) -> bool:
    return dataset.startswith("synthetic")


def titled(title: str, dataset: str) -> str:
    """A table or figure title naming the dataset, with the caveat when the data are synthetic."""
    return f"{title} ({dataset}; {SYNTHETIC_CAVEAT})" if is_synthetic(dataset) else f"{title} ({dataset})"


def model_label(model: str, variant: str | None) -> str:
    info = MODELS.get(model)
    label = info.label if info else model
    if model == "ms2mnet" and variant and variant != REFERENCE_VARIANT:
        return f"{label} ({variant})"
    return label


def backbone(model: str, variant: str | None) -> str | None:
    if model == "ms2mnet" and variant in SINGLE_TRUNK_VARIANTS:
        return "ResNet-50"
    info = MODELS.get(model)
    return info.backbone if info else None


def reported(model: str, variant: str | None, dataset: str) -> Reported | None:
    """Published numbers for this configuration on a real dataset; None for synthetic data,
    unknown models and MS2MNet variants other than `full` (the papers report no ablation on this protocol)."""
    if is_synthetic(dataset) or (model == "ms2mnet" and variant not in (None, REFERENCE_VARIANT)):
        return None
    info = MODELS.get(model)
    return info.reported.get(dataset) if info else None
