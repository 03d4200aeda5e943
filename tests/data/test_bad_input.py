"""Each kind of bad input: a clear error (or a warning where the protocol allows one),
naming the file and what to do, and the previously prepared data left as it was."""

import hashlib
import io
import json
import shutil
import zipfile

import numpy as np
import pytest
import tifffile

from ms2mnet.data.checksums import CHECKSUMS
from ms2mnet.data.prepare import prepare
from ms2mnet.data.specs import DataError, MissingDataError

from .archive_tools import read_member, rewrite_member, snapshot, tiff_bytes

MAIN = "ISPRS_semantic_labeling_Vaihingen.zip"
IMAGE5 = "top/top_mosaic_09cm_area5.tif"
DSM5 = "dsm/dsm_09cm_matching_area5.tif"


@pytest.fixture
def prepared(raw, tmp_path):
    """Raw folder, output root and a snapshot of a good prepare."""
    out = tmp_path / "out"
    prepare("synthetic", raw, out)
    return raw, out, snapshot(out / "synthetic")


def _refused(prepared, *needles, verify=False, error=DataError):
    raw, out, before = prepared
    with pytest.raises(error) as info:
        prepare("synthetic", raw, out, verify=verify)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert snapshot(out / "synthetic") == before
    return message


def test_corrupt_zip(prepared):
    raw = prepared[0]
    (raw / "synthetic" / MAIN).write_bytes(b"PK\x03\x04 this is not a zip archive")
    _refused(prepared, MAIN, "download it again")


def test_truncated_zip_fails_the_recorded_checksum(prepared):
    archive = prepared[0] / "synthetic" / MAIN
    archive.write_bytes(archive.read_bytes()[:-1000])
    recorded = json.loads((archive.parent / CHECKSUMS).read_text())[MAIN]["md5"]
    message = _refused(prepared, MAIN, f"expected {recorded}", "--no-verify", verify=True)
    assert "md5 is " in message


def _as_vaihingen(raw):
    """Synthetic archives under the real Vaihingen names: the published md5s cannot match."""
    shutil.copytree(raw / "synthetic", raw / "vaihingen")
    (raw / "vaihingen" / CHECKSUMS).unlink()
    return raw / "vaihingen"


def test_published_md5_mismatch_with_good_crcs_is_a_warning_and_the_new_md5_is_recorded(raw, tmp_path):
    folder = _as_vaihingen(raw)
    summary = prepare("vaihingen", raw, tmp_path / "out")
    assert len(summary.prepared) == 16
    warning = next(w for w in summary.warnings if MAIN in w and "462b8dca7b6fa9eaf729840f0cdfc7f3" in w)
    assert "CRC-32 checks out" in warning and "reissued" in warning
    entry = json.loads((folder / CHECKSUMS).read_text())[MAIN]
    assert entry["md5"] == hashlib.md5((folder / MAIN).read_bytes()).hexdigest()
    assert entry["crc_checked"] and entry["published_md5"] == "462b8dca7b6fa9eaf729840f0cdfc7f3"
    # Accepted once: the next run neither hashes nor warns again.
    assert not any(MAIN in w for w in prepare("vaihingen", raw, tmp_path / "out").warnings)


def test_published_md5_mismatch_with_a_bad_crc_is_corruption(raw, tmp_path):
    folder = _as_vaihingen(raw)
    archive = folder / MAIN
    payload = read_member(archive, IMAGE5)
    rewrite_member(archive, IMAGE5, payload, stored=True)
    data = bytearray(archive.read_bytes())
    at = bytes(data).index(payload[-200:])            # inside the stored member's bytes
    data[at] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        prepare("vaihingen", raw, tmp_path / "out")
    message = str(info.value)
    assert MAIN in message and "462b8dca7b6fa9eaf729840f0cdfc7f3" in message
    assert IMAGE5 in message and "CRC" in message and "download it again" in message
    assert not (tmp_path / "out").exists() and not (folder / CHECKSUMS).exists()
    # A mirror's re-packed archives go through with --no-verify (the bad member is not read here
    # before its tile: prepare then names it).
    with pytest.raises(DataError, match="cannot be read"):
        prepare("vaihingen", raw, tmp_path / "out", verify=False)


def test_missing_archive(prepared):
    (prepared[0] / "synthetic" / "ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip").unlink()
    _refused(prepared, "ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip",
             "Vaihingen.zip", "isprs.org", "raw/synthetic/",
             error=MissingDataError)


def test_missing_member(prepared):
    rewrite_member(prepared[0] / "synthetic" / MAIN, DSM5, None)
    _refused(prepared, MAIN, DSM5, "download it again")


def test_truncated_tiff(prepared):
    archive = prepared[0] / "synthetic" / MAIN
    rewrite_member(archive, IMAGE5, read_member(archive, IMAGE5)[:3000])
    _refused(prepared, f"{MAIN}:{IMAGE5}", "truncated or corrupt", "download")


def test_wrong_band_count(prepared):
    archive = prepared[0] / "synthetic" / MAIN
    rewrite_member(archive, IMAGE5, tiff_bytes(np.zeros((48, 64, 4), np.uint8)))
    _refused(prepared, f"{MAIN}:{IMAGE5}", "expected 3 bands", "found 4 band")


def test_sizes_that_disagree_by_more_than_a_few_pixels(prepared):
    archive = prepared[0] / "synthetic" / MAIN
    rewrite_member(archive, DSM5, tiff_bytes(np.full((30, 64), 270, np.float32)))
    _refused(prepared, "sizes disagree by 18 px", f"{MAIN}:{DSM5} 30x64", "48x64")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_a_dsm(prepared, bad):
    archive = prepared[0] / "synthetic" / MAIN
    dsm = np.full((48, 64), 270, np.float32)
    dsm[5, 7] = bad
    rewrite_member(archive, DSM5, tiff_bytes(dsm))
    _refused(prepared, f"{MAIN}:{DSM5}", "1 DSM pixels are NaN or infinite", "download")


def test_member_path_escaping_the_folder(prepared):
    archive = prepared[0] / "synthetic" / MAIN
    rewrite_member(archive, IMAGE5, read_member(archive, IMAGE5),
                   new_name="../../top/top_mosaic_09cm_area5.tif")
    _refused(prepared, MAIN, "../../top/top_mosaic_09cm_area5.tif", "escapes the target folder")


def test_outer_package_member_escaping_the_folder_is_not_extracted(raw, tmp_path):
    folder = raw / "vaihingen"
    folder.mkdir()
    with zipfile.ZipFile(folder / "Vaihingen.zip", "w") as zf:
        for path in (raw / "synthetic").glob("*.zip"):
            zf.write(path, f"Vaihingen/{path.name}" if path.name != MAIN else f"../{path.name}")
    with pytest.raises(DataError, match="escapes the target folder"):
        prepare("vaihingen", raw, tmp_path / "out", verify=False)
    assert not (raw / MAIN).exists() and not (folder / MAIN).exists()


def test_off_palette_and_unknown_label_colours_warn_and_never_become_class_0(prepared):
    raw, out, _ = prepared
    archive = raw / "synthetic" / "ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip"
    member = "top_mosaic_09cm_area5.tif"
    label = tifffile.imread(io.BytesIO(read_member(archive, member)))
    label[:4, :4] = (255, 0, 255)          # no class at all
    label[10:12, :5] = (250, 250, 240)     # off-palette, but clearly impervious
    rewrite_member(archive, member, tiff_bytes(label))
    summary = prepare("synthetic", raw, out, verify=False)
    assert summary.prepared == ["area5"]
    meta = json.loads((out / "synthetic/area5/meta.json").read_text())
    assert meta["labels"]["label"]["off_palette_pixels"] == 26
    assert meta["labels"]["label"]["unknown_colour_pixels"] == 16
    assert meta["labels"]["label"]["unknown_colour_examples"] == [[255, 0, 255]]
    classes = np.load(out / "synthetic/area5/label.npy")
    assert (classes[:4, :4] == 255).all() and (classes[10:12, :5] == 0).all()
    assert any("area5" in w and "no class" in w for w in summary.warnings)
    assert "16 pixels" in summary.format()


def test_truncated_ndsm_jpeg(raw, tmp_path):
    out = tmp_path / "out"
    prepare("synthetic-potsdam", raw, out)
    before = snapshot(out / "synthetic-potsdam")
    archive = raw / "synthetic-potsdam" / "1_DSM_normalisation.zip"
    member = "1_DSM_normalisation/dsm_potsdam_04_10_normalized_lastools.jpg"
    rewrite_member(archive, member, read_member(archive, member)[:200])
    with pytest.raises(DataError, match="cannot be read as JPEG"):
        prepare("synthetic-potsdam", raw, out, verify=False)
    assert snapshot(out / "synthetic-potsdam") == before
