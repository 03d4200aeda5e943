"""The selective scan against an independent float64 step recurrence (always) and against mamba-ssm's own
`selective_scan_ref` (where mamba-ssm is installed): outputs, last state and every input's gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ms2mnet.ops import selective_scan
from ms2mnet.ops.chunked_scan import chunked_selective_scan
from ms2mnet.ops.reference import load_mamba_reference, per_token_scan

MAMBA_REF = load_mamba_reference()
ARGS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def recurrence64(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """One step per token in float64, written from the definition (grouped B/C: group g serves channels
    g*dim/G ... (g+1)*dim/G)."""
    u, delta, A, B, C = (t.double() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.double().unsqueeze(-1)
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    group_of = torch.arange(dim) // (dim // (B.shape[1] if B.dim() == 4 else 1))
    Bd = B[:, group_of] if B.dim() == 4 else B.unsqueeze(1).expand(-1, dim, -1, -1)   # b D N L
    Cd = C[:, group_of] if C.dim() == 4 else C.unsqueeze(1).expand(-1, dim, -1, -1)
    h = torch.zeros(batch, dim, A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(length):
        h = torch.exp(delta[..., t, None] * A) * h + (delta[..., t] * u[..., t]).unsqueeze(-1) * Bd[..., t]
        ys.append((h * Cd[..., t]).sum(-1))
    y = torch.stack(ys, -1)
    if D is not None:
        y = y + D.double().unsqueeze(-1) * u
    if z is not None:
        y = y * F.silu(z.double())
    return y, h


def make_inputs(batch=2, dim=6, state=3, length=37, groups=None, with_d=True, with_z=True, with_bias=True,
                dtype=torch.float64, a_min=-16.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=gen, dtype=dtype)   # noqa: E731
    bc_shape = (batch, state, length) if groups is None else (batch, groups, state, length)
    return {
        "u": rand(batch, dim, length), "delta": torch.rand(batch, dim, length, generator=gen, dtype=dtype) * 0.5,
        "A": a_min + (-1 - a_min) * torch.rand(dim, state, generator=gen, dtype=dtype),
        "B": rand(*bc_shape), "C": rand(*bc_shape),
        "D": rand(dim) if with_d else None, "z": rand(batch, dim, length) if with_z else None,
        "delta_bias": torch.rand(dim, generator=gen, dtype=dtype) * 0.5 if with_bias else None,
    }


def relative_error(a, b):
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30)).item()


def run_with_grads(fn, inputs, softplus, seed=1):
    """Outputs of fn and the gradients of a random projection of (out, last_state) w.r.t. every input."""
    leaves = {k: v.detach().clone().requires_grad_() if v is not None else None for k, v in inputs.items()}
    out, last = fn(**leaves, delta_softplus=softplus)
    gen = torch.Generator().manual_seed(seed)
    # Drawn in float64, then cast: the same projection for a float32 and a float64 run.
    weights = lambda t: torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.dtype)  # noqa: E731
    loss = (out * weights(out)).sum() + (last * weights(last)).sum()
    loss.backward()
    return out.detach(), last.detach(), {k: v.grad for k, v in leaves.items() if v is not None}


def scan_with_state(**kwargs):
    return selective_scan(**kwargs, return_last_state=True)


CASES = [  # (length, groups, D, z, delta_bias, softplus)
    (37, None, True, True, True, True),
    (37, None, False, False, False, False),
    (1, None, True, False, True, True),
    (16, 2, True, True, False, True),
    (33, 3, False, True, True, False),
    (50, None, True, False, False, True),
]


@pytest.mark.parametrize("length, groups, with_d, with_z, with_bias, softplus", CASES)
def test_float64_equals_the_step_recurrence(length, groups, with_d, with_z, with_bias, softplus):
    inputs = make_inputs(length=length, groups=groups, with_d=with_d, with_z=with_z, with_bias=with_bias)
    out, last, grads = run_with_grads(scan_with_state, inputs, softplus)
    ref_out, ref_last, ref_grads = run_with_grads(recurrence64, inputs, softplus)
    assert out.dtype == torch.float64 and out.shape == inputs["u"].shape
    assert relative_error(out, ref_out) < 1e-9
    assert relative_error(last, ref_last) < 1e-9
    assert grads.keys() == ref_grads.keys() and len(grads) == sum(v is not None for v in inputs.values())
    for name in grads:
        assert relative_error(grads[name], ref_grads[name]) < 1e-9, name


@pytest.mark.parametrize("chunk, chunks_per_window, segment",
                         [(1, 1, 64), (4, 1, 64), (4, 2, 64), (4, 3, 64), (5, 4, 64), (64, 8, 64), (4, 2, 10), (8, 2, 7)])
def test_every_chunking_gives_the_same_scan(chunk, chunks_per_window, segment):
    """Several windows, one chunk per window (the purely sequential path), padding in the last window,
    several segments (the state carried from one to the next)."""
    inputs = make_inputs(length=29, groups=2)
    out, last = chunked_selective_scan(**inputs, delta_softplus=True, chunk=chunk,
                                       chunks_per_window=chunks_per_window, segment=segment)
    ref_out, ref_last = recurrence64(**inputs, delta_softplus=True)
    assert relative_error(out, ref_out) < 1e-9 and relative_error(last, ref_last) < 1e-9


def test_float32_stays_close_over_3000_tokens_with_strong_decays():
    """A down to -16 and softplus steps up to ~6: per-token log-decays below the floor (-60) occur."""
    inputs = make_inputs(batch=1, dim=4, state=4, length=3000, dtype=torch.float32, seed=3)
    inputs["delta"] = inputs["delta"] * 12
    assert (F.softplus(inputs["delta"] + inputs["delta_bias"][:, None]) * inputs["A"].min()).min() < -60
    out, last = selective_scan(**inputs, delta_softplus=True, return_last_state=True)
    ref_out, ref_last = recurrence64(**inputs, delta_softplus=True)
    assert out.dtype == torch.float32 and last.dtype == torch.float32
    assert relative_error(out, ref_out) < 1e-4 and relative_error(last, ref_last) < 1e-4


@pytest.mark.parametrize("dtype, scale, tolerance", [(torch.float32, 12, 1e-4), (torch.float64, 150, 1e-9)])
def test_clamped_decays_keep_outputs_and_gradients(dtype, scale, tolerance):
    """Log-decays below the floor (-60 in float32, -600 in float64) are clamped in place, under autograd."""
    inputs = make_inputs(length=40, dtype=dtype, seed=4)
    inputs["delta"] = inputs["delta"] * scale
    floor = -60 if dtype == torch.float32 else -600
    assert ((inputs["delta"] + inputs["delta_bias"][:, None]) * inputs["A"].min()).min() < floor
    out, last, grads = run_with_grads(scan_with_state, inputs, softplus=False)
    ref_out, ref_last, ref_grads = run_with_grads(recurrence64, inputs, softplus=False)
    assert relative_error(out, ref_out) < tolerance and relative_error(last, ref_last) < tolerance
    for name in grads:
        assert relative_error(grads[name], ref_grads[name]) < tolerance, name


def test_half_precision_input_gives_output_in_that_dtype():
    inputs = {k: v.to(torch.bfloat16) if k in ("u", "delta", "z") and v is not None else v
              for k, v in make_inputs(dtype=torch.float32).items()}
    out, last = selective_scan(**inputs, return_last_state=True)
    assert out.dtype == torch.bfloat16 and last.dtype == torch.float32


def test_the_fallback_loop_matches_the_recurrence():
    inputs = make_inputs(length=20, groups=3, dtype=torch.float32)
    out, last = per_token_scan(**inputs, delta_softplus=True, return_last_state=True)
    ref_out, ref_last = recurrence64(**inputs, delta_softplus=True)
    assert relative_error(out, ref_out) < 2e-5 and relative_error(last, ref_last) < 2e-5


def test_bad_shapes_are_named():
    inputs = make_inputs()
    with pytest.raises(ValueError, match="A must be"):
        selective_scan(**{**inputs, "A": inputs["A"][:, :2].T})
    with pytest.raises(ValueError, match="B must be"):
        selective_scan(**{**inputs, "B": inputs["B"][..., :5]})
    with pytest.raises(ValueError, match="complex A"):
        selective_scan(**{**inputs, "A": inputs["A"].to(torch.complex128)})


requires_mamba = pytest.mark.skipif(MAMBA_REF is None, reason="mamba-ssm is not installed (optional extra)")


@requires_mamba
@pytest.mark.parametrize("length, groups, with_d, with_z, with_bias, softplus", CASES)
def test_float32_equals_mamba_ssm_reference(length, groups, with_d, with_z, with_bias, softplus):
    inputs = make_inputs(length=length, groups=groups, with_d=with_d, with_z=with_z, with_bias=with_bias,
                         dtype=torch.float32)
    out, last, grads = run_with_grads(scan_with_state, inputs, softplus)
    ref_out, ref_last, ref_grads = run_with_grads(
        lambda **kw: MAMBA_REF(**kw, return_last_state=True), inputs, softplus)
    assert relative_error(out, ref_out) < 2e-5 and relative_error(last, ref_last) < 2e-5
    for name in grads:
        assert relative_error(grads[name], ref_grads[name]) < 2e-4, name


def test_the_gpu_plan_gives_the_same_scan_in_far_fewer_steps():
    from ms2mnet.ops.chunked_scan import PLANS, plan_for
    assert plan_for("cpu") is PLANS["cpu"] and plan_for("cuda") is PLANS["gpu"] is plan_for("xpu")
    rs3mamba_stage1 = 10 * 768 * 16   # batch 10, 4 directions x 192 channels, N 16; L = 64 x 64
    assert PLANS["gpu"].sequential_steps(rs3mamba_stage1, 4096) * 5 < PLANS["cpu"].sequential_steps(rs3mamba_stage1, 4096)
    inputs = make_inputs(length=45, groups=2)
    out, last = chunked_selective_scan(**inputs, delta_softplus=True, plan=PLANS["gpu"])
    ref_out, ref_last = recurrence64(**inputs, delta_softplus=True)
    assert relative_error(out, ref_out) < 1e-9 and relative_error(last, ref_last) < 1e-9


@pytest.mark.parametrize("running, expected", [(1, 2), (99, 1), (None, 2)])
def test_one_thread_when_the_cpu_is_oversubscribed(monkeypatch, running, expected):
    from ms2mnet.ops import chunked_scan
    monkeypatch.setattr(chunked_scan, "runnable_tasks", lambda: running)
    monkeypatch.setattr(chunked_scan, "_cores", lambda: 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = []
        monkeypatch.setattr(chunked_scan, "_chunked_scan", lambda *args: seen.append(torch.get_num_threads()) or args[:2])
        chunked_selective_scan(**make_inputs(length=5))
        assert seen == [expected] and torch.get_num_threads() == 2   # restored
    finally:
        torch.set_num_threads(before)
    assert chunked_scan.runnable_tasks() is None or chunked_scan.runnable_tasks() >= 1   # this process runs
