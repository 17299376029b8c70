"""The mathematics of the joint Gaussian mixture model, as pure functions.

Source: ``001_7567b900ec60d912.txt`` (JGMM). Sec. 3.1 eq. 1-3 define the model and its
inference, Appendix A eq. 12-21 the EM, Sec. 3.2 eq. 4-9 the example scores, Sec. 3.3
eq. 10-11 the spatial extension, Sec. 4.1 the PCA whitening.

Notation (the paper's): ``K_x`` lower components z, ``K_y`` higher components w,
``Q[i, j] = p(z = i | w = j)``, ``pi[j] = p(w = j)``, ``lambda = Q pi`` (eq. 2),
``Psi[i, j] = p(w = j | z = i)`` (eq. 2). Covariances are diagonal, as in Sec. 4.1,
an array of shape (K, D), or full, shape (K, D, D); the functions that take them
tell the two apart by their number of axes.

The spatial extension (eq. 10-11) adds an axis of ``R`` positions: ``X`` holds one
``D``-vector per position, the Gaussians are shared by all positions and each position
``r`` has its own ``Q[r]``. Every function here takes that axis; the plain model is
``R = 1``.

Everything is computed in log space: in a few hundred dimensions a Gaussian density
under- or overflows float64.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import linalg, special

#: log of the smallest positive float: stands in for log(0) so that no -inf (and no
#: RuntimeWarning) enters a sum.
_TINY = np.finfo(np.float64).tiny


def safe_log(a: np.ndarray) -> np.ndarray:
    """``log(a)`` with zeros mapped to ``log(tiny)`` (about -708) instead of -inf."""
    return np.log(np.maximum(a, _TINY))


def logsumexp(a: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(a)))`` along ``axis`` for finite ``a``.

    Every log density here is finite (``safe_log`` stands in for log 0), so the
    shift by the maximum needs none of the checks of scipy's version, which made it
    over half of an EM iteration of the spatial model.
    """
    top = a.max(axis=axis, keepdims=True)
    out = np.log(np.exp(a - top).sum(axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


# ---------------------------------------------------------------------- whitening
def fit_whitening(X: np.ndarray, *, rel_floor: float = 1e-10) -> tuple[np.ndarray, ...]:
    """PCA whitening that keeps every component, so that it is invertible (Sec. 4.1).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    rel_floor : float
        Eigenvalues below ``rel_floor * max eigenvalue`` (constant or duplicated
        directions) are raised to it, so that no direction is divided by zero.

    Returns
    -------
    mean : ndarray of shape (n_features,)
    components : ndarray of shape (n_features, n_features)
        Orthonormal columns, largest variance first.
    scales : ndarray of shape (n_features,)
        The standard deviation along each component (floored).
    """
    mean = X.mean(axis=0)
    centred = X - mean
    with np.errstate(over="ignore", invalid="ignore"):
        cov = centred.T @ centred / max(X.shape[0] - 1, 1)
    if not np.all(np.isfinite(cov)):  # eigh's LinAlgError "did not converge" before
        raise ValueError(
            "the features are too large to whiten: their covariance overflows float64 "
            f"(largest magnitude {np.abs(X).max():.3g}); rescale them"
        )
    eigvals, eigvecs = np.linalg.eigh(cov)
    order = np.argsort(eigvals)[::-1]
    eigvals, eigvecs = eigvals[order], eigvecs[:, order]
    top = max(float(eigvals[0]), 0.0)
    floor = rel_floor * top if top > 0 else 1.0
    scales = np.sqrt(np.maximum(eigvals, floor))
    return mean, eigvecs, scales


def whiten(X: np.ndarray, mean: np.ndarray, components: np.ndarray, scales: np.ndarray):
    """Map ``X`` of shape (..., D) to whitened coordinates of the same shape."""
    return _rows_times(X - mean, components) / scales


def unwhiten(Z: np.ndarray, mean: np.ndarray, components: np.ndarray, scales: np.ndarray):
    """The exact inverse of :func:`whiten`: shape (..., D) back to feature space."""
    return _rows_times(Z * scales, components.T) + mean


def _rows_times(X: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``X @ matrix`` for X of shape (..., D), as one 2-D product.

    The explainer's features come as (n, 1, D), and a stacked product of n single rows
    ran 8x slower than one (n, D) product: 17 s, not 2 s, for 2,000 rows of LeNet's act1
    (D = 3456) in each of prototypes, criticisms and influentials.
    """
    return (X.reshape(-1, X.shape[-1]) @ matrix).reshape(*X.shape[:-1], matrix.shape[1])


# ---------------------------------------------------------------------- densities
#: ``(L^-1, log det)`` of each full covariance ``L L^T``, as :func:`inverse_choleskys`
#: gives them: (D, D) and a float per component.
Factors = tuple[tuple[np.ndarray, float], ...]


def log_gaussian(
    X: np.ndarray, means: np.ndarray, covariances: np.ndarray, factors: Factors | None = None
) -> np.ndarray:
    """Log density of every row under every Gaussian, diagonal or full.

    Parameters
    ----------
    X : ndarray of shape (..., D)
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D) (variances) or (K, D, D)
    factors : tuple, optional
        :func:`inverse_choleskys` of full ``covariances``, where the caller kept them;
        else they are computed here.

    Returns
    -------
    ndarray of shape (..., K)
    """
    if covariances.ndim == 2:
        return log_gaussian_diag(X, means, covariances)
    lead, d = X.shape[:-1], X.shape[-1]
    X = X.reshape(-1, d)
    out = np.empty((X.shape[0], means.shape[0]))
    pairs = _inverse_choleskys(covariances) if factors is None else factors
    for k, (inv, log_det) in enumerate(pairs):
        white = (X - means[k]) @ inv.T
        out[:, k] = -0.5 * (d * np.log(2 * np.pi) + log_det + np.sum(white * white, axis=1))
    return out.reshape(*lead, means.shape[0])


def inverse_choleskys(covariances: np.ndarray) -> Factors:
    """Per full covariance ``L L^T`` of shape (K, D, D), ``L^-1`` (D, D) and ``log det``.

    For a fitted model to keep and pass to :func:`log_gaussian`, which otherwise
    factorises every covariance at each call: on a digits LeNet's 84 features with 20
    components that was 36% of a call of ``counterfactuals(sampler="nearest")`` and 80%
    of ``prototypes(source="generated")``.
    """
    return tuple(_inverse_choleskys(covariances))


def _inverse_choleskys(covariances: np.ndarray) -> Iterator[tuple[np.ndarray, float]]:
    """Per full covariance ``L L^T``, ``L^-1`` and ``log det``, one at a time.

    One triangular inverse per component, then matrix products over the rows, is
    faster than a triangular solve with n right-hand sides.
    """
    eye = np.eye(covariances.shape[-1])
    for chol in np.linalg.cholesky(covariances):
        log_det = 2.0 * float(np.sum(np.log(np.diag(chol))))
        yield linalg.solve_triangular(chol, eye, lower=True), log_det


def gaussian_precisions(covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precisions and log determinants of diagonal or full covariances.

    Parameters
    ----------
    covariances : ndarray of shape (K, D) (variances) or (K, D, D)

    Returns
    -------
    precisions : ndarray of the same shape
    log_dets : ndarray of shape (K,)
    """
    if covariances.ndim == 2:
        return 1.0 / covariances, np.sum(np.log(covariances), axis=1)
    invs, log_dets = zip(*_inverse_choleskys(covariances), strict=True)
    inv = np.stack(invs)
    return np.einsum("kji,kjl->kil", inv, inv), np.array(log_dets)


def log_px_given_w_with_gradient(
    z: np.ndarray,
    means: np.ndarray,
    precisions: np.ndarray,
    log_dets: np.ndarray,
    Q: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``log p(x | w = j)`` (eq. 4) at one point, and its gradient in ``x``.

    The gradient is ``sum_i p(z = i | x, w = j) (-Sigma_i^-1 (x - mu_i))``.

    Parameters
    ----------
    z : ndarray of shape (D,)
    means : ndarray of shape (K_x, D)
    precisions, log_dets : from :func:`gaussian_precisions`
    Q : ndarray of shape (K_x, K_y)
        ``Q`` of one position.

    Returns
    -------
    log_p : ndarray of shape (K_y,)
    gradient : ndarray of shape (K_y, D)
    """
    diff = z - means
    if precisions.ndim == 2:
        scaled = precisions * diff
    else:
        scaled = np.einsum("kde,ke->kd", precisions, diff)
    d = z.shape[0]
    log_g = -0.5 * (d * np.log(2 * np.pi) + log_dets + np.sum(diff * scaled, axis=1))
    # Zeros of Q stay exact (-inf): safe_log's floor would make every class's density
    # x's own component times exp(-708) once x lies 708 nats nearer it than any other
    # class's, and the classes' margins flat. An all-zero column keeps the floor, finite.
    with np.errstate(divide="ignore"):
        log_Q = np.where(Q.any(axis=0), np.log(Q), safe_log(Q))
    joint = log_g[:, None] + log_Q  # (K_x, K_y)
    log_p = logsumexp(joint, axis=0)
    resp = np.exp(joint - log_p)  # p(z = i | x, w = j)
    return log_p, -(resp.T @ scaled)


def log_gaussian_diag(X: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Log density of every row under every diagonal Gaussian.

    Parameters
    ----------
    X : ndarray of shape (..., D)
    means : ndarray of shape (K, D)
    variances : ndarray of shape (K, D)

    Returns
    -------
    ndarray of shape (..., K)
        ``log G(x; means[k], diag(variances[k]))``.
    """
    precisions = 1.0 / variances
    lead = X.shape[:-1]
    X = X.reshape(-1, X.shape[-1])  # one 2-D product is faster than a batched one
    # Expand |x - m|^2 / v as x^2/v - 2 x m / v + m^2/v: three matrix products instead
    # of an (n, K, D) array (sklearn's _estimate_log_gaussian_prob does the same).
    quad = (
        (X * X) @ precisions.T
        - 2.0 * (X @ (means * precisions).T)
        + np.sum(means * means * precisions, axis=1)
    )
    quad = np.maximum(quad, 0.0)
    log_det = np.sum(np.log(variances), axis=1)
    out = -0.5 * (X.shape[-1] * np.log(2 * np.pi) + log_det + quad)
    return out.reshape(*lead, means.shape[0])


def log_gaussian_on_lines(
    origin: np.ndarray, directions: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log G_k(origin + t d)`` as a quadratic in ``t`` for every direction and Gaussian.

    ``log G_k(o + t d) = a_k + b_k t + c_k t^2``, so the density along many lines costs
    one whitening of each direction, not one per point of the line.

    Parameters
    ----------
    origin : ndarray of shape (D,)
    directions : ndarray of shape (n, D)
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D) (variances) or (K, D, D)

    Returns
    -------
    a : ndarray of shape (1, K)
        ``log G_k(origin)``.
    b, c : ndarray of shape (n, K)
    """
    d = origin.shape[0]
    if covariances.ndim == 2:
        scale = 1.0 / np.sqrt(covariances)
        r = (origin - means) * scale  # the origin whitened by each Gaussian, (K, D)
        b = -(directions @ (r * scale).T)
        c = -0.5 * ((directions * directions) @ (scale * scale).T)
        log_det = np.sum(np.log(covariances), axis=1)
        sq = np.sum(r * r, axis=1)
    else:
        b = np.empty((directions.shape[0], means.shape[0]))
        c = np.empty_like(b)
        log_det, sq = np.empty(means.shape[0]), np.empty(means.shape[0])
        for k, chol in enumerate(np.linalg.cholesky(covariances)):
            inv = linalg.solve_triangular(chol, np.eye(d), lower=True)
            r = inv @ (origin - means[k])
            s = directions @ inv.T
            b[:, k] = -(s @ r)
            c[:, k] = -0.5 * np.sum(s * s, axis=1)
            log_det[k] = 2.0 * np.sum(np.log(np.diag(chol)))
            sq[k] = r @ r
    a = -0.5 * (d * np.log(2 * np.pi) + log_det + sq)
    return a[None], b, c


# ---------------------------------------------------------------------- eq. 2 and 3
def lam(Q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``lambda = Q pi``: the prior of z (eq. 2).

    Parameters
    ----------
    Q : ndarray of shape (R, K_x, K_y)
    pi : ndarray of shape (K_y,)

    Returns
    -------
    ndarray of shape (R, K_x)
    """
    return Q @ pi


def psi(Q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``Psi[i, j] = p(w = j | z = i) = Q[i, j] pi[j] / sum_k Q[i, k] pi[k]`` (eq. 2).

    Parameters
    ----------
    Q : ndarray of shape (R, K_x, K_y)
    pi : ndarray of shape (K_y,)

    Returns
    -------
    ndarray of shape (R, K_x, K_y)
        Rows sum to 1; a component with no mass gets the prior ``pi``.
    """
    joint = Q * pi
    total = joint.sum(axis=-1, keepdims=True)
    return np.where(total > 0, joint / np.where(total > 0, total, 1.0), pi)


def log_px_given_w(log_gx: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """``log p(x^(r) | w = j) = log sum_i G(x^(r); mu_i, Sigma_i) Q[r, i, j]`` (eq. 4, 10).

    Parameters
    ----------
    log_gx : ndarray of shape (n, R, K_x)
    Q : ndarray of shape (R, K_x, K_y)

    Returns
    -------
    ndarray of shape (n, R, K_y)
    """
    return _log_matmul(log_gx, Q)


def _log_matmul(log_a: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``log(exp(log_a) @ B)`` per position, without an (n, R, K, K') intermediate.

    Parameters
    ----------
    log_a : ndarray of shape (n, R, K)
    B : ndarray of shape (R, K, K'), non-negative

    Returns
    -------
    ndarray of shape (n, R, K')
        Finite where ``log_a`` is: entries that underflow are floored at ``log(tiny)``
        below the row's largest term, then redone exactly where ``B``'s column has a
        weight on a finite term. An all-zero column (a class no component can produce,
        as with a dead component in ``log_proba_z_given_y``) keeps the floor, so it can
        rank above a possible class more than 708 nats down.
    """
    shift = log_a.max(axis=-1, keepdims=True)
    scaled = np.exp(log_a - shift)  # the largest entry per row is 1: no overflow
    out = safe_log(np.einsum("nrk,rkl->nrl", scaled, B)) + shift
    # Where every term of a column underflowed (it is 708+ nats below the row's largest,
    # as a class far from x is under a labelled JGMM), the floor would tie all such
    # columns: redo those entries with their own shift, so that they keep their order.
    n, r, col = np.nonzero(out <= shift + np.log(_TINY))
    for start in range(0, n.size, 8192):  # bounds the (m, K) intermediates
        rows = slice(start, start + 8192)
        _redo_underflowed(out, log_a, B, n[rows], r[rows], col[rows])
    return out


def _redo_underflowed(
    out: np.ndarray, log_a: np.ndarray, B: np.ndarray, n: np.ndarray, r: np.ndarray, col: np.ndarray
) -> None:
    """``out[n, r, col] = log sum_k exp(log_a[n, r, k]) B[r, k, col]`` with each entry's
    own shift; an entry with no weight on a finite term keeps its floor."""
    with np.errstate(divide="ignore"):
        terms = log_a[n, r, :] + np.log(B[r, :, col])  # (m, K)
    top = terms.max(axis=1, initial=-np.inf)
    keep = np.isfinite(top)
    top, terms = top[keep], terms[keep]
    out[n[keep], r[keep], col[keep]] = np.log(np.sum(np.exp(terms - top[:, None]), axis=1)) + top


def log_proba_w_given_x(log_gx: np.ndarray, Q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``log p(w | x)`` (eq. 3), factorised over positions for the spatial model (eq. 11).

    ``p(w = j | {x^(r)}) = pi_j prod_r p(x^(r) | w = j) / normaliser``; with one
    position this is eq. 3, ``(g_x^T Q_{*,j}) pi_j / (g_x^T Q pi)``.

    Parameters
    ----------
    log_gx : ndarray of shape (n, R, K_x)
    Q : ndarray of shape (R, K_x, K_y)
    pi : ndarray of shape (K_y,)

    Returns
    -------
    ndarray of shape (n, K_y)
        Rows are log-probabilities (they log-sum-exp to 0).
    """
    joint = safe_log(pi) + log_px_given_w(log_gx, Q).sum(axis=1)
    return joint - logsumexp(joint, axis=1, keepdims=True)


def log_proba_z_given_y(log_gy: np.ndarray, Q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``log p(z^(r) = i | y) = log (Psi_{i,*} g_y) lambda_i / (lambda Psi g_y)`` (eq. 3).

    As ``Psi[i, j] lambda_i = Q[i, j] pi_j``, the numerator is ``sum_j Q[i, j] pi_j g_y[j]``.

    Parameters
    ----------
    log_gy : ndarray of shape (n, K_y)
    Q : ndarray of shape (R, K_x, K_y)
    pi : ndarray of shape (K_y,)

    Returns
    -------
    ndarray of shape (n, R, K_x)
    """
    QT = np.swapaxes(Q * pi, 1, 2)  # (R, K_y, K_x)
    joint = _log_matmul(
        np.broadcast_to(log_gy[:, None, :], (log_gy.shape[0], Q.shape[0], Q.shape[2])), QT
    )
    return joint - logsumexp(joint, axis=-1, keepdims=True)


def log_proba_z_given_x(log_gx: np.ndarray, Q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``log p(z^(r) = i | x^(r)) = log lambda_i G_i(x) / sum_k lambda_k G_k(x)``.

    This is ``g`` of eq. 15: the posterior of z in the JGMM, whose prior is
    ``lambda = Q pi``.

    Parameters
    ----------
    log_gx : ndarray of shape (n, R, K_x)
    Q : ndarray of shape (R, K_x, K_y)
    pi : ndarray of shape (K_y,)

    Returns
    -------
    ndarray of shape (n, R, K_x)
    """
    joint = log_gx + safe_log(lam(Q, pi))[None]
    return joint - logsumexp(joint, axis=-1, keepdims=True)


def log_joint_density(
    log_gx: np.ndarray, log_gy: np.ndarray, Q: np.ndarray, pi: np.ndarray
) -> np.ndarray:
    """``log p(x, y)`` of eq. 1 (eq. 12 per sample), with eq. 10 for positions.

    ``p({x^(r)}, y) = sum_j pi_j G_j(y) prod_r sum_i G_i(x^(r)) Q[r, i, j]``.

    Parameters
    ----------
    log_gx : ndarray of shape (n, R, K_x)
    log_gy : ndarray of shape (n, K_y)
    Q : ndarray of shape (R, K_x, K_y)
    pi : ndarray of shape (K_y,)

    Returns
    -------
    ndarray of shape (n,)
    """
    per_w = safe_log(pi) + log_gy + log_px_given_w(log_gx, Q).sum(axis=1)
    return logsumexp(per_w, axis=1)


# ---------------------------------------------------------------------- EM (App. A)
def e_step(
    log_gx: np.ndarray, log_gy: np.ndarray, Q: np.ndarray, pi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """The E-step of eq. 15, in log space.

    ``g[n, i] = lambda_i G(x_n; mu_i) / sum_r lambda_r G(x_n; mu_r)`` with
    ``lambda = Q pi``, and ``h[n, j] = pi_j G(y_n; phi_j) / sum_r pi_r G(y_n; phi_r)``.
    These are the responsibilities of two mixtures, one on x with weights ``lambda``
    and one on y with weights ``pi``; the EM of Appendix A ascends the sum of their
    log-likelihoods, which this function returns as the lower bound.

    Parameters
    ----------
    log_gx : ndarray of shape (n, R, K_x)
    log_gy : ndarray of shape (n, K_y)
    Q : ndarray of shape (R, K_x, K_y)
    pi : ndarray of shape (K_y,)

    Returns
    -------
    g : ndarray of shape (n, R, K_x)
    h : ndarray of shape (n, K_y)
    lower_bound : float
        ``mean_n [sum_r log sum_i lambda_i G(x_n^(r)) + log sum_j pi_j G(y_n)]``.
    """
    g, norm_x = _normalize(log_gx + safe_log(lam(Q, pi))[None])
    h, norm_y = _normalize(log_gy + safe_log(pi)[None])
    bound = float(norm_x.sum(axis=(1, 2)).mean() + norm_y.mean())
    return g, h, bound


def _normalize(log_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior probabilities from joint log densities along the last axis (each row
    with at least one finite entry; -inf gives an exact zero), and the log normaliser;
    one ``exp`` serves both (it is the E-step's main cost)."""
    top = log_p.max(axis=-1, keepdims=True)
    p = np.exp(log_p - top)
    total = p.sum(axis=-1, keepdims=True)
    p /= total
    return p, np.log(total) + top


def e_step_joint(
    log_gx: np.ndarray,
    log_gy: np.ndarray,
    Q: np.ndarray,
    pi: np.ndarray,
    *,
    block_elements: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The exact E-step of the likelihood of eq. 12 (with eq. 10 for positions).

    Not the paper's eq. 15, which computes ``g`` and ``h`` each from one layer only and
    approximates the joint responsibility of ``(z = i, w = j)`` by ``g[n, i] h[n, j]``.
    Here ``p(w = j | x, y) = h[n, j] ~ pi_j G_j(y) prod_r p(x^(r) | w = j)`` and
    ``p(z^(r) = i, w = j | x, y) = h[n, j] G_i(x^(r)) Q[r, i, j] / p(x^(r) | w = j)``,
    so the M-step of eq. 16-21 with these responsibilities is the exact EM of eq. 12
    and the log-likelihood never decreases (with full covariances, up to the floor on
    their diagonal). Rows are processed in blocks so that the
    (rows, R, K_x, K_y) array stays below ``block_elements``.

    Parameters
    ----------
    log_gx : ndarray of shape (n, R, K_x)
    log_gy : ndarray of shape (n, K_y)
    Q : ndarray of shape (R, K_x, K_y)
    pi : ndarray of shape (K_y,)

    Returns
    -------
    g : ndarray of shape (n, R, K_x)
        ``p(z^(r) = i | x, y)``.
    h : ndarray of shape (n, K_y)
        ``p(w = j | x, y)``.
    co : ndarray of shape (R, K_x, K_y)
        ``(1/N) sum_n p(z^(r) = i, w = j | x, y)``, which replaces
        ``(1/N) sum_n g[n, i] h[n, j]`` in eq. 20-21.
    log_likelihood : float
        The mean over rows of eq. 12's ``log p(x, y)``.
    """
    n, R, kx = log_gx.shape
    ky = log_gy.shape[1]
    log_q = safe_log(Q)[None]
    g = np.empty_like(log_gx)
    h = np.empty_like(log_gy)
    co = np.zeros((R, kx, ky))
    total = 0.0
    step = max(1, block_elements // max(1, R * kx * ky))
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        joint = log_gx[rows, :, :, None] + log_q  # (b, R, K_x, K_y)
        per_w = logsumexp(joint, axis=2)  # log p(x^(r) | w = j), (b, R, K_y)
        lw = safe_log(pi) + log_gy[rows] + per_w.sum(axis=1)
        norm = logsumexp(lw, axis=1, keepdims=True)
        total += float(norm.sum())
        hb = np.exp(lw - norm)
        r = np.exp(joint - per_w[:, :, None, :]) * hb[:, None, None, :]
        g[rows] = r.sum(axis=-1)
        h[rows] = hb
        co += r.sum(axis=0)
    return g, h, co / n, total / n


def e_step_labelled(
    log_gx: np.ndarray, labels: np.ndarray, Q: np.ndarray, pi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The exact E-step of eq. 12 when ``w`` is observed: row ``n``'s is ``labels[n]``.

    ``h`` is the one-hot of the labels and
    ``p(z^(r) = i | x, w = c) = Q[r, i, c] G_i(x^(r)) / sum_k Q[r, k, c] G_k(x^(r))``.
    A zero in ``Q`` gives an exact zero here, so the M-step keeps it: lower components
    that start owned by one label stay so.

    Parameters
    ----------
    log_gx : ndarray of shape (n, R, K_x)
    labels : ndarray of int of shape (n,)
    Q : ndarray of shape (R, K_x, K_y)
    pi : ndarray of shape (K_y,)

    Returns
    -------
    g, h, co, log_likelihood
        As :func:`e_step_joint`; ``log_likelihood`` is the mean of
        ``log p(x, w = labels[n])``.
    """
    n, ky = log_gx.shape[0], Q.shape[2]
    log_q = np.log(Q, out=np.full(Q.shape, -np.inf), where=Q > 0)
    g = np.empty_like(log_gx)
    total = float(safe_log(pi)[labels].sum())
    for c in np.unique(labels):  # one label at a time keeps the arrays (n, R, K_x)
        rows = labels == c
        g[rows], norm = _normalize(log_gx[rows] + log_q[None, :, :, c])
        total += float(norm.sum())
    h = np.eye(ky)[labels]
    co = np.einsum("nri,nj->rij", g, h) / n
    return g, h, co, total / n


def m_step_gaussians(
    X: np.ndarray, resp: np.ndarray, var_floor: float, *, full: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Means and covariances from responsibilities (eq. 16-17, 18-19).

    Positions share the Gaussians (Sec. 3.3), so their statistics are pooled.

    Parameters
    ----------
    X : ndarray of shape (n, R, D)
    resp : ndarray of shape (n, R, K)
    var_floor : float
        No variance falls below this, so that no component collapses onto a point
        (duplicated rows, a constant dimension) and yields an infinite density. A
        full covariance gets it added to its diagonal, so that no eigenvalue falls
        below it (scikit-learn's ``reg_covar``).
    full : bool
        Full covariances instead of diagonal ones.

    Returns
    -------
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D), the variances, or (K, D, D) when ``full``
    """
    X2 = X.reshape(-1, X.shape[-1])
    r2 = resp.reshape(-1, resp.shape[-1])
    # The tiny addend keeps an empty component finite (mean 0, variance at the floor).
    nk = r2.sum(axis=0) + 10 * np.finfo(np.float64).eps
    means = (r2.T @ X2) / nk[:, None]
    if not full:
        second = (r2.T @ (X2 * X2)) / nk[:, None]
        return means, np.maximum(second - means * means, var_floor)
    d = X2.shape[1]
    covariances = np.empty((means.shape[0], d, d))
    for k in range(means.shape[0]):
        centred = X2 - means[k]
        covariances[k] = (r2[:, k, None] * centred).T @ centred / nk[k]
        covariances[k].flat[:: d + 1] += var_floor
    return means, covariances


def m_step_latent(
    g: np.ndarray, h: np.ndarray, co: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``pi`` and ``Q`` from the responsibilities (eq. 20-21).

    ``pi_j = (1/N) sum_n sum_i g[n, i] h[n, j]`` and
    ``Q[i, j] = (1/pi_j) (1/N) sum_n g[n, i] h[n, j]``, one ``Q`` per position.

    Parameters
    ----------
    g : ndarray of shape (n, R, K_x)
    h : ndarray of shape (n, K_y)
    co : ndarray of shape (R, K_x, K_y), optional
        The joint responsibilities' mean, from :func:`e_step_joint`, in place of the
        paper's ``(1/N) sum_n g[n, i] h[n, j]``.

    Returns
    -------
    Q : ndarray of shape (R, K_x, K_y)
        Columns sum to 1. A w component with no mass gets a uniform column.
    pi : ndarray of shape (K_y,)
    """
    if co is None:
        co = np.einsum("nri,nj->rij", g, h) / g.shape[0]
    # sum_i g[n, r, i] = 1 for every position, so pi is the same from every r; use r=0.
    pi = co[0].sum(axis=0)
    safe = pi > _TINY
    Q = np.where(safe, co / np.where(safe, pi, 1.0), 1.0 / g.shape[-1])
    return Q, pi / pi.sum()


# ---------------------------------------------------------------------- eq. 4-9
def entropy(log_p: np.ndarray) -> np.ndarray:
    """``-sum_j p_j ln p_j`` over the last axis (eq. 6), from log-probabilities.

    Parameters
    ----------
    log_p : ndarray of shape (n, K)

    Returns
    -------
    ndarray of shape (n,)
    """
    return -np.sum(np.exp(log_p) * log_p, axis=-1)


def _log(a: np.ndarray) -> np.ndarray:
    """``log(a)`` with zeros to -inf, without a RuntimeWarning. For eq. 8's coefficients,
    where :func:`safe_log`'s floor of about -708 would rank a zero coefficient above a
    positive one of exp(-800)."""
    with np.errstate(divide="ignore"):
        return np.log(a)


def counterfactual_weights(pz_query: np.ndarray, Psi: np.ndarray) -> np.ndarray:
    """The coefficients ``c_i`` of eq. 8, so that eq. 7 is ``f(x) = sum_i p(z=i|x) c_i``.

    ``c_i = sum_j p(w=j|z=i) p(w_q != j|z_q=i) p(z_q=i|x_q)
         = p(z_q=i|x_q) sum_j Psi[i, j] (1 - Psi[i, j])``.
    :func:`log_counterfactual_weights` gives their logs, which survive where they
    underflow.

    Parameters
    ----------
    pz_query : ndarray of shape (n_queries, K_x)
        ``p(z | x_query)``.
    Psi : ndarray of shape (K_x, K_y)

    Returns
    -------
    ndarray of shape (n_queries, K_x)
    """
    return np.exp(log_counterfactual_weights(_log(pz_query), Psi))


def log_counterfactual_weights(log_pz_query: np.ndarray, Psi: np.ndarray) -> np.ndarray:
    """The logs of eq. 8's coefficients (:func:`counterfactual_weights`), -inf for a zero.

    Formed from ``log p(z | x_q)``: far from a component it is -800, say, and ``c_i``
    of every component the query might be in can underflow to 0 in float64, where
    eq. 8's optimum was lost (every alpha scored 0).

    Parameters
    ----------
    log_pz_query : ndarray of shape (n_queries, K_x)
        ``log p(z | x_query)``.
    Psi : ndarray of shape (K_x, K_y)

    Returns
    -------
    ndarray of shape (n_queries, K_x)
    """
    return log_pz_query + _log(np.sum(Psi * (1.0 - Psi), axis=1))[None]


def labelled_counterfactual_weights(
    log_pz_query: np.ndarray, Psi: np.ndarray, query_w: np.ndarray
) -> np.ndarray:
    """Eq. 8's coefficients when every lower component belongs to one class.

    With ``e_step="labelled"`` each row of ``Psi`` is one-hot, so "the same ``z``, a
    different ``w``" has probability zero and eq. 7 vanishes everywhere. Its intent, a
    lower component the query is likely in but of another class, is kept as
    ``c_i = p(z = i | x_q, w != w_q)``, zero for the components of the query's class
    ``w_q``: the query's posterior over the lower components of the other classes.
    Computed as the exponential of :func:`log_labelled_counterfactual_weights`.

    Parameters
    ----------
    log_pz_query : ndarray of shape (n_queries, K_x)
        ``log p(z | x_query)``.
    Psi : ndarray of shape (K_x, K_y)
        One-hot rows.
    query_w : ndarray of int of shape (n_queries,)
        The query's higher component (the proxy's class).

    Returns
    -------
    ndarray of shape (n_queries, K_x)
        Zero on the query's own class's components; the rest sums to 1. All zero
        where no component belongs to another class.
    """
    return np.exp(log_labelled_counterfactual_weights(log_pz_query, Psi, query_w))


def log_labelled_counterfactual_weights(
    log_pz_query: np.ndarray, Psi: np.ndarray, query_w: np.ndarray
) -> np.ndarray:
    """The logs of :func:`labelled_counterfactual_weights`, -inf for a zero.

    Where no lower component belongs to a class other than the query's (one class
    holds every component), no counterfactual component exists and ``p(w != w_q)`` is
    0: every ``c_i`` is then 0 (-inf here), as eq. 8's are where every component's
    class is certain, and :func:`optimal_alpha` gives the uniform alpha. Normalising
    over no component was 0/0: NaN weights, and NaN scores for every candidate.

    Parameters
    ----------
    log_pz_query : ndarray of shape (n_queries, K_x)
        ``log p(z | x_query)``.
    Psi : ndarray of shape (K_x, K_y)
        One-hot rows.
    query_w : ndarray of int of shape (n_queries,)
        The query's higher component (the proxy's class).

    Returns
    -------
    ndarray of shape (n_queries, K_x)
    """
    other = Psi[:, query_w].T < 0.5  # (n_queries, K_x)
    log_p = np.where(other, log_pz_query, -np.inf)
    # In a few hundred dimensions p(z | x_q) of every other-class component can
    # underflow: normalise in log space, from the largest of them.
    top = log_p.max(axis=1, keepdims=True)
    shift = np.where(np.isfinite(top), top, 0.0)  # no other component: a row of -inf
    total = _log(np.exp(log_p - shift).sum(axis=1, keepdims=True)) + shift
    # No other component: total is -inf, and every c_i 0 (-inf - inf), not NaN.
    return log_p - np.where(np.isfinite(total), total, np.inf)


def semifactual_weights(pz_query: np.ndarray, Psi: np.ndarray) -> np.ndarray:
    """The coefficients ``c_i`` of eq. 9, so that ``f(x) = sum_i p(z=i|x) c_i``.

    ``c_i = sum_j p(w=j|z=i) p(w_q=j|z_q!=i) p(z_q!=i|x_q)``, where
    ``p(w_q=j|z_q!=i) p(z_q!=i|x_q) = p(w_q=j, z_q!=i | x_q)
    = sum_{k != i} Psi[k, j] p(z_q=k|x_q)`` (w is independent of x given z).
    Computed as the exponential of :func:`log_semifactual_weights`.

    Parameters
    ----------
    pz_query : ndarray of shape (n_queries, K_x)
    Psi : ndarray of shape (K_x, K_y)

    Returns
    -------
    ndarray of shape (n_queries, K_x)
    """
    return np.exp(log_semifactual_weights(_log(pz_query), Psi))


def log_semifactual_weights(log_pz_query: np.ndarray, Psi: np.ndarray) -> np.ndarray:
    """The logs of eq. 9's coefficients (:func:`semifactual_weights`), -inf for a zero.

    Row ``i``'s sum over ``k != i`` is taken from its own largest ``p(z_q = k | x_q)``,
    so that it neither underflows nor, for the query's likeliest component, is
    ``p(w_q = j | x_q)`` less that component's share: a difference of two nearly
    equal numbers that left nothing of the others.

    Parameters
    ----------
    log_pz_query : ndarray of shape (n_queries, K_x)
        ``log p(z | x_query)``.
    Psi : ndarray of shape (K_x, K_y)

    Returns
    -------
    ndarray of shape (n_queries, K_x)
    """
    n, k = log_pz_query.shape
    log_psi = _log(Psi)
    others = ~np.eye(k, dtype=bool)
    out = np.empty((n, k))
    for q in range(n):
        log_p = np.where(others, log_pz_query[q][None, :], -np.inf)  # row i: k != i
        top = log_p.max(axis=1)
        shift = np.where(np.isfinite(top), top, 0.0)  # a row of -inf sums to 0, -inf
        # sum_{k != i} Psi[k, j] p(z_q = k | x_q) / e^top_i: shape (K_x, K_y)
        inner = np.exp(log_p - shift[:, None]) @ Psi
        # scipy's logsumexp, not this module's: it takes -inf (a zero Psi or inner).
        out[q] = shift + special.logsumexp(log_psi + _log(inner), axis=1)
    return out


def log_local_scores(log_pz: np.ndarray, log_c: np.ndarray) -> np.ndarray:
    """``log f(x) = log sum_i p(z = i | x) c_i`` (eq. 7, or eq. 9) from the logs of both.

    Where ``c`` is tiny (a query far beyond the components, ``c_i`` of exp(-900))
    ``f(x)`` underflows, or rounds to 0 at any fixed number of decimals, for every
    candidate; its log still ranks them.

    Parameters
    ----------
    log_pz : ndarray of shape (n, K_x)
        ``log p(z | x)`` of the candidates.
    log_c : ndarray of shape (K_x,)
        One query's coefficients' logs (:func:`log_counterfactual_weights`,
        :func:`log_labelled_counterfactual_weights`, :func:`log_semifactual_weights`),
        -inf for a zero.

    Returns
    -------
    ndarray of shape (n,)
        -inf where every term is 0.
    """
    return special.logsumexp(log_pz + log_c[None], axis=1)  # takes -inf, as log_c holds


def optimal_alpha(c: np.ndarray, *, log: bool = False) -> np.ndarray:
    """The linear programme of eq. 8: ``max_alpha sum_i alpha_i c_i`` on the simplex.

    Solved with :func:`scipy.optimize.linprog` (HiGHS). The optimum is a vertex, the
    component with the largest ``c_i``; ties are spread by the solver as it finds them.
    ``c`` is divided by its largest magnitude first, which moves no optimum: HiGHS
    takes a cost below its tolerance (1e-7) for zero, and eq. 8's ``c`` are
    probabilities that can all lie below it (a query almost surely in a component of
    one class), where the solver stopped at its first vertex, component 0, whatever
    ``c`` was. Below about 1e-308 they underflow to 0 altogether: given as logs
    (``log=True``, from :func:`log_counterfactual_weights`,
    :func:`log_labelled_counterfactual_weights` or :func:`log_semifactual_weights`),
    they keep their relative sizes.

    Where every coefficient is 0 (-inf as a log), every alpha is optimal: the uniform
    one is returned, which favours no component (the solver's first vertex, component
    0, favoured it for no reason).

    Parameters
    ----------
    c : ndarray of shape (K_x,)
        The coefficients, or with ``log=True`` their logs.
    log : bool, default=False
        Whether ``c`` holds logs.

    Returns
    -------
    ndarray of shape (K_x,)
        Non-negative, sums to 1.
    """
    from scipy.optimize import linprog

    k = c.shape[0]
    if log:
        top = np.max(c)
        c = np.exp(c - top) if np.isfinite(top) else np.zeros(k)
    scale = np.max(np.abs(c))
    if scale == 0:
        return np.full(k, 1.0 / k)
    result = linprog(
        -c / scale, A_eq=np.ones((1, k)), b_eq=np.ones(1), bounds=[(0.0, None)] * k, method="highs"
    )
    if not result.success:  # pragma: no cover - the simplex is never infeasible
        alpha = np.zeros(k)
        alpha[int(np.argmax(c))] = 1.0
        return alpha
    alpha = np.maximum(result.x, 0.0)
    return alpha / alpha.sum()


def sample_gmm(
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    n: int,
    rng: np.random.Generator,
    *,
    center: np.ndarray | None = None,
    scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` samples from a GMM, optionally localised around a point.

    With ``center`` and ``scale``, each component's Gaussian is multiplied by the
    isotropic ``G(x; center, scale^2 I)`` and renormalised (the component weights stay):
    component ``i`` becomes ``G(x; S (Sigma_i^-1 mu_i + center / scale^2), S)`` with
    ``S = (Sigma_i^-1 + I / scale^2)^-1``. Its draws lie near ``center``, moved towards
    ``mu_i`` most along the directions where the component is tight.

    Parameters
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D) (variances) or (K, D, D)
    n : int
    rng : numpy.random.Generator
    center : ndarray of shape (D,), optional
    scale : float, optional
        Required with ``center``.

    Returns
    -------
    samples : ndarray of shape (n, D)
    components : ndarray of shape (n,)
        The component each sample came from.
    """
    weights = np.asarray(weights, dtype=np.float64)
    comps = rng.choice(weights.shape[0], size=n, p=weights / weights.sum())
    noise = rng.standard_normal((n, means.shape[1]))
    if center is not None:
        if scale is None:
            raise ValueError("sample_gmm: a center needs a scale")
        means, covariances = _localise(means, covariances, np.asarray(center), scale, comps)
    return draw_from_components(means, covariances, comps, noise), comps


def _localise(
    means: np.ndarray,
    covariances: np.ndarray,
    center: np.ndarray,
    scale: float,
    used: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each component times ``G(x; center, scale^2 I)``, renormalised (see
    :func:`sample_gmm`); a full covariance only for the components in ``used``."""
    local = 1.0 / scale**2
    if covariances.ndim == 2:
        tight = 1.0 / covariances
        variances = 1.0 / (tight + local)
        return variances * (means * tight + center * local), variances
    means, covariances = means.copy(), covariances.copy()
    for k in np.unique(used):
        # In the component's eigenbasis both precisions are diagonal.
        eigvals, eigvecs = np.linalg.eigh(covariances[k])
        shrunk = 1.0 / (1.0 / eigvals + local)
        covariances[k] = (eigvecs * shrunk) @ eigvecs.T
        rotated = eigvecs.T @ means[k] / eigvals + eigvecs.T @ center * local
        means[k] = eigvecs @ (shrunk * rotated)
    return means, covariances


def draw_from_components(
    means: np.ndarray, covariances: np.ndarray, comps: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """``mu_c + Sigma_c^(1/2) e`` for each component ``c`` in ``comps`` and standard
    normal row ``e`` of ``noise``; diagonal ``(K, D)`` or full ``(K, D, D)`` covariances."""
    if covariances.ndim == 2:
        return means[comps] + noise * np.sqrt(covariances[comps])
    out = means[comps]
    for k in np.unique(comps):
        rows = comps == k
        out[rows] += noise[rows] @ np.linalg.cholesky(covariances[k]).T
    return out
