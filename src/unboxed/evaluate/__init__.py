"""Fidelity metrics as pure functions, each with a bootstrap confidence interval."""

from ._fidelity import (
    KeepTopKResult,
    PCRResult,
    agreement,
    crafted_cases,
    deletion_test,
    keep_top_k,
)
from ._stats import Estimate, bootstrap_mean

__all__ = [
    "Estimate",
    "KeepTopKResult",
    "PCRResult",
    "agreement",
    "bootstrap_mean",
    "crafted_cases",
    "deletion_test",
    "keep_top_k",
]
