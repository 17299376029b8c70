"""Components: segmenters, partitions and occlusion windows against brute force."""

import re
import warnings

import numpy as np
import pytest
from skimage.segmentation import quickshift, slic
from sklearn.datasets import load_digits

from unboxed.local import SegmenterError, segment
from unboxed.local._segments import SLIC_DEFAULTS, Partition, Windows, check_window, grid_labels


def _images(n=3, seed=0):
    """Flat 8x8 images: a bright square on a dark, slightly noisy background."""
    rng = np.random.default_rng(seed)
    X = 0.05 * rng.random((n, 8, 8))
    X[:, 2:6, 1:5] += 0.9
    return X.reshape(n, 64)


def test_pixels_and_grid_labels_are_writable_copies():
    # A view of one shared row would be read-only, and a write would reach every row.
    for labels in (segment(_images(), method="pixels"), segment(_images(), (8, 8), method="grid")):
        assert labels.shape == (3, 64) and labels.flags.writeable
        labels[0, 0] = 99
        assert labels[1, 0] != 99


def test_pixels_take_no_parameters():
    with pytest.raises(TypeError, match="'pixels' takes no parameters, got \\['cell'\\]"):
        segment(_images(), method="pixels", cell=2)


@pytest.mark.parametrize(
    ("image_shape", "method", "message"),
    [
        (None, "slic", "segmenter 'slic' needs image_shape=\\(H, W\\)"),
        ((4, 4), "grid", "H\\*W = 64"),  # 16 pixels for 64 features
        ((4, 4, 4), "slic", "image_shape must be \\(H, W\\)"),  # 3-D: not a gray image
        ((8, 8), "watershed", "method must be one of"),
    ],
)
def test_bad_image_shapes_and_methods_are_named(image_shape, method, message):
    with pytest.raises(ValueError, match=message):
        segment(_images(), image_shape, method=method)


@pytest.mark.parametrize(
    ("X", "error", "message"),
    [
        ([[0.0] * 64, [0.0] * 63], TypeError, "X could not be converted"),  # numpy's error
        (np.zeros(64), ValueError, "X must be 2-dimensional, got shape \\(64,\\)"),
        (np.zeros((2, 8, 8)), ValueError, "got images of shape \\(2, 8, 8\\)"),
    ],
)
def test_x_that_is_not_a_flat_batch_is_named(X, error, message):
    with pytest.raises(error, match=message):
        segment(X, (8, 8), method="grid")


def test_grid_refuses_an_empty_cell():
    with pytest.raises(ValueError, match="cell must be an int >= 1"):
        segment(_images(), (8, 8), method="grid", cell=0)


def test_a_callable_segmenter_gets_its_parameters_and_is_relabelled():
    def halves(image, *, split):
        # Ids 7 and 3: neither from 0 nor in order.
        return np.where(np.arange(image.shape[1]) < split, 7, 3)[None].repeat(image.shape[0], 0)

    labels = segment(_images(2), (8, 8), method=halves, split=3)
    row = np.where(np.arange(8) < 3, 1, 0)  # 3 -> 0, 7 -> 1
    np.testing.assert_array_equal(labels, np.broadcast_to(np.tile(row, 8), (2, 64)))


def test_a_segmenter_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"returned shape \(64,\), expected \(8, 8\)"):
        segment(_images(), (8, 8), method=lambda image: np.zeros(image.size, int))


def test_a_user_segmenter_error_keeps_its_cause_but_a_builtin_one_is_not_wrapped():
    def broken(image):
        raise KeyError("boom")

    with pytest.raises(SegmenterError, match="on image 0") as caught:
        segment(_images(), (8, 8), method=broken)
    assert isinstance(caught.value.__cause__, KeyError)
    with pytest.raises(TypeError):  # scikit-image's own error, as it raised it
        segment(_images(), (8, 8), method="slic", no_such_setting=1)


def test_slic_and_quickshift_match_scikit_image_with_the_given_settings():
    X = _images(2)
    for method, params, run in (
        (
            "slic",
            {"n_segments": 4, "compactness": 5.0},
            lambda im: slic(im, n_segments=4, compactness=5.0, channel_axis=None, start_label=0),
        ),
        (
            "quickshift",
            {"kernel_size": 1, "max_dist": 2},  # 5 segments; the defaults give 2
            lambda im: quickshift(np.dstack([im] * 3), kernel_size=1, max_dist=2, ratio=0.5),
        ),
    ):
        labels = segment(X, (8, 8), method=method, **params)
        for i in range(2):
            ref = np.unique(run(X[i].reshape(8, 8)), return_inverse=True)[1].ravel()
            np.testing.assert_array_equal(labels[i], ref)


def test_slic_with_a_mask_makes_the_pixels_outside_it_component_0():
    X = load_digits().data[:3] / 16
    inside = np.zeros((8, 8), dtype=bool)
    inside[2:6, 1:7] = True
    labels = segment(X, (8, 8), method="slic", mask=inside, n_segments=6)
    for row, image in zip(labels, X, strict=True):
        # scikit-image's -1 outside the mask: one component, 0, the rest slic's own
        ref = slic(
            image.reshape(8, 8),
            channel_axis=None,
            start_label=0,
            mask=inside,
            n_segments=6,
            compactness=SLIC_DEFAULTS["compactness"],
        )
        assert np.array_equal(row == 0, ~inside.ravel())
        assert np.array_equal(row - 1, np.where(ref.ravel() < 0, -1, ref.ravel()))
        assert set(row.tolist()) == set(range(row.max() + 1))


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.ones((4, 4), dtype=bool), r"mask must be one image's shape \(8, 8\), got \(4, 4\)"),
        (np.ones(64, dtype=bool), r"mask must be one image's shape \(8, 8\), got \(64,\)"),
        (np.zeros((8, 8), dtype=bool), "mask holds no pixel"),
        # scikit-image cast these to bool: 0.5 and -1 counted as inside
        (np.full((8, 8), 0.5), r"mask must be bool \(True inside\), or 0/1 integers, got float64"),
        (np.full((8, 8), -1), "got int64 values other than 0 and 1"),
        (np.full((8, 8), "1"), "mask must be bool"),
    ],
)
def test_a_slic_mask_that_fits_no_image_is_named(mask, message):
    # numpy's "boolean index did not match" and "zero-size array to reduction
    # operation minimum" from inside scikit-image before
    with pytest.raises(ValueError, match=message):
        segment(load_digits().data[:2] / 16, (8, 8), method="slic", mask=mask)


def test_a_slic_mask_of_0_1_integers_is_read_as_bools():
    X = load_digits().data[:2] / 16
    inside = np.zeros((8, 8), dtype=bool)
    inside[2:6, 1:7] = True
    as_bools = segment(X, (8, 8), method="slic", mask=inside, n_segments=6)
    for ints in (inside.astype(np.uint8), inside.astype(int).tolist()):
        np.testing.assert_array_equal(
            segment(X, (8, 8), method="slic", mask=ints, n_segments=6), as_bools
        )


def test_quickshift_warns_on_images_far_beyond_the_range_its_defaults_fit():
    """Its defaults are tuned for [0, 1]; in [0, 255] it cut more, without a word."""
    X = load_digits().data[:4] / 16
    X = np.stack([np.kron(x.reshape(8, 8), np.ones((3, 3))).ravel() for x in X])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fine = segment(X, (24, 24), method="quickshift")
        # one's own ratio or max_dist is for the images' range; slic rescales them itself
        segment(X * 255, (24, 24), method="quickshift", ratio=0.5 / 255)
        segment(X * 255, (24, 24), method="quickshift", max_dist=1000)
        assert np.array_equal(segment(X * 255, (24, 24)), segment(X, (24, 24)))
    message = r"tuned for images in \[0, 1\], but these lie in \[0, 255\]"
    with pytest.warns(UserWarning, match=message):
        wide = segment(X * 255, (24, 24), method="quickshift")
    assert np.all(wide.max(axis=1) > fine.max(axis=1))  # the reason: more segments


def test_partition_refuses_float_and_negative_labels():
    with pytest.raises(ValueError, match="segments must be int labels"):
        Partition.from_labels(np.zeros(6), 2, 6)
    with pytest.raises(ValueError, match="non-negative"):
        Partition.from_labels(np.array([0, 0, 1, 1, -1, -1]), 2, 6)


@pytest.mark.parametrize("big", [2**63, 2**64 - 1])
def test_partition_keeps_uint64_labels_beyond_int64_apart(big):
    # Cast to int64 first, 2**64 - 1 became -1 and shared the last slot of another id.
    labels = np.array([[0, 0, 1, 1, 2, big]], dtype=np.uint64)
    part = Partition.from_labels(labels, 1, 6)
    np.testing.assert_array_equal(part.labels, [[0, 0, 1, 1, 2, 3]])
    np.testing.assert_array_equal(part.counts, [4])


def test_partition_perturb_and_spread_per_row():
    # Rows with their own labels and component counts: brute force, feature by feature.
    rng = np.random.default_rng(0)
    labels = np.array([[0, 0, 1, 1, 2, 2], [1, 0, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0]])
    part = Partition.from_labels(labels, 3, 6)
    np.testing.assert_array_equal(part.counts, [3, 2, 1])
    np.testing.assert_array_equal(part.valid(3), np.arange(3) < np.array([[3], [2], [1]]))
    X, fill = rng.uniform(size=(3, 6)), rng.uniform(size=(3, 6))
    masks = (rng.random((3, 5, 3)) < 0.5) & part.valid(3)[:, None]
    out = part.perturb(masks, slice(0, 3), X, fill)
    on = np.take_along_axis(masks, np.broadcast_to(labels[:, None], (3, 5, 6)), axis=2)
    np.testing.assert_allclose(out, np.where(on, X[:, None], fill[:, None]), atol=1e-12)
    scores = rng.normal(size=(3, 3))
    np.testing.assert_array_equal(part.spread(scores), np.take_along_axis(scores, labels, 1))


def test_windows_cover_and_perturb_by_brute_force():
    # 2-D windows 2x3 every (1, 2) over a 3x5 image: starts rows 0, 1 and columns 0, 2.
    windows = Windows.sliding((3, 5), (2, 3), (1, 2))
    boxes = [(r, c) for r in (0, 1) for c in (0, 2)]
    expected = np.zeros((4, 15), dtype=bool)
    for k, (r, c) in enumerate(boxes):
        member = np.zeros((3, 5), dtype=bool)
        member[r : r + 2, c : c + 3] = True
        expected[k] = member.ravel()
    assert sorted(map(tuple, windows.members)) == sorted(map(tuple, expected))
    rng = np.random.default_rng(1)
    X, fill = rng.uniform(size=(2, 15)), np.full((1, 15), 0.5)
    masks = rng.random((2, 6, 4)) < 0.5
    covered = (~masks).astype(int) @ windows.members.astype(int) > 0
    np.testing.assert_array_equal(
        windows.perturb(masks, slice(0, 2), X, fill), np.where(covered, 0.5, X[:, None])
    )


def test_a_batch_of_images_is_refused_with_how_to_flatten_it():
    images = _images().reshape(3, 8, 8)
    with pytest.raises(ValueError, match=r"X must be flat.*image_shape=\(8, 8\)"):
        segment(images, (8, 8), method="grid")


def test_grid_cells_match_a_brute_force_on_a_ragged_non_square_image():
    # 5x9 with cells of 4: columns 0-3, 4-7 and 8, rows 0-3 and 4, so 3 cells per row of
    # cells (counted along the width) and ragged edge cells that must not merge.
    labels = grid_labels((5, 9), cell=4)
    expected = np.array([[(r // 4) * 3 + c // 4 for c in range(9)] for r in range(5)])
    np.testing.assert_array_equal(labels, expected.ravel())
    # The default cell is 4: an 8x8 image has four 4x4 cells.
    default = segment(_images(1), (8, 8), method="grid")[0].reshape(8, 8)
    np.testing.assert_array_equal(default, np.kron([[0, 1], [2, 3]], np.ones((4, 4), int)))
    with pytest.raises(ValueError, match=r"shape must be \(H, W\)"):
        grid_labels((2, 2, 2))


def test_slic_defaults_are_the_documented_ones():
    X = _images(1)
    ref = slic(X[0].reshape(8, 8), channel_axis=None, start_label=0, **SLIC_DEFAULTS)
    assert SLIC_DEFAULTS == {"n_segments": 50, "compactness": 0.1}
    expected = np.unique(ref, return_inverse=True)[1].ravel()
    np.testing.assert_array_equal(segment(X, (8, 8)), expected[None])
    with pytest.raises(ValueError, match="n_segments must be"):  # not a ZeroDivisionError
        segment(X, (8, 8), n_segments=0)


def test_partition_relabels_skipped_and_huge_ids_densely_per_row():
    # Row 0 skips id 1; row 1 uses an id far beyond the feature count (which must not
    # size a table); row 2 is already dense. Each row keeps its order of ids.
    labels = np.array([[0, 2, 2, 0, 3, 3], [5, 5, 10**18, 0, 0, 5], [1, 0, 1, 0, 1, 0]])
    expected = np.array([[0, 1, 1, 0, 2, 2], [1, 1, 2, 0, 0, 1], [1, 0, 1, 0, 1, 0]])
    # Ids below the feature count (rows 0 and 2) take a path of their own.
    small = Partition.from_labels(labels[[0, 2]], 2, 6)
    np.testing.assert_array_equal(small.labels, expected[[0, 2]])
    np.testing.assert_array_equal(small.counts, [3, 2])
    part = Partition.from_labels(labels, 3, 6)
    np.testing.assert_array_equal(part.labels, expected)
    np.testing.assert_array_equal(part.counts, [3, 3, 2])
    scores = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    np.testing.assert_array_equal(part.spread(scores), np.take_along_axis(scores, expected, 1))


def test_windows_end_flush_with_the_edge_and_spread_the_mean_of_covering_windows():
    # 1-D, 5 features, windows of 2 every 2: starts 0, 2 and the flush 3.
    windows = Windows.sliding((5,), 2, 2)
    expected = np.array([[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(windows.members, expected)
    assert windows.width == 3
    np.testing.assert_array_equal(windows.valid(2), np.ones((2, 3), dtype=bool))
    scores = np.array([[1.0, 2.0, 4.0], [0.0, 3.0, -3.0]])
    by_hand = np.array([[1.0, 1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 3.0, 0.0, -3.0]])
    np.testing.assert_allclose(windows.spread(scores), by_hand)
    # A window as large as the input is allowed: one window over everything.
    np.testing.assert_array_equal(Windows.sliding((5,), 5, 5).members, np.ones((1, 5), bool))


def test_windows_read_a_0d_array_size_and_stride_as_their_int():
    # Windows.sliding((5,), np.asarray(2), 2) was refused: "window must be a positive
    # int or one per axis of (5,), got 2".
    by_int = Windows.sliding((3, 5), 2, 1).members
    for size, stride in [(np.asarray(2), 1), (2, np.asarray(1)), (np.asarray(2), np.asarray(1))]:
        np.testing.assert_array_equal(Windows.sliding((3, 5), size, stride).members, by_int)
    with pytest.raises(ValueError, match=r"window \(6,\) is larger than the input \(5,\)"):
        Windows.sliding((5,), np.asarray(6), 1)


@pytest.mark.parametrize(
    ("size", "stride", "message"),
    [
        (2, 3, r"stride \(3,\) is larger than the window \(2,\)"),
        (6, 1, r"window \(6,\) is larger than the input \(5,\)"),
        ((2, 2), 1, "window must be a positive int or one per axis"),
        (0, 1, "window must be a positive int or one per axis"),
    ],
)
def test_bad_windows_are_named(size, stride, message):
    with pytest.raises(ValueError, match=message):
        Windows.sliding((5,), size, stride)


def test_ctrl_c_in_a_user_segmenter_is_not_wrapped():
    def interrupted(image):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        segment(_images(), (8, 8), method=interrupted)


@pytest.mark.parametrize(
    ("method", "params", "named"),
    [
        ("slic", {"n_segment": 10}, "['n_segment']"),  # a slip for n_segments
        ("slic", {"channel_axis": -1}, "['channel_axis']"),  # set here: a gray image
        ("quickshift", {"kernel": 2}, "['kernel']"),
        ("grid", {"n_segments": 4, "cell": 2}, "['n_segments']"),
    ],
)
def test_a_parameter_the_segmenter_does_not_take_is_named_before_any_image(method, params, named):
    # It reached scikit-image, which raised "slic() got an unexpected keyword
    # argument" (or "multiple values for keyword argument 'channel_axis'").
    X = load_digits().data[:3] / 16
    with pytest.raises(TypeError, match=re.escape(f"segment parameters {named} are not among")):
        segment(X, (8, 8), method=method, **params)
    # the parameters it takes still reach it
    labels = segment(X, (8, 8), method=method, **({"n_segments": 4} if method == "slic" else {}))
    assert labels.shape == (3, 64)


def _digit_superpixels(n=3):
    """SLIC superpixels of the first ``n`` digits, flat ``(n, 64)``: rows that differ."""
    labels = segment(load_digits().data[:n] / 16, (8, 8), method="slic", n_segments=6)
    assert not np.array_equal(labels[0], labels[1])
    return labels


# Digits' 8x8 images through a one-channel image model, input_shape (1, 8, 8) (a
# LeNet's) or (8, 8, 1): labels in the images' shape were refused, "segments must be
# int labels of shape (3, 64) or (64,), got int64 (3, 1, 8, 8)", though the explainers
# take X in that shape.
@pytest.mark.parametrize("input_shape", [(1, 8, 8), (8, 8, 1), (8, 8)])
def test_partition_reads_labels_in_the_black_box_s_input_shape(input_shape):
    flat = _digit_superpixels()
    # Per row, and one for all rows: in the input's shape, and in its pixels'.
    shapes = [((3, *input_shape), False), (input_shape, True), ((3, 8, 8), False), ((8, 8), True)]
    for shape, shared in shapes:
        given = (flat[0] if shared else flat).reshape(shape)
        part = Partition.from_labels(given, 3, 64, input_shape)
        expected = np.broadcast_to(flat[0], (3, 64)) if shared else flat
        np.testing.assert_array_equal(part.labels, expected, err_msg=str(shape))
        np.testing.assert_array_equal(part.counts, expected.max(axis=1) + 1)
    # Flat labels are read as before, whatever the black box's shape.
    np.testing.assert_array_equal(Partition.from_labels(flat, 3, 64, input_shape).labels, flat)


@pytest.mark.parametrize(
    ("input_shape", "tile"),
    [((3, 8, 8), lambda flat: np.tile(flat, 3)), ((8, 8, 3), lambda flat: flat.repeat(3, axis=1))],
)
def test_pixel_labels_are_the_same_on_every_channel(input_shape, tile):
    flat = _digit_superpixels(2)  # 2 rows: (2, 8, 8) is read one way only
    part = Partition.from_labels(flat.reshape(2, 8, 8), 2, 192, input_shape)
    np.testing.assert_array_equal(part.labels, tile(flat))
    shared = Partition.from_labels(flat[1].reshape(8, 8), 2, 192, input_shape)
    np.testing.assert_array_equal(shared.labels, tile(flat[[1, 1]]))


def test_labels_that_read_two_ways_or_none_are_refused_with_the_flat_shapes():
    flat = _digit_superpixels()
    # Three rows of 3-channel 8x8 images: (3, 8, 8) is each row's pixels, or the
    # channels of every row, which label the features differently.
    message = "segments must be int labels of shape (3, 192) or (192,), got int64 (3, 8, 8); "
    message += "it fits both input_shape (3, 8, 8) shared by all rows and rows of (8, 8) "
    message += "pixels on all 3 channels (first axis), which label the features differently: "
    message += "pass them flat"
    with pytest.raises(ValueError, match=re.escape(message)):
        Partition.from_labels(flat.reshape(3, 8, 8), 3, 192, (3, 8, 8))
    # (3, 3, 3): its pixels (3, 3) are the last two axes or the first two.
    with pytest.raises(
        ValueError,
        match=r"fits both rows of \(3, 3\) pixels on all 3 channels \(first axis\) and rows ",
    ):
        Partition.from_labels(np.arange(18).reshape(2, 3, 3) % 5, 2, 27, (3, 3, 3))
    # Read alike either way, they are taken: every row's channels the same pixels.
    same = np.broadcast_to(flat[0].reshape(8, 8), (3, 8, 8))
    np.testing.assert_array_equal(
        Partition.from_labels(same, 3, 192, (3, 8, 8)).labels, np.tile(flat[[0, 0, 0]], 3)
    )
    for labels, n, d, shape in [
        (flat.reshape(3, 8, 8), 3, 64, None),  # no input_shape: images unknown
        (flat.reshape(3, 2, 4, 8), 3, 64, (1, 8, 8)),
        (flat.reshape(1, 3, 8, 8), 3, 64, (1, 8, 8)),
        (flat.reshape(3, 8, 8).astype(float), 3, 64, (1, 8, 8)),
        (flat.reshape(3, 4, 16), 3, 64, (1, 8, 8)),  # as many labels, not the image's
    ]:
        arr = np.asarray(labels)
        message = f"segments must be int labels of shape ({n}, {d}) or ({d},), "
        message += f"got {arr.dtype} {arr.shape}"
        with pytest.raises(ValueError, match=re.escape(message) + "$"):
            Partition.from_labels(labels, n, d, shape)


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("slic", {"compactness": 0}, "compactness must be a finite number > 0, got 0"),
        ("slic", {"compactness": float("nan")}, "compactness must be a finite number > 0"),
        ("slic", {"compactness": -1.0}, "compactness must be a finite number > 0"),
        ("slic", {"compactness": "10"}, "compactness must be a finite number > 0"),
        # skimage assigned no pixel (-1 everywhere), which became one component
        ("slic", {"max_num_iter": 0}, "max_num_iter must be an int >= 1, got 0"),
        ("slic", {"max_num_iter": -1}, "max_num_iter must be an int >= 1"),
        # numpy's "negative dimensions are not allowed" from inside skimage
        ("slic", {"max_size_factor": -1}, "max_size_factor must be a finite number > 0"),
        # skimage's "cannot convert float NaN to integer" (infinity's OverflowError)
        ("slic", {"min_size_factor": float("nan")}, "min_size_factor must be a finite number >= 0"),
        ("slic", {"min_size_factor": float("inf")}, "min_size_factor must be a finite number >= 0"),
        ("quickshift", {"kernel_size": float("nan")}, "kernel_size must be a finite number > 0"),
        ("quickshift", {"max_dist": -1}, "max_dist must be a finite number >= 0"),
        ("quickshift", {"ratio": -0.5}, "ratio must be a finite number >= 0"),
    ],
)
def test_superpixel_settings_that_skimage_misreads_are_named(method, params, message):
    # skimage raised ZeroDivisionError for compactness=0 and a TypeError for a string;
    # the others it ran with, as one segment, a segment per pixel or |value|.
    with pytest.raises(ValueError, match=message):
        segment(_images(), (8, 8), method=method, **params)


@pytest.mark.parametrize(
    ("returned", "dtype"),
    [
        (lambda image: image, "float64"),  # the image itself: a segment per grey level
        (lambda image: np.full(image.shape, np.nan), "float64"),  # one segment in all
        (lambda image: image > 0.5, "bool"),
        (lambda image: np.full(image.shape, "a"), "<U1"),
    ],
)
def test_a_callable_segmenter_must_return_integer_labels(returned, dtype):
    with pytest.raises(ValueError, match=f"returned {dtype} labels on image 0; expected integer"):
        segment(_images(), (8, 8), method=returned)
    # uint8 ids are labels too, relabelled from 0 as any others
    labels = segment(_images(1), (8, 8), method=lambda image: (image > 0.5).astype(np.uint8) + 4)
    np.testing.assert_array_equal(labels[0], (_images(1)[0] > 0.5).astype(int))


@pytest.mark.parametrize(
    ("shape", "image_shape", "advice"),
    [
        ((3, 8, 8), (8, 8), r"pass X.reshape\(len\(X\), -1\) with image_shape=\(8, 8\)"),
        ((3, 1, 8, 8), (8, 8), r"pass X.reshape\(len\(X\), -1\) with image_shape=\(8, 8\)"),
        ((3, 8, 8, 1), None, r"pass X.reshape\(len\(X\), -1\) with image_shape=\(8, 8\)"),
        # one image with its channel axis, not 8 images of a column of pixels
        ((8, 8, 1), (8, 8), r"one \(8, 8\) image with a channel axis: pass X.reshape\(1, -1\)"),
        ((8, 8, 3), (8, 8), r"one \(8, 8\) image with 3 channels; the segmenters read gray"),
        # without image_shape: the one channels-last image first, not (8, 1) alone
        (
            (8, 8, 1),
            None,
            r"if it is one \(8, 8\) image with a channel axis, pass X.reshape\(1, -1\) with "
            r"image_shape=\(8, 8\); if 8 images of 8x1 pixels, X.reshape\(len\(X\), -1\) "
            r"with image_shape=\(8, 1\)",
        ),
        ((3, 8, 1), [9, 9], r"if it is one \(3, 8\) image with a channel axis"),
        # an image_shape that says a column each is followed
        ((8, 8, 1), (8, 1), r"pass X.reshape\(len\(X\), -1\) with image_shape=\(8, 1\)$"),
        ((3, 3, 8, 8), (8, 8), r"one gray image a row"),
    ],
)
def test_images_are_refused_with_how_to_flatten_them(shape, image_shape, advice):
    with pytest.raises(ValueError, match=rf"X must be flat.*got images of shape.*{advice}"):
        segment(np.zeros(shape), image_shape, method="grid")


def test_pixels_check_an_image_shape_they_are_given():
    # It was ignored: (28, 28) for 64 features gave 64 pixels without a word.
    for wrong in ((28, 28), (8, 0)):
        with pytest.raises(ValueError, match="image_shape"):
            segment(_images(), wrong, method="pixels")
    for fitting in (None, (8, 8), (64,), (1, 8, 8)):
        assert segment(_images(), fitting, method="pixels").tolist() == [list(range(64))] * 3


@pytest.mark.parametrize("method", ["slic", "quickshift"])
@pytest.mark.parametrize("sigma", [-1.0, float("nan"), [1.0, -1.0], "1", True, []])
def test_a_sigma_below_0_or_not_a_number_is_named(method, sigma):
    # slic smoothed with none for -1 and NaN, as for 0; quickshift took a NaN alike.
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0, or one per axis"):
        segment(_images(), (8, 8), method=method, sigma=sigma)
    assert segment(_images(), (8, 8), method=method, sigma=0.5).shape == (3, 64)


def test_a_window_given_as_a_string_is_shown_as_one():
    # "got 2" for window="2" read as though the int 2 had been refused.
    with pytest.raises(ValueError, match=r"window must be a positive int .*, got '2'$"):
        check_window("2", None)
    with pytest.raises(ValueError, match=r"stride must be a positive int .*, got '1'$"):
        Windows.sliding((8, 8), 2, "1")


def test_a_segmenter_passed_where_labels_belong_is_named_with_where_it_goes():
    # A function was refused as "got object ()", a segmenter's name as "got <U4 ()":
    # neither said what was given nor that segmenter= or segment() takes it.
    def halves(image):
        return (np.arange(image.size) % 2).reshape(image.shape)

    for given, named in ((halves, "a function ('halves')"), ("slic", "the segmenter name 'slic'")):
        message = rf"got {re.escape(named)}: segments takes the labels themselves.*segmenter="
        with pytest.raises(TypeError, match=message + r".*unboxed\.local\.segment\(X"):
            Partition.from_labels(given, 3, 64)
    # Rows of different lengths: numpy's "setting an array element with a sequence".
    with pytest.raises(ValueError, match=r"shape \(2, 4\) or \(4,\); could not read them"):
        Partition.from_labels([[0, 1, 1, 0], [0, 1]], 2, 4)


def test_lime_given_a_segmenter_as_segments_says_where_it_goes():
    from sklearn.linear_model import LogisticRegression

    from unboxed import BlackBox
    from unboxed.local import Lime

    digits = load_digits()
    X = digits.data[:200] / 16
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=200).fit(X, digits.target[:200]))
    lime = Lime(box, image_shape=(8, 8), n_samples=50, random_state=0)
    with pytest.raises(TypeError, match=r"got a function \('slic'\).*segmenter="):
        lime.explain(X[:2], segments=slic)


def test_partition_perturb_holds_no_one_hot_table_of_components_by_features():
    # Built as [z, 1 - z] @ [onehot * x; onehot * fill], a block of r rows held several
    # (r, width, d) tables: 409 rows over 784 pixels at 10 samples, 2 GB each, 20 s.
    import tracemalloc

    rng = np.random.default_rng(0)
    r, s, d = 12, 10, 784
    part = Partition.from_labels(np.tile(np.arange(d), (r, 1)), r, d)  # a pixel each
    X, fill = rng.uniform(size=(r, d)), rng.uniform(size=(1, d))
    masks = rng.random((r, s, d)) < 0.5
    tracemalloc.start()
    try:
        out = part.perturb(masks, slice(0, r), X, fill)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(out, np.where(masks, X[:, None], fill[:, None]))
    assert out.dtype == X.dtype and out.flags.c_contiguous
    # The output and its boolean masks, not 2 x 784 one-hot terms per feature.
    assert peak < 4 * out.nbytes, peak / out.nbytes
