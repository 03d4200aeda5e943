"""CMGFNet (Hosseinpour et al., ISPRS J. 2022): two ResNet-34 encoders (image, DSM); six feature levels
per modality (stem, layer1-4 and a max-pool of layer 4), each reduced to 16 channels by a 1x1 side conv;
gated fusion modules (GFM) merge the two modalities level by level into a cross-modal decoder, beside an
image-only decoder, both of residual depthwise-separable upsampling blocks (R-DSC); three heads (fused,
image, DSM-side decoder) trained together.

Follows the official code (hamidreza2015/CMGFNet-Building_Extraction, models/CMGFNet.py, src/GFM.py,
src/R-DSC.py), including what looks unusual: the decoder upsamples with align_corners=True, and every
head ends in BN + ReLU, so the logits are non-negative. Departures, both for the suite's contract:
- the max-pool of layer 4 uses ceil_mode and each decoder block upsamples to the size of the next skip
  (the input size for the last one) instead of by exactly 2, so that any multiple of 32 works; for
  multiples of 64 (the official setting) this is the same network, output for output;
- the binary task's BCE on each head becomes cross-entropy, averaged over the three heads as the
  official training averages its three BCE terms.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ms2mnet.engine.recipes import Recipe, train_values
from ms2mnet.models import WeightFile, register_model
from ms2mnet.models.backbone import load_trunk_weights, pretrained_state_dict

PRETRAINED_TAG = "resnet34.tv_in1k"   # torchvision's ResNet-34 ImageNet weights, as the official code loads
LEVEL_CHANNELS = (64, 64, 128, 256, 512, 512)   # stem, layer1..4, pooled layer4
SIDE = 16                                        # width of every side feature and decoder block


class GatedFusion(nn.Module):
    """GFM: G = sigmoid(1x1 conv of [x, y]); output [y * (1 - G), x * G] (2 x channels)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.Sigmoid())

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        g = self.gate(torch.cat([x, y], dim=1))
        return torch.cat([y * (1 - g), x * g], dim=1)


class DepthwiseSeparableConv(nn.Sequential):
    """3x3 depthwise conv then 1x1 pointwise conv, both with bias."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.add_module("depthwise", nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels))
        self.add_module("pointwise", nn.Conv2d(in_channels, out_channels, 1))


class ResidualDSCBlock(nn.Module):
    """R-DSC decoder block: upsample; identity path = 1x1 conv, residual path = BN, DSC, BN, ReLU, DSC, BN."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.identity = nn.Conv2d(in_channels, out_channels, 1)
        self.decode = nn.Sequential(nn.BatchNorm2d(in_channels), DepthwiseSeparableConv(in_channels, in_channels),
                                    nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                                    DepthwiseSeparableConv(in_channels, out_channels), nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor, size: torch.Size) -> Tensor:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)   # x2 in the official setting
        return self.decode(x) + self.identity(x)


def segmentation_head(in_channels: int, num_classes: int) -> nn.Sequential:
    """1x1 conv + BN + ReLU, as the official heads."""
    return nn.Sequential(nn.Conv2d(in_channels, num_classes, 1), nn.BatchNorm2d(num_classes), nn.ReLU(inplace=True))


def resnet34_trunk(in_chans: int) -> nn.Module:
    """Stem (after ReLU, 1/2) and layer1-4 (1/4 .. 1/32) of a ResNet-34, torchvision parameter names."""
    return timm.create_model("resnet34", pretrained=False, features_only=True, out_indices=(0, 1, 2, 3, 4),
                             in_chans=in_chans)


class CMGFNet(nn.Module):
    complexity_groups = {"encoder": ("encoder_rgb", "encoder_dsm"),
                         "fusion": ("gates", "gate_final"),
                         "decoder": ("side_rgb", "side_dsm", "decoder_rgb", "decoder_cross"),
                         "heads": ("final_fused", "final_rgb", "final_dsm")}

    def __init__(self, num_classes: int = 6, *, pretrained: bool | str | Path = False) -> None:
        super().__init__()
        self.encoder_rgb = resnet34_trunk(3)
        self.encoder_dsm = resnet34_trunk(1)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.side_rgb = nn.ModuleList(nn.Conv2d(c, SIDE, 1) for c in LEVEL_CHANNELS)
        self.side_dsm = nn.ModuleList(nn.Conv2d(c, SIDE, 1) for c in LEVEL_CHANNELS)
        # Levels 1..5 (stem .. layer4) are fused; the deepest decoder block sees level 6 alone.
        self.gates = nn.ModuleList(GatedFusion(SIDE) for _ in range(5))
        self.gate_final = GatedFusion(SIDE)
        # Deepest first: the block at level 6 takes the pooled side feature, the others [skip, previous].
        self.decoder_rgb = nn.ModuleList([ResidualDSCBlock(SIDE, SIDE)] +
                                         [ResidualDSCBlock(2 * SIDE, SIDE) for _ in range(5)])
        self.decoder_cross = nn.ModuleList([ResidualDSCBlock(SIDE, SIDE)] +
                                           [ResidualDSCBlock(3 * SIDE, SIDE) for _ in range(5)])
        self.final_fused = segmentation_head(2 * SIDE, num_classes)
        self.final_rgb = segmentation_head(SIDE, num_classes)
        self.final_dsm = segmentation_head(SIDE, num_classes)
        if pretrained:
            self.load_encoder_weights(pretrained)

    def load_encoder_weights(self, source: bool | str | Path) -> None:
        """torchvision ResNet-34 ImageNet weights into both encoders; the DSM conv1 is the mean of the
        RGB kernel over its channels, as the official code does."""
        state, name = pretrained_state_dict(source, PRETRAINED_TAG,
                                            "Download resnet34-b627a593.pth (torchvision ResNet34_Weights."
                                            "IMAGENET1K_V1)")
        for encoder in (self.encoder_rgb, self.encoder_dsm):
            load_trunk_weights(encoder, state, name, stem="mean", arch="ResNet-34")

    def forward(self, image: Tensor, dsm: Tensor) -> Tensor | tuple[Tensor, ...]:
        xs = self.encoder_rgb(image)                 # 1/2 .. 1/32
        ys = self.encoder_dsm(dsm)
        xs, ys = [*xs, self.pool(xs[-1])], [*ys, self.pool(ys[-1])]   # + 1/64
        x_side = [conv(x) for conv, x in zip(self.side_rgb, xs)]     # 6 x (B 16 h w)
        y_side = [conv(y) for conv, y in zip(self.side_dsm, ys)]
        sizes = [x.shape[-2:] for x in xs[:5]][::-1] + [image.shape[-2:]]   # each block's output size
        out_rgb = self.decoder_rgb[0](x_side[5], sizes[0])
        out_dsm = self.decoder_cross[0](y_side[5], sizes[0])
        for step, level in enumerate(range(4, -1, -1), start=1):    # levels 1/32 .. 1/2
            out_rgb = self.decoder_rgb[step](torch.cat([x_side[level], out_rgb], dim=1), sizes[step])
            fused = self.gates[level](x_side[level], y_side[level])                 # B 32 h w
            out_dsm = self.decoder_cross[step](torch.cat([fused, out_dsm], dim=1), sizes[step])
        main = self.final_fused(self.gate_final(out_rgb, out_dsm))
        if not self.training:
            return main
        return main, self.final_rgb(out_rgb), self.final_dsm(out_dsm)


@register_model(
    "cmgfnet",
    weights=(WeightFile(
        initialises="RGB and DSM encoders (ResNet-34)", file="resnet34-b627a593.pth",
        source="torchvision ResNet34_Weights.IMAGENET1K_V1 (= timm resnet34.tv_in1k), as the official "
               "torchvision resnet34(pretrained=True)",
        url="https://download.pytorch.org/models/resnet34-b627a593.pth",
        format="torchvision ResNet-34 state dict (.pth)", sha256="b627a593", dsm_stem="mean of the RGB kernel",
        keys=("conv1.weight", "layer4.2.bn2.running_var"),
        note="torchvision before 0.10 fetched the same weights as resnet34-333f7ec4.pth (legacy format)"),),
    label="CMGFNet",
    backbone="2x ResNet-34",
    modalities=("image", "dsm"),
    # The official training averages one loss per head: (fused + image + DSM) / 3, here with cross-entropy.
    loss="ce",
    loss_weights={"main_weight": 1 / 3},
    aux_weights=(1 / 3, 1 / 3),
    description="2x ResNet-34, gated fusion of 16-channel side features, residual DSC decoders, three heads",
    recipe=Recipe(
        source="hamidreza2015/CMGFNet-Building_Extraction@e0ce252",
        train=train_values(optimizer="adamax", lr=1e-3, weight_decay=1e-5, schedule="poly",
                           schedule_options={"power": 0.3}, epochs=30, iterations_per_epoch=1667, batch_size=16,
                           crop=256),
        cites={"optimizer, lr, weight_decay": "main.py L72-73, L359-361 (Adamax, lr 1e-3, weight decay 1e-5)",
               "schedule": "src/train.py L23-28; utils/util.py L121-133 (poly, power 0.3 (main.py L74), per iteration)",
               "epochs": "main.py L70 (30)", "batch_size": "main.py L71 (16)", "crop": "main.py L75 (256)",
               "loss, aux_weights": "src/train.py L33-37 (three heads' losses averaged)"},
        notes="The official task is binary building extraction with BCE on each head; here cross-entropy over "
              "the 6 classes, averaged the same way. An epoch of 1667 iterations makes the 30 epochs the "
              "protocol's 50k iterations.",
    ),
)
def cmgfnet(num_classes: int = 6, pretrained: bool | str | Path = False, **options) -> CMGFNet:
    return CMGFNet(num_classes, pretrained=pretrained, **options)
