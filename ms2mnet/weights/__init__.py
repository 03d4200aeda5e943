"""Pretrained weights: find, check and describe the files each model's registration declares.

A model declares its files in `@register_model(..., weights=(WeightFile(...), ...))`. They live in one
folder (`paths.weights`, default `weights/`), under their declared names; `ms2mnet weights fetch` puts them
there (ms2mnet/weights/fetch.py). A file counts as present when its sha256 matches the declared hash (the
full hash, or the prefix its publisher put in the file name) or, where no hash is published, when it holds
the declared tensors. `resolve` gives a run its files and their provenance, or refuses in one line.

Files are read without unpickling code: `.npz` without pickles, `.pth` through torch's weights-only
unpickler, where the only extra class allowed is the training config some checkpoints carry beside their
tensors (VMamba's yacs CfgNode), which is read as a plain dict.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ms2mnet.models import WeightFile, get_model

from .files import CONFIG_CLASSES, WeightsError, read_checkpoint, tensors_of  # noqa: F401 (the package's API)

SCRATCH = "scratch"
_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _has(names: set[str], want: str) -> bool:
    return want in names or any(n.endswith(("." + want, "/" + want)) for n in names)


def structure_problem(decl: WeightFile, path: Path) -> str | None:
    """None when the file holds every tensor the declaration names, else what is wrong."""
    try:
        if decl.file.endswith(".npz"):      # names only: the ViT archive is 400 MB
            if not zipfile.is_zipfile(path):
                return f"{path}: not a numpy .npz archive"
            with np.load(path, allow_pickle=False) as archive:
                names = set(archive.files)
        else:
            names = set(tensors_of(read_checkpoint(path, npz=False)))
    except (OSError, ValueError) as err:   # WeightsError is a ValueError; np.load: not a zip, or pickles
        return f"{path}: {err}" if str(path) not in str(err) else str(err)
    missing = [k for k in decl.keys if not _has(names, k)]
    return f"{path}: not {decl.format}, it lacks {missing[:2]}" if missing else None


@dataclass(frozen=True)
class FileState:
    decl: WeightFile
    path: Path
    status: str                 # present | missing | wrong hash | wrong file
    detail: str = ""
    sha256: str | None = None
    size: int | None = None


def problem_of(decl: WeightFile, path: Path, digest: str | None = None) -> tuple[str, str] | None:
    """None when `path` is `decl`'s file (its hash, else its structure), else (status, what is wrong)."""
    digest = digest or sha256_of(path)
    if decl.sha256 and not digest.startswith(decl.sha256):
        return "wrong hash", f"sha256 {digest[:16]}..., expected {decl.sha256}..."
    if not decl.sha256 and (problem := structure_problem(decl, path)):
        return "wrong file", problem
    return None


def check(decl: WeightFile, folder: Path) -> FileState:
    """Is `decl`'s file in `folder`, and is it the declared one (hash, else structure)?"""
    path = Path(folder) / decl.file
    if not path.is_file():
        return FileState(decl, path, "missing")
    digest, size = sha256_of(path), path.stat().st_size
    if problem := problem_of(decl, path, digest):
        return FileState(decl, path, *problem, sha256=digest, size=size)
    return FileState(decl, path, "present", sha256=digest, size=size)


def address(decl: WeightFile) -> str:
    """Where to get a file: its URL, or the manual route."""
    return decl.url or decl.manual


def resolve(model: str, folder: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The builder options naming each declared file of `model` in `folder`, and the init record
    ([{file, sha256, initialises, pretraining}]). Raises WeightsError, one line, where a file is not there."""
    entry = get_model(model)
    if not entry.weights:
        raise WeightsError(f"model {model} declares no pretrained weights (weights= in its register_model); "
                           "train it from scratch with model.pretrained=false")
    states = [check(decl, folder) for decl in entry.weights]
    bad = [s for s in states if s.status != "present"]
    if bad:
        files = "; ".join(f"{s.path} ({s.status}{': ' + s.detail if s.detail else ''}; from {address(s.decl)})"
                          for s in bad)
        raise WeightsError(f"{model}: pretrained weights not ready: {files}. Run `ms2mnet weights fetch {model}` "
                           f"(weights folder: paths.weights={folder}), or train from scratch with "
                           "model.pretrained=false")
    options = {s.decl.option: str(s.path) for s in states}
    init = [{"file": s.decl.file, "sha256": s.sha256, "initialises": s.decl.initialises,
             "pretraining": s.decl.pretraining} for s in states]
    return options, init


def init_label(init: Any) -> str:
    """'ImageNet-1k (0676ba61)' for a run's init record, 'scratch' for none."""
    if not init or init == SCRATCH:
        return SCRATCH
    kinds = list(dict.fromkeys(item.get("pretraining", "pretrained") for item in init))
    return f"{' + '.join(kinds)} ({', '.join(str(item['sha256'])[:8] for item in init)})"


def init_as_declared(model: str, init: Any) -> bool:
    """Did the run start from the files its model declares (what its paper used)?"""
    try:
        declared = [decl.file for decl in get_model(model).weights]
    except ValueError:
        return False
    return bool(declared) and isinstance(init, list) and [item.get("file") for item in init] == declared
