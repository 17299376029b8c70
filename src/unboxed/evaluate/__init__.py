"""Fidelity metrics as pure functions, each with a 95% confidence interval: a bootstrap
interval for means, Wilson's score interval for shares of 0/1 outcomes."""

from ._fidelity import (
    KeepTopKResult,
    PCRResult,
    agreement,
    crafted_cases,
    deletion_test,
    keep_top_k,
)
from ._infidelity import InfidelityResult, infidelity
from ._local import DeletionCurve, SensitivityResult, deletion_curve, explanation_sensitivity
from ._stats import Estimate, bootstrap_mean

__all__ = [
    "DeletionCurve",
    "Estimate",
    "InfidelityResult",
    "KeepTopKResult",
    "PCRResult",
    "SensitivityResult",
    "agreement",
    "bootstrap_mean",
    "crafted_cases",
    "deletion_curve",
    "deletion_test",
    "explanation_sensitivity",
    "infidelity",
    "keep_top_k",
]
