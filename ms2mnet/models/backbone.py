"""ResNet trunks through timm, and loading of ImageNet weights into them (MS2MNet and the baselines).

A ResNet-50 trunk maps (B, in_chans, H, W) to four levels: stem (64 ch, 1/2, after conv-BN-ReLU, before
the max-pool), layer1 (256, 1/4), layer2 (512, 1/8), layer3 (1024, 1/16); layer4 is not built.

Weights come from `pretrained_state_dict`: `True` downloads a timm model's weights, a path loads a local
file (offline clusters). `load_trunk_weights` copies them into a trunk of any ResNet-like layout and
adapts a 1-channel stem (DSM) from the RGB kernel by the rule the paper used (mean or sum).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import timm
from torch import Tensor, nn

from ms2mnet.models.registry import WeightFile

log = logging.getLogger(__name__)

PRETRAINED_TAG = "resnet50.tv_in1k"  # torchvision's ImageNet-1k v1 weights, as the MS2MNet authors used
TRUNK_CHANNELS = (64, 256, 512, 1024)
# The file behind resnet50.tv_in1k, as torchvision publishes it (its name carries the sha256's first 8 hex).
RESNET50_TV = WeightFile(
    initialises="image trunk and DSM trunk (ResNet-50 stem, layer1-3)", file="resnet50-0676ba61.pth",
    source="torchvision ResNet50_Weights.IMAGENET1K_V1 (= timm resnet50.tv_in1k)",
    url="https://download.pytorch.org/models/resnet50-0676ba61.pth", format="torchvision ResNet-50 state dict (.pth)",
    sha256="0676ba61", dsm_stem="mean of the RGB kernel over its 3 input channels",
    keys=("conv1.weight", "layer3.5.bn3.running_var"))
StemRule = Literal["mean", "sum"]


def resnet50_trunk(in_chans: int) -> nn.Module:
    return timm.create_model("resnet50", pretrained=False, features_only=True, out_indices=(0, 1, 2, 3),
                             in_chans=in_chans)


def pretrained_state_dict(source: bool | str | Path, timm_name: str | None, download_hint: str,
                          ) -> tuple[dict[str, Tensor], str]:
    """The weights to start from, and a name for messages.

    `True` asks timm for `timm_name` (needs the internet or a warm cache; None: the weights are not on
    timm and `download_hint` says where they are); a path loads a local file: a state dict, optionally
    under a 'state_dict' or 'model' key. `download_hint` names the file to fetch by hand.
    """
    if source is True:
        if timm_name is None:
            raise RuntimeError(f"these weights cannot be downloaded automatically: {download_hint}, "
                               "and pass pretrained=/path/to/that/file")
        try:
            model = timm.create_model(timm_name, pretrained=True)
        except Exception as err:  # offline clusters fail here with many different exception types
            raise RuntimeError(
                f"could not load the pretrained weights {timm_name} ({type(err).__name__}: {err}). "
                f"{download_hint} on a machine with internet access and pass pretrained=/path/to/that/file."
            ) from err
        return model.state_dict(), timm_name
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file {path} does not exist: pass the path of a state "
                                f"dict, or pretrained=true to download {timm_name or 'them'}")
    from ms2mnet.weights.files import read_checkpoint, tensors_of   # safe reading (no code is unpickled)

    return tensors_of(read_checkpoint(path)), str(path)


def resnet50_state_dict(source: bool | str | Path) -> tuple[dict[str, Tensor], str]:
    """ResNet-50 weights: timm's `resnet50.tv_in1k` or a local file (see `pretrained_state_dict`)."""
    return pretrained_state_dict(source, PRETRAINED_TAG, "Download resnet50-0676ba61.pth (torchvision "
                                 "ResNet50_Weights.IMAGENET1K_V1)")


def load_trunk_weights(trunk: nn.Module, state: dict[str, Tensor], source: str, *, stem: StemRule = "mean",
                       arch: str = "ResNet-50", prefix: str = "", stem_key: str = "conv1.weight") -> None:
    """Copy ImageNet weights into a trunk whose parameter names match the state dict's (after `prefix`,
    e.g. 'encoder.'); extra keys (fc, layer4 of a shorter trunk) are ignored. A stem with fewer input
    channels than the file's (the DSM) gets the `stem` rule of the RGB kernel: 'mean' or 'sum'."""
    if stem not in ("mean", "sum"):
        raise ValueError(f"unknown stem rule {stem!r}; valid rules: mean, sum")
    own = trunk.state_dict()
    missing = sorted(k for k in own if prefix + k not in state)
    if missing:
        raise ValueError(f"{source}: not a {arch} state dict, {len(missing)} keys missing "
                         f"(first: {[prefix + k for k in missing[:3]]}). Expected torchvision/timm parameter "
                         "names.")
    weights = {k: state[prefix + k] for k in own}
    kernel = weights[stem_key]
    in_chans = own[stem_key].shape[1]
    if kernel.shape[1] != in_chans:
        if in_chans != 1:
            raise ValueError(f"{source}: cannot adapt a {kernel.shape[1]}-channel stem to {in_chans} channels")
        weights[stem_key] = kernel.sum(dim=1, keepdim=True) if stem == "sum" else kernel.mean(dim=1, keepdim=True)
    trunk.load_state_dict(weights)
    log.info("loaded %s into a %d-channel %s trunk", source, in_chans, arch)
