"""End to end on the tiny profile: one run per official-recipe family, and selection=authors through an
interrupted and resumed run. The two-layer test model (tests/extra_models/tinyseg.py) keeps each run to
about a second; the recipes are the real registrations'."""

import dataclasses
import json

import pytest

from ms2mnet.data.sampling import RandomCrops
from ms2mnet.engine.checkpoint import load_checkpoint
from ms2mnet.experiment import Selection, run
from ms2mnet.models import get_model, import_model_module, registry


# One model per family: SGD + MultiStepLR (the SSRS lineage and MS2MNet), AdamW + Lookahead + cosine
# restarts + groups, Nesterov SGD + OneCycle, Adamax + poly, SGD + poly with Caffe's bias rules.
@pytest.mark.parametrize("family", ["cmfnet", "unetformer", "esanet", "cmgfnet", "fusenet"])
def test_an_official_recipe_trains_end_to_end(family, tinyseg, tmp_path, monkeypatch):
    import_model_module("extra_models.tinyseg")
    entry = get_model("tinyseg")
    recipe = get_model(family).recipe
    monkeypatch.setitem(registry._REGISTRY, "tinyseg", dataclasses.replace(entry, recipe=recipe))
    metrics = run(tinyseg("recipe=official", "profile.train.epochs=1"))
    assert metrics["recipe"] == "official" and metrics["train_precision"] == "fp32"
    run_dir = tmp_path / "synthetic" / "tiny" / "tinyseg" / "seed0"
    saved = load_checkpoint(run_dir / "checkpoint.pt")
    fingerprint = saved["fingerprint"]
    assert fingerprint["recipe"] == "official" and saved["iteration"] == 3        # tiny keeps its length
    for key in ("optimizer", "lr", "schedule", "weight_decay"):
        assert fingerprint[f"profile.train.{key}"] == recipe.train[key], key
    assert fingerprint["profile.train.crop"] == 32                                  # recipe_keeps: crop


def test_official_needs_a_recipe(tinyseg):
    with pytest.raises(ValueError, match="registers no official recipe; use recipe=protocol"):
        run(tinyseg("recipe=official", "profile.train.epochs=1"))


def test_authors_selection_survives_an_interruption(tinyseg, tmp_path, monkeypatch):
    """Evaluate every 2 iterations (tiny: 2 epochs of 3), keep the best OA; a crash after iteration 4 and a
    resume judge iterations 2, 4 before and 6 after, and choose as the uninterrupted run does."""
    overrides = ("selection=authors", "profile.train.epochs=2")
    judged = []
    original_judge = Selection.judge

    def judge(self, epoch, iteration):
        judged.append(iteration)
        original_judge(self, epoch, iteration)

    monkeypatch.setattr(Selection, "judge", judge)
    uninterrupted = run(tinyseg(*overrides, "paths.runs=" + str(tmp_path / "a")))
    assert judged == [2, 4, 6] and uninterrupted["selection_metric"] == "oa"
    assert uninterrupted["selected_iteration"] in (2, 4, 6)

    original = RandomCrops.__getitem__

    def crash(self, index):               # the 2nd batch of epoch 2 is iteration 5
        if self.epoch == 1 and index == 2:
            raise KeyboardInterrupt
        return original(self, index)

    judged.clear()
    monkeypatch.setattr(RandomCrops, "__getitem__", crash)
    with pytest.raises(KeyboardInterrupt):
        run(tinyseg(*overrides, "paths.runs=" + str(tmp_path / "b")))
    monkeypatch.setattr(RandomCrops, "__getitem__", original)
    assert judged == [2, 4]
    judged.clear()
    resumed = run(tinyseg(*overrides, "paths.runs=" + str(tmp_path / "b")))
    assert judged == [6]
    for key in ("selected_iteration", "selected_epoch", "oa", "miou", "confusion_matrix"):
        assert resumed[key] == uninterrupted[key], key
    saved = json.loads((tmp_path / "b" / "synthetic" / "tiny" / "tinyseg" / "seed0" / "metrics.json").read_text())
    assert saved["selection"] == "authors" and "test set" in saved["warning"]
