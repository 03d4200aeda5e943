"""Where the numbers came from: protocol settings, profiles, commits and the seeds that are missing."""

from __future__ import annotations

from ms2mnet.checkout import REPO

from .collect import RunResults


def _distinct(values) -> list:
    return sorted({v for v in values if v is not None}, key=str)


def provenance(runs: list[RunResults]) -> dict:
    """Settings as recorded by the runs themselves (metrics.json, env.json), each a sorted list of the
    distinct values found, so that a report mixing settings shows it."""
    seeds = [s for r in runs for s in r.ok_seeds]
    envs = [s.env for r in runs for s in r.seeds.values() if s.env]
    commits = _distinct(f"{e['git_commit']}{' (dirty)' if e.get('git_dirty') else ''}"
                        for e in envs if e.get("git_commit"))
    return {
        "profiles": _distinct(s.metrics.get("profile") for s in seeds),
        "selection": _distinct(s.metrics.get("selection") for s in seeds),
        "eval_window": _distinct(s.metrics.get("eval_window") for s in seeds),
        "eval_stride": _distinct(s.metrics.get("eval_stride") for s in seeds),
        "tta": _distinct(s.metrics.get("tta") for s in seeds),
        "commits": commits,
        "devices": _distinct(e.get("device_name") or e.get("device") for e in envs),
    }


def missing_seeds(runs: list[RunResults]) -> list[dict]:
    return [{"run": r.name, "seed": s.seed, "problem": s.problem, "path": str(s.path)}
            for r in runs for s in r.problems]


class DirtyTreeError(RuntimeError):
    """The checkout that would render the report has uncommitted changes."""


def check_tree(tree: dict, allow_dirty: bool) -> None:
    if tree["dirty"] and not allow_dirty:
        raise DirtyTreeError(
            f"{REPO}: uncommitted changes ({', '.join(tree['changed'])}{', ...' if len(tree['changed']) == 5 else ''}); "
            "a report must name the commit that made it: commit them, or pass --allow-dirty (the report is then "
            "marked as rendered from a dirty tree)")
