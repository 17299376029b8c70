"""Plots of explanations and fidelity results."""

from ._plots import plot_attribution, plot_feature_importance

__all__ = ["plot_attribution", "plot_feature_importance"]
