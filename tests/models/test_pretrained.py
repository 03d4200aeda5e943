"""Loading ResNet-50 weights from a local file (the path offline clusters use)."""

import pytest
import timm
import torch

from ms2mnet.models import build_model


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    torch.manual_seed(1)
    state = timm.create_model("resnet50", pretrained=False).state_dict()  # with layer4 and fc, like the real file
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    torch.save(state, path)
    return path, state


def test_local_weights_load_into_both_trunks(weights_file):
    path, state = weights_file
    model = build_model("ms2mnet", pretrained=str(path))
    for name, value in model.image_trunk.state_dict().items():
        assert torch.equal(value, state[name]), name
    dsm_stem = model.dsm_trunk.conv1.weight
    assert dsm_stem.shape == (64, 1, 7, 7)
    assert torch.allclose(dsm_stem, state["conv1.weight"].mean(dim=1, keepdim=True))
    assert torch.equal(model.dsm_trunk.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])


def test_weights_nested_under_state_dict_key(weights_file, tmp_path):
    path, state = weights_file
    nested = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": state, "epoch": 3}, nested)
    model = build_model("ms2mnet", variant="rgb_only", pretrained=nested)
    assert torch.equal(model.image_trunk.conv1.weight, state["conv1.weight"])


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_model("ms2mnet", pretrained=tmp_path / "nope.pth")


def test_wrong_file_names_it_and_the_missing_keys(tmp_path):
    bad = tmp_path / "not_resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, bad)
    with pytest.raises(ValueError, match="not_resnet.pth: not a ResNet-50 state dict"):
        build_model("ms2mnet", pretrained=bad)
