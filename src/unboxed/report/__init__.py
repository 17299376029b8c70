"""Plots of explanations and fidelity results, and the HTML page of ``unboxed report``."""

from ._examples import plot_examples, plot_posteriors
from ._html import ReportSection, headline, render_report, render_section
from ._plots import (
    plot_attribution,
    plot_deletion_curve,
    plot_feature_importance,
    plot_pcr,
    plot_tree_surrogate,
)

__all__ = [
    "ReportSection",
    "headline",
    "plot_attribution",
    "plot_deletion_curve",
    "plot_examples",
    "plot_feature_importance",
    "plot_pcr",
    "plot_posteriors",
    "plot_tree_surrogate",
    "render_report",
    "render_section",
]
