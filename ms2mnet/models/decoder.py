"""HFP decoder (released by the authors): from the four fused levels to the main and two auxiliary logits.

f1..f4 (B, 64|256|512|1024, H/2|H/4|H/8|H/16, ...) -> main (B, K, H/2, W/2), aux_a (B, K, H/8, W/8),
aux_b (B, K, H/4, W/4); the auxiliary heads run only in training.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .asaf import FUSIONS
from .hfp_block import Block
from .layers import conv_bn, conv_bn_relu6
from .maf import MAFHead


def aux_head(channels: int, num_classes: int, dropout: float) -> nn.Sequential:
    """ConvBNReLU6 3x3 -> Dropout2d -> 1x1 conv to K."""
    return nn.Sequential(conv_bn_relu6(channels, channels, 3), nn.Dropout2d(dropout), nn.Conv2d(channels, num_classes, 1))


def upsample_to(x: Tensor, like: Tensor) -> Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class HFPDecoder(nn.Module):
    def __init__(self, encoder_channels: tuple[int, int, int, int], num_classes: int, channels: int = 256,
                 dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (3, 5, 7), (5, 7, 9), (7, 9, 11)),
                 dropout: float = 0.1, fusion: str = "asaf", fusion_options: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        c1, c2, c3, c4 = encoder_channels
        if c2 != channels:
            raise ValueError(f"level-2 features must have the decoder width: got {c2}, decoder {channels}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
        fuse = partial(FUSIONS[fusion], **(fusion_options or {}))  # e.g. ASAF's conv and spatial_kernel
        self.reduce4 = conv_bn_relu6(c4, channels, 1)
        self.reduce3 = conv_bn_relu6(c3, channels, 1)
        self.block4 = Block(channels, dilations[0])
        self.fuse3 = fuse(channels)
        self.aux_a = aux_head(channels, num_classes, dropout)
        self.block3 = Block(channels, dilations[1])
        self.fuse2 = fuse(channels)
        self.aux_b = aux_head(channels, num_classes, dropout)
        self.block2 = Block(channels, dilations[2])
        self.reduce1 = conv_bn(channels, c1, 1)
        self.fuse1 = fuse(c1)
        self.head = MAFHead(c1, num_classes, dilations[3], dropout)

    def forward(self, f1: Tensor, f2: Tensor, f3: Tensor, f4: Tensor) -> tuple[Tensor, ...]:
        x = self.block4(self.reduce4(f4))                       # 1/16
        x = self.fuse3(self.reduce3(f3), upsample_to(x, f3))    # 1/8
        aux_a = self.aux_a(x) if self.training else None
        x = self.block3(x)
        x = self.fuse2(f2, upsample_to(x, f2))                  # 1/4
        aux_b = self.aux_b(x) if self.training else None
        x = self.block2(x)
        x = self.fuse1(f1, upsample_to(self.reduce1(x), f1))   # 1/2
        main = self.head(x)
        return (main, aux_a, aux_b) if self.training else (main,)
