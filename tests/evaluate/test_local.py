"""Deletion curves (AOPC) and explanation sensitivity."""

import numpy as np
import pytest
import torch

from unboxed import Attribution, BlackBox
from unboxed.evaluate import deletion_curve, explanation_sensitivity
from unboxed.local import Lime, Saliency

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


def _linear_torch_box(n_features=20):
    torch.manual_seed(0)
    model = torch.nn.Linear(n_features, 2)
    return BlackBox.from_torch(model, input_shape=(n_features,))


def test_saliency_of_a_linear_model_does_not_move(planted):
    # |d logit / dx| of a linear model is its weight vector wherever x is.
    result = explanation_sensitivity(
        Saliency(_linear_torch_box()), planted.X_test[:30], radius=0.05, k=4, random_state=0
    )
    assert result.mean_drop.mean == 0 and result.max_drop == 0
    assert result.kept.sum() > 0


def test_noisy_explainer_moves_more_than_a_stable_one(digits, digits_blackbox):
    X = digits.X_test[:12]
    stable = explanation_sensitivity(
        Saliency(digits_blackbox), X, radius=0.02, n_samples=5, k=8, random_state=0
    )
    shaky = explanation_sensitivity(
        Lime(digits_blackbox, segmenter="pixels", n_samples=20, random_state=0),
        X,
        radius=0.02,
        n_samples=5,
        k=8,
        random_state=0,
    )
    assert shaky.mean_drop.mean > stable.mean_drop.mean
    assert 0 <= stable.mean_drop.mean <= stable.worst_drop.mean <= stable.max_drop <= 1


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
