"""MAF segmentation head (released by the authors): three attentions on x summed, then a classifier.

(B, C, H, W) -> (B, K, H, W). Multi-dilation depthwise attention + channel attention (SE) +
spatial attention (5x5 over channel mean and max), each multiplied with x; then separable
ConvBNReLU6, Dropout2d, 1x1 conv to K.
"""

from __future__ import annotations

from torch import Tensor, nn

from .layers import ChannelGate, DilatedPyramid, SpatialGate, conv_bn, conv_bn_relu6


class MAFHead(nn.Module):
    def __init__(self, channels: int, num_classes: int, dilations: tuple[int, ...] = (7, 9, 11),
                 dropout: float = 0.1, reduction: int = 4) -> None:
        super().__init__()
        self.pyramid = DilatedPyramid(channels, dilations, reduction)
        self.channel_gate = ChannelGate(channels, reduction, act=nn.ReLU6)
        self.spatial_gate = SpatialGate(kernel=5)
        self.classifier = nn.Sequential(
            *conv_bn(channels, channels, 3, groups=channels),   # separable: depthwise 3x3 ...
            *conv_bn_relu6(channels, channels, 1),              # ... then pointwise
            nn.Dropout2d(dropout),
            nn.Conv2d(channels, num_classes, 1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pyramid(x) + self.channel_gate(x) + self.spatial_gate(x))
