"""RS3Mamba (Ma et al., GRSL 2024), image only: a ResNet-18 main branch and a VMamba-T auxiliary branch
of visual state-space (VSS) blocks; at each of the four stages a fusion block combines window attention
on the CNN features with a local conv on the VSS features and feeds the next ResNet stage; UNetFormer's
decoder turns the four fused stages into logits.

image (B, 3, H, W) -> logits (B, K, H, W) in train and eval (no auxiliary output); the DSM is ignored.

Follows the official code (sstary/SSRS, RS3Mamba/model/RS3Mamba.py and SwinUMamba.py):
- VSS branch: 7x7/2 conv to 48 ch + InstanceNorm (affine), then VMamba-T's encoder with a 2x2 patch
  embedding (48 -> 96, LayerNorm): stages of 2/2/9/2 VSS blocks (x + DropPath(SS2D(LN x)), no MLP;
  drop-path 0 -> 0.2 over the 15 blocks) at 96/192/384/768 ch, patch merging (LN(4C), Linear 4C -> 2C)
  between stages. SS2D and its selective scan are the suite's (`ms2mnet.ops`): mamba-ssm's kernel on CUDA,
  the PyTorch scan elsewhere.
- main branch: timm ResNet-18; after layer i, FusionBlock(CNN_i, VSS_i) replaces the CNN features.
- FusionBlock: x + FusionAttention(BN x, BN y), then x + MLP(BN x) (ratio 4, ReLU6). FusionAttention is
  UNetFormer's global-local attention with 16 heads, where the global branch (8x8 window attention with a
  relative position bias, then cross-shaped average pooling) reads the CNN features and the local branch
  (3x3 + 1x1 ConvBN) reads the VSS features.
- decoder: UNetFormer's (width 64, global-local blocks with 8 heads at 1/32, 1/16, 1/8, weighted skip
  fusion, feature refinement head at 1/4, 3x3 ConvBNReLU + 1x1 head), without its auxiliary head.
Departures: attention runs through scaled_dot_product_attention with the relative position bias as its
additive mask (same arithmetic); a feature map too small to be reflect-padded to whole windows (inputs
under 256, e.g. 64x64) is padded by replicating its border (reflect wherever it fits, as the official).

Pretrained weights as the paper: timm's `swsl_resnet18` (now `resnet18.fb_swsl_ig1b_ft_in1k`) for the
ResNet-18, and VMamba-T's ImageNet checkpoint `vmamba_tiny_e292.pth` (VMamba v0) for the VSS encoder,
loaded as the official `load_pretrained_ckpt` does: every encoder tensor except the patch embedding's
conv and LayerNorm weight (its input differs; the official skip list names the norm weight twice and so
loads the norm bias), the final norm and the classifier.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from timm.layers import DropPath
from torch import Tensor, nn

from ms2mnet.engine.recipes import Recipe, SSRS_REPO, ssrs_train
from ms2mnet.models import WeightFile, register_model
from ms2mnet.models.backbone import load_trunk_weights, pretrained_state_dict
from ms2mnet.ops import SS2D
from ms2mnet.weights.files import read_checkpoint, tensors_of

from .unetformer import SWSL_RESNET18, Decoder, GlobalLocalAttention, Mlp

log = logging.getLogger(__name__)

RESNET_TAG = "resnet18.fb_swsl_ig1b_ft_in1k"   # timm's name for the official swsl_resnet18
VMAMBA_FILE = "vmamba_tiny_e292.pth"
VMAMBA_HINT = (f"download VMamba-T's ImageNet checkpoint {VMAMBA_FILE} (VMamba v0 release; RS3Mamba's "
               "README links it) and pass options.vmamba_weights=/path/to/" + VMAMBA_FILE)
# Checkpoint tensors the official loader leaves out (the patch embedding's input is 48 ch, 2x2 here).
VMAMBA_SKIPPED = ("norm.weight", "norm.bias", "head.weight", "head.bias", "patch_embed.proj.weight",
                  "patch_embed.proj.bias", "patch_embed.norm.weight")


# --- the VSS branch (VMamba-T encoder, v0 layout) ---

class PatchEmbed2D(nn.Module):
    """k x k / k conv to the first width, channels-last, LayerNorm: (B, C, H, W) -> (B, H/k, W/k, D)."""

    def __init__(self, in_chans: int, dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging2D(nn.Module):
    """2x2 neighbours concatenated (order (0,0), (1,0), (0,1), (1,1)), LayerNorm(4C), Linear 4C -> 2C."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:                                   # B H W C
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))                                   # B H/2 W/2 2C


class VSSBlock(nn.Module):
    """x + DropPath(SS2D(LayerNorm x)), channels-last; VMamba v0 has no MLP here."""

    def __init__(self, dim: int, d_state: int, drop_path: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = SS2D(dim, d_state=d_state)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop_path(self.self_attention(self.ln_1(x)))


class VSSLayer(nn.Module):
    def __init__(self, dim: int, depth: int, d_state: int, drop_paths: list[float]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(VSSBlock(dim, d_state, p) for p in drop_paths[:depth])

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class VSSMEncoder(nn.Module):
    """Patch embedding, then VSS stages with patch merging between them; returns each stage's output
    channels-first: [(B, 96, H/4, W/4), (B, 192, H/8), (B, 384, H/16), (B, 768, H/32)] for the 1/2 input."""

    def __init__(self, in_chans: int = 48, patch_size: int = 2, depths: tuple[int, ...] = (2, 2, 9, 2),
                 dims: tuple[int, ...] = (96, 192, 384, 768), d_state: int = 16, drop_path_rate: float = 0.2) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed2D(in_chans, dims[0], patch_size)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()   # stochastic depth, linear in depth
        starts = [sum(depths[:i]) for i in range(len(depths))]
        self.layers = nn.ModuleList(VSSLayer(d, n, d_state, rates[s:s + n]) for d, n, s in zip(dims, depths, starts))
        self.downsamples = nn.ModuleList(PatchMerging2D(d) for d in dims[:-1])
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        """VMamba's init: Linear weights truncated-normal (std 0.02) with zero biases, LayerNorm 1/0;
        convs and the SS2D parameters keep their own initialisation."""
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.patch_embed(x)                                               # B H/4 W/4 96 (of the image)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            outs.append(x.permute(0, 3, 1, 2))
            if i < len(self.downsamples):
                x = self.downsamples[i](x)
        return outs


# --- the fusion blocks, of UNetFormer's building blocks (the decoder is UNetFormer's own, imported) ---

class FusionBlock(nn.Module):
    """x + FusionAttention(BN x, BN y), then x + MLP(BN x): x the CNN features, y the VSS features."""

    def __init__(self, dim: int, ssm_dim: int, num_heads: int = 16, window: int = 8, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.normx = nn.BatchNorm2d(dim)
        self.normy = nn.BatchNorm2d(ssm_dim)
        self.attn = GlobalLocalAttention(dim, num_heads, window, local_dim=ssm_dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm2 = nn.BatchNorm2d(dim)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x = x + self.attn(self.normx(x), self.normy(y))
        return x + self.mlp(self.norm2(x))


class RS3Mamba(nn.Module):
    complexity_groups = {"encoder": ("backbone",), "vss": ("stem", "vssm_encoder"), "fusion": ("fuse",),
                         "decoder": ("decoder",), "heads": ("decoder.segmentation_head",)}

    def __init__(self, num_classes: int = 6, *, pretrained: bool | str | Path = False,
                 vmamba_weights: str | Path | None = None, decode_channels: int = 64, dropout: float = 0.1,
                 window_size: int = 8, ssm_dims: tuple[int, ...] = (96, 192, 384, 768),
                 depths: tuple[int, ...] = (2, 2, 9, 2), d_state: int = 16, drop_path_rate: float = 0.2) -> None:
        super().__init__()
        self.backbone = timm.create_model("resnet18", pretrained=False, features_only=True, output_stride=32,
                                          out_indices=(1, 2, 3, 4))
        channels = tuple(self.backbone.feature_info.channels())                # 64, 128, 256, 512
        self.stem = nn.Sequential(nn.Conv2d(3, ssm_dims[0] // 2, 7, stride=2, padding=3),
                                  nn.InstanceNorm2d(ssm_dims[0] // 2, affine=True))
        self.vssm_encoder = VSSMEncoder(ssm_dims[0] // 2, 2, tuple(depths), tuple(ssm_dims), d_state, drop_path_rate)
        self.fuse = nn.ModuleList(FusionBlock(c, s, window=window_size) for c, s in zip(channels, ssm_dims))
        self.decoder = Decoder(channels, decode_channels, dropout, window_size, num_classes, aux=False)
        if pretrained:   # the paper starts from both checkpoints
            if vmamba_weights is None:
                raise ValueError(f"RS3Mamba starts from two checkpoints, ResNet-18 and VMamba-T: {VMAMBA_HINT}")
            state, name = pretrained_state_dict(pretrained, RESNET_TAG, f"Download the timm weights {RESNET_TAG} "
                                                "(a ResNet-18 state dict)")
            load_trunk_weights(self.backbone, state, name, arch="ResNet-18")
        if vmamba_weights is not None:
            load_vmamba(self.vssm_encoder, vmamba_weights)

    def forward(self, image: Tensor, dsm: Tensor | None = None) -> Tensor:
        size = image.shape[-2:]
        vss = self.vssm_encoder(self.stem(image))                             # 96 @ 1/4 ... 768 @ 1/32
        b = self.backbone
        x = b.maxpool(b.act1(b.bn1(b.conv1(image))))                          # B 64 H/4 W/4
        features = []
        for layer, fuse, y in zip((b.layer1, b.layer2, b.layer3, b.layer4), self.fuse, vss):
            x = fuse(layer(x), y)
            features.append(x)
        logits, _ = self.decoder(*features)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


# --- VMamba-T's checkpoint ---

def vmamba_state_dict(checkpoint: dict[str, Tensor], encoder: VSSMEncoder, source: str) -> dict[str, Tensor]:
    """The checkpoint's encoder tensors under this encoder's names (`layers.i.downsample.*` becomes
    `downsamples.i.*`), as the official loader selects them; the rest are left out."""
    own = encoder.state_dict()
    state = {}
    for key, value in checkpoint.items():
        if key in VMAMBA_SKIPPED:
            continue
        name = re.sub(r"^layers\.(\d+)\.downsample\.", r"downsamples.\1.", key)
        if name not in own:
            continue
        if value.shape != own[name].shape:
            raise ValueError(f"{source}: {key} has shape {tuple(value.shape)}, this VMamba-T encoder expects "
                             f"{tuple(own[name].shape)}")
        state[name] = value
    expected = [k for k in own if k.startswith(("layers.", "downsamples."))]
    missing = [k for k in expected if k not in state]
    if missing:
        raise ValueError(f"{source}: not a VMamba-T (v0) checkpoint, {len(missing)} encoder tensors missing "
                         f"(first: {missing[:3]}). Expected {VMAMBA_FILE} with keys like "
                         "layers.0.blocks.0.self_attention.in_proj.weight")
    return state


def load_vmamba(encoder: VSSMEncoder, path: str | Path) -> None:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VMamba weights file {path} does not exist: {VMAMBA_HINT}")
    # VMamba's checkpoints store their yacs training config beside 'model': read safely (as a dict)
    state = vmamba_state_dict(tensors_of(read_checkpoint(path)), encoder, str(path))
    encoder.load_state_dict(state, strict=False)
    log.info("loaded %s into RS3Mamba's VSS encoder (%d tensors)", path, len(state))


@register_model(
    "rs3mamba",
    weights=(
        WeightFile(initialises="ResNet-18 main branch", **SWSL_RESNET18),
        WeightFile(
            initialises="VSS encoder (all VMamba-T stages and downsamplings; not its patch embedding, norm, head)",
            file=VMAMBA_FILE, source="VMamba-T (v0) ImageNet-1k checkpoint vssmtiny_dp01_ckpt_epoch_292.pth, "
                                     "VMamba release #20240218, saved under the name RS3Mamba's loader reads",
            url="https://github.com/MzeroMiko/VMamba/releases/download/%2320240218/vssmtiny_dp01_ckpt_epoch_292.pth",
            format="VMamba training checkpoint (.pth): {'model': state dict, 'config': yacs CfgNode, ...}",
            keys=("layers.0.blocks.0.self_attention.in_proj.weight",), option="vmamba_weights",
            note="no hash is published; a third-party reproduction records sha256 dbc0cc4f5ec0e45d... for this "
                 "file (unconfirmed here, so the file's tensors are checked instead)")),
    label="RS3Mamba",
    backbone="ResNet-18 + VMamba-T",
    modalities=("image",),
    loss="ce",                     # the official train_Mamba.py: unweighted cross-entropy, one output
    aux_weights=(),
    description="ResNet-18 main branch fused stage by stage with a VMamba-T (SS2D) branch, UNetFormer decoder",
    recipe=Recipe(
        source=SSRS_REPO,
        train=ssrs_train(epochs=50),
        cites={"optimizer, lr, momentum, weight_decay": "RS3Mamba/train_Mamba.py L44, L55 (lr/2 groups of "
                                                       "L45-53 unused)",
               "schedule": "RS3Mamba/train_Mamba.py L57 (MultiStepLR 25/35/45, gamma 0.1)",
               "epochs": "RS3Mamba/train_Mamba.py L153 (train(net, optimizer, 50, scheduler))",
               "crop, batch_size": "RS3Mamba/utils_Mamba.py L17, L22",
               "loss": "RS3Mamba/train_Mamba.py L120 loss_calc with WEIGHTS = ones (utils_Mamba.py L26)"},
    ),
)
def rs3mamba(num_classes: int = 6, pretrained: bool | str | Path = False, **options) -> RS3Mamba:
    return RS3Mamba(num_classes, pretrained=pretrained, **options)
