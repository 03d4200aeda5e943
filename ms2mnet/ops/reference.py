"""Per-token references for the selective scan: mamba-ssm's `selective_scan_ref`, loaded without importing
the mamba_ssm package (whose __init__ imports the CUDA kernel), and a loop written the same way for
machines without mamba-ssm. Both step through L in Python; they are what the chunked scan is checked and
timed against."""

from __future__ import annotations

import ast
import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

log = logging.getLogger(__name__)

REFERENCE_FILE = Path("ops") / "selective_scan_interface.py"


def _einops_subset() -> dict[str, Callable]:
    """`rearrange` and `repeat` for the reference's two real-valued patterns, when einops is not installed
    (mamba-ssm was installed without its dependencies)."""
    def rearrange(t: Tensor, pattern: str) -> Tensor:
        if pattern.replace(" ", "") != "d->d1":
            raise NotImplementedError(f"einops is not installed and pattern {pattern!r} is not emulated")
        return t[:, None]

    def repeat(t: Tensor, pattern: str, H: int) -> Tensor:
        if pattern.replace(" ", "") != "BGNL->B(GH)NL":
            raise NotImplementedError(f"einops is not installed and pattern {pattern!r} is not emulated")
        return t.repeat_interleave(H, dim=1)

    return {"rearrange": rearrange, "repeat": repeat}


def load_mamba_reference() -> Callable | None:
    """mamba-ssm's `selective_scan_ref`, compiled from the installed package's source on its own, or None
    when mamba-ssm is not installed."""
    spec = importlib.util.find_spec("mamba_ssm")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / REFERENCE_FILE
    tree = ast.parse(path.read_text(), filename=str(path))
    function = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "selective_scan_ref"]
    if not function:
        log.warning("%s has no selective_scan_ref; the mamba-ssm reference is unavailable", path)
        return None
    try:
        import einops
        helpers = {"rearrange": einops.rearrange, "repeat": einops.repeat}
    except ImportError:
        helpers = _einops_subset()
    namespace = {"torch": torch, "F": F, **helpers}
    exec(compile(ast.Module(function, type_ignores=[]), str(path), "exec"), namespace)
    return namespace["selective_scan_ref"]


def per_token_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
                   return_last_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The scan as mamba-ssm's reference computes it (float32, decays and inputs precomputed for all
    tokens, then one Python step per token); real A and variable B, C only."""
    dtype = u.dtype
    u, delta, B, C = (t.float() for t in (u, delta, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias[:, None].float()
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    if B.dim() == 4:
        B = B.repeat_interleave(dim // B.shape[1], dim=1)                  # b D N L
    if C.dim() == 4:
        C = C.repeat_interleave(dim // C.shape[1], dim=1)
    decay = torch.exp(torch.einsum("bdl,dn->bdln", delta, A.float()))
    inputs = (torch.einsum("bdl,bnl,bdl->bdln", delta, B, u) if B.dim() == 3
              else torch.einsum("bdl,bdnl,bdl->bdln", delta, B, u))
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for i in range(length):
        h = decay[:, :, i] * h + inputs[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, i]) if C.dim() == 3
                  else torch.einsum("bdn,bdn->bd", h, C[:, :, :, i]))
    out = torch.stack(ys, dim=2)
    if D is not None:
        out = out + u * D[:, None]
    if z is not None:
        out = out * F.silu(z)
    out = out.to(dtype)
    return (out, h) if return_last_state else out
