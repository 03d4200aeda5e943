"""The FLOP counter against published and closed-form counts, and the ops it leaves uncounted."""

from typing import Optional

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from ms2mnet.bench.flops import NO_MAC_OPS, count_flops, count_flops_with_aux, selective_scan_macs
from ms2mnet.models import build_model, list_models
from ms2mnet.models.mixers import MIXERS
from ms2mnet.models.mssm import MSSM


def test_resnet50_matches_fvcore_and_torchvision_up_to_batch_norm():
    model = torchvision.models.resnet50(weights=None).eval()
    flops = count_flops(model, (torch.rand(1, 3, 224, 224),))
    assert 4.11e9 <= flops.macs <= 4.14e9
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    # torchvision's published 4.09 GFLOPS counts conv and fc multiply-adds only; fvcore adds
    # 2 per element for each eval-mode batch norm (scale and shift) and 1 per element for the global pool.
    batch_norm = sum(2 * m.num_features * out.shape[-2] * out.shape[-1]
                     for m, out in _outputs(model, nn.BatchNorm2d, torch.rand(1, 3, 224, 224)))
    conv_fc = flops.macs - batch_norm - 2048 * 7 * 7
    assert round(conv_fc / 1e9, 2) == 4.09


def _outputs(model: nn.Module, kind: type, x: Tensor) -> list[tuple[nn.Module, Tensor]]:
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, o))) for m in model.modules()
             if isinstance(m, kind)]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return seen


class BareAttention(nn.Module):
    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return F.scaled_dot_product_attention(q, k, v)


def test_sdpa_handle_is_the_closed_form():
    batch, heads, lq, lk, dqk, dv = 2, 3, 5, 7, 4, 6   # every dimension distinct, so a swapped one shows
    q, k, v = torch.rand(batch, heads, lq, dqk), torch.rand(batch, heads, lk, dqk), torch.rand(batch, heads, lk, dv)
    flops = count_flops(BareAttention(), (q, k, v))
    assert flops.macs == batch * heads * lq * lk * (dqk + dv)
    assert not flops.unsupported


def test_attention_counted_without_computing_it_counts_the_same():
    mixer, x = MIXERS["attention"](64, 16).eval(), torch.rand(1, 64, 16, 16)
    computed, skipped = count_flops(mixer, (x,)), count_flops(mixer, (x,), compute_attention=False)
    assert skipped.macs == computed.macs and skipped.unsupported == computed.unsupported
    assert F.scaled_dot_product_attention is torch._C._nn.scaled_dot_product_attention  # restored afterwards


def test_mssm_count_is_the_closed_form_of_its_matmuls_and_convolutions():
    batch, c, s, height, width = 2, 32, 8, 6, 10
    tokens, s3, hidden = height * width, 3 * s, c // 4
    expected = (
        batch * tokens * c * s3            # 1. in_proj 1x1, C -> 3S
        + batch * tokens * s3 * s3         # 2. gate 1x1, 3S -> 3S
        + batch * tokens * s3 * (9 + 25)   # 2. depthwise 3x3 and 5x5
        + batch * c * tokens * s           # 5. h = x (B C L) . (A'B)^T (B L S)
        + 2 * batch * c * hidden           # 6. channel attention Linear C -> C/4 -> C
        + batch * s * c * 2 * c            # 7. hidden mixer 1x1 C -> 2C on (C, S)
        + batch * s * c * c                # 7. output 1x1 C -> C
        + batch * c * s * tokens           # 8. y = h (B C S) . Cc (B S L)
    )
    flops = count_flops(MSSM(c, s).eval(), (torch.rand(batch, c, height, width),))
    assert flops.macs == expected
    assert not flops.unknown


@torch.library.custom_op("ms2mnet_test::selective_scan", mutates_args=())
def _scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Optional[Tensor] = None,
          z: Optional[Tensor] = None) -> Tensor:
    return u.clone()  # only the shapes matter to the counter


@_scan.register_fake
def _(u, delta, A, B, C, D=None, z=None):
    return torch.empty_like(u)


class Scan(nn.Module):
    def __init__(self, with_d: bool, with_z: bool) -> None:
        super().__init__()
        self.with_d, self.with_z = with_d, with_z

    def forward(self, u: Tensor, A: Tensor, B: Tensor, D: Tensor) -> Tensor:
        return _scan(u, u, A, B, B, D if self.with_d else None, u if self.with_z else None)


@pytest.mark.parametrize("with_d, with_z", [(False, False), (True, False), (True, True)])
def test_selective_scan_handle_is_vmamba_count(with_d, with_z):
    batch, channels, length, state = 2, 5, 7, 3
    inputs = (torch.rand(batch, channels, length), torch.rand(channels, state), torch.rand(batch, state, length),
              torch.rand(channels))
    flops = count_flops(Scan(with_d, with_z), inputs, handles={"ms2mnet_test::selective_scan": selective_scan_macs})
    assert flops.macs == 9 * batch * length * channels * state + (with_d + with_z) * batch * channels * length


class Baddbmm(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(x, x, x)


def test_an_uncounted_op_with_arithmetic_is_reported_unknown():
    flops = count_flops(Baddbmm(), (torch.rand(2, 4, 4),))
    assert flops.macs == 0 and flops.unknown == {"aten::baddbmm": 1}


@pytest.mark.parametrize("name", list(MIXERS))
def test_every_mixer_is_fully_counted(name):
    flops = count_flops(MIXERS[name](32, 8).eval(), (torch.rand(1, 32, 8, 8),))
    assert flops.macs > 0 and not flops.unknown


def test_aux_count_adds_exactly_the_training_only_heads(full_model, full_flops):
    side = 32  # full_flops's input side (conftest)
    inputs = (torch.rand(1, 3, side, side), torch.rand(1, 1, side, side))
    state = {k: v.clone() for k, v in full_model.state_dict().items()}
    with_aux = count_flops_with_aux(full_model, inputs)
    assert not full_model.training  # the model itself is untouched: mode and BN statistics
    assert all(torch.equal(v, full_model.state_dict()[k]) for k, v in state.items())
    # Each aux head: 3x3 conv 256->256, BN (2 per element), 1x1 conv 256->K with bias, at 1/8 and 1/4;
    # each aux output is upsampled bilinearly to SIDE x SIDE (fvcore: 4 per output element).
    c, k = 256, 6
    heads = sum(s * s * (9 * c * c + 2 * c + c * k) for s in (side // 8, side // 4))
    upsampling = 2 * 4 * k * side * side
    assert with_aux.macs - full_flops.macs == heads + upsampling
    assert with_aux.unknown == {}


def test_full_model_leaves_only_ops_without_multiply_adds(full_flops):
    assert full_flops.unknown == {}
    assert set(full_flops.unsupported) <= NO_MAC_OPS


@pytest.mark.slow
@pytest.mark.parametrize("variant", list_models()["ms2mnet"])
def test_every_variant_leaves_only_ops_without_multiply_adds(variant):
    model = build_model("ms2mnet", variant=variant, pretrained=False).eval()
    flops = count_flops(model, (torch.rand(1, 3, 32, 32), torch.rand(1, 1, 32, 32)))
    assert flops.unknown == {}, f"{variant}: ops of unknown cost {flops.unknown}"
    assert set(flops.unsupported) <= NO_MAC_OPS
