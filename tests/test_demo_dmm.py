import warnings

import numpy as np

from unboxed import Attribution
from unboxed.demo import dmm_men_demo
from unboxed.local import segment
from unboxed.surrogates import DMMMEN, ConvergenceWarning
from unboxed.surrogates._mcmc import RHAT_LIMIT


def test_dmm_men_demo_tests_its_insights(tmp_path, digits, digits_blackbox):
    lines = []
    result = dmm_men_demo(digits_blackbox, digits, tmp_path, echo=lines.append)
    report = "\n".join(lines)
    assert "DMM-MEN" in report and "Deletion test" in report
    # The insights are faithful: removing them hurts far more than removing random pixels.
    deletion = result["deletion"]
    assert np.all(deletion.separated())
    assert np.all(deletion.pcr < deletion.random_pcr)
    assert np.all(result["model"].r2_ > 0.3)
    local = Attribution.load(tmp_path / "dmm_men_local.npz")
    assert local.values.shape == (4, 64)
    assert (tmp_path / "dmm_men_insights.png").stat().st_size > 0


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
    assert f"held-out R^2 {model.r2_.min():.2f}-{model.r2_.max():.2f}" in report
    assert f"({mixed} of {model.rhat_.size} digits below {RHAT_LIMIT}," in report
    # the local explanations are over the demo's 2x2 cells
    X = digits.X_test[:4]
    cells = segment(X, (8, 8), method="grid", cell=2)
    expected = model.explain_local(X, segments=cells, n_samples=300)
    np.testing.assert_array_equal(result["local"].values, expected.values)
