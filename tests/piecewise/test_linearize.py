import itertools
import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import assert_progress_shown
from unboxed import zoo
from unboxed.piecewise import PiecewiseActivation, PiecewiseLinear, _linearize, linearize, to_plnn
from unboxed.piecewise._linearize import _nearest_known_class, _pl_eval, _worst_of_both


def _sup_error(p: PiecewiseLinear, fn, lo=-30.0, hi=30.0) -> float:
    x = torch.linspace(lo, hi, 100_001, dtype=torch.float64)
    return float((fn(x) - p(x)).abs().max())


@pytest.mark.parametrize(
    ("name", "fn", "rise"),
    [
        ("sigmoid", torch.sigmoid, 1e-12),
        ("tanh", torch.tanh, 1e-12),
        ("elu", nn.functional.elu, 1e-12),
        # GELU's and SiLU's first tangent is at their dip's lowest grid point, a
        # hair off the true minimum on this coarse grid: its slope of 1e-4 lets the
        # error rise by 7e-5 once (n = 4), then it falls as for the others
        ("gelu", nn.functional.gelu, 1e-4),
        ("silu", nn.functional.silu, 1e-4),
    ],
)
def test_error_never_increases_and_bounds_the_true_error(name, fn, rise):
    errors = []
    for n in range(2, 15):
        p = linearize(name, n, resolution=500)
        assert p.n_pieces == n
        errors.append(p.max_error)
        # the reported bound holds on a finer, wider grid than the search used
        assert _sup_error(p, fn) <= p.max_error + 1e-4
    assert all(b <= a + rise for a, b in itertools.pairwise(errors))
    assert errors[-1] < errors[0] / 10


def test_a_wide_activation_stays_continuous_where_lines_cross_outside_the_range():
    # Softplus(beta=0.2) bends over [-50, 50]: neighbouring lines can cross beyond the
    # search range of [-20, 20], and a break clipped to the range left a jump of 0.09
    # that no number of lines reduced.
    softplus = nn.Softplus(beta=0.2)
    errors = []
    for n in (20, 40):
        p = linearize(softplus, n)
        np.testing.assert_allclose(p.jumps, 0.0, atol=1e-9)  # no step at any break
        assert _sup_error(p, softplus, -300.0, 300.0) <= p.max_error + 1e-4
        errors.append(p.max_error)
    assert errors[1] < 0.01 and errors[1] < errors[0] / 3


def test_sigmoid_matches_algorithm_1_by_hand():
    # p2: the asymptotes 0 and 1, a step at 0; p3 adds the tangent at 0 (hard sigmoid);
    # p4 adds the tangent at -2, the leftmost of the two tied worst points -2 and 2.
    p2, p3, p4 = (linearize("sigmoid", n) for n in (2, 3, 4))
    assert p2.max_error == pytest.approx(0.5)
    np.testing.assert_allclose(p3.breakpoints, [-2, 2], atol=1e-9)
    np.testing.assert_allclose(p3.slopes, [0, 0.25, 0])
    assert p3.max_error == pytest.approx(1 - 1 / (1 + np.exp(-2)), abs=1e-9)
    assert p4.tangent_points[1] == pytest.approx(-2.0, abs=1e-3)
    assert p4.breakpoints[-1] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "activation", [nn.ReLU(), nn.LeakyReLU(0.1), nn.Hardtanh(), nn.Hardtanh(-2.0, 3.0), "relu"]
)
def test_exact_on_piecewise_linear_activations(activation):
    p = linearize(activation, 6)
    fn = activation if isinstance(activation, nn.Module) else torch.relu
    assert p.max_error == 0.0
    assert _sup_error(p, fn) < 1e-12


def test_custom_activation_needs_asymptotes():
    with pytest.raises(ValueError, match="asymptotes"):
        linearize(torch.atan, 3)
    p = linearize(torch.atan, 7, asymptotes=((0.0, -np.pi / 2), (0.0, np.pi / 2)))
    assert p.n_pieces == 7 and _sup_error(p, torch.atan, -20, 20) <= p.max_error + 1e-6
    elu = linearize(nn.ELU(alpha=0.5), 4)
    assert elu.intercepts[0] == pytest.approx(-0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"activation": "mish", "n_pieces": 3}, ValueError, "unknown activation"),
        ({"activation": "sigmoid", "n_pieces": 1}, ValueError, "n_pieces"),
        ({"activation": 3, "n_pieces": 3}, TypeError, "activation must be"),
        ({"activation": nn.Softsign(), "n_pieces": 3}, ValueError, "asymptotes of Softsign"),
        # A grid of 2e13 points raised MemoryError inside numpy.
        ({"activation": "tanh", "n_pieces": 3, "search_range": (-1e12, 1e12)}, ValueError, "grid"),
        ({"activation": "tanh", "n_pieces": 3, "search_range": (5,)}, ValueError, "search_range"),
        ({"activation": "tanh", "n_pieces": 3, "search_range": (1, np.nan)}, ValueError, "finite"),
        # finite ends, infinite width: an OverflowError sizing the grid
        (
            {"activation": "tanh", "n_pieces": 3, "search_range": (-1e308, 1e308)},
            ValueError,
            "finite high - low",
        ),
        ({"activation": "tanh", "n_pieces": 3, "resolution": 5}, ValueError, "resolution"),
        # log is NaN left of 0, inside the search range
        (
            {"activation": torch.log, "n_pieces": 3, "asymptotes": ((0.0, 0.0), (1.0, 0.0))},
            ValueError,
            "'log' is not finite",
        ),
        (
            {"activation": torch.atan, "n_pieces": 3, "asymptotes": ((0, -np.inf), (0, 1))},
            ValueError,
            "asymptotes must be finite",
        ),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        linearize(**kwargs)


def _numpy_of(tensor):
    return np.tanh(tensor.detach().numpy())


@pytest.mark.parametrize(
    ("activation", "message"),
    [
        # numpy's own function: torch's "Can't call numpy() on Tensor that requires grad"
        (np.tanh, "'tanh' must take and return torch tensors.*RuntimeError"),
        # an array back: "'numpy.float64' object has no attribute 'requires_grad'"-like
        (_numpy_of, "'_numpy_of' returned a ndarray"),
        # one number for the whole grid: its error stayed 2 at every piece count
        (lambda x: torch.tanh(x).sum(), "'<lambda>' returned shape \\(\\)"),
        (lambda x: 1 / 0, "'<lambda>' must take and return torch tensors.*ZeroDivisionError"),
    ],
)
def test_a_callable_that_is_no_function_of_tensors_is_named(activation, message):
    with pytest.raises(TypeError, match=message):
        linearize(activation, 4, asymptotes=((0.0, -1.0), (0.0, 1.0)), verbose=False)


def test_callable_on_tensors_and_arrays_agree():
    p = linearize("tanh", 5)
    x = np.linspace(-4, 4, 101)
    np.testing.assert_allclose(p(torch.as_tensor(x)).numpy(), p(x))
    np.testing.assert_allclose(p(x), _pl_eval(p.breakpoints, p.slopes, p.intercepts, x))
    assert p(torch.zeros(3, dtype=torch.float32)).dtype == torch.float32


def test_worst_point_takes_the_leftmost_tie():
    grid = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    errors = np.array([0.1, 0.5, 0.2, 0.5, 0.0])
    assert _worst_of_both(errors, grid, np.array([0.3]), np.array([-1.5])) == (-1.0, 0.5)
    # a break ties too, left of the grid's first worst point
    assert _worst_of_both(errors, grid, np.array([0.5]), np.array([-1.5])) == (-1.5, 0.5)
    assert _worst_of_both(errors, grid, np.array([0.7]), np.array([1.5])) == (1.5, 0.7)


@pytest.mark.parametrize(
    ("activation", "asymptotes"),
    [("tanh", None), ("elu", None), (nn.Softplus(), None), (nn.SiLU(), ((0.0, 0.0), (1.0, 0.0)))],
)
def test_updating_the_errors_near_the_new_line_alone_changes_nothing(
    activation, asymptotes, monkeypatch
):
    """Against the same algorithm recomputing the error on the whole grid each step (SiLU
    is not convex or concave on either side of 0: a new line's piece may start left of
    its neighbour's old one)."""
    kwargs = {"asymptotes": asymptotes, "resolution": 200, "verbose": False}
    fast = linearize(activation, 40, **kwargs)
    monkeypatch.setattr(_linearize, "_changed_span", lambda *args: slice(None))
    full = linearize(activation, 40, **kwargs)
    for field in ("breakpoints", "slopes", "intercepts", "tangent_points"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(full, field))


def test_to_plnn_linearises_each_setting_of_an_activation_apart():
    """Two Softplus layers with different beta (or ELU with different alpha) are two
    functions, each within its own linearisation's error; an in-place ELU works too."""
    net = nn.Sequential(
        nn.Softplus(beta=1.0), nn.Softplus(beta=5.0), nn.ELU(1.0), nn.ELU(0.2, inplace=True)
    )
    plnn = to_plnn(net, 12, verbose=False)
    x = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    for layer, piecewise in zip(net, plnn, strict=True):
        error = float((layer(x.clone()) - piecewise(x)).abs().max())
        assert error <= piecewise.function.max_error + 1e-9


def test_to_plnn_replaces_smooth_activations_and_converges():
    torch.manual_seed(0)
    model = zoo.mlp((16, 8), "tanh", n_features=5, n_classes=3, random_state=0)
    X = torch.randn(500, 5)
    with torch.no_grad():
        reference = model(X)
        gaps = [float((to_plnn(model, n)(X) - reference).abs().max()) for n in (2, 3, 5, 9, 17)]
    plnn = to_plnn(model, 5)
    assert isinstance(plnn.act1, PiecewiseActivation) and isinstance(model.act1, nn.Tanh)
    assert gaps[-1] < gaps[0] / 10 and gaps[-1] < 0.05
    relu = zoo.mlp((4,), n_features=3, n_classes=2)
    assert isinstance(to_plnn(relu, 3).act1, nn.ReLU)


def test_to_plnn_of_a_bare_activation_is_its_linearisation():
    plnn = to_plnn(nn.Sigmoid(), 4)
    assert isinstance(plnn, PiecewiseActivation)
    x = torch.linspace(-8, 8, 101, dtype=torch.float64)
    torch.testing.assert_close(plnn(x), torch.as_tensor(linearize("sigmoid", 4)(x)))


@pytest.mark.parametrize("n_pieces", [8, 32])
def test_gelu_and_silu_modules_keep_their_error_bound_far_outside_the_search(n_pieces):
    """GELU (both forms) and SiLU dip below 0 before they rise; each to_plnn layer
    stays within its own max_error on [-200, 200], and the two GELU forms (which differ
    by up to 5e-4) get linearisations of their own."""
    net = nn.Sequential(nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU())
    plnn = to_plnn(net, n_pieces, verbose=False)
    x = torch.linspace(-200, 200, 400_001, dtype=torch.float64)
    for layer, piecewise in zip(net, plnn, strict=True):
        assert isinstance(piecewise, PiecewiseActivation)
        assert piecewise.function.n_pieces == n_pieces
        error = float((layer(x) - piecewise(x)).abs().max())
        assert error <= piecewise.function.max_error + 1e-9
    assert plnn[0].function is not plnn[1].function
    assert plnn[2].function.max_error < (0.08 if n_pieces == 8 else 0.005)


def test_to_plnn_names_an_unsupported_activation():
    model = nn.Sequential(nn.Linear(3, 4), nn.Softsign(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="'1'.*Softsign"):
        to_plnn(model, 3)
    with pytest.raises(TypeError, match="takes a torch.nn.Module"):
        to_plnn("model", 3)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (([0.0], [[0.0, 1.0]], [0.0, 0.0], 0.0), "slopes must be 1-dimensional"),  # flattened
        (([0.0], [0.0, 1.0], [0.0, 0.0], "a"), "max_error must be a finite number"),
        (([0.0], [0.0, np.nan], [0.0, 0.0], 0.0), "slopes contains NaN"),
        (([1.0, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.0], 0.0), "non-decreasing"),
        (([0.0, 1.0], [0.0, 1.0], [0.0, 0.0], 0.0), "2 pieces need 1 breakpoints"),
    ],
)
def test_piecewise_linear_checks_its_fields(fields, message):
    with pytest.raises(ValueError, match=message):
        PiecewiseLinear(*fields, "custom")


def test_jumps_are_the_right_limit_minus_the_left():
    # p2 of the sigmoid steps up from the asymptote 0 to the asymptote 1 at 0.
    p2 = linearize("sigmoid", 2, verbose=False)
    np.testing.assert_allclose(p2.breakpoints, [0.0], atol=1e-9)
    np.testing.assert_allclose(p2.jumps, [1.0], atol=1e-9)
    # tanh's asymptotes -1 and 1 hand over where tanh passes half-way between them, at 0.
    tanh2 = linearize("tanh", 2, verbose=False)
    np.testing.assert_allclose(tanh2.breakpoints, [0.0], atol=1e-9)
    np.testing.assert_allclose(tanh2.jumps, [2.0], atol=1e-9)


def test_a_breakpoint_belongs_to_the_piece_on_its_left():
    # Piece k covers (breakpoints[k-1], breakpoints[k]], for arrays as for tensors.
    step = linearize("sigmoid", 2, verbose=False)
    at = np.array([step.breakpoints[0], -1.0, 1.0])
    np.testing.assert_array_equal(step.piece_index(at), [0, 0, 1])
    np.testing.assert_array_equal(step.piece_index(torch.as_tensor(at)).numpy(), [0, 0, 1])
    np.testing.assert_allclose(step(at), [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(step(torch.as_tensor(at)).numpy(), step(at))
    # and so for the search's own evaluation
    np.testing.assert_array_equal(
        _pl_eval(step.breakpoints, step.slopes, step.intercepts, at), step(at)
    )


def test_an_exact_fit_adds_no_more_lines():
    """ReLU is its two asymptotes: asking for 6 pieces gives 2."""
    p = linearize(nn.ReLU(), 6, verbose=False)
    assert p.n_pieces == 2 and p.max_error == 0.0
    np.testing.assert_array_equal(p.breakpoints, [0.0])


def test_given_asymptotes_replace_a_named_activations_own():
    p = linearize("sigmoid", 2, asymptotes=((0.0, 0.0), (0.0, 2.0)), verbose=False)
    np.testing.assert_array_equal(p.slopes, [0.0, 0.0])
    np.testing.assert_array_equal(p.intercepts, [0.0, 2.0])


@pytest.mark.parametrize(
    ("fn", "asymptotes", "side", "expected_gaps"),
    [
        # a wrong slope at -inf: 0.01 x, where GELU goes to 0, is off by 4.2 ten widths
        # of the range out and by 40.2 a hundred out; max_error said 0.2
        (nn.functional.gelu, ((0.01, 0.0), (1.0, 0.0)), "-inf", (4.2, 40.2)),
        # a wrong intercept at -inf: ELU goes to -1, not -2
        (nn.functional.elu, ((0.0, -2.0), (1.0, 0.0)), "-inf", (1.0, 1.0)),
        # a wrong slope at +inf: 1.01 x, where Softplus goes to x
        (nn.functional.softplus, ((0.0, 0.0), (1.01, 0.0)), "+inf", (4.2, 40.2)),
    ],
)
def test_a_wrong_asymptote_is_warned_of_with_its_gap(fn, asymptotes, side, expected_gaps):
    """linearize warned of nothing, and max_error measures the gap inside search_range
    only: a wrong slope's grows without bound outside it."""
    with pytest.warns(UserWarning, match=rf"line at \{side} \(slope .*is not an asymptote") as rec:
        fit = linearize(fn, 8, asymptotes=asymptotes, resolution=100, verbose=False)
    (message,) = [str(w.message) for w in rec if "asymptote" in str(w.message)]
    found = re.search(r"at x = (\S+) and (\S+), .* off by (\S+) and (\S+), while", message)
    x = np.array([float(found[1]), float(found[2])])
    gaps = np.abs(fn(torch.as_tensor(x)).numpy() - fit(x))  # the fit's own error there
    np.testing.assert_allclose([float(found[3]), float(found[4])], gaps, rtol=5e-3)
    np.testing.assert_allclose(gaps, expected_gaps, rtol=1e-3)
    assert f"max_error, measured inside search_range, is {fit.max_error:.3g}" in message
    assert fit.max_error <= gaps[0]


@pytest.mark.parametrize(
    ("fn", "asymptotes"),
    [
        (torch.sigmoid, ((0.0, 0.0), (0.0, 1.0))),
        (nn.functional.gelu, ((0.0, 0.0), (1.0, 0.0))),
        (nn.functional.elu, ((0.0, -1.0), (1.0, 0.0))),
        (torch.atan, ((0.0, -np.pi / 2), (0.0, np.pi / 2))),
        (nn.functional.softsign, ((0.0, -1.0), (0.0, 1.0))),
    ],
)
def test_a_right_asymptote_is_not_warned_of(fn, asymptotes):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n_pieces in (2, 8, 40):
            fit = linearize(fn, n_pieces, asymptotes=asymptotes, resolution=100, verbose=False)
            assert fit.n_pieces == n_pieces


def test_an_asymptote_is_judged_by_its_gap_shrinking_far_out():
    """A bump 400 out puts tanh 0.32 off its asymptote 1 at x = 420, above max_error,
    but 4020 out it is back on it: the line is the asymptote, and is not blamed."""

    def bumped(t):
        return torch.tanh(t) + 0.5 * torch.exp(-(((t - 400.0) / 30.0) ** 2))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = linearize(bumped, 8, asymptotes=((0.0, -1.0), (0.0, 1.0)), verbose=False)
    x = torch.tensor([420.0, 4020.0], dtype=torch.float64)
    gaps = (bumped(x) - torch.as_tensor(fit(x.numpy()))).abs().numpy()
    np.testing.assert_allclose(gaps, [0.5 * np.exp(-((2 / 3) ** 2)), 0.0], atol=1e-12)
    assert fit.max_error < gaps[0]


def test_without_a_half_way_crossing_the_break_splits_the_range_and_the_jump_counts():
    """0.45 + 0.04 tanh(50 (x - 10.05)) stays below 0.5, half-way between the asymptotes
    0 and 1, so the break is the middle of the search range, 10.05. Just right of it p
    is 1 and the activation 0.45: the error there (0.55) counts, though the nearest
    points of this coarse grid (10.0 and 10.1) see at most 0.51."""

    def fn(t):
        return 0.45 + 0.04 * torch.tanh(50 * (t - 10.05))

    p = linearize(
        fn,
        2,
        asymptotes=((0.0, 0.0), (0.0, 1.0)),
        search_range=(-10.0, 30.1),
        resolution=10,
        verbose=False,
    )
    np.testing.assert_allclose(p.breakpoints, [10.05])
    assert p.max_error == pytest.approx(0.55)
    assert _sup_error(p, fn, 10.0, 10.1) <= p.max_error + 1e-9


def test_equal_breakpoints_are_allowed():
    """A middle piece of zero width is a valid function: the breaks need only not
    decrease."""
    p = PiecewiseLinear(np.array([0.0, 0.0]), np.array([0.0, 5.0, 1.0]), np.zeros(3), 0.0)
    np.testing.assert_allclose(p(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 2.0])


def test_to_plnn_keeps_an_output_softmax_and_returns_an_eval_copy():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(0.5), nn.Linear(4, 2), nn.Softmax(1))
    plnn = to_plnn(net, 4, verbose=False)
    assert isinstance(plnn[4], nn.Softmax) and isinstance(plnn[1], PiecewiseActivation)
    assert not plnn.training and net.training  # the original stays as it was
    x = torch.randn(5, 3)
    torch.testing.assert_close(plnn(x).sum(1), torch.ones(5))


def test_to_plnn_and_piecewise_activation_check_their_arguments():
    relu = zoo.mlp((4,), n_features=3, n_classes=2)
    with pytest.raises(ValueError, match="n_pieces must be an int >= 2"):
        to_plnn(relu, 1)  # nothing to linearise, but still a bad argument
    with pytest.raises(TypeError, match="function must be a PiecewiseLinear, got str"):
        PiecewiseActivation("relu")


def test_more_pieces_than_search_grid_points_are_refused_before_any_fit():
    """linearize('sigmoid', 10**9) ran on with no message, a line per step (3,000 took
    seconds); a line touches at a grid point, so the grid's size is the limit."""
    # The limit follows the grid: 0.5 - (-0.5) at 10 points per unit is 11 points.
    # (First, so that without the limit this fails at once and does not hang below.)
    small = {"search_range": (-0.5, 0.5), "resolution": 10, "verbose": False}
    assert linearize("tanh", 11, **small).n_pieces == 11
    with pytest.raises(ValueError, match="n_pieces must be at most 11, .* got 12"):
        linearize("tanh", 12, **small)
    limit = "n_pieces must be at most 200001, the points of the search grid"
    with pytest.raises(ValueError, match=f"{limit} .* got 1000000000"):
        linearize("sigmoid", 10**9, verbose=False)
    with pytest.raises(ValueError, match=f"{limit} .* got 200002"):
        linearize("sigmoid", 200_002, verbose=False)
    # to_plnn refuses it before any layer, even with nothing to linearise, as it
    # refuses n_pieces=1.
    for activation in ("tanh", "relu"):
        net = zoo.mlp((4,), activation, n_features=3, n_classes=2)
        with pytest.raises(ValueError, match=f"{limit} .* got 1000000000"):
            to_plnn(net, 10**9, verbose=False)
        with pytest.raises(ValueError, match="n_pieces must be at most 11, .* got 12"):
            to_plnn(net, 12, **small)


def test_a_crossing_outside_the_touching_points_is_not_used():
    """GELU dips below 0 near -0.75: tangents on either side of the dip cross far from
    both, and a break there left errors in the hundreds. With the half-way break the
    error bound holds and shrinks with more lines."""
    errors = []
    for n in (3, 5, 8):
        p = linearize(
            nn.GELU(), n, asymptotes=((0.0, 0.0), (1.0, 0.0)), resolution=100, verbose=False
        )
        assert p.n_pieces == n
        assert _sup_error(p, nn.functional.gelu) <= p.max_error + 1e-3
        errors.append(p.max_error)
    assert errors[0] < 0.2 and errors[-1] < errors[0] / 3


def test_the_worst_point_at_a_tangent_point_stops_the_search():
    """x + sin(x) wobbles about its asymptote x forever; after 23 lines the worst error
    lies where a line already touches, and adding that tangent again would change
    nothing: the fit stops with distinct tangent points."""
    p = linearize(
        lambda t: t + torch.sin(t),
        25,
        asymptotes=((1.0, 0.0), (1.0, 0.0)),
        resolution=500,
        verbose=False,
    )
    assert p.n_pieces == 24
    assert np.all(np.diff(p.tangent_points) > 0)


def test_to_plnn_passes_its_options_to_linearize():
    kwargs = {"search_range": (-1.0, 1.3), "resolution": 10, "verbose": False}
    plnn = to_plnn(nn.Sequential(nn.Linear(2, 3), nn.Tanh()), 5, **kwargs)
    expected = linearize("tanh", 5, **kwargs)
    for field in ("breakpoints", "slopes", "intercepts"):
        np.testing.assert_array_equal(getattr(plnn[1].function, field), getattr(expected, field))
    # the default search differs: the options did make a difference
    assert not np.array_equal(linearize("tanh", 5, verbose=False).breakpoints, expected.breakpoints)


def test_to_plnn_replaces_activations_inside_nested_containers():
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    net = nn.Sequential(inner, nn.Linear(4, 2)).double()
    plnn = to_plnn(net, 9, verbose=False)
    assert isinstance(plnn[0][1], PiecewiseActivation) and isinstance(plnn[1], nn.Linear)
    x = torch.randn(50, 3, dtype=torch.float64)
    with torch.no_grad():
        hidden, approx = net[0][0](x), plnn[0](x)
        assert float((torch.tanh(hidden) - approx).abs().max()) <= plnn[0][1].function.max_error
        assert plnn(x).shape == (50, 2)


def test_a_subclass_of_a_known_activation_is_not_taken_for_it():
    """A subclass may compute something else (here 2 tanh, with asymptotes -2 and 2):
    its parent's asymptotes would be silently wrong, so they must be given."""

    class ScaledTanh(nn.Tanh):
        def forward(self, x):
            return 2 * torch.tanh(x)

    with pytest.raises(ValueError, match="asymptotes of ScaledTanh"):
        linearize(ScaledTanh(), 3, verbose=False)
    p = linearize(ScaledTanh(), 6, asymptotes=((0.0, -2.0), (0.0, 2.0)), verbose=False)
    assert _sup_error(p, ScaledTanh()) <= p.max_error + 1e-4


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_bar_and_false_prints_nothing(verbose, capfd):
    linearize("sigmoid", 4, resolution=50, verbose=verbose)
    assert_progress_shown(capfd, verbose, "linearize")


@pytest.mark.parametrize(
    "x, error",
    [
        ([0.0, np.nan], ValueError),
        ([np.inf], ValueError),
        (["0.5"], TypeError),
        ([1 + 2j], TypeError),
    ],
)
def test_piece_index_refuses_what_has_no_piece(x, error):
    """NaN sorted after every breakpoint and was put in the last piece, and strings
    were compared with the breakpoints as text."""
    step = PiecewiseLinear(
        breakpoints=np.array([0.0]),
        slopes=np.array([0.0, 1.0]),
        intercepts=np.zeros(2),
        max_error=0.0,
    )
    with pytest.raises(error, match="x "):
        step.piece_index(x)
    with pytest.raises(error, match="x "):
        step(x)
    np.testing.assert_array_equal(step.piece_index(np.float32(2.0)), 1)  # a scalar still works
    np.testing.assert_array_equal(step(np.array([], dtype=np.float32)), [])


def _old_linearize(activation, n_pieces, *, resolution, asymptotes=None):
    """Algorithm 1 as linearize ran it before the incremental update: every pair's
    break looked up again (through a memo) each step, and the equal trailing breaks
    counted one by one; quadratic in n_pieces. The reference for the new one."""
    fn, (left, right), _ = _linearize._resolve(activation, asymptotes)
    lo, hi = _linearize.SEARCH_RANGE
    grid = np.linspace(lo, hi, int((hi - lo) * resolution) + 1)
    target, _ = _linearize._evaluate(fn, grid)

    def assemble(lines, touch, memo):
        breaks = []
        for i in range(len(lines) - 1):
            key = (lines[i], lines[i + 1], touch[i], touch[i + 1])
            if key not in memo:
                memo[key] = _linearize._pair_break(fn, *key, (lo, hi))
            breaks.append(memo[key])
        slopes = np.array([a for a, _ in lines])
        intercepts = np.array([b for _, b in lines])
        return np.maximum.accumulate(np.array(breaks, dtype=np.float64)), slopes, intercepts

    def changed_span(old, new, position):
        left = position - 1
        n_after = new.size - position - 1
        right = 0
        while right < n_after and new[new.size - 1 - right] == old[old.size - 1 - right]:
            right += 1
        start = -np.inf if left == 0 else new[left - 1]
        stop = np.inf if right == 0 else new[new.size - right]
        return slice(
            int(np.searchsorted(grid, start, side="left")),
            int(np.searchsorted(grid, stop, side="right")),
        )

    lines, touch, memo = [left, right], [-np.inf, np.inf], {}
    breaks, slopes, intercepts = assemble(lines, touch, memo)
    grid_errors = np.abs(target - _pl_eval(breaks, slopes, intercepts, grid))
    for _ in range(n_pieces - 2):
        at = _linearize._evaluate(fn, breaks)[0]
        break_errors = np.abs(at - _pl_eval(breaks, slopes, intercepts, breaks))
        x0, worst = _worst_of_both(grid_errors, grid, break_errors, breaks)
        if worst == 0.0:
            break
        (value,), (slope,) = _linearize._evaluate(fn, np.array([x0]))
        position = int(np.searchsorted(touch, x0, side="right"))
        if touch[position - 1] == x0:
            break
        lines.insert(position, (float(slope), float(value - slope * x0)))
        touch.insert(position, x0)
        old_breaks = breaks
        breaks, slopes, intercepts = assemble(lines, touch, memo)
        changed = changed_span(old_breaks, breaks, position)
        grid_errors[changed] = np.abs(
            target[changed] - _pl_eval(breaks, slopes, intercepts, grid[changed])
        )
    return breaks, slopes, intercepts, np.array(touch)


@pytest.mark.parametrize(
    ("activation", "asymptotes"),
    [
        ("sigmoid", None),
        ("tanh", None),
        ("elu", None),
        ("relu", None),
        (nn.Softplus(beta=0.2), None),
        (nn.GELU(), None),
        (nn.SiLU(), None),
        (torch.atan, ((0.0, -np.pi / 2), (0.0, np.pi / 2))),
    ],
)
def test_adding_one_line_at_a_time_gives_the_old_quadratic_result(activation, asymptotes):
    for n_pieces in (2, 3, 7, 40, 150):
        new = linearize(activation, n_pieces, asymptotes=asymptotes, resolution=100, verbose=False)
        old = _old_linearize(activation, n_pieces, resolution=100, asymptotes=asymptotes)
        for field, expected in zip(
            ("breakpoints", "slopes", "intercepts", "tangent_points"), old, strict=True
        ):
            np.testing.assert_array_equal(getattr(new, field), expected, err_msg=field)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


@pytest.mark.parametrize(
    ("activation", "left", "right"),
    [
        (nn.Mish(), (0.0, 0.0), (1.0, 0.0)),
        (nn.SELU(), (0.0, -SELU_SCALE * SELU_ALPHA), (SELU_SCALE, 0.0)),
        (nn.CELU(), (0.0, -1.0), (1.0, 0.0)),
        (nn.CELU(alpha=0.5), (0.0, -0.5), (1.0, 0.0)),
        (nn.CELU(alpha=2.5), (0.0, -2.5), (1.0, 0.0)),
        (nn.Hardswish(), (0.0, 0.0), (1.0, 0.0)),
        (nn.Hardsigmoid(), (0.0, 0.0), (0.0, 1.0)),
        (nn.ReLU6(), (0.0, 0.0), (0.0, 6.0)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else None,
)
def test_new_modules_have_the_asymptotes_they_reach_far_out(activation, left, right):
    """The first and last lines are the asymptotes, which the module itself reaches at
    -50 and 50: slopes and intercepts from its values at +-50 and +-60 (CELU(2.5) is
    1e-8 from its asymptote at -50, e^-20 of 2.5)."""
    p = linearize(activation, 2, verbose=False)
    x = torch.tensor([-60.0, -50.0, 50.0, 60.0], dtype=torch.float64)
    y = activation(x).numpy()
    for (slope, intercept), (a, b) in zip(
        [(p.slopes[0], p.intercepts[0]), (p.slopes[-1], p.intercepts[-1])],
        [(0, 1), (2, 3)],
        strict=True,
    ):
        measured = (y[b] - y[a]) / 10.0
        assert slope == pytest.approx(measured, abs=1e-9)
        assert intercept == pytest.approx(y[b] - measured * float(x[b]), abs=1e-7)
    assert (p.slopes[0], p.intercepts[0]) == pytest.approx(left, abs=1e-15)
    assert (p.slopes[-1], p.intercepts[-1]) == pytest.approx(right, abs=1e-15)


@pytest.mark.parametrize(
    "activation",
    [nn.Mish(), nn.SELU(), nn.CELU(alpha=0.5), nn.CELU(alpha=2.0), nn.Hardswish()],
    ids=lambda m: f"{type(m).__name__}{getattr(m, 'alpha', '')}",
)
def test_new_smooth_modules_are_linearised_within_their_error_bound(activation):
    """to_plnn replaces them; each copy stays within its max_error on [-200, 200], far
    outside the search range, and more lines bring the error down."""
    x = torch.linspace(-200, 200, 400_001, dtype=torch.float64)
    errors = []
    for n_pieces in (4, 32):
        plnn = to_plnn(nn.Sequential(activation), n_pieces, verbose=False)[0]
        assert isinstance(plnn, PiecewiseActivation)
        assert plnn.function.n_pieces == n_pieces
        error = float((activation(x) - plnn(x)).abs().max())
        assert error <= plnn.function.max_error + 1e-9
        errors.append(error)
    assert errors[1] < errors[0] / 20 and errors[1] < 0.01


def test_hardswish_is_linearised_not_kept_as_it_is_a_parabola_between_its_kinks():
    """x (x + 3) / 6 on [-3, 3]: up to 4 lines miss its dip of -0.375 at -1.5 by all
    of it, and from there each doubling of the lines quarters the error (tangents of a
    parabola), never reaching 0 as Hardsigmoid's 3 lines do."""
    errors = [linearize(nn.Hardswish(), n, verbose=False).max_error for n in (2, 4, 8, 16, 32)]
    assert errors[:2] == pytest.approx([0.375, 0.375])
    assert all(b == pytest.approx(a / 4) for a, b in itertools.pairwise(errors[1:]))


def test_hardsigmoid_is_fitted_exactly_by_three_lines():
    """0 up to -3, x / 6 + 1/2 up to 3, 1 above: Algorithm 1 finds these three lines
    and stops. torch's own derivative of Hardsigmoid is 1/6 rounded to float32
    (0.1666666716), which made the tangent, and so the fit, off by 1.5e-8."""
    p = linearize(nn.Hardsigmoid(), 8, verbose=False)
    assert p.n_pieces == 3 and p.max_error < 1e-15
    np.testing.assert_allclose(p.breakpoints, [-3.0, 3.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(p.slopes, [0.0, 1 / 6, 0.0], rtol=0, atol=1e-16)
    np.testing.assert_allclose(p.intercepts, [0.0, 0.5, 1.0], rtol=0, atol=1e-15)
    assert _sup_error(p, nn.Hardsigmoid(), -200, 200) < 1e-15


@pytest.mark.parametrize(
    "activation", [nn.Hardsigmoid(), nn.ReLU6(), nn.PReLU(init=0.2), nn.Threshold(0.1, -1.0)]
)
def test_to_plnn_keeps_the_new_piecewise_linear_modules(activation):
    plnn = to_plnn(nn.Sequential(nn.Linear(2, 3), activation, nn.Linear(3, 2)), 4)
    assert type(plnn[1]) is type(activation)
    assert not isinstance(plnn[1], PiecewiseActivation)


def test_to_plnn_linearises_each_celu_alpha_apart():
    net = nn.Sequential(nn.CELU(alpha=0.5), nn.CELU(alpha=2.0))
    plnn = to_plnn(net, 6, verbose=False)
    assert plnn[0].function.intercepts[0] == pytest.approx(-0.5)
    assert plnn[1].function.intercepts[0] == pytest.approx(-2.0)


@pytest.mark.parametrize(
    "activation",
    [
        nn.PReLU(init=0.2),
        nn.PReLU(init=-0.3),
        nn.Threshold(0.1, -1.0),  # a step of 1.1 up at 0.1
        nn.Threshold(0.1, 2.0),  # a step of 1.9 down at 0.1
        nn.Threshold(-0.3, -0.3),  # continuous: ReLU moved to (-0.3, -0.3)
    ],
)
def test_prelu_and_threshold_are_linearised_exactly_as_linear_regions_reads_them(activation):
    """Two exact pieces for any n_pieces, equal to the module's own float64 outputs
    everywhere, the threshold itself and its float neighbours included, and the very
    function LinearRegions reads the layer as. Algorithm 1 alone put Threshold(0.1, -1)'s
    break where its asymptotes cross, at -1 (an error of 1.1), and more lines reached
    the step only with a redundant piece and a max_error of its height."""
    from unboxed.piecewise._regions import _exact_piecewise

    module = activation.double()
    edge = float(getattr(activation, "threshold", 0.0))
    x = torch.cat(
        [
            torch.linspace(-200, 200, 400_001, dtype=torch.float64),
            torch.tensor([edge, np.nextafter(edge, -1.0), np.nextafter(edge, 1.0)]),
        ]
    )
    exact = _exact_piecewise(activation)
    for n_pieces in (2, 6):
        p = linearize(activation, n_pieces, verbose=False)
        assert p.n_pieces == 2 and p.max_error == 0.0
        with torch.no_grad():
            assert float((module(x) - p(x)).abs().max()) == 0.0
        for field in ("breakpoints", "slopes", "intercepts"):
            np.testing.assert_array_equal(getattr(p, field), getattr(exact, field))


def test_a_prelu_with_one_slope_per_channel_is_refused_as_no_single_function():
    with pytest.raises(ValueError, match="one slope per channel.*LinearRegions"):
        linearize(nn.PReLU(3), 4, verbose=False)


class _ShiftedReLU(nn.ReLU):
    def forward(self, x):
        return torch.relu(x - 1.0)


class _SteepSigmoid(nn.Sigmoid):
    def forward(self, x):
        return torch.sigmoid(4.0 * x)


class _NamedReLU(nn.ReLU):
    """Keeps torch's forward: a ReLU by another name."""


@pytest.mark.parametrize(
    ("layer", "parent"), [(_ShiftedReLU(), "ReLU"), (_SteepSigmoid(), "Sigmoid")]
)
def test_to_plnn_refuses_a_subclass_that_overrides_forward_by_name(layer, parent):
    """The ReLU subclass was kept and refused only later by LinearRegions; the Sigmoid
    one went to linearize, which asked for its asymptotes without naming the layer."""
    module = nn.Sequential(nn.Linear(3, 4), nn.Sequential(layer), nn.Linear(4, 2))
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"layer '1\.0' \({name}\) subclasses {parent}.*to_plnn"):
        to_plnn(module, 3, verbose=False)
    with pytest.raises(ValueError, match=rf"layer '{name}' \({name}\)"):
        to_plnn(layer, 3, verbose=False)


def test_to_plnn_keeps_a_subclass_that_keeps_torchs_forward():
    plnn = to_plnn(nn.Sequential(nn.Linear(3, 4), _NamedReLU(), nn.Tanh()), 4, verbose=False)
    assert type(plnn[1]) is _NamedReLU and isinstance(plnn[2], PiecewiseActivation)


class _NamedSigmoid(nn.Sigmoid):
    """Keeps torch's forward: a Sigmoid by another name."""


class _HalfELU(nn.ELU):
    """Keeps torch's forward, with another default alpha."""

    def __init__(self) -> None:
        super().__init__(alpha=0.5)


class _NamedReLU6(nn.ReLU6):
    """Keeps torch's forward: read as ReLU6, the nearest known class, not its Hardtanh."""


class _NamedThreshold(nn.Threshold):
    """Keeps torch's forward: its two exact pieces, as a Threshold's."""


class _NamedPReLU(nn.PReLU):
    """Keeps torch's forward: its float32 slope goes through the float64 LeakyReLU."""


@pytest.mark.parametrize(
    ("layer", "parent"),
    [
        (_NamedSigmoid(), nn.Sigmoid()),
        (_HalfELU(), nn.ELU(alpha=0.5)),
        (_NamedReLU6(), nn.ReLU6()),
        (_NamedThreshold(0.1, -1.0), nn.Threshold(0.1, -1.0)),
        (_NamedPReLU(init=0.3), nn.PReLU(init=0.3)),
    ],
)
def test_a_subclass_that_keeps_torchs_forward_linearises_as_its_parent(layer, parent):
    """linearize refused every subclass, asking for asymptotes, against the rule of
    check_forward_kept that to_plnn and LinearRegions follow."""
    p = linearize(layer, 5, resolution=200, verbose=False)
    expected = linearize(parent, 5, resolution=200, verbose=False)
    for field in ("breakpoints", "slopes", "intercepts", "tangent_points"):
        np.testing.assert_array_equal(getattr(p, field), getattr(expected, field))
    assert p.max_error == expected.max_error


@pytest.mark.parametrize(
    ("layer", "name"),
    [
        (_NamedSigmoid(), "sigmoid"),
        (_HalfELU(), "elu"),
        (_NamedReLU6(), "relu6"),
        (_NamedThreshold(0.1, -1.0), "threshold"),
        (_NamedPReLU(init=0.3), "prelu"),
    ],
)
def test_a_subclass_read_as_its_parent_is_named_after_it(layer, name):
    """It was named after the subclass ("_namedsigmoid") though its numbers are the
    parent's; Threshold's exact pieces were named "threshold" already."""
    assert linearize(layer, 5, resolution=200, verbose=False).name == name


@pytest.mark.parametrize(
    ("layer", "known", "expected"),
    [
        (_NamedReLU6(), (nn.Hardtanh, nn.ReLU6), nn.ReLU6),
        (_NamedReLU6(), (nn.ReLU6, nn.Hardtanh), nn.ReLU6),
        (_NamedReLU6(), (nn.Hardtanh,), nn.Hardtanh),
        (nn.ReLU6(), {nn.Hardtanh: 0, nn.ReLU6: 1}, nn.ReLU6),
        (_NamedSigmoid(), (nn.Tanh,), None),
    ],
)
def test_nearest_known_class_is_the_first_of_the_mro(layer, known, expected):
    """The one helper behind linearize's reading and check_forward_kept."""
    assert _nearest_known_class(layer, known) is expected


def test_to_plnn_linearises_a_smooth_subclass_that_keeps_torchs_forward():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), _NamedSigmoid(), nn.Linear(4, 2)).double()
    plnn = to_plnn(net, 6, verbose=False)
    reference = to_plnn(nn.Sequential(net[0], nn.Sigmoid(), net[2]), 6, verbose=False)
    assert isinstance(plnn[1], PiecewiseActivation)
    x = torch.randn(20, 3, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(plnn(x), reference(x), rtol=0, atol=0)


def test_a_known_module_with_asymptotes_keeps_its_name():
    """Given asymptotes, nn.GELU was named "GELU", and "gelu" without them; a class of
    the user's keeps the name as written."""
    lines = ((0.0, 0.0), (1.0, 0.0))
    given = linearize(nn.GELU(), 3, asymptotes=lines, resolution=100, verbose=False)
    assert given.name == linearize(nn.GELU(), 3, resolution=100, verbose=False).name == "gelu"

    class MyGELU(nn.Module):
        def forward(self, x):
            return nn.functional.gelu(x)

    assert linearize(MyGELU(), 3, asymptotes=lines, resolution=100, verbose=False).name == "MyGELU"


def test_an_integer_or_bool_tensor_is_read_as_floats_as_torch_s_activations_read_it():
    # In the tensor's own dtype the breaks and lines were cast to integers: the
    # sigmoid's 5 pieces gave 0 at every point below, and a bool tensor failed inside
    # torch.bucketize ("searchsorted_out_cpu" not implemented for 'Bool').
    p = linearize("sigmoid", 5, verbose=False)
    x = torch.tensor([-3, -1, 0, 1, 3])
    expected = p(x.to(torch.get_default_dtype()))
    assert expected.dtype == torch.sigmoid(x).dtype
    for dtype in (torch.int64, torch.int32, torch.int8):
        torch.testing.assert_close(p(x.to(dtype)), expected)
        assert torch.equal(p.piece_index(x.to(dtype)), p.piece_index(x.double()))
    torch.testing.assert_close(p(x[2:].to(torch.uint8)), expected[2:])
    torch.testing.assert_close(p(torch.tensor([True, False])), p(torch.tensor([1.0, 0.0])))
    torch.testing.assert_close(
        PiecewiseActivation(p)(x), torch.tensor(p(x.numpy()), dtype=expected.dtype)
    )
    with pytest.raises(TypeError, match="real tensor"):
        p(torch.tensor([1 + 1j]))
