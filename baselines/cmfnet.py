"""CMFNet (Ma et al., IEEE JSTARS 2022): two VGG-16-BN encoders, a multiscale cross-modal channel
transformer (UCTransNet's channel-wise attention) on the skip features, and a SegNet decoder.

Official code: sstary/SSRS, CMFNet/Utils/CMFNet.py. The transformer sees the pre-pool features of blocks
1-4 of both streams: each level is cut into a 16x16 token grid (patch 16/8/4/2) with its channel count as
the token width (64/128/256/512, 960 together). In a "channel attention" layer the queries are one
level's channels, the keys and values all four levels' channels, split over 4 heads: each head's
attention map is (channels of the level / 4) x 240, from 16 x 240 (level 1) to 128 x 240 (level 4). Four cross-modal layers (queries and values from a stream, keys
from the other) are followed by four self-attention layers on the image stream; the outputs are
reshaped, upsampled, projected and added back as skips. Block 5 fuses x*sigmoid(1x1(GAP x)) +
y*sigmoid(1x1(GAP y)); the decoder unpools with the image stream's indices and adds the skips.

Departures from the official code (functionally equivalent, or forced by the output contract):
- Parameters the official model holds but never uses are not built: three of the four per-head key
  and value projections (its forward applies key[0]/value[0] to every head), the unused block 1-4
  gates, the DSM stream's update in the last cross layer and its reconstruction (both computed, then
  discarded). 8,540,800 parameters and about 1.9 GMACs at 256x256; docs/baselines.md has the sums.
- Position embeddings are learned for the 16x16 grid of a 256x256 input (as the official) and
  resized bilinearly for other input sizes (the official accepts only 256x256).
- Attention is written out with matmuls, not scaled_dot_product_attention: an InstanceNorm sits between
  the scores and the softmax, which SDPA cannot express (and the maps are at most 128 x 240).
- Logits are returned (the official returns log-softmax; the loss is the same cross-entropy).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ms2mnet.engine.recipes import Recipe, SSRS_REPO, ssrs_train
from ms2mnet.models import WeightFile, register_model

from .vgg import CHANNELS, VGG16_BN_TV, SegNetDecoder, load_vgg16_bn, vgg16_bn_state_dict, vgg16_encoder

LEVELS = CHANNELS[:4]           # 64, 128, 256, 512: blocks 1-4 go through the transformer
PATCHES = (16, 8, 4, 2)         # one 16x16 token grid at every level of a 256x256 input
GRID = 16                       # side of the grid the position embeddings are learned for


class ChannelEmbedding(nn.Module):
    """Patch embedding C -> C (kernel = stride = patch) plus a learned position embedding."""

    def __init__(self, channels: int, patch: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.patch_embeddings = nn.Conv2d(channels, channels, patch, stride=patch)
        self.position_embeddings = nn.Parameter(torch.zeros(1, GRID * GRID, channels))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embeddings(x)                                   # B C h w
        h, w = x.shape[-2:]
        position = self.position_embeddings
        if (h, w) != (GRID, GRID):
            grid = position.transpose(1, 2).reshape(1, -1, GRID, GRID)
            position = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False).flatten(2).transpose(1, 2)
        return self.dropout(x.flatten(2).transpose(1, 2) + position)   # B N C


class Reconstruct(nn.Module):
    """Tokens back to a map: nearest upsampling by the patch size, 1x1 conv, BN, ReLU."""

    def __init__(self, channels: int, patch: int) -> None:
        super().__init__()
        self.patch = patch
        self.conv = nn.Conv2d(channels, channels, 1)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, tokens: Tensor, grid: tuple[int, int]) -> Tensor:
        x = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *grid)   # B C h w
        x = F.interpolate(x, scale_factor=self.patch, mode="nearest")
        return F.relu(self.norm(self.conv(x)))


class Mlp(nn.Module):
    def __init__(self, channels: int, expand: int = 4) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(channels, channels * expand), nn.Linear(channels * expand, channels)
        for fc in (self.fc1, self.fc2):
            nn.init.normal_(fc.bias, std=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def split_heads(x: Tensor, heads: int) -> Tensor:
    """B N C -> B N heads C/heads (head h takes the h-th quarter of the channels)."""
    return x.view(*x.shape[:2], heads, -1)


class ChannelStream(nn.Module):
    """One modality's part of a channel-attention layer (UCTransNet's Block_ViT, per stream).

    With `keys`, `key` projects all levels' normalised tokens to keys (what the other stream, or this
    one, attends with); with `update` the stream also has queries, values, output projections and MLPs
    and updates its tokens. In the last cross layer the DSM stream only provides keys (`update=False`)
    and the image stream needs none (`keys=False`): nothing reads the DSM tokens after it."""

    def __init__(self, heads: int = 4, update: bool = True, keys: bool = True) -> None:
        super().__init__()
        self.heads, width = heads, sum(LEVELS) // heads        # 240 per head
        self.attn_norm = nn.LayerNorm(sum(LEVELS), eps=1e-6)
        self.key = nn.Linear(width, width, bias=False) if keys else None
        self.update = update
        if not update:
            return
        self.value = nn.Linear(width, width, bias=False)
        self.attn_norms = nn.ModuleList(nn.LayerNorm(c, eps=1e-6) for c in LEVELS)
        self.queries = nn.ModuleList(nn.ModuleList(nn.Linear(c // heads, c // heads, bias=False)
                                                   for _ in range(heads)) for c in LEVELS)
        self.outs = nn.ModuleList(nn.Linear(c, c, bias=False) for c in LEVELS)
        self.ffn_norms = nn.ModuleList(nn.LayerNorm(c, eps=1e-6) for c in LEVELS)
        self.ffns = nn.ModuleList(Mlp(c) for c in LEVELS)
        self.attn_dropout = nn.Dropout(0.1)

    def all_levels(self, tokens: list[Tensor]) -> Tensor:
        """The normalised concatenation of all levels, heads first: B heads N 240 (each head takes its
        quarter of every level, as the official slices 0:16, 64:96, 192:256, 448:576 for head 0)."""
        joint = self.attn_norm(torch.cat(tokens, dim=2))                        # B N 960
        parts = torch.split(joint, list(LEVELS), dim=2)
        return torch.cat([split_heads(p, self.heads) for p in parts], dim=3).transpose(1, 2)

    def forward(self, tokens: list[Tensor], joint: Tensor, keys: Tensor) -> list[Tensor]:
        """tokens: per level B N C; joint: this stream's `all_levels`; keys: B heads N 240 to attend with."""
        values = self.value(joint)                                            # B heads N 240
        updated = []
        for level, x in enumerate(tokens):
            heads = split_heads(self.attn_norms[level](x), self.heads)        # B N heads C/h
            query = torch.stack([q(heads[:, :, h]) for h, q in enumerate(self.queries[level])], dim=1)
            scores = query.transpose(-1, -2) @ keys / math.sqrt(sum(LEVELS))  # B heads C/h 240
            probs = self.attn_dropout(F.instance_norm(scores).softmax(dim=-1))
            context = probs @ values.transpose(-1, -2)                        # B heads C/h N
            # channel c of head h lands at c * heads + h, as the official permute(0, 3, 2, 1)
            context = context.permute(0, 3, 2, 1).reshape(x.shape)
            x = x + self.attn_dropout(self.outs[level](context))
            updated.append(x + self.ffns[level](self.ffn_norms[level](x)))
        return updated


class CrossModalLayer(nn.Module):
    """Queries and values from a stream, keys from the other stream (Block_ViT_cross)."""

    def __init__(self, update_dsm: bool = True) -> None:
        super().__init__()
        self.image, self.dsm = ChannelStream(keys=update_dsm), ChannelStream(update=update_dsm)

    def forward(self, x: list[Tensor], d: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        joint_x, joint_d = self.image.all_levels(x), self.dsm.all_levels(d)
        new_x = self.image(x, joint_x, self.dsm.key(joint_d))
        if not self.dsm.update:
            return new_x, d
        return new_x, self.dsm(d, joint_d, self.image.key(joint_x))


class SelfLayer(nn.Module):
    """UCTransNet's channel self-attention on the image stream (Block_ViT)."""

    def __init__(self) -> None:
        super().__init__()
        self.image = ChannelStream()

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        joint = self.image.all_levels(x)
        return self.image(x, joint, self.image.key(joint))


class ChannelTransformer(nn.Module):
    """Embed the four levels, run the layers, reconstruct the maps and add them to the inputs.

    `cross=True`: ChannelTransformer_cross (image and DSM in, image maps out); else the image-only one."""

    def __init__(self, cross: bool, layers: int = 4) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(ChannelEmbedding(c, p) for c, p in zip(LEVELS, PATCHES))
        if cross:
            self.dsm_embeddings = nn.ModuleList(ChannelEmbedding(c, p) for c, p in zip(LEVELS, PATCHES))
            self.layers = nn.ModuleList(CrossModalLayer(update_dsm=i < layers - 1) for i in range(layers))
        else:
            self.layers = nn.ModuleList(SelfLayer() for _ in range(layers))
        self.encoder_norms = nn.ModuleList(nn.LayerNorm(c, eps=1e-6) for c in LEVELS)
        self.reconstruct = nn.ModuleList(Reconstruct(c, p) for c, p in zip(LEVELS, PATCHES))

    def forward(self, image: list[Tensor], dsm: list[Tensor] | None = None) -> list[Tensor]:
        grid = (image[0].shape[-2] // PATCHES[0], image[0].shape[-1] // PATCHES[0])
        x = [embed(f) for embed, f in zip(self.embeddings, image)]                 # per level B N C
        if dsm is not None:
            d = [embed(f) for embed, f in zip(self.dsm_embeddings, dsm)]
            for layer in self.layers:
                x, d = layer(x, d)
        else:
            for layer in self.layers:
                x = layer(x)
        x = [norm(t) for norm, t in zip(self.encoder_norms, x)]
        return [f + rebuild(t, grid) for f, rebuild, t in zip(image, self.reconstruct, x)]


class ChannelGate(nn.Module):
    """x * sigmoid(1x1 conv(GAP x)): block 5's fusion weight per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.conv(F.adaptive_avg_pool2d(x, 1)))


class CMFNet(nn.Module):
    complexity_groups = {"encoder": ("image_encoder", "dsm_encoder"),
                         "fusion": ("cross_transformer", "self_transformer", "gate_image", "gate_dsm"),
                         "decoder": ("decoder",), "heads": ("decoder.head",)}

    def __init__(self, num_classes: int = 6, *, pretrained: bool | str | Path = False) -> None:
        super().__init__()
        self.image_encoder = vgg16_encoder(3, relu_first=True)     # conv -> ReLU -> BN, as the official
        self.dsm_encoder = vgg16_encoder(1, relu_first=True)
        self.cross_transformer = ChannelTransformer(cross=True)
        self.self_transformer = ChannelTransformer(cross=False)
        self.gate_image, self.gate_dsm = ChannelGate(CHANNELS[4]), ChannelGate(CHANNELS[4])
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.decoder = SegNetDecoder(num_classes, relu_first=True)
        for module in self.modules():                  # the official's weight_init: Kaiming on every Linear
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight)
        if pretrained:
            state, source = vgg16_bn_state_dict(pretrained)
            for encoder in (self.image_encoder, self.dsm_encoder):
                load_vgg16_bn(encoder, state, source)

    def forward(self, image: Tensor, dsm: Tensor) -> Tensor:
        x, d, skips, indices, dsm_skips = image, dsm, [], [], []
        for level in range(4):                          # blocks 1-4, pre-pool features kept
            x, d = self.image_encoder[level](x), self.dsm_encoder[level](d)
            skips.append(x)
            dsm_skips.append(d)
            x, mask = self.pool(x)
            indices.append(mask)
            d = self.pool(d)[0]
        fused = self.self_transformer(self.cross_transformer(skips, dsm_skips))
        x5 = self.gate_image(self.image_encoder[4](x)) + self.gate_dsm(self.dsm_encoder[4](d))
        x, mask = self.pool(x5)
        indices.append(mask)
        # decoder skips, deepest first: x5, then block features plus transformer outputs
        decoder_skips = [x5] + [s + f for s, f in zip(skips[::-1], fused[::-1])]
        return self.decoder(x, indices[::-1], decoder_skips)   # B K H W


@register_model(
    "cmfnet",
    weights=(WeightFile(
        initialises="image and DSM encoders (13 conv + BN each)", dsm_stem="mean of the RGB kernel",
        note="the official script maps the file's keys by position and ignores a failed load (try/except); "
             "here a file that does not fit stops the run", **VGG16_BN_TV),),
    label="CMFNet",
    backbone="2x VGG-16-BN + cross-modal transformer",
    modalities=("image", "dsm"),
    loss="ce",                  # the official trains with unweighted cross-entropy (its class weights are ones)
    loss_weights={},
    aux_weights=(),
    description="two VGG-16-BN encoders, multiscale cross-modal channel transformer on the skips, SegNet decoder",
    recipe=Recipe(
        source=SSRS_REPO,
        train=ssrs_train(epochs=100),
        cites={"optimizer, lr, momentum, weight_decay": "CMFNet/trainAndtest.py L194, L205 (lr/2 groups of "
                                                       "L195-203 unused)",
               "schedule": "CMFNet/trainAndtest.py L207 (MultiStepLR 25/35/45, gamma 0.1)",
               "epochs": "CMFNet/trainAndtest.py L347 (train(net, optimizer, 100, scheduler))",
               "crop, batch_size": "CMFNet/trainAndtest.py L24, L28",
               "loss": "CMFNet/trainAndtest.py L307 with WEIGHTS = ones (L32)"},
    ),
)
def cmfnet(num_classes: int = 6, pretrained: bool | str | Path = False, **options) -> CMFNet:
    return CMFNet(num_classes, pretrained=pretrained, **options)
