"""Provenance: a report refuses a dirty checkout unless told, and then says so; latencies state their conditions."""

import subprocess

import pytest
import torch
from omegaconf import OmegaConf

from ms2mnet.checkout import source_tree
from ms2mnet.experiment import environment
from ms2mnet.report import render_report
from ms2mnet.report.main_table import latency_conditions
from ms2mnet.report.provenance import DirtyTreeError

from .run_fixtures import RUNS, SEEDS


def test_source_tree_sees_code_changes_but_not_the_pipelines_outputs(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)
    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "dvc.lock").write_text("a\n")
    git("add", ".")
    git("commit", "-qm", "c")
    (tmp_path / "dvc.lock").write_text("b\n")             # the pipeline rewrites it while it runs
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "README.md").write_text("new\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".gitignore").write_text("/raw\n")    # DVC lists its outputs there
    assert source_tree(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    tree = source_tree(tmp_path)
    assert tree["dirty"] is True and tree["changed"] == ["code.py"] and len(tree["commit"]) == 40
    assert source_tree(tmp_path / "reports" / "..")["commit"] == tree["commit"]

    # A run's env.json follows the same rule, so the runs of a `dvc repro` on a clean clone are not dirty.
    (tmp_path / "code.py").write_text("x = 1\n")
    monkeypatch.setattr("ms2mnet.experiment.REPO", tmp_path)
    env = environment(OmegaConf.create({"seed": 0}), torch.device("cpu"))
    assert (env["git_commit"], env["git_dirty"]) == (tree["commit"], False)


def test_a_dirty_tree_is_refused_unless_allowed_and_then_marked(fixture_runs, fixture_prepared, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setattr("ms2mnet.report.render.source_tree",
                        lambda: {"commit": "0123abc", "dirty": True, "changed": ["ms2mnet/x.py"]})
    with pytest.raises(DirtyTreeError, match=r"uncommitted changes \(ms2mnet/x.py\).*--allow-dirty"):
        render_report("synthetic", fixture_runs, fixture_prepared, tmp_path, RUNS, SEEDS, profile="smoke")
    assert not (tmp_path / "README.md").exists()
    render_report("synthetic", fixture_runs, fixture_prepared, tmp_path, RUNS, SEEDS, profile="smoke",
                  allow_dirty=True)
    text = (tmp_path / "README.md").read_text()
    assert "**Rendered from a dirty tree** (commit 0123abc" in text and "- Rendered from: 0123abc (dirty)" in text


def test_latency_states_its_conditions():
    latency = {"median_ms": 12.0, "runs": 20, "warmup": 5, "batch": 1, "precision": "amp-float16",
               "device": "cuda", "device_name": "NVIDIA H200", "threads": 16}
    assert latency_conditions(latency) == ("median of 20 runs after 5 warm-up, batch 1, amp-float16, NVIDIA H200, "
                                           "16 threads")
    assert latency_conditions({"median_ms": 3.0}) == "median of ? runs after ? warm-up, batch ?, ?, ?, ? threads"
