"""Deletion curves (AOPC) and explanation sensitivity."""

import re
import types

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.helpers import (
    breast_cancer_box,
    digits_gradient_undefined_below,
    iris_refusing_a_petal_of_4,
    no_zero_dose_for_the_old,
)
from unboxed import Attribution, BlackBox, BlackBoxError, FeatureImportance, zoo
from unboxed.evaluate import deletion_curve, explanation_sensitivity
from unboxed.evaluate._local import top_k_mask
from unboxed.evaluate._stats import estimate
from unboxed.local import Lime, Occlusion, Saliency, segment

SUPPORT = np.array([2, 5, 11, 17])


def test_true_support_has_a_larger_aopc_than_a_random_ranking(planted, planted_blackbox, rng):
    X = planted.X_test[:300]
    target = np.ones(300, dtype=int)
    others = np.setdiff1d(np.arange(20), SUPPORT)
    truth = np.concatenate([SUPPORT, others])
    shuffled = rng.permutation(20)
    good = deletion_curve(planted_blackbox, X, truth, max_k=4, target=target, random_state=0)
    bad = deletion_curve(planted_blackbox, X, shuffled, max_k=4, target=target, random_state=0)
    assert good.aopc.ci[0] > bad.aopc.ci[1]
    assert good.drop.shape == (300, 5) and np.all(good.drop[:, 0] == 0)
    assert np.all(np.diff(good.curve()) >= -1e-12)  # removing more support never helps


def test_deletion_curve_by_segments_matches_features(planted, planted_blackbox):
    X = planted.X_test[:50]
    segments = np.arange(20)  # one feature per segment
    by_feature = deletion_curve(planted_blackbox, X, SUPPORT, max_k=3, random_state=0)
    by_segment = deletion_curve(
        planted_blackbox, X, SUPPORT, max_k=3, segments=segments, random_state=0
    )
    np.testing.assert_allclose(by_feature.drop, by_segment.drop)


def test_deletion_curve_rejects_bad_input(planted, planted_blackbox):
    with pytest.raises(ValueError, match="max_k"):
        deletion_curve(planted_blackbox, planted.X_test[:5], SUPPORT, max_k=0)
    with pytest.raises(ValueError, match="fill"):
        deletion_curve(planted_blackbox, planted.X_test[:5], SUPPORT, fill="grey")
    # The mean of one row is the row: the curve was silently all zeros.
    with pytest.raises(ValueError, match="mean of the rows of X"):
        deletion_curve(planted_blackbox, planted.X_test[:1], SUPPORT, fill="mean")
    explained = Lime(planted_blackbox, n_samples=50, random_state=0).explain(
        planted.X_test[:5], target=1
    )
    with pytest.raises(ValueError, match="other classes than the attribution"):
        deletion_curve(planted_blackbox, planted.X_test[:5], explained, target=np.zeros(5, int))


def _thirteen_feature_box(calls):
    def model(X):
        calls.append(len(X))
        p1 = 1 / (1 + np.exp(-X[:, 0]))
        return np.stack([1 - p1, p1], axis=1)

    return BlackBox.from_callable(model, n_classes=2, input_shape=(13,))


def test_deletion_curve_refuses_more_steps_than_features_before_any_query():
    # A 13-feature table with max_k=20 failed after 13 rounds of queries, naming a
    # "k=14" the user never passed.
    calls = []
    box = _thirteen_feature_box(calls)
    X = np.random.default_rng(0).normal(size=(6, 13))
    with pytest.raises(ValueError, match=r"max_k=20 exceeds the 13 features; pass max_k=13"):
        deletion_curve(box, X, np.arange(13), max_k=20)
    assert calls == []
    assert deletion_curve(box, X, np.arange(13), max_k=13).drop.shape == (6, 14)


def test_deletion_curve_by_default_removes_every_feature_of_a_small_table():
    # The default of 20 steps refused every table of fewer features (wine: 13).
    box = _thirteen_feature_box([])
    X = np.random.default_rng(0).normal(size=(6, 13))
    curve = deletion_curve(box, X, np.arange(13), n_boot=10, random_state=0)
    every = deletion_curve(box, X, np.arange(13), max_k=13, n_boot=10, random_state=0)
    np.testing.assert_array_equal(curve.ks, np.arange(14))
    np.testing.assert_array_equal(curve.drop, every.drop)
    assert curve.meta["max_k"] == 13


def test_deletion_curve_by_default_removes_every_segment_up_to_20(digits, digits_blackbox):
    X = digits.X_test[:2]
    few = np.arange(64) // 8  # 8 segments: all of them
    assert (
        deletion_curve(digits_blackbox, X, np.arange(8), segments=few, n_boot=10).meta["max_k"] == 8
    )
    many = np.arange(64) // 2  # 32 segments: the first 20
    curve = deletion_curve(digits_blackbox, X, np.arange(32), segments=many, n_boot=10)
    assert curve.meta["max_k"] == 20 and curve.drop.shape == (2, 21)


def test_deletion_curve_reads_segments_in_the_images_shape(digits, digits_blackbox):
    # They were refused in the LeNet's input_shape (1, 8, 8): "segments must be int
    # labels of shape (4, 64) or (64,), got int64 (4, 1, 8, 8)".
    X = digits.X_test[:4]
    flat = segment(X, (8, 8), method="slic", n_segments=6)
    att = Attribution(X.astype(float), digits_blackbox.predict(X))
    reference = deletion_curve(digits_blackbox, X, att, segments=flat, n_boot=10, random_state=0)
    images = X.reshape(4, 1, 8, 8)
    for shaped in (flat.reshape(4, 1, 8, 8), flat.reshape(4, 8, 8)):
        curve = deletion_curve(
            digits_blackbox, images, att, segments=shaped, n_boot=10, random_state=0
        )
        # max_k by default: every segment of the row with the most of them.
        assert curve.meta == reference.meta and curve.meta["max_k"] == flat.max() + 1
        np.testing.assert_array_equal(curve.drop, reference.drop)


def _linear_torch_box(n_features=20):
    torch.manual_seed(0)
    model = torch.nn.Linear(n_features, 2)
    return BlackBox.from_torch(model, input_shape=(n_features,))


@pytest.mark.parametrize(
    ("dtype", "radius"),
    [
        (np.float64, float(np.finfo(np.float64).max) / 2),
        (np.float32, float(np.finfo(np.float32).max)),
    ],
)
def test_sensitivity_takes_a_radius_at_its_limit(dtype, radius):
    # The limit itself is allowed: the check after it (k against d) is the one to fail.
    X = np.zeros((2, 20), dtype=dtype)
    with pytest.raises(ValueError, match="k=21 exceeds the 20 features"):
        explanation_sensitivity(Saliency(_linear_torch_box()), X, radius=radius, k=21)


def test_saliency_of_a_linear_model_does_not_move(planted):
    # |d logit / dx| of a linear model is its weight vector wherever x is.
    result = explanation_sensitivity(
        Saliency(_linear_torch_box()), planted.X_test[:30], radius=0.05, k=4, random_state=0
    )
    assert result.mean_drop.mean == 0 and result.max_drop == 0
    assert result.kept.sum() > 0


def test_noisy_explainer_moves_more_than_a_stable_one(digits, digits_blackbox, rng):
    X = digits.X_test[:12]
    stable = explanation_sensitivity(
        Saliency(digits_blackbox), X, radius=0.02, n_samples=5, k=8, random_state=0
    )
    # A Generator: each call draws its own seed. (An int seed would do too: a noisy
    # copy's masks are seeded by its own values, so they differ from its row's.)
    shaky = explanation_sensitivity(
        Lime(digits_blackbox, segmenter="pixels", n_samples=20, random_state=rng),
        X,
        radius=0.02,
        n_samples=5,
        k=8,
        random_state=0,
    )
    assert shaky.mean_drop.mean > stable.mean_drop.mean
    assert 0 <= stable.mean_drop.mean <= stable.worst_drop.mean <= stable.max_drop <= 1


@pytest.mark.parametrize(("dtype", "radius"), [(np.float64, 1e308), (np.float32, 4e38)])
def test_sensitivity_refuses_a_radius_whose_noise_overflows(dtype, radius):
    # numpy refused uniform(-1e308, 1e308) with an OverflowError; 4e38 became inf in float32.
    X = np.zeros((2, 20), dtype=dtype)
    with pytest.raises(ValueError, match=r"radius must be at most .* for float"):
        explanation_sensitivity(Saliency(_linear_torch_box()), X, radius=radius)


def test_sensitivity_rejects_bad_settings(digits, digits_blackbox):
    explainer = Saliency(digits_blackbox)
    with pytest.raises(ValueError, match="radius"):
        explanation_sensitivity(explainer, digits.X_test[:3], radius=0)
    with pytest.raises(ValueError, match="k=100"):
        explanation_sensitivity(explainer, digits.X_test[:3], radius=0.1, k=100)
    with pytest.raises(ValueError, match="NaN"):
        X = digits.X_test[:3].copy()
        X[0, 0] = np.nan
        explanation_sensitivity(explainer, X, radius=0.1)


def test_a_bare_function_or_a_black_box_for_the_explainer_is_a_type_error(digits, digits_blackbox):
    X = digits.X_test[:4]
    with pytest.raises(TypeError, match="must be an unboxed.BlackBox"):
        deletion_curve(digits_blackbox.predict_proba, X, np.zeros((4, 64)))
    for explainer in (digits_blackbox, None):
        with pytest.raises(TypeError, match="explainer must be an explainer"):
            explanation_sensitivity(explainer, X, radius=0.1)


def test_sensitivity_counts_exactly_the_draws_that_keep_the_class(digits, digits_blackbox):
    X = digits.X_test[:10]
    result = explanation_sensitivity(
        Saliency(digits_blackbox), X, radius=0.5, n_samples=8, random_state=0
    )
    rng = np.random.default_rng(0)
    noise = rng.uniform(-0.5, 0.5, size=(10, 8, 64)).astype(X.dtype)
    noisy = (X[:, None, :] + noise).reshape(80, 64)
    same = digits_blackbox.predict(noisy).reshape(10, 8) == digits_blackbox.predict(X)[:, None]
    assert not same.all()  # some draws do change the class
    np.testing.assert_array_equal(result.kept, same.sum(axis=1))
    assert result.mean_drop.n == int((result.kept > 0).sum())  # rows with a draw kept


def test_worst_drop_exceeds_the_mean_drop_for_a_noisy_explainer(digits, digits_blackbox):
    shaky = explanation_sensitivity(
        Lime(digits_blackbox, segmenter="pixels", n_samples=20, random_state=0),
        digits.X_test[:12],
        radius=0.02,
        n_samples=5,
        k=8,
        random_state=0,
    )
    assert shaky.worst_drop.mean > shaky.mean_drop.mean


def test_aopc_is_the_mean_drop_over_k_and_rows(planted, planted_blackbox):
    c = deletion_curve(
        planted_blackbox,
        planted.X_test[:100],
        np.array([2, 5, 11, 17]),
        max_k=4,
        target=np.ones(100, int),
        random_state=0,
    )
    assert c.aopc.mean == pytest.approx(c.drop.mean())
    assert c.aopc.mean == pytest.approx(c.curve().mean())


def test_deletion_curve_drops_match_a_hand_computation(planted, planted_blackbox):
    X = planted.X_test[:20]
    ranking = np.array([5, 2, 17, 11])
    c = deletion_curve(planted_blackbox, X, ranking, max_k=3, target=np.ones(20, int), n_boot=10)
    expected = np.zeros((20, 4))
    before = planted_blackbox.predict_proba(X)[:, 1]
    for k in (1, 2, 3):
        removed = X.copy()
        removed[:, ranking[:k]] = 0.0
        expected[:, k] = before - planted_blackbox.predict_proba(removed)[:, 1]
    np.testing.assert_allclose(c.drop, expected, atol=1e-12)


def test_deletion_curve_scores_the_class_the_attribution_explains(planted, planted_blackbox):
    X = planted.X_test[:20]
    explained = 1 - planted_blackbox.predict(X)  # the class the model does not predict
    att = Attribution(np.tile(-np.arange(20.0), (20, 1)), explained)  # feature 0 first
    c = deletion_curve(planted_blackbox, X, att, max_k=1, n_boot=10)
    removed = X.copy()
    removed[:, 0] = 0.0
    rows = np.arange(20)
    expected = (
        planted_blackbox.predict_proba(X)[rows, explained]
        - planted_blackbox.predict_proba(removed)[rows, explained]
    )
    np.testing.assert_allclose(c.drop[:, 1], expected, atol=1e-12)


def _drops_by_hand(blackbox, X, removed_features, fill_row, classes):
    """f_c(x) - f_c(x with ``removed_features`` set to ``fill_row``), per row."""
    removed = X.copy()
    removed[:, removed_features] = fill_row[removed_features]
    rows = np.arange(X.shape[0])
    return blackbox.predict_proba(X)[rows, classes] - blackbox.predict_proba(removed)[rows, classes]


def test_mean_and_array_fills_replace_removed_features_by_those_values(planted, planted_blackbox):
    X = planted.X_test[:20]
    ranking = np.array([5, 2, 17])
    target = np.ones(20, int)
    by_mean = deletion_curve(planted_blackbox, X, ranking, max_k=2, fill="mean", target=target)
    reference = planted.X_train[:50].mean(axis=0)
    by_array = deletion_curve(planted_blackbox, X, ranking, max_k=2, fill=reference, target=target)
    for curve, fill_row in ((by_mean, X.mean(axis=0)), (by_array, reference)):
        for k in (1, 2):
            expected = _drops_by_hand(planted_blackbox, X, ranking[:k], fill_row, target)
            np.testing.assert_allclose(curve.drop[:, k], expected, atol=1e-12)
    assert by_mean.meta == {"test": "deletion_curve", "unit": "feature", "max_k": 2, "fill": "mean"}
    assert by_array.meta["fill"] == "array"
    assert by_array.ks.tolist() == [0, 1, 2]


def test_without_a_target_an_index_ranking_scores_the_predicted_class(planted, planted_blackbox):
    X = planted.X_test[:20]
    predicted = planted_blackbox.predict(X)
    assert 0 < predicted.sum() < 20  # both classes occur, so the choice of class shows
    ranking = np.array([5, 2])
    c = deletion_curve(planted_blackbox, X, ranking, max_k=1, n_boot=10)
    expected = _drops_by_hand(planted_blackbox, X, ranking[:1], np.zeros(20), predicted)
    np.testing.assert_allclose(c.drop[:, 1], expected, atol=1e-12)
    # A scalar target names one class for every row.
    one = deletion_curve(planted_blackbox, X, ranking, max_k=1, target=1, n_boot=10)
    ones = deletion_curve(planted_blackbox, X, ranking, max_k=1, target=np.ones(20, int), n_boot=10)
    np.testing.assert_array_equal(one.drop, ones.drop)


def test_a_scalar_target_the_attribution_does_not_explain_is_named_by_its_label(planted):
    # As the PCR tests name it (one function now says so for all): it said "target
    # names other classes than the attribution explains", naming neither.
    labels = np.array(["no", "yes"])[planted.y_train]
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=1000).fit(planted.X_train, labels))
    X = planted.X_test[:5]
    att = Attribution(np.tile(-np.arange(20.0), (5, 1)), np.zeros(5, int))  # all "no"
    message = r"other classes than target='yes': its rows explain \['no'\]; pass target=None"
    with pytest.raises(ValueError, match=message):
        deletion_curve(box, X, att, max_k=1, target="yes")
    assert box.n_queries == 0


def test_a_target_that_disagrees_with_the_attribution_on_one_row_is_refused(
    planted, planted_blackbox
):
    att = Attribution(np.tile(-np.arange(20.0), (5, 1)), np.ones(5, int))
    target = np.ones(5, int)
    target[3] = 0
    with pytest.raises(ValueError, match="other classes than the attribution"):
        deletion_curve(planted_blackbox, planted.X_test[:5], att, max_k=1, target=target)


def test_an_attribution_ranks_segments_by_the_mean_of_their_features(planted, planted_blackbox):
    X = planted.X_test[:20]
    # Segment 0 is feature 0 alone (score 1.0); segment 1 is features 1-3 (0.6 each: the
    # larger sum but the smaller mean). Every other feature is a segment of score 0.
    segments = np.concatenate([[0, 1, 1, 1], np.arange(2, 18)])
    values = np.zeros((20, 20))
    values[:, 0], values[:, 1:4] = 1.0, 0.6
    att = Attribution(values, np.ones(20, int))
    c = deletion_curve(planted_blackbox, X, att, max_k=2, segments=segments, n_boot=10)
    target = np.ones(20, int)
    np.testing.assert_allclose(
        c.drop[:, 1], _drops_by_hand(planted_blackbox, X, [0], np.zeros(20), target), atol=1e-12
    )
    np.testing.assert_allclose(
        c.drop[:, 2],
        _drops_by_hand(planted_blackbox, X, [0, 1, 2, 3], np.zeros(20), target),
        atol=1e-12,
    )
    assert c.meta["unit"] == "segment"


def test_the_aopc_interval_is_reproducible_with_a_seed(planted, planted_blackbox):
    X = planted.X_test[:30]
    runs = [
        deletion_curve(planted_blackbox, X, SUPPORT, max_k=2, n_boot=200, random_state=3)
        for _ in range(2)
    ]
    assert runs[0].aopc.ci == runs[1].aopc.ci


def test_a_bad_fill_is_refused_before_any_query(planted, planted_blackbox):
    planted_blackbox.n_queries = 0
    with pytest.raises(ValueError, match="fill"):
        deletion_curve(planted_blackbox, planted.X_test[:5], SUPPORT, fill="grey")
    assert planted_blackbox.n_queries == 0


# ------------------------------------------------------------ random-ranking baseline
@pytest.fixture(scope="module")
def digits_logreg_rows():
    """A logistic regression on sklearn's digits (pixels in [0, 1]), 120 held-out rows
    and an Occlusion attribution of them, one pixel at a time."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=2000).fit(X[:1000], y[:1000]))
    rows = X[1000:1120]
    return box, rows, Occlusion(box, window=1, fill="zero").explain(rows)


def test_a_random_ranking_with_every_feature_removed_ends_where_any_ranking_does(
    digits_logreg_rows,
):
    # At k = d both have removed every feature: the same empty row, the same drop.
    box, X, att = digits_logreg_rows
    d = X.shape[1]
    random = deletion_curve(box, X, "random", max_k=d, target=att.target, n_boot=10)
    ranked = deletion_curve(box, X, att, max_k=d, n_boot=10)
    np.testing.assert_allclose(random.drop[:, d], ranked.drop[:, d], atol=1e-12)
    assert random.drop[:, d].mean() > 0.5  # the empty row is far from every class
    assert random.meta["ranking"] == "random" and "ranking" not in ranked.meta


def test_a_random_ranking_falls_below_a_good_one_with_their_cis_apart(digits_logreg_rows):
    box, X, att = digits_logreg_rows
    good = deletion_curve(box, X, att, max_k=10, random_state=0)
    random = deletion_curve(box, X, "random", max_k=10, target=att.target, random_state=0)
    assert random.aopc.ci[1] < good.aopc.ci[0]
    assert random.meta == {**good.meta, "ranking": "random", "seed": 0}
    # by default max_k counts the features (at most 20), as for any ranking
    assert deletion_curve(box, X[:5], "random", n_boot=10).meta["max_k"] == 20
    # the paired difference: each row's area minus its random area, bootstrapped
    paired = good.aopc_difference(random, n_boot=500, random_state=4)
    own = good.drop.mean(axis=1) - random.drop.mean(axis=1)
    assert paired == estimate(own, n_boot=500, random_state=4)
    assert paired.ci[0] > 0


def test_a_random_ranking_is_drawn_again_by_the_same_seed_only(digits_logreg_rows):
    box, X, _ = digits_logreg_rows
    runs = [
        deletion_curve(box, X, "random", max_k=5, n_boot=200, random_state=seed)
        for seed in (7, 7, 8)
    ]
    np.testing.assert_array_equal(runs[0].drop, runs[1].drop)
    assert runs[0].aopc == runs[1].aopc
    assert not np.array_equal(runs[0].drop, runs[2].drop)
    rng = np.random.default_rng(7)
    drawn = deletion_curve(box, X, "random", max_k=5, n_boot=10, random_state=rng)
    assert drawn.meta["seed"] == "Generator"  # a generator's state is not one number
    # The orders come from a stream of their own: the bootstrap draws the rows that
    # it draws for any other ranking with this seed.
    assert runs[0].aopc == estimate(runs[0].drop.mean(axis=1), n_boot=200, random_state=7)


def _recording_box(queried, n_features):
    """A two-class black box that keeps every batch it is asked about."""

    def model(X):
        queried.append(np.array(X))
        p1 = 1 / (1 + np.exp(-X.sum(axis=1) / n_features))
        return np.stack([1 - p1, p1], axis=1)

    return BlackBox.from_callable(model, n_classes=2, input_shape=(n_features,))


def test_a_random_ranking_removes_whole_segments_each_row_its_own_order():
    # 200 rows of 12 features, none of them 0, in segments of their own per row: most
    # rows in 4 segments of 3 features, a quarter of them in 2 segments of 6.
    queried = []
    box = _recording_box(queried, 12)
    n = 200
    X = np.random.default_rng(0).uniform(1, 2, size=(n, 12))
    labels = np.tile(np.repeat(np.arange(4), 3), (n, 1))
    labels[::4] = np.repeat([5, 9], 6)  # ids that skip: they are relabelled per row
    curve = deletion_curve(box, X, "random", max_k=4, segments=labels, random_state=0)
    assert curve.meta["unit"] == "segment" and curve.drop.shape == (n, 5)
    first = []
    for k, batch in enumerate(queried[1:], start=1):  # queried[0]: X itself
        removed = batch == 0
        for row in range(n):
            ids = np.unique(labels[row])
            gone = [removed[row, labels[row] == i] for i in ids]
            # each segment is removed whole or not at all
            assert all(g.all() or not g.any() for g in gone)
            # k of them, or all of a row's own where it has fewer
            assert sum(g.all() for g in gone) == min(k, ids.size)
            if k == 1:
                first.append(int(ids[[g.all() for g in gone]][0]))
    # each row draws its own order: every segment comes first on some rows
    four = [f for row, f in enumerate(first) if row % 4]
    two = [f for row, f in enumerate(first) if row % 4 == 0]
    assert set(four) == {0, 1, 2, 3} and set(two) == {5, 9}
    assert min(np.bincount(four)) > 20  # 150 rows: about 37 each


def test_a_random_ranking_by_another_name_is_refused_before_any_query():
    X, box = _iris_box_that_must_not_be_queried()
    with pytest.raises(ValueError, match=r"array of feature indices or 'random', got 'shuffle'"):
        deletion_curve(box, X, "shuffle", max_k=1)
    assert box.n_queries == 0


def test_a_paired_aopc_difference_needs_curves_of_the_same_rows_and_units(
    planted, planted_blackbox
):
    X = planted.X_test[:20]
    curve = deletion_curve(planted_blackbox, X, SUPPORT, max_k=3, n_boot=10)
    with pytest.raises(TypeError, match="baseline must be a DeletionCurve"):
        curve.aopc_difference(curve.drop)
    for other in (
        deletion_curve(planted_blackbox, X[:10], "random", max_k=3, n_boot=10),
        deletion_curve(planted_blackbox, X, "random", max_k=2, n_boot=10),
    ):
        with pytest.raises(ValueError, match="pair curves of the same rows and steps"):
            curve.aopc_difference(other)
    by_segment = deletion_curve(
        planted_blackbox, X, "random", max_k=3, segments=np.arange(20), n_boot=10
    )
    with pytest.raises(ValueError, match="baseline's unit is 'segment' and this curve's 'feature'"):
        curve.aopc_difference(by_segment)
    mean = deletion_curve(planted_blackbox, X, "random", max_k=3, fill="mean", n_boot=10)
    with pytest.raises(ValueError, match="baseline's fill is 'mean'"):
        curve.aopc_difference(mean)
    itself = curve.aopc_difference(curve, n_boot=10)
    assert itself.mean == 0 and itself.ci == (0, 0)


def _on_zero_box():
    """Class 1 exactly where x[0] == 0, class 0 elsewhere: noise always moves a row with
    x[0] == 0 out of class 1 and never moves any other row into it."""

    def proba(X):
        on = (X[:, 0] == 0).astype(float)
        return np.stack([1 - on, on], axis=1)

    return BlackBox.from_callable(proba, n_classes=2)


class _InputsAsAttribution:
    """An explainer whose attribution is the input itself; it records its calls."""

    def __init__(self, blackbox):
        self.blackbox = blackbox
        self.calls = []

    def explain(self, X, *, target):
        self.calls.append((X.shape[0], np.asarray(target).copy()))
        return Attribution(X, target)


# Row 0 and 2 have a clear top 2 ({0, 1} and, by signed value, {2, 3}); row 1 has none;
# row 3 (x[0] == 0) loses its class under any noise.
SENSITIVITY_X = np.array(
    [
        [10.0, 9.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        [-10.0, -9.0, 5.0, 4.0, 0.0, 0.0],
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    ]
)


def test_sensitivity_matches_a_hand_computation_of_top_k_overlaps():
    X, k, radius, n_samples = SENSITIVITY_X, 2, 0.1, 6
    explainer = _InputsAsAttribution(_on_zero_box())
    result = explanation_sensitivity(
        explainer, X, radius=radius, n_samples=n_samples, k=k, n_boot=50, random_state=0
    )
    noise = np.random.default_rng(0).uniform(-radius, radius, size=(4, n_samples, 6))
    per_row = []
    for i in range(3):  # row 3 keeps no draw
        top = set(np.argsort(-X[i], kind="stable")[:k])
        drops = [
            1 - len(top & set(np.argsort(-(X[i] + e), kind="stable")[:k])) / k for e in noise[i]
        ]
        per_row.append(drops)
    per_row = np.array(per_row)
    assert per_row[0].max() == 0 and per_row[2].max() == 0 and per_row[1].max() > 0
    np.testing.assert_array_equal(result.kept, [n_samples] * 3 + [0])
    assert result.mean_drop.n == result.worst_drop.n == 3
    assert result.mean_drop.mean == pytest.approx(per_row.mean())
    assert result.worst_drop.mean == pytest.approx(per_row.max(axis=1).mean())
    assert result.max_drop == pytest.approx(per_row.max())
    assert result.max_drop > result.worst_drop.mean  # the largest drop is not an average
    assert (result.k, result.radius) == (2, 0.1)
    assert result.meta == {"test": "explanation_sensitivity", "norm": "linf", "n_samples": 6}
    # One call for the inputs, one batched call for every kept noisy copy, each for the
    # original class (0 for the first three rows).
    assert [n for n, _ in explainer.calls] == [4, 3 * n_samples]
    np.testing.assert_array_equal(explainer.calls[0][1], [0, 0, 0, 1])
    np.testing.assert_array_equal(explainer.calls[1][1], np.zeros(3 * n_samples))


class _Returning:
    """An explainer whose explain returns ``make(X)`` for the inputs given."""

    def __init__(self, blackbox, make):
        self.blackbox, self.make = blackbox, make

    def explain(self, X, *, target):
        return self.make(np.asarray(X))


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        # A width other than the features', or NaN: a drop of 0 measured without a word.
        (lambda X: types.SimpleNamespace(values=X[:, :3]), ValueError, r"shape \(3, 3\)"),
        (lambda X: types.SimpleNamespace(values=X * np.nan), ValueError, "NaN or infinite"),
        # Too few rows: an IndexError deep in numpy's indexing.
        (lambda X: types.SimpleNamespace(values=X[:1]), ValueError, r"expected \(3, 6\)"),
        # A bare array: AttributeError 'numpy.ndarray' object has no attribute 'values'.
        (lambda X: X, TypeError, "must return an explanation with a values array"),
    ],
)
def test_sensitivity_refuses_an_explanation_of_the_wrong_shape_or_not_finite(make, error, message):
    explainer = _Returning(_on_zero_box(), make)
    with pytest.raises(error, match=message):
        explanation_sensitivity(explainer, SENSITIVITY_X[:3], radius=0.1, k=2, random_state=0)


def test_sensitivity_with_k_equal_to_the_number_of_features_is_zero():
    result = explanation_sensitivity(
        _InputsAsAttribution(_on_zero_box()), SENSITIVITY_X, radius=0.1, k=6, random_state=0
    )
    assert result.max_drop == 0


def test_sensitivity_refuses_inputs_that_keep_no_draw_and_bad_counts():
    explainer = _InputsAsAttribution(_on_zero_box())
    with pytest.raises(ValueError, match="every noise draw within radius 0.1 changed the class"):
        explanation_sensitivity(explainer, SENSITIVITY_X[3:], radius=0.1, k=2)
    with pytest.raises(ValueError, match="n_samples must be"):
        explanation_sensitivity(explainer, SENSITIVITY_X, radius=0.1, n_samples=0, k=2)
    with pytest.raises(ValueError, match="k must be"):
        explanation_sensitivity(explainer, SENSITIVITY_X, radius=0.1, k=0)
    assert explainer.calls == []  # nothing explained before the checks


def test_an_attribution_for_other_rows_is_refused_before_any_query(planted, planted_blackbox):
    X = planted.X_test[:10]
    att = Attribution(np.tile(-np.arange(20.0), (12, 1)), np.ones(12, int))
    for target in (None, 1):  # 12 rows for 10 passed silently without a target
        planted_blackbox.n_queries = 0
        with pytest.raises(ValueError, match="the attribution has 12 rows but X has 10"):
            deletion_curve(planted_blackbox, X, att, max_k=2, target=target)
        assert planted_blackbox.n_queries == 0


def test_deletion_curve_in_blocks_scores_each_row_for_its_own_class(
    planted, planted_blackbox, monkeypatch
):
    from unboxed.evaluate import _fidelity

    X = planted.X_test[:20]
    whole = deletion_curve(planted_blackbox, X, SUPPORT, max_k=2, n_boot=10)
    monkeypatch.setattr(_fidelity, "CHUNK_ROWS", 7)  # blocks of rows 0-6, 7-13, 14-19
    blocked = deletion_curve(planted_blackbox, X, SUPPORT, max_k=2, n_boot=10)
    np.testing.assert_allclose(blocked.drop, whole.drop, atol=1e-12)
    predicted = planted_blackbox.predict(X)
    assert np.any(predicted[7:14] != predicted[:7])  # a block's classes are its own
    expected = _drops_by_hand(planted_blackbox, X, SUPPORT[:2], np.zeros(20), predicted)
    np.testing.assert_allclose(blocked.drop[:, 2], expected, atol=1e-12)


def test_sensitivity_averages_only_over_the_draws_that_kept_the_class():
    # Class 1 where x[5] > 0: rows with x[5] == 0 keep class 0 only for draws whose
    # noise on x[5] is <= 0, about half. The discarded draws must not count as a drop
    # of 0 (that would pull the mean towards 0).
    def proba(X):
        on = (X[:, 5] > 0).astype(float)
        return np.stack([1 - on, on], axis=1)

    X = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], [1.0, 2.0, 1.0, 1.0, 1.0, 0.0]])
    k, radius, n_samples = 2, 0.1, 8
    result = explanation_sensitivity(
        _InputsAsAttribution(BlackBox.from_callable(proba, n_classes=2)),
        X,
        radius=radius,
        n_samples=n_samples,
        k=k,
        n_boot=20,
        random_state=0,
    )
    noise = np.random.default_rng(0).uniform(-radius, radius, size=(2, n_samples, 6))
    means, worsts = [], []
    for i in range(2):
        top = set(np.argsort(-X[i], kind="stable")[:k])
        kept = [e for e in noise[i] if e[5] <= 0]
        drops = [1 - len(top & set(np.argsort(-(X[i] + e), kind="stable")[:k])) / k for e in kept]
        means.append(np.mean(drops))
        worsts.append(np.max(drops))
    assert 0 < result.kept.min() and result.kept.max() < n_samples  # some draws discarded
    assert min(means) > 0
    assert result.mean_drop.mean == pytest.approx(np.mean(means))
    assert result.worst_drop.mean == pytest.approx(np.mean(worsts))


def test_sensitivity_accepts_k_equal_to_the_features_and_refuses_one_more():
    explainer = _InputsAsAttribution(_on_zero_box())
    with pytest.raises(ValueError, match="k=7 exceeds the 6 features; pass k=3, say"):
        explanation_sensitivity(explainer, SENSITIVITY_X, radius=0.1, k=7)
    assert explainer.calls == []


def test_sensitivity_by_default_compares_half_the_features_of_a_small_table():
    # The default k=10 refused every table of fewer features (iris: 4).
    explainer = _InputsAsAttribution(_on_zero_box())
    default = explanation_sensitivity(explainer, SENSITIVITY_X, radius=0.1, random_state=0)
    three = explanation_sensitivity(explainer, SENSITIVITY_X, radius=0.1, k=3, random_state=0)
    assert default.k == 3
    assert default.mean_drop == three.mean_drop and default.worst_drop == three.worst_drop
    wide = np.tile(SENSITIVITY_X, 4)  # 24 features: 10, as before
    assert explanation_sensitivity(explainer, wide, radius=0.1, random_state=0).k == 10


def test_a_deletion_curve_prints_its_rows_by_shape(planted, planted_blackbox):
    X = planted.X_test[:200]
    curve = deletion_curve(planted_blackbox, X, np.arange(4), max_k=3, n_boot=20, random_state=0)
    text = repr(curve)
    assert text.startswith("DeletionCurve(ks=[0, 1, 2, 3], drop=<array of shape (200, 4), float64>")
    assert "\n" not in text and "aopc=Estimate(mean=" in text


def test_a_sensitivity_result_prints_its_rows_by_shape(planted, planted_blackbox):
    explainer = Lime(planted_blackbox, n_samples=16, random_state=0)
    result = explanation_sensitivity(
        explainer, planted.X_test[:12], radius=0.01, n_samples=2, k=4, n_boot=20, random_state=0
    )
    assert "kept=<array of shape (12,), int64>" in repr(result) and "\n" not in repr(result)


def test_targets_are_the_model_labels_in_curves_and_sensitivity(planted, planted_blackbox):
    # A black box that knows its labels reads target= in them; explanation_sensitivity
    # explains each row's predicted class through the explainer's own target=, which
    # must hand it the label, not the column index.
    from unboxed.local import Occlusion

    box = BlackBox.from_callable(
        planted_blackbox.predict_proba, n_classes=2, input_shape=(20,), classes=["neg", "pos"]
    )
    X = planted.X_test[:20]
    ranking = np.array([5, 2])
    by_label = deletion_curve(box, X, ranking, max_k=1, target="pos", n_boot=10)
    by_index = deletion_curve(planted_blackbox, X, ranking, max_k=1, target=1, n_boot=10)
    np.testing.assert_array_equal(by_label.drop, by_index.drop)
    with pytest.raises(ValueError, match=r"pass its labels, \['neg', 'pos'\]"):
        deletion_curve(box, X, ranking, max_k=1, target=1, n_boot=10)
    kwargs = dict(radius=0.05, n_samples=3, k=3, n_boot=10, random_state=0)
    labelled = explanation_sensitivity(Occlusion(box, verbose=False), X, **kwargs)
    plain = explanation_sensitivity(Occlusion(planted_blackbox, verbose=False), X, **kwargs)
    np.testing.assert_array_equal(labelled.kept, plain.kept)
    assert labelled.mean_drop == plain.mean_drop


def test_sensitivity_perturbs_each_feature_within_its_own_radius(monkeypatch):
    # Raw breast cancer: one radius for all would be noise of 0.1 on features whose
    # spread is 0.003 and on one whose spread is 569 alike.
    X_all, box, _ = breast_cancer_box()
    X, radius = X_all[:8], 0.1 * X_all.std(0)
    radius[3] = 0.0  # mean area stays put
    sent = []
    real = box._proba_rows  # what predict and the noisy copies go through
    monkeypatch.setattr(
        box,
        "_proba_rows",
        lambda rows, *name, **index: sent.append(np.array(rows)) or real(rows, *name, **index),
    )
    result = explanation_sensitivity(
        Saliency(box), X, radius=radius, n_samples=50, k=5, n_boot=50, random_state=0
    )
    noise = sent[1].reshape(8, 50, 30) - np.asarray(X, dtype=sent[1].dtype)[:, None, :]
    reach = np.abs(noise).max(axis=(0, 1))
    # float32 rounding of the rows adds up to 2**-24 of each value
    assert np.all(reach <= radius + 1e-7 * np.abs(X).max(0))
    keep = radius > 0
    assert np.all(reach[keep] > 0.9 * radius[keep])  # each feature's own radius, all of it
    assert reach[3] == 0
    np.testing.assert_array_equal(result.radius, radius)
    assert result.kept.sum() > 0


def test_one_radius_per_feature_equal_to_a_number_gives_the_number_s_result(digits):
    lenet = zoo.build("lenet", input_shape=digits.input_shape, n_classes=10, random_state=0)
    box = zoo.as_blackbox(lenet)  # an image model: (8, 8) radii are images too
    settings = {"n_samples": 4, "k": 5, "n_boot": 50, "random_state": 0}
    one = explanation_sensitivity(Saliency(box), digits.X_test[:6], radius=0.2, **settings)
    for radius in (np.full(64, 0.2), np.full((8, 8), 0.2)):
        each = explanation_sensitivity(Saliency(box), digits.X_test[:6], radius=radius, **settings)
        np.testing.assert_array_equal(each.kept, one.kept)
        assert (each.mean_drop, each.worst_drop) == (one.mean_drop, one.worst_drop)
        assert each.radius.shape == (64,) and not each.radius.flags.writeable


def test_sensitivity_s_defaults_are_unchanged_on_digits(digits, monkeypatch):
    # Pinned from the release before per-feature radii: the same noisy rows, the same
    # figures.
    model = zoo.mlp((32, 16), n_features=64, n_classes=10, random_state=0)
    box = BlackBox.from_torch(model, input_shape=(64,))
    sent = []
    real = box._proba_rows  # what predict and the noisy copies go through
    monkeypatch.setattr(
        box,
        "_proba_rows",
        lambda rows, *name, **index: sent.append(np.array(rows)) or real(rows, *name, **index),
    )
    result = explanation_sensitivity(
        Saliency(box), digits.X_test[:6], radius=0.2, n_samples=4, k=5, n_boot=50, random_state=0
    )
    np.testing.assert_allclose(
        sent[1][[0, 23], :3],
        [[0.05478467, -0.09208532, 0.2538894], [-0.12499347, -0.04807964, 0.5637592]],
        rtol=1e-6,
    )
    np.testing.assert_array_equal(result.kept, [4, 4, 4, 3, 4, 4])
    assert result.mean_drop.mean == pytest.approx(0.25555556, rel=1e-6)
    assert result.mean_drop.ci == pytest.approx((0.14784722, 0.36013889), rel=1e-6)
    assert result.radius == 0.2 and type(result.radius) is float


@pytest.mark.parametrize(
    ("radius", "error", "message"),
    [
        (np.full(5, 0.1), ValueError, r"radius has shape \(5,\); expected .* \(20,\)"),
        (np.full((20, 2), 0.1), ValueError, "radius has shape"),
        (np.r_[-0.1, np.full(19, 0.1)], ValueError, "radius must be >= 0"),
        (np.r_[np.nan, np.full(19, 0.1)], ValueError, "radius must be finite"),
        (np.zeros(20), ValueError, "radius must be positive in at least one feature"),
        (["a"] * 20, TypeError, "radius must be numeric"),
        (np.r_[True, np.zeros(19, bool)], TypeError, "radius must be a number or an array"),
        (np.r_[1e308, np.zeros(19)], ValueError, "radius must be at most"),
    ],
)
def test_sensitivity_refuses_bad_radii_per_feature(radius, error, message):
    explainer = _InputsAsAttribution(_linear_torch_box())
    with pytest.raises(error, match=message):
        explanation_sensitivity(explainer, np.zeros((2, 20)), radius=radius)
    assert explainer.calls == []


def test_deletion_removes_as_the_explainer_did_with_its_background_mean(planted, planted_blackbox):
    """Occlusion's fill="mean" is its background's mean, deletion_curve's is the mean of
    the X it scores: as documented, fill=X_train.mean(axis=0) removes the top feature
    exactly as the explanation switched it off, and "mean" (of 5 rows) does not."""
    X = planted.X_test[:5]
    att = Occlusion(planted_blackbox, fill="mean", background=planted.X_train).explain(X)
    top_value = att.values.max(axis=1)
    common = {"max_k": 1, "n_boot": 10, "random_state": 0}
    train_mean = planted.X_train.mean(axis=0)
    same = deletion_curve(planted_blackbox, X, att, fill=train_mean, **common)
    np.testing.assert_allclose(same.drop[:, 1], top_value, rtol=1e-12, atol=1e-15)
    other = deletion_curve(planted_blackbox, X, att, fill="mean", **common)
    assert abs(other.drop[1, 1] - top_value[1]) > 0.9  # 0.011 against 0.99


def test_a_radius_series_is_read_by_its_feature_names(planted, planted_named_blackbox):
    # radius=0.05 * X_train.std() is a pandas Series; in another column order than
    # the model's, each feature got another feature's radius.
    import pandas as pd

    from tests.helpers import PLANTED_COLUMNS

    radius = np.linspace(0.0, 0.5, 20)  # distinct per feature, so an order shows
    series = pd.Series(radius, index=list(PLANTED_COLUMNS)).iloc[::-1]
    explainer = Occlusion(planted_named_blackbox)
    X = planted.X_test[:10]

    def sensitivity(value):
        result = explanation_sensitivity(
            explainer, X, radius=value, k=3, n_samples=4, random_state=0
        )
        return [result.mean_drop.mean, result.worst_drop.mean, *result.kept]

    expected = sensitivity(radius)
    assert sensitivity(radius[::-1].copy()) != expected  # order matters
    assert sensitivity(series) == expected


def test_a_model_that_raises_on_a_deleted_row_names_what_was_removed(monkeypatch):
    # It said "on row 0 of the 1 row queried", of the block of row 2 alone, and with one
    # block "on row 2 of the 3 rows queried": row 2 of X, on which the model runs.
    from unboxed.evaluate import _fidelity

    monkeypatch.setattr(_fidelity, "CHUNK_ROWS", 2)  # blocks of rows 0-1 and 2
    box = BlackBox.from_callable(no_zero_dose_for_the_old(), n_classes=2)
    X = np.full((3, 5), 0.5)
    X[2, 4] = 1.0
    with pytest.raises(BlackBoxError) as raised:
        deletion_curve(box, X, np.arange(5), fill="zero", max_k=2, n_boot=10)
    assert str(raised.value) == (
        "black box 'no_zero_dose_for_the_old' raised ValueError on row 2 of X with its 1 "
        "first-ranked feature removed: no zero dose past 0.9"
    )


def test_a_model_that_raises_on_a_noisy_copy_names_it_and_its_row_of_x():
    # It said "on row 42 of the 60 rows queried", of an X of 3 rows.
    def no_low_dose(X):
        if np.any(X[:, 0] < 0.1):
            raise ValueError("no dose below 0.1")
        return np.tile([0.25, 0.75], (len(X), 1))

    box = BlackBox.from_callable(no_low_dose, n_classes=2)
    X = np.full((3, 5), 0.5)
    X[2, 0] = 0.13  # only some of row 2's noisy copies go below
    rng = np.random.default_rng(0)
    noise = rng.uniform(-0.05, 0.05, size=(3, 20, 5))
    first = np.flatnonzero(X[2, 0] + noise[2, :, 0] < 0.1)[0]
    assert first > 0
    explainer = Occlusion(box, window=1, fill="zero")
    with pytest.raises(BlackBoxError) as raised:
        explanation_sensitivity(explainer, X, radius=0.05, n_samples=20, random_state=0)
    assert str(raised.value) == (
        f"black box 'no_low_dose' raised ValueError on perturbation {first} of 20 of row 2 "
        "of X: no dose below 0.1"
    )


@pytest.mark.parametrize(
    ("spared_calls", "radius", "place"),
    [
        (0, 0.05, r"row 1 of the 6 rows queried"),  # the classes of X's own rows
        # Noise that leaves petal length be: every noisy copy of row 1 raises.
        (1, [0.05, 0.05, 0.0, 0.05], r"perturbation 0 of 20 of row 1 of X"),
        # The noisy copies are answered; the explainer's occlusions of X raise.
        (2, 0.05, r"perturbation \d+ of 5 of row 1 of X"),
    ],
    ids=["classes", "noisy-copy", "explanation"],
)
def test_sensitivity_names_a_dataframes_row_the_model_raises_on_by_its_label(
    spared_calls, radius, place
):
    # It said "on row 1 of the 6 rows queried" and "on perturbation 0 of 20 of row 1 of
    # X" alone, where predict_proba and the local explainers add the row's label: row 1
    # of a split is not X.loc[1].
    box, X = iris_refusing_a_petal_of_4(spared_calls)
    explainer = Occlusion(box, window=1, fill="zero")
    with pytest.raises(BlackBoxError) as raised:
        explanation_sensitivity(
            explainer, X, radius=radius, n_samples=20, n_boot=10, random_state=0
        )
    message = str(raised.value)
    expected = (
        rf"black box 'refuses_a_petal_of_4' raised ValueError on {place}, "
        r"row X\.loc\['flower-62'\]: petal length 4\.0"
    )
    assert re.fullmatch(expected, message), message


def _first_kept_copy(box, X, radius, n_samples, failing, seed=0):
    """``(row, draw)``: the first noisy copy that explanation_sensitivity draws
    (``random_state=seed``) which keeps its row's class and on which ``failing(noisy)``,
    of the copies of shape ``(n, n_samples, d)``, holds."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-np.asarray(radius), radius, size=(len(X), n_samples, X.shape[1]))
    noisy = X[:, None, :] + noise.astype(X.dtype)
    classes = box.predict(X)
    kept = box.predict(noisy.reshape(-1, X.shape[1])).reshape(len(X), n_samples)
    found = failing(noisy) & (kept == classes[:, None])
    row, draw = np.argwhere(found)[0]
    return int(row), int(draw)


def test_sensitivity_names_the_noisy_copy_a_gradient_is_undefined_on():
    # It said "values contains NaN (first at index (60, 4))": the copy's place among the
    # copies kept, of an X of 6 rows, and no class.
    box, X_test = digits_gradient_undefined_below(0.4)
    X = X_test[:6]  # pixel 4 is above 0.4 in every row: X itself is explained
    row, draw = _first_kept_copy(box, X, 0.1, 20, lambda noisy: noisy[..., 4] <= 0.4, seed=3)
    assert row == 3 and draw > 0  # row 3's pixel 4 is 0.4375; copies of the others stay above
    with pytest.raises(ValueError) as raised:
        explanation_sensitivity(Saliency(box), X, radius=0.1, n_samples=20, random_state=3)
    target = box.predict(X[3:4])[0]
    assert str(raised.value) == (
        f"Saliency produced non-finite attributions on perturbation {draw} of 20 of row 3 "
        f"of X, target {target}: NaN at feature 4; the model's gradient overflowed or is "
        "undefined at this input"
    )


@pytest.mark.parametrize("frame", [True, False], ids=["dataframe", "array"])
def test_sensitivity_names_the_noisy_copy_an_explainer_query_raises_on(frame):
    # It said "on perturbation 0 of 5 of row 20 of X", of an X of 6 rows: the 20th of
    # the copies kept, as the explainer numbered them. The classes of X, its copies and
    # its explanation are answered; the copies' occlusions raise.
    radius = [0.05, 0.05, 0.0, 0.05]  # every copy of row 1 keeps its petal length of 4
    box, X = iris_refusing_a_petal_of_4(spared_calls=10**9)  # it never raises
    row, draw = _first_kept_copy(box, X.to_numpy(), radius, 20, lambda noisy: noisy[..., 2] == 4.0)
    assert row == 1
    box, X = iris_refusing_a_petal_of_4(spared_calls=3)
    with pytest.raises(BlackBoxError) as raised:
        explanation_sensitivity(
            Occlusion(box, window=1, fill="zero"),
            X if frame else X.to_numpy(),
            radius=radius,
            n_samples=20,
            n_boot=10,
            random_state=0,
        )
    label = ", row X.loc['flower-62']" if frame else ""
    assert str(raised.value) == (
        "black box 'refuses_a_petal_of_4' raised ValueError on perturbation 0 of 5 of "
        f"perturbation {draw} of 20 of row 1 of X{label}: petal length 4.0"
    )


def test_the_docstrings_adapter_measures_dmm_mens_local_explanations(monkeypatch):
    # DMM-MEN's explain_local takes the black box as an argument, so it could be
    # measured only through a class written in a test (below): the docstring's
    # Examples bind it with functools.partial, and run as written.
    import doctest

    from unboxed.surrogates import DMMMEN

    calls = []
    explain_local = DMMMEN.explain_local

    def recorded(self, X, **kwargs):
        explained = explain_local(self, X, **kwargs)
        calls.append((np.array(X), np.array(kwargs["target"]), explained.values))
        return explained

    monkeypatch.setattr(DMMMEN, "explain_local", recorded)
    (example,) = doctest.DocTestFinder().find(explanation_sensitivity, globs={})
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    found = runner.run(example, clear_globs=False)
    assert found.attempted > 0 and found.failed == 0, found
    explainer, result = example.globs["explainer"], example.globs["result"]
    assert explainer.explain.func.__self__ is example.globs["dmm"]  # explain_local itself
    # The copies kept are the black box's to choose, whatever the explainer.
    occlusion = Occlusion(explainer.blackbox, verbose=False)
    X = example.globs["X"][::50]
    by_occlusion = explanation_sensitivity(occlusion, X, radius=0.1, n_samples=4, random_state=0)
    assert np.array_equal(result.kept, by_occlusion.kept)
    # k and kept, all the Examples print, do not depend on the explainer. The drops
    # are DMM-MEN's: explain_local explained X's rows, then their noisy copies (drawn
    # as explanation_sensitivity draws them; every one kept its class), each for its
    # row's class, and the figures are its top-2 sets' overlaps, by hand. Occlusion's
    # top sets never move here; DMM-MEN's move on row 100.
    noisy = X[:, None, :] + np.random.default_rng(0).uniform(-0.1, 0.1, size=(3, 4, 4))
    labels = explainer.blackbox.predict(X)
    (rows, of_rows, top), (copies, of_copies, moved) = calls
    np.testing.assert_array_equal(rows, X)
    np.testing.assert_array_equal(copies, noisy.reshape(12, 4))
    np.testing.assert_array_equal(of_rows, labels)
    np.testing.assert_array_equal(of_copies, np.repeat(labels, 4))
    both = top_k_mask(moved, 2) & np.repeat(top_k_mask(top, 2), 4, axis=0)
    drops = 1 - both.sum(axis=1).reshape(3, 4) / 2
    assert result.mean_drop.mean == pytest.approx(drops.mean(axis=1).mean(), abs=1e-12)
    assert result.max_drop == drops.max() > by_occlusion.max_drop


def test_sensitivity_names_the_noisy_copy_dmm_mens_local_fit_raises_on():
    # DMM-MEN's explain_local did not hear naming_rows: the copy was "row 20 of X", its
    # place among the copies kept, of an X of 6 rows.
    from unboxed.surrogates import DMMMEN

    radius = [0.05, 0.05, 0.0, 0.05]  # every copy of row 1 keeps its petal length of 4
    box, X = iris_refusing_a_petal_of_4(spared_calls=10**9)  # it never raises
    row, draw = _first_kept_copy(box, X.to_numpy(), radius, 20, lambda noisy: noisy[..., 2] == 4.0)
    assert row == 1
    box, X = iris_refusing_a_petal_of_4(spared_calls=3)  # X, its copies, its explanation
    dmm = DMMMEN(n_iter=8, n_chains=1, random_state=0, verbose=False)

    class DmmLocal:
        blackbox = box

        def explain(self, rows, *, target):
            return dmm.explain_local(rows, blackbox=box, target=target, n_samples=20, n_score=0)

    with pytest.raises(BlackBoxError) as raised:
        explanation_sensitivity(
            DmmLocal(), X, radius=radius, n_samples=20, n_boot=10, random_state=0
        )
    message = str(raised.value)
    expected = (
        r"black box 'refuses_a_petal_of_4' raised ValueError on perturbation \d+ of 20 of "
        rf"perturbation {draw} of 20 of row 1 of X, row X\.loc\['flower-62'\]: petal "
        r"length 4\.0"
    )
    assert re.fullmatch(expected, message), message


def test_sensitivity_of_a_dataframe_is_that_of_its_array():
    # The explainer is given the DataFrame itself (so that it names its rows by their
    # labels): the figures are those of its numbers.
    box, X = iris_refusing_a_petal_of_4(spared_calls=10**9)  # it never raises
    explainer = Lime(box, n_samples=40, fill=0.0, random_state=0)

    def sensitivity(rows):
        result = explanation_sensitivity(explainer, rows, radius=0.1, n_samples=5, random_state=0)
        return [result.mean_drop.mean, result.worst_drop.mean, result.max_drop, *result.kept]

    assert sensitivity(X) == sensitivity(X.to_numpy())


def test_a_max_k_beyond_the_ranking_is_refused_before_the_removal_steps():
    # A ranking of 2 features failed only at "k=3 exceeds the 2 ranked features",
    # after 2 steps of queries and naming a k never passed; the default max_k (all 4
    # of iris's features) failed so on a ranking array shorter than that.
    X, y = load_iris(return_X_y=True)
    bb = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    rows = X[::15]
    top2 = np.tile([2, 3], (len(rows), 1))
    curve = deletion_curve(bb, rows, top2, n_boot=10, random_state=0)
    assert curve.meta["max_k"] == 2 and curve.drop.shape == (len(rows), 3)
    bb.n_queries = 0
    with pytest.raises(ValueError, match=r"^max_k=3 exceeds the 2 ranked features$"):
        deletion_curve(bb, rows, top2, max_k=3, n_boot=10, random_state=0)
    with pytest.raises(ValueError, match=r"^max_k=3 exceeds the number of segments \(2\)$"):
        halves = np.array([0, 0, 1, 1])  # a ranking array names the segments' ids
        deletion_curve(bb, rows, np.array([1, 0]), max_k=3, segments=halves, n_boot=10)
    assert bb.n_queries == 0  # refused before the query of the rows' own probabilities


def test_a_ragged_ranking_list_is_refused_by_name():
    # Rows of different lengths failed in numpy's np.shape: "setting an array element
    # with a sequence. The requested array has an inhomogeneous shape after 1
    # dimensions", naming neither the ranking nor its rows.
    X, y = load_iris(return_X_y=True)
    bb = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    rows = X[::50]
    ragged = [[2, 3, 0], [3, 2], [2, 3, 1]]
    with pytest.raises(ValueError) as raised:
        deletion_curve(bb, rows, ragged, n_boot=10)
    assert str(raised.value) == (
        "a ranking array must list as many features on every row, one order of feature "
        "indices per row of X: row 0 lists 3 and row 1 lists 2; cut every row to the "
        "shortest, or pass the scores as an Attribution"
    )
    assert bb.n_queries == 0  # refused before any query
    cut = deletion_curve(bb, rows, [row[:2] for row in ragged], n_boot=10, random_state=0)
    assert cut.meta["max_k"] == 2


def _iris_box_that_must_not_be_queried():
    X, _ = load_iris(return_X_y=True)

    def refuse(rows):
        raise AssertionError(f"the model was queried on {len(rows)} rows")

    return X, BlackBox.from_callable(refuse, n_classes=3, input_shape=(4,))


@pytest.mark.parametrize(
    ("ranking", "max_k", "target", "segments", "message"),
    [
        ([[2, 3, 0], [3, 2]] * 75, 1, None, None, "as many features on every row"),
        (np.tile(np.arange(4), (10, 1)), 1, None, None, "has 10 rows but X has 150"),
        (np.array([0, 7]), 1, None, None, r"must lie in \[0, 4\), got 7"),
        (np.array([2, 0]), 3, None, None, "max_k=3 exceeds the 2 ranked features"),
        (FeatureImportance(np.ones((3, 5))), 1, None, None, "covers 5 features but X has 4"),
        (FeatureImportance(np.ones((2, 4))), 1, 2, None, "ranks 2 classes, but class 2 is needed"),
        (np.array([1, 0]), 3, None, np.array([0, 0, 1, 1]), r"number of segments \(2\)"),
        (np.array([1, 5]), 1, None, np.array([0, 0, 1, 1]), r"must lie in \[0, 2\), got 5"),
    ],
    ids=["ragged", "rows", "index", "max_k", "width", "class", "segments", "segment_id"],
)
def test_deletion_curve_refuses_a_bad_ranking_before_the_model_is_queried(
    ranking, max_k, target, segments, message
):
    # With max_k given, each was refused only after a query over every row of X (the
    # probabilities the drops start from): minutes of a large model for a typo.
    X, box = _iris_box_that_must_not_be_queried()
    with pytest.raises((ValueError, TypeError), match=message):
        deletion_curve(box, X, ranking, max_k=max_k, target=target, segments=segments)
    assert box.n_queries == 0


def test_deletion_curve_checks_a_per_class_importance_for_the_predicted_classes():
    # Without target the classes are the predictions: a per-class importance that
    # lacks one of them is refused once they are known, before any removal step.
    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    with pytest.raises(ValueError, match="ranks 2 classes, but class 2 is needed"):
        deletion_curve(box, X, FeatureImportance(np.ones((2, 4))), max_k=1)
    assert box.n_queries == len(X)  # X's own probabilities, no removed feature


@pytest.mark.parametrize(
    ("spared_calls", "place"),
    [
        (0, r"row 1 of the 6 rows queried, row X\.loc\['flower-62'\]"),  # X's own
        # X was answered; removing sepal length first keeps row 1's petal length.
        (1, r"row 1 of X, row X\.loc\['flower-62'\] with its 1 first-ranked feature removed"),
    ],
    ids=["base", "removed"],
)
def test_deletion_curve_names_a_dataframes_row_the_model_raises_on_by_its_label(
    spared_calls, place
):
    # It said "on row 1 of the 6 rows queried" and "on row 1 of X with its 1
    # first-ranked feature removed" alone, where predict_proba adds the row's label:
    # row 1 of a split is not X.loc[1].
    box, X = iris_refusing_a_petal_of_4(spared_calls)
    with pytest.raises(BlackBoxError) as raised:
        deletion_curve(box, X, np.arange(4), max_k=2, n_boot=10)
    message = str(raised.value)
    expected = rf"black box 'refuses_a_petal_of_4' raised ValueError on {place}: petal length 4\.0"
    assert re.fullmatch(expected, message), message


@pytest.mark.parametrize("radius", [np.asarray(0.05), np.float32(0.05)], ids=["0d", "float32"])
def test_sensitivity_takes_a_numpy_number_for_its_radius(radius):
    # np.asarray(0.05) was refused: "radius must be a finite number > 0, got
    # array(0.05)". It is the number 0.05 (np.float32(0.05) as a float32 reads it).
    box, X = iris_refusing_a_petal_of_4(spared_calls=10**9)  # it never raises
    explainer = Occlusion(box, window=1, fill="zero")

    def sensitivity(radius, n_samples):
        result = explanation_sensitivity(
            explainer, X, radius=radius, n_samples=n_samples, n_boot=10, random_state=0
        )
        return [result.radius, result.mean_drop.mean, result.max_drop, *result.kept]

    expected = sensitivity(float(radius), 5)
    assert sensitivity(radius, np.asarray(5)) == expected
    assert type(expected[0]) is float


def test_a_bad_n_boot_or_fill_is_refused_before_any_query():
    # n_boot=0 was refused by the bootstrap of the result, after every removal step
    # (every explanation of every noisy copy): "n_boot must be an int >= 1, got 0".
    X, box = _iris_box_that_must_not_be_queried()
    # A fill of other width was refused only after the query of X's own rows.
    with pytest.raises(ValueError, match=r"^fill must have shape \(4,\), got \(3,\)$"):
        deletion_curve(box, X, np.arange(4), max_k=1, fill=np.zeros(3))
    for n_boot in (0, 2.5, True):
        with pytest.raises(ValueError, match=r"^n_boot must be an int >= 1, got "):
            deletion_curve(box, X, np.arange(4), max_k=1, n_boot=n_boot)
        with pytest.raises(ValueError, match=r"^n_boot must be an int >= 1, got "):
            explanation_sensitivity(Occlusion(box, window=1), X, radius=0.1, n_boot=n_boot)
    assert box.n_queries == 0
