"""A model written outside the package, registered by its module (conf/model yaml: `module: extra_models.tinyseg`)."""

import torch
from torch import nn

from ms2mnet.models import register_model


class TinySeg(nn.Module):
    """Image and DSM stacked, two convolutions, logits at full size."""

    def __init__(self, num_classes: int, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(4, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, num_classes, 1))

    def forward(self, image: torch.Tensor, dsm: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([image, dsm], dim=1))


@register_model("tinyseg", label="TinySeg", backbone="none", description="a two-layer test model")
def tinyseg(num_classes: int = 6, pretrained: bool = False, **options) -> TinySeg:
    return TinySeg(num_classes, **options)
