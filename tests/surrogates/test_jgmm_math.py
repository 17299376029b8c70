"""Each formula of the JGMM against a brute-force or scipy evaluation of its equation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from unboxed.surrogates import _jgmm_math as jm


def _model(rng, R=1, kx=3, ky=2, dx=2, dy=2):
    Q = rng.uniform(0.1, 1.0, size=(R, kx, ky))
    Q /= Q.sum(axis=1, keepdims=True)
    pi = rng.uniform(0.2, 1.0, size=ky)
    pi /= pi.sum()
    return {
        "Q": Q,
        "pi": pi,
        "mx": rng.normal(size=(kx, dx)),
        "vx": rng.uniform(0.5, 2.0, size=(kx, dx)),
        "my": rng.normal(size=(ky, dy)),
        "vy": rng.uniform(0.5, 2.0, size=(ky, dy)),
    }


def _pdf(x, mean, var):
    return multivariate_normal(mean, np.diag(var)).pdf(x)


def test_log_gaussian_diag_matches_scipy(rng):
    X = rng.normal(size=(5, 3))
    means, variances = rng.normal(size=(4, 3)), rng.uniform(0.1, 3, size=(4, 3))
    got = jm.log_gaussian_diag(X, means, variances)
    want = np.array(
        [
            [
                multivariate_normal(m, np.diag(v)).logpdf(x)
                for m, v in zip(means, variances, strict=True)
            ]
            for x in X
        ]
    )
    assert np.allclose(got, want)


def test_whitening_is_invertible_and_whitens(rng):
    X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4)) + 3.0
    params = jm.fit_whitening(X)
    Z = jm.whiten(X, *params)
    assert np.allclose(np.cov(Z.T), np.eye(4), atol=1e-8)
    assert np.allclose(jm.unwhiten(Z, *params), X)


def test_whitening_multiplies_stacked_rows_as_one_2d_product(rng):
    # The explainer whitens (n, 1, D) features; a stacked product of n single rows was
    # 8x slower on LeNet's act1. Same values as row by row, and every product is 2-D.
    left_ndims = []

    class Recorder(np.ndarray):
        def __rmatmul__(self, other):
            left_ndims.append(np.ndim(other))
            return np.asarray(other) @ np.asarray(self)

    X = rng.normal(size=(30, 2, 4)) @ rng.normal(size=(4, 4))
    mean, components, scales = jm.fit_whitening(X.reshape(-1, 4))
    Z = jm.whiten(X, mean, components.view(Recorder), scales)
    back = jm.unwhiten(Z, mean, components.view(Recorder), scales)
    assert left_ndims == [2, 2]
    assert Z.shape == back.shape == (30, 2, 4)
    for i in range(30):
        np.testing.assert_allclose(Z[i], jm.whiten(X[i], mean, components, scales), rtol=1e-12)
    np.testing.assert_allclose(back, X, atol=1e-12)


def test_whitening_survives_constant_and_duplicated_columns(rng):
    X = rng.normal(size=(50, 3))
    X = np.column_stack([X, np.full(50, 2.0), X[:, 0]])  # a constant and a duplicate
    params = jm.fit_whitening(X)
    Z = jm.whiten(X, *params)
    assert np.all(np.isfinite(Z)) and np.allclose(jm.unwhiten(Z, *params), X)


def test_whitening_names_features_whose_covariance_overflows(rng):
    # finite values whose squares overflow: eigh raised "Eigenvalues did not converge"
    X = rng.normal(size=(20, 3)) * 1e160
    with pytest.raises(ValueError, match="too large to whiten"):
        jm.fit_whitening(X)
    mean, _, scales = jm.fit_whitening(X / 1e160 * 1e150)  # still fine at 1e150
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(scales))


def test_lambda_and_psi_follow_eq2(rng):
    m = _model(rng)
    Q, pi = m["Q"][0], m["pi"]
    lam = jm.lam(m["Q"], pi)[0]
    psi = jm.psi(m["Q"], pi)[0]
    for i in range(3):
        assert np.isclose(lam[i], sum(Q[i, j] * pi[j] for j in range(2)))
        for j in range(2):
            assert np.isclose(psi[i, j], Q[i, j] * pi[j] / sum(Q[i, k] * pi[k] for k in range(2)))


def test_inference_follows_eq3(rng):
    m = _model(rng)
    Q, pi = m["Q"][0], m["pi"]
    x, y = rng.normal(size=2), rng.normal(size=2)
    gx = np.array([_pdf(x, m["mx"][i], m["vx"][i]) for i in range(3)])
    gy = np.array([_pdf(y, m["my"][j], m["vy"][j]) for j in range(2)])
    lam, psi = Q @ pi, jm.psi(m["Q"], pi)[0]
    want_w = np.array([(gx @ Q[:, j]) * pi[j] / (gx @ Q @ pi) for j in range(2)])
    want_z = np.array([(psi[i] @ gy) * lam[i] / (lam @ psi @ gy) for i in range(3)])
    log_gx = jm.log_gaussian_diag(x[None, None], m["mx"], m["vx"])
    log_gy = jm.log_gaussian_diag(y[None], m["my"], m["vy"])
    assert np.allclose(np.exp(jm.log_proba_w_given_x(log_gx, m["Q"], pi))[0], want_w)
    assert np.allclose(np.exp(jm.log_proba_z_given_y(log_gy, m["Q"], pi))[0, 0], want_z)
    joint = sum(gx[i] * gy[j] * Q[i, j] * pi[j] for i in range(3) for j in range(2))
    assert np.isclose(np.exp(jm.log_joint_density(log_gx, log_gy, m["Q"], pi))[0], joint)


def test_log_px_given_w_keeps_far_classes_apart(rng):
    """Log densities 708+ nats below a row's largest underflow in the shifted product;
    each such entry is redone with its own shift, so far classes keep their order
    (the floor tied them all at -708 relative, and a runner-up class was arbitrary).
    12,000 such entries: more than one chunk of the redo."""
    R, kx, ky = 2, 6, 3
    Q = np.zeros((R, kx, ky))
    for r in range(R):  # two components per class, as a labelled JGMM has
        Q[r, np.arange(kx), np.arange(kx) // 2] = rng.uniform(0.2, 1.0, size=kx)
    Q[1, :, 2] = 0.0  # a column with no component keeps the floor
    Q /= np.maximum(Q.sum(axis=1, keepdims=True), 1e-300)
    log_a = rng.normal(size=(3000, R, kx)) + np.array([0.0, 0.0, -900.0, -905.0, -2000.0, -2003.0])
    got = jm.log_px_given_w(log_a, Q)
    with np.errstate(divide="ignore"):
        terms = log_a[..., None] + np.log(Q)[None]
    want = np.logaddexp.reduce(terms, axis=2)
    assert np.allclose(got[:, 0], want[:, 0])  # classes 900 and 2000 nats below
    assert np.allclose(got[:, 1, :2], want[:, 1, :2])
    assert np.all(np.isfinite(got[:, 1, 2]))  # the empty column is floored, not -inf


def test_log_densities_of_classes_no_component_reaches_stay_finite(rng):
    """A class whose column of Q is all zero, or whose components all have log density
    -inf at x, keeps the floor instead of -inf or NaN."""
    Q = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # class 2: no component
    log_a = np.array([[[0.0, -np.inf]]])  # class 1's only component: density 0
    assert np.all(np.isfinite(jm.log_px_given_w(log_a, Q[None])))
    means, variances = rng.normal(size=(2, 2)), np.ones((2, 2))
    gaussians = jm.gaussian_precisions(variances)
    log_p, grad = jm.log_px_given_w_with_gradient(rng.normal(size=2), means, *gaussians, Q)
    assert np.all(np.isfinite(log_p)) and np.all(np.isfinite(grad))


def test_spatial_inference_factorises_as_eq11(rng):
    m = _model(rng, R=2)
    xs = rng.normal(size=(2, 2))  # one 2-vector per position
    gx = np.array([[_pdf(xs[r], m["mx"][i], m["vx"][i]) for i in range(3)] for r in range(2)])
    per_w = np.array(
        [m["pi"][j] * np.prod([gx[r] @ m["Q"][r, :, j] for r in range(2)]) for j in range(2)]
    )
    log_gx = jm.log_gaussian_diag(xs[None], m["mx"], m["vx"])
    got = np.exp(jm.log_proba_w_given_x(log_gx, m["Q"], m["pi"]))[0]
    assert np.allclose(got, per_w / per_w.sum())


def test_e_step_follows_eq15(rng):
    m = _model(rng)
    X, Y = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    log_gx = jm.log_gaussian_diag(X[:, None], m["mx"], m["vx"])
    log_gy = jm.log_gaussian_diag(Y, m["my"], m["vy"])
    g, h, bound = jm.e_step(log_gx, log_gy, m["Q"], m["pi"])
    Q, pi = m["Q"][0], m["pi"]
    for n in range(6):
        gx = np.array([_pdf(X[n], m["mx"][i], m["vx"][i]) for i in range(3)])
        gy = np.array([_pdf(Y[n], m["my"][j], m["vy"][j]) for j in range(2)])
        assert np.allclose(g[n, 0], (Q @ pi) * gx / ((Q @ pi) @ gx))
        assert np.allclose(h[n], pi * gy / (pi @ gy))
    lx = [np.log((Q @ pi) @ [_pdf(x, m["mx"][i], m["vx"][i]) for i in range(3)]) for x in X]
    ly = [np.log(pi @ [_pdf(y, m["my"][j], m["vy"][j]) for j in range(2)]) for y in Y]
    assert np.isclose(bound, np.mean(lx) + np.mean(ly))


def test_joint_e_step_enumerates_eq12(rng):
    """Brute force over every (z^(1), z^(2), w) assignment of the spatial model."""
    m = _model(rng, R=2)
    X, Y = rng.normal(size=(4, 2, 2)), rng.normal(size=(4, 2))
    log_gx = jm.log_gaussian_diag(X, m["mx"], m["vx"])
    log_gy = jm.log_gaussian_diag(Y, m["my"], m["vy"])
    g, h, co, ll = jm.e_step_joint(log_gx, log_gy, m["Q"], m["pi"], block_elements=20)
    want_co = np.zeros_like(co)
    total = 0.0
    for n in range(4):
        post = {}
        for i1, i2, j in itertools.product(range(3), range(3), range(2)):
            post[i1, i2, j] = (
                m["pi"][j]
                * _pdf(Y[n], m["my"][j], m["vy"][j])
                * m["Q"][0, i1, j]
                * _pdf(X[n, 0], m["mx"][i1], m["vx"][i1])
                * m["Q"][1, i2, j]
                * _pdf(X[n, 1], m["mx"][i2], m["vx"][i2])
            )
        z = sum(post.values())
        total += np.log(z)
        for (i1, i2, j), p in post.items():
            want_co[0, i1, j] += p / z / 4
            want_co[1, i2, j] += p / z / 4
        assert np.allclose(
            h[n], [sum(p for k, p in post.items() if k[2] == j) / z for j in range(2)]
        )
        assert np.allclose(
            g[n, 0], [sum(p for k, p in post.items() if k[0] == i) / z for i in range(3)]
        )
    assert np.allclose(co, want_co) and np.isclose(ll, total / 4)


def test_labelled_e_step_enumerates_eq12_with_w_observed(rng):
    """Brute force over every (z^(1), z^(2)) given w; a zero in Q stays an exact zero."""
    m = _model(rng, R=2)
    m["Q"][:, 2, 0] = 0.0  # z = 2 not reachable from w = 0
    m["Q"] /= m["Q"].sum(axis=1, keepdims=True)
    X, labels = rng.normal(size=(5, 2, 2)), np.array([0, 1, 1, 0, 1])
    log_gx = jm.log_gaussian_diag(X, m["mx"], m["vx"])
    g, h, co, ll = jm.e_step_labelled(log_gx, labels, m["Q"], m["pi"])
    want_co, total = np.zeros_like(co), 0.0
    for n, c in enumerate(labels):
        post = {
            (i1, i2): m["Q"][0, i1, c]
            * _pdf(X[n, 0], m["mx"][i1], m["vx"][i1])
            * m["Q"][1, i2, c]
            * _pdf(X[n, 1], m["mx"][i2], m["vx"][i2])
            for i1, i2 in itertools.product(range(3), range(3))
        }
        z = sum(post.values())
        total += np.log(m["pi"][c] * z)
        for (i1, i2), p in post.items():
            want_co[0, i1, c] += p / z / 5
            want_co[1, i2, c] += p / z / 5
        assert np.allclose(
            g[n, 1], [sum(p for k, p in post.items() if k[1] == i) / z for i in range(3)]
        )
    assert np.array_equal(h, np.eye(2)[labels])
    assert np.allclose(co, want_co) and np.isclose(ll, total / 5)
    assert np.all(g[labels == 0, :, 2] == 0.0) and np.all(co[:, 2, 0] == 0.0)


def test_m_steps_follow_eq16_to_21(rng):
    X = rng.normal(size=(7, 1, 2))
    g = rng.dirichlet(np.ones(3), size=(7, 1))
    h = rng.dirichlet(np.ones(2), size=7)
    means, variances = jm.m_step_gaussians(X, g, 1e-6)
    for i in range(3):
        w = g[:, 0, i]
        mu = (w[:, None] * X[:, 0]).sum(0) / w.sum()
        var = (w[:, None] * (X[:, 0] - mu) ** 2).sum(0) / w.sum()
        assert np.allclose(means[i], mu) and np.allclose(variances[i], var)
    Q, pi = jm.m_step_latent(g, h)
    for j in range(2):
        pi_j = np.mean([sum(g[n, 0, i] * h[n, j] for i in range(3)) for n in range(7)])
        assert np.isclose(pi[j], pi_j)
        for i in range(3):
            assert np.isclose(Q[0, i, j], np.mean(g[:, 0, i] * h[:, j]) / pi_j)


def test_variance_floor_holds(rng):
    X = np.zeros((5, 1, 3))  # every row identical
    _, variances = jm.m_step_gaussians(X, np.ones((5, 1, 2)) / 2, 1e-3)
    assert np.all(variances == 1e-3)


def test_example_weights_follow_eq7_and_eq9(rng):
    """c such that p(z|x) . c equals the double sums of eq. 7 and eq. 9."""
    m = _model(rng, kx=4, ky=3)
    psi = jm.psi(m["Q"], m["pi"])[0]
    pz_q = rng.dirichlet(np.ones(4), size=2)
    pz_x = rng.dirichlet(np.ones(4))
    cf = jm.counterfactual_weights(pz_q, psi)
    sf = jm.semifactual_weights(pz_q, psi)
    for q in range(2):
        f7 = sum(
            psi[i, j] * pz_x[i] * (1 - psi[i, j]) * pz_q[q, i] for i in range(4) for j in range(3)
        )
        # p(w_q = j | z_q != i) p(z_q != i | x_q) = sum_{k != i} psi[k, j] p(z_q = k | x_q)
        f9 = sum(
            psi[i, j] * pz_x[i] * sum(psi[k, j] * pz_q[q, k] for k in range(4) if k != i)
            for i in range(4)
            for j in range(3)
        )
        assert np.isclose(pz_x @ cf[q], f7) and np.isclose(pz_x @ sf[q], f9)


def test_labelled_counterfactual_weights_are_the_posterior_over_other_classes(rng):
    """With one-hot Psi (each lower component owned by one class) eq. 7 is zero; the
    weights are then p(z = i | x_q) renormalised over the other classes' components."""
    psi = np.eye(3)[[0, 0, 1, 2, 2]]  # five lower components, three classes
    assert np.allclose(jm.counterfactual_weights(rng.dirichlet(np.ones(5), 2), psi), 0)
    log_pz = np.log(rng.dirichlet(np.ones(5), size=2))
    query_w = np.array([0, 2])
    got = jm.labelled_counterfactual_weights(log_pz, psi, query_w)
    for q, own in enumerate(query_w):
        other = psi[:, own] == 0
        want = np.where(other, np.exp(log_pz[q]), 0.0)
        assert np.allclose(got[q], want / want.sum())
    # far from every other-class component (their p(z | x_q) underflows): no NaN
    far = jm.labelled_counterfactual_weights(
        np.array([[0.0, -1.0, -1500.0, -1600.0, -2000.0]]), psi, np.array([0])
    )
    assert np.allclose(far, [[0, 0, 1, 0, 0]])


def test_labelled_counterfactual_weights_of_no_other_class_are_zero():
    """Every lower component of the query's class (one class holds them all, or only
    one of K_y classes has any): no counterfactual component exists, and the
    normalisation over none was 0/0, NaN weights and a RuntimeWarning. Every c_i is 0
    (-inf as a log), and eq. 8's LP gives the uniform alpha."""
    psi = np.eye(3)[[0, 0, 0, 0]]  # four lower components, all of class 0 of three
    log_pz = np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]]))
    query_w = np.array([0, 0])
    assert not jm.labelled_counterfactual_weights(log_pz, psi, query_w).any()
    log_c = jm.log_labelled_counterfactual_weights(log_pz, psi, query_w)
    assert np.isneginf(log_c).all()
    np.testing.assert_allclose(jm.optimal_alpha(log_c[0], log=True), np.full(4, 0.25))
    # a query of another class beside them: the weights are as before, exactly
    mixed = jm.log_labelled_counterfactual_weights(log_pz, psi, np.array([1, 0]))
    np.testing.assert_allclose(np.exp(mixed[0]), [0.1, 0.2, 0.3, 0.4], rtol=1e-12)
    assert np.isneginf(mixed[1]).all()


def test_optimal_alpha_is_the_lp_vertex():
    c = np.array([0.1, 0.7, 0.3])
    alpha = jm.optimal_alpha(c)
    assert np.allclose(alpha, [0, 1, 0], atol=1e-9)


@pytest.mark.parametrize("scale", [1e-8, 1e-14, 1e-150])
def test_optimal_alpha_is_the_lp_vertex_for_coefficients_below_the_solvers_tolerance(scale):
    """Eq. 8's c are probabilities, all far below 1e-7 for a query almost surely in a
    component of one class; HiGHS took them for zero and gave component 0."""
    alpha = jm.optimal_alpha(scale * np.array([0.1, 0.7, 0.3]))
    assert np.allclose(alpha, [0, 1, 0], atol=1e-9)


def test_eq8_coefficients_that_underflow_keep_their_order_as_logs():
    """A query almost surely in component 0, whose class is certain (its c_0 is 0):
    the others' c_i, exp(-900) and exp(-800) times their Psi (1 - Psi), underflow to
    0 in float64, and the LP gave component 0, which eq. 8 gives nothing."""
    psi = np.array([[1.0, 0.0], [0.5, 0.5], [0.3, 0.7]])
    log_pz = np.array([[0.0, -900.0, -800.0]])
    assert not jm.counterfactual_weights(np.exp(log_pz), psi).any()
    log_c = jm.log_counterfactual_weights(log_pz, psi)
    assert np.isneginf(log_c[0, 0])
    np.testing.assert_allclose(log_c[0, 1:], [-900 + np.log(0.5), -800 + np.log(0.42)])
    np.testing.assert_allclose(jm.optimal_alpha(log_c[0], log=True), [0, 0, 1], atol=1e-9)


def _brute_log_semifactual(log_pz, psi):
    """log c_i of eq. 9, term by term: log sum_{j, k != i} Psi[i, j] Psi[k, j] p(z_q = k)."""
    from scipy.special import logsumexp

    kx, ky = psi.shape
    return np.array(
        [
            logsumexp(
                [
                    np.log(psi[i, j]) + np.log(psi[k, j]) + log_pz[k]
                    for j in range(ky)
                    for k in range(kx)
                    if k != i
                ]
            )
            for i in range(kx)
        ]
    )


def test_eq9_coefficients_survive_a_query_almost_surely_in_one_component(rng):
    """p(w_q = j | x_q) less component 0's share left nothing of the others' exp(-50)
    (c_0 was 0); exp(-900) and exp(-1000) underflow in float64 whatever the order."""
    psi = rng.dirichlet(np.ones(3), size=4)
    log_pz = np.array([0.0, -50.0, -900.0, -1000.0])
    want = _brute_log_semifactual(log_pz, psi)
    np.testing.assert_allclose(jm.log_semifactual_weights(log_pz[None], psi)[0], want, rtol=1e-12)
    linear = jm.semifactual_weights(np.exp(log_pz)[None], psi)[0]
    np.testing.assert_allclose(linear[:2], np.exp(want[:2]), rtol=1e-9)
    # and a query of no certain component, as the brute force of eq. 9 above checks
    log_pz = np.log(rng.dirichlet(np.ones(4)))
    np.testing.assert_allclose(
        jm.log_semifactual_weights(log_pz[None], psi)[0], _brute_log_semifactual(log_pz, psi)
    )
    # one lower component: no other to be in, every c_i is 0 (-inf), without a warning
    assert np.isneginf(jm.log_semifactual_weights(np.zeros((1, 1)), np.ones((1, 1)))).all()


def test_optimal_alpha_of_coefficients_all_zero_is_uniform():
    """Every alpha scores 0 there: the solver's first vertex, component 0, was
    returned for no reason; the uniform alpha favours none."""
    np.testing.assert_allclose(jm.optimal_alpha(np.zeros(4)), np.full(4, 0.25))
    np.testing.assert_allclose(jm.optimal_alpha(np.full(4, -np.inf), log=True), np.full(4, 0.25))


def test_entropy_matches_definition(rng):
    p = rng.dirichlet(np.ones(4), size=3)
    assert np.allclose(jm.entropy(np.log(p)), [-(r * np.log(r)).sum() for r in p])


@pytest.mark.parametrize("n", [1, 500])
def test_sample_gmm_draws_from_the_components(rng, n):
    weights = np.array([0.0, 1.0])
    means, variances = np.array([[0.0], [100.0]]), np.array([[1.0], [1e-4]])
    X, comps = jm.sample_gmm(weights, means, variances, n, rng)
    assert np.all(comps == 1) and np.all(np.abs(X - 100) < 0.1)


def test_localised_samples_follow_the_product_gaussian(rng):
    """With a center, component i is G(mu_i, v_i) G(center, s^2) renormalised: its
    precision is 1/v + 1/s^2 and its mean the precision-weighted mean of the two."""
    means, variances = np.array([[4.0, -2.0]]), np.array([[1.0, 0.25]])
    center, scale = np.array([0.0, 0.0]), 0.5
    X, comps = jm.sample_gmm(np.ones(1), means, variances, 20000, rng, center=center, scale=scale)
    var = 1.0 / (1.0 / variances[0] + 1.0 / scale**2)  # [0.2, 0.125]
    mean = var * means[0] / variances[0]  # [0.8, -1.0]
    assert np.all(comps == 0)
    assert np.allclose(X.mean(axis=0), mean, atol=0.02)
    assert np.allclose(X.var(axis=0), var, rtol=0.05)
    with pytest.raises(ValueError, match="a center needs a scale"):
        jm.sample_gmm(np.ones(1), means, variances, 5, rng, center=center)


def _spd(rng, k, d):
    """``k`` random symmetric positive definite ``d x d`` matrices."""
    A = rng.normal(size=(k, d, d))
    return A @ A.transpose(0, 2, 1) + 0.1 * np.eye(d)


def test_log_gaussian_full_matches_scipy(rng):
    X = rng.normal(size=(6, 2, 3))
    means, covariances = rng.normal(size=(4, 3)), _spd(rng, 4, 3)
    got = jm.log_gaussian(X, means, covariances)
    want = np.stack(
        [multivariate_normal(m, c).logpdf(X) for m, c in zip(means, covariances, strict=True)],
        axis=-1,
    )
    assert got.shape == (6, 2, 4) and np.allclose(got, want)
    # a diagonal matrix gives what the diagonal path gives
    variances = rng.uniform(0.1, 3, size=(4, 3))
    diagonal = np.stack([np.diag(v) for v in variances])
    assert np.allclose(jm.log_gaussian(X, means, diagonal), jm.log_gaussian(X, means, variances))


def test_log_gaussian_reads_kept_factors_as_it_computes_them(rng):
    # A fitted model keeps inverse_choleskys and passes them: the same densities, bit
    # for bit, and the ones passed are those read (not recomputed).
    X = rng.normal(size=(7, 3))
    means, covariances = rng.normal(size=(4, 3)), _spd(rng, 4, 3)
    factors = jm.inverse_choleskys(covariances)
    assert len(factors) == 4 and factors[0][0].shape == (3, 3)
    got = jm.log_gaussian(X, means, covariances, factors)
    np.testing.assert_array_equal(got, jm.log_gaussian(X, means, covariances))
    other = jm.inverse_choleskys(2.0 * covariances)
    np.testing.assert_array_equal(
        jm.log_gaussian(X, means, covariances, other), jm.log_gaussian(X, means, 2.0 * covariances)
    )


def test_full_m_step_is_the_weighted_covariance_plus_the_floor(rng):
    X = rng.normal(size=(40, 2, 3))  # two positions, pooled as in Sec. 3.3
    resp = rng.dirichlet(np.ones(2), size=(40, 2))
    means, covariances = jm.m_step_gaussians(X, resp, 0.05, full=True)
    rows, weights = X.reshape(-1, 3), resp.reshape(-1, 2)
    for k in range(2):
        want = np.cov(rows, rowvar=False, aweights=weights[:, k], bias=True)
        assert np.allclose(means[k], np.average(rows, axis=0, weights=weights[:, k]))
        assert np.allclose(covariances[k], want + 0.05 * np.eye(3))
    same_rows = np.zeros((5, 1, 3))
    _, floored = jm.m_step_gaussians(same_rows, np.ones((5, 1, 2)) / 2, 1e-3, full=True)
    assert np.allclose(floored, 1e-3 * np.eye(3))


def test_full_samples_have_the_component_moments(rng):
    covariance = np.array([[[2.0, 1.2], [1.2, 1.0]]])
    X, comps = jm.sample_gmm(np.ones(1), np.array([[3.0, -1.0]]), covariance, 40000, rng)
    assert np.all(comps == 0)
    assert np.allclose(X.mean(axis=0), [3.0, -1.0], atol=0.03)
    assert np.allclose(np.cov(X, rowvar=False), covariance[0], atol=0.05)


def test_localised_full_samples_follow_the_product_gaussian(rng):
    """G(mu, S) G(center, s^2 I) renormalised has precision S^-1 + I / s^2 and mean
    (S^-1 + I / s^2)^-1 (S^-1 mu + center / s^2)."""
    means, covariances = np.array([[4.0, -2.0]]), np.array([[[1.0, 0.4], [0.4, 0.5]]])
    center, scale = np.array([1.0, 0.0]), 0.5
    X, _ = jm.sample_gmm(np.ones(1), means, covariances, 40000, rng, center=center, scale=scale)
    precision = np.linalg.inv(covariances[0]) + np.eye(2) / scale**2
    cov = np.linalg.inv(precision)
    mean = cov @ (np.linalg.inv(covariances[0]) @ means[0] + center / scale**2)
    assert np.allclose(X.mean(axis=0), mean, atol=0.01)
    assert np.allclose(np.cov(X, rowvar=False), cov, atol=0.005)


@pytest.mark.parametrize("full", [False, True])
def test_log_gaussian_on_lines_is_the_density_along_each_line(rng, full):
    means = rng.normal(size=(4, 3))
    covariances = _spd(rng, 4, 3) if full else rng.uniform(0.1, 3, size=(4, 3))
    origin, directions = rng.normal(size=3), rng.normal(size=(5, 3))
    a, b, c = jm.log_gaussian_on_lines(origin, directions, means, covariances)
    for t in (0.0, 0.3, 1.0, 2.5):
        want = jm.log_gaussian(origin + t * directions, means, covariances)
        assert np.allclose(a + b * t + c * t**2, want)


@pytest.mark.parametrize("full", [False, True])
def test_gaussian_precisions_invert_the_covariances(rng, full):
    covariances = _spd(rng, 3, 4) if full else rng.uniform(0.1, 3, size=(3, 4))
    precisions, log_dets = jm.gaussian_precisions(covariances)
    dense = covariances if full else np.stack([np.diag(v) for v in covariances])
    want = np.linalg.inv(dense) if full else 1.0 / covariances
    assert np.allclose(precisions, want)
    assert np.allclose(log_dets, np.linalg.slogdet(dense)[1])


@pytest.mark.parametrize("full", [False, True])
def test_log_px_given_w_gradient_matches_finite_differences(rng, full):
    """The value is eq. 4's ``log p(x | w)``; the gradient its central difference."""
    k, d = 4, 3
    means = rng.normal(size=(k, d))
    covariances = _spd(rng, k, d) if full else rng.uniform(0.3, 3, size=(k, d))
    Q = rng.dirichlet(np.ones(2), size=k)
    Q[0] = [1.0, 0.0]  # a zero in Q, whose log is exactly -inf there
    gaussians = jm.gaussian_precisions(covariances)
    z = rng.normal(size=d)
    log_p, grad = jm.log_px_given_w_with_gradient(z, means, *gaussians, Q)
    want = jm.log_px_given_w(jm.log_gaussian(z[None, None], means, covariances), Q[None])
    assert np.allclose(log_p, want[0, 0])
    h = 1e-6
    for i in range(d):
        step = np.eye(d)[i] * h
        up = jm.log_px_given_w_with_gradient(z + step, means, *gaussians, Q)[0]
        down = jm.log_px_given_w_with_gradient(z - step, means, *gaussians, Q)[0]
        assert np.allclose(grad[:, i], (up - down) / (2 * h), atol=1e-5)


def test_whitening_is_pca_largest_variance_first(rng):
    """The components and scales are PCA's (scikit-learn's), largest variance first,
    and a direction a million times thinner than the widest is whitened, not floored
    (the floor is 1e-10 of the largest eigenvalue)."""
    from sklearn.decomposition import PCA

    basis = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    X = (rng.normal(size=(500, 4)) * [3.0, 1.0, 0.3, 3e-3]) @ basis.T + 5.0
    mean, components, scales = jm.fit_whitening(X)
    pca = PCA().fit(X)
    np.testing.assert_allclose(mean, pca.mean_)
    np.testing.assert_allclose(scales**2, pca.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(np.abs(components.T @ pca.components_.T), np.eye(4), atol=1e-8)
    Z = jm.whiten(X, mean, components, scales)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(4), atol=1e-8)


def test_whitening_of_constant_data_keeps_unit_scales():
    """Every eigenvalue 0 (no direction varies): the floor is 1, not 0, so whitening
    divides by 1 and maps the data to the origin."""
    X = np.full((20, 3), 4.0)
    mean, components, scales = jm.fit_whitening(X)
    np.testing.assert_array_equal(scales, np.ones(3))
    np.testing.assert_array_equal(jm.whiten(X, mean, components, scales), 0.0)
    np.testing.assert_allclose(jm.unwhiten(np.zeros((2, 3)), mean, components, scales), 4.0)


def test_log_gaussian_diag_never_exceeds_the_peak(rng):
    """Far from the origin the expanded |x - m|^2 / v cancels to a small negative number
    at x = m; a Gaussian's log density is at most its value at the mean."""
    means = rng.normal(size=(3, 4)) * 1e4 + 1e5
    variances = rng.uniform(1e-4, 1e-3, size=(3, 4))
    peak = -0.5 * (4 * np.log(2 * np.pi) + np.log(variances).sum(axis=1))
    got = jm.log_gaussian_diag(means, means, variances)
    assert np.all(got <= peak + 1e-9)
    np.testing.assert_allclose(np.diag(got), peak, atol=0.02)


def test_psi_of_a_component_with_no_mass_is_the_prior():
    Q = np.array([[[0.5, 0.2], [0.0, 0.0], [0.5, 0.8]]])  # z = 1 reachable from no w
    pi = np.array([0.3, 0.7])
    psi = jm.psi(Q, pi)[0]
    np.testing.assert_allclose(psi[1], pi)
    np.testing.assert_allclose(psi[0], Q[0, 0] * pi / (Q[0, 0] @ pi))


def test_paper_e_step_bound_sums_the_positions(rng):
    """With R positions the lower layer's log-likelihood is a sum over positions."""
    m = _model(rng, R=2)
    X, Y = rng.normal(size=(5, 2, 2)), rng.normal(size=(5, 2))
    log_gx = jm.log_gaussian_diag(X, m["mx"], m["vx"])
    log_gy = jm.log_gaussian_diag(Y, m["my"], m["vy"])
    _, _, bound = jm.e_step(log_gx, log_gy, m["Q"], m["pi"])
    want = 0.0
    for n in range(5):
        for r in range(2):
            lam = m["Q"][r] @ m["pi"]
            want += np.log(sum(lam[i] * _pdf(X[n, r], m["mx"][i], m["vx"][i]) for i in range(3)))
        want += np.log(sum(m["pi"][j] * _pdf(Y[n], m["my"][j], m["vy"][j]) for j in range(2)))
    assert np.isclose(bound, want / 5)


def test_diagonal_m_step_clips_variances_at_the_floor(rng):
    """Variances below the floor are raised to it; the others are the weighted
    variances as they are (the floor is not added)."""
    X = rng.normal(size=(60, 1, 3)) * [2.0, 1.0, 0.05]
    resp = rng.dirichlet(np.ones(2), size=(60, 1))
    _, variances = jm.m_step_gaussians(X, resp, 0.1)
    for k in range(2):
        w = resp[:, 0, k]
        want = np.cov(X[:, 0], rowvar=False, aweights=w, bias=True).diagonal()
        np.testing.assert_allclose(variances[k], np.maximum(want, 0.1))
    assert np.all(variances[:, 2] == 0.1) and np.all(variances[:, 0] > 1.0)


def test_latent_m_step_gives_an_empty_higher_component_a_uniform_column(rng):
    """A w component no row belongs to (a label absent from labels_y): pi_j = 0 and
    its column of Q is uniform over the K_x lower components, summing to 1."""
    g = rng.dirichlet(np.ones(4), size=(10, 1))
    h = np.eye(3)[rng.choice([0, 2], size=10)]  # w = 1 never
    Q, pi = jm.m_step_latent(g, h)
    assert pi[1] == 0 and np.isclose(pi.sum(), 1)
    np.testing.assert_allclose(Q[0, :, 1], 0.25)
    np.testing.assert_allclose(Q.sum(axis=1), 1.0)


def test_a_zero_in_q_or_pi_stays_a_zero_hundreds_of_nats_away(rng):
    """log 0 is floored at log(tiny), about -708 nats: a zero of Q or pi must stay
    (numerically) zero for a point 100 nats nearer the component it forbids, in the
    joint E-step and in p(w | x)."""
    Q = np.array([[[0.6, 0.2], [0.4, 0.3], [0.0, 0.5]]])  # z = 2 impossible under w = 0
    pi = np.array([0.5, 0.5])
    log_gx = np.array([[[-100.0, -100.0, 0.0]]])
    log_gy = np.zeros((1, 2))
    _, h, co, ll = jm.e_step_joint(log_gx, log_gy, Q, pi)
    post = {  # brute force over (z, w), in log space
        (i, j): np.log(pi[j]) + np.log(Q[0, i, j]) + log_gx[0, 0, i] if Q[0, i, j] > 0 else -np.inf
        for i, j in itertools.product(range(3), range(2))
    }
    total = np.logaddexp.reduce(list(post.values()))
    want_h = [
        np.logaddexp.reduce([p for k, p in post.items() if k[1] == j]) - total for j in range(2)
    ]
    np.testing.assert_allclose(np.log(h[0]), want_h, rtol=1e-9)
    assert co[0, 2, 0] < 1e-250 and np.isclose(ll, total)
    # p(w | x) with pi_0 = 0: w = 0 is impossible, whatever the densities
    log_pw = jm.log_proba_w_given_x(log_gx, Q, np.array([0.0, 1.0]))
    assert np.exp(log_pw[0, 0]) < 1e-250


# ---------------------------------------------------------------- audit L3
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_matches_scipy_on_a_non_square_array(rng, keepdims):
    # Non-square, so that a result of the wrong shape cannot broadcast into the right one.
    from scipy.special import logsumexp

    a = rng.normal(size=(3, 5)) * 50
    for axis in (0, 1, -1):
        got = jm.logsumexp(a, axis=axis, keepdims=keepdims)
        want = logsumexp(a, axis=axis, keepdims=keepdims)
        assert got.shape == want.shape and np.allclose(got, want)


def test_posterior_of_z_given_x_is_bayes_rule_per_position(rng):
    """p(z^(r) = i | x^(r)) = lambda^(r)_i G_i(x^(r)) / sum_k lambda^(r)_k G_k(x^(r)), with
    each position's own prior lambda^(r) = Q[r] pi."""
    m = _model(rng, R=2)
    X = rng.normal(size=(3, 2, 2))
    log_gx = jm.log_gaussian_diag(X, m["mx"], m["vx"])
    got = np.exp(jm.log_proba_z_given_x(log_gx, m["Q"], m["pi"]))
    for n, r in itertools.product(range(3), range(2)):
        prior = m["Q"][r] @ m["pi"]
        joint = prior * [_pdf(X[n, r], m["mx"][i], m["vx"][i]) for i in range(3)]
        assert np.allclose(got[n, r], joint / joint.sum())


def test_joint_density_multiplies_the_positions_as_eq10(rng):
    """p({x^(r)}, y) = sum_j pi_j G_j(y) prod_r sum_i G_i(x^(r)) Q[r, i, j]."""
    m = _model(rng, R=2)
    X, Y = rng.normal(size=(4, 2, 2)), rng.normal(size=(4, 2))
    log_gx = jm.log_gaussian_diag(X, m["mx"], m["vx"])
    log_gy = jm.log_gaussian_diag(Y, m["my"], m["vy"])
    got = jm.log_joint_density(log_gx, log_gy, m["Q"], m["pi"])
    for n in range(4):
        gx = [[_pdf(X[n, r], m["mx"][i], m["vx"][i]) for i in range(3)] for r in range(2)]
        want = sum(
            m["pi"][j]
            * _pdf(Y[n], m["my"][j], m["vy"][j])
            * np.prod([np.dot(gx[r], m["Q"][r, :, j]) for r in range(2)])
            for j in range(2)
        )
        assert np.isclose(got[n], np.log(want))
    # the same as the joint E-step's log-likelihood, the mean of these
    assert np.isclose(jm.e_step_joint(log_gx, log_gy, m["Q"], m["pi"])[3], got.mean())


@pytest.mark.parametrize("full", [False, True])
def test_m_step_keeps_a_component_without_responsibility_finite(rng, full):
    """A lower component no row belongs to gets a finite mean and a floored covariance
    (0 / 0 would make it NaN and every density after it)."""
    X = rng.normal(size=(10, 1, 3))
    resp = np.zeros((10, 1, 2))
    resp[:, 0, 0] = 1.0  # component 1 is empty
    means, covariances = jm.m_step_gaussians(X, resp, 1e-3, full=full)
    assert np.all(np.isfinite(means)) and np.all(np.isfinite(covariances))
    np.testing.assert_allclose(means[0], X[:, 0].mean(axis=0))
    floor = 1e-3 * np.eye(3) if full else np.full(3, 1e-3)
    np.testing.assert_allclose(covariances[1], floor, atol=1e-12)


def test_px_given_w_gradient_keeps_zeros_of_q_exact_far_from_the_class():
    """x sits on component 0 (class 0) and 1250 nats from component 1 (class 1's only
    one). log p(x | w = 1) is component 1's log density, and its gradient pulls towards
    component 1: a floored log Q[0, 1] (-708) would leak component 0 into class 1."""
    means, variances = np.array([[0.0], [50.0]]), np.ones((2, 1))
    Q = np.eye(2)
    x = np.array([0.0])
    log_p, grad = jm.log_px_given_w_with_gradient(x, means, *jm.gaussian_precisions(variances), Q)
    log_g = jm.log_gaussian(x[None], means, variances)[0]
    np.testing.assert_allclose(log_p, log_g, rtol=1e-12)
    np.testing.assert_allclose(grad[:, 0], [0.0, 50.0])  # -(x - mu) / var per class


def test_whitening_floor_is_relative_so_tiny_data_is_still_whitened(rng):
    """Data in units of 1e-6 (eigenvalues about 1e-12): the floor is 1e-10 of the largest
    eigenvalue, not 1e-10 absolute, so these directions are whitened, not floored."""
    X = (rng.normal(size=(300, 3)) @ rng.normal(size=(3, 3))) * 1e-6
    params = jm.fit_whitening(X)
    Z = jm.whiten(X, *params)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(3), atol=1e-8)


def test_sample_gmm_draws_components_in_proportion_to_unnormalised_weights(rng):
    from scipy.stats import binomtest

    weights = np.array([1.0, 3.0])  # counts, say: 1/4 and 3/4
    means, variances = np.array([[0.0], [10.0]]), np.ones((2, 1))
    X, comps = jm.sample_gmm(weights, means, variances, 4000, rng)
    assert binomtest(int((comps == 1).sum()), comps.size, 0.75).pvalue > 0.01
    assert np.all(np.abs(X[comps == 1] - 10) < 6) and np.all(np.abs(X[comps == 0]) < 6)


@pytest.mark.parametrize("full", [False, True])
def test_localised_samples_of_two_components_each_follow_their_product(rng, full):
    """Every component, not only the first, is multiplied by G(center, s^2 I); a center
    off the origin and a scale other than 1 weight it by 1 / s^2 in the mean."""
    means = np.array([[4.0, -2.0], [-3.0, 1.0]])
    covariances = np.array([[[1.0, 0.4], [0.4, 0.5]], [[0.6, -0.2], [-0.2, 2.0]]])
    if not full:
        covariances = np.stack([np.diag(c) for c in covariances])
    center, scale = np.array([1.0, -1.0]), 0.7
    X, comps = jm.sample_gmm(np.ones(2), means, covariances, 40000, rng, center=center, scale=scale)
    for k in range(2):
        dense = covariances[k] if full else np.diag(covariances[k])
        precision = np.linalg.inv(dense) + np.eye(2) / scale**2
        cov = np.linalg.inv(precision)
        mean = cov @ (np.linalg.inv(dense) @ means[k] + center / scale**2)
        rows = X[comps == k]
        assert np.allclose(rows.mean(axis=0), mean, atol=0.015)
        assert np.allclose(np.cov(rows, rowvar=False), cov, atol=0.01)


def test_posterior_of_z_given_y_uses_each_positions_own_q(rng):
    """p(z^(r) = i | y) = sum_j Q[r, i, j] pi_j G_j(y) / sum_k sum_j Q[r, k, j] pi_j G_j(y)."""
    m = _model(rng, R=2)
    Y = rng.normal(size=(3, 2))
    log_gy = jm.log_gaussian_diag(Y, m["my"], m["vy"])
    got = np.exp(jm.log_proba_z_given_y(log_gy, m["Q"], m["pi"]))
    assert got.shape == (3, 2, 3)
    for n, r in itertools.product(range(3), range(2)):
        gy = np.array([_pdf(Y[n], m["my"][j], m["vy"][j]) for j in range(2)])
        joint = m["Q"][r] @ (m["pi"] * gy)
        assert np.allclose(got[n, r], joint / joint.sum())
