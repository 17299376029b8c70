import json

import numpy as np
import pytest

from unboxed import Attribution
from unboxed.evaluate import agreement, bootstrap_mean
from unboxed.evaluate._stats import Estimate, estimate, proportion, wilson_interval


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
    _, full = bootstrap_mean(values, n_boot=500, random_state=0)
    _, partial = bootstrap_mean(values, n_boot=500, random_state=0, sample_frac=0.3)
    assert partial[1] - partial[0] > 1.5 * (full[1] - full[0])


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


def test_a_share_below_half_a_row_still_draws_one_row():
    values = np.array([1.0, 5.0, 9.0])
    mean, ci = bootstrap_mean(values, n_boot=100, random_state=4, sample_frac=0.1)  # 0.3 rows
    # one row per draw: the interval spans the extreme rows, not a NaN or an error
    rng = np.random.default_rng(4)
    draws = np.array([values[rng.integers(0, 3, size=1)].mean() for _ in range(100)])
    assert mean == 5.0
    np.testing.assert_allclose(ci, np.percentile(draws, [2.5, 97.5]))


def test_draws_in_blocks_match_one_pass(monkeypatch):
    from unboxed.evaluate import _stats

    values = np.random.default_rng(6).normal(size=(30, 2))
    whole = bootstrap_mean(values, n_boot=99, random_state=8)
    # blocks of 7 draws (30 rows x 2 columns each): 99 draws are 14 full blocks and 1
    monkeypatch.setattr(_stats, "_BLOCK_ELEMENTS", 7 * 30 * 2)
    blocked = bootstrap_mean(values, n_boot=99, random_state=8)
    np.testing.assert_array_equal(blocked[0], whole[0])
    np.testing.assert_array_equal(blocked[1], whole[1])


def test_overflow_in_the_draws_alone_is_an_error():
    # the whole sample cancels to 0, but draws that repeat +1e308 overflow
    with pytest.raises(ValueError, match="too large to average"):
        bootstrap_mean(np.array([1e308, -1e308] * 5), n_boot=50, random_state=0)


def test_overflow_in_the_full_mean_alone_is_an_error():
    # one-row draws stay finite; only the mean over all ten rows overflows
    with pytest.raises(ValueError, match="too large to average"):
        bootstrap_mean(np.full(10, 1e308), n_boot=50, random_state=0, sample_frac=0.1)


def test_a_sample_of_matrices_keeps_their_shape():
    values = np.random.default_rng(9).normal(size=(40, 2, 3))
    mean, ci = bootstrap_mean(values, n_boot=50, random_state=1)
    assert mean.shape == (2, 3) and ci.shape == (2, 3, 2)
    rng = np.random.default_rng(1)
    draws = np.array([values[rng.integers(0, 40, size=40)].mean(axis=0) for _ in range(50)])
    np.testing.assert_allclose(mean, values.mean(axis=0))
    np.testing.assert_allclose(ci[..., 0], np.percentile(draws, 2.5, axis=0))
    np.testing.assert_allclose(ci[..., 1], np.percentile(draws, 97.5, axis=0))


def test_estimate_of_a_column_or_of_booleans_is_that_of_the_flat_sample():
    hits = np.random.default_rng(10).random(50) < 0.7
    flat = estimate(hits.astype(float), n_boot=80, random_state=2)
    assert estimate(hits, n_boot=80, random_state=2) == flat
    assert estimate(hits[:, None], n_boot=80, random_state=2) == flat
    assert flat.n == 50 and flat.mean == hits.mean()


@pytest.mark.parametrize("scalar", [3.0, np.float64(3.0), np.array(3.0)])
def test_estimate_of_a_scalar_is_an_error_not_a_sample_of_one(scalar):
    with pytest.raises(ValueError, match="scalar 3.0"):
        estimate(scalar, n_boot=10, random_state=0)


def test_an_estimate_prints_and_serialises_every_field():
    import json

    result = Estimate(0.123456, (0.1, 0.15), 40)
    assert str(result) == "0.1235 [0.1000, 0.1500]"
    as_dict = result.as_dict()
    assert as_dict == {"mean": 0.123456, "ci": [0.1, 0.15], "n": 40}
    assert json.loads(json.dumps(as_dict)) == as_dict  # the JSON round trip is exact


def test_an_estimate_of_one_case_prints_without_its_zero_width_interval():
    """A bootstrap of one case gives [x, x], which printed as a certain figure; Wilson's
    interval of one case is wide and prints as it is."""
    one = estimate(np.array([0.5485]), n_boot=10, random_state=0)
    assert one.ci == (0.5485, 0.5485)
    assert str(one) == "0.5485 (one case: no CI)"
    assert str(proportion(np.array([True]))).startswith("1.0000 [0.2065, 1.0000]")


@pytest.mark.parametrize(
    ("result", "printed"),
    [
        # a mean of -0.00001, and a bound of -0.0 (a mean of [0.0, -0.0]), read "-0.0000"
        (Estimate(-0.00001, (-0.01, -0.0), 40), "0.0000 [-0.0100, 0.0000]"),
        (Estimate(0.002, (-0.00004, 0.004), 40), "0.0020 [0.0000, 0.0040]"),
        (Estimate(-0.0, (-0.0, -0.0), 1), "0.0000 (one case: no CI)"),
        # a figure below 0 that does not round to 0 keeps its sign
        (Estimate(-0.00005, (-0.0002, 0.0001), 40), "-0.0001 [-0.0002, 0.0001]"),
    ],
)
def test_an_estimate_that_rounds_to_zero_prints_zero_not_minus_zero(result, printed):
    # As the report's page and explain's sentences print it (unboxed._numbers.fixed): the
    # sign of a figure that reads 0 at 4 decimals claims a side its digits do not show.
    assert str(result) == printed


def test_an_estimate_of_a_sample_that_rounds_to_zero_prints_zero():
    # its mean -0.00001 and low bound -0.00003 read "-0.0000 [-0.0000, 0.0000]"
    small = estimate(np.array([-3e-5, 1e-5]), n_boot=50, random_state=0)
    assert small.mean < 0 and small.ci[0] < 0
    assert str(small) == "0.0000 [0.0000, 0.0000]"


# ------------------------------------------------------------------ proportions
@pytest.mark.parametrize("n", [1, 7, 100])
def test_wilson_interval_matches_scipy_for_every_count(n):
    from scipy.stats import binomtest

    for successes in range(n + 1):
        ci = binomtest(successes, n).proportion_ci(method="wilson")
        np.testing.assert_allclose(wilson_interval(successes, n), (ci.low, ci.high), atol=1e-12)


def _exact_coverage(interval, p, n):
    """P(interval(X) covers p) for X ~ Binomial(n, p), summed over every X."""
    from scipy.stats import binom

    return sum(binom.pmf(x, n, p) for x in range(n + 1) if interval(x)[0] <= p <= interval(x)[1])


@pytest.mark.parametrize("p", [0.5, 0.9, 0.97, 0.99, 0.995])
def test_an_agreements_interval_keeps_its_coverage_near_one(p):
    """Surrogates agree with their black box on 95-100% of the rows, where a percentile
    bootstrap of the 0/1 agreements undercovers: all 100 rows agreeing gave [1, 1], and
    an agreement of 0.99 on 100 rows was covered with probability 0.63. The coverage
    here is exact: every count of agreements, weighted by its binomial probability."""
    n = 100

    def interval(x):
        return agreement(np.r_[np.ones(x, int), np.zeros(n - x, int)], np.ones(n, int)).ci

    assert _exact_coverage(interval, p, n) >= 0.9


def test_an_agreement_of_every_row_is_not_certain():
    result = agreement(np.zeros(100, int), np.zeros(100, int))
    assert result.mean == 1.0 and result.ci == (pytest.approx(100 / (100 + 1.959964**2)), 1.0)


def test_a_proportion_takes_only_zero_one_outcomes():
    assert proportion(np.array([True, False, True, True])).mean == 0.75
    with pytest.raises(ValueError, match="0 or 1"):
        proportion(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="empty"):
        proportion(np.array([], dtype=bool))
    with pytest.raises(ValueError, match="successes <= n"):
        wilson_interval(3, 2)


def test_a_mean_of_continuous_values_keeps_its_coverage():
    """AOPC and mean probabilities keep the percentile bootstrap: on a skewed
    continuous sample (exponential, n = 60) it covers the true mean near 95%."""
    rng = np.random.default_rng(4)
    covered = sum(
        lo <= 1.0 <= hi
        for lo, hi in (
            estimate(rng.exponential(size=60), n_boot=300, random_state=rng).ci for _ in range(300)
        )
    )
    assert 0.88 <= covered / 300 <= 0.99


def test_an_estimate_saves_and_loads_back_exactly(tmp_path):
    """An Estimate (from agreement, fidelity(), ...) could not be saved on its own."""
    path = tmp_path / "agreement.json"
    result = agreement(np.r_[np.zeros(90, int), np.ones(10, int)], np.zeros(100, int))
    result.save(path)
    loaded = Estimate.load(path)
    assert loaded == result and type(loaded.n) is int and type(loaded.ci) is tuple
    assert json.loads(path.read_text())["format"] == "unboxed-estimate"


@pytest.mark.parametrize("path", [None, 3, b"a.json"])
def test_an_estimate_refuses_a_path_that_is_no_str_or_path_by_name(path):
    # pathlib's "expected str, bytes or os.PathLike object, not NoneType" named no
    # argument, as SavedResult.save and load's did before 2a235f6
    message = f"path must be a str or path, got {type(path).__name__}$"
    with pytest.raises(TypeError, match=message):
        Estimate(0.5, (0.0, 1.0), 3).save(path)
    with pytest.raises(TypeError, match=message):
        Estimate.load(path)


@pytest.mark.parametrize(
    "estimate", [Estimate(np.inf, (0.0, np.inf), 3), Estimate(0.5, (-np.inf, 1.0), 3)]
)
def test_an_estimate_that_is_not_finite_is_refused_before_a_file_is_written(tmp_path, estimate):
    """JSON writes inf as Infinity, which load refuses: such a file could not be read
    back (NaN is refused when the estimate is made)."""
    path = tmp_path / "nan.json"
    with pytest.raises(ValueError, match="not finite"):
        estimate.save(path)
    assert not path.exists()


@pytest.mark.parametrize(
    ("mean", "ci", "message"),
    [
        (np.nan, (0.0, 1.0), "cannot be NaN"),
        (0.5, (0.0, np.nan), "cannot be NaN"),
        (0.5, (0.6, 0.4), r"cannot be inverted, got low 0\.6 > high 0\.4"),
    ],
)
def test_an_estimate_with_a_nan_or_an_inverted_interval_is_refused_when_made(mean, ci, message):
    with pytest.raises(ValueError, match=message):
        Estimate(mean, ci, 3)


def test_an_estimate_whose_mean_lies_outside_its_interval_is_kept():
    # A percentile bootstrap of a skewed sample can leave the mean outside it.
    assert Estimate(0.7, (0.1, 0.6), 3).mean == 0.7


def test_an_estimate_file_with_an_inverted_interval_is_refused_naming_the_file(tmp_path):
    """It loaded as an Estimate whose low bound was above its high one."""
    path = tmp_path / "estimate.json"
    Estimate(0.5, (0.4, 0.6), 3).save(path)
    record = json.loads(path.read_text())
    record["ci"] = [0.6, 0.4]
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"estimate\.json is not a valid Estimate: .*inverted"):
        Estimate.load(path)
    record["ci"], record["mean"] = [0.4, 0.45], 0.5  # outside: a bootstrap's may be
    path.write_text(json.dumps(record))
    assert Estimate.load(path) == Estimate(0.5, (0.4, 0.45), 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"mean": 0.5, "ci": [0.4, 0.6]', "could not be read safely"),  # cut off
        ('{"format": "unboxed-model", "format_version": 1}', "unknown format"),  # foreign
        ('{"format": "unboxed-estimate", "format_version": 2}', "format version 2"),
        (
            '{"format": "unboxed-estimate", "format_version": 1, "mean": "0.5", '
            '"ci": [0.4, 0.6], "n": 3}',
            "mean must be a finite number",
        ),
        ('{"format": "unboxed-estimate", "format_version": 1, "mean": 0.5}', "not an estimate"),
    ],
)
def test_a_damaged_or_foreign_estimate_file_is_refused(tmp_path, content, message):
    path = tmp_path / "estimate.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        Estimate.load(path)


def test_an_explanation_file_is_not_an_estimate(tmp_path):
    path = tmp_path / "estimate.npz"
    Estimate(0.5, (0.4, 0.6), 3).save(path)
    with pytest.raises(ValueError, match="is not an unboxed explanation file"):
        Attribution.load(path)
    np.savez(path, values=np.zeros(3))  # an .npz, never unpickled
    with pytest.raises(ValueError, match="is not an unboxed estimate file"):
        Estimate.load(path)


def test_an_n_boot_too_large_to_hold_is_refused_by_name_before_the_draws():
    # It drew block after block without end: deletion_curve(n_boot=10**30) hung.
    with pytest.raises(ValueError, match=f"n_boot={10**30} is too large"):
        bootstrap_mean(np.ones((5, 2)), n_boot=10**30, random_state=0)
    with pytest.raises(ValueError, match=f"n_boot={10**30} is too large"):
        estimate(np.ones(5), n_boot=10**30, random_state=0)
