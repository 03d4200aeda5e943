"""V-FuseNet: output contract, faithful size, gradients everywhere, VGG-16-BN weights from a local file."""

import pytest
import torch

from baseline_checks import BaselineContract, assert_encoder_loaded, outputs_and_features, vgg16_bn_file
from ms2mnet.models import build_model, get_model

# From the official topology (6 classes, pretrained off, 1x3x256x256 + 1x1x256x256; fvcore MACs).
REFERENCE_PARAMS, REFERENCE_GMACS = 58.96e6, 84.9


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("vfusenet", num_classes=6, pretrained=False)


class TestContract(BaselineContract):
    reference_params, reference_gmacs = REFERENCE_PARAMS, REFERENCE_GMACS


def test_modality_streams_stay_apart(model):
    """Another DSM leaves the image stream's features unchanged, and changes the output."""
    image, dsm = torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    outputs, deepest = outputs_and_features(model, model.image_encoder[4], (image, dsm), (image, torch.rand_like(dsm)))
    assert not torch.allclose(outputs[0], outputs[1])
    assert torch.equal(deepest[0], deepest[1])


def test_registration():
    entry = get_model("vfusenet")
    assert entry.loss == "ce" and entry.aux_weights == ()
    assert entry.loss_weights == {"class_weights": "median_frequency"}


def test_local_weights_load_all_three_encoders(tmp_path):
    path, state = vgg16_bn_file(tmp_path)
    torch.manual_seed(3)
    model = build_model("vfusenet", pretrained=str(path))
    assert_encoder_loaded(model.image_encoder, state, in_chans=3)
    assert_encoder_loaded(model.dsm_encoder, state, in_chans=1)
    assert_encoder_loaded(model.virtual_encoder, state, in_chans=128)   # its first conv stays random
    torch.manual_seed(3)
    fresh = build_model("vfusenet", pretrained=False)
    assert torch.equal(model.virtual_encoder[0][0].conv.weight, fresh.virtual_encoder[0][0].conv.weight)
