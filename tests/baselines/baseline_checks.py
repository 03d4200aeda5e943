"""Checks every baseline must pass: the output contract, gradients everywhere, sizes, VGG weights files."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import vgg

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
    # Random weights, not a mean: a mean over BatchNorm outputs has zero gradient by construction.
    sum((o * torch.randn_like(o)).sum() for o in outputs).backward()
    return [n for n, p in model.named_parameters() if p.grad is None]


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gmacs_at_256(model: nn.Module) -> float:
    model.eval()
    return count_flops(model, (torch.rand(1, 3, 256, 256), torch.rand(1, 1, 256, 256))).gmacs


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
