"""VFE, the visual feature enhancement block applied to each fused feature level.

(B, C, H, W) -> (B, C, H, W), four residual steps: depthwise 3x3 conv-BN; token mixer on
channel-LayerNormed x (absent when mixer is None); 3x3 conv-BN-ReLU; FFN (1x1 C->rC, BN, ReLU,
1x1 rC->C, BN) followed by an SE gate (reduction 4, SiLU). **Choice**: r = mlp_ratio = 2.
"""

from __future__ import annotations

from torch import Tensor, nn

from .layers import ChannelGate, LayerNormChannels, conv_bn
from .mixers import build_mixer


class VFE(nn.Module):
    def __init__(self, channels: int, state_size: int, mixer: str | None = "mssm", mlp_ratio: int = 2) -> None:
        super().__init__()
        c, hidden = channels, mlp_ratio * channels
        self.local = conv_bn(c, c, 3, groups=c)
        self.norm = LayerNormChannels(c) if mixer else None
        self.mixer = build_mixer(mixer, c, state_size) if mixer else None
        self.conv = nn.Sequential(*conv_bn(c, c, 3), nn.ReLU())
        self.ffn = nn.Sequential(*conv_bn(c, hidden, 1), nn.ReLU(), *conv_bn(hidden, c, 1))
        self.se = ChannelGate(c, reduction=4, act=nn.SiLU)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.local(x)
        if self.mixer is not None:
            x = x + self.mixer(self.norm(x))
        x = x + self.conv(x)
        return x + self.se(self.ffn(x))
