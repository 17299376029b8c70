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

__all__ = [
    "Dataset",
    "DatasetInfo",
    "DatasetNotInstalledError",
    "available_datasets",
    "data_home",
    "load_dataset",
    "parse_idx",
    "read_idx",
    "stratified_split",
]
