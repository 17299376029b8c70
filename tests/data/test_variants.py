"""Data variants: class subsets and the planted spurious cue."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from unboxed.data import Cue, Dataset, select_classes, with_spurious_cue
from unboxed.data._dataset import pixel_names


def test_select_classes_relabels(digits):
    pair = select_classes(digits, [8, 3])
    assert pair.class_names == ("8", "3") and pair.n_classes == 2
    assert np.array_equal(pair.X_train, digits.X_train[np.isin(digits.y_train, [3, 8])])
    assert np.array_equal(pair.y_train == 0, digits.y_train[np.isin(digits.y_train, [3, 8])] == 8)
    test_rows = np.isin(digits.y_test, [3, 8])
    assert np.array_equal(pair.X_test, digits.X_test[test_rows])
    assert np.array_equal(pair.y_test, np.where(digits.y_test[test_rows] == 8, 0, 1))
    with pytest.raises(ValueError, match="distinct"):
        select_classes(digits, [3, 3])
    with pytest.raises(ValueError, match=r"a class in classes must lie in \[0, 10\), got 10"):
        select_classes(digits, [3, 10])


def test_cue_on_one_class_of_the_training_split_only(digits):
    cue = Cue(size=2, corner="bottom-right", value=0.9)
    source = digits.X_train.copy()
    planted = with_spurious_cue(digits, 4, cue=cue)
    region = cue.patch_mask((8, 8))
    assert np.flatnonzero(region).tolist() == [54, 55, 62, 63]
    assert planted.support.tolist() == [54, 55, 62, 63]
    carrier = digits.y_train == 4
    assert np.all(planted.X_train[carrier][:, region] == np.float32(0.9))
    assert np.array_equal(planted.X_train[~carrier], digits.X_train[~carrier])
    assert np.array_equal(planted.X_train[carrier][:, ~region], digits.X_train[carrier][:, ~region])
    assert np.array_equal(planted.X_test, digits.X_test)  # "clean" by default
    assert np.array_equal(digits.X_train, source)  # the source data set is left alone


def test_test_split_with_the_cue_in_place_or_moved(digits):
    cue = Cue()
    region = cue.patch_mask((8, 8))
    source = digits.X_test.copy()
    same = with_spurious_cue(digits, 0, test="same")
    moved = with_spurious_cue(digits, 0, test="moved")
    assert np.array_equal(digits.X_test, source)  # the source data set is left alone
    zero = digits.y_test == 0
    assert np.all(same.X_test[zero][:, region] == 1) and np.array_equal(
        same.X_test[~zero], digits.X_test[~zero]
    )
    assert np.all(moved.X_test[~zero][:, region] == 1) and np.array_equal(
        moved.X_test[zero], digits.X_test[zero]
    )


def test_background_cue_paints_the_background():
    cue = Cue(kind="background", value=0.4)
    X = np.array([[0.0, 0.5, 1.0, 0.02]])
    assert np.allclose(cue.plant(X, (2, 2)), [[0.4, 0.5, 1.0, 0.4]])
    assert cue.mask(X, (2, 2)).tolist() == [[True, False, False, True]]
    with pytest.raises(ValueError, match="no fixed region"):
        cue.patch_mask((2, 2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "stripe"}, "kind"),
        ({"size": 0}, "size"),
        ({"corner": "middle"}, "corner"),
        ({"value": float("nan")}, "value"),
        ({"size": 2.0}, "size must be an int"),  # a float side would slice fractionally
        ({"value": float("inf")}, "finite"),
        ({"value": "bright"}, "finite number"),
        ({"value": True}, "finite number"),  # not planted as 1.0
    ],
)
def test_bad_cues(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Cue(**kwargs)


def test_a_cue_takes_0d_arrays_as_the_numbers_they_hold():
    """np.array(2) was "cue size must be an int", np.array(0.5) "must be a finite
    number", where check_positive_int and check_number take them."""
    cue = Cue(size=np.array(2), value=np.array(0.5))
    assert cue == Cue(size=2, value=0.5)
    assert cue.plant(np.zeros((1, 16)), (4, 4)).reshape(4, 4)[:2, :2].tolist() == [[0.5] * 2] * 2
    with pytest.raises(ValueError, match="size must be an int"):
        Cue(size=np.array(2.0))
    with pytest.raises(ValueError, match="finite number"):
        Cue(value=np.array(True))


def test_bad_arguments(digits, planted):
    with pytest.raises(ValueError, match="not an image"):
        with_spurious_cue(planted, 0)
    with pytest.raises(ValueError, match="class_"):
        with_spurious_cue(digits, 12)
    with pytest.raises(ValueError, match="test"):
        with_spurious_cue(digits, 0, test="later")
    with pytest.raises(ValueError, match="does not fit"):
        with_spurious_cue(digits, 0, cue=Cue(size=9))
    with pytest.raises(TypeError, match="cue must be a Cue"):
        with_spurious_cue(digits, 0, cue=3)


@pytest.mark.parametrize(
    ("corner", "pixels"),
    [
        ("top-left", [0, 1, 4, 5]),
        ("top-right", [2, 3, 6, 7]),
        ("bottom-left", [8, 9, 12, 13]),
        ("bottom-right", [10, 11, 14, 15]),
    ],
)
def test_each_corner_gets_its_patch(corner, pixels):
    assert np.flatnonzero(Cue(size=2, corner=corner).patch_mask((4, 4))).tolist() == pixels


def test_a_patch_may_fill_the_image_and_background_includes_the_threshold():
    assert Cue(size=4, corner="bottom-right").patch_mask((4, 4)).all()
    left = Cue(size=4).patch_mask((4, 6)).reshape(4, 6)
    assert left[:, :4].all() and not left[:, 4:].any()
    # "at most BACKGROUND_THRESHOLD" (0.05) counts as background
    X = np.array([[0.05, 0.0501, 0.0]])
    assert Cue(kind="background").mask(X, (1, 3)).tolist() == [[True, False, True]]


def test_names_say_what_was_done(digits):
    assert select_classes(digits, [8, 3]).name == "digits[8,3]"
    assert with_spurious_cue(digits, 0).name == "digits+cue"


def test_select_classes_refuses_bad_classes(digits):
    with pytest.raises(ValueError, match="at least two distinct"):
        select_classes(digits, [3])
    # -1 would otherwise pick the last class through numpy's negative indexing; the
    # messages named "class_", with_spurious_cue's argument, not select_classes' own
    with pytest.raises(ValueError, match=r"^a class in classes must lie in \[0, 10\), got -1"):
        select_classes(digits, [-1, 3])
    with pytest.raises(TypeError, match="^a class in classes must be an int, got float"):
        select_classes(digits, [1.5, 3])  # not silently class 1
    with pytest.raises(TypeError, match="class_ must be an int, got bool"):
        with_spurious_cue(digits, True)


def test_a_dataset_is_required(digits):
    with pytest.raises(TypeError, match="dataset must be an unboxed Dataset, got ndarray"):
        select_classes(digits.X_train, [0, 1])
    with pytest.raises(TypeError, match="dataset must be an unboxed Dataset, got ndarray"):
        with_spurious_cue(digits.X_train, 0)


def test_a_patch_must_fit_both_sides_of_a_non_square_image():
    with pytest.raises(ValueError, match="a 5-pixel patch does not fit a 4x6 image"):
        Cue(size=5).patch_mask((4, 6))
    # 4 rows by 6 columns: the last two rows and the last two columns
    assert np.flatnonzero(Cue(corner="bottom-right").patch_mask((4, 6))).tolist() == [
        16,
        17,
        22,
        23,
    ]


def test_images_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="X has 5 features; expected images of shape"):
        Cue(kind="background").mask(np.zeros((1, 5)), (2, 2))
    with pytest.raises(ValueError, match=r"image_shape must be \(H, W\), got \(2, 2, 2\)"):
        Cue().mask(np.zeros((1, 8)), (2, 2, 2))  # 8 pixels, but not an (H, W) image


def test_masks_are_writable_and_independent_per_image():
    mask = Cue(size=1).mask(np.zeros((2, 4)), (2, 2))
    mask[0, 0] = False  # a caller may edit one image's region
    assert mask.tolist() == [[False, False, False, False], [True, False, False, False]]


def test_plant_leaves_its_input_alone_and_returns_floats():
    X = np.zeros((1, 4), dtype=np.uint8)  # integer images would truncate the cue
    out = Cue(kind="background", value=0.5).plant(X, (2, 2))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.full((1, 4), 0.5))
    floats = np.zeros((1, 4))
    Cue(size=1).plant(floats, (2, 2))
    np.testing.assert_array_equal(floats, np.zeros((1, 4)))  # not planted in place


def test_a_background_cue_by_name_paints_backgrounds_and_drops_the_support():
    X = np.array([[0.0, 0.5, 0.9, 0.0], [0.2, 0.0, 0.0, 0.7]])
    tiny = Dataset(
        "tiny",
        X,
        np.array([0, 1]),
        X.copy(),
        np.array([0, 1]),
        class_names=("a", "b"),
        feature_names=pixel_names((2, 2)),
        image_shape=(2, 2),
        support=np.array([1]),
    )
    cued = with_spurious_cue(tiny, 1, cue="background")
    # only class 1 (row 1) gets its dark pixels set to the default value 1.0
    np.testing.assert_array_equal(cued.X_train, [[0.0, 0.5, 0.9, 0.0], [0.2, 1.0, 1.0, 0.7]])
    # the label now also depends on the background, so the old support no longer holds
    assert cued.support is None


@pytest.mark.parametrize(
    ("image_shape", "message"),
    [
        (None, "image_shape must be a non-empty tuple of positive ints, got None"),
        ((8.0, 8), r"positive ints, got \(8.0, 8\)"),  # "cannot be interpreted as an integer"
        ((-8, -8), r"positive ints, got \(-8, -8\)"),  # "does not fit a -8x-8 image"
        ((64,), r"image_shape must be \(H, W\), got \(64,\)"),  # "not enough values to unpack"
    ],
)
def test_a_cue_names_an_image_shape_that_is_no_image(image_shape, message):
    for place in (
        lambda: Cue().patch_mask(image_shape),
        lambda: Cue().plant(np.zeros((1, 64)), image_shape),
    ):
        with pytest.raises(ValueError, match=message):
            place()


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_a_cue_value_beyond_the_images_dtype_is_refused_not_made_inf(dtype, digits):
    X = np.zeros((2, 64), dtype=dtype)
    with pytest.raises(ValueError, match=f"cue value 1e\\+300 does not fit X's {np.dtype(dtype)}"):
        Cue(value=1e300).plant(X, (8, 8))
    # digits are float32: with_spurious_cue plants through plant
    if dtype == np.float32:
        with pytest.raises(ValueError, match="does not fit X's float32"):
            with_spurious_cue(digits, 0, cue=Cue(kind="background", value=-1e39))
    # the largest value the dtype holds is planted as it is
    top = float(np.finfo(dtype).max)
    assert Cue(value=top).plant(X, (8, 8))[0, 0] == dtype(top)


@pytest.mark.parametrize(
    ("classes", "kind"),
    [(None, "NoneType"), (3, "int"), ({8, 3}, "set"), ("38", "str")],
)
def test_classes_that_are_no_sequence_are_named(classes, kind, digits):
    with pytest.raises(TypeError, match=f"classes must be a sequence of class indices.*got {kind}"):
        select_classes(digits, classes)
    # a range or an array is a sequence with an order
    assert select_classes(digits, np.array([8, 3])).class_names == ("8", "3")
    assert select_classes(digits, range(3, 5)).class_names == ("3", "4")


@pytest.mark.parametrize(
    "make",
    [
        lambda: pd.Series([8, 3], index=[5, 0]),
        lambda: pd.Index([8, 3]),
        lambda: np.array([8, 3]),
        lambda: (8, 3),
        lambda: torch.tensor([8, 3]),
    ],
    ids=["series", "index", "array", "tuple", "tensor"],
)
def test_select_classes_takes_ordered_array_likes(make, digits):
    # A Series worked before classes had to be a Sequence; its values count, in order,
    # not its index.
    pair = select_classes(digits, make())
    assert pair.class_names == ("8", "3")
    assert pair.name == "digits[8,3]"


@pytest.mark.parametrize(
    ("classes", "kind"),
    [(b"38", "bytes"), ({8: 0, 3: 1}, "dict"), (pd.DataFrame({"a": [8, 3]}), "DataFrame")],
)
def test_select_classes_refuses_unordered_or_flat_text(classes, kind, digits):
    # bytes were read as the classes 51 and 56 ("class_ must lie in [0, 10), got 51")
    with pytest.raises(TypeError, match=f"classes must be a sequence of class indices.*got {kind}"):
        select_classes(digits, classes)


def test_select_classes_names_repeats_as_ints(digits):
    with pytest.raises(ValueError, match=r"at least two distinct classes, got \[3, 3\]"):
        select_classes(digits, pd.Series([3, 3]))


@pytest.mark.parametrize(
    ("cue", "carriers"),
    [
        # digits' corners are 0 in most images: the patch was planted where it already was
        (Cue(value=0.0), r"\d+ of the \d+ training images of the other classes"),
        # digits' dark pixels are exactly 0: a background of 0 changed no image at all
        (Cue(kind="background", value=0.0), r"(\d+) of the \1 training images"),
    ],
)
def test_a_cue_the_other_classes_already_hold_is_refused(cue, carriers, digits):
    with pytest.raises(ValueError, match=f"{carriers} .*already hold the cue.*; choose a value"):
        with_spurious_cue(digits, 3, cue=cue)
    # a value no image of another class holds is planted: it predicts class 3 exactly
    cued = with_spurious_cue(digits, 3, cue=dataclasses.replace(cue, value=0.7))
    region = Cue(kind=cue.kind, value=0.7).mask(digits.X_train, (8, 8))
    holds = np.all(~region | (cued.X_train == np.float32(0.7)), axis=1)
    np.testing.assert_array_equal(holds, cued.y_train == 3)


def test_one_image_of_another_class_holding_the_cue_is_named():
    X = np.array([[0.0, 0.5, 0.5, 0.0], [1.0, 0.2, 0.3, 0.4], [0.0, 0.1, 0.6, 0.0]])
    tiny = Dataset(
        "tiny",
        X,
        np.array([0, 1, 1]),
        X.copy(),
        np.array([0, 1, 1]),
        class_names=("a", "b"),
        feature_names=pixel_names((2, 2)),
        image_shape=(2, 2),
    )
    # row 1 (class 1) has the top-left pixel at 1.0: class 0's cue would not be its own
    with pytest.raises(
        ValueError, match=r"1 of the 2 training images .* a 1x1 patch at the top-left"
    ):
        with_spurious_cue(tiny, 0, cue=Cue(size=1))
    # the cue of class 1 is its own: row 0, class 0, has 0.0 there
    assert with_spurious_cue(tiny, 1, cue=Cue(size=1)).X_train[:, 0].tolist() == [0.0, 1.0, 1.0]


def test_a_cue_size_of_a_small_numpy_int_fits_a_large_image():
    # np.int8(2) was kept: 200 - np.int8(2) raised numpy's OverflowError in patch_mask
    cue = Cue(size=np.int8(2), corner="bottom-right")
    assert type(cue.size) is int
    assert np.flatnonzero(cue.patch_mask((200, 200))).tolist() == [39798, 39799, 39998, 39999]
