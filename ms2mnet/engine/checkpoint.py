"""Atomic checkpoints that hold everything needed to resume a run exactly.

Loading never unpickles code (`weights_only=True`), and whatever is wrong with a file (empty,
truncated, a list, keys missing, objects other than tensors and plain data) ends in one line,
a `CheckpointError`, rather than torch's traceback and its hint to retry unsafely.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ms2mnet.io import atomic_path

RESUME_KEYS = ("model", "optimizer", "scheduler", "scaler", "rng", "iteration")


class CheckpointError(ValueError):
    """A file that is not a checkpoint this suite wrote (or lacks what the caller needs)."""


def rng_state() -> dict[str, Any]:
    # numpy's key array as a tensor, so the checkpoint stays loadable with weights_only=True
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, **state: Any) -> None:
    """Write `state` (model, optimizer, scheduler, scaler, iteration, config, ...) plus RNG states."""
    with atomic_path(path) as tmp:
        torch.save({**state, "rng": rng_state()}, tmp)


def _refuse(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"{path}: not a checkpoint written by this suite ({why}); refusing to unpickle it")


def load_checkpoint(path: Path, require: tuple[str, ...] = ("model",)) -> dict[str, Any]:
    """The checkpoint at `path`, which must hold the keys `require`; CheckpointError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory; expected a checkpoint file (runs/.../seed<k>/checkpoint.pt)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint; runs write runs/<dataset>/<profile>/<run>/seed<k>/"
                                "checkpoint.pt")
    if path.stat().st_size == 0:
        raise _refuse(path, "empty file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's message suggests weights_only=False, which would run the file's code: never repeat it
        raise _refuse(path, "it holds objects other than tensors and plain data") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError):
        raise _refuse(path, "truncated or not a torch file") from None
    if not isinstance(state, dict):
        raise _refuse(path, f"it holds a {type(state).__name__}, not a dict")
    missing = [key for key in require if key not in state]
    if missing:
        raise _refuse(path, f"keys {', '.join(missing)} missing")
    return state


def non_finite(state: dict[str, Any]) -> list[str]:
    """The names of the floating-point tensors of a state dict that hold NaN or infinity."""
    return [name for name, value in state.items()
            if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all()]


def check_state_fits(state: dict[str, Any], model: torch.nn.Module, path: Path) -> None:
    """CheckpointError (one line) unless `state` has `model`'s keys and tensor shapes, and finite weights."""
    expected = model.state_dict()
    missing, unexpected = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
    wrong = [f"{k} {tuple(state[k].shape)} (model: {tuple(v.shape)})" for k, v in expected.items()
             if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != v.shape]
    problems = ([f"{len(missing)} tensors missing (e.g. {missing[0]})"] if missing else []) + \
        ([f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})"] if unexpected else []) + \
        ([f"{len(wrong)} tensors of another shape (e.g. {wrong[0]})"] if wrong else [])
    if problems:
        raise CheckpointError(f"{path}: its weights do not fit the configured model: {'; '.join(problems)}; "
                              "it was trained for another model, variant or number of classes")
    if bad := non_finite(state):
        raise CheckpointError(f"{path}: {len(bad)} of {len(state)} tensors hold NaN or infinity (e.g. {bad[0]}); "
                              "its training diverged: retrain with a lower learning rate")
