"""ESANet: output contract, size against the reference table, gradients, ESANet's own weight file."""

import pytest
import torch

from baselines.esanet import ESANet, LearnedUpsample, ResNetNBt1D
from ms2mnet.bench.flops import count_flops
from ms2mnet.models import build_model

REFERENCE_PARAMS, REFERENCE_GMACS = 46.89e6, 9.44   # official code, 6 classes, 256x256


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("esanet", pretrained=False)


def inputs(h=64, w=64, batch=2):
    return torch.rand(batch, 3, h, w), torch.rand(batch, 1, h, w)


@pytest.mark.parametrize("size", [(64, 64), (64, 96)])
def test_eval_returns_full_size_logits(model, size):
    model.eval()
    with torch.no_grad():
        out = model(*inputs(*size))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 6, *size)


def test_train_returns_main_and_three_full_size_side_outputs(model):
    model.train()
    outputs = model(*inputs(64, 96))
    assert isinstance(outputs, tuple) and len(outputs) == 4
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
    for name, value in model.encoder_rgb.state_dict().items():
        assert torch.equal(value, encoder[name]), name
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
