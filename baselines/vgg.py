"""VGG-16-BN encoder stacks and the SegNet decoder, shared by FuseNet, V-FuseNet and CMFNet.

An encoder is five `VGGBlock`s (2, 2, 3, 3, 3 convolutions of 64/128/256/512/512 channels, 3x3, each with
BatchNorm and ReLU); pooling (2x2 max with indices) is left to the network, which decides what it pools
(FuseNet pools the fused stream, V-FuseNet the virtual one). `SegNetDecoder` mirrors the encoder with
max-unpooling on the fused stream's indices. `load_vgg16_bn` copies ImageNet VGG-16(-BN) weights in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from ms2mnet.models.backbone import pretrained_state_dict
from ms2mnet.models.registry import WeightFile

log = logging.getLogger(__name__)

PRETRAINED_TAG = "vgg16_bn.tv_in1k"   # torchvision's ImageNet-1k VGG-16-BN weights, through timm
PRETRAINED_FILE = "Download vgg16_bn-6c64b313.pth (torchvision VGG16_BN_Weights.IMAGENET1K_V1)"
# The file the official FuseNet/V-FuseNet (DeepNetsForEO) and CMFNet (sstary/SSRS) scripts download.
VGG16_BN_TV = dict(
    file="vgg16_bn-6c64b313.pth", source="torchvision VGG16_BN_Weights.IMAGENET1K_V1 (= timm vgg16_bn.tv_in1k)",
    url="https://download.pytorch.org/models/vgg16_bn-6c64b313.pth",
    format="torchvision VGG-16-BN state dict (.pth)", sha256="6c64b313",
    keys=("features.0.weight", "features.41.running_var"))
# (channels, convolutions) per block
VGG16 = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
CHANNELS = tuple(c for c, _ in VGG16)


class ConvBNReLU(nn.Sequential):
    """3x3 conv (with bias, as VGG) -> BN -> ReLU; `relu_first` gives conv -> ReLU -> BN (CMFNet's order)."""

    def __init__(self, in_chans: int, out_chans: int, relu_first: bool = False) -> None:
        conv, bn, act = nn.Conv2d(in_chans, out_chans, 3, padding=1), nn.BatchNorm2d(out_chans), nn.ReLU(inplace=True)
        super().__init__(*((conv, act, bn) if relu_first else (conv, bn, act)))
        self.relu_first = relu_first

    @property
    def conv(self) -> nn.Conv2d:
        return self[0]

    @property
    def bn(self) -> nn.BatchNorm2d:
        return self[2] if self.relu_first else self[1]


class VGGBlock(nn.Sequential):
    """One VGG stage: `depth` ConvBNReLU at `out_chans` channels, no pooling."""

    def __init__(self, in_chans: int, out_chans: int, depth: int, relu_first: bool = False) -> None:
        super().__init__(*(ConvBNReLU(in_chans if i == 0 else out_chans, out_chans, relu_first) for i in range(depth)))


def vgg16_encoder(in_chans: int, relu_first: bool = False) -> nn.ModuleList:
    """The 13 convolutions of VGG-16-BN as five blocks (a ModuleList: the network interleaves fusion)."""
    blocks, previous = [], in_chans
    for channels, depth in VGG16:
        blocks.append(VGGBlock(previous, channels, depth, relu_first))
        previous = channels
    return nn.ModuleList(blocks)


def max_unpool(x: Tensor, indices: Tensor) -> Tensor:
    """2x max-unpooling by scatter (nn.MaxUnpool2d's size check does not survive fvcore's jit trace)."""
    b, c, h, w = x.shape                                        # B C h w -> B C 2h 2w
    out = x.new_zeros(b, c, 4 * h * w).scatter(2, indices.flatten(2), x.flatten(2))
    return out.view(b, c, 2 * h, 2 * w)


class SegNetDecoder(nn.Module):
    """SegNet's decoder: per stage (deepest first) max-unpool, then the encoder block's convolutions in
    reverse, the last one narrowing to the next stage's width; a 3x3 conv to K classes at full size.

    `skips` (optional, one per stage, deepest first) are added after unpooling (CMFNet); `dropout`
    follows the three deepest stages (FuseNet)."""

    def __init__(self, num_classes: int, dropout: float = 0.0, relu_first: bool = False) -> None:
        super().__init__()
        stages = []
        for level in reversed(range(len(VGG16))):
            channels, depth = VGG16[level]
            out = CHANNELS[level - 1] if level > 0 else channels
            convs = [ConvBNReLU(channels, channels, relu_first) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*convs, ConvBNReLU(channels, out, relu_first)) if level > 0
                          else nn.Sequential(*convs))     # block 1: conv1_2_D only, then the classifier
        self.stages = nn.ModuleList(stages)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = nn.Conv2d(CHANNELS[0], num_classes, 3, padding=1)

    def forward(self, x: Tensor, indices: Sequence[Tensor], skips: Sequence[Tensor] | None = None) -> Tensor:
        # x: the pooled deepest features (B 512 H/32 W/32); indices: pool masks, deepest first
        for i, (stage, mask) in enumerate(zip(self.stages, indices)):
            x = max_unpool(x, mask)
            if skips is not None:
                x = x + skips[i]
            x = stage(x)
            if i < 3:
                x = self.dropout(x)
        return self.head(x)


def vgg16_bn_state_dict(source: bool | str | Path) -> tuple[dict[str, Tensor], str]:
    """VGG-16-BN ImageNet weights: timm `vgg16_bn.tv_in1k` (True) or a local torchvision/timm file."""
    return pretrained_state_dict(source, PRETRAINED_TAG, PRETRAINED_FILE)


def _feature_layers(state: dict[str, Tensor]) -> tuple[list[str], list[str]]:
    """Prefixes of the convolutions and BatchNorms of `features.N`, in network order."""
    indices = sorted({int(m.group(1)) for k in state if (m := re.match(r"features\.(\d+)\.", k))})
    convs = [f"features.{i}" for i in indices if state[f"features.{i}.weight"].dim() == 4]
    bns = [f"features.{i}" for i in indices if f"features.{i}.running_mean" in state]
    return convs, bns


def load_vgg16_bn(encoder: nn.ModuleList, state: dict[str, Tensor], source: str) -> None:
    """Copy ImageNet VGG-16 weights, in order, into a `vgg16_encoder`'s 13 convolutions and BatchNorms.

    A file with BatchNorms (VGG-16-BN) fills both; a plain VGG-16 file fills the convolutions only, the
    BatchNorms keep their fresh initialisation (as FuseNet's own PyTorch port starts). A first conv with
    one input channel (a DSM stream) gets the mean of the RGB kernel over its colour channels (FuseNet,
    CMFNet); one with another width (V-FuseNet's virtual stream) keeps its random initialisation."""
    layers = [layer for block in encoder for layer in block]
    convs, bns = _feature_layers(state)
    if len(convs) != len(layers) or bns and len(bns) != len(layers):
        raise ValueError(f"{source}: not a VGG-16 state dict ({len(convs)} convolutions and {len(bns)} BatchNorms "
                         f"under 'features.N', expected {len(layers)}); pass torchvision/timm vgg16_bn weights")
    for i, layer in enumerate(layers):
        weight, bias = state[f"{convs[i]}.weight"], state[f"{convs[i]}.bias"]
        in_chans = layer.conv.in_channels
        if weight.shape[1] != in_chans:
            if i > 0:
                raise ValueError(f"{source}: {convs[i]}.weight has shape {tuple(weight.shape)}, "
                                 f"expected {tuple(layer.conv.weight.shape)}")
            if in_chans != 1:
                log.info("%s: first conv takes %d channels, kept at its random initialisation", source, in_chans)
                weight, bias = layer.conv.weight.detach(), layer.conv.bias.detach()
            else:
                weight = weight.mean(dim=1, keepdim=True)
        with torch.no_grad():
            layer.conv.weight.copy_(weight)
            layer.conv.bias.copy_(bias)
        if bns:
            layer.bn.load_state_dict({k: state[f"{bns[i]}.{k}"] for k in layer.bn.state_dict()
                                      if f"{bns[i]}.{k}" in state}, strict=False)
    log.info("loaded %s into a %d-channel VGG-16%s encoder", source, layers[0].conv.in_channels,
             "-BN" if bns else " (BatchNorms left fresh)")
