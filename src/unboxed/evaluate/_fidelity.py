"""Fidelity tests: does the model really depend on the features an explanation ranks first?

The tests follow ``000_cf0c09d2d9cd2a13.txt``:

- :func:`deletion_test` is Sec. 4.1 steps 1-2: in the cases the model calls
  positive, nullify the top-k features and measure the positive classification rate
  (PCR); do the same with k random features as the baseline (the paper's B against R).
  With ``cases="negative"`` and ``fill="positive_mean"`` it is the paper's test on the
  negative cases, which sets the top-k features to their mean among the positives.
- :func:`crafted_cases` is Sec. 4.1 steps 3-4: new cases whose top-k features carry a
  positive case's values and whose other features are random.
- :func:`keep_top_k` is the Table 1 protocol (Sec. 4.2): keep only the top-k features
  or segments, fill the rest, and report accuracy and the probability of the class.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

import numpy as np

from .._estimator import short_repr
from .._progress import progress
from .._ranks import descending_order, mask_of, top_k_mask
from .._validation import (
    RandomState,
    allocate,
    as_labels,
    check_aligned,
    check_array,
    check_finite,
    check_finite_labels,
    check_fraction,
    check_ks,
    check_labels,
    check_no_missing,
    check_one_kind,
    check_positive_int,
    check_random_state,
    is_int,
    pandas_index,
)
from ..blackbox import BlackBox, RowName, _row_of_x, check_blackbox, label_positions
from ..explanation import Attribution, FeatureImportance, _json_seed
from ..local._segments import Partition, flat_segments
from ._ranking import RankingLike, RowRanking, check_ranking, check_rows, explained_classes
from ._saved import SavedWithEstimates, check_share_estimates, loaded_array
from ._stats import Estimate, bootstrap_mean, estimate, proportion

#: Rows manipulated and sent to the model at once.
CHUNK_ROWS = 2048

#: What a removed feature becomes in this module's tests and in ``deletion_curve``.
#: "mean" is the per-feature mean (in float64) of every row of the ``X`` passed to
#: that call, tested cases or not; it is not the explainers' ``fill="mean"``, which is
#: the mean of their ``background`` (see :func:`unboxed.local._base.make_fill`). To
#: remove features as an explanation made with ``background=X_train`` switched them
#: off, pass ``fill=X_train.mean(axis=0)``.
Fill = Literal["zero", "mean", "positive_mean"] | np.ndarray
FILLS = ("zero", "mean", "positive_mean")
#: What the top-k features of a crafted case may take (besides an array).
CRAFTED_VALUES = ("source", "positive_mean", "max")


def _check_fill(fill: object) -> None:
    """Check a fill name before any model query is spent; arrays are checked on use."""
    if isinstance(fill, str) and fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS} or an array, got {fill!r}")


@dataclasses.dataclass(frozen=True, eq=False)
class PCRResult(SavedWithEstimates):
    """Positive classification rates per k: ranked features against random ones.

    Its :meth:`save` and :meth:`load` write and read one ``.npz`` file, as an
    :class:`~unboxed.Explanation`'s do.

    Attributes
    ----------
    ks : ndarray of shape (n_ks,)
    pcr, random_pcr : ndarray of shape (n_ks,)
        The PCR when the ranked (resp. random) top-k features are manipulated.
    pcr_ci, random_pcr_ci : ndarray of shape (n_ks, 2)
        The 2.5th and 97.5th percentiles of the PCR over ``meta["n_boot"]`` bootstrap
        draws, each of ``meta["sample_frac"]`` of the cases, with replacement
        (:func:`~unboxed.evaluate._stats.bootstrap_mean`). At ``sample_frac=1`` that is
        the ordinary 95% percentile-bootstrap interval of the rate. Below 1 each draw is
        smaller than the sample, so the interval is wider than a 95% CI of the rate
        (about ``1 / sqrt(sample_frac)`` times, 1.8 at the paper's 0.3) and
        conservative: on simulated 0/1 outcomes with ``n_boot=50`` it covered the true
        rate in 99.5-100% of 400 repeats at 0.3, against 88-93% at 1.0.
    n_cases : int
        The number of cases tested.
    meta : dict
        The test, its settings and ``seed``, as an Explanation's (absent from files
        saved before it was recorded).
    """

    ks: np.ndarray
    pcr: np.ndarray
    pcr_ci: np.ndarray
    random_pcr: np.ndarray
    random_pcr_ci: np.ndarray
    n_cases: int
    meta: dict[str, Any]

    __repr__ = short_repr  # shapes, not every row's figure

    @classmethod
    def _decode(cls, fields: dict[str, Any]) -> dict[str, Any]:
        fields = super()._decode(fields)
        ks = loaded_array(fields, "ks", kind="iu", ndim=1)
        n_ks = ks.size
        # A test gives none of the values refused below: a NaN or 2.0 rate, k=-1 or an
        # interval [0.5, 0.2] were loaded, and separated() and to_markdown() read them.
        if n_ks and ks.min() < 0:
            raise ValueError(f"ks must hold feature counts >= 0, got {ks.min()}")
        n_cases = fields.get("n_cases")
        if is_int(n_cases) and n_cases < 1:  # the test refuses to run on no cases
            raise ValueError(f"n_cases must be an int >= 1, got {n_cases}")
        for name in ("pcr", "random_pcr"):
            rates = loaded_array(fields, name, kind="f", ndim=1)
            if rates.size != n_ks:
                raise ValueError(f"{name} must hold one rate per k ({n_ks})")
            outside = rates[~((rates >= 0) & (rates <= 1))]
            if outside.size:
                raise ValueError(f"{name} must hold rates in [0, 1], got {outside[0]}")
            # A rate is hits / n_cases: an edited n_cases read as a count of other cases.
            if is_int(n_cases):
                hits = rates * n_cases
                if not np.allclose(hits, np.round(hits), rtol=0, atol=1e-6):
                    raise ValueError(
                        f"{name} must hold shares of the n_cases={n_cases} cases, got "
                        f"{rates.tolist()}"
                    )
        for name in ("pcr_ci", "random_pcr_ci"):
            ci = loaded_array(fields, name, kind="f", ndim=2)
            if ci.shape != (n_ks, 2):
                raise ValueError(f"{name} must hold one interval per k, shape ({n_ks}, 2)")
            if not np.all((ci[:, 0] >= 0) & (ci[:, 0] <= ci[:, 1]) & (ci[:, 1] <= 1)):
                raise ValueError(f"{name} must hold intervals [low, high] in [0, 1]")
        return fields

    def separated(self) -> np.ndarray:
        """Per k, whether the two confidence intervals do not overlap.

        Returns
        -------
        ndarray of bool of shape (n_ks,)
        """
        return (self.pcr_ci[:, 1] < self.random_pcr_ci[:, 0]) | (
            self.random_pcr_ci[:, 1] < self.pcr_ci[:, 0]
        )

    def to_markdown(self, label: str = "ranked") -> str:
        """A markdown table: k, the ranked PCR and the random PCR with their CIs.

        Parameters
        ----------
        label : str, default="ranked"
            What the ranked features are called in the PCR column's header.

        Returns
        -------
        str
            One header row, one separator row and one row per k, figures to 3 decimals.
        """
        lines = [
            f"| k | PCR, {label} features [95% CI] | PCR, random features [95% CI] | separated |",
            "|---:|---|---|:---:|",
        ]
        for j, k in enumerate(self.ks):
            lines.append(
                f"| {k} | {self.pcr[j]:.3f} [{self.pcr_ci[j, 0]:.3f}, {self.pcr_ci[j, 1]:.3f}] "
                f"| {self.random_pcr[j]:.3f} [{self.random_pcr_ci[j, 0]:.3f}, "
                f"{self.random_pcr_ci[j, 1]:.3f}] | {'yes' if self.separated()[j] else 'no'} |"
            )
        return "\n".join(lines)

    def plot(self, label: str = "ranked", **kwargs: Any) -> Any:
        """Plot the PCR against k, for the ranked features and for random ones, each
        with its 95% CI as error bars.

        Parameters
        ----------
        label : str, default="ranked"
            What the ranked features are called in the legend, as in
            :meth:`to_markdown`.
        **kwargs
            Passed to :func:`unboxed.report.plot_pcr` (``ax``: the axes to draw on).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ..report import plot_pcr

        return plot_pcr(self, label=label, **kwargs)

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready plain types.

        Returns
        -------
        dict
            Every field, arrays as nested lists.
        """
        return {
            "ks": self.ks.tolist(),
            "pcr": self.pcr.tolist(),
            "pcr_ci": self.pcr_ci.tolist(),
            "random_pcr": self.random_pcr.tolist(),
            "random_pcr_ci": self.random_pcr_ci.tolist(),
            "n_cases": self.n_cases,
            "meta": self.meta,
        }


@dataclasses.dataclass(frozen=True, eq=False)
class KeepTopKResult(SavedWithEstimates):
    """Accuracy and class probability when only the top-k features or segments are kept.

    Its :meth:`save` and :meth:`load` write and read one ``.npz`` file, as an
    :class:`~unboxed.Explanation`'s do.

    ``predicted`` is the black box's class for each row with only its top k kept, for
    paired comparisons of two rankings on the same rows (not in ``as_dict``).

    Attributes
    ----------
    k : int
        The number of features (or segments) kept.
    accuracy : Estimate
        The share of rows the black box still classifies as their ``y``.
    probability : Estimate
        The mean probability of ``y``.
    meta : dict
        The test, its settings and ``seed``, as an Explanation's (absent from files
        saved before it was recorded).
    predicted : ndarray of int of shape (n_samples,)
    """

    k: int
    accuracy: Estimate
    probability: Estimate
    meta: dict[str, Any]
    predicted: np.ndarray

    __repr__ = short_repr  # shapes, not every row's figure

    @classmethod
    def _decode(cls, fields: dict[str, Any]) -> dict[str, Any]:
        fields = super()._decode(fields)
        predicted = loaded_array(fields, "predicted", kind="iu", ndim=1)
        # A test gives none of the values refused below: k=-1, a class -5, an accuracy
        # of 2.0 or predictions for 3 rows of 150 were loaded without a word.
        k = fields.get("k")
        if is_int(k) and k < 0:
            raise ValueError(f"k must be an int >= 0, got {k}")
        if predicted.size and predicted.min() < 0:
            raise ValueError(f"predicted must hold class indices >= 0, got {predicted.min()}")
        check_share_estimates(
            fields,
            ("accuracy", "probability"),
            n=predicted.size,
            rows=f"predicted holds {predicted.size}",
        )
        return fields

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready plain types, without ``predicted``.

        Returns
        -------
        dict
            Keys ``k``, ``accuracy``, ``probability`` (each an :meth:`Estimate.as_dict`)
            and ``meta``.
        """
        return {
            "k": self.k,
            "accuracy": self.accuracy.as_dict(),
            "probability": self.probability.as_dict(),
            "meta": self.meta,
        }


# ---------------------------------------------------------------------- shared pieces
def _check_target(target: object, blackbox: BlackBox) -> int | None:
    if target is None:
        return None
    if np.ndim(cast(Any, target)) == 0:  # a label of the model's (BlackBox.classes)
        target = blackbox.class_index(target, name="target").item()
    n_classes = blackbox.n_classes
    if not is_int(target):
        raise TypeError(f"target must be an int class index or None, got {target!r}")
    if not 0 <= int(target) < n_classes:
        raise ValueError(f"target must lie in [0, {n_classes}), got {target}")
    return int(target)


def _target_label(target: object, blackbox: BlackBox) -> Any:
    """``target`` as ``meta`` records it: the model's label of the class it names (the
    column index where the model has no labels), a plain Python value, or None."""
    index = _check_target(target, blackbox)
    return None if index is None else blackbox.class_label(index)


@dataclasses.dataclass(frozen=True, eq=False)
class _Fill:
    """Fill values: one row for all cases, or one per class picked by each case's class."""

    table: np.ndarray
    classes: np.ndarray

    def rows(self, block: np.ndarray) -> np.ndarray:
        return self.table if self.table.shape[0] == 1 else self.table[self.classes[block]]


def _make_fill(
    fill: Fill, X: np.ndarray, classes: np.ndarray, preds: Callable[[], np.ndarray], n_classes: int
) -> _Fill:
    """Resolve ``fill`` for cases of the given ``classes``; ``preds`` is called only if needed."""
    d = X.shape[1]
    if isinstance(fill, str):
        if fill == "zero":
            return _Fill(np.zeros((1, d)), classes)
        if fill == "mean":
            if X.shape[0] < 2:
                raise ValueError(
                    "fill='mean' is the mean of the rows of X, which for one row is the row "
                    "itself, so nothing would be removed; pass a reference set's mean as an "
                    "array"
                )
            return _Fill(X.mean(axis=0, keepdims=True, dtype=np.float64), classes)
        if fill == "positive_mean":
            predicted = preds()
            missing = sorted(set(np.unique(classes).tolist()) - set(predicted.tolist()))
            if missing:
                raise ValueError(
                    f"fill='positive_mean' needs cases predicted as class(es) {missing}"
                )
            table = np.zeros((n_classes, d))
            for c in np.unique(classes):
                table[c] = X[predicted == c].mean(axis=0, dtype=np.float64)
            return _Fill(table, classes)
        raise ValueError(f"fill must be one of {FILLS} or an array, got {fill!r}")
    return _Fill(_fill_array(fill, d)[None, :], classes)


def _fill_array(fill: object, d: int, *, name: str = "fill") -> np.ndarray:
    """An array ``fill``, checked to hold one value per feature (also before a query
    that :func:`_make_fill` follows); ``name`` is the argument that gave it."""
    values = check_array(fill, name=name, ndim=None)
    if values.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},), got {values.shape}")
    return values


def _check_ks_ranked(ks: np.ndarray, ranking: RowRanking, *, name: str = "k") -> None:
    if ks.max() > ranking.n_ranked:
        raise ValueError(f"{name}={ks.max()} exceeds the {ranking.n_ranked} ranked features")


Manipulate = Callable[[np.ndarray], np.ndarray]


def _blocks(n: int) -> list[np.ndarray]:
    """Row indices in blocks of :data:`CHUNK_ROWS`, to bound memory on large data sets."""
    return [np.arange(start, min(start + CHUNK_ROWS, n)) for start in range(0, n, CHUNK_ROWS)]


def _hit_rates(
    blackbox: BlackBox,
    ranking: RowRanking,
    classes: np.ndarray,
    ks: np.ndarray,
    prepare: Callable[[np.ndarray], Manipulate],
    rng: np.random.Generator,
    *,
    verbose: bool,
    desc: str,
    case_name: Callable[[int], str],
    manipulated: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each case keeps its class after manipulating its ranked (resp. random) top k.

    ``prepare(rows)`` returns a function from a feature mask to manipulated inputs for
    those rows; it is called once per block of rows so that random draws are shared
    between the ranked and the random variant. A model that raises is reported on the
    case (``case_name(case)``, "row 4 of X") and what was done to it (``manipulated``,
    with ``{top}``, "with its {top} set to the fill"): numbered within a block of
    manipulated rows, it was "on row 0 of the 1 row queried".

    Returns
    -------
    hits, random_hits : ndarray of bool, shape (n_cases, n_ks)
    """
    n, d = classes.shape[0], ranking.n_features
    hits = np.empty((n, ks.size), dtype=bool)
    random_hits = np.empty((n, ks.size), dtype=bool)
    blocks = _blocks(n)
    with progress(total=len(blocks) * ks.size, verbose=verbose, desc=desc, unit="k") as bar:
        for rows in blocks:
            orders = (
                descending_order(ranking.scores(rows)),
                descending_order(rng.random((rows.size, d))),
            )
            manipulate = prepare(rows)
            for j, k in enumerate(ks):
                for out, order, ranked in zip(
                    (hits, random_hits), orders, ("first-ranked", "random"), strict=True
                ):
                    inputs = blackbox.check_X(manipulate(mask_of(order, k)))
                    top = f"{k} {ranked} feature{'' if k == 1 else 's'}"
                    named = _case_names(rows, case_name, manipulated.format(top=top))
                    out[rows, j] = blackbox._proba_rows(inputs, named).argmax(1) == classes[rows]
                bar.update(1)
    return hits, random_hits


def _case_names(rows: np.ndarray, case_name: Callable[[int], str], manipulated: str) -> RowName:
    """``row_name`` of :meth:`BlackBox._proba_rows` for the manipulated ``rows`` of the
    cases (:func:`_hit_rates`)."""
    return lambda i: f"{case_name(int(rows[i]))} {manipulated}"


def _pcr_result(
    ks: np.ndarray,
    hits: np.ndarray,
    random_hits: np.ndarray,
    *,
    n_boot: int,
    sample_frac: float,
    rng: np.random.Generator,
    meta: dict[str, Any],
) -> PCRResult:
    boot: dict[str, Any] = {"n_boot": n_boot, "sample_frac": sample_frac, "random_state": rng}
    pcr, pcr_ci = bootstrap_mean(hits, **boot)
    rnd, rnd_ci = bootstrap_mean(random_hits, **boot)
    meta = {**meta, "n_boot": n_boot, "sample_frac": sample_frac}
    return PCRResult(ks, pcr, pcr_ci, rnd, rnd_ci, int(hits.shape[0]), meta)


def _boot_settings(n_boot: object, sample_frac: object) -> tuple[int, float]:
    """``n_boot`` and ``sample_frac`` of a PCR test, checked, as the plain numbers that
    its ``meta`` records (``np.asarray(50)`` is 50)."""
    return check_positive_int(n_boot, name="n_boot"), check_fraction(
        sample_frac, name="sample_frac"
    )


def _start(
    blackbox: BlackBox,
    X: object,
    ranking: RankingLike,
    ks: object,
    target: object,
    fill_name: str,
    fill: object,
    n_crafted: int | None = None,
) -> tuple[np.ndarray, Any, np.ndarray, np.ndarray, np.ndarray, RowRanking]:
    """Check the arguments shared by the PCR tests, then classify ``X`` once
    (:func:`_boot_settings` checks the bootstrap's first); ``fill`` is the setting
    ``fill_name`` that replaces features ("fill", "values"), checked before the query
    where it is an array. ``n_crafted``, :func:`crafted_cases`'s ``n_cases``, is the
    number of rows of ``X``'s width it will build, refused here where numpy cannot hold
    them.

    Returns
    -------
    X, index, ks, preds, classes, rank
        ``index``, a pandas ``X``'s row labels, names the row of ``X`` (or the case
        made from it) the model raises on; ``rank`` is ``ranking`` resolved for every
        row of ``X`` and its ``classes``.
    """
    index = pandas_index(X)
    check_blackbox(blackbox)
    _check_target(target, blackbox)  # one class, the positive one
    X = blackbox.check_X(X)
    if n_crafted is not None:
        # The crafted cases' values, X[sources]: n_cases=10**12 raised numpy's bare
        # "Unable to allocate 7.28 TiB" from rng.choice, and a count whose indices
        # numpy held (10**9) raised it from X[sources], both after the query of X.
        allocate((n_crafted, X.shape[1]), setting=f"n_cases={n_crafted}")
    ks = check_ks(ks, n_features=X.shape[1])
    if isinstance(ranking, Attribution):
        check_rows(ranking, X)
    # Every check of the ranking that needs no prediction comes first: a ragged list
    # or an index out of range was refused only after a full query over X.
    rank = check_ranking(ranking, n_samples=X.shape[0], n_features=X.shape[1])
    _check_ks_ranked(ks, rank)
    if not isinstance(fill, str):  # a width of other features was refused after the query
        _fill_array(blackbox._by_columns(fill, name=fill_name), X.shape[1], name=fill_name)
    classes = explained_classes(blackbox, ranking, target, X.shape[0])
    if classes is not None:
        rank = rank.for_classes(classes)
    preds = blackbox._predict_rows(X, index)
    if classes is None:
        classes, rank = preds, rank.for_classes(preds)
    return X, index, ks, preds, classes, rank


# ---------------------------------------------------------------------- public tests
def deletion_test(
    blackbox: BlackBox,
    X: object,
    ranking: RankingLike,
    ks: int | list[int] | np.ndarray,
    *,
    fill: Fill = "zero",
    target: object = None,
    cases: Literal["positive", "negative"] = "positive",
    n_boot: int = 50,
    sample_frac: float = 0.3,
    random_state: RandomState = None,
    verbose: bool = True,
) -> PCRResult:
    """Nullify the top-k features and measure the positive classification rate.

    Source: ``000_cf0c09d2d9cd2a13.txt``, Sec. 4.1, steps 1-2. A faithful ranking makes
    the PCR fall far below the baseline that nullifies k random features.

    Parameters
    ----------
    blackbox : BlackBox
    X : array-like of shape (n_samples, n_features)
        The cases, e.g. a training or test split.
    ranking : FeatureImportance, Attribution or ndarray of int
        Features, most important first: one ranking per class, one per row, or one
        array of indices shared by all rows.
    ks : int or sequence of int
        The numbers of features to nullify.
    fill : {"zero", "mean", "positive_mean"} or ndarray of shape (n_features,)
        The value nullified features take: 0; "mean", each feature's mean over every
        row of ``X`` (the tested cases and the others alike); "positive_mean", its
        mean over the rows of ``X`` the model assigns to the tested class; or given
        values. Neither mean is that of an explainer's ``background`` (which its
        ``fill="mean"`` uses): pass ``fill=X_train.mean(axis=0)`` for that one (a
        pandas Series of it is matched to the model's features by name).
    target : label, optional
        The positive class, by the black box's label (one of its ``classes``, say
        ``"class_0"`` for a model fitted on string labels; a column index where it has
        no labels). None tests each case for its own predicted class (or, for an
        attribution, for the class it explains).
    cases : {"positive", "negative"}
        Test the cases the model assigns to the tested class (PCR should fall), or the
        others (with ``fill="positive_mean"``, the PCR should rise). "negative" needs
        ``target``.
    n_boot : int
        Bootstrap repeats.
    sample_frac : float
        The share of cases in each bootstrap draw (the paper: 30%). Below 1 the
        intervals are wider than a 95% CI of the rate, and conservative
        (:class:`PCRResult`).
    random_state : int, Generator or None
        Seeds the random features and the bootstrap.
    verbose : bool
        Show a progress bar.

    Returns
    -------
    PCRResult
    """
    rng = check_random_state(random_state)
    _check_fill(fill)
    if cases not in ("positive", "negative"):
        raise ValueError(f"cases must be 'positive' or 'negative', got {cases!r}")
    if cases == "negative" and target is None:
        raise ValueError("cases='negative' needs a target class")
    n_boot, sample_frac = _boot_settings(n_boot, sample_frac)
    X, index, ks, preds, classes, rank = _start(blackbox, X, ranking, ks, target, "fill", fill)
    rows = np.flatnonzero((preds == classes) == (cases == "positive"))
    if rows.size == 0:
        raise ValueError(f"no {cases} case in X for the tested class(es); nothing to test")
    rank = rank.subset(rows)
    fill = blackbox._by_columns(fill, name="fill")  # fill=X_train.mean(), say
    fills = _make_fill(fill, X, classes[rows], lambda: preds, blackbox.n_classes)
    X_cases = X[rows]

    def prepare(block: np.ndarray) -> Manipulate:
        block_fill, block_X = fills.rows(block), X_cases[block]
        return lambda mask: np.where(mask, block_fill, block_X)

    hits, random_hits = _hit_rates(
        blackbox,
        rank,
        classes[rows],
        ks,
        prepare,
        rng,
        verbose=verbose,
        desc="deletion test",
        case_name=lambda case: _row_of_x(int(rows[case]), index),
        manipulated="with its {top} set to the fill",
    )
    meta = {
        "test": "deletion",
        "cases": cases,
        "fill": fill if isinstance(fill, str) else "array",
        "target": _target_label(target, blackbox),
        "seed": _json_seed(random_state),
    }
    return _pcr_result(
        ks, hits, random_hits, n_boot=n_boot, sample_frac=sample_frac, rng=rng, meta=meta
    )


def crafted_cases(
    blackbox: BlackBox,
    X: object,
    ranking: RankingLike,
    ks: int | list[int] | np.ndarray,
    *,
    target: object = None,
    n_cases: int | None = None,
    noise: Literal["uniform", "marginal"] = "uniform",
    values: Literal["source", "positive_mean", "max"] | np.ndarray = "source",
    n_boot: int = 50,
    sample_frac: float = 0.3,
    random_state: RandomState = None,
    verbose: bool = True,
) -> PCRResult:
    """Craft cases from the top-k features alone and measure how many stay positive.

    Source: ``000_cf0c09d2d9cd2a13.txt``, Sec. 4.1, steps 3-4. Each crafted case gives
    its top-k features positive values (by default those of a positive source case)
    and draws every other feature at random. The baseline sets k random features
    instead, from the same source and over the same random draws. ``k = 0`` gives
    entirely random cases, the paper's step 4.

    Parameters
    ----------
    blackbox : BlackBox
    X : array-like of shape (n_samples, n_features)
        Source cases; also sets each feature's random range.
    ranking : FeatureImportance, Attribution or ndarray of int
    ks : int or sequence of int
        The numbers of features copied from the source.
    noise : {"uniform", "marginal"}
        How the other features are drawn (the paper only says "randomly"): uniformly
        between the feature's minimum and maximum in ``X``, or from the feature's own
        values in ``X`` (each feature from an independently drawn row, so features
        are independent but each keeps its distribution; for images, background
        pixels stay mostly background).
    values : {"source", "positive_mean", "max"} or ndarray of shape (n_features,)
        The values the top-k features take. The paper's step 3 says crafted cases
        "register positive properties" there, and its Fig. 3 discussion that the
        model calls a noisy case positive "as long as the important features ... are
        filled with greater values". "source" copies one positive case's values,
        "positive_mean" takes the features' mean over all cases the model assigns to
        the tested class, "max" each feature's largest value in ``X`` (meaningful for
        rankings of features that raise the class score, e.g. positive
        coefficients), and an array gives fixed values.
    target : label, optional
        The positive class, by the black box's label, as for :func:`deletion_test`;
        None uses each source's own predicted class.
    n_cases : int, optional
        The number of cases to craft, from sources drawn at random among the positive
        cases (with replacement when more are asked for than there are). For an
        attribution, each positive row is a source once, and ``n_cases`` subsamples them.
    n_boot, sample_frac, random_state, verbose
        As in :func:`deletion_test`.

    Returns
    -------
    PCRResult
        ``pcr`` for the ranked features, ``random_pcr`` for random ones.
    """
    rng = check_random_state(random_state)
    if n_cases is not None:
        n_cases = check_positive_int(n_cases, name="n_cases")
    if isinstance(values, str) and values not in CRAFTED_VALUES:
        raise ValueError(f"values must be one of {CRAFTED_VALUES} or an array, got {values!r}")
    if noise not in ("uniform", "marginal"):
        raise ValueError(f"noise must be 'uniform' or 'marginal', got {noise!r}")
    n_boot, sample_frac = _boot_settings(n_boot, sample_frac)
    # An attribution's n_cases only subsamples the positive rows, so any count is held;
    # otherwise n_cases rows are crafted, and _start refuses a count numpy cannot hold.
    crafted = None if isinstance(ranking, Attribution) else n_cases
    X, index, ks, preds, classes, rank = _start(
        blackbox, X, ranking, ks, target, "values", values, n_crafted=crafted
    )
    positives = np.flatnonzero(preds == classes)
    if positives.size == 0:
        raise ValueError("no positive case in X for the tested class(es); nothing to craft from")
    if isinstance(ranking, Attribution):
        size = positives.size if n_cases is None else min(n_cases, positives.size)
        sources = np.sort(rng.choice(positives, size=size, replace=False))
    else:
        size = positives.size if n_cases is None else n_cases
        sources = rng.choice(positives, size=size, replace=size > positives.size)
    rank = rank.subset(sources)
    low, high = X.min(axis=0), X.max(axis=0)
    # The top-k values: each source's own, or one row per class (or for all).
    if isinstance(values, str) and values == "source":
        top_values = _Fill(X[sources], np.arange(sources.size))
    else:
        # values=X_train.max(), say: matched to the model's features by name, as fill is.
        named = (
            high
            if isinstance(values, str) and values == "max"
            else blackbox._by_columns(values, name="values")
        )
        top_values = _make_fill(named, X, classes[sources], lambda: preds, blackbox.n_classes)
    columns = np.arange(X.shape[1])

    def prepare(block: np.ndarray) -> Manipulate:
        if noise == "uniform":
            fill = low + (high - low) * rng.random((block.size, X.shape[1]))
        else:
            fill = X[rng.integers(0, X.shape[0], size=(block.size, X.shape[1])), columns]
        top = top_values.rows(block)
        return lambda mask: np.where(mask, top, fill)

    hits, random_hits = _hit_rates(
        blackbox,
        rank,
        classes[sources],
        ks,
        prepare,
        rng,
        verbose=verbose,
        desc="crafted cases",
        case_name=lambda case: f"crafted case {case} (of {_row_of_x(int(sources[case]), index)})",
        manipulated="with its {top} set, the rest noise",
    )
    meta = {
        "test": "crafted",
        "target": _target_label(target, blackbox),
        "noise": noise,
        "values": values if isinstance(values, str) else "array",
        "seed": _json_seed(random_state),
    }
    return _pcr_result(
        ks, hits, random_hits, n_boot=n_boot, sample_frac=sample_frac, rng=rng, meta=meta
    )


def keep_top_k(
    blackbox: BlackBox,
    X: object,
    y: object,
    ranking: RankingLike,
    k: int,
    *,
    segments: np.ndarray | None = None,
    segment_score: Literal["mean", "sum"] = "mean",
    fill: Fill = "zero",
    n_boot: int = 1000,
    random_state: RandomState = None,
    verbose: bool = True,
) -> KeepTopKResult:
    """Keep only the top-k features or segments, fill the rest, and score the model.

    Source: ``000_cf0c09d2d9cd2a13.txt``, Sec. 4.2 and Table 1: the explanation is
    faithful if the kept part alone still yields class ``y``.

    Parameters
    ----------
    blackbox : BlackBox
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        The class to score per row: the true label, or the black box's own prediction.
    ranking : FeatureImportance, Attribution or ndarray of int
        Features (or, with ``segments``, segment ids) most important first. A global
        importance is read for class ``y`` of each row.
    k : int
        The number of features (or segments) kept.
    segments : ndarray of int, shape (n_samples, n_features) or (n_features,), optional
        Segment labels (0, 1, ...) per feature, e.g. superpixels. A segment's score
        is the mean (or sum) of its features' scores. In the black box's shape too:
        ``(n_samples, *input_shape)``, ``input_shape``, or an image's pixels
        ``(n_samples, H, W)`` or ``(H, W)``, the same on every channel.
    segment_score : {"mean", "sum"}
    fill : {"zero", "mean", "positive_mean"} or ndarray of shape (n_features,)
        The value of the features that are not kept: 0; "mean", each feature's mean
        over every row of ``X``; "positive_mean", its mean over the rows of ``X``
        the model assigns to each row's class ``y``; or given values. An explainer's
        ``fill="mean"`` is the mean of its ``background`` instead: pass
        ``fill=X_train.mean(axis=0)`` to fill as it did.
    n_boot : int
        Bootstrap repeats for the probability's confidence interval.
    random_state : int, Generator or None
        Seeds the bootstrap.
    verbose : bool
        Show a progress bar over the rows sent to the model.

    Returns
    -------
    KeepTopKResult
        ``accuracy``: the share of rows classified as ``y``, with Wilson's 95% score
        interval; ``probability``: the mean probability of ``y``, with a 95% bootstrap
        CI.
    """
    check_blackbox(blackbox)
    rng = check_random_state(random_state)
    _check_fill(fill)
    n_boot = check_positive_int(n_boot, name="n_boot")
    if segment_score not in ("mean", "sum"):  # checked even without segments, which alone use it
        raise ValueError(f"segment_score must be 'mean' or 'sum', got {segment_score!r}")
    k = check_positive_int(k, name="k", minimum=0)
    check_aligned(y, X)
    # A DataFrame's row labels name the row the model raises on, in the query of X and
    # of its rows with only their top k kept, as predict_proba names it.
    index = pandas_index(X)
    X = blackbox.check_X(X)
    n = X.shape[0]
    y = blackbox.class_indices(y, n=n)
    if isinstance(ranking, Attribution):
        check_rows(ranking, X)
    classes = ranking.target if isinstance(ranking, Attribution) else y
    fill = blackbox._by_columns(fill, name="fill")
    # The ranking first: fill="positive_mean" queries every row of X for its classes.
    keep = _keep_masks(
        ranking, classes, segments, k, X.shape, segment_score, input_shape=blackbox.input_shape
    )
    predicted = functools.partial(blackbox._predict_rows, X, index)
    fills = _make_fill(fill, X, y, predicted, blackbox.n_classes)
    blocks = []
    unit = "feature" if segments is None else "segment"
    only = f"with only its {k} first-ranked {unit}{'' if k == 1 else 's'} kept"
    with progress(total=n, verbose=verbose, desc="keep top k", unit="row") as bar:
        for rows in _blocks(n):
            kept = blackbox.check_X(np.where(keep(rows), X[rows], fills.rows(rows)))
            named = _case_names(rows, functools.partial(_row_of_x, index=index), only)
            blocks.append(blackbox._proba_rows(kept, named))
            bar.update(rows.size)
    proba = np.concatenate(blocks)
    meta = {
        "test": "keep_top_k",
        "unit": "feature" if segments is None else "segment",
        "fill": fill if isinstance(fill, str) else "array",
        "n_boot": n_boot,
        "seed": _json_seed(random_state),
    }
    return KeepTopKResult(
        k=k,
        # A share of 0/1 outcomes: Wilson's interval, which keeps its coverage near 1.
        accuracy=proportion(proba.argmax(axis=1) == y),
        probability=estimate(proba[np.arange(n), y], n_boot=n_boot, random_state=rng),
        meta=meta,
        predicted=proba.argmax(axis=1),
    )


def _keep_masks(
    ranking: RankingLike,
    classes: np.ndarray | None,
    segments: np.ndarray | None,
    k: int,
    shape: tuple[int, int],
    how: str,
    name: str = "k",
    input_shape: tuple[int, ...] | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """A function from a block of rows to masks that keep each row's top ``k``.

    Without ``segments`` the top ``k`` features are kept. With them, the top ``k``
    segments are: an array ranking names segment ids, and any other ranking scores a
    segment by the mean (or sum) of its features' scores. ``name`` is the argument
    that gave ``k``, for the error message; ``input_shape`` the black box's, in which
    ``segments`` may come (:func:`~unboxed.local._segments.flat_segments`).

    ``classes`` None checks all that needs no explained classes, before the query
    that predicts them (:func:`~unboxed.evaluate._ranking.check_ranking`); the masks
    of a per-class importance then need them.
    """
    n, d = shape
    if segments is None:
        rank = _for_classes(check_ranking(ranking, n_samples=n, n_features=d), classes)
        _check_ks_ranked(np.array([k]), rank, name=name)
        return lambda rows: top_k_mask(rank.scores(rows), k)
    what = "non-negative int labels"
    labels = flat_segments(segments, n, d, input_shape, what=what)
    if labels.min() < 0:
        raise ValueError(
            f"segments must be {what} of shape ({n}, {d}) or ({d},), "
            f"got {labels.dtype} {np.shape(segments)}"
        )
    by_id = not isinstance(ranking, Attribution | FeatureImportance)
    if not by_id:
        # Ids only group features here, and ids beyond d (say, 10**9) would size the
        # tables below: number each row's ids 0, 1, ... first.
        labels = Partition.from_labels(labels, n, d).labels
    n_segments = int(labels.max()) + 1
    if by_id and n_segments > n * d:
        # The masks below hold a column per id: ids of 10**12 asked numpy for terabytes.
        # n * d ids suffice for any labelling, one id per feature of every row.
        raise ValueError(
            f"segments hold ids up to {n_segments - 1}, more than the {n * d} features of "
            f"the {n} rows, and a ranking array names segments by id: number them 0, 1, "
            "... (np.unique(segments, return_inverse=True)), with the ranking's ids to match"
        )
    checked = (
        check_ranking(ranking, n_samples=n, n_features=n_segments, segments=True)
        if by_id
        else check_ranking(ranking, n_samples=n, n_features=d)
    )
    rank = _for_classes(checked, classes)
    if k > n_segments:
        raise ValueError(f"{name}={k} exceeds the number of segments ({n_segments})")
    if k > rank.n_ranked:
        raise ValueError(f"{name}={k} exceeds the {rank.n_ranked} ranked segments")

    def keep(rows: np.ndarray) -> np.ndarray:
        offsets = (labels[rows] + n_segments * np.arange(rows.size)[:, None]).ravel()
        size = rows.size * n_segments
        counts = np.bincount(offsets, minlength=size).reshape(rows.size, n_segments)
        scores: np.ndarray
        if by_id:
            scores = np.array(rank.scores(rows), dtype=np.float64)
        else:
            pixel = np.ravel(rank.scores(rows))
            scores = np.bincount(offsets, weights=pixel, minlength=size).reshape(counts.shape)
            if how == "mean":
                scores = scores / np.maximum(counts, 1)
        # A row with fewer than k segments keeps (or loses) all of them: the empty
        # slots picked instead hold no features.
        scores[counts == 0] = -np.inf
        kept = top_k_mask(scores, k)
        return np.take_along_axis(kept, labels[rows], axis=1)

    return keep


def _for_classes(rank: RowRanking, classes: np.ndarray | None) -> RowRanking:
    """``rank`` for rows of explained ``classes``, or as it is where they are unknown."""
    return rank if classes is None else rank.for_classes(classes)


def agreement(
    pred_a: object, pred_b: object, *, classes: Sequence[Any] | np.ndarray | None = None
) -> Estimate:
    """The share of rows on which two predictors agree: proxy faithfulness.

    Each side is a vector of class labels, or probabilities (reduced by argmax to a
    column index). Labels are compared as they are, so both sides must name classes
    the same way: :meth:`BlackBox.predict <unboxed.BlackBox.predict>` and an argmax
    give column indices ``0..n_classes-1``, while a scikit-learn estimator's
    ``predict`` gives its own labels (its ``classes_``: 1..3, say, or strings).
    Compared with each other they would agree on no row, so the mismatches that give
    themselves away are refused (see Raises). To compare an estimator's labels with
    a black box's indices, map the indices with
    :meth:`BlackBox.class_labels <unboxed.BlackBox.class_labels>`, or pass both
    sides' probabilities.

    Parameters
    ----------
    pred_a, pred_b : array-like of shape (n_samples,) or (n_samples, n_classes)
        Class labels (non-negative ints, or strings), or probabilities (reduced by
        argmax).
    classes : sequence, optional
        The label of each column of the probabilities: a black box's ``classes``, an
        estimator's ``classes_``. Then probabilities are read as ``classes[argmax]``,
        and label vectors must hold labels from ``classes`` (any ints, floats or
        strings, negative ones too). By default probabilities give column indices.

    Returns
    -------
    Estimate
        The share of rows with the same class, with Wilson's 95% score interval
        (:func:`~unboxed.evaluate._stats.wilson_interval`). A percentile bootstrap of
        the 0/1 agreements covered a true agreement of 0.99 on 100 rows in only 63% of
        samples (and gave ``[1, 1]`` whenever every row agreed); Wilson's interval
        covers it in 92% (exactly, over the binomial's outcomes), nearer its 95%.

    Raises
    ------
    ValueError
        If either is not 1-D or 2-D, has fewer than 2 columns of probabilities, or
        they differ in length or are empty. If the two sides do not name classes the
        same way: probabilities over different numbers of classes (or other than
        ``len(classes)``); a label not in ``classes``; without ``classes``, string
        labels against ints or probabilities, labels outside ``0..C-1`` against
        probabilities over ``C`` classes, or two vectors of int labels, each taking
        two or more values, that share none or where one set is the other plus one
        (an estimator's labels 1..3 against a black box's indices 0..2). Two
        predictors that do both give column indices, but share no class on a few
        rows, pass ``classes=range(n_classes)``, as the library's own callers do.
    TypeError
        If ``classes``, ``pred_a`` or ``pred_b`` mixes strings and numbers (numpy
        would read ``[0, "cat"]`` as ``["0", "cat"]``, so that the int label 0
        matched no class, or the label ``"0"``).
    """
    sides = [_predictions(name, pred) for name, pred in zip(_SIDES, (pred_a, pred_b), strict=True)]
    (a, width_a), (b, width_b) = sides
    if a.shape != b.shape:
        raise ValueError(f"pred_a has {a.size} rows but pred_b has {b.size}")
    if a.size == 0:
        raise ValueError("pred_a and pred_b are empty")
    if width_a is not None and width_b is not None and width_a != width_b:
        raise ValueError(
            f"pred_a holds probabilities over {width_a} classes but pred_b over {width_b}; "
            "they must be over the same classes"
        )
    if classes is None:
        a, b = _alike_labels(sides)
    else:
        a, b = (
            _class_positions(name, *side, classes) for name, side in zip(_SIDES, sides, strict=True)
        )
    return proportion(a == b)


_SIDES = ("pred_a", "pred_b")

#: How to fix a call of :func:`agreement` that names classes two ways.
_LIKE_WITH_LIKE = (
    "compare like with like: map a black box's column indices to its labels with "
    "blackbox.class_labels(indices), or pass both sides' probabilities (predict_proba; "
    "with classes=estimator.classes_ an estimator's labels are compared with them)"
)


def _predictions(name: str, pred: object) -> tuple[np.ndarray, int | None]:
    """One side of :func:`agreement` as a vector, with the number of columns of its
    probabilities (None for labels): labels as given, or their argmax."""
    arr = as_labels(pred, name=name)  # ["cat", nan]: a gap, not the string "nan"
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be labels (n,) or probabilities (n, C), got {arr.shape}")
    if arr.ndim == 1:
        index = pandas_index(pred)
        check_no_missing(arr, name=name, index=index)
        _check_one_kind_of_labels(name, pred, arr)
        # Here, while the Series' index is at hand: check_labels, given the bare array,
        # said "at index 2" of a split's shuffled index, where the row is pred_a.loc[9].
        check_finite_labels(arr, name=name, index=index)
        return arr, None
    if arr.shape[1] < 2:  # argmax of one column is 0 on every row: a sure 1.0
        raise ValueError(
            f"{name} has shape {arr.shape}: probabilities need at least 2 columns; "
            "pass labels as a vector of shape (n,)"
        )
    # Checked here, not by check_array: a DataFrame's gap is named by its row label
    # (pred_a.loc[9]), which the plain array has lost, and with no advice to impute.
    proba = check_array(arr, name=name, finite=False)
    check_finite(proba, name=name, index=pandas_index(pred))
    return proba.argmax(axis=1), int(arr.shape[1])


def _check_one_kind_of_labels(name: str, pred: object, arr: np.ndarray) -> None:
    """Refuse a side of :func:`agreement` whose labels mix strings and numbers, as
    ``classes=[0, "cat"]`` is refused.

    numpy read the list ``["cat", 1]`` as ``["cat", "1"]``, which then agreed with
    ``["cat", "1"]`` on every row; an object Series of them reached numpy's "'<' not
    supported between instances of 'int' and 'str'". A text array made as such is
    text throughout.
    """
    if arr.dtype.kind in "US" and not isinstance(pred, np.ndarray):
        items = list(cast(Sequence[Any], pred))
    elif arr.dtype == object:
        items = arr.tolist()
    else:
        return
    # One cheap pass by type; check_one_kind, which reads each label further (a 0-d
    # array's item), slowed agreement on a list of a million strings several times over.
    if len({isinstance(v, str) for v in items}) == 2:
        check_one_kind(pred, name=name)


def _is_text(arr: np.ndarray) -> bool:
    """Whether a vector holds string labels."""
    return arr.dtype.kind in "US" or (
        arr.dtype == object and all(isinstance(v, str) for v in arr.tolist())
    )


def _shown(values: np.ndarray) -> str:
    """The set of labels in ``values``, the first few of them, for a message."""
    unique = np.unique(values).tolist()
    return "{" + ", ".join(map(repr, unique[:6])) + (", ...}" if len(unique) > 6 else "}")


def _alike_labels(sides: list[tuple[np.ndarray, int | None]]) -> list[np.ndarray]:
    """Both sides of :func:`agreement` without ``classes``, checked to name classes
    the same way: column indices of probabilities, non-negative ints, or strings."""
    width = next((w for _, w in sides if w is not None), None)
    text = [w is None and _is_text(v) for v, w in sides]
    if any(text):
        if not all(text):
            i = text.index(True)
            other, other_width = sides[1 - i]
            held = "probabilities" if other_width is not None else f"labels {_shown(other)}"
            raise ValueError(
                f"{_SIDES[i]} holds string labels {_shown(sides[i][0])} but {_SIDES[1 - i]} "
                f"holds {held}; {_LIKE_WITH_LIKE}"
            )
        return [v.astype(str) for v, _ in sides]
    labels = []
    for name, (values, w) in zip(_SIDES, sides, strict=True):
        if w is not None:
            labels.append(values)  # an argmax: a column index
            continue
        hint = (
            f" (the other side's probabilities give column indices 0..{width - 1}); "
            + _LIKE_WITH_LIKE
            if width is not None
            else "; for a model's own labels (-1 and 1, say) pass classes=estimator.classes_"
        )
        labels.append(check_labels(values, n=values.size, n_classes=width, name=name, hint=hint))
    if width is None:
        seen = [set(np.unique(v).tolist()) for v in labels]
        if min(map(len, seen)) >= 2 and seen[0] != seen[1]:
            a, b = seen
            if a.isdisjoint(b) or {v + 1 for v in a} == b or {v + 1 for v in b} == a:
                raise ValueError(
                    f"pred_a holds the labels {_shown(labels[0])} and pred_b "
                    f"{_shown(labels[1])}: one side looks like column indices 0..C-1 "
                    "(BlackBox.predict, an argmax) and the other like a model's own "
                    "labels (an sklearn estimator's predict), which agree on no row; "
                    + _LIKE_WITH_LIKE
                    + ". If both do hold column indices (two predictors that share no "
                    "class on these rows), say so with classes=range(n_classes)"
                )
    return labels


def _class_positions(
    name: str, values: np.ndarray, width: int | None, classes: Sequence[Any] | np.ndarray
) -> np.ndarray:
    """One side of :func:`agreement` as column indices of ``classes``."""
    check_one_kind(classes, name="classes")
    labels = np.asarray(classes)
    if labels.ndim != 1 or labels.size < 2 or np.unique(labels).size != labels.size:
        raise ValueError(f"classes must be 2 or more distinct labels, got {classes!r}")
    if width is not None:
        if width != labels.size:
            raise ValueError(
                f"{name} holds probabilities over {width} classes but classes has "
                f"{labels.size} labels"
            )
        return values
    return label_positions(
        values,
        tuple(labels.tolist()),
        name=name,
        whose="the model that classes= names",
        hint=f"; if {name} holds column indices, map them to labels with "
        "blackbox.class_labels(indices)",
    )
