"""V-FuseNet (Audebert et al., ISPRS J. 2018, "Beyond RGB"): FuseNet with a third, "virtual" VGG-16-BN
stream that carries the fusion, so neither modality stream is altered by the other.

Official topology: nshaud/DeepNetsForEO, OSM/potsdam_irrg_osm_fusenet.prototxt (Caffe). Per block the
image and DSM stacks run on their own inputs; the virtual stack's first block takes the concatenation
of both block-1 outputs (128 channels); after every block the virtual, image and DSM features are summed
and the pooled sum (its indices drive the SegNet decoder) feeds the next virtual block, while each
modality stream pools its own features. Choices: the authors feed a DSM/nDSM/NDVI composite, here the
1-channel normalised DSM; no dropout (the prototxt has none); weighted CE (the prototxt's
class-frequency weights, here median frequency balancing from the training labels).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ms2mnet.engine.recipes import Recipe, SSRS_REPO, ssrs_train
from ms2mnet.models import WeightFile, register_model

from .vgg import CHANNELS, VGG16_BN_TV, SegNetDecoder, load_vgg16_bn, vgg16_bn_state_dict, vgg16_encoder


class VFuseNet(nn.Module):
    complexity_groups = {"encoder": ("image_encoder", "dsm_encoder"), "fusion": ("virtual_encoder",),
                         "decoder": ("decoder",), "heads": ("decoder.head",)}

    def __init__(self, num_classes: int = 6, *, pretrained: bool | str | Path = False) -> None:
        super().__init__()
        self.image_encoder = vgg16_encoder(3)
        self.dsm_encoder = vgg16_encoder(1)
        self.virtual_encoder = vgg16_encoder(2 * CHANNELS[0])
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.decoder = SegNetDecoder(num_classes)
        if pretrained:
            state, source = vgg16_bn_state_dict(pretrained)
            for encoder in (self.image_encoder, self.dsm_encoder, self.virtual_encoder):
                load_vgg16_bn(encoder, state, source)   # the virtual stream's 128-channel conv1_1 stays random

    def forward(self, image: Tensor, dsm: Tensor) -> Tensor:
        x, d, v, indices = image, dsm, None, []
        for level, blocks in enumerate(zip(self.image_encoder, self.dsm_encoder, self.virtual_encoder)):
            image_block, dsm_block, virtual_block = blocks
            x, d = image_block(x), dsm_block(d)
            v = virtual_block(torch.cat([x, d], dim=1) if v is None else v)
            v, mask = self.pool(v + x + d)
            indices.append(mask)
            if level < 4:                       # the modality streams end at block 5
                x, d = self.pool(x)[0], self.pool(d)[0]
        return self.decoder(v, indices[::-1])   # B K H W


@register_model(
    "vfusenet",
    weights=(WeightFile(
        initialises="image, DSM and virtual encoders (13 conv + BN each; the virtual stream's 128-channel "
                    "first conv stays random)", dsm_stem="mean of the RGB kernel",
        note="the FuseNet paper started from VGG-16 without BN (Caffe); the PyTorch code the ISPRS comparisons "
             "run (DeepNetsForEO) downloads this VGG-16-BN file", **VGG16_BN_TV),),
    label="V-FuseNet",
    backbone="3x VGG-16-BN",
    modalities=("image", "dsm"),
    loss="ce",
    loss_weights={"class_weights": "median_frequency"},
    aux_weights=(),
    description="image, DSM and virtual VGG-16-BN streams, fusion summed in the virtual stream, SegNet decoder",
    recipe=Recipe(
        source="nshaud/DeepNetsForEO@633005e, SegNet_PyTorch_v2.ipynb (line numbers of the notebook's JSON)",
        train=ssrs_train(epochs=50),
        model={"loss_weights": {}},
        cites={"optimizer, lr, momentum, weight_decay": "L870, L881 (the lr/2 encoder groups of L872-879 are "
                                                       "built but SGD gets net.parameters())",
               "schedule": "L883 (MultiStepLR 25/35/45, gamma 0.1)", "epochs": "L1093 (train(net, optimizer, 50, ...))",
               "crop, batch_size": "L85, L89", "loss_weights": "L93 (WEIGHTS = torch.ones(N_CLASSES))"},
        notes="V-FuseNet's authors released no PyTorch training script; this is the notebook of the same "
              "authors that the SSRS code descends from. No class weight of 0 for clutter was found in it.",
    ),
)
def vfusenet(num_classes: int = 6, pretrained: bool | str | Path = False, **options) -> VFuseNet:
    return VFuseNet(num_classes, pretrained=pretrained, **options)
