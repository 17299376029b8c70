"""Data variants: class subsets and the planted spurious cue."""

from __future__ import annotations

import numpy as np
import pytest

from unboxed.data import Cue, select_classes, with_spurious_cue


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
    with pytest.raises(ValueError, match="class_"):
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
    ],
)
def test_bad_cues(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Cue(**kwargs)


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
