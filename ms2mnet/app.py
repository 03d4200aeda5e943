"""The one Hydra app behind `ablations/run.py`, `baselines/run.py` and `ms2mnet run`.

They differ only in the primary config: `config` (model ms2mnet, its default variant) or `baselines`
(a model must be named). Multirun (`-m`) and launchers (`hydra/launcher=slurm`) work from each.

A refused run (bad config, a run folder in use, a checkpoint trained with other settings or of another shape,
bad or missing data, an unwritable runs folder, an unknown variant in the run folder's name) ends with one line
on stderr and exit code 2, also when Hydra refuses it while setting up the job; no folder it made is left behind.
HYDRA_FULL_ERROR=1 (or `ms2mnet -v run`) shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from pathlib import Path

import hydra
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
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
    up to `runs` itself, when it holds nothing but Hydra's log (and the run lock): a refused run leaves no
    folder behind."""
    from ms2mnet.data.locks import LOCK_FILES

    folder = Path(HydraConfig.get().runtime.output_dir)
    runs = runs.resolve()
    if not folder.is_dir() or (runs != folder.resolve() and runs not in folder.resolve().parents):
        return
    entries = list(folder.iterdir())
    if any(not (p.is_file() and (p.suffix == ".log" or p.name in LOCK_FILES)) for p in entries):
        return
    for entry in entries:
        entry.unlink()
    try:
        while folder.resolve() != runs.parent and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    except OSError:     # a folder we may not remove (a mount point, say) stays
        pass


# Set by main() in this process: task() then reports a refusal itself and returns, because Hydra would print
# "Error executing job with overrides: ..." above the line. Elsewhere (a launcher's remote job) it raises.
_main: dict = {"active": False, "traceback": False, "refused": 0}


def task(cfg: DictConfig) -> dict | None:
    """experiment.run; a refusal removes the job folder when the run wrote nothing there."""
    from ms2mnet.data.locks import FolderBusyError
    from ms2mnet.experiment import run

    try:
        return run(cfg)
    except Exception as err:
        refusal = _refusal(err)
        if refusal is not None and not isinstance(refusal, FolderBusyError):   # a busy folder is another run's
            _remove_job_folder(Path(cfg.paths.runs))
        if refusal is None or _main["traceback"] or not _main["active"]:
            raise
        print(f"error: {one_line(refusal)}", file=sys.stderr)
        _main["refused"] += 1
        return None


def _refusal(err: BaseException) -> BaseException | None:
    """The error behind `err` that is a refusal (bad input, config or files; no memory for what the config
    asks), or None for a bug (which keeps its traceback). Logging wraps what a log file's set-up raised:
    look inside; OmegaConf's errors (a resolver that refused, a missing key) and Hydra's (an unknown option,
    bad override syntax) are refusals too."""
    from ms2mnet.engine.trainer import NonFiniteLossError

    chain = []
    while err is not None:
        chain.append(err)
        err = err.__cause__
    refusals = (ValueError, OSError, MemoryError, NonFiniteLossError, torch.OutOfMemoryError)
    for found in chain:
        wrapper = _from_config_library(found) or str(found).startswith("Unable to configure")   # logging.config
        if isinstance(found, refusals) and not wrapper:
            return found
    return next((found for found in chain if _from_config_library(found)), None)


def _from_config_library(err: BaseException) -> bool:
    return isinstance(err, HydraException) or type(err).__module__.split(".")[0] in ("omegaconf", "hydra")


def one_line(err: BaseException) -> str:
    """The message of `err` on one line (Hydra's, OmegaConf's and torch's span several)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if type(err).__module__.startswith("omegaconf"):
        # "ValueError raised while resolving interpolation: <what the resolver said>" / "full_key: ..." lines
        lines = [re.sub(r"^\w+ raised while resolving interpolation: ", "", line) for line in lines[:1]]
    text = " ".join(lines)
    if isinstance(err, MemoryError | torch.OutOfMemoryError):
        text = f"out of memory ({text or type(err).__name__}); lower the crop, window or batch size"
    elif isinstance(err, OSError) and err.filename and str(err.filename) not in text:
        text = f"{err.filename}: {text}"
    return text or type(err).__name__


def main(config_name: str = "config", argv: list[str] | None = None, verbose: bool = False) -> int:
    """Run the Hydra app on `argv` (default: the command line) with the given primary config; returns the
    exit code: 0, or 2 after a refusal's one line on stderr (`verbose` or HYDRA_FULL_ERROR=1: the traceback)."""
    _check_conf_dir()
    # timm's import triggers torch's deprecation notice for torch.jit.script; it is not ours to act on.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    full = verbose or os.environ.get("HYDRA_FULL_ERROR") == "1"
    saved = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"     # Hydra re-raises instead of printing its own report and exit(1)
    _main.update(active=True, traceback=full, refused=0)
    handlers, level = list(logging.root.handlers), logging.root.level   # Hydra's job logging replaces them
    try:
        hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(task)()
    except Exception as err:     # raised before the task ran: Hydra's set-up, an unknown option, a resolver
        refusal = _refusal(err)
        if full or refusal is None:
            raise
        print(f"error: {one_line(refusal)}", file=sys.stderr)
        return 2
    finally:
        _main["active"] = False
        for handler in set(logging.root.handlers) - set(handlers):   # e.g. the job folder's log file
            handler.close()
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
        if saved is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved
    return 2 if _main["refused"] else 0
