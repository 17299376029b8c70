"""The shared driver of iterative fits: EM here, MCMC and distillation later.

A fit is a sequence of steps on a state. The estimator supplies two small hooks,

- ``initialize(data, rng) -> state``: a starting state (one per restart);
- ``step(data, state, rng) -> (state, objective)``: one iteration, returning the new
  state and the objective *of the state it started from* (for EM, the log-likelihood
  computed in the E-step, as scikit-learn's ``lower_bound_``);

and the driver owns everything else: the iteration budget, the convergence test on
the objective, restarts (``n_init``) keeping the best, warnings, and the progress bar
(silenced by ``verbose=False``). This follows ``sklearn/mixture/_base.py`` (DESIGN.md
convention 4), but with the hooks as plain callables so that a sampler
(``step(state, rng) -> state`` with ``tol=None``: run every iteration) or a
minimising distillation loop (``maximize=False``) can reuse it unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import numpy as np

from .._estimator import short_repr
from .._progress import progress
from .._validation import check_number, check_positive_int

S = TypeVar("S")


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at ``max_iter`` before its objective settled."""


class ObjectiveDecreaseWarning(UserWarning):
    """An objective that must not get worse (the EM lower bound) got worse."""


Initialize = Callable[[Any, np.random.Generator], S]
Step = Callable[[Any, S, np.random.Generator], tuple[S, float]]


@dataclasses.dataclass(frozen=True)
class FitTrace(Generic[S]):
    """The outcome of one iterative fit.

    Attributes
    ----------
    state : object
        The state after the last step.
    objective : ndarray of shape (n_iter,)
        The objective of the state each step started from (for EM, ``lower_bound_``
        per iteration). For a converged fit the last entry is within ``tol`` of the
        last state's own objective, which no step computed.
    converged : bool
        Whether the objective changed by less than ``tol`` before ``max_iter``.
    n_iter : int
        The number of steps taken.
    init : int
        Which restart this was (0-based).
    """

    state: S
    objective: np.ndarray
    converged: bool
    n_iter: int
    init: int = 0

    __repr__ = short_repr  # the state's arrays by shape

    @property
    def final(self) -> float:
        """The objective of the final state (the last recorded value)."""
        return float(self.objective[-1]) if self.objective.size else -math.inf


@dataclasses.dataclass(frozen=True)
class Snapshot(Generic[S]):
    """Where :func:`fit_iterative` stands after a step: what a checkpoint keeps.

    Attributes
    ----------
    current : FitTrace
        The restart in progress: its state and objective so far, and whether it has
        converged.
    best : FitTrace or None
        The best of the restarts finished before it.
    rng_state : dict
        The generator's ``bit_generator.state`` after the step.
    """

    current: FitTrace[S]
    best: FitTrace[S] | None
    rng_state: Mapping[str, Any]


def check_driver_params(max_iter: Any, tol: Any, n_init: Any) -> tuple[int, float | None, int]:
    """Validate the driver's hyperparameters where ``fit`` receives them."""
    max_iter = check_positive_int(max_iter, name="max_iter")
    n_init = check_positive_int(n_init, name="n_init")
    if tol is not None:
        # check_number's reading, as max_iter and n_init get check_positive_int's: a 0-d
        # array is a number (it was refused), and an infinite tol, which stopped every
        # fit at its second step as converged, is not one.
        try:
            tol = check_number(tol, name="tol", strict=False)
        except ValueError as error:
            raise ValueError(f"{error}; or None to run every iteration") from None
    return max_iter, tol, n_init


def _describe(value: Any) -> str:
    """A hook's return value in a few words: its type, and a tuple's or array's items."""
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}: ({', '.join(_describe(v) for v in value)})"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return type(value).__name__


def _run_once(
    initialize: Initialize[S],
    step: Step[S],
    data: Any,
    rng: np.random.Generator,
    *,
    max_iter: int,
    tol: float | None,
    maximize: bool,
    monotone: bool,
    verbose: bool,
    desc: str,
    init: int,
    start: FitTrace[S] | None = None,
    on_step: Callable[[FitTrace[S]], None] | None = None,
) -> FitTrace[S]:
    """One restart, from ``initialize`` or from ``start``, a restart saved partway."""
    if start is None:
        state, history, converged = initialize(data, rng), [], False
    else:
        state, history, converged = start.state, list(start.objective), start.converged
    bar = progress(total=max_iter, verbose=verbose, desc=desc, unit="iter")
    bar.update(len(history))
    sign = 1.0 if maximize else -1.0
    worse = "fell" if maximize else "rose"  # a minimised loss gets worse by rising
    try:
        while not converged and len(history) < max_iter:
            result = step(data, state, rng)
            try:
                state, value = result
                value = float(value)
            except (TypeError, ValueError):
                # Not Python's unpacking or float() error, which names neither hook.
                raise TypeError(
                    f"{desc}: step must return (state, objective) with the objective a real "
                    f"number, got {_describe(result)}"
                ) from None
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"{desc}: the objective became {value} at iteration {len(history) + 1}; "
                    "the data may be degenerate (check for constant or duplicated rows)"
                )
            if history:
                change = sign * (value - history[-1])
                # A relative slack: float rounding in a sum over many rows can move a
                # converged objective down by a few ulps without any real decrease.
                slack = 1e-9 * max(1.0, abs(value))
                if monotone and change < -slack:
                    warnings.warn(
                        f"{desc}: the objective {worse} from {history[-1]:.6g} to {value:.6g} at "
                        f"iteration {len(history) + 1}, which this algorithm should never do",
                        ObjectiveDecreaseWarning,
                        stacklevel=3,
                    )
                history.append(value)
                # Shown at the bar's next (throttled) redraw: refreshing here redrew it
                # at every iteration, about 30 us each, 1% of a DMM-MEN sweep. Set before
                # the update, whose redraw would otherwise show the step before.
                bar.set_postfix(objective=f"{value:.5g}", refresh=False)
                bar.update(1)
                converged = tol is not None and abs(change) < tol
            else:
                history.append(value)
                bar.update(1)
            if on_step is not None:
                on_step(FitTrace(state, np.asarray(history), converged, len(history), init))
    finally:
        bar.close()
    return FitTrace(state, np.asarray(history), converged, len(history), init)


def fit_iterative(
    initialize: Initialize[S],
    step: Step[S],
    data: Any,
    *,
    rng: np.random.Generator,
    max_iter: int,
    tol: float | None,
    n_init: int = 1,
    maximize: bool = True,
    monotone: bool = False,
    verbose: bool = False,
    desc: str = "fit",
    on_init: Callable[[FitTrace[S]], None] | None = None,
    save: Callable[[Snapshot[S]], None] | None = None,
    resume: Snapshot[S] | None = None,
) -> FitTrace[S]:
    """Run ``n_init`` fits from fresh initial states and return the best.

    Parameters
    ----------
    initialize : callable
        ``initialize(data, rng) -> state``: a fresh starting state.
    step : callable
        ``step(data, state, rng) -> (state, objective)``: one iteration; the
        objective is that of the state it started from.
    data : object
        Passed to the hooks unchanged.
    rng : numpy.random.Generator
        The estimator's one generator; restarts draw from it in turn, so the same
        seed gives the same fit.
    max_iter : int
        Steps per restart.
    tol : float or None
        Stop when the objective changes by less than ``tol`` between steps. None
        runs all ``max_iter`` steps (a sampler) and never warns about convergence.
    n_init : int
        Restarts; the one with the best final objective wins (ties: the first).
    maximize : bool
        Whether a larger objective is better (EM: yes; a distillation loss: no).
    monotone : bool
        Warn with :class:`ObjectiveDecreaseWarning` if the objective ever gets worse,
        for algorithms that guarantee it does not (EM).
    verbose : bool
        Show a progress bar.
    desc : str
        The bar's label and the prefix of warnings.
    on_init : callable, optional
        Called with each restart's trace, e.g. to log it.
    save : callable, optional
        Called with a :class:`Snapshot` after every step, e.g. to write a checkpoint.
    resume : Snapshot, optional
        A snapshot ``save`` was given: the fit goes on from it, with ``rng`` set to its
        state, and ends as an uninterrupted one would.

    Returns
    -------
    FitTrace
        The best restart. A :class:`ConvergenceWarning` is issued if it did not converge.
    """
    max_iter, tol, n_init = check_driver_params(max_iter, tol, n_init)
    if not isinstance(rng, np.random.Generator):
        # None or a seed passed unnoticed until a checkpoint read rng.bit_generator.
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {rng!r}"
        )
    if resume is not None:
        if not isinstance(resume, Snapshot):
            raise TypeError(f"resume must be a Snapshot that save was given, got {resume!r}")
        if not 0 <= resume.current.init < n_init:
            # It was an AssertionError at the end, after no restart had run.
            raise ValueError(
                f"resume is a snapshot of restart {resume.current.init + 1}, but n_init={n_init} "
                "asks for fewer restarts: resume with the n_init it was saved with"
            )
    best = None if resume is None else resume.best
    first = 0 if resume is None else resume.current.init
    if resume is not None:
        rng.bit_generator.state = resume.rng_state
    sign = 1.0 if maximize else -1.0
    for init in range(first, n_init):

        def on_step(trace: FitTrace[S], best: FitTrace[S] | None = best) -> None:
            if save is not None:
                save(Snapshot(trace, best, rng.bit_generator.state))

        trace = _run_once(
            initialize,
            step,
            data,
            rng,
            max_iter=max_iter,
            tol=tol,
            maximize=maximize,
            monotone=monotone,
            verbose=verbose,
            desc=desc if n_init == 1 else f"{desc} (init {init + 1}/{n_init})",
            init=init,
            start=resume.current if resume is not None and init == first else None,
            # Without a checkpoint there is nothing to save, and each step's trace would
            # copy the whole history: quadratic in max_iter (6000 DMM-MEN sweeps).
            on_step=on_step if save is not None else None,
        )
        if on_init is not None:
            on_init(trace)
        if best is None or sign * trace.final > sign * best.final:
            best = trace
    assert best is not None  # n_init >= 1
    if tol is not None and not best.converged:
        warnings.warn(
            f"{desc} did not converge in {max_iter} iterations (tol={tol:g}); "
            "raise max_iter or tol",
            ConvergenceWarning,
            stacklevel=2,
        )
    return best
