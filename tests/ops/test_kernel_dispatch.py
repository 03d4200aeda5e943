"""Which scan runs: mamba-ssm's kernel only when its compiled module imports and a trial call succeeds,
otherwise the PyTorch path after one warning naming the reason. mamba-ssm is replaced by stand-in modules
in sys.modules, and the kernel's device type is pointed at the CPU, so that every branch runs here."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
import warnings

import pytest
import torch

from ms2mnet.ops.selective_scan import selective_scan_pytorch

dispatch = importlib.import_module("ms2mnet.ops.selective_scan")   # the module (the package exports the function)
MODULES = ("selective_scan_cuda", "mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.selective_scan_interface")


def module(name: str, **attributes) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    mod.__dict__.update(attributes)
    return mod


def install(monkeypatch, kernel_module: bool, selective_scan_fn=None) -> None:
    """mamba_ssm (with `selective_scan_fn` if given, else absent) and selective_scan_cuda (if asked)."""
    for name in MODULES:
        monkeypatch.setitem(sys.modules, name, None)   # None in sys.modules: importing it fails
    monkeypatch.setitem(sys.modules, "selective_scan_cuda", module("selective_scan_cuda") if kernel_module else None)
    if selective_scan_fn is not None:
        interface = module("mamba_ssm.ops.selective_scan_interface", selective_scan_fn=selective_scan_fn)
        monkeypatch.setitem(sys.modules, "mamba_ssm", module("mamba_ssm"))
        monkeypatch.setitem(sys.modules, "mamba_ssm.ops", module("mamba_ssm.ops"))
        monkeypatch.setitem(sys.modules, "mamba_ssm.ops.selective_scan_interface", interface)


@pytest.fixture(autouse=True)
def kernel_on_cpu(monkeypatch):
    monkeypatch.setattr(dispatch, "KERNEL_DEVICE", "cpu")
    dispatch._kernel_for.cache_clear()
    yield
    dispatch._kernel_for.cache_clear()


def inputs():
    gen = torch.Generator().manual_seed(0)
    return dict(u=torch.randn(2, 4, 9, generator=gen), delta=torch.rand(2, 4, 9, generator=gen),
                A=-torch.rand(4, 3, generator=gen) - 0.5, B=torch.randn(2, 3, 9, generator=gen),
                C=torch.randn(2, 3, 9, generator=gen))


def scan_twice() -> tuple[list[warnings.WarningMessage], torch.Tensor]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs = [dispatch.selective_scan(**inputs()) for _ in range(2)]
    assert torch.equal(outs[0], outs[1])
    return [w for w in caught if "selective_scan" in str(w.message)], outs[0]


def raising_kernel(*args, **kwargs):
    raise RuntimeError("CUDA error: no kernel image is available for execution on the device")


@pytest.mark.parametrize("case, reason", [
    ("absent", "mamba-ssm is not installed"),
    ("no compiled kernel", "installed without its compiled kernel selective_scan_cuda"),
    ("kernel raises", "failed a trial call on cpu (RuntimeError: CUDA error: no kernel image"),
    ("wrong result", "gave a wrong result in a trial call"),
])
def test_fallback_to_pytorch_with_one_warning_naming_the_reason(monkeypatch, case, reason):
    calls = []

    def wrong_kernel(u, *args):
        calls.append(1)
        return torch.zeros_like(u)

    if case == "absent":
        install(monkeypatch, kernel_module=False)
    elif case == "no compiled kernel":
        install(monkeypatch, kernel_module=False, selective_scan_fn=raising_kernel)
    else:
        install(monkeypatch, kernel_module=True,
                selective_scan_fn=raising_kernel if case == "kernel raises" else wrong_kernel)
    caught, out = scan_twice()
    assert len(caught) == 1 and caught[0].category is RuntimeWarning, [str(w.message) for w in caught]
    assert reason in str(caught[0].message) and "PyTorch scan" in str(caught[0].message)
    if case in ("absent", "no compiled kernel"):
        assert "MAMBA_FORCE_BUILD=TRUE MAMBA_KEEP_CUDA_BUILD=TRUE pip install --no-build-isolation" in str(
            caught[0].message)
    assert calls == ([1] if case == "wrong result" else [])   # the trial call only, never the real ones
    assert torch.equal(out, selective_scan_pytorch(**inputs()))
    assert dispatch.scan_backend(inputs()["u"], inputs()["A"]) == "pytorch"


def test_newer_sources_without_the_kernel_are_detected(monkeypatch):
    """mamba-ssm after 2.3.2.post1 imports selective_scan_cuda optionally (None when it was not built)."""
    install(monkeypatch, kernel_module=True, selective_scan_fn=raising_kernel)
    sys.modules["mamba_ssm.ops.selective_scan_interface"].selective_scan_cuda = None
    caught, _ = scan_twice()
    assert len(caught) == 1 and "did not load selective_scan_cuda" in str(caught[0].message)


def test_a_working_kernel_takes_the_calls_without_warning(monkeypatch):
    calls = []

    def kernel(*args, **kwargs):
        calls.append(args[0].dtype)
        return selective_scan_pytorch(*args, **kwargs)

    install(monkeypatch, kernel_module=True, selective_scan_fn=kernel)
    caught, out = scan_twice()
    assert caught == [] and len(calls) == 3               # the trial call, then both calls
    assert dispatch.scan_backend(inputs()["u"], inputs()["A"]) == "mamba_ssm"
    assert torch.equal(out, selective_scan_pytorch(**inputs()))
    # Mixed dtypes (delta in bf16 from an autocast region): the kernel gets one dtype, float32.
    calls.clear()
    dispatch.selective_scan(**{**inputs(), "delta": inputs()["delta"].bfloat16()})
    assert calls == [torch.float32]
    # float64 is not the kernel's: the PyTorch path takes it.
    dispatch.selective_scan(**{k: v.double() for k, v in inputs().items()})
    assert calls == [torch.float32]
