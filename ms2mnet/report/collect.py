"""Read the run directories a report covers: runs/<dataset>/<profile>/<run>/seed<k>/{metrics,env}.json and
the run's complexity.json (measured once per model and variant, beside the seed folders).

A seed without a readable metrics.json is not an error here: it is recorded as missing (no run
directory) or failed (a directory without usable metrics), so that tables show it as missing.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

METRICS = ("oa", "mf1", "miou")   # fractions in metrics.json; percent in the report


@dataclass(frozen=True)
class SeedResult:
    run: str
    seed: int
    path: Path
    metrics: dict | None = None
    env: dict | None = None
    problem: str | None = None     # why there are no metrics: None when the seed is usable

    @property
    def ok(self) -> bool:
        return self.metrics is not None


@dataclass
class RunResults:
    """All expected seeds of one run (e.g. ms2mnet-no_dfe)."""
    name: str
    model: str
    variant: str | None
    seeds: dict[int, SeedResult] = field(default_factory=dict)
    complexity: dict | None = None

    @property
    def ok_seeds(self) -> list[SeedResult]:
        return [s for s in self.seeds.values() if s.ok]

    @property
    def problems(self) -> list[SeedResult]:
        return [s for s in self.seeds.values() if not s.ok]

    @property
    def init(self) -> str:
        """The weights the seeds started from ('ImageNet-1k (0676ba61)', 'scratch'; metrics.json's init_label)."""
        labels = sorted({s.metrics.get("init_label") or "not recorded" for s in self.ok_seeds})
        return ", ".join(labels) or "missing"

    @property
    def init_differs(self) -> bool:
        """Did a seed start from other weights than its model declares (its paper's)? Runs written before
        the init was recorded count as not differing."""
        return any(s.metrics.get("init_as_paper") is False for s in self.ok_seeds)

    def values(self, metric: str) -> dict[int, float]:
        """Seed -> metric in percent, for the seeds that have it."""
        return {s.seed: 100.0 * s.metrics[metric] for s in self.ok_seeds}

    def class_values(self, class_name: str, key: str) -> dict[int, float]:
        """Seed -> per-class `key` (iou, f1, ...) in percent."""
        return {s.seed: 100.0 * s.metrics["per_class"][class_name][key] for s in self.ok_seeds
                if class_name in s.metrics.get("per_class", {})}


def _read_json(path: Path) -> tuple[dict | None, str | None]:
    if not path.is_file():
        return None, f"no {path.name}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return None, f"unreadable {path} (not UTF-8 text)"
    except (OSError, json.JSONDecodeError) as err:
        return None, f"unreadable {path} ({err})"
    if not isinstance(data, dict):
        return None, f"{path.name} holds {type(data).__name__}, expected an object"
    return data, None


def _check_metrics(metrics: dict, dataset: str, profile: str) -> str | None:
    """Why these metrics cannot be reported, or None."""
    for key in METRICS:
        value = metrics.get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"metrics.json: {key} is {value!r}, expected a finite number"
    if metrics.get("dataset", dataset) != dataset:
        return f"metrics.json is for dataset {metrics['dataset']!r}, expected {dataset!r}"
    if metrics.get("profile", profile) != profile:
        return f"metrics.json is for profile {metrics['profile']!r}, expected {profile!r}"
    return None


def read_seed(run_dir: Path, run: str, seed: int, dataset: str, profile: str) -> SeedResult:
    path = run_dir / f"seed{seed}"
    if not path.is_dir():
        return SeedResult(run, seed, path, problem="not run (no run directory)")
    env, _ = _read_json(path / "env.json")
    metrics, problem = _read_json(path / "metrics.json")
    if metrics is not None:
        problem = _check_metrics(metrics, dataset, profile)
    if problem is not None:
        if problem == "no metrics.json":
            problem = "failed or unfinished (run directory without metrics.json)"
        return SeedResult(run, seed, path, None, env, problem)
    return SeedResult(run, seed, path, metrics, env)


def _model_and_variant(run: str, seeds: list[SeedResult]) -> tuple[str, str | None]:
    for seed in seeds:
        if seed.metrics and seed.metrics.get("model"):
            return seed.metrics["model"], seed.metrics.get("variant")
    model, _, variant = run.partition("-")   # run_name(): <model>-<variant>, or <model>
    return model, variant or None


def collect_runs(runs_dir: Path, dataset: str, runs: list[str], seeds: list[int], *,
                 profile: str) -> list[RunResults]:
    """One RunResults per expected run of `dataset` under `profile`, in the order given, each with every
    expected seed."""
    results = []
    for run in runs:
        run_dir = Path(runs_dir) / dataset / profile / run
        found = [read_seed(run_dir, run, seed, dataset, profile) for seed in seeds]
        model, variant = _model_and_variant(run, found)
        complexity, _ = _read_json(run_dir / "complexity.json")
        results.append(RunResults(run, model, variant, {s.seed: s for s in found}, complexity))
        for seed in found:
            if not seed.ok:
                log.warning("%s seed %d: %s; shown as missing", run, seed.seed, seed.problem)
    return results
