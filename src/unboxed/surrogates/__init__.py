"""Global surrogates: models that approximate a black box everywhere.

``JGMM`` is the joint Gaussian mixture of ``001_7567b900ec60d912.txt`` between two
layers' features; ``JGMMExplainer`` fits it to a network and derives its proxy
classifier and explanatory examples.
"""

from ._driver import ConvergenceWarning, FitTrace, ObjectiveDecreaseWarning, fit_iterative
from ._jgmm import JGMM, NotFittedError
from ._jgmm_explainer import JGMMExplainer

__all__ = [
    "JGMM",
    "ConvergenceWarning",
    "FitTrace",
    "JGMMExplainer",
    "NotFittedError",
    "ObjectiveDecreaseWarning",
    "fit_iterative",
]
