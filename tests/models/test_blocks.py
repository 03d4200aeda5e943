"""DFE, WASE and ASAF: the properties docs/model.md states for them."""

import pytest
import torch

from ms2mnet.models.asaf import ASAF
from ms2mnet.models.dfe import DFE
from ms2mnet.models.wase import WASE


def test_dfe_starts_close_to_identity_and_sees_edges():
    dfe = DFE().eval()
    dsm = torch.zeros(2, 1, 32, 32)
    dsm[:, :, 8:24, 8:24] = 1.0  # a building
    with torch.no_grad():
        out = dfe(dsm)
    assert out.shape == dsm.shape
    assert (out - dsm).abs().max() < 0.05
    # Sobel features feed the module: on a flat DSM its correction is constant (away from the
    # zero-padded border), at edges it is not.
    with torch.no_grad():
        flat = dfe(torch.full_like(dsm, 0.5)) - 0.5
    assert flat[..., 1:-1, 1:-1].std() < 1e-6
    assert (out - dsm).std() > 1e-6


def test_wase_weights_sum_to_one_and_mix_the_gated_inputs():
    wase = WASE(32)
    with torch.no_grad():
        wase.weight_x.fill_(-3.0)  # the absolute value counts
        wase.weight_y.fill_(1.0)
    a, b = wase.mixing_weights()
    assert torch.allclose(a + b, torch.ones(1), atol=1e-6)
    assert torch.allclose(a, torch.tensor([0.75]), atol=1e-6)
    x, y = torch.rand(2, 32, 8, 8), torch.rand(2, 32, 8, 8)
    expected = a * wase.gate_x(x) + b * wase.gate_y(y)
    assert torch.allclose(wase(x, y), expected)


def test_asaf_weights_are_nonnegative_and_normalised():
    asaf = ASAF(16)
    with torch.no_grad():
        asaf.weights.copy_(torch.tensor([-1.0, 2.0]))  # ReLU drops the negative one
    w = asaf.mixing_weights()
    assert torch.allclose(w, torch.tensor([0.0, 1.0]), atol=1e-6)
    assert asaf(torch.rand(1, 16, 8, 8), torch.rand(1, 16, 8, 8)).shape == (1, 16, 8, 8)


@pytest.mark.parametrize("conv, groups", [("separable", 16), ("full", 1)])
def test_asaf_post_conv_is_separable_by_default_or_full(conv, groups):
    asaf = ASAF(16, conv=conv)
    assert asaf.post[0].groups == groups and asaf.post[0].kernel_size == (5, 5)
    assert asaf(torch.rand(2, 16, 8, 8), torch.rand(2, 16, 8, 8)).shape == (2, 16, 8, 8)
    assert ASAF(16).post[0].groups == 16


def test_asaf_full_conv_costs_a_dense_5x5():
    def params(m):
        return sum(p.numel() for p in m.parameters())
    assert params(ASAF(16, conv="full")) - params(ASAF(16)) == 16 * 16 * 25 - 16 * 25


def test_asaf_spatial_kernel_and_bad_conv():
    assert ASAF(16, spatial_kernel=3).spatial_gate.conv.kernel_size == (3, 3)
    with pytest.raises(ValueError, match="valid: separable, full"):
        ASAF(16, conv="dense")
