"""`selective_scan`: mamba-ssm's `selective_scan_fn`, same signature and semantics, on any device.

CUDA inputs in float32/float16/bfloat16 go to mamba-ssm's compiled kernel (`selective_scan_cuda`) when it
imports and has passed one trial call on that device; everything else (CPU, float64, no kernel) runs
`chunked_selective_scan`, wrapped in the custom op `ms2mnet::selective_scan` so that one op, not hundreds,
appears in a trace (fvcore counts it by that name; mamba-ssm's kernel appears as
`prim::PythonOp.SelectiveScanFn`). mamba-ssm is an optional extra: it is imported on the first CUDA call,
never at import time. When the kernel cannot serve, one warning says why and the PyTorch path runs.

Both paths run with autocast disabled and compute in float32 (float64 for float64 u), as VMamba's SS2D
does around its scan: under autocast the inputs may arrive in bfloat16/float16, and neither the kernel
(which wants delta, B, C in u's dtype) nor the chunked scan's matmuls may be cast down.

Shapes: u, delta, z (batch, dim, L); A (dim, N), real; B, C (batch, N, L) or grouped (batch, G, N, L), dim
divisible by G; D, delta_bias (dim,). Computed in float32 (float64 for float64 u); out in u's dtype;
last_state (batch, dim, N) in the compute dtype. Unlike mamba-ssm's kernel, the PyTorch path also
back-propagates a gradient given to last_state.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import warnings
from collections.abc import Callable
from typing import Optional

import torch
from torch import Tensor

from .chunked_scan import chunked_selective_scan, compute_dtype, no_autocast

log = logging.getLogger(__name__)

KERNEL_DEVICE = "cuda"   # the device type mamba-ssm's kernel runs on (tests point it at "cpu" with stand-ins)
KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)  # what mamba-ssm's CUDA kernel accepts
KERNEL_MAX_STATE = 256
# Builds the kernel against the installed torch (no prebuilt wheel, no isolated build with another torch).
# MAMBA_KEEP_CUDA_BUILD is what mamba-ssm's sources after 2.3.2.post1 need to compile the kernel at all.
INSTALL_HINT = ("MAMBA_FORCE_BUILD=TRUE MAMBA_KEEP_CUDA_BUILD=TRUE pip install --no-build-isolation "
                "'mamba-ssm>=2.2.4,<2.4'")


class KernelUnavailable(RuntimeError):
    """Why mamba-ssm's kernel cannot serve this process."""


def _import_kernel() -> Callable:
    """mamba-ssm's `selective_scan_fn` with its compiled kernel present, else KernelUnavailable naming why."""
    try:
        importlib.import_module("selective_scan_cuda")
    except Exception as error:   # ImportError, or an OSError/undefined symbol from a kernel built for another torch
        try:
            installed = importlib.util.find_spec("mamba_ssm") is not None
        except (ImportError, ValueError):
            installed = False
        if not installed:
            raise KernelUnavailable(f"mamba-ssm is not installed; to use its CUDA kernel: {INSTALL_HINT}") from None
        if isinstance(error, ModuleNotFoundError) and error.name == "selective_scan_cuda":
            raise KernelUnavailable(
                "mamba-ssm is installed without its compiled kernel selective_scan_cuda (built with "
                f"MAMBA_SKIP_CUDA_BUILD, or without MAMBA_KEEP_CUDA_BUILD); rebuild it: {INSTALL_HINT}") from None
        raise KernelUnavailable(f"mamba-ssm's kernel selective_scan_cuda does not load ({type(error).__name__}: "
                                f"{error}); it was probably built for another torch or CUDA; rebuild it: "
                                f"{INSTALL_HINT}") from None
    try:
        interface = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
        kernel = interface.selective_scan_fn
    except Exception as error:
        raise KernelUnavailable(f"mamba_ssm.ops.selective_scan_interface.selective_scan_fn does not import "
                                f"({type(error).__name__}: {error})") from None
    if getattr(interface, "selective_scan_cuda", True) is None:   # newer sources import the kernel optionally
        raise KernelUnavailable(f"mamba-ssm's interface did not load selective_scan_cuda; rebuild it: {INSTALL_HINT}")
    return kernel


def _trial_call(kernel: Callable, device: torch.device) -> None:
    """One small call on `device`, checked against the PyTorch path (KernelUnavailable if it fails)."""
    gen = torch.Generator().manual_seed(0)
    batch, dim, state, length = 1, 4, 2, 8
    inputs = [torch.randn(batch, dim, length, generator=gen), torch.rand(batch, dim, length, generator=gen),
              -torch.rand(dim, state, generator=gen) - 0.5, torch.randn(batch, state, length, generator=gen),
              torch.randn(batch, state, length, generator=gen)]
    try:
        out = kernel(*(t.to(device) for t in inputs), None, None, None, False, False)
        out = (out[0] if isinstance(out, tuple) else out).float().cpu()
    except Exception as error:
        raise KernelUnavailable(f"mamba-ssm's kernel failed a trial call on {device} "
                                f"({type(error).__name__}: {error})") from None
    expected = selective_scan_pytorch(*inputs)
    if out.shape != expected.shape or not torch.allclose(out, expected, rtol=1e-3, atol=1e-3):
        raise KernelUnavailable(f"mamba-ssm's kernel gave a wrong result in a trial call on {device} "
                                "(checked against the PyTorch path)")


@functools.cache
def _kernel_for(device: str) -> Callable | None:
    try:
        kernel = _import_kernel()
        _trial_call(kernel, torch.device(device))
    except KernelUnavailable as reason:
        warnings.warn(f"selective_scan: using the PyTorch scan on {device}: {reason}", RuntimeWarning, stacklevel=4)
        return None
    log.info("selective_scan: mamba-ssm's CUDA kernel passed its trial call on %s", device)
    return kernel


def mamba_kernel(device: torch.device | str = KERNEL_DEVICE) -> Callable | None:
    """mamba-ssm's `selective_scan_fn` when its compiled kernel imports and passed one trial call on
    `device`, else None (after one warning per device naming the reason). Decided once per process."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return _kernel_for(str(device))


def kernel_runs(device_type: str, dtype: torch.dtype, state: int, kernel_available: bool) -> bool:
    """Whether mamba-ssm's kernel takes a call: CUDA tensors of a dtype it accepts, N <= 256, kernel usable."""
    return (device_type == KERNEL_DEVICE and dtype in KERNEL_DTYPES and state <= KERNEL_MAX_STATE
            and kernel_available)


def scan_backend(u: Tensor, A: Tensor) -> str:
    """'mamba_ssm' where the CUDA kernel would run these inputs, else 'pytorch'."""
    # The kernel is looked for only where it could run, so CPU runs never touch mamba-ssm.
    eligible = kernel_runs(u.device.type, u.dtype, A.shape[-1], True)
    return "mamba_ssm" if eligible and mamba_kernel(u.device) is not None else "pytorch"


@torch.library.custom_op("ms2mnet::selective_scan", mutates_args=())
def _selective_scan_op(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Optional[Tensor] = None,
                       z: Optional[Tensor] = None, delta_bias: Optional[Tensor] = None,
                       delta_softplus: bool = False) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        return chunked_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)


@_selective_scan_op.register_fake
def _(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    return torch.empty_like(u), u.new_empty(u.shape[0], u.shape[1], A.shape[1], dtype=compute_dtype(u.dtype))


_ARGS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def _setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(*inputs[:8])
    ctx.delta_softplus = inputs[8]


def _backward(ctx, grad_out: Tensor | None, grad_last: Tensor | None):
    """Recompute the forward with autograd and back-propagate through it (memory is only held during
    the backward; the forward keeps just the inputs)."""
    saved = ctx.saved_tensors
    needs = (*ctx.needs_input_grad, *[False] * 8)[:8]  # may list only the inputs given
    inputs = [t.detach().requires_grad_(need) if t is not None else None for t, need in zip(saved, needs)]
    with torch.enable_grad():
        out, last = chunked_selective_scan(*inputs, delta_softplus=ctx.delta_softplus)
    wanted = [t for t, need in zip(inputs, needs) if t is not None and need]
    pairs = [(o, g) for o, g in ((out, grad_out), (last, grad_last)) if g is not None]
    grads = iter(torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs], allow_unused=True)
                 if wanted and pairs else [None] * len(wanted))
    return (*(next(grads) if t is not None and need else None for t, need in zip(inputs, needs)), None)


_selective_scan_op.register_autograd(_backward, setup_context=_setup_context)


def _check(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
           delta_bias: Tensor | None) -> None:
    if u.dim() != 3 or u.shape[-1] == 0:
        raise ValueError(f"selective_scan: u must be (batch, dim, L) with L >= 1, got {tuple(u.shape)}")
    batch, dim, length = u.shape
    for name, t in (("delta", delta), ("z", z)):
        if t is not None and t.shape != u.shape:
            raise ValueError(f"selective_scan: {name} must have u's shape {tuple(u.shape)}, got {tuple(t.shape)}")
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"selective_scan: A must be (dim={dim}, N), got {tuple(A.shape)}")
    if A.is_complex():
        raise ValueError("selective_scan: complex A is not supported; pass a real A (dim, N)")
    state = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        grouped = t.dim() == 4 and t.shape[1] > 0 and dim % t.shape[1] == 0
        if not ((t.dim() == 3 or grouped) and t.shape[0] == batch and t.shape[-2:] == (state, length)):
            raise ValueError(f"selective_scan: {name} must be (batch={batch}, N={state}, L={length}) or "
                             f"(batch, G, N, L) with G dividing dim={dim}, got {tuple(t.shape)}")
    if B.dim() == 4 and C.dim() == 4 and B.shape[1] != C.shape[1]:
        raise ValueError(f"selective_scan: B and C have different group counts ({B.shape[1]} and {C.shape[1]})")
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None and t.shape != (dim,):
            raise ValueError(f"selective_scan: {name} must be (dim={dim},), got {tuple(t.shape)}")


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
                   return_last_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """out, or (out, last_state): see the module docstring."""
    if not torch.jit.is_tracing():  # under fvcore's trace these checks would only add warnings
        _check(u, delta, A, B, C, D, z, delta_bias)
    with no_autocast(u.device.type):
        if scan_backend(u, A) == "mamba_ssm":
            if len({t.dtype for t in (u, delta, B, C, z) if t is not None}) > 1:   # the kernel wants one dtype
                u, delta, B, C, z = (t.float() if t is not None else None for t in (u, delta, B, C, z))
            return mamba_kernel(u.device)(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
        return selective_scan_pytorch(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


def selective_scan_pytorch(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                           z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
                           return_last_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """`selective_scan` always on the PyTorch path, whatever the device (to compare it with the kernel)."""
    if B.dim() != C.dim():   # the PyTorch path wants B and C with the same groups: share the ungrouped one
        groups = max(B, C, key=lambda t: t.dim()).shape[1]
        B, C = (t if t.dim() == 4 else t[:, None].expand(-1, groups, -1, -1) for t in (B, C))
    out, last_state = _selective_scan_op(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return (out, last_state) if return_last_state else out
