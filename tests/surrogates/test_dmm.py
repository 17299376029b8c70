"""DMMMEN: recovery of planted structure, checkpoints, explanations and bad input."""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats
from sklearn.linear_model import LogisticRegression

from tests.helpers import (
    PLANTED_COLUMNS,
    assert_progress_shown,
    iris_refusing_a_petal_of_4,
    record_progress,
)
from unboxed import Attribution, BlackBox, BlackBoxError, FeatureImportance
from unboxed._io import read_npz, write_npz_with_header
from unboxed.local._base import naming_rows
from unboxed.surrogates import DMMMEN, ConvergenceWarning, NotFittedError
from unboxed.surrogates import _dmm as dmm_module
from unboxed.surrogates import _dmm_chain as chain_module
from unboxed.surrogates._dmm import CLIP, class_logit
from unboxed.surrogates._dmm_chain import ChainSettings, sample_posterior
from unboxed.surrogates._dmm_math import Prior, initial_state

SUPPORT = {2, 5, 11, 17}


#: The fitted attributes that must repeat exactly when only the way of fitting changes.
FITTED = ("coef_", "weights_", "sigma2_", "rhat_", "acceptance_", "r2_")


def short(**kwargs) -> DMMMEN:
    settings = {"n_iter": 200, "n_chains": 1, "random_state": 0, "verbose": False}
    return DMMMEN(**{**settings, **kwargs})


@pytest.fixture(scope="module")
def planted_fit(planted, planted_logreg):
    # Any seed: with 200 sweeps, about one seed in ten once left a chain where a
    # component fitting the logits saturated at the clip had noisy coefficients that
    # outranked a support feature in the class's positive insight (of seeds 8-27, 19
    # ranked the support first), so it was pinned to seed 1. Now seeds 0-39 all rank
    # it first, and at seeds 0-19 all 11 tests on this fit pass.
    blackbox = BlackBox.from_sklearn(planted_logreg)
    return short(n_chains=2, random_state=1).fit(planted.X_train[:1500], blackbox)


# ---------------------------------------------------------------- recovery
def _two_regressions(rng, n=1500):
    X = np.c_[np.ones(n), rng.normal(size=(n, 9))]
    beta = np.zeros((2, 10))
    beta[0, [0, 1, 2]] = [2.0, 3.0, -2.0]
    beta[1, [0, 3, 4]] = [-2.0, -3.0, 1.5]
    z = (rng.random(n) < 0.3).astype(int)
    sigma = np.array([0.5, 0.3])
    return X, (X * beta[z]).sum(axis=1) + rng.normal(size=n) * sigma[z], beta, sigma


def test_relabelled_posterior_recovers_a_simulated_mixture():
    rng = np.random.default_rng(0)
    X, y, beta, sigma = _two_regressions(rng)
    settings = ChainSettings(6, 3, 400, 200, 1, 2, Prior())
    post = sample_posterior(X, y, settings, [np.random.default_rng(i) for i in range(2)])
    big = np.argsort(-post.weights)[:2]
    assert post.weights[big].sum() > 0.97
    # Match the two heavy components to the truth by their intercepts (+2 vs -2).
    order = big[np.argsort(-post.coef[big, 0])]
    np.testing.assert_allclose(post.weights[order], [0.7, 0.3], atol=0.04)
    np.testing.assert_allclose(post.coef[order], beta, atol=0.1)
    np.testing.assert_allclose(np.sqrt(post.sigma2[order]), sigma, rtol=0.15)
    assert post.rhat < 1.1


def test_pilot_start_continues_from_the_likeliest_pilot(monkeypatch):
    rng = np.random.default_rng(0)
    X, y, _, _ = _two_regressions(rng, n=300)
    settings = ChainSettings(4, 2, 50, 25, 1, 1, Prior(), n_init=4, init_sweeps=10)
    pilots = []  # (final state, log-likelihoods) of each pilot
    sweep = chain_module.sweep

    def recording(X, y, state, prior, rng, **kwargs):
        new, log_lik = sweep(X, y, state, prior, rng, **kwargs)
        if not pilots or len(pilots[-1][1]) == settings.init_sweeps:
            pilots.append([None, []])
        pilots[-1][0] = new
        pilots[-1][1].append(log_lik)
        return new, log_lik

    monkeypatch.setattr(chain_module, "sweep", recording)
    start = chain_module.pilot_start(X, y, settings, np.random.default_rng(1))
    assert len(pilots) == 4
    scores = [np.mean(lls[5:]) for _, lls in pilots]
    best = pilots[int(np.argmax(scores))][0]
    np.testing.assert_array_equal(start.z, best.z)
    np.testing.assert_array_equal(start.beta, best.beta)
    # The pilots' MH proposals are not the chain's: its rates count from the start.
    assert not start.accepted.any() and not start.proposed.any() and best.proposed.any()
    # One start is the plain initial state, with no sweep.
    single = dataclasses.replace(settings, n_init=1)
    plain = chain_module.pilot_start(X, y, single, np.random.default_rng(1))
    np.testing.assert_array_equal(
        plain.z, initial_state(X, y, 4, 2, Prior(), np.random.default_rng(1)).z
    )
    assert len(pilots) == 4


def test_a_planted_sparse_support_is_recovered():
    rng = np.random.default_rng(1)
    n, p = 300, 30
    X = rng.normal(size=(n, p))
    beta = np.zeros(p)
    beta[[3, 8, 19, 27]] = [1.5, -1.0, 2.0, 0.8]
    y = X @ beta + 0.3 * rng.normal(size=n)
    settings = ChainSettings(3, 2, 300, 150, 1, 1, Prior())
    post = sample_posterior(X, y, settings, [np.random.default_rng(0)])
    coef = post.weights @ post.coef
    assert set(np.flatnonzero(np.abs(coef) > 0.3)) == {3, 8, 19, 27}
    assert np.abs(np.delete(coef, [3, 8, 19, 27])).max() < 0.15


def test_insights_rank_the_planted_support_first(planted_fit):
    for class_ in (0, 1):
        insight = planted_fit.insights(class_, k=4)
        assert isinstance(insight, FeatureImportance)
        assert set(insight.top_k(4, class_=0).tolist()) == SUPPORT
        assert insight.class_names[0] == f"class {class_}: weighted"
        # Only the top k features keep a value.
        assert np.count_nonzero(insight.values[0]) == 4


def test_one_component_is_a_bayesian_elastic_net_per_class(planted, planted_blackbox):
    """J = 1, the mixture's degenerate case (n_components=2 was the least before): one
    elastic net per class, of weight 1, which still ranks the planted support first;
    locally the responsible component and the average are the same regression."""
    m = short(n_components=1, random_state=0).fit(planted.X_train[:1500], planted_blackbox)
    assert m.coef_.shape == (2, 1, planted.X_train.shape[1])
    np.testing.assert_array_equal(m.weights_, 1.0)
    for class_ in (0, 1):
        assert set(m.insights(class_, k=4).top_k(4, class_=0).tolist()) == SUPPORT
    common = {"blackbox": planted_blackbox, "target": 1, "n_samples": 200}
    one = short(n_iter=40, n_components=1)
    responsible = one.explain_local(planted.X_test[:2], component="responsible", **common)
    average = one.explain_local(planted.X_test[:2], component="average", **common)
    np.testing.assert_allclose(responsible.values, average.values, rtol=1e-12, atol=1e-12)


def _lookup_blackbox(Z: np.ndarray, proba: np.ndarray) -> BlackBox:
    """A black box on ``Z`` that returns ``proba`` for each of its rows."""
    index = {row.tobytes(): i for i, row in enumerate(Z)}

    def predict(rows):
        return proba[[index[row.tobytes()] for row in np.ascontiguousarray(rows)]]

    return BlackBox.from_callable(predict, n_classes=proba.shape[1], input_shape=None)


def test_pca_reduction_is_the_fit_on_the_scores_mapped_back(planted, planted_blackbox):
    X = planted.X_train[:600]
    pca = short(n_features=8, reduction="pca").fit(X, planted_blackbox)
    features = pca.features_
    assert features.size == 20 and pca.components_.shape == (8, 20)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(8), atol=1e-12)
    Z = (X - pca.center_) @ pca.components_.T
    box = _lookup_blackbox(Z, planted_blackbox.predict_proba(X))
    scores = short().fit(Z, box)  # the same chains, run on the scores themselves
    for name in ("weights_", "sigma2_", "r2_"):
        np.testing.assert_allclose(getattr(pca, name), getattr(scores, name), rtol=1e-6)
    np.testing.assert_allclose(pca.coef_, scores.coef_ @ pca.components_, atol=1e-9)
    shift = np.einsum("cjd,d->cj", pca.coef_, pca.center_)
    np.testing.assert_allclose(pca.intercept_, scores.intercept_ - shift, atol=1e-9)
    # mean_input_ is the class mean of the inputs themselves; its scores are the
    # scores' class mean.
    np.testing.assert_allclose(
        (pca.mean_input_ - pca.center_) @ pca.components_.T, scores.mean_input_, atol=1e-9
    )


def test_pca_reduction_of_every_feature_still_finds_the_planted_support(planted, planted_logreg):
    fitted = short(n_chains=2, reduction="pca").fit(
        planted.X_train[:1500], BlackBox.from_sklearn(planted_logreg)
    )
    assert fitted.components_.shape == (20, 20)
    for class_ in (0, 1):
        assert set(fitted.insights(class_, k=4).top_k(4, class_=0).tolist()) == SUPPORT


def test_positive_and_contribution_insights_keep_only_evidence_for_the_class(planted_fit):
    m = planted_fit
    for by in ("positive", "contribution"):
        for class_ in (0, 1):
            insight = m.insights(class_, k=20, by=by)
            assert np.all(insight.values >= 0)
            signed = m.weights_[class_] @ m.coef_[class_]
            if by == "contribution":
                signed = signed * m.mean_input_[class_]
            # Exactly the features with positive weighted coefficients keep a value.
            np.testing.assert_array_equal(insight.values[0] > 0, signed > 0)
    # The support raises the logit of class 1 and lowers that of class 0.
    assert set(m.insights(1, k=4, by="positive").top_k(4, class_=0).tolist()) == SUPPORT
    assert np.all(m.insights(0, k=20, by="positive").values[0, sorted(SUPPORT)] == 0)
    np.testing.assert_allclose(m.mean_input_[1], m.mean_input_[1].clip(0, 1))


def test_fitted_attributes_have_the_documented_shapes(planted_fit):
    m = planted_fit
    J, d = m.n_components, 20
    assert m.coef_.shape == (2, J, d) and m.weights_.shape == (2, J)
    np.testing.assert_allclose(m.weights_.sum(axis=1), 1.0, atol=1e-9)
    for name in ("intercept_", "sigma2_", "prior_of_component_"):
        assert getattr(m, name).shape == (2, J)
    assert m.lambdas_.shape == (2, J, 2) and m.acceptance_.shape == (2, 4)
    assert np.all((m.acceptance_[:, :3] > 0) & (m.acceptance_[:, :3] <= 1))
    assert np.all(m.acceptance_[:, 3] == 0)  # no split-merge moves by default
    assert m.rhat_.shape == m.ess_.shape == m.r2_.shape == (2,)
    assert np.all(np.isfinite(m.rhat_)) and np.all(m.ess_ > 0)


def test_a_fit_whose_chains_have_not_mixed_says_so(planted, planted_blackbox, planted_fit):
    X = planted.X_train[:1500]
    with pytest.warns(ConvergenceWarning, match=r"classes \[0, 1\] have not mixed") as record:
        unmixed = short(n_iter=10, thin=1, n_chains=2).fit(X, planted_blackbox)
    assert np.all(unmixed.rhat_ >= 1.1)
    assert f"up to {unmixed.rhat_.max():.2f}" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # 600 sweeps mixed at each of seeds 0-19 (worst R-hat 1.036); the 200 of
        # planted_fit's settings did at 11 of them, seed 1 among them
        mixed = short(n_iter=600, n_chains=2).fit(X, planted_blackbox)
    assert np.all(mixed.rhat_ < 1.1)
    one_class = copy.copy(planted_fit)
    one_class.rhat_ = np.array([1.02, 1.5])
    with pytest.warns(ConvergenceWarning, match=r"classes \[1\] have not mixed"):
        one_class._warn_unmixed()


def test_same_random_state_gives_the_same_fit(planted, planted_blackbox):
    X = planted.X_train[:400]
    a = short(n_iter=40).fit(X, planted_blackbox)
    b = short(n_iter=40).fit(X, planted_blackbox)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    c = short(n_iter=40, random_state=1).fit(X, planted_blackbox)
    assert not np.array_equal(a.coef_, c.coef_)


# ---------------------------------------------------------------- explanations
def test_explain_is_beta_times_x_of_the_responsible_component(planted_fit, planted):
    X = planted.X_test[:30]
    attribution = planted_fit.explain(X)
    assert isinstance(attribution, Attribution)
    resp, target = planted_fit.responsibilities(X)
    component = resp.argmax(axis=1)
    expected = planted_fit.coef_[target, component] * X
    np.testing.assert_allclose(attribution.values, expected)
    assert attribution.meta["component"] == component.tolist()
    # each row carries the held-out R^2 of the class fit that explains it
    classes = planted_fit.classes_.tolist()
    expected_r2 = [float(planted_fit.r2_[classes.index(c)]) for c in target]
    assert attribution.meta["class_r2"] == expected_r2
    assert attribution.plot(0).axes[0].get_title().endswith(f"{expected_r2[0]:.3g}")
    mixed = planted_fit.explain(X, mode=True)
    weighted = np.einsum("nj,njd->nd", resp, planted_fit.coef_[target]) * X
    np.testing.assert_allclose(mixed.values, weighted)
    # Away from the logit clip, the responsible component's evidence is the support.
    proba = planted_fit.blackbox_.predict_proba(X).max(axis=1)
    unsaturated = np.flatnonzero(proba < 0.999)
    assert unsaturated.size >= 5
    for row in np.abs(attribution.values[unsaturated]):
        assert set(np.argsort(-row)[:4].tolist()) == SUPPORT


def test_explain_names_a_dataframes_rows_by_its_index(digits):
    """Its Attribution kept no index, where the local explainers' do: the panels of a
    DataFrame's rows 70..72 were titled "row 0".."row 2"."""
    import pandas as pd

    teacher = LogisticRegression(max_iter=500).fit(digits.X_train, digits.y_train)
    blackbox = BlackBox.from_sklearn(teacher)
    dmm = short(n_iter=10, n_features=16).fit(digits.X_train[:600], blackbox)
    frame = pd.DataFrame(digits.X_test[:3], index=[70, 71, 72])
    for mode in (False, True):
        explained = dmm.explain(frame, mode=mode)
        assert explained.row_names == ("70", "71", "72")
        assert explained.plot(2).axes[0].get_title().startswith("dmm-men: row 72, class ")
        unnamed = dmm.explain(frame.to_numpy(), mode=mode)
        assert unnamed.row_names is None
        np.testing.assert_array_equal(explained.values, unnamed.values)


def test_explain_local_finds_the_planted_support(planted):
    support = sorted(SUPPORT)

    def smooth(rows):  # the logit is linear in the support: 3 (sum - 2)
        p1 = 1 / (1 + np.exp(-3 * (rows[:, support].sum(axis=1) - 2)))
        return np.c_[1 - p1, p1]

    blackbox = BlackBox.from_callable(smooth, n_classes=2, input_shape=(20,))
    X = planted.X_test[np.all(planted.X_test[:, support] > 0.3, axis=1)][:4]
    model = short(n_iter=120, n_components=3)
    # 400 samples were too few: for one seed in four, one instance's responsible
    # component was a small one with a shrunken coefficient.
    attribution = model.explain_local(X, blackbox=blackbox, n_samples=800, target=1)
    assert attribution.values.shape == (4, 20)
    assert attribution.meta["method"] == "dmm-men-local"
    # Switching a support feature off moves the logit by 3 x_s: that is its coefficient.
    np.testing.assert_allclose(attribution.values[:, support], 3 * X[:, support], atol=0.1)
    assert np.abs(np.delete(attribution.values, support, axis=1)).max() < 0.1
    assert np.all(np.array(attribution.meta["r2"]) > 0.95)
    again = model.explain_local(X, blackbox=blackbox, n_samples=800, target=1)
    np.testing.assert_array_equal(attribution.values, again.values)


def test_explain_local_kernel_weighs_the_perturbations_near_the_instance():
    # Feature 0's effect grows with how many of features 2-7 are on (0.4 at the
    # instance, 0.05 by weighted least squares over half-on masks, 0.18 under LIME's
    # kernel of width 0.1); feature 1 adds 0.1 everywhere.
    def response(rows):
        p1 = 0.3 + 0.4 * rows[:, 0] * rows[:, 2:].mean(axis=1) ** 4 + 0.1 * rows[:, 1]
        return np.c_[1 - p1, p1]

    blackbox = BlackBox.from_callable(response, n_classes=2, input_shape=(8,))
    x, segments = np.ones((1, 8)), np.arange(8)[None]
    common = {"blackbox": blackbox, "target": 1, "segments": segments, "n_samples": 1000}
    common |= {"scale": "probability", "component": "average"}
    model = short(n_iter=200, n_components=2)
    plain = model.explain_local(x, **common)
    near = model.explain_local(x, kernel_width=0.1, **common)
    # Seeds 0-3 gave 0.043-0.048 and 0.077-0.081 for feature 0.
    assert plain.values[0, 0] < 0.06 < near.values[0, 0]
    np.testing.assert_allclose([plain.values[0, 1], near.values[0, 1]], 0.1, atol=0.01)


def test_explain_local_options_are_checked(planted, planted_blackbox):
    with pytest.raises(ValueError, match="scale must be"):
        short().explain_local(planted.X_test[:2], blackbox=planted_blackbox, scale="odds")
    with pytest.raises(ValueError, match="component must be"):
        short().explain_local(planted.X_test[:2], blackbox=planted_blackbox, component="all")
    # Not "1.0" or True either: float() took them as widths.
    for width in (0, -1.0, float("nan"), "1.0", True):
        with pytest.raises(ValueError, match="kernel_width must be"):
            short().explain_local(planted.X_test[:2], blackbox=planted_blackbox, kernel_width=width)
    with pytest.raises(ValueError, match="by must be"):
        short(n_iter=20).fit(planted.X_train[:200], planted_blackbox).insights(0, by="size")


@pytest.mark.parametrize(
    ("spared_calls", "n_per_row"),
    [(0, "40"), (1, "10")],  # 1: the fit's pass is answered, the held-out one raises
    ids=["fit", "held-out"],
)
def test_explain_local_names_the_raising_perturbations_row_by_its_dataframe_label(
    spared_calls, n_per_row
):
    # It said "perturbation 0 of 40 of row 1 of X" alone, where predict_proba and the
    # gradient explainers add the row's label: row 1 of a split is not X.loc[1].
    # Only row 1's perturbations that keep its petal length hold 4.0 (the fill is 0).
    box, X = iris_refusing_a_petal_of_4(spared_calls)
    with pytest.raises(BlackBoxError) as raised:
        short(n_iter=8).explain_local(X, blackbox=box, n_samples=40, n_score=10)
    message = str(raised.value)
    pattern = (
        rf"black box 'refuses_a_petal_of_4' raised ValueError on perturbation \d+ of "
        rf"{n_per_row} of row 1 of X, row X\.loc\['flower-62'\]: petal length 4\.0"
    )
    assert re.fullmatch(pattern, message), message


@pytest.mark.parametrize(
    ("spared_calls", "n_per_row"),
    [(0, "40"), (1, "10")],  # 1: the fit's pass is answered, the held-out one raises
    ids=["fit", "held-out"],
)
def test_explain_local_names_the_rows_a_caller_names(spared_calls, n_per_row):
    # naming_rows did not reach DMM-MEN's passes: they named the perturbation's row
    # "row 1 of X, row X.loc['flower-62']", by the DataFrame's index, where the caller
    # (explanation_sensitivity, say) had named it.
    box, X = iris_refusing_a_petal_of_4(spared_calls)
    with naming_rows(X, lambda i: f"candidate {i} of the pool"):
        with pytest.raises(BlackBoxError) as raised:
            short(n_iter=8).explain_local(X, blackbox=box, n_samples=40, n_score=10)
    message = str(raised.value)
    pattern = (
        rf"black box 'refuses_a_petal_of_4' raised ValueError on perturbation \d+ of "
        rf"{n_per_row} of candidate 1 of the pool: petal length 4\.0"
    )
    assert re.fullmatch(pattern, message), message


#: explain_local's attributions and held-out R^2 of iris rows 0 and 2 of
#: iris_refusing_a_petal_of_4 (short(n_iter=8), n_samples=30, n_score=6, target=0), as
#: the code gave them before naming_rows reached its passes (commit e3fa8cd).
def test_explain_local_draws_the_same_whether_its_rows_are_named_or_not():
    # The names change messages alone, never a draw. (Compared within one run: figures
    # pinned from one machine would fail on another's float sums.)
    box, X = iris_refusing_a_petal_of_4(spared_calls=10**9)  # it never raises
    rows = X.to_numpy()[[0, 2]]

    def explain():
        return short(n_iter=8).explain_local(rows, blackbox=box, n_samples=30, n_score=6, target=0)

    plain = explain()
    with naming_rows(rows, lambda i: f"candidate {i} of the pool"):
        named = explain()
    assert np.array_equal(named.values, plain.values)
    assert np.array_equal(named.meta["r2_held_out"], plain.meta["r2_held_out"])


def test_explain_local_refuses_the_mean_fill_it_has_no_background_for(planted, planted_blackbox):
    # The shared fill check told the user to pass background=, which explain_local
    # does not take. The per-feature means as an array are the same fill.
    with pytest.raises(ValueError, match=r"fill=X_train\.mean\(axis=0\)") as refused:
        short().explain_local(planted.X_test[:2], blackbox=planted_blackbox, fill="mean")
    assert "background=" not in str(refused.value)
    means = planted.X_train.mean(axis=0)
    attribution = short(n_iter=20).explain_local(
        planted.X_test[:2], blackbox=planted_blackbox, fill=means, n_samples=50
    )
    assert attribution.values.shape == (2, planted.n_features)


def test_plot_draws_one_panel_per_class(planted_fit):
    import matplotlib

    matplotlib.use("Agg")
    figure = planted_fit.plot(k=4)
    assert [ax.get_title() for ax in figure.axes] == ["class 0", "class 1"]
    for ax, c in zip(figure.axes, (0, 1), strict=True):  # the 4 insight features as bars
        top = planted_fit.class_insights(k=4).top_k(4, class_=c)
        assert sorted(t.get_text() for t in ax.get_yticklabels()) == sorted(f"x{j}" for j in top)
        # the bars say what they are, in their units
        assert ax.get_xlabel() == "weighted |coefficient|: class logit per unit of the feature"
    assert planted_fit.plot(k=4, value_label="mine").axes[0].get_xlabel() == "mine"


# ---------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def uninterrupted(planted, planted_logreg):
    """``uninterrupted(**settings)``: ``short(**settings)`` fitted without a checkpoint on
    ``planted.X_train[:400]``, the reference the checkpoint tests compare their resumed
    fits with. The fit is deterministic and no test changes it, so each set of settings
    is fitted once for the module, not once per interrupt point."""
    blackbox = BlackBox.from_sklearn(planted_logreg)
    fits: dict[tuple, DMMMEN] = {}

    def fit(**settings) -> DMMMEN:
        key = tuple(sorted(settings.items()))
        if key not in fits:
            fits[key] = short(**settings).fit(planted.X_train[:400], blackbox)
        return fits[key]

    return fit


class Interrupt:
    """Replaces the sweep: raises KeyboardInterrupt at the given call."""

    def __init__(self, monkeypatch, at: int):
        self.calls, self.at = 0, at
        self.real = chain_module.sweep
        monkeypatch.setattr(chain_module, "sweep", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.real(*args, **kwargs)


@pytest.mark.parametrize(
    ("at", "n_init", "moves"),
    # first chain, second chain, second class; with pilots of 5 sweeps, 40 calls a chain:
    # first chain after its pilots, a pilot of the second class, the second class
    [
        (25, 1, {}),
        (45, 1, {}),
        (95, 1, {}),
        (25, 2, {}),
        (85, 2, {}),
        (95, 2, {}),
        (45, 1, {"collapse_every": 4}),
        (45, 1, {"split_merge_every": 2}),
        (45, 1, {"n_occlusions": 1}),
    ],
)
def test_an_interrupted_fit_resumes_to_the_same_draws(
    at, n_init, moves, tmp_path, monkeypatch, planted, planted_blackbox, uninterrupted
):
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 2, "checkpoint_every": 10}
    settings |= {"n_init": n_init, "init_sweeps": 5, **moves}
    reference = uninterrupted(**settings)
    path = tmp_path / "chain.npz"
    interrupt = Interrupt(monkeypatch, at)
    with pytest.raises(KeyboardInterrupt):
        short(checkpoint=path, **settings).fit(X, planted_blackbox)
    assert path.is_file()
    monkeypatch.setattr(chain_module, "sweep", interrupt.real)
    resumed = short(checkpoint=path, **settings).fit(X, planted_blackbox)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name), name)


def test_an_interrupted_fit_keeps_every_finished_sweep(
    tmp_path, monkeypatch, planted, planted_blackbox
):
    # Resuming from the last periodic save also gives the same draws, only later: the
    # save on the way out must keep every sweep that finished before the interrupt.
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 1, "checkpoint_every": 10}
    sweeps = Interrupt(monkeypatch, at=0)
    reference = short(**settings).fit(X, planted_blackbox, classes=[1])
    sweeps.calls, sweeps.at = 0, sweeps.calls - 3  # in the fourth last sweep, past sweep 20
    path = tmp_path / "chain.npz"
    with pytest.raises(KeyboardInterrupt):
        short(checkpoint=path, **settings).fit(X, planted_blackbox, classes=[1])
    sweeps.calls, sweeps.at = 0, 0
    resumed = short(checkpoint=path, **settings).fit(X, planted_blackbox, classes=[1])
    assert sweeps.calls == 4  # the interrupted sweep again and the three after it
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name), name)


@pytest.mark.parametrize("moves", [{"thin": 1}, {"thin": 2}, {"thin": 1, "collapse_every": 3}])
def test_an_interrupt_during_a_periodic_save_resumes_to_the_same_draws(
    moves, tmp_path, monkeypatch, planted, planted_blackbox
):
    # The window between a sweep's end and the next sweep's start holds the periodic
    # save itself; an interrupt there must save the state entering the last sweep under
    # that sweep's own index (it was saved one sweep too far on, shifting the chain).
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 1, "checkpoint_every": 10, **moves}
    reference = short(**settings).fit(X, planted_blackbox)
    real_save, calls = chain_module.Checkpoint.save, []

    def save(checkpoint):
        calls.append(1)
        if len(calls) == 2:  # the save after sweep 20
            raise KeyboardInterrupt
        real_save(checkpoint)

    monkeypatch.setattr(chain_module.Checkpoint, "save", save)
    path = tmp_path / "chain.npz"
    with pytest.raises(KeyboardInterrupt):
        short(checkpoint=path, **settings).fit(X, planted_blackbox)
    monkeypatch.setattr(chain_module.Checkpoint, "save", real_save)
    resumed = short(checkpoint=path, **settings).fit(X, planted_blackbox)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name), name)


# standardize=True: the checkpoint keeps the coefficients per standard deviation, and
# each resumed class maps them back once.
@pytest.mark.parametrize("moves", [{}, {"n_occlusions": 1}, {"standardize": True}])
def test_classes_in_worker_processes_give_the_same_fit_and_checkpoint(
    moves, tmp_path, monkeypatch, planted, planted_blackbox
):
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 2, **moves}
    reference = short(**settings).fit(X, planted_blackbox)
    path = tmp_path / "chain.npz"
    parallel = short(n_jobs=2, checkpoint=path, **settings).fit(X, planted_blackbox)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(parallel, name), getattr(reference, name), name)
    # Every class was folded into the checkpoint and its own file removed: a fit in
    # this process resumes from it without a single sweep.
    assert path.is_file() and not list(tmp_path.glob("chain.class*.npz"))

    def no_sweeps(*args, **kwargs):
        raise AssertionError("resumed fit sampled again")

    monkeypatch.setattr(chain_module, "sweep", no_sweeps)
    resumed = short(checkpoint=path, **settings).fit(X, planted_blackbox)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name), name)


def test_a_worker_resumes_its_class_from_its_own_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    X, y, _, _ = _two_regressions(rng, n=300)
    settings = ChainSettings(4, 2, 30, 15, 1, 2, Prior())
    job = dmm_module._ClassJob(seed=0, settings=settings, test_size=0.2, checkpoint_every=10)
    reference = job.run(3, X, y, None, verbose=False)
    side = tmp_path / "chain.class3.npz"
    interrupt = Interrupt(monkeypatch, 45)  # in the second chain
    with pytest.raises(KeyboardInterrupt):
        dmm_module._run_in_worker(job, 3, X, y, side, {"class": 3})
    assert side.is_file()
    monkeypatch.setattr(chain_module, "sweep", interrupt.real)
    counting = Interrupt(monkeypatch, -1)  # counts, never interrupts
    resumed = dmm_module._run_in_worker(job, 3, X, y, side, {"class": 3})
    np.testing.assert_array_equal(resumed["coef"], reference["coef"])
    assert resumed["r2"] == reference["r2"]
    assert counting.calls == 60 - 44  # only the rest of the second chain


def _rewrite_checkpoint(path: Path, change) -> None:
    """Apply ``change(header, arrays)`` to a DMM-MEN checkpoint, its fingerprint kept."""
    arrays = read_npz(path, what="a checkpoint")
    header = json.loads(bytes(arrays.pop("header")).decode())
    change(header, arrays)
    write_npz_with_header(path, header, arrays)


@pytest.mark.parametrize("unit", ["class0/chain1", "class7/chain0", "class1/chain0", "chain"])
def test_a_running_chain_under_another_name_is_refused_not_restarted(
    unit, tmp_path, monkeypatch, digits, digits_blackbox
):
    # It was dropped without a word: the fit started class 0's first chain over and
    # overwrote the saved one at its first periodic save.
    X = digits.X_train[:600]
    settings = {"n_iter": 20, "n_chains": 2, "n_features": 16, "checkpoint_every": 5}
    settings["checkpoint"] = tmp_path / "c.npz"
    interrupt = Interrupt(monkeypatch, 13)  # in class 0's first chain, past sweep 10
    with pytest.raises(KeyboardInterrupt):
        short(**settings).fit(X, digits_blackbox, classes=[0, 1])
    monkeypatch.setattr(chain_module, "sweep", interrupt.real)

    def rename(header, arrays):
        assert header["running"]["unit"] == "class0/chain0"
        header["running"]["unit"] = unit

    path = settings["checkpoint"]
    _rewrite_checkpoint(path, rename)
    saved = path.read_bytes()
    message = f"{path} is a damaged DMM-MEN checkpoint: its running chain is '{unit}', but "
    message += "this fit goes on with 'class0/chain0'"
    with pytest.raises(ValueError, match=re.escape(message)):
        short(**settings).fit(X, digits_blackbox, classes=[0, 1])
    assert path.read_bytes() == saved  # nothing saved over it


def test_a_running_chain_of_a_class_with_a_saved_posterior_is_superseded(
    tmp_path, monkeypatch, planted, planted_blackbox, uninterrupted
):
    # Until a resume under n_jobs > 1 took over the running chain, such a fit filed the
    # class's posterior and left the chain in the file: a later resume must go on, not
    # refuse it as a chain out of turn.
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 2, "checkpoint_every": 10}
    reference = uninterrupted(**settings)
    finished, interrupted = tmp_path / "finished.npz", tmp_path / "interrupted.npz"
    short(checkpoint=finished, **settings).fit(X, planted_blackbox)
    interrupt = Interrupt(monkeypatch, 45)  # in class 0's second chain
    with pytest.raises(KeyboardInterrupt):
        short(checkpoint=interrupted, **settings).fit(X, planted_blackbox)
    running = read_npz(interrupted, what="a checkpoint")

    def class_0_done_and_its_chain_left(header, arrays):
        for key in [k for k in arrays if k.startswith("class1/")]:
            del arrays[key]
        arrays.update({k: v for k, v in running.items() if k.startswith("running/")})
        header["running"] = json.loads(bytes(running["header"]).decode())["running"]
        assert header["running"]["unit"] == "class0/chain1"

    _rewrite_checkpoint(finished, class_0_done_and_its_chain_left)
    interrupt.calls, interrupt.at = 0, 0
    resumed = short(checkpoint=finished, **settings).fit(X, planted_blackbox)
    assert interrupt.calls == 60  # class 1's two chains, class 0's none
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name), name)


class InProcessPool:
    """Stands in for the worker pool: runs each class here, when it is submitted, so
    that a patched sweep counts and interrupts the workers' sweeps too. A class's
    chains still go to its own file, ``<name>.class<c>.npz``, as in a worker."""

    def __init__(self, *args, **kwargs):
        pass

    def submit(self, function, *args):
        future = concurrent.futures.Future()
        future.set_result(function(*args))  # an interrupt goes through, as in the parent
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        pass


# With two cores, -1 is both of them (the two classes in two processes) and -2 all but
# one, this process. Until fit read n_jobs as scikit-learn does, both were refused:
# "n_jobs must be an int >= 1, got -1".
@pytest.mark.parametrize(("n_jobs", "pools"), [(-1, [2]), (-2, [])])
def test_a_negative_n_jobs_counts_back_from_the_cores_to_the_same_fit(
    n_jobs, pools, monkeypatch, planted, planted_blackbox, uninterrupted
):
    X = planted.X_train[:400]
    reference = uninterrupted(n_iter=20)
    sizes = []

    class RecordingPool(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, max_workers, *args, **kwargs):
            sizes.append(max_workers)
            super().__init__(max_workers, *args, **kwargs)

    monkeypatch.setattr(dmm_module, "ProcessPoolExecutor", RecordingPool)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    fitted = short(n_iter=20, n_jobs=n_jobs).fit(X, planted_blackbox)
    assert sizes == pools
    for name in FITTED:
        np.testing.assert_array_equal(getattr(fitted, name), getattr(reference, name), name)
    assert fitted.n_jobs == n_jobs  # kept as given, resolved in fit
    assert fitted.n_jobs_ == (pools[0] if pools else 1)  # what ran: the pool, or this one


def test_n_jobs_none_is_one_job_as_in_scikit_learn(
    monkeypatch, planted, planted_blackbox, uninterrupted
):
    # Until None read as scikit-learn reads it, the fit refused it: "n_jobs must be an
    # int >= 1, or < 0 ..., got None".
    X = planted.X_train[:400]
    reference = uninterrupted(n_iter=20)

    def no_pool(*args, **kwargs):
        raise AssertionError("n_jobs=None started worker processes")

    monkeypatch.setattr(dmm_module, "ProcessPoolExecutor", no_pool)
    fitted = short(n_iter=20, n_jobs=None).fit(X, planted_blackbox)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(fitted, name), getattr(reference, name), name)
    assert fitted.n_jobs is None  # kept as given
    assert fitted.n_jobs_ == 1


def test_a_finished_checkpoint_resumed_under_two_jobs_builds_no_pool(
    tmp_path, monkeypatch, planted, planted_blackbox, uninterrupted
):
    # Every class's posterior saved: no class is left to sample, and the pool that was
    # still built (and shut down, having started no process) is not.
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 2, "checkpoint_every": 10}
    reference = uninterrupted(**settings)
    path = tmp_path / "chain.npz"
    short(checkpoint=path, **settings).fit(X, planted_blackbox)

    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was built with no class left to sample")

    monkeypatch.setattr(dmm_module, "ProcessPoolExecutor", no_pool)
    resumed = short(checkpoint=path, n_jobs=2, **settings).fit(X, planted_blackbox)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name), name)
    assert resumed.n_jobs_ == 1


# Calls of the sweep, 30 a chain: class 0's first chain, its second, class 1's first.
@pytest.mark.parametrize("at", [25, 45, 75])
@pytest.mark.parametrize(("saved_by", "resumed_by"), [(1, 2), (2, 1)])
def test_a_resume_under_other_n_jobs_goes_on_from_every_saved_chain(
    saved_by, resumed_by, at, tmp_path, monkeypatch, planted, planted_blackbox, uninterrupted
):
    # With n_jobs=2 the chains a fit of n_jobs=1 saved (the running one and the finished
    # ones of the class in flight) were ignored, and the other way round the classes'
    # own files: their sweeps were run again, to the same draws.
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 2, "checkpoint_every": 10}
    reference = uninterrupted(**settings)
    monkeypatch.setattr(dmm_module, "ProcessPoolExecutor", InProcessPool)
    path = tmp_path / "chain.npz"
    sweeps = Interrupt(monkeypatch, at)
    with pytest.raises(KeyboardInterrupt):
        short(checkpoint=path, n_jobs=saved_by, **settings).fit(X, planted_blackbox)
    sweeps.calls, sweeps.at = 0, 0
    resumed = short(checkpoint=path, n_jobs=resumed_by, **settings).fit(X, planted_blackbox)
    assert sweeps.calls == 120 - (at - 1)  # the interrupted sweep again and those after it
    # Under two jobs, a pool of one where class 0 was finished before the interrupt (at
    # sweep 75 under one job, which saves a class's posterior as it ends).
    finished = saved_by == 1 and at > 60
    assert resumed.n_jobs_ == (1 if resumed_by == 1 or finished else 2)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name), name)
    assert not list(tmp_path.glob("chain.class*.npz"))  # every class folded in


def test_a_running_chain_of_no_class_left_is_refused_under_two_jobs(
    tmp_path, monkeypatch, planted, planted_blackbox
):
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 2, "checkpoint_every": 10, "n_jobs": 2}
    settings["checkpoint"] = path = tmp_path / "chain.npz"
    monkeypatch.setattr(dmm_module, "ProcessPoolExecutor", InProcessPool)
    interrupt = Interrupt(monkeypatch, 75)  # class 0 done, class 1's first chain running
    with pytest.raises(KeyboardInterrupt):
        short(**{**settings, "n_jobs": 1}).fit(X, planted_blackbox)
    monkeypatch.setattr(chain_module, "sweep", interrupt.real)
    _rewrite_checkpoint(path, lambda header, arrays: header["running"].update(unit="class7/chain0"))
    saved = path.read_bytes()
    message = f"{path} is a damaged DMM-MEN checkpoint: its running chain is 'class7/chain0', "
    message += "a chain of none of the classes left to sample ([1])"
    with pytest.raises(ValueError, match=re.escape(message)):
        short(**settings).fit(X, planted_blackbox)
    assert path.read_bytes() == saved


def test_a_running_chain_is_not_moved_over_another_class_s(tmp_path):
    # A checkpoint holds one running chain: taking in a class's own file's running chain
    # must not drop the one of another class that is there already.
    source = chain_module.Checkpoint(tmp_path / "c.class1.npz", {"class": 1})
    target = chain_module.Checkpoint(tmp_path / "c.npz", {})
    source.running = {"unit": "class1/chain0", "sweep": 5}
    target.running = {"unit": "class0/chain1", "sweep": 3}
    message = f"{target.path} is a damaged DMM-MEN checkpoint: its running chain is "
    message += f"'class0/chain1', but this fit goes on with 'class1/chain0', saved in {source.path}"
    with pytest.raises(ValueError, match=re.escape(message)):
        dmm_module._move_class(source, target, 1)
    assert target.running["unit"] == "class0/chain1" and not target.path.exists()


def test_a_0d_array_seed_checkpoints_and_resumes_as_its_int(
    tmp_path, monkeypatch, planted, planted_blackbox, uninterrupted
):
    # np.asarray(3) seeds as 3, but with a checkpoint it was refused as "needs a
    # reproducible random_state (an int), got array(3)".
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 2, "checkpoint_every": 10, "init_sweeps": 5}
    reference = uninterrupted(random_state=3, **settings)
    path = tmp_path / "chain.npz"
    interrupt = Interrupt(monkeypatch, 45)  # in the second chain of the first class
    with pytest.raises(KeyboardInterrupt):
        short(checkpoint=path, random_state=np.asarray(3), **settings).fit(X, planted_blackbox)
    monkeypatch.setattr(chain_module, "sweep", interrupt.real)
    for other in (4, np.asarray(4)):  # other draws, told apart as an int seed's are
        with pytest.raises(ValueError, match="other settings or data"):
            short(checkpoint=path, random_state=other, **settings).fit(X, planted_blackbox)
    resumed = short(checkpoint=path, random_state=3, **settings).fit(X, planted_blackbox)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name), name)


def test_a_checkpoint_from_other_settings_or_a_corrupt_file_is_refused(
    tmp_path, planted, planted_blackbox
):
    X = planted.X_train[:400]
    path = tmp_path / "chain.npz"
    short(n_iter=20, checkpoint=path).fit(X, planted_blackbox)
    with pytest.raises(ValueError, match="other settings or data"):
        short(n_iter=24, checkpoint=path).fit(X, planted_blackbox)
    with pytest.raises(ValueError, match="other settings or data"):  # other draws
        short(n_iter=20, random_state=1, checkpoint=path).fit(X, planted_blackbox)
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a DMM-MEN checkpoint"):
        short(n_iter=20, checkpoint=path).fit(X, planted_blackbox)


# ---------------------------------------------------------------- bad input
def test_a_class_with_too_few_samples_is_an_error(planted):
    X = planted.X_train[:300]

    def mostly_negative(rows):
        p1 = (rows[:, 0] > 0.97).astype(float) * 0.9 + 0.05
        return np.c_[1 - p1, p1]

    box = BlackBox.from_callable(mostly_negative, n_classes=2, input_shape=(20,))
    with pytest.raises(ValueError, match="to class 1, 11 of them fitted.*needs at least 20"):
        short().fit(X, box)
    with pytest.warns(UserWarning, match="same probability"):  # 0.95 for every row
        assert short(n_iter=20).fit(X, box, classes=[0]).classes_.tolist() == [0]


@pytest.mark.parametrize(
    ("test_size", "message"),
    [(0.95, "needs at least 20 to fit"), (0.001, "holds out 1 of class 0's.*at least 2")],
)
def test_a_split_that_leaves_too_few_samples_is_an_error(
    test_size, message, planted, planted_blackbox
):
    # 0.99 crashed inside numpy; 0.001 fitted, with an r2_ of NaN from one held-out row.
    with pytest.raises(ValueError, match=message):
        short(test_size=test_size).fit(planted.X_train[:400], planted_blackbox)


def test_nested_classes_are_an_error(planted, planted_blackbox):
    with pytest.raises(ValueError, match="classes must be ints"):
        short().fit(planted.X_train[:400], planted_blackbox, classes=[[0, 1]])


def test_checkpoint_settings_that_could_never_resume_are_refused_up_front(
    tmp_path, planted, planted_blackbox
):
    X = planted.X_train[:400]
    with pytest.raises(ValueError, match="reproducible random_state"):
        short(random_state=None, checkpoint=tmp_path / "c.npz").fit(X, planted_blackbox)
    with pytest.raises(ValueError, match="reproducible random_state"):  # draws a new seed
        short(random_state=np.random.default_rng(0), checkpoint=tmp_path / "c.npz").fit(
            X, planted_blackbox
        )
    assert not (tmp_path / "c.npz").exists()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        short(checkpoint=tmp_path).fit(X, planted_blackbox)
    # Numpy ints are recorded as plain ints (json.dumps refused them).
    numpy_ints = {"n_iter": np.int64(20), "random_state": np.int64(0)}
    path = tmp_path / "numpy.npz"
    first = short(**numpy_ints, checkpoint=path).fit(X, planted_blackbox)
    again = short(n_iter=20, checkpoint=path).fit(X, planted_blackbox)
    np.testing.assert_array_equal(again.coef_, first.coef_)
    # How often the state is saved does not block a resume.
    path = tmp_path / "chain.npz"
    first = short(n_iter=20, checkpoint=path, checkpoint_every=5).fit(X, planted_blackbox)
    again = short(n_iter=20, checkpoint=path, checkpoint_every=7).fit(X, planted_blackbox)
    np.testing.assert_array_equal(again.coef_, first.coef_)


def test_a_generator_seed_fits_and_explains(planted, planted_blackbox):
    X = planted.X_train[:400]
    fitted = short(n_iter=20, random_state=np.random.default_rng(0)).fit(X, planted_blackbox)
    insight = fitted.insights(1)  # the meta could not hold the Generator
    assert insight.meta["parameters"]["random_state"] == "Generator"
    assert insight.meta["k"] == 20  # every feature: fewer than 150 were fitted
    assert np.isfinite(fitted.explain(X[:3]).values).all()


def test_inputs_of_another_width_are_an_error(planted, planted_logreg):
    """A black box without an input shape accepts any width; the fitted coefficients
    do not, so the explainer checks the width itself."""
    box = BlackBox.from_callable(planted_logreg.predict_proba, n_classes=2)
    fit = short(n_iter=20).fit(planted.X_train[:300], box)
    for method in (fit.explain, fit.responsibilities):
        with pytest.raises(ValueError, match="X has 19 features, but this DMMMEN was fitted on 20"):
            method(planted.X_test[:5, :19])


def test_constant_features_are_an_error_unless_reduced(planted, planted_blackbox):
    X = planted.X_train[:300].copy()
    X[:, 7] = 0.5
    with pytest.raises(ValueError, match="1 features are constant"):
        short().fit(X, planted_blackbox)
    fitted = short(n_iter=20, n_features=19).fit(X, planted_blackbox)
    assert 7 not in fitted.features_
    assert np.all(fitted.coef_[:, :, 7] == 0)
    with pytest.raises(ValueError, match="only 19 features vary"):
        short(n_features=20).fit(X, planted_blackbox)
    rotated = short(n_iter=20, reduction="pca").fit(X, planted_blackbox)
    assert rotated.components_.shape == (19, 20) and 7 not in rotated.features_
    assert np.all(rotated.coef_[:, :, 7] == 0)


@pytest.mark.parametrize("reduction", ["variance", "pca"])
def test_values_whose_variance_overflows_are_an_error(planted, planted_blackbox, reduction):
    # 1e200 is finite but its square is not: the variance overflowed (a RuntimeWarning),
    # and with reduction="pca" the sampler then looped forever on NaN inputs.
    X = planted.X_train[:300].astype(np.float64)
    X[4, 3] = 1e200
    with pytest.raises(ValueError, match=r"the variance of feature\(s\) \[3\] overflows"):
        short(n_features=5, reduction=reduction).fit(X, planted_blackbox)


def test_pca_reduction_needs_more_samples_than_axes(planted, planted_blackbox):
    with pytest.raises(ValueError, match="n_features=20 needs more than 20 samples, got 15"):
        short(reduction="pca").fit(planted.X_train[:15], planted_blackbox)


def test_hard_zero_one_probabilities_are_clipped_not_nan(planted):
    def hard(rows):
        p1 = (rows[:, [2, 5, 11, 17]].mean(axis=1) > 0.5).astype(float)
        return np.c_[1 - p1, p1]

    box = BlackBox.from_callable(hard, n_classes=2, input_shape=(20,))
    with pytest.warns(UserWarning, match=r"classes \[0, 1\] the same probability"):
        fitted = short(n_iter=30).fit(planted.X_train[:400], box)
    for name in ("coef_", "weights_", "sigma2_", "intercept_", "rhat_"):
        assert np.all(np.isfinite(getattr(fitted, name))), name
    assert np.all(np.isnan(fitted.r2_))  # constant logits have no R^2, as documented
    assert np.all(np.isnan(fitted.r2_ci_))  # nor an interval for it
    assert np.all(np.isfinite(fitted.explain(planted.X_test[:5]).values))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_iter": 10, "burn_in": 9}, "fewer than 4 draws"),
        ({"lambda_rate": 0}, "lambda_rate must be a finite number > 0"),
        ({"test_size": 1.0}, r"test_size must lie in \(0, 1\), got 1.0"),
        ({"n_init": 0}, "n_init"),
        ({"n_init": 2, "init_sweeps": 1}, "init_sweeps"),
        ({"collapse_every": -1}, "collapse_every"),
        ({"split_merge_every": 1.5}, "split_merge_every"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"n_jobs": 1.0}, r"n_jobs must be an int >= 1, or < 0 .*\(-1: every core"),
        ({"reduction": "pixels"}, "reduction must be 'variance' or 'pca'"),
        ({"n_occlusions": -1}, "n_occlusions must be an int >= 0"),
        ({"n_occlusions": 1, "max_occluded": 0.0}, "max_occluded must be a number in"),
        ({"n_occlusions": 1, "max_occluded": 1.5}, "max_occluded must be a number in"),
    ],
)
def test_bad_hyperparameters_are_errors(kwargs, message, planted, planted_blackbox):
    with pytest.raises(ValueError, match=message):
        short(**kwargs).fit(planted.X_train[:100], planted_blackbox)


def test_methods_need_a_fit_and_fitted_classes(planted, planted_blackbox, planted_fit):
    with pytest.raises(NotFittedError):
        short().insights(0)
    with pytest.raises(NotFittedError):
        short().explain_local(planted.X_test[:2])
    with pytest.raises(ValueError, match="classes must be ints"):
        short().fit(planted.X_train[:100], planted_blackbox, classes=[2])
    with pytest.raises(ValueError, match="exceeds the 20 features"):
        planted_fit.insights(0, k=21)
    with pytest.raises(TypeError, match="BlackBox"):
        short().fit(planted.X_train[:100], planted_blackbox.predict_proba)


def test_class_logit_keeps_the_confidence_a_float32_probability_rounds_away():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 4)) * 3
    logits[:10, 2] += 25  # p rounds to exactly 1 in float32
    proba = special.softmax(logits, axis=1).astype(np.float32).astype(np.float64)
    target = np.full(50, 2)
    expected = logits[:, 2] - special.logsumexp(np.delete(logits, 2, axis=1), axis=1)
    assert np.all(proba[:10, 2] == 1.0)
    np.testing.assert_allclose(class_logit(proba, target), expected, rtol=1e-5, atol=1e-5)
    # 1 - p would saturate these rows at the clip; the other classes do not.
    assert np.ptp(class_logit(proba[:10], target[:10])) > 1


def test_class_logit_of_exact_zero_and_one_is_the_finite_clip():
    proba = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    got = class_logit(proba, np.zeros(3, dtype=int))
    np.testing.assert_allclose(got, [-np.log(CLIP), np.log(CLIP), 0.0])


# ---------------------------------------------------------------- occluded copies
def test_occlude_zeroes_a_bounded_share_of_the_given_columns_only():
    rng = np.random.default_rng(0)
    X = rng.uniform(1.0, 2.0, size=(400, 12))
    columns = np.arange(2, 10)
    out = dmm_module.occlude(X, columns, 3, 0.5, np.random.default_rng(1))
    assert out.shape == (1200, 12)
    kept = np.setdiff1d(np.arange(12), columns)
    np.testing.assert_array_equal(out[:, kept], np.tile(X, (3, 1))[:, kept])
    block, source = out[:, columns], np.tile(X, (3, 1))[:, columns]
    zero = block == 0
    np.testing.assert_array_equal(block[~zero], source[~zero])  # the rest untouched
    # Each row loses a share drawn uniformly in [0, 0.5]: 1/4 on average.
    assert abs(zero.mean() - 0.25) < 0.02
    assert zero.sum(axis=1).max() <= 7  # no row loses (nearly) all 8 at a share <= 0.5


def test_held_out_split_keeps_each_sample_with_its_copies():
    test, train = dmm_module.held_out_split(300, 3, 0.2, np.random.default_rng(0))
    assert test.size == 60 and train.size == 240
    assert set(test % 100).isdisjoint(set(train % 100))
    assert np.array_equal(np.sort(np.r_[test, train]), np.arange(300))
    # One copy per sample is the plain permutation split the fit always made.
    order = np.random.default_rng(0).permutation(100)
    plain = dmm_module.held_out_split(100, 1, 0.2, np.random.default_rng(0))
    np.testing.assert_array_equal(plain[0], order[:20])
    np.testing.assert_array_equal(plain[1], order[20:])


def _twins_blackbox():
    """Features 0 and 1 are equal in the data, but the black box reads only feature 0."""

    def predict(rows):
        p = special.expit(2.0 * rows[:, 0] + rows[:, 2])
        return np.c_[1.0 - p, p]

    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 6))
    X[:, 1] = X[:, 0]
    return X, BlackBox.from_callable(predict, n_classes=2, input_shape=None)


def test_occluded_copies_tell_the_feature_the_model_reads_from_its_twin():
    X, box = _twins_blackbox()
    plain = short(n_iter=150).fit(X, box)
    occluded = short(n_iter=150, n_occlusions=2, max_occluded=0.5).fit(X, box)
    for model in (plain, occluded):
        assert model.r2_.min() > 0.8
    for c in (0, 1):
        read, twin = np.abs(plain.insights(c, k=6).values[0][:2])
        # The data alone cannot tell the twins apart: the prior splits the weight.
        assert 0.5 < twin / read < 2
        insight = occluded.insights(c, k=6).values[0]
        assert np.argmax(insight) == 0
        assert insight[1] < 0.2 * insight[0]
        # The class logit is +-(2 x_0 + x_2): the copies recover both coefficients.
        np.testing.assert_allclose(insight[[0, 2]], [2.0, 1.0], atol=0.25)
    # Copies are fitted alongside the samples: three rows per training sample.
    n_fitted = plain.n_samples_
    np.testing.assert_array_equal(occluded.n_samples_, 3 * n_fitted)
    # The same seed repeats the occlusions and the draws.
    again = short(n_iter=150, n_occlusions=2, max_occluded=0.5).fit(X, box)
    np.testing.assert_array_equal(again.coef_, occluded.coef_)


#: A black box of numpy alone for the scripts below: each worker imports its script
#: again, and sklearn's import, in the script and in each worker, took longer than the
#: rest of such a test.
NUMPY_BOX = """
import numpy as np
from unboxed import BlackBox


def proba(rows):
    p = 1.0 / (1.0 + np.exp(-np.clip(rows[:, 2] - rows[:, 5], -30.0, 30.0)))
    return np.c_[1.0 - p, p]


box = BlackBox.from_callable(proba, n_classes=2, input_shape=(20,))
"""

INTERRUPTED_FIT = (
    NUMPY_BOX
    + """
import signal
import sys
from unboxed import load_dataset
from unboxed.surrogates import DMMMEN

if __name__ == "__main__":
    # A shell starts background jobs with SIGINT ignored, and Python keeps an inherited
    # SIG_IGN: take Ctrl-C as an interactive process does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    X = load_dataset("planted").X_train[:400]
    DMMMEN(n_iter=10**5, n_chains=1, n_jobs=2, checkpoint=sys.argv[1], checkpoint_every=20,
           random_state=0, verbose=False).fit(X, box)
"""
)


def test_an_interrupt_of_the_parent_alone_stops_the_workers(tmp_path):
    """As a notebook's interrupt does: SIGINT to the fitting process only. Its workers
    ran on (100000 sweeps here, minutes) and held the process's exit until they
    finished."""
    script = tmp_path / "fit.py"
    script.write_text(INTERRUPTED_FIT)
    path = tmp_path / "chain.npz"
    with (tmp_path / "stderr").open("w") as stderr:
        command = [sys.executable, str(script), str(path)]
        proc = subprocess.Popen(command, start_new_session=True, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("chain.class*.npz"))) < 2:  # both workers sampling
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        assert proc.returncode not in (None, 0), (tmp_path / "stderr").read_text()[-3000:]
        deadline = time.monotonic() + 10  # multiprocessing's resource tracker lingers
        while _running_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running_in_group(proc.pid)  # no worker is left
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


UNGUARDED_FIT = (
    NUMPY_BOX
    + """
from unboxed import load_dataset
from unboxed.surrogates import DMMMEN

X = load_dataset("planted").X_train[:200]
DMMMEN(n_iter=10, n_chains=1, n_jobs=2, random_state=0, verbose=False).fit(X, box)
"""
)


def test_a_script_without_the_main_guard_is_told_to_add_it(tmp_path):
    """Each fresh worker imports the unguarded script again and fails while it starts:
    the fit said only BrokenProcessPool, under Python's bootstrapping RuntimeErrors."""
    script = tmp_path / "fit.py"
    script.write_text(UNGUARDED_FIT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: DMMMEN(n_jobs=2): a worker process ended"), last
    assert 'if __name__ == "__main__":' in last and "n_jobs=1" in last
    # The pool's own error is chained, for whoever needs it.
    assert "BrokenProcessPool" in done.stderr
    assert "direct cause of the following exception" in done.stderr


class BrokenPool(InProcessPool):
    """A pool whose every worker dies before its class is fitted."""

    def submit(self, function, *args):
        future = concurrent.futures.Future()
        future.set_exception(concurrent.futures.process.BrokenProcessPool("a worker died"))
        return future


@pytest.mark.parametrize(
    ("n_jobs", "cores", "named"),
    [(-1, 2, "n_jobs=-1, resolved to 2"), (-2, 3, "n_jobs=-2, resolved to 2"), (2, 2, "n_jobs=2")],
)
def test_a_dead_worker_s_error_names_the_n_jobs_given_and_what_it_resolved_to(
    n_jobs, cores, named, monkeypatch, planted, planted_blackbox
):
    # With -1 on two cores the error said "DMMMEN(n_jobs=2)", a value the user never wrote.
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(dmm_module, "ProcessPoolExecutor", BrokenPool)
    with pytest.raises(RuntimeError, match=re.escape(f"DMMMEN({named}): a worker process ended")):
        short(n_iter=20, n_jobs=n_jobs).fit(planted.X_train[:400], planted_blackbox)


def _running_in_group(pgid: int) -> list[int]:
    """The processes of a process group that still run (zombies await their reaping)."""
    running = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid pgrp ...; comm may hold spaces, so split after ")".
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(group) == pgid and state != "Z":
                running.append(int(stat.parent.name))
    return running


def test_responsibilities_are_the_normalised_gaussian_mixture(planted_fit, planted):
    m, X = planted_fit, planted.X_test[:200]
    resp, target = m.responsibilities(X)
    g = class_logit(m.blackbox_.predict_proba(X), target)
    mean = np.einsum("nd,njd->nj", X, m.coef_[target]) + m.intercept_[target]
    log_p = np.log(np.maximum(m.weights_[target], 1e-300)) + stats.norm.logpdf(
        g[:, None], mean, np.sqrt(m.sigma2_[target])
    )
    np.testing.assert_allclose(resp, special.softmax(log_p, axis=1), atol=1e-8)


def test_insight_components_are_heaviest_first(planted_fit):
    m = planted_fit
    for c in (0, 1):
        meta = m.insights(c, k=4).meta
        assert len(meta["weights"]) >= 2  # the order is tested
        assert meta["weights"] == sorted(meta["weights"], reverse=True)
        assert meta["components"][0] == int(np.argmax(m.weights_[c]))


def test_r2_is_sklearns():
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    y = rng.normal(size=40) + 3
    pred = y + 0.5 * rng.normal(size=40)
    assert dmm_module._r2(y, pred) == pytest.approx(r2_score(y, pred))


def test_mean_input_is_the_mean_of_the_fitted_rows(planted_fit, planted):
    m, X = planted_fit, planted.X_train[:1500]
    pred = m.blackbox_.predict_proba(X).argmax(axis=1)
    for i, c in enumerate(m.classes_):
        own = X[pred == c]
        rng = np.random.default_rng([m.seed_, int(c)])
        _, train = dmm_module.held_out_split(own.shape[0], 1, m.test_size, rng)
        assert m.n_samples_[i] == train.size
        np.testing.assert_allclose(m.mean_input_[i], own[train].mean(axis=0), atol=1e-12)


def test_weighted_design_is_weighted_least_squares():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=80) * (1 + 3 * (X[:, 0] > 0))
    w = rng.uniform(0.05, 1.0, size=80)
    design, y_c, _, _ = dmm_module._design(X, y, w)
    beta = np.linalg.lstsq(design, y_c, rcond=None)[0]
    ref = LinearRegression().fit(X, y, sample_weight=w)
    np.testing.assert_allclose(beta[1:], ref.coef_, atol=1e-10)


def test_explain_local_takes_the_component_responsible_for_the_instance():
    a = np.array([1.5, 0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 0.0])  # near the instance
    b = np.array([0.0, 1.5, 0.0, 1.0, 0.0, 0.5, 0.0, 0.0])  # far from it

    def response(rows):
        near = (rows[:, 6] > 0) & (rows[:, 7] > 0)  # a quarter of the masks, the instance's
        p1 = special.expit(np.where(near, 3.0 + rows @ a, -3.0 + rows @ b))
        return np.c_[1 - p1, p1]

    box = BlackBox.from_callable(response, n_classes=2, input_shape=(8,))
    model = DMMMEN(n_iter=200, n_chains=1, n_components=3, random_state=0, verbose=False)
    att = model.explain_local(
        np.ones((1, 8)), blackbox=box, target=1, segments=np.arange(8)[None], n_samples=1000
    )
    # Features 6 and 7 are constant within the near regime: only 0-5 are identified.
    np.testing.assert_allclose(att.values[0, :6], a[:6], atol=0.1)


def _linear_box(beta, bias=0.0):
    beta = np.asarray(beta, dtype=float)

    def predict(rows):
        p = special.expit(rows @ beta + bias)
        return np.c_[1.0 - p, p]

    return BlackBox.from_callable(predict, n_classes=2, input_shape=None)


def test_variance_selection_regresses_the_selected_columns():
    """n_features keeps the largest-variance columns; the regressions must see those
    columns (not the first n_features ones) and the coefficients land back on them."""
    rng = np.random.default_rng(0)
    scale = np.array([0.1, 0.1, 0.1, 1.0, 0.1, 0.1, 1.0, 1.0])
    X = rng.normal(size=(600, 8)) * scale
    beta = np.array([0, 0, 0, 2.0, 0, 0, -1.0, 0.5])
    m = short(n_iter=100, n_features=3).fit(X, _linear_box(beta))
    assert m.features_.tolist() == [3, 6, 7]
    assert np.all(m.coef_[:, :, [0, 1, 2, 4, 5]] == 0)
    # Class 1's logit is x @ beta, class 0's is -x @ beta: exactly linear in the kept columns.
    for row, sign in ((0, -1.0), (1, 1.0)):
        np.testing.assert_allclose(
            m.weights_[row] @ m.coef_[row][:, [3, 6, 7]], sign * beta[[3, 6, 7]], atol=0.1
        )
    assert m.r2_.min() > 0.95


def test_default_target_is_the_black_box_prediction(planted_fit, planted):
    X = planted.X_test[:60]
    predicted = planted_fit.blackbox_.predict(X)
    assert 0 < predicted.sum() < predicted.size  # both classes occur
    _, target = planted_fit.responsibilities(X)
    np.testing.assert_array_equal(target, predicted)
    np.testing.assert_array_equal(planted_fit.explain(X).target, predicted)


def test_a_fit_of_some_classes_is_those_classes_of_the_full_fit(planted, planted_blackbox):
    """Each class has its own seeded streams, so fitting class 1 alone gives the class-1
    part of the full fit; its methods must find class 1 in row 0 of the attributes."""
    X = planted.X_train[:400]
    full = short(n_iter=40).fit(X, planted_blackbox)
    one = short(n_iter=40).fit(X, planted_blackbox, classes=[1])
    assert one.classes_.tolist() == [1] and one.coef_.shape[0] == 1
    np.testing.assert_array_equal(one.coef_[0], full.coef_[1])
    np.testing.assert_array_equal(one.insights(1, k=5).values, full.insights(1, k=5).values)
    Xq = planted.X_test[planted_blackbox.predict(planted.X_test) == 1][:20]
    np.testing.assert_allclose(one.explain(Xq).values, full.explain(Xq).values)
    np.testing.assert_allclose(one.responsibilities(Xq)[0], full.responsibilities(Xq)[0])


def test_contribution_insight_is_the_weighted_coefficient_times_the_class_mean(planted_fit):
    m = planted_fit
    assert not np.allclose(m.mean_input_[0], m.mean_input_[1])
    for row, class_ in enumerate(m.classes_):
        got = m.insights(int(class_), k=20, by="contribution").values[0]
        expected = np.maximum(m.weights_[row] @ (m.coef_[row] * m.mean_input_[row]), 0.0)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("by", ["magnitude", "positive", "contribution"])
def test_class_insights_are_row_0_of_each_class_insight(planted_fit, by):
    ranking = planted_fit.class_insights(6, by=by)
    assert ranking.meta["by"] == by
    for i, class_ in enumerate(planted_fit.classes_):
        expected = planted_fit.insights(int(class_), k=6, by=by).values[0]
        np.testing.assert_array_equal(ranking.values[i], expected)


def test_occluded_copies_touch_only_the_regressed_features_and_target_the_class(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)) * np.array([1.0, 1.0, 1.0, 1.0, 0.1, 0.1])
    box = _linear_box([2.0, -1.5, 1.0, 0.5, 3.0, 0.0])
    problems, copies = {}, []
    real_run, real_occlude = dmm_module._ClassJob.run, dmm_module.occlude

    def run(self, class_, inputs, y, checkpoint, *, verbose):
        problems[int(class_)] = (inputs, y)
        return real_run(self, class_, inputs, y, checkpoint, verbose=verbose)

    def occlude(X_c, columns, n_copies, max_share, rng_):
        out = real_occlude(X_c, columns, n_copies, max_share, rng_)
        copies.append((X_c, out))  # classes in order 0, 1
        return out

    monkeypatch.setattr(dmm_module._ClassJob, "run", run)
    monkeypatch.setattr(dmm_module, "occlude", occlude)
    m = short(n_iter=8, n_features=4, n_occlusions=2, max_occluded=1.0).fit(X, box)
    assert m.features_.tolist() == [0, 1, 2, 3]
    flipped = 0
    for c, (X_c, out) in enumerate(copies):
        tiled = np.tile(X_c, (2, 1))
        np.testing.assert_array_equal(out[:, 4:], tiled[:, 4:])  # off features_: untouched
        assert np.any(out[:, :4] != tiled[:, :4])
        rows = np.vstack([X_c, out])
        inputs, y = problems[c]
        np.testing.assert_array_equal(inputs, rows[:, m.features_])
        # The target is the black box's logit of class c on every row, copies included,
        # also where the occlusion moved the copy into the other class.
        expected = class_logit(box.predict_proba(rows), np.full(len(rows), c))
        np.testing.assert_allclose(y, expected, rtol=1e-12)
        flipped += int(np.sum(box.predict(out) != c))
    assert flipped > 20


def test_a_fit_killed_past_its_interrupt_save_resumes_from_the_periodic_save(
    tmp_path, monkeypatch, planted, planted_blackbox
):
    """A worker killed after the grace period saves nothing on the way out: the fit
    resumes from the last periodic save, to the same draws."""
    X = planted.X_train[:400]
    settings = {"n_iter": 30, "n_chains": 1, "checkpoint_every": 10}
    reference = short(**settings).fit(X, planted_blackbox)
    real, calls = chain_module.sweep, []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 25:  # class 0, after the periodic save of sweep 20
            raise RuntimeError("killed")  # not a KeyboardInterrupt: no save on the way out
        return real(*args, **kwargs)

    monkeypatch.setattr(chain_module, "sweep", dying)
    path = tmp_path / "chain.npz"
    with pytest.raises(RuntimeError, match="killed"):
        short(checkpoint=path, **settings).fit(X, planted_blackbox)
    counted = []

    def counting(*args, **kwargs):
        counted.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(chain_module, "sweep", counting)
    resumed = short(checkpoint=path, **settings).fit(X, planted_blackbox)
    assert len(counted) == 10 + 30  # the rest of class 0, all of class 1
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name), name)


# ---------------------------------------------------------------- audit F2
def test_default_settings_are_the_notes():
    # The note: J = 6, K = 3, e = 5, f = 1, a = b = 0.5, lambda shapes 1 (lasso) and 4
    # (ridge) with rate 0.5; half the sweeps burnt in.
    settings = DMMMEN()._settings()
    assert (settings.n_components, settings.n_priors) == (6, 3)
    notes = Prior(
        alpha_shape=5.0,
        alpha_rate=1.0,
        sigma_shape=0.5,
        sigma_scale=0.5,
        lambda1_shape=1.0,
        lambda2_shape=4.0,
        lambda_rate=0.5,
    )
    assert settings.prior == notes
    assert settings.draw_sweeps == range(1000, 2000, 1)
    assert DMMMEN(n_iter=41, thin=2)._settings().draw_sweeps == range(20, 41, 2)


def test_three_kept_draws_are_too_few(planted, planted_blackbox):
    X = planted.X_train[:100]
    with pytest.raises(ValueError, match="keep fewer than 4 draws"):
        short(n_iter=10, burn_in=7).fit(X, planted_blackbox)  # sweeps 7, 8, 9


def test_rhat_of_the_limit_itself_has_not_mixed(planted_fit):
    # "When a class's rhat_ is not below 1.1".
    fitted = copy.copy(planted_fit)
    for rhat in ([1.0, 1.1], [1.0, 1.15], [1.0, np.nan]):
        fitted.rhat_ = np.array(rhat)
        with pytest.warns(ConvergenceWarning, match=r"classes \[1\] have not mixed"):
            fitted._warn_unmixed()
    fitted.rhat_ = np.array([1.0, 1.09])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fitted._warn_unmixed()


def test_pca_reduction_needs_more_samples_than_axes_even_at_equality(planted, planted_blackbox):
    with pytest.raises(ValueError, match="n_features=20 needs more than 20 samples, got 20"):
        short(reduction="pca").fit(planted.X_train[:20], planted_blackbox)


def test_repeated_classes_are_an_error(planted, planted_blackbox):
    with pytest.raises(ValueError, match="classes must not repeat"):
        short().fit(planted.X_train[:100], planted_blackbox, classes=[1, 1])


def test_a_missing_class_names_its_entry_and_what_to_do():
    # Without labels it was "classes must be ints in [0, 3), got array([2., 1., 0.,
    # nan, 0.])", naming no entry; with them, advice to "drop those rows or give them
    # a class", as if classes labelled rows.
    import pandas as pd
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    by_index = LogisticRegression(max_iter=500).fit(X, y)
    by_name = LogisticRegression(max_iter=500).fit(X, names[y])
    message = (
        r"classes holds a missing label \(nan\) at index 3, row classes\.loc\[13\]; "
        r"classes lists the classes to fit: leave it out, or pass classes=None for all$"
    )
    for box, classes in (
        (BlackBox.from_callable(by_index.predict_proba, n_classes=3), [2, 1, 0, np.nan, 0]),
        (BlackBox.from_sklearn(by_name), ["virginica", "setosa", "versicolor", np.nan, "setosa"]),
    ):
        gappy = pd.Series(classes, index=[10, 11, 12, 13, 14])
        with pytest.raises(ValueError, match=message):
            short().fit(X, box, classes=gappy)
        with pytest.raises(ValueError, match=r"at index 1; classes lists the classes to fit"):
            short().fit(X, box, classes=[classes[0], None])  # its own positions
    fitted = short(n_iter=20).fit(X, box, classes=classes[:2])
    with pytest.raises(ValueError, match=r"at index 1; classes names fitted classes: leave it"):
        fitted.class_insights(classes=[classes[0], None])


def test_an_infinite_class_is_named_with_its_place(planted, planted_blackbox, planted_fit):
    # classes=[1, inf] read "classes must be ints in [0, 2), got array([ 1., inf])",
    # which neither said that labels must be finite nor where the infinity was.
    import pandas as pd

    X = planted.X_train[:100]
    with pytest.raises(ValueError) as raised:
        short().fit(X, planted_blackbox, classes=[1, np.inf])
    assert str(raised.value) == "classes holds inf at index 1; labels must be finite"
    with pytest.raises(ValueError) as raised:
        short().fit(X, planted_blackbox, classes=pd.Series([0.0, -np.inf], index=[5, 6]))
    assert str(raised.value) == (
        "classes holds -inf at index 1, row classes.loc[6]; labels must be finite"
    )
    with pytest.raises(ValueError) as raised:
        planted_fit.class_insights(classes=[0, np.inf])
    assert str(raised.value) == "classes holds inf at index 1; labels must be finite"
    with pytest.raises(ValueError) as raised:
        planted_fit.insights(np.inf)
    assert str(raised.value) == "class_ holds inf; labels must be finite"


def test_a_nan_among_class_names_in_a_list_is_a_missing_entry_not_the_string_nan():
    # numpy turned ["setosa", nan] into the strings ["setosa", "nan"], so the gap read
    # "classes holds 'nan', which is not a class of 'LogisticRegression'".
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, names[y]))
    with pytest.raises(ValueError) as raised:
        short().fit(X, box, classes=["setosa", np.nan])
    assert str(raised.value) == (
        "classes holds a missing label (nan) at index 1; classes lists the classes to "
        "fit: leave it out, or pass classes=None for all"
    )
    fitted = short(n_iter=20).fit(X, box, classes=["setosa", "virginica"])
    with pytest.raises(ValueError) as raised:
        fitted.class_insights(classes=("virginica", np.nan))
    assert str(raised.value) == (
        "classes holds a missing label (nan) at index 1; classes names fitted classes: "
        "leave it out or name one"
    )
    assert fitted.class_insights(classes=["virginica"]).meta["classes"] == [2]


def test_intercepts_map_back_to_the_uncentred_inputs():
    """A black box whose logit is exactly linear with a bias: each heavy component's
    x @ coef + intercept is that logit on the inputs themselves."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3)) + np.array([-1.0, 1.0, 0.0])  # far from centred
    beta, bias = np.array([1.0, -0.5, 0.8]), 1.5
    m = short(n_iter=100, n_components=3).fit(X, _linear_box(beta, bias))
    logit = X @ beta + bias
    for row, sign in ((0, -1.0), (1, 1.0)):
        own = m.blackbox_.predict(X) == row
        heavy = int(np.argmax(m.weights_[row]))
        predicted = X[own] @ m.coef_[row, heavy] + m.intercept_[row, heavy]
        np.testing.assert_allclose(predicted, sign * logit[own], atol=0.1)


def test_logits_of_exact_zero_and_one_are_the_documented_clip():
    # CLIP = 1e-12: |logit| <= log(1e12) = 27.63.
    bound = 12 * np.log(10)
    logits = dmm_module.logit(np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(logits, [-bound, 0, bound], rtol=1e-5)  # 1 - 1e-12 rounds
    got = class_logit(np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2, dtype=int))
    np.testing.assert_allclose(got, [bound, -bound])


def test_a_class_with_exactly_the_minimum_fitted_samples_is_fitted():
    dmm_module._check_class_size(25, 100, 1, 0.2)  # 5 held out, 20 fitted: enough
    with pytest.raises(ValueError, match="19 of them fitted"):
        dmm_module._check_class_size(24, 100, 1, 0.2)


def test_a_class_the_model_never_predicts_is_named_by_its_label(digits):
    """A model of string labels that never predicts one: the error names the class by
    the label ``classes=`` takes and offers the classes that can fit. It read "-1 of
    them fitted after test_size=0.2 holds 1 out" and "class 2", which classes= refuses
    for string labels."""
    logreg = LogisticRegression(max_iter=500).fit(digits.X_train, digits.y_train % 3)

    def proba(rows):  # the classes 0 and 1 of digits % 3; never "two"
        p = logreg.predict_proba(rows)
        return np.c_[p[:, :2] * 0.9, np.full(len(p), 0.1), p[:, 2:] * 0.9]

    labels = ["zero", "one", "two", "rest"]
    box = BlackBox.from_callable(proba, n_classes=4, input_shape=(64,), classes=labels)
    message = (
        "assigns none of the 1438 samples to class 'two'; DMM-MEN needs at least 20 to "
        "fit per class. Give rows it assigns to that class, or leave the class out with "
        "classes=['zero', 'one', 'rest']"
    )
    for classes in (None, ["two"]):
        with pytest.raises(ValueError, match=re.escape(message)):
            short(n_iter=8, n_features=40).fit(digits.X_train, box, classes=classes)
    fitted = short(n_iter=8, n_components=2, n_features=40)
    fitted.fit(digits.X_train, box, classes=["rest"])
    assert fitted.insights("rest", k=3).values.shape == (3, 64)


def test_insights_keep_150_features_by_default():
    # The paper's Fig. 1 shows the top 150 pixels.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 160))
    m = short(n_iter=8, n_components=2).fit(X, _linear_box(rng.normal(size=160) * 0.1), classes=[1])
    insight = m.insights(1)
    assert insight.meta["k"] == 150
    assert np.count_nonzero(insight.values[0]) == 150


def test_r2_scores_the_posterior_predictive_mean_with_its_offset(
    monkeypatch, planted, planted_blackbox
):
    """r2_ scores ``x @ predictive_coef`` on the design [1, x - mean]: with an offset of 1
    and no slopes, it predicts the training logits' mean plus 1 on every held-out row."""
    from sklearn.metrics import r2_score

    real = dmm_module.sample_posterior

    def offset_only(*args, **kwargs):
        posterior = real(*args, **kwargs)
        coef = np.zeros_like(posterior.predictive_coef)
        coef[0] = 1.0
        return dataclasses.replace(posterior, predictive_coef=coef)

    monkeypatch.setattr(dmm_module, "sample_posterior", offset_only)
    X = planted.X_train[:300]
    m = short(n_iter=8).fit(X, planted_blackbox)
    proba = planted_blackbox.predict_proba(X)
    for row, c in enumerate(m.classes_):
        own = np.flatnonzero(proba.argmax(axis=1) == c)
        y = class_logit(proba[own], np.full(own.size, c))
        rng = np.random.default_rng([m.seed_, int(c)])
        test, train = dmm_module.held_out_split(own.size, 1, m.test_size, rng)
        expected = r2_score(y[test], np.full(test.size, y[train].mean() + 1.0))
        assert m.r2_[row] == pytest.approx(expected, rel=1e-9)
        # its interval: the held-out samples (numbered in sorted order) resampled, each
        # draw scored by sklearn: in one call, a draw per column (the very scores of a
        # call per draw, bit for bit, in a thousandth of the time)
        predicted = np.full(test.size, y[train].mean() + 1.0)
        boot = np.random.default_rng([m.seed_, int(c), dmm_module._R2])
        draws = boot.integers(0, test.size, size=(dmm_module._R2_BOOT, test.size))
        rows = np.argsort(test)[draws]
        scores = r2_score(y[test][rows].T, predicted[rows].T, multioutput="raw_values")
        np.testing.assert_allclose(m.r2_ci_[row], np.percentile(scores, [2.5, 97.5]), rtol=1e-9)
        assert m.r2_ci_[row, 0] < m.r2_[row] < m.r2_ci_[row, 1]
    assert m.insights(int(m.classes_[0])).meta["r2_ci"] == m.r2_ci_[0].tolist()


# ---------------------------------------------------------------- audit J2
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_iter": 7, "burn_in": 0}, "n_iter must be an int >= 8"),  # 7 draws, still too few
        ({"n_chains": 0}, "n_chains must be an int >= 1"),
        ({"n_components": 0}, "n_components must be an int >= 1"),
        ({"thin": 0}, "thin must be an int >= 1"),
        ({"checkpoint_every": 0}, "checkpoint_every must be an int >= 1"),
        ({"alpha_shape": True}, "alpha_shape must be a finite number > 0"),
        ({"sigma_scale": "0.5"}, "sigma_scale must be a finite number > 0"),
        # An infinite prior parameter fitted silently (alpha) or crashed in numpy (sigma).
        ({"alpha_shape": float("inf")}, "alpha_shape must be a finite number > 0"),
        ({"sigma_scale": float("inf")}, "sigma_scale must be a finite number > 0"),
        ({"lambda1_shape": float("nan")}, "lambda1_shape must be a finite number > 0"),
        ({"n_features": 0}, "n_features must be an int >= 1"),
        # Priors whose Gamma draws underflow to 0 failed in numpy's wald (lambda1), or
        # divided by zero (lambda2, sigma); a rate of 1e300 failed in numpy too.
        ({"lambda1_shape": 1e-6}, "lambda1_shape must be at least 0.2, got 1e-06: below"),
        ({"lambda2_shape": 0.1}, "lambda2_shape must be at least 0.2"),
        ({"sigma_shape": 0.02}, "sigma_shape must be at least 0.2"),
        ({"lambda_rate": 1e300}, r"lambda_rate must be between 1e-30 and 1e\+30, got 1e\+300"),
        ({"sigma_scale": 1e-31}, "sigma_scale must be between"),
        ({"alpha_rate": 1e31}, "alpha_rate must be between"),
    ],
)
def test_more_bad_hyperparameters_are_errors(kwargs, message, planted, planted_blackbox):
    with pytest.raises(ValueError, match=message):
        short(**kwargs).fit(planted.X_train[:100], planted_blackbox)


def test_the_vaguest_priors_allowed_fit_to_finite_coefficients(planted, planted_blackbox):
    """At the edges of the allowed priors an empty component's coefficients, drawn from
    its prior, passed float32's range: storing them warned of an overflow, and they
    were kept as inf."""
    vague = {"sigma_shape": 0.2, "lambda1_shape": 0.2, "lambda2_shape": 0.2}
    model = short(n_iter=300, sigma_scale=1e30, lambda_rate=1e30, **vague)
    model.fit(planted.X_train[:400], planted_blackbox)
    assert np.isfinite(model.coef_).all() and np.isfinite(model.r2_).all()


def test_a_test_size_of_one_is_refused_as_such(planted, planted_blackbox):
    # check_fraction accepts 1.0; holding every sample out is refused by name, not by
    # the class-size check further down.
    with pytest.raises(ValueError, match=r"test_size must lie in \(0, 1\), got 1.0"):
        short(test_size=1.0).fit(planted.X_train[:100], planted_blackbox)


@pytest.mark.parametrize("classes", [[-1], [], np.array([], dtype=int)])
def test_classes_that_are_not_class_ints_are_errors(classes, planted, planted_blackbox):
    with pytest.raises(ValueError, match=r"classes must be ints in \[0, 2\)"):
        short().fit(planted.X_train[:100], planted_blackbox, classes=classes)


def test_classes_read_an_integral_float_as_its_int_and_refuse_a_bool(planted, planted_blackbox):
    # As every argument that names classes reads them (BlackBox.class_index): 0.0 is
    # class 0 (it was refused here alone), and True names no class.
    X = planted.X_train[:100]
    with pytest.raises(TypeError, match="classes holds a bool, which names no class"):
        short().fit(X, planted_blackbox, classes=[True])
    as_float = short(n_iter=8).fit(X, planted_blackbox, classes=[0.0])
    as_int = short(n_iter=8).fit(X, planted_blackbox, classes=[0])
    assert as_float.classes_.tolist() == [0]
    np.testing.assert_array_equal(as_float.coef_, as_int.coef_)


def test_classes_given_out_of_order_are_fitted_in_order(planted, planted_blackbox):
    """classes_ is sorted, so that each class finds its own row of the attributes."""
    X = planted.X_train[:300]
    shuffled = short(n_iter=8).fit(X, planted_blackbox, classes=[1, 0])
    ordered = short(n_iter=8).fit(X, planted_blackbox)
    assert shuffled.classes_.tolist() == [0, 1]
    np.testing.assert_array_equal(shuffled.coef_, ordered.coef_)


def test_a_class_that_was_not_fitted_is_an_error(planted, planted_blackbox):
    one = short(n_iter=8).fit(planted.X_train[:300], planted_blackbox, classes=[1])
    with pytest.raises(ValueError, match=r"classes \[0\] were not fitted; fitted: \[1\]"):
        one.insights(0)
    Xq = planted.X_test[planted_blackbox.predict(planted.X_test) == 0][:3]
    with pytest.raises(ValueError, match=r"classes \[0\] were not fitted"):
        one.explain(Xq)  # the black box's prediction is class 0


def test_a_class_that_was_not_fitted_is_named_by_its_label(digits):
    """With string labels the message named column indices ("classes [1] were not
    fitted; fitted: [0, 2]"), which no argument of the user's takes."""
    logreg = LogisticRegression(max_iter=500).fit(digits.X_train, digits.y_train % 3)
    labels = ["zero", "one", "two"]
    box = BlackBox.from_callable(
        logreg.predict_proba, n_classes=3, input_shape=(64,), classes=labels
    )
    fitted = short(n_iter=8, n_components=2, n_features=40)
    fitted.fit(digits.X_train, box, classes=["two", "zero"])
    not_fitted = r"classes \['one'\] were not fitted; fitted: \['zero', 'two'\]"
    with pytest.raises(ValueError, match=not_fitted + "$"):
        fitted.insights("one")
    with pytest.raises(ValueError, match=not_fitted + "$"):
        fitted.explain(digits.X_test[:2], target="one")
    rows = digits.X_test[box.predict(digits.X_test) == 1][:2]
    with pytest.raises(ValueError, match=not_fitted + "; the black box predicts them for rows"):
        fitted.explain(rows)
    assert fitted.explain(rows, target="two").target.tolist() == [2, 2]
    with pytest.raises(ValueError, match=re.escape("must not repeat, got ['two', 'two']")):
        short(n_iter=8, n_features=40).fit(digits.X_train, box, classes=["two", "two"])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (1.5, "must hold integer class labels, got dtype float64"),
        ("zz", "must hold integer class labels, got dtype <U2"),
        (-1, r"holds a negative class label \(-1\)"),
    ],
)
def test_a_class_that_is_no_label_gets_the_black_box_s_message(planted, planted_fit, bad, message):
    """insights(1.5) was refused as "classes [1.5] were not fitted"; every class
    argument now names the fault as explain's target (and the black box) does."""
    X = planted.X_test[:2]
    hint = "classes are the column indices 0..n_classes-1"
    with pytest.raises(ValueError, match=f"class_ {message}.*{hint}"):
        planted_fit.insights(bad)
    with pytest.raises(ValueError, match=f"classes {message}.*{hint}"):
        planted_fit.class_insights(classes=[bad])
    with pytest.raises(ValueError, match=f"target {message}.*{hint}"):
        planted_fit.explain(X, target=bad)
    with pytest.raises(ValueError, match=f"target {message}.*{hint}"):
        planted_fit.explain_local(X, target=bad, n_samples=24)


def test_one_occluded_copy_is_fitted_alongside_each_sample(planted, planted_blackbox):
    X = planted.X_train[:200]
    plain = short(n_iter=8).fit(X, planted_blackbox)
    copied = short(n_iter=8, n_occlusions=1).fit(X, planted_blackbox)
    np.testing.assert_array_equal(copied.n_samples_, 2 * plain.n_samples_)


def test_pca_axes_are_the_top_principal_axes_of_the_data(planted, planted_blackbox):
    from sklearn.decomposition import PCA

    X = planted.X_train[:300]
    m = short(n_iter=8, n_features=5, reduction="pca").fit(X, planted_blackbox)
    ref = PCA(n_components=5).fit(X)
    np.testing.assert_allclose(m.center_, ref.mean_, atol=1e-12)
    # Axes are defined up to their sign.
    signs = np.sign(np.sum(m.components_ * ref.components_, axis=1))
    np.testing.assert_allclose(m.components_ * signs[:, None], ref.components_, atol=1e-8)


def test_a_checkpoint_of_another_black_box_or_data_is_refused(
    tmp_path, planted, planted_blackbox, planted_logreg
):
    X = planted.X_train[:300]
    path = tmp_path / "chain.npz"
    short(n_iter=8, checkpoint=path).fit(X, planted_blackbox)
    # The same inputs, but another model's probabilities: its logits are other targets.
    other = BlackBox.from_callable(
        lambda rows: (
            planted_logreg.predict_proba(rows) ** 2
            / np.sum(planted_logreg.predict_proba(rows) ** 2, axis=1, keepdims=True)
        ),
        n_classes=2,
        input_shape=(20,),
    )
    assert np.array_equal(other.predict(X), planted_blackbox.predict(X))
    with pytest.raises(ValueError, match="other settings or data"):
        short(n_iter=8, checkpoint=path).fit(X, other)
    # Other inputs on which the same black box happens to give the same probabilities.
    class_of_0 = BlackBox.from_callable(
        lambda rows: np.c_[rows[:, 0] * 0 + 0.3, rows[:, 0] * 0 + 0.7], n_classes=2
    )
    path = tmp_path / "flat.npz"
    with pytest.warns(UserWarning, match="same probability"):
        short(n_iter=8, checkpoint=path).fit(X, class_of_0, classes=[1])
    with pytest.raises(ValueError, match="other settings or data"):
        short(n_iter=8, checkpoint=path).fit(X + 1.0, class_of_0, classes=[1])


def test_insight_panels_of_a_label_that_says_class_are_not_titled_class_twice(
    planted_fit, planted_logreg
):
    """wine's labels are class_0, class_1, class_2: the panels read "class class_1"."""
    from sklearn.datasets import load_wine

    m = copy.copy(planted_fit)
    names = list(load_wine().target_names[:2])
    m.blackbox_ = BlackBox.from_sklearn(planted_logreg, class_names=names)
    titles = [ax.get_title() for ax in m.insights(1, k=4).plot().axes]
    assert titles[0] == "class_1: weighted"
    assert len(titles) > 1 and all(t.startswith("class_1: component ") for t in titles[1:])
    assert [ax.get_title() for ax in m.plot(k=4).axes] == ["class_0", "class_1"]


def test_insight_panels_name_their_class_by_the_black_box_names(planted_fit, planted_logreg):
    # The panels read "weighted" and "component j (weight w)", naming no class.
    m = copy.copy(planted_fit)
    m.blackbox_ = BlackBox.from_sklearn(planted_logreg, class_names=["no", "yes"])
    titles = [ax.get_title() for ax in m.insights(1, k=4).plot().axes]
    assert titles[0] == "class yes: weighted"
    assert len(titles) > 1 and all(t.startswith("class yes: component ") for t in titles[1:])
    assert m.plot(k=4).axes[0].get_title() == "class no"  # the per-class figure too
    # without names, the column index
    assert planted_fit.insights(0, k=4).plot().axes[0].get_title() == "class 0: weighted"


def test_insight_rows_are_the_occupied_components_heaviest_first(planted_fit):
    """Rows 1, 2, ... are the components of weight at least 5%, heaviest first, each the
    top k of its own |beta_j|; meta names them and holds the signs of the coefficients."""
    m = copy.copy(planted_fit)
    m.weights_ = m.weights_.copy()
    m.weights_[1] = [0.04, 0.3, 0.05, 0.5, 0.1, 0.01]  # 0.05 is occupied, 0.04 is not
    insight = m.insights(1, k=5)
    order = [3, 1, 4, 2]
    assert insight.meta["components"] == order
    assert insight.meta["weights"] == [0.5, 0.3, 0.1, 0.05]
    assert insight.class_names[1:] == tuple(
        f"class 1: component {j} (weight {m.weights_[1, j]:.2f})" for j in order
    )
    assert insight.meta["k"] == 5 and insight.meta["r2"] == float(m.r2_[1])
    for i, j in enumerate(order):
        score = np.abs(m.coef_[1, j])
        expected = np.where(score >= np.sort(score)[-5], score, 0.0)
        np.testing.assert_array_equal(insight.values[1 + i], expected)
    signed = np.vstack([m.weights_[1] @ m.coef_[1], m.coef_[1, order]])
    np.testing.assert_array_equal(insight.meta["sign"], np.sign(signed).astype(int))
    # Class 0's support lowers its logit: the magnitudes are positive, the signs not.
    assert set(np.array(m.insights(0, k=4).meta["sign"][0])[sorted(SUPPORT)]) == {-1}


def test_explain_meta_says_which_mode(planted_fit, planted):
    X = planted.X_test[:3]
    assert planted_fit.explain(X).meta["mode"] is False
    assert planted_fit.explain(X, mode=True).meta["mode"] is True


def test_class_insights_of_chosen_classes(planted_fit):
    ranking = planted_fit.class_insights(4, classes=[1])
    assert ranking.values.shape == (1, 20)
    np.testing.assert_array_equal(ranking.values[0], planted_fit.insights(1, k=4).values[0])
    assert ranking.meta["classes"] == [1] and ranking.class_names == ("class 1",)


def test_explain_local_defaults_to_the_fitted_black_box(planted, planted_blackbox):
    m = short(n_iter=8).fit(planted.X_train[:200], planted_blackbox)
    x, segments = planted.X_test[:1], np.arange(20)[None]
    default = m.explain_local(x, segments=segments, n_samples=60, target=1)
    given = m.explain_local(x, blackbox=planted_blackbox, segments=segments, n_samples=60, target=1)
    np.testing.assert_array_equal(default.values, given.values)
    with pytest.raises(ValueError, match="kernel_width must be"):
        m.explain_local(x, segments=segments, kernel_width=float("inf"))


def test_explain_local_with_fewer_perturbations_than_unknowns_says_so(planted, planted_blackbox):
    # At --n-samples 10 on 16 segments the in-sample R^2 read -31.8, and nothing warned.
    # 20 segments and the intercept are 21 unknowns: 20 perturbations are too few.
    x, segments = planted.X_test[:2], np.arange(20)
    model = short(n_iter=8)
    with pytest.warns(UserWarning, match=r"n_samples=20 .* Give n_samples >= 21") as caught:
        model.explain_local(x, blackbox=planted_blackbox, segments=segments, n_samples=20)
    assert "2 of 2 rows have more unknowns" in str(caught[0].message)
    assert caught[0].filename == __file__  # the caller's line, not the library's
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.explain_local(x, blackbox=planted_blackbox, segments=segments, n_samples=21)


def test_the_underdetermined_fit_warning_names_the_callers_line_whatever_the_path(
    monkeypatch, planted, planted_blackbox
):
    # A fixed stacklevel counted the engine's frames: one more frame between
    # explain_local and the warning (a wrapper, a refactored engine) named the library.
    engine_pass = dmm_module._LocalDMM._explain

    def one_frame_more(self, *args, **kwargs):
        return engine_pass(self, *args, **kwargs)

    monkeypatch.setattr(dmm_module._LocalDMM, "_explain", one_frame_more)
    x, segments = planted.X_test[:1], np.arange(20)
    with pytest.warns(UserWarning, match="underdetermined") as record:
        line = sys._getframe().f_lineno + 1
        short(n_iter=8).explain_local(x, blackbox=planted_blackbox, segments=segments, n_samples=20)
    assert (record[0].filename, record[0].lineno) == (__file__, line)


def test_weighted_design_is_centred_at_the_weighted_means_and_scale_free():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)) + 2.0, rng.normal(size=30) + 5.0
    w = rng.uniform(0.05, 1.0, size=30)
    design, y_c, x_mean, y_mean = dmm_module._design(X, y, w)
    np.testing.assert_allclose(x_mean, np.average(X, axis=0, weights=w), rtol=1e-12)
    assert y_mean == pytest.approx(np.average(y, weights=w), rel=1e-12)
    # Each row is scaled by sqrt(w_i / mean(w)): the weights sum to n, as without them,
    # so the prior counts as much against the data; and the columns are centred under w.
    root = design[:, 0]
    np.testing.assert_allclose(root**2, w / w.mean(), rtol=1e-12)
    np.testing.assert_allclose(root @ design[:, 1:], 0.0, atol=1e-12)
    assert root @ y_c == pytest.approx(0.0, abs=1e-12)
    # Scaling every weight alike (a kernel's constant) changes nothing.
    scaled = dmm_module._design(X, y, 7.0 * w)
    np.testing.assert_allclose(scaled[0], design, rtol=1e-12)
    np.testing.assert_allclose(scaled[1], y_c, rtol=1e-12)


def test_fit_warnings_point_at_the_callers_line(planted, planted_blackbox):
    X = planted.X_train[:200]
    with pytest.warns(ConvergenceWarning) as record:
        short(n_iter=10, n_chains=2).fit(X, planted_blackbox)
    assert record[0].filename == __file__
    flat = BlackBox.from_callable(lambda rows: np.tile([0.3, 0.7], (len(rows), 1)), n_classes=2)
    with pytest.warns(UserWarning, match="same probability") as record:
        short(n_iter=8).fit(X, flat, classes=[1])
    assert [w.filename for w in record if "same probability" in str(w.message)] == [__file__]


def test_occlusions_draw_from_a_stream_of_their_own(monkeypatch, planted, planted_blackbox):
    """The copies of class c come from the stream [seed, c, OCCLUSION_STREAM], apart from
    the held-out split's [seed, c] and the chains' [seed, c, chain]."""
    calls = []
    real = dmm_module.occlude

    def occlude(X_c, columns, n_copies, max_share, rng):
        calls.append((X_c, columns, real(X_c, columns, n_copies, max_share, rng)))
        return calls[-1][2]

    monkeypatch.setattr(dmm_module, "occlude", occlude)
    short(n_iter=8, n_occlusions=1, random_state=3).fit(
        planted.X_train[:200], planted_blackbox, classes=[1]
    )
    X_c, columns, got = calls[0]
    stream = np.random.default_rng([3, 1, dmm_module.OCCLUSION_STREAM])
    np.testing.assert_array_equal(got, real(X_c, columns, 1, 0.3, stream))


def test_every_method_of_an_unfitted_dmm_says_so(planted):
    X = planted.X_test[:3]
    for call in (
        lambda m: m.explain(X),
        lambda m: m.responsibilities(X),
        lambda m: m.class_insights(),
        lambda m: m.plot(),
    ):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call(short())


def test_one_target_for_every_row_explains_that_class(planted_fit, planted):
    X = planted.X_test[:10]
    attribution = planted_fit.explain(X, target=1)
    np.testing.assert_array_equal(attribution.target, np.ones(10, dtype=int))
    resp, target = planted_fit.responsibilities(X, target=[1] * 10)
    np.testing.assert_array_equal(target, np.ones(10))
    expected = planted_fit.coef_[1, resp.argmax(axis=1)] * X
    np.testing.assert_allclose(attribution.values, expected)
    with pytest.raises(ValueError, match="target"):
        planted_fit.explain(X, target=2)


def test_responsibilities_of_a_nearly_empty_component_keep_its_tiny_weight(planted_fit, planted):
    """Only a weight of exactly 0 is floored (at 1e-300, for the log): a component of
    weight 1e-5 keeps a responsibility in proportion to it."""
    m, X = copy.copy(planted_fit), planted.X_test[:50]
    m.weights_ = np.tile([0.6, 0.4 - 1e-5, 1e-5, 0.0, 0.0, 0.0], (2, 1))
    resp, target = m.responsibilities(X)
    g = class_logit(m.blackbox_.predict_proba(X), target)
    mean = np.einsum("nd,njd->nj", X, m.coef_[target]) + m.intercept_[target]
    with np.errstate(divide="ignore"):  # log(0): those components take no responsibility
        log_p = np.log(m.weights_[target]) + stats.norm.logpdf(
            g[:, None], mean, np.sqrt(m.sigma2_[target])
        )
    np.testing.assert_allclose(resp, special.softmax(log_p, axis=1), rtol=1e-9, atol=1e-200)


def test_explain_local_of_a_logit_linear_box_is_beta_times_the_step_to_the_fill():
    """Switching segment j off moves the logit by beta_j (x_j - fill) exactly, so that is
    its coefficient, for any fill; each instance costs n_samples queries, plus n_score
    (n_samples // 5 by default) for the held-out R^2. (60 sweeps: at 20 the chain's
    noise reached the tolerance with one seed in three, 0.108 with the row-seeded
    draws of seed 0.)"""
    beta = np.array([2.0, -1.0, 1.5, 0.5])
    box = _linear_box(beta)
    x = np.array([[1.0, 2.0, -1.0, 0.5]])
    model = short(n_iter=60, n_components=2)
    for fill in (0.0, 0.5):
        for n_score, queries in (("auto", 120), (0, 100), (None, 100), (7, 107)):
            box.n_queries = 0
            att = model.explain_local(
                x,
                blackbox=box,
                target=1,
                segments=np.arange(4)[None],
                n_samples=100,
                fill=fill,
                n_score=n_score,
            )
            np.testing.assert_allclose(att.values[0], beta * (x[0] - fill), atol=0.02)
            assert box.n_queries == queries


def test_explain_local_of_a_constant_response_has_no_r2():
    # The mean of 50 equal logits is off by rounding: the R^2 was -5e27, not NaN.
    flat = BlackBox.from_callable(
        lambda rows: np.tile([0.3, 0.7], (len(rows), 1)), n_classes=2, input_shape=(4,)
    )
    model = short(n_iter=8, n_components=2)
    for width in (None, 0.25):
        att = model.explain_local(
            np.ones((2, 4)),
            blackbox=flat,
            target=1,
            n_samples=50,
            kernel_width=width,
            segments=np.tile(np.arange(4), (2, 1)),
        )
        assert att.meta["r2"] == [None, None]  # NaN, as the meta's JSON holds it
        assert att.meta["r2_held_out"] == [None, None]
        assert np.all(np.isfinite(att.values))


def test_explain_local_with_a_kernel_that_weighs_the_instance_alone_has_no_r2():
    # With kernel_width=1e-3 every perturbation but the instance weighs exactly 0
    # (the exponential underflows): the weighted total sum of squares is 0, and the
    # in-sample R^2 raised ZeroDivisionError.
    beta = np.array([2.0, -1.0, 1.5, 0.5, -0.7, 1.1, 0.3, -2.0])
    att = short(n_iter=8, n_components=2).explain_local(
        np.ones((2, 8)),
        blackbox=_linear_box(beta),
        target=1,
        segments=np.arange(8),
        n_samples=60,
        kernel_width=1e-3,
    )
    assert att.meta["r2"] == [None, None]  # NaN, as the meta's JSON holds it
    assert att.meta["r2_held_out"] == [None, None]
    assert np.all(np.isfinite(att.values))


def test_explain_local_with_a_kernel_that_leaves_the_others_rounding_has_no_r2():
    """At kernel_width=0.002 the perturbations weigh about 1e-227 beside the instance's
    1: the in-sample total is rounding, and R^2 read -9e220 (Lime's rule reads NaN)."""
    beta = np.array([2.0, -1.0, 1.5, 0.5, -0.7, 1.1, 0.3, -2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        att = short(n_iter=8, n_components=2).explain_local(
            np.ones((2, 8)),
            blackbox=_linear_box(beta),
            target=1,
            segments=np.arange(8),
            n_samples=60,
            kernel_width=0.002,
        )
    assert att.meta["r2"] == [None, None]  # NaN, as the meta's JSON holds it
    assert np.all(np.isfinite(att.values))


def test_explain_local_records_each_row_s_effective_samples_as_lime_does():
    """No figure told how many perturbations a kernel_width left the fit (Lime's
    meta["n_effective"]): 1 at 1e-3, where only the instance counts."""
    beta = np.array([2.0, -1.0, 1.5, 0.5, -0.7, 1.1, 0.3, -2.0])
    common = {"blackbox": _linear_box(beta), "target": 1, "segments": np.arange(8)}
    X = np.ones((2, 8))
    n_effective = {
        width: short(n_iter=8, n_components=2)
        .explain_local(X, n_samples=60, kernel_width=width, **common)
        .meta["n_effective"]
        for width in (None, 0.25, 1e-3)
    }
    assert all(1.0 < n <= 60.0 for n in n_effective[None])  # equal weights
    assert all(1.0 < n < 60.0 for n in n_effective[0.25])
    np.testing.assert_allclose(n_effective[1e-3], 1.0)


def test_explain_local_counts_copies_of_a_mask_once_as_lime_does():
    """Two segments give 4 distinct masks, which 60 samples repeat: the fit sees 4
    points, each weighing its copies (it read 60, as if each copy were a sample)."""
    beta = np.array([2.0, -1.0, 1.5, 0.5, -0.7, 1.1, 0.3, -2.0])
    attribution = short(n_iter=8, n_components=2).explain_local(
        np.ones((2, 8)),
        blackbox=_linear_box(beta),
        target=1,
        segments=np.repeat([0, 1], 4),
        n_samples=60,
    )
    assert all(1.0 < n <= 4.0 for n in attribution.meta["n_effective"])


def test_weighted_r2_of_weights_whose_squares_underflow_is_nan():
    # Two responses with weight, but weights so near the smallest float that every
    # weighted square rounds to 0: a total of 0 raised ZeroDivisionError.
    tiny = np.array([5e-324, 5e-324, 0.0])
    assert np.isnan(dmm_module._weighted_r2(np.array([0.0, 1.0, 3.0]), np.zeros(3), tiny))
    assert dmm_module._weighted_r2(np.array([0.0, 2.0]), np.array([0.0, 1.0]), None) == 0.5


def test_weighted_r2_of_a_total_within_rounding_of_zero_is_nan():
    """The instance at weight 1, the others at 1e-200: the total (~1e-200) is rounding
    beside the instance's weight, and R^2 read -1e200 where the local explainers' rule
    reads NaN; at 1e-320 the ratio overflowed to -inf."""
    y, predicted = np.array([0.0, 1.0, 3.0]), np.array([1.0, 0.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for tiny in (1e-200, 1e-320):
            assert np.isnan(dmm_module._weighted_r2(y, predicted, np.array([1.0, tiny, tiny])))
        # and away from 0 it is the formula's
        w = np.array([1.0, 0.5, 0.25])
        ybar = np.average(y, weights=w)
        expected = 1 - np.sum(w * (y - predicted) ** 2) / np.sum(w * (y - ybar) ** 2)
        assert dmm_module._weighted_r2(y, predicted, w) == pytest.approx(expected, rel=1e-13)


def test_inputs_with_nan_are_refused_by_the_black_boxs_check(planted, planted_blackbox):
    X = planted.X_train[:100].copy()
    X[3, 4] = np.nan
    # Not "features are constant", which X.var() of a NaN column would make of it.
    with pytest.raises(ValueError, match=r"X contains NaN \(first at index \(3, 4\)\)"):
        short().fit(X, planted_blackbox)


def test_a_fit_on_fewer_features_explains_inputs_of_every_feature(planted, planted_blackbox):
    m = short(n_iter=8, n_features=5).fit(planted.X_train[:200], planted_blackbox)
    assert m.n_features_in_ == 20
    X = planted.X_test[:3]
    values = m.explain(X).values
    assert values.shape == (3, 20)
    off = np.setdiff1d(np.arange(20), m.features_)
    assert np.all(values[:, off] == 0) and np.any(values[:, m.features_] != 0)


def test_plot_of_one_class_draws_its_panel_only(planted_fit):
    import matplotlib

    matplotlib.use("Agg")
    figure = planted_fit.plot(1, k=4)
    assert [ax.get_title() for ax in figure.axes] == ["class 1"]


def test_explanations_of_a_grayscale_image_box_carry_its_image_shape(planted, planted_logreg):
    box = BlackBox.from_callable(
        lambda rows: planted_logreg.predict_proba(rows.reshape(len(rows), -1)),
        n_classes=2,
        input_shape=(1, 4, 5),
    )
    m = short(n_iter=8).fit(planted.X_train[:200], box)
    for explanation in (m.insights(1, k=4), m.class_insights(4), m.explain(planted.X_test[:2])):
        assert explanation.image_shape == (4, 5)


def test_numpy_hyperparameters_fit_like_plain_numbers(planted, planted_blackbox):
    # np.float32(2.0) was refused as "not a positive number" while fit_iterative's tol
    # took numpy numbers; they are the same prior, so the same draws.
    X = planted.X_train[:200]
    plain = short(n_iter=12, alpha_shape=2.0, sigma_scale=0.5).fit(X, planted_blackbox)
    numpy = short(n_iter=12, alpha_shape=np.float32(2.0), sigma_scale=np.float64(0.5))
    numpy.fit(X, planted_blackbox)
    np.testing.assert_array_equal(numpy.coef_, plain.coef_)
    assert numpy.insights(0, k=3).meta["parameters"]["alpha_shape"] == 2.0


@pytest.mark.parametrize("average", [False, True])
def test_explain_local_r2_is_the_weighted_r2_of_the_linear_model_shown(monkeypatch, average):
    """meta["r2"] is the in-sample R^2 of the linear model the attribution is, weighted
    by the kernel: the component responsible for sample 0 (the instance), its
    responsibilities those of the weighted model y_i ~ N(x_i beta_j, sigma_j^2 / w_i)
    computed here by scipy, or the averaged coefficients (the posterior-predictive
    mean); sklearn's weighted r2_score of its predictions. It was the R^2 of each
    perturbation predicted by its own likeliest component, a model no attribution
    shows."""
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    Z = (rng.random((150, 4)) < 0.5).astype(float)
    Z[0] = 1.0  # the instance
    # two regimes (feature 3 switches feature 0's effect), so two components differ
    y = Z @ [1.0, -2.0, 0.5, 0.0] + 3.0 * Z[:, 0] * Z[:, 3] + 0.1 * rng.normal(size=150)
    w = np.exp(-3.0 * rng.random(150))
    posteriors = []
    real = dmm_module.sample_posterior

    def recording(*args, **kwargs):
        posteriors.append(real(*args, **kwargs))
        return posteriors[-1]

    monkeypatch.setattr(dmm_module, "sample_posterior", recording)
    settings = ChainSettings(3, 2, 60, 30, 1, 1, Prior())
    fit = dmm_module._fit_local(
        Z, y, settings, [np.random.default_rng(1)], average=average, weights=w
    )
    post = posteriors[0]
    x_mean, y_mean = np.average(Z, axis=0, weights=w), np.average(y, weights=w)
    pred = y_mean + post.coef[:, 0] + (Z - x_mean) @ post.coef[:, 1:].T  # (S, J)
    if average:
        shown = post.predictive_coef
    else:
        # the weights are scaled to mean 1 in the fit; the factor is shared by a row's
        # components
        scale = np.sqrt(post.sigma2 * w.mean() / w[0])
        with np.errstate(divide="ignore"):
            log_r = np.log(post.weights) + stats.norm.logpdf(y[0], pred[0], scale)
        shown = post.coef[np.argmax(log_r)]
    intercept = y_mean + shown[0] - x_mean @ shown[1:]
    expected = r2_score(y, intercept + Z @ shown[1:], sample_weight=w)
    assert fit.r2 == pytest.approx(expected, abs=1e-10)
    np.testing.assert_array_equal(fit.coef, shown[1:])
    assert fit.intercept == pytest.approx(intercept, abs=1e-12)
    # and not the figure of each sample's likeliest component, which is higher here
    with np.errstate(divide="ignore"):
        log_r = np.log(post.weights) + stats.norm.logpdf(
            y[:, None], pred, np.sqrt(post.sigma2[None, :] * w.mean() / w[:, None])
        )
    likeliest = pred[np.arange(y.size), log_r.argmax(axis=1)]
    assert r2_score(y, likeliest, sample_weight=w) > fit.r2 + 0.01


# ---------------------------------------------------------------- explain_local's held-out R^2
def _digit_cells(digits, n=3):
    """Test digits and their 2x2 cells (16 segments each)."""
    from unboxed.local import segment

    X = digits.X_test[:n]
    return X, segment(X, (8, 8), method="grid", cell=2)


def test_explain_local_held_out_score_leaves_the_fit_as_it_was(
    digits, digits_blackbox, monkeypatch
):
    """The held-out perturbations are drawn after every fitting one and queried apart:
    masks, chains, values, in-sample R^2 and R-hat are those of n_score=0 bit for bit,
    also where each instance is a chunk of its own, whose masks the next chunk's
    follow in the stream."""
    from unboxed.local import _engine

    monkeypatch.setattr(_engine, "CHUNK_ROWS", 80)  # one instance per chunk
    X, cells = _digit_cells(digits)
    common = {"blackbox": digits_blackbox, "segments": cells, "n_samples": 80}
    scored = short(n_iter=20, n_components=3).explain_local(X, **common)
    plain = short(n_iter=20, n_components=3).explain_local(X, n_score=0, **common)
    np.testing.assert_array_equal(scored.values, plain.values)
    np.testing.assert_array_equal(scored.target, plain.target)
    assert scored.meta["r2"] == plain.meta["r2"] and scored.meta["rhat"] == plain.meta["rhat"]
    assert np.all(np.isfinite(np.array(scored.meta["r2_held_out"], dtype=float)))
    assert plain.meta["r2_held_out"] == [None, None, None]  # NaN, as the meta's JSON holds it
    assert scored.meta["parameters"]["n_score"] == 16 and plain.meta["parameters"]["n_score"] == 0


def test_explain_local_held_out_r2_is_near_the_in_sample_one_of_the_same_model(
    digits, digits_blackbox
):
    """On digits the responsible component's regression (17 parameters on 300
    perturbations) underfits the LeNet about as much on new perturbations as on its
    own. One image's two figures can be far apart (the held-out one is read on 60
    perturbations, and a chain may settle otherwise): over 8 images and 3 seeds the
    median gap is 0.04 (gaps from -0.50 to 0.34). The in-sample R^2 of each
    perturbation's likeliest component, which meta["r2"] was, stood above: a median
    gap of 0.21 on the same images and seeds (0.06 to 0.47)."""
    X, cells = _digit_cells(digits, n=8)
    gaps, held_out = [], []
    for seed in range(3):
        att = short(n_iter=50, n_components=3, random_state=seed).explain_local(
            X, blackbox=digits_blackbox, segments=cells, n_samples=300
        )
        held_out.append(np.array(att.meta["r2_held_out"]))
        gaps.append(np.array(att.meta["r2"]) - held_out[-1])
    assert np.all(np.isfinite(held_out)) and np.median(held_out) > 0.4
    assert abs(np.median(gaps)) < 0.1


def test_explain_local_held_out_r2_of_a_box_linear_in_the_segments_is_one():
    beta = np.array([2.0, -1.0, 1.5, 0.5, -0.7, 1.1])
    X = np.array([[1.0, 2.0, -1.0, 0.5, 1.0, 1.0], [0.5, 1.0, 1.0, -1.0, 2.0, 0.3]])
    att = short(n_iter=40, n_components=2).explain_local(
        X, blackbox=_linear_box(beta), target=1, segments=np.arange(6), n_samples=100
    )
    np.testing.assert_allclose(att.meta["r2"], 1.0, atol=1e-3)
    np.testing.assert_allclose(att.meta["r2_held_out"], 1.0, atol=1e-3)


@pytest.mark.parametrize("scale", ["logit", "probability"])
def test_explain_local_held_out_r2_of_noise_is_not_above_zero(scale):
    """A black box that answers at random has nothing to explain: the fit still finds
    a little in-sample R^2 (0.01-0.16 on the logits), but none of it holds on new
    perturbations."""
    noise = np.random.default_rng(0)

    def answer(rows):
        p = noise.random(len(rows))
        return np.c_[1.0 - p, p]

    box = BlackBox.from_callable(answer, n_classes=2, input_shape=(16,))
    att = short(n_iter=50, n_components=3).explain_local(
        np.ones((4, 16)),
        blackbox=box,
        target=1,
        segments=np.tile(np.arange(16), (4, 1)),
        n_samples=60,
        n_score=200,
        scale=scale,
    )
    r2, held_out = np.array(att.meta["r2"]), np.array(att.meta["r2_held_out"])
    assert np.all(held_out < 0.05)
    assert np.all(r2 > held_out)


def _recorded_local_fit(monkeypatch, box, x, seed, **options):
    """explain_local of ``x`` (one row, one segment per feature) from ``seed``, with the
    masks drawn (the fit's, then the held-out ones) and the posterior recorded."""
    drawn, posteriors = [], []
    draw, real = dmm_module.bernoulli_masks, dmm_module.sample_posterior
    monkeypatch.setattr(
        dmm_module, "bernoulli_masks", lambda *a: drawn.append(draw(*a)) or drawn[-1]
    )
    monkeypatch.setattr(
        dmm_module, "sample_posterior", lambda *a: posteriors.append(real(*a)) or posteriors[-1]
    )
    common = {"target": 1, "segments": np.arange(x.shape[1])[None], "kernel_width": 0.5}
    model = short(n_iter=40, n_components=2, random_state=seed)
    att = model.explain_local(x, blackbox=box, **common, **options)
    (fitted, held), (post,) = drawn, posteriors
    return att, fitted[0].astype(float), held[0, 1:].astype(float), post


def _logits_and_weights(box, x, masks):
    """The black box's logit of class 1 on ``x``'s masked copies, and LIME's kernel
    of width 0.5 on the masks' cosine distance to the instance."""
    y = special.logit(box.predict_proba(x * masks)[:, 1])
    return y, np.sqrt(np.exp(-((1 - np.sqrt(masks.mean(axis=1))) ** 2) / 0.5**2))


def test_explain_local_held_out_r2_of_the_average_is_the_posterior_means(monkeypatch):
    """meta["r2_held_out"] by hand: the n_score masks drawn after the fit's (without the
    instance), the black box's logits on them, each predicted by the fit's
    posterior-predictive mean, which is the averaged linear model the attribution
    shows, and scored by sklearn's r2_score weighted by LIME's kernel; at each of 6
    seeds. Only a posterior that splits its weight tells the heaviest component alone
    from the average, and about 3 chains in 10 keep one component (then the two agree
    to 1e-3): so the by-hand figures are checked at every seed, and the alternatives
    must miss them at one seed at least (over seeds 0-19, 14 missed by 0.0016-0.44,
    and the unweighted figure 19 by 0.0013-0.033; of 20 blocks of 6 seeds in 0-119,
    the weakest still missed by 0.0044 and 0.011)."""
    from sklearn.metrics import r2_score

    box, x = BlackBox.from_callable(_bumpy, n_classes=2, input_shape=None), np.ones((1, 8))
    heavy_gaps, plain_gaps = [], []
    for seed in range(6):
        with monkeypatch.context() as patch:
            att, Z_fit, Z, post = _recorded_local_fit(
                patch, box, x, seed, n_samples=100, n_score=50, component="average"
            )
        assert Z_fit.shape == (100, 8) and Z.shape == (50, 8)
        # the fit's design is centred at the weighted means of its own samples
        y_fit, w_fit = _logits_and_weights(box, x, Z_fit)
        x_mean = np.average(Z_fit, axis=0, weights=w_fit)
        y_mean = np.average(y_fit, weights=w_fit)
        y, w = _logits_and_weights(box, x, Z)
        pred = y_mean + post.predictive_coef[0] + (Z - x_mean) @ post.predictive_coef[1:]
        expected = r2_score(y, pred, sample_weight=w)
        assert att.meta["r2_held_out"][0] == pytest.approx(expected, abs=1e-10)
        # the attribution and its intercept are that model
        np.testing.assert_array_equal(att.values[0], post.predictive_coef[1:])
        fitted = att.meta["intercept"][0] + Z @ att.values[0]
        assert r2_score(y, fitted, sample_weight=w) == pytest.approx(expected)
        # weighted, not the plain figure
        plain_gaps.append(abs(r2_score(y, pred) - expected))
        # the posterior-predictive mean, not the heaviest component alone
        heavy = post.coef[np.argmax(post.weights)]
        one = y_mean + heavy[0] + (Z - x_mean) @ heavy[1:]
        heavy_gaps.append(abs(r2_score(y, one, sample_weight=w) - expected))
    assert max(plain_gaps) > 1e-3
    assert max(heavy_gaps) > 1e-3


def test_explain_local_r2_of_the_responsible_component_scores_its_regression(monkeypatch):
    """With component="responsible" the attribution is one component's coefficients, so
    both R^2 score that component's regression, by hand here from the returned
    coefficients and an intercept rebuilt from the recorded posterior: on the held-out
    masks and on the fitting ones, weighted by LIME's kernel; at each of 20 seeds. The
    black box is one linear function of the segments where segment 7 is on and another
    where it is off: the instance's component fits the half where it is on (its slopes
    are that function's), and at seed 1 on all the masks its R^2 is -0.19 held out and
    -0.78 in sample, where the mixture's posterior-predictive mean has 0.23. (At
    f77f1e7's draws, meta["r2"], each mask's likeliest component in sample, read 1.00.)

    Not at every seed: the "off" component never sees segment 7 on, so its prediction
    at the instance is free along that direction, and where the chain lets it take the
    instance it fits it as well (over seeds 0-19, 2 showed the "off" slopes and 2 kept
    one component; 16 showed the "on" ones, within 0.03; over seeds 0-399, 81%). So
    the slopes are asked of half the seeds at least: of 20 blocks of 20 seeds in
    0-399, the fewest was 10 (the median 17). The gap to the posterior-predictive
    mean is read at those seeds, by its median (the smallest of 324 was 0.035, the
    next 0.11)."""
    from sklearn.metrics import r2_score

    on = np.array([2.0, -1.0, 1.5, 0.5, -0.7, 1.1, 0.3, 0.0])
    off = np.array([-1.0, 1.5, -0.5, 1.0, 0.8, -1.2, 0.6, 0.0])

    def two_regimes(rows):
        logit = np.where(rows[:, 7] > 0.5, rows @ on - 2.0, rows @ off)
        return np.c_[1.0 - special.expit(logit), special.expit(logit)]

    box, x = BlackBox.from_callable(two_regimes, n_classes=2, input_shape=None), np.ones((1, 8))
    mean_gaps = []
    for seed in range(20):
        with monkeypatch.context() as patch:
            att, Z_fit, Z, post = _recorded_local_fit(
                patch, box, x, seed, n_samples=300, n_score=100, component="responsible"
            )
        coef = att.values[0]
        (j,) = np.flatnonzero(np.all(post.coef[:, 1:] == coef, axis=1))  # the one shown
        y_fit, w_fit = _logits_and_weights(box, x, Z_fit)
        x_mean = np.average(Z_fit, axis=0, weights=w_fit)
        y_mean = np.average(y_fit, weights=w_fit)
        intercept = y_mean + post.coef[j, 0] - x_mean @ coef
        y, w = _logits_and_weights(box, x, Z)
        expected = r2_score(y, intercept + Z @ coef, sample_weight=w)
        assert att.meta["r2_held_out"][0] == pytest.approx(expected, abs=1e-10)
        in_sample = r2_score(y_fit, intercept + Z_fit @ coef, sample_weight=w_fit)
        assert att.meta["r2"][0] == pytest.approx(in_sample, abs=1e-10)
        assert att.meta["intercept"][0] == pytest.approx(intercept, abs=1e-10)
        # The regime of the instance: its slopes, where segment 7 is on, are the
        # component's; and then not the mixture's posterior-predictive mean, whose R^2
        # differs.
        if np.abs(coef[:7] - on[:7]).max() < 0.2:
            mean = y_mean + post.predictive_coef[0] + (Z - x_mean) @ post.predictive_coef[1:]
            mean_gaps.append(abs(r2_score(y, mean, sample_weight=w) - expected))
    assert len(mean_gaps) >= 10
    assert np.median(mean_gaps) > 0.05


@pytest.mark.parametrize("classes", [[2, 1, 0], ["a", "b", "c"]])
def test_explain_local_held_out_r2_scores_the_explained_class_of_a_labelled_box(classes):
    """The held-out pass queries the class the fit explained: with labels that are not
    the column indices it read the fit's column indices as labels, and scored label 0
    (column 2) or refused them."""

    def answer(rows):
        logits = np.c_[rows[:, :3] @ [2.0, -1.0, 1.5], np.sin(5.0 * rows.sum(axis=1)), rows[:, 3]]
        return special.softmax(logits, axis=1)

    common = {"segments": np.arange(6), "n_samples": 60}
    plain = BlackBox.from_callable(answer, n_classes=3, input_shape=None)
    labelled = BlackBox.from_callable(answer, n_classes=3, input_shape=None, classes=classes)
    X = np.ones((2, 6))
    expected = short(n_iter=30, n_components=2).explain_local(X, blackbox=plain, **common)
    att = short(n_iter=30, n_components=2).explain_local(X, blackbox=labelled, **common)
    np.testing.assert_array_equal(att.target, expected.target)
    assert att.meta["r2_held_out"] == expected.meta["r2_held_out"]
    assert all(np.isfinite(att.meta["r2_held_out"]))


@pytest.mark.parametrize("n_score", [1, -1, 2.5, "all", True, "auto "])
def test_explain_local_n_score_is_checked(n_score, planted, planted_blackbox):
    with pytest.raises(ValueError, match="n_score must be 'auto', None, 0 or an int >= 2"):
        short().explain_local(planted.X_test[:1], blackbox=planted_blackbox, n_score=n_score)


def _bumpy(rows):
    """Two regimes (segment 7 switches segment 0's effect) and noise, as probabilities."""
    beta = np.array([2.0, -1.0, 1.5, 0.5, -0.7, 1.1, 0.3, -2.0])
    logit = rows @ beta - 4.0 * rows[:, 0] * rows[:, 7] + np.sin(7.0 * rows.sum(axis=1))
    return np.c_[1.0 - special.expit(logit), special.expit(logit)]


def test_explain_local_goes_the_segment_explainers_path_with_its_values_as_before():
    """explain_local runs through _SegmentExplainer._explain, with its held-out pass
    around the engine's: the attributions, R-hats and held-out R^2 are those the method
    gave when it wrote that path out itself (printed with this call on that code, once
    rows were seeded by their content; the averaged variant, whose figures the change
    to the responsible one's R^2 leaves alone). A change of the seeding, not of the
    path, re-prints them."""
    box = BlackBox.from_callable(_bumpy, n_classes=2, input_shape=None)
    X = np.array([np.ones(8), np.linspace(0.5, 1.5, 8)])
    att = short(n_iter=40, n_components=2).explain_local(
        X,
        blackbox=box,
        target=1,
        segments=np.arange(8),
        n_samples=100,
        n_score=50,
        kernel_width=0.5,
        component="average",
    )
    before = [
        [-0.6449673301130996, -1.4144902431976183, 0.7349913910583918, -0.0361760399206389],
        [-1.4786239547645883, 0.4700521808050639, -0.12023115111485619, -4.684472700072438],
        [-0.12300722721025759, -0.48736793743003315, 1.1936594694352034, 0.2203088407756372],
        [-0.7368090129627158, 1.256636072433836, 0.22230667578724997, -3.255090314007222],
    ]
    np.testing.assert_allclose(att.values, np.reshape(before, (2, 8)), rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        att.meta["rhat"], [1.1826641486098008, 1.2589095012034275], rtol=1e-12
    )
    np.testing.assert_allclose(
        att.meta["r2_held_out"], [0.8728625698618007, 0.7715694886283931], rtol=1e-12
    )


def test_explain_local_held_out_r2_saves_and_loads(tmp_path, planted, planted_blackbox):
    """It is meta: a NaN is saved as null, and a file saved before it existed still
    loads, without it."""
    # 60 samples, so 12 held out: with 30 (6 held out) one row's held-out responses
    # had no spread and its R^2 was NaN, as documented, which this test does not want.
    att = short(n_iter=8).explain_local(
        planted.X_test[:2], blackbox=planted_blackbox, n_samples=60, target=1
    )
    held_out = att.meta["r2_held_out"]
    assert len(held_out) == 2 and all(isinstance(v, float) for v in held_out)
    att.save(tmp_path / "scored.npz")
    assert Attribution.load(tmp_path / "scored.npz").meta["r2_held_out"] == held_out
    off = short(n_iter=8).explain_local(
        planted.X_test[:2], blackbox=planted_blackbox, n_samples=30, target=1, n_score=None
    )
    off.save(tmp_path / "off.npz")
    assert Attribution.load(tmp_path / "off.npz").meta["r2_held_out"] == [None, None]
    older = dataclasses.replace(att, meta={k: v for k, v in att.meta.items() if k != "r2_held_out"})
    older.save(tmp_path / "older.npz")
    loaded = Attribution.load(tmp_path / "older.npz")
    assert "r2_held_out" not in loaded.meta and loaded.meta["r2"] == att.meta["r2"]
    np.testing.assert_array_equal(loaded.values, att.values)


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_chain_bar_and_false_prints_nothing(
    verbose, planted, planted_blackbox, capfd
):
    model = short(n_iter=8, n_components=2, verbose=verbose)
    model.fit(planted.X_train[:100], planted_blackbox, classes=[1])
    assert_progress_shown(capfd, verbose, "DMM-MEN class 1")
    model.explain_local(planted.X_test[:2], blackbox=planted_blackbox, n_samples=24, target=1)
    # local fits perturb through the shared engine, whose bar says "perturbing"
    assert_progress_shown(capfd, verbose, "perturbing")


def test_explain_local_bar_moves_once_per_instance_fit(planted, planted_blackbox, monkeypatch):
    # The engine's bar moves once per chunk of instances, and each local fit is a whole
    # MCMC run; this bar counts the fits, one update as each ends, within a chunk.
    bars = record_progress(monkeypatch, dmm_module)
    model = short(n_iter=8, verbose=True)
    model.explain_local(planted.X_test[:3], blackbox=planted_blackbox, n_samples=24, target=1)
    (bar,) = bars
    assert bar.kwargs["total"] == 3 and bar.kwargs["verbose"] is True
    assert bar.updates == [1, 1, 1]


def test_explain_local_takes_nested_lists(planted, planted_blackbox):
    # The per-instance bar reads X.shape before the engine converts X.
    common = {"blackbox": planted_blackbox, "n_samples": 24, "target": 1}
    X = planted.X_test[:2]
    as_list = short(n_iter=8).explain_local(X.tolist(), **common)
    np.testing.assert_array_equal(as_list.values, short(n_iter=8).explain_local(X, **common).values)


def test_explain_local_chain_seed_follows_random_state(planted, planted_blackbox, monkeypatch):
    # Each local chain is seeded from random_state, not only the masks: with the masks
    # held fixed, two seeds must still give different chains (a seed of 0 for every
    # chain would give the same attribution), and one seed the same attribution twice.
    draw = dmm_module.bernoulli_masks

    def fixed_masks(valid, n_samples, rng):
        return draw(valid, n_samples, np.random.default_rng(7))

    x, segments = planted.X_test[:1], np.arange(20)[None]
    common = {"blackbox": planted_blackbox, "segments": segments, "n_samples": 60, "target": 1}
    first = short(n_iter=8, random_state=0).explain_local(x, **common)
    monkeypatch.setattr(dmm_module, "bernoulli_masks", fixed_masks)
    seed0 = [short(n_iter=8, random_state=0).explain_local(x, **common) for _ in range(2)]
    seed1 = short(n_iter=8, random_state=1).explain_local(x, **common)
    np.testing.assert_array_equal(seed0[0].values, seed0[1].values)
    assert not np.array_equal(seed0[0].values, seed1.values)
    assert not np.array_equal(first.values, seed0[0].values)  # the patch took effect


def test_r2_interval_resamples_samples_with_their_copies():
    """Rows of one sample (its occluded copies) are drawn together: a hand loop over
    the drawn samples, scored by sklearn, gives the same percentiles."""
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    groups = np.tile(np.arange(30), 3)  # 30 samples, 3 rows each
    y = rng.normal(size=90)
    predicted = y + rng.normal(scale=0.5, size=90)
    low, high = dmm_module._r2_interval(y, predicted, groups, np.random.default_rng(4), 200)
    draws = np.random.default_rng(4).integers(0, 30, size=(200, 30))
    scores = []
    for drawn in draws:
        rows = np.concatenate([np.flatnonzero(groups == g) for g in drawn])
        scores.append(r2_score(y[rows], predicted[rows]))
    np.testing.assert_allclose((low, high), np.percentile(scores, [2.5, 97.5]), rtol=1e-9)


def test_r2_interval_leaves_out_draws_of_equal_logits():
    # Two of three samples sit at the same clipped logit: draws of those two alone
    # have no R^2, and counting them as rounding noise gave intervals far below 0.
    y = np.array([27.6, 27.6, 1.0])
    low, high = dmm_module._r2_interval(y, y + 0.1, np.arange(3), np.random.default_rng(0), 500)
    assert 0.9 < low <= high <= 1.0


def test_r2_interval_covers_the_true_r2_about_95_percent_of_the_time():
    """y = s + e with s, e standard normal, scored against s: the population R^2 is
    1 - E[e^2] / Var(y) = 0.5."""
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(300):
        s = rng.normal(size=80)
        y = s + rng.normal(size=80)
        low, high = dmm_module._r2_interval(y, s, np.arange(80), rng, 300)
        covered += low <= 0.5 <= high
    assert 0.88 <= covered / 300 <= 0.99


# ---------------------------------------------------------------- standardize
def _raw_cancer() -> tuple[np.ndarray, BlackBox]:
    """Breast-cancer rows in their own units (ranges from 1e-3 to 4e3), plus a planted
    column in units of 0.01 that the black box, an MLP of the other 30, never reads."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    d = data.data.shape[1]
    model = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=2000, random_state=0)).fit(
        data.data, data.target
    )
    noise = np.random.default_rng(0).normal(scale=0.01, size=(data.data.shape[0], 1))
    box = BlackBox.from_callable(
        lambda rows: model.predict_proba(np.asarray(rows)[:, :d]),
        n_classes=2,
        input_shape=(d + 1,),
    )
    return np.hstack([data.data, noise]), box


def test_standardize_fits_raw_tabular_features_and_ranks_an_unread_one_last():
    X, box = _raw_cancer()
    raw = short(n_iter=300).fit(X, box)
    scaled = short(n_iter=300, standardize=True).fit(X, box)
    # Both fit (raw: 0.99 and 0.95 here; it was -6.5 and -1081 while the empty
    # components' prior draws entered the summaries), but one prior for coefficients
    # per millimetre and per square millimetre ranks the unread column by its units:
    # 19th and 18th of 31 here.
    assert np.all(scaled.r2_ > 0.9)
    for class_ in (0, 1):
        assert 30 in raw.insights(class_, k=31).top_k(31, class_=0)[:25]
    assert raw.std_input_ is None
    np.testing.assert_allclose(
        scaled.std_input_[0, :-1], X[box.predict(X) == 0][:, :-1].std(axis=0), rtol=0.2
    )
    for class_ in (0, 1):
        # Per standard deviation, last (28th-31st over seeds 0-2; 27th-31st over seeds
        # 0-5 while the prior draws of components left empty entered this weighted row).
        assert scaled.insights(class_, k=31).top_k(31, class_=0)[-1] == 30
    # and its plot's bars say so
    import matplotlib

    matplotlib.use("Agg")
    assert scaled.plot(k=3).axes[0].get_xlabel().endswith("class logit per standard deviation")
    # explain is beta * x in the inputs' units, as without standardize.
    attribution = scaled.explain(X[:5])
    coef = scaled.coef_[
        np.searchsorted(scaled.classes_, attribution.target), attribution.meta["component"]
    ]
    np.testing.assert_allclose(attribution.values, coef * X[:5])


def test_empty_components_prior_draws_do_not_swamp_a_small_class():
    """Wine's class 0 (59 rows): the components left empty draw coefficients from the
    prior (7% of the weight here), which has no finite variance. Averaged in as drawn,
    they gave r2_ -302 (the heaviest component alone: 0.97) and ranked a column the
    black box never reads 2nd of 14; counted at their conditional mean 0, r2_ is 0.97
    and the column ranks last."""
    from sklearn.datasets import load_wine
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_wine()
    d = data.data.shape[1]
    model = make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=2000, random_state=0))
    model.fit(data.data, data.target)
    box = BlackBox.from_callable(
        lambda rows: model.predict_proba(np.asarray(rows)[:, :d]),
        n_classes=3,
        input_shape=(d + 1,),
    )
    column = data.data[:, 0]
    unread = np.random.default_rng(0).normal(column.mean(), column.std() + 1, size=(len(column), 1))
    X = np.hstack([data.data, unread])
    fitted = DMMMEN(standardize=True, n_iter=300, random_state=0, verbose=False)
    fitted.fit(X, box, classes=[0])
    assert fitted.r2_[0] > 0.9
    assert fitted.insights(0, k=d + 1).top_k(d + 1, class_=0)[-1] == d


@pytest.mark.parametrize("reduction", ["variance", "pca"])
def test_standardized_coefficients_mapped_back_predict_as_the_fit_on_scaled_inputs(
    planted, planted_blackbox, reduction
):
    # The fit with standardize=True is the plain fit on its regression features (the
    # inputs, or with pca their scores) divided by their standard deviations over the
    # class's training rows, with the coefficients divided by them: the same
    # predictions, in the inputs' units.
    X = planted.X_train[:600] * np.linspace(0.01, 100.0, 20)  # units far apart
    proba = planted_blackbox.predict_proba(planted.X_train[:600])
    # Every feature: a choice of 8 by variance would differ between X and X / sd.
    n_features = None if reduction == "variance" else 8
    scaled = short(n_features=n_features, reduction=reduction, standardize=True)
    scaled.fit(X, _lookup_blackbox(X, proba), classes=[0])
    if reduction == "variance":
        Z = X
    else:
        Z = (X - scaled.center_) @ scaled.components_.T
    own = Z[proba.argmax(axis=1) == 0]
    _, train = dmm_module.held_out_split(own.shape[0], 1, 0.2, np.random.default_rng([0, 0]))
    sd = own[train].std(axis=0)
    plain = short().fit(Z / sd, _lookup_blackbox(Z / sd, proba), classes=[0])
    for name in ("weights_", "sigma2_", "r2_"):
        np.testing.assert_allclose(getattr(scaled, name), getattr(plain, name), rtol=1e-6)
    to_inputs = np.eye(20) if reduction == "variance" else scaled.components_
    np.testing.assert_allclose(scaled.coef_, (plain.coef_ / sd) @ to_inputs, rtol=1e-6, atol=1e-12)
    # The intercepts too: each is the offset of its own inputs' units.
    rows = slice(0, 50)
    np.testing.assert_allclose(
        X[rows] @ scaled.coef_[0].T + scaled.intercept_[0],
        (Z / sd)[rows] @ plain.coef_[0].T + plain.intercept_[0],
        rtol=1e-6,
        atol=1e-9,
    )


def test_standardized_pca_judges_rhat_on_the_coefficients_of_the_inputs(
    planted, planted_blackbox, monkeypatch
):
    # R-hat is judged on what coef_ holds: each draw's coefficients on the scores,
    # scaled back and mapped onto the inputs.
    seen = []
    summarise = chain_module.summarise

    def recording(chains, settings, basis=None):
        posterior = summarise(chains, settings, basis)
        seen.append((posterior, basis))
        return posterior

    monkeypatch.setattr(chain_module, "summarise", recording)
    X = planted.X_train[:600] * np.linspace(0.01, 100.0, 20)
    fitted = short(n_iter=40, n_features=8, reduction="pca", standardize=True)
    fitted.fit(X, _lookup_blackbox(X, planted_blackbox.predict_proba(planted.X_train[:600])))
    assert len(seen) == 2
    for row, (posterior, basis) in enumerate(seen):
        np.testing.assert_allclose(posterior.coef[:, 1:] @ basis, fitted.coef_[row], atol=1e-12)


def test_standardize_leaves_a_feature_constant_in_a_class_unscaled(planted, planted_blackbox):
    X = planted.X_train[:400].copy()
    ones = planted_blackbox.predict(X) == 1
    # Constant among class 1's rows, not among class 0's; numpy's std of 0.1s is 1e-17.
    X[ones, 4] = 0.1
    fitted = short(n_iter=20, standardize=True).fit(X, planted_blackbox)
    assert fitted.std_input_[1, 4] == 1.0 and fitted.std_input_[0, 4] != 1.0
    assert np.all(np.isfinite(fitted.coef_)) and np.all(np.isfinite(fitted.r2_))


def test_standardize_is_part_of_a_checkpoints_settings(tmp_path, planted, planted_blackbox):
    X = planted.X_train[:400]
    for first in (False, True):
        path = tmp_path / f"{first}.npz"
        fitted = short(n_iter=20, checkpoint=path, standardize=first).fit(X, planted_blackbox)
        with pytest.raises(ValueError, match="other settings or data"):
            short(n_iter=20, checkpoint=path, standardize=not first).fit(X, planted_blackbox)
        resumed = short(n_iter=20, checkpoint=path, standardize=first).fit(X, planted_blackbox)
        for name in FITTED:
            np.testing.assert_array_equal(getattr(resumed, name), getattr(fitted, name), name)
        # Without it the settings read as they did before the option: older files resume.
        header = json.loads(bytes(np.load(path)["header"]).decode())
        assert ("standardize" in header["fingerprint"]["parameters"]) is first


def test_standardize_must_be_a_bool(planted, planted_blackbox):
    with pytest.raises(TypeError, match="standardize must be True or False, got str 'yes'"):
        short(standardize="yes").fit(planted.X_train[:100], planted_blackbox)


def test_insights_and_explanations_carry_the_black_boxs_feature_names(
    planted, planted_named_blackbox
):
    fitted = short(n_iter=20).fit(planted.X_train[:300], planted_named_blackbox)
    assert fitted.insights(1, k=5).feature_names == PLANTED_COLUMNS
    assert fitted.class_insights(k=5).feature_names == PLANTED_COLUMNS
    assert fitted.explain(planted.X_test[:3]).feature_names == PLANTED_COLUMNS


def test_classes_and_targets_are_the_model_labels_and_results_keep_indices(
    planted, planted_blackbox
):
    # classes=, insights(class_), explain(target=) name classes in the black box's
    # labels where it has them; classes_ and Attribution.target stay column indices,
    # and the insight rows are titled with the labels.
    labelled = BlackBox.from_callable(
        planted_blackbox.predict_proba, n_classes=2, input_shape=(20,), classes=["neg", "pos"]
    )
    X = planted.X_train[:200]
    plain = short(n_iter=20).fit(X, planted_blackbox, classes=[1])
    named = short(n_iter=20).fit(X, labelled, classes=["pos"])
    assert named.classes_.tolist() == [1]
    np.testing.assert_array_equal(named.coef_, plain.coef_)
    np.testing.assert_array_equal(named.insights("pos").values, plain.insights(1).values)
    insight = named.class_insights(5, classes="pos")
    assert insight.class_names == ("class pos",)
    np.testing.assert_array_equal(insight.values, plain.class_insights(5, classes=1).values)
    rows = planted_blackbox.predict(X) == 1
    attribution = named.explain(X[rows], target="pos")
    assert np.all(attribution.target == 1)
    assert attribution.class_names == ("neg", "pos")  # the plots' "class pos"
    np.testing.assert_array_equal(attribution.values, plain.explain(X[rows], target=1).values)
    np.testing.assert_array_equal(named.explain(X[rows]).values, attribution.values)
    for call in (
        lambda: short(n_iter=20).fit(X, labelled, classes=[1]),
        lambda: named.insights(1),
        lambda: named.explain(X[rows], target=1),
    ):
        with pytest.raises(ValueError, match=r"pass its labels, \['neg', 'pos'\]"):
            call()


def test_explain_local_gives_a_row_the_same_fit_alone_or_in_a_batch(planted):
    """Row i of explain_local(X) is explain_local(X[i:i+1]) bit for bit: its masks and
    its chains' seeds come from random_state alone, not from its place in the batch
    (a counter over the rows seeded the chains), also where the rows have different
    numbers of segments."""
    X = planted.X_test[:3]
    d = X.shape[1]
    A = np.random.default_rng(2).normal(size=(d, 2))

    def proba(X):  # the same answer for a row in any batch: no BLAS product
        z = (X[:, :, None] * A[None]).sum(axis=1)
        return special.softmax(z, axis=1)

    box = BlackBox.from_callable(proba, n_classes=2)
    segments = np.stack([np.arange(d) // (1 + i) for i in range(3)])  # 20, 10, 7
    common = {"blackbox": box, "n_samples": 40, "target": 1}
    batch = short(n_iter=8, n_chains=2).explain_local(X, segments=segments, **common)
    for i in range(len(X)):
        alone = short(n_iter=8, n_chains=2).explain_local(
            X[i : i + 1], segments=segments[i : i + 1], **common
        )
        assert np.array_equal(batch.values[i], alone.values[0]), i
        for key in ("r2", "rhat"):
            assert np.array_equal(batch.meta[key][i], alone.meta[key][0], equal_nan=True), key


def _row_exact_softmax(d, seed=2):
    """A two-class softmax whose answer for a row is the same in any batch."""
    A = np.random.default_rng(seed).normal(size=(d, 2))

    def proba(X):  # no BLAS product, whose blocking depends on the number of rows
        return special.softmax((X[:, :, None] * A[None]).sum(axis=1), axis=1)

    return BlackBox.from_callable(proba, n_classes=2)


def test_explain_local_gives_a_row_the_same_fit_at_any_place_in_a_shuffled_batch(planted):
    """Masks, chains and held-out masks are seeded by the call's seed and the row's
    content: a shuffled batch gives every row the same fit and held-out R^2, bit for
    bit, with mixed segment counts."""
    X = planted.X_test[:4]
    d = X.shape[1]
    segments = np.stack([np.arange(d) // (1 + i) for i in range(4)])  # 20, 10, 7, 5
    common = {"blackbox": _row_exact_softmax(d), "n_samples": 40, "target": 1, "n_score": 10}
    batch = short(n_iter=8, n_chains=2).explain_local(X, segments=segments, **common)
    perm = np.array([2, 0, 3, 1])
    shuffled = short(n_iter=8, n_chains=2).explain_local(X[perm], segments=segments[perm], **common)
    for place, i in enumerate(perm):
        assert np.array_equal(batch.values[i], shuffled.values[place]), i
        for key in ("r2", "rhat", "r2_held_out"):
            got = np.array(shuffled.meta[key][place], dtype=float)
            assert np.array_equal(got, float(batch.meta[key][i]), equal_nan=True), key


def test_explain_local_gives_different_rows_their_own_draws_and_equal_rows_the_same():
    """Two rows the black box cannot tell apart (it reads only which features are
    non-zero), with the same segments, get different masks and chains, so different
    fits: from the seed alone they got the same ones. The same row twice gets the
    same fit."""
    d = 12
    w = np.linspace(-2.0, 2.0, d)

    def proba(X):
        on = X != 0
        p = special.expit(np.where(on, w, 0.0).sum(axis=1) + 1.5 * (on[:, 0] & on[:, 7]))
        return np.stack([1 - p, p], axis=1)

    a, b = np.random.default_rng(0).uniform(0.5, 1.0, size=(2, d))
    X = np.stack([a, b, a])
    box = BlackBox.from_callable(proba, n_classes=2)
    result = short(n_iter=8, n_chains=2).explain_local(
        X, blackbox=box, segments=np.arange(d), n_samples=40, target=1, n_score=10
    )
    assert not np.array_equal(result.values[0], result.values[1])
    assert result.meta["r2_held_out"][0] != result.meta["r2_held_out"][1]
    np.testing.assert_array_equal(result.values[0], result.values[2])
    for key in ("r2", "rhat", "r2_held_out"):
        assert result.meta[key][0] == result.meta[key][2], key


def test_explain_local_records_the_call_s_seed_and_it_gives_the_call_again(planted):
    """With a Generator, meta["seed"] is the int the call drew (it recorded the word
    'Generator'); a DMMMEN seeded with it explains the same way."""
    X = planted.X_test[:2]
    common = {"blackbox": _row_exact_softmax(X.shape[1]), "n_samples": 30, "n_score": 6}
    rng = np.random.default_rng(9)
    first = short(n_iter=8, random_state=rng).explain_local(X, **common)
    seed = first.meta["seed"]
    assert isinstance(seed, int) and not isinstance(seed, bool)
    again = short(n_iter=8, random_state=seed).explain_local(X, **common)
    np.testing.assert_array_equal(again.values, first.values)
    assert again.meta["r2_held_out"] == first.meta["r2_held_out"]


def test_explain_local_held_out_perturbations_are_not_the_fits_own():
    """The held-out pass draws its masks from a seed of its own: drawn from the fit's
    seed, a row's held-out masks were the fit's first ones again, and the held-out R^2
    scored samples the fit had seen."""
    beta = np.linspace(-1.0, 1.0, 12)
    queries = []

    def predict(rows):
        queries.append(rows.copy())
        p = special.expit(rows @ beta)
        return np.c_[1.0 - p, p]

    box = BlackBox.from_callable(predict, n_classes=2, input_shape=None)
    x = np.linspace(0.5, 2.0, 12)[None]
    short(n_iter=20, n_components=2).explain_local(
        x, blackbox=box, target=1, segments=np.arange(12), n_samples=100, n_score=20
    )
    asked = np.concatenate(queries)
    fit, held_out = asked[:100], asked[100:]
    assert held_out.shape == (20, 12)
    seen = {row.tobytes() for row in fit}
    # 12 segments give 4096 masks; 20 fresh draws repeat few of the fit's 100.
    assert sum(row.tobytes() in seen for row in held_out) <= 5


def test_explain_local_held_out_r2_pairs_each_row_with_its_own_fit_across_chunks(
    planted, monkeypatch
):
    """The held-out pass draws fewer perturbations per row than the fit, so its chunks
    hold more rows, and the engine fits a chunk's rows grouped by their number of
    segments: with mixed counts the two passes meet the rows in different orders. Each
    row's held-out R^2 is that of its own fit, as when it is explained alone (taken in
    turn, the fits went to other rows: one of 10 segments scored masks of 5)."""
    from unboxed.local import _engine

    monkeypatch.setattr(_engine, "CHUNK_ROWS", 80)  # the fit: 2 rows a chunk, 8 held out
    X = planted.X_test[:4]
    d = X.shape[1]
    segments = np.stack([np.arange(d) // (1 + i) for i in range(4)])  # 20, 10, 7, 5
    common = {"blackbox": _row_exact_softmax(d), "n_samples": 40, "target": 1, "n_score": 10}
    batch = short(n_iter=8).explain_local(X, segments=segments, **common)
    for i in range(len(X)):
        alone = short(n_iter=8).explain_local(X[i : i + 1], segments=segments[i : i + 1], **common)
        assert batch.meta["r2_held_out"][i] == alone.meta["r2_held_out"][0], i


def test_a_model_that_raises_on_an_occluded_copy_names_it_and_its_row_of_x():
    # It said "on row 22 of the 175 rows queried" (of one class's copies, numbered
    # copy after copy), of an X of 60 rows.
    def no_zero_dose_for_the_old(X):
        if np.any((X[:, 0] == 0) & (X[:, 4] > 0.9)):
            raise ValueError("no zero dose past 0.9")
        p1 = 1 / (1 + np.exp(-10 * (X[:, 1] - 0.5)))
        return np.stack([1 - p1, p1], axis=1)

    box = BlackBox.from_callable(no_zero_dose_for_the_old, n_classes=2)
    X = np.random.default_rng(0).uniform(0.2, 0.8, size=(60, 5))
    X[37, 4] = 1.0  # only row 37's copies raise, where feature 0 is occluded
    with pytest.raises(BlackBoxError) as raised:
        short(n_occlusions=5).fit(X, box)
    assert str(raised.value) == (
        "black box 'no_zero_dose_for_the_old' raised ValueError on occluded copy 1 of 5 of "
        "row 37 of X: no zero dose past 0.9"
    )


@pytest.mark.parametrize(
    ("spared_calls", "place"),
    [
        (0, r"row 1 of the 51 rows queried"),  # fit's query of X itself
        (1, r"occluded copy \d+ of 5 of row 1 of X"),  # X was answered, a copy raises
    ],
    ids=["X", "occluded-copy"],
)
def test_fit_names_the_raising_row_of_a_dataframe_by_its_label(spared_calls, place):
    # It said "on row 1 of the 51 rows queried" and "on occluded copy 1 of 5 of row 1
    # of X" alone, where predict_proba and explain_local add the row's label: row 1 of
    # a split is not X.loc[1] (check_X dropped the index).
    import pandas as pd
    from sklearn.datasets import load_iris

    box, X = iris_refusing_a_petal_of_4(spared_calls)
    # The 6 rows and 45 more versicolors, so that class 1 has enough rows to fit; none
    # of the added ones has a petal length of 4.0, so row 1 and its copies alone raise.
    iris = load_iris(as_frame=True)
    data = iris.data.set_axis([f"flower-{i}" for i in iris.data.index])
    versicolors = (iris.target.to_numpy() == 1) & (data["petal length (cm)"].to_numpy() != 4.0)
    X = pd.concat([X, data[versicolors].drop(X.index, errors="ignore")])
    with pytest.raises(BlackBoxError) as raised:
        short(n_iter=8, n_occlusions=5).fit(X, box, classes=[1])
    message = str(raised.value)
    expected = (
        rf"black box 'refuses_a_petal_of_4' raised ValueError on {place}, "
        r"row X\.loc\['flower-62'\]: petal length 4\.0"
    )
    assert re.fullmatch(expected, message), message


@pytest.mark.parametrize("method", ["responsibilities", "explain"])
def test_responsibilities_names_the_raising_row_of_a_dataframe_by_its_label(method):
    # It said "on row 1 of the 51 rows queried" alone, where fit adds the row's label:
    # its query of the checked X had dropped the DataFrame's index (explain asks the
    # same query).
    import pandas as pd
    from sklearn.datasets import load_iris

    box, X = iris_refusing_a_petal_of_4()
    iris = load_iris(as_frame=True)
    data = iris.data.set_axis([f"flower-{i}" for i in iris.data.index])
    versicolors = (iris.target.to_numpy() == 1) & (data["petal length (cm)"].to_numpy() != 4.0)
    X = pd.concat([X, data[versicolors].drop(X.index, errors="ignore")])
    # Fitted without row 1 ("flower-62"), the one row the model refuses.
    with pytest.warns(ConvergenceWarning, match=r"classes \[1\] have not mixed"):
        dmm = short(n_iter=8, n_occlusions=0).fit(X.drop("flower-62"), box, classes=[1])
    with pytest.raises(BlackBoxError) as raised:
        getattr(dmm, method)(X, target=1)
    assert str(raised.value) == (
        "black box 'refuses_a_petal_of_4' raised ValueError on row 1 of the 51 rows queried, "
        "row X.loc['flower-62']: petal length 4.0"
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_iter": 7}, ValueError, "n_iter must be an int >= 8"),
        ({"n_iter": 10, "thin": 4}, ValueError, "keep fewer than 4 draws"),
        ({"alpha_shape": -1.0}, ValueError, "alpha_shape"),
        ({"reduction": "pcaa"}, ValueError, "reduction must be 'variance' or 'pca'"),
        ({"n_features": 0}, ValueError, "n_features must be an int >= 1"),
        ({"test_size": 1.0}, ValueError, "test_size"),
        ({"n_occlusions": -1}, ValueError, "n_occlusions must be an int >= 0"),
        ({"standardize": "no"}, TypeError, "standardize must be True or False"),
        ({"checkpoint": "run.npz"}, ValueError, "a checkpoint needs a reproducible"),
    ],
)
def test_bad_settings_are_refused_when_made_and_set(kwargs, error, message):
    # They were refused only by fit, after the data and the black box were ready.
    with pytest.raises(error, match=message):
        DMMMEN(**kwargs)
    model = DMMMEN(n_iter=40)
    with pytest.raises(error, match=message):
        model.set_params(**kwargs)
    assert model.get_params() == DMMMEN(n_iter=40).get_params()


def test_a_0d_int_array_seed_fits_and_explains_as_its_int(planted, planted_blackbox):
    # random_state=np.asarray(0) was refused, "got ndarray", where every other number
    # setting reads a 0-d array as the number it holds; it is the seed 0, not a seed
    # drawn from it.
    X = planted.X_train[:400]
    by_int = short(n_iter=20).fit(X, planted_blackbox)
    by_array = short(n_iter=20, random_state=np.asarray(0)).fit(X, planted_blackbox)
    assert by_array.seed_ == by_int.seed_ == 0
    for name in FITTED:
        np.testing.assert_array_equal(getattr(by_array, name), getattr(by_int, name))
    explained, expected = by_array.explain(X[:3]), by_int.explain(X[:3])
    np.testing.assert_array_equal(explained.values, expected.values)
    assert explained.meta["seed"] == 0


@pytest.mark.parametrize("mode", ["False", "yes", 0.5, 1, None])
def test_explain_refuses_a_mode_that_is_not_a_bool(planted_fit, planted, mode):
    """Any truthy value read as True: mode="False" gave the responsibility-weighted
    explanation, and meta["mode"] said True, with no word."""
    message = rf"mode must be True or False, got \w+ {re.escape(repr(mode))}"
    with pytest.raises(TypeError, match=message):
        planted_fit.explain(planted.X_test[:5], mode=mode)


def test_explain_takes_a_numpy_bool_as_mode(planted_fit, planted):
    X = planted.X_test[:5]
    assert planted_fit.explain(X, mode=np.bool_(True)).meta["mode"] is True
    np.testing.assert_array_equal(
        planted_fit.explain(X, mode=np.False_).values, planted_fit.explain(X).values
    )


def test_logit_and_class_logit_refuse_nan_probabilities():
    """The clip passed a NaN through: logit([nan]) returned [nan] with no word."""
    with pytest.raises(ValueError, match=r"p contains NaN \(first at index \(1,\)\)"):
        dmm_module.logit(np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match=r"proba contains NaN \(first at index \(0, 0\)\)"):
        class_logit(np.array([[np.nan, 1.0]]), np.array([0]))


def test_logit_and_class_logit_refuse_infinite_probabilities():
    """The clip read an infinite probability as a certainty: logit([inf]) gave 27.6."""
    with pytest.raises(ValueError, match=r"p contains infinity \(first at index \(0,\)\)"):
        dmm_module.logit(np.array([np.inf, 0.5]))
    with pytest.raises(ValueError, match=r"proba contains infinity \(first at index \(0, 1\)"):
        class_logit(np.array([[0.0, np.inf]]), np.array([0]))


@pytest.mark.parametrize(
    ("proba", "target", "message"),
    [
        (np.array([0.2, 0.8]), np.array([0]), r"proba must be of shape \(n, n_classes\)"),
        (np.eye(3), np.array([0, 1]), r"target must be of shape \(3,\), one class per row"),
        (np.eye(3), np.array([0, 1, 5]), r"target must hold column indices in \[0, 3\)"),
        (np.eye(3), np.array([0, 1, -1]), r"target must hold column indices in \[0, 3\)"),
        (np.eye(3), np.array([0.0, 1.0, 2.0]), r"target must hold column indices"),
    ],
)
def test_class_logit_refuses_mismatched_shapes_and_targets(proba, target, message):
    """They crashed in numpy ("tuple index out of range", "operands could not be
    broadcast together"), out-of-range targets among them."""
    with pytest.raises(ValueError, match=message):
        class_logit(proba, target)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 0, 0.2), r"copies must be an int >= 1, got 0"),
        ((10, -1, 0.2), r"copies must be an int >= 1, got -1"),
        ((0, 1, 0.2), r"n_rows must be an int >= 1, got 0"),
        ((11, 2, 0.2), r"n_rows=11 must be a multiple of copies=2"),
        ((10, 20, 0.2), r"n_rows=10 must be a multiple of copies=20"),
        ((10, 1, np.nan), r"test_size must lie in \(0, 1\), got nan"),
        ((10, 1, 1.0), r"test_size must lie in \(0, 1\), got 1.0"),
        ((10, 1, -0.5), r"test_size must lie in \(0, 1\), got -0.5"),
    ],
)
def test_held_out_split_refuses_odd_counts_and_fractions(args, message):
    """copies=0 raised ZeroDivisionError and test_size=nan "cannot convert float NaN to
    integer"; 11 rows in copies of 2 left row 10 in neither part, copies=-1 gave two
    empty parts and test_size=1.0 an empty training part, all with no word."""
    with pytest.raises(ValueError, match=message):
        dmm_module.held_out_split(*args, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.array([7]), 2, 0.5), r"columns must be a vector of feature indices in \[0, 4\)"),
        ((np.array([-1]), 2, 0.5), r"columns must be a vector of feature indices in \[0, 4\)"),
        ((np.arange(4), -1, 0.5), r"n_copies must be an int >= 0, got -1"),
        ((np.arange(4), 2.5, 0.5), r"n_copies must be an int >= 0, got 2.5"),
        ((np.arange(4), 2, -0.5), r"max_share must lie in \[0, 1\], got -0.5"),
        ((np.arange(4), 2, 1.5), r"max_share must lie in \[0, 1\], got 1.5"),
        ((np.arange(4), 2, np.nan), r"max_share must lie in \[0, 1\], got nan"),
    ],
)
def test_occlude_refuses_odd_columns_counts_and_shares(args, message):
    """They crashed in numpy ("index 7 is out of bounds", "negative dimensions", "high -
    low < 0"), a column -1 occluded the last one, and a share of 1.5 passed."""
    X = np.random.default_rng(0).uniform(1.0, 2.0, size=(3, 4))
    with pytest.raises(ValueError, match=message):
        dmm_module.occlude(X, *args, np.random.default_rng(0))
