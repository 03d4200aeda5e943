"""The fingerprint of a run: every setting that shapes its training, flat (`profile.train.lr: 0.01`).

It is stored in the checkpoint; a resume whose fingerprint differs stops before any training, so a
checkpoint is never continued under other hyperparameters while config.yaml claims the new ones. It
includes `code`, a digest of the source that shapes training (the suite's models, ops, engine, samplers
and the model's own package): under `dvc repro` a stage rerun for a code change must not re-evaluate
weights that older code trained.
Evaluation settings are not part of it (a new evaluation stride may reuse a trained checkpoint), nor
are bookkeeping settings that leave the weights unchanged (workers, checkpoint and log intervals).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

# completed config keys (after experiment.complete_model_config, resolve_init and the prepared data's
# dsm_scaling); model.init names each weights file the run started from with its sha256, or 'scratch'.
KEYS = ("model.name", "model.module", "variant", "model.options", "model.pretrained", "model.init", "model.loss",
        "model.loss_weights", "model.aux_weights", "dataset.name", "dataset.dsm_scaling", "seed",
        "recipe", "amp")   # recipe=official writes its values into profile.train too; amp: training precision
TRAIN_BOOKKEEPING = ("num_workers", "checkpoint_every", "log_every")
UNSET = "(unset)"
PACKAGE = Path(__file__).resolve().parents[1]
TRAINING_CODE = ("models", "ops", "engine", "data/sampling.py", "data/store.py")


class ResumeMismatchError(ValueError):
    """The run folder's checkpoint was trained under another configuration."""


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    else:
        out[prefix] = value


def code_digest(model_module: str) -> str:
    """sha256 (first 16 hex digits) of the suite's training code and of the package holding `model_module`."""
    spec = importlib.util.find_spec(model_module)
    origin = Path(spec.origin).resolve() if spec and spec.origin else None
    roots = [PACKAGE / part for part in TRAINING_CODE] + ([origin.parent] if origin else [])
    files = sorted({f for root in roots for f in ([root] if root.is_file() else root.rglob("*.py"))})
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def training_fingerprint(cfg: DictConfig) -> dict[str, Any]:
    """The settings of `cfg` that shape training, and the code digest, as {dotted key: plain value}."""
    from ms2mnet.models import get_model

    out: dict[str, Any] = {"code": code_digest(get_model(cfg.model.name).module)}
    for key in KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        _flatten(key, OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value, out)
    train = OmegaConf.to_container(cfg.profile.train, resolve=True)
    for key, value in train.items():
        if key not in TRAIN_BOOKKEEPING:
            _flatten(f"profile.train.{key}", value, out)
    return out


def differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`key (old -> new)` for every key whose value differs, sorted."""
    return [f"{key} ({saved.get(key, UNSET)!r} -> {current.get(key, UNSET)!r})"
            for key in sorted(saved.keys() | current.keys()) if saved.get(key, UNSET) != current.get(key, UNSET)]


def check_fingerprint(saved: dict[str, Any] | None, current: dict[str, Any], checkpoint: Path) -> None:
    """Raise ResumeMismatchError (one line: the differing keys and the ways out) unless they agree."""
    if saved == current:
        return
    if saved is None:
        what = "records no training fingerprint (written by an older version of the suite)"
    else:
        what = "was trained with other settings: " + ", ".join(differences(saved, current))
    raise ResumeMismatchError(
        f"{checkpoint} {what}; not resuming it. Either start over with resume=false (under `dvc repro`: delete "
        f"{checkpoint.name} first), or write this configuration to another run folder (paths.runs=...)")

