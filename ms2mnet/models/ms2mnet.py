"""MS2MNet: dual ResNet-50 trunks (image, DSM), WASE fusion at four levels, VFE enhancement, HFP decoder.

image (B, 3, H, W) in [0, 1], dsm (B, 1, H, W) in [0, 1] -> eval: logits (B, K, H, W);
train: (main, aux_a, aux_b), each (B, K, H, W). Every ablation is a constructor switch (VARIANTS).
Reconstruction choices are marked in each block's docstring and explained in docs/model.md.
"""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from ms2mnet.engine.recipes import Recipe, train_values

from .backbone import RESNET50_TV, TRUNK_CHANNELS, load_trunk_weights, resnet50_state_dict, resnet50_trunk
from .decoder import HFPDecoder
from .dfe import DFE
from .mixers import MIXERS
from .registry import register_model
from .vfe import VFE
from .wase import WASE


class MS2MNet(nn.Module):
    # How complexity reports group the model (ms2mnet.bench.groups): group -> module prefixes, longest wins.
    complexity_groups = {"encoder": ("image_trunk", "dsm_trunk", "dfe"), "fusion": ("fusion",), "vfe": ("vfe",),
                         "decoder": ("decoder",), "heads": ("decoder.aux_a", "decoder.aux_b", "decoder.head")}

    def __init__(
        self,
        num_classes: int = 6,
        *,
        pretrained: bool | str | Path = False,
        use_dsm: bool = True,
        use_dfe: bool = True,
        use_vfe: bool = True,
        mixer: str | None = "mssm",
        fusion: str = "asaf",
        state_sizes: tuple[int, ...] = (16, 24, 28, 32),
        residual_rate: float = 0.5,
        mlp_ratio: int = 2,
        vfe_conv: str = "full",
        vfe_zero_init: bool = True,
        mssm_gate: str = "sigmoid",
        asaf_conv: str = "separable",
        asaf_kernel: int = 7,
        decoder_channels: int = 256,
        dropout: float = 0.1,
    ) -> None:
        """Switches beyond the ablations (docs: model fidelity): `mlp_ratio` (VFE's FFN, choice 2),
        `vfe_conv` (VFE step 3: "full" or "depthwise"), `vfe_zero_init` (EfficientViM's zero BN scale
        at the end of VFE's conv branches), `mssm_gate` ("sigmoid" or "sum"), `asaf_conv` ("separable"
        or "full") and `asaf_kernel` (ASAF's spatial attention, choice 7). MSSM and ASAF options apply
        only where those blocks are used (mixer="mssm", fusion="asaf")."""
        super().__init__()
        self.residual_rate = residual_rate
        self.image_trunk = resnet50_trunk(in_chans=3)
        self.dfe = DFE() if use_dsm and use_dfe else None
        self.dsm_trunk = resnet50_trunk(in_chans=1) if use_dsm else None
        self.fusion = nn.ModuleList(WASE(c) for c in TRUNK_CHANNELS) if use_dsm else None
        mixer_options = {"gate": mssm_gate} if mixer == "mssm" else {}
        self.vfe = (nn.ModuleList(VFE(c, s, mixer, mlp_ratio, conv=vfe_conv, zero_init=vfe_zero_init,
                                      mixer_options=mixer_options)
                                  for c, s in zip(TRUNK_CHANNELS, state_sizes))
                    if use_vfe else None)
        fusion_options = {"conv": asaf_conv, "spatial_kernel": asaf_kernel} if fusion == "asaf" else {}
        self.decoder = HFPDecoder(TRUNK_CHANNELS, num_classes, decoder_channels, dropout=dropout, fusion=fusion,
                                  fusion_options=fusion_options)
        if pretrained:
            state, source = resnet50_state_dict(pretrained)
            for trunk in (self.image_trunk, self.dsm_trunk):
                if trunk is not None:
                    load_trunk_weights(trunk, state, source)

    def forward(self, image: Tensor, dsm: Tensor) -> Tensor | tuple[Tensor, ...]:
        features = self.image_trunk(image)
        if self.dsm_trunk is not None:
            if self.dfe is not None:
                dsm = self.dfe(dsm)
            features = [fuse(r, d) for fuse, r, d in zip(self.fusion, features, self.dsm_trunk(dsm))]
        if self.vfe is not None:
            features = [f + self.residual_rate * vfe(f) for vfe, f in zip(self.vfe, features)]
        outputs = [F.interpolate(o, size=image.shape[-2:], mode="bilinear", align_corners=False)
                   for o in self.decoder(*features)]
        return tuple(outputs) if self.training else outputs[0]


# Each variant is a set of constructor overrides; every mixer other than the default is a variant.
VARIANTS: dict[str, dict] = {
    "full": {},
    "no_vfe": {"use_vfe": False},
    "no_asaf": {"fusion": "plain"},
    "no_dfe": {"use_dfe": False},
    "vfe_dwconv": {"vfe_conv": "depthwise"},
    **{name: {"mixer": name} for name in MIXERS if name != "mssm"},
    "no_mixer": {"mixer": None},
    "rgb_only": {"use_dsm": False},
}


@register_model(
    "ms2mnet",
    weights=(RESNET50_TV,),
    label="MS2MNet",
    backbone="2x ResNet-50",
    description="dual ResNet-50, WASE, VFE/MSSM, HFP decoder with ASAF",
    # The authors' staged loss and deep-supervision weights (docs/model.md, "Losses").
    loss="paper",
    loss_weights={"vaihingen": {"focal": 0.6, "boundary": 0.4}, "potsdam": {"focal": 0.7, "boundary": 0.3}},
    aux_weights={"vaihingen": (0.3, 0.2), "potsdam": (0.4, 0.2)},
    variants=VARIANTS,
    variant_backbones={"rgb_only": "ResNet-50"},
    recipe=Recipe(
        source="DrWuHonglin/MS2MNet@e9d9c97",
        train=train_values(optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="multistep",
                           milestones=[15, 25, 35], gamma=0.1, epochs=100, iterations_per_epoch=1000,
                           batch_size=10, crop=256),
        cites={"optimizer, lr, momentum, weight_decay": "models/train_MS2MNet.py L36-37",
               "schedule": "models/train_MS2MNet.py L39 (MultiStepLR 15/25/35, gamma 0.1, per epoch L215-216)",
               "epochs": "models/train_MS2MNet.py L234 (train(net, optimizer, 100, ...); the comment at L194 says 50)",
               "iterations_per_epoch": "models/utils.py L124-129 (BATCH_SIZE * 1000 samples)",
               "crop, batch_size": "models/utils.py L20, L25",
               "loss": "models/train_MS2MNet.py L138-170 (staged focal / boundary / Lovasz)",
               "loss_weights, aux_weights": "models/train_MS2MNet.py L46-54",
               "class weights": "models/utils.py L29 (WEIGHTS = ones)"},
        notes="The same as profile=authors: the authors' released script as it runs.",
    ),
)
def ms2mnet(num_classes: int = 6, pretrained: bool | str | Path = False, **options) -> MS2MNet:
    return MS2MNet(num_classes, pretrained=pretrained, **options)
