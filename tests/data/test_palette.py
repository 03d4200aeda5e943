import numpy as np

from ms2mnet.data.palette import IGNORE, PALETTE, class_histogram, class_to_colour, colour_to_class


def test_palette_colours_map_to_their_index_and_black_to_ignore():
    rgb = np.concatenate([PALETTE, [[0, 0, 0]]]).reshape(1, 7, 3).astype(np.uint8)
    labels, report = colour_to_class(rgb)
    assert labels.tolist() == [[0, 1, 2, 3, 4, 5, IGNORE]]
    assert report.off_palette == 0 and report.unknown == 0


def test_off_palette_colours_are_thresholded_and_counted():
    rgb = np.array([[[252, 255, 0], [250, 250, 250], [10, 20, 240], [255, 255, 0]]], dtype=np.uint8)
    labels, report = colour_to_class(rgb)
    assert labels.tolist() == [[4, 0, 1, 4]]       # (252,255,0) is a car
    assert report.off_palette == 3 and report.unknown == 0


def test_unknown_colour_becomes_ignore_not_class_0():
    rgb = np.array([[[255, 0, 255], [200, 30, 220], [255, 255, 255]]], dtype=np.uint8)
    labels, report = colour_to_class(rgb)
    assert labels.tolist() == [[IGNORE, IGNORE, 0]]
    assert report.off_palette == 2 and report.unknown == 2
    assert (255, 0, 255) in report.unknown_colours


def test_class_to_colour_round_trips_and_histogram_counts():
    labels = np.array([[0, 1, 2], [3, 4, 5], [IGNORE, 0, 0]], dtype=np.uint8)
    back, report = colour_to_class(class_to_colour(labels))
    assert np.array_equal(back, labels) and report.off_palette == 0
    hist = class_histogram(labels)
    assert hist["impervious"] == 3 and hist["ignore"] == 1 and sum(hist.values()) == 9
