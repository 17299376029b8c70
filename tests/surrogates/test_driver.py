"""The shared iterative-fit driver, with toy hooks."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from unboxed.surrogates import ConvergenceWarning, ObjectiveDecreaseWarning, fit_iterative


def _halving(target: float):
    """A fit whose objective approaches ``target`` geometrically: -|target - x|."""

    def initialize(data, rng):
        return float(rng.uniform(5, 10))

    def step(data, x, rng):
        return target + (x - target) / 2, -abs(target - x)

    return initialize, step


def test_converges_and_records_the_objective():
    init, step = _halving(1.0)
    trace = fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=100, tol=1e-6)
    assert trace.converged and trace.n_iter < 100 and abs(trace.state - 1.0) < 1e-5
    assert np.all(np.diff(trace.objective) > 0) and trace.objective.size == trace.n_iter


def test_warns_when_not_converged():
    init, step = _halving(1.0)
    with pytest.warns(ConvergenceWarning, match="did not converge in 3"):
        trace = fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=3, tol=1e-9)
    assert not trace.converged and trace.n_iter == 3


def test_tol_none_runs_every_step_without_warning(recwarn):
    init, step = _halving(1.0)
    trace = fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=7, tol=None)
    assert trace.n_iter == 7 and not trace.converged and len(recwarn) == 0


def test_monotone_check_flags_a_decrease():
    def step(data, x, rng):
        return x + 1, float(np.sin(x))  # goes up and down

    with pytest.warns(ObjectiveDecreaseWarning, match="fell"):
        fit_iterative(
            lambda d, r: 0.0,
            step,
            None,
            rng=np.random.default_rng(0),
            max_iter=6,
            tol=None,
            monotone=True,
        )


def test_n_init_keeps_the_best_and_minimise():
    def initialize(data, rng):
        return float(rng.uniform(-3, 3))

    def step(data, x, rng):
        return x, x  # the objective is the starting point

    best_max = fit_iterative(
        initialize, step, None, rng=np.random.default_rng(0), max_iter=2, tol=0.5, n_init=5
    )
    best_min = fit_iterative(
        initialize,
        step,
        None,
        rng=np.random.default_rng(0),
        max_iter=2,
        tol=0.5,
        n_init=5,
        maximize=False,
    )
    starts = np.random.default_rng(0).uniform(-3, 3, size=5)
    assert best_max.state == pytest.approx(starts.max())
    assert best_min.state == pytest.approx(starts.min())
    assert best_max.init == int(np.argmax(starts))


def test_non_finite_objective_and_bad_parameters_raise():
    with pytest.raises(FloatingPointError, match="degenerate"):
        fit_iterative(
            lambda d, r: 0,
            lambda d, s, r: (s, float("nan")),
            None,
            rng=np.random.default_rng(0),
            max_iter=3,
            tol=1e-3,
        )
    init, step = _halving(1.0)
    for kwargs, match in (
        ({"max_iter": 0, "tol": 1e-3}, "max_iter"),
        ({"max_iter": 5, "tol": -1.0}, "tol"),
        ({"max_iter": 5, "tol": 1e-3, "n_init": 0}, "n_init"),
    ):
        with pytest.raises(ValueError, match=match):
            fit_iterative(init, step, None, rng=np.random.default_rng(0), **kwargs)


def test_a_falling_objective_has_not_converged():
    with pytest.warns(ConvergenceWarning):
        trace = fit_iterative(
            lambda d, r: 0.0,
            lambda d, x, r: (x - 10.0, x),
            None,
            rng=np.random.default_rng(0),
            max_iter=5,
            tol=1e-3,
        )
    assert not trace.converged and trace.n_iter == 5


def test_tied_restarts_keep_the_first():
    trace = fit_iterative(
        lambda d, r: float(r.uniform()),
        lambda d, x, r: (x, 1.0),
        None,
        rng=np.random.default_rng(0),
        max_iter=3,
        tol=None,
        n_init=4,
    )
    assert trace.init == 0


def _noisy_halving():
    """Restarts that differ by their starting point and steps that draw from rng."""

    def step(data, x, rng):
        return x / 2 + 0.01 * rng.normal(), -abs(x)

    return lambda data, rng: float(rng.uniform(5, 10)), step


@pytest.mark.parametrize("stop_after", [1, 7, 10, 19, 25, 29])
def test_a_fit_resumed_from_any_snapshot_ends_as_an_uninterrupted_one(stop_after):
    init, step = _noisy_halving()
    kwargs = dict(max_iter=10, tol=0.05, n_init=3, maximize=True)
    snapshots = []
    whole = fit_iterative(
        init, step, None, rng=np.random.default_rng(4), save=snapshots.append, **kwargs
    )
    # One per step; the restarts converge after 10, 9 and 10 steps (10 and 19 resume
    # from a finished restart).
    ends = [(s.current.init, s.current.n_iter) for s in snapshots if s.current.converged]
    assert ends == [(0, 10), (1, 9), (2, 10)] and len(snapshots) == 29
    taken = []

    def counted(data, x, rng):
        taken.append(x)
        return step(data, x, rng)

    resumed = fit_iterative(
        init,
        counted,
        None,
        rng=np.random.default_rng(99),
        resume=snapshots[stop_after - 1],
        **kwargs,
    )
    assert len(taken) == len(snapshots) - stop_after  # only the steps left
    assert resumed.state == whole.state and resumed.init == whole.init
    np.testing.assert_array_equal(resumed.objective, whole.objective)
    assert resumed.converged == whole.converged


# ---------------------------------------------------------------- audit F2
def _sequence(values):
    """A fit whose objective runs through ``values`` (the state is the step count)."""
    return (lambda d, r: 0), (lambda d, i, r: (i + 1, values[i]))


def test_a_change_of_exactly_tol_has_not_converged():
    # "Stop when the objective changes by less than tol": 0.5 is not less than 0.5.
    init, step = _sequence([1.0, 1.5, 2.0, 2.5, 2.75])
    with pytest.warns(ConvergenceWarning):
        trace = fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=4, tol=0.5)
    assert not trace.converged and trace.n_iter == 4
    trace = fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=5, tol=0.5)
    assert trace.converged and trace.n_iter == 5  # 2.5 -> 2.75 changes by less


def test_tol_must_be_a_non_negative_number():
    init, step = _halving(1.0)
    rng = np.random.default_rng(0)
    with pytest.warns(ConvergenceWarning):  # tol = 0 is allowed: no change is below it
        trace = fit_iterative(init, step, None, rng=rng, max_iter=5, tol=0)
    assert trace.n_iter == 5
    for tol in (True, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="tol must be"):
            fit_iterative(init, step, None, rng=rng, max_iter=5, tol=tol)


def test_an_infinite_objective_raises():
    init, step = _sequence([0.0, float("inf")])
    with pytest.raises(FloatingPointError, match="became inf at iteration 2"):
        fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=3, tol=None)


def _monotone_run(values, *, maximize):
    init, step = _sequence(values)
    return fit_iterative(
        init,
        step,
        None,
        rng=np.random.default_rng(0),
        max_iter=len(values),
        tol=None,
        maximize=maximize,
        monotone=True,
    )


def test_monotone_check_ignores_rounding_and_follows_the_direction(recwarn):
    # A fall of 1e-10 on 1000 (1e-13 relative) is float rounding, not a decrease.
    _monotone_run([1000.0, 1000.0 - 1e-10, 1000.0 - 1e-10], maximize=True)
    # Minimising, a falling loss is the right direction.
    _monotone_run([5.0, 4.0, 3.0], maximize=False)
    assert len(recwarn) == 0
    # A minimised loss gets worse by rising: the warning said it "fell from 3 to 4".
    with pytest.warns(ObjectiveDecreaseWarning, match="the objective rose from 3 to 4"):
        _monotone_run([3.0, 4.0], maximize=False)
    with pytest.warns(ObjectiveDecreaseWarning, match="the objective fell from 4 to 3"):
        _monotone_run([4.0, 3.0], maximize=True)


# ---------------------------------------------------------------- audit K3
def test_monotone_slack_is_relative_with_an_absolute_floor(recwarn):
    # Near zero the slack is 1e-9 absolute: a 1e-12 fall to exactly 0 is rounding.
    _monotone_run([1e-12, 0.0], maximize=True)
    # A log-likelihood of -1e6 is negative: its slack scales with |value| (1e-3), so
    # a 1e-4 fall (1e-10 relative) is rounding too.
    _monotone_run([-1e6, -1e6 - 1e-4], maximize=True)
    assert len(recwarn) == 0
    # A fall of 1e-4 on 1000 is 1e-7 relative, a hundred times the slack: a decrease.
    with pytest.warns(ObjectiveDecreaseWarning, match="fell"):
        _monotone_run([1000.0, 1000.0 - 1e-4], maximize=True)


def test_a_falling_objective_is_not_flagged_unless_monotone(recwarn):
    init, step = _sequence([3.0, 2.0, 1.0])
    fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=3, tol=None)
    assert len(recwarn) == 0


def test_warnings_point_at_the_line_that_called_fit_iterative():
    init, step = _halving(1.0)
    with pytest.warns(ConvergenceWarning) as caught:
        fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=3, tol=1e-9)
    assert [w.filename for w in caught] == [__file__]
    with pytest.warns(ObjectiveDecreaseWarning) as caught:
        _monotone_run([3.0, 4.0], maximize=False)
    assert [w.filename for w in caught] == [__file__]


def _restarts(sequences):
    """Restart k's objective runs through ``sequences[k]`` (the state is (k, step))."""
    started = []

    def initialize(data, rng):
        started.append(len(started))
        return started[-1], 0

    def step(data, state, rng):
        k, i = state
        return (k, i + 1), sequences[k][i]

    return initialize, step


def test_restarts_are_ranked_by_their_final_objective_not_their_first():
    # Restart 0 starts highest (9) but ends at 1; restart 1 ends at 2.
    init, step = _restarts([[9.0, 1.0, 1.0], [2.0, 2.0]])
    traces = []
    best = fit_iterative(
        init,
        step,
        None,
        rng=np.random.default_rng(0),
        max_iter=3,
        tol=0.5,
        n_init=2,
        on_init=traces.append,
    )
    assert best.init == 1 and best.final == 2.0
    # on_init sees every restart, in order, whole.
    assert [t.init for t in traces] == [0, 1]
    np.testing.assert_array_equal(traces[0].objective, [9.0, 1.0, 1.0])
    assert [t.converged for t in traces] == [True, True]


def test_the_convergence_warning_is_about_the_restart_kept():
    # The best restart (final 30) never settles, the other does: the fit kept has not
    # converged, so it warns.
    init, step = _restarts([[10.0, 20.0, 30.0], [1.0, 1.0]])
    with pytest.warns(ConvergenceWarning):
        best = fit_iterative(
            init, step, None, rng=np.random.default_rng(0), max_iter=3, tol=0.5, n_init=2
        )
    assert best.init == 0 and not best.converged


def test_an_unsettled_restart_that_lost_does_not_warn(recwarn):
    init, step = _restarts([[10.0, 10.0], [1.0, 2.0, 3.0]])
    best = fit_iterative(
        init, step, None, rng=np.random.default_rng(0), max_iter=3, tol=0.5, n_init=2
    )
    assert best.init == 0 and best.converged and len(recwarn) == 0


def test_a_fit_resumed_in_a_later_restart_still_keeps_an_earlier_best():
    def initialize(data, rng):
        return float(rng.uniform(-3, 3))

    def step(data, x, rng):
        return x, x  # the objective is the starting point

    starts = np.random.default_rng(0).uniform(-3, 3, size=3)
    assert int(np.argmax(starts)) == 0  # the first restart wins
    kwargs = dict(max_iter=2, tol=0.5, n_init=3)
    snapshots = []
    whole = fit_iterative(
        initialize, step, None, rng=np.random.default_rng(0), save=snapshots.append, **kwargs
    )
    assert whole.init == 0 and len(snapshots) == 6
    # Resume in the middle of the second restart, and at the start of the third.
    for stop_after in (3, 4):
        assert snapshots[stop_after - 1].best is not None
        resumed = fit_iterative(
            initialize,
            step,
            None,
            rng=np.random.default_rng(5),
            resume=snapshots[stop_after - 1],
            **kwargs,
        )
        assert resumed.init == 0 and resumed.state == whole.state


def test_a_decrease_warning_names_the_restart_counting_from_one():
    init, step = _restarts([[1.0, 2.0], [3.0, 2.0]])
    with pytest.warns(ObjectiveDecreaseWarning, match=r"^em \(init 2/2\): the objective fell"):
        fit_iterative(
            init,
            step,
            None,
            rng=np.random.default_rng(0),
            max_iter=2,
            tol=None,
            n_init=2,
            monotone=True,
            desc="em",
        )


def test_tol_may_be_a_numpy_scalar():
    # max_iter and n_init take numpy ints; tol used to refuse np.float32 and np.int64
    # as "not a number".
    init, step = _halving(1.0)
    for tol in (np.float32(1e-3), np.int64(1)):
        trace = fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=50, tol=tol)
        assert trace.converged
    with pytest.raises(ValueError, match="tol must be"):
        fit_iterative(
            init, step, None, rng=np.random.default_rng(0), max_iter=5, tol=np.float32(-1)
        )


def test_trace_repr_shows_the_objective_by_shape():
    init, step = _halving(1.0)
    trace = fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=30, tol=None)
    assert repr(trace) == (
        f"FitTrace(state={trace.state!r}, objective=<array of shape (30,), float64>, "
        "converged=False, n_iter=30, init=0)"
    )


def test_each_redraw_of_the_bar_shows_the_objective_of_the_step_it_counts(monkeypatch):
    # The postfix is set without a redraw of its own; set after bar.update, each
    # redraw showed the objective of the step before the one it counted.
    import tqdm

    from unboxed import _progress

    shown: list[tuple[int, str]] = []

    class Recording(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "mininterval": 0, "miniters": 1})

        def display(self, msg=None, pos=None):
            shown.append((self.n, self.postfix or ""))
            return super().display(msg, pos)

    monkeypatch.setattr(_progress, "tqdm", Recording)
    values = iter([1.0, 2.0, 3.0, 4.0])
    fit_iterative(
        lambda data, rng: 0,
        lambda data, x, rng: (x + 1, next(values)),
        None,
        rng=np.random.default_rng(0),
        max_iter=4,
        tol=None,
        verbose=True,
    )
    counted = {n: postfix for n, postfix in shown if n >= 2}
    assert counted == {n: f"objective={n:.5g}" for n in (2, 3, 4)}, shown


# ---------------------------------------------------------------- audit A1
@pytest.mark.parametrize(
    ("returned", "described"),
    [
        ((0.0, None), r"a tuple of 2: \(float, NoneType\)"),
        ((0.0, np.array([1.0, 2.0])), r"an array of shape \(2,\)"),
        ((0.0, "a"), r"\(float, str\)"),
        (0.0, "got float$"),
        ((0.0, 1.0, 2.0), "a tuple of 3"),
    ],
)
def test_a_step_that_returns_no_state_and_real_objective_is_named(returned, described):
    # Python's "cannot unpack" or float()'s error named neither step nor what it gave.
    with pytest.raises(
        TypeError, match=rf"^em: step must return \(state, objective\).*{described}"
    ):
        fit_iterative(
            lambda d, r: 0.0,
            lambda d, x, r: returned,
            None,
            rng=np.random.default_rng(0),
            max_iter=3,
            tol=None,
            desc="em",
        )


def test_rng_must_be_a_generator_and_resume_a_snapshot_of_a_restart_in_range():
    init, step = _halving(1.0)
    # None or a seed ran unnoticed until a checkpoint read rng.bit_generator.
    for rng in (None, 0):
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
            fit_iterative(init, step, None, rng=rng, max_iter=3, tol=None)
    with pytest.raises(TypeError, match="resume must be a Snapshot"):
        fit_iterative(
            init, step, None, rng=np.random.default_rng(0), max_iter=3, tol=None, resume="x"
        )
    saved = []
    run = functools.partial(
        fit_iterative, init, step, None, rng=np.random.default_rng(0), max_iter=3, tol=None
    )
    run(n_init=3, save=saved.append)
    # A snapshot of restart 3 resumed with n_init=2: an AssertionError before.
    with pytest.raises(ValueError, match="snapshot of restart 3, but n_init=2"):
        run(n_init=2, resume=saved[-1])


def test_tol_is_read_as_other_numbers_are_a_0d_array_yes_infinity_no():
    init, step = _halving(1.0)
    # A 0-d array was refused though max_iter and n_init take one.
    trace = fit_iterative(
        init, step, None, rng=np.random.default_rng(0), max_iter=50, tol=np.asarray(1e-3)
    )
    assert trace.converged
    # An infinite tol stopped every fit at its second step, reported as converged.
    with pytest.raises(ValueError, match=r"tol must be a finite number >= 0, got inf; or None"):
        fit_iterative(init, step, None, rng=np.random.default_rng(0), max_iter=50, tol=np.inf)
