"""Plots of explanations and fidelity results."""

from ._examples import plot_examples, plot_posteriors
from ._plots import plot_attribution, plot_feature_importance

__all__ = ["plot_attribution", "plot_examples", "plot_feature_importance", "plot_posteriors"]
