"""Exact linear regions and decision boundaries of 2-input networks."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from unboxed import zoo
from unboxed.piecewise import (
    LinearRegions,
    PiecewiseActivation,
    PiecewiseLinear,
    Region,
    boundary_segments,
    regions_in_box,
    to_plnn,
)
from unboxed.piecewise._boundary import _RegionWalk

BOX = (-3.0, 3.0, -3.0, 3.0)


def _area(polygon):
    x, y = polygon.T
    return 0.5 * abs(x @ np.roll(y, 1) - y @ np.roll(x, 1))


def _grid(bounds, n):
    x0, x1, y0, y1 = bounds
    return np.stack(np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n)), -1).reshape(-1, 2)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_regions_tile_the_box_and_hold_every_region_a_fine_grid_visits(activation):
    model = zoo.mlp((8, 5), activation, n_features=2, n_classes=2, random_state=0)
    regions = LinearRegions(model if activation == "relu" else to_plnn(model, 3, verbose=False))
    found = regions_in_box(regions, BOX, resolution=5)  # a 5x5 grid misses most of them
    assert len(found) > regions.regions(_grid(BOX, 5)).n_regions
    # The polygons cover the box once: their areas add up to its area.
    assert sum(_area(r.polygon(1e-8)) for r in found) == pytest.approx(36.0, rel=1e-6)
    walked = {regions.activation_pattern(r.point[None])[0].tobytes() for r in found}
    fine = regions.regions(_grid(BOX, 400)).patterns
    assert {p.tobytes() for p in fine} <= walked
    assert len(walked) == len(found)  # one region per pattern
    for r in found:  # each region's point satisfies its own constraints
        assert np.all(r.H @ r.point <= r.h + 1e-9)


def _sliver_network(width: float = 1e-4) -> nn.Module:
    """Logit difference x1 - 0.5 left of x0 = 0.5, x1 + 0.5 right of x0 = 0.5 + width,
    and a steep ramp between: the boundary drops from (0.5, 0.5) to (0.5 + width, -0.5)
    inside a region ``width`` wide."""
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    f64 = {"dtype": torch.float64}
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0]], **f64))
        net[0].bias.copy_(torch.tensor([-0.5, -0.5 - width, 10.0], **f64))
        net[2].weight.copy_(torch.tensor([[0.0, 0, 0], [1 / width, -1 / width, 1.0]], **f64))
        net[2].bias.copy_(torch.tensor([0.0, -10.5], **f64))
    return net


def test_a_region_thinner_than_a_grid_cell_is_found_and_its_boundary_drawn():
    regions, box = LinearRegions(_sliver_network()), (-1.0, 1.0, -1.0, 1.0)
    assert regions.regions(_grid(box, 20)).n_regions == 2  # the grid steps over the sliver
    assert len(regions_in_box(regions, box, resolution=20)) == 3
    segments = boundary_segments(regions, box, resolution=20)
    ends = sorted(tuple(np.round(point, 9)) for segment in segments for point in segment)
    expected = [(-1.0, 0.5), (0.5, 0.5), (0.5, 0.5), (0.5001, -0.5), (0.5001, -0.5), (1.0, -0.5)]
    np.testing.assert_allclose(ends, expected, atol=1e-9)


def test_a_region_fifty_tolerances_wide_is_still_found():
    """1e-7 of a box 2 wide is 50 RELATIVE_TOL: the walk's step across an edge (10
    tolerances) does not jump over it."""
    regions, box = LinearRegions(_sliver_network(1e-7)), (-1.0, 1.0, -1.0, 1.0)
    assert len(regions_in_box(regions, box, resolution=20)) == 3
    segments = boundary_segments(regions, box, resolution=20)
    inside = [s for s in segments if np.all((s[:, 0] > 0.5 - 1e-8) & (s[:, 0] < 0.5 + 2e-7))]
    assert len(segments) == 3 and len(inside) == 1
    ends = sorted(map(tuple, inside[0]), key=lambda p: p[1])
    np.testing.assert_allclose(ends, [(0.5 + 1e-7, -0.5), (0.5, 0.5)], atol=1e-8)


def test_the_walk_counts_its_regions_under_a_bar_that_can_be_silenced(capsys, monkeypatch):
    from unboxed.piecewise import _boundary

    bars, progress = [], _boundary.progress

    def kept(**options):
        bars.append(progress(**options))
        return bars[-1]

    model = zoo.mlp((8, 5), "relu", n_features=2, n_classes=2, random_state=0)
    regions = LinearRegions(model)
    quiet = regions_in_box(regions, BOX, resolution=5)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(_boundary, "progress", kept)
    shown = regions_in_box(regions, BOX, resolution=5, verbose=True)
    assert len(shown) == len(quiet) and bars[0].n == len(quiet)
    assert "regions_in_box" in capsys.readouterr().err


def test_regions_in_box_needs_two_inputs_and_a_box():
    with pytest.raises(ValueError, match="2 inputs"):
        regions_in_box(LinearRegions(zoo.mlp((4,), n_features=3, n_classes=2)), BOX)
    regions = LinearRegions(zoo.mlp((4,), n_features=2, n_classes=2))
    with pytest.raises(ValueError, match="bounds"):
        regions_in_box(regions, (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="finite high - low"):  # 'X contains NaN' before
        regions_in_box(regions, (-1e308, 1e308, 0.0, 1.0))
    with pytest.raises(ValueError, match="resolution"):
        regions_in_box(regions, BOX, resolution=1)
    # an AttributeError on n_features_in_ before
    for function in (regions_in_box, boundary_segments):
        with pytest.raises(TypeError, match="regions must be a LinearRegions"):
            function(zoo.mlp((4,), n_features=2, n_classes=2), BOX)


def _t_junction_network(mirror: float = 1.0) -> nn.Module:
    """Unit a steps by 1 at x0 = 0, so the second layer's unit, x1 - 0.5 + 2 [x0 > 0],
    changes sign only left of x0 = 0: the line x1 = 0.5 ends there. The region right of
    x0 = 0 has two neighbours across its one edge, x1 < 0.5 and x1 > 0.5. With
    ``mirror=-1`` the input x1 is flipped: the line is x1 = -0.5."""
    step = PiecewiseLinear(np.array([0.0]), np.array([1.0, 1.0]), np.array([0.0, 1.0]), 0.0)
    f64 = {"dtype": torch.float64}
    net = nn.Sequential(
        nn.Linear(2, 3), PiecewiseActivation(step), nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)
    ).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0], [0, mirror], [1.0, 0]], **f64))
        net[0].bias.copy_(torch.tensor([0.0, 10.0, 10.0], **f64))  # a = x0, b, c > 0
        net[2].weight.copy_(torch.tensor([[2.0, 1.0, -2.0], [0, 0, 0]], **f64))
        net[2].bias.copy_(torch.tensor([10.5, 1.0], **f64))  # x1 - 0.5 + 2 [x0 > 0]
        net[4].weight.copy_(torch.tensor([[0.0, 0], [1.0, 0]], **f64))
    return net


@pytest.mark.parametrize("mirror", [1.0, -1.0])
def test_crossing_an_edge_finds_every_neighbour_along_it(mirror):
    # The midpoint probe lands in the larger neighbour; the stretch left over lies on
    # one side of it or (mirrored) on the other.
    regions = LinearRegions(_t_junction_network(mirror))
    walk = _RegionWalk(regions, (-1.0, 1.0, -1.0, 1.0))
    (start,), stretches = walk._visit(np.array([[0.5, 0.0]]))
    while stretches:  # cross the start's edges only, not its neighbours'
        stretches = [stretch for stretch in walk._cross(stretches) if stretch[0] is start]
    points = np.stack([r.point for r in walk.found.values()])
    assert len(walk.found) == 3, points
    missed = (points[:, 0] < 0) & (mirror * points[:, 1] > 0.5)  # the one midpoints miss
    assert np.sum(missed) == 1


def _three_strips_network() -> nn.Module:
    """u = relu(x0), v = relu(u - 0.25), logit difference v - 0.25. Three strips:
    x0 < 0 (v's pre-activation is the constant -0.25, a constraint row of zeros),
    0 < x0 < 0.25 and x0 > 0.25; the difference is constant (no zero line) in the
    first two and zero at x0 = 0.5 in the third."""
    net = nn.Sequential(
        nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 2)
    ).double()
    f64 = {"dtype": torch.float64}
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0]], **f64))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor([[1.0]], **f64))
        net[2].bias.copy_(torch.tensor([-0.25], **f64))
        net[4].weight.copy_(torch.tensor([[0.0], [1.0]], **f64))
        net[4].bias.copy_(torch.tensor([0.0, -0.25], **f64))
    return net


def test_regions_are_unit_norm_counter_clockwise_polygons_of_the_strips():
    regions, box = LinearRegions(_three_strips_network()), (-1.0, 1.0, -1.0, 1.0)
    found = regions_in_box(regions, box, resolution=2)
    polygons = sorted((r.polygon(1e-9) for r in found), key=lambda p: p[:, 0].min())
    expected = [
        [(-1, -1), (0, -1), (0, 1), (-1, 1)],
        [(0, -1), (0.25, -1), (0.25, 1), (0, 1)],
        [(0.25, -1), (1, -1), (1, 1), (0.25, 1)],
    ]
    assert len(polygons) == 3
    for polygon, corners in zip(polygons, expected, strict=True):
        # The same corners, counter-clockwise from any start: a positive signed area.
        assert sorted(map(tuple, np.round(polygon, 6))) == sorted(corners)  # each once
        x, y = polygon.T
        assert 0.5 * (x @ np.roll(y, -1) - y @ np.roll(x, -1)) > 0
    for r in found:
        np.testing.assert_allclose(np.linalg.norm(r.H, axis=1), 1.0)
    segments = boundary_segments(regions, box, resolution=2)
    assert len(segments) == 1
    np.testing.assert_allclose(sorted(map(tuple, segments[0])), [(0.5, -1), (0.5, 1)], atol=1e-12)


def test_a_box_wider_than_high_is_walked_on_its_own_sides():
    model = zoo.mlp((8, 5), n_features=2, n_classes=2, random_state=0)
    regions, box = LinearRegions(model), (-3.0, 3.0, -1.0, 1.0)
    found = regions_in_box(regions, box, resolution=5)
    assert sum(_area(r.polygon(1e-8)) for r in found) == pytest.approx(12.0, rel=1e-6)
    points = np.stack([r.point for r in found])
    assert np.all((np.abs(points[:, 0]) <= 3) & (np.abs(points[:, 1]) <= 1))
    fine = regions.regions(_grid(box, 300)).patterns
    walked = {regions.activation_pattern(r.point[None])[0].tobytes() for r in found}
    assert {p.tobytes() for p in fine} <= walked


def test_a_break_on_the_box_side_leaves_the_region_beyond_out():
    """The unit relu(x0 - 1) breaks on the box's right side, x0 = 1: the one region
    inside is x0 < 1, and the region x0 > 1 lies outside the box."""
    net = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0]], dtype=torch.float64))
        net[0].bias.fill_(-1.0)
    found = regions_in_box(LinearRegions(net), (-1.0, 1.0, -1.0, 1.0), resolution=3)
    assert len(found) == 1 and _area(found[0].polygon(1e-9)) == pytest.approx(4.0)


def test_a_walk_past_max_regions_stops_with_an_error(monkeypatch):
    from unboxed.piecewise import _boundary

    regions, box = LinearRegions(_three_strips_network()), (-1.0, 1.0, -1.0, 1.0)
    monkeypatch.setattr(_boundary, "MAX_REGIONS", 3)  # exactly the three strips
    assert len(regions_in_box(regions, box, resolution=2)) == 3
    monkeypatch.setattr(_boundary, "MAX_REGIONS", 2)
    with pytest.raises(ValueError, match="more than 2 linear regions; draw a smaller box"):
        regions_in_box(regions, box, resolution=2)


def test_the_jump_warning_points_at_the_caller():
    from unboxed.piecewise import plot_decision_boundaries

    sigmoid = zoo.mlp((6,), "sigmoid", n_features=2, n_classes=2, random_state=0)
    regions = LinearRegions(to_plnn(sigmoid, 2, verbose=False))
    with pytest.warns(UserWarning, match="jumps") as record:
        boundary_segments(regions, (-2, 2, -2, 2), resolution=10)
    assert record[0].filename == __file__
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.warns(UserWarning, match="jumps") as record:
        plot_decision_boundaries([("p2", regions.module)], X, X[:, 0] > 0, resolution=10)
    assert record[0].filename == __file__


def test_the_plot_draws_the_data_box_widened_by_the_margin():
    from unboxed.piecewise import plot_decision_boundaries

    X = np.random.default_rng(0).normal(size=(30, 2))
    model = zoo.mlp((6,), n_features=2, n_classes=2, random_state=0)
    fig = plot_decision_boundaries([("relu", model)], X, X[:, 0] > 0, resolution=10, margin=0.3)
    lo, hi = X.min(axis=0) - 0.3, X.max(axis=0) + 0.3
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_xlim(), (lo[0], hi[0]))
    np.testing.assert_allclose(ax.get_ylim(), (lo[1], hi[1]))
    n = len(regions_in_box(LinearRegions(model), (lo[0], hi[0], lo[1], hi[1])))
    assert f"{n} regions in view" in ax.get_title()


def test_the_plot_refuses_a_box_of_no_width_or_of_an_infinite_one():
    """A ReLU network over points on one vertical line with margin 0 was drawn as the
    zero contour of a smooth network (its region walk's bounds error was caught as
    LinearRegions refusing it), over axes matplotlib warned were singular."""
    from unboxed.piecewise import plot_decision_boundaries

    model = zoo.mlp((6,), n_features=2, n_classes=2, random_state=0)
    X = np.c_[np.zeros(6), np.arange(6.0)]
    y = np.arange(6) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"X spans no width along feature 0 .* margin"):
            plot_decision_boundaries([("relu", model)], X, y, margin=0.0, resolution=10)
        with pytest.raises(ValueError, match="finite high - low"):
            wide = np.c_[np.arange(6.0), [-1.7e308, 1.7e308] * 3]
            plot_decision_boundaries([("relu", model)], wide, y, resolution=10)
        fig = plot_decision_boundaries([("relu", model)], X, y, margin=0.1, resolution=10)
    assert "regions in view (exact)" in fig.axes[0].get_title()


def test_the_plot_lets_the_region_walks_errors_through_not_drawing_a_contour(monkeypatch):
    """Only LinearRegions' refusal of a network (a smooth one) draws a contour: a ReLU
    network whose box held more than MAX_REGIONS regions was drawn as the zero contour
    of a smooth network, saying nothing (the walk's ValueError was caught too)."""
    from unboxed.piecewise import _boundary, plot_decision_boundaries

    X = np.random.default_rng(0).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    relu = zoo.mlp((6,), n_features=2, n_classes=2, random_state=0)
    monkeypatch.setattr(_boundary, "MAX_REGIONS", 2)
    with pytest.raises(ValueError, match="the box holds more than 2 linear regions"):
        plot_decision_boundaries([("relu", relu)], X, y, resolution=10)
    monkeypatch.undo()
    # A network LinearRegions refuses, or whose regions it gives no polygons (max
    # pooling), still gets its contour, and one of 3 outputs (read or not) is named by
    # its panel.
    tanh = zoo.mlp((6,), "tanh", n_features=2, n_classes=2, random_state=0)
    torch.manual_seed(0)
    pooled = nn.Sequential(
        nn.Linear(2, 8), nn.Unflatten(1, (1, 8)), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(4, 2)
    ).double()
    fig = plot_decision_boundaries([("tanh", tanh), ("pooled", pooled)], X, y, resolution=10)
    assert all("zero contour" in ax.get_title() for ax in fig.axes[:2])
    for activation in ("relu", "tanh"):
        three = zoo.mlp((6,), activation, n_features=2, n_classes=3, random_state=0)
        with pytest.raises(ValueError, match="panel 'three' has 3 outputs; plot_decision"):
            plot_decision_boundaries([("three", three)], X, y, resolution=10)


def test_the_plot_refuses_a_network_of_non_finite_outputs_not_drawing_an_empty_panel():
    """A ReLU network with a NaN weight, refused by LinearRegions, fell back to the zero
    contour of its all-NaN outputs: an empty panel, drawn without a word."""
    from unboxed.piecewise import plot_decision_boundaries

    X = np.random.default_rng(0).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    for activation in ("relu", "tanh"):
        model = zoo.mlp((6,), activation, n_features=2, n_classes=2, random_state=0)
        model[0].weight.data[0, 0] = float("nan")
        with pytest.raises(
            ValueError, match=r"panel 'nan' gives NaN or infinite outputs at 100 of 100 points"
        ) as info:
            plot_decision_boundaries([("nan", model)], X, y, resolution=10)
        if activation == "relu":  # LinearRegions' own word names the weight
            assert "fc1.weight holds NaN" in str(info.value)


def test_the_plot_has_a_legend_that_names_each_colour_by_its_class():
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba

    from unboxed.piecewise import plot_decision_boundaries

    X = np.random.default_rng(0).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    model = zoo.mlp((6,), n_features=2, n_classes=2, random_state=0)
    fig = plot_decision_boundaries([("relu", model)], X, y, resolution=10)
    legend = fig.axes[0].get_legend()  # there was none: the colours named no class
    assert [t.get_text() for t in legend.get_texts()] == ["class 0", "class 1"]
    named = plot_decision_boundaries(
        [("a", model), ("b", model)], X, y, resolution=10, class_names=("left", "right")
    )
    legend = named.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["left", "right"]
    assert named.axes[1].get_legend() is None  # one legend for the figure
    # each name's colour is that of its own points, coolwarm's ends as before
    for k, handle in enumerate(legend.legend_handles):
        colour = to_rgba(colormaps["coolwarm"](float(k)), 0.5)
        np.testing.assert_allclose(handle.get_facecolor()[0], colour)
        (points,) = [c for c in named.axes[0].collections if c.get_label() == ("left", "right")[k]]
        np.testing.assert_allclose(points.get_offsets(), X[y == k])
        np.testing.assert_allclose(points.get_facecolor()[0], colour)
    with pytest.raises(ValueError, match="y holds class 1, but class_names has 1 names"):
        plot_decision_boundaries([("a", model)], X, y, resolution=10, class_names=("left",))


def test_the_plot_draws_the_exact_segments_and_the_zero_contour_of_the_difference():
    """The exact panel's lines are the boundary segments; the smooth panel's contour
    lies where its two logits are equal (not where one of them is zero)."""
    from unboxed.piecewise import plot_decision_boundaries

    X = np.random.default_rng(0).normal(size=(30, 2))
    relu = zoo.mlp((6,), n_features=2, n_classes=2, random_state=0)
    tanh = zoo.mlp((6,), "tanh", n_features=2, n_classes=2, random_state=1)
    fig = plot_decision_boundaries([("relu", relu), ("tanh", tanh)], X, X[:, 0] > 0, resolution=40)
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    segments = boundary_segments(LinearRegions(relu), (lo[0], hi[0], lo[1], hi[1]))
    drawn = [np.asarray(line.get_xydata()) for line in fig.axes[0].lines]
    assert segments and len(drawn) == len(segments)
    for line, segment in zip(drawn, segments, strict=True):
        np.testing.assert_allclose(line, segment)
    (contour,) = [c for c in fig.axes[1].collections if hasattr(c, "levels")]
    vertices = np.concatenate([path.vertices for path in contour.get_paths()])
    assert len(vertices) > 10
    with torch.no_grad():
        out = tanh(torch.as_tensor(vertices, dtype=torch.float32)).double().numpy()
    scale = np.abs(tanh(torch.as_tensor(X, dtype=torch.float32)).detach().numpy()).max()
    # a contour of a 40 x 40 grid: equal logits up to linear interpolation
    assert np.abs(out[:, 1] - out[:, 0]).max() < 0.02 * scale


def test_the_plot_refuses_data_that_is_not_two_dimensional():
    from unboxed.piecewise import plot_decision_boundaries

    X = np.random.default_rng(0).normal(size=(10, 3))
    model = zoo.mlp((6,), n_features=2, n_classes=2, random_state=0)
    with pytest.raises(ValueError, match="X must have 2 features, got 3"):
        plot_decision_boundaries([("relu", model)], X, X[:, 0] > 0, resolution=10)


def test_the_plot_names_a_panel_whose_network_takes_other_than_two_inputs():
    from unboxed.piecewise import plot_decision_boundaries

    X = np.random.default_rng(0).normal(size=(10, 2))
    model = zoo.mlp((6,), "tanh", n_features=3, n_classes=2, random_state=0)
    # torch's "mat1 and mat2 shapes cannot be multiplied" before, naming no panel
    with pytest.raises(ValueError, match="panel 'wide' failed on 2-D inputs"):
        plot_decision_boundaries([("wide", model)], X, X[:, 0] > 0, resolution=10)


@pytest.mark.parametrize("resolution", [0, 1, -3, 2.5])
def test_the_plot_refuses_a_grid_resolution_that_is_no_count(resolution):
    from unboxed.piecewise import plot_decision_boundaries

    X = np.random.default_rng(0).normal(size=(10, 2))
    model = zoo.mlp((6,), n_features=2, n_classes=2, random_state=0)
    with pytest.raises(ValueError, match="resolution must be an int >= 2"):
        plot_decision_boundaries([("relu", model)], X, X[:, 0] > 0, resolution=resolution)


def test_a_grid_resolution_past_the_cap_is_refused_before_any_grid_is_built():
    # 10**6 asked numpy for a 7.28 TiB grid and failed on its MemoryError.
    from unboxed.piecewise import plot_decision_boundaries

    X = np.random.default_rng(0).normal(size=(10, 2))
    model = zoo.mlp((6,), n_features=2, n_classes=2, random_state=0)
    message = r"resolution must be at most 2000 \(a grid of 2000\^2 points\)"
    for huge in (10**6, 2001):
        with pytest.raises(ValueError, match=message):
            plot_decision_boundaries([("relu", model)], X, X[:, 0] > 0, resolution=huge)
        for function in (regions_in_box, boundary_segments):
            with pytest.raises(ValueError, match=message):
                function(LinearRegions(model), BOX, resolution=huge)


def test_even_a_small_jump_warns_and_a_continuous_kink_does_not():
    # A step of 1e-6 at x = 1 is still a facet the boundary may run along undrawn.
    def net(step):
        function = PiecewiseLinear(
            np.array([0.0, 1.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0 + step]), 0.0
        )
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Linear(2, 3), PiecewiseActivation(function), nn.Linear(3, 2)
        ).double()

    with pytest.warns(UserWarning, match="jumps \\(by up to 1e-06\\)"):
        boundary_segments(LinearRegions(net(1e-6)), BOX, resolution=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        boundary_segments(LinearRegions(net(0.0)), BOX, resolution=5)


def _moons():
    from sklearn.datasets import make_moons

    return make_moons(60, noise=0.2, random_state=0)


@pytest.mark.parametrize(
    "make_panels",
    [
        lambda net: "moons",  # a title alone
        lambda net: ("tanh", net),  # one pair, not a list of pairs
        lambda net: [net],  # a network without its title
        lambda net: [("tanh", net, "extra")],
        lambda net: [("tanh", "not a network")],
    ],
    ids=["string", "bare-pair", "untitled", "triple", "not-a-network"],
)
def test_the_plot_names_panels_that_are_not_title_network_pairs(make_panels):
    # Each raised Python's own "too many values to unpack" or "cannot unpack".
    from unboxed.piecewise import plot_decision_boundaries

    X, y = _moons()
    tanh = zoo.mlp((6,), "tanh", n_features=2, n_classes=2, random_state=0)
    with pytest.raises((TypeError, ValueError), match=r"\(title, network\)"):
        plot_decision_boundaries(make_panels(tanh), X, y, resolution=10)


def test_the_plot_draws_a_torch_black_box_and_refuses_another_kind():
    from sklearn.linear_model import LogisticRegression

    from unboxed import BlackBox
    from unboxed.piecewise import plot_decision_boundaries

    X, y = _moons()
    tanh = zoo.mlp((6,), "tanh", n_features=2, n_classes=2, random_state=0)
    # A smooth network in a black box: 'BlackBox' object has no attribute 'parameters'.
    boxed = plot_decision_boundaries([("tanh", zoo.as_blackbox(tanh))], X, y, resolution=20)
    plain = plot_decision_boundaries([("tanh", tanh)], X, y, resolution=20)
    (boxed_contour,), (plain_contour,) = (
        [c for c in fig.axes[0].collections if hasattr(c, "levels")] for fig in (boxed, plain)
    )
    for got, expected in zip(boxed_contour.get_paths(), plain_contour.get_paths(), strict=True):
        np.testing.assert_allclose(got.vertices, expected.vertices)
    logistic = BlackBox.from_sklearn(LogisticRegression().fit(X, y))
    with pytest.raises(TypeError, match="panel 'logistic'.*sklearn black box.*torch"):
        plot_decision_boundaries([("logistic", logistic)], X, y, resolution=10)


def test_a_walked_regions_polygon_needs_no_tolerance_and_refuses_a_bad_one():
    model = zoo.mlp((16, 16), n_features=2, n_classes=2, random_state=0)
    found = regions_in_box(LinearRegions(model), BOX)
    # "polygon() missing 1 required positional argument: 'tol'": the walk's own
    # tolerance, 1e-9 of the box's side, is the default.
    assert sum(_area(r.polygon()) for r in found) == pytest.approx(36.0, rel=1e-6)
    assert found[0].tol == pytest.approx(6e-9)
    for r in found[:20]:
        np.testing.assert_array_equal(r.polygon(), r.polygon(found[0].tol))
    # 0 divided by zero into NaN corners; -1 and NaN gave no corners at all, silently.
    for tol in (0.0, -1.0, np.nan, "small"):
        with pytest.raises(ValueError, match="tol must be a finite number > 0"):
            found[0].polygon(tol)
    with pytest.raises(ValueError, match="tol must be a finite number > 0"):
        found[0].edges(-1.0)
    # A region made by hand knows no box: it needs its tolerance.
    hand_made = Region(found[0].point, found[0].H, found[0].h)
    with pytest.raises(TypeError, match="pass tol"):
        hand_made.polygon()


def test_a_box_near_the_float_range_is_walked_without_an_overflow_warning():
    """An edge's far constraints lie past 1e308 along it in a box 1e300 wide: their
    ``slack / rate`` overflowed with a RuntimeWarning per region, though they bound
    nothing the box does not (pytest makes that warning an error)."""
    model = zoo.mlp((8, 8), n_features=2, n_classes=2, random_state=0)
    regions, box = LinearRegions(model), (-1e300, 1e300, -1e300, 1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = regions_in_box(regions, box, resolution=5)
        segments = boundary_segments(regions, box, resolution=5)
    # The polygons still tile the box, and hold every region a fine grid visits.
    assert sum(_area(r.polygon() / 1e300) for r in found) == pytest.approx(4.0, rel=1e-6)
    walked = {regions.activation_pattern(r.point[None])[0].tobytes() for r in found}
    fine = regions.regions(_grid(box, 200)).patterns
    assert {p.tobytes() for p in fine} <= walked
    assert segments and all(np.all(np.isfinite(s)) for s in segments)


def test_a_region_made_by_hand_reads_lists_and_refuses_wrong_shapes():
    # Lists failed in edges() on "list indices must be integers or slices, not tuple",
    # and an H of 3 columns on a matmul's core-dimension mismatch.
    square = Region([0, 0], [[1, 0], [-1, 0], [0, 1], [0, -1]], [1, 1, 1, 1])
    assert _area(square.polygon(1e-9)) == pytest.approx(4.0)
    assert square.H.dtype == np.float64 and square.h.shape == (4,)
    bad = {
        "H must have shape": (np.zeros(2), np.ones((1, 3)), np.ones(1)),
        "h must have shape": (np.zeros(2), np.ones((4, 2)), np.ones(3)),
        "point must have shape": (np.zeros(3), np.ones((4, 2)), np.ones(4)),
        "H contains NaN": (np.zeros(2), np.full((4, 2), np.nan), np.ones(4)),
    }
    for message, (point, H, h) in bad.items():
        with pytest.raises(ValueError, match=message):
            Region(point, H, h)


def test_a_region_made_by_hand_with_rows_not_of_unit_norm_has_its_own_polygon():
    # edges() reads h_i as row i's distance from the origin: the square [0, 1]^2
    # written with rows of norm 2 (2 x <= 2, ...) came back with 2 corners, (0, 0)
    # and (0, 1), without an error.
    unit = Region([0.5, 0.5], [[1, 0], [-1, 0], [0, 1], [0, -1]], [1, 0, 1, 0])
    scaled = Region([0.5, 0.5], [[2, 0], [-2, 0], [0, 3], [0, -0.5]], [2, 0, 3, 0])
    np.testing.assert_array_equal(scaled.polygon(1e-9), unit.polygon(1e-9))
    assert _area(scaled.polygon(1e-9)) == pytest.approx(1.0)
    np.testing.assert_allclose(np.linalg.norm(scaled.H, axis=1), 1.0)
    with pytest.raises(ValueError, match="row 1 of H is zero"):
        Region([0.5, 0.5], [[1, 0], [0, 0]], [1, 1])


@pytest.mark.parametrize("size", [1e-200, 1e200])
def test_a_region_made_by_hand_with_tiny_or_huge_rows_is_scaled_without_overflow(size):
    # The norm as a sqrt of squares: rows of 1e-200 squared to 0 ("row 0 of H is
    # zero"), rows of 1e200 overflowed to inf with a RuntimeWarning (then H / inf = 0).
    unit = Region([0.5, 0.5], [[1, 0], [-1, 0], [0, 1], [0, -1]], [1, 0, 1, 0])
    H = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]]) * size
    scaled = Region([0.5, 0.5], H, np.array([1, 0, 1, 0]) * size)
    np.testing.assert_allclose(scaled.H, unit.H)
    np.testing.assert_allclose(scaled.polygon(1e-9), unit.polygon(1e-9))
