"""Exact linear regions and decision boundaries of 2-input networks."""

import numpy as np
import pytest
import torch
from torch import nn

from unboxed import zoo
from unboxed.piecewise import (
    LinearRegions,
    PiecewiseActivation,
    PiecewiseLinear,
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


def _sliver_network() -> nn.Module:
    """Logit difference x1 - 0.5 left of x0 = 0.5, x1 + 0.5 right of x0 = 0.5001, and a
    steep ramp between: the boundary drops from (0.5, 0.5) to (0.5001, -0.5) inside a
    region 1e-4 wide."""
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    f64 = {"dtype": torch.float64}
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0]], **f64))
        net[0].bias.copy_(torch.tensor([-0.5, -0.5001, 10.0], **f64))
        net[2].weight.copy_(torch.tensor([[0.0, 0, 0], [1e4, -1e4, 1.0]], **f64))
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


def test_regions_in_box_needs_two_inputs_and_a_box():
    with pytest.raises(ValueError, match="2 inputs"):
        regions_in_box(LinearRegions(zoo.mlp((4,), n_features=3, n_classes=2)), BOX)
    regions = LinearRegions(zoo.mlp((4,), n_features=2, n_classes=2))
    with pytest.raises(ValueError, match="bounds"):
        regions_in_box(regions, (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="resolution"):
        regions_in_box(regions, BOX, resolution=1)


def _t_junction_network() -> nn.Module:
    """Unit a steps by 1 at x0 = 0, so the second layer's unit, x1 - 0.5 + 2 [x0 > 0],
    changes sign only left of x0 = 0: the line x1 = 0.5 ends there. The region right of
    x0 = 0 has two neighbours across its one edge, x1 < 0.5 and x1 > 0.5."""
    step = PiecewiseLinear(np.array([0.0]), np.array([1.0, 1.0]), np.array([0.0, 1.0]), 0.0)
    f64 = {"dtype": torch.float64}
    net = nn.Sequential(
        nn.Linear(2, 3), PiecewiseActivation(step), nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)
    ).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0], [0, 1.0], [1.0, 0]], **f64))
        net[0].bias.copy_(torch.tensor([0.0, 10.0, 10.0], **f64))  # a = x0, b, c > 0
        net[2].weight.copy_(torch.tensor([[2.0, 1.0, -2.0], [0, 0, 0]], **f64))
        net[2].bias.copy_(torch.tensor([10.5, 1.0], **f64))  # x1 - 0.5 + 2 [x0 > 0]
        net[4].weight.copy_(torch.tensor([[0.0, 0], [1.0, 0]], **f64))
    return net


def test_crossing_an_edge_finds_every_neighbour_along_it():
    regions = LinearRegions(_t_junction_network())
    walk = _RegionWalk(regions, (-1.0, 1.0, -1.0, 1.0))
    (start,), stretches = walk._visit(np.array([[0.5, 0.0]]))
    while stretches:  # cross the start's edges only, not its neighbours'
        stretches = [stretch for stretch in walk._cross(stretches) if stretch[0] is start]
    points = np.stack([r.point for r in walk.found.values()])
    assert len(walk.found) == 3, points
    assert np.sum((points[:, 0] < 0) & (points[:, 1] > 0.5)) == 1  # the one midpoints miss
