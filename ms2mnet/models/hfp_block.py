"""The HFP decoder's Block (released by the authors): multi-scale attention then an efficient FFN.

(B, C, H, W) -> (B, C, H, W): x = x + BN(MultiScaleAttention(x)); x = x + EFFN(x).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .layers import ChannelGate, DilatedPyramid, conv_bn, conv_bn_relu6


class MultiScaleAttention(nn.Module):
    """Queries: every position of x. Keys/values: a dilated depthwise pyramid of x pooled to
    pool_size x pool_size, so the cost is linear in H*W. Plus a channel-attention term on x."""

    def __init__(self, channels: int, dilations: tuple[int, ...], heads: int = 16, pool_size: int = 16,
                 reduction: int = 4) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels={channels} must be divisible by heads={heads}")
        self.heads = heads
        self.pyramid = DilatedPyramid(channels, dilations, reduction, pointwise_branch=True)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.kv = nn.Conv2d(channels, 2 * channels, 1, bias=False)
        self.channel_gate = ChannelGate(channels, reduction, act=nn.ReLU6)

    def forward(self, x: Tensor) -> Tensor:
        batch, c, height, width = x.shape
        kv = self.kv(self.pool(self.pyramid(x)))                                   # B 2C P P
        k, v = kv.view(batch, 2, self.heads, c // self.heads, -1).transpose(-1, -2).unbind(1)  # B h P² d
        q = x.view(batch, self.heads, c // self.heads, height * width).transpose(-1, -2)  # B h L d
        y = F.scaled_dot_product_attention(q, k, v)                                 # B h L d
        return y.transpose(-1, -2).reshape(batch, c, height, width) + self.channel_gate(x)


class EFFN(nn.Module):
    """1x1 conv-BN-ReLU6 to C/r, parallel depthwise 5x5 and 3x3 conv-BN-ReLU6 summed, 1x1 conv-BN back, ReLU6."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = channels // reduction
        self.expand = conv_bn_relu6(channels, hidden, 1)
        self.local5 = conv_bn_relu6(hidden, hidden, 5, groups=hidden)
        self.local3 = conv_bn_relu6(hidden, hidden, 3, groups=hidden)
        self.project = conv_bn(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.expand(x)
        return F.relu6(self.project(self.local5(x) + self.local3(x)))


class Block(nn.Module):
    def __init__(self, channels: int, dilations: tuple[int, ...], heads: int = 16, pool_size: int = 16) -> None:
        super().__init__()
        self.attention = MultiScaleAttention(channels, dilations, heads, pool_size)
        self.norm = nn.BatchNorm2d(channels)
        self.ffn = EFFN(channels)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.norm(self.attention(x))
        return x + self.ffn(x)
