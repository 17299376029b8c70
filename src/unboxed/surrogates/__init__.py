"""Global surrogates: models that approximate a black box everywhere.

``DMMMEN`` is the Dirichlet-process mixture of elastic-net regressions of
``000_cf0c09d2d9cd2a13.txt``, fitted per class to the black box's logits. ``JGMM``
is the joint Gaussian mixture of ``001_7567b900ec60d912.txt`` between two layers'
features; ``JGMMExplainer`` fits it to a network and derives its proxy classifier
and explanatory examples. ``TreeSurrogate`` is a decision tree fitted to the black
box's predictions.
"""

from .._validation import NotFittedError
from ._dmm import DMMMEN
from ._driver import ConvergenceWarning, FitTrace, ObjectiveDecreaseWarning, fit_iterative
from ._jgmm import JGMM
from ._jgmm_explainer import ExampleFaithfulness, JGMMExplainer
from ._tree import TreeSurrogate, path_length

__all__ = [
    "DMMMEN",
    "JGMM",
    "ConvergenceWarning",
    "ExampleFaithfulness",
    "FitTrace",
    "JGMMExplainer",
    "NotFittedError",
    "ObjectiveDecreaseWarning",
    "TreeSurrogate",
    "fit_iterative",
    "path_length",
]
