"""DSM robustness modes: each changes the DSM exactly as it says, and nothing else."""

import numpy as np
import pytest
import torch

from ms2mnet.engine.robustness import DsmMode, PerturbedTiles, parse_dsm_mode, perturb_dsm

DSM = torch.arange(1 * 6 * 8, dtype=torch.float32).reshape(1, 6, 8) / 48


def test_parsing_names_every_mode_and_refuses_the_rest():
    assert parse_dsm_mode("clean") == DsmMode("clean") and parse_dsm_mode("zero") == DsmMode("zero")
    assert parse_dsm_mode("noise:0.1") == DsmMode("noise", 0.1) and parse_dsm_mode("shift:8") == DsmMode("shift", 8)
    assert parse_dsm_mode("stale:area5") == DsmMode("stale", "area5")
    assert parse_dsm_mode("noise:0.1").name == "noise_0.1" and str(parse_dsm_mode("shift:8")) == "shift:8"
    for bad in ("noisy", "noise:", "noise:0", "shift:0", "shift:-2", "stale:"):
        with pytest.raises(ValueError, match="eval.dsm="):
            parse_dsm_mode(bad)


def test_clean_and_zero():
    assert perturb_dsm(DSM, DsmMode("clean"), "t") is DSM
    zero = perturb_dsm(DSM, DsmMode("zero"), "t")
    assert zero.shape == DSM.shape and not zero.any()


def test_noise_adds_seeded_gaussian_noise_of_that_sigma():
    noisy = perturb_dsm(torch.zeros(1, 200, 200), DsmMode("noise", 0.1), "tileA")
    assert abs(noisy.std().item() - 0.1) < 0.005 and abs(noisy.mean().item()) < 0.005
    assert torch.equal(noisy, perturb_dsm(torch.zeros(1, 200, 200), DsmMode("noise", 0.1), "tileA"))  # seeded
    assert not torch.equal(noisy, perturb_dsm(torch.zeros(1, 200, 200), DsmMode("noise", 0.1), "tileB"))


def test_shift_moves_down_and_right_and_repeats_the_edge():
    shifted = perturb_dsm(DSM, DsmMode("shift", 2), "t")
    assert torch.equal(shifted[:, 2:, 2:], DSM[:, :-2, :-2])           # the content, moved by 2 and 2
    assert torch.equal(shifted[:, :2, 2:], DSM[:, :1, :-2].expand(1, 2, 6))   # top rows repeat the first row
    assert torch.equal(shifted[:, :, :2], shifted[:, :, 2:3].expand(1, 6, 2))  # left columns repeat
    with pytest.raises(ValueError, match="only 6x8"):
        perturb_dsm(DSM, DsmMode("shift", 6), "t")


def test_stale_takes_another_tiles_dsm_cut_or_padded_to_size():
    other = torch.rand(1, 4, 10)
    stale = perturb_dsm(DSM, DsmMode("stale", "b"), "a", other)
    assert stale.shape == DSM.shape
    assert torch.equal(stale[:, :4, :], other[:, :, :8])                 # cut to the width
    assert torch.equal(stale[:, 4:, :], other[:, 3:4, :8].expand(1, 2, 8))  # padded by its last row


class Tiles:
    def __len__(self):
        return 1

    def __getitem__(self, index):
        return {"name": "a", "image": torch.ones(3, 6, 8), "dsm": DSM.clone(), "label": torch.zeros(6, 8)}


class Store:
    def tiles(self, split):
        return ["b"] if split == "train" else ["a"]

    def tile(self, name):
        return type("Tile", (), {"dsm": np.full((6, 8), 0.5, dtype=np.float16)})


@pytest.mark.parametrize("mode", ["zero", "noise:0.2", "shift:1", "stale:b"])
def test_only_the_dsm_changes(mode):
    sample = PerturbedTiles(Tiles(), parse_dsm_mode(mode), Store())[0]
    assert torch.equal(sample["image"], torch.ones(3, 6, 8)) and not sample["label"].any()
    assert not torch.equal(sample["dsm"], DSM)
    if mode == "stale:b":
        assert torch.all(sample["dsm"] == 0.5)


def test_stale_refuses_an_unknown_tile_or_the_tile_itself():
    with pytest.raises(ValueError, match="stale:nope: no such tile"):
        PerturbedTiles(Tiles(), parse_dsm_mode("stale:nope"), Store())
    with pytest.raises(ValueError, match="is a test tile itself"):
        PerturbedTiles(Tiles(), parse_dsm_mode("stale:a"), Store())[0]
