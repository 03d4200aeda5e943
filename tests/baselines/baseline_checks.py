"""Checks every baseline must pass: the output contract, gradients everywhere, size against the official
code, weights loaded from a local file. `BaselineContract` gathers the first three as tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from torch import nn
from torchvision.models import vgg

from amp_checks import check_train_and_eval_under_autocast
from ms2mnet.bench.flops import count_flops

SIZES = [(64, 64), (64, 96)]


def check_output_contract(model: nn.Module, size: tuple[int, int], num_aux: int = 0, num_classes: int = 6) -> None:
    """Train mode: logits, or (main, *aux) at full size; eval mode: logits (B, K, H, W)."""
    image, dsm = torch.rand(2, 3, *size), torch.rand(2, 1, *size)
    model.train()
    outputs = model(image, dsm)
    outputs = (outputs,) if isinstance(outputs, torch.Tensor) else outputs
    assert isinstance(outputs, tuple) and len(outputs) == 1 + num_aux
    assert all(o.shape == (2, num_classes, *size) for o in outputs)
    model.eval()
    with torch.no_grad():
        logits = model(image, dsm)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, num_classes, *size)
    assert torch.isfinite(logits).all()


def parameters_without_gradient(model: nn.Module, size: tuple[int, int] = (64, 64)) -> list[str]:
    """Names of the parameters a train-mode backward of all outputs leaves without a gradient."""
    model.train()
    model.zero_grad(set_to_none=True)
    outputs = model(torch.rand(2, 3, *size), torch.rand(2, 1, *size))
    outputs = (outputs,) if isinstance(outputs, torch.Tensor) else outputs
    # Random weights, not a plain sum: a sum over BatchNorm outputs has zero gradient by construction.
    sum((o * torch.randn_like(o)).sum() for o in outputs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    model.zero_grad(set_to_none=True)   # frees the gradients of a module-scoped model
    return missing


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gmacs_at_256(model: nn.Module) -> float:
    model.eval()
    return count_flops(model, (torch.rand(1, 3, 256, 256), torch.rand(1, 1, 256, 256))).gmacs


def outputs_and_features(model: nn.Module, layer: nn.Module,
                         *pairs: tuple[torch.Tensor, torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The eval-mode outputs of `model` on each (image, dsm) pair, and what `layer` gave on the way:
    which stream a modality reaches."""
    model.eval()
    features = []
    hook = layer.register_forward_hook(lambda module, args, out: features.append(out))
    try:
        with torch.no_grad():
            outputs = [model(*pair) for pair in pairs]
    finally:
        hook.remove()
    return outputs, features


class BaselineContract:
    """The tests every baseline passes. A test file subclasses it as `TestContract` with its reference
    numbers, and provides the `model` fixture (6 classes, random weights)."""

    reference_params: float            # official code, 6 classes
    reference_gmacs: float             # fvcore multiply-adds, 1x3x256x256 (+ 1x1x256x256)
    num_aux = 0                        # auxiliary outputs in train mode
    gradient_size = (64, 64)
    autocast_size = 32                 # side of the bf16 training step and evaluation windows

    @property
    def model_name(self) -> str:      # the registered name: test_<name>.py
        return type(self).__module__.rsplit(".", 1)[-1].removeprefix("test_")

    @pytest.mark.parametrize("size", SIZES)
    def test_output_contract(self, model, size):
        check_output_contract(model, size, num_aux=self.num_aux)

    def test_parameters_match_the_official_code(self, model):
        assert num_parameters(model) == pytest.approx(self.reference_params, rel=0.01)

    @pytest.mark.slow
    def test_macs_match_the_official_code(self, model):
        assert gmacs_at_256(model) == pytest.approx(self.reference_gmacs, rel=0.05)

    def test_every_parameter_gets_a_gradient(self, model):
        assert parameters_without_gradient(model, self.gradient_size) == []

    def test_trains_and_evaluates_under_bf16_autocast(self, model, monkeypatch):
        check_train_and_eval_under_autocast(model, self.model_name, monkeypatch, self.autocast_size)


# --- weights files with the real key names and random values ---

def timm_file(path: Path, arch: str, wrap: str | None = None, seed: int = 1) -> dict[str, torch.Tensor]:
    """A random timm `arch` state dict (torchvision names, classifier included) saved to `path`, inside
    {wrap: ...} if given. Its own seed, so that it differs from the weights of a model built next."""
    torch.manual_seed(seed)
    state = timm.create_model(arch, pretrained=False).state_dict()
    torch.save({wrap: state} if wrap else state, path)
    return state


def assert_state_loaded(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Every tensor of `module`'s state dict equals the one of the same name in `state`."""
    for name, value in module.state_dict().items():
        assert torch.equal(value, state[name]), name


def vgg16_bn_file(directory: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A VGG-16-BN state dict with the real (torchvision/timm) key names and random values, saved to disk:
    torchvision's own `features` layers (the 4096-wide classifier is left out to keep the test fast)."""
    torch.manual_seed(1)
    features = vgg.make_layers(vgg.cfgs["D"], batch_norm=True)
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    for name, value in state.items():           # running stats away from their 0/1 defaults
        if name.endswith(("running_mean", "running_var")):
            value.uniform_(0.5, 1.5)
    path = directory / "vgg16_bn.pth"
    torch.save(state, path)
    return path, state


CONV_INDICES = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)   # features.N of the 13 convolutions


def assert_encoder_loaded(encoder: nn.ModuleList, state: dict[str, torch.Tensor], in_chans: int) -> None:
    """Each conv/BN of a `vgg16_encoder` equals the file's, the first conv adapted to `in_chans`."""
    layers = [layer for block in encoder for layer in block]
    for i, (layer, index) in enumerate(zip(layers, CONV_INDICES, strict=True)):
        weight = state[f"features.{index}.weight"]
        if i == 0 and in_chans == 1:
            weight = weight.mean(dim=1, keepdim=True)
        if i > 0 or in_chans in (1, 3):
            assert torch.allclose(layer.conv.weight, weight), f"conv {i}"
            assert torch.equal(layer.conv.bias, state[f"features.{index}.bias"]), f"conv {i} bias"
        assert torch.equal(layer.bn.weight, state[f"features.{index + 1}.weight"]), f"bn {i}"
        assert torch.equal(layer.bn.running_var, state[f"features.{index + 1}.running_var"]), f"bn {i}"
