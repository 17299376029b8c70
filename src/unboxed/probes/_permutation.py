"""Permutation feature importance, as on the survey's slides.

Source: ``004_7c9aaa9fd587bc3d.txt``, "Post-hoc Interpretability / Globally
Interpretable Model / Permutation feature importance":

1. take the baseline score of the pre-trained model on the test set;
2. shuffle the values of one feature on the test set and score again;
3. repeat for every feature;
4. rank the features by the drop of the score from the baseline.

Here a "feature" may also be a group of features shuffled together (a superpixel, a
patch, a named set of tabular columns): shuffling correlated pixels one at a time
leaves the others to carry the signal, so a group is the honest unit for images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import numpy as np

from .._estimator import Params
from .._progress import progress
from .._validation import (
    RandomState,
    allocate,
    check_aligned,
    check_array,
    check_feature_indices,
    check_instance,
    check_positive_int,
    check_random_state,
    column_index,
    pandas_index,
)
from ..blackbox import BlackBox, _row_of_x, check_blackbox
from ..explanation import FeatureImportance, make_meta

Metric = Literal["accuracy", "probability"]
#: At most this many permuted values are sent to the black box in one array.
_BATCH_ELEMENTS = 2**23
#: At most this many bootstrap row weights are drawn, or turned into floats, at once.
_BOOT_ELEMENTS = 2**20
#: At most this many bootstrap row counts are kept (a byte each) between repeats;
#: beyond it they are drawn again for each repeat (:class:`_RowCounts`).
_KEPT_COUNTS = 2**24
#: A row's score that moves by at most this many eps of the black box's precision
#: (``BlackBox._eps``) moved by float rounding alone: the same row scored in a batch
#: of another size (BLAS sums in another order) gave a scikit-learn MLP probabilities
#: one ulp apart (1.1e-16 on diabetes), so a feature the model never reads read
#: 2.5e-19, not 0; a float32 torch MLP on digits, 5e-8 apart, read 5e-9. Scores lie
#: in [0, 1].
_ROUNDING_EPS = 64


def _check_groups(
    groups: object, d: int, feature_names: tuple[str, ...] | None = None
) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """Turn ``groups`` into a list of feature-index arrays and their names; a dict's
    groups may name their columns by ``feature_names``."""
    if groups is None:
        return [np.array([j]) for j in range(d)], ()
    if isinstance(groups, Mapping):
        members, names = [], []
        for name, indices in groups.items():
            idx = check_feature_indices(
                _column_indices(indices, feature_names, group=name),
                n_features=d,
                name=f"group {name!r}",
                allow_empty=False,
            )
            if str(name) in names:  # {1: ..., "1": ...}: two columns named "1"
                raise ValueError(f"two groups are both named {str(name)!r}")
            members.append(np.unique(idx))
            names.append(str(name))
        if not members:
            raise ValueError("groups is empty; pass at least one group")
        return members, tuple(names)
    labels = np.asarray(groups)
    if labels.shape != (d,) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"groups must be None, a dict of name -> feature indices, or an int label per "
            f"feature of shape ({d},); got shape {labels.shape} and dtype {labels.dtype}"
        )
    if labels.min() < 0:
        # -1 reads as "in no group" (a mask's background, a clusterer's noise), but it
        # was shuffled as a group of its own; segment labels are refused so too.
        j = int(np.argmax(labels < 0))
        raise ValueError(
            f"groups holds a negative label ({labels[j]}, feature {j}); an int label per "
            "feature names its group, from 0, and every feature is in one: to shuffle "
            "only some features, pass a dict of name -> feature indices"
        )
    values = np.unique(labels)
    return [np.flatnonzero(labels == v) for v in values], tuple(f"group_{v}" for v in values)


def _column_indices(
    indices: object, feature_names: tuple[str, ...] | None, *, group: object
) -> object:
    """A group's column names (``["mean radius", "mean area"]``) as their indices in
    ``feature_names``; anything else as it is, for the index check to judge."""
    items = np.ravel(np.asarray(indices, dtype=object)).tolist()
    if not items or not all(isinstance(item, str) for item in items):
        return indices
    if feature_names is None:
        raise ValueError(
            f"group {group!r} names columns ({items[0]!r}), but the black box has no "
            "feature_names; give feature indices"
        )
    found = [column_index(item, feature_names, context=f"group {group!r}") for item in items]
    return np.array(found, dtype=np.intp)


def _row_count_chunks(
    rng: np.random.Generator, n: int, n_boot: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """Bootstrap counts of the rows, ``n_boot`` multinomial draws of ``n`` out of ``n``,
    in chunks of bootstraps: each chunk's rows of the ``(n_boot, n)`` counts and the
    counts themselves (int64), about ``_BOOT_ELEMENTS`` a chunk.

    ``Generator.multinomial`` draws its rows one after the other, so the chunks give
    the draws of one call, and the generator ends where that call left it.
    """
    chunk = max(1, _BOOT_ELEMENTS // n)
    uniform = np.full(n, 1 / n)
    for first in range(0, n_boot, chunk):
        size = min(chunk, n_boot - first)
        yield slice(first, first + size), rng.multinomial(n, uniform, size=size)


class _RowCounts:
    """The bootstrap's row counts (:func:`_row_count_chunks`), chunk by chunk, as often
    as the repeats need them: kept where ``n_boot * n`` is at most ``_KEPT_COUNTS``,
    else drawn again each time from the state the generator had before them.

    Kept, they weigh a byte each (the smallest unsigned type that holds them): 10 MB
    at 10,000 rows and 1000 draws, 1 GB at a million rows. Drawing them again costs a
    pass of ``multinomial`` per repeat (1.0 s at 10,000 rows and 1000 draws, so 10 s
    more for the default 10 repeats, where a logistic regression on digits' 64 pixels
    took 10 to 28 s in all on a shared machine), so only counts that would not fit
    are. Either way the counts, and so the figures, are the same to the bit, and
    ``rng`` ends past the counts, where one call leaves it.
    """

    def __init__(self, rng: np.random.Generator, n: int, n_boot: int) -> None:
        self.n, self.n_boot = n, n_boot
        self._state = rng.bit_generator.state
        self._kind = type(rng.bit_generator)
        chunks = _row_count_chunks(rng, n, n_boot)  # drawn now: rng moves past them
        if n * n_boot <= _KEPT_COUNTS:
            self._kept: list[tuple[slice, np.ndarray]] | None = [
                (part, drawn.astype(np.min_scalar_type(drawn.max(initial=0))))
                for part, drawn in chunks
            ]
        else:
            self._kept = None
            for _ in chunks:
                pass

    def __iter__(self) -> Iterator[tuple[slice, np.ndarray]]:
        if self._kept is not None:
            return iter(self._kept)
        again = np.random.Generator(self._kind())
        again.bit_generator.state = self._state
        return _row_count_chunks(again, self.n, self.n_boot)


def _scores(proba: np.ndarray, y: np.ndarray, metric: Metric) -> np.ndarray:
    """Per-row score: 1 if the prediction is ``y`` ("accuracy"), else the probability of ``y``.

    proba : (n, C), y : (n,) -> (n,)
    """
    if metric == "accuracy":
        return (proba.argmax(axis=1) == y).astype(np.float64)
    return proba[np.arange(y.size), y]


@dataclasses.dataclass(frozen=True)
class _Run:
    """What one pass of shuffles gives :meth:`PermutationImportance.explain`."""

    drops: np.ndarray  # (n, n_groups): each row's drop, averaged over the repeats
    repeat_means: np.ndarray  # (n_repeats, n_groups): each repeat's drop, averaged over the rows
    boot: np.ndarray  # (n_boot, n_groups): two-way bootstrap means
    changed: np.ndarray  # (n_groups,) bool: some shuffle changed some row's score
    moved: np.ndarray  # (n_groups,) bool: the group's values differ between rows
    baseline: np.ndarray  # (n,): each row's unshuffled score
    members: list[np.ndarray]
    names: tuple[str, ...]


class PermutationImportance(Params):
    """How much the black box's score drops when a feature (or group) is shuffled.

    Parameters
    ----------
    blackbox : BlackBox
        The model.
    n_repeats : int
        Independent shuffles per feature or group.
    metric : {"accuracy", "probability"}
        The score of a row: whether the black box predicts ``y`` ("accuracy", the
        slides' choice), or its probability of ``y`` ("probability", smoother).
    groups : None, dict or ndarray of int of shape (n_features,)
        None shuffles each feature alone. A dict maps a group name to its feature
        indices, or to its columns' names in the black box's ``feature_names``
        (``{"size": ["mean radius", "mean area"]}``). An int label per feature
        (superpixels, patches from :func:`unboxed.local.grid_labels`) shuffles each
        label's features together; labels are non-negative, so that every feature
        is in a group (a dict leaves features out).
    n_boot : int
        Bootstrap draws for the confidence intervals (see :meth:`explain`). Their
        ``n_boot * n_samples`` row weights are drawn, and weigh the drops, in chunks
        of about a million; they are kept as counts of one byte each up to 16 MB (10
        MB at 10,000 rows and 1000 draws), and beyond it drawn again from the seed
        for each repeat (the same figures, a ``multinomial`` pass per repeat).
    random_state : int, numpy.random.Generator or None
        Seeds the shuffles and the bootstrap.
    verbose : bool
        Show a progress bar.
    """

    method = "permutation_importance"

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        n_repeats: int = 10,
        metric: Metric = "accuracy",
        groups: object = None,
        n_boot: int = 1000,
        random_state: RandomState = None,
        verbose: bool = False,
    ) -> None:
        check_blackbox(blackbox)
        if metric not in ("accuracy", "probability"):
            raise ValueError(f"metric must be 'accuracy' or 'probability', got {metric!r}")
        check_positive_int(n_repeats, name="n_repeats")
        check_positive_int(n_boot, name="n_boot")
        self.blackbox = blackbox
        self.n_repeats = n_repeats
        self.metric = metric
        self.groups = groups
        self.n_boot = n_boot
        self.random_state = random_state
        self.verbose = verbose
        # As the fit or explain call checks it, so that a bad seed fails here and in
        # set_params, not once the data is read.
        check_random_state(random_state)

    def explain(self, X: object, y: object = None) -> FeatureImportance:
        """Score every feature (or group) on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Held-out data (the slides use the test set).
        y : array-like of shape (n_samples,), optional
            The labels to score against. None uses the black box's own predictions
            on ``X``, which measures what the model relies on rather than what
            makes it right.

        Returns
        -------
        FeatureImportance
            One row: the mean drop of the score per feature (or group) over the rows
            and the repeats, with a 95% CI and ``repeats`` of shape
            ``(n_repeats, 1, n_groups)``, each repeat's mean drop over the rows (as
            scikit-learn's ``importances``). With groups, the columns are the groups
            and ``feature_names`` their names; ``meta["groups"]`` lists each group's
            feature indices.

        Notes
        -----
        The CI is a two-way percentile bootstrap that resamples the rows of ``X``
        and the repeats together: draw ``b`` weighs the drop of row ``i`` in repeat
        ``r`` by ``w_bi * v_br``, multinomial counts over the rows and over the
        repeats, so it holds both the spread over the rows and the randomness of
        the shuffles. A bootstrap over the rows alone (before) read the few
        changes a rarely used feature makes as a near-certain value, and read
        ``[0, 0]`` whenever no repeat changed a score. When no shuffle changed a
        score but the feature does vary over the rows, the interval is
        ``[-u, u]`` with ``u = 1 - 0.025 ** (1 / (n_repeats * n_samples))``: the
        97.5% upper bound on the chance that a shuffled row's score changes,
        having seen none in ``n_repeats * n_samples`` (scores lie in [0, 1]). A
        feature that takes one value on every row cannot move a score: ``[0, 0]``.
        A score that moved by float rounding alone (at most 64 eps of the black
        box's precision: 1.4e-14, or 7.6e-6 for a float32 torch model and for a
        callable or estimator that has returned float32 probabilities; a row
        scored in a batch of another size can come back an ulp apart) did not
        change: a feature the model never reads, whose shuffles moved no score by
        more, has an importance of exactly 0, its repeats and row drops 0 too.
        On digits with a logistic regression the intervals covered the mean over
        400 repeats in 98.5% (importances below 0.001) and 99.8-100% (above) of
        the runs with 5 repeats, where the rows-only bootstrap covered 76% of
        the small ones.
        """
        rng = check_random_state(self.random_state)
        X, index = self._check_inputs(X, y)
        run = self._drops(X, y, rng, n_boot=self.n_boot, index=index)
        n = X.shape[0]
        mean = run.drops.mean(axis=0)
        ci = np.moveaxis(np.percentile(run.boot, [2.5, 97.5], axis=0), 0, -1)
        # The bootstrap reweights the same drops, so its percentiles can sit a rounding
        # error off an interval that should hold the mean exactly (all drops equal).
        ci = np.stack([np.minimum(ci[..., 0], mean), np.maximum(ci[..., 1], mean)], axis=-1)
        # No shuffle changed a score, though the shuffles moved the feature: the
        # bootstrap has nothing to resample, yet a rare change may have been missed.
        # With no change in n_repeats * n shuffled rows, the chance that a shuffled
        # row's score changes is below 1 - 0.025 ** (1 / (n_repeats * n)) (97.5%,
        # the rule of three's exact form), and a score lies in [0, 1], so the mean
        # drop lies within that bound of 0 either way.
        unseen = run.moved & ~run.changed
        bound = -np.expm1(np.log(0.025) / (self.n_repeats * X.shape[0]))
        ci[unseen] = [-bound, bound]
        baseline, members, names = run.baseline, run.members, run.names
        shape = self.blackbox.input_shape or ()
        if len(shape) == 3 and shape[0] == 1:
            shape = shape[1:]
        grouped = self.groups is not None
        meta = make_meta(self.method, self._parameters(), seed=self.random_state)
        meta["baseline_score"] = float(baseline.mean())
        meta["n_samples"] = int(n)
        if grouped:
            meta["groups"] = {name: m.tolist() for name, m in zip(names, members, strict=True)}
        return FeatureImportance(
            mean[None],
            meta,
            ci=ci[None],
            repeats=run.repeat_means[:, None],
            class_names=("all classes",),
            image_shape=None if grouped or len(shape) not in (2, 3) else shape,
            feature_names=names if grouped else self.blackbox.feature_names,
        )

    def row_drops(self, X: object, y: object = None) -> np.ndarray:
        """Each row's drop of the score per feature (or group), averaged over the repeats.

        The raw material of :meth:`explain`, for statistics of one's own (the share
        of a region, a per-class breakdown).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Held-out data, at least 2 rows.
        y : array-like of shape (n_samples,), optional
            The labels to score against; None uses the black box's own predictions.

        Returns
        -------
        ndarray of shape (n_samples, n_groups)
        """
        X, index = self._check_inputs(X, y)
        return self._drops(X, y, check_random_state(self.random_state), index=index).drops

    def _check_inputs(self, X: object, y: object) -> tuple[np.ndarray, Any]:
        """``X`` checked, of at least 2 rows, with ``y`` aligned to it, and its row
        labels where it is pandas' (:meth:`_drops` names a row by them)."""
        check_aligned(y, X)
        index = pandas_index(X)
        X = self.blackbox.check_X(X)
        if X.shape[0] < 2:
            raise ValueError(
                "permutation importance needs at least 2 rows of X: permuting one row "
                "changes nothing, so every importance would read 0"
            )
        return X, index

    def _shuffled_name(
        self, block: list[tuple[int, int]], n: int, names: tuple[str, ...], index: Any
    ) -> Callable[[int], str]:
        """``row_name`` of :meth:`BlackBox._proba_rows` for the copies of ``X`` (``n``
        rows each) of the ``(repeat, group)`` jobs of ``block``: a model that raised on
        one was reported "on row 41 of the 160 rows queried", of an ``X`` of 20 rows.
        ``index``, a pandas ``X``'s, labels the row as ``predict_proba`` does."""
        features = self.blackbox.feature_names

        def name(i: int) -> str:
            (repeat, g), row = block[i // n], i % n
            shuffled = (
                f"group {names[g]!r}"
                if names
                else f"feature {features[g]!r}"
                if features
                else f"feature {g}"
            )
            return f"{_row_of_x(row, index)} with {shuffled} shuffled (repeat {repeat})"

        return name

    def _drops(
        self,
        X: np.ndarray,
        y: object,
        rng: np.random.Generator,
        *,
        n_boot: int = 0,
        index: Any,
    ) -> _Run:
        """The shuffles' drops; ``index`` (a pandas ``X``'s) labels the row of ``X`` the
        black box raises on, in the baseline and in the shuffled copies."""
        n, d = X.shape
        members, names = _check_groups(self.groups, d, self.blackbox.feature_names)
        n_groups, n_repeats = len(members), self.n_repeats
        # Two streams, so that explain and row_drops shuffle alike whatever the
        # bootstrap draws.
        shuffle_rng, boot_rng = rng.spawn(2)
        # Held before the black box is queried, so that n_repeats or n_boot of 10**30
        # is refused at once (numpy's "Maximum allowed dimension exceeded", or a
        # bootstrap that drew row counts without end), not after the baseline.
        drops = np.zeros((n, n_groups))
        repeat_means = allocate((n_repeats, n_groups), setting=f"n_repeats={n_repeats}")
        boot = allocate((n_boot, n_groups), setting=f"n_boot={n_boot}")
        # the repeats' bootstrap weights, drawn below
        allocate((n_boot, n_repeats), setting=f"n_boot={n_boot} with n_repeats={n_repeats}")
        # The two-way bootstrap draws rows and repeats at once: a draw's mean is
        # sum_r v_r sum_i w_i drop[r, i] with multinomial weights w over the rows and v
        # over the repeats, folded in as each repeat completes so that the
        # (n_repeats, n, n_groups) drops are never held together.
        # The row counts are drawn first, then the repeats' weights, from one stream;
        # counts too many to keep are drawn again for each repeat.
        row_counts = _RowCounts(boot_rng, n, n_boot)
        repeat_weights = boot_rng.multinomial(
            n_repeats, np.full(n_repeats, 1 / n_repeats), size=n_boot
        )
        proba = self.blackbox._proba_rows(X, index=index)
        y = proba.argmax(axis=1) if y is None else self.blackbox.class_indices(y, n=n)
        baseline = _scores(proba, y, self.metric)
        changed = np.zeros(n_groups, dtype=bool)
        rounding = np.ones(n_groups, dtype=bool)  # no score moved beyond bound yet
        bound = _ROUNDING_EPS * self.blackbox._eps
        current = np.zeros((n, n_groups))  # the repeat in progress: each row's drops
        # Batched over permutations: as many permuted copies of X as fit in one block
        # go to the black box in a single call.
        per_block = max(1, _BATCH_ELEMENTS // max(1, n * d))
        n_jobs = n_repeats * n_groups  # job k shuffles group k % n_groups in repeat k // n_groups
        with progress(total=n_jobs, verbose=self.verbose, desc="permutation importance") as bar:
            for start in range(0, n_jobs, per_block):
                block = [divmod(k, n_groups) for k in range(start, min(start + per_block, n_jobs))]
                copies = np.repeat(X[None], len(block), axis=0)
                for k, (_, g) in enumerate(block):
                    # One permutation of the rows per group keeps the group's features
                    # together, as they occur in real samples.
                    order = shuffle_rng.permutation(n)
                    cols = members[g]
                    copies[k][:, cols] = X[np.ix_(order, cols)]
                shuffled = self._shuffled_name(block, n, names, index)
                permuted = self.blackbox._proba_rows(copies.reshape(-1, d), shuffled).reshape(
                    len(block), n, -1
                )
                for k, (r, g) in enumerate(block):
                    current[:, g] = baseline - _scores(permuted[k], y, self.metric)
                    if g < n_groups - 1:
                        continue
                    # The jobs run repeat by repeat: its last group completes repeat r.
                    drops += current
                    repeat_means[r] = current.mean(axis=0)
                    changed |= np.any(current != 0, axis=0)
                    rounding &= np.all(np.abs(current) <= bound, axis=0)
                    for part, counts in row_counts:
                        row_weights = counts.astype(np.float64) / n
                        boot[part] += (
                            repeat_weights[part, r, None] / n_repeats * (row_weights @ current)
                        )
                bar.update(len(block))
        # A group no shuffle moved a score of beyond rounding, in any repeat, changed
        # none: its drops are 0, not the mean of the rounding; other groups keep
        # theirs to the bit.
        drops[:, rounding], repeat_means[:, rounding], boot[:, rounding] = 0.0, 0.0, 0.0
        changed &= ~rounding
        moved = np.array([np.any(X[:, m] != X[:1, m]) for m in members])
        return _Run(drops / n_repeats, repeat_means, boot, changed, moved, baseline, members, names)

    def _parameters(self) -> dict[str, Any]:
        groups: Any = self.groups
        if groups is not None:
            groups = "dict" if isinstance(groups, Mapping) else "labels"
        return {
            "n_repeats": self.n_repeats,
            "metric": self.metric,
            "groups": groups,
            "n_boot": self.n_boot,
        }


def spread_groups(importance: FeatureImportance, n_features: int) -> np.ndarray:
    """Give every feature its group's importance, for image plots of grouped results.

    Parameters
    ----------
    importance : FeatureImportance
        A grouped result of :meth:`PermutationImportance.explain`.
    n_features : int

    Returns
    -------
    ndarray of shape (n_classes, n_features)
        Features in no group get 0.
    """
    check_instance(importance, FeatureImportance, name="importance", what="a FeatureImportance")
    groups = importance.meta.get("groups")
    if not isinstance(groups, Mapping):
        raise ValueError("this importance was not computed over groups")
    n_features = check_positive_int(n_features, name="n_features")
    out = allocate((importance.n_classes, n_features), setting=f"n_features={n_features}")
    # meta is stored as sorted JSON, so the columns are matched by name, not by order.
    for column, name in enumerate(importance.feature_names or ()):
        idx = np.asarray(groups[name], dtype=np.int64)
        if idx.size and idx.max() >= n_features:
            raise ValueError(f"a group holds feature {idx.max()}, beyond n_features={n_features}")
        out[:, idx] = importance.values[:, column : column + 1]
    return out


def mass_share(values: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The share of each row's absolute attribution that lies in ``region``.

    Parameters
    ----------
    values : ndarray of shape (n, d)
        Attributions (signed; their magnitudes are compared).
    region : ndarray of bool, shape (d,) or (n, d)

    Returns
    -------
    ndarray of shape (n,)
        In [0, 1]; 0 for a row whose attributions are all zero.
    """
    values = np.abs(check_array(values, name="values", ndim=2))
    mask = np.asarray(region)
    # An index array such as [3, 4, 5] cast to bool would mark every feature but 0.
    if mask.dtype != np.bool_ or mask.shape not in (values.shape[1:], values.shape):
        raise ValueError(
            f"region must be a bool mask of shape ({values.shape[1]},) or {values.shape}, "
            f"got {mask.dtype} {mask.shape}"
        )
    region = np.broadcast_to(mask, values.shape)
    # A share does not depend on the row's units: scaled by a power of two (exactly) to
    # at most 1, a row of 1e308 sums to a number, where its total overflowed (inf / inf).
    # initial=0: a row of no features has no largest value, and a share of 0.
    values = np.ldexp(values, -np.frexp(values.max(axis=1, initial=0.0))[1][:, None])
    total = values.sum(axis=1)
    inside = np.where(region, values, 0.0).sum(axis=1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
