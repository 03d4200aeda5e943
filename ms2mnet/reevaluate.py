"""`ms2mnet evaluate`: evaluate a trained seed again, without training, with its DSM perturbed (`eval.dsm`).

It loads the weights the run's metrics.json came from (test_best.pt where the run selected on the test
set, else checkpoint.pt), evaluates the test tiles under the run's profile and writes
runs/<dataset>/<profile>/<run>/seed<k>/robustness/<mode>.json. `eval.save_maps=true` also writes the
whole-tile predictions to robustness/<mode>/maps/.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ms2mnet.data.sampling import WholeTiles
from ms2mnet.data.store import TileStore
from ms2mnet.engine import distributed
from ms2mnet.engine.checkpoint import load_checkpoint
from ms2mnet.engine.evaluate import evaluate
from ms2mnet.engine.robustness import PerturbedTiles, parse_dsm_mode
from ms2mnet.engine.trainer import CHECKPOINT
from ms2mnet.experiment import SELECTION_METRIC, TEST_BEST, build, complete_model_config, eval_settings, run_dir_of
from ms2mnet.io import write_json
from ms2mnet.validation import validate_config

log = logging.getLogger(__name__)


def trained_weights(run_dir: Path, selection: str) -> dict:
    """The state dict the run reported: the test-selected epoch's, or the last checkpoint's."""
    if selection in SELECTION_METRIC and (run_dir / TEST_BEST).is_file():
        return load_checkpoint(run_dir / TEST_BEST, require=("state",))["state"]
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained checkpoint; train the run first (`ms2mnet run --run ...` with "
                                "the same dataset, profile and seed)")
    return load_checkpoint(path, require=("model",))["model"]


def evaluate_run(cfg: DictConfig) -> dict:
    """Evaluate the trained seed `cfg` names with `cfg.eval.dsm`; returns and writes the metrics."""
    validate_config(cfg)
    complete_model_config(cfg)
    mode = parse_dsm_mode(OmegaConf.select(cfg, "eval.dsm", default="clean"))
    _, device = distributed.setup(cfg.device)
    run_dir = run_dir_of(cfg)
    store = TileStore(Path(cfg.paths.prepared) / cfg.dataset.name)
    tiles = PerturbedTiles(WholeTiles(store, "test"), mode, store)
    model = build(cfg)
    model.load_state_dict(trained_weights(run_dir, cfg.selection))
    model.to(device)
    out = run_dir / "robustness"
    maps = out / mode.name / "maps" if OmegaConf.select(cfg, "eval.save_maps", default=False) else None
    ev = cfg.profile.eval
    metrics = evaluate(model, tiles, device, eval_settings(cfg), map_dir=maps)
    metrics.update(dsm=str(mode), run=cfg.run, model=cfg.model.name, variant=cfg.variant, dataset=cfg.dataset.name,
                   profile=cfg.profile.name, seed=cfg.seed, selection=cfg.selection, eval_window=ev.window,
                   eval_stride=ev.stride, tta=ev.tta)
    write_json(out / f"{mode.name}.json", metrics)
    log.info("%s seed %d, DSM %s: mIoU %.4f -> %s", cfg.run, cfg.seed, mode, metrics["miou"], out / f"{mode.name}.json")
    return metrics
