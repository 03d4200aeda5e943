import io
import json

import numpy as np
import pytest
import tifffile

import ms2mnet.data.prepare as prepare_module
from ms2mnet.data.fetch import CHECKSUMS
from ms2mnet.data.prepare import prepare
from ms2mnet.data.synthetic import write_dataset

from .archive_tools import read_member, rewrite_member, snapshot, tiff_bytes

MAIN = "ISPRS_semantic_labeling_Vaihingen.zip"


def test_prepared_vaihingen_arrays_meta_and_manifest(raw, tmp_path):
    summary = prepare("synthetic", raw, tmp_path / "out")
    out = tmp_path / "out" / "synthetic"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["protocol"] == "isprs-ssrs" and manifest["prepare_version"] >= 1
    assert manifest["splits"]["test"] == ["area5", "area21", "area15", "area30"]
    assert len(manifest["tiles"]) == 16 and len(summary.prepared) == 16
    image, dsm = np.load(out / "area1/image.npy"), np.load(out / "area1/dsm.npy")
    label, eroded = np.load(out / "area1/label.npy"), np.load(out / "area1/label_eroded.npy")
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
    assert dsm.dtype == np.float16 and dsm.shape == (48, 64) and dsm.min() == 0 and dsm.max() == 1
    assert label.dtype == np.uint8 and set(np.unique(label)) <= {0, 1, 2, 3, 4, 5}
    assert 255 in eroded and (eroded[eroded != 255] == label[eroded != 255]).all()
    meta = json.loads((out / "area1/meta.json").read_text())
    assert meta["dsm_normalisation"]["percentiles"] == [0.1, 99.9]
    assert meta["image_bands"] == "IR-R-G" and meta["shape"] == [48, 64]
    assert meta["sources"]["image"]["member"] == "top/top_mosaic_09cm_area1.tif"
    assert len(meta["sources"]["dsm"]["md5"]) == 32
    assert sum(meta["class_histogram"]["label"].values()) == 48 * 64
    # The image is the source TIFF's bands, unchanged.
    source = read_member(raw / "synthetic" / MAIN, "top/top_mosaic_09cm_area1.tif")
    assert np.array_equal(image, tifffile.imread(io.BytesIO(source)))
    assert "synthetic: 16 tiles" in summary.format() and "building" in summary.format()


def test_potsdam_bands_ndsm_and_label_defects_are_reported(raw, tmp_path):
    summary = prepare("synthetic-potsdam", raw, tmp_path / "out")
    out = tmp_path / "out" / "synthetic-potsdam"
    meta = json.loads((out / "4_12/meta.json").read_text())
    assert meta["labels"]["label"]["off_palette_pixels"] > 100
    assert meta["labels"]["label"]["unknown_colour_pixels"] == 0
    assert meta["image_bands"] == "R-G-B" and meta["dsm_normalisation"] == {"method": "divide_255"}
    cars = json.loads((out / "6_7/meta.json").read_text())
    assert cars["labels"]["label"]["off_palette_pixels"] == cars["class_histogram"]["label"]["car"] > 0
    assert any("4_12" in w and "off-palette" in w for w in summary.warnings)
    assert "warnings: 2" in summary.format()


def test_potsdam_one_column_short_dsm_is_cropped_and_recorded(tmp_path):
    write_dataset("synthetic-potsdam", tmp_path / "raw/synthetic-potsdam", tile_size=(48, 64),
                  tiles=3, short_dsm=("6_10",))
    summary = prepare("synthetic-potsdam", tmp_path / "raw", tmp_path / "out")
    tile = tmp_path / "out/synthetic-potsdam/6_10"
    meta = json.loads((tile / "meta.json").read_text())
    assert meta["shape"] == [48, 63] and meta["crop"]["from"]["dsm"] == [48, 63]
    assert meta["crop"]["from"]["image"] == [48, 64]
    assert all(np.load(tile / f"{a}.npy").shape[:2] == (48, 63)
               for a in ("image", "dsm", "label", "label_eroded"))
    assert any("6_10" in w and "cropped" in w for w in summary.warnings)


def test_second_prepare_skips_and_a_changed_source_is_prepared_again(raw, tmp_path):
    out = tmp_path / "out"
    prepare("synthetic", raw, out)
    before = snapshot(out / "synthetic")
    again = prepare("synthetic", raw, out)
    assert again.prepared == [] and len(again.skipped) == 16
    assert snapshot(out / "synthetic") == before
    archive = raw / "synthetic" / MAIN
    image = np.zeros((48, 64, 3), np.uint8)
    rewrite_member(archive, "top/top_mosaic_09cm_area3.tif", tiff_bytes(image))
    (raw / "synthetic" / CHECKSUMS).unlink()      # a new archive: its md5 is recorded again
    third = prepare("synthetic", raw, out)
    assert third.prepared == ["area3"]
    assert not np.load(out / "synthetic/area3/image.npy").any()
    after = snapshot(out / "synthetic")
    changed = {k.split("/")[0] for k in after if before.get(k) != after[k]}
    assert changed == {"area3"}


def test_interrupted_write_leaves_the_old_tile_and_no_half_tile(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    prepare("synthetic", raw, out)
    before = snapshot(out / "synthetic")
    rewrite_member(raw / "synthetic" / MAIN, "top/top_mosaic_09cm_area1.tif",
                   tiff_bytes(np.zeros((48, 64, 3), np.uint8)))
    calls = []
    real_save = np.save

    def failing_save(path, array):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated interruption")
        real_save(path, array)

    monkeypatch.setattr(prepare_module.np, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        prepare("synthetic", raw, out, verify=False)
    assert snapshot(out / "synthetic") == before          # old tile intact, nothing half-written
    monkeypatch.setattr(prepare_module.np, "save", real_save)
    assert prepare("synthetic", raw, out, verify=False).prepared == ["area1"]


def test_interrupted_run_keeps_finished_tiles_and_rerun_completes(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_convert = prepare_module.convert_tile

    def stop_at_area26(spec, tile, sources):
        if tile == "area26":
            raise KeyboardInterrupt
        return real_convert(spec, tile, sources)

    monkeypatch.setattr(prepare_module, "convert_tile", stop_at_area26)
    with pytest.raises(KeyboardInterrupt):
        prepare("synthetic", raw, out)
    done = sorted(p.name for p in (out / "synthetic").iterdir())
    assert done == ["area1", "area23", "area3"]           # complete tiles only, no manifest yet
    monkeypatch.setattr(prepare_module, "convert_tile", real_convert)
    summary = prepare("synthetic", raw, out)
    assert sorted(summary.skipped) == done and len(summary.prepared) == 13


def test_a_crash_between_the_two_renames_is_recovered(raw, tmp_path):
    out = tmp_path / "out"
    prepare("synthetic", raw, out)
    before = snapshot(out / "synthetic")
    folder = out / "synthetic"
    (folder / "area1").rename(folder / ".old-area1")      # old tile moved aside, new not yet in
    (folder / ".tmp-area3").mkdir()                       # a half-written tile
    (folder / ".tmp-area3" / "image.npy").write_bytes(b"partial")
    summary = prepare("synthetic", raw, out)
    assert summary.prepared == [] and snapshot(folder) == before
