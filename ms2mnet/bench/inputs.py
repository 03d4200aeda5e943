"""The inputs every complexity measurement feeds a model: an image and a DSM of one size."""

from __future__ import annotations

import torch


def example_inputs(size: int, batch: int = 1, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """image (batch, 3, size, size) and dsm (batch, 1, size, size), uniform in [0, 1] like the real data."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, size, size, generator=generator)
    dsm = torch.rand(batch, 1, size, size, generator=generator)
    return image.to(device), dsm.to(device)
