import warnings

import numpy as np

from unboxed._numbers import fixed
from unboxed.evaluate import deletion_test
from unboxed.local import segment
from unboxed.surrogates import DMMMEN, ConvergenceWarning
from unboxed.surrogates._mcmc import RHAT_LIMIT


def test_dmm_demo_runs_the_deletion_test_on_the_positive_insights(
    monkeypatch, tmp_path, digits, digits_blackbox
):
    import unboxed.demo as demo
    import unboxed.surrogates as surrogates

    class Quick(DMMMEN):  # the demo's settings, with chains short enough for a test
        def __init__(self, **kwargs):
            super().__init__(**{**kwargs, "n_iter": 16, "n_chains": 1})

    monkeypatch.setattr(surrogates, "DMMMEN", Quick)
    rankings, real = [], demo.deletion_test

    def recording(blackbox, X, ranking, *args, **kwargs):
        rankings.append(ranking)
        return real(blackbox, X, ranking, *args, **kwargs)

    monkeypatch.setattr(demo, "deletion_test", recording)
    lines = []
    with warnings.catch_warnings():
        # short chains do not mix: the report says so in words, without a warning
        warnings.simplefilter("error", ConvergenceWarning)
        result = demo.dmm_men_demo(digits_blackbox, digits, tmp_path, echo=lines.append)
    [ranking] = rankings
    expected = result["model"].class_insights(12, by="positive")
    assert ranking.meta["by"] == "positive"
    np.testing.assert_array_equal(ranking.values, expected.values)
    model, report = result["model"], "\n".join(lines)
    mixed = np.sum(model.rhat_ < RHAT_LIMIT)
    assert mixed < model.rhat_.size  # the line below must tell mixed from unmixed digits
    low, high = fixed(model.r2_.min(), 2), fixed(model.r2_.max(), 2)
    assert f"held-out R^2 from {low} to {high}," in report
    assert f"({mixed} of {model.rhat_.size} digits below {RHAT_LIMIT}," in report
    # the local explanations are over the demo's 2x2 cells
    X = digits.X_test[:4]
    cells = segment(X, (8, 8), method="grid", cell=2)
    expected = model.explain_local(X, segments=cells, n_samples=300)
    np.testing.assert_array_equal(result["local"].values, expected.values)


def test_dmm_demo_fits_on_the_training_split_and_tests_on_the_test_split(
    monkeypatch, tmp_path, digits, digits_blackbox
):
    """The mixture is fitted on the training images with the demo's seed and the
    settings its report names (48 pixels, 2 chains of 400 sweeps); the deletion test of
    the insights runs on every test image with the demo's settings and seed, and the
    report's components per digit are counted per digit and its R-hat is the worst
    digit's. Recomputed with seed 5."""
    import unboxed.demo as demo
    import unboxed.surrogates as surrogates

    asked, fitted, plotted = [], [], []

    class Quick(DMMMEN):  # records what the demo asks for, then runs short chains
        def __init__(self, **kwargs):
            asked.append(kwargs)
            super().__init__(**{**kwargs, "n_iter": 16, "n_chains": 1})

        def fit(self, X, blackbox, **kwargs):
            fitted.append(X)
            return super().fit(X, blackbox, **kwargs)

        def plot(self, *args, **kwargs):
            plotted.append(kwargs)
            return super().plot(*args, **kwargs)

    monkeypatch.setattr(surrogates, "DMMMEN", Quick)
    lines = []
    result = demo.dmm_men_demo(digits_blackbox, digits, tmp_path, random_state=5, echo=lines.append)
    [kwargs], [X] = asked, fitted
    assert (kwargs["n_features"], kwargs["random_state"]) == (48, 5)
    np.testing.assert_array_equal(X, digits.X_train)
    report = "\n".join(lines)
    assert f"{kwargs['n_chains']} chains of {kwargs['n_iter']} sweeps" in report
    model = result["model"]
    assert f"split R-hat of the coefficients {model.rhat_.max():.2f} at worst" in report
    assert [p["k"] for p in plotted] == [12]  # the figure shows the 12 insights tested
    per_digit = np.mean(np.sum(model.weights_ >= 0.05, axis=1))
    assert model.weights_.shape[0] == 10  # one row per digit
    assert f"{per_digit:.1f} components per digit" in report
    expected = deletion_test(
        digits_blackbox,
        digits.X_test,
        model.class_insights(12, by="positive"),
        [4, 8, 12],
        fill="zero",
        n_boot=200,
        sample_frac=1.0,
        random_state=5,
        verbose=False,
    )
    deletion = result["deletion"]
    assert list(deletion.ks) == [4, 8, 12]
    np.testing.assert_array_equal(deletion.pcr, expected.pcr)
    np.testing.assert_array_equal(deletion.random_pcr, expected.random_pcr)
    # the intervals and the random pixels follow the seed
    np.testing.assert_array_equal(deletion.pcr_ci, expected.pcr_ci)
    np.testing.assert_array_equal(deletion.random_pcr_ci, expected.random_pcr_ci)
    assert expected.to_markdown(label="insight") in report
    # the local fits' R^2, averaged over the four explained images: the in-sample one
    # can flatter, so the held-out one stands beside it
    meta = result["local"].meta
    in_sample, held_out = np.mean(meta["r2"]), np.mean(meta["r2_held_out"])
    assert f"in-sample R^2 {fixed(in_sample, 2)}, held out {fixed(held_out, 2)};" in report
    assert np.isfinite(held_out) and held_out != in_sample


def test_the_r2_range_reads_unambiguously_and_never_as_minus_zero():
    # "held-out R^2 -0.12-0.85" read as a subtraction, and a class at -0.001 read "-0.00"
    from unboxed.demo import _r2_range

    assert _r2_range(np.array([0.85, -0.12, 0.3])) == "from -0.12 to 0.85"
    assert _r2_range(np.array([-0.001, 0.5])) == "from 0.00 to 0.50"
    assert _r2_range(np.array([-0.7, -0.2])) == "from -0.70 to -0.20"
