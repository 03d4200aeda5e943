"""RS3Mamba: output contract, faithful size, gradients everywhere, ResNet-18 and VMamba-T weights."""

from __future__ import annotations

import re

import pytest
import torch

from baselines.rs3mamba import RS3Mamba, VSSMEncoder, load_vmamba
from ms2mnet.models import build_model, get_model
from ms2mnet.ops import SS2D

from baseline_checks import BaselineContract, timm_file

# From the official code (6 classes, pretrained off, 1x3x256x256; fvcore MACs): 9.8 G + 2.5 G in the scan.
REFERENCE_PARAMS, REFERENCE_GMACS = 43.32e6, 9.8 + 2.5


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("rs3mamba", num_classes=6, pretrained=False)


class TestContract(BaselineContract):
    reference_params, reference_gmacs = REFERENCE_PARAMS, REFERENCE_GMACS
    gradient_size = (32, 32)           # the scan on the CPU is the cost


def test_the_dsm_is_ignored(model):
    model.eval()
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(image, torch.rand(1, 1, 32, 32)), model(image, torch.rand(1, 1, 32, 32)))


def test_the_vss_branch_is_vmamba_tiny_on_the_suites_ss2d(model):
    encoder = model.vssm_encoder
    assert [len(layer.blocks) for layer in encoder.layers] == [2, 2, 9, 2]
    blocks = [block for layer in encoder.layers for block in layer.blocks]
    assert all(isinstance(block.self_attention, SS2D) for block in blocks)
    assert [layer.blocks[0].self_attention.inner for layer in encoder.layers] == [192, 384, 768, 1536]
    assert blocks[-1].drop_path.drop_prob == pytest.approx(0.2)


def test_registration():
    entry = get_model("rs3mamba")
    assert entry.modalities == ("image",) and entry.loss == "ce" and entry.aux_weights == ()
    from ms2mnet.report.published import load_references
    assert load_references("vaihingen").of("rs3mamba")["miou"].value == 82.78
    assert load_references("potsdam").of("rs3mamba")["miou"].value == 85.01


# --- weights: a ResNet-18 state dict and a fake VMamba-T v0 checkpoint with the real key names ---

def vmamba_checkpoint(encoder: VSSMEncoder) -> dict[str, torch.Tensor]:
    """Random tensors named and shaped as vmamba_tiny_e292.pth ({'model': ...}): VMamba v0 names
    (downsampling inside each layer), its own 4x4 RGB patch embedding, final norm and classifier."""
    torch.manual_seed(1)
    state = {}
    for name, value in encoder.state_dict().items():
        name = re.sub(r"^downsamples\.(\d+)\.", r"layers.\1.downsample.", name)
        state[name] = torch.randn_like(value) if value.is_floating_point() else value
    state.update({"patch_embed.proj.weight": torch.randn(96, 3, 4, 4), "patch_embed.proj.bias": torch.randn(96),
                  "patch_embed.norm.weight": torch.randn(96), "patch_embed.norm.bias": torch.randn(96),
                  "norm.weight": torch.randn(768), "norm.bias": torch.randn(768),
                  "head.weight": torch.randn(1000, 768), "head.bias": torch.randn(1000)})
    return {"model": state}


def test_the_fake_checkpoint_has_vmamba_v0_names():
    names = vmamba_checkpoint(VSSMEncoder())["model"]
    assert "layers.0.downsample.reduction.weight" in names and "layers.2.downsample.norm.bias" in names
    assert "layers.3.blocks.1.self_attention.x_proj_weight" in names and "downsamples.0.norm.weight" not in names


def test_local_weights_load_both_branches(tmp_path):
    resnet = timm_file(tmp_path / "resnet18.pth", "resnet18", seed=2)
    checkpoint = vmamba_checkpoint(VSSMEncoder())
    torch.save(checkpoint, tmp_path / "vmamba_tiny_e292.pth")
    model = RS3Mamba(6, pretrained=tmp_path / "resnet18.pth", vmamba_weights=tmp_path / "vmamba_tiny_e292.pth")
    assert torch.equal(model.backbone.layer3[1].conv2.weight, resnet["layer3.1.conv2.weight"])
    assert torch.equal(model.backbone.conv1.weight, resnet["conv1.weight"])
    vmamba, encoder = checkpoint["model"], model.vssm_encoder
    block = encoder.layers[2].blocks[5].self_attention
    assert torch.equal(block.A_logs, vmamba["layers.2.blocks.5.self_attention.A_logs"])
    assert torch.equal(block.dt_projs_bias, vmamba["layers.2.blocks.5.self_attention.dt_projs_bias"])
    assert torch.equal(encoder.downsamples[1].reduction.weight, vmamba["layers.1.downsample.reduction.weight"])
    assert torch.equal(encoder.layers[0].blocks[1].ln_1.bias, vmamba["layers.0.blocks.1.ln_1.bias"])
    # as the official loader: the patch embedding's conv and norm weight stay, its norm bias is loaded
    assert torch.equal(encoder.patch_embed.norm.bias, vmamba["patch_embed.norm.bias"])
    assert torch.equal(encoder.patch_embed.norm.weight, torch.ones(96))
    assert encoder.patch_embed.proj.weight.shape == (96, 48, 2, 2)


def test_bad_weights_are_named(tmp_path):
    with pytest.raises(ValueError, match="vmamba_tiny_e292.pth"):
        RS3Mamba(6, pretrained=True)          # never downloads: the VMamba checkpoint is asked for first
    tiny = VSSMEncoder(depths=(1, 1, 1, 1), dims=(96, 16, 32, 64))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_vmamba(tiny, tmp_path / "missing.pth")
    torch.save({"model": {"layers.0.blocks.0.ln_1.weight": torch.ones(96)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="other.pth: not a VMamba-T"):
        load_vmamba(tiny, tmp_path / "other.pth")
    torch.save({"model": {"layers.0.blocks.0.ln_1.weight": torch.ones(64)}}, tmp_path / "small.pth")
    with pytest.raises(ValueError, match="small.pth: layers.0.blocks.0.ln_1.weight has shape"):
        load_vmamba(tiny, tmp_path / "small.pth")
