"""CMGFNet: output contract, size against the reference table, gradients, gated fusion, ResNet-34 weights."""

import pytest
import timm
import torch

from baselines.cmgfnet import CMGFNet, GatedFusion
from ms2mnet.bench.flops import count_flops
from ms2mnet.models import build_model

REFERENCE_PARAMS, REFERENCE_GMACS = 42.66e6, 10.2   # official code, 6 classes, 256x256


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("cmgfnet", pretrained=False)


def inputs(h=64, w=64, batch=2):
    return torch.rand(batch, 3, h, w), torch.rand(batch, 1, h, w)


@pytest.mark.parametrize("size", [(64, 64), (64, 96), (32, 32)])
def test_eval_returns_full_size_logits(model, size):
    model.eval()
    with torch.no_grad():
        out = model(*inputs(*size))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 6, *size)


def test_train_returns_the_three_heads_full_size(model):
    model.train()
    outputs = model(*inputs(64, 96))
    assert isinstance(outputs, tuple) and len(outputs) == 3
    assert all(o.shape == (2, 6, 64, 96) for o in outputs)


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


def test_gated_fusion_weighs_the_image_by_g_and_the_dsm_by_one_minus_g():
    gate = GatedFusion(2)
    torch.nn.init.zeros_(gate.gate[0].weight)
    torch.nn.init.constant_(gate.gate[0].bias, 0.0)          # G = sigmoid(0) = 0.5
    x, y = torch.full((1, 2, 3, 3), 4.0), torch.full((1, 2, 3, 3), 2.0)
    out = gate(x, y)
    assert torch.allclose(out[:, :2], torch.ones(1, 2, 3, 3))       # y * (1 - G) first
    assert torch.allclose(out[:, 2:], torch.full((1, 2, 3, 3), 2.0))  # then x * G


def test_local_resnet34_file_loads_both_encoders_with_mean_dsm_stem(tmp_path):
    torch.manual_seed(1)
    state = timm.create_model("resnet34", pretrained=False).state_dict()   # torchvision names, with fc
    path = tmp_path / "resnet34-b627a593.pth"
    torch.save(state, path)
    model = CMGFNet(6, pretrained=str(path))
    for name, value in model.encoder_rgb.state_dict().items():
        assert torch.equal(value, state[name]), name
    assert torch.equal(model.encoder_dsm.layer4[2].conv2.weight, state["layer4.2.conv2.weight"])
    stem = model.encoder_dsm.conv1.weight
    assert stem.shape == (64, 1, 7, 7)
    assert torch.allclose(stem, state["conv1.weight"].mean(dim=1, keepdim=True))
