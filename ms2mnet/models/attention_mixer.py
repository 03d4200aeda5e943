"""Multi-head self-attention over all L = H*W tokens: the `attention` ablation's replacement for MSSM.

x (B, C, H, W) -> (B, C, H, W); cost quadratic in L. Heads of width `head_dim` (choice: 32).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class SelfAttentionMixer(nn.Module):
    def __init__(self, channels: int, state_size: int | None = None, head_dim: int = 32) -> None:
        super().__init__()
        del state_size  # the interface of every mixer; attention has no state
        self.heads = max(channels // head_dim, 1)
        if channels % self.heads:
            raise ValueError(f"channels={channels} is not divisible into {self.heads} heads")
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        batch, c, height, width = x.shape
        qkv = self.qkv(x).view(batch, 3, self.heads, c // self.heads, height * width)
        q, k, v = qkv.transpose(-1, -2).unbind(1)                      # B heads L d (each)
        y = F.scaled_dot_product_attention(q, k, v)                    # B heads L d
        return self.proj(y.transpose(-1, -2).reshape(batch, c, height, width))
