"""The engine's pure parts against references: sklearn's Ridge and Lasso, brute force."""

import numpy as np
import pytest
from scipy import special
from sklearn.linear_model import Lasso, Ridge
from sklearn.metrics import r2_score

from unboxed import BlackBox
from unboxed.local import _engine
from unboxed.local._engine import (
    Engine,
    _largest_eigenvalue,
    bernoulli_masks,
    centred,
    constrained_solve,
    constrained_wls,
    cross_validated_r2,
    effective_sample_size,
    exponential_kernel,
    fold_labels,
    lasso_solve,
    one_off_masks,
    r2_of_predictions,
    ridge_solve,
    shapley_kernel,
    shapley_masks,
    top_k_active,
    uniform_kernel,
    weighted_lasso,
    weighted_moments,
    weighted_r2,
    weighted_ridge,
)
from unboxed.local._segments import Partition

from . import _refit


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


def test_a_fit_that_weighs_one_sample_alone_has_zero_slopes(rng):
    """Without alpha the centred gram and its trace (the jitter's scale) were exactly
    0, and the solve raised numpy's LinAlgError("Singular matrix")."""
    Z, y, w = _problems(rng)
    w = np.zeros_like(w)
    w[:, 0] = 1.0
    active = np.ones((3, 6), dtype=bool)
    coef, intercept = weighted_ridge(Z, y, w, active, 0.0)
    np.testing.assert_array_equal(coef, 0.0)
    np.testing.assert_allclose(intercept, y[:, 0])
    np.testing.assert_array_equal(weighted_r2(Z, y, w, coef, intercept), 1.0)
    coef, intercept = weighted_lasso(Z, y, w, active, 0.0)
    np.testing.assert_array_equal(coef, 0.0)
    np.testing.assert_allclose(intercept, y[:, 0])


def test_constrained_wls_without_weight_splits_the_total_equally(rng):
    """No weighed coalition: the gram and the jitter's scale were 0 and the KKT system
    singular; the minimum-norm answer is the equal split (as alpha's limit)."""
    Z, y, _ = _problems(rng)
    active = np.ones((3, 6), dtype=bool)
    total = np.array([0.5, -1.0, 0.0])
    phi = constrained_wls(Z, y, np.zeros_like(y), active, total)
    np.testing.assert_allclose(phi, np.broadcast_to(total[:, None] / 6, (3, 6)))


@pytest.mark.parametrize("alpha", [0.0, 1.0])  # alpha = 0: the inactive block must stay solvable
def test_inactive_columns_are_zero_and_ignored(rng, alpha):
    Z, y, w = _problems(rng)
    active = np.ones((3, 6), dtype=bool)
    active[:, 4:] = False
    coef, _intercept = weighted_ridge(Z, y, w, active, alpha)
    assert np.all(coef[:, 4:] == 0)
    ref = Ridge(alpha=alpha).fit(Z[0, :, :4], y[0], sample_weight=w[0])
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


def test_lasso_solve_with_tol_stops_each_row_near_the_optimum_by_itself(monkeypatch):
    # The folds' fits of LIME's cross-validation stop a row once its step moves it by
    # 1e-12 of its size: near the optimum (5000 steps), in far fewer steps, and where
    # a row stops is its own (alone, it stops alike, bit for bit).
    Z, y, w = _local_problems(np.random.default_rng(4), 6, 300, 10)
    active = np.ones((6, 10), dtype=bool)
    active[2, 7:] = False
    Z[2, :, 7:] = 0.0
    problem = centred(weighted_moments(Z, y, w))
    steps = []
    einsum = np.einsum

    def counting(subscripts, *operands, **kwargs):
        steps.append(subscripts)
        return einsum(subscripts, *operands, **kwargs)

    converged = lasso_solve(problem, active, 0.01, n_iter=5000)[:2]
    monkeypatch.setattr(np, "einsum", counting)
    coef, intercept, _ = lasso_solve(problem, active, 0.01, n_iter=5000, tol=1e-12)
    monkeypatch.undo()
    assert steps.count("rmk,rk->rm") < 50 + 500  # the power iteration's 50, then the steps
    np.testing.assert_allclose(coef, converged[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(intercept, converged[1], rtol=0, atol=1e-10)
    assert np.count_nonzero(coef[active] == 0) > 5  # a lasso's zeros, kept exactly
    for row in range(6):
        alone = centred(weighted_moments(Z[row : row + 1], y[row : row + 1], w[row : row + 1]))
        own = lasso_solve(alone, active[row : row + 1], 0.01, n_iter=5000, tol=1e-12)
        np.testing.assert_array_equal(own[0][0], coef[row])
        np.testing.assert_array_equal(own[1][0], intercept[row])


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
    m = 16  # 2^16 coalitions: more than the budget; sizes 1-5 and 11-15 listed, the rest drawn
    valid = np.ones((1, m), dtype=bool)
    masks = shapley_masks(valid, 40001, rng)
    weights = shapley_kernel(masks, valid)[0, 2:]
    sizes = masks[0, 2:].sum(axis=1)
    listed = (sizes <= 5) | (sizes >= 11)
    codes = masks[0, 2:][listed] @ (1 << np.arange(m))
    assert len(codes) == 2 * sum(special.comb(m, s, exact=True) for s in range(1, 6))
    assert len(set(codes.tolist())) == len(codes)  # each listed coalition once
    # The weight of each size is its share of the kernel: exactly where listed, as the
    # draws' frequencies otherwise.
    share = np.bincount(sizes, weights=weights, minlength=m + 1)[1:m] / weights.sum()
    expected = np.array([1 / (s * (m - s)) for s in range(1, m)])
    np.testing.assert_allclose(share, expected / expected.sum(), atol=0.005)
    np.testing.assert_allclose(share[:5], (expected / expected.sum())[:5], rtol=1e-12)
    assert weights.sum() == pytest.approx(40001 - 2, rel=1e-12)


def test_shapley_sampler_lists_every_coalition_when_the_budget_allows(rng):
    valid = np.arange(6) < np.array([[6], [4], [3]])  # 64 > 40: sizes 1, 5 listed; 16, 8: all
    masks = shapley_masks(valid, 40, rng)
    weights = shapley_kernel(masks, valid)
    sizes = masks[0, 2:].sum(axis=1)
    assert sorted(sizes[:12].tolist()) == [1] * 6 + [5] * 6
    assert np.all(np.isin(sizes[12:], [2, 3, 4]))
    assert np.all(weights[0, 2:] > 0) and weights[0, 2:].sum() == pytest.approx(38)
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


def _game(z):
    """A game of 10 players, additive with a pair, a triple and a saturating part."""
    z = z.astype(float)
    return (
        z @ np.linspace(-1, 1, 10)
        + 2 * z[..., 0] * z[..., 1]
        - 1.5 * z[..., 2] * z[..., 3] * z[..., 4]
        + np.tanh(z[..., 5:].sum(axis=-1) - 2)
    )


def _exact_shapley(game, m):
    """Shapley values from all 2^m coalitions."""
    codes = np.arange(2**m)
    coalitions = (codes[:, None] >> np.arange(m)) & 1 == 1
    v, size = game(coalitions), coalitions.sum(axis=1)
    phi = np.zeros(m)
    for i in range(m):
        out = ~coalitions[:, i]
        weight = 1 / (m * special.comb(m - 1, size[out]))
        phi[i] = weight @ (v[codes[out] | (1 << i)] - v[out])
    return phi


def _shapley_estimates(game, m, n_samples, reps, seed):
    """KernelSHAP's estimate of ``reps`` independent draws, shape (reps, m)."""
    valid = np.ones((reps, m), dtype=bool)
    masks = shapley_masks(valid, n_samples, np.random.default_rng(seed))
    w, y = shapley_kernel(masks, valid), game(masks)
    base = y[:, 1:2]
    return constrained_wls(masks[:, 2:], y[:, 2:] - base, w[:, 2:], valid, y[:, 0] - base[:, 0])


def _draw_every_coalition(counts, n_samples):
    """listed_sizes before sizes were listed: all of them or none."""
    return np.where(_engine._all_fit(counts, n_samples), counts // 2, 0)


def test_shapley_estimate_is_centred_on_the_exact_values_and_beats_drawing_all(monkeypatch):
    exact = _exact_shapley(_game, 10)
    assert exact.sum() == pytest.approx(_game(np.ones(10)) - _game(np.zeros(10)))
    # 64 samples of 10 players: sizes 1 and 9 listed (20 coalitions), 42 draws. The
    # mean of 200 estimates is within 2% of the exact values (the ratio bias of a
    # regression on few draws: 7% at 32 samples; drawn alone, 1% at 64 and 3% at 32).
    new = {n: _shapley_estimates(_game, 10, n, 200, seed=1) for n in (32, 64)}
    bias = np.linalg.norm(new[64].mean(axis=0) - exact) / np.linalg.norm(exact)
    assert bias < 0.03

    def error(values):
        return np.mean(np.linalg.norm(values - exact, axis=1)) / np.linalg.norm(exact)

    assert error(new[32]) < 0.25  # drawn alone: 0.30
    monkeypatch.setattr(_engine, "listed_sizes", _draw_every_coalition)
    old = {n: _shapley_estimates(_game, 10, n, 200, seed=1) for n in (32, 64)}
    # Measured: 0.20 against 0.30 at 32 samples, 0.13 against 0.145 at 64. (0.36 and
    # 0.18 drawn alone while the draws could repeat a pair: _distinct_pairs.)
    assert error(old[32]) > 0.27
    assert error(new[64]) < 0.95 * error(old[64])


def test_shapley_draws_repeat_no_coalition_and_spend_the_budget_better():
    # 256 samples of 10 players: sizes 1 and 9 listed, 234 draws, 90 of them on average
    # among the 90 coalitions of sizes 2 and 8. Drawn with repeats, about 43 samples
    # were coalitions already drawn, and the mean relative error of 200 estimates was
    # 0.054 (0.026 at 512); drawn again where they repeat, 0.040 (0.018).
    valid = np.ones((200, 10), dtype=bool)
    masks = shapley_masks(valid, 256, np.random.default_rng(1))
    codes = masks[:, 2:] @ (1 << np.arange(10))
    assert all(len(set(row.tolist())) == 254 for row in codes)
    exact = _exact_shapley(_game, 10)
    for n_samples, bound in ((256, 0.047), (512, 0.022)):
        values = _shapley_estimates(_game, 10, n_samples, 200, seed=1)
        error = np.mean(np.linalg.norm(values - exact, axis=1)) / np.linalg.norm(exact)
        assert error < bound


@pytest.mark.parametrize("void", [False, True])
def test_repeats_among_matches_a_sort_of_all_the_keys_round_after_round(void):
    # _distinct_pairs' rounds write some of the places that repeat (all of them, or those
    # left after the picked ones) and keep each key's first place, not sorting all the
    # keys again. A written place may take a key whose first place comes later, which
    # then repeats it: the case a key-to-place map gets wrong most easily.
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 40, 300).astype("<u8")
    if void:  # more than 64 components: keys are opaque bytes
        keys = np.repeat(keys.view(np.uint8).reshape(-1, 8), 2, axis=1)
        keys = np.ascontiguousarray(keys).view(np.dtype((np.void, 16))).ravel()
    again, first_at = _engine._repeats(keys), {}
    displaced = 0
    for _ in range(30):
        written = again & (rng.random(again.size) < 0.7)
        fresh = rng.choice(keys, size=int(written.sum()))  # keys held elsewhere, or not
        was_first = ~again
        keys[written] = fresh
        again = _engine._repeats_among(keys, again, first_at)
        np.testing.assert_array_equal(again, _engine._repeats(keys))
        displaced += int((was_first & again).sum())
    assert displaced > 10


def test_shapley_draws_near_a_full_budget_pick_the_last_pairs_directly(monkeypatch):
    # 13 components at 8,191 samples (one short of enumerating): every pair is drawn.
    # Drawing the last missing pairs of a size again until new took 1,165 to 2,953
    # rounds a row at seeds 0-3, each over all 4,094 pairs (33 s a row at 15
    # components and 32,767 samples); picked among the pairs not drawn yet, 178 to 306.
    rounds = []

    def counted(keys, size):
        rounds[-1] += 1
        return smallest(keys, size)

    smallest = _engine._smallest
    monkeypatch.setattr(_engine, "_smallest", counted)
    for seed in range(4):
        rounds.append(0)
        masks = shapley_masks(np.ones((1, 13), dtype=bool), 8191, np.random.default_rng(seed))
        codes = masks[0, 2:] @ (1 << np.arange(13))
        assert len(set(codes.tolist())) == 8189  # no coalition twice
        assert set(codes.tolist()) <= set(range(1, 8191))
    assert max(rounds) < 500, rounds


def test_shapley_draws_stay_uniform_without_replacement_when_picked_directly(monkeypatch):
    # With NEARLY_FULL = 2 the missing pairs of a size more than half drawn are picked
    # directly: on 8 components at 200 samples, 655 times in 400 rows, about half the
    # pairs of sizes 3 and 4. Each size's pairs must still be drawn equally often (a
    # uniform draw without replacement), and none twice in a row.
    from scipy import stats

    monkeypatch.setattr(_engine, "NEARLY_FULL", 2)
    picks = []
    missing_pairs = _engine._missing_pairs
    monkeypatch.setattr(
        _engine, "_missing_pairs", lambda *args: picks.append(1) or missing_pairs(*args)
    )
    m = 8
    masks = shapley_masks(np.ones((400, m), dtype=bool), 200, np.random.default_rng(0))
    assert len(picks) > 400
    first = masks[:, 2::2]  # each pair's first coalition
    pair = first ^ first[..., :1]  # the pair's member without component 0
    code, size = pair @ (1 << np.arange(m)), first.sum(axis=2)
    for row in range(400):
        assert len(set(code[row].tolist())) == code.shape[1]
    for t in (3, 4):
        of_size = np.minimum(size, m - size) == t
        counts = np.bincount(code[of_size], minlength=2**m)
        members = (np.arange(2**m)[:, None] >> np.arange(m)) & 1
        sizes = members.sum(axis=1)
        pairs = ((sizes == t) | (sizes == m - t)) & (members[:, 0] == 0)
        assert counts[~pairs].sum() == 0
        assert stats.chisquare(counts[pairs]).pvalue > 0.01


def test_shapley_draws_picked_at_half_the_components_put_either_member_first(monkeypatch):
    # At m / 2 both members of a pair have the pair's size, and a draw at that size
    # holds component 0 half the time. Picked directly, the member without component 0
    # always came first: on 8 components at 200 samples with NEARLY_FULL = 2, 0.445 of
    # some 8,100 size-4 first members held it (10 standard errors below 1/2). The first
    # member is the one an odd budget keeps of its last pair.
    monkeypatch.setattr(_engine, "NEARLY_FULL", 2)
    m = 8
    masks = shapley_masks(np.ones((400, m), dtype=bool), 200, np.random.default_rng(0))
    first = masks[:, 2::2]  # each pair's first coalition (sizes 1 and 7 listed: 16)
    half = first[first.sum(axis=2) == m // 2]
    assert len(half) > 7000
    assert abs(half[:, 0].mean() - 0.5) < 3 * 0.5 / np.sqrt(len(half))


def test_shapley_weights_are_finite_and_sum_to_the_budget_with_padding():
    counts = np.array([30, 10, 7, 3, 1])  # listed sizes 1, 1, 1; all; all
    valid = np.arange(30) < counts[:, None]
    masks = shapley_masks(valid, 64, np.random.default_rng(7))
    np.testing.assert_array_equal(masks, shapley_masks(valid, 64, np.random.default_rng(7)))
    weights = shapley_kernel(masks, valid)
    assert np.all(np.isfinite(weights)) and np.all(weights >= 0)
    np.testing.assert_allclose(weights[:3, 2:].sum(axis=1), 62, rtol=1e-12)
    assert not (masks & ~valid[:, None, :]).any()  # nothing on outside a row's components
    for row, m in enumerate(counts[:3]):
        sizes = masks[row, 2:].sum(axis=1)
        assert sorted(sizes[: 2 * m].tolist()) == [1] * m + [m - 1] * m
        assert np.all((sizes[2 * m :] > 1) & (sizes[2 * m :] < m - 1))
        # A row's weights padded as they are alone.
        alone = shapley_kernel(masks[row : row + 1, :, :m], np.ones((1, m), dtype=bool))
        np.testing.assert_array_equal(weights[row], alone[0])
    # Three components, all listed: the kernel (m - 1) / (C(m, s) s (m - s)) is 1/3 for
    # each of the 6 coalitions, 0 for the spare samples.
    np.testing.assert_allclose(weights[3, 2:8], 1 / 3, rtol=1e-12)
    assert not weights[3, 8:].any()
    assert not weights[4].any()  # one component: no coalition to weigh
    np.testing.assert_array_equal(_engine.listed_sizes(counts, 64), [1, 1, 1, 1, 0])


def test_shapley_masks_and_weights_of_over_a_thousand_components_warn_of_no_overflow():
    # Past about 1,020 components C(m, s) overflows a float: listed_sizes warned
    # "overflow encountered in multiply" (or "in accumulate" at 1,024 components and
    # 1000 samples: a 32 x 32 image explained by its pixels) and shapley_kernel "in
    # multiply", errors under pytest. Such sizes never fit a budget.
    counts = np.array([1100, 1024, 400])
    np.testing.assert_array_equal(_engine.listed_sizes(counts, 1000), [0, 0, 1])
    np.testing.assert_array_equal(_engine.listed_sizes(counts, 5000), [1, 1, 1])
    valid = np.arange(1100) < counts[:, None]
    masks = shapley_masks(valid, 5000, np.random.default_rng(0))
    sizes = masks[:, 2:].sum(axis=2)
    for row, m in enumerate(counts):
        assert sorted(sizes[row, : 2 * m].tolist()) == [1] * m + [m - 1] * m
    weights = shapley_kernel(masks, valid)
    assert np.all(np.isfinite(weights)) and np.all(weights[:, 2:] > 0)
    np.testing.assert_allclose(weights[:, 2:].sum(axis=1), 4998, rtol=1e-12)


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


def test_weighted_ridge_with_equal_weights_matches_sklearn(rng):
    # Equal weights take a shortcut in _gram (scale the products, not the samples); a
    # constant weight c per row must still count as c, against the penalty.
    Z, y, _ = _problems(rng)
    w = np.broadcast_to(np.array([[3.0], [0.5], [1.0]]), y.shape).copy()
    active = np.ones((3, 6), dtype=bool)
    coef, intercept = weighted_ridge(Z, y, w, active, 2.0)
    for i in range(3):
        ref = Ridge(alpha=2.0).fit(Z[i], y[i], sample_weight=w[i])
        np.testing.assert_allclose(coef[i], ref.coef_, atol=1e-8)
        np.testing.assert_allclose(intercept[i], ref.intercept_, atol=1e-8)


def test_weighted_ridge_without_penalty_takes_the_minimum_norm_fit_of_coincident_columns(rng):
    # Few samples and many components make columns coincide (LIME with alpha=0); the
    # jitter must give the limit of ridge as alpha -> 0, the minimum-norm solution.
    Z, y, w = _problems(rng, r=2)
    Z[:, :, 1] = Z[:, :, 0]
    active = np.ones((2, 6), dtype=bool)
    coef, intercept = weighted_ridge(Z, y, w, active, 0.0)
    for i in range(2):
        mean_z, mean_y = w[i] @ Z[i] / w[i].sum(), w[i] @ y[i] / w[i].sum()
        sw = np.sqrt(w[i])[:, None]
        ref = np.linalg.lstsq((Z[i] - mean_z) * sw, (y[i] - mean_y) * sw[:, 0], rcond=None)[0]
        np.testing.assert_allclose(coef[i, 2:], ref[2:], atol=1e-6)
        # The twins share their effect (about evenly: rounding breaks the exact tie).
        np.testing.assert_allclose(coef[i, :2].sum(), ref[:2].sum(), atol=1e-6)
        np.testing.assert_allclose(coef[i, :2], ref[:2], atol=1e-3)
        np.testing.assert_allclose(intercept[i], mean_y - mean_z @ ref, atol=1e-6)


def test_weighted_r2_of_a_constant_response_fitted_exactly_is_one(rng):
    Z, _, w = _problems(rng)
    y = np.full(w.shape, 0.7)
    coef, intercept = weighted_ridge(Z, y, w, np.ones((3, 6), dtype=bool), 1.0)
    np.testing.assert_allclose(weighted_r2(Z, y, w, coef, intercept), 1.0)


def test_r2_of_a_constant_response_is_one_only_where_the_predictions_reproduce_it():
    """Responses all 0.3 predicted as 0.9 read R^2 = 1 whatever the prediction; sklearn's
    r2_score gives 1 to perfect predictions of a constant target and 0 to others."""
    y = np.full((4, 5), 0.3)
    w = np.array([[1.0, 2.0, 0.5, 1.0, 1.0]] * 4)
    predicted = y.copy()
    predicted[1] = 0.9  # a miss
    predicted[2, 3] += 4e-16  # rounding of a fit: a couple of eps of 0.3
    predicted[3, 0] = 7.0  # the only miss is where the weight is 0, which scores nothing
    w[3, 0] = 0.0
    np.testing.assert_array_equal(r2_of_predictions(y, predicted, w), [1.0, 0.0, 1.0, 1.0])
    for row in (0, 1):
        assert r2_of_predictions(y, predicted, w)[row] == r2_score(
            y[row], predicted[row], sample_weight=w[row]
        )
    # DMM-MEN's constant=NaN: a constant response has no R^2, met or missed.
    assert np.isnan(r2_of_predictions(y, predicted, w, constant=np.nan)).all()
    # A response of 0 is met exactly or missed.
    zero = np.zeros((2, 3))
    scores = r2_of_predictions(zero, np.array([[0.0] * 3, [0.0, 1e-3, 0.0]]), np.ones((2, 3)))
    np.testing.assert_array_equal(scores, [1.0, 0.0])


def test_r2_of_predictions_matches_sklearn_on_weighted_rows(digits):
    # Pixels of digits as responses: 0..16, with ties, rows that differ.
    y = digits.X_train[:3, :40] * 16.0
    rng = np.random.default_rng(0)
    predicted = y + rng.normal(scale=2.0, size=y.shape)
    w = rng.uniform(0.0, 2.0, size=y.shape)
    expected = [r2_score(y[i], predicted[i], sample_weight=w[i]) for i in range(3)]
    np.testing.assert_allclose(r2_of_predictions(y, predicted, w), expected, rtol=1e-12)


def test_r2_of_responses_whose_weighted_total_is_rounding_is_nan_without_overflow():
    # The instance weighs 1 and the rest ~1e-300 (Lime at kernel_width=0.005 on 64
    # pixels): err / total overflowed to -inf with a RuntimeWarning.
    y = np.array([[0.0, 1.0, 0.5, 0.25], [0.0, 1.0, 0.5, 0.25]])
    w = np.array([[1.0, 1e-300, 1e-300, 1e-300], [1.0, 1e-20, 1e-20, 1e-20]])
    resid = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        r2 = _engine._r2_of_residuals(y, resid, w)
    assert np.isnan(r2[0])
    # Weights of 1e-20 are well above rounding: a figure, however poor.
    total = (w[1] * (y[1] - np.average(y[1], weights=w[1])) ** 2).sum()
    np.testing.assert_allclose(r2[1], 1.0 - 1.0 / total, rtol=1e-6)


def test_constrained_wls_ignores_inactive_columns(rng):
    # Rows with fewer components than the padded width (ragged superpixels): the
    # constraint sums the active coefficients only, as if the padding were not there.
    Z, y, w = _problems(rng)
    active = np.arange(6) < np.array([[6], [4], [1]])
    total = np.array([1.0, -2.0, 0.5])
    phi = constrained_wls(Z, y, w, active, total)
    assert np.all(phi[~active] == 0)
    for i, m in enumerate((6, 4, 1)):
        alone = constrained_wls(
            Z[i : i + 1, :, :m], y[i : i + 1], w[i : i + 1], active[i : i + 1, :m], total[i : i + 1]
        )
        np.testing.assert_allclose(phi[i, :m], alone[0], atol=1e-8)
    np.testing.assert_allclose(phi.sum(axis=1), total, atol=1e-10)


def test_constrained_wls_solves_more_components_than_samples(rng):
    # KernelSHAP on many superpixels with a small budget: the least-squares part is
    # rank deficient, yet the efficiency constraint must hold and the answer be finite.
    Z = (rng.random((2, 10, 30)) < 0.5).astype(float)
    y, w = rng.normal(size=(2, 10)), np.ones((2, 10))
    total = np.array([0.3, -0.4])
    phi = constrained_wls(Z, y, w, np.ones((2, 30), dtype=bool), total)
    assert np.all(np.isfinite(phi))
    np.testing.assert_allclose(phi.sum(axis=1), total, atol=1e-8)
    np.testing.assert_allclose(np.einsum("rsm,rm->rs", Z, phi), y, atol=1e-6)  # interpolates


def test_top_k_active_never_picks_padding():
    # Lasso leaves many active coefficients at 0: padded slots must not take their place.
    coef = np.array([[0.0, 0.5, 0.0, 0.0, 0.0]])
    active = np.array([[False, True, True, True, False]])
    assert top_k_active(coef, active, 2).tolist() == [[False, True, True, False, False]]
    assert top_k_active(coef, active, 5).tolist() == active.tolist()  # k above the count


def test_bernoulli_masks_draw_every_coalition_equally_often(rng):
    # LIME samples each of the 2^m masks with probability 2^-m (m = 8: one byte per
    # mask; m = 3: part of a byte).
    for m in (8, 3):
        masks = bernoulli_masks(np.ones((1, m), dtype=bool), 25601, rng)[0, 1:]
        counts = np.bincount(masks @ (1 << np.arange(m)), minlength=2**m)
        expected = len(masks) / 2**m
        assert counts.min() > expected / 2 and counts.max() < expected * 1.5


def test_shapley_masks_spend_an_odd_budget_on_proper_coalitions(rng):
    valid = np.arange(10) < np.array([[10], [7]])  # 2^10 and 2^7 > 41: drawn
    masks = shapley_masks(valid, 41, rng)
    sizes = masks[:, 2:].sum(axis=2)
    assert np.all(sizes >= 1) and np.all(sizes <= np.array([[9], [6]]))


class _FirstDraw:
    """A generator whose first draw is ``value`` (one of Generator.random's extremes):
    shapley_masks draws the sizes of its pairs first. All else is ``rng``'s."""

    def __init__(self, value, rng):
        self.value, self.rng, self.first = value, rng, True

    def random(self, size=None):
        draws = self.rng.random(size)
        if self.first:
            draws.flat[0], self.first = self.value, False
        return draws

    def __getattr__(self, name):
        return getattr(self.rng, name)


@pytest.mark.parametrize(("draw", "size"), [(np.nextafter(1.0, 0.0), 9), (0.0, 2)])
def test_shapley_masks_draw_a_drawable_size_at_either_end_of_a_draw(draw, size):
    # 11 components at 64 samples list sizes 1 and 10 and draw sizes 2..9, whose cdf
    # summed to 1 - 3.3e-16: Generator.random's largest draw, 1 - 2**-53, fell past it
    # as size 12 of 11 components (an IndexError); its smallest, 0, was size 0: the empty
    # coalition and the full one, with weights.
    valid = np.ones((1, 11), dtype=bool)
    masks = shapley_masks(valid, 64, _FirstDraw(draw, np.random.default_rng(0)))
    sizes = masks[0, 2:].sum(axis=1)
    assert sizes[22] == size  # the first pair drawn, behind the 22 listed coalitions
    assert sizes[22:].min() >= 2 and sizes[22:].max() <= 9
    assert np.all(np.isfinite(shapley_kernel(masks, valid)))


def test_exponential_kernel_ignores_padding():
    # A row with 4 components padded to 10 slots weighs its masks as a row of 4 does.
    masks = np.arange(10)[None, None, :] < np.array([4, 3, 1])[None, :, None]
    padded = exponential_kernel(0.25)(masks, np.arange(10)[None] < 4)
    alone = exponential_kernel(0.25)(masks[..., :4], np.ones((1, 4), dtype=bool))
    np.testing.assert_allclose(padded, alone, rtol=1e-12)


def _softmax_box(rng, d=6, k=3):
    A, b = rng.normal(size=(d, k)), rng.normal(size=k)

    def proba(X):
        z = np.exp(X @ A + b)
        return z / z.sum(axis=1, keepdims=True)

    return BlackBox.from_callable(proba, n_classes=k), proba


@pytest.mark.parametrize(("chunk_rows", "query_rows"), [(None, None), (21, 14), (3, 3)])
def test_engine_keeps_rows_fills_and_targets_together_across_chunks(
    rng, monkeypatch, chunk_rows, query_rows
):
    # Instances are explained in chunks and queried in blocks; each row must meet its own
    # segments, fill and target whatever the split. One-off masks make the answer exact:
    # a component's drop f(x)[t] - f(x with the component filled)[t], brute force.
    if chunk_rows is not None:  # 7 samples per row: chunks of 3 rows and 2-row blocks,
        monkeypatch.setattr(_engine, "CHUNK_ROWS", chunk_rows)  # or budgets under one row
        monkeypatch.setattr(_engine, "QUERY_ROWS", query_rows)
    n, d = 7, 6
    box, proba = _softmax_box(rng)
    X, fill = rng.uniform(size=(n, d)), rng.uniform(size=(n, d))
    labels = np.arange(d) // (1 + np.arange(n)[:, None] % 3)  # 6, 3 or 2 components
    partition = Partition.from_labels(labels, n, d)
    target = np.arange(n) % 3

    def drops(masks, y, w, valid, keys):
        return y[:, :1] - y[:, 1:], {"f": y[:, 0]}

    engine = Engine(one_off_masks, uniform_kernel, drops)
    values, targets, info = engine.run(box, X, fill, partition, target, n_samples=7, seed=0)
    expected = np.zeros((n, d))
    for i in range(n):
        f = proba(X[i : i + 1])[0, target[i]]
        for j in np.unique(labels[i]):
            x = np.where(labels[i] == j, fill[i], X[i])
            expected[i, labels[i] == j] = f - proba(x[None])[0, target[i]]
    np.testing.assert_allclose(values, expected, atol=1e-12)
    np.testing.assert_array_equal(targets, target)
    np.testing.assert_allclose(info["f"], proba(X)[np.arange(n), target], atol=1e-12)
    _, default, _ = engine.run(box, X, fill, partition, None, n_samples=7, seed=0)
    np.testing.assert_array_equal(default, proba(X).argmax(axis=1))


def test_weighted_lasso_converges_at_its_default_iterations_on_collinear_components(rng):
    # LIME's lasso runs the default 500 iterations. Nearly identical components (masks
    # differing in 5% of the samples) make the problem ill-conditioned, where plain
    # proximal gradient stalls; FISTA's momentum still reaches sklearn's answer.
    r, s, m = 3, 200, 8
    Z = ((rng.random((r, s, 1)) < 0.5) ^ (rng.random((r, s, m)) < 0.05)).astype(float)
    w = rng.uniform(0.1, 1.0, size=(r, s))
    y = Z @ np.linspace(-1, 1, m) + 0.1 * rng.normal(size=(r, s))
    coef, intercept = weighted_lasso(Z, y, w, np.ones((r, m), dtype=bool), 0.01)
    for i in range(r):
        ref = Lasso(alpha=0.01, tol=1e-14, max_iter=100000).fit(
            Z[i], y[i], sample_weight=w[i] * s / w[i].sum()
        )
        np.testing.assert_allclose(coef[i], ref.coef_, atol=1e-5)
        np.testing.assert_allclose(intercept[i], ref.intercept_, atol=1e-5)


def test_top_k_active_breaks_many_ties_to_the_lower_indices():
    # Same seed, same explanation: among equal |coef| the lowest indices win, also
    # past the few elements where an unstable sort happens to keep the order.
    coef = np.tile([0.3, -0.3, 0.1], 8)[None]  # 16 tied at 0.3
    chosen = top_k_active(coef, np.ones_like(coef, dtype=bool), 5)
    assert np.flatnonzero(chosen[0]).tolist() == [0, 1, 3, 4, 6]


def test_largest_eigenvalue_matches_numpy(rng):
    # The lasso's FISTA step is 1 / (1.01 x the largest eigenvalue): an underestimate
    # past that margin makes it diverge. Scales from 25 down to 1e-4, one per problem.
    A = rng.normal(size=(4, 30, 7)) * np.array([5.0, 1.0, 0.2, 0.01])[:, None, None]
    gram = A.transpose(0, 2, 1) @ A
    expected = np.linalg.eigvalsh(gram)[:, -1]
    np.testing.assert_allclose(_largest_eigenvalue(gram), expected, rtol=1e-3)


def test_fold_labels_are_balanced_seeded_permutations():
    folds = fold_labels(4, 23, 5, np.random.default_rng(0))
    for row in folds:
        assert sorted(np.bincount(row, minlength=5)) == [4, 4, 5, 5, 5]
    assert len({tuple(row) for row in folds}) == 4  # each row its own shuffle
    np.testing.assert_array_equal(folds, fold_labels(4, 23, 5, np.random.default_rng(0)))
    # fewer samples than folds: leave one out
    assert sorted(fold_labels(1, 3, 5, np.random.default_rng(0))[0]) == [0, 1, 2]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_cross_validated_r2_is_sklearn_s_k_fold_ridge_scored_on_the_held_out_samples(rng, alpha):
    """Each fold predicted by sklearn's weighted Ridge on the others, then the pooled
    weighted R^2 of those predictions about the weighted mean of all samples."""
    Z, y, w = _problems(rng)
    active = np.ones((3, 6), dtype=bool)
    folds = fold_labels(3, 60, 5, np.random.default_rng(1))
    cv = cross_validated_r2(Z, y, w, folds, _ridge(active, alpha), weighted_moments(Z, y, w))
    for i in range(3):
        predicted = np.empty(60)
        for k in range(5):
            held = folds[i] == k
            ref = Ridge(alpha=alpha).fit(Z[i][~held], y[i][~held], sample_weight=w[i][~held])
            predicted[held] = ref.predict(Z[i][held])
        mean = np.average(y[i], weights=w[i])
        expected = 1 - np.sum(w[i] * (y[i] - predicted) ** 2) / np.sum(w[i] * (y[i] - mean) ** 2)
        assert cv[i] == pytest.approx(expected, abs=1e-8)
        # out of sample, the same model fits worse than on its own samples
        assert cv[i] < weighted_r2(Z, y, w, *weighted_ridge(Z, y, w, active, alpha))[i]


def test_cross_validated_r2_of_noise_is_not_above_zero_where_the_in_sample_r2_is_high(rng):
    # 30 samples, 20 components: the fit explains much of pure noise in sample.
    Z = (rng.random((50, 30, 20)) < 0.5).astype(float)
    y, w = rng.normal(size=(50, 30)), np.ones((50, 30))
    active = np.ones((50, 20), dtype=bool)
    folds = fold_labels(50, 30, 5, np.random.default_rng(1))
    assert weighted_r2(Z, y, w, *weighted_ridge(Z, y, w, active, 0.1)).mean() > 0.5
    cv = cross_validated_r2(Z, y, w, folds, _ridge(active, 0.1), weighted_moments(Z, y, w))
    assert np.all(cv <= 0)


def test_cross_validated_r2_is_nan_where_one_fold_holds_all_the_weight(rng):
    """Only sample 0 carries weight (a tiny kernel width): the other folds have nothing
    to fit, which divided 0 by 0; the row's figure is NaN, the others' unchanged."""
    Z, y, w = _problems(rng)
    w[1, 1:] = 0.0
    active = np.ones((3, 6), dtype=bool)
    folds = fold_labels(3, 60, 5, np.random.default_rng(1))
    cv = cross_validated_r2(Z, y, w, folds, _ridge(active, 1.0), weighted_moments(Z, y, w))
    assert np.isnan(cv[1]) and np.all(np.isfinite(cv[[0, 2]]))
    Z2, y2, w2, folds2 = Z[::2], y[::2], w[::2], folds[::2]
    moments = weighted_moments(Z2, y2, w2)
    alone = cross_validated_r2(Z2, y2, w2, folds2, _ridge(active[::2], 1.0), moments)
    np.testing.assert_allclose(cv[[0, 2]], alone)


def _ridge(active, alpha):
    """Lime's ridge as a fit on sums, for :func:`cross_validated_r2`."""
    return lambda sums, probe: ridge_solve(centred(sums), active, alpha, probe=probe)


def _cv_pair(kind, Z, y, w, folds, active, alpha):
    """``score_cv`` computed from the folds' downdated sums and by the slow reference
    (a refit per fold on all samples with the held-out weights set to 0)."""
    if kind == "constrained":
        base = y[:, 0].copy()
        total = y[:, 1] - base

        def fit(sums, probe):
            phi, firmness = constrained_solve(
                sums.gram, sums.rhs, active, total, alpha, probe=probe
            )
            return phi, base, firmness

        moments = weighted_moments(Z, y, w, shift=base)
        fast = cross_validated_r2(Z, y, w, folds, fit, moments, shift=base)
        slow = _refit.cross_validated_r2(
            Z,
            y,
            w,
            folds,
            lambda t: (_refit.constrained(Z, y - base[:, None], t, active, total, alpha), base),
        )
        return fast, slow
    regression, _, k = kind.partition("-top")
    n_features = int(k) if k else None

    def model(sums, probe):
        problem = centred(sums)
        solve = ridge_solve if regression == "ridge" else lasso_solve
        coef, intercept, firmness = solve(problem, active, alpha, probe=probe)
        if n_features is not None:
            chosen = top_k_active(coef, active, n_features)
            coef, intercept, refit = ridge_solve(problem, chosen, alpha, probe=probe)
            firmness = np.minimum(firmness, refit) if probe else None
        return coef, intercept, firmness

    fast = cross_validated_r2(Z, y, w, folds, model, weighted_moments(Z, y, w))
    reference = dict(regression=regression, alpha=alpha, n_features=n_features)
    slow = _refit.cross_validated_r2(
        Z, y, w, folds, lambda t: _refit.lime_model(Z, y, t, active, **reference)
    )
    return fast, slow


def _local_problems(rng, r, s, m):
    """LIME-like problems: on/off components, an answer in [0, 1], kernel weights, some
    samples of weight 0."""
    Z = (rng.random((r, s, m)) < 0.5).astype(float)
    y = special.expit(Z @ rng.normal(size=m) / np.sqrt(m) + 0.3 * rng.normal(size=(r, s)))
    w = np.exp(-rng.uniform(0, 3, size=(r, s)))
    w[:, 1::7] = 0.0
    return Z, y, w


KINDS = [
    ("ridge", 1.0),
    ("ridge", 1e-3),
    ("ridge", 0.0),
    ("lasso", 0.01),
    ("ridge-top3", 1.0),
    ("ridge-top3", 0.0),
    ("lasso-top4", 0.005),
    ("constrained", 0.0),
    ("constrained", 0.5),
]


@pytest.mark.parametrize(("kind", "alpha"), KINDS)
@pytest.mark.parametrize(
    ("s", "m", "n_folds"), [(400, 12, 5), (120, 30, 5), (36, 30, 5), (60, 8, 3)]
)
def test_cross_validated_r2_from_downdated_sums_matches_refitting_each_fold(
    kind, alpha, s, m, n_folds
):
    """The folds' fits read the total sums minus the held-out fold's; refitted on all
    samples with the held-out weights set to 0 (the reference), the same figures to
    rounding: also with fewer samples than components and no penalty, where the
    rounding of the sums decides the fit and they are taken from the samples."""
    rng = np.random.default_rng(s + m)
    Z, y, w = _local_problems(rng, 12, s, m)
    active = np.ones((12, m), dtype=bool)
    active[3, m // 2 :] = False  # a row with fewer components, its columns zero
    Z[3, :, m // 2 :] = 0.0
    folds = fold_labels(12, s, n_folds, np.random.default_rng(1))
    fast, slow = _cv_pair(kind, Z, y, w, folds, active, alpha)
    assert np.all(np.isfinite(slow))
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-8)


EDGE_FITS = [("ridge", 1.0), ("ridge", 0.0), ("lasso", 0.01), ("constrained", 0.0)]
EDGES = [
    "one component",
    "coinciding columns",
    "small training weight",
    "tiny training weight",
    "unequal folds",
]


@pytest.mark.parametrize(
    ("kind", "alpha", "edge"),
    [(kind, alpha, edge) for kind, alpha in EDGE_FITS for edge in EDGES]
    # LIME weighs the instance 1: a centred fit of no weight, which divides by 0, does
    # not occur; nor does ridge without penalty on the instance alone (its centred gram
    # is 0: singular in the full fit as well).
    + [(kind, a, "all weight in one fold") for kind, a in EDGE_FITS if (kind, a) != ("ridge", 0.0)]
    + [("constrained", 0.0, "no weight"), ("constrained", 0.5, "no weight")],
)
def test_cross_validated_r2_from_downdated_sums_matches_refitting_at_the_edges(kind, alpha, edge):
    """Row 1 carries the edge; NaN where the reference is NaN (a fold with all the
    weight, no weight at all, the others' weights below eps^2 of the instance's), the
    same figure elsewhere (to rounding: a kernel that dwarfs all samples but the
    instance by 1e20 gives figures like -1e17)."""
    rng = np.random.default_rng(3)
    Z, y, w = _local_problems(rng, 4, 80, 6)
    active = np.ones((4, 6), dtype=bool)
    folds = fold_labels(4, 80, 5, np.random.default_rng(2))
    if edge == "all weight in one fold":  # a tiny kernel width: only the instance
        w[1, 1:] = 0.0
    elif edge == "no weight":  # KernelSHAP's row of one component
        w[1] = 0.0
        active[1, 1:] = False
        Z[1, :, 1:] = 0.0
    elif edge == "one component":
        active[1, 1:] = False
        Z[1, :, 1:] = 0.0
    elif edge == "coinciding columns":  # the 1e-12 jitter alone makes alpha = 0 solvable
        Z[1, :, 2] = Z[1, :, 1]
        Z[:, :, 4] = Z[:, :, 3]
    elif edge == "small training weight":  # the instance dwarfs every other sample
        w[1] = 1e-20
        w[1, 0] = 1.0
    elif edge == "tiny training weight":  # beside it the others' weights are rounding
        w[1] = 1e-200
        w[1, 0] = 1.0
    else:  # folds of unequal sizes: padded with weightless copies
        folds[1] = np.where(folds[1] == 4, 3, folds[1])
        folds[2] = np.where(folds[2] == 0, 1, folds[2])
    fast, slow = _cv_pair(kind, Z, y, w, folds, active, alpha)
    nan = edge in ("all weight in one fold", "no weight", "tiny training weight")
    assert np.isnan(slow[1]) == nan and np.all(np.isfinite(slow[[0, 2, 3]]))
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-8)


def test_cross_validated_r2_takes_the_sums_of_an_unstable_fit_from_its_samples(monkeypatch):
    """Without a penalty and with fewer samples than components, the fit is the jitter's
    and the rounding of its sums moves it far beyond 1e-8: then the sums are those of
    the reference, taken from the samples, and so is the figure."""
    rng = np.random.default_rng(0)
    Z, y, w = _local_problems(rng, 6, 30, 40)
    active = np.ones((6, 40), dtype=bool)
    folds = fold_labels(6, 30, 5, np.random.default_rng(1))
    fast, slow = _cv_pair("ridge", Z, y, w, folds, active, 0.0)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-8)
    monkeypatch.setattr(_engine, "DIRECT_FIRMNESS", 0.0)
    downdated, _ = _cv_pair("ridge", Z, y, w, folds, active, 0.0)
    assert np.max(np.abs(downdated - slow)) > 1e-6


def test_row_seed_is_the_call_s_seed_and_a_hash_of_the_row_s_content(rng):
    """[seed, *4 words of a BLAKE2b hash]: the same for the same values in any dtype or
    memory layout, different for a different value, segmentation or shape."""
    x = rng.uniform(size=64)
    labels = np.arange(64) // 4
    key = _engine.row_seed(7, x, labels)
    assert len(key) == 1 + _engine.DIGEST_WORDS and key[0] == 7
    assert all(isinstance(word, int) and 0 <= word < 2**32 for word in key[1:])
    assert _engine.row_seed(7, x.copy(), labels.astype(np.int32)) == key
    assert _engine.row_seed(7, np.repeat(x, 2)[::2], labels) == key  # a strided view
    grid = rng.integers(0, 256, size=64)  # float32 holds these exactly
    assert _engine.row_seed(0, grid.astype(np.float32)) == _engine.row_seed(0, grid / 1.0)
    other = x.copy()
    other[5] += 1e-12
    different = [
        _engine.row_seed(8, x, labels),
        _engine.row_seed(7, other, labels),
        _engine.row_seed(7, x, np.arange(64) // 2),
        _engine.row_seed(7, x),
        _engine.row_seed(7, x.reshape(8, 8), labels.reshape(8, 8)),
    ]
    assert all(k[1:] != key[1:] or k[0] != key[0] for k in different)
    assert len({tuple(k[1:]) for k in different[1:]}) == 4


@pytest.mark.parametrize("sampler", [bernoulli_masks, shapley_masks])
def test_row_masks_are_the_row_s_own_draws_and_differ_between_rows(rng, sampler):
    """Each row's masks come from its own key: two rows of as many components get
    different masks (from the seed and the count alone they got the same), a row gets
    the same masks at any place in the batch, and rows are padded (components off,
    samples as copies of sample 0) to the widest."""
    X = rng.uniform(size=(3, 16))
    keys = [_engine.row_seed(0, x) for x in X]
    counts = np.array([12, 12, 5])
    masks, sizes = _engine.row_masks(sampler, counts, 40, keys, 16)
    assert masks.shape == (3, 40, 16) and sizes.tolist() == [40, 40, 40]
    assert not np.array_equal(masks[0], masks[1])
    assert not masks[:, :, 12:].any() and not masks[2, :, 5:].any()
    alone, _ = _engine.row_masks(sampler, counts[1:2], 40, keys[1:2], 12)
    np.testing.assert_array_equal(alone[0], masks[1, :, :12])
    own = sampler(np.ones((1, 5), dtype=bool), 40, np.random.default_rng(keys[2]))[0]
    np.testing.assert_array_equal(masks[2, :, :5], own)


def test_row_masks_pad_a_shorter_row_with_copies_of_its_instance(rng):
    keys = [_engine.row_seed(0, x) for x in rng.uniform(size=(2, 6))]
    masks, sizes = _engine.row_masks(one_off_masks, np.array([5, 2]), 0, keys, 5)
    assert sizes.tolist() == [6, 3] and masks.shape == (2, 6, 5)
    np.testing.assert_array_equal(masks[1, 3:, :2], np.ones((3, 2), dtype=bool))
    assert not masks[1, :, 2:].any()


def _row_masks_from_a_list(sampler, counts, n_samples, keys, width):
    """row_masks as it was built before: every row's masks drawn into a list, then
    copied into the padded array."""
    drawn = [
        sampler(np.ones((1, int(c)), dtype=bool), n_samples, np.random.default_rng(key))[0]
        for c, key in zip(counts, keys, strict=True)
    ]
    sizes = np.array([own.shape[0] for own in drawn], dtype=np.int64)
    masks = np.zeros((len(drawn), int(sizes.max(initial=0)), width), dtype=bool)
    for row, own in enumerate(drawn):
        masks[row, : own.shape[0], : own.shape[1]] = own
        masks[row, own.shape[0] :, : own.shape[1]] = own[0]
    return masks, sizes


def _fewer_samples_for_more_components(valid, n_samples, rng):
    """A sampler whose number of samples falls as the number of components grows."""
    r, m = valid.shape
    masks = rng.random((r, 20 - m, m)) < 0.5
    masks[:, 0] = True
    return masks & valid[:, None, :]


@pytest.mark.parametrize(
    ("sampler", "counts"),
    [
        (bernoulli_masks, [12, 5, 16, 12]),
        (shapley_masks, [3, 16, 12, 2]),  # rows of 3 and 2 components enumerate theirs
        (one_off_masks, [2, 5, 3, 9, 9, 1]),
        (one_off_masks, [9, 5, 2]),
        (one_off_masks, []),
        ("fewer_for_more", [2, 5, 3, 9, 9, 1]),  # more samples than the rows before
    ],
)
def test_row_masks_written_as_drawn_are_those_of_the_list(rng, sampler, counts):
    if sampler == "fewer_for_more":
        sampler = _fewer_samples_for_more_components
    X = rng.uniform(size=(len(counts), 16))
    keys = [_engine.row_seed(3, x) for x in X]
    masks, sizes = _engine.row_masks(sampler, np.array(counts, dtype=int), 40, keys, 16)
    expected, expected_sizes = _row_masks_from_a_list(sampler, counts, 40, keys, 16)
    assert masks.dtype == expected.dtype and masks.flags.c_contiguous
    np.testing.assert_array_equal(masks, expected, strict=True)
    np.testing.assert_array_equal(sizes, expected_sizes, strict=True)


def test_row_folds_are_each_row_s_own_and_balanced(rng):
    X = rng.uniform(size=(3, 8))
    keys = [_engine.row_seed(4, x) for x in X] + [_engine.row_seed(4, X[0])]
    folds = _engine.row_folds(keys, 23, 5)
    assert folds.shape == (4, 23)
    for row in folds:
        sizes = np.bincount(row, minlength=5)
        assert sizes.max() - sizes.min() <= 1
    assert not np.array_equal(folds[0], folds[1])
    np.testing.assert_array_equal(folds[0], folds[3])
    np.testing.assert_array_equal(_engine.row_folds(keys[1:2], 23, 5)[0], folds[1])


def test_row_seed_reads_minus_zero_as_zero(rng):
    """-0.0 == 0.0: a row holding one is the same row to the black box and to the
    docs' "identical rows get identical draws", but its bytes differ (a negated or
    rounded-up feature gives it), and it drew other masks."""
    x = rng.uniform(size=16)
    x[[2, 9]] = 0.0
    negated = x.copy()
    negated[[2, 9]] = -0.0
    assert _engine.row_seed(3, negated) == _engine.row_seed(3, x)
    assert _engine.row_seed(3, negated.astype(np.float32)) == _engine.row_seed(
        3, x.astype(np.float32)
    )


def test_effective_sample_size_is_kishs_by_its_definition(rng):
    """(sum w)^2 / sum w^2 row by row: S for equal weights, 1 for a single weighed
    sample, 0 for none; weights near the under- and overflow limits read as any
    multiple of them."""
    w = rng.uniform(0.0, 1.0, size=(4, 30))
    expected = [row.sum() ** 2 / (row**2).sum() for row in w]
    np.testing.assert_allclose(effective_sample_size(w), expected, rtol=1e-13)
    one = np.zeros((1, 30))
    one[0, 7] = 0.3
    special_rows = np.concatenate([np.full((1, 30), 0.2), one, np.zeros((1, 30))])
    np.testing.assert_allclose(effective_sample_size(special_rows), [30.0, 1.0, 0.0], rtol=1e-14)
    for scale in (1e-160, 1e160):
        np.testing.assert_allclose(effective_sample_size(w * scale), expected, rtol=1e-13)
