import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ms2mnet.data.prepare import prepare
from ms2mnet.data.sampling import RandomCrops, WholeTiles, axis_starts, sliding_windows
from ms2mnet.data.specs import MissingDataError
from ms2mnet.data.store import TileStore


@pytest.fixture
def store(raw, tmp_path) -> TileStore:
    prepare("synthetic", raw, tmp_path / "out")
    return TileStore(tmp_path / "out" / "synthetic")


def test_store_memory_maps_tiles_and_pickles_without_data(store):
    tile = store.tile("area1")
    assert isinstance(tile.image, np.memmap) and tile.image.shape == (48, 64, 3)
    assert store.shape("area1") == (48, 64) and len(store.tiles("train")) == 12
    assert len(pickle.dumps(store)) < 10_000           # workers get paths, not arrays


def test_store_without_prepare_says_what_to_run(tmp_path):
    with pytest.raises(MissingDataError, match="ms2mnet prepare synthetic"):
        TileStore(tmp_path / "synthetic")


def test_crops_have_the_protocol_types_and_match_the_tile(store):
    crops = RandomCrops(store, crop_size=32, samples_per_epoch=50, seed=1, flips=False)
    sample = crops[0]
    assert sample["image"].shape == (3, 32, 32) and sample["image"].dtype == torch.float32
    assert sample["dsm"].shape == (1, 32, 32) and sample["label"].dtype == torch.int64
    assert 0 <= sample["image"].min() and sample["image"].max() <= 1
    # Without flips a crop is a window of some training tile: find it.
    label = sample["label"].numpy()
    hits = [(t, y, x) for t in store.tiles("train") for y in range(17) for x in range(33)
            if np.array_equal(store.tile(t).label[y:y + 32, x:x + 32], label)]
    assert hits
    t, y, x = hits[0]
    expected = store.tile(t).image[y:y + 32, x:x + 32].transpose(2, 0, 1) / 255
    assert np.allclose(sample["image"].numpy(), expected)


def test_crops_are_reproducible_per_seed_epoch_and_index(store):
    a = RandomCrops(store, crop_size=32, samples_per_epoch=20, seed=3)
    b = RandomCrops(store, crop_size=32, samples_per_epoch=20, seed=3)
    assert all(torch.equal(a[i]["image"], b[i]["image"]) for i in (0, 7, 19))
    assert not torch.equal(a[0]["image"], RandomCrops(store, crop_size=32, seed=4)[0]["image"])
    b.set_epoch(1)
    assert not torch.equal(a[5]["label"], b[5]["label"])
    with pytest.raises(IndexError):
        a[20]


def test_flips_happen_and_keep_image_and_label_aligned(store):
    # Crops as tall as the tiles (48): each is a window at some x, maybe flipped.
    crops = RandomCrops(store, crop_size=48, samples_per_epoch=40, seed=0)
    flips = {"none": lambda a: a, "v": lambda a: a[::-1], "h": lambda a: a[:, ::-1],
             "vh": lambda a: a[::-1, ::-1]}
    seen = set()
    for i in range(len(crops)):
        label, image = crops[i]["label"].numpy(), crops[i]["image"].numpy()
        for t in store.tiles("train"):
            src = store.tile(t)
            for x in range(64 - 48 + 1):
                for name, flip in flips.items():
                    if np.array_equal(flip(src.label[:, x:x + 48]), label) and np.allclose(
                            flip(src.image[:, x:x + 48]).transpose(2, 0, 1) / 255, image):
                        seen.add(name)
    assert seen == set(flips)


def test_crops_larger_than_a_tile_are_padded_with_ignore(store):
    sample = RandomCrops(store, crop_size=80, samples_per_epoch=1, flips=False)[0]
    assert sample["label"].shape == (80, 80)
    assert (sample["label"][48:] == 255).all() and (sample["label"][:, 64:] == 255).all()


def test_data_loader_gives_the_same_batches_with_0_and_2_workers(store):
    crops = RandomCrops(store, crop_size=32, samples_per_epoch=24, seed=7)

    def batches(workers):
        loader = DataLoader(crops, batch_size=6, num_workers=workers)
        return [b["image"] for b in loader], [b["label"] for b in loader]

    (img0, lab0), (img2, lab2) = batches(0), batches(2)
    assert all(torch.equal(a, b) for a, b in zip(img0 + lab0, img2 + lab2))


@pytest.mark.parametrize("size,window,stride", [(48, 16, 8), (50, 16, 8), (100, 32, 30),
                                                (256, 256, 32), (20, 256, 32), (257, 256, 64)])
def test_axis_starts_cover_every_pixel_and_end_at_the_edge(size, window, stride):
    starts = axis_starts(size, window, stride)
    covered = np.zeros(size, bool)
    for s in starts:
        covered[s:s + window] = True
        assert s >= 0
    assert covered.all() and starts[0] == 0
    assert starts[-1] == max(size - window, 0) and starts == sorted(set(starts))
    assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


def test_sliding_windows_cover_a_whole_tile_including_right_and_bottom_edges():
    h, w, window = 2064, 2494 - 7, 256
    hits = np.zeros((h, w), np.int32)
    windows = sliding_windows(h, w, window, 32)
    for y, x in windows:
        hits[y:y + window, x:x + window] += 1
    assert hits.min() >= 1 and (windows[-1][0] + window, windows[-1][1] + window) == (h, w)
    assert sliding_windows(40, 30, 256, 32) == [(0, 0)]


def test_whole_tiles_use_the_eroded_labels(store):
    tiles = WholeTiles(store, "test")
    assert len(tiles) == 4
    sample = tiles[0]
    assert sample["name"] == "area5" and sample["image"].shape == (3, 48, 64)
    assert np.array_equal(sample["label"].numpy(), store.tile("area5").label_eroded)
