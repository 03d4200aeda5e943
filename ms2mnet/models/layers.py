"""Small building blocks shared by the MS2MNet modules."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def conv_bn(cin: int, cout: int, kernel: int = 1, *, dilation: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias, 'same' padding) -> BatchNorm."""
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    )


def conv_bn_relu6(cin: int, cout: int, kernel: int = 1, *, dilation: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias, 'same' padding) -> BatchNorm -> ReLU6, the decoder's basic unit."""
    return nn.Sequential(*conv_bn(cin, cout, kernel, dilation=dilation, groups=groups), nn.ReLU6())


class ChannelGate(nn.Module):
    """Squeeze-and-excitation gate: GAP -> 1x1 C->C/r -> act -> 1x1 C/r->C -> sigmoid, multiplied with x.

    (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int, act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            act(),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class LayerNormChannels(nn.Module):
    """LayerNorm over the channels at each position of a (B, C, H, W) map."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SpatialGate(nn.Module):
    """Spatial attention: sigmoid(conv_k([mean_c(x), max_c(x)])) multiplied with x. (B,C,H,W) -> (B,C,H,W)."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def attention(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)  # B 2 H W
        return torch.sigmoid(self.conv(pooled))  # B 1 H W

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention(x)


class DilatedPyramid(nn.Module):
    """Multi-dilation depthwise pyramid gated by its input, used by the decoder's attention and the MAF head.

    x (B, C, H, W) -> 1x1 to C/r -> one depthwise 3x3 branch per dilation (plus an optional 1x1 branch),
    each back to C and summed -> 1x1 conv-BN-ReLU6 -> multiplied with x.
    """

    def __init__(self, channels: int, dilations: tuple[int, ...], reduction: int = 4,
                 pointwise_branch: bool = False) -> None:
        super().__init__()
        hidden = channels // reduction
        self.reduce = conv_bn_relu6(channels, hidden, 1)
        branches = [conv_bn_relu6(hidden, hidden, 3, dilation=d, groups=hidden) for d in dilations]
        if pointwise_branch:
            branches.append(conv_bn_relu6(hidden, hidden, 1))
        self.branches = nn.ModuleList(nn.Sequential(b, conv_bn_relu6(hidden, channels, 1)) for b in branches)
        self.merge = conv_bn_relu6(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        r = self.reduce(x)
        return x * self.merge(sum(branch(r) for branch in self.branches))
