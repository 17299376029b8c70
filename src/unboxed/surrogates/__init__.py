"""Global surrogates: models that approximate a black box everywhere.

``JGMM`` is the joint Gaussian mixture of ``001_7567b900ec60d912.txt`` between two
layers' features; ``JGMMExplainer`` fits it to a network and derives its proxy
classifier and explanatory examples. ``TreeSurrogate`` is a decision tree fitted to
the black box's predictions.
"""

from ._driver import ConvergenceWarning, FitTrace, ObjectiveDecreaseWarning, fit_iterative
from ._jgmm import JGMM, NotFittedError
from ._jgmm_explainer import JGMMExplainer
from ._tree import TreeSurrogate, path_length

__all__ = [
    "JGMM",
    "ConvergenceWarning",
    "FitTrace",
    "JGMMExplainer",
    "NotFittedError",
    "ObjectiveDecreaseWarning",
    "TreeSurrogate",
    "fit_iterative",
    "path_length",
]
