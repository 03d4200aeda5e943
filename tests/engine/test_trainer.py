"""The training loop: it learns, it resumes exactly, and it stops on a non-finite loss."""

import pytest
import torch

from ms2mnet.data.sampling import RandomCrops
from ms2mnet.data.store import TileStore
from ms2mnet.engine.checkpoint import load_checkpoint
from ms2mnet.engine.losses import DeepSupervisionLoss
from ms2mnet.engine.trainer import CHECKPOINT, NonFiniteLossError, TrainSettings, train
from ms2mnet.models import build_model


def settings(**changes) -> TrainSettings:
    base = dict(crop=32, batch_size=2, epochs=2, iterations_per_epoch=3, milestones=(1,), gamma=0.1, lr=0.01,
                momentum=0.9, weight_decay=5e-4, num_workers=0, checkpoint_every=2, log_every=1)
    return TrainSettings(**{**base, **changes})


def fresh_run(store, run_dir, s: TrainSettings, variant="full", **kwargs):
    torch.manual_seed(0)
    model = build_model("ms2mnet", variant=variant, num_classes=6)
    crops = RandomCrops(store, "train", s.crop, s.iterations_per_epoch * s.batch_size, seed=0)
    train(model, crops, DeepSupervisionLoss("ce", (0.3, 0.2)), s, run_dir, torch.device("cpu"), **kwargs)
    return model


@pytest.mark.slow      # 25 s; the default pipeline's demo shows learning at scale (reports/synthetic/demo)
def test_short_run_learns_beyond_the_majority_class(prepared, tmp_path):
    store = TileStore(prepared / "synthetic")
    s = settings(crop=64, batch_size=4, epochs=1, iterations_per_epoch=30, milestones=(5,), lr=0.02)
    model = fresh_run(store, tmp_path, s, variant="no_vfe")
    losses = [float(line.split("\t")[-1]) for line in
              (tmp_path / "dvclive/plots/metrics/train/loss.tsv").read_text().splitlines()[1:]]
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5   # the loss falls by more than 30%
    crops = RandomCrops(store, "train", 64, 16, seed=0)
    batch = [crops[i] for i in range(16)]
    label = torch.stack([b["label"] for b in batch])
    with torch.no_grad():
        logits = model.eval()(torch.stack([b["image"] for b in batch]), torch.stack([b["dsm"] for b in batch]))
    valid = label != 255
    accuracy = (logits.argmax(1) == label)[valid].float().mean().item()
    majority = torch.bincount(label[valid]).max().item() / valid.sum().item()
    assert accuracy > majority + 0.05


def test_interrupted_then_resumed_run_ends_like_an_uninterrupted_one(prepared, tmp_path, monkeypatch):
    store = TileStore(prepared / "synthetic")
    s = settings()
    uninterrupted = fresh_run(store, tmp_path / "a", s)

    # Crash while loading the 2nd batch of epoch 2 (iteration 5): the checkpoint of iteration 4 is kept.
    original = RandomCrops.__getitem__

    def crash(self, index):
        if self.epoch == 1 and index == 2:
            raise KeyboardInterrupt
        return original(self, index)

    monkeypatch.setattr(RandomCrops, "__getitem__", crash)
    with pytest.raises(KeyboardInterrupt):
        fresh_run(store, tmp_path / "b", s)
    assert load_checkpoint(tmp_path / "b" / CHECKPOINT)["iteration"] == 4
    monkeypatch.setattr(RandomCrops, "__getitem__", original)
    resumed = fresh_run(store, tmp_path / "b", s)

    assert load_checkpoint(tmp_path / "b" / CHECKPOINT)["iteration"] == 6
    for (name, a), b in zip(uninterrupted.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(prepared, tmp_path, monkeypatch):
    store = TileStore(prepared / "synthetic")
    calls = []
    real_call = DeepSupervisionLoss.__call__

    def poisoned(self, outputs, target, epoch=1):
        calls.append(1)
        loss = real_call(self, outputs, target, epoch)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(DeepSupervisionLoss, "__call__", poisoned)
    with pytest.raises(NonFiniteLossError, match="iteration 3 .*last good checkpoint"):
        fresh_run(store, tmp_path, settings())
    assert load_checkpoint(tmp_path / CHECKPOINT)["iteration"] == 2
