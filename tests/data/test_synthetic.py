import hashlib
import io
import zipfile

import numpy as np
import tifffile
from PIL import Image

from ms2mnet.data.palette import colour_to_class
from ms2mnet.data.specs import get_spec
from ms2mnet.data.synthetic import BUILDING, CAR, IMPERVIOUS, LOW_VEG, make_scene, write_dataset

from .archive_tools import read_member


def _md5s(folder):
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.glob("*.zip")}


def test_same_seed_gives_identical_archives_and_other_seed_differs(tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        write_dataset("synthetic", tmp_path / name, seed=seed, tile_size=(32, 40), tiles=3)
    assert _md5s(tmp_path / "a") == _md5s(tmp_path / "b")
    assert _md5s(tmp_path / "a") != _md5s(tmp_path / "c")


def test_vaihingen_layout_names_bands_and_dtypes(raw):
    folder = raw / "synthetic"
    main = folder / "ISPRS_semantic_labeling_Vaihingen.zip"
    names = zipfile.ZipFile(main).namelist()
    assert {"top/top_mosaic_09cm_area1.tif", "dsm/dsm_09cm_matching_area1.tif",
            "gts_for_participants/top_mosaic_09cm_area1.tif"} <= set(names)
    assert "top_mosaic_09cm_area30.tif" in zipfile.ZipFile(
        folder / "ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip").namelist()
    eroded = zipfile.ZipFile(
        folder / "ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip")
    assert "top_mosaic_09cm_area9_noBoundary.tif" in eroded.namelist()   # the real extra file
    image = tifffile.imread(io.BytesIO(read_member(main, "top/top_mosaic_09cm_area1.tif")))
    dsm = tifffile.imread(io.BytesIO(read_member(main, "dsm/dsm_09cm_matching_area1.tif")))
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert dsm.dtype == np.float32 and dsm.min() > 100            # absolute heights, metres
    assert (np.abs(dsm - np.median(dsm)) > 60).sum() >= 3           # a few outliers
    eroded_label = tifffile.imread(io.BytesIO(eroded.read("top_mosaic_09cm_area1_noBoundary.tif")))
    assert (eroded_label == 0).all(axis=2).any()                    # black boundaries


def test_potsdam_layout_and_its_label_defects(raw):
    folder = raw / "synthetic-potsdam"
    image = tifffile.imread(io.BytesIO(read_member(
        folder / "4_Ortho_RGBIR.zip", "4_Ortho_RGBIR/top_potsdam_2_10_RGBIR.tif")))
    assert image.shape == (48, 64, 4) and image.dtype == np.uint8
    ndsm = Image.open(io.BytesIO(read_member(
        folder / "1_DSM_normalisation.zip",
        "1_DSM_normalisation/dsm_potsdam_02_10_normalized_lastools.jpg")))
    assert ndsm.format == "JPEG" and ndsm.mode == "L"

    def label(archive, tile, suffix=""):
        return tifffile.imread(io.BytesIO(read_member(folder / archive,
                                                      f"top_potsdam_{tile}_label{suffix}.tif")))
    participants, everything = "5_Labels_for_participants.zip", "5_Labels_all.zip"
    assert len(zipfile.ZipFile(folder / participants).namelist()) == 24      # the split's tiles
    assert colour_to_class(label(participants, "4_12"))[1].off_palette == 0  # the clean copy
    blended = label(everything, "4_12")                                       # onto the image
    assert len(np.unique(blended.reshape(-1, 3), axis=0)) > 100              # in 48x64 pixels
    assert colour_to_class(blended)[1].off_palette > 0.9 * blended.shape[0] * blended.shape[1]
    assert np.array_equal(label(everything, "2_10"), label(participants, "2_10"))
    for archive in (participants, everything):
        assert (label(archive, "6_7") == (252, 255, 0)).all(axis=2).any()    # odd car colour
    eroded = label("5_Labels_for_participants_no_Boundary.zip", "2_10", "_noBoundary")
    assert (eroded == 0).all(axis=2).any()
    assert "top_potsdam_2_10_label_noBoundary.tif" in zipfile.ZipFile(
        folder / "5_Labels_all_noBoundary.zip").namelist()


def test_tiles_option_keeps_both_splits(tmp_path):
    write_dataset("synthetic", tmp_path / "synthetic", tile_size=(32, 32), tiles=4)
    spec = get_spec("synthetic", tmp_path / "synthetic")
    assert spec.train == ("area1", "area3", "area23") and spec.test == ("area5",)


def test_buildings_look_like_roads_and_only_height_tells_them_apart():
    scenes = [make_scene(np.random.default_rng(seed), 160, 192) for seed in range(6)]
    classes = np.concatenate([s.classes.ravel() for s in scenes])
    image = np.concatenate([s.image.reshape(-1, 4) for s in scenes]).astype(np.float64)
    height = np.concatenate([s.height.ravel() for s in scenes])
    building, road, grass = (classes == c for c in (BUILDING, IMPERVIOUS, LOW_VEG))
    assert building.sum() > 1000 and road.sum() > 1000
    colour_gap = np.abs(image[building].mean(0) - image[road].mean(0))
    spread_gap = np.abs(image[building].std(0) - image[road].std(0))
    assert colour_gap.max() < 4 and spread_gap.max() < 4
    assert np.abs(image[grass].mean(0) - image[road].mean(0)).max() > 30   # other classes do differ
    assert height[building].min() > 3 and height[road].max() == 0


def test_cars_sit_on_roads():
    scene = make_scene(np.random.default_rng(3), 160, 192)
    car = scene.classes == CAR
    ring = np.zeros_like(car)
    ring[1:] |= car[:-1]
    ring[:-1] |= car[1:]
    ring[:, 1:] |= car[:, :-1]
    ring[:, :-1] |= car[:, 1:]
    ring &= ~car
    assert car.sum() > 20 and np.all(scene.height[car] == 1.5)
    assert np.mean(scene.classes[ring] == IMPERVIOUS) > 0.6
