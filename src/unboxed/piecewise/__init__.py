"""Exact interpretation of piecewise-linear networks (``003_9368caac562d9b13.txt``):
activation linearisation, linear regions, decision boundaries, DecisionNet, distillation."""

from ._linearize import PiecewiseActivation, PiecewiseLinear, linearize, to_plnn
from ._regions import LinearRegions, RegionCounts

__all__ = [
    "LinearRegions",
    "PiecewiseActivation",
    "PiecewiseLinear",
    "RegionCounts",
    "linearize",
    "to_plnn",
]
