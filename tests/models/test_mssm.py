"""MSSM against an independent float64 re-computation of docs/model.md's MSSM steps 1-8, and mixer cost growth."""

import pytest
import torch
import torch.nn.functional as F

from ms2mnet.bench.flops import count_flops
from ms2mnet.models.mixers import MIXERS
from ms2mnet.models.mssm import MSSM


def reference_mssm(weights: dict, x: torch.Tensor, state: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The MSSM of docs/model.md written out step by step in float64, from a state dict."""
    w = {k: v.double() for k, v in weights.items()}
    x = x.double()
    batch, c, height, width = x.shape
    s3 = 3 * state

    def pointwise(name, t):  # 1x1 conv as an explicit sum over input channels
        return torch.einsum("oi,bi...->bo...", w[f"{name}.weight"].flatten(1), t) + w[f"{name}.bias"].view(
            1, -1, *[1] * (t.dim() - 2))

    p = pointwise("in_proj", x)                                                        # 1. C -> 3S
    g = 1 / (1 + torch.exp(-pointwise("gate", p)))                                     # 2. gate
    d3 = F.conv2d(p, w["local3.weight"], w["local3.bias"], padding=1, groups=s3)
    d5 = F.conv2d(p, w["local5.weight"], w["local5.bias"], padding=2, groups=s3)
    m = (g * d3 + (1 - g) * d5).reshape(batch, s3, height * width)
    b, delta, cc = m[:, :state], m[:, state:2 * state], m[:, 2 * state:]              # 3. split
    logits = delta + w["A"].view(1, -1, 1)                                             # 4. softmax over L
    a = torch.exp(logits - logits.max(-1, keepdim=True).values)
    a = a / a.sum(-1, keepdim=True)
    h = torch.einsum("bcl,bsl->bcs", x.reshape(batch, c, -1), a * b)                   # 5. hidden state
    pooled = h.mean(-1)                                                                # 6. channel attention
    hidden = torch.clamp(pooled @ w["channel_attention.0.weight"].T + w["channel_attention.0.bias"], min=0)
    gate = 1 / (1 + torch.exp(-(hidden @ w["channel_attention.2.weight"].T + w["channel_attention.2.bias"])))
    h = h * gate.unsqueeze(-1)
    hz = pointwise("hidden_proj", h)                                                   # 7. mixer
    h_in, z = hz[:, :c], hz[:, c:]
    h = pointwise("out_proj", h_in * z / (1 + torch.exp(-z)) + w["D"] * h_in)
    y = torch.einsum("bcs,bsl->bcl", h, cc).reshape(batch, c, height, width)          # 8. back to tokens
    return y, h


@pytest.mark.parametrize("shape", [(2, 32, 8, 8), (1, 64, 6, 10)])
def test_mssm_matches_float64_reference(shape):
    mixer = MSSM(shape[1], state_size=16)
    with torch.no_grad():
        mixer.D.fill_(0.7)  # away from its init, so a missing D term shows
    x = torch.randn(*shape)
    y, h = mixer(x, return_state=True)
    y_ref, h_ref = reference_mssm(mixer.state_dict(), x, 16)
    assert y.shape == shape and h.shape == (shape[0], shape[1], 16)
    torch.testing.assert_close(h.double(), h_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(y.double(), y_ref, rtol=1e-4, atol=1e-5)


def mixer_macs(name: str, side: int, channels: int = 64) -> int:
    mixer = MIXERS[name](channels, 16).eval()
    return count_flops(mixer, (torch.randn(1, channels, side, side),)).macs


def test_mssm_cost_is_linear_and_attention_quadratic_in_tokens():
    # Doubling the side quadruples the tokens: a linear mixer costs ~4x, attention ~16x.
    mssm = mixer_macs("mssm", 64) / mixer_macs("mssm", 32)
    attention = mixer_macs("attention", 64) / mixer_macs("attention", 32)
    assert 3.5 < mssm <= 4.0
    assert 13.0 < attention <= 16.0


def test_a_has_no_effect_and_a_zero_gradient():
    # A is constant along the tokens, and softmax over the tokens ignores a constant shift.
    torch.manual_seed(0)
    mixer = MSSM(16, state_size=8).double()
    x = torch.randn(2, 16, 6, 6, dtype=torch.float64)
    y = mixer(x)
    (y * torch.randn_like(y)).sum().backward()
    assert mixer.A.grad.abs().max() < 1e-12               # zero up to float64 rounding
    assert mixer.in_proj.weight.grad.abs().max() > 1e-3   # while the rest of the block learns
    with torch.no_grad():
        mixer.A.add_(torch.linspace(-50.0, 50.0, 8, dtype=torch.float64))
        torch.testing.assert_close(mixer(x), y.detach(), rtol=0, atol=1e-12)


def test_gate_sum_adds_the_two_branches():
    mixer = MSSM(16, state_size=8, gate="sum")
    assert mixer.gate is None
    assert mixer(torch.randn(1, 16, 6, 6)).shape == (1, 16, 6, 6)
    with pytest.raises(ValueError, match="valid: sigmoid, sum"):
        MSSM(16, state_size=8, gate="softmax")
