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
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .._progress import progress
from .._validation import (
    RandomState,
    check_array,
    check_ks,
    check_labels,
    check_positive_int,
    check_random_state,
)
from ..blackbox import BlackBox
from ..explanation import Attribution
from ._ranking import RankingLike, RowRanking, _order_scores, resolve_ranking, top_k_mask
from ._stats import Estimate, bootstrap_mean, estimate

#: Rows manipulated and sent to the model at once.
CHUNK_ROWS = 2048

Fill = Literal["zero", "mean", "positive_mean"] | np.ndarray


@dataclasses.dataclass(frozen=True)
class PCRResult:
    """Positive classification rates per k: ranked features against random ones.

    Attributes
    ----------
    ks : ndarray of shape (n_ks,)
    pcr, random_pcr : ndarray of shape (n_ks,)
        The PCR when the ranked (resp. random) top-k features are manipulated.
    pcr_ci, random_pcr_ci : ndarray of shape (n_ks, 2)
        95% bootstrap confidence intervals.
    n_cases : int
        The number of cases tested.
    meta : dict
        The test and its settings.
    """

    ks: np.ndarray
    pcr: np.ndarray
    pcr_ci: np.ndarray
    random_pcr: np.ndarray
    random_pcr_ci: np.ndarray
    n_cases: int
    meta: dict[str, Any]

    def separated(self) -> np.ndarray:
        """Per k, whether the two confidence intervals do not overlap."""
        return (self.pcr_ci[:, 1] < self.random_pcr_ci[:, 0]) | (
            self.random_pcr_ci[:, 1] < self.pcr_ci[:, 0]
        )

    def to_markdown(self, label: str = "ranked") -> str:
        """A markdown table: k, the ranked PCR and the random PCR with their CIs."""
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "ks": self.ks.tolist(),
            "pcr": self.pcr.tolist(),
            "pcr_ci": self.pcr_ci.tolist(),
            "random_pcr": self.random_pcr.tolist(),
            "random_pcr_ci": self.random_pcr_ci.tolist(),
            "n_cases": self.n_cases,
            "meta": self.meta,
        }


@dataclasses.dataclass(frozen=True)
class KeepTopKResult:
    """Accuracy and class probability when only the top-k features or segments are kept."""

    k: int
    accuracy: Estimate
    probability: Estimate
    meta: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "accuracy": self.accuracy.as_dict(),
            "probability": self.probability.as_dict(),
            "meta": self.meta,
        }


# ---------------------------------------------------------------------- shared pieces
def _explained_classes(
    ranking: RankingLike, preds: np.ndarray, target: int | None, n_classes: int
) -> np.ndarray:
    """The class each row is tested for.

    An attribution names its own classes; otherwise ``target``, or each row's
    predicted class when ``target`` is None.
    """
    if target is not None:
        if isinstance(target, bool) or not isinstance(target, int | np.integer):
            raise TypeError(f"target must be an int class index or None, got {target!r}")
        if not 0 <= int(target) < n_classes:
            raise ValueError(f"target must lie in [0, {n_classes}), got {target}")
    if isinstance(ranking, Attribution):
        if ranking.n_samples != preds.shape[0]:
            raise ValueError(
                f"the attribution has {ranking.n_samples} rows but X has {preds.shape[0]}"
            )
        if target is not None and np.any(ranking.target != target):
            raise ValueError(f"the attribution explains other classes than target={target}")
        return ranking.target
    if target is None:
        return preds
    return np.full(preds.shape[0], int(target))


def _fill_table(fill: Fill, X: np.ndarray, preds: np.ndarray | None, n_classes: int) -> np.ndarray:
    """Fill values: shape ``(1, n_features)``, or ``(n_classes, n_features)`` per class."""
    d = X.shape[1]
    if isinstance(fill, str):
        if fill == "zero":
            return np.zeros((1, d))
        if fill == "mean":
            return X.mean(axis=0, keepdims=True, dtype=np.float64)
        if fill == "positive_mean":
            assert preds is not None
            table = np.full((n_classes, d), np.nan)
            for c in np.unique(preds):
                table[c] = X[preds == c].mean(axis=0, dtype=np.float64)
            return table
        raise ValueError(f"fill must be 'zero', 'mean', 'positive_mean' or an array, got {fill!r}")
    values = check_array(fill, name="fill", ndim=None)
    if values.shape != (d,):
        raise ValueError(f"fill must have shape ({d},), got {values.shape}")
    return values[None, :]


def _fill_rows(table: np.ndarray, classes: np.ndarray) -> np.ndarray:
    if table.shape[0] == 1:
        return table
    rows = table[classes]
    if np.isnan(rows).any():
        missing = sorted(set(classes[np.isnan(rows).any(axis=1)].tolist()))
        raise ValueError(f"fill='positive_mean' needs cases predicted as class(es) {missing}")
    return rows


def _check_ks_ranked(ks: np.ndarray, ranking: RowRanking) -> None:
    if ks.max() > ranking.n_ranked:
        raise ValueError(f"k={ks.max()} exceeds the {ranking.n_ranked} ranked features")


def _mask_from_order(order: np.ndarray, k: int) -> np.ndarray:
    mask = np.zeros(order.shape, dtype=bool)
    np.put_along_axis(mask, order[:, :k], True, axis=1)
    return mask


Manipulate = Callable[[np.ndarray], np.ndarray]


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
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each case keeps its class after manipulating its ranked (resp. random) top k.

    ``prepare(rows)`` returns a function from a feature mask to manipulated inputs for
    those rows; it is called once per block of rows so that random draws are shared
    between the ranked and the random variant.

    Returns
    -------
    hits, random_hits : ndarray of bool, shape (n_cases, n_ks)
    """
    n, d = classes.shape[0], ranking.n_features
    hits = np.empty((n, ks.size), dtype=bool)
    random_hits = np.empty((n, ks.size), dtype=bool)
    n_blocks = -(-n // CHUNK_ROWS)
    bar = progress(total=n_blocks * ks.size, verbose=verbose, desc=desc, unit="k")
    for start in range(0, n, CHUNK_ROWS):
        rows = np.arange(start, min(start + CHUNK_ROWS, n))
        orders = (
            np.argsort(-ranking.scores(rows), axis=1, kind="stable"),
            np.argsort(rng.random((rows.size, d)), axis=1),
        )
        manipulate = prepare(rows)
        for j, k in enumerate(ks):
            for out, order in zip((hits, random_hits), orders, strict=True):
                out[rows, j] = (
                    blackbox.predict(manipulate(_mask_from_order(order, k))) == classes[rows]
                )
            bar.update(1)
    bar.close()
    return hits, random_hits


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
    pcr, pcr_ci = bootstrap_mean(hits, n_boot=n_boot, rng=rng, sample_frac=sample_frac)
    rnd, rnd_ci = bootstrap_mean(random_hits, n_boot=n_boot, rng=rng, sample_frac=sample_frac)
    meta = {**meta, "n_boot": n_boot, "sample_frac": sample_frac}
    return PCRResult(ks, pcr, pcr_ci, rnd, rnd_ci, int(hits.shape[0]), meta)


def _prepare_inputs(blackbox: BlackBox, X: object) -> tuple[np.ndarray, np.ndarray]:
    X = blackbox.check_X(X)
    return X, blackbox.predict(X)


# ---------------------------------------------------------------------- public tests
def deletion_test(
    blackbox: BlackBox,
    X: object,
    ranking: RankingLike,
    ks: int | list[int] | np.ndarray,
    *,
    fill: Fill = "zero",
    target: int | None = None,
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
        The value nullified features take: 0, the mean of ``X``, the mean of the
        features among the cases the model assigns to the tested class, or given values.
    target : int, optional
        The positive class. None tests each case for its own predicted class (or, for
        an attribution, for the class it explains).
    cases : {"positive", "negative"}
        Test the cases the model assigns to the tested class (PCR should fall), or the
        others (with ``fill="positive_mean"``, the PCR should rise). "negative" needs
        ``target``.
    n_boot : int
        Bootstrap repeats.
    sample_frac : float
        The share of cases in each bootstrap draw (the paper: 30%).
    random_state : int, Generator or None
        Seeds the random features and the bootstrap.
    verbose : bool
        Show a progress bar.

    Returns
    -------
    PCRResult
    """
    rng = check_random_state(random_state)
    X, preds = _prepare_inputs(blackbox, X)
    ks = check_ks(ks, n_features=X.shape[1])
    if cases not in ("positive", "negative"):
        raise ValueError(f"cases must be 'positive' or 'negative', got {cases!r}")
    if cases == "negative" and target is None:
        raise ValueError("cases='negative' needs a target class")
    classes = _explained_classes(ranking, preds, target, blackbox.n_classes)
    rows = np.flatnonzero((preds == classes) == (cases == "positive"))
    if rows.size == 0:
        raise ValueError(f"no {cases} case in X for the tested class(es); nothing to test")
    rank = resolve_ranking(ranking, classes=classes, n_features=X.shape[1]).subset(rows)
    _check_ks_ranked(ks, rank)
    fills = _fill_rows(_fill_table(fill, X, preds, blackbox.n_classes), classes[rows])
    X_cases = X[rows]

    def prepare(block: np.ndarray) -> Manipulate:
        block_fill = fills if fills.shape[0] == 1 else fills[block]
        return lambda mask: np.where(mask, block_fill, X_cases[block])

    hits, random_hits = _hit_rates(
        blackbox, rank, classes[rows], ks, prepare, rng, verbose=verbose, desc="deletion test"
    )
    meta = {
        "test": "deletion",
        "cases": cases,
        "fill": fill if isinstance(fill, str) else "array",
        "target": target,
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
    target: int | None = None,
    n_cases: int | None = None,
    n_boot: int = 50,
    sample_frac: float = 0.3,
    random_state: RandomState = None,
    verbose: bool = True,
) -> PCRResult:
    """Craft cases from the top-k features alone and measure how many stay positive.

    Source: ``000_cf0c09d2d9cd2a13.txt``, Sec. 4.1, steps 3-4. Each crafted case copies
    the top-k features of a positive source case and draws every other feature
    uniformly between that feature's minimum and maximum in ``X``. The baseline copies
    k random features instead, from the same source and over the same random draws.
    ``k = 0`` gives entirely random cases, the paper's step 4.

    Parameters
    ----------
    blackbox : BlackBox
    X : array-like of shape (n_samples, n_features)
        Source cases; also sets each feature's random range.
    ranking : FeatureImportance, Attribution or ndarray of int
    ks : int or sequence of int
        The numbers of features copied from the source.
    target : int, optional
        The positive class; None uses each source's own predicted class.
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
    X, preds = _prepare_inputs(blackbox, X)
    ks = check_ks(ks, n_features=X.shape[1])
    classes = _explained_classes(ranking, preds, target, blackbox.n_classes)
    positives = np.flatnonzero(preds == classes)
    if positives.size == 0:
        raise ValueError("no positive case in X for the tested class(es); nothing to craft from")
    if n_cases is not None:
        n_cases = check_positive_int(n_cases, name="n_cases")
    if isinstance(ranking, Attribution):
        size = positives.size if n_cases is None else min(n_cases, positives.size)
        sources = np.sort(rng.choice(positives, size=size, replace=False))
    else:
        size = positives.size if n_cases is None else n_cases
        sources = rng.choice(positives, size=size, replace=size > positives.size)
    rank = resolve_ranking(ranking, classes=classes, n_features=X.shape[1]).subset(sources)
    _check_ks_ranked(ks, rank)
    low, high = X.min(axis=0), X.max(axis=0)
    X_sources = X[sources]

    def prepare(block: np.ndarray) -> Manipulate:
        noise = low + (high - low) * rng.random((block.size, X.shape[1]))
        return lambda mask: np.where(mask, X_sources[block], noise)

    hits, random_hits = _hit_rates(
        blackbox, rank, classes[sources], ks, prepare, rng, verbose=verbose, desc="crafted cases"
    )
    meta = {"test": "crafted", "target": target, "random_range": "per-feature min-max of X"}
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
        is the mean (or sum) of its features' scores.
    segment_score : {"mean", "sum"}
    fill : {"zero", "mean", "positive_mean"} or ndarray of shape (n_features,)
        The value of the features that are not kept.
    n_boot : int
        Bootstrap repeats for the confidence intervals.
    random_state : int, Generator or None
        Seeds the bootstrap.

    Returns
    -------
    KeepTopKResult
        ``accuracy``: the share of rows classified as ``y``; ``probability``: the
        mean probability of ``y``. Each with a 95% bootstrap CI.
    """
    rng = check_random_state(random_state)
    X = blackbox.check_X(X)
    n, d = X.shape
    y = check_labels(y, n=n, n_classes=blackbox.n_classes)
    k = check_positive_int(k, name="k", minimum=0)
    classes = ranking.target if isinstance(ranking, Attribution) else y
    if isinstance(ranking, Attribution) and ranking.n_samples != n:
        raise ValueError(f"the attribution has {ranking.n_samples} rows but X has {n}")
    preds = blackbox.predict(X) if isinstance(fill, str) and fill == "positive_mean" else None
    fills = _fill_rows(_fill_table(fill, X, preds, blackbox.n_classes), y)
    if segments is None:
        rank = resolve_ranking(ranking, classes=classes, n_features=d)
        _check_ks_ranked(np.array([k]), rank)
        masks = top_k_mask(rank.scores(np.arange(n)), k)
    else:
        masks = _segment_masks(ranking, classes, segments, k, n, d, segment_score)
    kept = np.where(masks, X, fills)
    proba = blackbox.predict_proba(kept)
    meta = {
        "test": "keep_top_k",
        "unit": "feature" if segments is None else "segment",
        "fill": fill if isinstance(fill, str) else "array",
        "n_boot": n_boot,
    }
    return KeepTopKResult(
        k=k,
        accuracy=estimate(proba.argmax(axis=1) == y, n_boot=n_boot, rng=rng),
        probability=estimate(proba[np.arange(n), y], n_boot=n_boot, rng=rng),
        meta=meta,
    )


def _segment_masks(
    ranking: RankingLike,
    classes: np.ndarray,
    segments: np.ndarray,
    k: int,
    n: int,
    d: int,
    how: str,
) -> np.ndarray:
    """Feature masks that keep each row's ``k`` best segments."""
    labels = np.asarray(segments)
    if labels.shape == (d,):
        labels = np.broadcast_to(labels, (n, d))
    if labels.shape != (n, d) or labels.dtype.kind not in "iu" or labels.min() < 0:
        raise ValueError(
            f"segments must be non-negative int labels of shape ({n}, {d}) or ({d},), "
            f"got {labels.dtype} {labels.shape}"
        )
    if how not in ("mean", "sum"):
        raise ValueError(f"segment_score must be 'mean' or 'sum', got {how!r}")
    n_segments = int(labels.max()) + 1
    flat = (labels + n_segments * np.arange(n)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n * n_segments).reshape(n, n_segments)
    if isinstance(ranking, np.ndarray | list | tuple):
        order = np.asarray(ranking)
        if order.ndim == 2 and order.shape[0] != n:
            raise ValueError(f"the segment ranking has {order.shape[0]} rows but X has {n}")
        scores, n_ranked = _order_scores(order, n_segments)
        scores = np.broadcast_to(scores, (n, n_segments))
    else:
        pixel = resolve_ranking(ranking, classes=classes, n_features=d).scores(np.arange(n))
        sums = np.bincount(flat, weights=np.ravel(pixel), minlength=n * n_segments)
        sums = sums.reshape(n, n_segments)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = sums / counts if how == "mean" else sums
        n_ranked = n_segments
    scores = np.where(counts > 0, scores, -np.inf)
    if k > min(n_ranked, int((counts > 0).sum(axis=1).min())):
        raise ValueError(f"k={k} exceeds the number of segments of some row")
    keep = top_k_mask(scores, k)
    return np.take_along_axis(keep, labels, axis=1)


def agreement(
    pred_a: object,
    pred_b: object,
    *,
    n_boot: int = 1000,
    random_state: RandomState = None,
) -> Estimate:
    """The share of rows on which two predictors agree: proxy faithfulness.

    Parameters
    ----------
    pred_a, pred_b : array-like of shape (n_samples,) or (n_samples, n_classes)
        Class labels, or probabilities (reduced by argmax).

    Returns
    -------
    Estimate
    """
    labels = []
    for name, pred in (("pred_a", pred_a), ("pred_b", pred_b)):
        arr = np.asarray(pred)
        if arr.ndim not in (1, 2):
            raise ValueError(f"{name} must be labels (n,) or probabilities (n, C), got {arr.shape}")
        if arr.ndim == 2:
            arr = check_array(arr, name=name).argmax(axis=1)
        labels.append(check_labels(arr, n=arr.shape[0], name=name))
    if labels[0].shape != labels[1].shape:
        raise ValueError(f"pred_a has {labels[0].size} rows but pred_b has {labels[1].size}")
    if labels[0].size == 0:
        raise ValueError("pred_a and pred_b are empty")
    return estimate(labels[0] == labels[1], n_boot=n_boot, rng=check_random_state(random_state))
