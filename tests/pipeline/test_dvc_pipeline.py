"""dvc.yaml: valid, with the DAG fetch -> prepare -> run (variants x seeds) -> report."""

from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

from ms2mnet.models import list_models

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pipeline():
    repo = Repo(str(REPO))
    stages = {s.addressing: s for s in repo.index.stages}
    edges = {(a.addressing, b.addressing) for a, b in repo.index.graph.edges()}  # (dependent, dependency)
    return stages, edges, yaml.safe_load((REPO / "params.yaml").read_text())


def test_matrix_lists_every_run_and_seed(pipeline):
    stages, _, params = pipeline
    assert params["variants"] == list_models()["ms2mnet"]
    assert len(params["seeds"]) >= 2
    runs = {f"run@{v}-{s}" for v in params["variants"] for s in params["seeds"]}
    assert set(stages) == {"fetch", "prepare", "report"} | runs


def test_dag_is_fetch_prepare_runs_report(pipeline):
    stages, edges, _ = pipeline
    runs = {name for name in stages if name.startswith("run@")}
    assert ("prepare", "fetch") in edges
    assert {(run, "prepare") for run in runs} <= edges
    assert {("report", run) for run in runs} <= edges
    assert all(dependent != "fetch" for dependent, _ in edges)


def test_params_hold_only_what_the_pipeline_iterates_over(pipeline):
    _, _, params = pipeline
    assert set(params) == {"dataset", "profile", "variants", "seeds"}


def test_run_stage_declares_metrics_and_plots(pipeline):
    stages, _, params = pipeline
    stage = stages[f"run@full-{params['seeds'][0]}"]
    metrics = [str(o) for o in stage.outs if o.metric]
    plots = [str(o) for o in stage.outs if o.plot]
    assert any(m.endswith("metrics.json") for m in metrics) and any(m.endswith("complexity.json") for m in metrics)
    assert any("dvclive" in p for p in plots)
