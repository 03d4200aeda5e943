"""FTransUNet: output contract, faithful size, gradients everywhere, the R50+ViT-B/16 .npz converter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from baselines.ftransunet import FTransUNet, load_npz
from ms2mnet.models import build_model, get_model

from baseline_checks import BaselineContract, outputs_and_features, parameters_without_gradient

# From the official code (6 classes, pretrained off, 1x3x256x256 + 1x1x256x256; fvcore MACs).
REFERENCE_PARAMS, REFERENCE_GMACS = 203.40e6, 69.6
# A small configuration with the same structure, for the checkpoint tests (the real one is 800 MB).
TINY = dict(hidden_size=64, num_heads=4, mlp_dim=128, num_layers=4, cross_layers=(1, 2), block_units=(1, 2, 1),
            width=32)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("ftransunet", num_classes=6, pretrained=False)


@pytest.fixture(scope="module")
def tiny():
    """The same blocks at a fraction of the size (self and MBA layers, every trunk block): the checks on
    gradients and on the direction of fusion need backward passes the full 203M model makes slow."""
    torch.manual_seed(0)
    return FTransUNet(6, **TINY)


class TestContract(BaselineContract):
    reference_params, reference_gmacs = REFERENCE_PARAMS, REFERENCE_GMACS

    def test_every_parameter_gets_a_gradient(self, tiny):    # on the tiny model, as the full one is slow
        assert parameters_without_gradient(tiny) == []


def test_layers_four_to_nine_mix_self_and_cross_attention(model):
    assert [i for i, layer in enumerate(model.encoder.layers) if layer.mix is not None] == [3, 4, 5, 6, 7, 8]
    assert torch.equal(model.encoder.layers[3].mix.data, torch.full((2, 2), 0.5))


def test_the_dsm_flows_into_the_image_stream_never_the_reverse(tiny):
    """Another DSM changes the output; another image leaves the DSM trunk's deepest features unchanged."""
    image, dsm = torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    outputs, deepest = outputs_and_features(tiny, tiny.trunks.dsm.body.block3,
                                            (image, dsm), (image, torch.rand_like(dsm)), (torch.rand_like(image), dsm))
    assert not torch.allclose(outputs[0], outputs[1])
    assert torch.equal(deepest[0], deepest[2]) and not torch.equal(deepest[0], deepest[1])


def test_registration():
    entry = get_model("ftransunet")
    assert entry.loss == "ce" and entry.aux_weights == () and entry.modalities == ("image", "dsm")
    from ms2mnet.report.published import load_references
    assert load_references("vaihingen").of("ftransunet")["miou"].value == 84.23
    assert load_references("potsdam").of("ftransunet")["miou"].value == 86.20


# --- the checkpoint converter, on a fake R50+ViT-B/16 .npz with the real key names and layouts ---

def fake_npz(model: FTransUNet, path: Path, grid: int) -> dict[str, np.ndarray]:
    """Random arrays named and shaped as in R50+ViT-B_16.npz (HWIO kernels, q/k/v as (D, heads, d)),
    with a class token and a `grid` x `grid` position embedding, for `model`'s configuration."""
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {}

    def put(name: str, *shape: int) -> None:
        arrays[name] = rng.standard_normal(shape).astype(np.float32)

    trunk = model.trunks.image
    width = trunk.root.conv.out_channels
    put("conv_root/kernel", 7, 7, 3, width)
    put("gn_root/scale", width)
    put("gn_root/bias", width)
    for block_name, block in trunk.body.named_children():
        for unit_name, unit in block.named_children():
            prefix = f"{block_name}/{unit_name}/"
            for i in (1, 2, 3):
                conv = getattr(unit, f"conv{i}")
                put(f"{prefix}conv{i}/kernel", *conv.kernel_size, conv.in_channels, conv.out_channels)
                put(f"{prefix}gn{i}/scale", conv.out_channels)
                put(f"{prefix}gn{i}/bias", conv.out_channels)
            if unit.downsample is not None:
                put(f"{prefix}conv_proj/kernel", 1, 1, unit.downsample.in_channels, unit.downsample.out_channels)
                put(f"{prefix}gn_proj/scale", unit.downsample.out_channels)
                put(f"{prefix}gn_proj/bias", unit.downsample.out_channels)
    dim = model.embeddings.position.shape[-1]
    heads = model.encoder.layers[0].image.num_heads
    mlp = model.encoder.layers[0].image.ffn[0].out_features
    put("embedding/kernel", 1, 1, model.embeddings.patch_image.in_channels, dim)
    put("embedding/bias", dim)
    put("Transformer/posembed_input/pos_embedding", 1, 1 + grid * grid, dim)
    put("Transformer/encoder_norm/scale", dim)
    put("Transformer/encoder_norm/bias", dim)
    for i in range(len(model.encoder.layers)):
        block = f"Transformer/encoderblock_{i}/"
        attention = block + "MultiHeadDotProductAttention_1/"
        for name in ("query", "key", "value"):
            put(f"{attention}{name}/kernel", dim, heads, dim // heads)
            put(f"{attention}{name}/bias", heads, dim // heads)
        put(f"{attention}out/kernel", heads, dim // heads, dim)
        put(f"{attention}out/bias", dim)
        for norm in ("LayerNorm_0", "LayerNorm_2"):
            put(f"{block}{norm}/scale", dim)
            put(f"{block}{norm}/bias", dim)
        put(f"{block}MlpBlock_3/Dense_0/kernel", dim, mlp)
        put(f"{block}MlpBlock_3/Dense_0/bias", mlp)
        put(f"{block}MlpBlock_3/Dense_1/kernel", mlp, dim)
        put(f"{block}MlpBlock_3/Dense_1/bias", dim)
    put("head/kernel", dim, 10)    # the classifier, which the converter leaves out
    np.savez(path, **arrays)
    return arrays


def oihw(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())


def test_the_npz_converter_loads_trunks_and_transformer(tmp_path):
    torch.manual_seed(0)
    model = FTransUNet(6, **TINY)
    path = tmp_path / "R50+ViT-B_16.npz"
    w = fake_npz(model, path, grid=14)        # ImageNet's 14x14 grid, resized to 16x16 as the official code
    decoder_before = model.decoder.conv_more[0].weight.clone()
    load_npz(model, path)
    dim = 64
    for trunk in (model.trunks.image, model.trunks.dsm):
        assert torch.equal(trunk.body.block2.unit1.conv2.weight, oihw(w["block2/unit1/conv2/kernel"]))
        assert torch.equal(trunk.body.block2.unit1.downsample.weight, oihw(w["block2/unit1/conv_proj/kernel"]))
        assert torch.equal(trunk.body.block3.unit1.gn_proj.bias, torch.from_numpy(w["block3/unit1/gn_proj/bias"]))
        assert torch.equal(trunk.root.gn.weight, torch.from_numpy(w["gn_root/scale"]))
    assert torch.equal(model.trunks.image.root.conv.weight, oihw(w["conv_root/kernel"]))
    # the DSM root: mean of the RGB kernel over its input channels
    assert model.trunks.dsm.root.conv.weight.shape == (32, 1, 7, 7)
    assert torch.allclose(model.trunks.dsm.root.conv.weight, oihw(w["conv_root/kernel"].mean(2, keepdims=True)))
    for stream in (model.encoder.layers[2].image, model.encoder.layers[2].dsm):
        attention = "Transformer/encoderblock_2/MultiHeadDotProductAttention_1/"
        kernel = w[attention + "query/kernel"]
        assert torch.equal(stream.query.weight, torch.from_numpy(kernel.reshape(dim, dim).T.copy()))
        assert torch.equal(stream.query.bias, torch.from_numpy(w[attention + "query/bias"].reshape(-1)))
        x = torch.randn(3, dim)   # out: (heads, d, D) applied to the concatenated heads
        expected = x @ torch.from_numpy(w[attention + "out/kernel"].reshape(dim, dim))
        assert torch.allclose(stream.out(x) - stream.out.bias, expected, atol=1e-5)
        assert torch.equal(stream.ffn[3].weight,
                           torch.from_numpy(w["Transformer/encoderblock_2/MlpBlock_3/Dense_1/kernel"].T.copy()))
        assert torch.equal(stream.ffn_norm.weight,
                           torch.from_numpy(w["Transformer/encoderblock_2/LayerNorm_2/scale"]))
    assert torch.equal(model.embeddings.patch_dsm.weight, oihw(w["embedding/kernel"]))
    assert torch.equal(model.encoder.norm_dsm.bias, torch.from_numpy(w["Transformer/encoder_norm/bias"]))
    patches = w["Transformer/posembed_input/pos_embedding"][0, 1:].reshape(14, 14, dim)
    resized = ndimage.zoom(patches, (16 / 14, 16 / 14, 1), order=1).reshape(1, 256, dim)
    assert torch.allclose(model.embeddings.position, torch.from_numpy(resized))
    assert torch.equal(model.decoder.conv_more[0].weight, decoder_before)   # not in the checkpoint


def test_a_checkpoint_on_the_model_grid_drops_only_the_class_token(tmp_path):
    model = FTransUNet(6, **TINY)
    w = fake_npz(model, tmp_path / "r50.npz", grid=16)
    load_npz(model, tmp_path / "r50.npz")
    position = w["Transformer/posembed_input/pos_embedding"][:, 1:]
    assert torch.equal(model.embeddings.position, torch.from_numpy(position))


def test_the_builder_loads_a_local_npz(tmp_path):
    path = tmp_path / "r50.npz"
    w = fake_npz(FTransUNet(6, **TINY), path, grid=16)
    model = build_model("ftransunet", pretrained=str(path), **TINY)
    assert torch.equal(model.trunks.image.root.conv.weight, oihw(w["conv_root/kernel"]))


def test_bad_checkpoints_are_named(tmp_path):
    bad = tmp_path / "other.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz: not an R50\\+ViT-B/16 checkpoint"):
        FTransUNet(6, pretrained=bad, **TINY)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        FTransUNet(6, pretrained=tmp_path / "missing.npz", **TINY)
    with pytest.raises(RuntimeError, match="R50\\+ViT-B_16.npz"):
        FTransUNet(6, pretrained=True, **TINY)
    wrong = tmp_path / "wide.npz"
    fake_npz(FTransUNet(6, **{**TINY, "hidden_size": 32}), wrong, grid=16)
    with pytest.raises(ValueError, match="wide.npz: shapes do not match"):
        FTransUNet(6, pretrained=wrong, **TINY)
