"""Typed, frozen explanation results that save and load without pickle.

Every explanation holds numpy arrays plus ``meta``: a JSON-serialisable dict with
the method, its parameters, the library version and the seed. ``save`` writes one
``.npz`` file whose ``__unboxed__`` entry is a JSON header naming the class and
format version; ``load`` reads it with ``allow_pickle=False`` and rejects files
that are not ours.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from ._estimator import short_repr
from ._io import check_header, check_path, parse_json, read_npz, to_json, write_npz
from ._ranks import descending_order
from ._validation import (
    as_seed,
    check_array,
    check_labels,
    check_names,
    check_positive_int,
    check_shape,
    is_int,
)
from ._version import __version__

FORMAT = "unboxed-explanation"
FORMAT_VERSION = 1
_HEADER = "__unboxed__"

S = TypeVar("S", bound="SavedResult")


def make_meta(method: str, parameters: Mapping[str, Any], *, seed: Any = None) -> dict[str, Any]:
    """The ``meta`` dict every explanation carries: method, parameters, version, seed.

    Parameters
    ----------
    method : str
        The explainer's name, e.g. ``"lime"``.
    parameters : mapping
        Its settings; stored as a plain dict, so they must be JSON-serialisable. A
        numpy scalar or 0-d array (which the settings' checks accept as a number) is
        stored as the Python number it holds.
    seed : int, numpy.random.Generator or None, default=None
        The seed the explanation came from. An int is kept; a generator (whose state
        is not one number) is recorded by its type name.

    Returns
    -------
    dict
        Keys ``method``, ``parameters``, ``library_version`` and ``seed``.
    """
    return {
        "method": method,
        "parameters": {name: plain_number(value) for name, value in parameters.items()},
        "library_version": __version__,
        "seed": _json_seed(seed),
    }


def plain_number(value: Any) -> Any:
    """``value``, or the Python number a numpy scalar or 0-d array holds.

    The settings' checks accept ``np.asarray(100)`` as 100, so the explainers that keep
    their settings as given must record the number, not an array JSON cannot hold.

    Parameters
    ----------
    value : object

    Returns
    -------
    object
    """
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def _json_seed(seed: Any) -> int | str | None:
    """An int seed as an int; a generator (whose state is not one number) by its type
    name. Not its repr: that holds a memory address, so two identical runs would save
    different files."""
    if seed is None:
        return None
    number = as_seed(seed)  # np.asarray(3) records 3, as it seeds
    if is_int(number):
        return int(number)
    return type(seed).__name__


class _HandedOver(np.ndarray):
    """A view that marks an array as handed over to an explanation (see :func:`hand_over`)."""


def hand_over(array: np.ndarray) -> np.ndarray:
    """Mark a freshly computed, already checked array that nobody else holds, so that
    the explanation built from it keeps its buffer and skips the NaN/inf scan.

    Only for finite arrays an explainer has just made and then drops (a view of a
    torch result, say): copying and scanning them again cost the MLP's gradient
    methods a tenth of their time.

    Parameters
    ----------
    array : ndarray
        A finite array that the caller will not use or change afterwards.

    Returns
    -------
    ndarray
        A view of ``array`` (same buffer) marked as handed over.
    """
    return array.view(_HandedOver)


def _check_field(value: object, *, name: str) -> np.ndarray:
    """A 2-D float array field, scanned for NaN/inf unless it was handed over."""
    handed = isinstance(value, _HandedOver)
    return check_array(value, name=name, ndim=2, dtype=None, finite=not handed)


class SavedResult:
    """Base of the frozen result dataclasses that save to one ``.npz`` file and load back.

    Every :class:`Explanation` is one, and so are results that took long to compute
    (a :class:`~unboxed.evaluate.DeletionCurve`, say). Array fields are stored as
    arrays; ``meta`` and the other fields go into a JSON header that names the class,
    by which :meth:`load` finds the class to build. Nothing is pickled.
    """

    #: Every saved class by name, for :meth:`load` to build the class a file names.
    _classes: ClassVar[dict[str, type[SavedResult]]] = {}
    #: What a file of this class is, for error messages.
    _what: ClassVar[str] = "an unboxed result file"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        SavedResult._classes[cls.__name__] = cls

    def _fields(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, scalars = {}, {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]  # subclasses are dataclasses
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                arrays[field.name] = value
            elif field.name != "meta":
                scalars[field.name] = value
        return self._encode(arrays, scalars)

    def _encode(
        self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The fields as stored: a subclass turns any field that is neither an array
        nor plain JSON into those here, and back in :meth:`_decode`."""
        return arrays, scalars

    @classmethod
    def _decode(cls, fields: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments that rebuild a saved result from its stored ``fields``
        (arrays, header fields and ``meta``); raises ``ValueError`` or ``TypeError`` on
        fields no instance could have written."""
        return fields

    def save(self, path: str | os.PathLike) -> None:
        """Write this result to ``path`` (an ``.npz`` file), atomically.

        The arrays are stored as they are; ``meta`` and the other fields go into a
        JSON header with the class name, format version and library version.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write; an existing file is replaced only once the new one is
            complete.
        """
        check_path(path)
        arrays, scalars = self._fields()
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "class": type(self).__name__,
            "library_version": __version__,
            "fields": scalars,
            "meta": self.meta,  # type: ignore[attr-defined]
        }
        write_npz(path, {**arrays, _HEADER: np.array(to_json(header))})

    @classmethod
    def load(cls: type[S], path: str | os.PathLike) -> S:
        """Read a result written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            An ``.npz`` file written by :meth:`save`.

        Returns
        -------
        SavedResult
            An instance of the class named in the file, which must be ``cls`` or a
            subclass of it.

        Raises
        ------
        ValueError
            If the file is not one that unboxed saved, is damaged, holds pickled data,
            is of a newer format, or holds another class than ``cls``.
        """
        what = cls._what
        check_path(path)
        arrays = read_npz(path, what=what)
        if _HEADER not in arrays:
            raise ValueError(f"{path} is not {what}: it has no {_HEADER} header")
        try:
            header = parse_json(str(arrays.pop(_HEADER)))
        except ValueError as err:
            raise ValueError(f"{path} is not {what}: its header is not JSON ({err})") from err
        check_header(header, source=path, what=what, format=FORMAT, version=FORMAT_VERSION)
        kind = _saved_class(str(header.get("class")))
        if kind is None:
            raise ValueError(
                f"{path} holds an unknown explanation or result class {header.get('class')!r}"
            )
        if not issubclass(kind, cls):
            # the class names are known: "a Attribution", "a ExampleSet" read wrong
            article = "an" if kind.__name__[0] in "AEIOU" else "a"
            raise ValueError(
                f"{path} holds {article} {kind.__name__}, not the {cls.__name__} asked for"
            )
        scalars, meta = header.get("fields", {}), header.get("meta", {})
        if not isinstance(scalars, dict) or not isinstance(meta, dict):
            raise ValueError(f"{path} is not a valid {kind.__name__}: malformed header")
        try:
            return kind(**kind._decode({**scalars, **arrays, "meta": meta}))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path} is not a valid {kind.__name__}: {err}") from err


def _saved_class(name: str) -> type[SavedResult] | None:
    """The saved class called ``name``; the modules that define the classes ``unboxed``
    does not import itself are imported on first need."""
    if name not in SavedResult._classes:
        importlib.import_module("unboxed.probes")  # Prototypes
        importlib.import_module("unboxed.evaluate")  # DeletionCurve, SensitivityResult
    return SavedResult._classes.get(name)


@dataclasses.dataclass(frozen=True, eq=False)
class Explanation(SavedResult):
    """Base class: array fields, ``meta``, and ``.npz`` persistence."""

    #: Every explanation class by name (the contract tests run over them all).
    _registry: ClassVar[dict[str, type[Explanation]]] = {}
    _what: ClassVar[str] = "an unboxed explanation file"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Explanation._registry[cls.__name__] = cls

    def __repr__(self) -> str:
        # Shapes and meta's scalars: the generated repr printed every array in full.
        return short_repr(self)

    def _freeze(self, name: str, value: np.ndarray | None) -> None:
        """Store a read-only copy, so a frozen explanation cannot change under its owner.

        An array that the checks already converted into a new one is nobody else's, so
        it is kept as it is: copying large attributions twice was a visible share of
        a fast explainer's time. So is an array marked with :func:`hand_over`.
        """
        if value is not None:
            given = getattr(self, name, None)
            # The checks either pass the given array through or build a new one; a view
            # (no own data) may look into someone else's buffer.
            # Anything but an ndarray (a tensor, an object with __array__) may have
            # handed the checks its own buffer.
            shared = value is given or not value.flags.owndata or not isinstance(given, np.ndarray)
            if shared and not isinstance(given, _HandedOver):
                value = np.array(value, copy=True)
            value.setflags(write=False)
        object.__setattr__(self, name, value)

    @property
    def n_features(self) -> int:
        """The number of features: columns of ``values``."""
        return int(self.values.shape[1])  # type: ignore[attr-defined]

    def _check_features_and_meta(self) -> None:
        """Check the fields every explanation has besides its arrays."""
        n_features = self.n_features
        if n_features == 0:
            raise ValueError("values has no features (0 columns)")
        object.__setattr__(
            self,
            "image_shape",
            _check_image_shape(self.image_shape, n_features),  # type: ignore[attr-defined]
        )
        names = check_names(self.feature_names, n_features)  # type: ignore[attr-defined]
        object.__setattr__(self, "feature_names", names)
        self._check_meta()

    def _check_meta(self) -> None:
        meta = getattr(self, "meta", None)
        if not isinstance(meta, Mapping):
            raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
        try:
            object.__setattr__(self, "meta", json.loads(to_json(dict(meta))))
        except TypeError as err:
            raise TypeError(f"meta must be JSON-serialisable: {err}") from err
        except RecursionError as err:  # a dict that holds itself recursed without end
            raise TypeError(
                "meta must be JSON-serialisable: it holds itself, or nests too deep"
            ) from err


def _check_image_shape(image_shape: Any, n_features: int) -> tuple[int, ...] | None:
    if image_shape is None:
        return None
    shape = check_shape(image_shape, name="image_shape")  # (-8, -8) and (8.5, 8) passed
    if len(shape) not in (2, 3) or math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape {shape} does not hold {n_features} features; expected (H, W) or "
            "(C, H, W) with that many pixels"
        )
    return shape


def _check_class_names(class_names: Any, target: np.ndarray) -> tuple[str, ...] | None:
    """``class_names`` as a tuple of text, one per class, enough for every ``target``
    (column indices); None stays None."""
    if class_names is None:
        return None
    names = _class_name_tuple(class_names, name="class_names")
    if target.size and target.max() >= len(names):
        raise ValueError(
            f"target names class {target.max()} but class_names has {len(names)} names"
        )
    return names


def _class_name_tuple(names: Any, *, name: str) -> tuple[str, ...]:
    """``names`` (one label per class) as a tuple of text.

    A nested sequence is refused: ``[["a", "b"]]`` (a table's row of labels, say) became
    the one name "['a' 'b']" without a word, and plots titled every class by it.

    Parameters
    ----------
    names : sequence or ndarray of labels
    name : str
        The argument's name, for the message.

    Returns
    -------
    tuple of str
    """
    array = np.atleast_1d(np.asarray(names, object))
    nested = next(
        (c for c in array.flat if isinstance(c, list | tuple | set | dict | np.ndarray)), None
    )
    if array.ndim != 1 or nested is not None:
        raise ValueError(
            f"{name} must be a flat sequence of labels, one per class; got "
            + (f"shape {array.shape}" if array.ndim != 1 else f"the element {nested!r}")
        )
    return tuple(str(c) for c in array)


def _top_k_order(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values along the last axis, largest first."""
    k = check_positive_int(k, name="k")
    if k > values.shape[-1]:
        raise ValueError(f"k={k} exceeds the number of features ({values.shape[-1]})")
    return descending_order(values, k)


# repr=False keeps Explanation's short repr
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Attribution(Explanation):
    """Per-instance feature attributions: why the model decided as it did.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        The attribution of each feature, larger meaning stronger evidence for
        ``target``. Images are flattened in C order; ``image_shape`` restores them.
        A float array keeps its dtype (float32 for a float32 torch model's
        gradients); any other numeric array becomes float64.
    target : ndarray of shape (n_samples,)
        The class each row explains.
    meta : dict
        Method, parameters, library version and seed (see :func:`make_meta`).
    inputs : ndarray of shape (n_samples, n_features), optional
        The explained inputs, for plots.
    image_shape : tuple of int, optional
        ``(H, W)`` or ``(C, H, W)`` for image data; None for tabular data.
    feature_names : tuple of str, optional
        Names of the features, for tabular plots.
    class_names : tuple of str, optional
        The model's label of each class, as text (``class_names[c]`` names
        ``target`` c), for plots: an explainer that knows its black box records the
        black box's :attr:`~unboxed.BlackBox.classes` here, so that a model fitted on
        ``["benign", "malignant"]`` or on 1..3 is shown by its own labels, while
        ``target`` keeps the column indices. None (files saved before it existed, a
        model without labels) shows the indices.
    row_names : tuple of str, optional
        The name of each explained row, for plots: the local explainers record a
        DataFrame's index here, so that its row 70 is titled "row 70", not "row 0".
        None (arrays, files saved before it existed) shows the rows' positions.
    """

    values: np.ndarray
    target: np.ndarray
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    inputs: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    row_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # Any float dtype is kept: a float32 model's gradients stay float32.
        values = _check_field(self.values, name="values")
        self._freeze("values", values)
        # A column index: True read as class 1 (a data set's y may be bool, a target not).
        target = check_labels(self.target, n=values.shape[0], name="target", allow_bool=False)
        self._freeze("target", target)
        if self.inputs is not None:
            inputs = _check_field(self.inputs, name="inputs")
            if inputs.shape != values.shape:
                raise ValueError(f"inputs has shape {inputs.shape}; expected {values.shape}")
            self._freeze("inputs", inputs)
        object.__setattr__(self, "class_names", _check_class_names(self.class_names, target))
        rows = check_names(self.row_names, values.shape[0], name="row_names")
        object.__setattr__(self, "row_names", rows)
        self._check_features_and_meta()

    def class_name(self, row: int) -> str:
        """How row ``row``'s target is shown: its label in :attr:`class_names`, or
        its column index where there are none.

        Parameters
        ----------
        row : int
            A row of ``values``, in ``[0, n_samples)``.

        Returns
        -------
        str

        Raises
        ------
        ValueError
            For a row that is no int (a bool included), negative, or ``n_samples`` or more.
        """
        # numpy's IndexError named no argument, and row -1 named the last row's class.
        if not is_int(row):
            raise ValueError(f"row must be an int, got {row!r}")
        if not 0 <= row < self.n_samples:
            raise ValueError(f"row must lie in [0, {self.n_samples}), got {row}")
        target = int(self.target[row])
        return str(target) if self.class_names is None else self.class_names[target]

    @property
    def n_samples(self) -> int:
        """The number of explained rows: rows of ``values``."""
        return int(self.values.shape[0])

    def top_k(self, k: int) -> np.ndarray:
        """The ``k`` most important flat feature indices per row, most important first.

        Parameters
        ----------
        k : int
            How many features, from 1 to ``n_features``.

        Returns
        -------
        ndarray of shape (n_samples, k)
        """
        return _top_k_order(self.values, k)

    def plot(self, index: int | list[int] = 0, **kwargs: Any) -> Any:
        """Plot rows ``index``: a heat-map overlay for images, bars for tabular data.

        Parameters
        ----------
        index : int or list of int, default=0
            The rows to show, one panel each.
        **kwargs
            Passed to :func:`unboxed.report.plot_attribution` (``top``: the number of
            bars for tabular data; ``row_names``: one name per row for the panels'
            titles, such as the rows' numbers in the data they came from; by default
            :attr:`row_names`).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .report import plot_attribution

        return plot_attribution(self, index, **kwargs)


# repr=False keeps Explanation's short repr
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class FeatureImportance(Explanation):
    """Global feature importance: one ranking per class.

    Parameters
    ----------
    values : ndarray of shape (n_classes, n_features)
        Importance of each feature for each class, larger meaning more important.
        A single row holds one ranking for the whole model.
    meta : dict
        Method, parameters, library version and seed.
    ci : ndarray of shape (n_classes, n_features, 2), optional
        A 95% confidence interval per value.
    class_names : tuple of str, optional
        One name per row.
    image_shape : tuple of int, optional
        ``(H, W)`` or ``(C, H, W)`` for image data.
    feature_names : tuple of str, optional
        Names of the features.
    repeats : ndarray of shape (n_repeats, n_classes, n_features), optional
        The value each independent repeat gave (one shuffle per repeat for
        permutation importance), whose mean is ``values``. Files saved before this
        field load with None.
    """

    values: np.ndarray
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    ci: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    image_shape: tuple[int, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    repeats: np.ndarray | None = None

    def __post_init__(self) -> None:
        values = check_array(self.values, name="values", ndim=2)
        self._freeze("values", values)
        if self.ci is not None:
            ci = check_array(self.ci, name="ci", ndim=3)
            if ci.shape != (*values.shape, 2):
                raise ValueError(f"ci has shape {ci.shape}; expected {(*values.shape, 2)}")
            if np.any(ci[..., 0] > ci[..., 1]):
                raise ValueError("ci has an interval whose low end is above its high end")
            self._freeze("ci", ci)
        if self.repeats is not None:
            repeats = check_array(self.repeats, name="repeats", ndim=3)
            if repeats.shape[1:] != values.shape or repeats.shape[0] == 0:
                raise ValueError(
                    f"repeats has shape {repeats.shape}; expected (n_repeats, *{values.shape})"
                )
            self._freeze("repeats", repeats)
        # Nested labels are refused as Attribution refuses them: a (2, 1) column of
        # labels read as the names "['a']" and "['b']" without a word.
        names = self.class_names
        if names is not None:
            names = _class_name_tuple(names, name="class_names")
        object.__setattr__(
            self, "class_names", check_names(names, values.shape[0], name="class_names")
        )
        self._check_features_and_meta()

    @property
    def n_classes(self) -> int:
        """The number of rankings: rows of ``values`` (1 for one whole-model ranking)."""
        return int(self.values.shape[0])

    def _row(self, class_: int | None) -> int:
        if class_ is None:
            if self.n_classes == 1:
                return 0
            raise ValueError(
                f"this importance has one ranking per class ({self.n_classes}); pass class_"
            )
        if not is_int(class_):
            raise ValueError(f"class_ must be an int, got {class_!r}")  # 1.5 meant class 1
        if not 0 <= class_ < self.n_classes:
            raise ValueError(f"class_ must lie in [0, {self.n_classes}), got {class_}")
        return int(class_)

    def top_k(self, k: int, *, class_: int | None = None) -> np.ndarray:
        """The ``k`` most important flat feature indices for ``class_``, most important first.

        Parameters
        ----------
        k : int
            How many features, from 1 to ``n_features``.
        class_ : int or None, default=None
            The ranking's row, in ``[0, n_classes)``; None only when there is one row.

        Returns
        -------
        ndarray of shape (k,)
        """
        return _top_k_order(self.values[self._row(class_)], k)

    def plot(self, class_: int | list[int] | None = None, **kwargs: Any) -> Any:
        """Plot the importance: a heat map per class for images, bars for tabular data.

        Parameters
        ----------
        class_ : int, list of int or None, default=None
            The rows (classes) to show, one panel each; None shows all.
        **kwargs
            Passed to :func:`unboxed.report.plot_feature_importance` (``top``: the
            number of bars for tabular data).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .report import plot_feature_importance

        return plot_feature_importance(self, class_, **kwargs)
