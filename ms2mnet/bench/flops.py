"""FLOPs with fvcore, which counts one multiply-add as one FLOP: every number here is in MACs
("GMACs (fvcore)"). Adds handles for ops fvcore does not know and that carry real arithmetic,
and sorts what stays uncounted into ops without multiply-adds and ops it does not know."""

from __future__ import annotations

import contextlib
import copy
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from math import prod
from typing import Any

import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from fvcore.nn.jit_handles import get_shape
from torch import Tensor, nn

from .groups import group_of

log = logging.getLogger(__name__)

UNIT = "GMACs (fvcore)"

# The selective scan as the trace sees it: the suite's custom op, and mamba-ssm's autograd Function.
SELECTIVE_SCAN_OPS = ("ms2mnet::selective_scan", "prim::PythonOp.SelectiveScanFn")

# Ops fvcore leaves out on purpose: elementwise maths, reductions (var_mean: weight standardisation),
# max-pooling, padding, dropout, and data movement that fvcore's own ignore list misses (flip, unflatten).
# None is a multiply-add; each costs O(elements). An uncounted op outside this set is reported as unknown.
NO_MAC_OPS = frozenset(f"aten::{op}" for op in (
    "add add_ sub sub_ rsub mul mul_ div div_ neg abs pow sqrt rsqrt exp log reciprocal "
    "sigmoid sigmoid_ silu silu_ gelu tanh relu6 hardtanh hardtanh_ hardswish hardsigmoid leaky_relu softplus "
    "clamp_min clamp_max where lt le sign "
    "sum mean amax amin max min cumsum softmax log_softmax "
    "max_pool2d max_pool1d max_pool2d_with_indices avg_pool2d scatter "   # scatter: max-unpooling
    "pad reflection_pad2d replication_pad2d feature_dropout dropout_ alpha_dropout var_mean flip unflatten"
).split())


def sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """scaled_dot_product_attention: Q·Kᵀ and A·V, i.e. B·heads·Lq·Lk·(Dqk + Dv) multiply-adds."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    *batch, lq, dqk = q
    lk, dv = k[-2], v[-1]
    return prod(batch) * lq * lk * (dqk + dv)


def _scan_arguments(inputs: list[Any], outputs: list[Any]) -> list[Any]:
    """The scan's positional arguments (u, delta, A, B, C, D, z, ...) as shapes, None where absent. The
    custom op lists every argument (None as a constant); an autograd Function's trace node lists only its
    tensors, and its calling convention (cconv: 'd' a tensor, 'c' a constant) says where each one sat."""
    node = outputs[0].node()
    if node.kind() != "prim::PythonOp":
        return [get_shape(x) for x in inputs]
    tensors, constants = iter(inputs), iter(node.scalar_args())
    return [get_shape(next(tensors)) if kind == "d" else next(constants) for kind in node.cconv()]


def selective_scan_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """Selective scan (u, delta, A, B, C, D=None, z=None, ...), u (B, D, L), A (D, N): 9·B·L·D·N, plus
    B·D·L for the skip term D and B·D·L for the gate z when given (VMamba's count)."""
    args = _scan_arguments(inputs, outputs)
    batch, channels, length = args[0]
    state = args[2][-1]
    with_d, with_z = (len(args) > i and isinstance(args[i], list | tuple) for i in (5, 6))
    return 9 * batch * length * channels * state + (with_d + with_z) * batch * channels * length


@torch.library.custom_op("ms2mnet::attention_shape_only", mutates_args=())
def attention_shape_only(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Zeros shaped like attention's output (B, heads, Lq, Dv): stands in for SDPA while counting."""
    return q.new_zeros(*q.shape[:-1], v.shape[-1])


@contextlib.contextmanager
def attention_not_computed() -> Iterator[None]:
    """Within it, F.scaled_dot_product_attention returns zeros of the right shape: the count is the same
    (same handle), but attention over 10^5 tokens, which needs tens of GB or minutes, is never run."""
    original = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = lambda q, k, v, *args, **kwargs: attention_shape_only(q, k, v)
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


EXTRA_HANDLES = {
    "aten::scaled_dot_product_attention": sdpa_macs,
    "ms2mnet::attention_shape_only": sdpa_macs,
    **{op: selective_scan_macs for op in SELECTIVE_SCAN_OPS},
}


@dataclass(frozen=True)
class FlopCount:
    macs: int
    by_module: dict[str, int]  # module name ("" for the model) -> MACs of its forward, submodules included
    unsupported: dict[str, int]  # op name -> number of calls fvcore did not count

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def unknown(self) -> dict[str, int]:
        """Uncounted ops that are not known to be free of multiply-adds: each one is a gap in the count."""
        return {op: n for op, n in self.unsupported.items() if op not in NO_MAC_OPS}

    def by_group(self, groups: dict[str, tuple[str, ...]]) -> dict[str, int]:
        """MACs per group: each module's own ops (its total less its children's) go to its group."""
        in_children: Counter[str] = Counter()
        for name, macs in self.by_module.items():
            if name:
                in_children[name.rpartition(".")[0]] += macs
        totals = dict.fromkeys(groups, 0)
        for name, macs in self.by_module.items():
            if own := macs - in_children[name]:
                group = group_of(name, groups)
                totals[group] = totals.get(group, 0) + own
        return totals


def count_flops(model: nn.Module, inputs: tuple[torch.Tensor, ...],
                handles: dict[str, Any] | None = None, compute_attention: bool = True) -> FlopCount:
    """Count the multiply-adds of one forward of `model` on `inputs`, in the model's current mode.
    `handles` add to or replace EXTRA_HANDLES (op name -> fvcore handle); `compute_attention=False`
    counts SDPA without running it (see attention_not_computed), for inputs too large to attend over."""
    analysis = FlopCountAnalysis(model, inputs).set_op_handle(**{**EXTRA_HANDLES, **(handles or {})})
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    # fvcore traces with torch.jit, which warns about every data-dependent shape; it is noise here.
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    skip_attention = contextlib.nullcontext() if compute_attention else attention_not_computed()
    with torch.no_grad(), skip_attention:
        total = analysis.total()
    count = FlopCount(total, dict(analysis.by_module()), dict(Counter(analysis.unsupported_ops())))
    if count.unknown:
        log.warning("ops with unknown cost were not counted: %s; add a handle in ms2mnet/bench/flops.py",
                    ", ".join(sorted(count.unknown)))
    return count


def count_flops_with_aux(model: nn.Module, inputs: tuple[torch.Tensor, ...], handles: dict[str, Any] | None = None,
                         compute_attention: bool = True) -> FlopCount:
    """Count one train-mode forward, so that heads that run only in training (MS2MNet's auxiliary heads)
    are included, as when the authors ran thop on a model left in train mode. Batch norm stays in eval
    mode (counted as such, and a batch of one is valid), so the difference to `count_flops` in eval mode
    is the training-only heads alone. Counts a copy, so the model itself is left as it was."""
    twin = copy.deepcopy(model).train()
    for module in twin.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    return count_flops(twin, inputs, handles, compute_attention)
