"""The engine's pure parts against references: sklearn's Ridge and Lasso, brute force."""

import numpy as np
import pytest
from scipy import special
from sklearn.linear_model import Lasso, Ridge

from unboxed.local._engine import (
    bernoulli_masks,
    constrained_wls,
    exponential_kernel,
    one_off_masks,
    shapley_kernel,
    shapley_masks,
    top_k_active,
    weighted_lasso,
    weighted_r2,
    weighted_ridge,
)


def _problems(rng, r=3, s=60, m=6):
    Z = (rng.random((r, s, m)) < 0.5).astype(float)
    y = Z @ rng.normal(size=m) + 0.3 + 0.1 * rng.normal(size=(r, s))
    w = rng.uniform(0.1, 1.0, size=(r, s))
    return Z, y, w


@pytest.mark.parametrize("alpha", [0.0, 1.0, 5.0])
def test_weighted_ridge_matches_sklearn(rng, alpha):
    Z, y, w = _problems(rng)
    active = np.ones((3, 6), dtype=bool)
    coef, intercept = weighted_ridge(Z, y, w, active, alpha)
    for i in range(3):
        ref = Ridge(alpha=alpha).fit(Z[i], y[i], sample_weight=w[i])
        np.testing.assert_allclose(coef[i], ref.coef_, atol=1e-8)
        np.testing.assert_allclose(intercept[i], ref.intercept_, atol=1e-8)
        r2 = ref.score(Z[i], y[i], sample_weight=w[i])
        np.testing.assert_allclose(weighted_r2(Z, y, w, coef, intercept)[i], r2, atol=1e-8)


def test_inactive_columns_are_zero_and_ignored(rng):
    Z, y, w = _problems(rng)
    active = np.ones((3, 6), dtype=bool)
    active[:, 4:] = False
    coef, _intercept = weighted_ridge(Z, y, w, active, 1.0)
    assert np.all(coef[:, 4:] == 0)
    ref = Ridge(alpha=1.0).fit(Z[0, :, :4], y[0], sample_weight=w[0])
    np.testing.assert_allclose(coef[0, :4], ref.coef_, atol=1e-8)


def test_weighted_lasso_matches_sklearn(rng):
    Z, y, w = _problems(rng)
    active = np.ones((3, 6), dtype=bool)
    coef, intercept = weighted_lasso(Z, y, w, active, 0.05, n_iter=3000)
    for i in range(3):
        # sklearn's Lasso with sample_weight rescales the weights to sum to n_samples.
        ref = Lasso(alpha=0.05, tol=1e-12, max_iter=100000).fit(
            Z[i], y[i], sample_weight=w[i] * len(w[i]) / w[i].sum()
        )
        np.testing.assert_allclose(coef[i], ref.coef_, atol=1e-6)
        np.testing.assert_allclose(intercept[i], ref.intercept_, atol=1e-6)


def test_constrained_wls_meets_the_constraint_and_is_optimal(rng):
    Z, y, w = _problems(rng)
    active = np.ones((3, 6), dtype=bool)
    total = np.array([1.0, -2.0, 0.5])
    phi = constrained_wls(Z, y, w, active, total)
    np.testing.assert_allclose(phi.sum(axis=1), total, atol=1e-10)
    for i in range(3):  # brute force: eliminate the last coefficient, then plain WLS
        A = Z[i, :, :5] - Z[i, :, 5:]
        b = y[i] - Z[i, :, 5] * total[i]
        sw = np.sqrt(w[i])
        head = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)[0]
        np.testing.assert_allclose(phi[i], [*head, total[i] - head.sum()], atol=1e-8)


def test_samplers_put_the_instance_first_and_respect_padding(rng):
    valid = np.arange(8) < np.array([[8], [6]])  # 2^6 coalitions: too many to list in 42
    for sampler in (bernoulli_masks, shapley_masks, one_off_masks):
        masks = sampler(valid, 41, rng)
        assert masks.dtype == bool
        assert np.array_equal(masks[:, 0], valid)
        assert not masks[1, :, 6:].any()
    shap = shapley_masks(valid, 42, rng)
    assert not shap[:, 1].any()  # the baseline
    complements = shap[:, 2::2] ^ shap[:, 3::2]  # samples come in complementary pairs
    assert np.array_equal(complements, np.broadcast_to(valid[:, None], (2, 20, 8)))


def test_shapley_sampler_follows_the_kernel(rng):
    m = 16  # 2^16 coalitions: more than the budget, so they are drawn
    valid = np.ones((1, m), dtype=bool)
    masks = shapley_masks(valid, 40001, rng)[0, 2:]
    sizes = np.bincount(masks.sum(axis=1), minlength=m + 1)[1:m] / len(masks)
    expected = np.array([1 / (s * (m - s)) for s in range(1, m)])
    np.testing.assert_allclose(sizes, expected / expected.sum(), atol=0.01)


def test_shapley_sampler_lists_every_coalition_when_the_budget_allows(rng):
    valid = np.arange(6) < np.array([[6], [4], [3]])  # 64 > 40: drawn; 16 and 8: listed
    masks = shapley_masks(valid, 40, rng)
    weights = shapley_kernel(masks, valid)
    assert np.all(weights[0] == 1)  # drawn from the kernel already
    for row, m in ((1, 4), (2, 3)):
        coalitions = masks[row, 2 : 2**m][:, :m]
        codes = coalitions @ (1 << np.arange(m))
        assert sorted(codes.tolist()) == list(range(1, 2**m - 1))  # each once
        assert np.all(masks[row, 2**m :] == valid[row])  # spare samples: all on...
        assert np.all(weights[row, 2**m :] == 0)  # ...weighing nothing
        s = coalitions.sum(axis=1)
        np.testing.assert_allclose(
            weights[row, 2 : 2**m], (m - 1) / (special.comb(m, s) * s * (m - s))
        )


def test_exponential_kernel_is_one_at_the_instance_and_decreases():
    valid = np.ones((1, 10), dtype=bool)
    masks = np.arange(10)[None, None, :] >= np.arange(10)[None, :, None]  # 10..1 on
    weights = exponential_kernel(0.25)(masks, valid)[0]
    assert weights[0] == pytest.approx(1.0)
    assert np.all(np.diff(weights) < 0)


def test_top_k_active_breaks_ties_to_the_lower_index():
    coef = np.array([[0.5, -0.5, 0.1, 0.9]])
    active = np.array([[True, True, True, False]])
    assert top_k_active(coef, active, 2).tolist() == [[True, True, False, False]]


def test_exponential_kernel_is_sqrt_exp_of_the_cosine_distance():
    m, width = 16, 0.25
    valid = np.ones((1, m), dtype=bool)
    masks = np.arange(m)[None, None, :] < np.array([16, 12, 8, 4, 1])[None, :, None]
    on = masks.sum(axis=2)[0]
    d = 1 - on / np.sqrt(on * m)  # cosine distance between z and the all-on vector
    expected = np.sqrt(np.exp(-(d**2) / width**2))
    np.testing.assert_allclose(exponential_kernel(width)(masks, valid)[0], expected, rtol=1e-12)
