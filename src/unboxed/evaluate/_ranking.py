"""Turn any kind of feature ranking into per-row top-k masks.

A ranking is a global :class:`~unboxed.FeatureImportance` (one ranking per class), a
per-instance :class:`~unboxed.Attribution`, or a plain array of feature indices,
most important first: shape ``(m,)`` for one ranking shared by all rows, or
``(n_samples, m)`` for one per row. ``m`` may be smaller than the number of
features, in which case only the first ``m`` are ranked.

Internally every ranking becomes a score per row and feature (higher is more
important), computed a block of rows at a time so that large data sets never need
an ``(n_samples, n_features)`` index array.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sized
from typing import Any, cast

import numpy as np

from ..blackbox import BlackBox
from ..explanation import Attribution, FeatureImportance

RankingLike = FeatureImportance | Attribution | np.ndarray
#: Rows compared at a time by :func:`check_rows`.
_BLOCK = 4096


@dataclasses.dataclass(frozen=True, eq=False)
class RowRanking:
    """Scores for the rows of one data set.

    Exactly one of the score sources is set:

    - ``shared``: shape ``(n_features,)``, the same for every row;
    - ``per_class``: shape ``(n_classes, n_features)``, picked by ``classes``;
    - ``per_row``: shape ``(n_samples, n_features)``.

    Attributes
    ----------
    n_ranked : int
        How many features are ranked; ``k`` may not exceed it.
    classes : ndarray of shape (n_samples,) or None
        The class each row is tested for; None until :meth:`for_classes` sets them
        (:func:`check_ranking`).
    """

    n_features: int
    n_ranked: int
    classes: np.ndarray | None = None
    shared: np.ndarray | None = None
    per_class: np.ndarray | None = None
    per_row: np.ndarray | None = None

    def for_classes(self, classes: np.ndarray) -> RowRanking:
        """The ranking for rows whose explained classes are ``classes``; a per-class
        importance must rank each of them."""
        classes = np.asarray(classes)
        if classes.ndim != 1 or (classes.size and classes.dtype.kind not in "iu"):
            raise ValueError(
                f"classes must be a 1-D array of int class indices, got {classes.dtype} "
                f"of shape {classes.shape}"
            )
        # No rows, no class to check: max() of none raised numpy's "zero-size array".
        if self.per_class is not None and classes.size:
            low, high = classes.min(), classes.max()
            if low < 0:  # numpy read class -1 as the last row, without a word
                raise ValueError(f"classes must be >= 0, got {low}")
            if high >= self.per_class.shape[0]:
                raise ValueError(
                    f"the importance ranks {self.per_class.shape[0]} classes, but class "
                    f"{high} is needed"
                )
        return dataclasses.replace(self, classes=classes.astype(np.intp, copy=False))

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Scores of shape ``(len(rows), n_features)``; higher is more important."""
        if self.shared is not None:
            return np.broadcast_to(self.shared, (len(rows), self.n_features))
        if self.per_class is not None:
            assert self.classes is not None, "for_classes was not called"
            return self.per_class[self.classes[rows]]
        assert self.per_row is not None
        return self.per_row[rows]

    def subset(self, rows: np.ndarray) -> RowRanking:
        """The ranking restricted to ``rows`` (re-indexed from 0)."""
        classes = None if self.classes is None else self.classes[rows]
        per_row = None if self.per_row is None else self.per_row[rows]
        return dataclasses.replace(self, classes=classes, per_row=per_row)


def check_rows(ranking: Attribution, X: np.ndarray) -> None:
    """An attribution explains one row each: it must have as many rows as ``X``, and
    where it keeps its inputs, be made for ``X``'s rows, in their order (the scores
    of other rows, of as many, were applied to these without a word)."""
    n = X.shape[0]
    if ranking.n_samples != n:
        raise ValueError(f"the attribution has {ranking.n_samples} rows but X has {n}")
    inputs = ranking.inputs
    if inputs is None or inputs.shape != X.shape:  # a width that differs is named elsewhere
        return
    # By blocks of rows: a whole (n, d) comparison would hold several copies of X.
    for start in range(0, n, _BLOCK):
        part = slice(start, start + _BLOCK)
        if not np.allclose(inputs[part], X[part], rtol=1e-5, atol=1e-8):
            raise ValueError(
                "the attribution explains other inputs than X (its inputs differ); pass "
                "the rows it was made for, in the same order"
            )


def ranking_array(ranking: np.ndarray | list | tuple) -> np.ndarray:
    """A ranking array (or list) as an ndarray, its rows checked to be as long.

    Every caller goes through here (:func:`check_ranking`, and ``deletion_curve``
    for its default ``max_k``): rows of different lengths failed in numpy's
    ``np.asarray``, "inhomogeneous shape after 1 dimensions", naming neither the
    ranking nor its rows.
    """
    try:
        return np.asarray(ranking)
    except ValueError:
        lengths = [len(row) if isinstance(row, Sized) else None for row in ranking]
        other = [i for i, n in enumerate(lengths) if n != lengths[0]]
        rows = (
            f": row 0 lists {lengths[0]} and row {other[0]} lists {lengths[other[0]]}"
            if other and None not in lengths
            else ""
        )
        raise ValueError(
            "a ranking array must list as many features on every row, one order of "
            f"feature indices per row of X{rows}; cut every row to the shortest, or "
            "pass the scores as an Attribution"
        ) from None


def _order_scores(
    order: np.ndarray, n_features: int, *, segments: bool = False
) -> tuple[np.ndarray, int]:
    """Scores for an index array: position 0 scores highest, unranked features -inf.

    With ``segments`` the array ranks segment ids and ``n_features`` counts the
    segments: the messages say so, where "X has only 2 features" was said of an X of
    20 features split into 2 segments.
    """
    order = np.asarray(order)
    m = order.shape[-1]
    unit, index, indices = (
        ("segment", "segment id", "segment ids")
        if segments
        else ("feature", "feature index", "feature indices")
    )
    # Before the dtype: numpy reads [] as float64, which was told to hold integer
    # indices and to wrap scores in an Attribution, when it ranks nothing at all.
    if m == 0:
        raise ValueError(f"a ranking array must rank at least one {unit}; it is empty")
    if order.dtype.kind not in "iu":
        raise TypeError(
            f"a ranking array must hold integer {indices}, got dtype {order.dtype}; "
            "wrap attribution scores in an Attribution"
        )
    if m > n_features:
        # Said first: too long a row must repeat an index (or leave the range), and
        # "repeats a feature index" hid that the ranking is for a wider X.
        raise ValueError(
            f"a ranking array lists {m} segment ids per row but segments holds {n_features} "
            f"(ids 0 to {n_features - 1}); each id may appear once"
            if segments
            else f"a ranking array lists {m} feature indices per row but X has only "
            f"{n_features} features; each index may appear once"
        )
    outside = order[(order < 0) | (order >= n_features)]
    if outside.size:
        what = "segment ids" if segments else "indices"
        raise ValueError(f"ranking {what} must lie in [0, {n_features}), got {outside.flat[0]}")
    flat = order.reshape(-1, m)
    if m > 1 and np.any(np.diff(np.sort(flat, axis=1), axis=1) == 0):
        raise ValueError(f"a ranking array repeats a {index}")
    scores = np.full((flat.shape[0], n_features), -np.inf)
    np.put_along_axis(scores, flat, -np.arange(m, dtype=np.float64)[None, :], axis=1)
    return scores.reshape(*order.shape[:-1], n_features), m


def resolve_ranking(ranking: RankingLike, *, classes: np.ndarray, n_features: int) -> RowRanking:
    """Build a :class:`RowRanking` for rows whose explained classes are ``classes``.

    Parameters
    ----------
    ranking : FeatureImportance, Attribution or ndarray of int
    classes : ndarray of shape (n_samples,)
        The class each row is tested for; picks the row of a per-class importance.
    n_features : int
    """
    checked = check_ranking(ranking, n_samples=classes.shape[0], n_features=n_features)
    return checked.for_classes(classes)


def check_ranking(
    ranking: RankingLike, *, n_samples: int, n_features: int, segments: bool = False
) -> RowRanking:
    """Check ``ranking`` for ``n_samples`` rows of ``n_features`` and score it, all that
    needs no explained classes: a test that reads those off the model's predictions
    refuses a bad ranking before it queries the model. :meth:`RowRanking.for_classes`
    then sets the classes (and checks that a per-class importance ranks them).

    Parameters
    ----------
    ranking : FeatureImportance, Attribution or ndarray of int
    n_samples, n_features : int
    segments : bool, default=False
        A ranking array ranks segment ids, ``n_features`` of them: its errors say so.

    Returns
    -------
    RowRanking
        With ``classes`` None.
    """
    n = n_samples
    if isinstance(ranking, FeatureImportance):
        _check_width(ranking.n_features, n_features)
        if ranking.n_classes == 1:
            return RowRanking(n_features, n_features, shared=ranking.values[0])
        return RowRanking(n_features, n_features, per_class=ranking.values)
    if isinstance(ranking, Attribution):
        _check_width(ranking.n_features, n_features)
        if ranking.n_samples != n:  # its inputs were checked against X by the caller
            raise ValueError(f"the attribution has {ranking.n_samples} rows but X has {n}")
        return RowRanking(n_features, n_features, per_row=ranking.values)
    if isinstance(ranking, np.ndarray | list | tuple):
        order = ranking_array(ranking)
        if order.ndim == 1:
            scores, m = _order_scores(order, n_features, segments=segments)
            return RowRanking(n_features, m, shared=scores)
        if order.ndim == 2:
            if order.shape[0] != n:
                raise ValueError(f"the ranking array has {order.shape[0]} rows but X has {n}")
            scores, m = _order_scores(order, n_features, segments=segments)
            return RowRanking(n_features, m, per_row=scores)
        raise ValueError(f"a ranking array must be 1- or 2-dimensional, got {order.shape}")
    raise TypeError(
        "ranking must be a FeatureImportance, an Attribution or an array of feature indices, "
        f"got {type(ranking).__name__}"
    )


def _check_width(width: int, n_features: int) -> None:
    if width != n_features:
        raise ValueError(f"the ranking covers {width} features but X has {n_features}")


def explained_classes(
    blackbox: BlackBox, ranking: object, target: object, n: int
) -> np.ndarray | None:
    """The class each of ``n`` rows is tested (scored) for: ``target``, else an
    attribution's own, else None for the prediction (which the caller reads off the
    probabilities it needs anyway). One function for every evaluation: the PCR tests'
    copy never checked an attribution's classes against the model's, and refused one
    of class 5 on a model of 3 as "no positive case in X".

    Parameters
    ----------
    blackbox : BlackBox
    ranking : Attribution or any other ranking
        Only an attribution names classes of its own; they must agree with ``target``.
    target : label, array-like of shape (n,) or None
        By the black box's labels: one class for every row, or one per row.
    n : int

    Returns
    -------
    ndarray of int of shape (n,) or None
    """
    if target is not None:
        classes = blackbox._check_target(target, n)
        if isinstance(ranking, Attribution) and np.any(ranking.target != classes):
            if np.ndim(cast(Any, target)) == 0:
                # Named by the model's labels, as target was given: "target=0" for a
                # target="setosa" named neither the class nor what the rows explain.
                explained = [blackbox.class_label(c) for c in np.unique(ranking.target)]
                raise ValueError(
                    f"the attribution explains other classes than target="
                    f"{blackbox.class_label(classes[0])!r}: its rows explain {explained}; "
                    "pass target=None to test each row for the class its attribution "
                    "explains"
                )
            raise ValueError(
                "target names other classes than the attribution explains; it would be "
                "scored against another class's probability"
            )
        return classes
    if isinstance(ranking, Attribution):
        if ranking.target.max() >= blackbox.n_classes:
            raise ValueError(
                f"the attribution explains class {ranking.target.max()}, but the black "
                f"box has {blackbox.n_classes} classes"
            )
        return ranking.target
    return None
