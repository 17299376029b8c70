"""The DMM-MEN chain driver: which states become draws, and the summary of the chains."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from unboxed.surrogates import _dmm_chain as chain_module
from unboxed.surrogates._dmm_chain import ChainSettings, Draws, summarise
from unboxed.surrogates._dmm_math import Prior, initial_state
from unboxed.surrogates._mcmc import effective_sample_size, split_rhat


def _regression(n=120, p=3, seed=0):
    rng = np.random.default_rng(seed)
    X = np.c_[np.ones(n), rng.normal(size=(n, p - 1))]
    y = X @ np.linspace(1.0, -1.0, p) + 0.3 * rng.normal(size=n)
    return X, y - y.mean()


def test_the_draws_are_the_states_entering_the_kept_sweeps(monkeypatch):
    X, y = _regression()
    settings = ChainSettings(3, 2, 20, 7, 3, 1, Prior())  # keeps sweeps 7, 10, 13, 16, 19
    entering, log_liks = [], []
    real = chain_module.sweep

    def recording(X, y, state, prior, rng, **kwargs):
        entering.append(state)
        new, log_lik = real(X, y, state, prior, rng, **kwargs)
        log_liks.append(log_lik)
        return new, log_lik

    monkeypatch.setattr(chain_module, "sweep", recording)
    draws, _ = chain_module.run_chain(X, y, settings, np.random.default_rng(1))
    assert len(entering) == 20
    kept = [7, 10, 13, 16, 19]
    assert draws.count == len(kept) == draws.alpha.size
    np.testing.assert_array_equal(draws.alpha, [entering[i].alpha for i in kept])
    np.testing.assert_array_equal(draws.z, [entering[i].z for i in kept])
    np.testing.assert_array_equal(
        draws.beta, np.stack([entering[i].beta for i in kept]).astype(np.float32)
    )
    np.testing.assert_array_equal(draws.log_lik, [log_liks[i] for i in kept])


def _draws(n_draws, n, J, p, rng):
    d = Draws(n_draws, n, J, p)
    d.alpha[:] = 1.0 + 0.1 * rng.random(n_draws)
    d.log_lik[:] = rng.normal(size=n_draws)
    d.sigma2[:] = 1.0
    d.count = n_draws
    return d


def test_rhat_is_judged_on_the_coefficients_mapped_back():
    """Chains that agree on each score's coefficient but not on their difference."""
    rng = np.random.default_rng(0)
    n_draws, J = 400, 2
    settings = ChainSettings(J, 1, 2 * n_draws, 0, 1, 2, Prior())
    chains = []
    for offset in (-0.1, 0.1):
        draws = _draws(n_draws, 5, J, 3, rng)
        draws.log_pi[:] = np.log([0.6, 0.4])
        shared = rng.normal(size=(n_draws, J))  # noise common to both scores
        own = 0.02 * rng.normal(size=(n_draws, J, 2))
        draws.beta[:, :, 1] = shared + offset + own[..., 0]
        draws.beta[:, :, 2] = shared - offset + own[..., 1]
        chains.append(draws)
    on_scores = summarise(chains, settings)
    assert on_scores.rhat < 1.05
    mapped = summarise(chains, settings, basis=np.array([[0.5], [-0.5]]))
    assert mapped.rhat > 2.0
    np.testing.assert_allclose(mapped.coef, on_scores.coef)  # summaries stay on the scores


def test_summary_of_many_light_components_monitors_the_heaviest():
    # With 25 components of 4% each none is "occupied" (5%); the summary used to fail
    # on an empty group after all the sampling was done.
    rng = np.random.default_rng(0)
    n_draws, J = 8, 25
    draws = _draws(n_draws, 50, J, 2, rng)
    draws.log_pi[:] = np.log(np.full(J, 1 / J))
    draws.log_pi[:, 3] += 1e-3  # the heaviest, by a hair
    draws.beta[:] = rng.normal(size=draws.beta.shape)
    draws.z[:] = rng.integers(0, J, size=draws.z.shape)
    posterior = summarise([draws], ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 1, Prior()))
    assert np.isfinite(posterior.rhat) and posterior.rhat_groups.shape == (6,)


def test_prior_of_component_is_the_same_whatever_the_chains_call_the_priors():
    # Components 0, 1 share one prior and 2 has another in both chains, but the chains
    # number the three priors differently; the modal label mixed them up.
    rng = np.random.default_rng(0)
    n_draws, J = 10, 3
    chains = []
    for labels in ([2, 2, 0], [1, 1, 2]):
        draws = _draws(n_draws, 30, J, 2, rng)
        draws.log_pi[:] = np.log([0.5, 0.3, 0.2])
        draws.beta[:] = rng.normal(size=draws.beta.shape)
        draws.z[:] = np.arange(30) % J
        draws.c[:] = labels
        chains.append(draws)
    posterior = summarise(chains, ChainSettings(J, 3, 2 * n_draws, n_draws, 1, 2, Prior()))
    assert posterior.prior_of_component.tolist() == [0, 0, 1]


def test_summary_follows_each_chains_labels():
    """The second chain calls the components by other labels: every per-component
    summary (weights, coefficients, variances, lambdas) is relabelled alike."""
    rng = np.random.default_rng(0)
    n_draws, n, J = 20, 60, 3
    weights = np.array([0.5, 0.3, 0.2])
    beta = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    sigma2 = np.array([0.5, 1.0, 2.0])
    lambdas = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    truth = np.arange(n) % J
    chains = []
    for perm in (np.array([0, 1, 2]), np.array([2, 0, 1])):  # component j is called perm[j]
        d = _draws(n_draws, n, J, 2, rng)
        d.log_pi[:, perm] = np.log(weights)
        d.beta[:, perm] = beta + 0.01 * rng.normal(size=(n_draws, J, 2))
        d.sigma2[:, perm] = sigma2
        d.lambdas[:, perm] = lambdas
        d.c[:, perm] = [0, 1, 1]
        d.z[:] = perm[truth]
        chains.append(d)
    post = summarise(chains, ChainSettings(J, 2, 2 * n_draws, n_draws, 1, 2, Prior()))
    order = np.argsort(-post.weights)
    np.testing.assert_allclose(post.weights[order], weights)
    np.testing.assert_allclose(post.coef[order], beta, atol=0.01)
    np.testing.assert_allclose(post.sigma2[order], sigma2)
    np.testing.assert_allclose(post.lambdas[order], lambdas)


def test_draws_record_lambda1_then_lambda2_of_each_components_prior():
    X, y = _regression()
    state = initial_state(X, y, 3, 2, Prior(), np.random.default_rng(0))
    state = dataclasses.replace(
        state, lam1=np.array([0.1, 0.2]), lam2=np.array([5.0, 7.0]), c=np.array([1, 0, 1])
    )
    d = Draws(1, X.shape[0], 3, X.shape[1])
    d.record(state, -1.0)
    np.testing.assert_array_equal(d.lambdas[0], [[0.2, 7.0], [0.1, 5.0], [0.2, 7.0]])


def _fixed_allocation_chains(beta_of_chain, log_pi, n_draws, n=40, rng=None):
    """Chains whose allocation never changes (relabelling is the identity) and leaves
    no component empty (an empty one's coefficients are summarised as 0)."""
    J = log_pi.shape[-1]
    chains = []
    for k, beta in enumerate(beta_of_chain):
        d = _draws(n_draws, n, J, beta.shape[-1], rng)
        d.log_pi[:] = log_pi[k] if log_pi.ndim == 3 else log_pi
        d.beta[:] = beta
        d.z[:] = np.arange(n) % J
        chains.append(d)
    return chains


def test_predictive_coef_is_the_posterior_mean_of_the_weighted_coefficients():
    rng = np.random.default_rng(0)
    n_draws, J = 40, 2
    s = np.where(np.arange(n_draws) % 2 == 0, 1.0, -1.0)  # weight and beta move together
    w0 = 0.5 + 0.3 * s
    log_pi = np.log(np.stack([w0, 1 - w0], axis=1))[None]
    beta = np.zeros((n_draws, J, 2))
    beta[:, 0, 1] = 1.0 + s
    chains = _fixed_allocation_chains([beta], log_pi, n_draws, rng=rng)
    post = summarise(chains, ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 1, Prior()))
    # E[w0 * beta0] = 0.8, not E[w0] E[beta0] = 0.5.
    np.testing.assert_allclose(post.predictive_coef, [0.0, 0.8], atol=1e-6)


def test_ess_is_the_smallest_over_the_monitored_quantities():
    rng = np.random.default_rng(0)
    n_draws, J, rho = 1000, 2, 0.9
    betas = []
    for _ in range(2):
        beta = 1.0 + 0.1 * rng.normal(size=(n_draws, J, 3))
        ar = np.empty(n_draws)
        ar[0] = rng.normal()
        for i in range(1, n_draws):
            ar[i] = rho * ar[i - 1] + np.sqrt(1 - rho**2) * rng.normal()
        beta[:, 0, 2] = 1.0 + 0.1 * ar  # one slowly mixing coefficient
        betas.append(beta)
    chains = _fixed_allocation_chains(betas, np.log([0.6, 0.4]), n_draws, rng=rng)
    post = summarise(chains, ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 2, Prior()))
    expected = 2 * n_draws * (1 - rho) / (1 + rho)  # 105
    assert 0.6 * expected < post.ess < 1.5 * expected
    iid = effective_sample_size(np.stack(betas)[:, :, 1, :1])[0]
    assert iid > 1000 and post.ess < iid / 5


def _opposite_sign_betas(n_draws, rng):
    """Two chains' draws of 3 components x 2 coefficients, near 1 except the third
    component's, near +5 in the first chain and -5 in the second."""
    betas = []
    for sign in (1.0, -1.0):
        beta = 1.0 + 0.05 * rng.normal(size=(n_draws, 3, 2))
        beta[:, 2] = sign * 5.0 + 0.05 * rng.normal(size=(n_draws, 2))
        betas.append(beta)
    return betas


def test_insight_monitored_by_rhat_is_the_magnitude():
    """A light component whose coefficient has opposite signs in the two chains: the
    insight sum_j pi_j |beta_j| is the same in both, so the chains count as mixed."""
    rng = np.random.default_rng(0)
    n_draws, J = 400, 3
    betas = _opposite_sign_betas(n_draws, rng)
    chains = _fixed_allocation_chains(betas, np.log([0.6, 0.38, 0.02]), n_draws, rng=rng)
    post = summarise(chains, ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 2, Prior()))
    assert post.rhat_groups[1] < 1.05 and post.rhat < 1.05


# ---------------------------------------------------------------- audit F2
def test_collapsed_and_split_merge_sweeps_are_every_kth(monkeypatch):
    """``collapse_every=3``: the 3rd, 6th, ... sweeps; ``split_merge_every=2``: the 2nd,
    4th, ... (counting from 1), in the chain as in its pilots."""
    X, y = _regression(n=60)
    settings = ChainSettings(
        3, 2, 8, 4, 1, 1, Prior(), n_init=2, init_sweeps=6, collapse_every=3, split_merge_every=2
    )
    calls = []
    real = chain_module.sweep

    def recording(X, y, state, prior, rng, **kwargs):
        calls.append((kwargs["collapsed"], kwargs["split"]))
        return real(X, y, state, prior, rng, **kwargs)

    monkeypatch.setattr(chain_module, "sweep", recording)
    chain_module.run_chain(X, y, settings, np.random.default_rng(0))
    pilot = [(i % 3 == 2, i % 2 == 1) for i in range(6)]
    chain = [(i % 3 == 2, i % 2 == 1) for i in range(8)]
    assert calls == pilot + pilot + chain


def test_rhat_is_the_worst_over_coefficients_and_insight_only():
    """alpha stuck at another value in each chain: its group says so, but the
    documented rhat covers what the explanations are built from."""
    rng = np.random.default_rng(0)
    n_draws, J = 200, 2
    betas = [1.0 + 0.1 * rng.normal(size=(n_draws, J, 2)) for _ in range(2)]
    chains = _fixed_allocation_chains(betas, np.log([0.6, 0.4]), n_draws, rng=rng)
    chains[0].alpha[:] = 1.0 + 0.01 * rng.random(n_draws)
    chains[1].alpha[:] = 5.0 + 0.01 * rng.random(n_draws)
    post = summarise(chains, ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 2, Prior()))
    assert post.rhat_groups[3] > 10  # alpha
    assert post.rhat < 1.1 and post.rhat == pytest.approx(post.rhat_groups[:2].max())


def test_weight_and_variance_diagnostics_follow_each_chains_labels():
    """Two chains with the same weights and variances under other labels have mixed."""
    rng = np.random.default_rng(0)
    n_draws, n, J = 20, 60, 3
    truth = np.arange(n) % J
    chains = []
    for perm in (np.array([0, 1, 2]), np.array([2, 0, 1])):
        d = _draws(n_draws, n, J, 2, rng)
        d.log_pi[:, perm] = np.log([0.5, 0.3, 0.2])
        d.sigma2[:, perm] = [0.5, 1.0, 2.0]
        d.beta[:] = rng.normal(size=d.beta.shape)
        d.z[:] = perm[truth]
        chains.append(d)
    post = summarise(chains, ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 2, Prior()))
    groups = list(chain_module.RHAT_GROUPS)
    weight, variance = groups.index("log_weight"), groups.index("log_sigma2")
    assert post.rhat_groups[weight] == 1.0  # constant, and equal once relabelled
    assert post.rhat_groups[variance] == 1.0


def test_acceptance_is_each_moves_rate_over_the_chains(monkeypatch):
    X, y = _regression(n=40)
    settings = ChainSettings(2, 1, 8, 4, 1, 2, Prior())
    counts = iter([([3, 1, 2, 0], [6, 4, 4, 0]), ([1, 1, 0, 0], [2, 4, 4, 0])])
    real = chain_module.run_chain

    def fixed_counts(*args, **kwargs):
        draws, state = real(*args, **kwargs)
        accepted, proposed = next(counts)
        counted = {"accepted": np.array(accepted), "proposed": np.array(proposed)}
        return draws, dataclasses.replace(state, **counted)

    monkeypatch.setattr(chain_module, "run_chain", fixed_counts)
    rngs = [np.random.default_rng(i) for i in range(2)]
    post = chain_module.sample_posterior(X, y, settings, rngs)
    np.testing.assert_allclose(post.acceptance, [4 / 8, 2 / 8, 2 / 8, 0.0])


# ---------------------------------------------------------------- audit K3
def test_periodic_saves_and_a_chain_saved_at_its_last_sweep(tmp_path, monkeypatch):
    X, y = _regression(n=40)
    settings = ChainSettings(2, 1, 8, 2, 1, 1, Prior())
    path, fingerprint = tmp_path / "c.npz", {"seed": 1}
    saved = []
    real_save = chain_module.Checkpoint.save

    def save(self):
        saved.append(self.running["sweep"])
        real_save(self)

    monkeypatch.setattr(chain_module.Checkpoint, "save", save)
    checkpoint = chain_module.Checkpoint(path, fingerprint)
    draws, state = chain_module.run_chain(
        X, y, settings, np.random.default_rng(1), checkpoint=checkpoint, checkpoint_every=4
    )
    assert saved == [4, 8]  # after every 4th sweep, counting from 1

    def no_sweep(*args, **kwargs):
        raise AssertionError("a finished chain was swept again")

    # Killed after its last periodic save, before it was filed as finished: it
    # resumes to the same draws and state without a sweep.
    monkeypatch.setattr(chain_module, "sweep", no_sweep)
    again = chain_module.Checkpoint(path, fingerprint)
    assert again.resume("chain") is not None
    with pytest.raises(ValueError, match="its running chain is 'chain', but this fit goes on"):
        again.resume("chain1")  # never started over in its place
    assert again.units == {}  # a running chain is not a finished unit
    resumed, last = chain_module.run_chain(
        X, y, settings, np.random.default_rng(99), checkpoint=again, checkpoint_every=4
    )
    assert resumed.count == draws.count == 6
    for name in Draws.FIELDS:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(draws, name))
    for name, value in state.arrays().items():
        np.testing.assert_array_equal(last.arrays()[name], value)


def test_a_single_components_chain_resumes_from_a_concentration_of_zero(tmp_path, monkeypatch):
    """With one component alpha weighs no stick, and a small alpha_shape draws it as an
    exact 0 (Gamma(0.001) underflows about half the time): a state the sampler goes on
    from, which the checkpoint's range check refused as damaged."""
    from tests.helpers import interrupt_at

    X, y = _regression(n=40)
    settings = ChainSettings(1, 1, 8, 2, 1, 1, Prior(alpha_shape=1e-3))
    whole, _ = chain_module.run_chain(X, y, settings, np.random.default_rng(0))
    path, fingerprint = tmp_path / "c.npz", {"seed": 0}
    interrupt_at(monkeypatch, chain_module, "sweep", stop=3)  # in sweep 2, after a save
    with pytest.raises(KeyboardInterrupt):
        chain_module.run_chain(
            X,
            y,
            settings,
            np.random.default_rng(0),
            checkpoint=chain_module.Checkpoint(path, fingerprint),
            checkpoint_every=2,
        )
    again = chain_module.Checkpoint(path, fingerprint)
    assert again.running["sweep"] == 2 and again.running["state"]["alpha"] == 0.0
    resumed, _ = chain_module.run_chain(
        X, y, settings, np.random.default_rng(99), checkpoint=again, checkpoint_every=2
    )
    for name in Draws.FIELDS:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name))


def test_chains_of_unequal_length_are_an_error():
    rng = np.random.default_rng(0)
    chains = [_draws(6, 10, 2, 2, rng), _draws(6, 10, 2, 2, rng)]
    chains[1].count = 5
    with pytest.raises(ValueError, match=r"unequal length: \[6, 5\]"):
        summarise(chains, ChainSettings(2, 1, 12, 6, 1, 2, Prior()))


def test_a_fit_whose_chains_are_all_checkpointed_gives_the_same_posterior(tmp_path):
    X, y = _regression(n=40)
    settings = ChainSettings(2, 1, 10, 4, 1, 2, Prior())
    path, fingerprint = tmp_path / "c.npz", {"seed": 2}

    def fit():
        rngs = [np.random.default_rng(i) for i in range(2)]
        checkpoint = chain_module.Checkpoint(path, fingerprint)
        return chain_module.sample_posterior(
            X, y, settings, rngs, checkpoint=checkpoint, checkpoint_every=5
        )

    first = fit()
    assert first.acceptance[0] > 0  # sigma^2's MH moves were counted
    # Finished chains are filed as units; no running chain is left behind.
    reread = chain_module.Checkpoint(path, fingerprint)
    assert reread.running is None and set(reread.units) == {"chain0", "chain1"}
    again = fit()  # every chain read back from the checkpoint, none run
    for name, value in first.arrays().items():
        np.testing.assert_array_equal(again.arrays()[name], value)


def test_rhat_and_ess_are_those_of_the_occupied_coefficients_and_the_insight():
    """Against the documented recipe computed here: R-hat and ESS over the relabelled
    coefficients of components with mean weight >= 5% and over the insight
    sum_j pi_j |beta_j| of each draw, with that draw's own weights."""
    rng = np.random.default_rng(0)
    n_draws, J, p = 300, 3, 2
    log_pi, betas = [], []
    for _ in range(2):
        w0 = 0.6 + 0.005 * rng.normal(size=n_draws)
        log_pi.append(np.log(np.stack([w0, 0.98 - w0, np.full(n_draws, 0.02)], axis=1)))
        beta = 1.0 + 0.01 * rng.normal(size=(n_draws, J, p))
        # The light component (2%) mixes slowly: only the insight sees it.
        ar = np.empty(n_draws)
        ar[0] = rng.normal()
        for i in range(1, n_draws):
            ar[i] = 0.95 * ar[i - 1] + np.sqrt(1 - 0.95**2) * rng.normal()
        beta[:, 2, 1] = 5.0 + 2.0 * ar
        betas.append(beta)
    chains = _fixed_allocation_chains(betas, np.stack(log_pi), n_draws, rng=rng)
    post = summarise(chains, ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 2, Prior()))
    beta = np.stack([d.beta for d in chains]).astype(np.float64)  # as stored: float32
    weights = np.exp(np.stack(log_pi))
    coef = beta[:, :, :2].reshape(2, n_draws, -1)  # components 0 and 1 are occupied
    insight = (weights[..., None] * np.abs(beta)).sum(axis=2)
    assert post.rhat == pytest.approx(max(split_rhat(coef).max(), split_rhat(insight).max()))
    ess = effective_sample_size(np.concatenate([coef, insight], axis=2))
    assert post.ess == pytest.approx(ess.min(), rel=1e-9)
    assert post.ess < effective_sample_size(coef).min() / 3  # the insight's, here
    # The summary averages the float32 draws in double precision.
    pooled = np.concatenate(beta)
    np.testing.assert_allclose(post.coef, pooled.mean(axis=0), rtol=1e-13)


def test_variance_and_weight_diagnostics_are_on_the_log_scale():
    rng = np.random.default_rng(1)
    n_draws, J = 100, 2
    betas = [1.0 + 0.1 * rng.normal(size=(n_draws, J, 2)) for _ in range(2)]
    log_pi = np.log(0.5 + 0.2 * rng.random((2, n_draws, 1)) * np.array([1.0, -1.0]))
    chains = _fixed_allocation_chains(betas, log_pi, n_draws, rng=rng)
    for k, d in enumerate(chains):
        d.sigma2[:] = np.exp(rng.normal(k, 1.0, size=(n_draws, J)))
    post = summarise(chains, ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 2, Prior()))
    groups = list(chain_module.RHAT_GROUPS)
    sigma2 = np.stack([d.sigma2 for d in chains])
    assert post.rhat_groups[groups.index("log_sigma2")] == pytest.approx(
        split_rhat(np.log(sigma2)).max(), rel=1e-12
    )
    assert post.rhat_groups[groups.index("log_weight")] == pytest.approx(
        split_rhat(np.stack([d.log_pi for d in chains])).max(), rel=1e-12
    )
    for name, field in (("log_likelihood", "log_lik"), ("alpha", "alpha")):
        assert post.rhat_groups[groups.index(name)] == pytest.approx(
            split_rhat(np.stack([getattr(d, field) for d in chains])[..., None])[0], rel=1e-12
        )


def test_rhat_monitors_the_intercept_with_or_without_a_basis():
    """Chains that agree on every slope and on |intercept| but not on its sign."""
    rng = np.random.default_rng(2)
    n_draws, J = 200, 2
    betas = []
    for sign in (1.0, -1.0):
        beta = 0.1 * rng.normal(size=(n_draws, J, 3))
        beta[:, :, 0] += sign
        betas.append(beta)
    chains = _fixed_allocation_chains(betas, np.log([0.6, 0.4]), n_draws, rng=rng)
    settings = ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 2, Prior())
    assert summarise(chains, settings).rhat > 2.0
    mapped = summarise(chains, settings, basis=np.array([[0.5, 0.5], [-0.5, 0.5]]))
    assert mapped.rhat > 2.0 and mapped.rhat_groups[1] < 1.1  # the insight agrees


@pytest.mark.parametrize(("weight", "monitored"), [(0.07, True), (0.03, False)])
def test_a_component_is_monitored_from_five_percent_of_the_weight(weight, monitored):
    """A component whose coefficients have opposite signs in the two chains (so the
    insight agrees): R-hat flags it if it holds 5% or more of the weight."""
    rng = np.random.default_rng(3)
    n_draws, J = 200, 3
    betas = _opposite_sign_betas(n_draws, rng)
    weights = np.log([0.6, 0.4 - weight, weight])
    chains = _fixed_allocation_chains(betas, weights, n_draws, rng=rng)
    post = summarise(chains, ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 2, Prior()))
    assert (post.rhat > 2.0) == monitored and post.rhat_groups[1] < 1.1


def test_prior_labels_are_renumbered_in_order_of_first_use():
    c = np.array([[2, 0, 1], [1, 1, 0], [0, 2, 2]])
    expected = [[0, 1, 2], [0, 0, 1], [0, 1, 1]]
    np.testing.assert_array_equal(chain_module._first_use_labels(c), expected)


def test_an_empty_components_coefficients_are_summarised_at_their_prior_mean():
    """A component empty in a draw has coefficients drawn from the prior, whose sigma^2
    has no mean: |beta| of 1e4 here. The summaries count them at their conditional
    mean 0, so such draws no longer swamp ``coef`` and ``predictive_coef``."""
    rng = np.random.default_rng(0)
    n_draws, n, J = 40, 30, 3
    d = _draws(n_draws, n, J, 2, rng)
    d.log_pi[:] = np.log([0.6, 0.3, 0.1])
    d.beta[:] = 1e4 * rng.standard_normal(d.beta.shape)  # wild prior draws
    d.beta[:, 0] = 1.0
    even = np.arange(n_draws) % 2 == 0
    d.beta[even, 1] = 2.0
    # Component 0 holds samples in every draw, component 1 in even draws only and
    # component 2 in none.
    d.z[:] = 0
    d.z[np.ix_(even, np.arange(n) % 3 == 0)] = 1
    post = summarise([d], ChainSettings(J, 1, 2 * n_draws, n_draws, 1, 1, Prior()))
    np.testing.assert_allclose(post.coef, [[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]], atol=1e-12)
    # E[pi_0 beta_0 + pi_1 beta_1] = 0.6 * 1 + 0.3 * (2 + 0) / 2.
    np.testing.assert_allclose(post.predictive_coef, [0.9, 0.9], atol=1e-12)
    assert np.isfinite(post.rhat)


def test_component_sizes_count_each_draws_members():
    z = np.array([[0, 0, 2, 2, 2], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(chain_module._component_sizes(z, 4), [[2, 0, 3, 0], [0, 5, 0, 0]])
