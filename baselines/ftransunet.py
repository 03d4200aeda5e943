"""FTransUNet (Ma et al., TGRS 2024): two BiT ResNet-50 trunks with squeeze-and-excitation fusion, a
12-layer dual-stream ViT-B whose middle layers mix self- and cross-attention, and TransUNet's decoder.

image (B, 3, H, W), dsm (B, 1, H, W) -> logits (B, K, H, W) in train and eval (no auxiliary output).

Follows the official code (sstary/SSRS, FTransUNet/model/vitcross_seg_modeling.py and
vit_seg_modeling_resnet_skip.py, built as in train.py: R50-ViT-B_16, 16x16 grid, img_size 256, 3 skips):
- trunk: weight-standardised convs with GroupNorm, root 7x7/2, a 3x3/2 max-pool WITHOUT padding, then
  3 + 4 + 9 bottlenecks (conv -> GN -> ReLU, "PreActBottleneck" in the official names) to 1/16, 1024 ch.
  The 1/4 skip is one pixel short after the unpadded pool and is zero-padded at the bottom/right.
- fusion (ESANet's SE-add): after the root and each block, image = SE(image) + SE(dsm); the DSM trunk
  never receives image features.
- transformer: a 1x1 patch embedding per modality (1024 -> 768), one position embedding shared by both;
  each layer has separate weights per modality (q/k/v/out, MLP, norms). Layers 1-3 and 10-12 are
  self-attention per stream; layers 4-9 ("MBA") add cross-attention (image queries on DSM keys/values and
  back) and mix self and cross outputs with four learnable scalars initialised to 0.5; the cross branch
  reuses the querying stream's output projection. Final LayerNorm per stream, the streams are summed.
- decoder (TransUNet's DecoderCup): 3x3 conv-BN-ReLU 768 -> 512, four x2 stages (bilinear with aligned
  corners, as nn.UpsamplingBilinear2d) with skips 512/256/64 and widths 256/128/64/16, 3x3 head 16 -> K.
Departures: attention runs through scaled_dot_product_attention (same arithmetic, counted by the suite's
handle); the position embedding is built for 256x256 and resized bilinearly for other input sizes (the
official code fixes the input size at construction); non-square inputs are allowed.

Pretrained weights: the ImageNet-21k R50+ViT-B/16 checkpoint that TransUNet distributes (R50+ViT-B_16.npz),
loaded from a local file by `load_npz`, into both trunks and both transformer streams as the official
`load_from` does; the DSM root kernel is the mean of the RGB kernel over its input channels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn

from ms2mnet.engine.recipes import Recipe, SSRS_REPO, ssrs_train
from ms2mnet.models import WeightFile, register_model

# FTransUNet's fusion is ESANet's SE-add block, taken over unchanged (parameters se_rgb, se_depth).
from .esanet import SqueezeAndExciteFusionAdd

log = logging.getLogger(__name__)

NPZ_NAME = "R50+ViT-B_16.npz"
NPZ_URL = "https://storage.googleapis.com/vit_models/imagenet21k/R50+ViT-B_16.npz"


class StdConv2d(nn.Conv2d):
    """Conv with weight standardisation (zero mean, unit variance per output filter), as BiT."""

    def forward(self, x: Tensor) -> Tensor:
        var, mean = torch.var_mean(self.weight, dim=(1, 2, 3), keepdim=True, unbiased=False)
        weight = (self.weight - mean) / torch.sqrt(var + 1e-5)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class PreActBottleneck(nn.Module):
    """BiT bottleneck as the official code builds it (despite its name: conv -> GN -> ReLU per step);
    a projection (conv + GN with one group per channel) where the shape changes; stride on the 3x3."""

    def __init__(self, cin: int, cout: int, cmid: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = StdConv2d(cin, cmid, 1, bias=False)
        self.gn1 = nn.GroupNorm(32, cmid, eps=1e-6)
        self.conv2 = StdConv2d(cmid, cmid, 3, stride=stride, padding=1, bias=False)
        self.gn2 = nn.GroupNorm(32, cmid, eps=1e-6)
        self.conv3 = StdConv2d(cmid, cout, 1, bias=False)
        self.gn3 = nn.GroupNorm(32, cout, eps=1e-6)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or cin != cout:
            self.downsample = StdConv2d(cin, cout, 1, stride=stride, bias=False)
            self.gn_proj = nn.GroupNorm(cout, cout)
        else:
            self.downsample = None

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.gn_proj(self.downsample(x))
        y = self.relu(self.gn1(self.conv1(x)))
        y = self.relu(self.gn2(self.conv2(y)))
        y = self.gn3(self.conv3(y))
        return self.relu(residual + y)


class ResNetV2(nn.Module):
    """BiT ResNet-50 trunk to 1/16: root (7x7/2 conv, GN, ReLU) and blocks 1-3 (`block_units` bottlenecks
    each, widths 4w/8w/16w); the max-pool between them is applied by the caller (it is unpadded)."""

    def __init__(self, in_chans: int, block_units: tuple[int, int, int] = (3, 4, 9), width: int = 64) -> None:
        super().__init__()
        self.root = nn.Sequential()
        self.root.add_module("conv", StdConv2d(in_chans, width, 7, stride=2, padding=3, bias=False))
        self.root.add_module("gn", nn.GroupNorm(32, width, eps=1e-6))
        self.root.add_module("relu", nn.ReLU(inplace=True))
        self.body = nn.Sequential()
        cin = width
        for b, (units, mult) in enumerate(zip(block_units, (1, 2, 4)), start=1):
            block = nn.Sequential()
            for u in range(1, units + 1):
                stride = 2 if b > 1 and u == 1 else 1
                block.add_module(f"unit{u}", PreActBottleneck(cin, 4 * width * mult, width * mult, stride))
                cin = 4 * width * mult
            self.body.add_module(f"block{b}", block)


class FuseResNetV2(nn.Module):
    """Image and DSM trunks with SE fusion after the root and each block. Returns the fused 1/16 image
    features, the DSM 1/16 features, and the skips [1/8 (8w), 1/4 (4w), 1/2 (w)] for the decoder."""

    def __init__(self, block_units: tuple[int, int, int] = (3, 4, 9), width: int = 64) -> None:
        super().__init__()
        self.image = ResNetV2(3, block_units, width)
        self.dsm = ResNetV2(1, block_units, width)
        self.fusion = nn.ModuleList(SqueezeAndExciteFusionAdd(c) for c in (width, 4 * width, 8 * width, 16 * width))

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        h, w = x.shape[-2:]
        y = self.dsm.root(y)
        x = self.fusion[0](self.image.root(x), y)                            # B w H/2 W/2
        skips = [x]
        x, y = F.max_pool2d(x, 3, 2), F.max_pool2d(y, 3, 2)                  # unpadded: H/4 - 1
        for i, (block_x, block_y) in enumerate(zip(self.image.body, self.dsm.body)):
            y = block_y(y)
            x = self.fusion[i + 1](block_x(x), y)
            if i < 2:   # skips at 1/4 and 1/8, zero-padded to full size as the official code does
                size = (h // 2 ** (i + 2), w // 2 ** (i + 2))
                skips.append(F.pad(x, (0, size[1] - x.shape[-1], 0, size[0] - x.shape[-2])))
        return x, y, skips[::-1]                                              # B 16w H/16 W/16


class Mlp(nn.Sequential):
    """ViT MLP: Linear -> GELU -> dropout -> Linear -> dropout (Xavier weights, near-zero biases)."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                         nn.Dropout(dropout))
        for fc in (self[0], self[3]):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.normal_(fc.bias, std=1e-6)


class StreamLayer(nn.Module):
    """One modality's weights in a transformer layer: pre-norms, q/k/v/out projections and the MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.attention_norm = nn.LayerNorm(dim, eps=1e-6)
        self.query, self.key, self.value, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = Mlp(dim, mlp_dim, dropout)

    def heads(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.num_heads, d // self.num_heads).transpose(1, 2)   # B heads N d

    def qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.attention_norm(x)
        return self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))

    def project(self, attended: Tensor) -> Tensor:
        b, _, n, _ = attended.shape
        return self.out(attended.transpose(1, 2).reshape(b, n, -1))             # B N D


class FusionLayer(nn.Module):
    """A dual-stream transformer layer. Self-attention per stream; with `cross` (MBA), also image queries
    on DSM keys/values and DSM queries on image keys/values, each through the querying stream's output
    projection, mixed as w_self * self + w_cross * cross with learnable scalars (init 0.5)."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, dropout: float, cross: bool) -> None:
        super().__init__()
        self.image = StreamLayer(dim, num_heads, mlp_dim, dropout)
        self.dsm = StreamLayer(dim, num_heads, mlp_dim, dropout)
        # mix[stream, 0 = self / 1 = cross]: the official w11, w12 (image) and w21, w22 (DSM)
        self.mix = nn.Parameter(torch.full((2, 2), 0.5)) if cross else None

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        qx, kx, vx = self.image.qkv(x)
        qy, ky, vy = self.dsm.qkv(y)
        ax = self.image.project(F.scaled_dot_product_attention(qx, kx, vx))
        ay = self.dsm.project(F.scaled_dot_product_attention(qy, ky, vy))
        if self.mix is not None:
            cx = self.image.project(F.scaled_dot_product_attention(qx, ky, vy))
            cy = self.dsm.project(F.scaled_dot_product_attention(qy, kx, vx))
            ax = self.mix[0, 0] * ax + self.mix[0, 1] * cx
            ay = self.mix[1, 0] * ay + self.mix[1, 1] * cy
        x, y = x + ax, y + ay
        x = x + self.image.ffn(self.image.ffn_norm(x))
        y = y + self.dsm.ffn(self.dsm.ffn_norm(y))
        return x, y


class Embeddings(nn.Module):
    """1x1 patch embedding per modality (the grid is the trunk's 1/16 map) plus one shared position
    embedding for a `grid` x `grid` map, resized bilinearly when the input is not grid * 16 pixels."""

    def __init__(self, in_channels: int, dim: int, grid: int, dropout: float) -> None:
        super().__init__()
        self.grid = grid
        self.patch_image = nn.Conv2d(in_channels, dim, 1)
        self.patch_dsm = nn.Conv2d(in_channels, dim, 1)
        self.position = nn.Parameter(torch.zeros(1, grid * grid, dim))
        self.dropout = nn.Dropout(dropout)

    def position_for(self, h: int, w: int) -> Tensor:
        if (h, w) == (self.grid, self.grid):
            return self.position
        grid = self.position.transpose(1, 2).reshape(1, -1, self.grid, self.grid)
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)
        return grid.flatten(2).transpose(1, 2)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        h, w = x.shape[-2:]
        position = self.position_for(h, w)
        x = self.patch_image(x).flatten(2).transpose(1, 2)                      # B N D
        y = self.patch_dsm(y).flatten(2).transpose(1, 2)
        return self.dropout(x + position), self.dropout(y + position)


class Encoder(nn.Module):
    """The fusion transformer: `num_layers` layers, MBA (cross) at `cross_layers`, final norms."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, num_layers: int, cross_layers: tuple[int, ...],
                 dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(FusionLayer(dim, num_heads, mlp_dim, dropout, i in cross_layers)
                                    for i in range(num_layers))
        self.norm_image = nn.LayerNorm(dim, eps=1e-6)
        self.norm_dsm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        for layer in self.layers:
            x, y = layer(x, y)
        return self.norm_image(x), self.norm_dsm(y)


class Conv2dReLU(nn.Sequential):
    """Conv (no bias) -> BN -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    """x2 bilinear upsampling (aligned corners, nn.UpsamplingBilinear2d), concatenated skip, 2x Conv2dReLU."""

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int) -> None:
        super().__init__()
        self.conv1 = Conv2dReLU(in_channels + skip_channels, out_channels)
        self.conv2 = Conv2dReLU(out_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor | None) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class DecoderCup(nn.Module):
    """TransUNet's cascaded upsampler: tokens -> map, 3x3 to 512, four DecoderBlocks (skips on three)."""

    def __init__(self, dim: int, skip_channels: tuple[int, ...], channels: tuple[int, ...] = (256, 128, 64, 16),
                 head_channels: int = 512) -> None:
        super().__init__()
        self.conv_more = Conv2dReLU(dim, head_channels)
        skips = (*skip_channels, 0, 0, 0, 0)[:len(channels)]
        inputs = (head_channels, *channels[:-1])
        self.blocks = nn.ModuleList(DecoderBlock(i, o, s) for i, o, s in zip(inputs, channels, skips))

    def forward(self, tokens: Tensor, size: tuple[int, int], skips: list[Tensor]) -> Tensor:
        b, _, d = tokens.shape
        x = self.conv_more(tokens.transpose(1, 2).reshape(b, d, *size))        # B 512 H/16 W/16
        for i, block in enumerate(self.blocks):
            x = block(x, skips[i] if i < len(skips) else None)
        return x                                                                # B 16 H W


class FTransUNet(nn.Module):
    complexity_groups = {"encoder": ("trunks.image", "trunks.dsm"), "fusion": ("trunks.fusion",),
                         "transformer": ("embeddings", "encoder"), "decoder": ("decoder",), "heads": ("head",)}

    def __init__(
        self,
        num_classes: int = 6,
        *,
        pretrained: bool | str | Path = False,
        hidden_size: int = 768,
        num_heads: int = 12,
        mlp_dim: int = 3072,
        num_layers: int = 12,
        cross_layers: tuple[int, ...] = (3, 4, 5, 6, 7, 8),   # layers 4-9 (0-based 3..8) are MBA
        block_units: tuple[int, int, int] = (3, 4, 9),
        width: int = 64,
        grid: int = 16,            # the official img_size 256 / 16
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.trunks = FuseResNetV2(tuple(block_units), width)
        self.embeddings = Embeddings(16 * width, hidden_size, grid, dropout)
        self.encoder = Encoder(hidden_size, num_heads, mlp_dim, num_layers, tuple(cross_layers), dropout)
        self.decoder = DecoderCup(hidden_size, (8 * width, 4 * width, width))
        self.head = nn.Conv2d(16, num_classes, 3, padding=1)
        if pretrained:
            load_npz(self, pretrained)

    def forward(self, image: Tensor, dsm: Tensor) -> Tensor:
        if image.shape[-2] % 16 or image.shape[-1] % 16:
            raise ValueError(f"FTransUNet needs inputs whose sides are multiples of 16 (got {tuple(image.shape)})")
        x, y, skips = self.trunks(image, dsm)
        size = x.shape[-2:]
        x, y = self.encoder(*self.embeddings(x, y))
        return self.head(self.decoder(x + y, size, skips))


# --- the R50+ViT-B/16 checkpoint (TensorFlow/JAX layout: HWIO kernels, heads split in the q/k/v shapes) ---

def _conv(kernel: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))   # HWIO -> OIHW


def _vector(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).reshape(-1)


def _dense(kernel: np.ndarray, dim_out: int | None = None) -> Tensor:
    """A Dense kernel (in, ..., out) or (..., out) as a torch Linear weight (out, in)."""
    matrix = kernel.reshape(-1, dim_out) if dim_out else kernel.reshape(kernel.shape[0], -1)
    return torch.from_numpy(np.ascontiguousarray(matrix.T))


def _position(posemb: np.ndarray, grid: int) -> Tensor:
    """The checkpoint's position embedding for a grid x grid map: as is, without its class token, or
    (a different grid) its patch tokens resized with a linear spline, as the official loader does."""
    tokens = posemb.shape[1]
    if tokens == grid * grid:
        return torch.from_numpy(posemb)
    patches = posemb[0, 1:]
    if tokens - 1 != grid * grid:
        old = int(round(np.sqrt(len(patches))))
        patches = patches.reshape(old, old, -1)
        patches = ndimage.zoom(patches, (grid / old, grid / old, 1), order=1)
        log.info("position embedding resized from a %dx%d to a %dx%d grid", old, old, grid, grid)
    return torch.from_numpy(np.ascontiguousarray(patches.reshape(1, grid * grid, -1)))


def _trunk_state(weights: Mapping[str, np.ndarray], trunk: ResNetV2, prefix: str, gray: bool) -> dict[str, Tensor]:
    root = _conv(weights["conv_root/kernel"])
    state = {f"{prefix}root.conv.weight": root.mean(dim=1, keepdim=True) if gray else root,
             f"{prefix}root.gn.weight": _vector(weights["gn_root/scale"]),
             f"{prefix}root.gn.bias": _vector(weights["gn_root/bias"])}
    for block_name, block in trunk.body.named_children():
        for unit_name, unit in block.named_children():
            src, dst = f"{block_name}/{unit_name}/", f"{prefix}body.{block_name}.{unit_name}."
            for i in (1, 2, 3):
                state[f"{dst}conv{i}.weight"] = _conv(weights[f"{src}conv{i}/kernel"])
                state[f"{dst}gn{i}.weight"] = _vector(weights[f"{src}gn{i}/scale"])
                state[f"{dst}gn{i}.bias"] = _vector(weights[f"{src}gn{i}/bias"])
            if unit.downsample is not None:
                state[f"{dst}downsample.weight"] = _conv(weights[f"{src}conv_proj/kernel"])
                state[f"{dst}gn_proj.weight"] = _vector(weights[f"{src}gn_proj/scale"])
                state[f"{dst}gn_proj.bias"] = _vector(weights[f"{src}gn_proj/bias"])
    return state


def _layer_state(weights: Mapping[str, np.ndarray], index: int, prefix: str, dim: int) -> dict[str, Tensor]:
    src = f"Transformer/encoderblock_{index}/"
    attention = src + "MultiHeadDotProductAttention_1/"
    state = {}
    for stream in ("image", "dsm"):   # both streams start from the same ViT layer
        dst = f"{prefix}{stream}."
        for name in ("query", "key", "value"):
            state[f"{dst}{name}.weight"] = _dense(weights[f"{attention}{name}/kernel"], dim)
            state[f"{dst}{name}.bias"] = _vector(weights[f"{attention}{name}/bias"])
        state[f"{dst}out.weight"] = _dense(weights[f"{attention}out/kernel"], dim)
        state[f"{dst}out.bias"] = _vector(weights[f"{attention}out/bias"])
        for norm, key in (("attention_norm", "LayerNorm_0"), ("ffn_norm", "LayerNorm_2")):
            state[f"{dst}{norm}.weight"] = _vector(weights[f"{src}{key}/scale"])
            state[f"{dst}{norm}.bias"] = _vector(weights[f"{src}{key}/bias"])
        for fc, key in ((0, "Dense_0"), (3, "Dense_1")):
            state[f"{dst}ffn.{fc}.weight"] = _dense(weights[f"{src}MlpBlock_3/{key}/kernel"])
            state[f"{dst}ffn.{fc}.bias"] = _vector(weights[f"{src}MlpBlock_3/{key}/bias"])
    return state


def npz_state_dict(weights: Mapping[str, np.ndarray], model: FTransUNet) -> dict[str, Tensor]:
    """The checkpoint's tensors under this model's names: both trunks (the DSM root = mean of the RGB
    kernel), both patch embeddings, the position embedding, every layer for both streams, the final
    norms. The SE fusion, the MBA mixing weights, the decoder and the head are not in the checkpoint."""
    dim = model.embeddings.position.shape[-1]
    state = {**_trunk_state(weights, model.trunks.image, "trunks.image.", gray=False),
             **_trunk_state(weights, model.trunks.dsm, "trunks.dsm.", gray=True)}
    for stream in ("image", "dsm"):
        state[f"embeddings.patch_{stream}.weight"] = _conv(weights["embedding/kernel"])
        state[f"embeddings.patch_{stream}.bias"] = _vector(weights["embedding/bias"])
        state[f"encoder.norm_{stream}.weight"] = _vector(weights["Transformer/encoder_norm/scale"])
        state[f"encoder.norm_{stream}.bias"] = _vector(weights["Transformer/encoder_norm/bias"])
    state["embeddings.position"] = _position(weights["Transformer/posembed_input/pos_embedding"],
                                             model.embeddings.grid)
    for i in range(len(model.encoder.layers)):
        state.update(_layer_state(weights, i, f"encoder.layers.{i}.", dim))
    return state


def load_npz(model: FTransUNet, source: bool | str | Path) -> None:
    """Load R50+ViT-B_16.npz (ImageNet-21k, as TransUNet distributes it) from a local file."""
    if source is True:
        raise RuntimeError(f"FTransUNet's weights cannot be downloaded automatically: download {NPZ_NAME} from "
                           f"{NPZ_URL} and pass pretrained=/path/to/{NPZ_NAME}")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file {path} does not exist: download {NPZ_NAME} from "
                                f"{NPZ_URL} and pass its path")
    with np.load(path) as archive:
        weights = {key: archive[key] for key in archive.files}
    try:
        state = npz_state_dict(weights, model)
    except KeyError as err:
        raise ValueError(f"{path}: not an R50+ViT-B/16 checkpoint, key {err} is missing (expected the "
                         f"TransUNet/ViT names of {NPZ_NAME})") from err
    own = model.state_dict()
    wrong = [k for k, v in state.items() if v.shape != own[k].shape]
    if wrong:
        raise ValueError(f"{path}: shapes do not match this FTransUNet's configuration, e.g. {wrong[0]}: "
                         f"{tuple(state[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)}")
    model.load_state_dict(state, strict=False)
    log.info("loaded %s into FTransUNet (%d tensors)", path, len(state))


@register_model(
    "ftransunet",
    weights=(WeightFile(
        initialises="image and DSM R50 trunks, both patch embeddings and encoder norms, the 12 transformer "
                    "layers (shared by both streams) and the position embedding (resized to the grid)",
        file=NPZ_NAME, source="Google's ViT release, R50+ViT-B/16 on ImageNet-21k (TransUNet's checkpoint)",
        url="https://storage.googleapis.com/vit_models/imagenet21k/R50%2BViT-B_16.npz",
        format="BiT/ViT numpy archive (.npz)", pretraining="ImageNet-21k", dsm_stem="mean of the RGB root kernel",
        keys=("conv_root/kernel", "embedding/kernel", "Transformer/posembed_input/pos_embedding")),),
    label="FTransUNet",
    backbone="2x BiT R50 + dual ViT-B/16",
    loss="ce",                     # the official train.py: unweighted cross-entropy on the single output
    aux_weights=(),
    description="BiT R50 x2 with SE fusion, 12-layer dual ViT-B (layers 4-9 self+cross), TransUNet decoder",
    recipe=Recipe(
        source=SSRS_REPO,
        train=ssrs_train(epochs=50),
        cites={"optimizer, lr, momentum, weight_decay": "FTransUNet/train.py L50, L61 (the lr/2 encoder groups of "
                                                       "L51-59 are built but never passed to SGD)",
               "schedule": "FTransUNet/train.py L63 (MultiStepLR 25/35/45, gamma 0.1, stepped per epoch)",
               "epochs": "FTransUNet/train.py L173 (train(net, optimizer, 50, scheduler))",
               "iterations_per_epoch": "FTransUNet/utils.py L113-116 (BATCH_SIZE * 1000 samples per epoch)",
               "crop, batch_size": "FTransUNet/utils.py L15, L20",
               "loss": "FTransUNet/train.py L142 with WEIGHTS = ones (utils.py L24): unweighted CE"},
    ),
)
def ftransunet(num_classes: int = 6, pretrained: bool | str | Path = False, **options) -> FTransUNet:
    return FTransUNet(num_classes, pretrained=pretrained, **options)
