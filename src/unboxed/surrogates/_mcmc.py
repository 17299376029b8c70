"""Post-MCMC analysis: relabelling of mixture draws, split R-hat and effective sample size.

- :func:`relabel` is the iterative relabelling the paper cites (Sec. 3.3; note,
  "Label switching"): each draw's allocation is matched to a reference allocation by
  the Hungarian algorithm, and the reference is recomputed from the relabelled draws
  until the permutations stop changing.
- :func:`split_rhat` and :func:`effective_sample_size` follow Gelman et al., *Bayesian
  Data Analysis* (3rd ed., Sec. 11.4-11.5): chains are split in halves (the classic
  split R-hat, not the rank-normalised one of Vehtari et al. 2021), and the ESS sums
  paired autocorrelations over Geyer's initial positive sequence made monotone (his
  initial monotone sequence). The autocorrelations are Stan's, ``1 - (W - mean
  autocovariance) / var+`` with lag 0's set to 1, but there is no antithetic term, and
  the ESS is capped at the number of draws.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._validation import check_positive_int

#: Chains whose split R-hat reaches this have not mixed (Gelman et al., BDA3, Sec. 11.5).
RHAT_LIMIT = 1.1


def _modal_allocation(z: np.ndarray, n_components: int) -> np.ndarray:
    """The most frequent label of each sample over draws; z has shape (n_draws, n)."""
    counts = np.zeros((n_components, z.shape[1]), dtype=np.int64)
    for j in range(n_components):
        counts[j] = (z == j).sum(axis=0)
    return counts.argmax(axis=0)


def relabel(z: np.ndarray, n_components: int, *, max_rounds: int = 50) -> np.ndarray:
    """Permutations that align every draw's labels with a common reference.

    Parameters
    ----------
    z : ndarray of int, shape (n_draws, n)
        The allocation of each sample in each draw.
    n_components : int
        The number of components; every label in ``z`` is below it.
    max_rounds : int
        Bound on the reference updates (it settles in a few); at least 1.

    Returns
    -------
    ndarray of int, shape (n_draws, n_components)
        ``perm[d, j]`` is the new label of draw ``d``'s component ``j``; apply it as
        ``new[d, perm[d]] = old[d]`` to per-component arrays.
    """
    J = check_positive_int(n_components, name="n_components")
    max_rounds = check_positive_int(max_rounds, name="max_rounds")
    z = _check_allocations(z, J)
    n_draws = z.shape[0]
    perm = np.tile(np.arange(J), (n_draws, 1))
    reference = z[-1]
    offsets = (np.arange(n_draws) * J * J)[:, None]
    for _ in range(max_rounds):
        # agree[d, j, l]: samples that draw d puts in j and the reference in l.
        cells = (offsets + z * J + reference[None, :]).ravel()
        agree = np.bincount(cells, minlength=n_draws * J * J).reshape(n_draws, J, J)
        new = np.empty_like(perm)
        for d in range(n_draws):
            rows, cols = linear_sum_assignment(-agree[d])
            new[d, rows] = cols
        relabelled = np.take_along_axis(new, z, axis=1)
        reference = _modal_allocation(relabelled, J)
        if np.array_equal(new, perm):
            break
        perm = new
    return perm


def _check_allocations(z: object, n_components: int) -> np.ndarray:
    """``z`` as an int64 array of shape (n_draws >= 1, n) with labels in ``0 ..
    n_components - 1``: in a narrower dtype the cell index ``z * J`` wrapped around
    silently (uint8 labels of 20 components), and a label out of range counted in
    another draw's cells or failed deep in numpy."""
    array = np.asarray(z)
    if array.dtype.kind not in "iu" or array.ndim != 2 or array.shape[0] < 1:
        raise ValueError(
            f"z must be an int array of shape (n_draws >= 1, n_samples), the label of each "
            f"sample in each draw, got an array of {array.dtype} of shape {array.shape}"
        )
    if array.size and (array.min() < 0 or array.max() >= n_components):
        bad = array.min() if array.min() < 0 else array.max()
        raise ValueError(
            f"z must hold labels in 0 .. {n_components - 1} (n_components={n_components}), "
            f"got {bad}"
        )
    return array.astype(np.int64, copy=False)


def apply_permutation(values: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Reorder per-component draws ``values`` (n_draws, J, ...) by ``perm`` (n_draws, J)."""
    values, perm = np.asarray(values), np.asarray(perm)
    J = perm.shape[1] if perm.ndim == 2 else -1
    # A row that is no permutation left some of ``out`` unwritten (np.empty's leftover
    # memory, silently), and a perm for fewer draws was broadcast over all of them.
    if (
        perm.dtype.kind not in "iu"
        or values.ndim < 2
        or perm.shape != values.shape[:2]
        or not np.array_equal(np.sort(perm, axis=1), np.broadcast_to(np.arange(J), perm.shape))
    ):
        raise ValueError(
            f"perm must be an int array of shape (n_draws, J) = {values.shape[:2]} whose "
            f"every row is a permutation of 0 .. J - 1, got an array of {perm.dtype} of "
            f"shape {perm.shape}"
        )
    out = np.empty_like(values)
    rows = np.arange(values.shape[0])[:, None]
    out[rows, perm] = values
    return out


def split_rhat(draws: np.ndarray) -> np.ndarray:
    """Split R-hat of each scalar quantity.

    Parameters
    ----------
    draws : ndarray of shape (n_chains, n_draws, ...)
        At least 4 draws per chain, all finite.

    Returns
    -------
    ndarray of shape draws.shape[2:]
        1 for a quantity constant across all draws; infinite for one that is constant
        within each chain but not across them (chains stuck apart).
    """
    chains = _split(draws)
    n = chains.shape[1]
    means = chains.mean(axis=1)
    within = chains.var(axis=1, ddof=1).mean(axis=0)
    between = n * means.var(axis=0, ddof=1)
    var_plus = (n - 1) / n * within + between / n
    with np.errstate(divide="ignore", invalid="ignore"):
        rhat = np.sqrt(var_plus / within)
    return np.where(within > 0, rhat, np.where(between > 0, np.inf, 1.0))


def effective_sample_size(draws: np.ndarray) -> np.ndarray:
    """The effective sample size of each scalar quantity across chains.

    Parameters
    ----------
    draws : ndarray of shape (n_chains, n_draws, ...)
        At least 4 draws per chain, all finite.

    Returns
    -------
    ndarray of shape draws.shape[2:]
        Capped at the number of draws the split chains hold (``n_chains * 2 *
        (n_draws // 2)``: an odd middle draw is dropped), and equal to it for a
        constant quantity.
    """
    chains = _split(draws)
    m, n = chains.shape[:2]
    flat = chains.reshape(m, n, -1)
    centred = flat - flat.mean(axis=1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=size, axis=1)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=1)[:, :n] / n
    within = (flat.var(axis=1, ddof=1)).mean(axis=0)
    var_plus = (n - 1) / n * within + flat.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (within - acov.mean(axis=0)) / var_plus  # (n, q)
    # A quantity's autocorrelation at lag 0 is 1, as Stan sets it: the formula gives
    # about 1 - 1 / n there, which raised an ESS below the cap by about 2 / (n tau):
    # 0.4% on iid draws of 4 chains of 1000 (split, n = 500), 0.06-1.8% at ESS 5-90
    # of a 200-sweep DMM-MEN fit of 2 chains, 0.003% at ESS 35 of 2 chains of 1500.
    rho[0] = 1.0
    ess = np.empty(flat.shape[2])
    for q in range(flat.shape[2]):
        ess[q] = _ess_one(rho[:, q], m * n) if var_plus[q] > 0 else m * n
    return ess.reshape(np.shape(draws)[2:])  # draws may be a list


def _ess_one(rho: np.ndarray, total: int) -> float:
    """Geyer's initial monotone sequence on paired autocorrelations."""
    pairs = rho[: rho.size - rho.size % 2].reshape(-1, 2).sum(axis=1)
    positive = np.flatnonzero(pairs <= 0)
    pairs = pairs[: positive[0]] if positive.size else pairs
    pairs = np.minimum.accumulate(pairs)
    tau = -1.0 + 2.0 * pairs.sum()
    return float(min(total / max(tau, 1e-12), total))


def _split(draws: np.ndarray) -> np.ndarray:
    array = None
    try:
        array = np.asarray(draws)
        if array.dtype.kind == "c":  # the cast would drop the imaginary part with a warning
            raise TypeError
        draws = array.astype(np.float64)
    except (TypeError, ValueError):
        what = f"an array of {array.dtype}" if array is not None else type(draws).__name__
        raise TypeError(f"draws must be an array of real numbers, got {what}") from None
    if draws.ndim < 2 or draws.shape[0] < 1 or draws.shape[1] < 4:
        raise ValueError(
            f"need draws of shape (n_chains, >= 4 draws, ...) with at least one chain, "
            f"got {draws.shape}"
        )
    finite = np.isfinite(draws).reshape(draws.shape[0] * draws.shape[1], -1).all(axis=0)
    if not finite.all():
        # A NaN made the within-chain variance NaN, and that read as a constant
        # quantity: R-hat 1 and the full ESS, a chain that looked perfectly mixed.
        where = np.unravel_index(np.flatnonzero(~finite)[0], draws.shape[2:])
        raise ValueError(
            f"draws must be finite, but quantity {tuple(int(i) for i in where)} of draws "
            f"of shape {draws.shape} holds NaN or infinite values"
        )
    # R-hat and the ESS are scale-free, but squares of draws near 1e300 overflowed
    # (NaN) and those of draws near 1e-300 underflowed to a variance of 0 (a "constant"
    # quantity: R-hat 1). A power of two rescales exactly, and only such quantities are
    # rescaled, so others are computed bit for bit as before.
    scale = np.abs(draws).max(axis=(0, 1))
    _, exponent = np.frexp(scale)
    outside = (scale > 2.0**400) | ((scale > 0) & (scale < 2.0**-400))
    if np.any(outside):
        draws = np.ldexp(draws, np.where(outside, -exponent, 0))
    half = draws.shape[1] // 2
    return np.concatenate([draws[:, :half], draws[:, -half:]], axis=0)
