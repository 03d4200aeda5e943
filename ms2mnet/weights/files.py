"""Reading a weights file without running code from it (the models' loaders and `ms2mnet weights` use it).

An `.npz` is read without pickles; anything else through torch's weights-only unpickler, where the only
extra class allowed is the training config some checkpoints carry beside their tensors (VMamba's yacs
CfgNode), read as a plain dict. Any other class is refused, by name.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Config classes a checkpoint may store beside its tensors, read as data (a dict), never imported.
CONFIG_CLASSES = ("yacs.config.CfgNode",)


class WeightsError(ValueError):
    """A weights file is missing, has another hash, or is not the declared kind of file."""


def _plain(value: Any) -> Any:
    """A stored config read as Counter (see `read_checkpoint`) back to plain dicts."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def read_checkpoint(path: Path, npz: bool | None = None) -> Any:
    """What a weights file holds, read safely: an `.npz` as {name: array} (no pickles), anything else
    through `torch.load(weights_only=True)`; a stored training config (CONFIG_CLASSES) comes back as a
    dict. Any other class in the pickle is refused, naming it. `npz` overrides the guess from the suffix."""
    path = Path(path)
    if path.suffix == ".npz" if npz is None else npz:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    # torch's weights-only unpickler sets items only on exact dicts/OrderedDicts/Counters and restores
    # attributes through __dict__: Counter is the allowed class that can stand in for a dict subclass.
    stand_ins = [(collections.Counter, name) for name in CONFIG_CLASSES]
    try:
        with torch.serialization.safe_globals(stand_ins):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # not a torch file at all
            unsafe = []
        what = f"it stores {', '.join(unsafe)}, which is not read" if unsafe else f"({str(err).splitlines()[0]})"
        raise WeightsError(f"{path}: not a plain weights file: {what} (only tensors and the config classes "
                           f"{', '.join(CONFIG_CLASSES)} are); re-save its tensors with torch.save") from None
    except (RuntimeError, OSError, EOFError) as err:
        raise WeightsError(f"{path}: cannot be read as a PyTorch file ({err}); delete it and run "
                           "`ms2mnet weights fetch` again") from None
    if isinstance(state, dict):
        state = {k: _plain(v) if isinstance(v, collections.Counter) else v for k, v in state.items()}
    return state


def tensors_of(checkpoint: Any) -> dict[str, Any]:
    """The state dict inside a checkpoint: itself, or under 'state_dict' or 'model'."""
    for key in ("state_dict", "model"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint if isinstance(checkpoint, dict) else {}
