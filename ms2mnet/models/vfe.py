"""VFE, the visual feature enhancement block applied to each fused feature level.

(B, C, H, W) -> (B, C, H, W), four residual steps, as in EfficientViM's block which VFE enhances:
1. depthwise 3x3 conv-BN;
2. token mixer on channel-LayerNormed x (absent when mixer is None);
3. 3x3 conv-BN-ReLU, a full conv as the paper's figure writes it (`conv="full"`); `conv="depthwise"`
   puts EfficientViM's depthwise conv in this slot (the `vfe_dwconv` variant): public evidence cannot
   tell which one the authors used;
4. FFN (1x1 C->rC, BN, ReLU, 1x1 rC->C, BN) followed by an SE gate (reduction 4, SiLU).
   **Choice**: r = mlp_ratio = 2 (EfficientViM's default is 4).

Initialisation (`zero_init=True`, the default): the BN scale that ends the branches of steps 1 and 4
starts at 0, as EfficientViM's `ConvLayer2D(bn_weight_init=0)` sets it for its two DWConv branches and
its FFN's last layer, so those branches start at exactly 0. Step 3 keeps its scale at 1: it ends in a
ReLU (EfficientViM's conv there has none), and a zero scale would feed the ReLU exactly 0, where its
gradient is 0, so the branch would never train. The mixer branch is not zeroed either: in HSM-SSD the
`bn_weight_init=0` sits on layers built without BN, where it has no effect. So at init the block is
x + mixer(x) + ReLU(BN(conv(x))) rather than the identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from .layers import ChannelGate, LayerNormChannels, conv_bn
from .mixers import build_mixer

VFE_CONVS = ("full", "depthwise")


class VFE(nn.Module):
    def __init__(self, channels: int, state_size: int, mixer: str | None = "mssm", mlp_ratio: int = 2, *,
                 conv: str = "full", zero_init: bool = True, mixer_options: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if conv not in VFE_CONVS:
            raise ValueError(f"unknown VFE conv {conv!r}; valid: {', '.join(VFE_CONVS)}")
        c, hidden = channels, mlp_ratio * channels
        self.local = conv_bn(c, c, 3, groups=c)
        self.norm = LayerNormChannels(c) if mixer else None
        self.mixer = build_mixer(mixer, c, state_size, **(mixer_options or {})) if mixer else None
        self.conv = nn.Sequential(*conv_bn(c, c, 3, groups=c if conv == "depthwise" else 1), nn.ReLU())
        self.ffn = nn.Sequential(*conv_bn(c, hidden, 1), nn.ReLU(), *conv_bn(hidden, c, 1))
        self.se = ChannelGate(c, reduction=4, act=nn.SiLU)
        if zero_init:
            for norm in self.branch_norms():
                nn.init.zeros_(norm.weight)  # the bias is already 0: the branch outputs exactly 0

    def branch_norms(self) -> list[nn.BatchNorm2d]:
        """The BN that ends each residual branch without an activation after it (steps 1 and 4)."""
        return [self.local[1], self.ffn[-1]]

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.local(x)
        if self.mixer is not None:
            x = x + self.mixer(self.norm(x))
        x = x + self.conv(x)
        return x + self.se(self.ffn(x))
