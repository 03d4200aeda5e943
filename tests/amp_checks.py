"""One training step and one evaluation of a model under autocast, as they run on CUDA, here on the CPU
with bf16 (the same dtype paths: custom ops, the scan, attention, losses). The suite's `autocast` helper
is CUDA-only, so the check swaps in CPU bf16 autocast where the trainer and the evaluator call it."""

from __future__ import annotations

import contextlib
import copy
import math

import torch
from torch import nn

from ms2mnet.bench.train import model_criterion, random_batch
from ms2mnet.engine import inference, trainer
from ms2mnet.engine.distributed import World
from ms2mnet.engine.inference import sliding_window_logits
from ms2mnet.engine.trainer import TrainState, train_step

CPU = torch.device("cpu")


def cpu_bf16(device: torch.device, enabled: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def check_train_and_eval_under_autocast(model: nn.Module, name: str, monkeypatch, size: int = 32) -> None:
    """A bf16 sliding-window evaluation (float64 sums of the window logits, classes as in float32), then a bf16 training step with
    the model's registered loss (finite loss and gradients, weights moved, outputs really in bf16).
    The model's state is restored afterwards (it may be a fixture shared with other tests)."""
    monkeypatch.setattr(trainer, "autocast", cpu_bf16)
    monkeypatch.setattr(inference, "autocast", cpu_bf16)
    saved = copy.deepcopy(model.state_dict())
    dtypes = []
    hook = model.register_forward_hook(lambda module, args, out: dtypes.append(
        (out[0] if isinstance(out, tuple) else out).dtype))
    try:
        model.eval()
        gen = torch.Generator().manual_seed(1)
        image, dsm = torch.rand(3, size, 2 * size, generator=gen), torch.rand(1, size, 2 * size, generator=gen)
        logits = {amp: sliding_window_logits(model, image, dsm, 6, window=size, stride=size, batch_size=2, amp=amp)
                  for amp in (True, False)}
        assert logits[True].dtype == torch.float64 and torch.isfinite(logits[True]).all(), name   # summed as the authors do
        # The classes, not the logits: at random initialisation some heads give logits near 0 (CMGFNet's
        # peak at 0.004), where bf16's 3 digits are a large relative error but rarely change a class.
        agreement = (logits[True].argmax(0) == logits[False].argmax(0)).float().mean().item()
        assert agreement > 0.95, f"{name}: bf16 and float32 agree on {agreement:.1%} of the pixels"
        assert dtypes == [torch.bfloat16, torch.float32], f"{name}: outputs {dtypes} (autocast did not apply)"
        dtypes.clear()

        criterion, _ = model_criterion(name, "vaihingen", 6)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        state = TrainState(optimizer, torch.optim.lr_scheduler.MultiStepLR(optimizer, [1]),
                           torch.amp.GradScaler("cpu", enabled=False))
        model.train()
        batch = random_batch(2, size, 6, torch.Generator().manual_seed(0))
        loss = train_step(model, batch, criterion, state, CPU, 1, amp=True, channels_last=False, world=World())
        assert math.isfinite(loss), f"{name}: non-finite loss {loss} under bf16 autocast"
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), f"{name}: non-finite gradients"
        assert any(not torch.equal(p, saved[k]) for k, p in model.named_parameters()), f"{name}: no step taken"
        assert dtypes == [torch.bfloat16], f"{name}: outputs {dtypes} (autocast did not apply)"
    finally:
        hook.remove()
        model.load_state_dict(saved)
        model.zero_grad(set_to_none=True)
