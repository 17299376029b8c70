"""The shared input checks."""

import functools
import pickle
import re
import warnings

import numpy as np
import pytest
import torch  # loaded, so all_finite takes its torch path
from sklearn.datasets import load_iris

import unboxed
import unboxed.surrogates
from unboxed import NotFittedError
from unboxed._validation import (
    TORCH_SCAN_SIZE,
    all_finite,
    check_array,
    check_bounds,
    check_checkpoint,
    check_checkpoint_file,
    check_feature_indices,
    check_finite,
    check_fraction,
    check_instance,
    check_is_fitted,
    check_ks,
    check_labels,
    check_n_jobs,
    check_number,
    check_one_kind,
    check_per_feature,
    check_positive_int,
    check_positive_ints,
    check_random_state,
    check_shape,
    check_torch_seed,
    int_seed,
    seed_from,
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
    # the check the estimators that seed torch make when built, before any fit
    with pytest.raises(ValueError, match="below 2\\*\\*64"):
        check_torch_seed(2**64)
    check_torch_seed(2**64 - 1)
    check_random_state(2**64)  # numpy takes it: the others keep accepting it


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


def test_float16_labels_are_read_without_overflowing_the_int64_bound():
    # float16 compared with 2**63 overflowed it to inf: a RuntimeWarning.
    labels = check_labels(np.array([0, 2, 1], dtype=np.float16), n=3, n_classes=3)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 2, 1]
    # No labels at all: the range check must not take the max of an empty array.
    for dtype in (np.uint64, np.float16):
        empty = check_labels(np.array([], dtype=dtype), n=0)
        assert empty.dtype == np.int64 and empty.shape == (0,)


def test_boolean_labels_are_classes_0_and_1():
    labels = check_labels(np.array([True, False, True]), n=3, n_classes=2)
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0, 1]


def test_check_labels_refuses_fractional_labels():
    with pytest.raises(ValueError, match="must hold integer class labels, got dtype float64"):
        check_labels(np.array([0.0, 1.5]), n=2)  # 1.5 would have been read as class 1
    assert check_labels(np.array([0.0, 2.0]), n=2).tolist() == [0, 2]


def test_a_bool_random_state_is_refused():
    for flag in (True, np.bool_(False)):  # True would quietly seed 1
        with pytest.raises(TypeError, match="random_state must be None, an int or a Generator"):
            check_random_state(flag)


def test_a_negative_random_state_is_named():
    with pytest.raises(ValueError, match="random_state must be a non-negative int, got -1"):
        check_random_state(-1)
    with pytest.raises(ValueError, match="random_state must be a non-negative int"):
        check_random_state(np.int64(-3))


def test_bounds_and_fractions_refuse_an_empty_range():
    with pytest.raises(ValueError, match="low < high"):
        check_bounds((1.0, 1.0))
    with pytest.raises(ValueError, match="low < high"):
        check_bounds((0, 1, 2, 2), n_axes=2)
    assert check_bounds((0, 1, 2, 3), n_axes=2) == (0.0, 1.0, 2.0, 3.0)
    # Each end finite, the width not: linearize raised an OverflowError sizing its grid.
    with pytest.raises(ValueError, match="a finite high - low"):
        check_bounds((-1e308, 1e308))
    with pytest.raises(ValueError, match="a finite high - low"):
        check_bounds((0, 1, -1e308, 1e308), n_axes=2)
    with pytest.raises(ValueError, match=r"in \(0, 1\], got 0"):
        check_fraction(0, name="test_size")
    assert check_fraction(1, name="test_size") == 1.0


def test_complex_input_is_refused_not_truncated_to_its_real_part():
    with pytest.raises(TypeError, match="X must be real, got complex dtype complex128"):
        check_array(np.array([[1.0 + 2.0j, 0.0]]))


def test_check_shape_refuses_an_axis_of_length_zero():
    for shape in ((8, 0), (0,), (1, 0, 8)):
        with pytest.raises(ValueError, match="non-empty tuple of positive ints"):
            check_shape(shape, name="image_shape")


def test_check_checkpoint_needs_an_int_seed_and_a_file_name(tmp_path):
    check_checkpoint(None, None)  # no checkpoint: any random_state
    check_checkpoint(tmp_path / "fit.safetensors", np.int64(3))
    for random_state in (None, np.random.default_rng(0)):
        with pytest.raises(ValueError, match="needs a reproducible random_state"):
            check_checkpoint(tmp_path / "fit.safetensors", random_state)
    # A caller that records a Generator's state may take one, but still not None.
    check_checkpoint(tmp_path / "fit.npz", np.random.default_rng(0), generator=True)
    with pytest.raises(ValueError, match="needs a reproducible random_state"):
        check_checkpoint(tmp_path / "fit.npz", None, generator=True)
    with pytest.raises(IsADirectoryError, match="is a folder; pass a file name"):
        check_checkpoint(tmp_path, 0)


def test_check_checkpoint_refuses_a_checkpoint_that_is_no_file_name_naming_it(tmp_path):
    class BytesPath:  # a path-like whose file name is bytes
        def __fspath__(self) -> bytes:
            return b"fit.npz"

    # Path() refused these in pathlib's words ('expected str, bytes or os.PathLike
    # object, not int'), naming no argument; bytes, a str's cousin, the same.
    for checkpoint in (5, True, 3.5, b"fit.npz", BytesPath()):
        with pytest.raises(TypeError, match="checkpoint must be a file name, a str or os.PathLike"):
            check_checkpoint_file(checkpoint)
        with pytest.raises(TypeError, match=f"got {type(checkpoint).__name__} "):
            check_checkpoint(checkpoint, 0)
    # Path("") is the working folder: it read as 'checkpoint  is a folder'.
    for check in (check_checkpoint_file, functools.partial(check_checkpoint, random_state=0)):
        with pytest.raises(ValueError, match="^checkpoint is empty; name a file$"):
            check("")
    # A str and a path-like of a str are file names; a folder is not.
    check_checkpoint_file(str(tmp_path / "fit.npz"))
    check_checkpoint_file(tmp_path / "fit.npz")
    with pytest.raises(IsADirectoryError, match="is a folder; pass a file name"):
        check_checkpoint_file(str(tmp_path))


def test_check_checkpoint_takes_a_0d_int_array_as_its_int_seed(tmp_path):
    # np.asarray(3) seeds as 3 (as_seed); with a checkpoint it was refused as
    # "needs a reproducible random_state (an int), got array(3)".
    check_checkpoint(tmp_path / "fit.safetensors", np.asarray(3))
    check_checkpoint(tmp_path / "fit.npz", np.asarray(3), generator=True)
    for random_state in (np.asarray(3.0), np.asarray(True), np.asarray(None), np.asarray([3])):
        with pytest.raises(ValueError, match="needs a reproducible random_state"):
            check_checkpoint(tmp_path / "fit.safetensors", random_state)


def test_check_random_state_uses_a_generator_as_is_and_refuses_other_types():
    rng = np.random.default_rng(5)
    assert check_random_state(rng) is rng  # the caller's stream advances, as documented
    with pytest.raises(TypeError, match="random_state must be None, an int or a numpy"):
        check_random_state(np.random.RandomState(0))
    with pytest.raises(TypeError, match="got str"):
        check_random_state("0")


def test_int_seed_keeps_an_int_and_draws_from_a_generator_over_the_full_range():
    assert int_seed(np.int64(3)) == 3  # a numpy int is a seed, not a source of entropy
    with pytest.raises(ValueError, match="random_state must be an int >= 0, got -1"):
        int_seed(-1)
    # A drawn seed is the generator's next int in [0, 2**31 - 1), reproducibly.
    assert seed_from(np.random.default_rng(0)) == int(
        np.random.default_rng(0).integers(0, 2**31 - 1)
    )
    seeds = {seed_from(np.random.default_rng(i)) for i in range(200)}
    assert len(seeds) == 200 and max(seeds) > 2**24  # not squeezed into a few values


def test_check_array_refuses_non_numeric_wrong_rank_empty_and_non_finite_input():
    with pytest.raises(TypeError, match="X must be numeric, got dtype <U1"):
        check_array([["a", "b"]])  # not numpy's "could not convert string to float"
    with pytest.raises(ValueError, match=r"X must be 2-dimensional, got shape \(1, 2, 2\)"):
        check_array(np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match=r"X is empty: got shape \(0, 3\)"):
        check_array(np.zeros((0, 3)))
    assert check_array(np.zeros((0, 3)), allow_empty=True).shape == (0, 3)
    with pytest.raises(ValueError, match=r"X contains NaN \(first at index \(1, 0\)\)"):
        check_array([[0.0, 1.0], [np.nan, 2.0]])
    assert np.isnan(check_array([[np.nan]], finite=False)[0, 0])


def test_check_array_dtype_conversion():
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert check_array(ints).dtype == np.float64
    assert check_array(np.ones((2, 2), dtype=np.float32)).dtype == np.float64
    # dtype=None keeps a float dtype (no copy of a large float32 array) and turns the
    # rest into float64, so that integer pixels are not divided as integers later.
    assert check_array(np.ones((2, 2), dtype=np.float32), dtype=None).dtype == np.float32
    assert check_array(ints, dtype=None).dtype == np.float64
    assert check_array([[True, False]], dtype=None).tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize(
    ("X", "dtype"), [(np.array([[1.0, 1e308]]), np.float32), (np.array([[70000]]), np.float16)]
)
def test_check_array_names_values_beyond_the_range_of_its_dtype(X, dtype):
    # The cast raised numpy's RuntimeWarning, then the message spoke of an infinity
    # the caller never passed.
    with pytest.raises(ValueError, match=r"X holds values beyond the range of float"):
        check_array(X, dtype=dtype)
    # The message names the largest value given, not the infinity the cast made of it.
    with pytest.raises(ValueError, match=re.escape(f"(up to {np.abs(X).max():g} in magnitude;")):
        check_array(X, dtype=dtype)
    X_nan = X.astype(np.float64)
    X_nan[0, 0] = np.nan  # a NaN that was there is still named as one
    with pytest.raises(ValueError, match=r"X contains NaN \(first at index \(0, 0\)\)"):
        check_array(X_nan, dtype=dtype)


def test_check_array_says_how_far_its_dtype_reaches():
    # The message named the value but not the range it was expected in.
    with pytest.raises(
        ValueError, match=r"up to 1e\+308 in magnitude; float32 holds up to 3.4e\+38"
    ):
        check_array(np.array([[1.0, 1e308]]), dtype=np.float32)
    with pytest.raises(
        ValueError, match=r"up to 70000 in magnitude; float16 holds up to 6.55e\+04"
    ):
        check_array(np.array([[70000]]), dtype=np.float16)


def test_check_finite_names_the_first_bad_value_and_its_kind():
    X = np.zeros((3, 2))
    X[1, 1], X[2, 0] = np.inf, np.nan
    with pytest.raises(ValueError, match=r"X contains infinity \(first at index \(1, 1\)\)"):
        check_finite(X, name="X")


def test_all_finite_on_a_large_array_with_negative_strides():
    """torch.from_numpy refuses negative strides; such a view takes numpy's scan."""
    X = np.zeros(TORCH_SCAN_SIZE)[::-1]
    assert all_finite(X)
    X = np.zeros((TORCH_SCAN_SIZE // 64, 64))
    X[0, 0] = np.nan
    assert not all_finite(X[::-1])


def test_check_labels_refuses_wrong_length_negative_and_infinite_labels():
    with pytest.raises(ValueError, match=r"y must have shape \(3,\), got \(2,\)"):
        check_labels(np.array([0, 1]), n=3)
    with pytest.raises(ValueError, match=r"negative class label \(-1\)"):
        check_labels(np.array([0, -1]), n=2)
    with pytest.raises(ValueError, match="y holds inf at index 1; labels must be finite"):
        check_labels(np.array([0.0, np.inf]), n=2)


def test_check_ks_takes_counts_from_0_to_n_features():
    ks = check_ks([0, 2, 4], n_features=4)
    assert ks.dtype == np.int64 and ks.tolist() == [0, 2, 4]
    assert check_ks(3, n_features=4).tolist() == [3]
    for bad in ([5], [-1, 2]):
        with pytest.raises(ValueError, match=r"ks must lie in \[0, 4\]"):
            check_ks(bad, n_features=4)
    for bad in ([], [1.5], [[1, 2]]):
        with pytest.raises(ValueError, match="ks must be a non-empty list of ints"):
            check_ks(bad, n_features=4)


def test_check_positive_int_minimum_and_bools():
    assert check_positive_int(np.int64(1), name="n") == 1
    assert check_positive_int(0, name="n", minimum=0) == 0
    for bad in (0, -2, True, 2.0):
        with pytest.raises(ValueError, match="n must be an int >= 1"):
            check_positive_int(bad, name="n")


@pytest.mark.parametrize(
    ("n_jobs", "cores", "expected"),
    [
        (1, 8, 1),
        (np.int64(3), 8, 3),
        (-1, 8, 8),
        (-2, 8, 7),
        (-8, 8, 1),
        (-20, 8, 1),
        (-1, None, 1),  # a platform that cannot count its cores
        (-2, 1, 1),
        (12, 2, 12),
        (None, 8, 1),  # scikit-learn's default: one job
    ],
)
def test_check_n_jobs_counts_back_from_the_cores_as_scikit_learn_does(
    n_jobs, cores, expected, monkeypatch
):
    # joblib's effective_n_jobs: cpu_count() + 1 + n_jobs for a negative n_jobs, at
    # least 1; a positive one is taken as asked, even above the cores.
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    resolved = check_n_jobs(n_jobs)
    assert resolved == expected and type(resolved) is int


def test_check_n_jobs_refuses_zero_and_what_is_not_an_int():
    for bad in (0, np.int64(0), 1.0, -1.0, "2", True, False):
        with pytest.raises(ValueError, match=r"n_jobs must be an int >= 1, or < 0 .*-1: every"):
            check_n_jobs(bad)


def test_checks_return_plain_floats():
    """They go into JSON records and torch calls, which want Python floats."""
    assert type(check_number(np.float32(0.5), name="x")) is float
    bounds = check_bounds((np.int64(0), np.float32(1.5)))
    assert bounds == (0.0, 1.5) and all(type(b) is float for b in bounds)
    with pytest.raises(ValueError, match="bounds must be 2 finite numbers"):
        check_bounds((0, 1, 2))  # one axis takes exactly two numbers


def test_check_array_reads_a_tensor_that_requires_grad():
    """numpy's conversion raised torch's own RuntimeError ("Can't call numpy() on
    Tensor that requires grad"); the values are read without the graph."""
    X = torch.arange(6.0).reshape(2, 3).requires_grad_(True)
    arr = check_array(X)
    np.testing.assert_array_equal(arr, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    assert arr.dtype == np.float64 and X.requires_grad  # the caller's tensor is left alone
    assert check_array(X, dtype=None).dtype == np.float32
    with pytest.raises(ValueError, match=r"X contains NaN \(first at index \(0, 1\)\)"):
        check_array(torch.tensor([[0.0, float("nan")]], requires_grad=True))


def test_check_array_names_an_input_whose_conversion_raises_a_runtime_error():
    class Broken:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("device lost")

    with pytest.raises(TypeError, match="X could not be converted to an array: device lost"):
        check_array(Broken())


def test_the_one_not_fitted_error_is_exported_everywhere_and_pickles():
    assert unboxed.NotFittedError is unboxed.surrogates.NotFittedError is NotFittedError
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    err = pickle.loads(pickle.dumps(NotFittedError("this X is not fitted yet")))
    assert type(err) is NotFittedError and str(err) == "this X is not fitted yet"


def test_check_is_fitted_names_the_class_and_the_call():
    class Model:
        pass

    model = Model()
    with pytest.raises(
        NotFittedError, match=r"^this Model is not fitted yet; call fit\(X, y\) first$"
    ):
        check_is_fitted(model, "coef_", how="fit(X, y)")
    with pytest.raises(NotFittedError, match=r"call fit\(X\) first$"):
        check_is_fitted(model, "coef_")
    model.coef_ = np.zeros(2)
    check_is_fitted(model, "coef_")


def test_check_instance_returns_the_value_or_names_the_argument():
    value = np.zeros(2)
    assert check_instance(value, np.ndarray, name="a", what="an array") is value
    with pytest.raises(TypeError, match="^a must be an array, got list$"):
        check_instance([0.0], np.ndarray, name="a", what="an array")


def test_a_fraction_below_one_refuses_one_and_takes_numpy_floats():
    assert check_fraction(np.float32(0.25), name="f", below_one=True) == 0.25
    for bad in (1, 1.0, 0, -0.5, True, "0.2", float("nan")):
        with pytest.raises(ValueError, match=r"^f must lie in \(0, 1\), got"):
            check_fraction(bad, name="f", below_one=True)


def test_feature_indices_lie_in_range_and_a_negative_one_is_not_the_last():
    assert check_feature_indices(np.array([3, 0, 3]), n_features=4, name="s").tolist() == [3, 0, 3]
    assert check_feature_indices(np.array([], dtype=int), n_features=4, name="s").size == 0
    for bad in ([4], [-1], [0.5], [[0, 1]]):
        with pytest.raises(ValueError, match=r"^s must be a vector of feature indices in \[0, 4\)"):
            check_feature_indices(bad, n_features=4, name="s")
    with pytest.raises(ValueError, match=r"^s must be a non-empty list of feature indices"):
        check_feature_indices(np.array([], dtype=int), n_features=4, name="s", allow_empty=False)
    # A set of features names each once.
    with pytest.raises(ValueError, match=r"^s holds feature 3 twice; it is a set"):
        check_feature_indices([1, 3, 0, 3], n_features=4, name="s", allow_duplicates=False)
    once = check_feature_indices([1, 3], n_features=4, name="s", allow_duplicates=False)
    assert once.tolist() == [1, 3]


def test_feature_indices_may_be_unsigned_and_keep_their_dtype():
    indices = np.array([3, 0], dtype=np.uint8)
    checked = check_feature_indices(indices, n_features=4, name="s")
    assert checked.dtype == np.uint8 and checked.tolist() == [3, 0]


def test_feature_indices_take_an_empty_list_and_refuse_masks_and_scalars():
    # numpy makes [] a float array, which was refused as "not integer" even where no
    # index at all is accepted (a Dataset's support).
    empty = check_feature_indices([], n_features=4, name="s")
    assert empty.shape == (0,) and empty.dtype.kind == "i"
    with pytest.raises(ValueError, match=r"^s must be a non-empty list"):
        check_feature_indices([], n_features=4, name="s", allow_empty=False)
    # A boolean mask would select features, not name them; a 0-d array is no vector.
    # An empty complex or string array is no list of indices either (a ComplexWarning
    # casting it to int before).
    for bad in (
        np.array([True, False, True, False]),
        np.array(2),
        [np.bool_(True)],
        np.zeros(0, dtype=complex),
        np.array([], dtype=str),
    ):
        with pytest.raises(ValueError, match=r"^s must be a vector of feature indices"):
            check_feature_indices(bad, n_features=4, name="s")
    numpy_ints = (np.int64(3), np.uint8(0))
    assert check_feature_indices(numpy_ints, n_features=4, name="s").tolist() == [3, 0]


def test_bools_are_refused_where_labels_are_column_indices():
    # A data set's binary label may be a bool; an explanation's target is a column
    # index, where True read as class 1 without a word (check_not_bool's rule).
    for flags in (np.array([True, False]), [True, False], [np.bool_(True), 0]):
        with pytest.raises(TypeError, match="target holds a bool, which names no class"):
            check_labels(flags, n=2, name="target", allow_bool=False)
    assert check_labels(np.array([1, 0]), n=2, allow_bool=False).tolist() == [1, 0]
    assert check_labels([True, False], n=2).tolist() == [1, 0]  # labels: classes 1 and 0


def test_check_array_gives_a_dataframes_rows_a_writable_copy():
    # pandas 3 hands out a DataFrame's values read-only, and torch warned "The given
    # NumPy array is not writable" on the first tensor made of them (Distiller.predict,
    # LinearRegions, DecisionNet of a breast-cancer DataFrame).
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data
    assert not np.asarray(frame).flags.writeable  # what the fix works around
    rows = check_array(frame)
    assert rows.flags.writeable
    np.testing.assert_array_equal(rows, frame.to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.as_tensor(rows)
    # A read-only array of the caller's own stays shared, not copied.
    frozen = frame.to_numpy().copy()
    frozen.flags.writeable = False
    assert np.shares_memory(check_array(frozen), frozen)


def test_check_per_feature_names_a_flat_input_shape_once():
    # "scale has shape (3,); expected ... shape (4,) or (4,)" for a table's (4,)
    with pytest.raises(ValueError, match=r"one value per feature, shape \(4,\)$"):
        check_per_feature(np.ones(3), name="scale", n_features=4, input_shape=(4,))
    # an image's own shape is still offered
    with pytest.raises(ValueError, match=r"shape \(4,\) or \(1, 2, 2\)$"):
        check_per_feature(np.ones(3), name="scale", n_features=4, input_shape=(1, 2, 2))


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (True, "True"),
        (np.True_, "np.True_"),
        (np.asarray(False), "array(False)"),
        (np.array([True, False, True, True]), "bools of shape (4,)"),
        ([True, False, True, True], "bools of shape (4,)"),
    ],
)
def test_check_per_feature_refuses_a_bool_of_any_kind(value, got):
    # A Python bool was refused, but numpy's and a bool array read as 1.0/0.0: a noise
    # scale of np.True_ was a scale of 1 in every feature.
    with pytest.raises(
        TypeError, match=rf"^scale must be a number or an array of numbers, got {re.escape(got)}$"
    ):
        check_per_feature(value, name="scale", n_features=4)


@pytest.mark.skipif(
    np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
    reason="longdouble is float64 here: 1e400 is infinite as given",
)
def test_a_longdouble_beyond_float64_is_named_as_such_with_its_magnitude():
    # check_array said "up to inf in magnitude" (":g" of 1e400 as a float), and with
    # finite=False, which check_per_feature passes to check finiteness itself, its
    # own check said "scale must be finite in every feature, got NaN or infinity".
    iris = load_iris().data[:3].astype(np.longdouble)
    iris[1, 2] = np.longdouble("-1e400")
    message = (
        "beyond the range of float64 (up to 1e+400 in magnitude; float64 holds up to 1.8e+308)"
    )
    with pytest.raises(ValueError, match=rf"^X holds values {re.escape(message)}$"):
        check_array(iris)
    with pytest.raises(ValueError, match=rf"^scale holds values {re.escape(message)}$"):
        check_per_feature(iris[1], name="scale", n_features=4, minimum=None)
    assert check_array(iris[[0, 2]], finite=False).dtype == np.float64  # in range: kept


def test_check_array_keeps_numpys_usual_floats_and_reads_others_as_numbers():
    X = load_iris().data[:5]
    for dtype in (np.float16, np.float32, np.float64):
        assert check_array(X.astype(dtype), dtype=None).dtype == dtype
    # longdouble went on as it was, and torch cannot read it
    wide = check_array(X.astype(np.longdouble), dtype=None)
    assert wide.dtype == np.float64
    np.testing.assert_array_equal(wide, X)
    # numpy refused a bfloat16 tensor: "Got unsupported ScalarType BFloat16"
    half = torch.tensor(X, dtype=torch.bfloat16)
    read = check_array(half, dtype=None)
    assert read.dtype == np.float32
    np.testing.assert_array_equal(read, half.float().numpy())
    np.testing.assert_allclose(read, X, rtol=1e-2)


def test_a_tensor_without_data_is_refused_by_name():
    # A meta tensor has no values: reading it on the CPU raised NotImplementedError
    # from inside torch.
    with pytest.raises(TypeError, match=r"X could not be converted to an array: Cannot copy"):
        check_array(torch.ones((2, 3), device="meta"))


def test_a_gap_in_a_dataframe_names_its_row_by_the_frames_index():
    """A split's shuffled index: "first at index (3, 2)" sent the user to
    df.loc[3], another row of the table (or none, on an offset index)."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    wine = load_wine(as_frame=True).data
    _, X_test = train_test_split(wine, test_size=0.3, random_state=0)
    X_test = X_test.copy()
    X_test.iloc[3, 2] = np.nan
    label = X_test.index[3]
    assert label != 3  # the shuffled index: position 3 is another row's label
    message = rf"first at index \(3, 2\), column 'ash', row X\.loc\[{label}\]; impute"
    with pytest.raises(ValueError, match=message):
        check_array(X_test)
    assert np.isnan(X_test.loc[label, "ash"])  # the row the message names holds the gap
    offset = X_test.set_axis([f"wine {i}" for i in range(len(X_test))])
    with pytest.raises(ValueError, match=r"row background\.loc\['wine 3'\]; impute"):
        check_array(offset, name="background")
    # A default index labels each row by its position: the label would say it twice.
    with pytest.raises(ValueError, match=r"column 'ash'; impute"):
        check_array(X_test.reset_index(drop=True))


def test_a_gap_in_a_dataframe_names_its_row_by_a_multiindex_label_as_written():
    # A MultiIndex labels a row by a tuple of numpy scalars, which read
    # "X.loc[(np.int64(1), 12)]"; the label is written as the user would write it.
    import pandas as pd
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True)
    X = wine.data.set_axis(pd.MultiIndex.from_arrays([wine.target, wine.data.index]))
    X = X.iloc[::-1].copy()
    X.iloc[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"column 'ash', row X\.loc\[\(2, 174\)\]; impute"):
        check_array(X)
    assert np.isnan(X.loc[(2, 174), "ash"])  # the row the message names holds the gap


def test_check_aligned_refuses_only_labels_of_the_same_rows_in_another_order():
    import pandas as pd

    from unboxed._validation import check_aligned

    X = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=[1053, 1064, 1006])
    check_aligned(pd.Series([0, 1, 0], index=[1053, 1064, 1006]), X)  # aligned
    check_aligned(pd.Series([0, 1, 0]), X)  # another index: by position
    check_aligned(pd.Series([0, 1, 0], index=[1053, 1064, 7]), X)  # not the same rows
    check_aligned(np.array([0, 1, 0]), X)  # no index
    check_aligned(pd.Series([0, 1, 0], index=[1006, 1053, 1064]), X.to_numpy())  # no frame
    with pytest.raises(ValueError, match=r"target's index holds the rows of X in another"):
        check_aligned(pd.Series([0, 1, 0], index=[1006, 1053, 1064]), X, name="target")
    with pytest.raises(ValueError, match=r"pass y\.loc\[X\.index\]"):
        check_aligned(pd.DataFrame({"y": [0, 1, 0]}, index=[1064, 1053, 1006]), X)


def test_check_aligned_reads_a_multiindex_beside_a_flat_index_by_position():
    # A y indexed by (group, row) beside a flat X: pandas' isin raised "MultiIndex.isin
    # expects an iterable of tuples", where both were read by position before.
    import pandas as pd

    from unboxed._validation import check_aligned

    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]})
    y = pd.Series([0, 1, 0, 1], index=pd.MultiIndex.from_product([[0, 1], ["a", "b"]]))
    check_aligned(y, X)
    check_aligned(pd.Series([0, 1, 0, 1]), X.set_axis(y.index))
    with pytest.raises(ValueError, match=r"another order"):  # two levels both, reordered
        check_aligned(y.iloc[::-1], X.set_axis(y.index))


def test_check_aligned_names_the_fix_of_rows_that_match_by_position():
    # A shuffled table whose X alone got a new index (a scaler's DataFrame) matches y by
    # position: y.loc[X.index], the only fix named, gave each row another row's label.
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils import shuffle

    from unboxed._validation import check_aligned

    X, y = shuffle(*load_iris(return_X_y=True, as_frame=True), random_state=0)
    X = pd.DataFrame(StandardScaler().fit_transform(X), columns=X.columns)
    with pytest.raises(ValueError, match=r"y\.loc\[X\.index\].*pass y\.to_numpy\(\)") as raised:
        check_aligned(y, X)
    assert "X's index reset after a shuffle" in str(raised.value)
    check_aligned(y.to_numpy(), X)  # the fix it names


def test_a_series_of_objects_holding_numbers_is_read_as_numbers():
    # X_train.min() of a table with a bool column holds objects (ints, floats, bools).
    import pandas as pd

    mixed = pd.DataFrame({"a": [1, 3], "b": [True, False], "c": [0.5, 2.5]}).min()
    assert mixed.dtype == object
    np.testing.assert_array_equal(check_array(mixed, ndim=1), [1.0, 0.0, 0.5])
    with pytest.raises(TypeError, match="must be numeric, got dtype object"):
        check_array(pd.Series(["a", 1], dtype=object), ndim=1)
    with pytest.raises(ValueError, match=r"X contains NaN \(first at index \(1,\)\)"):
        check_array(pd.Series([1, None], dtype=object), ndim=1)


def test_a_gap_in_float_labels_is_named_as_a_missing_label():
    # A gap in a pandas column of int labels makes them floats (or Int64 with pd.NA):
    # "y must hold integer class labels, got dtype float64" named no gap, and its hint
    # to give the black box classes=[...] led away from it.
    import pandas as pd
    from sklearn.datasets import load_iris

    y = load_iris(as_frame=True).target
    gappy = y.astype(float)
    gappy.iloc[3] = np.nan
    message = r"y holds a missing label \(nan\) at index 3; drop those rows or give them a class"
    with pytest.raises(ValueError, match=message):
        check_labels(gappy, n=len(y), hint="; give the black box classes")
    nullable = y.astype("Int64")
    nullable.iloc[3] = pd.NA
    with pytest.raises(ValueError, match=message):
        check_labels(nullable.astype("Float64").to_numpy(dtype=float, na_value=np.nan), n=len(y))
    assert check_labels(y.astype(float), n=len(y)).tolist() == y.tolist()  # no gap: as before


def test_an_infinite_label_is_named_with_its_row():
    # [0, inf] read "y must hold integer class labels, got dtype float64", naming
    # neither the infinity nor its row.
    from sklearn.datasets import load_iris

    y = load_iris(as_frame=True).target.astype(float)
    y.index += 1000
    y.iloc[4] = -np.inf
    with pytest.raises(ValueError) as raised:
        check_labels(y, n=len(y))
    assert str(raised.value) == "y holds -inf at index 4, row y.loc[1004]; labels must be finite"
    with pytest.raises(ValueError) as raised:  # a caller holding the values passes the index
        check_labels(y.to_numpy(np.float32), n=len(y), name="target", index=y.index)
    assert str(raised.value) == (
        "target holds -inf at index 4, row target.loc[1004]; labels must be finite"
    )
    with pytest.raises(ValueError) as raised:
        check_labels([0, 1, np.inf], n=3)
    assert str(raised.value) == "y holds inf at index 2; labels must be finite"


def test_dates_as_labels_are_refused_by_their_dtype():
    # A list of NaT alone becomes a datetime64 array, which check_no_missing does not
    # scan: the dtype is the fault there (no date is a class), and the message says so.
    nat = np.datetime64("NaT")
    dated = r"^y must hold integer class labels, got dtype datetime64"
    with pytest.raises(ValueError, match=dated):
        check_labels([nat, nat], n=2)
    with pytest.raises(ValueError, match=r"y holds a missing label \(.*NaT.*\) at index 1"):
        check_labels([0, nat], n=2)


def test_a_missing_label_of_a_split_names_its_row_by_the_series_index():
    # A split's shuffled index: "at index 3" sent the user to y.loc[3], another row's
    # label, as a NaN in X did before it was named by its row's label.
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    y = load_iris(as_frame=True).target.astype(float)
    _, y_test = train_test_split(y, test_size=0.3, random_state=0)
    for missing, dtype in ((np.nan, float), (pd.NA, "Int64")):  # Int64 reads as nan
        gappy = y_test.astype(dtype)
        gappy.iloc[3] = missing
        label = gappy.index[3]
        assert label != 3
        message = rf"missing label \(.*\) at index 3, row y\.loc\[{label}\]; drop"
        with pytest.raises(ValueError, match=message):
            check_labels(gappy, n=len(gappy))
        assert pd.isna(gappy.loc[label])  # the row the message names holds the gap
    with pytest.raises(ValueError, match=r"at index 3; drop"):  # its own row numbers
        check_labels(gappy.reset_index(drop=True), n=len(gappy))


@pytest.mark.parametrize(
    ("check", "given", "expected"),
    [
        (lambda v: check_number(v, name="radius"), np.asarray(0.05), 0.05),
        (lambda v: check_number(v, name="radius"), np.asarray(3), 3.0),
        (lambda v: check_number(v, name="alpha", strict=False), np.asarray(0.0), 0.0),
        (lambda v: check_positive_int(v, name="n"), np.asarray(3), 3),
        (lambda v: check_positive_int(v, name="n", minimum=0), np.asarray(np.uint8(0)), 0),
        (lambda v: check_fraction(v, name="f"), np.asarray(0.3), 0.3),
        (lambda v: check_fraction(v, name="f", below_one=True), np.asarray(np.float32(0.25)), 0.25),
        (check_n_jobs, np.asarray(3), 3),
    ],
    ids=[
        "number",
        "number-of-int",
        "number-zero",
        "int",
        "int-zero",
        "fraction",
        "below-one",
        "n_jobs",
    ],
)
def test_a_0d_array_is_a_number(check, given, expected):
    # np.asarray(0.05) is a number to a user, as np.float32(0.05) is: it was refused,
    # "radius must be a finite number > 0, got array(0.05)". What comes back is a
    # plain Python number, for JSON records and torch calls.
    result = check(given)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda v: check_number(v, name="radius"), r"radius must be a finite number > 0, got "),
        (lambda v: check_positive_int(v, name="n"), r"n must be an int >= 1, got "),
        (lambda v: check_fraction(v, name="f"), r"f must be a number in \(0, 1\], got "),
        (lambda v: check_fraction(v, name="f", below_one=True), r"f must lie in \(0, 1\), got "),
        (check_n_jobs, r"n_jobs must be an int >= 1, or < 0 "),
    ],
    ids=["number", "int", "fraction", "below-one", "n_jobs"],
)
@pytest.mark.parametrize(
    "bad",
    [np.asarray(True), np.bool_(True), np.array([1]), np.array([0.5]), np.asarray(np.nan)],
    ids=["0d-bool", "bool_", "1-element-int", "1-element-float", "0d-nan"],
)
def test_a_0d_bool_a_nan_or_a_1_element_vector_is_still_no_number(check, message, bad):
    # A 1-element 1-d array is a vector, not a number, and a bool is no number in
    # any wrapping; the message shows the value as it was passed.
    with pytest.raises(ValueError, match=message) as raised:
        check(bad)
    assert str(raised.value).endswith(f"got {bad!r}")


@pytest.mark.parametrize("given", [np.asarray(3), np.asarray(np.uint8(3))], ids=["int64", "uint8"])
def test_a_0d_int_array_seeds_as_its_int(given):
    # random_state=np.asarray(3) was refused ("got ndarray"), where every other number
    # setting reads a 0-d array as the number it holds.
    np.testing.assert_array_equal(
        check_random_state(given).random(5), np.random.default_rng(3).random(5)
    )
    check_torch_seed(given)
    seed = int_seed(given)  # the int itself, not a seed drawn from it
    assert seed == 3 and type(seed) is int
    with pytest.raises(ValueError, match=r"random_state must be a non-negative int, got -1$"):
        check_random_state(np.asarray(-1))
    with pytest.raises(ValueError, match=r"random_state must be an int >= 0, got array\(-1\)$"):
        int_seed(np.asarray(-1))
    # the largest a 0-d array holds is below torch's 2**64
    assert int_seed(np.asarray(np.uint64(2**64 - 1))) == 2**64 - 1


@pytest.mark.parametrize("check", [check_random_state, int_seed, check_torch_seed])
def test_a_0d_bool_float_or_other_shape_is_still_no_seed(check):
    with pytest.raises(TypeError, match=r"None, an int or a Generator, got array\(True\)$"):
        check(np.asarray(True))  # True would seed 1, as a plain True would
    # a float, a vector and a 0-d array of objects (np.asarray(None) is not None)
    for bad in (np.asarray(3.0), np.asarray([3]), np.asarray(None)):
        with pytest.raises(TypeError, match=r"an int or a numpy\.random\.Generator, got ndarray$"):
            check(bad)


@pytest.mark.parametrize(
    "value",
    [
        [1, True, 0, 0],
        (0.5, np.True_, 0.0, 0.0),
        [1.0, np.asarray(False), 0, 0],
        [[1, 2], [np.True_, 0]],
        [np.array([True, False]), np.array([1, 0])],
    ],
    ids=["list-bool", "tuple-numpy-bool", "list-0d-bool", "nested", "list-of-arrays"],
)
def test_check_per_feature_refuses_a_list_holding_a_bool_among_numbers(value):
    # numpy stores [1, True, 0, 0] as ints, so the bool check on the array's dtype
    # missed it: a scale of 1 where the True was. Refused as a bool array is.
    with pytest.raises(
        TypeError, match=r"^scale must be a number or an array of numbers, got bools of shape \("
    ):
        check_per_feature(value, name="scale", n_features=4)
    numbers_only = check_per_feature([1, 2, 0, 0], name="scale", n_features=4)
    np.testing.assert_array_equal(numbers_only, [1.0, 2.0, 0.0, 0.0])  # as before


def test_shapes_widths_and_bounds_read_numpy_numbers_as_the_numbers_they_hold():
    # (np.asarray(8), 8) was "input_shape must be a non-empty tuple of positive ints",
    # and (np.asarray(0.0), 1.0) was no bounds, where check_number reads np.asarray(0.05)
    # as 0.05. What comes back is plain Python numbers, as for any other input.
    shape = check_shape((np.asarray(1), np.asarray(np.uint8(8)), np.int32(8)))
    assert shape == (1, 8, 8) and all(type(s) is int for s in shape)
    widths = check_positive_ints((np.asarray(64), np.int64(32)), name="hidden")
    assert widths == (64, 32) and all(type(w) is int for w in widths)
    bounds = check_bounds((np.asarray(0.0), np.asarray(1), np.float32(-1.0), 2), n_axes=2)
    assert bounds == (0.0, 1.0, -1.0, 2.0) and all(type(b) is float for b in bounds)


@pytest.mark.parametrize(
    ("bad", "a_bound"),
    [
        (np.asarray(True), False),
        (np.True_, False),
        (np.asarray(8.0), True),  # no int, but a number
        (np.asarray(np.nan), False),
        (np.array([8]), False),  # a vector, not a number
    ],
)
def test_shapes_widths_and_bounds_still_refuse_bools_and_non_numbers_wrapped_in_numpy(bad, a_bound):
    with pytest.raises(ValueError, match=r"input_shape must be a non-empty tuple of positive"):
        check_shape((bad, 8))
    with pytest.raises(ValueError, match=r"hidden must be an int >= 1, got "):
        check_positive_ints((bad,), name="hidden")
    if a_bound:
        assert check_bounds((bad, 10.0)) == (8.0, 10.0)
    else:
        with pytest.raises(ValueError, match=r"bounds must be 2 finite numbers"):
            check_bounds((bad, 10.0))


def test_check_positive_ints_refuses_a_0d_array_by_name():
    # It passed the check for a sequence and then raised numpy's own TypeError,
    # "iteration over a 0-d array".
    with pytest.raises(ValueError, match=r"^hidden must be a sequence of ints \(e\.g\. \(256, "):
        check_positive_ints(np.asarray(64), name="hidden")
    with pytest.raises(ValueError, match=r"hidden must be a sequence of ints"):
        check_positive_ints(np.ones((1, 2), dtype=int), name="hidden")
    assert check_positive_ints(np.array([64, 32]), name="hidden") == (64, 32)  # as before


@pytest.mark.parametrize("missing", ["nan", "NA", "NaT", "datetime64-NaT"])
def test_a_row_whose_label_is_missing_is_named_by_its_position(missing):
    # "row X.loc[nan]" named a location no one can look up; a None label was left out,
    # and the position, which the message gives, names the row.
    import pandas as pd

    from unboxed._validation import label_loc, row_label

    gap = {
        "nan": np.nan,
        "NA": pd.NA,
        "NaT": pd.NaT,
        "datetime64-NaT": np.datetime64("NaT"),
    }[missing]
    index = pd.Index(["a", "b", "c", gap, "e"], dtype=object)
    assert label_loc(index, 3, "X") is None and row_label(index, 3, "X") == ""
    assert label_loc(index, 2, "X") == "X.loc['c']"  # the others keep their labels
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, np.nan, 5.0]}, index=index)
    with pytest.raises(ValueError, match=r"first at index \(3, 0\), column 'a'; impute"):
        check_array(X)
    y = pd.Series([0.0, 1.0, 0.0, np.nan, 1.0], index=index)
    with pytest.raises(ValueError, match=r"missing label \(nan\) at index 3; drop"):
        check_labels(y, n=5)


@pytest.mark.parametrize(
    ("classes", "shown"),
    [
        (["cat", np.array(0)], "['cat', 0]"),
        (["cat", torch.tensor(1.5)], "['cat', 1.5]"),
        (["cat", np.True_], "['cat', True]"),
    ],
)
def test_a_0d_array_among_string_classes_is_a_number_that_mixes_kinds(classes, shown):
    # ["cat", np.array(0)] was accepted as ("cat", "0"), where ["cat", 0] is refused.
    message = (
        f"classes mixes strings and numbers, {shown}; give labels of one kind: all strings "
        "(str(label) for each) or all numbers"
    )
    with pytest.raises(TypeError) as raised:
        check_one_kind(classes, name="classes")
    assert str(raised.value) == message
    with pytest.raises(TypeError) as raised:
        unboxed.BlackBox.from_callable(_uniform, n_classes=2, input_shape=(3,), classes=classes)
    assert str(raised.value) == message
    # a 0-d array of the same kind is that label
    check_one_kind(["cat", np.array("dog")], name="classes")
    check_one_kind([np.array(0), 1], name="classes")


def _uniform(X):
    return np.full((len(X), 2), 0.5)


def _not_flat(entry: str, index: int, name: str = "classes") -> str:
    return (
        f"{name} holds {entry} at index {index}, which is not a scalar; labels must be a "
        "flat list of scalars, one label each"
    )


@pytest.mark.parametrize(
    ("classes", "entry", "index"),
    [
        ([[1], [2, 3], [4]], "[1]", 0),
        ([0, [1, 2], 2], "[1, 2]", 1),
        ([np.array([0]), np.array([1, 2]), 2], "array([0])", 0),
        (["cat", np.array(["dog"]), "cow"], "array(['dog'], dtype='<U3')", 1),
    ],
)
def test_ragged_classes_name_their_first_entry_that_is_not_a_scalar(classes, entry, index):
    # [[1], [2, 3]] failed inside numpy: "setting an array element with a sequence. The
    # requested array has an inhomogeneous shape after 1 dimensions".
    message = _not_flat(entry, index)
    with pytest.raises(ValueError) as raised:
        unboxed.BlackBox.from_callable(_uniform3, n_classes=3, input_shape=(4,), classes=classes)
    assert str(raised.value) == message
    # the classes a surrogate fits, read before any sampling
    X = load_iris().data[:30]
    blackbox = unboxed.BlackBox.from_callable(_uniform3, n_classes=3, input_shape=(4,))
    with pytest.raises(ValueError) as raised:
        unboxed.surrogates.DMMMEN(random_state=0).fit(X, blackbox, classes=classes)
    assert str(raised.value) == message
    with pytest.raises(ValueError) as raised:
        check_labels(classes, n=3, name="classes")
    assert str(raised.value) == message


def test_ragged_labels_of_rows_name_their_first_entry_that_is_not_a_scalar():
    with pytest.raises(ValueError) as raised:
        check_labels([[1], [2, 3]], n=2)
    assert str(raised.value) == _not_flat("[1]", 0, "y")
    # a 2-D array of labels is a shape fault, as before
    with pytest.raises(ValueError, match=re.escape("y must have shape (2,), got (2, 1)")):
        check_labels([[1], [2]], n=2)


def _uniform3(X):
    return np.full((len(X), 3), 1 / 3)


def test_a_ragged_target_is_named_by_the_argument_that_holds_it():
    # BlackBox.class_index passed no name on, so target=[[1], [2, 3]] read "labels holds".
    blackbox = unboxed.BlackBox.from_callable(_uniform3, n_classes=3, input_shape=(4,))
    with pytest.raises(ValueError) as raised:
        blackbox.class_index([[1], [2, 3]], name="target")
    assert str(raised.value) == _not_flat("[1]", 0, "target")
