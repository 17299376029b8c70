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

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from .._estimator import Params
from .._progress import progress
from .._validation import (
    RandomState,
    check_array,
    check_feature_indices,
    check_instance,
    check_positive_int,
    check_random_state,
)
from ..blackbox import BlackBox, check_blackbox
from ..evaluate import bootstrap_mean
from ..explanation import FeatureImportance, make_meta

Metric = Literal["accuracy", "probability"]
#: At most this many permuted values are sent to the black box in one array.
_BATCH_ELEMENTS = 2**23


def _check_groups(groups: object, d: int) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """Turn ``groups`` into a list of feature-index arrays and their names."""
    if groups is None:
        return [np.array([j]) for j in range(d)], ()
    if isinstance(groups, Mapping):
        members, names = [], []
        for name, indices in groups.items():
            idx = check_feature_indices(
                indices, n_features=d, name=f"group {name!r}", allow_empty=False
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
    values = np.unique(labels)
    return [np.flatnonzero(labels == v) for v in values], tuple(f"group_{v}" for v in values)


def _scores(proba: np.ndarray, y: np.ndarray, metric: Metric) -> np.ndarray:
    """Per-row score: 1 if the prediction is ``y`` ("accuracy"), else the probability of ``y``.

    proba : (n, C), y : (n,) -> (n,)
    """
    if metric == "accuracy":
        return (proba.argmax(axis=1) == y).astype(np.float64)
    return proba[np.arange(y.size), y]


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
        indices. An int label per feature (superpixels, patches from
        :func:`unboxed.local.grid_labels`) shuffles each label's features together.
    n_boot : int
        Bootstrap draws for the confidence intervals.
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
            One row: the mean drop of the score per feature (or group), with a 95%
            bootstrap CI over the rows of ``X`` of each row's drop averaged over the
            repeats. With groups, the columns are the groups and ``feature_names``
            their names; ``meta["groups"]`` lists each group's feature indices.
        """
        rng = check_random_state(self.random_state)
        X = self._check_X(X)
        drops, baseline, members, names = self._drops(X, y, rng)
        n = X.shape[0]
        mean, ci = bootstrap_mean(drops, n_boot=self.n_boot, random_state=rng)
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
        X = self._check_X(X)
        return self._drops(X, y, check_random_state(self.random_state))[0]

    def _check_X(self, X: object) -> np.ndarray:
        X = self.blackbox.check_X(X)
        if X.shape[0] < 2:
            raise ValueError(
                "permutation importance needs at least 2 rows of X: permuting one row "
                "changes nothing, so every importance would read 0"
            )
        return X

    def _drops(
        self, X: np.ndarray, y: object, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], tuple[str, ...]]:
        n, d = X.shape
        members, names = _check_groups(self.groups, d)
        proba = self.blackbox.predict_proba(X)
        y = proba.argmax(axis=1) if y is None else self.blackbox.class_indices(y, n=n)
        baseline = _scores(proba, y, self.metric)
        drops = np.zeros((n, len(members)))
        # Batched over permutations: as many permuted copies of X as fit in one block
        # go to the black box in a single call.
        per_block = max(1, _BATCH_ELEMENTS // max(1, n * d))
        jobs = [(r, g) for r in range(self.n_repeats) for g in range(len(members))]
        with progress(total=len(jobs), verbose=self.verbose, desc="permutation importance") as bar:
            for start in range(0, len(jobs), per_block):
                block = jobs[start : start + per_block]
                copies = np.repeat(X[None], len(block), axis=0)
                for k, (_, g) in enumerate(block):
                    # One permutation of the rows per group keeps the group's features
                    # together, as they occur in real samples.
                    order = rng.permutation(n)
                    cols = members[g]
                    copies[k][:, cols] = X[np.ix_(order, cols)]
                permuted = self.blackbox._proba_rows(copies.reshape(-1, d)).reshape(
                    len(block), n, -1
                )
                for k, (_, g) in enumerate(block):
                    drops[:, g] += baseline - _scores(permuted[k], y, self.metric)
                bar.update(len(block))
        return drops / self.n_repeats, baseline, members, names

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
    out = np.zeros((importance.n_classes, n_features))
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
    total = values.sum(axis=1)
    inside = np.where(region, values, 0.0).sum(axis=1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
