"""Mining and generating explanatory examples from a fitted JGMM (Sec. 3.2, eq. 4-9).

Every function works in the model's whitened coordinates on a plain (non-spatial)
:class:`~unboxed.surrogates.JGMM` and returns a :class:`Found` of row indices or
samples with their scores; :class:`~unboxed.surrogates.JGMMExplainer` turns them into an
:class:`~unboxed.ExampleSet`.

Scores. Eq. 4 (prototypes) and eq. 5 (criticisms) are densities, which in a few hundred
dimensions under- or overflow; they are kept as ``log p(x | w = j)`` and
``-max_j log p(x | w = j)``, monotone transforms that rank exactly as eq. 4 and
``1 - max_j p(x | w = j)`` of eq. 5 do. Eq. 6-9 are entropies and probabilities and are
kept as they are; eq. 7's and 9's scores that round to 0 are ranked by their logs,
which survive where they underflow (:func:`local_examples`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from .._ranks import descending_order
from .._validation import allocate, check_positive_int
from ..local._engine import call_seed, row_seed
from . import _jgmm_math as jm
from ._jgmm import JGMM


@dataclasses.dataclass(frozen=True)
class Found:
    """Examples found by one procedure, in whitened coordinates.

    Attributes
    ----------
    Z : ndarray of shape (n, D)
        The examples, whitened.
    scores : ndarray of shape (n,)
    components : ndarray of shape (n,)
        The lower component z: sampled from, or the most probable one.
    groups : ndarray of shape (n,)
        The higher component (prototypes) or query row (counterfactuals,
        semi-factuals); -1 otherwise.
    indices : ndarray of shape (n,)
        Row in the mining pool; -1 for a generated sample.
    funnel : ndarray of shape (n_queries, 3), optional
        Counterfactuals and semi-factuals: per query, the candidates found (drawn,
        searched or in the pool), those within the radius, and those ``select``
        kept; None for the other examples.
    """

    Z: np.ndarray
    scores: np.ndarray
    components: np.ndarray
    groups: np.ndarray
    indices: np.ndarray
    funnel: np.ndarray | None = None


def _log_gx(model: JGMM, Z: np.ndarray) -> np.ndarray:
    """``log G(z; mu_i, Sigma_i)`` of whitened rows, shape (n, 1, K_x)."""
    factors = model._factors(model.vars_x_)
    return jm.log_gaussian(Z[:, None, :], model.means_x_, model.vars_x_, factors)


def _check_plain(model: JGMM) -> None:
    if model.spatial_:
        raise ValueError(
            "explanatory examples need the plain JGMM; the spatial model (Sec. 3.3) "
            "serves as a proxy classifier only"
        )


def prototype_scores(model: JGMM, Z: np.ndarray, log_gx: np.ndarray | None = None) -> np.ndarray:
    """``log f_proto^(j)(x) = log p(x | w = j) = log sum_i Q[i, j] G(x; mu_i)`` (eq. 4).

    Parameters
    ----------
    model : JGMM
    Z : ndarray of shape (n, D), whitened
    log_gx : ndarray of shape (n, 1, K_x), optional
        ``_log_gx(model, Z)``, where the caller has it already.

    Returns
    -------
    ndarray of shape (n, K_y)
    """
    log_gx = _log_gx(model, Z) if log_gx is None else log_gx
    return jm.log_px_given_w(log_gx, model._Q)[:, 0]


def criticism_scores(model: JGMM, Z: np.ndarray) -> np.ndarray:
    """``-max_j log p(x | w = j)``: ranks as ``1 - max_j f_proto^(j)(x)`` (eq. 5).

    Returns
    -------
    ndarray of shape (n,)
    """
    return -prototype_scores(model, Z).max(axis=1)


def influence_scores(model: JGMM, Z: np.ndarray) -> np.ndarray:
    """``-sum_j p(w=j|x) ln p(w=j|x)`` (eq. 6).

    Returns
    -------
    ndarray of shape (n,)
    """
    return jm.entropy(_log_proba_w(model, Z))


def proba_z(model: JGMM, Z: np.ndarray, log_gx: np.ndarray | None = None) -> np.ndarray:
    """``p(z | x)`` of whitened rows, shape (n, K_x); ``log_gx`` is ``_log_gx(model, Z)``
    where the caller has it already."""
    return np.exp(_log_proba_z(model, Z, log_gx))


def _log_proba_z(model: JGMM, Z: np.ndarray, log_gx: np.ndarray | None = None) -> np.ndarray:
    """``log p(z | x)`` of whitened rows (:func:`proba_z`), shape (n, K_x)."""
    log_gx = _log_gx(model, Z) if log_gx is None else log_gx
    return jm.log_proba_z_given_x(log_gx, model._Q, model.pi_)[:, 0]


def _log_proba_w(model: JGMM, Z: np.ndarray, log_gx: np.ndarray | None = None) -> np.ndarray:
    """``log p(w | x)`` of whitened rows (eq. 3), shape (n, K_y); ``log_gx`` as
    :func:`proba_z`'s."""
    log_gx = _log_gx(model, Z) if log_gx is None else log_gx
    return jm.log_proba_w_given_x(log_gx, model._Q, model.pi_)


def local_weights(model: JGMM, Zq: np.ndarray, kind: str) -> np.ndarray:
    """The coefficients ``c`` of eq. 8 (counterfactual) or its eq. 9 analogue.

    Returns
    -------
    ndarray of shape (n_queries, K_x)
        ``f(x) = p(z | x) . c[q]`` is eq. 7 or eq. 9 for query ``q``; for the
        counterfactuals of a labelled model, where eq. 7 vanishes, the query's posterior
        over the other classes' components
        (:func:`~._jgmm_math.labelled_counterfactual_weights`).
    """
    return np.exp(log_local_weights(model, Zq, kind))


def log_local_weights(model: JGMM, Zq: np.ndarray, kind: str) -> np.ndarray:
    """The logs of :func:`local_weights` (-inf for a zero), formed from ``log p(z | x)``:
    far from the components every ``c_i`` can underflow to 0, and eq. 8's optimum with
    them, where their logs still order them."""
    log_gx = _log_gx(model, Zq)
    log_pz = jm.log_proba_z_given_x(log_gx, model._Q, model.pi_)[:, 0]
    if kind == "counterfactual" and model.e_step == "labelled":
        query_w = _proxy_w(model, Zq, log_gx)
        return jm.log_labelled_counterfactual_weights(log_pz, model.psi_, query_w)
    if kind == "counterfactual":
        return jm.log_counterfactual_weights(log_pz, model.psi_)
    return jm.log_semifactual_weights(log_pz, model.psi_)


#: Decimals to which two local examples' scores must agree to tie (:func:`local_examples`),
#: and for eq. 7's and 9's scores that round to 0, their logs (:func:`_rounded_scores`).
TIE_DECIMALS = 6


def _top(
    scores: np.ndarray,
    n: int,
    tier: np.ndarray | None = None,
    tie_break: np.ndarray | None = None,
) -> np.ndarray:
    """The rows of the ``n`` highest scores, best first.

    With ``tier``, the ``n`` are taken from the lowest tier first (highest scores first
    within a tier), then ordered by score alone, as :class:`~unboxed.ExampleSet` ranks.
    With ``tie_break``, equal scores go in its order, the lower first.
    """
    order, keys = _ranking(scores, tier, tie_break)
    return _by_score(order[:n], keys, tier)


def _top_accepted(
    scores: np.ndarray,
    n: int,
    accept: Callable[[np.ndarray], np.ndarray],
    tier: np.ndarray | None = None,
    tie_break: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """:func:`_top` of the rows ``accept`` accepts (``accept(rows)``: a bool per row),
    and how many it accepted.

    The rows are offered best first, in batches that double, until ``n`` are accepted,
    so that a costly ``accept`` (a black-box query) sees only as many rows as the
    choice needs; the rows taken are those of accepting every row first. The count is
    exact where fewer than ``n`` were accepted (every row was offered); else it counts
    the accepted rows among those offered, ``n`` or more.
    """
    order, keys = _ranking(scores, tier, tie_break)
    chosen, n_accepted = _first_accepted(order, n, accept)
    return _by_score(chosen, keys, tier), n_accepted


def _ranking(
    scores: np.ndarray, tier: np.ndarray | None, tie_break: np.ndarray | None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Every row in the order :func:`_top` takes them, and the keys of that order
    without the tier."""
    # Without tie_break, ties keep their order, as a stable sort does.
    keys = (np.arange(scores.size) if tie_break is None else tie_break, -scores)
    return np.lexsort(keys if tier is None else (*keys, tier)), keys


def _ranks(*keys: np.ndarray) -> np.ndarray:
    """Each row's place when sorted by ``keys``, the first the most significant
    (ascending, ties in row order): one ``tie_break`` of :func:`_top` from several."""
    order = np.lexsort(keys[::-1])
    ranks = np.empty(order.size, np.int64)
    ranks[order] = np.arange(order.size)
    return ranks


def _rounded_scores(log_scores: np.ndarray) -> np.ndarray:
    """Eq. 7's or 9's scores from their logs, rounded so that near-equal ones tie
    (:func:`local_examples`): to :data:`TIE_DECIMALS` decimals, and those that round
    to 0 to as many significant digits, as the exponential of their logs so rounded.

    Where ``c`` is tiny (a query far beyond the components) every score rounded to 0,
    and the candidates went by distance alone; their logs still rank them. Scores
    above 0 round as before: a relative rounding of them all split most ties at a
    boundary of its own, and changed which candidates were taken. Below about
    exp(-745) a score is 0 here, and :func:`local_examples` ranks those by their
    rounded logs.

    Parameters
    ----------
    log_scores : ndarray of shape (n,)
        ``log f(x)`` (:func:`~._jgmm_math.log_local_scores`).

    Returns
    -------
    scores : ndarray of shape (n,)
    """
    scores = np.round(np.exp(log_scores), TIE_DECIMALS)
    tiny = np.exp(np.round(log_scores, TIE_DECIMALS))
    return np.where(scores > 0, scores, tiny)


def _by_score(
    chosen: np.ndarray, keys: tuple[np.ndarray, np.ndarray], tier: np.ndarray | None
) -> np.ndarray:
    """``chosen`` ordered by score alone (already so without a tier)."""
    if tier is None:
        return chosen
    return chosen[np.lexsort(tuple(key[chosen] for key in keys))]


def _first_accepted(
    order: np.ndarray, n: int, accept: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, int]:
    """The first ``n`` rows of ``order`` that ``accept`` accepts, and the count of
    accepted rows among those offered (:func:`_top_accepted`)."""
    taken: list[np.ndarray] = []
    start, size, n_accepted = 0, max(2 * n, 16), 0
    while start < order.size and n_accepted < n:
        batch = order[start : start + size]
        accepted = batch[np.asarray(accept(batch), bool)]
        taken.append(accepted)
        n_accepted += accepted.size
        start, size = start + size, 2 * size
    return np.concatenate(taken)[:n] if taken else order[:0], n_accepted


def populated_components(model: JGMM) -> np.ndarray:
    """The higher components that some row of the fit belongs to (``pi_ > 0``).

    The others have prototypes of nothing: a class the black box never predicts on
    the rows ``fit`` saw keeps a uniform ``Q[:, j]``, and its "prototypes" were the
    densest rows of the other classes, titled by its name.
    """
    return np.flatnonzero(model.pi_ > 0)


def mine_prototypes(model: JGMM, Z: np.ndarray, n_per_component: int) -> Found:
    """The ``n`` rows with the highest eq. 4 score for each higher component, taken
    first from the rows the proxy puts in that component (its likeliest ``w``).

    Eq. 4 alone ranks rows by the density ``p(x | w = j)``, and the densest rows of
    one component's mixture are often rows of another class beside a lower component
    the two share: on the tests' digits LeNet the network put only 62% of them in
    ``j``'s class. Rows of other components come only where ``j`` has fewer than ``n``.
    """
    _check_plain(model)
    log_gx = _log_gx(model, Z)  # once for all: n K_x Gaussian densities in D dimensions
    scores = prototype_scores(model, Z, log_gx)
    comps = proba_z(model, Z, log_gx).argmax(axis=1)
    proxy_w = _proxy_w(model, Z, log_gx)
    rows, groups = [np.zeros(0, int)], [np.zeros(0, int)]
    for j in populated_components(model):
        top = _top(scores[:, j], n_per_component, tier=proxy_w != j)
        rows.append(top)
        groups.append(np.full(top.size, j))
    idx, grp = np.concatenate(rows), np.concatenate(groups)
    return Found(Z[idx], scores[idx, grp], comps[idx], grp, idx)


def check_draws(
    model: JGMM,
    *,
    n_candidates: int | None = None,
    n_per_component: int | None = None,
    n_samples: int | None = None,
) -> None:
    """Refuse a count of draws numpy cannot hold, with a ``ValueError`` that names the
    setting, before anything is drawn: 10**12 candidates failed in numpy's sampler
    ("Unable to allocate 7.28 TiB"), naming nothing the user passed.

    Parameters
    ----------
    model : JGMM
    n_candidates : int, optional
        :func:`generate_prototypes`'s draws per higher component.
    n_per_component : int, optional
        :func:`generate_influentials`'s draws per lower component, all drawn at once.
    n_samples : int, optional
        :func:`local_examples`' draws per query.
    """
    k_x, d = model.means_x_.shape
    for setting, count, rows in (
        ("n_candidates", n_candidates, n_candidates),
        (
            "n_per_component",
            n_per_component,
            None if n_per_component is None else k_x * n_per_component,
        ),
        ("n_samples", n_samples, n_samples),
    ):
        if rows is not None:
            allocate((rows, d), setting=f"{setting}={count}")


def generate_prototypes(
    model: JGMM, n_per_component: int, rng: np.random.Generator, *, n_candidates: int = 200
) -> Found:
    """Sample ``p(x | w = j)``, the GMM with weights ``Q[:, j]`` (Sec. 3.2), keep the best.

    ``n_candidates`` samples are drawn per higher component and the
    ``n_per_component`` with the highest eq. 4 score are kept.
    """
    _check_plain(model)
    # Before any draw: a refused call leaves rng as it was.
    n_per_component = check_positive_int(n_per_component, name="n_per_component")
    n_candidates = check_positive_int(n_candidates, name="n_candidates")
    check_draws(model, n_candidates=n_candidates)
    out = []
    for j in populated_components(model):
        Zs, comps = jm.sample_gmm(
            model._Q[0, :, j], model.means_x_, model.vars_x_, n_candidates, rng
        )
        scores = prototype_scores(model, Zs)[:, j]
        top = _top(scores, n_per_component)
        out.append(
            Found(Zs[top], scores[top], comps[top], np.full(top.size, j), -np.ones(top.size, int))
        )
    return _concat(out)


def mine_criticisms(model: JGMM, Z: np.ndarray, n: int) -> Found:
    """The ``n`` rows least likely under every higher component (eq. 5); mined only."""
    _check_plain(model)
    return _mine_top(model, Z, criticism_scores(model, Z), n)


def mine_influentials(model: JGMM, Z: np.ndarray, n: int) -> Found:
    """The ``n`` rows with the highest entropy of ``p(w | x)`` (eq. 6)."""
    _check_plain(model)
    return _mine_top(model, Z, influence_scores(model, Z), n)


def _mine_top(model: JGMM, Z: np.ndarray, scores: np.ndarray, n: int) -> Found:
    """The ``n`` rows of highest score, each with its likeliest lower component."""
    top = _top(scores, n)
    comps = proba_z(model, Z[top]).argmax(axis=1)
    return Found(Z[top], scores[top], comps, -np.ones(top.size, int), top)


def generate_influentials(
    model: JGMM, n: int, rng: np.random.Generator, *, n_per_component: int = 50
) -> Found:
    """Sample every lower component, keep the ``n`` samples of highest eq. 6 score."""
    _check_plain(model)
    # Before any draw: a refused call leaves rng as it was.
    n = check_positive_int(n, name="n")
    n_per_component = check_positive_int(n_per_component, name="n_per_component")
    check_draws(model, n_per_component=n_per_component)
    kx = model.means_x_.shape[0]
    comps = np.repeat(np.arange(kx), n_per_component)
    noise = rng.standard_normal((comps.size, model.means_x_.shape[1]))
    Zs = jm.draw_from_components(model.means_x_, model.vars_x_, comps, noise)
    scores = influence_scores(model, Zs)
    top = _top(scores, n)
    return Found(Zs[top], scores[top], comps[top], -np.ones(top.size, int), -np.ones(top.size, int))


def rms_distance(Z: np.ndarray, z_query: np.ndarray | float) -> np.ndarray:
    """``||z - z_q|| / sqrt(D)``: the root-mean-square distance over dimensions.

    Parameters
    ----------
    Z : ndarray of shape (n, D)
    z_query : ndarray of shape (D,)

    Returns
    -------
    ndarray of shape (n,)
    """
    return np.sqrt(np.mean((Z - z_query) ** 2, axis=1))


SELECTS = ("proxy", "score", "margin", "blackbox")
SAMPLERS = ("gmm", "local", "boundary", "nearest", "sparse", "nearest_then_sparse")
#: The samplers whose candidates depend on the radius, which they need.
RADIUS_SAMPLERS = ("local", "sparse", "nearest_then_sparse")
#: The radii the samplers of RADIUS_SAMPLERS compute with: their squares, and those of
#: their moves over a few thousand dimensions, stay normal float64 numbers.
RADIUS_RANGE = (1e-100, 1e100)
#: The options that make sense for counterfactuals only.
COUNTERFACTUAL_ONLY = {
    "sampler": ("nearest", "sparse", "nearest_then_sparse"),
    "select": ("margin",),
}


def check_local_options(kind: str, select: str, sampler: str, radius: float | None) -> None:
    """Refuse a ``select``, ``sampler`` or ``radius`` that :func:`local_examples` cannot
    use for ``kind``, or a ``kind`` or ``radius`` of no meaning: a ``ValueError`` naming
    it."""
    if kind not in ("counterfactual", "semifactual"):
        raise ValueError(f"kind must be 'counterfactual' or 'semifactual', got {kind!r}")
    if radius is not None and not radius > 0:  # NaN too
        raise ValueError(f"radius must be a positive number or None, got {radius!r}")
    if select not in SELECTS:
        raise ValueError(f"select must be one of {SELECTS}, got {select!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    for name, value in (("sampler", sampler), ("select", select)):
        if value in COUNTERFACTUAL_ONLY[name] and kind != "counterfactual":
            raise ValueError(f"{name}={value!r} finds counterfactuals only")
    if sampler in RADIUS_SAMPLERS and (radius is None or not np.isfinite(radius)):
        # An infinite radius gave infinite moves and, silently, no candidates.
        raise ValueError(f"sampler={sampler!r} draws within a radius; give a finite radius=")
    if sampler in RADIUS_SAMPLERS and not RADIUS_RANGE[0] <= cast(float, radius) <= RADIUS_RANGE[1]:
        # "local" squares radius / 2 (1e-300 gave a ZeroDivisionError, 1e300 an
        # OverflowError) and "sparse" squares its moves (1e200 overflowed to inf).
        raise ValueError(
            f"radius={radius!r} is beyond what sampler={sampler!r} computes with, "
            f"{RADIUS_RANGE[0]:g} to {RADIUS_RANGE[1]:g}; the radius is an RMS distance over "
            "the whitened lower features, about 1 per standard deviation, so 0.1 to 10 "
            "spans small to large changes"
        )


def samples(source: str, sampler: str) -> bool:
    """Whether :func:`local_examples` draws at random: generated examples, but for the
    deterministic searches ("nearest", "sparse" and "nearest_then_sparse")."""
    return source == "generated" and sampler not in COUNTERFACTUAL_ONLY["sampler"]


def local_examples(
    model: JGMM,
    Zq: np.ndarray,
    kind: str,
    n_per_query: int,
    *,
    source: str,
    rng: np.random.Generator | int | None = None,
    Z_pool: np.ndarray | None = None,
    radius: float | None = None,
    n_samples: int = 1000,
    select: str = "proxy",
    component_classes: np.ndarray | None = None,
    sampler: str = "gmm",
    query_inputs: np.ndarray | None = None,
    clamp: Callable[[int, np.ndarray], np.ndarray] | None = None,
    projector: np.ndarray | None = None,
    blackbox_same: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[Found, np.ndarray]:
    """Counterfactuals (eq. 7-8) or semi-factuals (eq. 9) for each query.

    Generated: solve the linear programme of eq. 8 for the optimal ``p(z | x) = alpha``,
    draw ``n_samples`` from the GMM with weights ``alpha``, reject those farther than
    ``radius`` from the query (Sec. 4.4), and keep the ``n_per_query`` of highest score.
    Mined: the same score and rejection over ``Z_pool``.

    Parameters
    ----------
    model : JGMM
    Zq : ndarray of shape (n_queries, D), whitened
    kind : {"counterfactual", "semifactual"}
    n_per_query : int
    source : {"mined", "generated"}
    rng : numpy.random.Generator or int
        For generation; required where the call draws (:func:`samples`), unused
        otherwise. One seed is drawn from it per call (an int is that seed
        itself, :func:`~unboxed.local._engine.call_seed`), and each query draws
        from a generator of its own seeded with that seed and a hash of the query
        (:func:`~unboxed.local._engine.row_seed`): a query's candidates do not
        depend on the other queries of the call nor on their order, different
        queries draw independently, and identical queries get identical candidates.
    Z_pool : ndarray of shape (n_pool, D), whitened
        For mining; required where ``source="mined"``.
    radius : float, optional
        The largest RMS distance (:func:`rms_distance`) from the query; None keeps all.
    n_samples : int
        Samples drawn per query before rejection (the paper draws 1000).
    select : {"proxy", "score", "margin"}
        "score" ranks the candidates within ``radius`` by eq. 7 (or 9) alone. "proxy"
        first keeps only those the JGMM's own classifier (eq. 3) puts in another class
        than the query (a counterfactual) or in the same class (a semi-factual), as
        Sec. 3.2 defines them, then ranks by the score. Eq. 7 rewards sharing the
        query's lower component ``z``, so without this step most samples keep the
        query's class. "margin" (counterfactuals only) drops nothing and ranks by the
        proxy's log-odds of the likeliest other class against the query's
        (:func:`class_margin`): those the proxy puts in another class first, then
        those nearest to a change of class; the scores are those log-odds.
        "blackbox" keeps, as "proxy" does, those in another class (or the same), but
        of the black box itself (``blackbox_same``), then ranks by the score: every
        example returned is valid. The candidates within ``radius`` are asked about
        best first, in batches that double, until ``n_per_query`` are found
        (:func:`_top_accepted`), so the third count of ``found.funnel`` is then that
        of the valid ones among those asked about.
    component_classes : ndarray of shape (K_y,), optional
        The class of each higher component, for "proxy" and "margin"; default the
        identity.
    sampler : {"gmm", "local", "boundary", "nearest", "sparse", "nearest_then_sparse"}
        "gmm" draws from the GMM under ``alpha`` as the paper does; its draws lie about
        one component width from the query, so a small ``radius`` rejects them all.
        "local" multiplies each component by an isotropic Gaussian of scale
        ``radius / 2`` around the query (:func:`~._jgmm_math.sample_gmm`), so that
        most draws fall inside the radius; it needs a ``radius``. "boundary" draws as
        "gmm" does, then walks from the query towards each draw to where the proxy's
        class changes (:func:`boundary_points`): a counterfactual is the first point
        past the change, a semi-factual the last point before it. "nearest"
        (counterfactuals only) draws nothing: for each class but the query's it finds
        the nearest point the proxy puts in that class
        (:func:`nearest_boundary_points`), and a few points beyond it. "sparse"
        (counterfactuals only; it needs a ``radius``) changes one coordinate of the
        query per candidate, where the proxy's linearised margin gains most
        (:func:`sparse_moves`); ``n_samples`` of them are kept. "nearest_then_sparse"
        (counterfactuals only; it needs a ``radius``) keeps the "nearest" points within
        the radius that ``select`` keeps, up to ``n_per_query``, and fills the rest
        with the best "sparse" moves; the kept candidates are ranked by their scores.
        The nearest points are what the black box most often agrees with, and the
        sparse moves reach radii too small for any of them. The samplers other than
        "gmm" apply to generated examples only.
    query_inputs : ndarray of shape (n_queries, ...), optional
        The queries as given, whose values seed each query's draws (with a seed of
        ``rng``); by default ``Zq``. Features that a network computes can round
        otherwise in a batch of another size; the inputs do not.
    clamp : callable, optional
        Generated only: ``clamp(q, Z)`` gives whitened candidates ``Z`` of query ``q``
        moved to where they hold the features the caller keeps fixed. Applied to every
        candidate before it is scored, selected or rejected by ``radius``: the drawn
        points before the "boundary" walk (so that each point of a line holds them
        too), and the points of every sampler after it. A drawn candidate's component
        is then its likeliest one, not the one it was drawn from.
    projector : ndarray of shape (D, D), optional
        With ``clamp``: the orthogonal projector onto the whitened directions that
        leave the held features unchanged (:func:`hold_projector`). "sparse" then moves
        only along those directions, where its moves clamped afterwards mostly fell
        back across the proxy's boundary (``benchmarks/immutable_counterfactuals.py``:
        on a breast-cancer MLP holding its 3 texture columns, 99 of 113 test rows got
        a counterfactual the black box agrees with, against 81; holding 10 columns, 49
        against 8). "nearest" still searches every direction and is clamped after:
        searching within the held directions reached the proxy's boundary for more
        rows, but one the black box agreed with for fewer.
    blackbox_same : callable, optional
        Required with ``select="blackbox"``: ``blackbox_same(q, Z, idx)`` says, per
        whitened candidate ``Z`` of query ``q`` (``idx`` its pool rows where mined, -1
        where generated), whether the black box gives it the query's own class.

    Returns
    -------
    found : Found
        ``groups`` holds the query row.
    alpha : ndarray of shape (n_queries, K_x)
        The LP optimum per query.
    """
    # Every option before the call's seed is drawn: a refused call leaves rng as it was.
    _check_plain(model)
    check_local_options(kind, select, sampler, radius)
    if source not in ("mined", "generated"):
        raise ValueError(f"source must be 'mined' or 'generated', got {source!r}")
    n_per_query = check_positive_int(n_per_query, name="n_per_query")
    n_samples = check_positive_int(n_samples, name="n_samples")
    d = model.means_x_.shape[1]
    _check_rows(Zq, d, "Zq")
    if Zq.shape[0] == 0:  # else np.stack below fails on an empty list
        raise ValueError("no queries: Zq has no rows")
    if source == "mined":
        if Z_pool is None:
            raise ValueError("source='mined' mines Z_pool; give Z_pool=, the whitened pool")
        _check_rows(Z_pool, d, "Z_pool")
        if clamp is not None:
            raise ValueError("clamp moves generated candidates; a mined Z_pool is given as is")
    elif samples(source, sampler) and rng is None:
        raise ValueError(
            f"source='generated' with sampler={sampler!r} draws at random; give rng= "
            "(a numpy.random.Generator or an int seed)"
        )
    if select == "blackbox" and blackbox_same is None:
        raise ValueError("select='blackbox' asks the black box; give blackbox_same=")
    if samples(source, sampler):
        check_draws(model, n_samples=n_samples)
    if query_inputs is not None and len(query_inputs) != Zq.shape[0]:
        raise ValueError(
            f"query_inputs has {len(query_inputs)} rows for {Zq.shape[0]} queries in Zq"
        )
    near = sampler == "local" and source == "generated"
    # The LP from the coefficients' logs: each c_i can underflow to 0 where they do not.
    log_c = log_local_weights(model, Zq, kind)
    alphas = np.stack([jm.optimal_alpha(row, log=True) for row in log_c])
    ky = model.pi_.shape[0]
    to_class = np.arange(ky) if component_classes is None else np.asarray(component_classes)
    query_class = to_class[_proxy_w(model, Zq)]
    pool_log_pz = pool_class = None
    if Z_pool is not None and source == "mined":  # checked above: always so when mined
        # The pool is shared by every query: score its rows once.
        pool_log_pz = _log_proba_z(model, Z_pool)
        pool_class = to_class[_proxy_w(model, Z_pool)]
    gaussians = None
    if source == "generated" and not samples(source, sampler):
        gaussians = jm.gaussian_precisions(model.vars_x_)
    out = []
    # One seed per call, and from it and each query's own values the query's generator:
    # drawn in turn from rng, a query's candidates were those of its place in the
    # batch; from one start for all, different queries shared their draws.
    # Only where a query samples: mined examples and the deterministic searches leave
    # rng as it was.
    seed = None
    # rng is None here only where nothing is drawn: a sampling call without it was refused.
    if source == "generated" and gaussians is None and rng is not None:
        seed = call_seed(rng)  # one draw from the Generator, as the local explainers
    own = Zq if query_inputs is None else query_inputs
    for q in range(Zq.shape[0]):
        comps = None  # None: each candidate's likeliest component, below
        tier = None  # None: one tier; else the candidates of a lower tier are taken first
        if gaussians is not None:
            Zs, tier = _search(
                model,
                Zq[q],
                to_class,
                query_class[q],
                gaussians,
                sampler,
                radius,
                n_samples,
                projector,
            )
        elif source == "generated":
            # Type narrowing only: a sampling call without rng was refused above.
            assert seed is not None
            Zs, comps = jm.sample_gmm(
                alphas[q],
                model.means_x_,
                model.vars_x_,
                n_samples,
                np.random.default_rng(row_seed(seed, own[q])),
                center=Zq[q] if near else None,
                scale=radius / 2 if near and radius is not None else None,
            )
            if clamp is not None:
                Zs, comps = clamp(q, Zs), None
            if sampler == "boundary":
                Zs, rows = boundary_points(model, Zq[q], Zs, kind, to_class, query_class[q])
                comps = None if comps is None else comps[rows]
        if source == "generated":
            idx = -np.ones(Zs.shape[0], int)
            if clamp is not None and Zs.shape[0]:
                # The searches' points, and the walk's (held already, up to rounding).
                Zs = clamp(q, Zs)
        else:
            Zs, comps = cast(np.ndarray, Z_pool), None
            idx = np.arange(Zs.shape[0])
        distance = rms_distance(Zs, Zq[q])
        keep = np.ones(Zs.shape[0], bool)
        if source != "generated":  # the query itself (or a copy) in the pool
            keep &= distance > 0
        if radius is not None:
            keep &= distance <= radius
        rows = np.flatnonzero(keep)
        funnel = [Zs.shape[0], rows.size]
        # Densities only within the radius, and once: generated candidates can be
        # thousands, and a full covariance makes each density cost D^2.
        log_gx = _log_gx(model, Zs[rows]) if pool_log_pz is None or select == "margin" else None
        if select == "proxy":
            if pool_class is not None:
                same = pool_class[rows] == query_class[q]
            else:
                same = to_class[_proxy_w(model, Zs[rows], log_gx)] == query_class[q]
            kept = _valid(same, kind)
            rows, log_gx = rows[kept], None if log_gx is None else log_gx[kept]
        Zk, idx = Zs[rows], idx[rows]
        if pool_log_pz is not None:
            log_pz = pool_log_pz[rows]
        else:
            log_pz = _log_proba_z(model, Zk, log_gx)
        # A candidate's posterior over the lower components is near one-hot, so the
        # scores of one component's candidates agree to 1e-9: a mined query's examples
        # were the pool's first rows of that component, every other query's of its
        # class too, and a generated query's were the first drawn. Ties go to the
        # nearest counterfactual (the smallest change that changes the class) and the
        # farthest semi-factual (the largest that keeps it).
        # The rounded scores are kept: ExampleSet.group ranks by them, keeping this order.
        tie_break = distance[rows] if kind == "counterfactual" else -distance[rows]
        if select == "margin":
            scores = np.round(
                class_margin(model, Zk, to_class, query_class[q], log_gx), TIE_DECIMALS
            )
        else:
            log_scores = jm.log_local_scores(log_pz, log_c[q])
            scores = _rounded_scores(log_scores)
            # Below about exp(-745) even those are 0 (a query far beyond the
            # components): their rounded logs rank them before distance does.
            log_key = np.where(scores > 0, 0.0, -np.round(log_scores, TIE_DECIMALS))
            tie_break = _ranks(log_key, tie_break)
        ranking = (None if tier is None else tier[rows], tie_break)
        if select == "blackbox":
            # Asked best first, and only until n_per_query are found: a pool with held
            # features, or a thousand generated draws, need not all go through the model.
            ask = _black_box_asker(cast(Callable, blackbox_same), q, Zk, idx, kind)
            top, n_selected = _top_accepted(scores, n_per_query, ask, *ranking)
        else:
            top, n_selected = _top(scores, n_per_query, *ranking), rows.size
        funnel.append(n_selected)
        comp = comps[rows][top] if comps is not None else log_pz[top].argmax(axis=1)
        # Why a query got fewer than n_per_query (or none): recorded, since a call
        # that gave every example to some queries looked like queries sharing state.
        found = Found(
            Zk[top], scores[top], comp, np.full(top.size, q), idx[top], np.array([funnel])
        )
        out.append(found)
    return _concat(out, d=Zq.shape[1]), alphas


def _black_box_asker(
    blackbox_same: Callable[[int, np.ndarray, np.ndarray], np.ndarray],
    q: int,
    Zk: np.ndarray,
    idx: np.ndarray,
    kind: str,
) -> Callable[[np.ndarray], np.ndarray]:
    """``accept`` of :func:`_top_accepted` for ``select="blackbox"``: whether the black
    box changes query ``q``'s class on candidates ``Zk[rows]`` (a counterfactual) or
    keeps it (a semi-factual)."""

    def accept(rows: np.ndarray) -> np.ndarray:
        return _valid(np.asarray(blackbox_same(q, Zk[rows], idx[rows]), bool), kind)

    return accept


def _valid(same: np.ndarray, kind: str) -> np.ndarray:
    """Which candidates are valid examples of ``kind``, from ``same``, whether the
    classifier (the proxy or the black box) gives each the query's class: a
    semi-factual keeps it, a counterfactual changes it."""
    return same if kind == "semifactual" else ~same


def _search(
    model: JGMM,
    z_query: np.ndarray,
    to_class: np.ndarray,
    query_class: int,
    gaussians: tuple[np.ndarray, np.ndarray],
    sampler: str,
    radius: float | None,
    n_samples: int,
    projector: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The candidates of the counterfactual-only samplers, and their tier (or None)."""
    args = (model, z_query, to_class, query_class, gaussians)
    if sampler == "nearest":
        return nearest_boundary_points(*args)[0], None
    if radius is None:  # local_examples refuses it first (check_local_options)
        raise ValueError(f"sampler={sampler!r} moves within a radius; give radius=")
    sparse = sparse_moves(*args, radius, n_samples, projector=projector)
    if sampler == "sparse":
        return sparse, None
    nearest = nearest_boundary_points(*args)[0]
    tier = np.repeat([0, 1], [len(nearest), len(sparse)])
    return np.concatenate([nearest, sparse]), tier


def _check_rows(Z: object, d: int, name: str) -> None:
    """Refuse anything but a 2-D array of ``d`` whitened columns: a ``ValueError``
    (a ``TypeError`` for a non-array) naming ``name``. A 1-D query or one of another
    width failed later in numpy's indexing or matmul, with no word of which argument."""
    if not isinstance(Z, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (n, {d}), got {type(Z).__name__}")
    if Z.ndim != 2 or Z.shape[1] != d:
        raise ValueError(
            f"{name} must have shape (n, {d}), whitened rows of the model's {d} features; "
            f"got shape {Z.shape}"
        )


def _proxy_w(model: JGMM, Z: np.ndarray, log_gx: np.ndarray | None = None) -> np.ndarray:
    """The JGMM's most probable higher component of whitened rows (eq. 3); ``log_gx``
    is ``_log_gx(model, Z)`` where the caller has it already."""
    return _log_proba_w(model, Z, log_gx).argmax(axis=1)


def boundary_points(
    model: JGMM,
    z_query: np.ndarray,
    Z_drawn: np.ndarray,
    kind: str,
    to_class: np.ndarray,
    query_class: int,
    *,
    n_grid: int = 64,
    n_bisect: int = 12,
) -> tuple[np.ndarray, np.ndarray]:
    """Walk from the query towards each drawn point to where the proxy's class changes.

    The class is that of eq. 3 on ``z_query + t (z - z_query)``, ``t`` in [0, 1]: its
    first change is located on a grid of ``n_grid`` steps, then to about
    ``2^-n_bisect`` of a step by bisection. Along a line each log Gaussian is a
    quadratic in ``t`` (:func:`~._jgmm_math.log_gaussian_on_lines`), so the walk costs
    little more than scoring the drawn points.

    Parameters
    ----------
    model : JGMM
    z_query : ndarray of shape (D,), whitened
    Z_drawn : ndarray of shape (n, D), whitened
    kind : {"counterfactual", "semifactual"}
        "counterfactual": the first point past the change (a draw whose line never
        leaves the query's class gives none). "semifactual": the last point before it
        (the draw itself when the line never leaves the class).
    to_class : ndarray of shape (K_y,)
        The class of each higher component.
    query_class : int
        The proxy's class of the query.

    Returns
    -------
    points : ndarray of shape (m, D)
    rows : ndarray of shape (m,)
        The row of ``Z_drawn`` each point walks towards.
    """
    directions = Z_drawn - z_query
    a, b, c = jm.log_gaussian_on_lines(z_query, directions, model.means_x_, model.vars_x_)

    def leaves(t: np.ndarray) -> np.ndarray:
        """Whether the proxy's class at ``t`` (shape (n, m)) differs from the query's."""
        log_gx = a[:, None] + t[..., None] * (b[:, None] + t[..., None] * c[:, None])
        log_pw = jm.log_proba_w_given_x(log_gx.reshape(-1, 1, a.shape[1]), model._Q, model.pi_)
        return to_class[log_pw.argmax(axis=1)].reshape(t.shape) != query_class

    grid = np.linspace(0.0, 1.0, n_grid + 1)[1:]
    out = leaves(np.broadcast_to(grid, (len(Z_drawn), n_grid)))
    crossed = out.any(axis=1)
    first = out.argmax(axis=1)
    hi = grid[first]
    lo = np.where(first > 0, grid[np.maximum(first - 1, 0)], 0.0)
    for _ in range(n_bisect):  # keeps: the class at lo is the query's, at hi it is not
        mid = (lo + hi) / 2
        moved = leaves(mid[:, None])[:, 0]
        hi, lo = np.where(moved, mid, hi), np.where(moved, lo, mid)
    if kind == "counterfactual":
        t, rows = hi[crossed], np.flatnonzero(crossed)
    else:
        t, rows = np.where(crossed, lo, 1.0), np.arange(len(Z_drawn))
    return z_query + t[:, None] * directions[rows], rows


# How far past the nearest boundary point each counterfactual of sampler="nearest" lies,
# as a fraction of its distance from the query: the proxy's boundary is not the black
# box's, so a few steps beyond it give the black box room to change class too.
NEAREST_OVERSHOOTS = (0.0, 0.05, 0.15, 0.3, 0.6)


def component_margins(
    model: JGMM, z: np.ndarray, own: np.ndarray, gaussians: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``f_t = log pi_t p(x | w = t) - log pi_r p(x | w = r)`` for every higher component
    ``t``, with ``r`` the likeliest of ``own`` (the query's class), and its gradient.

    Returns
    -------
    f : ndarray of shape (K_y,)
    gradient : ndarray of shape (K_y, D)
    """
    log_p, grad = jm.log_px_given_w_with_gradient(z, model.means_x_, *gaussians, model._Q[0])
    log_p = log_p + jm.safe_log(model.pi_)
    r = own[np.argmax(log_p[own])]
    return log_p - log_p[r], grad - grad[r]


#: The fractions of the radius that sampler="sparse" moves one coordinate by.
SPARSE_FRACTIONS = (0.25, 0.5, 1.0)


def sparse_moves(
    model: JGMM,
    z_query: np.ndarray,
    to_class: np.ndarray,
    query_class: int,
    gaussians: tuple[np.ndarray, np.ndarray],
    radius: float,
    n_keep: int,
    *,
    projector: np.ndarray | None = None,
) -> np.ndarray:
    """Counterfactual candidates that change one whitened coordinate of the query.

    For each higher component ``t`` of another class and each dimension ``i``, the
    query with coordinate ``i`` moved by a fraction (:data:`SPARSE_FRACTIONS`) of the
    whole budget, ``radius * sqrt(D)``, in the direction that raises the proxy's margin
    ``f_t`` (:func:`component_margins`). Each is rated by the linearised margin
    ``f_t + |step| |df_t / dx_i|``, and the ``n_keep`` best are returned, so that
    every candidate lies within ``radius``. With a ``projector``
    (:func:`hold_projector`), coordinate ``i``'s direction is its projection onto the
    directions that leave the held features unchanged, scaled to unit length.

    Returns
    -------
    ndarray of shape (min(n_keep, m), D)
    """
    own = np.flatnonzero(to_class == query_class)
    f, grad = component_margins(model, z_query, own, gaussians)
    d = z_query.shape[0]
    directions = None if projector is None else _unit_columns(projector)
    if directions is not None:  # the slope along each held-free direction
        grad = grad @ directions
    grid = np.meshgrid(
        np.flatnonzero(to_class != query_class), np.arange(d), SPARSE_FRACTIONS, indexing="ij"
    )
    T, dim, fraction = (axis.ravel() for axis in grid)
    slope = grad[T, dim]
    # A hair inside the budget, so that rounding cannot put the full move outside.
    move = radius * math.sqrt(d) * (1 - 1e-9) * fraction * np.sign(slope)
    rated = np.where(slope != 0, f[T] + np.abs(move * slope), -np.inf)
    best = descending_order(rated, n_keep)
    best = best[np.isfinite(rated[best])]  # a flat direction moves nothing
    Z = np.repeat(z_query[None], best.size, axis=0)
    if directions is not None:
        return Z + move[best, None] * directions[:, dim[best]].T
    Z[np.arange(best.size), dim[best]] += move[best]
    return Z


def _unit_columns(matrix: np.ndarray) -> np.ndarray:
    """``matrix``'s columns scaled to unit length; a column of zeros stays zero (its
    coordinate has no direction free of the held features, and a zero slope, which
    :func:`sparse_moves` drops)."""
    norms = np.linalg.norm(matrix, axis=0)
    return matrix / np.where(norms > 1e-12, norms, np.inf)


def hold_projector(
    whitening: tuple[np.ndarray, ...] | None, held: Sequence[int], d: int
) -> np.ndarray:
    """The orthogonal projector onto the whitened directions that leave the ``held``
    input features unchanged.

    Unwhitening is ``x = (z * scales) @ components.T + mean``
    (:func:`~._jgmm_math.unwhiten`), so a step ``dz`` moves feature ``j`` by
    ``A[j] @ dz`` with ``A = components[held] * scales``, and ``P = I - pinv(A) A``
    keeps of each step the part that moves no held feature.

    Parameters
    ----------
    whitening : tuple of ndarray or None
        ``JGMM.whitening_x_`` (mean, components, scales); None where the model does
        not whiten, so that a whitened coordinate is the feature itself.
    held : sequence of int
    d : int
        The number of features.

    Returns
    -------
    ndarray of shape (d, d)
    """
    A = np.eye(d)[list(held)] if whitening is None else whitening[1][list(held)] * whitening[2]
    return np.eye(d) - np.linalg.pinv(A) @ A


def class_margin(
    model: JGMM,
    Z: np.ndarray,
    to_class: np.ndarray,
    query_class: int,
    log_gx: np.ndarray | None = None,
) -> np.ndarray:
    """The proxy's log-odds of each row's likeliest other class against the query's.

    Positive where the proxy (eq. 3) puts the row in another class; the nearer to 0
    from below, the nearer the row is to a change of class. ``log_gx`` is
    ``_log_gx(model, Z)`` where the caller has it already.
    """
    log_w = _log_proba_w(model, Z, log_gx)
    classes = np.unique(to_class)
    per_class = np.stack([jm.logsumexp(log_w[:, to_class == k], axis=1) for k in classes], axis=1)
    own = per_class[:, classes == query_class][:, 0]
    return np.max(per_class[:, classes != query_class], axis=1, initial=-np.inf) - own


def nearest_boundary_points(
    model: JGMM,
    z_query: np.ndarray,
    to_class: np.ndarray,
    query_class: int,
    gaussians: tuple[np.ndarray, np.ndarray],
    *,
    overshoots: tuple[float, ...] = NEAREST_OVERSHOOTS,
    max_iter: int = 200,
    max_step: float = 0.25,
    n_bisect: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """The nearest points where the proxy (eq. 3) puts the query in each other class.

    For each higher component ``t`` of another class, DeepFool's iteration on the
    proxy: linearise ``f = log pi_t p(x | w = t) - log pi_r p(x | w = r)``, with ``r``
    the likeliest component of the query's class, and step to its zero,
    ``x <- x - f grad f / ||grad f||^2``, until ``f > 0``. Each point found, ``b``,
    gives one counterfactual per overshoot ``e``: ``z_q + (1 + e) (b - z_q)``.

    The search is local, and it stops at its first crossing, which may lie a little
    farther than the nearest one (up to 1.4% with ``e_step="labelled"`` and 3.4% with
    the paper's EM on the 2-D models of the tests). Where one lower component dominates
    both classes (the paper's model shares components between classes) ``f`` is flat,
    and a class may give no point.

    Parameters
    ----------
    model : JGMM
    z_query : ndarray of shape (D,), whitened
    to_class : ndarray of shape (K_y,)
        The class of each higher component.
    query_class : int
        The proxy's class of the query.
    gaussians : tuple
        :func:`~._jgmm_math.gaussian_precisions` of ``model.vars_x_``, computed once
        for all queries.
    overshoots : tuple of float
    max_iter : int
    max_step : float
        The longest step, as an RMS distance; the last step is bisected to the first
        point where ``f > 0``.
    n_bisect : int

    Returns
    -------
    points : ndarray of shape (m, D)
    targets : ndarray of shape (m,)
        The higher component each point was walked towards.
    """
    own = np.flatnonzero(to_class == query_class)

    def margin(z: np.ndarray, t: int) -> tuple[float, np.ndarray]:
        """f and its gradient: component t against the likeliest of the query's class."""
        f, g = component_margins(model, z, own, gaussians)
        return f[t], g[t]

    points, targets = [], []
    for t in np.flatnonzero(to_class != query_class).tolist():
        z = previous = z_query
        for _ in range(max_iter):
            f, g = margin(z, t)
            if f > 0 or not g @ g > 0:
                break
            # A hair past the linearised zero, so that the step ends across it; no
            # longer than max_step, since where one component dominates both classes
            # f is flat and its zero far off.
            step = (1e-6 - f) / (g @ g) * g
            step *= min(1.0, max_step / rms_distance(step[None], 0.0)[0])
            previous, z = z, z + step
        else:
            f = margin(z, t)[0]  # the last step may have crossed
        if not f > 0:
            continue
        lo, hi = 0.0, 1.0  # the first crossing on the last step, by bisection
        for _ in range(n_bisect):
            mid = (lo + hi) / 2
            crossed = margin(previous + mid * (z - previous), t)[0] > 0
            lo, hi = (lo, mid) if crossed else (mid, hi)
        z = previous + hi * (z - previous)
        points += [z_query + (1 + e) * (z - z_query) for e in overshoots]
        targets += [t] * len(overshoots)
    if not points:
        return np.zeros((0, z_query.shape[0])), np.zeros(0, int)
    return np.array(points), np.array(targets)


def _concat(parts: list[Found], d: int | None = None) -> Found:
    if not parts:
        return Found(
            np.zeros((0, d or 0)), np.zeros(0), np.zeros(0, int), np.zeros(0, int), np.zeros(0, int)
        )
    funnels = [p.funnel for p in parts if p.funnel is not None]
    return Found(
        np.concatenate([p.Z for p in parts]),
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.components for p in parts]).astype(np.int64),
        np.concatenate([p.groups for p in parts]).astype(np.int64),
        np.concatenate([p.indices for p in parts]).astype(np.int64),
        # every part's funnel, or None where a part has none
        np.concatenate(funnels).astype(np.int64) if len(funnels) == len(parts) else None,
    )
