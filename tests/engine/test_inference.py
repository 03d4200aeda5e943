"""Sliding-window inference: covers every pixel and reproduces a whole-tile forward."""

import pytest
import torch
from torch import nn

from ms2mnet.engine.inference import sliding_window_logits


class PixelModel(nn.Module):
    """No spatial context: a 1x1 conv on [image, dsm]. Windowed and whole-tile outputs must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 1)

    def forward(self, image, dsm):
        return self.conv(torch.cat([image, dsm], 1))


class Ones(nn.Module):
    def forward(self, image, dsm):
        return torch.ones(image.shape[0], 6, *image.shape[-2:])


@pytest.mark.parametrize("size", [(100, 130), (64, 64), (40, 50)])  # ragged edges, exact fit, smaller than a window
def test_windows_cover_every_pixel_and_match_the_whole_tile(size):
    image, dsm = torch.rand(3, *size), torch.rand(1, *size)
    counts = sliding_window_logits(Ones(), image, dsm, 6, window=64, stride=24, batch_size=5)
    assert counts.shape == (6, *size) and counts.min() >= 1
    model = PixelModel().eval()
    summed = sliding_window_logits(model, image, dsm, 6, window=64, stride=24, batch_size=5)
    with torch.no_grad():
        whole = model(image[None], dsm[None])[0]
    torch.testing.assert_close((summed / counts).float(), whole, rtol=1e-5, atol=1e-5)   # summed in float64


def test_flip_tta_sums_three_passes():
    image, dsm = torch.rand(3, 64, 64), torch.rand(1, 64, 64)
    model = PixelModel().eval()
    plain = sliding_window_logits(model, image, dsm, 6, window=64, stride=64, batch_size=1)
    tta = sliding_window_logits(model, image, dsm, 6, window=64, stride=64, batch_size=1, tta=True)
    torch.testing.assert_close(tta, 3 * plain, rtol=1e-5, atol=1e-5)  # a pixel model is flip-equivariant
