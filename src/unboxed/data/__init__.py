"""Data sets: loaders for real and synthetic data, and the IDX reader."""

from . import _fashion_mnist, _mnist, _synthetic  # noqa: F401  (they register themselves)
from ._dataset import (
    Dataset,
    DatasetInfo,
    DatasetNotInstalledError,
    available_datasets,
    data_home,
    load_dataset,
    stratified_split,
)
from ._idx import parse_idx, read_idx
from ._variants import Cue, select_classes, with_spurious_cue

__all__ = [
    "Cue",
    "Dataset",
    "DatasetInfo",
    "DatasetNotInstalledError",
    "available_datasets",
    "data_home",
    "load_dataset",
    "parse_idx",
    "read_idx",
    "select_classes",
    "stratified_split",
    "with_spurious_cue",
]
