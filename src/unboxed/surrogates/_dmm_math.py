"""The DMM-MEN Gibbs / Metropolis-Hastings sweep as pure functions.

Source: ``000_cf0c09d2d9cd2a13.txt`` Sec. 3.3 (eq. 4-7) for the model, and
``../shared/notes/dmm-men-sampler.md`` for the conditionals, which the paper defers to
a supplement. Every step below is one numbered step of that note and is tested alone
against its density. Everything runs in log space: a product of ``p`` terms like
``Phi(.)^-p`` overflows to ``0 * inf = NaN`` otherwise, and a NaN acceptance would
silently freeze the chain.

Notation (one class at a time): ``X`` (n, p) and ``y`` (n,); ``J`` mixture components
with truncated stick-breaking weights; ``K`` elastic-net priors. The elastic-net
prior on a coefficient uses the scale mixture of Li and Lin (2010) with a latent
``t`` in (0, 1)::

    beta | t ~ N(0, sigma^2 (1 - t) / lambda2),  p(t) ~ t^(-3/2) exp(-C / t),
    C = lambda1^2 / (8 lambda2 sigma^2).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import linalg, special

#: Floor on |beta| in the inverse-Gaussian mean (note, step 5).
BETA_FLOOR = 1e-12
#: Keeps 1 - t and t away from 0, where 1 / (1 - t) and 1 / t overflow.
T_EPS = 1e-12
#: Keeps sticks away from 1, where log(1 - u) is -inf.
STICK_EPS = 1e-12
LOG_2PI = math.log(2 * math.pi)
#: The Metropolis-Hastings moves counted in ``State.accepted`` and ``State.proposed``.
MH_MOVES = ("sigma2", "lambda1", "lambda2", "split_merge")
N_MH = len(MH_MOVES)


@dataclasses.dataclass(frozen=True)
class Prior:
    """Hyperparameters of DMM-MEN (the note's defaults).

    ``alpha ~ Gamma(alpha_shape, rate=alpha_rate)``; ``sigma_j^2 ~
    InvGamma(sigma_shape, sigma_scale)``; ``lambda1_k ~ Gamma(lambda1_shape,
    rate=lambda_rate)`` and ``lambda2_k ~ Gamma(lambda2_shape, rate=lambda_rate)``
    (the paper's R, L and V / 2). ``lambda1_step`` is the random-walk step on
    ``log lambda1``, divided by ``sqrt(lambda1_shape + m_k p)``, the scale at which
    that conditional concentrates.
    """

    alpha_shape: float = 5.0
    alpha_rate: float = 1.0
    sigma_shape: float = 0.5
    sigma_scale: float = 0.5
    lambda1_shape: float = 1.0
    lambda2_shape: float = 4.0
    lambda_rate: float = 0.5
    lambda1_step: float = 2.0


@dataclasses.dataclass(frozen=True)
class State:
    """One state of the chain for one class.

    Attributes
    ----------
    z : ndarray of int, shape (n,)
        Component of each sample.
    u : ndarray of shape (J,)
        Sticks (``u[-1] = 1``); ``pi_j = u_j prod_{l<j} (1 - u_l)``.
    alpha : float
        Concentration.
    beta, t : ndarray of shape (J, p)
        Coefficients and their latent scales.
    sigma2 : ndarray of shape (J,)
    c : ndarray of int, shape (J,)
        Which prior each component uses.
    w : ndarray of shape (K,)
        Prior weights.
    lam1, lam2 : ndarray of shape (K,)
        The priors' lasso and ridge parameters.
    accepted : ndarray of int, shape (4,)
        MH acceptances so far for sigma^2, lambda1, lambda2 and split-merge moves.
    proposed : ndarray of int, shape (4,)
        MH proposals so far, in the same order.
    """

    z: np.ndarray
    u: np.ndarray
    alpha: float
    beta: np.ndarray
    t: np.ndarray
    sigma2: np.ndarray
    c: np.ndarray
    w: np.ndarray
    lam1: np.ndarray
    lam2: np.ndarray
    accepted: np.ndarray
    proposed: np.ndarray

    @property
    def log_pi(self) -> np.ndarray:
        return log_stick_weights(self.u)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field as an array, for a checkpoint."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> State:
        values: dict[str, Any] = {f.name: np.array(arrays[f.name]) for f in dataclasses.fields(cls)}
        values["alpha"] = float(values["alpha"])
        return cls(**values)


# ---------------------------------------------------------------- densities
def log_norm_const(lam1: np.ndarray, lam2: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """log Z of the elastic-net density ``exp(-(lam1 |b| + lam2 b^2) / (2 sigma^2))``.

    Broadcasts over its arguments (note, "Normalising constant"). The note's
    ``x^2 / 2 + log_ndtr(-x)``, ``x = lam1 / (2 sigma sqrt(lam2))``, is computed as
    ``log(erfcx(x / sqrt 2) / 2)``, the same value: the note's two terms cancel for large
    x (off by 1e-4 at x = 1e6), the scaled complement does not.
    """
    x = _x_of(lam1, lam2, sigma2)
    return 0.5 * np.log(2 * np.pi * sigma2 / lam2) + np.log(special.erfcx(x / math.sqrt(2)))


def log_elastic_net(
    beta: np.ndarray, lam1: np.ndarray, lam2: np.ndarray, sigma2: np.ndarray
) -> np.ndarray:
    """The normalised log elastic-net density of each coefficient (broadcasting)."""
    return -(lam1 * np.abs(beta) + lam2 * beta**2) / (2 * sigma2) - log_norm_const(
        lam1, lam2, sigma2
    )


def log_stick_weights(u: np.ndarray) -> np.ndarray:
    """log pi from sticks: ``log u_j + sum_{l<j} log(1 - u_l)``, shape (J,)."""
    log_rest = np.log1p(-np.minimum(u[:-1], 1 - STICK_EPS))
    return np.log(np.maximum(u, 1e-300)) + np.concatenate([[0.0], np.cumsum(log_rest)])


def component_log_density(
    X: np.ndarray, y: np.ndarray, beta: np.ndarray, sigma2: np.ndarray
) -> np.ndarray:
    """``log N(y_i | x_i^T beta_j, sigma_j^2)`` for every sample and component, (n, J)."""
    # In place, one (n, J) array instead of five; the same operations in the same
    # order (the two terms of the sum commute exactly), so the same values.
    out = X @ beta.T
    np.subtract(y[:, None], out, out=out)
    np.square(out, out=out)
    out /= sigma2
    out += LOG_2PI + np.log(sigma2)
    out *= -0.5
    return out


def _prior_precision(state: State) -> np.ndarray:
    """Each component's prior precision of its coefficients over sigma^2,
    ``lam2 / (1 - t)``, shape (J, p): beta_j ~ N(0, sigma_j^2 diag(1 / this))."""
    return state.lam2[state.c][:, None] / np.maximum(1.0 - state.t, T_EPS)


def _gumbel_argmax(log_p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of unnormalised log probabilities (Gumbel-max)."""
    return np.argmax(log_p + rng.gumbel(size=log_p.shape), axis=-1)


# ---------------------------------------------------------------- the steps
def sample_z(
    X: np.ndarray, y: np.ndarray, state: State, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Step 1: the allocations; also the mixture log-likelihood of the current state.

    Returns
    -------
    z : ndarray of int, shape (n,)
    log_likelihood : float
        ``sum_i log sum_j pi_j N(y_i | x_i^T beta_j, sigma_j^2)``.
    """
    log_p, log_lik = _allocation_log_p(X, y, state)
    return _gumbel_argmax(log_p, rng), log_lik


def _allocation_log_p(X: np.ndarray, y: np.ndarray, state: State) -> tuple[np.ndarray, float]:
    """``log pi_j + log N(y_i | x_i^T beta_j, sigma_j^2)``, (n, J), and its mixture
    log-likelihood ``sum_i logsumexp_j``."""
    log_p = component_log_density(X, y, state.beta, state.sigma2)
    log_p += state.log_pi
    top = log_p.max(axis=1, keepdims=True)  # a lean logsumexp: scipy's checks cost more
    return log_p, float(np.sum(np.log(np.exp(log_p - top).sum(axis=1)) + top[:, 0]))


def sample_z_collapsed(
    X: np.ndarray, y: np.ndarray, state: State, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Step 1 with the coefficients integrated out: ``z_i | z_-i``, one sample at a time.

    Not in the note. Given ``t`` and ``sigma^2``, ``beta_j`` is Gaussian, so sample i's
    predictive under component j given j's other members is ``N(x_i^T m_j, sigma_j^2
    (1 + x_i^T P_j x_i))`` with ``P_j = (X_j^T X_j + lam2 diag(1/(1-t_j)))^-1`` and
    ``m_j = P_j X_j^T y_j``. Why: with about as many samples per component as
    features, each ``beta_j`` nearly interpolates its own members (on MNIST digit 0 a
    member's squared residual is about 1 under its own component and 8-19 under the
    other), so step 1 seldom moves a sample; the predictive widens exactly where a
    component has overfitted. ``P_j`` and ``m_j`` follow each move (see
    :class:`_Predictive`). Drawing ``beta`` next (step 4) completes a blocked draw
    of ``(z, beta)``, so the sweep keeps the posterior invariant.

    Returns
    -------
    z : ndarray of int, shape (n,)
    log_likelihood : float
        The mixture log-likelihood of the current state, as :func:`sample_z` returns.
    """
    log_pi, sigma2 = state.log_pi, state.sigma2
    _, log_lik = _allocation_log_p(X, y, state)
    J = state.beta.shape[0]
    z = state.z.copy()
    prior_prec = _prior_precision(state)
    fits = [_Predictive(X, y, np.flatnonzero(z == j), prior_prec[j]) for j in range(J)]
    gumbel = rng.gumbel(size=(X.shape[0], J))
    h, mean = np.empty(J), np.empty(J)
    v: list[np.ndarray | None] = [None] * J
    for i, (x, y_i) in enumerate(zip(X, y, strict=True)):
        for j, fit in enumerate(fits):
            h[j], mean[j], v[j] = fit.predict(x)
        np.maximum(h, 0.0, out=h)  # x^T P x >= 0; rounding after many updates must not flip it
        a = z[i]
        # Leave sample i out of its own component (Sherman-Morrison on x^T P x).
        keep = max(1.0 - h[a], T_EPS)
        scale = sigma2 * (1.0 + h)
        scale[a] = sigma2[a] / keep
        mean[a] = (mean[a] - h[a] * y_i) / keep
        log_q = log_pi - 0.5 * (np.log(scale) + (y_i - mean) ** 2 / scale)
        k = int(np.argmax(log_q + gumbel[i]))
        if k != a:
            fits[a].remove(i, x, y_i, v[a], 1.0 / keep)
            fits[k].add(i, x, y_i, v[k], -1.0 / (1.0 + h[k]))
            z[i] = k
    return z, log_lik


#: Components with at most this many members are kept in sample space by
#: :func:`sample_z_collapsed`: an ``n_j x n_j`` system instead of a ``p x p`` matrix.
SMALL_COMPONENT = 40


class _Predictive:
    """One component's coefficient posterior given its members, for the predictive.

    With ``D = diag(prior_prec)``, ``P = (X_S^T X_S + D)^-1`` and ``m = P X_S^T y_S``.
    A large component keeps ``P`` as a p x p matrix, updated by rank-one steps as
    members come and go. A small one works in sample space (Woodbury): ``x^T P x =
    x^T D^-1 x - w^T G^-1 w`` and ``x^T m = w^T G^-1 y_S`` with ``w = X_S D^-1 x``
    and ``G = I + X_S D^-1 X_S^T``, refactored on each change; it is the cheaper
    form below about ``p / 5`` members, and most components are small or empty.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, members: np.ndarray, prior_prec):
        self.X, self.y, self.d_inv = X, y, 1.0 / prior_prec
        self.members = members.tolist()
        self.P: np.ndarray | None = None
        self._rebuild()

    def _rebuild(self) -> None:
        """Factor the members afresh, as a p x p matrix once there are many."""
        if len(self.members) > SMALL_COMPONENT:
            self._to_full()
        else:
            self._refactor()

    def _refactor(self) -> None:
        rows = self.members
        self.XD = self.X[rows] * self.d_inv
        G = self.XD @ self.X[rows].T
        G[np.diag_indices(len(rows))] += 1.0
        self.G_inv = np.linalg.inv(G)
        self.alpha = self.G_inv @ self.y[rows]

    def _to_full(self) -> None:
        rows, p = self.members, self.d_inv.size
        A = self.X[rows].T @ self.X[rows]
        A[np.diag_indices(p)] += 1.0 / self.d_inv
        L_inv = _solve_triangular(np.linalg.cholesky(A), np.eye(p), lower=True)
        self.P, self.b = L_inv.T @ L_inv, self.X[rows].T @ self.y[rows]
        self.m = self.P @ self.b

    def predict(self, x: np.ndarray) -> tuple[float, float, np.ndarray | None]:
        """``x^T P x``, ``x^T m`` and (large components) ``P x``."""
        if self.P is not None:
            v = self.P @ x
            return float(v @ x), float(self.m @ x), v
        prior_h = float(x @ (x * self.d_inv))
        if not self.members:
            return prior_h, 0.0, None
        w = self.XD @ x
        return prior_h - float(w @ (self.G_inv @ w)), float(w @ self.alpha), None

    def remove(self, i: int, x: np.ndarray, y_i: float, v, scale: float) -> None:
        """Drop member ``i``; ``v = P x`` and ``scale = 1 / (1 - x^T P x)`` from predict."""
        if self.P is None:
            self.members.remove(i)
            self._rebuild()
        else:
            self._update(v, scale, -y_i * x)

    def add(self, i: int, x: np.ndarray, y_i: float, v, scale: float) -> None:
        """Take in sample ``i``; ``scale = -1 / (1 + x^T P x)``."""
        if self.P is None:
            self.members.append(i)
            self._rebuild()
        else:
            self._update(v, scale, y_i * x)

    def _update(self, v: np.ndarray, scale: float, b_change: np.ndarray) -> None:
        """A rank-one (Sherman-Morrison) step of the p x p form."""
        assert self.P is not None  # remove and add step only once P is kept
        _rank_one(self.P, v, scale)
        self.b += b_change
        self.m = self.P @ self.b


def log_marginal(X: np.ndarray, y: np.ndarray, prior_prec: np.ndarray, sigma2: float) -> float:
    """``log N(y | 0, sigma^2 (I + X D^-1 X^T))``: one component's members with its
    coefficients integrated out, ``D = diag(prior_prec)``.

    Through ``A = X^T X + D``: the determinant is ``det A / det D`` and the quadratic
    form ``y^T y - b^T A^-1 b`` with ``b = X^T y``.
    """
    n, p = X.shape
    A = X.T @ X
    A[np.diag_indices(p)] += prior_prec
    L = np.linalg.cholesky(A)
    w = _solve_triangular(L, X.T @ y, lower=True)
    log_det = 2.0 * np.log(np.diag(L)).sum() - np.log(prior_prec).sum()
    return -0.5 * (n * (LOG_2PI + math.log(sigma2)) + log_det + (y @ y - w @ w) / sigma2)


def split_merge(
    X: np.ndarray, y: np.ndarray, state: State, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """A Metropolis-Hastings split or merge of the allocations, coefficients integrated out.

    Not in the note. Two samples ``i != k`` are drawn at random. If they share a
    component ``a``, propose to split it: ``i`` stays, ``k`` opens an empty component
    ``b`` (drawn uniformly among the empty ones) and the other members follow one at a
    time in random order, each to ``a`` or ``b`` by its predictive given the members
    placed so far (sequentially allocated split-merge, Dahl 2003). If they do not,
    propose to merge ``k``'s component into ``i``'s. The target is ``p(z | u, t,
    sigma^2, c, lambda)``, the product of ``pi_{z_i}`` and each component's
    :func:`log_marginal`, so the move must be followed by a fresh ``beta`` (step 4),
    as after :func:`sample_z_collapsed`. Why: a whole component can leave or form only
    through many unlikely single moves, so chains keep the number of large components
    they start with (on MNIST digit 0 one chain kept two for 3000 sweeps, the other
    one, 110 nats apart in log-likelihood).

    Returns
    -------
    z : ndarray of int, shape (n,)
        The allocations after the move (``state.z`` if rejected).
    accepted : bool
    """
    z = state.z
    i, k = rng.choice(z.size, 2, replace=False)
    counts = np.bincount(z, minlength=state.sigma2.size)
    prior_prec = _prior_precision(state)
    log_pi = state.log_pi
    a = z[i]
    if z[k] == a:
        empty = np.flatnonzero(counts == 0)
        if empty.size == 0:
            return z, False
        b = int(rng.choice(empty))
        n_empty_merged = empty.size
    else:
        b = z[k]
        n_empty_merged = int(np.sum(counts == 0)) + 1
    members = np.flatnonzero((z == a) | (z == b))
    order = rng.permutation(members[(members != i) & (members != k)])
    given = None if z[k] == a else z[order] == b
    to_b, log_split = _sequential_split(X, y, state, prior_prec, (i, k), (a, b), order, rng, given)
    log_merged = members.size * log_pi[a] + log_marginal(
        X[members], y[members], prior_prec[a], state.sigma2[a]
    )
    # Split: p(z') / (p(z) q(z' | z)), with 1 / |empty| for the choice of b; the
    # sequential normalisers give p(z') / q(z' | z) (see _sequential_split).
    log_ratio = log_split - log_merged + math.log(n_empty_merged)
    if given is not None:
        log_ratio = -log_ratio
    if not math.log(rng.random()) < log_ratio:
        return z, False
    z = z.copy()
    if given is None:
        z[order[to_b]] = b
        z[k] = b
    else:
        z[members] = a
    return z, True


def _sequential_split(
    X: np.ndarray,
    y: np.ndarray,
    state: State,
    prior_prec: np.ndarray,
    anchors: tuple[int, int],
    labels: tuple[int, int],
    order: np.ndarray,
    rng: np.random.Generator,
    given: np.ndarray | None,
) -> tuple[np.ndarray, float]:
    """Allocate ``order`` to ``labels`` one at a time after the two ``anchors``.

    Each sample goes to ``b`` with probability ``q_b / (q_a + q_b)``, ``q_l = pi_l
    N(y_s | x_s^T m_l, sigma_l^2 (1 + x_s^T P_l x_s))`` given the samples already
    placed; with ``given`` (True for ``b``) it follows those instead. By the chain rule
    the product of the anchors' ``q`` and every normaliser ``q_a + q_b`` is ``p(split)
    / q(split)``, whose log this returns with the mask of samples sent to ``b``.
    """
    log_pi, sigma2 = state.log_pi[list(labels)], state.sigma2[list(labels)]
    fits, total = [], 0.0
    for side, (anchor, label) in enumerate(zip(anchors, labels, strict=True)):
        x = X[anchor]
        prior_h = float(x @ (x / prior_prec[label]))  # x^T D^-1 x: no members yet
        total += log_pi[side] + _log_normal(y[anchor], 0.0, sigma2[side] * (1.0 + prior_h))
        fits.append(_Predictive(X, y, np.array([anchor]), prior_prec[label]))
    to_b = np.zeros(order.size, dtype=bool)
    uniforms = rng.random(order.size)
    log_q, h = np.empty(2), np.empty(2)
    v: list[np.ndarray | None] = [None, None]
    for n, s in enumerate(order):
        for side, fit in enumerate(fits):
            h[side], mean, v[side] = fit.predict(X[s])
            h[side] = max(h[side], 0.0)
            log_q[side] = log_pi[side] + _log_normal(y[s], mean, sigma2[side] * (1 + h[side]))
        norm = float(np.logaddexp(log_q[0], log_q[1]))
        total += norm
        to_b[n] = uniforms[n] < math.exp(log_q[1] - norm) if given is None else given[n]
        side = int(to_b[n])
        fits[side].add(s, X[s], y[s], v[side], -1.0 / (1.0 + h[side]))
    return to_b, total


def _log_normal(y: float, mean: float, variance: float) -> float:
    return -0.5 * (LOG_2PI + math.log(variance) + (y - mean) ** 2 / variance)


def _rank_one(P: np.ndarray, v: np.ndarray, scale: float) -> None:
    """``P += scale v v^T`` in place (P symmetric and C-ordered, so P.T is Fortran)."""
    from scipy.linalg.blas import dger

    dger(scale, v, v, a=P.T, overwrite_a=1)


def sample_sticks(counts: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Step 2: ``u_j ~ Beta(1 + n_j, alpha + sum_{l>j} n_l)`` for j < J; ``u_J = 1``."""
    after = np.cumsum(counts[::-1])[::-1] - counts
    u = np.ones(counts.size)
    u[:-1] = rng.beta(1.0 + counts[:-1], alpha + after[:-1])
    return np.clip(u, STICK_EPS, 1.0)


def sample_alpha(u: np.ndarray, prior: Prior, rng: np.random.Generator) -> float:
    """Step 3: ``alpha ~ Gamma(e + J - 1, rate f - sum_{j<J} log(1 - u_j))``."""
    rate = prior.alpha_rate - np.log1p(-np.minimum(u[:-1], 1 - STICK_EPS)).sum()
    return float(rng.gamma(prior.alpha_shape + u.size - 1, 1.0 / rate))


def sample_beta(
    X: np.ndarray,
    y: np.ndarray,
    sigma2: float,
    lam2: float,
    t: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Step 4: ``beta ~ N(A^-1 X^T y, sigma^2 A^-1)``, ``A = X^T X + lam2 diag(1/(1-t))``.

    With at least as many samples as features, a Cholesky factor of ``A`` (never an
    inverse). With fewer, the sampler of Bhattacharya, Chakraborty and Mallick (2016),
    which solves an ``n x n`` system instead: O(n^2 p) rather than O(p^3).

    Parameters
    ----------
    X : ndarray of shape (n_j, p)
    y : ndarray of shape (n_j,)
    t : ndarray of shape (p,)

    Returns
    -------
    ndarray of shape (p,)
    """
    prec = lam2 / np.maximum(1.0 - t, T_EPS)  # the prior precision, times sigma^2
    n, p = X.shape
    sigma = math.sqrt(sigma2)
    if n >= p:
        A = X.T @ X
        A.flat[:: p + 1] += prec  # the diagonal, without index arrays
        L = np.linalg.cholesky(A)
        mean = _cho_solve(L, X.T @ y)
        # L^T e = noise gives e ~ N(0, A^-1).
        return mean + sigma * _solve_triangular(L.T, rng.standard_normal((p,)), lower=False)
    # theta = beta / sigma ~ N(Sigma Phi^T a, Sigma), Sigma = (Phi^T Phi + D^-1)^-1 with
    # Phi = X, D = diag(1 / prec), a = y / sigma.
    d = 1.0 / prec
    u = np.sqrt(d) * rng.standard_normal(p)
    v = X @ u + rng.standard_normal(n)
    M = (X * d) @ X.T
    M.flat[:: n + 1] += 1.0
    w = _cho_solve(np.linalg.cholesky(M), y / sigma - v)
    return sigma * (u + d * (X.T @ w))


def _solve_triangular(L: np.ndarray, b: np.ndarray, *, lower: bool) -> np.ndarray:
    # LAPACK's trtrs itself: scipy's solve_triangular spends more time checking its
    # arguments than solving a 100 x 100 system. A C-ordered L is the transpose of a
    # Fortran-ordered one, so that is solved with trans=1 and no copy.
    if L.flags.c_contiguous and not L.flags.f_contiguous:
        x, info = linalg.lapack.dtrtrs(L.T, b, lower=not lower, trans=1)
    else:
        x, info = linalg.lapack.dtrtrs(L, b, lower=lower)
    if info != 0:
        raise np.linalg.LinAlgError(f"singular triangular factor (LAPACK info {info})")
    return x


def _cho_solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _solve_triangular(L.T, _solve_triangular(L, b, lower=True), lower=False)


def sample_t(
    beta: np.ndarray, sigma2: np.ndarray, lam1: np.ndarray, lam2: np.ndarray, rng
) -> np.ndarray:
    """Step 5: ``nu ~ InvGauss(lam1 / (2 lam2 |beta|), lam1^2 / (4 lam2 sigma^2))``, t = nu/(1+nu).

    Parameters
    ----------
    beta : ndarray of shape (J, p)
    sigma2, lam1, lam2 : ndarray of shape (J,)
        Each component's variance and the parameters of its prior.
    """
    lam1, lam2, sigma2 = lam1[:, None], lam2[:, None], sigma2[:, None]
    mean = lam1 / (2 * lam2 * np.maximum(np.abs(beta), BETA_FLOOR))
    shape = np.broadcast_to(lam1**2 / (4 * lam2 * sigma2), beta.shape)
    nu = rng.wald(mean, shape)
    return np.clip(nu / (1.0 + nu), T_EPS, 1.0 - T_EPS)


def sample_t_prior(C: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws from ``p(t) ~ t^(-3/2) exp(-C / t)`` on (0, 1), one per entry of ``C``.

    With ``s = 1 / t`` this is ``s ~ Gamma(1/2, rate C)`` truncated to ``s > 1``, drawn
    by rejection in two regimes. For ``C < 1/2``, ``s`` comes from the untruncated
    Gamma and is kept if above 1 (acceptance ``erfc(sqrt(C))``, at least 0.31). For
    larger ``C`` it comes from ``1 + Exp(C)`` and is kept with probability ``s^-1/2``
    (at least about 0.6). Both are vectorised; inverting the incomplete gamma function
    instead cost most of an empty component's draw.
    """
    C = np.asarray(C, dtype=np.float64)
    s = np.empty(C.size)
    c_flat = C.reshape(-1)
    small = c_flat < 0.5
    todo = np.flatnonzero(small)
    while todo.size:
        draw = rng.gamma(0.5, 1.0 / c_flat[todo])
        ok = draw > 1.0
        s[todo[ok]] = draw[ok]
        todo = todo[~ok]
    todo = np.flatnonzero(~small)
    while todo.size:
        draw = 1.0 + rng.exponential(1.0 / c_flat[todo])
        ok = rng.random(todo.size) < draw**-0.5
        s[todo[ok]] = draw[ok]
        todo = todo[~ok]
    return np.clip(1.0 / s.reshape(C.shape), T_EPS, 1.0 - T_EPS)


def _x_of(lam1, lam2, sigma2):
    """``lam1 / (2 sigma sqrt(lam2))``, the argument of Phi(-x) in the normaliser."""
    return lam1 / (2.0 * np.sqrt(sigma2 * lam2))


def sample_sigma2(
    rss: np.ndarray,
    counts: np.ndarray,
    beta: np.ndarray,
    t: np.ndarray,
    sigma2: np.ndarray,
    lam1: np.ndarray,
    lam2: np.ndarray,
    prior: Prior,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Step 6: MH with the independence proposal ``InvGamma(a + n_j / 2 + p, B_j)``,
    then a random-walk MH step on ``log sigma^2``.

    The target differs from the proposal only by ``Phi(-x)^-p``, so a proposal is
    accepted with probability ``min(1, exp(p [log Phi(-x) - log Phi(-x')]))``. The
    random walk is not in the note; both steps leave the conditional invariant.

    Parameters
    ----------
    rss, counts : ndarray of shape (J,)
        Residual sums of squares under the *just drawn* beta, and samples per component.
    beta, t : ndarray of shape (J, p)
    sigma2, lam1, lam2 : ndarray of shape (J,)

    Returns
    -------
    sigma2 : ndarray of shape (J,)
    accepted : ndarray of bool, shape (J,)
        Whether the independence proposal was accepted (its rate is the one reported).
    """
    p = beta.shape[1]
    B = (
        prior.sigma_scale
        + rss / 2
        + (lam2 / 2) * (beta**2 / (1 - t)).sum(axis=1)
        + lam1**2 / (8 * lam2) * (1 / t).sum(axis=1)
    )
    shape = prior.sigma_shape + counts / 2 + p
    proposal = B / rng.gamma(shape)
    log_ratio = p * (
        special.log_ndtr(-_x_of(lam1, lam2, sigma2))
        - special.log_ndtr(-_x_of(lam1, lam2, proposal))
    )
    accept = np.log(rng.random(sigma2.shape)) < log_ratio
    sigma2 = np.where(accept, proposal, sigma2)

    # Where Phi(-x)^-p is steep (many features, a strong lasso), the target sits in the
    # proposal's tail and the independence step freezes: on the Fashion-MNIST
    # benchmark a component of 200 samples kept one sigma^2 for 3000 sweeps. A random
    # walk on log sigma^2, scaled to the conditional's width (about 1 / sqrt(shape)),
    # leaves the same conditional invariant and keeps it moving.
    def log_target(value):
        return (
            -shape * np.log(value) - B / value - p * special.log_ndtr(-_x_of(lam1, lam2, value))
        )  # the density of log sigma^2: InvGamma(shape, B) x Phi(-x)^-p x sigma^2

    step = sigma2 * np.exp(2.4 / np.sqrt(shape) * rng.standard_normal(sigma2.shape))
    moved = np.log(rng.random(sigma2.shape)) < log_target(step) - log_target(sigma2)
    return np.where(moved, step, sigma2), accept


def sample_c(
    beta: np.ndarray,
    sigma2: np.ndarray,
    w: np.ndarray,
    lam1: np.ndarray,
    lam2: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Step 7: each component's prior, with t integrated out, shape (J,).

    ``log P(c_j = k) = log w_k + sum_p log EN(beta_jp | lam1_k, lam2_k, sigma_j^2)``.
    """
    log_en = log_elastic_net(
        beta[:, None, :], lam1[None, :, None], lam2[None, :, None], sigma2[:, None, None]
    ).sum(axis=2)
    return _gumbel_argmax(np.log(w) + log_en, rng)


def sample_w(c: np.ndarray, n_priors: int, rng: np.random.Generator) -> np.ndarray:
    """Step 8: ``w ~ Dirichlet(1/K + m_1, ..., 1/K + m_K)``."""
    m = np.bincount(c, minlength=n_priors)
    # Tiny Dirichlet parameters underflow to exact zeros; log w must stay finite.
    return np.maximum(rng.dirichlet(1.0 / n_priors + m), 1e-300)


def log_lambda_posterior(lam1, lam2, Q, T, sigma2, p, prior: Prior):
    """Step 9's log conditional of ``(lam1, lam2)`` for one prior (up to a constant).

    ``Q``, ``T``, ``sigma2`` are arrays over the components that use this prior:
    ``Q_j = sum_p beta_jp^2 / (1 - t_jp)``, ``T_j = sum_p 1 / t_jp``.
    """
    m = Q.size
    rate = prior.lambda_rate
    return (
        (prior.lambda1_shape - 1 + m * p) * np.log(lam1)
        + (prior.lambda2_shape - 1) * np.log(lam2)
        - rate * (lam1 + lam2)
        - lam2 * np.sum(Q / (2 * sigma2))
        - lam1**2 * np.sum(T / (8 * lam2 * sigma2))
        - p * np.sum(special.log_ndtr(-_x_of(lam1, lam2, sigma2)))
    )


def sample_gig(shape: float, a: float, b: float, rng: np.random.Generator) -> float:
    """One draw from GIG with density ``x^(shape-1) exp(-(a x + b / x) / 2)``."""
    if b < 1e-300 * a:
        return float(rng.gamma(shape, 2.0 / a))  # the b -> 0 limit
    omega = math.sqrt(a * b)
    if shape < 0:  # 1/X is GIG(-shape, omega) when X is GIG(shape, omega)
        draw = 1.0 / _standard_gig(-shape, omega, rng)
    else:
        draw = _standard_gig(shape, omega, rng)
    return draw * math.sqrt(b / a)


def _standard_gig(p: float, omega: float, rng: np.random.Generator) -> float:
    """One draw with density proportional to ``x^(p-1) exp(-omega (x + 1/x) / 2)``, p >= 0.

    The three rejection samplers of Hoermann and Leydold (2014), the ones scipy's
    ``geninvgauss`` uses, written for one scalar draw: scipy's own costs about 0.4 ms
    a call in array overhead, a fifth of a whole DMM-MEN sweep.
    """

    def log_quasi(x: float) -> float:
        return (p - 1) * math.log(x) - 0.5 * omega * (x + 1 / x) if x > 0 else -math.inf

    if p > 0 and omega < 1e-30:
        # The Gamma(p, 2 / omega) limit, to double precision: the cubic's coefficients
        # below would overflow once omega is under about 1e-50.
        return float(rng.gamma(p, 2.0 / omega))
    if p < 1:  # the two forms avoid cancellation (Hoermann and Leydold, Sec. 2)
        mode = omega / (math.sqrt((1 - p) ** 2 + omega**2) + 1 - p)
    else:
        mode = (math.sqrt((1 - p) ** 2 + omega**2) - (1 - p)) / omega
    if p < 1 and omega <= min(0.5, 2 * math.sqrt(1 - p) / 3):
        return _gig_small(p, omega, mode, log_quasi, rng)
    if p >= 1 or omega > 1:
        # Ratio of uniforms around the mode; the v-bounds sit at the two roots of
        # x^3 + a2 x^2 + a1 x + mode (Cardano's trigonometric form).
        a2 = -2 * (p + 1) / omega - mode
        a1 = 2 * mode * (p - 1) / omega - 1
        p1 = a1 - a2**2 / 3
        q1 = 2 * a2**3 / 27 - a2 * a1 / 3 + mode
        phi = math.acos(min(1.0, max(-1.0, -q1 * math.sqrt(-27 / p1**3) / 2)))
        s1 = -math.sqrt(-4 * p1 / 3)
        roots = (s1 * math.cos(phi / 3 + math.pi / 3) - a2 / 3, -s1 * math.cos(phi / 3) - a2 / 3)
        top, shift = log_quasi(mode), mode
        vmin, vmax = ((r - mode) * math.exp(0.5 * (log_quasi(r) - top)) for r in roots)
        umax = 1.0
    else:  # ratio of uniforms without the shift
        top, shift = 0.0, 0.0
        xplus = (1 + p + math.sqrt((1 + p) ** 2 + omega**2)) / omega
        umax = math.exp(0.5 * log_quasi(mode))
        vmin, vmax = 0.0, xplus * math.exp(0.5 * log_quasi(xplus))
    while True:
        u = umax * (1.0 - rng.random())  # in (0, umax]: its log is finite
        x = (vmin + (vmax - vmin) * rng.random()) / u + shift
        if 2 * math.log(u) <= log_quasi(x) - top:
            return x


def _gig_small(p, omega, mode, log_quasi, rng) -> float:
    """Hoermann and Leydold's sampler for 0 <= p < 1 and small omega, where the
    density is not T-concave: rejection from a three-piece hat."""
    x0 = omega / (1 - p)
    xs = max(x0, 2 / omega)
    k1 = math.exp(log_quasi(mode))
    A1 = k1 * x0
    k2 = A2 = 0.0
    if x0 < 2 / omega:
        k2 = math.exp(-omega)
        A2 = k2 * ((2 / omega) ** p - x0**p) / p if p > 0 else k2 * math.log(2 / omega**2)
    k3 = xs ** (p - 1)
    A3 = 2 * k3 * math.exp(-xs * omega / 2) / omega
    while True:
        u = 1.0 - rng.random()
        v = (A1 + A2 + A3) * rng.random()
        if v <= A1:
            x, hat = x0 * v / A1, k1
        elif v <= A1 + A2:
            if p > 0:
                x = (x0**p + (v - A1) * p / k2) ** (1 / p)
            else:
                x = omega * math.exp((v - A1) * math.exp(omega))
            hat = k2 * x ** (p - 1)
        else:
            x = -2 / omega * math.log(math.exp(-xs * omega / 2) - omega * (v - A1 - A2) / (2 * k3))
            hat = k3 * math.exp(-x * omega / 2)
        if x > 0 and math.log(u * hat) <= log_quasi(x):
            return x


def sample_lambda(
    lam1: float,
    lam2: float,
    Q: np.ndarray,
    T: np.ndarray,
    sigma2: np.ndarray,
    p: int,
    prior: Prior,
    rng: np.random.Generator,
) -> tuple[float, float, bool, bool]:
    """Step 9 for one prior: lam2 by a GIG-proposal MH, then lam1 by a random walk.

    A prior no component uses (``Q`` empty) is drawn from its Gamma priors.

    Returns
    -------
    lam1, lam2 : float
    accepted1, accepted2 : bool
    """
    rate = prior.lambda_rate
    if Q.size == 0:
        lam1 = float(rng.gamma(prior.lambda1_shape, 1.0 / rate))
        lam2 = float(rng.gamma(prior.lambda2_shape, 1.0 / rate))
        return lam1, lam2, True, True
    # lam2 | lam1: the GIG matches every factor but prod_j Phi(-x_j)^-p.
    proposal = sample_gig(
        prior.lambda2_shape,
        2 * rate + np.sum(Q / sigma2),
        lam1**2 * np.sum(T / (4 * sigma2)),
        rng,
    )
    log_ratio = p * np.sum(
        special.log_ndtr(-_x_of(lam1, lam2, sigma2))
        - special.log_ndtr(-_x_of(lam1, proposal, sigma2))
    )
    accepted2 = bool(math.log(rng.random()) < log_ratio)
    if accepted2:
        lam2 = proposal
    # lam1 | lam2: random walk on log lam1; the Jacobian adds log lam1.
    step = prior.lambda1_step / math.sqrt(prior.lambda1_shape + Q.size * p)
    candidate = lam1 * math.exp(step * rng.standard_normal())

    def log_target(value: float) -> float:
        return log_lambda_posterior(value, lam2, Q, T, sigma2, p, prior) + math.log(value)

    accepted1 = bool(math.log(rng.random()) < log_target(candidate) - log_target(lam1))
    if accepted1:
        lam1 = candidate
    return lam1, lam2, accepted1, accepted2


def sample_prior_component(
    p: int, lam1: float, lam2: float, prior: Prior, rng: np.random.Generator
) -> tuple[float, np.ndarray, np.ndarray]:
    """An empty component from its prior: sigma^2, then t, then beta (note, step 4)."""
    sigma2 = prior.sigma_scale / rng.gamma(prior.sigma_shape)
    t = sample_t_prior(np.full(p, lam1**2 / (8 * lam2 * sigma2)), rng)
    beta = rng.standard_normal(p) * np.sqrt(sigma2 * (1 - t) / lam2)
    return sigma2, t, beta


# ---------------------------------------------------------------- one sweep
def initial_state(
    X: np.ndarray, y: np.ndarray, n_components: int, n_priors: int, prior: Prior, rng
) -> State:
    """A starting state: components cut along the target, t = 0.5, ridge betas.

    Samples are split into ``J`` bins of ``y`` at random cut points (each chain
    draws its own), and each component starts from a ridge fit to its bin. A
    Gibbs sampler moves samples between components one at a time, so from random
    allocations it rarely separates a group such as the targets saturated at the
    logit clip; starting along ``y`` puts such groups in a component of their own.
    """
    p = X.shape[1]
    J, K = n_components, n_priors
    lam1 = rng.gamma(prior.lambda1_shape, 1 / prior.lambda_rate, size=K)
    lam2 = rng.gamma(prior.lambda2_shape, 1 / prior.lambda_rate, size=K)
    cuts = np.quantile(y, np.sort(rng.uniform(size=J - 1)))
    z = np.searchsorted(cuts, y, side="right")
    beta = np.zeros((J, p))
    sigma2 = np.full(J, max(float(y.var()), 1e-3))
    for j in range(J):
        rows = z == j
        if rows.sum() < 2:
            continue
        A = X[rows].T @ X[rows]
        A[np.diag_indices(p)] += 1.0
        beta[j] = np.linalg.solve(A, X[rows].T @ y[rows])
        sigma2[j] = max(float(np.var(y[rows] - X[rows] @ beta[j])), 1e-3)
    return State(
        z=z,
        u=np.r_[np.full(J - 1, 1.0 / J), 1.0] / np.r_[1.0 - np.arange(J - 1) / J, 1.0],
        alpha=float(prior.alpha_shape / prior.alpha_rate),
        beta=beta,
        t=np.full((J, p), 0.5),
        sigma2=sigma2,
        c=rng.integers(0, K, size=J),
        w=np.full(K, 1.0 / K),
        lam1=lam1,
        lam2=lam2,
        accepted=np.zeros(N_MH, dtype=np.int64),
        proposed=np.zeros(N_MH, dtype=np.int64),
    )


def sweep(
    X: np.ndarray,
    y: np.ndarray,
    state: State,
    prior: Prior,
    rng: np.random.Generator,
    *,
    collapsed: bool = False,
    split: bool = False,
) -> tuple[State, float]:
    """One full sweep, steps 1-9 of the note in order.

    With ``collapsed``, step 1 is :func:`sample_z_collapsed`; with ``split``, a
    :func:`split_merge` move follows it (both integrate out ``beta``, which step 4
    then draws afresh; steps 2-3 do not use it).

    Returns
    -------
    state : State
        The new state.
    log_likelihood : float
        The mixture log-likelihood of the state the sweep started from.
    """
    J, p = state.beta.shape
    K = state.w.size
    z, log_lik = (sample_z_collapsed if collapsed else sample_z)(X, y, state, rng)  # 1
    accepted = state.accepted.copy()
    proposed = state.proposed.copy()
    if split:
        z, moved = split_merge(X, y, dataclasses.replace(state, z=z), rng)
        accepted[3] += moved  # MH_MOVES[3]
        proposed[3] += 1
    counts = np.bincount(z, minlength=J)
    u = sample_sticks(counts, state.alpha, rng)  # 2
    alpha = sample_alpha(u, prior, rng)  # 3
    lam1_j, lam2_j = state.lam1[state.c], state.lam2[state.c]
    beta, t, sigma2 = state.beta.copy(), state.t.copy(), state.sigma2.copy()
    rss = np.zeros(J)
    # Each component's rows in ascending order, as the mask z == j picks them, copied
    # once per sweep for both the draw and the residuals (they were copied three times).
    by_component = np.split(np.argsort(z, kind="stable"), np.cumsum(counts)[:-1])
    for j, members in enumerate(by_component):  # 4
        if counts[j] == 0:
            sigma2[j], t[j], beta[j] = sample_prior_component(p, lam1_j[j], lam2_j[j], prior, rng)
            continue
        X_j, y_j = X[members], y[members]
        beta[j] = sample_beta(X_j, y_j, sigma2[j], lam2_j[j], t[j], rng)
        rss[j] = np.sum((y_j - X_j @ beta[j]) ** 2)
    t = sample_t(beta, sigma2, lam1_j, lam2_j, rng)  # 5, with the beta just drawn
    sigma2, accepted_sigma = sample_sigma2(
        rss, counts, beta, t, sigma2, lam1_j, lam2_j, prior, rng
    )  # 6
    c = sample_c(beta, sigma2, state.w, state.lam1, state.lam2, rng)  # 7
    t = sample_t(beta, sigma2, state.lam1[c], state.lam2[c], rng)  # t under the new prior
    w = sample_w(c, K, rng)  # 8
    lam1, lam2 = state.lam1.copy(), state.lam2.copy()
    accepted[0] += int(accepted_sigma.sum())
    proposed[0] += J
    Q = (beta**2 / (1 - t)).sum(axis=1)
    T = (1 / t).sum(axis=1)
    for k in range(K):  # 9
        uses = c == k
        lam1[k], lam2[k], ok1, ok2 = sample_lambda(
            lam1[k], lam2[k], Q[uses], T[uses], sigma2[uses], p, prior, rng
        )
        if uses.any():
            accepted[1:3] += (ok1, ok2)
            proposed[1:3] += 1
    new = State(z, u, alpha, beta, t, sigma2, c, w, lam1, lam2, accepted, proposed)
    return new, log_lik
