"""FuseNet: output contract, faithful size, gradients everywhere, VGG-16-BN weights from a local file."""

import pytest
import torch

from ms2mnet.models import build_model, get_model

from baseline_checks import BaselineContract, assert_encoder_loaded, outputs_and_features, vgg16_bn_file

# From the official code (6 classes, pretrained off, 1x3x256x256 + 1x1x256x256; fvcore MACs).
REFERENCE_PARAMS, REFERENCE_GMACS = 44.17e6, 60.2


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("fusenet", num_classes=6, pretrained=False)


class TestContract(BaselineContract):
    reference_params, reference_gmacs = REFERENCE_PARAMS, REFERENCE_GMACS


def test_the_dsm_flows_into_the_image_stream_never_the_reverse(model):
    """Another DSM changes the output; another image leaves the DSM stream's deepest features unchanged."""
    image, dsm = torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    outputs, deepest = outputs_and_features(model, model.dsm_encoder[4],
                                            (image, dsm), (image, torch.rand_like(dsm)), (torch.rand_like(image), dsm))
    assert not torch.allclose(outputs[0], outputs[1])
    assert torch.equal(deepest[0], deepest[2]) and not torch.equal(deepest[0], deepest[1])


def test_registration():
    entry = get_model("fusenet")
    assert entry.loss == "ce" and entry.aux_weights == ()
    assert entry.loss_weights == {"class_weights": "median_frequency"}
    from ms2mnet.report.published import load_references
    assert all(set(load_references(d).of("fusenet")) == {"oa", "mf1", "miou"} for d in ("vaihingen", "potsdam"))


def test_local_weights_load_both_encoders_and_the_dsm_stem_is_the_rgb_mean(tmp_path):
    path, state = vgg16_bn_file(tmp_path)
    model = build_model("fusenet", pretrained=str(path))
    assert_encoder_loaded(model.image_encoder, state, in_chans=3)
    assert_encoder_loaded(model.dsm_encoder, state, in_chans=1)
    assert model.dsm_encoder[0][0].conv.weight.shape == (64, 1, 3, 3)


def test_a_file_that_is_not_vgg_is_named(tmp_path):
    bad = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, bad)
    with pytest.raises(ValueError, match="resnet.pth: not a VGG-16 state dict"):
        build_model("fusenet", pretrained=bad)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_model("fusenet", pretrained=tmp_path / "missing.pth")
