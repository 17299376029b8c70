"""Running DMM-MEN chains: draws, checkpoints, relabelling and diagnostics.

:func:`sample_posterior` runs ``n_chains`` chains of :func:`._dmm_math.sweep` on one
regression problem ``(X, y)`` through the shared driver, collects thinned draws after
burn-in, relabels them and summarises the posterior. A :class:`Checkpoint` saves the
running chain (its state, its random generator and the draws so far) atomically, so
an interrupted fit resumes to the same draws.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._io import (
    as_recorded,
    check_generator_state,
    check_saved_arrays,
    read_checkpoint,
    write_npz_with_header,
)
from .._validation import FLOAT32_MAX, is_int
from ._dmm_math import N_MH, Prior, State, initial_state, sweep
from ._driver import fit_iterative
from ._mcmc import apply_permutation, effective_sample_size, relabel, split_rhat

CHECKPOINT_FORMAT = "unboxed.dmm-men-checkpoint"
CHECKPOINT_VERSION = 2
#: The monitored groups of quantities, in the order of ``Posterior.rhat_groups``.
#: The first two are what the explanations are built from.
RHAT_GROUPS = ("coef", "insight", "log_likelihood", "alpha", "log_weight", "log_sigma2")
#: A component counts as occupied, and its coefficients are monitored by R-hat, when
#: its posterior mean weight is at least this.
OCCUPIED = 0.05


@dataclasses.dataclass(frozen=True)
class ChainSettings:
    """What a chain needs besides its data: sizes, lengths and the prior."""

    n_components: int
    n_priors: int
    n_iter: int
    burn_in: int
    thin: int
    n_chains: int
    prior: Prior
    n_init: int = 1
    init_sweeps: int = 50
    collapse_every: int = 0
    split_merge_every: int = 0

    @property
    def draw_sweeps(self) -> range:
        """The sweep indices whose starting states are recorded."""
        return range(self.burn_in, self.n_iter, self.thin)

    def collapses(self, sweep_index: int) -> bool:
        """Whether sweep ``sweep_index`` draws the allocations with beta integrated out."""
        return self.collapse_every > 0 and (sweep_index + 1) % self.collapse_every == 0

    def splits(self, sweep_index: int) -> bool:
        """Whether sweep ``sweep_index`` tries a split-merge move."""
        return self.split_merge_every > 0 and (sweep_index + 1) % self.split_merge_every == 0

    def steps(self, sweep_index: int) -> dict[str, bool]:
        """The optional steps of sweep ``sweep_index``, as :func:`sweep`'s keywords."""
        return {"collapsed": self.collapses(sweep_index), "split": self.splits(sweep_index)}


@dataclasses.dataclass(frozen=True)
class Posterior:
    """A relabelled posterior summary of one regression problem.

    Attributes
    ----------
    weights : ndarray of shape (J,)
    coef : ndarray of shape (J, p)
        Posterior mean coefficients (column 0 is the intercept column if the caller
        added one), Rao-Blackwellized: a draw in which a component is empty counts
        its coefficients at their conditional mean 0 (:func:`rao_blackwell`).
    sigma2 : ndarray of shape (J,)
    prior_of_component : ndarray of int, shape (J,)
        The most frequent prior of each component.
    lambdas : ndarray of shape (J, 2)
        Posterior mean (lambda1, lambda2) of each component's prior.
    predictive_coef : ndarray of shape (p,)
        Posterior mean of ``sum_j pi_j beta_j``: the posterior-predictive mean is
        ``x @ predictive_coef`` (Rao-Blackwellized as ``coef``).
    rhat, ess : float
        The worst split R-hat and the smallest ESS over what the explanations are
        built from: the relabelled coefficients of every occupied component (posterior
        mean weight at least 5%) and the insight ``sum_j pi_j |beta_j|``, which is
        label-invariant, both with empty components' coefficients at 0 as in ``coef``.
    rhat_groups : ndarray of shape (6,)
        The worst split R-hat of each group of :data:`RHAT_GROUPS`: also the
        log-likelihood, alpha and each occupied component's log weight and log
        variance, which describe how the mixture splits the data and mix more slowly.
    acceptance : ndarray of shape (4,)
        MH acceptance rates of sigma^2, lambda1, lambda2 and split-merge moves.
    """

    weights: np.ndarray
    coef: np.ndarray
    sigma2: np.ndarray
    prior_of_component: np.ndarray
    lambdas: np.ndarray
    predictive_coef: np.ndarray
    rhat: float
    ess: float
    acceptance: np.ndarray
    rhat_groups: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Posterior:
        values: dict[str, Any] = {f.name: np.array(arrays[f.name]) for f in dataclasses.fields(cls)}
        values["rhat"], values["ess"] = float(values["rhat"]), float(values["ess"])
        return cls(**values)


class Draws:
    """Preallocated draws of one chain."""

    FIELDS = ("z", "log_pi", "beta", "sigma2", "c", "lambdas", "alpha", "log_lik")

    def __init__(self, n_draws: int, n: int, J: int, p: int) -> None:
        self.count = 0
        self.z = np.zeros((n_draws, n), dtype=np.int16)
        self.log_pi = np.zeros((n_draws, J))
        # float32 halves the memory (and checkpoint size) of the largest array.
        self.beta = np.zeros((n_draws, J, p), dtype=np.float32)
        self.sigma2 = np.zeros((n_draws, J))
        self.c = np.zeros((n_draws, J), dtype=np.int16)
        self.lambdas = np.zeros((n_draws, J, 2))
        self.alpha = np.zeros(n_draws)
        self.log_lik = np.zeros(n_draws)

    def record(self, state: State, log_lik: float) -> None:
        i = self.count
        self.z[i], self.log_pi[i] = state.z, state.log_pi
        # An empty component's coefficients come from its prior, which under vague
        # priors can pass float32's range; they are kept at its edge, not as inf.
        self.beta[i] = np.clip(state.beta, -FLOAT32_MAX, FLOAT32_MAX)
        self.sigma2[i], self.c[i], self.alpha[i] = state.sigma2, state.c, state.alpha
        self.lambdas[i] = np.stack([state.lam1[state.c], state.lam2[state.c]], axis=1)
        self.log_lik[i] = log_lik
        self.count += 1

    def arrays(self) -> dict[str, np.ndarray]:
        out = {name: getattr(self, name) for name in self.FIELDS}
        out["count"] = np.asarray(self.count)
        return out

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        for name in self.FIELDS:
            getattr(self, name)[...] = arrays[name]
        self.count = int(arrays["count"])


# ---------------------------------------------------------------- checkpoints
class Checkpoint:
    """One ``.npz`` file holding a whole fit's progress, rewritten atomically.

    It holds finished units (named arrays, e.g. a class's posterior or a chain's
    draws) and the running chain. A file written under other settings or data is
    refused, so a stale checkpoint never leaks into a new fit.

    Parameters
    ----------
    path : path-like
    fingerprint : dict
        JSON-friendly settings and a hash of the data; must match to resume.
    """

    def __init__(self, path: str | os.PathLike, fingerprint: dict[str, Any]) -> None:
        self.path = Path(path)
        self.fingerprint = as_recorded(fingerprint)
        self.units: dict[str, dict[str, np.ndarray]] = {}
        self.running: dict[str, Any] | None = None
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        header, arrays = read_checkpoint(
            self.path,
            what="a DMM-MEN checkpoint",
            format=CHECKPOINT_FORMAT,
            version=CHECKPOINT_VERSION,
            fingerprint=self.fingerprint,
            mismatch="was written by a fit with other settings or data; delete it or pass "
            "another checkpoint path",
        )
        for key, value in arrays.items():
            unit, _, name = key.rpartition("/")
            self.units.setdefault(unit, {})[name] = value
        running = header.get("running")
        if running is not None:
            if (
                not isinstance(running, dict)
                or set(running) != {"unit", "sweep", "rng"}
                or not isinstance(running["unit"], str)
                or not is_int(running["sweep"])
            ):
                raise ValueError(
                    f"{self.path} is a damaged DMM-MEN checkpoint: its running chain is not "
                    "a record of its unit, sweep and generator"
                )
            # Their arrays are checked where the chain's shapes are known (run_chain).
            running["state"] = self.units.pop("running/state", {})
            running["draws"] = self.units.pop("running/draws", {})
        self.running = running

    def checked(self, check: Callable[..., None], *args: Any) -> None:
        """Run ``check(*args)``, naming this file in the ``ValueError`` it raises."""
        try:
            check(*args)
        except ValueError as err:
            raise ValueError(f"{self.path} is a damaged DMM-MEN checkpoint: {err}") from err

    def save(self) -> None:
        header: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
            "running": None,
        }
        arrays = {f"{unit}/{k}": v for unit, group in self.units.items() for k, v in group.items()}
        if self.running is not None:
            run = self.running
            header["running"] = {k: run[k] for k in ("unit", "sweep", "rng")}
            arrays.update({f"running/state/{k}": v for k, v in run["state"].items()})
            arrays.update({f"running/draws/{k}": v for k, v in run["draws"].items()})
        write_npz_with_header(self.path, header, arrays)

    def resume(self, unit: str) -> dict[str, Any] | None:
        """The saved running chain, which must be ``unit``: the chain the fit runs next.

        Raises
        ------
        ValueError
            If it is another chain. Chains run one after another, each filed as a
            finished unit before the next starts, so a running chain that is not the
            next one was hand-edited or copied from another file; starting over would
            overwrite it at the first save, and its sweeps would be lost unannounced.
        """
        if self.running is not None and self.running["unit"] != unit:
            raise ValueError(
                f"{self.path} is a damaged DMM-MEN checkpoint: its running chain is "
                f"{self.running['unit']!r}, but this fit goes on with {unit!r}; delete the "
                "file or pass another checkpoint path to start over"
            )
        return self.running


def check_posterior(arrays: dict[str, Any], settings: ChainSettings, p: int) -> None:
    """Refuse a saved :class:`Posterior` of ``p`` coefficients per component unlike one
    :func:`sample_posterior` makes: another shape or kind, a NaN anywhere, an infinity
    outside the diagnostics (R-hat is infinite for a quantity constant within chains
    that differs between them), a negative weight, a variance not above 0, or a prior
    that does not exist. It was taken as the fitted surrogate as it was."""
    J = settings.n_components
    template = {"weights": (J,), "coef": (J, p), "sigma2": (J,), "lambdas": (J, 2)}
    template.update({"predictive_coef": (p,), "acceptance": (N_MH,)})
    finite = {name: np.zeros(shape) for name, shape in template.items()}
    finite["prior_of_component"] = np.zeros(J, int)
    check_saved_arrays({k: v for k, v in arrays.items() if k in finite}, finite)
    diagnostics = {"rhat": (), "ess": (), "rhat_groups": (len(RHAT_GROUPS),)}
    for name, shape in diagnostics.items():
        value = arrays.get(name)
        if not (
            isinstance(value, np.ndarray)
            and value.shape == shape
            and value.dtype.kind == "f"
            and not np.any(np.isnan(value))
        ):
            raise ValueError(f"its {name} is not {shape} numbers without NaN")
    if set(arrays) != set(finite) | set(diagnostics):
        raise ValueError(f"its posterior holds {sorted(arrays)}")
    if not (
        np.all(arrays["weights"] >= 0)
        and np.all(arrays["sigma2"] > 0)
        and np.all(arrays["prior_of_component"] >= 0)
        and np.all(arrays["prior_of_component"] < settings.n_priors)
    ):
        raise ValueError("its posterior holds values out of their range")


def _check_running(
    saved: dict[str, Any],
    draws: Draws,
    settings: ChainSettings,
    n: int,
    p: int,
    rng: np.random.Generator,
) -> None:
    """Refuse a saved running chain that this fit could not go on from: its state and
    draws of other shapes, kinds or values than the sampler makes (a NaN ``sigma2``
    or ``lam1`` made the sampler loop for ever), a sweep out of range, a draw count
    that does not fit it, or a damaged generator state."""
    J, K = settings.n_components, settings.n_priors
    floats = {"u": (J,), "alpha": (), "beta": (J, p), "t": (J, p), "sigma2": (J,)}
    floats.update({"w": (K,), "lam1": (K,), "lam2": (K,)})
    template = {name: np.zeros(shape) for name, shape in floats.items()}
    template.update({"z": np.zeros(n, int), "c": np.zeros(J, int)})
    template.update({"accepted": np.zeros(N_MH, int), "proposed": np.zeros(N_MH, int)})
    state = saved["state"]
    check_saved_arrays(state, template)
    # With one component alpha weighs no stick, and Gamma(alpha_shape) underflows to an
    # exact 0 for a small alpha_shape (about half the time at 0.001): a state the chain
    # goes on from. With more, a 0 would fail in the next sweep's Beta draw.
    positive = ("sigma2", "lam1", "lam2") if J == 1 else ("alpha", "sigma2", "lam1", "lam2")
    if not (
        np.all((state["z"] >= 0) & (state["z"] < J))
        and np.all((state["c"] >= 0) & (state["c"] < K))
        and state["alpha"] >= 0
        and all(np.all(state[name] > 0) for name in positive)
        and all(np.all((state[name] >= 0) & (state[name] <= 1)) for name in ("u", "t"))
        and np.all(state["w"] >= 0)
    ):
        raise ValueError("its running chain's state holds values out of their range")
    sweep_index = saved["sweep"]
    if not 0 <= sweep_index <= settings.n_iter:
        raise ValueError(f"its running chain is at sweep {sweep_index} of {settings.n_iter}")
    _check_draws(
        saved["draws"], draws, settings, sum(s < sweep_index for s in settings.draw_sweeps)
    )
    check_generator_state(saved["rng"], like=rng)


def _check_finished(stored: dict[str, Any], draws: Draws, settings: ChainSettings) -> None:
    """Refuse a saved finished chain unlike one this fit makes: all its draws, made and
    checked as :func:`_check_draws` says, and its MH acceptance counts."""
    draws_only = {k: v for k, v in stored.items() if k != "acceptance"}
    _check_draws(draws_only, draws, settings, len(settings.draw_sweeps))
    check_saved_arrays(
        {"acceptance": stored.get("acceptance")}, {"acceptance": np.zeros((2, N_MH))}
    )
    if np.any(stored["acceptance"] < 0):
        raise ValueError("its acceptance counts are negative")


def _check_draws(arrays: dict[str, Any], draws: Draws, settings: ChainSettings, count: int) -> None:
    """Saved draws: the arrays of ``draws`` (a fresh :class:`Draws` of this fit) with
    finite values, ``count`` of them made, and labels that name a component or prior."""
    check_saved_arrays(arrays, draws.arrays())
    if int(arrays["count"]) != count:
        raise ValueError(f"it holds {int(arrays['count'])} draws where {count} were made")
    J, K = settings.n_components, settings.n_priors
    if not (
        np.all((arrays["z"] >= 0) & (arrays["z"] < J))
        and np.all((arrays["c"] >= 0) & (arrays["c"] < K))
    ):
        raise ValueError("its draws name components or priors out of range")
    # The draws made: a variance or a prior's scale not above 0, or a log weight above
    # 0, was resumed from, and the fitted surrogate took NaN from log(sigma2) or
    # overflowed in exp(log_pi).
    made = {name: arrays[name][:count] for name in ("log_pi", "sigma2", "lambdas", "alpha")}
    if not (
        np.all(made["log_pi"] <= 0)
        and np.all(made["sigma2"] > 0)
        and np.all(made["lambdas"] > 0)
        and np.all(made["alpha"] >= 0)
    ):
        raise ValueError(
            "its draws hold values out of their range (a log weight above 0, or a "
            "variance, prior scale or concentration not above 0)"
        )


# ---------------------------------------------------------------- chains
def pilot_start(
    X: np.ndarray, y: np.ndarray, settings: ChainSettings, rng: np.random.Generator
) -> State:
    """A chain's starting state: the best of ``settings.n_init`` short pilot runs.

    A Gibbs sampler moves samples between components one at a time, so a chain keeps
    the partition of the data it first settles in, even where another is far likelier:
    on MNIST digit 1, chains settled in partitions whose mean log-likelihoods differ by
    up to 125 nats and kept them for 6000 sweeps. Each pilot runs
    ``settings.init_sweeps`` sweeps from its own :func:`initial_state`; the chain
    continues from the final state of the pilot whose second half has the highest mean
    log-likelihood. Pilots are not draws: burn-in and the MH rates count from there.
    With ``n_init=1`` this is :func:`initial_state` itself.
    """
    J, K, prior = settings.n_components, settings.n_priors, settings.prior
    if settings.n_init == 1:
        return initial_state(X, y, J, K, prior, rng)
    best: State | None = None
    best_score = -np.inf
    for _ in range(settings.n_init):
        state = initial_state(X, y, J, K, prior, rng)
        log_liks = np.empty(settings.init_sweeps)
        for i in range(settings.init_sweeps):
            state, log_liks[i] = sweep(X, y, state, prior, rng, **settings.steps(i))
        score = float(log_liks[settings.init_sweeps // 2 :].mean())
        if best is None or score > best_score:
            best, best_score = state, score
    assert best is not None  # n_init >= 1 is checked when the settings are made
    zeros = np.zeros(N_MH, dtype=np.int64)
    return dataclasses.replace(best, accepted=zeros, proposed=zeros.copy())


def run_chain(
    X: np.ndarray,
    y: np.ndarray,
    settings: ChainSettings,
    rng: np.random.Generator,
    *,
    unit: str = "chain",
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 100,
    verbose: bool = False,
    desc: str = "DMM-MEN",
) -> tuple[Draws, State]:
    """Run one chain, resuming from ``checkpoint`` if it holds it.

    The state entering sweep ``i`` is recorded for every ``i`` in
    ``settings.draw_sweeps``, with its log-likelihood.

    Returns
    -------
    draws : Draws
    state : State
        The final state; its MH counters cover the whole chain.
    """
    n, p = X.shape
    draws = Draws(len(settings.draw_sweeps), n, settings.n_components, p)
    saved = None if checkpoint is None else checkpoint.resume(unit)
    start = 0 if saved is None else int(saved["sweep"])
    if saved is not None:
        checkpoint.checked(_check_running, saved, draws, settings, n, p, rng)  # type: ignore[union-attr]
        draws.restore(saved["draws"])
        rng.bit_generator.state = saved["rng"]
    last: dict[str, Any] = {}

    def save(state: State, sweep_index: int, rng_state: Mapping[str, Any], recorded: dict) -> None:
        checkpoint.running = {  # type: ignore[union-attr]
            "unit": unit,
            "sweep": sweep_index,
            "rng": rng_state,
            "state": state.arrays(),
            "draws": recorded,
        }
        checkpoint.save()  # type: ignore[union-attr]

    def initialize(data: Any, rng: np.random.Generator) -> State:
        if saved is not None:
            return State.from_arrays(saved["state"])
        return pilot_start(X, y, settings, rng)

    def step(data: Any, state: State, rng: np.random.Generator) -> tuple[State, float]:
        index = start + last.get("done", 0)
        if checkpoint is not None:
            # Enough to save this sweep's starting point if it is interrupted, at any
            # moment until the next sweep starts (the periodic save below included):
            # draws past ``count`` are ignored, so the arrays need no copy.
            last.update(state=state, index=index, rng=rng.bit_generator.state, count=draws.count)
        new, log_lik = sweep(X, y, state, settings.prior, rng, **settings.steps(index))
        if index in settings.draw_sweeps:
            draws.record(state, log_lik)
        last["done"] = last.get("done", 0) + 1
        if checkpoint is not None and (index + 1) % checkpoint_every == 0:
            save(new, index + 1, rng.bit_generator.state, draws.arrays())
        return new, log_lik

    if saved is not None and start >= settings.n_iter:
        return draws, State.from_arrays(saved["state"])
    try:
        trace = fit_iterative(
            initialize,
            step,
            None,
            rng=rng,
            max_iter=settings.n_iter - start,
            tol=None,
            verbose=verbose,
            desc=desc,
        )
    except KeyboardInterrupt:
        # Save the last complete state, so an interrupted fit loses nothing.
        if checkpoint is not None and "state" in last:
            recorded = {**draws.arrays(), "count": np.asarray(last["count"])}
            save(last["state"], last["index"], last["rng"], recorded)
        raise
    return draws, trace.state


def summarise(
    chains: list[Draws], settings: ChainSettings, basis: np.ndarray | None = None
) -> Posterior:
    """Relabel the pooled draws of all chains and summarise the posterior.

    With ``basis`` (rows: the axes the features are scores on), R-hat and ESS are
    judged on the coefficients mapped back to the original features, ``beta @
    basis``, which is what explanations are built from; the summaries stay on the
    scores.
    """
    J = settings.n_components
    n_chains, n_draws = len(chains), chains[0].count
    if any(d.count != n_draws for d in chains):
        raise ValueError(f"chains of unequal length: {[d.count for d in chains]} draws")
    pooled = {
        name: np.concatenate([getattr(d, name)[:n_draws] for d in chains]) for name in Draws.FIELDS
    }
    perm = relabel(pooled["z"].astype(np.int64), J)
    per_component = ("log_pi", "beta", "sigma2", "c", "lambdas")
    aligned = {name: apply_permutation(pooled[name], perm) for name in per_component}
    weights_draws = np.exp(aligned["log_pi"])
    beta = rao_blackwell(
        aligned["beta"].astype(np.float64),
        apply_permutation(_component_sizes(pooled["z"], J), perm),
    )
    weights = weights_draws.mean(axis=0)
    shared = _first_use_labels(aligned["c"])
    counts = np.stack([(shared == k).sum(axis=0) for k in range(settings.n_priors)])
    occupied = weights >= OCCUPIED
    occupied[np.argmax(weights)] = True  # with many components, none may reach OCCUPIED

    def by_chain(values: np.ndarray) -> np.ndarray:
        return values.reshape(n_chains, n_draws, -1)

    explained = beta
    if basis is not None:
        explained = np.concatenate([beta[..., :1], beta[..., 1:] @ basis], axis=-1)
    insight = (weights_draws[:, :, None] * np.abs(explained)).sum(axis=1)
    groups = {
        "coef": by_chain(explained[:, occupied]),
        "insight": by_chain(insight),
        "log_likelihood": by_chain(pooled["log_lik"]),
        "alpha": by_chain(pooled["alpha"]),
        "log_weight": by_chain(aligned["log_pi"][:, occupied]),
        "log_sigma2": by_chain(np.log(aligned["sigma2"][:, occupied])),
    }
    rhat = np.array([np.max(split_rhat(groups[name])) for name in RHAT_GROUPS])
    monitored = np.concatenate([groups["coef"], groups["insight"]], axis=2)
    return Posterior(
        weights=weights,
        coef=beta.mean(axis=0),
        sigma2=aligned["sigma2"].mean(axis=0),
        prior_of_component=counts.argmax(axis=0),
        lambdas=aligned["lambdas"].mean(axis=0),
        predictive_coef=(weights_draws[:, :, None] * beta).sum(axis=1).mean(axis=0),
        rhat=float(rhat[:2].max()),
        ess=float(np.min(effective_sample_size(monitored))),
        acceptance=np.zeros(N_MH),
        rhat_groups=rhat,
    )


def _component_sizes(z: np.ndarray, J: int) -> np.ndarray:
    """The members ``n_j`` of every component in every draw.

    Parameters
    ----------
    z : ndarray of int, shape (n_draws, n)
    J : int

    Returns
    -------
    ndarray of int, shape (n_draws, J)
    """
    return np.stack([(z == j).sum(axis=1) for j in range(J)], axis=1)


def rao_blackwell(beta: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The draws' coefficients with each empty component's at its conditional mean, 0.

    A component with no members draws its coefficients from the prior (the note's
    step 4), whose variance is infinite: sigma^2 ~ InvGamma(0.5, 0.5) has no mean,
    so draws of |beta| reach 1e3 and beyond. Given the rest of the state, an empty
    component's beta (intercept column included: ``y`` is centred and the elastic
    net's prior on every column is symmetric about 0) has mean 0, so averaging 0 in
    its place estimates the same posterior means as the raw draws (a Rao-Blackwell
    estimate of every summary linear in beta) without their variance, which on
    small classes swamped ``r2_`` and the insights. The chain is unchanged.

    Parameters
    ----------
    beta : ndarray of shape (n_draws, J, p)
    sizes : ndarray of int, shape (n_draws, J)
        Each component's members in the same draw (labels aligned with ``beta``).

    Returns
    -------
    ndarray of shape (n_draws, J, p)
    """
    return np.where(sizes[:, :, None] > 0, beta, 0.0)


def _first_use_labels(c: np.ndarray) -> np.ndarray:
    """Each draw's prior labels renumbered in order of first use by components 0, 1, ...

    The K priors are exchangeable, so their labels switch between draws and chains as
    the components' do; what the draws agree on is which components share a prior.

    Parameters
    ----------
    c : ndarray of int, shape (n_draws, J)

    Returns
    -------
    ndarray of int, shape (n_draws, J)
    """
    out = np.empty_like(c)
    for d, row in enumerate(c):
        _, first, inverse = np.unique(row, return_index=True, return_inverse=True)
        out[d] = np.argsort(np.argsort(first))[inverse]
    return out


def sample_posterior(
    X: np.ndarray,
    y: np.ndarray,
    settings: ChainSettings,
    rngs: list[np.random.Generator],
    *,
    unit: str = "",
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 100,
    verbose: bool = False,
    desc: str = "DMM-MEN",
    basis: np.ndarray | None = None,
) -> Posterior:
    """Run ``settings.n_chains`` chains (one generator each) and summarise them.

    Finished chains are kept in ``checkpoint`` as units ``{unit}chain{i}``. ``basis``
    goes to :func:`summarise`.
    """
    chains: list[Draws] = []
    acceptance = np.zeros((2, N_MH))
    n, p = X.shape
    for i, rng in enumerate(rngs):
        name = f"{unit}chain{i}"
        if checkpoint is not None and name in checkpoint.units:
            stored = checkpoint.units[name]
            draws = Draws(len(settings.draw_sweeps), n, settings.n_components, p)
            checkpoint.checked(_check_finished, stored, draws, settings)
            draws.restore(stored)
            acceptance += stored["acceptance"]
        else:
            label = desc if len(rngs) == 1 else f"{desc}, chain {i + 1}/{len(rngs)}"
            draws, state = run_chain(
                X,
                y,
                settings,
                rng,
                unit=name,
                checkpoint=checkpoint,
                checkpoint_every=checkpoint_every,
                verbose=verbose,
                desc=label,
            )
            counts = np.stack([state.accepted, state.proposed]).astype(np.float64)
            acceptance += counts
            if checkpoint is not None:
                checkpoint.units[name] = {**draws.arrays(), "acceptance": counts}
                checkpoint.running = None
                checkpoint.save()
        chains.append(draws)
    posterior = summarise(chains, settings, basis)
    rate = acceptance[0] / np.maximum(acceptance[1], 1)
    return dataclasses.replace(posterior, acceptance=rate)
