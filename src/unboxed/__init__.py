"""unboxed: explain black-box classifiers by approximating them.

Every explanation comes with a measure of how faithful it is to the black box.
"""

from ._validation import NotFittedError
from ._version import __version__
from .blackbox import BlackBox, BlackBoxError
from .data import Dataset, DatasetNotInstalledError, available_datasets, load_dataset
from .example_set import ExampleSet
from .explanation import Attribution, Explanation, FeatureImportance, make_meta

__all__ = [
    "Attribution",
    "BlackBox",
    "BlackBoxError",
    "Dataset",
    "DatasetNotInstalledError",
    "ExampleSet",
    "Explanation",
    "FeatureImportance",
    "NotFittedError",
    "__version__",
    "available_datasets",
    "load_dataset",
    "make_meta",
]
