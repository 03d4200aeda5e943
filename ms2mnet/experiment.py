"""run(cfg): the one function behind every entry point. Train, then evaluate.

Everything a run writes goes to runs/<dataset>/<profile>/<run>/seed<k>/: config.yaml (the composed
config, with the model's registered defaults filled in and `model.init`: the weights files it started
from, each with its sha256, or `scratch`), env.json (commit, versions, device, seed, init),
checkpoint.pt (with the run's training fingerprint), dvclive/ (training curves), metrics.json,
predictions/ (palette PNGs of a fixed crop of each test tile). Complexity does not depend on the seed:
`ms2mnet complexity` measures it once per run name, into runs/<dataset>/<profile>/complexity/<run>.json
(its latency settings come from the profile).
"""

from __future__ import annotations

import logging
import platform
import random
from contextlib import nullcontext
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from ms2mnet.bench.complexity import measure_complexity
from ms2mnet.bench.latency import device_name
from ms2mnet.checkout import REPO, source_tree
from ms2mnet.data.locks import exclusive
from ms2mnet.data.sampling import RandomCrops, WholeTiles
from ms2mnet.data.store import TileStore
from ms2mnet.engine import distributed
from ms2mnet.engine.checkpoint import RESUME_KEYS, CheckpointError, check_state_fits, load_checkpoint, save_checkpoint
from ms2mnet.engine.evaluate import EvalSettings, evaluate
from ms2mnet.engine.fingerprint import check_fingerprint, training_fingerprint
from ms2mnet.engine.inference import precision_name
from ms2mnet.engine.losses import DeepSupervisionLoss, median_frequency_weights
from ms2mnet.engine.recipes import apply_recipe
from ms2mnet.engine.trainer import CHECKPOINT, TrainSettings, train
from ms2mnet.io import atomic_path, remove_stale_temporaries, write_json
from ms2mnet.models import build_model, for_layout, get_model, import_model_module, resolve_variant
from ms2mnet.validation import ConfigError, validate_config
from ms2mnet.weights import SCRATCH, WeightsError, init_as_declared, init_label, resolve

log = logging.getLogger(__name__)
PACKAGES = ("torch", "torchvision", "timm", "fvcore", "numpy", "hydra-core", "dvc", "dvclive", "mamba-ssm", "ms2mnet")
TEST_BEST = "test_best.pt"  # selection=test_best|authors: the chosen weights and test metrics, kept across a resume
# What each selection keeps, and the metric it maximises (docs/protocol.md, "Model selection").
SELECTION_METRIC = {"test_best": "miou", "authors": "oa"}


def run_dir_of(cfg: DictConfig) -> Path:
    """runs/<dataset>/<profile>/<run>/seed<k>: the profile is part of the path, so a paper run never
    resumes a smoke checkpoint (conf/config.yaml's hydra.run.dir builds the same path)."""
    return Path(cfg.paths.runs) / cfg.dataset.name / cfg.profile.name / cfg.run / f"seed{cfg.seed}"


def complexity_path(cfg: DictConfig) -> Path:
    """runs/<dataset>/<profile>/complexity/<run>.json: one record per run name (the cost does not depend on the
    seed), all of a pass in one folder, so one DVC stage measures the whole pass in one process."""
    return Path(cfg.paths.runs) / cfg.dataset.name / cfg.profile.name / "complexity" / f"{cfg.run}.json"


def environment(cfg: DictConfig, device: torch.device) -> dict:
    def package_version(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    tree = source_tree(REPO)    # dvc.lock and the other pipeline outputs do not make a repro's runs dirty
    return {
        "git_commit": tree["commit"],
        "git_dirty": tree["dirty"],
        "packages": {name: package_version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "host": platform.node(),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "seed": cfg.seed,
    }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def complete_model_config(cfg: DictConfig) -> None:
    """Fill in what the model's yaml leaves unset from its registration, in place: the variant, loss preset,
    loss and aux weights (for this dataset's layout), options and pretrained; so config.yaml says what ran."""
    import_model_module(cfg.model.get("module"))
    entry = get_model(cfg.model.name)
    layout = cfg.dataset.get("layout", cfg.dataset.name)
    with open_dict(cfg):
        cfg.variant = resolve_variant(entry.name, cfg.variant)
        model = cfg.model
        model.loss = model.get("loss") or entry.loss
        model.loss_weights = for_layout(model.get("loss_weights") or entry.loss_weights, layout)
        aux = model.get("aux_weights")
        model.aux_weights = list(for_layout(entry.aux_weights if aux is None else aux, layout))
        model.options = model.get("options") or {}
        model.pretrained = wants_pretrained(cfg)
        cfg.recipe = cfg.get("recipe") or "protocol"
    apply_recipe(cfg, entry.recipe, entry.name, layout)


def wants_pretrained(cfg: DictConfig) -> bool:
    """`model.pretrained` (true/false), or where it is null the profile's `pretrained` (paper, authors:
    true; smoke, tiny and a profile that does not say: false)."""
    wanted = cfg.model.get("pretrained")
    wanted = cfg.profile.get("pretrained", False) if wanted is None else wanted
    if not isinstance(wanted, bool):
        raise WeightsError(f"model.pretrained={wanted!r}: use true (the files the model declares, from "
                           f"paths.weights={cfg.paths.get('weights', 'weights')}), false (from scratch) or null "
                           "(the profile decides); `ms2mnet weights list` shows the files")
    return wanted


def resolve_init(cfg: DictConfig) -> dict[str, str]:
    """Find the declared weights files of a pretrained run in `paths.weights` (or refuse, one line) and
    record them in `model.init` ([{file, sha256, ...}] or 'scratch'); returns the builder's file options."""
    options, init = {}, SCRATCH
    if cfg.model.pretrained:
        options, init = resolve(cfg.model.name, Path(cfg.paths.get("weights", "weights")))
    with open_dict(cfg):
        cfg.model.init = init
    return options


def build(cfg: DictConfig, files: dict[str, str] | None = None) -> torch.nn.Module:
    """The run's network; `files` (from `resolve_init`) name its pretrained weights, else it starts fresh."""
    options = OmegaConf.to_container(cfg.model.options, resolve=True)
    return build_model(cfg.model.name, variant=cfg.variant, num_classes=cfg.dataset.num_classes,
                       **{**options, "pretrained": False, **(files or {})})


def build_criterion(cfg: DictConfig, store: TileStore) -> DeepSupervisionLoss:
    """The model's loss: preset, term weights and aux weights from its config; `class_weights:
    median_frequency` is computed from the training labels (as FuseNet and SegNet train)."""
    weights = OmegaConf.to_container(cfg.model.loss_weights, resolve=True) if cfg.model.loss_weights else {}
    if weights.get("class_weights") == "median_frequency":
        labels = [store.tile(name).label for name in store.tiles("train")]
        weights["class_weights"] = median_frequency_weights(labels, cfg.dataset.num_classes)
        log.info("median frequency class weights: %s", ", ".join(f"{w:.3f}" for w in weights["class_weights"]))
    return DeepSupervisionLoss(cfg.model.loss, list(cfg.model.aux_weights), **weights)


def check_sizes(cfg: DictConfig, store: TileStore) -> None:
    """A crop or window is padded where it exceeds a tile; one over twice the largest tile is mostly padding
    (and crop=100000 asks for gigabytes): refuse it before any work."""
    problems = []
    for key, split in (("profile.train.crop", "train"), ("profile.eval.window", "test")):
        value = OmegaConf.select(cfg, key)
        largest = max((max(store.shape(name)) for name in store.tiles(split)), default=0)
        if value > 2 * largest:
            problems.append(f"{key}={value} is over twice the largest {split} tile's side ({largest} px)")
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems) + f" of {store.root}")


def check_checkpoint(path: Path, fingerprint: dict, model: torch.nn.Module, cfg: DictConfig) -> None:
    """Before any write: the checkpoint a resume would continue must be ours, trained with these settings,
    shaped like this model, and (selection=test_best) come with the choice among the epochs it judged."""
    saved = load_checkpoint(path, require=RESUME_KEYS)
    check_fingerprint(saved.get("fingerprint"), fingerprint, path)
    check_state_fits(saved["model"], model, path)
    judged = saved["iteration"] // cfg.profile.train.iterations_per_epoch
    if cfg.selection == "test_best" and judged and not (path.parent / TEST_BEST).is_file():
        raise CheckpointError(f"{path}: {judged} epoch(s) trained under selection=test_best, but "
                              f"{TEST_BEST} (the choice among them) is missing; start over with resume=false")


def run(cfg: DictConfig) -> dict:
    """Run one configuration end to end; returns the test metrics (on the main process).

    Nothing is written before the config and the prepared data are validated, the run folder is locked
    against a second run, and, when it holds a checkpoint to resume, that checkpoint's training
    fingerprint (which includes the prepared data and `selection`) is found to match this config's."""
    validate_config(cfg)
    complete_model_config(cfg)
    files = resolve_init(cfg)   # missing weights stop the run here, before anything is written
    world, device = distributed.setup(cfg.device)
    run_dir = run_dir_of(cfg)
    store = TileStore(Path(cfg.paths.prepared) / cfg.dataset.name)
    store.check()       # every tile, before training rather than at the evaluation after it
    check_sizes(cfg, store)
    with open_dict(cfg):   # how the DSM was scaled travels with the run, so `predict` scales a new tile alike
        cfg.dataset.dsm_scaling = store.manifest.get("dsm_scaling")
    fingerprint = training_fingerprint(cfg)
    # Not settings of the training itself, but a finished run rerun with other data or another selection
    # must not re-evaluate (and relabel) weights chosen under the old ones.
    fingerprint.update(data=store.digest(), selection=cfg.selection)
    lock = exclusive(run_dir, f"training {cfg.run} seed {cfg.seed}", wait=False) if world.is_main else nullcontext()
    with lock:
        return _run_locked(cfg, world, device, run_dir, store, fingerprint, files)


def _run_locked(cfg: DictConfig, world: distributed.World, device: torch.device, run_dir: Path, store: TileStore,
                fingerprint: dict, files: dict[str, str]) -> dict:
    seed_everything(cfg.seed)
    model = build(cfg, files)
    if cfg.resume and (run_dir / CHECKPOINT).exists():
        check_checkpoint(run_dir / CHECKPOINT, fingerprint, model, cfg)
    container = OmegaConf.to_container(cfg, resolve=True)
    if world.is_main:
        for name in ("config.yaml", "env.json", TEST_BEST, "metrics.json"):   # left by a killed run
            remove_stale_temporaries(run_dir / name)
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(run_dir / "config.yaml") as tmp:
            OmegaConf.save(cfg, tmp, resolve=True)
        write_json(run_dir / "env.json", {**environment(cfg, device), "init": container["model"]["init"]})

    train_cfg, eval_cfg = cfg.profile.train, cfg.profile.eval
    settings = TrainSettings(**OmegaConf.to_container(train_cfg, resolve=True))
    crops = RandomCrops(store, "train", settings.crop, settings.iterations_per_epoch * settings.batch_size, cfg.seed)
    criterion = build_criterion(cfg, store)
    amp = bool(cfg.amp) and device.type == "cuda"
    evaluation = eval_settings(cfg)
    test_tiles = WholeTiles(store, "test")

    def evaluate_on_test(figure_dir: Path | None = None, map_dir: Path | None = None) -> dict:
        return evaluate(model, test_tiles, device, evaluation, figure_dir=figure_dir,
                        figure_crop=eval_cfg.figure_crop, map_dir=map_dir)

    selection = Selection(cfg, run_dir / TEST_BEST, model, evaluate_on_test, world.is_main,
                          settings.iterations_per_epoch)
    train(model, crops, criterion, settings, run_dir, device, world=world, amp=amp, channels_last=cfg.channels_last,
          resume=cfg.resume, config=container, fingerprint=fingerprint,
          on_epoch_end=selection.epoch_end if cfg.selection == "test_best" else None,
          on_iteration_end=selection.iteration_end if cfg.selection == "authors" else None)

    metrics: dict = {}
    if world.is_main:
        best = selection.best
        if best:
            model.load_state_dict(best["state"])
        save_maps = bool(OmegaConf.select(cfg, "eval.save_maps", default=False))
        metrics = evaluate_on_test(run_dir / "predictions", run_dir / "maps" if save_maps else None)
        metrics.update(selection=cfg.selection, selected_epoch=best.get("epoch", settings.epochs),
                       selected_iteration=best.get("iteration", settings.total_iterations),
                       run=cfg.run, model=cfg.model.name, variant=cfg.variant, dataset=cfg.dataset.name,
                       profile=cfg.profile.name, seed=cfg.seed, recipe=cfg.recipe,
                       train_precision=precision_name(device, amp), eval_window=eval_cfg.window,
                       eval_stride=eval_cfg.stride, tta=eval_cfg.tta, init=container["model"]["init"],
                       init_label=init_label(container["model"]["init"]),
                       init_as_paper=init_as_declared(cfg.model.name, container["model"]["init"]))
        if cfg.selection in SELECTION_METRIC:
            metrics["selection_metric"] = SELECTION_METRIC[cfg.selection]
            metrics["warning"] = "checkpoint selected on the test set (the authors' protocol), not the last one"
            if not best:
                metrics["warning"] = (f"selection={cfg.selection} judged no checkpoint (training ended before "
                                      "the first evaluation): these are the last weights")
        write_json(run_dir / "metrics.json", metrics)
    distributed.barrier(world)
    distributed.close(world)
    return metrics


def eval_settings(cfg: DictConfig) -> EvalSettings:
    """How the run's test tiles are evaluated (`profile.eval`; the defaults are the authors' test())."""
    ev = cfg.profile.eval
    return EvalSettings(ev.window, ev.stride, ev.batch_size, tta=ev.tta, amp=bool(ev.get("amp", False)),
                        windows=ev.get("windows", "authors"), combine=ev.get("combine", "logits"))


class Selection:
    """Model selection on the test set, kept in `path` so that it survives a resume.

    `test_best`: after every epoch, keep the weights with the best mIoU. `authors`: as the authors'
    train() (models/train_MS2MNet.py L196-203, then clean_models in models/utils.py L445-475): every
    `profile.select.every` iterations from epoch `profile.select.from_epoch` on, evaluate and keep the
    weights with the best OA. Their `acc_best = 85.0` (L120) only gates what they print: every evaluation
    is saved (L200) and clean_models keeps the best one whatever its OA, so there is no floor here either.
    A tie keeps the earlier checkpoint (they compare OA rounded to 2 decimals, in directory order)."""

    def __init__(self, cfg: DictConfig, path: Path, model: torch.nn.Module, evaluate_on_test, is_main: bool,
                 iterations_per_epoch: int) -> None:
        self.rule, self.path, self.model, self.evaluate_on_test = cfg.selection, path, model, evaluate_on_test
        self.is_main, self.ipe, self.best = is_main, iterations_per_epoch, {}
        select = cfg.profile.get("select") or {}
        self.every, self.from_epoch = int(select.get("every", 2000)), int(select.get("from_epoch", 30))
        if self.rule not in SELECTION_METRIC or not is_main:
            return
        # A resumed run keeps the checkpoints it already judged; a fresh one must not inherit a stale choice.
        if cfg.resume and (path.parent / CHECKPOINT).exists() and path.exists():
            saved = load_checkpoint(path, require=("epoch", "metrics", "state"))
            if saved.get("rule", "test_best") == self.rule:
                self.best.update({k: saved[k] for k in ("epoch", "metrics", "state", "iteration", "rule") if k in saved})
                return
        path.unlink(missing_ok=True)

    def judge(self, epoch: int, iteration: int) -> None:
        if not self.is_main:
            return
        metric = SELECTION_METRIC[self.rule]
        metrics = self.evaluate_on_test()
        self.model.train()
        if metrics[metric] > self.best.get("metrics", {}).get(metric, -1.0):
            self.best.update(epoch=epoch, iteration=iteration, metrics=metrics, rule=self.rule,
                             state={k: v.detach().clone() for k, v in self.model.state_dict().items()})
            save_checkpoint(self.path, **self.best)

    def epoch_end(self, epoch: int) -> None:
        self.judge(epoch, epoch * self.ipe)

    def iteration_end(self, iteration: int, epoch: int) -> None:
        if iteration % self.every == 0 and epoch >= self.from_epoch:
            self.judge(epoch, iteration)


def measure(cfg: DictConfig) -> dict:
    """The run's complexity (`profile.complexity` settings), written to `complexity_path(cfg)`."""
    validate_config(cfg)
    complete_model_config(cfg)
    _, device = distributed.setup(cfg.device)
    settings = cfg.profile.complexity
    return measure_complexity(cfg.model.name, cfg.variant, cfg.dataset.num_classes, settings.size,
                              device=str(device), latency_runs=settings.latency_runs,
                              latency_warmup=settings.warmup, amp=cfg.amp and device.type == "cuda",
                              memory=settings.get("memory", True), aux=settings.get("aux", True),
                              options=OmegaConf.to_container(cfg.model.options, resolve=True),
                              out_path=complexity_path(cfg))
