"""The ``Dataset`` container, the registry of named data sets, and where data lives."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .._validation import (
    _is_sequence,
    check_array,
    check_feature_indices,
    check_fraction,
    check_labels,
    check_names,
    check_positive_int,
    check_shape,
)


class DatasetNotInstalledError(FileNotFoundError):
    """A data set's files are not on this machine; the message says how to install them."""


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Arrays of one data set, split into train and test, with their metadata.

    Images are stored flat, one row per image, in C order; ``image_shape`` restores them.

    Attributes
    ----------
    name : str
    X_train : ndarray of shape (n_train, n_features)
    y_train : ndarray of shape (n_train,)
    X_test : ndarray of shape (n_test, n_features)
    y_test : ndarray of shape (n_test,)
    class_names : tuple of str
    feature_names : tuple of str
    image_shape : tuple of int or None
        ``(H, W)`` for images, None for tabular data.
    support : ndarray of int or None
        For synthetic data, the indices of the features the label depends on, each
        once (empty for labels that depend on no feature); None for real data, whose
        ground truth is unknown.
    description : str
    feature_mean, feature_scale : ndarray of shape (n_features,) or None
        For data stored standardized, ``(raw - feature_mean) / feature_scale`` per
        feature: the rows the models read are in standard units, and
        :meth:`to_raw` gives a person the data's own. Both None (the default) for
        data stored in their own units.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    image_shape: tuple[int, int] | None = None
    support: np.ndarray | None = None
    description: str = ""
    feature_mean: np.ndarray | None = None
    feature_scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        for field in ("class_names", "feature_names"):
            names = getattr(self, field)
            # A str was read a letter a name: class_names="cat" made 3 classes.
            if not _is_sequence(names) or isinstance(names, str):
                raise TypeError(f"{field} must be a tuple of str, got {type(names).__name__}")
            # zoo.save refused the duplicates and non-str names later, strict as here.
            names = check_names(names, len(names), name=field, strict=True)
            object.__setattr__(self, field, names)
        if len(self.class_names) < 2:
            raise ValueError(f"a data set needs at least 2 classes, got {self.class_names!r}")
        if self.image_shape is not None:
            shape = check_shape(self.image_shape, name="image_shape")
            if len(shape) != 2:  # input_shape adds the channel axis
                raise ValueError(f"image_shape must be (H, W), one gray channel, got {shape}")
            object.__setattr__(self, "image_shape", shape)
        for split in ("train", "test"):
            X = check_array(getattr(self, f"X_{split}"), name=f"X_{split}", dtype=None)
            y = check_labels(
                getattr(self, f"y_{split}"), n=X.shape[0], n_classes=len(self.class_names)
            )
            object.__setattr__(self, f"X_{split}", X)
            object.__setattr__(self, f"y_{split}", y)
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError("X_train and X_test have different numbers of features")
        if len(self.feature_names) != self.n_features:
            raise ValueError(f"{len(self.feature_names)} feature names for {self.n_features}")
        if self.image_shape is not None and math.prod(self.image_shape) != self.n_features:
            raise ValueError(f"image_shape {self.image_shape} does not match {self.n_features}")
        if self.support is not None:  # fidelity tests index features with it
            support = check_feature_indices(
                self.support, n_features=self.n_features, name="support", allow_duplicates=False
            )
            object.__setattr__(self, "support", support)
        self._check_standardization()

    def _check_standardization(self) -> None:
        """``feature_mean`` and ``feature_scale``: both or neither, one finite number per
        feature, the scales above 0 (a raw value is ``mean + scale * value``)."""
        if (self.feature_mean is None) != (self.feature_scale is None):
            raise ValueError(
                "feature_mean and feature_scale go together: give both, or neither for "
                "data stored in their own units"
            )
        for field in ("feature_mean", "feature_scale"):
            value = getattr(self, field)
            if value is None:
                continue
            arr = check_array(value, name=field, ndim=1, allow_empty=True)
            if arr.shape != (self.n_features,):
                raise ValueError(
                    f"{field} has {arr.size} values; expected one per feature, {self.n_features}"
                )
            if field == "feature_scale" and not np.all(arr > 0):
                raise ValueError(f"feature_scale must be > 0 in every feature, got {arr.min():g}")
            object.__setattr__(self, field, arr)

    def to_raw(self, values: object, features: object = None) -> np.ndarray:
        """Standardized values in the data's raw units: ``mean + scale * value``.

        Parameters
        ----------
        values : array-like
            Rows of shape ``(..., n_features)``; or, with ``features``, a vector of
            single values (a tree's thresholds).
        features : array-like of int, optional
            The feature of each entry of ``values``, a vector as long as it.

        Returns
        -------
        ndarray of float64
            ``values``' shape, in raw units.

        Raises
        ------
        ValueError
            If the data set records no standardization (``feature_scale`` is None),
            ``values`` and ``features`` do not fit it, or a value overflows float64 in
            raw units.
        """
        if self.feature_mean is None or self.feature_scale is None:
            raise ValueError(
                f"{self.name!r} records no standardization (feature_scale is None): its "
                "values are in its own units already"
            )
        values = check_array(values, name="values", ndim=None, allow_empty=True)
        if features is None:
            if values.ndim == 0 or values.shape[-1] != self.n_features:
                raise ValueError(
                    f"values has shape {values.shape}; expected rows of {self.n_features} "
                    "features, or pass the feature of each value"
                )
            mean, scale = self.feature_mean, self.feature_scale
        else:
            features = check_feature_indices(features, n_features=self.n_features, name="features")
            if values.shape != features.shape:
                raise ValueError(
                    f"values has shape {values.shape} and features {features.shape}; "
                    "expected one feature per value"
                )
            mean, scale = self.feature_mean[features], self.feature_scale[features]
        with np.errstate(over="ignore"):  # named below: it was an inf with a RuntimeWarning
            raw = mean + scale * values
        if not np.all(np.isfinite(raw)):
            raise ValueError(
                f"values up to {np.abs(values).max():g} standard units overflow float64 "
                "in the raw units; expected values of the data's own scale"
            )
        return raw

    @property
    def n_features(self) -> int:
        """The number of features: columns of ``X_train``."""
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        """The number of classes: entries of ``class_names``."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape a model takes one sample in: ``(1, H, W)`` for images, else ``(d,)``."""
        if self.image_shape is None:
            return (self.n_features,)
        return (1, *self.image_shape)

    def __repr__(self) -> str:
        shape = f", image_shape={self.image_shape}" if self.image_shape else ""
        return (
            f"Dataset({self.name!r}, train={self.X_train.shape[0]}, test={self.X_test.shape[0]}, "
            f"n_features={self.n_features}, n_classes={self.n_classes}{shape})"
        )


def pixel_names(image_shape: tuple[int, int]) -> tuple[str, ...]:
    """Feature names ``px_r_c`` for the pixels of an image, in C order."""
    rows, cols = image_shape
    return tuple(f"px_{r}_{c}" for r in range(rows) for c in range(cols))


#: The seed and test share of the fixed splits made by this library (not Fashion-MNIST's).
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def stratified_split(
    y: np.ndarray, *, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed stratified split, independent of scikit-learn's implementation.

    Each class's indices are permuted with ``numpy.random.default_rng(seed)`` and its
    first ``round(test_fraction * n_c)`` go to the test split; neither split may end
    up empty. Both splits are then shuffled, so that a prefix of either holds every
    class it holds (a class too small for ``test_fraction`` lies in one split only).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels, whole numbers >= 0: ints, floats that are whole numbers (2.0 is
        class 2) or bools (False is class 0, True class 1), as an array, a list, a
        pandas Series or a tensor. Strings, fractions and missing labels are refused.
    test_fraction : float in (0, 1)
        The share of each class that goes to the test split (rounded per class).
    seed : int
        Seeds the permutations, at least 0; the same seed gives the same split.

    Returns
    -------
    train, test : ndarray of int
        Row indices into ``y``; together they hold every row once.

    Raises
    ------
    ValueError
        If ``y`` is not a non-empty vector of such labels, ``test_fraction`` is not
        in (0, 1), ``seed`` is not a non-negative int, or a split would be empty.
    """
    # np.size of a tensor is its size method: "y must have shape (<built-in method ...>,)"
    shape = tuple(np.shape(y))
    if len(shape) != 1 or shape[0] == 0:
        raise ValueError(f"y must be a non-empty vector of labels, got shape {shape}")
    y = check_labels(y, n=shape[0])
    # As a float: np.float16(0.2) times a class of 400,000 overflowed float16 to inf.
    test_fraction = check_fraction(test_fraction, name="test_fraction", below_one=True)
    rng = np.random.default_rng(check_positive_int(seed, name="seed", minimum=0))
    train, test = [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        n_test = round(test_fraction * members.size)
        test.append(members[:n_test])
        train.append(members[n_test:])
    for split, rows in (("test", test), ("training", train)):
        if not sum(map(len, rows)):
            # Returned as it was, the empty split failed later, in a fit or a Dataset.
            # Counted by value: bincount sized its table by the largest label (10**12).
            sizes = np.unique(y, return_counts=True)[1]
            raise ValueError(
                f"test_fraction={test_fraction:g} of classes of {sizes.min()} to "
                f"{sizes.max()} samples rounds to {'0' if split == 'test' else 'all'} per "
                f"class: the {split} split would be empty"
            )
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def split_dataset(
    name: str, X: np.ndarray, y: np.ndarray, *, source: object = None, **fields: object
) -> Dataset:
    """A :class:`Dataset` of all samples, split by :func:`stratified_split` with the fixed
    :data:`SPLIT_SEED` and :data:`TEST_FRACTION`; ``fields`` are the metadata, and
    ``source`` (a folder read) is named where the samples are too few to split."""
    try:
        train, test = stratified_split(y, test_fraction=TEST_FRACTION, seed=SPLIT_SEED)
    except ValueError as err:
        # A folder of a few MNIST images read "test_fraction=0.2 ... would be empty",
        # naming an argument the caller of load_dataset never passed.
        read = f" read from {source}" if source is not None else ""
        raise ValueError(
            f"{name}: its {len(y)} samples{read} are too few for the fixed stratified "
            f"split ({1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%}, seed {SPLIT_SEED}): {err}"
        ) from err
    return Dataset(
        name=name,
        X_train=X[train],
        y_train=y[train],
        X_test=X[test],
        y_test=y[test],
        **fields,  # type: ignore[arg-type]
    )


def not_installed(
    title: str, subdir: str, path: str | os.PathLike | None, system: str | None, command: str
) -> DatasetNotInstalledError:
    """The error for a data set whose files are in none of the searched folders."""
    searched = ", ".join(str(d) for d in candidate_dirs(subdir, path, system))
    # "searched file/mnist" alone did not say that the folder named was a file.
    home = data_home()
    if path is None and os.environ.get("UNBOXED_DATA") and home.is_file():
        searched += f"; $UNBOXED_DATA is a file, not a folder: {home}"
    return DatasetNotInstalledError(
        f"{title} is not installed (searched {searched}). Install it with: {command}"
    )


def refuse_folders_in_place(expected: Iterable[tuple[Path, str]], title: str) -> None:
    """Raise where a folder stands in place of a data file, for :func:`not_installed`'s
    callers: "not installed" sent the user to install files that were there but for
    that one, and did not say what was wrong.

    Parameters
    ----------
    expected : iterable of (Path, str)
        The names data files are looked for under, each with what it should be.
    title : str
        The data set, as the error names it.

    Raises
    ------
    IsADirectoryError
        If one of the names is a folder.
    """
    for name, what in expected:
        if name.is_dir():
            raise IsADirectoryError(
                f"{name} is a folder, not the {what} of {title} expected there; move it "
                "away and put the file in its place"
            )


def data_home() -> Path:
    """Where ``make data`` puts downloaded data: ``$UNBOXED_DATA`` or ``~/.cache/unboxed/data``.

    Returns
    -------
    pathlib.Path
        The folder; it need not exist.
    """
    env = os.environ.get("UNBOXED_DATA")
    # "~/data" in a shell's quotes, or set from Python, reached here unexpanded.
    return Path(env).expanduser() if env else Path.home() / ".cache" / "unboxed" / "data"


def candidate_dirs(subdir: str, path: str | os.PathLike | None, system: str | None) -> list[Path]:
    """Folders to search: ``path`` alone when given (a folder the caller names must be
    the one read), else ``$UNBOXED_DATA/subdir`` and then the install location."""
    if path is not None:
        return [Path(path)]
    dirs = []
    if os.environ.get("UNBOXED_DATA"):
        dirs.append(data_home() / subdir)
    dirs.append(Path(system) if system else data_home() / subdir)
    return list(dict.fromkeys(dirs))


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: how to load a named data set and how to install it.

    Attributes
    ----------
    name : str
        The name :func:`load_dataset` takes.
    description : str
        One line for ``unboxed datasets``.
    load : callable
        Called with a folder (or None: search the usual places); returns the
        :class:`Dataset`.
    is_installed : callable, optional
        Called without arguments; whether the files are found (default: always).
    install : callable or None, default=None
        Called without arguments; the command that installs the files. None for a
        data set built in, which reads no files.
    """

    name: str
    description: str
    load: Callable[[str | os.PathLike | None], Dataset]
    is_installed: Callable[[], bool] = lambda: True
    install: Callable[[], str] | None = None


REGISTRY: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> None:
    REGISTRY[info.name] = info


def load_dataset(name: str, *, path: str | os.PathLike | None = None) -> Dataset:
    """Load a named data set.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist", "breast-cancer", "moons", "planted"}
    path : path-like, optional
        A folder holding the data set's files, searched before ``$UNBOXED_DATA`` and
        the standard install location.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetNotInstalledError
        If the files are not found; the message gives the command that installs them.
    FileNotFoundError
        If ``path`` is given but is not a folder (``~`` is expanded, in
        ``$UNBOXED_DATA`` too).
    IsADirectoryError
        If the files are not found and a folder stands where one should be.
    TypeError
        If ``name`` is not a str, or ``path`` not a str or path.
    ValueError
        If ``name`` is unknown (the message suggests the name it differs from in case
        or ``_``), ``path`` is the empty string, or a file is corrupt.
    """
    if not isinstance(name, str):  # a list raised "unhashable type" from the lookup
        raise TypeError(f"name must be a str, one of {sorted(REGISTRY)}, got {type(name).__name__}")
    if name not in REGISTRY:
        raise ValueError(
            f"unknown data set {name!r}{_did_you_mean(name)}; choose from {sorted(REGISTRY)}"
        )
    info = REGISTRY[name]
    if path is not None and not isinstance(path, str | os.PathLike):
        # pathlib's own error named no argument.
        raise TypeError(f"path must be a folder, as a str or path, got {type(path).__name__}")
    if path == "":  # Path("") is the current folder, which the caller did not name
        raise ValueError(
            "path is an empty string; pass a folder, or None to search the usual places"
        )
    if path is not None and info.install is None:
        raise ValueError(f"{name!r} is built in and reads no files; do not pass path")
    if path is not None:
        # A shell expands "~/data", Python does not: it read a folder named "~".
        path = Path(path).expanduser()
        if path.is_file():
            raise FileNotFoundError(
                f"path is a file, not a folder: {path}; pass the folder it is in"
            )
        if not path.is_dir():
            # Else the installed copy would load instead, as if the folder had been read.
            raise FileNotFoundError(f"no such folder: {path}")
    return info.load(path)


def _did_you_mean(name: str) -> str:
    """``" (did you mean 'x'?)"`` for a name that differs from a registered one in case,
    ``_`` or a space for ``-`` ("breast cancer", the name sklearn prints), or spaces
    around it, else ``""``."""
    key = "-".join(name.strip().lower().replace("_", " ").split())
    found = [known for known in REGISTRY if known == key]
    return f" (did you mean {found[0]!r}?)" if found else ""


def available_datasets() -> list[DatasetInfo]:
    """Every registered data set, in registration order.

    Returns
    -------
    list of DatasetInfo
    """
    return list(REGISTRY.values())
