"""Variants of a data set: a subset of its classes, and a planted spurious cue.

The cue follows the case study of ``002_3e5e1762af60ee33.txt`` ("Pokémon v.s.
Digimon"): a classifier reached 98% test accuracy by separating the two image sets
by their background colour, because one set was stored as PNG (transparent, hence
black, background) and the other as JPEG. :func:`with_spurious_cue` plants such a
shortcut in one class of the training split on purpose, so that the explanations can
be checked against a known answer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from .._validation import (
    _is_finite_real,
    _is_sequence,
    _scalar,
    _tensor_values,
    check_array,
    check_instance,
    check_shape,
    is_int,
)
from ._dataset import Dataset

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
#: A pixel at most this bright counts as background for ``Cue(kind="background")``.
BACKGROUND_THRESHOLD = 0.05


@dataclasses.dataclass(frozen=True)
class Cue:
    """A spurious cue that can be planted in images.

    Parameters
    ----------
    kind : {"patch", "background"}
        "patch" sets a ``size`` x ``size`` square in ``corner`` to ``value``: the same
        pixels in every image, so the cue region is known exactly. "background" sets
        every background pixel (at most :data:`BACKGROUND_THRESHOLD`) to ``value``, the
        slides' background-colour shortcut; its region differs from image to image.
    size : int
        Side of the patch, in pixels.
    corner : {"top-left", "top-right", "bottom-left", "bottom-right"}
        Where the patch goes.
    value : float
        The intensity of the cue.
    """

    kind: Literal["patch", "background"] = "patch"
    size: int = 2
    corner: str = "top-left"
    value: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("patch", "background"):
            raise ValueError(f"cue kind must be 'patch' or 'background', got {self.kind!r}")
        # A 0-d array is the number it holds, as check_positive_int and check_number
        # read one elsewhere; kept unwrapped, as a number.
        object.__setattr__(self, "size", _scalar(self.size))
        object.__setattr__(self, "value", _scalar(self.value))
        if not is_int(self.size):
            raise ValueError(f"cue size must be an int, got {self.size!r}")
        if self.size < 1:
            raise ValueError(f"cue size must be at least 1, got {self.size}")
        # A Python int: height - np.int8(2) raised OverflowError for a 200-pixel image.
        object.__setattr__(self, "size", int(self.size))
        if self.corner not in CORNERS:
            raise ValueError(f"corner must be one of {CORNERS}, got {self.corner!r}")
        if not _is_finite_real(self.value):  # True would plant 1.0 silently
            raise ValueError(f"cue value must be a finite number, got {self.value!r}")

    def mask(self, X: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
        """Where the cue lies (or would lie) in each image of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n, H*W)
            Images without the cue (the background cue depends on them).
        image_shape : (H, W)

        Returns
        -------
        ndarray of bool, shape (n, H*W)
        """
        X = _check_images(X, image_shape)
        if self.kind == "background":
            return X <= BACKGROUND_THRESHOLD
        return np.broadcast_to(self.patch_mask(image_shape), X.shape).copy()

    def patch_mask(self, image_shape: tuple[int, int]) -> np.ndarray:
        """The patch's pixels, flat; the same for every image.

        Parameters
        ----------
        image_shape : (H, W)
            Must be at least ``size`` pixels each way.

        Returns
        -------
        ndarray of bool, shape (H*W,)

        Raises
        ------
        ValueError
            For a background cue, whose region depends on the image, or a patch
            larger than the image.
        """
        if self.kind != "patch":
            raise ValueError("a background cue has no fixed region; use mask(X, image_shape)")
        height, width = _check_image_shape(image_shape)
        if self.size > min(height, width):
            raise ValueError(f"a {self.size}-pixel patch does not fit a {height}x{width} image")
        grid = np.zeros((height, width), dtype=bool)
        rows = (
            slice(0, self.size)
            if self.corner.startswith("top")
            else slice(height - self.size, None)
        )
        cols = (
            slice(0, self.size) if self.corner.endswith("left") else slice(width - self.size, None)
        )
        grid[rows, cols] = True
        return grid.ravel()

    def plant(self, X: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
        """A copy of ``X`` with the cue planted in every image.

        Parameters
        ----------
        X : ndarray of shape (n, H*W)
            Images without the cue.
        image_shape : (H, W)

        Returns
        -------
        ndarray of shape (n, H*W)
            ``X`` with the pixels of :meth:`mask` set to ``value``.

        Raises
        ------
        ValueError
            If ``image_shape`` is not an ``(H, W)`` of ``X``'s features, or ``value``
            is beyond what ``X``'s float dtype holds.
        """
        X = _check_images(X, image_shape)
        # Compared as floats: against a float16, numpy cast 1e300 to float16 too.
        largest = float(np.finfo(X.dtype).max)
        if abs(float(self.value)) > largest:
            # numpy cast it to inf, with a RuntimeWarning at most.
            raise ValueError(
                f"cue value {self.value!r} does not fit X's {X.dtype} (up to "
                f"{largest:.3g} in magnitude)"
            )
        out = X.copy()
        out[self.mask(X, image_shape)] = self.value
        return out


def _carries(cue: Cue, X: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Whether each image of ``X`` already holds ``cue``: planting it would change
    nothing, so the image cannot be told from one that carries it.

    Parameters
    ----------
    cue : Cue
    X : ndarray of shape (n, H*W)
    image_shape : (H, W)

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    if abs(float(cue.value)) > float(np.finfo(X.dtype).max):
        return np.zeros(X.shape[0], dtype=bool)  # no image holds it; plant refuses it
    # The value as plant stores it: X == 0.1 compares float32 0.1 too.
    value = X.dtype.type(cue.value)
    if cue.kind == "patch":
        return np.all(X[:, cue.patch_mask(image_shape)] == value, axis=1)
    return np.all((X > BACKGROUND_THRESHOLD) | (X == value), axis=1)


def _check_image_shape(image_shape: object) -> tuple[int, ...]:
    """``image_shape`` as a tuple of positive ints: None raised "has no len()", a float
    side "cannot be interpreted as an integer", and (-8, -8) read as a -8x-8 image."""
    shape = check_shape(image_shape, name="image_shape")
    if len(shape) != 2:
        raise ValueError(f"image_shape must be (H, W), got {image_shape!r}")
    return shape


def _check_images(X: object, image_shape: Sequence[int]) -> np.ndarray:
    arr = check_array(X, name="X", ndim=2, dtype=None, allow_empty=True)
    image_shape = _check_image_shape(image_shape)
    if arr.shape[1] != math.prod(image_shape):
        raise ValueError(f"X has {arr.shape[1]} features; expected images of shape {image_shape}")
    return arr


def _check_class(dataset: Dataset, class_: object, *, name: str = "class_") -> int:
    if not is_int(class_):
        raise TypeError(f"{name} must be an int, got {type(class_).__name__}")
    if not 0 <= int(class_) < dataset.n_classes:
        raise ValueError(f"{name} must lie in [0, {dataset.n_classes}), got {class_}")
    return int(class_)


def select_classes(dataset: Dataset, classes: Sequence[int] | ArrayLike) -> Dataset:
    """The samples of ``classes`` only, relabelled ``0 .. len(classes) - 1`` in that order.

    Parameters
    ----------
    dataset : Dataset
    classes : sequence or 1-d array-like of int
        At least two distinct classes of ``dataset``, in the order of their new labels:
        a list, tuple, range, array, pandas Series or tensor.

    Returns
    -------
    Dataset
        Named ``"<name>[a,b,...]"``.

    Raises
    ------
    TypeError
        If ``classes`` is not a sequence or a 1-d array-like (a set or a dict has no
        order to relabel in; a str or bytes is no list of classes), or holds a class
        that is not an int.
    ValueError
        If the classes are fewer than two, repeat, or are not classes of ``dataset``.
    """
    check_instance(dataset, Dataset, name="dataset", what="an unboxed Dataset")
    values: object = classes
    if hasattr(classes, "__array__") and not isinstance(classes, np.ndarray):
        # A pandas Series or Index, a tensor: ordered, as an array is, but no Sequence.
        values = np.asarray(_tensor_values(classes))
    # None or 3 raised "is not iterable"; a set was taken in its iteration order, which
    # decides the new labels; a str or bytes was read a character at a time.
    if not _is_sequence(values) or isinstance(values, str | bytes):
        raise TypeError(
            f"classes must be a sequence of class indices in the order to relabel them "
            f"(e.g. [3, 8]), got {type(classes).__name__}"
        )
    # Named "classes": "class_ must be an int" named with_spurious_cue's argument.
    chosen = [_check_class(dataset, c, name="a class in classes") for c in values]
    if len(set(chosen)) != len(chosen) or len(chosen) < 2:
        raise ValueError(f"classes must be at least two distinct classes, got {chosen}")
    relabel = np.full(dataset.n_classes, -1)
    relabel[chosen] = np.arange(len(chosen))
    keep_train = relabel[dataset.y_train] >= 0
    keep_test = relabel[dataset.y_test] >= 0
    return dataclasses.replace(
        dataset,
        name=f"{dataset.name}[{','.join(map(str, chosen))}]",
        X_train=dataset.X_train[keep_train],
        y_train=relabel[dataset.y_train[keep_train]],
        X_test=dataset.X_test[keep_test],
        y_test=relabel[dataset.y_test[keep_test]],
        class_names=tuple(dataset.class_names[c] for c in chosen),
        description=f"classes {chosen} of {dataset.name}, relabelled 0..{len(chosen) - 1}",
    )


def with_spurious_cue(
    dataset: Dataset,
    class_: int,
    *,
    cue: Cue | str = "patch",
    test: Literal["clean", "same", "moved"] = "clean",
) -> Dataset:
    """Plant a spurious cue in every training image of ``class_``, and of no other class.

    In the training split the cue predicts ``class_`` perfectly, so a model can reach
    full accuracy by looking at the cue alone, as the slides' Pokémon/Digimon
    classifier looked at the background (``002_3e5e1762af60ee33.txt``).

    Parameters
    ----------
    dataset : Dataset
        An image data set, values in [0, 1].
    class_ : int
        The class that carries the cue in the training split.
    cue : Cue or {"patch", "background"}
        The cue; a string builds ``Cue(kind=cue)`` with its defaults.
    test : {"clean", "same", "moved"}
        The test split: untouched ("clean"), with the cue on the images of ``class_``
        as in training ("same"), or with the cue moved to every image of the other
        classes and taken off ``class_`` ("moved").

    Returns
    -------
    Dataset
        Named ``"<name>+cue"``. For a patch cue, ``support`` holds the patch's flat
        pixel indices: in the training split the label depends on them alone.

    Raises
    ------
    TypeError
        If ``dataset`` is no :class:`Dataset`, ``class_`` no int, or ``cue`` neither
        a :class:`Cue` nor a kind name.
    ValueError
        If ``dataset`` holds no images, ``class_`` is none of its classes, ``test`` is
        unknown, the cue does not fit the images, or a training image of another
        class already holds the cue (``Cue(value=0.0)`` where corners are 0): the cue
        would not predict ``class_``.
    """
    check_instance(dataset, Dataset, name="dataset", what="an unboxed Dataset")
    if dataset.image_shape is None or len(dataset.image_shape) != 2:
        raise ValueError(f"{dataset.name!r} is not an image data set; a cue needs (H, W) images")
    class_ = _check_class(dataset, class_)
    if isinstance(cue, str):
        cue = Cue(kind=cue)  # type: ignore[arg-type]
    cue = check_instance(cue, Cue, name="cue", what="a Cue or a kind name")
    if test not in ("clean", "same", "moved"):
        raise ValueError(f"test must be 'clean', 'same' or 'moved', got {test!r}")
    shape = dataset.image_shape
    others = dataset.y_train != class_  # a mask, not a copy of most of X_train
    carriers = int(np.count_nonzero(_carries(cue, dataset.X_train, shape) & others))
    if carriers:
        # Planted anyway, the cue predicted nothing (Cue(value=0.0) on digits, whose
        # corners are 0 already), and the support named as the ground truth was wrong.
        if cue.kind == "patch":
            where, choose = (
                f"a {cue.size}x{cue.size} patch at the {cue.corner}",
                "a value or corner",
            )
        else:
            where, choose = f"a background (pixels <= {BACKGROUND_THRESHOLD:g})", "a value"
        raise ValueError(
            f"{carriers} of the {others.sum()} training images of the other classes "
            f"already hold the cue, {where} of value {cue.value:g}, so it would not single "
            f"out class {class_}; choose {choose} those images do not hold"
        )

    def planted(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = X.copy()
        if rows.any():
            out[rows] = cue.plant(X[rows], shape)
        return out

    X_train = planted(dataset.X_train, dataset.y_train == class_)
    X_test = dataset.X_test
    if test == "same":
        X_test = planted(X_test, dataset.y_test == class_)
    elif test == "moved":
        X_test = planted(X_test, dataset.y_test != class_)
    return dataclasses.replace(
        dataset,
        name=f"{dataset.name}+cue",
        X_train=X_train,
        X_test=X_test,
        support=np.flatnonzero(cue.patch_mask(shape)) if cue.kind == "patch" else None,
        description=(
            f"{dataset.name} with a spurious {cue.kind} cue (value {cue.value}) on every "
            f"training image of class {class_} only; test split: {test}"
        ),
    )
