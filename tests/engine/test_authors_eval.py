"""The evaluator is the authors' test(): same windows (repeats included), summed raw logits, argmax,
one confusion matrix; benchmarks/host_copy_eval.py is their loop, rewritten, to compare against."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ms2mnet.data.dsm import scale_dsm
from ms2mnet.engine.evaluate import EvalSettings, evaluate, tile_results
from ms2mnet.engine.inference import authors_starts, sliding_window_logits, window_corners

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from host_copy_eval import host_copy_predict, their_confusion, their_dsm, their_windows  # noqa: E402

sys.path.remove(str(REPO / "benchmarks"))
WINDOW, STRIDE = 32, 12          # 70 and 53 are not multiples of 12: edge windows repeat


class ContextNet(nn.Module):
    """3x3 convolutions with zero padding: a pixel's logits depend on where the window cuts the tile."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 6, 3, padding=1))

    def forward(self, image, dsm):
        return self.body(torch.cat([image, dsm], 1))


class Ones(nn.Module):
    def forward(self, image, dsm):
        return torch.ones(image.shape[0], 6, *image.shape[-2:])


def test_window_starts_are_the_authors_with_repeats():
    assert authors_starts(100, 64, 24) == [0, 24, 36, 36, 36]          # range(0, 100, 24), clamped to 36
    assert authors_starts(64, 64, 32) == [0, 0]
    assert window_corners(70, 53, WINDOW, STRIDE) == list(their_windows(70, 53, WINDOW, STRIDE))
    assert window_corners(70, 53, WINDOW, STRIDE, "unique") == [(y, x) for y in (0, 12, 24, 36, 38)
                                                                  for x in (0, 12, 21)]
    counts = sliding_window_logits(Ones(), torch.rand(3, 70, 53), torch.rand(1, 70, 53), 6, window=WINDOW,
                                   stride=STRIDE, batch_size=7)
    # The bottom-right pixel lies in the last window of each axis only, visited for starts 48, 60 (-> 38) and
    # 24, 36, 48 (-> 21): its logits are summed 2 x 3 times.
    assert authors_starts(70, WINDOW, STRIDE) == [0, 12, 24, 36, 38, 38]
    assert authors_starts(53, WINDOW, STRIDE) == [0, 12, 21, 21, 21]
    assert counts[0, -1, -1].item() == 6 and counts.dtype == torch.float64


@pytest.fixture(scope="module")
def tiles():
    generator = torch.Generator().manual_seed(0)
    out = []
    for index, (h, w) in enumerate([(70, 53), (45, 81)]):
        label = torch.randint(0, 6, (h, w), generator=generator)
        label[:5] = 255                                                    # undefined pixels are left out
        raw_dsm = torch.rand(h, w, generator=generator).numpy() * 30 + 250   # heights in metres
        dsm, _ = scale_dsm(raw_dsm, "minmax", "test")                      # the suite's stored DSM (float16)
        out.append({"name": f"t{index}", "image": torch.rand(3, h, w, generator=generator),
                    "dsm": torch.from_numpy(dsm.astype(np.float32))[None], "label": label, "raw_dsm": raw_dsm})
    return out


def test_evaluator_equals_the_authors_loop(tiles):
    torch.manual_seed(0)
    model = ContextNet().eval()
    settings = EvalSettings(WINDOW, STRIDE, batch_size=5)
    ours = list(tile_results(model, tiles, torch.device("cpu"), settings))
    theirs = [host_copy_predict(model, t["image"].permute(1, 2, 0).numpy(), their_dsm(t["dsm"][0].numpy()), 6,
                                WINDOW, STRIDE, 5, torch.device("cpu")) for t in tiles]
    for mine, their in zip(ours, theirs):
        assert np.array_equal(mine.prediction.numpy(), their)
    truths = [t["label"].numpy() for t in tiles]
    matrix = their_confusion(theirs, truths, 6)
    assert np.array_equal(sum(r.confusion for r in ours).numpy(), matrix)
    metrics = evaluate(model, tiles, torch.device("cpu"), settings)
    assert np.array_equal(np.array(metrics["confusion_matrix"]), matrix)
    assert metrics["oa"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert (metrics["eval_windows"], metrics["eval_combine"], metrics["eval_precision"]) == ("authors", "logits", "fp32")
    # the de-duplicated windows count each edge window once: other sums, so other maps at the edges
    unique = list(tile_results(model, tiles, torch.device("cpu"), EvalSettings(WINDOW, STRIDE, 5, windows="unique")))
    assert any(not torch.equal(a.prediction, b.prediction) for a, b in zip(ours, unique))


def test_stored_dsm_is_their_normalisation_to_float16(tiles):
    for tile in tiles:
        theirs = their_dsm(tile["raw_dsm"])
        np.testing.assert_allclose(tile["dsm"][0].numpy(), theirs, atol=2 ** -11)     # float16 rounding only
        assert np.array_equal(their_dsm(tile["dsm"][0].numpy()), tile["dsm"][0].numpy())   # already in [0, 1]


def test_options_are_checked():
    with pytest.raises(ValueError, match="eval.windows"):
        window_corners(64, 64, 32, 16, "dedup")
    with pytest.raises(ValueError, match="eval.combine"):
        sliding_window_logits(Ones(), torch.rand(3, 8, 8), torch.rand(1, 8, 8), 6, window=8, stride=8,
                              batch_size=1, combine="mean")
