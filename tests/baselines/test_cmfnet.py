"""CMFNet: output contract, faithful size, gradients everywhere, VGG-16-BN weights from a local file."""

import pytest
import torch

from baseline_checks import BaselineContract, assert_encoder_loaded, vgg16_bn_file
from ms2mnet.models import build_model, get_model

# From the official code (6 classes, pretrained off, 1x3x256x256 + 1x1x256x256; fvcore MACs).
REFERENCE_PARAMS, REFERENCE_GMACS = 104.07e6, 79.3
LEVELS, KV = (64, 128, 256, 512), 240
# Parameters the official model holds but its forward never uses (not built here; see baselines/cmfnet.py).
UNUSED = (
    6 * KV * KV * (2 * 4 + 4)                               # key/value copies of heads 1-3: 4 cross (2 streams), 4 self
    + 2 * sum(c * c + c for c in LEVELS)                    # gates of blocks 1-4, both streams
    + sum(c * c // 4 + c * c + 4 * c + 8 * c * c + 5 * c for c in LEVELS) + KV * KV  # last cross layer, DSM update
    + KV * KV                                               # last cross layer, image keys (only the DSM update reads them)
    + sum(c * c + c + 2 * c for c in LEVELS)                # DSM reconstruction
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("cmfnet", num_classes=6, pretrained=False)


class TestContract(BaselineContract):
    reference_params = REFERENCE_PARAMS - UNUSED      # the official count less its unused parameters
    reference_gmacs = REFERENCE_GMACS


def test_the_official_codes_unused_parameters_total_8_540_800():
    assert UNUSED == 8_540_800


def test_dsm_changes_the_output(model):
    model.eval()
    image, dsm = torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(model(image, dsm), model(image, torch.rand_like(dsm)))


def test_position_embeddings_are_resized_for_other_inputs(model):
    embedding = model.cross_transformer.embeddings[0]
    tokens = embedding.eval()(torch.rand(1, 64, 64, 96))          # a 64x96 level-1 map -> 4x6 tokens
    assert tokens.shape == (1, 24, 64)


def test_registration():
    entry = get_model("cmfnet")
    assert entry.loss == "ce" and entry.aux_weights == () and not entry.loss_weights


def test_local_weights_load_both_encoders_and_the_dsm_stem_is_the_rgb_mean(tmp_path):
    path, state = vgg16_bn_file(tmp_path)
    model = build_model("cmfnet", pretrained=str(path))
    assert_encoder_loaded(model.image_encoder, state, in_chans=3)
    assert_encoder_loaded(model.dsm_encoder, state, in_chans=1)
    assert model.image_encoder[0][0].relu_first    # conv -> ReLU -> BN, the official order
