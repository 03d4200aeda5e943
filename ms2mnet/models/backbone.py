"""ResNet-50 trunks through timm, and loading of pretrained ImageNet weights (timm name or local file).

A trunk maps (B, in_chans, H, W) to four levels: stem (64 ch, 1/2, after conv-BN-ReLU, before the
max-pool), layer1 (256, 1/4), layer2 (512, 1/8), layer3 (1024, 1/16); layer4 is not built.
"""

from __future__ import annotations

import logging
from pathlib import Path

import timm
import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

PRETRAINED_TAG = "resnet50.tv_in1k"  # torchvision's ImageNet-1k v1 weights, as the authors used
TRUNK_CHANNELS = (64, 256, 512, 1024)


def resnet50_trunk(in_chans: int) -> nn.Module:
    return timm.create_model("resnet50", pretrained=False, features_only=True, out_indices=(0, 1, 2, 3),
                             in_chans=in_chans)


def resnet50_state_dict(source: bool | str | Path) -> tuple[dict[str, Tensor], str]:
    """The ResNet-50 weights to start from (timm `resnet50.tv_in1k` or a local file), and a name for messages."""
    return pretrained_state_dict(source, PRETRAINED_TAG, "resnet50-0676ba61.pth (torchvision "
                                 "ResNet50_Weights.IMAGENET1K_V1)")


def pretrained_state_dict(source: bool | str | Path, tag: str, file_hint: str) -> tuple[dict[str, Tensor], str]:
    """Pretrained weights to start from, and a name for messages.

    `True` asks timm for `tag` (needs the internet or a warm cache); a path loads a local file: a state
    dict in torchvision/timm naming, optionally under a 'state_dict' or 'model' key. `file_hint` names
    the file to download by hand when timm cannot reach the internet.
    """
    if source is True:
        try:
            model = timm.create_model(tag, pretrained=True)
        except Exception as err:  # offline clusters fail here with many different exception types
            raise RuntimeError(
                f"could not load the pretrained weights {tag} ({type(err).__name__}: {err}). "
                f"Download {file_hint} on a machine with internet access and pass pretrained=/path/to/that/file."
            ) from err
        return model.state_dict(), tag
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file {path} does not exist: pass the path of a "
                                f"{file_hint} state dict, or pretrained=true to download {tag}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state, str(path)


def load_trunk_weights(trunk: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Copy ResNet-50 weights into a trunk; a 1-channel stem gets the mean of the RGB kernel."""
    own = trunk.state_dict()
    missing = sorted(k for k in own if k not in state)
    if missing:
        raise ValueError(f"{source}: not a ResNet-50 state dict, {len(missing)} keys missing "
                         f"(first: {missing[:3]}). Expected torchvision/timm parameter names.")
    weights = {k: state[k] for k in own}
    stem = weights["conv1.weight"]
    in_chans = own["conv1.weight"].shape[1]
    if stem.shape[1] != in_chans:
        if in_chans != 1:
            raise ValueError(f"{source}: cannot adapt a {stem.shape[1]}-channel stem to {in_chans} channels")
        weights["conv1.weight"] = stem.mean(dim=1, keepdim=True)
    trunk.load_state_dict(weights)
    log.info("loaded %s into a %d-channel ResNet-50 trunk", source, in_chans)
