"""Relabelling, split R-hat and ESS against known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from unboxed.surrogates._mcmc import (
    _ess_one,
    apply_permutation,
    effective_sample_size,
    relabel,
    split_rhat,
)


def _ar1(rng, rho: float, shape: tuple[int, int]) -> np.ndarray:
    noise = rng.normal(size=shape) * np.sqrt(1 - rho**2)
    out = np.empty(shape)
    out[:, 0] = rng.normal(size=shape[0])
    for i in range(1, shape[1]):
        out[:, i] = rho * out[:, i - 1] + noise[:, i]
    return out


def test_independent_chains_have_rhat_one_and_full_ess():
    draws = np.random.default_rng(0).normal(size=(4, 2000, 3))
    assert np.all(np.abs(split_rhat(draws) - 1) < 0.01)
    np.testing.assert_allclose(effective_sample_size(draws), 8000, rtol=0.15)


def test_ess_of_an_ar1_chain_matches_its_integrated_autocorrelation():
    rho = 0.8
    draws = _ar1(np.random.default_rng(1), rho, (4, 20000))[..., None]
    expected = 4 * 20000 * (1 - rho) / (1 + rho)
    assert abs(effective_sample_size(draws)[0] / expected - 1) < 0.15


def test_chains_in_different_places_or_drifting_have_large_rhat():
    rng = np.random.default_rng(2)
    apart = rng.normal(size=(2, 500, 1)) + np.array([0.0, 3.0])[:, None, None]
    assert split_rhat(apart)[0] > 1.5
    drifting = rng.normal(size=(1, 500, 1)) + np.linspace(0, 5, 500)[None, :, None]
    assert split_rhat(drifting)[0] > 1.5  # a single chain split in halves
    assert split_rhat(np.ones((2, 10, 1)))[0] == 1.0
    # A parameter that never moves, at a different value in each chain (an MH step
    # that freezes), has not mixed however flat each chain looks.
    stuck = np.ones((2, 10, 1)) * np.array([0.0, 1.0])[:, None, None]
    assert split_rhat(stuck)[0] == np.inf


def test_relabel_undoes_label_switching():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, size=200)
    perms = np.array([rng.permutation(3) for _ in range(50)])
    z = perms[:, truth]  # draw d calls component j "perms[d, j]"
    flip = rng.random(z.shape) < 0.05  # a little allocation noise
    z[flip] = rng.integers(0, 3, size=flip.sum())
    perm = relabel(z, 3)
    aligned = np.take_along_axis(perm, z, axis=1)
    # Every draw now agrees with one common labelling of the truth.
    assert np.mean(aligned == aligned[0][None, :]) > 0.9
    values = np.arange(50 * 3, dtype=float).reshape(50, 3)
    moved = apply_permutation(values, perm)
    np.testing.assert_array_equal(np.take_along_axis(moved, perm, axis=1), values)


def test_ess_pairs_are_made_monotone_as_geyer_says():
    # Paired sums 0.5, 1.2, 0.1, then -0.5 (cut): the initial monotone sequence is
    # 0.5, 0.5, 0.1, so tau = -1 + 2 * 1.1 = 1.2.
    rho = np.array([1.0, -0.5, 0.6, 0.6, 0.1, 0.0, -0.2, -0.3])
    assert _ess_one(rho, 100) == pytest.approx(100 / 1.2)


# ---------------------------------------------------------------- audit F2
def test_split_rhat_of_a_small_example_by_hand():
    # Halves [1, 2], [3, 4], [2, 3], [4, 5]: means 1.5, 3.5, 2.5, 4.5 and variances 0.5
    # (ddof 1), so W = 0.5, B = 2 * var(means, ddof 1) = 10 / 3, var+ = W / 2 + B / 2.
    draws = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]])[..., None]
    var_plus = 0.5 / 2 + (10 / 3) / 2
    assert split_rhat(draws)[0] == pytest.approx(np.sqrt(var_plus / 0.5), rel=1e-12)


def test_split_rhat_and_ess_need_four_draws_per_chain():
    draws = np.random.default_rng(0).normal(size=(2, 3, 1))
    for function in (split_rhat, effective_sample_size):
        with pytest.raises(ValueError, match=">= 4 draws"):
            function(draws)
        function(np.random.default_rng(0).normal(size=(2, 4, 1)))  # four are enough


def _ess_by_hand(draws: np.ndarray) -> float:
    """BDA3 (Sec. 11.5) with plain loops: split chains, autocovariances by direct sums,
    Geyer's initial monotone sequence on paired autocorrelations."""
    half = draws.shape[1] // 2
    chains = [c[:half] for c in draws] + [c[-half:] for c in draws]
    m, n = len(chains), half
    means = [sum(c) / n for c in chains]
    within = (
        sum(sum((x - mu) ** 2 for x in c) / (n - 1) for c, mu in zip(chains, means, strict=True))
        / m
    )
    grand = sum(means) / m
    between = n * sum((mu - grand) ** 2 for mu in means) / (m - 1)
    var_plus = (n - 1) / n * within + between / n
    rho = [1.0]  # BDA3's eq. 11.7 at lag 0: its variogram V_0 is 0
    for lag in range(1, n):
        acov = [
            sum((c[i] - mu) * (c[i + lag] - mu) for i in range(n - lag)) / n
            for c, mu in zip(chains, means, strict=True)
        ]
        rho.append(1 - (within - sum(acov) / m) / var_plus)
    tau, previous = -1.0, np.inf
    for k in range(0, n - 1, 2):
        pair = rho[k] + rho[k + 1]
        if pair <= 0:
            break
        previous = min(previous, pair)
        tau += 2 * previous
    return min(m * n / tau, m * n)


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_ess_of_short_chains_matches_the_textbook_sums(rho):
    # Short chains, where a circular (unpadded) autocovariance or another
    # normalisation shows.
    draws = _ar1(np.random.default_rng(4), rho, (3, 24))
    expected = _ess_by_hand(draws)
    assert effective_sample_size(draws[..., None])[0] == pytest.approx(expected, rel=1e-9)


def test_ess_is_capped_at_the_number_of_draws_and_full_for_a_constant():
    anti = _ar1(np.random.default_rng(5), -0.6, (2, 2000))[..., None]  # antithetic: tau < 1
    assert effective_sample_size(anti)[0] == 4000
    constant = np.full((2, 10, 2), 3.0)
    np.testing.assert_array_equal(effective_sample_size(constant), [20, 20])


def test_relabel_iterates_past_a_last_draw_that_merges_two_components():
    """The first reference is the last draw; here it merges two of the three groups,
    so matching to it alone labels the other draws inconsistently."""
    rng = np.random.default_rng(6)
    truth = np.repeat([0, 1, 2], 30)
    # Every labelling, each a different number of times (no ties in the modal reference).
    perms = np.repeat(list(itertools.permutations(range(3))), [6, 5, 4, 3, 2, 1], axis=0)
    z = perms[:, truth]
    last = np.where(truth == 2, rng.integers(1, 3, size=truth.size), 0)  # 0, 0, split
    z = np.vstack([z, last])
    perm = relabel(z, 3)
    aligned = np.take_along_axis(perm, z, axis=1)[:-1]
    np.testing.assert_array_equal(aligned, np.broadcast_to(aligned[0], aligned.shape))


# ---------------------------------------------------------------- audit K3
def test_an_odd_middle_draw_is_dropped_by_split_rhat():
    # The halves of 5 draws are the first 2 and the last 2: the middle 9 is not used,
    # so this is the hand-worked example above.
    draws = np.array([[1.0, 2.0, 9.0, 3.0, 4.0], [2.0, 3.0, 9.0, 4.0, 5.0]])[..., None]
    var_plus = 0.5 / 2 + (10 / 3) / 2
    assert split_rhat(draws)[0] == pytest.approx(np.sqrt(var_plus / 0.5), rel=1e-12)


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_ess_of_chains_of_odd_length_and_odd_halves_matches_the_textbook_sums(rho):
    # 11 draws: the middle one is dropped and each half holds 5 (an odd number of
    # autocorrelations, the last of which pairs with nothing).
    draws = _ar1(np.random.default_rng(7), rho, (3, 11))
    expected = _ess_by_hand(draws)
    assert effective_sample_size(draws[..., None])[0] == pytest.approx(expected, rel=1e-9)


def test_ess_when_the_first_pair_is_not_positive_is_the_cap():
    # An alternating chain: rho_1 is about -1, so Geyer's sequence is empty (tau = -1)
    # and the ESS is capped at the number of draws, never negative.
    assert _ess_one(np.array([1.0, -1.0, 0.5, 0.5]), 100) == 100
    alternating = np.tile([1.0, -1.0], (2, 10)) + 1e-3 * np.random.default_rng(8).normal(
        size=(2, 20)
    )
    assert effective_sample_size(alternating[..., None])[0] == 40


def test_float32_draws_are_judged_in_double_precision():
    # Draws are stored in float32 (coefficients): around 1e4 a float32 mean or
    # variance would lose the spread of 1e-2 that R-hat and the ESS measure.
    draws = (1e4 + 1e-2 * np.random.default_rng(9).normal(size=(4, 1000, 2))).astype(np.float32)
    exact = draws.astype(np.float64)
    np.testing.assert_allclose(split_rhat(draws), split_rhat(exact), rtol=1e-12)
    np.testing.assert_allclose(
        effective_sample_size(draws), effective_sample_size(exact), rtol=1e-9
    )


def test_draws_without_a_chain_axis_are_an_error():
    for function in (split_rhat, effective_sample_size):
        with pytest.raises(ValueError, match="n_chains, >= 4 draws"):
            function(np.arange(10.0))


# ---------------------------------------------------------------- audit A1
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_draws_with_nan_or_inf_are_refused_not_judged_mixed(bad):
    # A NaN made the within-chain variance NaN, which read as a constant quantity:
    # R-hat 1 and the full ESS, a broken chain that looked perfectly mixed.
    draws = np.random.default_rng(10).normal(size=(2, 20, 3))
    draws[1, 7, 2] = bad
    for function in (split_rhat, effective_sample_size):
        with pytest.raises(ValueError, match=r"draws must be finite.*quantity \(2,\)"):
            function(draws)


def test_draws_with_no_chain_or_not_real_are_refused_and_a_list_is_read():
    for function in (split_rhat, effective_sample_size):
        # No chain: numpy's "Mean of empty slice" or a failed reshape before.
        with pytest.raises(ValueError, match="at least one chain, got \\(0, 10, 1\\)"):
            function(np.zeros((0, 10, 1)))
        # Complex draws lost their imaginary part with a ComplexWarning; strings failed
        # in numpy's float conversion.
        with pytest.raises(TypeError, match="draws must be an array of real numbers.*complex"):
            function(np.ones((2, 10, 1)) + 1j)
        with pytest.raises(TypeError, match="draws must be an array of real numbers.*<U1"):
            function(np.full((2, 10, 1), "a"))
        with pytest.raises(TypeError, match="draws must be an array of real numbers, got list"):
            function([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0]])  # ragged
    # A nested list is an array of draws (effective_sample_size read .shape from it).
    draws = [[1.0, 2.0, 4.0, 3.0, 5.0], [2.0, 3.0, 1.0, 4.0, 5.0]]
    assert effective_sample_size(draws) == effective_sample_size(np.array(draws))


def test_relabel_of_narrow_int_labels_matches_int64():
    # uint8 labels of 20 components: the cell index z * J wrapped around at 256, and
    # the draws were silently matched to the wrong components.
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 20, size=400)
    z = np.array([rng.permutation(20) for _ in range(6)])[:, truth]
    perm = relabel(z.astype(np.uint8), 20)
    np.testing.assert_array_equal(perm, relabel(z, 20))
    aligned = np.take_along_axis(perm, z, axis=1)
    np.testing.assert_array_equal(aligned, np.broadcast_to(aligned[0], aligned.shape))


def test_relabel_refuses_labels_out_of_range_and_bad_arguments():
    z = np.array([[0, 1, 1], [1, 0, 1]])
    with pytest.raises(ValueError, match=r"labels in 0 \.\. 1 \(n_components=2\), got 5"):
        relabel(np.array([[0, 1, 5], [1, 0, 1]]), 2)  # an IndexError deep in numpy
    with pytest.raises(ValueError, match=r"labels in 0 \.\. 1 .*got -1"):
        relabel(np.array([[0, -1, 1], [1, 0, 1]]), 2)  # bincount's "no negative elements"
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_components must be an int >= 1"):
            relabel(z, bad)
    # max_rounds=0 returned the identity permutations without aligning anything.
    with pytest.raises(ValueError, match="max_rounds must be an int >= 1"):
        relabel(z, 2, max_rounds=0)
    for bad_z in (z.astype(float), z[0], z[:0], z.astype(bool)):
        with pytest.raises(ValueError, match=r"z must be an int array of shape \(n_draws >= 1"):
            relabel(bad_z, 2)


def test_relabel_with_empty_components_one_component_or_more_than_samples():
    rng = np.random.default_rng(12)
    for J, z in (
        (4, rng.integers(0, 3, size=(5, 20))),
        (1, np.zeros((5, 20), dtype=int)),
        (10, rng.integers(0, 10, size=(5, 3))),
    ):
        perm = relabel(z, J)
        # Every row is a permutation of the J labels, whatever is empty.
        np.testing.assert_array_equal(np.sort(perm, axis=1), np.tile(np.arange(J), (5, 1)))


def test_apply_permutation_refuses_a_perm_that_is_no_permutation_of_the_draws():
    values = np.arange(6.0).reshape(2, 3)
    for perm in (
        [[0, 0, 1], [0, 1, 2]],  # left out[0, 2] as np.empty's leftover memory
        [[-1, 0, 1], [0, 1, 2]],  # wrapped around to the last component
        [[0, 1, 2]],  # one draw's perm broadcast over both draws
        [[0, 1, 3], [0, 1, 2]],  # numpy's IndexError
    ):
        with pytest.raises(ValueError, match=r"perm must be .* \(2, 3\) whose every row is a perm"):
            apply_permutation(values, np.array(perm))
    moved = apply_permutation(values, np.array([[2, 0, 1], [0, 1, 2]]))
    np.testing.assert_array_equal(moved, [[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]])


def test_rhat_and_ess_of_draws_near_the_float_limits_are_those_of_the_draws_rescaled():
    # R-hat and the ESS are scale-free. Squares of draws near 2**1000 overflowed (a
    # RuntimeWarning, NaN), and those near 2**-1000 underflowed to a variance of 0: a
    # "constant" quantity with R-hat 1 and the full ESS. Rescaled by a power of two the
    # draws are the same numbers, so the figures must be equal to the last bit.
    draws = _ar1(np.random.default_rng(13), 0.5, (4, 200))
    draws = np.stack([draws, draws + 3.0 * np.arange(4)[:, None], draws], axis=2)
    extreme = draws * np.array([2.0**1000, 2.0**-1000, 1.0])
    np.testing.assert_array_equal(split_rhat(extreme), split_rhat(draws))
    np.testing.assert_array_equal(effective_sample_size(extreme), effective_sample_size(draws))
    assert split_rhat(draws)[1] > 1.5  # the shifted chains are still told apart
