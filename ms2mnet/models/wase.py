"""WASE fusion (as released by the authors): SE-gated image and DSM features, mixed by two
learnable weights normalised to sum to one.

x, y: (B, C, H, W) -> (B, C, H, W); out = a*(g_x * x) + b*(g_y * y), a = |w_x| / (|w_x| + |w_y| + eps).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import ChannelGate


class WASE(nn.Module):
    def __init__(self, channels: int, reduction: int = 16, eps: float = 1e-8) -> None:
        super().__init__()
        self.gate_x = ChannelGate(channels, reduction)
        self.gate_y = ChannelGate(channels, reduction)
        self.weight_x = nn.Parameter(torch.ones(1))
        self.weight_y = nn.Parameter(torch.ones(1))
        self.eps = eps

    def mixing_weights(self) -> tuple[Tensor, Tensor]:
        wx, wy = self.weight_x.abs(), self.weight_y.abs()
        total = wx + wy + self.eps
        return wx / total, wy / total

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        a, b = self.mixing_weights()
        return a * self.gate_x(x) + b * self.gate_y(y)
