"""Read the run directories a report covers: runs/<dataset>/<profile>/<run>/seed<k>/{metrics,env}.json and
the run's complexity record (complexity/<run>.json, measured once per model and variant, not per seed).

A seed without a readable metrics.json is not an error here: it is recorded as missing (no run
directory) or failed (a directory without usable metrics), so that tables show it as missing.
A metrics.json is checked against its folder (run, model, variant, seed, dataset, profile), its values
against their ranges (fractions in [0, 1]), and its evaluation settings against the run's other seeds:
one that disagrees is an error (its problem starts with "error:"), left out of every number.
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


EVAL_KEYS = ("eval_window", "eval_stride", "tta")


def _fraction(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def _check_metrics(metrics: dict, run: str, seed: int, dataset: str, profile: str) -> str | None:
    """Why these metrics cannot be reported, or None."""
    for key in METRICS:
        value = metrics.get(key)
        if not _fraction(value):
            return f"error: metrics.json: {key} is {value!r}, expected a fraction in [0, 1]"
    per_class = metrics.get("per_class", {})
    values = [(f"{c}.{k}", x) for c, v in per_class.items() for k, x in v.items()] \
        if isinstance(per_class, dict) and all(isinstance(v, dict) for v in per_class.values()) else [("", None)]
    # NaN: a class absent from truth and prediction (engine.metrics)
    if bad := [k for k, x in values if not (_fraction(x) or (isinstance(x, float) and math.isnan(x)))]:
        return f"error: metrics.json: per_class {', '.join(bad[:3]) or 'malformed'}: expected fractions in [0, 1]"
    model, variant = metrics.get("model"), metrics.get("variant")
    named = None if model is None else (f"{model}-{variant}" if variant else model)
    expected = {"run": run, "seed": seed, "dataset": dataset, "profile": profile, "model/variant": run}
    for key, value in (("run", metrics.get("run")), ("seed", metrics.get("seed")), ("dataset", metrics.get("dataset")),
                       ("profile", metrics.get("profile")), ("model/variant", named)):
        if value is not None and value != expected[key]:
            return f"error: metrics.json is for {key} {value!r}, but its folder is for {expected[key]!r}"
    return None


def read_seed(run_dir: Path, run: str, seed: int, dataset: str, profile: str) -> SeedResult:
    path = run_dir / f"seed{seed}"
    if not path.is_dir():
        return SeedResult(run, seed, path, problem="not run (no run directory)")
    env, _ = _read_json(path / "env.json")
    metrics, problem = _read_json(path / "metrics.json")
    if metrics is not None:
        problem = _check_metrics(metrics, run, seed, dataset, profile)
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


def _profile_eval(profile: str) -> tuple | None:
    """The evaluation settings of conf/profile/<profile>.yaml, or None when it is not one of the suite's."""
    try:
        from ms2mnet.app import compose_config

        ev = compose_config(f"profile={profile}").profile.eval
        return ev.window, ev.stride, ev.tta
    except Exception:       # not a profile of this suite (or no conf/): decide by the seeds alone
        return None


def _same_evaluation(found: list[SeedResult], profile: str) -> list[SeedResult]:
    """Seeds evaluated otherwise than most seeds of the run (a tie: than the profile) become errors, so a
    mean never mixes strides or windows."""
    settings = {s.seed: tuple(s.metrics.get(k) for k in EVAL_KEYS) for s in found if s.ok}
    if len(set(settings.values())) < 2:
        return found
    counts = {v: list(settings.values()).count(v) for v in settings.values()}
    top = max(counts.values())
    leaders = [v for v, n in counts.items() if n == top]
    chosen = leaders[0] if len(leaders) == 1 else (_profile_eval(profile) if _profile_eval(profile) in leaders
                                                   else None)
    described = lambda v: ", ".join(f"{k} {x}" for k, x in zip(EVAL_KEYS, v))   # noqa: E731
    out = []
    for s in found:
        if s.ok and settings[s.seed] != chosen:
            why = (f"the run's other seeds used {described(chosen)}" if chosen is not None
                   else "the seeds disagree and none matches the profile")
            s = SeedResult(s.run, s.seed, s.path, None, s.env,
                           f"error: evaluated with {described(settings[s.seed])}; {why}: re-evaluate it")
        out.append(s)
    return out


def collect_runs(runs_dir: Path, dataset: str, runs: list[str], seeds: list[int], *,
                 profile: str) -> list[RunResults]:
    """One RunResults per expected run of `dataset` under `profile`, in the order given, each with every
    expected seed."""
    results = []
    for run in runs:
        run_dir = Path(runs_dir) / dataset / profile / run
        found = _same_evaluation([read_seed(run_dir, run, seed, dataset, profile) for seed in seeds], profile)
        model, variant = _model_and_variant(run, found)
        complexity, _ = _read_json(run_dir.parent / "complexity" / f"{run}.json")
        results.append(RunResults(run, model, variant, {s.seed: s for s in found}, complexity))
        for seed in found:
            if not seed.ok:
                log.warning("%s seed %d: %s; shown as missing", run, seed.seed, seed.problem)
    return results
