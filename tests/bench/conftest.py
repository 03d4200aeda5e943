import pytest
import torch
from torch import nn

from ms2mnet.bench.flops import FlopCount, count_flops
from ms2mnet.models import build_model

SIDE = 32  # the smallest input the model takes (level 4 is 2x2)


@pytest.fixture(scope="session")
def full_model() -> nn.Module:
    torch.manual_seed(0)
    return build_model("ms2mnet", variant="full", pretrained=False).eval()


@pytest.fixture(scope="session")
def full_flops(full_model: nn.Module) -> FlopCount:
    """The full model counted once at 1x3x32x32 + 1x1x32x32 (tracing it takes seconds)."""
    return count_flops(full_model, (torch.rand(1, 3, SIDE, SIDE), torch.rand(1, 1, SIDE, SIDE)))
