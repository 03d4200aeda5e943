"""dvc.yaml: valid, with the DAG fetch -> prepare -> run (runs x seeds), complexity and smoke (the whole smoke
pass, its complexity too) -> report."""

from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

from ms2mnet.models import get_model, list_models, parse_run, run_name

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pipeline():
    repo = Repo(str(REPO))
    stages = {s.addressing: s for s in repo.index.stages}
    edges = {(a.addressing, b.addressing) for a, b in repo.index.graph.edges()}  # (dependent, dependency)
    return stages, edges, yaml.safe_load((REPO / "params.yaml").read_text())


def test_default_runs_are_every_registered_model_and_variant(pipeline):
    """The demo runs (3 seeds at least, the DSM pair and both kinds of baseline) and the smoke pass together
    cover every registered model and variant, each once."""
    _, _, params = pipeline
    suite = {run_name(name, variant) for name, variants in list_models().items()
             if get_model(name).module.startswith(("ms2mnet.", "baselines.")) for variant in variants}
    demo, smoke = params["runs"], params["smoke"]["runs"]
    assert set(demo) | set(smoke) == suite and not set(demo) & set(smoke)
    assert all(run_name(*parse_run(run)) == run for run in demo + smoke)
    assert {"ms2mnet-full", "ms2mnet-rgb_only", "unetformer"} <= set(demo) and len(params["seeds"]) >= 3
    assert params["profile"] == "demo" and params["smoke"]["profile"] == "smoke"


def test_matrix_lists_every_run_and_seed_and_the_smoke_pass_is_one_stage(pipeline):
    stages, _, params = pipeline
    runs = {f"run@{r}-{s}" for r in params["runs"] for s in params["seeds"]}
    assert set(stages) == {"fetch", "prepare", "weights", "complexity", "smoke", "report"} | runs
    assert stages["complexity"].cmd == "ms2mnet complexity --params params.yaml"
    assert stages["smoke"].cmd == ("ms2mnet run --params params.yaml --params-section smoke"
                                   " && ms2mnet complexity --params params.yaml --params-section smoke")


def test_dag(pipeline):
    stages, edges, _ = pipeline
    runs = {name for name in stages if name.startswith("run@")} | {"smoke"}
    assert ("prepare", "fetch") in edges
    assert {(run, "prepare") for run in runs} <= edges
    assert {(run, "weights") for run in runs - {"smoke"}} <= edges   # the files the profile needs; none for smoke
    assert {("report", run) for run in runs | {"complexity"}} <= edges
    assert all(dependent != "fetch" for dependent, _ in edges)
    assert ("complexity", "prepare") not in edges


def test_no_stage_reads_the_launcher_configs(pipeline):
    stages, _, _ = pipeline
    for name, stage in stages.items():
        for dep in stage.deps:
            relative = Path(str(dep.fs_path)).resolve().relative_to(REPO).as_posix()
            assert relative not in ("conf", ".") and not relative.startswith("conf/hydra"), (name, relative)


def test_params_hold_only_what_the_pipeline_iterates_over(pipeline):
    _, _, params = pipeline
    assert set(params) == {"dataset", "profile", "runs", "seeds", "smoke"}
    assert set(params["smoke"]) == {"profile", "runs", "seeds"}


def test_stages_declare_metrics_and_plots(pipeline):
    stages, _, params = pipeline
    run = stages[f"run@{params['runs'][0]}-{params['seeds'][0]}"]
    assert any(str(o).endswith("metrics.json") for o in run.outs if o.metric)
    assert any("dvclive" in str(o) for o in run.outs if o.plot)
    metrics = [Path(str(o.fs_path)).resolve().relative_to(REPO).as_posix() for o in stages["complexity"].outs if o.metric]
    assert metrics == [f"runs/{params['dataset']}/{params['profile']}/complexity"]


def test_checkpoint_and_curves_survive_a_stage_rerun(pipeline):
    """DVC deletes a stage's outputs before it reruns it, except `persist` ones: the checkpoint and the
    dvclive curves must be kept, so an interrupted `dvc repro` resumes; the rest is rewritten."""
    stages, _, params = pipeline
    run = stages[f"run@{params['runs'][0]}-{params['seeds'][0]}"]
    persisted = {Path(str(o)).name for o in run.outs if o.persist}
    assert persisted == {"checkpoint.pt", "metrics"}    # metrics: dvclive/plots/metrics
    assert all(f"/{params['profile']}/" in Path(str(o)).as_posix() for o in run.outs)
    smoke = stages["smoke"].outs   # the whole pass: its checkpoints too, so persisted and out of DVC's cache
    assert [Path(str(o)).as_posix() for o in smoke] == [f"runs/{params['dataset']}/{params['smoke']['profile']}"]
    assert smoke[0].persist and not smoke[0].use_cache


def test_reports_are_kept_per_dataset_and_profile(pipeline):
    """A repro never deletes another dataset's or profile's report: each report folder is its own
    persisted output, and reports/README.md (the index) is rewritten, not deleted first."""
    stages, _, params = pipeline
    outs = {Path(str(o.fs_path)).resolve().relative_to(REPO).as_posix(): o for o in stages["report"].outs}
    dataset = params["dataset"]
    for profile in (params["profile"], params["smoke"]["profile"]):
        assert outs[f"reports/{dataset}/{profile}"].persist
    assert outs["reports/README.md"].persist
    assert not any(name == "reports" for name in outs)
