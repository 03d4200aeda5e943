"""The paper route: `ms2mnet run --run <name> profile=paper` starts every model from the files its
registration declares, in their real formats, or refuses before it writes anything.

The schedule is shrunk by overrides only (no training: `profile.train.epochs=0`, so the run evaluates
the model as initialised; small evaluation windows); the model, its options and the profile's weights
resolution are the paper's. The built model is captured at `experiment.build` and compared tensor by
tensor with the files. Two models run in the fast suite (MS2MNet's two ResNet-50 trunks with the mean DSM
stem; RS3Mamba's two files, a legacy-pickle swsl ResNet-18 and a VMamba checkpoint carrying its config
object); `pytest -m slow tests/weights` runs the seven others (ESANet's own layout and summed stem, the
BiT/ViT .npz, the VGG-16-BN models, CMGFNet, UNetFormer).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from ms2mnet import experiment
from ms2mnet.cli import main
from ms2mnet.models import get_model, list_models, registry, run_name, shipped_models
from ms2mnet.weights import sha256_of

from weights_formats import FORMATS

SHRUNK = ["profile.train.epochs=0", "profile.train.crop=64", "profile.train.num_workers=0", "profile.eval.window=64",
          "profile.eval.stride=64", "profile.eval.batch_size=4", "profile.eval.figure_crop=64", "device=cpu"]
FAST = ("ms2mnet", "rs3mamba")


def paper_run(name: str, prepared: Path, runs: Path, weights: Path, *extra: str) -> int:
    return main(["run", "--run", name, "profile=paper", f"paths.prepared={prepared}", f"paths.runs={runs}",
                 f"paths.weights={weights}", *SHRUNK, *extra])


@pytest.fixture
def captured(monkeypatch) -> list:
    """The networks `ms2mnet run` builds, in order."""
    models, build = [], experiment.build
    monkeypatch.setattr(experiment, "build", lambda cfg, files=None: models.append(build(cfg, files)) or models[-1])
    return models


def declare_hashes_of(model: str, weights: Path, monkeypatch) -> None:
    """The seeded files are not the published ones: declare their hashes instead, so the hash check runs."""
    entry = get_model(model)
    declared = tuple(dataclasses.replace(d, sha256=sha256_of(weights / d.file)) for d in entry.weights)
    monkeypatch.setitem(registry._REGISTRY, model, dataclasses.replace(entry, weights=declared))


def check_paper_route(model: str, prepared: Path, tmp_path: Path, captured: list, monkeypatch) -> None:
    write, check = FORMATS[model]
    weights = tmp_path / "weights"
    weights.mkdir()
    reference = write(weights)
    assert sorted(p.name for p in weights.iterdir()) == sorted(d.file for d in get_model(model).weights)
    declare_hashes_of(model, weights, monkeypatch)
    assert paper_run(model, prepared, tmp_path / "runs", weights) == 0
    check({k: v.detach() for k, v in captured[-1].state_dict().items()}, reference)
    run_dir = tmp_path / "runs" / "synthetic" / "paper" / run_name(model) / "seed0"
    expected = [{"file": d.file, "sha256": sha256_of(weights / d.file)} for d in get_model(model).weights]
    for record in (yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["init"],
                   json.loads((run_dir / "env.json").read_text())["init"],
                   json.loads((run_dir / "metrics.json").read_text())["init"]):
        assert [{"file": r["file"], "sha256": r["sha256"]} for r in record] == expected
    assert json.loads((run_dir / "metrics.json").read_text())["init_as_paper"] is True


@pytest.mark.parametrize("model", FAST)
def test_the_paper_route_starts_from_the_declared_files(model, prepared_synthetic, tmp_path, captured, monkeypatch):
    check_paper_route(model, prepared_synthetic, tmp_path, captured, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("model", [m for m in FORMATS if m not in FAST])
def test_the_paper_route_of_every_other_model(model, prepared_synthetic, tmp_path, captured, monkeypatch):
    check_paper_route(model, prepared_synthetic, tmp_path, captured, monkeypatch)


def test_every_registered_model_has_a_format_test():
    assert sorted(FORMATS) == sorted(shipped_models())


def test_without_the_files_the_run_refuses_in_one_line_and_leaves_no_folder(prepared_synthetic, tmp_path,
                                                                             capsys):
    assert paper_run("esanet", prepared_synthetic, tmp_path / "runs", tmp_path / "weights") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    message = err[0]
    assert "r34_NBt1D.pth" in message
    assert "missing" in message and "ms2mnet weights fetch esanet" in message and "model.pretrained=false" in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*"))


def test_model_pretrained_false_trains_from_scratch_and_says_so(prepared_synthetic, tmp_path, captured):
    assert paper_run("unetformer", prepared_synthetic, tmp_path / "runs", tmp_path / "weights",
                     "model.pretrained=false", "profile.train.epochs=1", "profile.train.iterations_per_epoch=1",
                     "profile.train.batch_size=2", "profile.train.crop=32", "profile.train.milestones=[1]") == 0
    run_dir = tmp_path / "runs" / "synthetic" / "paper" / "unetformer" / "seed0"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["init"] == "scratch" and metrics["init_label"] == "scratch" and metrics["init_as_paper"] is False
    assert json.loads((run_dir / "env.json").read_text())["init"] == "scratch"
