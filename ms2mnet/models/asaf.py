"""Fusion of an encoder skip with the upsampled decoder path.

ASAF (adaptive spatial attention fusion, from the paper's figure): the encoder features are weighted
by a 7x7 spatial attention map, mixed with the decoder features by two ReLU-normalised learnable
weights (as in UNetFormer), then Conv5x5-BN-Conv1x1-BN-ReLU6. PlainFusion is the `no_asaf` ablation:
ConvBNReLU6 3x3 of enc + dec. Both: enc, dec (B, C, H, W) -> (B, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import SpatialGate, conv_bn, conv_bn_relu6


class ASAF(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.spatial_gate = SpatialGate(kernel=7)
        self.weights = nn.Parameter(torch.ones(2))
        self.eps = eps
        self.post = nn.Sequential(*conv_bn(channels, channels, 5), *conv_bn(channels, channels, 1), nn.ReLU6())

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
