"""Checks shared by the attention and state-space baselines: output contract, gradients, sizes."""

from __future__ import annotations

import torch
from torch import nn

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
    # Random weights rather than a plain sum: a sum over BatchNorm outputs has zero gradient by construction.
    sum((o * torch.randn_like(o)).sum() for o in outputs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    model.zero_grad(set_to_none=True)
    return missing


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gmacs_at_256(model: nn.Module) -> float:
    model.eval()
    with torch.no_grad():
        return count_flops(model, (torch.rand(1, 3, 256, 256), torch.rand(1, 1, 256, 256))).gmacs
