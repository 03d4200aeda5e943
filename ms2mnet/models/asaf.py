"""Fusion of an encoder skip with the upsampled decoder path.

ASAF (adaptive spatial attention fusion, from the paper's figure): the encoder features are weighted
by a spatial attention map (**choice**: 7x7 kernel, `spatial_kernel`), mixed with the decoder features
by two ReLU-normalised learnable weights (as in UNetFormer), then "Conv5x5 -> BN -> Conv1x1 -> BN -> ReLU6".

That trailing sequence is separable by default (`conv="separable"`: depthwise 5x5, BN, pointwise 1x1,
BN, ReLU6), the authors' own `SeparableConvBNReLU` from the file their decoder lives in. Read as a full
5x5 conv (`conv="full"`), a BN and a 1x1 with no activation in between would be two stacked linear
convs, which no one designs on purpose, and would cost 3.4M parameters and about 10 GMACs at 256x256.
PlainFusion is the `no_asaf` ablation: ConvBNReLU6 3x3 of enc + dec.
Both: enc, dec (B, C, H, W) -> (B, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import SpatialGate, conv_bn, conv_bn_relu6

ASAF_CONVS = ("separable", "full")


class ASAF(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-8, *, conv: str = "separable", spatial_kernel: int = 7) -> None:
        super().__init__()
        if conv not in ASAF_CONVS:
            raise ValueError(f"unknown ASAF conv {conv!r}; valid: {', '.join(ASAF_CONVS)}")
        self.spatial_gate = SpatialGate(kernel=spatial_kernel)
        self.weights = nn.Parameter(torch.ones(2))
        self.eps = eps
        groups = channels if conv == "separable" else 1
        self.post = nn.Sequential(*conv_bn(channels, channels, 5, groups=groups), *conv_bn(channels, channels, 1),
                                  nn.ReLU6())

    def mixing_weights(self) -> Tensor:
        w = F.relu(self.weights)
        return w / (w.sum() + self.eps)  # (w_enc, w_dec), >= 0, summing to 1

    def forward(self, enc: Tensor, dec: Tensor) -> Tensor:
        w = self.mixing_weights()
        return self.post(w[0] * self.spatial_gate(enc) + w[1] * dec)


class PlainFusion(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = conv_bn_relu6(channels, channels, 3)

    def forward(self, enc: Tensor, dec: Tensor) -> Tensor:
        return self.conv(enc + dec)


FUSIONS: dict[str, type[nn.Module]] = {"asaf": ASAF, "plain": PlainFusion}
