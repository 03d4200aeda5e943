import hashlib
import io
import zipfile

import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage, stats

from ms2mnet.data.palette import colour_to_class
from ms2mnet.data.specs import get_spec
from ms2mnet.data.synthetic import BUILDING, CAR, CLUTTER, IMPERVIOUS, LOW_VEG, make_layout, make_scene, write_dataset

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


@pytest.fixture(scope="module")
def scenes():
    """Eight 288x288 Vaihingen-like scenes (9 cm): four to fit a classifier, four to test it."""
    return [make_scene(np.random.default_rng(seed), 288, 288) for seed in range(8)]


@pytest.mark.parametrize("size, gsd, tiles", [((160, 192), 0.09, 30), ((2494, 2064), 0.09, 1),
                                               ((6000, 6000), 0.05, 1)])
def test_class_shares_stay_near_vaihingen_at_any_tile_size(size, gsd, tiles):
    counts = sum(np.bincount(make_layout(np.random.default_rng(seed), *size, gsd, labels_only=True)
                             .classes.ravel(), minlength=6) for seed in range(tiles))
    shares = 100 * counts / counts.sum()
    assert np.allclose(shares[:4], [27, 26, 21.5, 23.5], atol=2.5), shares   # imp, building, low veg, tree
    assert 0.5 < shares[CAR] < 1.6 and 0.5 < shares[CLUTTER] < 1.6, shares


@pytest.mark.parametrize("gsd, long_side", [(0.09, (42, 54)), (0.05, (76, 97))])
def test_cars_have_real_world_size_in_pixels(gsd, long_side):
    classes = make_layout(np.random.default_rng(0), 2400, 2400, gsd, labels_only=True).classes
    blobs, n = ndimage.label(classes == CAR)
    sides = np.array([max(s[0].stop - s[0].start, s[1].stop - s[1].start) for s in ndimage.find_objects(blobs)])
    assert n >= 10 and long_side[0] <= np.median(sides) <= long_side[1]      # 3.8-4.8 m


def test_roofs_and_paving_share_shapes_colours_and_textures(scenes):
    layouts = [make_layout(np.random.default_rng(seed), 2000, 2000, labels_only=True) for seed in range(2)]
    objects = np.array([o for layout in layouts for o in layout.objects])
    sizes = {c: objects[objects[:, 0] == c, 1:].astype(float) for c in (BUILDING, IMPERVIOUS)}
    for stat in (lambda s: s.prod(1), lambda s: s.max(1) / s.min(1)):         # area, elongation
        assert stats.ks_2samp(stat(sizes[BUILDING]), stat(sizes[IMPERVIOUS])).pvalue > 0.01
    classes = np.concatenate([s.classes.ravel() for s in scenes])
    image = np.concatenate([s.image.reshape(-1, 4) for s in scenes]).astype(np.float64)
    building, road, grass = (classes == c for c in (BUILDING, IMPERVIOUS, LOW_VEG))
    assert np.abs(image[building].mean(0) - image[road].mean(0)).max() < 3
    assert np.abs(image[building].std(0) - image[road].std(0)).max() < 3
    assert np.abs(image[grass].mean(0) - image[road].mean(0)).max() > 30     # other classes do differ


def _features(scene, with_height):
    """Per pixel: the bands and their mean and spread over 0.5 m and 2 m windows (colour and texture)."""
    bands = scene.image.astype(np.float32)
    channels = [bands] + [f(bands, size) for size in (5, 21) for f in (_box_mean, _box_std)]
    if with_height:
        channels.append(scene.height[..., None])
    return np.concatenate(channels, axis=2).reshape(-1, sum(c.shape[2] for c in channels))


def _box_mean(x, size):
    return ndimage.uniform_filter(x, size=(size, size, 1))


def _box_std(x, size):
    return np.sqrt(np.maximum(_box_mean(x * x, size) - _box_mean(x, size) ** 2, 0))


def test_only_height_tells_buildings_from_impervious(scenes):
    """A linear discriminant on colour and texture at two scales is at chance between buildings and
    paving; given the height too, it separates them. Heights: roofs 5 m and up, paving at 0."""
    def balanced_accuracy(with_height):
        def split(part):
            x = np.concatenate([_features(s, with_height) for s in part])
            y = np.concatenate([s.classes.ravel() for s in part])
            keep = (y == BUILDING) | (y == IMPERVIOUS)
            return x[keep], y[keep] == BUILDING
        (x, y), (x_test, y_test) = split(scenes[:4]), split(scenes[4:])
        means = [x[y == k].mean(0) for k in (False, True)]
        pooled = np.cov(np.concatenate([x[y == k] - means[k] for k in (False, True)]).T)
        weights = np.linalg.solve(pooled + 1e-3 * np.eye(len(pooled)), means[1] - means[0])
        guess = (x_test - (means[0] + means[1]) / 2) @ weights > 0
        return np.mean([np.mean(guess[y_test == k] == k) for k in (False, True)])
    assert 0.4 < balanced_accuracy(with_height=False) < 0.6
    assert balanced_accuracy(with_height=True) > 0.9
    building = np.concatenate([s.classes.ravel() == BUILDING for s in scenes])
    height = np.concatenate([s.height.ravel() for s in scenes])
    road = np.concatenate([s.classes.ravel() == IMPERVIOUS for s in scenes])
    assert height[building].min() >= 5 and height[road].max() == 0


def test_cars_park_on_roofs_and_paving_alike():
    scene = make_scene(np.random.default_rng(3), 1500, 1500)
    car = scene.classes == CAR
    ring = ndimage.binary_dilation(car) & ~car
    under = np.bincount(scene.classes[ring], minlength=6)
    assert car.sum() > 2000 and under[[BUILDING, IMPERVIOUS]].sum() > 0.9 * under.sum()
    assert 0.5 < under[BUILDING] / under[IMPERVIOUS] < 2          # as often on either
    blobs, n = ndimage.label(car)
    around = np.where(ring, ndimage.grey_dilation(blobs, size=3), 0)
    on, under_car = (ndimage.median(scene.height, labels, range(1, n + 1)) for labels in (blobs, around))
    assert np.median(np.array(on) - np.array(under_car)) == pytest.approx(1.5, abs=0.1)   # a car stands 1.5 m
