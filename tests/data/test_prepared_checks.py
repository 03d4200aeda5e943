"""Prepared data is one consistent set: options recorded per tile, the manifest written last and checked
against its tiles, every tile validated when opened (issue 22, cases 3 and 7)."""

import json
import shutil

import numpy as np
import pytest

import ms2mnet.data.prepare as prepare_module
from ms2mnet.data.prepare import prepare
from ms2mnet.data.specs import DataError, MissingDataError
from ms2mnet.data.store import TileStore


@pytest.fixture(scope="module")
def prepared_once(tmp_path_factory):
    """The tiny synthetic set prepared once (min-max DSM); tests copy it before breaking it."""
    from ms2mnet.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("prepared_once")
    write_dataset("synthetic", root / "raw" / "synthetic", tile_size=(48, 64))
    prepare("synthetic", root / "raw", root / "out")
    return root


@pytest.fixture
def copy(prepared_once, tmp_path):
    """A private copy of the prepared set (out/) and its archives (raw/, which a prepare writes to)."""
    shutil.copytree(prepared_once, tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def out(prepared_once, tmp_path):
    """A private copy of the prepared set alone: out/synthetic."""
    shutil.copytree(prepared_once / "out" / "synthetic", tmp_path / "synthetic")
    return tmp_path / "synthetic"


def test_an_interrupted_prepare_with_another_scaling_leaves_no_mixed_set(copy, monkeypatch):
    """Case 3: killed halfway through re-preparing with percentile_minmax, the old manifest must not describe
    the mix of tiles; a run refuses it; the completed prepare records the options per tile and manifest."""
    out = copy / "out" / "synthetic"
    old_manifest = (out / "manifest.json").read_text()
    write_tile, written = prepare_module.write_tile, []

    def killed_after_six(*args):
        if len(written) == 6:
            raise KeyboardInterrupt
        written.append(args[1])
        write_tile(*args)

    monkeypatch.setattr(prepare_module, "write_tile", killed_after_six)
    with pytest.raises(KeyboardInterrupt):
        prepare("synthetic", copy / "raw", copy / "out", dsm_scaling="percentile_minmax")
    with pytest.raises(MissingDataError, match="no manifest"):
        TileStore(out)
    (out / "manifest.json").write_text(old_manifest)    # even the old manifest put back is caught
    with pytest.raises(DataError, match=f"tiles {written[0]}.*other options than manifest.json"):
        TileStore(out).check()

    monkeypatch.setattr(prepare_module, "write_tile", write_tile)
    prepare("synthetic", copy / "raw", copy / "out", dsm_scaling="percentile_minmax")
    store = TileStore(out)
    store.check()
    assert store.manifest["options"]["dsm_scaling"] == "percentile_minmax"
    for tile in store.manifest["tiles"]:
        assert json.loads((out / tile / "meta.json").read_text())["options"]["dsm_scaling"] == "percentile_minmax"


def test_a_truncated_array_is_never_unchanged(copy):
    """Case 7: a second prepare re-prepares a tile whose image.npy was cut short."""
    path = copy / "out" / "synthetic" / "area1" / "image.npy"
    path.write_bytes(path.read_bytes()[:-100])
    summary = prepare("synthetic", copy / "raw", copy / "out")
    assert summary.prepared == ["area1"]
    TileStore(copy / "out" / "synthetic").check()


def _replace(out, tile, name, array):
    np.save(out / tile / f"{name}.npy", array)


@pytest.mark.parametrize("name, make, message", [
    ("image", lambda a: a.astype(np.float32) / 255, "image.npy: float32 of shape .* expected uint8"),
    ("image", lambda a: np.ascontiguousarray(a.transpose(2, 0, 1)), "image.npy: channels first"),
    ("dsm", lambda a: (a.astype(np.float32) * 30 + 250).astype(np.float16),      # metres
     "dsm.npy: values from 2.*expected a scaled"),
    ("label", lambda a: a[:-1], "label.npy: uint8 of shape \\(47, 64\\)"),
    ("label_eroded", lambda a: np.where(a == 1, 7, a).astype(np.uint8), "label_eroded.npy: values 7 are no class"),
])
def test_foreign_arrays_are_refused_naming_tile_and_file(out, name, make, message):
    """Case 7: an image stored as floats in [0, 1] or channels first, a DSM in metres, labels of another
    shape or with values that are no class."""
    _replace(out, "area1", name, make(np.load(out / "area1" / f"{name}.npy")))
    with pytest.raises(DataError, match=f"area1/{message}") as info:
        TileStore(out).check()
    assert "\n" not in str(info.value) and "prepare synthetic" in str(info.value)


@pytest.mark.parametrize("content, message", [
    (lambda b: b[:60], "area1/dsm.npy: truncated or not a .npy array"),
    (lambda b: b"garbage" * 20, "area1/dsm.npy: truncated or not a .npy array"),
])
def test_truncated_or_garbage_npy_names_the_file(out, content, message):
    path = out / "area1" / "dsm.npy"
    path.write_bytes(content(path.read_bytes()))
    with pytest.raises(DataError, match=message) as info:
        TileStore(out).tile("area1")
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ('{"dataset": "synthetic", "splits": ', "manifest.json: not valid JSON"),
    ("[1, 2]", "manifest.json: holds a JSON list, expected an object"),
    ('{"splits": {"train": ["area1"]}, "tiles": {}}', "tiles area1 have no shape"),
])
def test_a_broken_manifest_is_refused_in_one_line(out, text, message):
    (out / "manifest.json").write_text(text)
    with pytest.raises(DataError, match=message):
        TileStore(out)
