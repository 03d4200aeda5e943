"""CMGFNet: output contract, size against the reference table, gradients, gated fusion, ResNet-34 weights."""

import pytest
import torch

from baselines.cmgfnet import CMGFNet, GatedFusion
from ms2mnet.models import build_model

from baseline_checks import BaselineContract, assert_state_loaded, check_output_contract, timm_file

REFERENCE_PARAMS, REFERENCE_GMACS = 42.66e6, 10.2   # official code, 6 classes, 256x256


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("cmgfnet", pretrained=False)


class TestContract(BaselineContract):
    reference_params, reference_gmacs = REFERENCE_PARAMS, REFERENCE_GMACS
    num_aux = 2                        # the two auxiliary heads


def test_output_contract_at_32x32(model):     # the deepest features 1x1
    check_output_contract(model, (32, 32), num_aux=2)


def test_gated_fusion_weighs_the_image_by_g_and_the_dsm_by_one_minus_g():
    gate = GatedFusion(2)
    torch.nn.init.zeros_(gate.gate[0].weight)
    torch.nn.init.constant_(gate.gate[0].bias, 0.0)          # G = sigmoid(0) = 0.5
    x, y = torch.full((1, 2, 3, 3), 4.0), torch.full((1, 2, 3, 3), 2.0)
    out = gate(x, y)
    assert torch.allclose(out[:, :2], torch.ones(1, 2, 3, 3))       # y * (1 - G) first
    assert torch.allclose(out[:, 2:], torch.full((1, 2, 3, 3), 2.0))  # then x * G


def test_local_resnet34_file_loads_both_encoders_with_mean_dsm_stem(tmp_path):
    path = tmp_path / "resnet34-b627a593.pth"
    state = timm_file(path, "resnet34")
    model = CMGFNet(6, pretrained=str(path))
    assert_state_loaded(model.encoder_rgb, state)
    assert torch.equal(model.encoder_dsm.layer4[2].conv2.weight, state["layer4.2.conv2.weight"])
    stem = model.encoder_dsm.conv1.weight
    assert stem.shape == (64, 1, 7, 7)
    assert torch.allclose(stem, state["conv1.weight"].mean(dim=1, keepdim=True))
