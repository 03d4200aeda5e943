"""The one Hydra app behind `ablations/run.py`, `baselines/run.py` and `ms2mnet run`.

They differ only in the primary config: `config` (model ms2mnet, its default variant) or `baselines`
(a model must be named). Multirun (`-m`) and launchers (`hydra/launcher=slurm`) work from each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from ms2mnet.models import import_model_module, run_name

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def _run_name(model: str, variant: str | None, module: str | None) -> str:
    import_model_module(module)
    return run_name(model, variant)


if not OmegaConf.has_resolver("run_name"):
    OmegaConf.register_new_resolver("run_name", _run_name)   # conf/config.yaml: `run:`


def _check_conf_dir() -> None:
    if not (CONF_DIR / "config.yaml").is_file():
        raise FileNotFoundError(f"{CONF_DIR}/config.yaml not found: the app reads the suite's conf/ folder, "
                                "so run it from a clone of the repository (pip install -e .)")


def compose_config(*overrides: str, config_name: str = "config") -> DictConfig:
    """The composed config of one run, as the app would see it (for tests and tools)."""
    _check_conf_dir()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


def main(config_name: str = "config", argv: list[str] | None = None) -> None:
    """Run the Hydra app on `argv` (default: the command line) with the given primary config."""
    from ms2mnet.experiment import run

    _check_conf_dir()
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(run)()
