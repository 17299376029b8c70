"""Exact interpretation of piecewise-linear networks (``003_9368caac562d9b13.txt``):
activation linearisation, linear regions, decision boundaries, DecisionNet, distillation."""

from ._boundary import Region, boundary_segments, plot_decision_boundaries, regions_in_box
from ._decisionnet import DecisionNet
from ._distill import PAPER_GRID, SMALL_GRID, Distiller
from ._linearize import (
    PiecewiseActivation,
    PiecewiseLinear,
    PLNNFidelity,
    linearize,
    plnn_fidelity,
    to_plnn,
)
from ._regions import LinearRegions, RegionCounts

__all__ = [
    "PAPER_GRID",
    "SMALL_GRID",
    "DecisionNet",
    "Distiller",
    "LinearRegions",
    "PLNNFidelity",
    "PiecewiseActivation",
    "PiecewiseLinear",
    "Region",
    "RegionCounts",
    "boundary_segments",
    "linearize",
    "plnn_fidelity",
    "plot_decision_boundaries",
    "regions_in_box",
    "to_plnn",
]
