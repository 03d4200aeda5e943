"""The one Hydra app behind `ablations/run.py`, `baselines/run.py` and `ms2mnet run`.

They differ only in the primary config: `config` (model ms2mnet, its default variant) or `baselines`
(a model must be named). Multirun (`-m`) and launchers (`hydra/launcher=slurm`) work from each.

A refused run (bad config, a checkpoint trained with other settings, a file that is not a checkpoint,
missing data) ends with its one-line message, not a traceback (HYDRA_FULL_ERROR=1 shows it).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
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


def _remove_job_folder(runs: Path) -> None:
    """Undo the job folder Hydra made before the task ran (e.g. runs/.../seedabc/), and its empty parents
    below `runs`, when it holds nothing but Hydra's log: a refused config leaves no folder behind."""
    folder = Path(HydraConfig.get().runtime.output_dir)
    runs = runs.resolve()
    if not folder.is_dir() or runs not in folder.resolve().parents:
        return
    entries = list(folder.iterdir())
    if any(not (p.is_file() and p.suffix == ".log") for p in entries):
        return
    for entry in entries:
        entry.unlink()
    while folder.resolve() != runs and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def task(cfg: DictConfig) -> dict:
    """experiment.run, with expected failures turned into one line (Hydra prints a CompactHydraException
    without a traceback)."""
    from ms2mnet.engine.trainer import NonFiniteLossError
    from ms2mnet.experiment import run
    from ms2mnet.validation import ConfigError
    from ms2mnet.weights import WeightsError

    try:
        return run(cfg)
    except (ConfigError, WeightsError) as err:   # refused before any work: no run folder is left
        _remove_job_folder(Path(cfg.paths.runs))
        raise CompactHydraException(str(err)) from err
    except (FileNotFoundError, ValueError, NonFiniteLossError) as err:
        raise CompactHydraException(str(err)) from err


def main(config_name: str = "config", argv: list[str] | None = None) -> None:
    """Run the Hydra app on `argv` (default: the command line) with the given primary config."""
    _check_conf_dir()
    # timm's import triggers torch's deprecation notice for torch.jit.script; it is not ours to act on.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(task)()
