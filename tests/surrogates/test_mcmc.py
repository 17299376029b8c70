"""Relabelling, split R-hat and ESS against known answers."""

from __future__ import annotations

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
