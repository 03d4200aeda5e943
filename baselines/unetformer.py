"""UNetFormer (Wang et al., ISPRS J. 2022), image only: a timm ResNet-18 encoder and a light decoder of
width 64 whose global-local transformer blocks pair 8x8 window attention (relative position bias) with
a local conv branch and cross-shaped average pooling; weighted fusion of the skips (learned, normalised
weights), a feature refinement head at 1/4, and an auxiliary head on the summed decoder stages in training.

Follows the official code (WangLibo1995/GeoSeg, geoseg/models/UNetFormer.py, and UnetFormerLoss of
geoseg/losses/useful_loss.py). Its default backbone is timm's `swsl_resnet18` (now
`resnet18.fb_swsl_ig1b_ft_in1k`, semi-weakly supervised on IG-1B then ImageNet-1k), so `pretrained=True`
loads those weights. Departures: attention runs through scaled_dot_product_attention with the relative
position bias as its additive mask (the same arithmetic); where a feature map is too small to be
reflect-padded to a whole number of windows (inputs under 256, e.g. 64x64 where layer 4 is 2x2) the
padding replicates the border instead (reflect where it fits, so 256x256 and up are unchanged).
The DSM is ignored.
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

PRETRAINED_TAG = "resnet18.fb_swsl_ig1b_ft_in1k"   # timm's name for the official default, swsl_resnet18
# The file timm's swsl_resnet18 downloaded when UNetFormer and RS3Mamba were published.
SWSL_RESNET18 = dict(
    file="semi_weakly_supervised_resnet18-118f1556.pth",
    source="timm swsl_resnet18 (now resnet18.fb_swsl_ig1b_ft_in1k): Facebook's semi-weakly supervised ResNet-18",
    url="https://dl.fbaipublicfiles.com/semiweaksupervision/model_files/semi_weakly_supervised_resnet18-118f1556.pth",
    format="torchvision-layout ResNet-18 state dict (.pth)", sha256="118f1556", pretraining="IG-1B + ImageNet-1k",
    keys=("conv1.weight", "layer4.1.bn2.running_var"),
    note="the old runbook gave torchvision's resnet18-f37072fd.pth; the official code builds timm swsl_resnet18. "
         "Licence CC-BY-NC 4.0")


def pad_reflect(x: Tensor, pad: tuple[int, int, int, int]) -> Tensor:
    """Reflect padding (left, right, top, bottom), or replicate where the map is too small to reflect."""
    height, width = x.shape[-2:]
    fits = max(pad[0], pad[1]) < width and max(pad[2], pad[3]) < height
    return F.pad(x, pad, mode="reflect" if fits else "replicate")


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU6())


class ConvBN(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False),
                         nn.BatchNorm2d(out_channels))


class SeparableConvBN(nn.Sequential):
    """Depthwise k x k conv, BN, pointwise 1x1 conv (no biases)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(nn.Conv2d(in_channels, in_channels, kernel_size, padding=(kernel_size - 1) // 2,
                                   groups=in_channels, bias=False),
                         nn.BatchNorm2d(out_channels),
                         nn.Conv2d(in_channels, out_channels, 1, bias=False))


class Mlp(nn.Module):
    """1x1 conv -> ReLU6 -> 1x1 conv (with biases)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.ReLU6()
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


def relative_position_index(window: int) -> Tensor:
    """(w*w, w*w) index into a (2w-1)^2 bias table for every pair of positions in a window (Swin)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)   # N N 2
    return relative[..., 0] * (2 * window - 1) + relative[..., 1]


class GlobalLocalAttention(nn.Module):
    """UNetFormer's global-local attention. Global: multi-head attention in non-overlapping windows with
    a relative position bias, then average pooling along columns and rows of a window's length. Local:
    3x3 + 1x1 ConvBN of `local` (RS3Mamba's FusionAttention: the VSS features, `local_dim` channels) or
    of x itself (the decoder's blocks). The sum goes through a separable projection of kernel `window`."""

    def __init__(self, dim: int, num_heads: int, window: int = 8, local_dim: int | None = None) -> None:
        super().__init__()
        self.num_heads, self.window = num_heads, window
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.local1 = ConvBN(local_dim or dim, dim, 3)
        self.local2 = ConvBN(local_dim or dim, dim, 1)
        self.proj = SeparableConvBN(dim, dim, window)
        self.attn_x = nn.AvgPool2d((window, 1), stride=1, padding=(window // 2 - 1, 0))
        self.attn_y = nn.AvgPool2d((1, window), stride=1, padding=(0, window // 2 - 1))
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def window_attention(self, x: Tensor) -> Tensor:
        b, c, hp, wp = x.shape
        ws, heads = self.window, self.num_heads
        hh, ww = hp // ws, wp // ws
        qkv = self.qkv(x).view(b, 3, heads, c // heads, hh, ws, ww, ws)
        q, k, v = qkv.permute(1, 0, 4, 6, 2, 5, 7, 3).reshape(3, b * hh * ww, heads, ws * ws, c // heads)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(ws * ws, ws * ws, heads).permute(2, 0, 1)                       # heads N N
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0).to(q.dtype))  # B' heads N d
        out = out.view(b, hh, ww, heads, ws, ws, c // heads).permute(0, 3, 6, 1, 4, 2, 5)
        return out.reshape(b, c, hp, wp)

    def forward(self, x: Tensor, local: Tensor | None = None) -> Tensor:
        _, _, h, w = x.shape
        local = x if local is None else local
        local = self.local2(local) + self.local1(local)
        ws = self.window
        padded = pad_reflect(x, (0, (ws - w % ws) % ws, 0, (ws - h % ws) % ws))
        attn = self.window_attention(padded)[:, :, :h, :w]
        out = self.attn_x(pad_reflect(attn, (0, 0, 0, 1))) + self.attn_y(pad_reflect(attn, (0, 1, 0, 0)))
        out = self.proj(pad_reflect(out + local, (0, 1, 0, 1)))
        return out[:, :, :h, :w]


class Block(nn.Module):
    """Global-local transformer block: x + attn(BN x), then x + MLP(BN x), MLP ratio 4."""

    def __init__(self, dim: int = 64, num_heads: int = 8, window: int = 8, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = GlobalLocalAttention(dim, num_heads, window)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm2 = nn.BatchNorm2d(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class WeightedFusion(nn.Module):
    """WF: x2 bilinear upsampling of the decoder path, then w0 * 1x1(skip) + w1 * x with ReLU'd weights
    normalised to sum 1, then a 3x3 ConvBNReLU."""

    def __init__(self, in_channels: int, channels: int = 64, eps: float = 1e-8) -> None:
        super().__init__()
        self.pre_conv = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.weights = nn.Parameter(torch.ones(2))
        self.eps = eps
        self.post_conv = ConvBNReLU(channels, channels, 3)

    def fuse(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        weights = F.relu(self.weights)
        weights = weights / (weights.sum() + self.eps)
        return self.post_conv(weights[0] * self.pre_conv(skip) + weights[1] * x)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.fuse(x, skip)


class FeatureRefinementHead(WeightedFusion):
    """FRH: weighted fusion with layer 1, then spatial (depthwise 3x3, sigmoid) plus channel (squeeze by
    16, sigmoid) attention, a separable projection and a 1x1 ConvBN shortcut, ReLU6."""

    def __init__(self, in_channels: int, channels: int = 64) -> None:
        super().__init__(in_channels, channels)
        self.pa = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.Sigmoid())
        self.ca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels // 16, 1, bias=False),
                                nn.ReLU6(), nn.Conv2d(channels // 16, channels, 1, bias=False), nn.Sigmoid())
        self.shortcut = ConvBN(channels, channels, 1)
        self.proj = SeparableConvBN(channels, channels, 3)
        self.act = nn.ReLU6()

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.fuse(x, skip)
        attended = self.pa(x) * x + self.ca(x) * x
        return self.act(self.proj(attended) + self.shortcut(x))


class AuxHead(nn.Sequential):
    """Training-only head on the sum of the three transformer stages (at 1/8)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__(ConvBNReLU(channels, channels), nn.Dropout(0.1), nn.Conv2d(channels, num_classes, 1, bias=False))


class Decoder(nn.Module):
    """(res1..res4) -> (logits at 1/4, auxiliary logits at 1/8 in training, else None). RS3Mamba uses it
    with `aux=False`: its decoder is this one without the auxiliary head."""

    def __init__(self, encoder_channels: tuple[int, ...], channels: int = 64, dropout: float = 0.1,
                 window: int = 8, num_classes: int = 6, aux: bool = True) -> None:
        super().__init__()
        self.pre_conv = ConvBN(encoder_channels[-1], channels, 1)
        self.b4 = Block(channels, 8, window)
        self.b3 = Block(channels, 8, window)
        self.p3 = WeightedFusion(encoder_channels[-2], channels)
        self.b2 = Block(channels, 8, window)
        self.p2 = WeightedFusion(encoder_channels[-3], channels)
        self.aux_head = AuxHead(channels, num_classes) if aux else None
        self.p1 = FeatureRefinementHead(encoder_channels[-4], channels)
        self.segmentation_head = nn.Sequential(ConvBNReLU(channels, channels), nn.Dropout2d(dropout),
                                               nn.Conv2d(channels, num_classes, 1, bias=False))

    def forward(self, res1: Tensor, res2: Tensor, res3: Tensor, res4: Tensor) -> tuple[Tensor, Tensor | None]:
        x4 = self.b4(self.pre_conv(res4))           # B 64 H/32 W/32
        x3 = self.b3(self.p3(x4, res3))             # B 64 H/16
        x2 = self.b2(self.p2(x3, res2))             # B 64 H/8
        main = self.segmentation_head(self.p1(x2, res1))   # B K H/4
        if not self.training or self.aux_head is None:
            return main, None
        # the official nn.UpsamplingBilinear2d aligns corners
        summed = (F.interpolate(x4, scale_factor=4.0, mode="bilinear", align_corners=True)
                  + F.interpolate(x3, scale_factor=2.0, mode="bilinear", align_corners=True) + x2)
        return main, self.aux_head(summed)


class UNetFormer(nn.Module):
    complexity_groups = {"encoder": ("backbone",), "decoder": ("decoder",),
                         "heads": ("decoder.segmentation_head", "decoder.aux_head")}

    def __init__(self, num_classes: int = 6, *, pretrained: bool | str | Path = False, decode_channels: int = 64,
                 dropout: float = 0.1, window_size: int = 8) -> None:
        super().__init__()
        self.backbone = timm.create_model("resnet18", pretrained=False, features_only=True, output_stride=32,
                                          out_indices=(1, 2, 3, 4))
        channels = tuple(self.backbone.feature_info.channels())
        self.decoder = Decoder(channels, decode_channels, dropout, window_size, num_classes)
        if pretrained:
            state, name = pretrained_state_dict(pretrained, PRETRAINED_TAG, "Download the timm weights "
                                                f"{PRETRAINED_TAG} (a ResNet-18 state dict)")
            load_trunk_weights(self.backbone, state, name, arch="ResNet-18")

    def forward(self, image: Tensor, dsm: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        size = image.shape[-2:]
        main, aux = self.decoder(*self.backbone(image))
        main = F.interpolate(main, size=size, mode="bilinear", align_corners=False)
        if aux is None:
            return main
        return main, F.interpolate(aux, size=size, mode="bilinear", align_corners=False)


@register_model(
    "unetformer",
    weights=(WeightFile(initialises="image encoder (ResNet-18)", **SWSL_RESNET18),),
    label="UNetFormer",
    backbone="ResNet-18",
    modalities=("image",),
    # UnetFormerLoss: label-smoothed CE (0.05) + soft Dice on the main output, 0.4 x smoothed CE on the aux head.
    loss="ce",
    loss_weights={"label_smoothing": 0.05, "dice": 1.0},
    aux_weights=(0.4,),
    description="ResNet-18, global-local transformer decoder (8x8 windows), weighted skip fusion, FRH, aux head",
    recipe=Recipe(
        source="WangLibo1995/GeoSeg@9453fe4",
        train=train_values(optimizer="adamw", lr=6e-4, weight_decay=0.01, lookahead=5, no_bias_decay=True,
                           param_groups=[{"pattern": r"backbone\.", "lr": 6e-5, "weight_decay": 0.01}],
                           schedule="cosine_restarts", schedule_options={"T_0": 15, "T_mult": 2},
                           epochs=105, iterations_per_epoch=476, batch_size=8, crop=512),
        cites={"optimizer, lr, weight_decay": "config/vaihingen/unetformer.py L13-14, L66 (AdamW)",
               "param_groups": "config/vaihingen/unetformer.py L15-16, L64-65 (backbone.* at lr 6e-5, wd 0.01)",
               "no_bias_decay": "tools/utils.py L46, L79-80 (process_model_params: biases without decay)",
               "lookahead": "config/vaihingen/unetformer.py L67; tools/utils.py L104 (k 5, alpha 0.5)",
               "schedule": "config/vaihingen/unetformer.py L68 (CosineAnnealingWarmRestarts T_0 15, T_mult 2, "
                           "stepped per epoch by Lightning)",
               "epochs": "config/vaihingen/unetformer.py L9 (max_epoch 105)", "batch_size": "L11",
               "crop": "geoseg/datasets/vaihingen_dataset.py L32-33 (random scale 0.5-1.5, then 512 crops)",
               "loss, aux_weights": "config/vaihingen/unetformer.py L37-38; geoseg/losses/useful_loss.py L74-81"},
        notes="GeoSeg's epoch is one pass over its own 1024-pixel cuts of the training tiles; here an epoch is "
              "476 iterations, so the 105 epochs take the protocol's 50k iterations. Multi-scale and mosaic "
              "augmentation are not reproduced.",
    ),
)
def unetformer(num_classes: int = 6, pretrained: bool | str | Path = False, **options) -> UNetFormer:
    return UNetFormer(num_classes, pretrained=pretrained, **options)
