"""The selective scan in plain PyTorch, chunked so that it runs as a few hundred tensor ops, not one per token.

h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t, y_t = <h_t, C_t> (per channel d, state n). The
sequence is cut into windows of `ncw` chunks of `T` tokens (sizes per device: `PLANS`). Inside a window
every chunk is scanned from a zero state, all chunks at once (T steps); the chunk-end states are then chained across chunks with each
chunk's total decay (ncw small steps), and the window is scanned a second time from the right start
states, which gives every h_t exactly. Only products and sums of decays <= 1 (for A <= 0) appear: nothing
is divided by a decay, so no chunk length or decay strength can overflow. On the CPU windows keep the
working set near the caches, on a GPU they make few, large launches; long sequences are scanned in segments
(the state carried over), so that time stays linear in L. On an oversubscribed CPU the scan runs on one
thread (`scan_threads`). Differentiable by autograd.

Layout: tokens first, (L, batch, groups, N, dim/G), so that one transpose of the inputs (and one of the
output) is the only strided copy, and a step's state has dim/G innermost: contracting N with C is then a
row vector times a matrix, ~4x faster than a matrix times a vector.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# Log-decays below these are raised to them: exp() would otherwise give denormals, whose arithmetic is
# ~30x slower on x86. A decay of e^-60 (1e-26) already keeps nothing of the past at float32 resolution
# (1e-7), e^-600 nothing at float64's (1e-16).
LOG_DECAY_FLOOR = {torch.float32: -60.0, torch.float64: -600.0}


@dataclass(frozen=True)
class ScanPlan:
    """How the sequence is cut: `chunk` tokens per chunk (the two inner loops' steps), windows of chunks
    whose per-step tensor (chunks x batch x dim x state) holds about `step_elements`, segments of `segment`
    tokens (the state carried over, so that time stays linear in L and the inputs of one segment stay small)."""
    chunk: int
    step_elements: int
    segment: int

    def chunks_per_window(self, state_elements: int) -> int:
        return max(1, self.step_elements // state_elements)

    def sequential_steps(self, state_elements: int, length: int) -> int:
        """Dependent steps of the three loops over a sequence (the scan's latency in launches or barriers)."""
        steps = 0
        for begin in range(0, length, self.segment):
            tokens = min(self.segment, length - begin)
            chunk = min(self.chunk, tokens)
            n_chunks = -(-tokens // chunk)
            ncw = min(self.chunks_per_window(state_elements), n_chunks)
            windows = -(-n_chunks // ncw)
            steps += windows * (chunk if ncw == 1 else 2 * chunk + ncw)
        return steps


# CPU: steps of 2^16 elements (256 KiB), cache-sized: on 2 cores at batch 1, dim 256, N 16, chunks of 8 tokens
# in windows of 16 beat 16 x 8, 16 x 16 and 8 x 8 by 10-20%. Under load it is not the step size that hurts
# but the thread barrier closing every step (4x larger steps left 2 threads as slow); see `scan_threads`.
# GPU: every step is a kernel launch of a few microseconds whatever its size: far fewer, larger steps
# (2^22 elements, 16 MiB), longer chunks and segments. At batch 10 (RS3Mamba's first stage: dim 768, N 16)
# a CPU step holds a single chunk and the scan would take one launch per token (4096 for a 64x64 map);
# the GPU plan takes about 530 sequential steps (`ScanPlan.sequential_steps`).
PLANS = {"cpu": ScanPlan(chunk=8, step_elements=2**16, segment=2048),
         "gpu": ScanPlan(chunk=16, step_elements=2**22, segment=16384)}


def plan_for(device_type: str) -> ScanPlan:
    """The CPU plan for the CPU, the GPU plan for every accelerator (cuda, xpu, mps)."""
    return PLANS["cpu" if device_type == "cpu" else "gpu"]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; everything else is computed in float32 (as mamba-ssm does)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        return os.cpu_count() or 1


def runnable_tasks() -> int | None:
    """Threads running or ready to run on the machine right now (/proc/loadavg's 4th field, ours included),
    or None where the kernel does not say (not Linux)."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


@contextlib.contextmanager
def scan_threads(device_type: str):
    """One intra-op thread for the scan when the CPU is oversubscribed, the configured ones otherwise.
    The scan is hundreds of short steps, each split over the threads and closed by a barrier; when other
    processes want the cores, every barrier waits for a thread the OS has parked for a time slice, and 2
    threads ran 4-9x slower than 1 (benchmarks/selective_scan.py, `loaded`). One thread has no barrier."""
    threads = torch.get_num_threads()
    running = runnable_tasks() if device_type == "cpu" and threads > 1 else None
    if running is None or running <= _cores():
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def no_autocast(device_type: str):
    """Autocast off: the scan computes in float32 itself, and its matmuls must not be cast down."""
    if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _token_major(x: Tensor, pad: int, windows: tuple[int, int, int]) -> Tensor:
    """(b, ..., L) -> (nw, ncw, T, b, ...), contiguous; `pad` zero steps appended."""
    x = x.movedim(-1, 0).contiguous()
    if pad:
        x = torch.cat([x, x.new_zeros(pad, *x.shape[1:])])
    return x.unflatten(0, windows)


def chunked_selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                           z: Tensor | None = None, delta_bias: Tensor | None = None,
                           delta_softplus: bool = False, chunk: int | None = None,
                           chunks_per_window: int | None = None, segment: int | None = None,
                           plan: ScanPlan | None = None) -> tuple[Tensor, Tensor]:
    """mamba-ssm's selective scan; shapes as in `ms2mnet.ops.selective_scan` (B and C 3-D or grouped 4-D).
    Returns (out in u's dtype, last state (batch, dim, N) in the compute dtype). The cut follows the
    device's plan (`plan_for`) unless `plan`, `chunk`, `chunks_per_window` or `segment` say otherwise."""
    plan = plan or plan_for(u.device.type)
    state_elements = u.shape[0] * u.shape[1] * A.shape[1]
    chunk = chunk or plan.chunk
    chunks_per_window = chunks_per_window or plan.chunks_per_window(state_elements)
    segment = segment or plan.segment
    with no_autocast(u.device.type), scan_threads(u.device.type):
        return _chunked_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk, chunks_per_window, segment)


def _chunked_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk, chunks_per_window, segment):
    dtype = compute_dtype(u.dtype)
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
    # Decays are computed as 2^(delta * A * log2(e)): exp2 runs ~3x faster than exp on CPUs.
    A2 = (A * math.log2(math.e)).view(groups, dim // groups, state).transpose(1, 2).contiguous()   # g N dg
    floor = LOG_DECAY_FLOOR[dtype] * math.log2(math.e)
    # Clamping costs a pass over the largest tensor: skip it when no step can fall below the floor.
    clamp = bool(delta.abs().max() * A2.abs().max() > -floor) if delta.numel() else False
    ncw = chunks_per_window

    du = delta * u
    s = u.new_zeros(batch, groups, state, dim // groups)   # the state entering each segment
    ys = []
    for begin in range(0, length, segment):
        window = slice(begin, begin + segment)
        y, s = _scan_segment(delta[..., window], du[..., window], A2, B[..., window], C[..., window], s,
                             chunk, ncw, floor, clamp)
        ys.append(y)
    y = ys[0] if len(ys) == 1 else torch.cat(ys, -1)                                 # b D L
    out = y.contiguous() if D is None else torch.addcmul(y, u, D.to(dtype)[:, None])
    if z is not None:
        out = out * F.silu(z.to(dtype))
    return out.to(u_in.dtype), s.transpose(-1, -2).reshape(batch, dim, state)


def _scan_segment(delta: Tensor, du: Tensor, A2: Tensor, B: Tensor, C: Tensor, s: Tensor, chunk: int, ncw: int,
                  floor: float, clamp: bool) -> tuple[Tensor, Tensor]:
    """Scan one segment from state s (b g N dg); A2 = A * log2(e) as (g N dg), B and C (b g N L).
    Returns y (b D L, a strided view) and the state after the segment."""
    batch, dim, length = delta.shape
    groups, state, per_group = A2.shape
    chunk = max(1, min(chunk, length))
    n_chunks = -(-length // chunk)
    ncw = min(ncw, n_chunks)
    nw = -(-n_chunks // ncw)
    pad = nw * ncw * chunk - length   # padded steps have delta = 0: decay 1, input 0, the state passes unchanged

    def windows(x: Tensor) -> Tensor:
        return _token_major(x, pad, (nw, ncw, chunk))

    dl = windows(delta.view(batch, groups, per_group, length))[..., None, :]         # nw ncw T b g 1 dg
    du = windows(du.view(batch, groups, per_group, length))[..., None, :]            # nw ncw T b g 1 dg
    Bw = windows(B)[..., None]                                                       # nw ncw T b g N 1
    Cw = windows(C)[..., None, :]                                                    # nw ncw T b g 1 N
    outputs = []
    for w in range(nw):   # unbind: one call gives every step's view (indexing one by one costs ~1 us each)
        log_decay = dl[w] * A2
        decay = (log_decay.clamp_min_(floor) if clamp else log_decay).exp2_().unbind(1)  # T x (ncw b g N dg)
        x = (du[w] * Bw[w]).unbind(1)                                                # T x (ncw b g N dg)
        if ncw == 1:
            h = s[None]
        else:
            h = x[0]                                    # 1. each chunk from a zero state, all chunks at once
            for t in range(1, chunk):
                h = torch.addcmul(x[t], decay[t], h)
            chunk_decay = (dl[w].sum(1) * A2).clamp_min_(floor).exp2_()               # ncw b g N dg
            starts = []                                 # 2. chain the chunk-end states across chunks
            for h_end, chunk_decay_c in zip(h, chunk_decay):
                starts.append(s)
                s = torch.addcmul(h_end, chunk_decay_c, s)
            h = torch.stack(starts)                                                  # ncw b g N dg
        ys = []
        for x_t, decay_t, C_t in zip(x, decay, Cw[w].unbind(1)):   # 3. the exact scan from the right starts
            h = torch.addcmul(x_t, decay_t, h)
            ys.append(C_t @ h)                                                       # ncw b g 1 dg
        if ncw == 1:
            s = h[0]
        outputs.append(torch.stack(ys, 1))                                           # ncw T b g 1 dg
    return torch.stack(outputs).view(-1, batch, dim)[:length].permute(1, 2, 0), s
