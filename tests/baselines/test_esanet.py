"""ESANet: output contract, size against the reference table, gradients, ESANet's own weight file."""

import pytest
import torch

from baselines.esanet import ESANet, LearnedUpsample, ResNetNBt1D
from ms2mnet.models import build_model

from baseline_checks import BaselineContract, assert_state_loaded

REFERENCE_PARAMS, REFERENCE_GMACS = 46.89e6, 9.44   # official code, 6 classes, 256x256


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("esanet", pretrained=False)


class TestContract(BaselineContract):
    reference_params, reference_gmacs = REFERENCE_PARAMS, REFERENCE_GMACS
    num_aux = 3                        # side outputs at 1/32, 1/16, 1/8, upsampled to full size


def test_learned_upsampling_starts_as_a_smooth_x2():
    up = LearnedUpsample(3)
    x = torch.ones(1, 3, 4, 4)
    y = up(x)
    assert y.shape == (1, 3, 8, 8)
    assert torch.allclose(y[..., 1:-1, 1:-1], torch.ones(1, 3, 6, 6))   # the kernel sums to 1


def test_esanet_weight_file_loads_into_both_encoders_with_summed_dsm_stem(tmp_path):
    torch.manual_seed(1)
    encoder = ResNetNBt1D(in_chans=3).state_dict()
    # ESANet's ImageNet checkpoint: the encoder under 'encoder.', a classifier beside it
    checkpoint = {"state_dict": {**{f"encoder.{k}": v for k, v in encoder.items()},
                                 "fc.weight": torch.zeros(1000, 512)}, "epoch": 7}
    path = tmp_path / "r34_NBt1D.pth"
    torch.save(checkpoint, path)
    model = ESANet(6, pretrained=str(path))
    assert_state_loaded(model.encoder_rgb, encoder)
    assert torch.equal(model.encoder_depth.layer3[2].conv1x3_2.weight, encoder["layer3.2.conv1x3_2.weight"])
    stem = model.encoder_depth.conv1.weight
    assert stem.shape == (64, 1, 7, 7)
    assert torch.allclose(stem, encoder["conv1.weight"].sum(dim=1, keepdim=True))


def test_plain_state_dict_also_loads(tmp_path):
    encoder = ResNetNBt1D(in_chans=3).state_dict()
    path = tmp_path / "plain.pth"
    torch.save(encoder, path)
    model = ESANet(6, pretrained=path)
    assert torch.equal(model.encoder_rgb.layer4[0].downsample[0].weight, encoder["layer4.0.downsample.0.weight"])


def test_download_is_refused_with_the_file_to_fetch():
    with pytest.raises(RuntimeError, match="r34_NBt1D.pth"):
        ESANet(6, pretrained=True)


def test_a_wrong_file_names_itself(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(ValueError, match="resnet34.pth: not a ResNet-34 NBt1D state dict"):
        ESANet(6, pretrained=path)
