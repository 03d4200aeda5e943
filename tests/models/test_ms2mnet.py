"""MS2MNet and its variants: output contract, gradients everywhere, and what each variant changes."""

import pytest
import torch

from amp_checks import check_train_and_eval_under_autocast
from ms2mnet.models import build_model, list_models

VARIANTS = list_models()["ms2mnet"]

# The parameter-name prefixes each variant is allowed (and required) to change (add, drop or reshape)
# with respect to `full`.
CHANGED_MODULES = {
    "no_vfe": ["vfe."],
    "no_asaf": ["decoder.fuse1.", "decoder.fuse2.", "decoder.fuse3."],
    "no_dfe": ["dfe."],
    "vfe_dwconv": [f"vfe.{i}.conv." for i in range(4)],
    "attention": [f"vfe.{i}.mixer." for i in range(4)],
    "selective_scan": [f"vfe.{i}.mixer." for i in range(4)],
    "no_mixer": [f"vfe.{i}.mixer." for i in range(4)] + [f"vfe.{i}.norm." for i in range(4)],
    "rgb_only": ["dfe.", "dsm_trunk.", "fusion."],
}


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {v: build_model("ms2mnet", variant=v, num_classes=6, pretrained=False) for v in VARIANTS}


def test_every_variant_of_the_model_md_table_is_registered():
    assert VARIANTS[0] == "full"
    assert set(CHANGED_MODULES) | {"full"} == set(VARIANTS)


@pytest.mark.parametrize("size", [(64, 64), (96, 160)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_output_contract(models, variant, size):
    model = models[variant]
    image, dsm = torch.rand(2, 3, *size), torch.rand(2, 1, *size)
    model.train()
    outputs = model(image, dsm)
    assert isinstance(outputs, tuple) and len(outputs) == 3
    assert all(o.shape == (2, 6, *size) for o in outputs)
    model.eval()
    with torch.no_grad():
        logits = model(image, dsm)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 6, *size)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_parameter_gets_a_gradient(models, variant):
    model = models[variant].train()
    model.zero_grad(set_to_none=True)
    outputs = model(torch.rand(2, 3, 64, 64), torch.rand(2, 1, 64, 64))
    # Random weights, not a mean: a mean over BatchNorm outputs has zero gradient by construction.
    sum((o * torch.randn_like(o)).sum() for o in outputs).backward()
    without = [n for n, p in model.named_parameters() if p.grad is None]
    assert without == [], f"parameters outside the graph (DDP would fail): {without[:5]}"
    # Every top-level block is connected to the loss. (Single weights may still get an exact zero:
    # timm zero-initialises the last BN of each bottleneck, and a tiny SE layer can start with all
    # its ReLUs off.)
    for name, child in model.named_children():
        grads = [p.grad.abs().sum() for p in child.parameters()]
        assert grads and sum(grads) > 0, f"{name} gets no gradient"


@pytest.mark.parametrize("variant", list(CHANGED_MODULES))
def test_variant_changes_exactly_the_modules_it_names(models, variant):
    full = {(n, p.shape) for n, p in models["full"].named_parameters()}
    other = {(n, p.shape) for n, p in models[variant].named_parameters()}
    changed = {n for n, _ in full ^ other}
    prefixes = CHANGED_MODULES[variant]
    assert all(n.startswith(tuple(prefixes)) for n in changed), sorted(changed)[:5]
    for prefix in prefixes:
        assert any(n.startswith(prefix) for n in changed), f"{variant} left {prefix} unchanged"


def test_aux_heads_only_run_in_training(models):
    model = models["full"].eval()
    calls = []
    handle = model.decoder.aux_a.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64))
    handle.remove()
    assert calls == []


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'ms3mnet'; valid models: .*ms2mnet"):
        build_model("ms3mnet")
    with pytest.raises(ValueError, match="valid variants: full, no_vfe"):
        build_model("ms2mnet", variant="no_such_variant")


def test_options_override_the_variant():
    model = build_model("ms2mnet", variant="no_vfe", num_classes=3, use_dfe=False)
    assert model.vfe is None and model.dfe is None
    assert model.decoder.head.classifier[-1].out_channels == 3


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_of_full_and_vfe_dwconv(models):
    # Separable ASAF: about 44.0M; VFE step 3 depthwise on top: about 31.6M.
    assert round(params(models["full"]) / 1e6, 1) == 44.0
    assert round(params(models["vfe_dwconv"]) / 1e6, 1) == 31.6
    # The difference is exactly a dense 3x3 against a depthwise 3x3 at each VFE level.
    assert params(models["full"]) - params(models["vfe_dwconv"]) == sum(9 * c * c - 9 * c for c in (64, 256, 512, 1024))


def test_full_asaf_conv_is_an_option_at_its_dense_cost(models):
    dense = build_model("ms2mnet", asaf_conv="full")
    assert dense.decoder.fuse2.post[0].groups == 1 and models["full"].decoder.fuse2.post[0].groups == 256
    # fuse3 and fuse2 at 256 channels, fuse1 at 64: a dense 5x5 in place of a depthwise one.
    assert params(dense) - params(models["full"]) == sum(25 * c * c - 25 * c for c in (256, 256, 64))


def test_choices_are_constructor_switches():
    model = build_model("ms2mnet", mlp_ratio=4, asaf_kernel=3, mssm_gate="sum", vfe_zero_init=False)
    vfe = model.vfe[1]
    assert vfe.ffn[0].out_channels == 4 * 256 and vfe.mixer.gate is None and vfe.local[1].weight.eq(1).all()
    assert model.decoder.fuse1.spatial_gate.conv.kernel_size == (3, 3)
    assert build_model("ms2mnet").vfe[1].local[1].weight.eq(0).all()  # zero init is the default


@pytest.mark.parametrize("variant", ["full", "selective_scan"])
def test_trains_and_evaluates_under_bf16_autocast(models, variant, monkeypatch):
    """`selective_scan` puts SS2D (float32 scan inside a bf16 region) into the network."""
    check_train_and_eval_under_autocast(models[variant], "ms2mnet", monkeypatch)
