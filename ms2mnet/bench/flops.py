"""FLOPs with fvcore, which counts one multiply-add as one FLOP: every number here is in MACs
("GMACs (fvcore)"). Adds handles for ops fvcore does not know and that carry real arithmetic."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from math import prod
from typing import Any

import torch
from fvcore.nn import FlopCountAnalysis
from fvcore.nn.jit_handles import get_shape
from torch import nn

UNIT = "GMACs (fvcore)"


def sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """scaled_dot_product_attention: Q·Kᵀ and A·V, i.e. B·heads·Lq·Lk·(Dqk + Dv) multiply-adds."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    *batch, lq, dqk = q
    lk, dv = k[-2], v[-1]
    return prod(batch) * lq * lk * (dqk + dv)


EXTRA_HANDLES = {"aten::scaled_dot_product_attention": sdpa_macs}


@dataclass(frozen=True)
class FlopCount:
    macs: int
    by_module: dict[str, int]
    unsupported: dict[str, int]  # op name -> number of calls fvcore did not count

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9


def count_flops(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> FlopCount:
    """Count the multiply-adds of one forward of `model` on `inputs`, in the model's current mode."""
    analysis = FlopCountAnalysis(model, inputs).set_op_handle(**EXTRA_HANDLES)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    # fvcore traces with torch.jit, which warns about every data-dependent shape; it is noise here.
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with torch.no_grad():
        total = analysis.total()
    return FlopCount(total, dict(analysis.by_module()), dict(Counter(analysis.unsupported_ops())))
