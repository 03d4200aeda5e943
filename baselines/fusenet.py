"""FuseNet (Hazirbas et al., ACCV 2016): two VGG-16-BN encoders, the DSM stream summed into the image
stream after every block, and a SegNet decoder on the fused stream's pooling indices.

Official code: tum-vision/fusenet (Caffe) and its PyTorch port MehmetAygun/fusenet-pytorch. Choices:
- fusion is the sum of the two streams (the paper's and the Caffe model's element-wise SUM; the PyTorch
  port averages, which only rescales);
- dropout 0.5 after pools 3-5 and after decoder stages 5-3, as in the Caffe model (the port uses 0.4);
- the DSM stream's first kernel is the mean of the RGB one over colour channels (as the PyTorch port).
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from ms2mnet.engine.recipes import Recipe, train_values
from ms2mnet.models import WeightFile, register_model

from .vgg import VGG16_BN_TV, SegNetDecoder, load_vgg16_bn, vgg16_bn_state_dict, vgg16_encoder


class FuseNet(nn.Module):
    complexity_groups = {"encoder": ("image_encoder", "dsm_encoder"), "decoder": ("decoder",),
                         "heads": ("decoder.head",)}

    def __init__(self, num_classes: int = 6, *, pretrained: bool | str | Path = False, dropout: float = 0.5) -> None:
        super().__init__()
        self.image_encoder = vgg16_encoder(3)
        self.dsm_encoder = vgg16_encoder(1)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.dropout = nn.Dropout(dropout)
        self.decoder = SegNetDecoder(num_classes, dropout=dropout)
        if pretrained:
            state, source = vgg16_bn_state_dict(pretrained)
            for encoder in (self.image_encoder, self.dsm_encoder):
                load_vgg16_bn(encoder, state, source)

    def forward(self, image: Tensor, dsm: Tensor) -> Tensor:
        x, d, indices = image, dsm, []
        for level, (image_block, dsm_block) in enumerate(zip(self.image_encoder, self.dsm_encoder)):
            d = dsm_block(d)
            x = image_block(x) + d              # the DSM stream never receives image features
            x, mask = self.pool(x)
            indices.append(mask)
            if level < 4:                       # the DSM stream ends at block 5
                d = self.pool(d)[0]
            if level >= 2:                      # dropout after pools 3, 4 and 5
                x, d = self.dropout(x), self.dropout(d)
        return self.decoder(x, indices[::-1])   # B K H W


@register_model(
    "fusenet",
    weights=(WeightFile(
        initialises="image and DSM encoders (13 conv + BN each)", dsm_stem="mean of the RGB kernel",
        note="the FuseNet paper started from VGG-16 without BN (Caffe); the PyTorch code the ISPRS comparisons "
             "run (DeepNetsForEO) downloads this VGG-16-BN file", **VGG16_BN_TV),),
    label="FuseNet",
    backbone="2x VGG-16-BN",
    modalities=("image", "dsm"),
    loss="ce",
    loss_weights={"class_weights": "median_frequency"},
    aux_weights=(),
    description="two VGG-16-BN encoders, DSM summed into the image stream per block, SegNet decoder",
    recipe=Recipe(
        source="tum-vision/fusenet@fee62ac, fusenet/segmentation/solver_baseline.prototxt",
        train=train_values(optimizer="sgd", lr=0.001, momentum=0.9, weight_decay=5e-4, schedule="poly",
                           schedule_options={"power": 0.9}, epochs=100, iterations_per_epoch=1000, batch_size=4,
                           crop=224, bias_lr_mult=2.0, no_bias_decay=True),
        cites={"lr": "L3 (base_lr 0.001)", "epochs x iterations_per_epoch": "L5 (max_iter 100000)",
               "schedule": "L6-7 (lr_policy poly, power 0.9, per iteration)", "momentum": "L8",
               "weight_decay": "L9", "batch_size": "L24", "crop": "L23 (224x224 LMDB)",
               "bias_lr_mult, no_bias_decay": "L63-66 (every conv's bias: lr_mult 2, decay_mult 0)",
               "loss_weights": "fusenet/data/*_class_weight.txt (per-class weights of the loss; median "
                               "frequency in the FuseNet paper)"},
        notes="The official training is Caffe on indoor RGB-D (SUN RGB-D, NYUv2); its values are taken as they are.",
    ),
)
def fusenet(num_classes: int = 6, pretrained: bool | str | Path = False, **options) -> FuseNet:
    return FuseNet(num_classes, pretrained=pretrained, **options)
