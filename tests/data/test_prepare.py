import io
import json
import shutil
import threading
import zipfile

import numpy as np
import pytest
import tifffile
from PIL import Image

import ms2mnet.data.prepare as prepare_module
from ms2mnet.data.checksums import CHECKSUMS
from ms2mnet.data.prepare import prepare
from ms2mnet.data.specs import DataError
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
    # The authors' scaling: plain min-max over the tile's source DSM, outliers included.
    source = tifffile.imread(io.BytesIO(read_member(raw / "synthetic" / MAIN,
                                                    "dsm/dsm_09cm_matching_area1.tif")))
    lo, hi = float(source.min()), float(source.max())
    assert meta["dsm_normalisation"] == {"method": "minmax", "low": lo, "high": hi}
    assert np.allclose(dsm, (source - lo) / (hi - lo), atol=1e-3)
    assert manifest["dsm_scaling"] == "minmax" and manifest["ignore_index"] == 255
    assert meta["image_bands"] == "IR-R-G" and meta["shape"] == [48, 64]
    assert meta["sources"]["image"]["member"] == "top/top_mosaic_09cm_area1.tif"
    assert len(meta["sources"]["dsm"]["md5"]) == 32
    assert sum(meta["class_histogram"]["label"].values()) == 48 * 64
    # The image is the source TIFF's bands, unchanged.
    source = read_member(raw / "synthetic" / MAIN, "top/top_mosaic_09cm_area1.tif")
    assert np.array_equal(image, tifffile.imread(io.BytesIO(source)))
    assert "synthetic: 16 tiles" in summary.format() and "building" in summary.format()


def test_potsdam_reads_the_participants_labels_bands_and_ndsm(raw, tmp_path):
    summary = prepare("synthetic-potsdam", raw, tmp_path / "out")
    out = tmp_path / "out" / "synthetic-potsdam"
    meta = json.loads((out / "4_12/meta.json").read_text())
    assert meta["sources"]["label"]["archive"] == "5_Labels_for_participants.zip"
    assert meta["sources"]["label_eroded"]["archive"] == "5_Labels_for_participants_no_Boundary.zip"
    assert meta["labels"]["label"]["off_palette_pixels"] == 0          # the clean copy of 4_12
    assert meta["image_bands"] == "R-G-B" and meta["dsm_normalisation"]["method"] == "minmax"
    ndsm = np.load(out / "4_12/dsm.npy")
    assert ndsm.min() == 0 and ndsm.max() == 1                          # 8-bit nDSM, min-max too
    cars = json.loads((out / "6_7/meta.json").read_text())
    assert cars["labels"]["label"]["off_palette_pixels"] == cars["class_histogram"]["label"]["car"] > 0
    assert [w for w in summary.warnings if "off-palette" in w] == [
        w for w in summary.warnings if w.startswith("6_7:")] and len(summary.warnings) == 1


def test_potsdam_falls_back_to_labels_all_with_a_warning(raw, tmp_path):
    folder = raw / "synthetic-potsdam"
    for name in ("5_Labels_for_participants.zip", "5_Labels_for_participants_no_Boundary.zip"):
        (folder / name).unlink()
    summary = prepare("synthetic-potsdam", raw, tmp_path / "out")
    meta = json.loads((tmp_path / "out/synthetic-potsdam/4_12/meta.json").read_text())
    assert meta["sources"]["label"]["archive"] == "5_Labels_all.zip"
    assert meta["labels"]["label"]["off_palette_pixels"] > 1000          # blended onto the image
    fallback = [w for w in summary.warnings if "5_Labels_all.zip instead" in w]
    assert len(fallback) == 1 and "5_Labels_for_participants.zip is absent" in fallback[0]
    assert any(w.startswith("4_12:") and "off-palette" in w for w in summary.warnings)


def test_potsdam_labels_are_extracted_from_the_package_participants_first(raw, tmp_path):
    folder = raw / "synthetic-potsdam"
    package = tmp_path / "Potsdam.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_STORED) as zf:
        for inner in sorted(folder.glob("*.zip")):
            zf.write(inner, f"Potsdam/{inner.name}")
    target = tmp_path / "raw2" / "synthetic-potsdam"
    target.mkdir(parents=True)
    shutil.copy(package, target / "Potsdam.zip")
    shutil.copy(folder / "synthetic.json", target / "synthetic.json")
    summary = prepare("synthetic-potsdam", tmp_path / "raw2", tmp_path / "out")
    extracted = sorted(p.name for p in target.glob("*.zip"))
    assert "5_Labels_for_participants.zip" in extracted and "5_Labels_all.zip" not in extracted
    assert not any("instead" in w for w in summary.warnings)


@pytest.mark.parametrize("dataset, scaling", [("synthetic", "percentile_minmax"),
                                              ("synthetic-potsdam", "divide_255")])
def test_the_other_dsm_scalings_are_options_recorded_in_meta(raw, tmp_path, dataset, scaling):
    prepare(dataset, raw, tmp_path / "out", dsm_scaling=scaling)
    tile = "area1" if dataset == "synthetic" else "2_10"
    meta = json.loads((tmp_path / "out" / dataset / tile / "meta.json").read_text())
    assert meta["dsm_normalisation"]["method"] == scaling
    dsm = np.load(tmp_path / "out" / dataset / tile / "dsm.npy")
    if scaling == "percentile_minmax":
        assert meta["dsm_normalisation"]["percentiles"] == [0.1, 99.9]
        assert dsm.min() == 0 and dsm.max() == 1
    else:
        member = "1_DSM_normalisation/dsm_potsdam_02_10_normalized_lastools.jpg"
        ndsm = np.asarray(Image.open(io.BytesIO(read_member(
            raw / dataset / "1_DSM_normalisation.zip", member))))
        assert np.allclose(dsm, ndsm / 255, atol=1e-3)
    # Another scaling is another signature: every tile is prepared again.
    assert len(prepare(dataset, raw, tmp_path / "out").prepared) == len(prepare_module.get_spec(
        dataset, raw / dataset).tiles)


def test_divide_255_on_a_float_dsm_is_refused(raw, tmp_path):
    with pytest.raises(DataError, match="'divide_255' needs an 8-bit nDSM.*--dsm-scaling minmax"):
        prepare("synthetic", raw, tmp_path / "out", dsm_scaling="divide_255")
    with pytest.raises(DataError, match="expected one of minmax, percentile_minmax, divide_255"):
        prepare("synthetic", raw, tmp_path / "out", dsm_scaling="clip")


@pytest.mark.parametrize("compression", ["lzw", "jpeg"])
def test_compressed_tiffs_open(raw, tmp_path, compression):
    archive = raw / "synthetic" / MAIN
    member = "top/top_mosaic_09cm_area5.tif"
    image = tifffile.imread(io.BytesIO(read_member(archive, member)))
    buf = io.BytesIO()
    tifffile.imwrite(buf, image, photometric="rgb", compression=compression)
    rewrite_member(archive, member, buf.getvalue())
    prepare("synthetic", raw, tmp_path / "out", verify=False)
    stored = np.load(tmp_path / "out/synthetic/area5/image.npy")
    if compression == "lzw":
        assert np.array_equal(stored, image)                            # lossless
    else:
        assert np.abs(stored.astype(int) - image).mean() < 20           # lossy, but decoded


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
    assert changed == {"area3", "manifest.json"}     # the manifest records each tile's signature


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
    done = sorted(p.name for p in (out / "synthetic").iterdir() if not p.name.startswith("."))
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


def test_two_prepares_on_one_output_do_not_break_each_other(raw, tmp_path, monkeypatch):
    """First one paused in the middle of writing a tile while the second one starts."""
    out = tmp_path / "out"
    paused, resume, errors = threading.Event(), threading.Event(), []
    real_save = np.save

    def slow_save(path, array):
        if threading.current_thread().name == "first" and not paused.is_set():
            paused.set()
            resume.wait(10)
        real_save(path, array)

    def run():
        try:
            prepare("synthetic", raw, out, verify=False)
        except BaseException as err:          # the assertion below reports it
            errors.append(f"{threading.current_thread().name}: {err!r}")

    monkeypatch.setattr(prepare_module.np, "save", slow_save)
    first = threading.Thread(target=run, name="first")
    second = threading.Thread(target=run, name="second")
    first.start()
    assert paused.wait(10)
    second.start()
    second.join(0.5)             # without a lock it would clear the first one's temporary tile
    resume.set()
    first.join(20)
    second.join(20)
    assert errors == []
    monkeypatch.setattr(prepare_module.np, "save", real_save)
    assert prepare("synthetic", raw, out, verify=False).prepared == []
    reference = tmp_path / "reference"
    prepare("synthetic", raw, reference, verify=False)
    assert snapshot(out / "synthetic") == snapshot(reference / "synthetic")
