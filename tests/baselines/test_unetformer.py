"""UNetFormer: output contract, size against the reference table, gradients, window attention, weights."""

import pytest
import torch

from baselines.unetformer import GlobalLocalAttention, UNetFormer
from ms2mnet.models import build_model

from baseline_checks import BaselineContract, assert_state_loaded, timm_file

REFERENCE_PARAMS, REFERENCE_GMACS = 11.72e6, 2.93   # official code, 6 classes, 256x256


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("unetformer", pretrained=False)


class TestContract(BaselineContract):
    reference_params, reference_gmacs = REFERENCE_PARAMS, REFERENCE_GMACS
    num_aux = 1                        # the auxiliary head


def test_the_dsm_is_ignored(model):
    model.eval()
    image, dsm = torch.rand(2, 3, 64, 64), torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(image, dsm), model(image, torch.zeros_like(dsm)))


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
    path = tmp_path / "resnet18.pth"
    state = timm_file(path, "resnet18", wrap="model")
    model = UNetFormer(6, pretrained=path)
    assert_state_loaded(model.backbone, state)
