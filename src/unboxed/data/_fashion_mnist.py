"""Fashion-MNIST from its real IDX files, with the official 60,000/10,000 split."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._dataset import (
    Dataset,
    DatasetInfo,
    DatasetNotInstalledError,
    candidate_dirs,
    pixel_names,
    register,
)
from ._idx import read_idx

SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
INSTALL = "apt-get install -y dataset-fashion-mnist  (as root; or `make data`)"
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_FILES = {
    "X_train": ("train-images-idx3-ubyte", 60000),
    "y_train": ("train-labels-idx1-ubyte", 60000),
    "X_test": ("t10k-images-idx3-ubyte", 10000),
    "y_test": ("t10k-labels-idx1-ubyte", 10000),
}


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def locate(path: str | os.PathLike | None = None) -> Path | None:
    """The first candidate folder that holds all four IDX files, or None."""
    for folder in candidate_dirs("fashion-mnist", path, SYSTEM_DIR):
        if all(_find(folder, stem) for stem, _ in _FILES.values()):
            return folder
    return None


def _read_split(folder: Path, key: str) -> np.ndarray:
    stem, count = _FILES[key]
    file = _find(folder, stem)
    assert file is not None  # locate() checked every file
    data = read_idx(file)
    expected = (count, 28, 28) if key.startswith("X") else (count,)
    if data.shape != expected or data.dtype != np.uint8:
        raise ValueError(f"{file}: expected uint8 data of shape {expected}, got {data.shape}")
    if key.startswith("y") and data.max() > 9:
        raise ValueError(f"{file}: label {data.max()} is out of range 0..9")
    if key.startswith("X"):
        return (data.reshape(count, 784) / np.float32(255)).astype(np.float32)
    return data.astype(np.int64)


def load(path: str | os.PathLike | None = None) -> Dataset:
    folder = locate(path)
    if folder is None:
        searched = ", ".join(str(d) for d in candidate_dirs("fashion-mnist", path, SYSTEM_DIR))
        raise DatasetNotInstalledError(
            f"Fashion-MNIST is not installed (searched {searched}). Install it with: {INSTALL}"
        )
    arrays = {key: _read_split(folder, key) for key in _FILES}
    return Dataset(
        name="fashion-mnist",
        **arrays,
        class_names=CLASS_NAMES,
        feature_names=pixel_names((28, 28)),
        image_shape=(28, 28),
        description="Fashion-MNIST: 28x28 grayscale clothing images in [0, 1], official split "
        f"60,000/10,000, read from {folder}",
    )


register(
    DatasetInfo(
        name="fashion-mnist",
        description="Zalando's 70,000 28x28 clothing images, official split",
        load=load,
        is_installed=lambda: locate() is not None,
        install=INSTALL,
    )
)
