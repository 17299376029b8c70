"""Each example score of Sec. 3.2 (eq. 4-9) against a brute-force evaluation on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from unboxed.surrogates import JGMM
from unboxed.surrogates import _jgmm_examples as jx


@pytest.fixture(scope="module")
def tiny():
    """A JGMM with K_x = 3, K_y = 2 on 2-D x and 1-D y, and whitened points to score."""
    rng = np.random.default_rng(0)
    n = 300
    w = rng.integers(0, 2, size=n)
    z = np.where(w == 0, rng.integers(0, 2, size=n), rng.integers(1, 3, size=n))
    X = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])[z] + rng.normal(size=(n, 2))
    Y = (w * 4.0)[:, None] + rng.normal(size=(n, 1))
    model = JGMM(3, 2, random_state=0).fit(X, Y)
    return model, model.transform_x(X[:12])


def _brute(model, z):
    """p(x | w = j), p(z = i | x) and p(w = j | x) by the definitions, point by point."""
    G = np.array(
        [multivariate_normal(model.means_x_[i], np.diag(model.vars_x_[i])).pdf(z) for i in range(3)]
    )
    Q, pi = model.Q_, model.pi_
    px_w = np.array([sum(Q[i, j] * G[i] for i in range(3)) for j in range(2)])
    lam = Q @ pi
    pz = lam * G / (lam @ G)
    pw = px_w * pi / (px_w @ pi)
    return px_w, pz, pw


def test_prototype_criticism_and_influence_scores(tiny):
    model, Z = tiny
    proto, crit, infl = (
        jx.prototype_scores(model, Z),
        jx.criticism_scores(model, Z),
        jx.influence_scores(model, Z),
    )
    for n, z in enumerate(Z):
        px_w, _, pw = _brute(model, z)
        assert np.allclose(np.exp(proto[n]), px_w)  # eq. 4
        assert np.isclose(crit[n], -np.log(px_w.max()))  # eq. 5, as -log max_j
        assert np.isclose(infl[n], -(pw * np.log(pw)).sum())  # eq. 6
    # eq. 5's 1 - max_j p(x | w = j) ranks the points exactly as the stored score does
    literal = np.array([1 - _brute(model, z)[0].max() for z in Z])
    assert np.array_equal(np.argsort(-literal, kind="stable"), np.argsort(-crit, kind="stable"))


@pytest.mark.parametrize("kind", ["counterfactual", "semifactual"])
def test_local_scores_follow_eq7_and_eq9(tiny, kind):
    model, Z = tiny
    psi = model.psi_
    zq = Z[:2]
    found, alpha = jx.local_examples(model, zq, kind, 5, source="mined", Z_pool=Z, select="score")
    for q in range(2):
        _, pz_q, _ = _brute(model, zq[q])
        rows = np.flatnonzero(found.groups == q)
        for r in rows:
            _, pz, _ = _brute(model, found.Z[r])
            if kind == "counterfactual":  # eq. 7
                f = sum(
                    psi[i, j] * pz[i] * (1 - psi[i, j]) * pz_q[i]
                    for i in range(3)
                    for j in range(2)
                )
                c = pz_q * (psi * (1 - psi)).sum(axis=1)
            else:  # eq. 9
                f = sum(
                    psi[i, j] * pz[i] * sum(psi[k, j] * pz_q[k] for k in range(3) if k != i)
                    for i in range(3)
                    for j in range(2)
                )
                c = np.array(
                    [
                        sum(
                            psi[i, j] * sum(psi[k, j] * pz_q[k] for k in range(3) if k != i)
                            for j in range(2)
                        )
                        for i in range(3)
                    ]
                )
            assert np.isclose(found.scores[r], f)
        # eq. 8: the LP optimum puts all mass on the largest coefficient
        assert np.isclose(alpha[q][np.argmax(c)], 1.0)
        # mined examples are the pool rows of highest score, best first
        assert np.all(np.diff(found.scores[rows]) <= 1e-15)


def test_mined_prototypes_are_the_top_rows(tiny):
    model, Z = tiny
    found = jx.mine_prototypes(model, Z, 3)
    scores = jx.prototype_scores(model, Z)
    for j in range(2):
        rows = found.indices[found.groups == j]
        assert set(rows) == set(np.argsort(-scores[:, j])[:3])


def test_generated_examples_come_from_the_model(tiny):
    model, _ = tiny
    rng = np.random.default_rng(0)
    protos = jx.generate_prototypes(model, 4, rng, n_candidates=50)
    assert protos.Z.shape == (8, 2) and np.all(protos.indices == -1)
    for j in range(2):  # sampled components have Q[i, j] > 0
        assert np.all(model.Q_[protos.components[protos.groups == j], j] > 0)
    infl = jx.generate_influentials(model, 5, rng, n_per_component=20)
    assert np.all(np.diff(infl.scores) <= 0)
    cf, alpha = jx.local_examples(
        model, protos.Z[:1], "counterfactual", 5, source="generated", rng=rng, select="score"
    )
    assert np.all(alpha[0][cf.components] > 0)  # drawn from the GMM under alpha


def test_radius_rejects_far_candidates(tiny):
    model, Z = tiny
    found, _ = jx.local_examples(
        model, Z[:3], "semifactual", 50, source="mined", Z_pool=Z, radius=0.8, select="score"
    )
    for q in range(3):
        assert np.all(jx.rms_distance(found.Z[found.groups == q], Z[q]) <= 0.8)


def test_bad_select_is_rejected(tiny):
    model, Z = tiny
    with pytest.raises(ValueError, match="select"):
        jx.local_examples(model, Z[:1], "counterfactual", 1, source="mined", Z_pool=Z, select="x")


def test_local_sampler_finds_candidates_where_the_gmm_sampler_finds_none(tiny):
    """At a radius far below a component's width, plain draws are all rejected; the
    localised ones land inside it."""
    model, Z = tiny
    kwargs = dict(source="generated", radius=0.05, select="score", n_samples=200)
    plain, _ = jx.local_examples(
        model, Z[:3], "counterfactual", 5, rng=np.random.default_rng(0), **kwargs
    )
    local, _ = jx.local_examples(
        model, Z[:3], "counterfactual", 5, rng=np.random.default_rng(0), sampler="local", **kwargs
    )
    assert len(plain.Z) == 0
    assert np.bincount(local.groups, minlength=3).tolist() == [5, 5, 5]
    for q in range(3):
        assert np.all(jx.rms_distance(local.Z[local.groups == q], Z[q]) <= 0.05)


def test_local_sampler_needs_a_radius(tiny):
    model, Z = tiny
    with pytest.raises(ValueError, match="radius"):
        jx.local_examples(
            model,
            Z[:1],
            "counterfactual",
            1,
            source="generated",
            rng=np.random.default_rng(0),
            sampler="local",
        )
    with pytest.raises(ValueError, match="sampler"):
        jx.local_examples(model, Z[:1], "counterfactual", 1, source="mined", Z_pool=Z, sampler="x")


@pytest.mark.parametrize("kind", ["counterfactual", "semifactual"])
def test_boundary_points_are_the_first_change_of_the_proxys_class(tiny, kind):
    """Against a walk of 4,000 steps along each line: the point is the first step past
    the change (counterfactual) or the last before it (semi-factual)."""
    model, Z = tiny
    to_class = np.arange(2)
    zq, targets = Z[0], Z[1:]
    own = jx._proxy_w(model, zq[None])[0]
    points, rows = jx.boundary_points(model, zq, targets, kind, to_class, own)
    steps = np.linspace(0, 1, 4001)[1:]
    first_change = {}
    for r, target in enumerate(targets):
        path = zq + steps[:, None] * (target - zq)
        changed = jx._proxy_w(model, path) != own
        first_change[r] = steps[changed.argmax()] if changed.any() else None
    crossing = [r for r, t in first_change.items() if t is not None]
    assert 0 < len(crossing) < len(targets)  # the pool has rows of both kinds
    want_rows = crossing if kind == "counterfactual" else list(range(len(targets)))
    assert rows.tolist() == want_rows
    for point, r in zip(points, rows, strict=True):
        t = np.linalg.norm(point - zq) / np.linalg.norm(targets[r] - zq)
        assert np.allclose(point, zq + t * (targets[r] - zq))  # on the line to the target
        if first_change[r] is None:
            assert np.isclose(t, 1.0)
        else:
            assert abs(t - first_change[r]) <= 1 / 4000
        changed = jx._proxy_w(model, point[None])[0] != own
        assert changed == (kind == "counterfactual")


def test_boundary_sampler_gives_nearer_counterfactuals(tiny):
    """Every candidate is past the proxy's boundary, and the candidates lie nearer the
    query than the plain draws of the same seed do."""
    model, Z = tiny
    kwargs = dict(source="generated", select="proxy", n_samples=200)
    found = {
        sampler: jx.local_examples(
            model,
            Z[:3],
            "counterfactual",
            5,
            rng=np.random.default_rng(0),
            sampler=sampler,
            **kwargs,
        )[0]
        for sampler in ("gmm", "boundary")
    }
    near = found["boundary"]
    assert len(near.Z) > 0
    own = jx._proxy_w(model, Z[:3])
    assert np.all(jx._proxy_w(model, near.Z) != own[near.groups])
    for q in range(3):
        d_near = jx.rms_distance(near.Z[near.groups == q], Z[q])
        d_plain = jx.rms_distance(found["gmm"].Z[found["gmm"].groups == q], Z[q])
        assert d_near.mean() < d_plain.mean()
