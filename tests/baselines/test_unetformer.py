"""UNetFormer: output contract, size against the reference table, gradients, window attention, weights."""

import pytest
import timm
import torch

from baselines.unetformer import GlobalLocalAttention, UNetFormer
from ms2mnet.bench.flops import count_flops
from ms2mnet.models import build_model

REFERENCE_PARAMS, REFERENCE_GMACS = 11.72e6, 2.93   # official code, 6 classes, 256x256


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("unetformer", pretrained=False)


def inputs(h=64, w=64, batch=2):
    return torch.rand(batch, 3, h, w), torch.rand(batch, 1, h, w)


@pytest.mark.parametrize("size", [(64, 64), (64, 96)])
def test_eval_returns_full_size_logits(model, size):
    model.eval()
    with torch.no_grad():
        out = model(*inputs(*size))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 6, *size)


def test_train_returns_main_and_aux_full_size(model):
    model.train()
    outputs = model(*inputs(64, 96))
    assert isinstance(outputs, tuple) and len(outputs) == 2
    assert all(o.shape == (2, 6, 64, 96) for o in outputs)


def test_the_dsm_is_ignored(model):
    model.eval()
    image, dsm = inputs()
    with torch.no_grad():
        assert torch.equal(model(image, dsm), model(image, torch.zeros_like(dsm)))


def test_parameter_count_matches_the_official_code(model):
    params = sum(p.numel() for p in model.parameters())
    assert abs(params / REFERENCE_PARAMS - 1) < 0.01, params


@pytest.mark.slow
def test_macs_match_the_official_code(model):
    model.eval()
    gmacs = count_flops(model, inputs(256, 256, batch=1)).gmacs
    assert abs(gmacs / REFERENCE_GMACS - 1) < 0.05, gmacs


def test_every_parameter_receives_a_gradient(model):
    model.train()
    model.zero_grad()
    sum(o.sum() for o in model(*inputs())).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing[:5]


def test_window_attention_equals_explicit_softmax_with_relative_bias():
    torch.manual_seed(2)
    attn = GlobalLocalAttention(dim=16, num_heads=2, window=4)
    x = torch.randn(1, 16, 8, 8)
    out = attn.window_attention(x)
    # window (0, 0) by hand: tokens row-major inside the window, heads of 8 channels
    q, k, v = attn.qkv(x)[:, :, :4, :4].reshape(3, 2, 8, 16).transpose(-1, -2)   # 3 heads N d
    bias = attn.relative_position_bias_table[attn.relative_position_index.view(-1)].view(16, 16, 2).permute(2, 0, 1)
    weights = (q @ k.transpose(-1, -2) * 8 ** -0.5 + bias).softmax(-1)
    expected = (weights @ v).transpose(-1, -2).reshape(16, 4, 4)
    assert torch.allclose(out[0, :, :4, :4], expected, atol=1e-5)


def test_local_resnet18_file_loads_the_backbone(tmp_path):
    torch.manual_seed(1)
    state = timm.create_model("resnet18", pretrained=False).state_dict()   # timm names, with fc
    path = tmp_path / "resnet18.pth"
    torch.save({"model": state}, path)
    model = UNetFormer(6, pretrained=path)
    for name, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[name]), name
