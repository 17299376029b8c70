"""The shared input checks."""

import numpy as np
import pytest
import torch  # noqa: F401  (loaded, so all_finite takes its torch path)

from unboxed._validation import (
    TORCH_SCAN_SIZE,
    all_finite,
    check_array,
    check_bounds,
    check_finite,
    check_fraction,
    check_labels,
    check_number,
    check_shape,
    int_seed,
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_one_bad_value_in_a_large_array(dtype, bad):
    X = np.random.default_rng(0).random((TORCH_SCAN_SIZE // 64 + 1, 64)).astype(dtype)
    assert all_finite(X)
    X[-1, 17] = bad
    assert not all_finite(X)
    with pytest.raises(ValueError, match=rf"first at index \({X.shape[0] - 1}, 17\)"):
        check_finite(X, name="X")


def test_all_finite_when_the_sum_overflows_and_on_read_only_arrays():
    big = np.full(TORCH_SCAN_SIZE, np.finfo(np.float32).max, dtype=np.float32)
    assert all_finite(big)  # the sum is inf; the exact scan clears it
    mixed = np.zeros(TORCH_SCAN_SIZE)
    mixed[[3, 9]] = [np.inf, -np.inf]  # they sum to NaN
    mixed.setflags(write=False)
    assert not all_finite(mixed)
    assert all_finite(np.zeros((4, 3))) and not all_finite(np.array([1.0, np.nan]))


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan, 0.0, -1.0, True, "0.1", None, 10**400])
def test_check_number_refuses_what_would_only_yield_nan_later(value):
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        check_number(value, name="lr")


def test_check_number_takes_finite_numbers_and_zero_where_allowed():
    assert check_number(np.float32(0.5), name="x") == 0.5
    assert check_number(0, name="x", strict=False) == 0.0
    with pytest.raises(ValueError, match=">= 0"):
        check_number(-1e-9, name="x", strict=False)


def test_check_array_keeps_a_scalar_a_scalar():
    """So that a rank check sees it: numpy's ascontiguousarray made it 1-d."""
    assert check_array(np.float64(3.0), ndim=None).ndim == 0
    with pytest.raises(ValueError, match="must be 1-dimensional"):
        check_array(3.0, ndim=1)
    arr = check_array(np.arange(6.0).reshape(2, 3).T)
    assert arr.flags.c_contiguous


def test_numbers_too_large_for_a_float_are_clear_errors():
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        check_fraction(10**400, name="test_size")
    with pytest.raises(ValueError, match="bounds must be 2 finite numbers"):
        check_bounds((0, 10**400))
    with pytest.raises(ValueError, match="below 2\\*\\*64"):
        int_seed(2**64)
    assert int_seed(2**64 - 1) == 2**64 - 1


def test_a_zero_dimensional_array_is_not_a_shape_or_bounds():
    with pytest.raises(ValueError, match="non-empty tuple of positive ints"):
        check_shape(np.array(4))
    with pytest.raises(ValueError, match="bounds must be"):
        check_bounds(np.array(5.0))
    assert check_shape(np.array([1, 8, 8])) == (1, 8, 8)


@pytest.mark.parametrize("labels", [np.array([1e20]), np.array([2**63], dtype=np.uint64)])
def test_labels_too_large_for_int64_are_named(labels):
    with pytest.raises(ValueError, match="too large for int64"):
        check_labels(labels, n=1)


def test_check_labels_refuses_the_label_equal_to_n_classes():
    with pytest.raises(ValueError, match="only 3 classes"):
        check_labels(np.array([0, 3]), n=2, n_classes=3)
    assert check_labels(np.array([0, 2]), n=2, n_classes=3).tolist() == [0, 2]
