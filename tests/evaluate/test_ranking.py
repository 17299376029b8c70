"""resolve_ranking: every kind of ranking becomes per-row scores, or a clear error."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from unboxed import Attribution, BlackBox, FeatureImportance
from unboxed._ranks import top_k_mask
from unboxed.evaluate import crafted_cases, deletion_curve, deletion_test, infidelity, keep_top_k
from unboxed.evaluate._ranking import resolve_ranking
from unboxed.local import Lime


def _mask(rank, k):
    """Each row's top-k mask under the resolved ranking."""
    return top_k_mask(rank.scores(np.arange(rank.classes.size)), k)


def test_an_index_array_ranks_its_features_first_and_the_rest_last():
    rank = resolve_ranking(np.array([4, 1]), classes=np.zeros(3, int), n_features=6)
    assert rank.n_ranked == 2
    scores = rank.scores(np.arange(3))
    assert scores.shape == (3, 6)
    assert (scores[:, 4] > scores[:, 1]).all()
    assert np.isneginf(scores[:, [0, 2, 3, 5]]).all()


def test_a_list_ranks_like_an_array():
    classes = np.zeros(2, int)
    from_list = resolve_ranking([3, 0, 2], classes=classes, n_features=5)
    from_array = resolve_ranking(np.array([3, 0, 2]), classes=classes, n_features=5)
    np.testing.assert_array_equal(from_list.scores(np.arange(2)), from_array.scores(np.arange(2)))


def test_unranked_features_come_after_every_ranked_one_in_a_long_ranking():
    # 1200 of 1500 features ranked, the lowest index last: a finite floor for the
    # unranked ones would tie with (and then beat) the ranked tail
    order = np.arange(1200)[::-1]
    rank = resolve_ranking(order, classes=np.zeros(1, int), n_features=1500)
    kept = _mask(rank, 1200)[0]
    assert kept[:1200].all() and not kept[1200:].any()


def test_a_per_row_array_ranks_each_row_and_counts_its_ranked_features():
    order = np.array([[0, 1], [3, 2], [1, 4]])
    rank = resolve_ranking(order, classes=np.zeros(3, int), n_features=5)
    assert rank.n_ranked == 2  # k=3 must be refused by the callers
    np.testing.assert_array_equal(_mask(rank, 1).nonzero()[1], [0, 3, 1])


def test_a_single_row_importance_is_shared_by_every_class():
    values = np.array([[0.1, 0.9, 0.5]])
    rank = resolve_ranking(FeatureImportance(values), classes=np.array([0, 2, 1]), n_features=3)
    np.testing.assert_array_equal(rank.scores(np.arange(3)), np.repeat(values, 3, axis=0))


def test_a_negative_importance_ranks_below_a_zero_one():
    # larger is more important: a large negative value is not a strong signal
    values = np.array([[-5.0, 0.0, 1.0], [0.0, -5.0, 1.0]])
    rank = resolve_ranking(FeatureImportance(values), classes=np.array([0, 1]), n_features=3)
    np.testing.assert_array_equal(_mask(rank, 2), [[False, True, True], [True, False, True]])


def test_a_subset_keeps_each_rows_class():
    values = np.eye(3)  # class c ranks feature c first
    classes = np.array([0, 1, 2, 1])
    rank = resolve_ranking(FeatureImportance(values), classes=classes, n_features=3)
    sub = rank.subset(np.array([2, 3]))
    np.testing.assert_array_equal(sub.scores(np.arange(2)), values[[2, 1]])


def test_a_subset_of_an_attribution_keeps_each_rows_scores():
    values = np.arange(12.0).reshape(4, 3)
    attribution = Attribution(values, np.zeros(4, int))
    rank = resolve_ranking(attribution, classes=np.zeros(4, int), n_features=3)
    np.testing.assert_array_equal(
        rank.subset(np.array([3, 1])).scores(np.arange(2)), values[[3, 1]]
    )


@pytest.mark.parametrize(
    ("ranking", "message"),
    [
        (np.array([6]), r"indices must lie in \[0, 6\), got 6"),  # one past the end
        (np.array([2, -1]), r"indices must lie in \[0, 6\), got -1"),  # not the last feature
        (np.array([3, 3]), "repeats a feature index"),
        (np.array([1, 2, 1]), "repeats a feature index"),  # apart, not adjacent
        (np.array([[0, 1], [2, 2], [3, 4]]), "repeats a feature index"),  # in one later row
        # More indices than features: said before the repeat this forces.
        (np.array([0, 1, 2, 3, 4, 5, 0]), "lists 7 feature indices per row but X has only 6"),
        (np.tile(np.arange(7) % 6, (3, 1)), "lists 7 feature indices per row but X has only 6"),
        (np.array([[0, 1], [2, 1], [3, 4]])[:, :, None], "1- or 2-dimensional"),
        (FeatureImportance(np.ones((1, 8))), "covers 8 features but X has 6"),
        (Attribution(np.ones((3, 5)), np.zeros(3, int)), "covers 5 features but X has 6"),
        (Attribution(np.ones((2, 6)), np.zeros(2, int)), "attribution has 2 rows but X has 3"),
        (FeatureImportance(np.ones((2, 6))), "ranks 2 classes, but class 2 is needed"),
        # An empty list is numpy's float64: it was told to hold integer indices and to
        # wrap scores in an Attribution, when it ranks nothing at all.
        ([], "must rank at least one feature; it is empty"),
        ([[], [], []], "must rank at least one feature; it is empty"),
    ],
)
def test_bad_rankings_are_refused(ranking, message):
    with pytest.raises(ValueError, match=message):
        resolve_ranking(ranking, classes=np.array([0, 1, 2]), n_features=6)


@pytest.mark.parametrize(
    "measure",
    [
        lambda bb, X, a: deletion_curve(bb, X, a, n_boot=10, random_state=0),
        lambda bb, X, a: deletion_test(bb, X, a, [1, 2], n_boot=10, verbose=False),
        lambda bb, X, a: crafted_cases(bb, X, a, [1], n_boot=10, verbose=False, random_state=0),
        lambda bb, X, a: keep_top_k(bb, X, bb.predict(X), a, 2, n_boot=10, verbose=False),
        lambda bb, X, a: infidelity(bb, X, a, scale=0.1, n_perturb=5, n_boot=10, random_state=0),
    ],
    ids=["deletion_curve", "deletion_test", "crafted_cases", "keep_top_k", "infidelity"],
)
def test_an_attribution_of_other_rows_is_refused_by_every_measure(measure):
    # Scores made for rows 0..29 were applied to rows 30..59 (as many) without a word
    # by all but infidelity: a measure of some other explanation than the one asked.
    X, y = load_iris(return_X_y=True)
    bb = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    rows = np.random.default_rng(0).permutation(150)
    X_a, X_b = X[rows[:30]], X[rows[30:60]]
    attribution = Lime(bb, n_samples=60, random_state=0).explain(X_a)
    measure(bb, X_a, attribution)  # its own rows pass
    # and so do they as float32, where a torch model's attribution keeps them
    measure(bb, X_a.astype(np.float32), attribution)
    with pytest.raises(ValueError, match="the attribution explains other inputs than X"):
        measure(bb, X_b, attribution)


_RAGGED = [[2, 3, 0], [3, 2], [2, 3, 1]]  # row 1 lists one feature fewer


@pytest.mark.parametrize(
    "measure",
    [
        lambda bb, X, r: deletion_curve(bb, X, r, max_k=2, n_boot=10),
        lambda bb, X, r: deletion_test(bb, X, r, [1, 2], n_boot=10, verbose=False),
        lambda bb, X, r: crafted_cases(bb, X, r, [1], n_boot=10, verbose=False, random_state=0),
        lambda bb, X, r: keep_top_k(bb, X, bb.predict(X), r, 2, n_boot=10, verbose=False),
        lambda bb, X, r: keep_top_k(
            bb, X, bb.predict(X), r, 2, segments=np.arange(4), n_boot=10, verbose=False
        ),
        lambda bb, X, r: resolve_ranking(r, classes=np.zeros(len(X), int), n_features=4),
    ],
    ids=[
        "deletion_curve_max_k",
        "deletion_test",
        "crafted_cases",
        "keep_top_k",
        "keep_top_k_segments",
        "resolve_ranking",
    ],
)
def test_a_ragged_ranking_list_is_refused_by_name_by_every_measure(measure):
    # Only deletion_curve's default max_k named it: the others (and deletion_curve
    # given max_k) failed in np.asarray with numpy's "setting an array element with a
    # sequence. The requested array has an inhomogeneous shape after 1 dimensions".
    X, y = load_iris(return_X_y=True)
    bb = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    rows = X[::50]
    with pytest.raises(ValueError) as raised:
        measure(bb, rows, _RAGGED)
    assert str(raised.value) == (
        "a ranking array must list as many features on every row, one order of feature "
        "indices per row of X: row 0 lists 3 and row 1 lists 2; cut every row to the "
        "shortest, or pass the scores as an Attribution"
    )
    measure(bb, rows, [row[:2] for row in _RAGGED])  # cut to the shortest, it passes


def test_a_ranking_list_with_a_bare_index_among_its_rows_is_refused_by_name():
    # A row that is no list names no length, but the message still names the ranking.
    with pytest.raises(ValueError, match=r"must list as many features on every row.*X;"):
        resolve_ranking([[2, 3], 1, [0, 1]], classes=np.zeros(3, int), n_features=4)


def test_a_per_class_importance_refuses_classes_it_cannot_pick_a_row_for():
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    importance = FeatureImportance(np.abs(model.coef_))  # one ranking per class
    # class -1 picked the last class's ranking without a word
    with pytest.raises(ValueError, match="classes must be >= 0, got -1"):
        resolve_ranking(importance, classes=np.array([0, -1, 2]), n_features=4)
    # float classes reached numpy's "arrays used as indices must be of integer type"
    with pytest.raises(ValueError, match=r"classes must be a 1-D array of int .*float64"):
        resolve_ranking(importance, classes=np.array([0.0, 1.0]), n_features=4)
    # no rows: numpy's "zero-size array to reduction operation maximum"
    empty = resolve_ranking(importance, classes=np.zeros(0, int), n_features=4)
    assert empty.scores(np.arange(0)).shape == (0, 4)
    rank = resolve_ranking(importance, classes=model.predict(X[:3]), n_features=4)
    np.testing.assert_array_equal(
        rank.scores(np.arange(3)), importance.values[model.predict(X[:3])]
    )
