"""ESANet (Seichter et al., ICRA 2021), ESANet-R34-NBt1D: two ResNet-34 encoders built from
NonBottleneck1D blocks, squeeze-and-excitation fusion of the depth (here: DSM) stream into the RGB
stream after the stem and every layer, a pyramid pooling context module and a three-stage decoder with
learned upsampling; side outputs at 1/32, 1/16, 1/8 for deep supervision in training.

Follows the official code (TUI-NICR/ESANet, src/models/model.py with the defaults of src/args.py:
encoder resnet34, block NonBottleneck1D, decoder channels 512/256/128 ('decreasing'), 3 decoder blocks
per stage, context module 'ppm' with bins 1 and 5, upsampling 'learned-3x3-zeropad', fusion 'SE-add',
activation ReLU). Module and parameter names follow the official ones, so its checkpoints load.
Departure: side outputs are upsampled bilinearly to the input size (the suite's output contract); the
official loss instead downsamples the labels to each side output's size (nearest).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ms2mnet.engine.recipes import Recipe, train_values
from ms2mnet.models import WeightFile, register_model
from ms2mnet.models.backbone import load_trunk_weights, pretrained_state_dict

WEIGHTS_HINT = ("ESANet's ImageNet weights for ResNet-34 with NonBottleneck1D blocks are not on timm or "
                "torchvision: download r34_NBt1D.pth (linked from the README of github.com/TUI-NICR/ESANet, "
                "'pretrained weights for the encoder backbone ResNet-34 NBt1D')")


class ConvBNAct(nn.Sequential):
    """k x k conv (no bias) + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                                          bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_channels))
        self.add_module("act", nn.ReLU(inplace=True))


class NonBottleneck1D(nn.Module):
    """ERFNet's block: each 3x3 of a basic block factorised into 3x1 then 1x3 convs (with bias)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv3x1_1 = nn.Conv2d(inplanes, planes, (3, 1), stride=(stride, 1), padding=(1, 0))
        self.conv1x3_1 = nn.Conv2d(planes, planes, (1, 3), stride=(1, stride), padding=(0, 1))
        self.bn1 = nn.BatchNorm2d(planes, eps=1e-3)
        self.conv3x1_2 = nn.Conv2d(planes, planes, (3, 1), padding=(1, 0))
        self.conv1x3_2 = nn.Conv2d(planes, planes, (1, 3), padding=(0, 1))
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-3)
        self.act = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.conv3x1_1(x))
        out = self.act(self.bn1(self.conv1x3_1(out)))
        out = self.act(self.conv3x1_2(out))
        out = self.bn2(self.conv1x3_2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act(out + identity)


class ResNetNBt1D(nn.Module):
    """ResNet-34 layout (3, 4, 6, 3) with NonBottleneck1D blocks; the stages are called one by one
    because the fusion sits between them. Kaiming (fan-out) init, as the official ResNet."""

    def __init__(self, in_chans: int = 3, layers: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act = nn.ReLU(inplace=True)
        inplanes = 64
        for index, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            stride = 1 if index == 1 else 2
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                           nn.BatchNorm2d(planes))
            stage = [NonBottleneck1D(inplanes, planes, stride, downsample)]
            stage += [NonBottleneck1D(planes, planes) for _ in range(blocks - 1)]
            self.add_module(f"layer{index}", nn.Sequential(*stage))
            inplanes = planes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.act(self.bn1(self.conv1(x)))   # B 64 H/2 W/2, before the max-pool


class SqueezeAndExcitation(nn.Module):
    """Channel reweighting: x * sigmoid(1x1 -> ReLU -> 1x1 of the global average), reduction 16."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.fc(F.adaptive_avg_pool2d(x, 1))


class SqueezeAndExciteFusionAdd(nn.Module):
    """fused = SE(rgb) + SE(depth): the fused map replaces the RGB stream; depth goes on unfused."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.se_rgb = SqueezeAndExcitation(channels)
        self.se_depth = SqueezeAndExcitation(channels)

    def forward(self, rgb: Tensor, depth: Tensor) -> Tensor:
        return self.se_rgb(rgb) + self.se_depth(depth)


class PyramidPoolingModule(nn.Module):
    """PSPNet context on layer 4: average-pool to each bin, 1x1 conv to in/len(bins) channels, nearest
    upsampling back (the official choice when the decoder upsampling is learned), concat, 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, bins: tuple[int, ...] = (1, 5)) -> None:
        super().__init__()
        reduced = in_channels // len(bins)
        self.features = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d(b), ConvBNAct(in_channels, reduced, 1))
                                      for b in bins)
        self.final_conv = ConvBNAct(in_channels + reduced * len(bins), out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        pooled = [F.interpolate(f(x), size=x.shape[-2:], mode="nearest") for f in self.features]
        return self.final_conv(torch.cat([x, *pooled], dim=1))


class LearnedUpsample(nn.Module):
    """x2 nearest upsampling, then a depthwise 3x3 conv (zero padding) initialised to the bilinear kernel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        bilinear = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
        with torch.no_grad():
            self.conv.weight.copy_(bilinear.expand(channels, 1, 3, 3))
            self.conv.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DecoderModule(nn.Module):
    """3x3 ConvBNAct, NonBottleneck1D blocks, a 1x1 side output (training only), learned x2 upsampling,
    then the encoder skip is added."""

    def __init__(self, in_channels: int, channels: int, num_classes: int, blocks: int = 3) -> None:
        super().__init__()
        self.conv3x3 = ConvBNAct(in_channels, channels, 3)
        self.decoder_blocks = nn.Sequential(*(NonBottleneck1D(channels, channels) for _ in range(blocks)))
        self.upsample = LearnedUpsample(channels)
        self.side_output = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: Tensor, skip: Tensor) -> tuple[Tensor, Tensor | None]:
        x = self.decoder_blocks(self.conv3x3(x))
        side = self.side_output(x) if self.training else None
        return self.upsample(x) + skip, side


class Decoder(nn.Module):
    def __init__(self, in_channels: int, channels: tuple[int, int, int], num_classes: int, blocks: int = 3) -> None:
        super().__init__()
        self.decoder_module_1 = DecoderModule(in_channels, channels[0], num_classes, blocks)
        self.decoder_module_2 = DecoderModule(channels[0], channels[1], num_classes, blocks)
        self.decoder_module_3 = DecoderModule(channels[1], channels[2], num_classes, blocks)
        self.conv_out = nn.Conv2d(channels[2], num_classes, 3, padding=1)
        self.upsample1 = LearnedUpsample(num_classes)
        self.upsample2 = LearnedUpsample(num_classes)

    def forward(self, x: Tensor, skip16: Tensor, skip8: Tensor, skip4: Tensor) -> tuple[Tensor, list[Tensor]]:
        x, side32 = self.decoder_module_1(x, skip16)     # B 512 H/16 W/16
        x, side16 = self.decoder_module_2(x, skip8)      # B 256 H/8 W/8
        x, side8 = self.decoder_module_3(x, skip4)       # B 128 H/4 W/4
        out = self.upsample2(self.upsample1(self.conv_out(x)))   # B K H W
        return out, [s for s in (side8, side16, side32) if s is not None]


class ESANet(nn.Module):
    complexity_groups = {"encoder": ("encoder_rgb", "encoder_depth"),
                         "fusion": tuple(f"se_layer{i}" for i in range(5)),
                         "decoder": ("skip_layer1", "skip_layer2", "skip_layer3", "context_module", "decoder")}

    def __init__(self, num_classes: int = 6, *, pretrained: bool | str | Path = False,
                 decoder_channels: tuple[int, int, int] = (512, 256, 128), decoder_blocks: int = 3,
                 context_bins: tuple[int, ...] = (1, 5)) -> None:
        super().__init__()
        self.encoder_rgb = ResNetNBt1D(in_chans=3)
        self.encoder_depth = ResNetNBt1D(in_chans=1)
        widths = (64, 64, 128, 256, 512)                  # stem, layer1..4
        for i, c in enumerate(widths):
            self.add_module(f"se_layer{i}", SqueezeAndExciteFusionAdd(c))
        # 1x1 ConvBNAct where the encoder width differs from the decoder stage's (all three for R34)
        for i, (enc, dec) in enumerate(zip(widths[1:4], decoder_channels[::-1]), start=1):
            self.add_module(f"skip_layer{i}", ConvBNAct(enc, dec, 1) if enc != dec else nn.Identity())
        self.context_module = PyramidPoolingModule(widths[-1], decoder_channels[0], context_bins)
        self.decoder = Decoder(decoder_channels[0], decoder_channels, num_classes, decoder_blocks)
        if pretrained:
            self.load_encoder_weights(pretrained)

    def load_encoder_weights(self, source: bool | str | Path) -> None:
        """ImageNet weights of ResNet-34 NBt1D into both encoders; the DSM conv1 is the sum of the RGB
        kernel over its channels, as the official code does. ESANet's file (r34_NBt1D.pth) is read as the
        official loader reads it: the keys holding 'encoder.', cut after their last 'encoder.'."""
        state, name = pretrained_state_dict(source, None, WEIGHTS_HINT)
        if any("encoder." in key for key in state):
            state = {key.split("encoder.")[-1]: value for key, value in state.items() if "encoder." in key}
        for encoder in (self.encoder_rgb, self.encoder_depth):
            load_trunk_weights(encoder, state, name, stem="sum", arch="ResNet-34 NBt1D")

    def forward(self, image: Tensor, dsm: Tensor) -> Tensor | tuple[Tensor, ...]:
        rgb_enc, depth_enc = self.encoder_rgb, self.encoder_depth
        depth = depth_enc.forward_stem(dsm)                          # B 64 H/2 W/2
        fuse = self.se_layer0(rgb_enc.forward_stem(image), depth)
        rgb = F.max_pool2d(fuse, 3, stride=2, padding=1)
        depth = F.max_pool2d(depth, 3, stride=2, padding=1)
        skips = []
        for i in range(1, 5):
            rgb = getattr(rgb_enc, f"layer{i}")(rgb)
            depth = getattr(depth_enc, f"layer{i}")(depth)
            rgb = getattr(self, f"se_layer{i}")(rgb, depth)
            if i < 4:
                skips.append(getattr(self, f"skip_layer{i}")(rgb))   # 1/4, 1/8, 1/16
        out, sides = self.decoder(self.context_module(rgb), skips[2], skips[1], skips[0])
        if not self.training:
            return out
        size = image.shape[-2:]
        return out, *(F.interpolate(s, size=size, mode="bilinear", align_corners=False) for s in sides)


@register_model(
    "esanet",
    weights=(WeightFile(
        initialises="RGB and depth (DSM) encoders (ResNet-34 NBt1D)", file="r34_NBt1D.pth",
        source="ESANet's own ImageNet weights for ResNet-34 NBt1D (TUI-NICR/ESANet README)", url=None,
        manual="download imagenet_r34_NBt1D.tar.gz from https://drive.google.com/uc?id=1neUb6SJ87dIY1VvrSGxurVBQlH8Pd_Bi "
               "(e.g. `gdown 1neUb6SJ87dIY1VvrSGxurVBQlH8Pd_Bi`) and extract its r34_NBt1D.pth into the weights folder",
        format="ESANet checkpoint (.pth): {'state_dict': {'...encoder.<ResNet-34 NBt1D names>': ...}}",
        dsm_stem="sum of the RGB kernel (the official loader's rule)",
        keys=("encoder.conv1.weight", "encoder.layer4.2.conv1x3_2.weight"),
        note="the old runbook gave torchvision's resnet34-b627a593.pth, which lacks the NBt1D tensors"),),
    label="ESANet",
    backbone="2x ResNet-34 NBt1D",
    modalities=("image", "dsm"),
    # The official training: median-frequency weighted CE summed over the output and the three side outputs.
    loss="ce",
    loss_weights={"class_weights": "median_frequency"},
    aux_weights=(1.0, 1.0, 1.0),
    description="2x ResNet-34 NBt1D, SE fusion into the RGB stream, PPM context, learned-upsampling decoder",
    recipe=Recipe(
        source="TUI-NICR/ESANet@f72ea8a",
        train=train_values(optimizer="sgd", nesterov=True, lr=0.01, momentum=0.9, weight_decay=1e-4,
                           schedule="onecycle", schedule_options={"pct_start": 0.1, "anneal_strategy": "cos",
                                                                  "div_factor": 25.0, "final_div_factor": 1e4},
                           epochs=500, iterations_per_epoch=100, batch_size=8, crop=256),
        cites={"optimizer": "src/args.py L68; train.py L529-535 (SGD, nesterov=True)",
               "lr, weight_decay, momentum": "src/args.py L59, L64, L66",
               "schedule": "train.py L124-133, L264 (OneCycleLR over `epochs` steps, one per epoch)",
               "epochs": "src/args.py L55 (500)", "batch_size": "src/args.py L40 (8)",
               "loss_weights": "src/args.py L70-71 (median_frequency)",
               "aux_weights": "train.py L71, L305-306 (side outputs at 1/8, 1/16, 1/32, losses summed)"},
        notes="ESANet trains on NYUv2/SUN RGB-D images resized to 480x640 (src/args.py L47-50); here 256 crops, "
              "and an epoch of 100 iterations so that 500 epochs take the protocol's 50k iterations.",
    ),
)
def esanet(num_classes: int = 6, pretrained: bool | str | Path = False, **options) -> ESANet:
    return ESANet(num_classes, pretrained=pretrained, **options)
