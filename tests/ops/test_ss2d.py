"""SS2D: VMamba-T parameter counts, the four scan orders, the `selective_scan` mixer and variant, the
kernel dispatch rule, and the fvcore count of the scan."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ms2mnet.bench.flops import count_flops
from ms2mnet.models import list_models
from ms2mnet.models.mixers import MIXERS
from ms2mnet.models.ss2d import SS2D as SS2DFromModels
from ms2mnet.models.ss2d import SelectiveScanMixer
from ms2mnet.ops import SS2D, kernel_runs, scan_backend, selective_scan
from ms2mnet.ops.ss2d import four_scans, merge_scans


@pytest.mark.parametrize("channels, params", [(96, 105_216), (192, 339_456), (384, 1_195_008), (768, 4_454_400)])
def test_ss2d_parameter_counts_are_vmamba_t(channels, params):
    assert SS2DFromModels is SS2D
    assert sum(p.numel() for p in SS2D(channels).parameters()) == params


def test_four_scan_orders_and_their_merge():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)   # B E H W
    xs = four_scans(x)
    assert torch.equal(xs[:, 0], x.flatten(2))
    assert torch.equal(xs[:, 1], x.transpose(2, 3).flatten(2))
    assert torch.equal(xs[:, 2], x.flatten(2).flip(-1))
    assert torch.equal(xs[:, 3], x.transpose(2, 3).flatten(2).flip(-1))
    assert torch.equal(merge_scans(xs, 4, 5), 4 * x.flatten(2))   # every order mapped back to row-major


def test_ss2d_is_causal_along_the_row_major_scan_only_through_its_four_orders():
    """Sanity of the wiring: with one order's output, token 0 of the reversed order sees the last token."""
    torch.manual_seed(0)
    layer = SS2D(8).eval()
    x = torch.randn(1, 3, 4, 8)
    y = layer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    x2 = x.clone()
    x2[0, 2, 3] += 1.0   # the last token (row-major) changes every output through the reversed scans
    assert (layer(x2)[0, 0, 0] - y[0, 0, 0]).abs().max() > 0


def test_selective_scan_mixer_is_a_variant():
    assert MIXERS["selective_scan"] is SelectiveScanMixer
    assert "selective_scan" in list_models()["ms2mnet"]
    mixer = SelectiveScanMixer(16, 8)
    x = torch.randn(2, 16, 5, 6, requires_grad=True)
    y = mixer(x)
    y.square().mean().backward()
    assert y.shape == x.shape and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in mixer.parameters())


def test_dispatch_rule():
    assert kernel_runs("cuda", torch.float32, 16, kernel_available=True)
    assert kernel_runs("cuda", torch.bfloat16, 256, kernel_available=True)
    assert not kernel_runs("cuda", torch.float64, 16, kernel_available=True)     # the kernel has no float64
    assert not kernel_runs("cuda", torch.float32, 257, kernel_available=True)
    assert not kernel_runs("cuda", torch.float32, 16, kernel_available=False)
    assert not kernel_runs("cpu", torch.float32, 16, kernel_available=True)
    assert scan_backend(torch.zeros(1, 2, 3), torch.zeros(2, 4)) == "pytorch"


class Scan(nn.Module):
    def __init__(self, with_d: bool, with_z: bool) -> None:
        super().__init__()
        self.with_d, self.with_z = with_d, with_z

    def forward(self, u, delta, A, B, C, D, bias):
        return selective_scan(u, delta, A, B, C, D if self.with_d else None, u if self.with_z else None,
                              delta_bias=bias, delta_softplus=True)


@pytest.mark.parametrize("with_d, with_z", [(False, False), (True, False), (False, True), (True, True)])
def test_fvcore_counts_the_scan_once(with_d, with_z):
    """delta_bias (1-D, like D) must not be taken for D."""
    batch, channels, length, state, groups = 2, 6, 7, 3, 2
    inputs = (torch.rand(batch, channels, length), torch.rand(batch, channels, length), -torch.rand(channels, state),
              torch.rand(batch, groups, state, length), torch.rand(batch, groups, state, length),
              torch.rand(channels), torch.rand(channels))
    flops = count_flops(Scan(with_d, with_z), inputs)
    assert flops.macs == 9 * batch * length * channels * state + (with_d + with_z) * batch * channels * length
    assert flops.unsupported == {}


def test_ss2d_mixer_has_no_uncounted_arithmetic():
    flops = count_flops(SelectiveScanMixer(16, 8).eval(), (torch.rand(1, 16, 4, 5),))
    scan = 9 * 1 * 20 * (4 * 32) * 16 + 1 * (4 * 32) * 20   # four directions of E = 32 channels, with D
    assert flops.macs > scan and not flops.unknown
