"""Figures for local explanations: deletion curves (AOPC) and sensitivity to noise.

- :func:`deletion_curve` removes the most important features (or segments) one step
  at a time and records how the probability of the explained class falls. Its area,
  the AOPC (Samek et al. 2017), is larger for a more faithful ranking.
- :func:`explanation_sensitivity` measures how far an explanation moves under small
  noise that leaves the class unchanged: the attack on interpretations of
  ``002_3e5e1762af60ee33.txt`` ("Attack Interpretation?!").
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Literal

import numpy as np

from .._estimator import short_repr
from .._ranks import descending_order, top_k_mask
from .._validation import (
    RandomState,
    check_instance,
    check_number,
    check_per_feature,
    check_positive_int,
    check_random_state,
    is_int,
    pandas_index,
)
from ..blackbox import BlackBox, _row_of_x, check_blackbox, perturbation_name
from ..explanation import Attribution, _json_seed
from ..local._base import naming_rows
from ..local._segments import Partition
from ._fidelity import (
    Fill,
    _blocks,
    _case_names,
    _check_fill,
    _fill_array,
    _keep_masks,
    _make_fill,
)
from ._ranking import RankingLike, check_rows, explained_classes, ranking_array
from ._saved import (
    SavedWithEstimates,
    _finite_float,
    check_estimate_of,
    check_share_estimates,
    loaded_array,
)
from ._stats import Estimate, estimate

#: deletion_curve's removal steps where there are more features or segments: the
#: images' figures (docs/evaluate.md) were measured with 20.
DEFAULT_MAX_K = 20
#: explanation_sensitivity's top-set size where there are 20 features or more.
DEFAULT_SENSITIVITY_K = 10


@dataclasses.dataclass(frozen=True, eq=False)
class DeletionCurve(SavedWithEstimates):
    """The probability drop after removing the top 0..max_k features or segments.

    Its :meth:`save` and :meth:`load` write and read one ``.npz`` file, as an
    :class:`~unboxed.Explanation`'s do.

    Attributes
    ----------
    ks : ndarray of shape (max_k + 1,)
        0, 1, ..., max_k.
    drop : ndarray of shape (n_samples, max_k + 1)
        ``f_c(x) - f_c(x without its top k)`` per row and k.
    aopc : Estimate
        The area over the perturbation curve: the mean of ``drop`` over k = 0..max_k,
        averaged over rows, with a 95% bootstrap CI over rows.
    meta : dict
        The test, its unit, ``max_k`` and fill; for ``ranking="random"`` also
        ``"ranking": "random"`` and the ``seed`` of the orders.
    """

    ks: np.ndarray
    drop: np.ndarray
    aopc: Estimate
    meta: dict[str, Any]

    __repr__ = short_repr  # shapes, not every row's figure

    @classmethod
    def _decode(cls, fields: dict[str, Any]) -> dict[str, Any]:
        fields = super()._decode(fields)
        ks = loaded_array(fields, "ks", kind="iu", ndim=1)
        drop = loaded_array(fields, "drop", kind="f", ndim=2, finite=True)
        if drop.shape[1] != ks.size:
            raise ValueError(f"drop has {drop.shape[1]} columns for {ks.size} values of k")
        if not np.array_equal(ks, np.arange(ks.size)):
            raise ValueError(f"ks must be 0, 1, ..., max_k, got {ks.tolist()}")
        if drop.shape[0] == 0:
            raise ValueError("drop has no rows; a deletion curve has one per row explained")
        # A drop is a difference of two probabilities, and at k = 0 nothing is removed:
        # a hand-edited curve outside these loaded and gave an AOPC no model could have.
        if np.any(drop[:, 0] != 0):
            row = int(np.flatnonzero(drop[:, 0] != 0)[0])
            raise ValueError(
                f"drop at k=0 must be 0 (nothing removed), got {drop[row, 0]} in row {row}"
            )
        if np.any(np.abs(drop) > 1):
            bad = tuple(int(i) for i in np.argwhere(np.abs(drop) > 1)[0])
            raise ValueError(
                f"drop must lie in [-1, 1] (a difference of probabilities), got "
                f"{drop[bad]} at index {bad}"
            )
        check_estimate_of(fields, "aopc", drop.mean(axis=1), of="drop's rows")
        return fields

    def curve(self) -> np.ndarray:
        """The mean drop per k, over rows.

        Returns
        -------
        ndarray of shape (max_k + 1,)
        """
        return self.drop.mean(axis=0)

    def aopc_difference(
        self, baseline: DeletionCurve, *, n_boot: int = 1000, random_state: RandomState = None
    ) -> Estimate:
        """This curve's AOPC minus ``baseline``'s, paired by row.

        Each row's area (its mean drop over k) minus its area under ``baseline``,
        averaged over rows with a 95% bootstrap CI over rows, as :attr:`aopc` is: how
        far one ranking is above the other on the same rows, with its own interval,
        which the two AOPCs' intervals side by side do not give.

        Parameters
        ----------
        baseline : DeletionCurve
            A curve of the same rows, in the same order, with the same ``max_k``, unit
            and fill: ``deletion_curve(..., ranking="random")`` for a random order of
            the same features (segments).
        n_boot : int, default=1000
        random_state : int, Generator or None
            Seeds the bootstrap.

        Returns
        -------
        Estimate

        Raises
        ------
        TypeError
            If ``baseline`` is not a DeletionCurve.
        ValueError
            If it has other rows or steps, or removes other units or with another fill.
        """
        self._check_pairs_with(baseline)
        paired = self.drop.mean(axis=1) - baseline.drop.mean(axis=1)
        return estimate(paired, n_boot=n_boot, random_state=random_state)

    def _check_pairs_with(self, baseline: DeletionCurve) -> None:
        """Refuse a ``baseline`` that is no curve of this one's rows and steps, or that
        removes other units or with another fill: the one rule of what may be paired
        with this curve, for :meth:`aopc_difference` and the plot beside it."""
        check_instance(baseline, DeletionCurve, name="baseline", what="a DeletionCurve")
        if baseline.drop.shape != self.drop.shape:
            raise ValueError(
                f"the baseline has {baseline.drop.shape[0]} rows and max_k="
                f"{baseline.drop.shape[1] - 1}, this curve {self.drop.shape[0]} rows and "
                f"max_k={self.drop.shape[1] - 1}; pair curves of the same rows and steps"
            )
        for key in ("unit", "fill"):
            # Files saved before meta recorded them say nothing: compared where both do.
            ours, theirs = self.meta.get(key), baseline.meta.get(key)
            if ours is not None and theirs is not None and ours != theirs:
                raise ValueError(
                    f"the baseline's {key} is {theirs!r} and this curve's {ours!r}; pair "
                    "curves that remove the same units the same way"
                )

    def plot(self, baseline: DeletionCurve | None = None, **kwargs: Any) -> Any:
        """Plot the mean drop against k, with its 95% CI band and the AOPC.

        Parameters
        ----------
        baseline : DeletionCurve, optional
            The curve of a random ranking of the same rows, drawn beside this one with
            its own band and AOPC: ``deletion_curve(blackbox, X, "random", ...)`` with
            this curve's ``max_k``, ``segments``, ``fill`` and ``target``
            (:meth:`aopc_difference` gives the paired difference of their AOPCs).
        **kwargs
            Passed to :func:`unboxed.report.plot_deletion_curve` (``ax``: the axes to
            draw on; ``n_boot`` and ``random_state``: the bands' bootstrap, seeded
            with 0 by default).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ..report import plot_deletion_curve

        return plot_deletion_curve(self, baseline, **kwargs)


def deletion_curve(
    blackbox: BlackBox,
    X: object,
    ranking: RankingLike | Literal["random"],
    *,
    max_k: int | None = None,
    segments: np.ndarray | None = None,
    fill: Fill = "zero",
    target: object = None,
    n_boot: int = 1000,
    random_state: RandomState = None,
) -> DeletionCurve:
    """Remove the top-ranked features (or segments) in order; report the AOPC.

    Parameters
    ----------
    blackbox : BlackBox
    X : array-like of shape (n_samples, n_features)
    ranking : Attribution, FeatureImportance, ndarray of int or "random"
        As for :func:`keep_top_k`; with ``segments`` a segment scores the mean of its
        features. "random" gives the baseline a ranking must beat: each row its own
        random order of its features, or with ``segments`` of its own segments, drawn
        from ``random_state`` (pass the ranking's ``target`` too, to score the same
        classes; :meth:`DeletionCurve.aopc_difference` pairs the two curves).
    max_k : int, optional
        The number of removal steps; without ``segments``, at most the number of
        features, and at most as many as a ranking array lists. By default 20, or
        every feature (segment) where there are fewer: all 4 of iris, all 13 of wine,
        or those a shorter ranking array lists. Kept in the result's ``meta["max_k"]``.
    segments : ndarray of int, shape (n_samples, n_features) or (n_features,), optional
        In the black box's shape too: ``(n_samples, *input_shape)``, ``input_shape``, or
        an image's pixels ``(n_samples, H, W)`` or ``(H, W)``, the same on every channel.
    fill : {"zero", "mean", "positive_mean"} or ndarray of shape (n_features,)
        What removed features become; "mean" is each feature's mean over the rows of
        ``X`` (so with few rows pass a reference set's mean as an array instead),
        "positive_mean" its mean over the rows of ``X`` the model assigns to the
        row's explained class (as :func:`deletion_test` takes it). "mean" is not
        an explainer's ``fill="mean"``, the mean of its ``background``: pass
        ``fill=X_train.mean(axis=0)`` to remove features as an explanation made with
        ``background=X_train`` switched them off.
    target : array-like of shape (n_samples,), optional
        The class per row; by default the attribution's target (an attribution's own
        classes must agree with it), else the prediction.
    n_boot : int
    random_state : int, Generator or None
        Seeds the bootstrap, and for ``ranking="random"`` the orders (from a stream of
        their own: the bootstrap draws the same rows as for any other ranking).

    Returns
    -------
    DeletionCurve
    """
    rng = check_random_state(random_state)
    random = isinstance(ranking, str)
    if random and ranking != "random":
        raise ValueError(
            "ranking must be an Attribution, a FeatureImportance, an array of feature "
            f"indices or 'random', got {ranking!r}"
        )
    _check_fill(fill)
    # Checked before any query: n_boot=0 was refused by the bootstrap, after every step.
    n_boot = check_positive_int(n_boot, name="n_boot")
    # A DataFrame's row labels name the row the model raises on, in the query of X and
    # of its rows with features removed, as predict_proba names it.
    index = pandas_index(X)
    X = check_blackbox(blackbox).check_X(X)
    n = X.shape[0]
    if isinstance(ranking, str):  # "random"
        # A child stream: drawing the orders from rng would move the bootstrap's draws.
        (orders_rng,) = rng.spawn(1)
        ranking, segments = _random_orders(orders_rng, segments, X.shape, blackbox.input_shape)
    if max_k is None:
        units = _n_units(segments, X.shape, blackbox.input_shape)
        max_k = min(DEFAULT_MAX_K, units, _n_listed(ranking))
    max_k = check_positive_int(max_k, name="max_k")
    if segments is None and max_k > X.shape[1]:
        # Checked before any query: the loop below would fail only at k = d + 1.
        raise ValueError(
            f"max_k={max_k} exceeds the {X.shape[1]} features; pass max_k={X.shape[1]} "
            "or fewer, or leave it out to remove them all"
        )
    if isinstance(ranking, Attribution):
        check_rows(ranking, X)
    explained = explained_classes(blackbox, ranking, target, n)
    # The ranking (and segments) are checked before any query: a ragged list, an index
    # out of range or a ranking of m < max_k features was refused only after a full
    # query over X, and the last only at k = m + 1, after m steps, naming a k never
    # passed. Without a target the classes are the predictions: a per-class importance
    # that lacks one of them is refused at k = 1, before its removal queries.
    shape = blackbox.input_shape
    _keep_masks(ranking, explained, segments, max_k, X.shape, "mean", "max_k", shape)
    fill = blackbox._by_columns(fill, name="fill")  # fill=X_train.mean(), say
    if not isinstance(fill, str):  # refused only after the query of X
        fill = _fill_array(fill, X.shape[1])
    base = blackbox._proba_rows(X, index=index)
    classes = base.argmax(axis=1) if explained is None else explained
    fills = _make_fill(fill, X, classes, lambda: base.argmax(axis=1), blackbox.n_classes)
    drop = np.zeros((n, max_k + 1))
    unit = "feature" if segments is None else "segment"
    for k in range(1, max_k + 1):
        removed = _keep_masks(ranking, classes, segments, k, X.shape, "mean", input_shape=shape)
        removed_k = f"with its {k} first-ranked {unit}{'s' * (k != 1)} removed"
        for rows in _blocks(n):
            deleted = blackbox.check_X(np.where(removed(rows), fills.rows(rows), X[rows]))
            named = _case_names(rows, functools.partial(_row_of_x, index=index), removed_k)
            proba = blackbox._proba_rows(deleted, named)
            drop[rows, k] = base[rows, classes[rows]] - proba[np.arange(rows.size), classes[rows]]
    meta = {
        "test": "deletion_curve",
        "unit": unit,
        "max_k": max_k,
        "fill": fill if isinstance(fill, str) else "array",
    }
    if random:
        meta |= {"ranking": "random", "seed": _json_seed(random_state)}
    aopc = estimate(drop.mean(axis=1), n_boot=n_boot, random_state=rng)
    return DeletionCurve(np.arange(max_k + 1), drop, aopc, meta)


def _random_orders(
    rng: np.random.Generator,
    segments: np.ndarray | None,
    shape: tuple[int, int],
    input_shape: tuple[int, ...] | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each row's own random order of its features, shape ``(n, d)``; with ``segments``
    of its own segments: the segments relabelled ``0 .. m_i - 1`` per row, shape
    ``(n, d)``, and orders of shape ``(n, max m_i)`` that name those labels.

    A shared order of the largest row's ids would put ids that a row lacks among its
    own; ranked last here, a row with fewer segments than k loses all of its own (as
    :func:`_keep_masks` removes them for any ranking).
    """
    n, d = shape
    if segments is None:
        return descending_order(rng.random((n, d))), None
    partition = Partition.from_labels(segments, n, d, input_shape)
    scores = rng.random((n, partition.width))
    scores[~partition.valid()] = -1.0  # below every draw in [0, 1)
    return descending_order(scores), partition.labels


def _n_listed(ranking: RankingLike) -> int:
    """How many features (segments) a ranking array lists; as many as there are for a
    ranking that scores them all (an Attribution, a FeatureImportance)."""
    if isinstance(ranking, np.ndarray | list | tuple):
        shape = ranking_array(ranking).shape
        if shape and shape[-1] > 0:  # an empty one is refused by name later
            return int(shape[-1])
    return DEFAULT_MAX_K


def _n_units(
    segments: np.ndarray | None, shape: tuple[int, int], input_shape: tuple[int, ...] | None
) -> int:
    """What :func:`deletion_curve` can remove: the features, or the most segments
    in any row (a row with fewer loses all of its own at the last steps)."""
    if segments is None:
        return shape[1]
    return Partition.from_labels(segments, *shape, input_shape).width


def _explained_values(explained: Any, n: int, d: int) -> np.ndarray:
    """The ``values`` of what an explainer returned for ``n`` rows of ``d`` features,
    refused unless finite and of that shape: a width other than ``d``, or NaN, measured
    a drop of 0 without a word, and too few rows failed deep in numpy's indexing."""
    values = getattr(explained, "values", None)
    if not isinstance(values, np.ndarray):
        raise TypeError(
            "explainer.explain must return an explanation with a values array, got "
            f"{type(explained).__name__}"
        )
    if values.shape != (n, d):
        raise ValueError(
            f"explainer.explain returned values of shape {values.shape} for {n} rows of "
            f"{d} features; expected ({n}, {d})"
        )
    if not np.isfinite(values).all():
        raise ValueError("explainer.explain returned values that are NaN or infinite")
    return values


@dataclasses.dataclass(frozen=True, eq=False)
class SensitivityResult(SavedWithEstimates):
    """How much an explanation's top-k set moves under class-preserving noise.

    Its :meth:`save` and :meth:`load` write and read one ``.npz`` file, as an
    :class:`~unboxed.Explanation`'s do.

    Attributes
    ----------
    k : int
    radius : float or ndarray of shape (n_features,)
        The noise bound: one for every feature, or one per feature.
    mean_drop : Estimate
        Over rows, the mean over noise draws of ``1 - |top_k(x) & top_k(x')| / k``.
    worst_drop : Estimate
        Over rows, the largest such drop among the draws.
    max_drop : float
        The largest drop seen on any row.
    kept : ndarray of shape (n_samples,)
        Noise draws per row that left the class unchanged (only those count).
    meta : dict
    """

    k: int
    radius: float | np.ndarray
    mean_drop: Estimate
    worst_drop: Estimate
    max_drop: float
    kept: np.ndarray
    meta: dict[str, Any]

    __repr__ = short_repr  # shapes, not every row's figure

    @classmethod
    def _decode(cls, fields: dict[str, Any]) -> dict[str, Any]:
        fields = super()._decode(fields)
        kept = loaded_array(fields, "kept", kind="iu", ndim=1)
        if kept.size == 0 or kept.min() < 0:
            raise ValueError(f"kept must be counts of draws, one per row, got {kept.tolist()}")
        # Each row drew meta's n_samples copies: more kept than drawn loaded as it was.
        meta = fields.get("meta", {})
        n_samples = meta.get("n_samples")
        if "n_samples" in meta and (not is_int(n_samples) or n_samples < 1):
            raise ValueError(f"meta's n_samples must be a count >= 1, got {n_samples!r}")
        if n_samples is not None and kept.max() > n_samples:
            raise ValueError(
                f"kept must be at most meta's n_samples={n_samples} draws per row, got "
                f"{kept.max()} in row {int(kept.argmax())}"
            )
        # The estimates are over the rows that kept a draw; every drop is a share of k.
        k = fields.get("k")
        if is_int(k) and k < 1:
            raise ValueError(f"k must be an int >= 1, got {k}")
        rows = int(np.count_nonzero(kept))
        check_share_estimates(
            fields, ("mean_drop", "worst_drop"), n=rows, rows=f"{rows} rows kept a draw"
        )
        max_drop = fields.get("max_drop")
        if isinstance(max_drop, float) and not 0 <= max_drop <= 1:
            raise ValueError(f"max_drop must be a share in [0, 1], got {max_drop}")
        radius = fields.get("radius")
        if isinstance(radius, np.ndarray):
            radius = loaded_array(fields, "radius", kind="f", ndim=1, finite=True)
            if radius.min() < 0 or radius.max() <= 0:
                raise ValueError(
                    "radius must be >= 0 in every feature and > 0 in one, got "
                    f"min {radius.min()}, max {radius.max()}"
                )
        elif _finite_float(radius, name="radius") <= 0:  # JSON: the one radius
            raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
        return fields


def explanation_sensitivity(
    explainer: Any,
    X: object,
    *,
    radius: float | np.ndarray,
    n_samples: int = 10,
    k: int | None = None,
    n_boot: int = 1000,
    random_state: RandomState = None,
) -> SensitivityResult:
    """Perturb each input within an l-infinity ball and compare the explanations.

    Noise is uniform in ``[-radius, radius]`` per feature (``[-radius[j], radius[j]]``
    with one radius per feature). Draws that change the black
    box's class are discarded, so only noise that leaves the decision unchanged
    counts; every noisy copy is explained for the original class, in one batched call.
    A stochastic explainer's own sampling noise is part of what is measured, whatever
    its ``random_state``: a noisy copy differs from its row, and a local explainer
    seeds each row's draws with its content as well as the seed
    (:func:`~unboxed.local._engine.row_seed`), so the copy draws its own.

    Parameters
    ----------
    explainer : object with ``blackbox`` and ``explain(X, *, target=...)``
        Any explainer of :mod:`unboxed.local`, or any object with a ``blackbox`` and
        an ``explain`` that returns an explanation whose ``values`` hold a row per row
        of the ``X`` given, and reads ``target`` as the black box's class labels: a
        fitted model's other route to local explanations through a small adapter
        (Examples).
    X : array-like of shape (n_samples, n_features)
    radius : float or array-like of shape (n_features,)
        The noise bound, in the features' own units: one number for every feature
        (pixels of one range), or one per feature for features of different units
        (``0.1 * X_train.std(0)``; 0 leaves a feature unperturbed).
    n_samples : int
        Noise draws per row.
    k : int, optional
        The size of the top set compared, at most the number of features; at the
        number of features the top set is every feature, never moves, and measures a
        drop of 0. By default 10, or half the features (rounded down, at least 1)
        where there are fewer than 20: 2 of iris's 4, 6 of wine's 13.
    n_boot : int
    random_state : int, Generator or None
        Seeds the noise and the bootstrap.

    Returns
    -------
    SensitivityResult

    Raises
    ------
    ValueError
        If no draw of any row kept its class, or if noise of ``radius`` would overflow
        ``X``'s dtype.

    Examples
    --------
    DMM-MEN's local explanations (:meth:`~unboxed.surrogates.DMMMEN.explain_local`)
    take the black box and their settings as arguments: bound to them, its
    ``explain_local`` is the ``explain`` measured (few sweeps here, to run fast).

    >>> import functools, types
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from unboxed import BlackBox
    >>> from unboxed.evaluate import explanation_sensitivity
    >>> from unboxed.surrogates import DMMMEN
    >>> X, y = load_iris(return_X_y=True)
    >>> blackbox = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    >>> dmm = DMMMEN(n_iter=8, n_chains=1, random_state=0, verbose=False)
    >>> explainer = types.SimpleNamespace(
    ...     blackbox=blackbox,
    ...     explain=functools.partial(dmm.explain_local, blackbox=blackbox, n_samples=20),
    ... )
    >>> result = explanation_sensitivity(
    ...     explainer, X[::50], radius=0.1, n_samples=4, random_state=0
    ... )
    >>> result.k, result.kept.tolist()
    (2, [4, 4, 4])
    """
    rng = check_random_state(random_state)
    if np.ndim(radius) == 0:  # type: ignore[arg-type]
        radius = check_number(radius, name="radius")
    n_samples = check_positive_int(n_samples, name="n_samples")
    # Checked before any query: n_boot=0 was refused by the bootstrap, after every
    # explanation.
    n_boot = check_positive_int(n_boot, name="n_boot")
    if k is not None:
        k = check_positive_int(k, name="k")
    if not callable(getattr(explainer, "explain", None)):
        raise TypeError(
            f"explainer must be an explainer (with .blackbox and .explain), got "
            f"{type(explainer).__name__}"
        )
    blackbox = check_blackbox(getattr(explainer, "blackbox", None), name="explainer.blackbox")
    # A DataFrame's row labels name the row the model raises on, in each query of X's
    # rows or their noisy copies, as predict_proba names it: row 1 of a split is not
    # X.loc[1]. The explainer is given the DataFrame itself, and names it so too.
    index, given = pandas_index(X), X
    X = blackbox.check_X(X)
    n, d = X.shape
    if not isinstance(radius, float):
        radius = np.asarray(
            check_per_feature(
                blackbox._by_columns(radius, name="radius"),  # 0.05 * X_train.std(), say
                name="radius",
                n_features=d,
                input_shape=blackbox.input_shape,
            )
        )
        if not np.any(radius > 0):  # no noise at all would measure nothing
            raise ValueError("radius must be positive in at least one feature, got all zeros")
        radius.setflags(write=False)  # the result holds it
    # Beyond this, numpy's uniform(-radius, radius) overflows its span, or the noise X's dtype.
    limit = min(float(np.finfo(np.float64).max) / 2, float(np.finfo(X.dtype).max))
    if np.max(radius) > limit:
        raise ValueError(
            f"radius must be at most {limit:.3g} for {X.dtype} inputs, got {np.max(radius)}"
        )
    if k is None:
        # 10 refused every table of fewer features (iris: 4); all of them would
        # measure nothing, so half of them.
        k = DEFAULT_SENSITIVITY_K if d >= 2 * DEFAULT_SENSITIVITY_K else max(d // 2, 1)
    if k > d:
        raise ValueError(f"k={k} exceeds the {d} features; pass k={max(d // 2, 1)}, say")
    classes = blackbox._predict_rows(X, index)
    noisy = X[:, None, :] + rng.uniform(-radius, radius, size=(n, n_samples, d)).astype(X.dtype)
    noisy = noisy.reshape(n * n_samples, d)
    # Named as noisy copies of X's rows: a model that raised on one was reported "on row
    # 42 of the 60 rows queried", of an X of 3 rows.
    named = perturbation_name(0, n_samples, functools.partial(_row_of_x, index=index))
    noisy_proba = blackbox._proba_rows(blackbox.check_X(noisy), named)
    same = (noisy_proba.argmax(axis=1) == np.repeat(classes, n_samples)).reshape(n, n_samples)
    if not same.any():
        within = f"radius {radius}" if isinstance(radius, float) else "the per-feature radii"
        raise ValueError(f"every noise draw within {within} changed the class")
    labels = blackbox.class_labels(classes)  # explain reads the model's own labels
    explained = explainer.explain(X if index is None else given, target=labels)
    original = top_k_mask(_explained_values(explained, n, d), k)
    rows, draws = np.nonzero(same)
    copies = rows * n_samples + draws
    moved_X = noisy[copies]
    # The explainer names a copy as the query above does: it numbered them among those
    # kept, "perturbation 0 of 5 of row 20 of X" of an X of 6 rows.
    with naming_rows(moved_X, lambda i: named(int(copies[i]))):
        moved = _explained_values(explainer.explain(moved_X, target=labels[rows]), rows.size, d)
    overlap = (top_k_mask(moved, k) & original[rows]).sum(axis=1) / k
    drops = np.full((n, n_samples), np.nan)
    drops[rows, draws] = 1.0 - overlap
    kept = same.sum(axis=1)
    has = kept > 0
    mean_drop = np.nanmean(drops[has], axis=1)
    worst = np.nanmax(drops[has], axis=1)
    meta = {"test": "explanation_sensitivity", "norm": "linf", "n_samples": n_samples}
    return SensitivityResult(
        k=k,
        radius=radius,
        mean_drop=estimate(mean_drop, n_boot=n_boot, random_state=rng),
        worst_drop=estimate(worst, n_boot=n_boot, random_state=rng),
        max_drop=float(worst.max()),
        kept=kept,
        meta=meta,
    )
