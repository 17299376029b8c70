import numpy as np
import pytest

from unboxed.evaluate import bootstrap_mean
from unboxed.evaluate._stats import estimate


def test_bootstrap_matches_a_plain_loop():
    values = np.random.default_rng(0).normal(size=(200, 3))
    mean, ci = bootstrap_mean(values, n_boot=300, random_state=5, sample_frac=0.3)
    rng = np.random.default_rng(5)
    draws = np.array([values[rng.integers(0, 200, size=60)].mean(axis=0) for _ in range(300)])
    np.testing.assert_allclose(mean, values.mean(axis=0))
    np.testing.assert_allclose(ci[:, 0], np.percentile(draws, 2.5, axis=0))
    np.testing.assert_allclose(ci[:, 1], np.percentile(draws, 97.5, axis=0))


def test_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(200):
        sample = rng.binomial(1, 0.3, size=400)
        result = estimate(sample, n_boot=400, random_state=rng)
        covered += result.ci[0] <= 0.3 <= result.ci[1]
    assert 0.88 <= covered / 200 <= 0.99


def test_smaller_draws_give_wider_intervals():
    values = np.random.default_rng(2).binomial(1, 0.5, size=1000).astype(float)
    full = estimate(values, n_boot=500, random_state=0)
    partial = estimate(values, n_boot=500, random_state=0, sample_frac=0.3)
    assert partial.ci[1] - partial.ci[0] > 1.5 * (full.ci[1] - full.ci[0])


def test_nan_is_an_error_not_a_silent_nan():
    with pytest.raises(ValueError, match="values contains NaN"):
        bootstrap_mean(np.array([0.5, np.nan]), n_boot=10, random_state=0)


def test_values_whose_sum_overflows_are_an_error_not_inf():
    with pytest.raises(ValueError, match="too large to average"):
        bootstrap_mean(np.full(10, 1e308), n_boot=20, random_state=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        bootstrap_mean(np.zeros((0, 2)), n_boot=10, random_state=0)
    with pytest.raises(ValueError, match="sample_frac"):
        bootstrap_mean(np.zeros(5), n_boot=10, random_state=0, sample_frac=0)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_mean(np.zeros(5), n_boot=0, random_state=0)
    with pytest.raises(ValueError, match="scalar"):
        bootstrap_mean(np.float64(3.0), n_boot=10)  # gave (3.0, [3, 3]): a CI of one value


def test_each_draw_takes_the_rounded_share_of_rows():
    values = np.random.default_rng(3).normal(size=20)
    _, ci = bootstrap_mean(values, n_boot=200, random_state=7, sample_frac=0.29)  # 5.8 rows
    rng = np.random.default_rng(7)
    draws = np.array([values[rng.integers(0, 20, size=6)].mean() for _ in range(200)])
    np.testing.assert_allclose(ci, np.percentile(draws, [2.5, 97.5]))
