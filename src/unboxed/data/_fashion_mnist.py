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
    not_installed,
    pixel_names,
    refuse_folders_in_place,
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


def _found(folder: Path) -> dict[str, Path | None]:
    """Each IDX file in ``folder`` (gzipped or not), None where it is missing."""
    found = {}
    for key, (stem, _) in _FILES.items():
        names = [folder / (stem + ".gz"), folder / stem]
        found[key] = next((name for name in names if name.is_file()), None)
    return found


def _files_in(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (gzipped or not), or None if one is missing."""
    found = _found(folder)
    return None if None in found.values() else found  # type: ignore[return-value]


def locate(path: str | os.PathLike | None = None) -> dict[str, Path] | None:
    """The IDX files of the first candidate folder that holds all four, or None."""
    for folder in candidate_dirs("fashion-mnist", path, SYSTEM_DIR):
        files = _files_in(folder)
        if files:
            return files
    return None


def _expected(path: str | os.PathLike | None) -> list[tuple[Path, str]]:
    """Every name an IDX file is looked for under, with what it should be."""
    names = []
    for folder in candidate_dirs("fashion-mnist", path, SYSTEM_DIR):
        for stem, _ in _FILES.values():
            names += [(folder / (stem + ".gz"), "gzipped IDX file"), (folder / stem, "IDX file")]
    return names


def _incomplete(path: str | os.PathLike | None) -> str:
    """What a searched folder that holds some of the four files lacks, or "".

    "not installed" alone, with the four names to put there, did not say which of them
    a folder holding three was missing (nor that one was a broken link).
    """
    for folder in candidate_dirs("fashion-mnist", path, SYSTEM_DIR):
        missing = []
        for key, file in _found(folder).items():
            if file is None:
                stem = _FILES[key][0]
                names = [folder / (stem + ".gz"), folder / stem]
                broken = [name for name in names if name.is_symlink()]
                missing.append(f"{broken[0]} (a broken link)" if broken else stem + "[.gz]")
        if 0 < len(missing) < len(_FILES):
            return (
                f"; {folder} holds {len(_FILES) - len(missing)} of the {len(_FILES)} files "
                f"but lacks {', '.join(missing)}"
            )
    return ""


def _read_split(file: Path, key: str) -> np.ndarray:
    count = _FILES[key][1]
    data = read_idx(file)
    expected = (count, 28, 28) if key.startswith("X") else (count,)
    if data.shape != expected or data.dtype != np.uint8:
        raise ValueError(
            f"{file}: expected uint8 data of shape {expected}, got {data.dtype} {data.shape}"
        )
    if key.startswith("y") and data.max() > 9:
        raise ValueError(f"{file}: label {data.max()} is out of range 0..9")
    if key.startswith("X"):
        return (data.reshape(count, 784) / np.float32(255)).astype(np.float32)
    return data.astype(np.int64)


def _install(path: str | os.PathLike | None) -> str:
    """How to install the files where a load with ``path`` reads them: the package fills
    :data:`SYSTEM_DIR`, which a load given ``path`` does not search."""
    if path is None:
        return INSTALL
    names = ", ".join(stem + ".gz" for stem, _ in _FILES.values())
    package = f"apt-get install -y dataset-fashion-mnist puts them in {SYSTEM_DIR}"
    return f"put {names} in {path} ({package})"


def load(path: str | os.PathLike | None = None) -> Dataset:
    files = locate(path)
    if files is None:
        refuse_folders_in_place(_expected(path), "Fashion-MNIST")
        error = not_installed("Fashion-MNIST", "fashion-mnist", path, SYSTEM_DIR, _install(path))
        raise DatasetNotInstalledError(f"{error}{_incomplete(path)}")
    arrays = {key: _read_split(file, key) for key, file in files.items()}
    folder = files["X_train"].parent
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
        install=lambda: INSTALL,
    )
)
