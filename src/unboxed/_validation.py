"""Input checks shared by every public entry point.

Each check raises ``ValueError`` or ``TypeError`` with a message that says what was
expected, so that bad input never reaches numpy or torch internals. A method called
before ``fit`` raises :class:`NotFittedError`.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

import numpy as np
from numpy.typing import DTypeLike

RandomState = int | np.random.Generator | None
T = TypeVar("T")


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit``.

    A ``ValueError`` and an ``AttributeError``, as scikit-learn's ``NotFittedError``
    is, so that ``except ValueError`` catches it.
    """


def check_is_fitted(estimator: object, attribute: str, *, how: str = "fit(X)") -> None:
    """Raise :class:`NotFittedError` unless ``fit`` has set ``attribute``.

    Parameters
    ----------
    estimator : object
        The estimator a method was called on.
    attribute : str
        A learned attribute that ``fit`` sets.
    how : str
        The call that fits it, for the message.

    Raises
    ------
    NotFittedError
        If ``estimator`` has no ``attribute``.
    """
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call {how} first")


def check_instance(value: object, kind: type[T], *, name: str, what: str) -> T:
    """Return ``value`` if it is a ``kind``, else raise ``TypeError`` naming ``name``.

    Parameters
    ----------
    value : object
        The argument.
    kind : type
        The class it must be an instance of.
    name : str
        The argument's name, for the message.
    what : str
        What it must be, for the message ("an Attribution").

    Returns
    -------
    object
        ``value``, typed as a ``kind``.

    Raises
    ------
    TypeError
        If ``value`` is not a ``kind``.
    """
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


def check_random_state(random_state: RandomState) -> np.random.Generator:
    """Resolve ``random_state`` once into a ``numpy.random.Generator``.

    Parameters
    ----------
    random_state : int, numpy.random.Generator or None
        An int (numpy's, a 0-d array's too) seeds a new generator; a generator is used
        as is; None draws fresh entropy, so results are not reproducible.
    """
    seed = as_seed(random_state)
    if isinstance(seed, bool | np.bool_):  # True would seed 1, a likely slip
        raise TypeError(f"random_state must be None, an int or a Generator, got {random_state!r}")
    if seed is None or isinstance(seed, numbers.Integral):
        if seed is not None and int(seed) < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}")
        return np.random.default_rng(None if seed is None else int(seed))
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise TypeError(
        "random_state must be None, an int or a numpy.random.Generator, "
        f"got {type(random_state).__name__}"
    )


def as_seed(random_state: object) -> object:
    """A 0-d numeric array as the scalar it holds (:func:`_scalar`), so that
    ``np.asarray(3)`` seeds as 3 does, as every other number setting reads it; anything
    else as it is. A 0-d object array stays an array: ``np.asarray(None)`` is not None."""
    if isinstance(random_state, np.ndarray) and random_state.dtype != object:
        return _scalar(random_state)
    return random_state


def seed_from(rng: np.random.Generator) -> int:
    """Draw an int seed from ``rng`` for libraries that take an int (torch)."""
    return int(rng.integers(0, 2**31 - 1))


def check_torch_seed(random_state: RandomState) -> None:
    """Check ``random_state`` as :func:`int_seed` reads it, for an estimator that seeds
    torch with it: :func:`check_random_state`'s checks, and an int below 2**64.

    An estimator that never needs an int seed calls :func:`check_random_state` alone:
    numpy takes any non-negative int.

    Parameters
    ----------
    random_state : int, numpy.random.Generator or None

    Raises
    ------
    TypeError
        If ``random_state`` is not None, an int or a Generator.
    ValueError
        If it is a negative int, or one of 2**64 or more.
    """
    check_random_state(random_state)
    seed = as_seed(random_state)
    if is_int(seed) and seed >= 2**64:  # torch's seeds are 64-bit
        raise ValueError(f"random_state must be below 2**64, got {random_state}")


def int_seed(random_state: RandomState) -> int:
    """An int seed for torch and for JSON records: an int as it is, else one drawn.

    None draws fresh entropy, so the result is not reproducible, as documented for
    every ``random_state``.
    """
    if is_int(as_seed(random_state)):  # np.asarray(3) is 3, not a source of entropy
        seed = check_positive_int(random_state, name="random_state", minimum=0)
        check_torch_seed(seed)
        return seed
    return seed_from(check_random_state(random_state))


def check_checkpoint(
    checkpoint: object, random_state: RandomState, *, generator: bool = False
) -> None:
    """Refuse, before any work, a checkpoint that could never be resumed.

    A checkpoint needs an int ``random_state`` (a 0-d array's too, as :func:`as_seed`
    reads it): with None or a generator a rerun draws other models than the saved ones.
    And it must name a file, not a folder. With
    ``generator=True`` a Generator is accepted too, for a caller that records its state
    at the start of the fit (a rerun resumes only from a generator in that state).
    """
    if checkpoint is None:
        return
    seeded = is_int(as_seed(random_state))  # np.asarray(3) seeds as 3 does
    if not (seeded or (generator and isinstance(random_state, np.random.Generator))):
        kinds = "an int or a Generator" if generator else "an int"
        raise ValueError(
            f"a checkpoint needs a reproducible random_state ({kinds}), got "
            f"{random_state!r}: a rerun would fit other models, so it could never resume"
        )
    check_checkpoint_file(checkpoint)


def check_checkpoint_file(checkpoint: object) -> None:
    """Refuse, before any work, a checkpoint that is no file name (None passes).

    A str or an ``os.PathLike`` of a str, not empty and not a folder.
    """
    if checkpoint is None:
        return
    # Path() refused an int or bytes in pathlib's words ('expected str, bytes or
    # os.PathLike object, not int'), naming no argument; a path-like whose
    # __fspath__ gives bytes is no file name this library can write either.
    name = os.fspath(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else None
    if not isinstance(name, str):
        raise TypeError(
            "checkpoint must be a file name, a str or os.PathLike, got "
            f"{type(checkpoint).__name__} {checkpoint!r}"
        )
    if not name:  # Path("") is the working folder: it read as "checkpoint  is a folder"
        raise ValueError("checkpoint is empty; name a file")
    if Path(name).is_dir():
        raise IsADirectoryError(f"checkpoint {checkpoint} is a folder; pass a file name")


def check_array(
    X: object,
    *,
    name: str = "X",
    ndim: int | None = 2,
    dtype: DTypeLike | None = np.float64,
    allow_empty: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Convert ``X`` to a finite numeric array and check its rank.

    Parameters
    ----------
    X : array-like
        The input.
    name : str
        The name used in error messages.
    ndim : int or None
        Required number of dimensions, or None for any.
    dtype : numpy dtype or None
        The dtype of the returned array. None keeps float16, float32 and float64 as
        they are (to spare a copy of a large float32 array) and turns anything else
        (ints, bools, longdouble) into float64. A torch tensor is read detached, from
        the CPU, and a bfloat16 one as float32.
    allow_empty : bool
        Whether an array with zero rows is accepted.
    finite : bool
        Whether to check for NaN and infinity. Only for arrays this library has just
        computed and checked itself, or that the caller checks itself. Finite values
        that the conversion to ``dtype`` overflows are refused either way.

    Returns
    -------
    ndarray
        ``X`` as a contiguous array of ``dtype``.
    """
    if X is None:
        raise ValueError(f"{name} is None; expected an array")
    try:
        X = _tensor_values(X)
        arr = np.asarray(X)
    except (TypeError, ValueError, RuntimeError, NotImplementedError) as err:  # a meta tensor
        raise TypeError(f"{name} could not be converted to an array: {err}") from err
    if arr.dtype == object:
        arr = _frame_numbers(X, arr, name=name)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.ndim > 0 and arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: got shape {arr.shape}; expected at least one sample")
    if dtype is None:
        # longdouble stays no more than float64: torch cannot read it, and the black box
        # blamed the model for "can't convert np.ndarray of type numpy.longdouble".
        dtype = arr.dtype if arr.dtype in _KEPT_FLOATS else np.float64
    given = arr
    with np.errstate(over="ignore"):  # a value beyond a narrower dtype becomes inf: named below
        arr = np.asarray(arr, dtype=dtype, order="C")  # ascontiguousarray makes a scalar 1-d
    if not arr.flags.writeable and not isinstance(X, np.ndarray):
        # pandas 3 hands out a DataFrame's values as a read-only view (copy on write),
        # and torch warned on every tensor made of them; a read-only array stays shared.
        arr = arr.copy()
    converted = arr.dtype != given.dtype
    # A cast's overflow is checked with finite=False too: the caller's own check of
    # finiteness then read "contains infinity" of longdouble's 1e400, which it never had.
    if (finite or converted) and np.issubdtype(arr.dtype, np.floating) and not all_finite(arr):
        if converted and np.all(np.isfinite(given)):
            raise ValueError(
                f"{name} holds values beyond the range of {arr.dtype} (up to "
                f"{_magnitude(np.abs(given).max())} in magnitude; {arr.dtype} holds up to "
                f"{float(np.finfo(arr.dtype).max):.3g})"
            )
        if finite:
            check_finite(
                arr, name=name, columns=frame_columns(X), index=X.index if _is_frame(X) else None
            )
    return arr


def _magnitude(value: Any) -> str:
    """``value`` as ``:g`` shows it, where a float holds it; a longdouble beyond that
    range by numpy's own digits (``1e+400``, where ``:g`` read "inf")."""
    if isinstance(value, np.floating) and value > np.finfo(np.float64).max:
        return np.format_float_scientific(value, precision=5, trim="-")
    return f"{value:g}"


#: The float dtypes ``check_array(dtype=None)`` keeps as they are.
_KEPT_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _tensor_values(X: object) -> object:
    """A torch tensor's values as numpy can read them; anything else as it is.

    numpy refuses a tensor that requires grad, one on a GPU and one in bfloat16 ("Got
    unsupported ScalarType BFloat16"); only the values are read here, so they are taken
    without the autograd graph, on the CPU, and bfloat16 as float32, which holds it.
    """
    torch = sys.modules.get("torch")  # no tensor exists unless torch is loaded
    if torch is None or not isinstance(X, torch.Tensor):
        return X
    tensor: Any = X
    tensor = tensor.detach().cpu()
    return tensor.float() if tensor.dtype == torch.bfloat16 else tensor


def _is_frame(X: object) -> TypeGuard[Any]:
    """Whether ``X`` is a pandas DataFrame, without importing pandas: none exists
    unless pandas is loaded."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(X, pandas.DataFrame)


def pandas_index(data: object) -> Any:
    """A pandas Series' or DataFrame's index, else None: a message names a row by its
    label in it (``y.loc[107]``, see :func:`row_label`)."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.Series | pandas.DataFrame):
        return data.index
    return None


def frame_index(X: object) -> tuple[str, ...] | None:
    """A pandas DataFrame's row labels, as text, else None: an explanation of its rows
    names them as the table does (row 70, not row 0)."""
    return tuple(str(label) for label in X.index) if _is_frame(X) else None


def check_aligned(y: object, X: object, *, name: str = "y") -> None:
    """Refuse a pandas ``y`` whose index holds the row labels of the DataFrame ``X`` in
    another order.

    Both are read by position, as scikit-learn reads them; a ``y`` sorted or shuffled
    apart from ``X`` (``X.sort_index()`` alone) gave each row another row's label
    without a word: the accuracy of a wine model against its own test labels fell from
    0.98 to 0.44. An index of other labels (``reset_index``) is read by position.

    Parameters
    ----------
    y : object
        The labels; only a pandas Series or DataFrame is looked at.
    X : object
        The rows they label; only a pandas DataFrame is looked at.
    name : str, default="y"
        The argument's name, for the error message.

    Raises
    ------
    ValueError
        If ``y``'s index and ``X``'s hold the same unique labels in another order.
    """
    pandas = sys.modules.get("pandas")
    if pandas is None or not _is_frame(X) or not isinstance(y, pandas.Series | pandas.DataFrame):
        return
    rows, labels = X.index, y.index
    if len(rows) != len(labels) or labels.equals(rows) or not rows.is_unique:
        return
    if labels.nlevels != rows.nlevels:
        return  # a MultiIndex beside a flat one holds other labels (isin raised)
    if labels.is_unique and labels.isin(rows).all():
        # Which of the two orders is right, only the user knows: a shuffled table whose
        # X alone had its index reset (a scaler's DataFrame) matches by position.
        raise ValueError(
            f"{name}'s index holds the rows of X in another order; both are read by "
            f"position, so where the index says whose label each is, each row would get "
            f"another row's label: pass {name}.loc[X.index]; where the rows already "
            f"match by position (X's index reset after a shuffle), pass "
            f"{name}.to_numpy()"
        )


def frame_columns(X: object) -> list[Any] | None:
    """A pandas DataFrame's column labels, else None."""
    return list(X.columns) if _is_frame(X) else None


def in_column_order(X: T, columns: Sequence[str] | None, *, name: str, whose: str) -> T:
    """``X`` with its columns in the order of ``columns``, where ``X`` is a pandas
    DataFrame whose column labels are all strings (or a Series, one value per
    feature, whose index labels are); anything else as it is.

    The rows of a DataFrame are read by their column names, not positions, as
    scikit-learn reads them: a table whose columns came in another order than the
    model's went to it shuffled, without a word (a breast-cancer pipeline then called
    every row benign). A Series such as ``fill=X_train.mean()`` is read alike.

    Parameters
    ----------
    X : object
        The input; only a pandas DataFrame or Series is looked at.
    columns : sequence of str or None
        The names of the model's input columns, in its order; None reads by position.
    name : str
        The argument's name, for the error message.
    whose : str
        Whose columns they are, for the error message (a black box's name).

    Returns
    -------
    object
        ``X`` itself, or its columns selected in ``columns``' order.

    Raises
    ------
    ValueError
        If the DataFrame (Series) lacks a column of ``columns``, has one not among
        them, or repeats one, or if its labels mix strings with others.
    """
    pandas = sys.modules.get("pandas")  # no DataFrame exists unless pandas is loaded
    if columns is None or pandas is None or not isinstance(X, pandas.DataFrame | pandas.Series):
        return X
    given = list(X.columns if isinstance(X, pandas.DataFrame) else X.index)
    named = [isinstance(c, str) for c in given]
    if any(named) and not all(named):
        # Read by position, a named column out of place went to the model as another
        # feature without a word; scikit-learn refuses such labels too.
        others = [c for c, is_name in zip(given, named, strict=True) if not is_name]
        raise ValueError(
            f"{name}'s column labels mix names and other labels ({_listed(others)}), so "
            f"its columns can be matched to the {len(columns)} columns of {whose} neither "
            "by name nor safely by position: name every column as the model does, or "
            "pass an array read by position"
        )
    if given == list(columns) or not any(named):
        return X  # unnamed columns (0, 1, ...) are read by position, as scikit-learn does
    have, known = set(given), set(columns)
    missing = [c for c in columns if c not in have]
    extra = [c for c in given if c not in known]
    repeated = sorted(c for c, count in Counter(given).items() if count > 1)
    if missing or extra or repeated:
        faults = [
            f"{what} {_listed(found)}"
            for what, found in (("lacks", missing), ("has unknown", extra), ("repeats", repeated))
            if found
        ]
        # A Series (a fill) names its features by its index, not by columns.
        fix = (
            "a DataFrame with exactly those columns"
            if isinstance(X, pandas.DataFrame)
            else "a Series indexed by exactly those columns"
        )
        raise ValueError(
            f"{name}'s columns do not match the {len(columns)} columns of {whose}: it "
            f"{'; it '.join(faults)}. Pass {fix} (in any order), or an array read by "
            "position"
        )
    return X[list(columns)]


def column_index(name: str, names: Sequence[str], *, context: str, noun: str = "feature") -> int:
    """The index of the column called ``name`` in ``names``.

    Parameters
    ----------
    name : str
    names : sequence of str
        A black box's ``feature_names``.
    context : str
        What names the column, for the message (``"group 'size'"``, ``"immutable"``).
    noun : str
        What the columns are, for the message.

    Raises
    ------
    ValueError
        Where no column is called ``name``; the message shows the first five names.
    """
    try:
        return list(names).index(name)
    except ValueError:
        shown = ", ".join(map(repr, names[:5])) + (", ..." if len(names) > 5 else "")
        raise ValueError(f"{context}: no {noun} is named {name!r}; the names are {shown}") from None


def _listed(names: Sequence[str], limit: int = 5) -> str:
    """Up to ``limit`` names, quoted, and how many more."""
    shown = ", ".join(repr(n) for n in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"column{'s' if len(names) > 1 else ''} {shown}{more}"


def _frame_numbers(X: object, arr: np.ndarray, *, name: str) -> np.ndarray:
    """A pandas DataFrame's values as float64, where numpy read them as objects.

    A bool column beside float ones, or a nullable ``Float64``/``Int64`` column, made
    numpy give objects, and the table was refused as not numeric; their values are
    numbers (``pd.NA`` becomes NaN, which the finiteness check names). Columns of
    text are refused with their names. A Series of one value per column, such as
    ``bounds=(X_train.min(), X_train.max())`` of a table with a bool column, holds
    objects alike and is read alike. Anything else comes back as ``arr``.
    """
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(X, pandas.Series):
        try:
            return X.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            return arr  # text: refused as not numeric
    if not _is_frame(X):
        return arr
    try:
        return X.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        is_number = sys.modules["pandas"].api.types.is_numeric_dtype
        text = [f"{c!r} ({t})" for c, t in X.dtypes.items() if not is_number(t)]
        raise TypeError(
            f"{name} must be numeric, but its column(s) {', '.join(text[:5])} hold other "
            "values: the explainers change every input as a number, so encode such "
            "columns first and explain a model of the encoded ones"
        ) from None


#: The largest float32: the dtype of the zoo's networks, the distilled student and the
#: activation search, and of the draws DMM-MEN keeps.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: The share of a dtype's largest number that torch's Adam's learning rate may reach:
#: its first step is lr / (1 - beta1), 10 lr at the default beta1 = 0.9, converted to
#: the weights' dtype (lr=1e38 on float32 weights raised torch's bare "value cannot be
#: converted to type float without overflow"). The zoo's training, the distilled
#: student, activation maximization and the CLI's --lr read it.
ADAM_LR_SHARE = 1 - 0.9
#: Arrays at least this large are scanned by a torch sum (see :func:`all_finite`).
TORCH_SCAN_SIZE = 1 << 16


def all_finite(arr: np.ndarray) -> bool:
    """Whether a float array holds no NaN or infinity.

    A finite sum means every term is finite, since NaN and infinity propagate. When
    torch is already loaded, it sums a large contiguous array on all threads, in half
    the time of numpy's scan (which also allocates a mask); a sum that overflowed, or
    is not finite, sends us to the exact scan.
    """
    torch = sys.modules.get("torch")
    if (
        torch is not None
        and arr.size >= TORCH_SCAN_SIZE
        and arr.dtype in (np.float32, np.float64)
        and arr.flags.c_contiguous
    ):
        with warnings.catch_warnings():
            # torch warns about read-only arrays; a sum never writes.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            total = torch.from_numpy(arr).sum()
        if bool(torch.isfinite(total)):
            return True
    return bool(np.all(np.isfinite(arr)))


def check_finite(
    arr: np.ndarray,
    *,
    name: str,
    columns: Sequence[Any] | None = None,
    index: Sequence[Any] | None = None,
) -> None:
    """Raise ``ValueError`` naming the first row that holds NaN or infinity, and its
    column's name where ``columns`` (a DataFrame's) names the columns of a 2-D
    ``arr``, and its label where ``index`` (a pandas object's) labels the rows
    otherwise than by their position."""
    if np.issubdtype(arr.dtype, np.floating) and not all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        kind = "NaN" if np.isnan(arr[tuple(bad)]) else "infinity"
        where = f"first at index {tuple(int(i) for i in bad)}"
        if columns is not None and arr.ndim == 2:
            # A table with gaps: the column says where, and the fix is the user's.
            where += f", column {columns[bad[1]]!r}{row_label(index, int(bad[0]), name)}"
            where += "; impute or drop the rows with gaps first"
        elif arr.ndim > 0:
            where += row_label(index, int(bad[0]), name)
        raise ValueError(f"{name} contains {kind} ({where})")


def as_float32(X: np.ndarray, index: Sequence[Any] | None = None, *, reader: str) -> np.ndarray:
    """``X`` (checked: finite) as float32, refusing a value the cast makes infinite, for
    whatever computes in float32 (``reader``, the end of "in which ..."): the distilled
    student, scikit-learn's decision tree.

    A value of 1e39 or 1e300 became infinite in the cast with a RuntimeWarning (deep in
    scikit-learn's, or read as "X contains infinity" of a number the user gave finite).
    Overflow is read from the cast itself, not from ``|x| > FLOAT32_MAX``: the cast
    rounds to nearest, so a value less than half a float32 step (2**103) past the largest
    float32 becomes that float32, and casts finite. ``index`` (a DataFrame's) names the
    row by its label, as the checks of X do.
    """
    with np.errstate(over="ignore"):  # refused below, with the value's place
        cast = X.astype(np.float32)
    if X.dtype.itemsize <= 4 or all_finite(cast):
        return cast
    bad = np.argwhere(np.isinf(cast))[0]
    where = f"first at index {tuple(int(i) for i in bad)}{row_label(index, int(bad[0]), 'X')}"
    raise ValueError(
        f"X holds values beyond float32's range, in which {reader} ({where}: "
        f"{X[tuple(bad)]:g}; float32 holds up to {FLOAT32_MAX:.3g}); rescale X"
    )


def allocate(shape: tuple[int, ...], *, setting: str) -> np.ndarray:
    """``np.zeros(shape)``, or a ValueError that names the ``setting`` (``"n_boot=..."``)
    that asked for more than numpy can hold, where numpy said only "Maximum allowed
    dimension exceeded" or "Unable to allocate 7.28 TiB". Called before the black box is
    queried, so that such a setting is refused before the work, not after it."""
    try:
        return np.zeros(shape)
    except (ValueError, MemoryError) as err:
        raise ValueError(
            f"{setting} is too large: it asks for an array of shape {shape} ({err})"
        ) from None


def row_label(index: Sequence[Any] | None, position: int, name: str) -> str:
    """``", row X.loc[1001]"``: row ``position`` by its label in ``index`` (a pandas
    object's), where the label is not the position itself; else ``""``."""
    loc = label_loc(index, position, name)
    return "" if loc is None else f", row {loc}"


def label_loc(index: Sequence[Any] | None, position: int, name: str) -> str | None:
    """``"X.loc[1001]"``: row ``position`` by its label in ``index`` (a pandas
    object's), where the label is not the position itself nor missing (None, NaN,
    ``pd.NA``, ``pd.NaT``); else None."""
    label = None if index is None else index[position]
    if isinstance(label, np.generic):  # np.int64(1001) reads 1001
        label = label.item()
    elif isinstance(label, tuple):  # a MultiIndex's: (np.int64(0), 'x') reads (0, 'x')
        label = tuple(v.item() if isinstance(v, np.generic) else v for v in label)
    # A missing label names no row ("X.loc[nan]" is found nowhere): the position does.
    if _is_missing(label) or (isinstance(label, numbers.Integral) and int(label) == position):
        return None
    # A split's shuffled or offset index: df.loc[3] is another row, or none.
    return f"{name}.loc[{label!r}]"


#: Appended to a label error where the labels index a black box's classes: one
#: without ``classes`` (a torch module, a callable) reads column indices, and one
#: whose labels are 0..n_classes-1 reads either; see ``BlackBox.class_index``.
CLASS_INDEX_HINT = (
    "; classes are the column indices 0..n_classes-1 of the black box's predict_proba "
    "(give the black box classes=[...] to name them by the model's own labels)"
)


def check_labels(
    y: object,
    *,
    n: int,
    n_classes: int | None = None,
    name: str = "y",
    hint: str = "",
    allow_bool: bool = True,
    index: Sequence[Any] | None = None,
) -> np.ndarray:
    """Check a vector of integer class labels of length ``n``.

    ``hint`` is appended to the message of a label of the wrong type or range.
    ``index`` names a missing label's row (``y.loc[107]``): ``y``'s own where it is a
    pandas Series, else the index of the Series ``y`` was read from (a caller that
    mapped labels to column indices has lost it).

    Bools are classes 0 and 1 where ``y`` holds labels (a data set's ``y``: a binary
    label may be a bool). Where it holds column indices (an explanation's ``target``),
    pass ``allow_bool=False``: a bool names no column, and is refused with
    :func:`check_not_bool`'s ``TypeError``, as a bool ``target`` is everywhere else.
    """
    if not allow_bool:
        check_not_bool(y, name=name)
    arr = as_labels(y, name=name)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if index is None:
        index = pandas_index(y)
    check_no_missing(arr, name=name, index=index)
    # [0, inf] read "must hold integer class labels, got dtype float64": say which, where.
    check_finite_labels(arr, name=name, index=index)
    if arr.dtype.kind not in "iub":
        if not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
            raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}{hint}")
    # Only unsigned and float labels can pass int64's range (and numpy 2 will not
    # compare a bool with 2**63, nor a float16 without overflowing 2**63 to inf).
    if arr.size and arr.dtype.kind in "uf" and int(arr.max()) >= 2**63:
        raise ValueError(f"{name} holds a class label too large for int64 ({arr.max()})")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} holds a negative class label ({arr.min()}){hint}")
    if n_classes is not None and arr.size and arr.max() >= n_classes:
        raise ValueError(
            f"{name} holds class {arr.max()} but there are only {n_classes} classes{hint}"
        )
    return arr


def check_no_missing(
    labels: object,
    *,
    name: str,
    index: Sequence[Any] | None = None,
    advice: str = "drop those rows or give them a class",
) -> None:
    """Refuse a missing label (None, NaN, NaT, ``pd.NA``) among labels held as objects
    or floats.

    A pandas column of string labels with a gap holds NaN among its strings, which
    do not sort against them: ``np.unique`` failed with "'<' not supported between
    instances of 'float' and 'str'". A column of int labels with a gap holds floats.

    Parameters
    ----------
    labels : array-like
        Class labels, of any shape, read by :func:`as_labels` (so that a list's NaN
        is not the string "nan"); only an object or float array is looked at.
    name : str
        The argument's name, for the error message.
    index : sequence or None, default=None
        A pandas Series' index, which names the label's row too where it is not the
        row numbers (``y.loc[1001]``); ``labels`` is then that Series' values.
    advice : str, default="drop those rows or give them a class"
        What to do about it, for labels that are no rows' (a list of classes).

    Raises
    ------
    ValueError
        If ``labels`` holds a missing value, or is ragged or holds an array among
        objects (:func:`check_flat`); the message gives its flat index.
    """
    labels = as_labels(labels, name=name)
    if labels.dtype.kind == "f":
        # A gap in a column of int labels makes pandas hold them as floats: it was
        # "y must hold integer class labels, got dtype float64", which named no gap.
        gaps = np.flatnonzero(np.isnan(labels.ravel()))
        if gaps.size:
            raise ValueError(
                f"{name} holds a missing label (nan) at index {gaps[0]}"
                f"{row_label(index, int(gaps[0]), name)}; {advice}"
            )
        return
    if labels.dtype != object:
        return
    # An array among objects has no one truth value to test for a gap.
    check_flat(labels.ravel(), name=name)
    for i, value in enumerate(labels.ravel().tolist()):
        if _is_missing(value):
            raise ValueError(
                f"{name} holds a missing label ({value!r}) at index {i}"
                f"{row_label(index, i, name)}; {advice}"
            )


def check_finite_labels(labels: object, *, name: str, index: Sequence[Any] | None = None) -> None:
    """Refuse a label that is an infinite (or NaN) number: no class has it.

    Parameters
    ----------
    labels : scalar or array-like
        Class labels, read by :func:`as_labels`; a float array is scanned at once, an
        object one item by item (a 0-d array or tensor as the number it holds, as
        ``np.asarray`` reads it), and any other is left alone.
    name : str
        The argument's name, for the error message.
    index : sequence or None, default=None
        A pandas Series' index, which names the label's row too where it is not the
        row numbers (``y.loc[1001]``); ``labels`` is then that Series' values.

    Raises
    ------
    ValueError
        If ``labels`` holds a number that is not finite; the message gives it and its
        flat index.
    """
    arr = as_labels(labels, name=name)
    flat = arr.ravel()
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(flat))
        found = (int(bad[0]), flat[bad[0]]) if bad.size else None
    elif arr.dtype == object:
        found = None
        values = flat.tolist()
        # Strings and ints are finite: a million string labels are let by at a glance,
        # not read one by one (agreement's sides are checked so since 69e515a).
        if all(issubclass(t, str | bytes | numbers.Integral) for t in set(map(type, values))):
            values = []
        for i, value in enumerate(values):
            if hasattr(value, "__array__"):  # [0, 1, np.array(inf)] reads as a float array
                value = _scalar(np.asarray(value))
            # An int is finite, and math.isfinite(10**400) would overflow.
            if (
                isinstance(value, numbers.Real)
                and not isinstance(value, numbers.Integral)
                and not math.isfinite(value)
            ):
                found = (i, value)
                break
    else:
        return
    if found is not None:
        i, value = found
        where = "" if arr.ndim == 0 else f" at index {i}{row_label(index, i, name)}"
        raise ValueError(f"{name} holds {float(value)!r}{where}; labels must be finite")


def _is_missing(value: object) -> bool:
    """Whether a label is a missing entry: None, NaN, NaT (numpy's or pandas') or ``pd.NA``."""
    try:
        return value is None or bool(value != value)  # NaN is not itself
    except TypeError:  # pd.NA has no truth value
        return True


def as_labels(labels: object, *, name: str = "labels") -> np.ndarray:
    """``np.asarray(labels)``, but a sequence of strings with a missing entry (NaN,
    None, ``pd.NA``) is held as objects, for :func:`check_no_missing` to find it.

    numpy turns ``["setosa", np.nan]`` into the strings ``["setosa", "nan"]``, and the
    gap then read "'nan' is not a class". Every list of labels is converted here. A
    NaT (``pd.NaT``, ``np.datetime64("NaT")``) needs no help: numpy holds it as an
    object beside strings or numbers (and ``pd.NaT`` alone), where it is found too.

    Parameters
    ----------
    labels : scalar or array-like
        Class labels.
    name : str, default="labels"
        The argument's name, for the error message.

    Returns
    -------
    ndarray
        ``labels`` itself where it is an array.

    Raises
    ------
    ValueError
        If ``labels`` is ragged (``[[1], [2, 3]]``), named as :func:`check_flat`
        names it.
    """
    try:
        arr = np.asarray(labels)
    except ValueError:
        # [[1], [2, 3]] failed inside numpy: "setting an array element with a
        # sequence. The requested array has an inhomogeneous shape ...".
        check_flat(labels, name=name)
        raise
    if arr.dtype.kind in "US" and not isinstance(labels, np.ndarray):
        raw = np.asarray(labels, dtype=object)
        if any(not isinstance(v, str | bytes) and _is_missing(v) for v in raw.ravel().tolist()):
            return raw
    return arr


#: Labels that numpy holds as one scalar each (a str is no sequence to it): see
#: :func:`check_flat`.
_SCALAR_TYPES = (str, bytes, numbers.Number, np.generic, type(None))


def check_flat(labels: object, *, name: str) -> None:
    """Refuse a list of labels that holds a list (or an array, a tensor) among them.

    Parameters
    ----------
    labels : array-like
        The labels, one per entry.
    name : str
        The argument's name, for the error message.

    Raises
    ------
    ValueError
        If an entry of ``labels`` is not a scalar; the message gives the first such
        entry and its index.
    """
    try:
        entries = list(labels)  # type: ignore[call-overload]
    except TypeError:  # a scalar holds no entries
        return
    # np.ndim costs some microseconds an entry: asked of every one, it made agreement
    # on a million string labels take 10 s, not 0.6 s. Types that numpy reads as
    # scalars are let by at a glance.
    if all(issubclass(t, _SCALAR_TYPES) for t in set(map(type, entries))):
        return
    for i, entry in enumerate(entries):
        if isinstance(entry, _SCALAR_TYPES):
            continue
        try:
            flat = np.ndim(entry) == 0
        except ValueError:  # an entry as ragged as [[1], [2, 3]]
            flat = False
        if not flat:
            raise ValueError(
                f"{name} holds {entry!r} at index {i}, which is not a scalar; labels must "
                "be a flat list of scalars, one label each"
            )


def check_one_kind(labels: object, *, name: str) -> None:
    """Refuse class labels that mix strings and numbers, or that hold a gap or an
    infinity.

    numpy would turn ``[0, "cat"]`` into ``["0", "cat"]`` without a word, and then
    ``target=0`` (an int) would name no class; so each label's kind is read first.

    Parameters
    ----------
    labels : array-like
        The labels, one per class.
    name : str
        The argument's name, for the error message.

    Raises
    ------
    ValueError
        If ``labels`` is 1-D and holds a missing entry (NaN, None, NaT, ``pd.NA``), named
        as :func:`check_no_missing` names it, an infinite number (no class has it), or
        an entry that is not a scalar (:func:`check_flat`).
    TypeError
        If ``labels`` is 1-D and holds both strings and numbers.
    """
    raw = np.asarray(labels, dtype=object)
    if raw.ndim != 1:
        return  # the caller's shape check names that fault
    items = raw.tolist()
    index = pandas_index(labels)
    # ["cat", nan] has a gap, not a number, where a pandas column's NaN came along; and
    # among numbers a gap or an infinity is no class either: [0, 1, nan] read "pred_a
    # holds 2, which is not a class of the model that classes= names". A ragged
    # [[1], [2, 3]], 1-D as objects, holds lists, no labels: check_no_missing's
    # check_flat refuses it.
    check_no_missing(raw, name=name, index=index, advice="give each class its label")
    check_finite_labels(raw, name=name, index=index)
    # A 0-d array or tensor is the label it holds: ["cat", np.array(0)] was read as
    # ("cat", "0") without a word, where ["cat", 0] is refused.
    items = [_plain(c) for c in items]
    if any(isinstance(c, str) for c in items) and any(isinstance(c, numbers.Number) for c in items):
        raise TypeError(
            f"{name} mixes strings and numbers, {items}; give labels of one kind: all "
            "strings (str(label) for each) or all numbers"
        )


def _plain(label: object) -> object:
    """A label as the plain Python value it holds: a 0-d array's or tensor's item
    (``np.array(0)`` reads 0), a numpy scalar's (``np.str_("cat")`` reads "cat");
    anything else as it is."""
    if hasattr(label, "__array__") and np.ndim(label) == 0:
        label = _scalar(np.asarray(label))
    return label.item() if isinstance(label, np.generic) else label


def check_not_bool(labels: object, *, name: str) -> None:
    """Refuse a bool where a class (or a unit) is named.

    numpy reads True as 1, so ``target=True`` explained class 1 without a word. The
    items of a list are read one by one, as ``np.asarray([True, 2])`` holds no bool.

    Parameters
    ----------
    labels : scalar or array-like
        The classes named.
    name : str
        The argument's name, for the error message.

    Raises
    ------
    TypeError
        If ``labels`` is or holds a bool.
    """
    if isinstance(labels, np.ndarray) and labels.dtype != object:
        found = labels.dtype == np.bool_
    else:
        items = labels.tolist() if isinstance(labels, np.ndarray) else labels
        items = items if isinstance(items, list | tuple) else [items]
        found = any(isinstance(v, bool | np.bool_) for v in np.ravel(np.array(items, object)))
    if found:
        raise TypeError(
            f"{name} holds a bool, which names no class (True would read as class 1): pass "
            "the class itself, an int column index or the model's own label"
        )


def check_ks(ks: object, *, n_features: int, name: str = "ks") -> np.ndarray:
    """Check feature counts: integers in ``[0, n_features]``."""
    arr = np.atleast_1d(np.asarray(ks))
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a non-empty list of ints, got {ks!r}")
    if arr.min() < 0 or arr.max() > n_features:
        raise ValueError(f"{name} must lie in [0, {n_features}], got {arr.tolist()}")
    return arr.astype(np.int64)


def _scalar(value: object) -> Any:
    """A numpy 0-d array as the scalar it holds, anything else as it is: to a user
    ``np.asarray(0.05)`` is a number, as ``np.float32(0.05)`` is (numbers.Real knows
    the second only). A 1-element 1-d array stays an array: a vector, not a number;
    a 0-d bool array becomes ``np.bool_``, which the checks refuse as they refuse
    True."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def is_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an integer (numpy's too) and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(value: object, *, name: str, minimum: int = 1) -> int:
    """Check that ``value`` is an int (numpy's, a 0-d array's too) of at least
    ``minimum``."""
    number = _scalar(value)
    if not is_int(number) or number < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(number)


def check_n_jobs(value: object, *, name: str = "n_jobs") -> int:
    """The number of worker processes ``value`` asks for, read as scikit-learn (joblib)
    reads ``n_jobs``: None is 1, an int >= 1 as it is, -1 every core, -2 all but one,
    and so on (``os.cpu_count() + 1 + value``, at least 1). 0 and anything else not an
    int are refused: 0 asks for no worker at all."""
    # scikit-learn's default: None is one job. (A joblib parallel_backend context can
    # raise it there; the callers here run their own process pools, not joblib's.)
    if value is None:
        return 1
    number = _scalar(value)  # np.asarray(3) is 3
    if not is_int(number) or number == 0:
        raise ValueError(
            f"{name} must be an int >= 1, or < 0 to count back from the number of cores "
            f"(-1: every core, -2: all but one), or None (1), got {value!r}"
        )
    if number > 0:
        return int(number)
    # os.cpu_count() is None where the platform cannot tell: count one core then.
    return max((os.cpu_count() or 1) + 1 + int(number), 1)


def check_positive_ints(value: object, *, name: str, example: str = "(256, 64)") -> tuple[int, ...]:
    """Check a sequence of ints >= 1 (layer widths, tree depths) and return it as a
    tuple. A generator is refused: an estimator keeps its arguments as given, and a
    generator would be empty by the time ``fit`` reads it a second time. Its items are
    read as :func:`check_positive_int` reads one (``np.asarray(64)`` is 64)."""
    # A 0-d array is no sequence: iterating it raised numpy's "iteration over a 0-d array".
    if not _is_sequence(value) or isinstance(value, str):
        raise ValueError(f"{name} must be a sequence of ints (e.g. {example}), got {value!r}")
    return tuple(check_positive_int(v, name=name) for v in value)


def _is_finite_real(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a real number (not a bool) that a float holds finitely (an
    int such as 10**400 overflows a float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_number(value: object, *, name: str, minimum: float = 0.0, strict: bool = True) -> float:
    """Check that ``value`` is a finite real number above ``minimum`` (or at least it,
    with ``strict=False``); an infinite step size or radius only yields NaN later.
    numpy's scalars and 0-d arrays are numbers; bools are not."""
    number = _scalar(value)
    if not _is_finite_real(number) or (number <= minimum if strict else number < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum:g}, got {value!r}")
    return float(number)


def check_shape(value: object, *, name: str = "input_shape") -> tuple[int, ...]:
    """Check a non-empty sequence of positive ints (not bools; numpy's and 0-d arrays'
    ints too, as :func:`_scalar` reads them) and return it as a tuple."""
    items = tuple(_scalar(s) for s in value) if _is_sequence(value) else None
    if not items or not all(is_int(s) and s >= 1 for s in items):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {value!r}")
    return tuple(int(s) for s in items)


def batch_shapes(input_shape: tuple[int, ...]) -> str:
    """The shapes a batch of inputs of ``input_shape`` may take, for error messages:
    ``"(n_samples, 64) or (n_samples, 1, 8, 8)"``, the flat one alone where they agree."""
    flat = f"(n_samples, {math.prod(input_shape)})"
    if len(input_shape) == 1:
        return flat
    return f"{flat} or (n_samples, {', '.join(map(str, input_shape))})"


def input_shapes(n_features: int, input_shape: Sequence[int] | None) -> list[tuple[int, ...]]:
    """The shapes one input may take, for error messages: flat, then ``input_shape``
    (``[(64,), (1, 8, 8)]``); the flat one alone where ``input_shape`` is flat itself
    (a table's ``(4,)``: "shape (4,) or (4,)" said it twice) or unknown."""
    flat = (n_features,)
    shaped = None if input_shape is None else tuple(input_shape)
    return [flat] if shaped is None or shaped == flat else [flat, shaped]


def check_not_one_sample(arr: np.ndarray, input_shape: tuple[int, ...], *, X: object) -> None:
    """Refuse one input given where a batch is expected, and say how to make it one.

    Raises
    ------
    ValueError
        If ``arr`` has the shape of one input, flat or of ``input_shape``.
    """
    if arr.shape == input_shape or (arr.ndim == 1 and arr.shape[0] == math.prod(input_shape)):
        # A DataFrame's row (df.iloc[0]) is a Series, which X[None] cannot index.
        one_row = "X.to_frame().T" if hasattr(X, "to_frame") else "X[None]"
        raise ValueError(
            f"X has the shape of a single sample {arr.shape}; "
            f"pass a batch, e.g. {one_row} for one sample"
        )


def check_names(
    names: object, n: int, *, name: str = "feature_names", strict: bool = False
) -> tuple[str, ...] | None:
    """Check ``n`` names (None passes) and return them as a tuple of str.

    Parameters
    ----------
    names : sequence or None
        The names; a single string is one name.
    n : int
        How many there must be.
    name : str, default="feature_names"
        The argument's name, for the error message.
    strict : bool, default=False
        Also require str entries, none of them empty, and no duplicates. Names that
        arrive from a user (a black box's) are held to it; an explanation's names
        convert each entry with ``str`` (``class_names=[0, 1]`` reads "0", "1"), as
        files saved before keep loading.

    Returns
    -------
    tuple of str or None
    """
    if names is None:
        return None
    items = tuple(np.atleast_1d(np.asarray(names, dtype=object)))
    if strict:
        bad = [item for item in items if not isinstance(item, str) or not item]
        if bad:
            raise ValueError(f"{name} must be non-empty strings; got {bad[0]!r}")
    items = tuple(str(item) for item in items)
    if len(items) != n:
        raise ValueError(f"{name} has {len(items)} entries; expected {n}")
    if strict and len(set(items)) != n:
        twice = sorted({item for item in items if items.count(item) > 1})
        raise ValueError(f"{name} must be unique; {', '.join(map(repr, twice))} repeat")
    return items


def _is_sequence(value: object) -> TypeGuard[Sequence[Any] | np.ndarray]:
    """A sequence or an array with one axis (a 0-d array cannot be iterated)."""
    return isinstance(value, Sequence) or (isinstance(value, np.ndarray) and value.ndim == 1)


def check_bounds(value: object, *, name: str = "bounds", n_axes: int = 1) -> tuple[float, ...]:
    """Check ``(low, high)`` per axis, flat (``(x0, x1, y0, y1)`` for two): finite
    numbers with each low below its high (reversed bounds gave empty results) and a
    finite width (``(-1e308, 1e308)`` overflowed the grids built over it). numpy's
    scalars and 0-d arrays are numbers (:func:`_scalar`); bools are not."""
    items = tuple(_scalar(v) for v in value) if _is_sequence(value) else ()
    numeric = len(items) == 2 * n_axes and all(_is_finite_real(v) for v in items)
    if not numeric or any(
        not (items[i] < items[i + 1] and math.isfinite(float(items[i + 1]) - float(items[i])))
        for i in range(0, len(items), 2)
    ):
        raise ValueError(
            f"{name} must be {2 * n_axes} finite numbers, (low, high) per axis with low < "
            f"high and a finite high - low, got {value!r}"
        )
    return tuple(float(v) for v in items)


def check_per_feature(
    value: object,
    *,
    name: str,
    n_features: int,
    input_shape: tuple[int, ...] | None = None,
    minimum: float | None = 0.0,
) -> float | np.ndarray:
    """Check a setting given in the features' own units: one number for every feature,
    or one per feature (a noise scale ``0.15 * X_train.std(0)``, a bound ``X.min(0)``).

    Parameters
    ----------
    value : float or array-like
        A number, or an array broadcastable to one input: shape ``(n_features,)``,
        ``(1, n_features)`` or ``input_shape``.
    name : str
        The argument's name, for the error message.
    n_features : int
        The number of flat input features.
    input_shape : tuple of int, optional
        The shape of one input (``(1, 8, 8)``), for arrays shaped like an image.
    minimum : float or None, default=0.0
        The smallest value allowed (a scale or a radius is not negative); None for any.

    Returns
    -------
    float or ndarray of shape (n_features,)
        A number stays a float, so that the one-scale path computes exactly what it
        did before; an array comes back flat, in float64.
    """
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}")
    bools = _bool_shape(value)
    if bools is not None:
        # np.True_, np.asarray(True), a mask or a list holding a bool among numbers,
        # which check_array reads as 1.0/0.0: a noise scale or a bound of True is a
        # slip, not a setting.
        got = repr(value) if bools == () else f"bools of shape {bools}"
        raise TypeError(f"{name} must be a number or an array of numbers, got {got}")
    arr = check_array(value, name=name, ndim=None, finite=False, allow_empty=True)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite in every feature, got NaN or infinity")
    if minimum is not None and np.any(arr < minimum):
        raise ValueError(f"{name} must be >= {minimum:g} in every feature, got {arr.min():g}")
    if arr.ndim == 0:
        return float(arr)
    shapes = [(n_features,), (1, n_features)] + ([tuple(input_shape)] if input_shape else [])
    for shape in shapes:
        try:
            return np.broadcast_to(arr, shape).reshape(n_features).copy()
        except ValueError:
            continue
    raise ValueError(
        f"{name} has shape {arr.shape}; expected a number or one value per feature, "
        f"shape {' or '.join(map(str, input_shapes(n_features, input_shape)))}"
    )


def _bool_shape(value: object) -> tuple[int, ...] | None:
    """The shape of ``value`` where numpy holds it as bools, or where it is a list or
    tuple holding a bool, else None (also where numpy cannot read it: :func:`check_array`
    names that fault)."""
    try:
        arr = np.asarray(_tensor_values(value))
    except (TypeError, ValueError, RuntimeError, NotImplementedError):
        return None
    return arr.shape if arr.dtype == np.bool_ or _holds_bool(value) else None


def _holds_bool(value: object) -> bool:
    """Whether a list or tuple holds a bool (Python's, numpy's, a bool array), at any
    depth: numpy stores ``[1, True, 0, 0]`` as ints, so its dtype shows no bool."""
    if isinstance(value, list | tuple):
        return any(_holds_bool(v) for v in value)
    return isinstance(value, bool | np.bool_) or (
        isinstance(value, np.ndarray) and value.dtype == np.bool_
    )


def check_fraction(value: object, *, name: str, below_one: bool = False) -> float:
    """Check that ``value`` is a number in (0, 1], or in (0, 1) with ``below_one`` (a
    share held out, which must leave some rows on both sides); numpy's scalars and
    0-d arrays are numbers."""
    number = _scalar(value)
    if below_one:
        if not _is_finite_real(number) or not 0.0 < float(number) < 1.0:
            raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    elif not _is_finite_real(number) or not 0.0 < float(number) <= 1.0:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(number)


def check_feature_indices(
    indices: object,
    *,
    n_features: int,
    name: str,
    allow_empty: bool = True,
    allow_duplicates: bool = True,
) -> np.ndarray:
    """Check a vector of integer feature indices in ``[0, n_features)``.

    A negative index is refused, not read from the end as numpy would.

    Parameters
    ----------
    indices : array-like of int
        The indices.
    n_features : int
        The number of features they index.
    name : str
        The name used in the message.
    allow_empty : bool
        Whether no index at all is accepted.
    allow_duplicates : bool
        Whether an index may appear more than once: yes where each names the feature
        of its own value (a tree's thresholds), no where they name a set of features.

    Returns
    -------
    ndarray
        ``indices`` as an array, its integer dtype kept (``intp`` when empty).

    Raises
    ------
    ValueError
        If ``indices`` is not one-dimensional, not integer, empty (without
        ``allow_empty``), holds an index outside the range, or one twice (without
        ``allow_duplicates``).
    """
    arr = np.asarray(indices)
    if arr.shape == (0,) and allow_empty and arr.dtype.kind in "biuf":  # [] is a float array
        return arr.astype(np.intp)
    if (
        arr.ndim != 1
        or arr.dtype.kind not in "iu"
        or (arr.size == 0 and not allow_empty)
        or (arr.size and (arr.min() < 0 or arr.max() >= n_features))
    ):
        what = "a vector" if allow_empty else "a non-empty list"
        raise ValueError(
            f"{name} must be {what} of feature indices in [0, {n_features}), "
            f"got {arr.dtype} {arr.shape} {arr.tolist()!r:.60}"
        )
    if not allow_duplicates:
        values, counts = np.unique(arr, return_counts=True)
        if np.any(counts > 1):
            # A set of features with one twice counted it twice, without a word.
            raise ValueError(
                f"{name} holds feature {values[np.argmax(counts > 1)]} twice; it is a set "
                "of feature indices, each once"
            )
    return arr
