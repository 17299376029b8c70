"""The JGMM estimator: ground-truth recovery, a monotone bound, robustness, checks."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from tests.helpers import assert_progress_shown, interrupt_at
from unboxed.surrogates import JGMM, ConvergenceWarning, NotFittedError

Q_TRUE = np.array([[0.7, 0.0], [0.3, 0.1], [0.0, 0.5], [0.0, 0.4]])
PI_TRUE = np.array([0.4, 0.6])


def sample_jgmm(n, rng, *, sep=6.0):
    """Data from a known JGMM: w ~ pi, z | w ~ Q[:, w], x | z and y | w Gaussian."""
    ky = Q_TRUE.shape[1]
    means_x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]) * sep
    means_y = np.array([[0, 0], [1, 1]]) * sep
    w = rng.choice(ky, size=n, p=PI_TRUE)
    u = rng.random(n)
    z = (u[:, None] > np.cumsum(Q_TRUE[:, w].T, axis=1)).sum(axis=1)
    X = means_x[z] + rng.normal(size=(n, 3))
    Y = means_y[w] + rng.normal(size=(n, 2))
    return X, Y


def sample_correlated(n, rng, *, sep=8.0):
    """Three lower clusters, each a thin Gaussian along its own direction."""
    angles = np.array([0.3, 1.2, 2.4])
    along = np.column_stack([np.cos(angles), np.sin(angles)])
    across = along @ np.array([[0.0, -1.0], [1.0, 0.0]])
    z = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    means = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]) * sep
    X = (
        means[z]
        + 2.0 * rng.normal(size=(n, 1)) * along[z]
        + 0.3 * rng.normal(size=(n, 1)) * across[z]
    )
    return X, rng.normal(size=(n, 2))


def _best_match(Q_hat, pi_hat):
    """The smallest error over all permutations of z and of w."""
    best = np.inf
    for pz in itertools.permutations(range(4)):
        for pw in itertools.permutations(range(2)):
            err = max(
                np.abs(Q_hat[np.ix_(pz, pw)] - Q_TRUE).max(),
                np.abs(pi_hat[list(pw)] - PI_TRUE).max(),
            )
            best = min(best, err)
    return best


@pytest.mark.parametrize("whiten", [True, False])
@pytest.mark.parametrize("e_step", ["paper", "joint"])
@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_em_recovers_q_and_pi_up_to_permutation(whiten, e_step, covariance):
    X, Y = sample_jgmm(4000, np.random.default_rng(1))
    model = JGMM(4, 2, covariance=covariance, whiten=whiten, e_step=e_step, random_state=0)
    model.fit(X, Y)
    assert model.converged_
    assert _best_match(model.Q_, model.pi_) < 0.05


def test_recovery_fails_with_a_wrong_model():
    """The recovery test can fail: a wrong number of lower components cannot match Q."""
    X, Y = sample_jgmm(2000, np.random.default_rng(1))
    model = JGMM(2, 2, random_state=0).fit(X, Y)
    padded = np.vstack([model.Q_, np.zeros((2, 2))])
    assert _best_match(padded, model.pi_) > 0.2


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("e_step", ["paper", "joint", "labelled"])
@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_lower_bound_never_decreases(seed, e_step, covariance):
    rng = np.random.default_rng(seed)
    sample = sample_correlated if covariance == "full" else sample_jgmm
    X, Y = sample(600, rng, sep=2.0)  # overlapping, so EM takes many steps
    labels = rng.integers(0, 3, size=600) if e_step == "labelled" else None
    # A full covariance's floor is added to its diagonal, which is not the exact M-step
    # (the bound dipped by 0.03 nats a sample at var_floor=0.3); EM is exact as it vanishes.
    floor = 1e-9 if covariance == "full" else 1e-3
    model = JGMM(
        6,
        3,
        covariance=covariance,
        e_step=e_step,
        var_floor=floor,
        tol=1e-8,
        max_iter=60,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y, labels_y=labels)
    assert model.n_iter_ > 5
    bound = model.lower_bound_
    assert np.all(np.diff(bound) >= -1e-9 * np.abs(bound[1:]).max())


def test_spatial_lower_bound_never_decreases_and_rows_sum_to_one(rng):
    X = rng.normal(size=(300, 4, 3))
    X[:150, :2] += 3.0
    Y = np.column_stack([X[:, :2].mean(axis=(1, 2)), rng.normal(size=300)])
    model = JGMM(5, 2, tol=1e-8, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y)
    assert model.spatial_ and model.Q_.shape == (4, 5, 2) and model.lambda_.shape == (4, 5)
    assert np.all(np.diff(model.lower_bound_) >= -1e-9 * np.abs(model.lower_bound_).max())
    assert np.allclose(model.Q_.sum(axis=1), 1) and np.allclose(model.psi_.sum(axis=2), 1)
    assert np.allclose(model.predict_proba_w(X).sum(axis=1), 1)
    assert model.predict_proba_z(Y).shape == (300, 4, 5)


@pytest.mark.parametrize("e_step", ["paper", "joint", "labelled"])
@pytest.mark.parametrize("covariance", ["diag", "full"])
@pytest.mark.parametrize("whiten", [True, False])
def test_duplicates_and_constant_dimensions_give_no_nan(rng, e_step, covariance, whiten):
    X = np.repeat(rng.normal(size=(5, 3)), 40, axis=0)  # 5 distinct rows, 200 in all
    X = np.column_stack([X, np.full(200, 7.0)])  # and a constant dimension
    Y = np.repeat(rng.normal(size=(5, 2)), 40, axis=0)
    labels = np.repeat([0, 1, 2, 0, 0], 40)  # label 1 owns 3 components but 1 distinct row
    # more components than distinct rows
    model = JGMM(8, 3, covariance=covariance, e_step=e_step, whiten=whiten, random_state=0)
    model.fit(X, Y, labels_y=labels)
    for name in ("Q_", "pi_", "means_x_", "vars_x_", "means_y_", "vars_y_", "psi_", "lower_bound_"):
        assert np.all(np.isfinite(getattr(model, name))), name
    assert np.all(np.isfinite(model.predict_proba_w(X))) and np.all(
        np.isfinite(model.score_samples(X, Y))
    )
    assert np.allclose(model.inverse_transform_x(model.transform_x(X)), X)
    assert np.all(np.isfinite(model.sample_x(50, random_state=0)[0]))


def test_whitening_round_trip_and_samples_map_back(rng):
    X, Y = sample_jgmm(500, rng)
    model = JGMM(4, 2, random_state=0).fit(X, Y)
    assert np.allclose(model.inverse_transform_x(model.transform_x(X)), X)
    samples, comps = model.sample_x(2000, random_state=0)
    # the samples of each component lie around its mean in the original space
    for i in np.unique(comps):
        centre = model.inverse_transform_x(model.means_x_[i][None])[0]
        assert np.linalg.norm(samples[comps == i].mean(axis=0) - centre) < 0.5


def test_same_seed_same_fit(rng):
    X, Y = sample_jgmm(400, rng)
    a = JGMM(4, 2, random_state=3).fit(X, Y)
    b = JGMM(4, 2, random_state=3).fit(X, Y)
    assert np.array_equal(a.Q_, b.Q_) and np.array_equal(a.lower_bound_, b.lower_bound_)


def test_n_init_keeps_the_best(rng):
    X, Y = sample_jgmm(200, rng, sep=2.0)
    models = [JGMM(4, 2, n_init=1, random_state=s, max_iter=20) for s in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single = [m.fit(X, Y).lower_bound_[-1] for m in models]
        best = JGMM(4, 2, n_init=3, random_state=0, max_iter=20).fit(X, Y).lower_bound_[-1]
    assert best >= min(single)


def test_not_fitted_and_bad_inputs(rng):
    X, Y = sample_jgmm(100, rng)
    with pytest.raises(NotFittedError, match="not fitted"):
        JGMM(2, 2).predict_proba_w(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        JGMM(2, 2).fit(bad, Y)
    with pytest.raises(ValueError, match="rows"):
        JGMM(2, 2).fit(X, Y[:50])
    with pytest.raises(ValueError, match="empty"):
        JGMM(2, 2).fit(X[:0], Y[:0])
    with pytest.raises(ValueError, match="covariance"):
        JGMM(2, 2, covariance="spherical").fit(X, Y)
    with pytest.raises(ValueError, match="e_step"):
        JGMM(2, 2, e_step="exact").fit(X, Y)
    with pytest.raises(ValueError, match="n_components_x"):
        JGMM(0, 2).fit(X, Y)
    with pytest.raises(ValueError, match="at least as many"):
        JGMM(50, 2).fit(X[:10], Y[:10])
    with pytest.raises(TypeError, match="random_state"):
        JGMM(2, 2, random_state="seed").fit(X, Y)
    model = JGMM(2, 2, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="expects"):
        model.predict_proba_w(X[:, :2])
    with pytest.raises(ValueError, match="expects"):
        model.predict_proba_z(Y[:, :1])


def test_convergence_warning(rng):
    X, Y = sample_jgmm(300, rng, sep=1.0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = JGMM(4, 2, max_iter=2, tol=1e-12, random_state=0).fit(X, Y)
    assert not model.converged_ and model.n_iter_ == 2


def test_full_covariances_are_factorised_once_per_fit(monkeypatch):
    """A fitted full-covariance model keeps its Cholesky factors: predictions factorise
    each side once, give what a factorisation at every call gives, bit for bit, and
    follow a refit."""
    from unboxed.surrogates import _jgmm_math as jm

    X, Y = sample_jgmm(300, np.random.default_rng(1))
    model = JGMM(3, 2, covariance="full", max_iter=20, random_state=0).fit(X, Y)
    calls = []
    factorise = jm.inverse_choleskys
    monkeypatch.setattr(jm, "inverse_choleskys", lambda c: calls.append(c) or factorise(c))
    first = model.predict_proba_w(X)
    again = model.predict_proba_w(X[:50])
    assert len(calls) == 1 and calls[0] is model.vars_x_
    model.predict_proba_z(Y)
    model.score_samples(X, Y)
    assert [c is model.vars_y_ for c in calls] == [False, True]
    fresh = JGMM(3, 2, covariance="full", max_iter=20, random_state=0).fit(X, Y)
    fresh._factors = lambda covariances: None  # factorised at every call, as before
    np.testing.assert_array_equal(first, fresh.predict_proba_w(X))
    np.testing.assert_array_equal(again, first[:50])
    refit = model.fit(X[::-1][:200], Y[::-1][:200])
    fresh = JGMM(3, 2, covariance="full", max_iter=20, random_state=0).fit(
        X[::-1][:200], Y[::-1][:200]
    )
    np.testing.assert_array_equal(refit.predict_proba_w(X), fresh.predict_proba_w(X))


def test_full_covariances_match_sklearn():
    """With one higher component, the JGMM's lower layer is a plain GMM and its EM is
    scikit-learn's: both land on the same means, covariances and weights."""
    from sklearn.mixture import GaussianMixture

    X, Y = sample_correlated(3000, np.random.default_rng(0))
    model = JGMM(3, 1, covariance="full", whiten=False, tol=1e-10, random_state=0).fit(X, Y)
    floor = model.var_floor * X.var(axis=0).mean()
    reference = GaussianMixture(
        3, covariance_type="full", reg_covar=floor, tol=1e-10, random_state=0
    )
    reference.fit(X)
    order = np.argsort(model.means_x_[:, 0] + 10 * model.means_x_[:, 1])
    ref_order = np.argsort(reference.means_[:, 0] + 10 * reference.means_[:, 1])
    assert np.allclose(model.means_x_[order], reference.means_[ref_order], atol=1e-8)
    assert np.allclose(model.vars_x_[order], reference.covariances_[ref_order], atol=1e-8)
    assert np.allclose(model.Q_[order, 0], reference.weights_[ref_order], atol=1e-8)
    assert np.allclose(
        model.vars_y_[0],
        np.cov(Y, rowvar=False, bias=True) + model.var_floor * Y.var(axis=0).mean() * np.eye(2),
    )
    samples, comps = model.sample_x(20000, random_state=0)
    for i in range(3):  # each component's samples keep its orientation
        cov = np.cov(samples[comps == i], rowvar=False)
        assert np.allclose(cov, model.vars_x_[i], atol=0.1)


def test_labelled_with_one_component_per_label_is_quadratic_discriminant_analysis():
    """Observed w and K_x = K_y: each lower Gaussian is its label's mean and covariance
    (plus the floor), and p(w | x) is the Bayes classifier of those Gaussians."""
    from scipy.special import softmax
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=900)
    shapes = rng.normal(size=(3, 2, 2))
    X = np.einsum("nd,nde->ne", rng.normal(size=(900, 2)), shapes[labels]) + 2.0 * labels[:, None]
    Y = np.eye(3)[labels] + 0.1 * rng.normal(size=(900, 3))
    model = JGMM(3, 3, covariance="full", whiten=False, e_step="labelled", random_state=0)
    model.fit(X, Y, labels_y=labels)
    floor = model.var_floor * X.var(axis=0).mean()
    freq = np.bincount(labels) / labels.size
    assert np.allclose(model.Q_, np.eye(3)) and np.allclose(model.pi_, freq)
    log_joint = np.empty((900, 3))
    for c in range(3):
        rows = X[labels == c]
        cov = np.cov(rows, rowvar=False, bias=True) + floor * np.eye(2)
        assert np.allclose(model.means_x_[c], rows.mean(axis=0))
        assert np.allclose(model.vars_x_[c], cov)
        log_joint[:, c] = np.log(freq[c]) + multivariate_normal(rows.mean(axis=0), cov).logpdf(X)
    assert np.allclose(model.predict_proba_w(X), softmax(log_joint, axis=1))


def test_labelled_lower_components_stay_with_their_label(rng):
    X, Y = sample_jgmm(1500, rng, sep=2.0)
    labels = np.where(rng.random(1500) < 0.5, 0, 2)  # label 1 of 3 never occurs
    model = JGMM(5, 3, e_step="labelled", random_state=0).fit(X, Y, labels_y=labels)
    owner = np.array([0, 0, 0, 2, 2])  # 5 components split over the 2 labels present
    assert np.array_equal(model.Q_[:, [0, 2]] > 0, owner[:, None] == [0, 2])
    assert np.allclose(model.psi_, np.eye(3)[owner])
    assert model.pi_[1] == 0 and not np.any(model.predict_w(X) == 1)
    with pytest.raises(ValueError, match="needs labels_y"):
        JGMM(5, 3, e_step="labelled").fit(X, Y)
    with pytest.raises(ValueError, match="single class"):  # a NaN inside scipy's linprog
        JGMM(5, 3, e_step="labelled").fit(X, Y, labels_y=np.zeros(1500, int))
    with pytest.raises(ValueError, match="fewer than the 3 labels"):
        JGMM(2, 3, e_step="labelled").fit(X, Y, labels_y=rng.integers(0, 3, size=1500))


def test_joint_e_step_ascends_the_joint_log_likelihood():
    """e_step="joint" is the exact EM of eq. 12: its bound is the mean log p(x, y) of
    score_samples; the paper's eq. 15 ascends another objective."""
    X, Y = sample_jgmm(1500, np.random.default_rng(1), sep=2.0)
    fits = {}
    for e_step in ("joint", "paper"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[e_step] = JGMM(4, 2, e_step=e_step, tol=1e-10, max_iter=2000, random_state=0).fit(
                X, Y
            )
    joint, paper = fits["joint"], fits["paper"]
    assert joint.converged_
    np.testing.assert_allclose(joint.lower_bound_[-1], joint.score_samples(X, Y).mean(), atol=1e-6)
    assert abs(paper.lower_bound_[-1] - paper.score_samples(X, Y).mean()) > 0.05


def test_sample_x_draws_components_by_lambda_or_the_given_weights():
    X, Y = sample_jgmm(1500, np.random.default_rng(0))
    model = JGMM(4, 2, random_state=0).fit(X, Y)
    _, comps = model.sample_x(40000, random_state=0)
    np.testing.assert_allclose(np.bincount(comps, minlength=4) / 40000, model.lambda_, atol=0.01)
    weights = model.Q_[:, 1]
    _, comps = model.sample_x(40000, weights=weights, random_state=1)
    np.testing.assert_allclose(np.bincount(comps, minlength=4) / 40000, weights, atol=0.01)


def test_spatial_whitening_is_fitted_on_every_position():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4, 3)) * np.array([1.0, 2.0, 0.5])
    X[:, :2] += 3.0  # positions differ
    Y = np.column_stack([X[:, :2].mean(axis=(1, 2)), rng.normal(size=300)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = JGMM(5, 2, max_iter=20, random_state=0).fit(X, Y)
    Z = model.transform_x(X).reshape(-1, 3)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(3), atol=1e-8)


FITTED = ("means_x_", "vars_x_", "means_y_", "vars_y_", "Q_", "pi_", "lower_bound_")


@pytest.mark.parametrize(
    ("covariance", "e_step", "stop_at"),
    [("diag", "paper", 5), ("full", "joint", 14), ("diag", "labelled", 9)],
)
def test_an_interrupted_fit_resumes_to_the_same_model(
    tmp_path, monkeypatch, covariance, e_step, stop_at
):
    X, Y = sample_jgmm(300, np.random.default_rng(0), sep=2.0)
    labels = (Y.sum(axis=1) > Y.sum(axis=1).mean()).astype(int)
    settings = dict(covariance=covariance, e_step=e_step, max_iter=8, tol=1e-6, n_init=3)
    settings.update(n_components_x=4, n_components_y=2, random_state=3)

    def fit(**kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return JGMM(**settings, **kwargs).fit(X, Y, labels_y=labels)

    steps = interrupt_at(monkeypatch, JGMM, "_step")
    whole = fit()
    n_steps = steps["n"]  # over the three restarts
    assert stop_at < n_steps
    path = tmp_path / "jgmm.npz"
    steps.update(n=0, stop=stop_at)
    with pytest.raises(KeyboardInterrupt):
        fit(checkpoint=path)
    steps.update(n=0, stop=None)
    resumed = fit(checkpoint=path)
    assert steps["n"] == n_steps - (stop_at - 1)  # only the steps left were taken
    for name in FITTED:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name), err_msg=name)
    assert resumed.n_iter_ == whole.n_iter_ and resumed.converged_ == whole.converged_
    steps["n"] = 0
    again = fit(checkpoint=path)  # a finished fit only reads its checkpoint
    assert steps["n"] == 0
    np.testing.assert_array_equal(again.Q_, whole.Q_)


def test_a_checkpoint_of_other_settings_or_data_or_a_damaged_one_is_refused(tmp_path):
    X, Y = sample_jgmm(200, np.random.default_rng(0))
    path = tmp_path / "jgmm.npz"
    settings = dict(n_components_x=4, n_components_y=2, max_iter=5, random_state=0)
    JGMM(**settings, checkpoint=path).fit(X, Y)
    with pytest.raises(ValueError, match="other settings or data"):
        JGMM(**{**settings, "max_iter": 6}, checkpoint=path).fit(X, Y)
    with pytest.raises(ValueError, match="other settings or data"):
        JGMM(**settings, checkpoint=path).fit(X[::-1], Y[::-1])
    from unboxed._io import read_npz_with_header, write_npz_with_header
    from unboxed.surrogates._jgmm import CHECKPOINT_FORMAT

    header, arrays = read_npz_with_header(path, what="x", format=CHECKPOINT_FORMAT, version=1)
    for damage in (
        {"current/Q": arrays["current/Q"][:, :3]},
        {"current/means_x": np.full_like(arrays["current/means_x"], np.nan)},
        {"current/objective": np.zeros(9)},  # more iterations than max_iter
        {"current/vars_x": np.zeros_like(arrays["current/vars_x"])},
    ):
        write_npz_with_header(path, header, {**arrays, **damage})
        with pytest.raises(ValueError, match="damaged JGMM checkpoint"):
            JGMM(**settings, checkpoint=path).fit(X, Y)
    write_npz_with_header(path, {**header, "current": {"init": 4, "converged": False}}, arrays)
    with pytest.raises(ValueError, match="damaged JGMM checkpoint: its restart"):
        JGMM(**settings, checkpoint=path).fit(X, Y)
    write_npz_with_header(path, {**header, "rng": {"bit_generator": "PCG64"}}, arrays)
    with pytest.raises(ValueError, match="damaged JGMM checkpoint"):
        JGMM(**settings, checkpoint=path).fit(X, Y)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a JGMM checkpoint"):
        JGMM(**settings, checkpoint=path).fit(X, Y)
    with pytest.raises(ValueError, match="reproducible random_state"):
        JGMM(**{**settings, "random_state": None}, checkpoint=tmp_path / "new.npz").fit(X, Y)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        JGMM(**settings, checkpoint=tmp_path).fit(X, Y)


def _first_bound(model, X, Y, labels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y, labels_y=labels)
    return model.lower_bound_[0]


def _gauss(rows, floor):
    """A Gaussian started at ``rows``' mean and (floored) variance, as a log pdf."""
    return multivariate_normal(rows.mean(axis=0), np.maximum(rows.var(axis=0), floor)).logpdf


def test_em_starts_from_uniform_q_and_pi(rng):
    """The first bound is that of the documented start: Q and pi uniform, each Gaussian
    at its start cluster's mean and variance. K_x = 1 and a hard start for w make the
    clusters known: log p(x, y) = log sum_j (1/K_y) G_j(y) G(x) with Q = 1."""
    X, Y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    labels = (Y[:, 0] > 0).astype(int)
    Y[labels == 1] += 4.0
    model = JGMM(1, 2, e_step="joint", whiten=False, max_iter=1, random_state=0)
    first = _first_bound(model, X, Y, labels)
    fx, fy = 1e-3 * X.var(axis=0).mean(), 1e-3 * Y.var(axis=0).mean()
    log_x = _gauss(X, fx)(X)
    log_y = np.stack([_gauss(Y[labels == j], fy)(Y) for j in range(2)], axis=1)
    want = np.mean(log_x + logsumexp(np.log(0.5) + log_y, axis=1))
    assert np.isclose(first, want)


def test_labelled_em_starts_uniform_within_each_labels_block(rng):
    """e_step="labelled": Q starts uniform over each label's own components. Each
    label's rows form two far blobs, so its k-means start clusters are the blobs."""
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    blob = np.repeat(np.arange(4), 50)
    X = centres[blob] + rng.normal(size=(200, 2))
    labels = blob // 2  # label 0 owns blobs 0 and 1, label 1 blobs 2 and 3
    model = JGMM(4, 2, e_step="labelled", whiten=False, max_iter=1, random_state=0)
    first = _first_bound(model, X, labels[:, None].astype(float), labels)
    floor = 1e-3 * X.var(axis=0).mean()
    log_g = np.stack([_gauss(X[blob == b], floor)(X) for b in range(4)], axis=1)
    own = log_g.reshape(200, 2, 2)[np.arange(200), labels]  # the label's two blobs
    want = np.mean(np.log(0.5) + logsumexp(np.log(0.5) + own, axis=1))
    assert np.isclose(first, want)


def test_n_init_keeps_the_best_of_the_restarts_drawn_in_turn(rng):
    """The restarts draw from the one generator in turn: they are the fits of
    n_init=1 on that generator, one after another, and the best final bound wins."""
    X, Y = sample_jgmm(200, rng, sep=2.0)
    kwargs = dict(max_iter=8, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        shared = np.random.default_rng(0)
        singles = [JGMM(4, 2, random_state=shared, **kwargs).fit(X, Y) for _ in range(3)]
        best = JGMM(4, 2, n_init=3, random_state=np.random.default_rng(0), **kwargs).fit(X, Y)
    finals = [m.lower_bound_[-1] for m in singles]
    assert len(set(finals)) == 3 and np.argmax(finals) > 0  # a later restart wins
    winner = singles[int(np.argmax(finals))]
    np.testing.assert_array_equal(best.lower_bound_, winner.lower_bound_)
    np.testing.assert_array_equal(best.Q_, winner.Q_)


def test_lambda_is_the_mean_posterior_of_z_at_convergence():
    """At the paper's EM fixed point, p(z) = Q pi (eq. 2) is the mean over the rows of
    p(z | x), as a mixture's weights are the mean responsibilities."""
    X, Y = sample_jgmm(1500, np.random.default_rng(0))
    model = JGMM(4, 2, tol=1e-10, max_iter=500, random_state=0).fit(X, Y)
    assert model.converged_
    np.testing.assert_allclose(
        model.lambda_, model.predict_proba_z_given_x(X).mean(axis=0), atol=1e-4
    )


def test_fits_as_many_samples_as_components(rng):
    X, Y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = JGMM(3, 2, max_iter=5, random_state=0).fit(X, Y)
    assert np.all(np.isfinite(model.score_samples(X, Y)))


def test_labelled_fit_with_a_label_on_fewer_rows_than_its_components(rng):
    """A label seen on one row still owns its share of the lower components: k-means
    gets one cluster there, and the other component starts (and stays) empty."""
    X, Y = rng.normal(size=(30, 2)), rng.normal(size=(30, 1))
    labels = np.zeros(30, int)
    labels[0] = 1
    model = JGMM(4, 2, e_step="labelled", random_state=0).fit(X, Y, labels_y=labels)
    assert np.all(np.isfinite(model.predict_proba_w(X)))
    assert np.all(model.Q_[:2, 1] == 0) and np.isclose(model.Q_[2, 1], 1.0)  # its one row


def test_more_bad_inputs_are_rejected(rng):
    X, Y = sample_jgmm(100, rng)
    for floor in (0.0, 1.0, True, "0.1"):
        with pytest.raises(ValueError, match="var_floor"):
            JGMM(2, 2, var_floor=floor).fit(X, Y)
    with pytest.raises(TypeError, match="whiten"):
        JGMM(2, 2, whiten="yes").fit(X, Y)
    with pytest.raises(ValueError, match="labels_y"):
        JGMM(2, 2).fit(X, Y, labels_y=np.full(100, 2))  # K_y = 2: classes 0 and 1
    model = JGMM(4, 2, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="rows"):  # one row of Y broadcast silently
        model.score_samples(X, Y[:1])
    with pytest.raises(ValueError, match="features"):
        model.inverse_transform_x(np.zeros((2, 2)))
    for weights in (np.ones(3), np.array([1.0, -0.5, 0.5, 0.5]), np.zeros(4)):
        with pytest.raises(ValueError, match="non-negative numbers"):
            model.sample_x(10, weights=weights)


def test_inverse_transform_of_a_scalar_is_refused(rng):
    X, Y = sample_jgmm(100, rng)
    model = JGMM(4, 2, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="got a scalar"):  # was an IndexError
        model.inverse_transform_x(3.0)


@pytest.mark.parametrize("whiten", [True, False])
@pytest.mark.parametrize(
    "method",
    ["predict_proba_w", "predict_w", "predict_proba_z_given_x", "log_px_given_w", "score_samples"],
)
def test_values_too_large_for_the_gaussians_are_refused_not_nan(rng, whiten, method):
    # 1e200 is finite but its square is not: every posterior came back NaN.
    X, Y = sample_jgmm(100, rng)
    model = JGMM(4, 2, whiten=whiten, random_state=0).fit(X, Y)
    X_big = X[:3].copy()
    X_big[1, 0] = 1e200
    args = (X_big, Y[:3]) if method == "score_samples" else (X_big,)
    with pytest.raises(ValueError, match="X holds values too large for the model's Gaussians"):
        getattr(model, method)(*args)
    Y_big = Y[:3].copy()
    Y_big[0, 1] = -1e200
    with pytest.raises(ValueError, match="Y holds values too large"):
        model.predict_proba_z(Y_big)


def test_sample_x_normalises_the_weights(rng):
    """weights need a positive sum, not a sum of 1."""
    X, Y = sample_jgmm(300, rng)
    model = JGMM(4, 2, random_state=0).fit(X, Y)
    _, comps = model.sample_x(20000, weights=np.array([3.0, 0.0, 1.0, 0.0]), random_state=0)
    np.testing.assert_allclose(
        np.bincount(comps, minlength=4) / 20000, [0.75, 0, 0.25, 0], atol=0.015
    )


def test_sample_x_weights_whose_sum_overflows_are_the_same_distribution():
    # [1e308, 1e308, 1] is finite, but its sum is not: a RuntimeWarning, then numpy's
    # "probabilities do not sum to 1" deep in Generator.choice.
    from sklearn.datasets import load_iris

    data = load_iris().data
    model = JGMM(3, 2, random_state=0, max_iter=20).fit(data[:, :2], data[:, 2:])
    samples, comps = model.sample_x(4000, weights=[1e308, 1e308, 1.0], random_state=0)
    assert np.all(np.isfinite(samples))
    np.testing.assert_allclose(np.bincount(comps, minlength=3) / 4000, [0.5, 0.5, 0], atol=0.03)
    same = model.sample_x(4000, weights=[1.0, 1.0, 1e-308], random_state=0)
    np.testing.assert_array_equal(comps, same[1])


def test_sample_x_refuses_a_count_numpy_cannot_hold_naming_it():
    # numpy's bare "MemoryError: Unable to allocate 7.28 TiB" named no setting, as the
    # explainer's generated examples did before their check_draws.
    from sklearn.datasets import load_iris

    data = load_iris().data
    model = JGMM(3, 2, random_state=0, max_iter=20).fit(data[:, :2], data[:, 2:])
    with pytest.raises(ValueError, match=r"n_samples=1000000000000 is too large: it asks for"):
        model.sample_x(10**12, random_state=0)
    assert model.sample_x(5, random_state=0)[0].shape == (5, 2)


def test_full_covariances_dip_without_a_decrease_warning():
    """The floor added to a full covariance's diagonal can lower the bound (documented
    under var_floor), so a full fit raises no ObjectiveDecreaseWarning for it."""
    from unboxed.surrogates import ObjectiveDecreaseWarning

    X, Y = sample_correlated(600, np.random.default_rng(0), sep=2.0)
    model = JGMM(6, 3, covariance="full", var_floor=0.3, tol=1e-8, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", ObjectiveDecreaseWarning)
        model.fit(X, Y)
    assert np.diff(model.lower_bound_).min() < -0.01  # it did dip


def test_paper_step_updates_q_and_pi_from_the_new_gaussians(rng):
    """Eq. 20-21 take g^(t+1) and h^(t+1): the responsibilities under the Gaussians
    just updated (eq. 16-19), with the current Q and pi (uniform after the start).
    After one step: pi_j = mean_n h[n, j], Q[i, j] = mean_n g[n, i] h[n, j] / pi_j."""
    X, Y = sample_jgmm(400, rng, sep=3.0)
    model = JGMM(4, 2, whiten=False, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y)
    gx = np.stack(
        [
            multivariate_normal(m, np.diag(v)).pdf(X)
            for m, v in zip(model.means_x_, model.vars_x_, strict=True)
        ],
        axis=1,
    )
    gy = np.stack(
        [
            multivariate_normal(m, np.diag(v)).pdf(Y)
            for m, v in zip(model.means_y_, model.vars_y_, strict=True)
        ],
        axis=1,
    )
    g = gx / gx.sum(axis=1, keepdims=True)  # lambda = Q pi uniform
    h = gy / gy.sum(axis=1, keepdims=True)  # pi uniform
    pi = h.mean(axis=0)
    np.testing.assert_allclose(model.pi_, pi)
    np.testing.assert_allclose(model.Q_, (g.T @ h) / len(X) / pi)


def test_variance_floors_are_relative_to_each_layers_spread(rng):
    """var_floor is a fraction of the mean per-dimension variance of each layer's data:
    a constant dimension's variance sits at that floor, in x and in y."""
    X, Y = sample_jgmm(300, rng)
    X = np.column_stack([10.0 * X, np.full(300, 3.0)])
    Y = np.column_stack([100.0 * Y, np.full(300, -1.0)])
    model = JGMM(4, 2, whiten=False, var_floor=0.01, random_state=0).fit(X, Y)
    np.testing.assert_allclose(model.vars_x_[:, -1], 0.01 * X.var(axis=0).mean())
    np.testing.assert_allclose(model.vars_y_[:, -1], 0.01 * Y.var(axis=0).mean())


def test_a_generator_seed_resumes_only_from_the_same_state(tmp_path, monkeypatch):
    """With a Generator the checkpoint records its state at the start of fit: a fresh
    generator of the same seed resumes (and ends where an uninterrupted fit leaves
    it); one in another state is refused."""
    X, Y = sample_jgmm(200, np.random.default_rng(0))
    settings = dict(n_components_x=4, n_components_y=2, max_iter=6, tol=None, n_init=2)
    path = tmp_path / "jgmm.npz"
    whole_rng = np.random.default_rng(5)
    whole = JGMM(**settings, random_state=whole_rng).fit(X, Y)
    steps = interrupt_at(monkeypatch, JGMM, "_step", stop=4)
    with pytest.raises(KeyboardInterrupt):
        JGMM(**settings, random_state=np.random.default_rng(5), checkpoint=path).fit(X, Y)
    advanced = np.random.default_rng(5)
    advanced.random()
    with pytest.raises(ValueError, match="other settings or data or a generator in another"):
        JGMM(**settings, random_state=advanced, checkpoint=path).fit(X, Y)
    steps.update(n=0, stop=None)
    rng = np.random.default_rng(5)
    resumed = JGMM(**settings, random_state=rng, checkpoint=path).fit(X, Y)
    assert steps["n"] == 2 * 6 - 3  # only the steps left were taken
    np.testing.assert_array_equal(resumed.means_x_, whole.means_x_)
    assert rng.bit_generator.state == whole_rng.bit_generator.state


@pytest.mark.parametrize("bit_generator", [np.random.MT19937, np.random.Philox])
def test_a_generator_of_another_bit_generator_resumes(tmp_path, monkeypatch, bit_generator):
    """The saved state is of the user's bit generator, not PCG64: it was refused as a
    damaged checkpoint ("state must be for a PCG64 RNG"), so such a fit never resumed."""
    X, Y = sample_jgmm(200, np.random.default_rng(0))
    settings = dict(n_components_x=4, n_components_y=2, max_iter=6, tol=None, n_init=2)
    path = tmp_path / "jgmm.npz"
    whole = JGMM(**settings, random_state=np.random.Generator(bit_generator(5))).fit(X, Y)
    steps = interrupt_at(monkeypatch, JGMM, "_step", stop=4)
    with pytest.raises(KeyboardInterrupt):
        rng = np.random.Generator(bit_generator(5))
        JGMM(**settings, random_state=rng, checkpoint=path).fit(X, Y)
    steps.update(n=0, stop=None)
    rng = np.random.Generator(bit_generator(5))
    resumed = JGMM(**settings, random_state=rng, checkpoint=path).fit(X, Y)
    assert steps["n"] == 2 * 6 - 3  # resumed, not started again
    np.testing.assert_array_equal(resumed.means_x_, whole.means_x_)


# ---------------------------------------------------------------- audit round J3


def test_driver_settings_are_checked_when_fit_starts(rng):
    X, Y = sample_jgmm(50, rng)
    for kwargs, match in (
        ({"max_iter": 0}, "max_iter"),
        ({"n_init": 0}, "n_init"),
        ({"tol": -1.0}, "tol"),
        ({"tol": "small"}, "tol"),
    ):
        with pytest.raises(ValueError, match=match):
            JGMM(2, 2, **kwargs).fit(X, Y)


def test_fit_needs_as_many_samples_as_higher_components(rng):
    X, Y = sample_jgmm(10, rng)
    with pytest.raises(ValueError, match="10 samples cannot fit 20 components"):
        JGMM(2, 20).fit(X, Y)


def test_fit_refuses_x_of_another_rank(rng):
    Y = rng.normal(size=(20, 2))
    for X in (rng.normal(size=20), rng.normal(size=(20, 2, 2, 2))):
        with pytest.raises(ValueError, match=r"n_positions, n_features\), got"):
            JGMM(2, 2).fit(X, Y)


def test_fit_refuses_x_or_y_without_features(rng):
    # Y with no column raised an IndexError inside k-means, X one numpy's reshape error.
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    for bad_x, bad_y in ((X, Y[:, :0]), (X[:, :0], Y), (rng.normal(size=(20, 0, 3)), Y)):
        with pytest.raises(ValueError, match="X and Y need at least one feature"):
            JGMM(2, 2, random_state=0).fit(bad_x, bad_y)


def test_fitted_layout_is_enforced_on_new_x(rng):
    """A plain model refuses a 3-d X (even with one position), a spatial model a 2-d
    X or another number of positions, each with the shape it expects."""
    X, Y = sample_jgmm(100, rng)
    plain = JGMM(2, 2, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\), got \(100, 1, 3\)"):
        plain.predict_proba_w(X[:, None, :])
    X3 = rng.normal(size=(100, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        spatial = JGMM(2, 2, max_iter=3, random_state=0).fit(X3, Y)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 4, 3\)"):
        spatial.predict_proba_w(X3[:, 0])
    with pytest.raises(ValueError, match="3 features at 2 positions.*3 at 4"):
        spatial.predict_proba_w(X3[:, :2])
    with pytest.raises(ValueError, match="3 features at 2 positions"):
        spatial.transform_x(X3[:, :2])


@pytest.mark.parametrize("whiten", [True, False])
def test_a_constant_layer_gives_a_finite_fit(rng, whiten):
    """Every row the same in a layer: the floor of a zero spread is kept positive, so
    the Gaussians keep a positive variance and the densities stay finite."""
    X, Y = sample_jgmm(60, rng)
    for Xc, Yc in ((np.full_like(X, 2.0), Y), (X, np.full_like(Y, -1.0))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = JGMM(2, 2, whiten=whiten, max_iter=5, random_state=0).fit(Xc, Yc)
        assert np.all(model.vars_x_ > 0) and np.all(model.vars_y_ > 0)
        assert np.all(np.isfinite(model.lower_bound_))
        assert np.all(np.isfinite(model.score_samples(Xc, Yc)))
        assert np.allclose(model.predict_proba_w(Xc).sum(axis=1), 1)


def test_a_checkpoint_of_other_labels_is_refused(tmp_path, rng):
    """labels_y start (or observe) w, so they are part of what a checkpoint fits."""
    X, Y = sample_jgmm(100, rng)
    labels = (Y[:, 0] > Y[:, 0].mean()).astype(int)
    path = tmp_path / "jgmm.npz"
    settings = dict(n_components_x=2, n_components_y=2, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        JGMM(**settings, checkpoint=path).fit(X, Y, labels_y=labels)
        with pytest.raises(ValueError, match="other settings or data"):
            JGMM(**settings, checkpoint=path).fit(X, Y, labels_y=1 - labels)
        with pytest.raises(ValueError, match="other settings or data"):
            JGMM(**settings, checkpoint=path).fit(X, Y)


def test_get_params_returns_every_constructor_argument():
    kwargs = dict(
        covariance="full",
        e_step="joint",
        whiten=False,
        var_floor=0.01,
        max_iter=7,
        tol=1e-4,
        n_init=2,
        random_state=3,
        checkpoint="c.npz",
        verbose=True,
    )
    assert JGMM(5, 4, **kwargs).get_params() == {
        "n_components_x": 5,
        "n_components_y": 4,
        **kwargs,
    }


def _checkpointed_fit(tmp_path, **more):
    """A 3-step JGMM fit that leaves its checkpoint: (X, Y, path, settings)."""
    X, Y = sample_jgmm(100, np.random.default_rng(0))
    path = tmp_path / "jgmm.npz"
    settings = dict(n_components_x=2, n_components_y=2, max_iter=3, random_state=0, **more)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        JGMM(**settings, checkpoint=path).fit(X, Y)
    return X, Y, path, settings


@pytest.mark.parametrize(
    "change",
    [
        {"tol": 1e-2},
        {"var_floor": 1e-2},
        {"covariance": "full"},
        {"e_step": "joint"},
        {"whiten": False},
        {"n_init": 2},
        {"n_components_x": 3},
        {"random_state": 1},
    ],
)
def test_a_checkpoint_of_any_other_setting_is_refused(tmp_path, change):
    X, Y, path, settings = _checkpointed_fit(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match="other settings or data"):
            JGMM(**{**settings, **change}, checkpoint=path).fit(X, Y)
        # verbose changes nothing the EM does: the checkpoint is taken up
        JGMM(**settings, checkpoint=path, verbose=True).fit(X, Y)


def test_a_checkpoint_with_a_restart_past_n_init_or_no_objective_is_damaged(tmp_path):
    from unboxed._io import read_npz_with_header, write_npz_with_header
    from unboxed.surrogates._jgmm import CHECKPOINT_FORMAT

    X, Y, path, settings = _checkpointed_fit(tmp_path, n_init=2)
    header, arrays = read_npz_with_header(path, what="x", format=CHECKPOINT_FORMAT, version=1)
    for init in (2, -1):  # restarts are numbered 0 .. n_init - 1
        current = {**header["current"], "init": init}
        write_npz_with_header(path, {**header, "current": current}, arrays)
        with pytest.raises(ValueError, match="damaged JGMM checkpoint: its restart"):
            JGMM(**settings, checkpoint=path).fit(X, Y)
    write_npz_with_header(path, header, {**arrays, "current/objective": np.zeros(0)})
    with pytest.raises(ValueError, match="damaged JGMM checkpoint: its current objective"):
        JGMM(**settings, checkpoint=path).fit(X, Y)


def test_predict_w_is_the_likeliest_higher_component(rng):
    X, Y = sample_jgmm(400, rng)
    model = JGMM(4, 2, random_state=0).fit(X, Y)
    proba = model.predict_proba_w(X)
    np.testing.assert_array_equal(model.predict_w(X), proba.argmax(axis=1))
    assert np.unique(model.predict_w(X)).size == 2


def test_predict_proba_z_is_bayes_rule_over_the_higher_components(rng):
    """p(z = i | y) = sum_j Q[i, j] pi_j G_j(y) / sum_j pi_j G_j(y) (eq. 3), computed
    here from the fitted Gaussians with scipy."""
    X, Y = sample_jgmm(400, rng, sep=2.0)
    model = JGMM(4, 2, whiten=False, random_state=0).fit(X, Y)
    gy = np.stack(
        [
            multivariate_normal(m, np.diag(v)).pdf(Y)
            for m, v in zip(model.means_y_, model.vars_y_, strict=True)
        ],
        axis=1,
    )
    h = gy * model.pi_ / (gy * model.pi_).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba_z(Y), h @ model.Q_.T, atol=1e-10)


def test_spatial_prototype_score_sums_the_positions_and_sampling_needs_weights(rng):
    """Spatial model: log p(x | w = j) is the sum over positions r of
    log sum_i Q[r, i, j] G_i(x^(r)) (eq. 10), here from scipy's densities; sampling
    has no single lambda to default to."""
    X = rng.normal(size=(80, 3, 2))
    X[:40, 0] += 3.0
    Y = np.column_stack([X[:, 0].mean(axis=1), rng.normal(size=80)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = JGMM(3, 2, whiten=False, max_iter=10, random_state=0).fit(X, Y)
    log_g = np.stack(
        [
            multivariate_normal(m, np.diag(v)).logpdf(X.reshape(-1, 2)).reshape(80, 3)
            for m, v in zip(model.means_x_, model.vars_x_, strict=True)
        ],
        axis=2,
    )  # (n, R, K_x)
    want = logsumexp(log_g[..., None] + np.log(model.Q_)[None], axis=2).sum(axis=1)
    np.testing.assert_allclose(model.log_px_given_w(X), want, rtol=1e-10)
    with pytest.raises(ValueError, match="one lambda per position; pass weights"):
        model.sample_x(5, random_state=0)
    samples, comps = model.sample_x(5, weights=model.lambda_[0], random_state=0)
    assert samples.shape == (5, 2) and comps.shape == (5,)


def test_every_method_needs_a_fit(rng):
    X, Y = sample_jgmm(20, rng)
    model = JGMM(2, 2)
    for call in (
        lambda: model.predict_proba_w(X),
        lambda: model.predict_w(X),
        lambda: model.predict_proba_z(Y),
        lambda: model.predict_proba_z_given_x(X),
        lambda: model.log_px_given_w(X),
        lambda: model.score_samples(X, Y),
        lambda: model.transform_x(X),
        lambda: model.inverse_transform_x(X),
        lambda: model.sample_x(3),
    ):
        with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
            call()


def test_sample_x_repeats_for_its_seed(rng):
    X, Y = sample_jgmm(200, rng)
    model = JGMM(4, 2, random_state=0).fit(X, Y)
    a, b = (model.sample_x(20, random_state=5) for _ in range(2))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], model.sample_x(20, random_state=6)[0])


def test_a_fit_that_converges_on_its_last_allowed_iteration_is_converged(rng):
    """converged_ reports the tolerance met, not the iterations left: the same fit
    capped at the iteration where it converged is still converged, without a warning."""
    X, Y = sample_jgmm(200, rng, sep=3.0)
    free = JGMM(4, 2, tol=1e-4, random_state=0).fit(X, Y)
    assert free.converged_ and 1 < free.n_iter_ < free.max_iter
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        capped = JGMM(4, 2, tol=1e-4, max_iter=free.n_iter_, random_state=0).fit(X, Y)
    assert capped.converged_ and capped.n_iter_ == free.n_iter_
    np.testing.assert_array_equal(capped.lower_bound_, free.lower_bound_)


def test_sample_x_needs_a_positive_number_of_samples(rng):
    X, Y = sample_jgmm(100, rng)
    model = JGMM(2, 2, random_state=0).fit(X, Y)
    for n in (0, -3, 2.5):
        with pytest.raises((ValueError, TypeError), match="n_samples"):
            model.sample_x(n)


def test_every_bad_hyperparameter_is_named(rng):
    X, Y = sample_jgmm(50, rng)
    for kwargs, match in (
        ({"covariance": "tied"}, "covariance must be 'diag'"),
        ({"covariance": None}, "covariance must be 'diag'"),
        ({"e_step": "hard"}, "e_step must be 'paper'"),
        ({"e_step": None}, "e_step must be 'paper'"),
        ({"n_components_y": 0}, "n_components_y"),
        ({"n_components_y": 2.5}, "n_components_y"),
    ):
        with pytest.raises((ValueError, TypeError), match=match):
            JGMM(**{"n_components_x": 2, "n_components_y": 2, **kwargs}).fit(X, Y)


def test_new_inputs_with_nan_are_refused(rng):
    X, Y = sample_jgmm(100, rng)
    model = JGMM(4, 2, random_state=0).fit(X, Y)
    bad_y, bad_x = Y[:3].copy(), X[:3].copy()
    bad_y[1, 0] = bad_x[2, 1] = np.nan
    with pytest.raises(ValueError, match="Y.*NaN"):
        model.predict_proba_z(bad_y)
    with pytest.raises(ValueError, match="X.*NaN"):
        model.predict_proba_w(bad_x)
    with pytest.raises(ValueError, match="weights.*NaN"):
        model.sample_x(5, weights=np.array([1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(ValueError, match="weights"):
        model.sample_x(5, weights=np.ones((2, 4)))
    with pytest.raises(ValueError, match="non-negative numbers"):  # however slightly
        model.sample_x(5, weights=np.array([1.0, -1e-6, 1.0, 1.0]))


def test_more_damaged_checkpoints_are_refused(tmp_path):
    """A non-positive higher variance, a malformed restart record or no restart in
    progress: each is reported as a damaged checkpoint, not a NaN fit or a raw error."""
    from unboxed._io import read_npz_with_header, write_npz_with_header
    from unboxed.surrogates._jgmm import CHECKPOINT_FORMAT

    X, Y, path, settings = _checkpointed_fit(tmp_path)
    header, arrays = read_npz_with_header(path, what="x", format=CHECKPOINT_FORMAT, version=1)
    damaged = [
        (header, {**arrays, "current/vars_y": np.zeros_like(arrays["current/vars_y"])}),
        ({**header, "current": {**header["current"], "converged": "no"}}, arrays),
        ({**header, "current": {**header["current"], "init": "0"}}, arrays),
        ({**header, "current": None}, arrays),
    ]
    for bad_header, bad_arrays in damaged:
        write_npz_with_header(path, bad_header, bad_arrays)
        with pytest.raises(ValueError, match="damaged JGMM checkpoint"):
            JGMM(**settings, checkpoint=path).fit(X, Y)


@pytest.mark.filterwarnings("ignore:JGMM EM did not converge")
@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_em_bar_and_false_prints_nothing(verbose, capfd):
    X, Y = sample_jgmm(200, np.random.default_rng(0))
    JGMM(2, 2, max_iter=3, random_state=0, verbose=verbose).fit(X, Y)
    assert_progress_shown(capfd, verbose, "JGMM EM")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"covariance": "ful"}, ValueError, "covariance must be 'diag'"),
        ({"e_step": "labeled"}, ValueError, "e_step must be 'paper', 'joint' or 'labelled'"),
        ({"whiten": "yes"}, TypeError, "whiten must be a bool"),
        ({"var_floor": 1.0}, ValueError, "var_floor must be a number in \\(0, 1\\)"),
        ({"n_components_y": 0}, ValueError, "n_components_y must be an int >= 1"),
        ({"checkpoint": "run.npz"}, ValueError, "a checkpoint needs a reproducible"),
    ],
)
def test_bad_settings_are_refused_when_made_and_set(kwargs, error, message):
    # They were refused only by fit, after the features were computed.
    with pytest.raises(error, match=message):
        JGMM(**{"n_components_x": 3, "n_components_y": 2, **kwargs})
    model = JGMM(3, 2)
    with pytest.raises(error, match=message):
        model.set_params(**kwargs)
    assert model.get_params() == JGMM(3, 2).get_params()


@pytest.mark.parametrize(
    ("method", "big"), [("transform_x", 1.7e308), ("inverse_transform_x", 1e307)]
)
def test_whitening_values_that_overflow_are_refused_not_inf(method, big):
    # Finite values whose rotation or scaling overflows float64 came back inf, with a
    # RuntimeWarning; the sepals in micrometres have scales near 800, so 1e307 overflows.
    from sklearn.datasets import load_iris

    data = load_iris().data
    X = data[:, :2] * 1e3
    model = JGMM(3, 2, random_state=0, max_iter=20).fit(X, data[:, 2:])
    name = "X" if method == "transform_x" else "Z"
    with pytest.raises(ValueError, match=f"{name} holds values too large for the model's whit"):
        getattr(model, method)(np.array([[big, -big], [1.0, 2.0]]))
    # Ordinary values still round-trip.
    np.testing.assert_allclose(model.inverse_transform_x(model.transform_x(X)), X, rtol=1e-12)


@pytest.mark.parametrize("covariance", ["diag", "full"])
@pytest.mark.parametrize("layer", ["X", "Y"])
def test_unwhitened_features_whose_squares_overflow_are_refused(covariance, layer):
    # Iris times 1e154 is finite, but its sums of squares are not: the diagonal fit ended
    # in "the data may be degenerate", the full one in scipy's "must not contain infs".
    from sklearn.datasets import load_iris

    data = load_iris().data
    X, Y = data[:, :2], data[:, 2:]
    X, Y = (X * 1e154, Y) if layer == "X" else (X, Y * 1e154)
    model = JGMM(3, 2, whiten=False, covariance=covariance, random_state=0, max_iter=10)
    with pytest.raises(ValueError, match=f"{layer} is too large to fit without whitening"):
        model.fit(X, Y)


def test_unwhitened_full_fit_of_large_values_of_small_spread_still_fits():
    # A full covariance sums squares of deviations from a mean, not of the values:
    # iris at 1e154 times (1 + 1e-3 x) fitted, until the raw sums of squares refused it.
    from sklearn.datasets import load_iris

    data = load_iris().data
    X, Y = 1e154 * (1 + 1e-3 * data[:, :2]), data[:, 2:]
    model = JGMM(3, 2, whiten=False, covariance="full", random_state=0, max_iter=20)
    model.fit(X, Y)
    assert np.all(np.isfinite(model.lower_bound_))
    # Its means sit where the rows are, within their spread of about 1e151.
    assert np.all(np.abs(model.means_x_ / 1e154 - 1.005) < 0.01)
    # The diagonal M-step sums raw squares, so there the same X is still refused.
    with pytest.raises(ValueError, match="X is too large to fit without whitening"):
        JGMM(3, 2, whiten=False, covariance="diag", random_state=0).fit(X, Y)
