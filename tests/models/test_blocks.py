"""DFE, WASE and ASAF: the properties docs/model.md states for them."""

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
