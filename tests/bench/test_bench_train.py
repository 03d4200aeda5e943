"""`ms2mnet bench train`: training throughput and evaluation time, on the CPU at tiny sizes."""

import json
import math

import pytest
import torch
from torch import nn

from ms2mnet.bench.train import SyntheticTiles, bench_train, model_criterion
from ms2mnet.cli import main
from ms2mnet.engine.inference import window_corners
from ms2mnet.models import register_model, registry

TINY = {"size": 32, "batch": 2, "warmup": 0, "steps": 1, "tiles": 1, "tile_size": (70, 40), "window": 32,
        "stride": 16, "eval_batch": 4}


class TwoHeads(nn.Module):
    """Main and one auxiliary output in train mode, main alone in eval mode (as the suite's models do)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.main, self.aux = nn.Conv2d(4, num_classes, 3, padding=1), nn.Conv2d(4, num_classes, 1)

    def forward(self, image, dsm):
        x = torch.cat([image, dsm], 1)
        return (self.main(x), self.aux(x)) if self.training else self.main(x)


@pytest.fixture(scope="module")
def weighted_model():
    """A test model trained with median-frequency weighted CE and one aux head (as FuseNet-style baselines)."""
    register_model("benchweighted", loss="ce", loss_weights={"class_weights": "median_frequency"},
                   aux_weights=(0.5,))(lambda num_classes=6, pretrained=False: TwoHeads(num_classes))
    yield "benchweighted"
    registry._REGISTRY.pop("benchweighted")


def test_ms2mnet_loss_is_its_registered_one():
    criterion, note = model_criterion("ms2mnet", "potsdam", 6)
    assert criterion.aux_weights == (0.4, 0.2) and len(criterion.stages) == 3 and note == ""
    assert model_criterion("ms2mnet", "vaihingen", 6)[0].aux_weights == (0.3, 0.2)


@pytest.mark.slow   # one MS2MNet step takes seconds on a shared 2-core CPU, even at 32x32
def test_ms2mnet_with_its_staged_loss():
    # MS2MNet is slow on a CPU: its training step here; evaluation is timed on the test model below.
    record = bench_train("ms2mnet", "no_dfe", **TINY, amp=True, evaluation=False)
    assert record["loss"] == "paper" and record["variant"] == "no_dfe"
    assert record["precision"] == "float32" and not record["channels_last"]   # CUDA only, by default
    assert record["train_img_s"] > 0 and math.isfinite(record["last_loss"]) and "eval_s" not in record


def test_registered_loss_and_aux_weights(weighted_model):
    criterion, note = model_criterion(weighted_model, "vaihingen", 6)
    assert criterion.aux_weights == (0.5,) and criterion.class_weights.tolist() == [1.0] * 6
    assert "uniform" in note
    record = bench_train(weighted_model, **{**TINY, "tile_size": (20, 24)})   # a tile smaller than the window
    # padded to 32x32, the authors' starts range(0, 32, 16) clamp to 0 twice per axis: 4 visits of one window
    assert record["note"] == note and record["eval_windows"] == len(window_corners(32, 32, 32, 16)) == 4
    record = bench_train(weighted_model, **{**TINY, "tile_size": (70, 40)})
    assert record["eval_windows"] == len(window_corners(70, 40, 32, 16)) and record["eval_windows_s"] > 0


def test_training_steps_change_the_weights(weighted_model):
    torch.manual_seed(0)
    model = registry.build_model(weighted_model)
    before = [p.detach().clone() for p in model.parameters()]
    from ms2mnet.bench.train import training_throughput
    criterion, _ = model_criterion(weighted_model, "vaihingen", 6)
    training_throughput(model, criterion, torch.device("cpu"), batch=2, size=16, num_classes=6, warmup=0, steps=2,
                        amp=False, channels_last=False)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_synthetic_tiles_are_repeatable():
    tiles = SyntheticTiles(2, 10, 12)
    assert len(tiles) == 2 and tiles[1]["image"].shape == (3, 10, 12) and tiles[1]["label"].max() < 6
    assert torch.equal(tiles[0]["dsm"], tiles[0]["dsm"]) and not torch.equal(tiles[0]["dsm"], tiles[1]["dsm"])


def test_cli_writes_the_record(weighted_model, tmp_path, capsys):
    out = tmp_path / "train.json"
    argv = ["bench", "train", "--model", "benchweighted", "--size", "16", "--batch", "2", "--steps", "1", "--warmup",
            "0", "--no-eval", "--device", "cpu", "--out", str(out)]
    assert main(argv) == 0
    record = json.loads(out.read_text())
    assert record["model"] == "benchweighted" and record["train_batch"] == 2 and "eval_s" not in record
    assert "| benchweighted |  |" in capsys.readouterr().out


def test_cli_rejects_a_bad_tile_size():
    with pytest.raises(SystemExit):
        main(["bench", "train", "--tile-size", "2494"])
