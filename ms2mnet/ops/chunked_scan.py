"""The selective scan in plain PyTorch, chunked so that it runs as a few hundred tensor ops, not one per token.

h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t, y_t = <h_t, C_t> (per channel d, state n). The
sequence is cut into windows of `ncw` chunks of `T` tokens. Inside a window every chunk is scanned from a
zero state, all chunks at once (T steps); the chunk-end states are then chained across chunks with each
chunk's total decay (ncw small steps), and the window is scanned a second time from the right start
states, which gives every h_t exactly. Only products and sums of decays <= 1 (for A <= 0) appear: nothing
is divided by a decay, so no chunk length or decay strength can overflow. Windows keep the working set near
the CPU caches. Differentiable by autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Log-decays below these are raised to them: exp() would otherwise give denormals, whose arithmetic is
# ~30x slower on x86. A decay of e^-60 (1e-26) already keeps nothing of the past at float32 resolution
# (1e-7), e^-600 nothing at float64's (1e-16).
LOG_DECAY_FLOOR = {torch.float32: -60.0, torch.float64: -600.0}

CHUNK = 16  # T: tokens per chunk (steps of the two inner loops)
SLICE_ELEMENTS = 2**15  # one step's tensor (batch x chunks x dim x state): cache-sized; larger was slower with 2 threads


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; everything else is computed in float32 (as mamba-ssm does)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _windows(x: Tensor, nw: int, ncw: int, chunk: int) -> Tensor:
    """(b, ..., nw*ncw*T) -> (nw, T, b, ncw, ...), contiguous: step t of window w is one dense slice."""
    x = x.unflatten(-1, (nw, ncw, chunk))             # b ... nw ncw T
    return x.movedim(-3, 0).movedim(-1, 1).movedim(-1, 3).contiguous()


def chunked_selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                           z: Tensor | None = None, delta_bias: Tensor | None = None,
                           delta_softplus: bool = False, chunk: int = CHUNK,
                           chunks_per_window: int | None = None) -> tuple[Tensor, Tensor]:
    """mamba-ssm's selective scan; shapes as in `ms2mnet.ops.selective_scan` (B and C 3-D or grouped 4-D).
    Returns (out in u's dtype, last state (batch, dim, N) in the compute dtype)."""
    dtype = compute_dtype(u.dtype)
    floor = LOG_DECAY_FLOOR[dtype]
    u_in = u
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    state = A.shape[1]
    B, C = (t[:, None] if t.dim() == 3 else t for t in (B, C))   # b g N L
    groups = B.shape[1]
    per_group = dim // groups

    chunk = max(1, min(chunk, length))
    n_chunks = -(-length // chunk)
    ncw = chunks_per_window or max(1, SLICE_ELEMENTS // (batch * dim * state))
    ncw = min(ncw, n_chunks)
    nw = -(-n_chunks // ncw)
    pad = nw * ncw * chunk - length   # padded steps have delta = 0: decay 1, input 0, the state passes unchanged

    def windows(x: Tensor) -> Tensor:
        return _windows(F.pad(x, (0, pad)) if pad else x, nw, ncw, chunk)

    dl = windows(delta.view(batch, groups, per_group, length))[..., None]            # nw T b ncw g dg 1
    du = windows((delta * u).view(batch, groups, per_group, length))[..., None]      # nw T b ncw g dg 1
    Bw = windows(B)[..., None, :]                                                    # nw T b ncw g 1 N
    Cw = windows(C)[..., None]                                                       # nw T b ncw g N 1
    A = A.view(groups, per_group, state)                                             # g dg N
    # Clamping costs a pass over the largest tensor: skip it when no step can fall below the floor.
    clamp = bool(delta.abs().max() * A.abs().max() > -floor) if delta.numel() else False
    chunk_decay = torch.exp((dl.sum(1) * A).clamp_min(floor))                        # nw b ncw g dg N

    s = u.new_zeros(batch, groups, per_group, state)                                 # state entering the window
    outputs = []
    for w in range(nw):
        log_decay = dl[w] * A
        decay = torch.exp(log_decay.clamp_min(floor) if clamp else log_decay)         # T b ncw g dg N
        x = du[w] * Bw[w]                                                            # T b ncw g dg N
        if ncw == 1:
            h = s[:, None]
        else:
            h = x[0]                                    # 1. each chunk from a zero state, all chunks at once
            for t in range(1, chunk):
                h = torch.addcmul(x[t], decay[t], h)
            starts = []                                 # 2. chain the chunk-end states across chunks
            for c in range(ncw):
                starts.append(s)
                s = torch.addcmul(h[:, c], chunk_decay[w, :, c], s)
            h = torch.stack(starts, 1)                                               # b ncw g dg N
        ys = []
        for t in range(chunk):                          # 3. the exact scan from the right start states
            h = torch.addcmul(x[t], decay[t], h)
            ys.append(h @ Cw[w, t])                                                  # b ncw g dg 1
        if ncw == 1:
            s = h[:, 0]
        outputs.append(torch.stack(ys, -1))                                          # b ncw g dg 1 T
    y = torch.stack(outputs, 1).squeeze(-2)                                          # b nw ncw g dg T
    y = y.permute(0, 3, 4, 1, 2, 5).reshape(batch, dim, -1)[..., :length]            # b D L
    out = y if D is None else y + u * D.to(dtype)[:, None]
    if z is not None:
        out = out * F.silu(z.to(dtype))
    return out.to(u_in.dtype), s.reshape(batch, dim, state)
