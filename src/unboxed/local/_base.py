"""What every local explainer shares: input checks, targets, image shapes and fills.

A *fill* is what a switched-off feature becomes: a constant (``0.0``, "zero",
"gray"), the mean of a background data set ("mean"), a blurred copy of the
instance ("blur") or a given array. The gradient family uses the same notion as its
baseline.

"mean" is always the per-feature mean of the explainer's ``background`` rows, never
of the rows being explained, and without ``background`` it is refused: an
explanation does not depend on which other rows share its call. ``unboxed.evaluate``'s
``fill="mean"`` is the mean of the ``X`` passed to the test instead; the two agree
when that ``X`` is the background.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import numbers
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from .._estimator import Params
from .._validation import check_array, check_shape, frame_index, pandas_index
from ..blackbox import BlackBox, RowName, _row_of_x, check_blackbox, grayscale_shape
from ..explanation import Attribution, hand_over, make_meta, plain_number

FILL_NAMES = ("zero", "gray", "mean", "blur")
Fill = float | str | np.ndarray

#: Gaussian blur width, in pixels, of the "blur" fill.
BLUR_SIGMA = 2.0

#: The rows a caller named (:func:`naming_rows`): the ``X`` it passes, that very
#: object, and its name for row ``i`` of it. A context variable, not an argument of
#: ``explain``: every explainer's signature stays the public one, and a call in another
#: thread or on another array (an explainer's own inner call) is not named by it.
_NAMED_ROWS: contextvars.ContextVar[tuple[object, RowName] | None] = contextvars.ContextVar(
    "unboxed_named_rows", default=None
)


@contextlib.contextmanager
def naming_rows(X: object, row_name: RowName) -> Iterator[None]:
    """Within it, an explainer's ``explain(X)`` of this very ``X`` calls its row ``i``
    ``row_name(i)`` in a message about it (the black box raising on it, or on a
    perturbation of it; a non-finite gradient there).

    For rows the caller made from the user's: ``explanation_sensitivity``'s noisy
    copies were "row 20 of X" of an X of 6 rows, their place among the copies kept,
    where the model's query of them says "perturbation 3 of 20 of row 1 of X".
    """
    token = _NAMED_ROWS.set((X, row_name))
    try:
        yield
    finally:
        _NAMED_ROWS.reset(token)


class _Rows(NamedTuple):
    """The rows of the ``X`` given to ``explain``, as its result and messages name them."""

    #: A DataFrame's row labels, as text (:func:`~unboxed._validation.frame_index`): the
    #: explanation's ``row_names``.
    labels: tuple[str, ...] | None
    #: A pandas ``X``'s index (:func:`~unboxed._validation.pandas_index`), which labels
    #: a row in a message about it ("row 1 of X, row X.loc['flower-62']").
    index: Any
    #: The caller's name for row ``i`` (:func:`naming_rows`), which replaces both in a
    #: message; None where it gave none.
    name: RowName | None

    @property
    def row_name(self) -> RowName:
        """The pair above as one name for row ``i`` of ``X`` in a message: the
        caller's, else "row i of X" and, by ``index``, ", row X.loc[label]"
        (:func:`~unboxed.blackbox._row_of_x`). What the perturbation engine takes
        (:meth:`~._engine.Engine.run`)."""
        if self.name is not None:
            return self.name
        return functools.partial(_row_of_x, index=self.index)


class LocalExplainer(Params):
    """Base class: a black box and hyperparameters; ``explain`` gives an Attribution.

    Parameters
    ----------
    blackbox : BlackBox
        The model to explain.
    image_shape : tuple of int, optional
        ``(H, W)`` of a grayscale image input. By default it is read from the black
        box's ``input_shape`` when that is ``(H, W)``, ``(1, H, W)`` or ``(H, W, 1)``.
    """

    method = "local"

    def __init__(self, blackbox: BlackBox, *, image_shape: tuple[int, int] | None = None) -> None:
        check_blackbox(blackbox)
        # Checked now, before any query: int() once turned (2.5, 3.0) into (2, 3) and
        # True into 1, and (-2, -3) passed the H*W test below. Stored as given, as every
        # argument is, so that get_params and sklearn's clone give it back.
        if image_shape is not None:
            check_shape(image_shape, name="image_shape")
        self.blackbox = blackbox
        self.image_shape = image_shape

    def _image_shape(self, d: int) -> tuple[int, int] | None:
        if self.image_shape is not None:
            shape = check_shape(self.image_shape, name="image_shape")
            if len(shape) != 2 or math.prod(shape) != d:
                raise ValueError(f"image_shape must be (H, W) with H*W = {d}, got {shape}")
            return shape
        return grayscale_shape(self.blackbox.input_shape)

    @staticmethod
    def _rows(X: object) -> _Rows:
        """How the ``X`` given to ``explain`` names its rows, read before ``check_X``
        (which drops a DataFrame's index and makes another object)."""
        named = _NAMED_ROWS.get()
        name = named[1] if named is not None and named[0] is X else None
        return _Rows(frame_index(X), pandas_index(X), name)

    def _targets(self, target: Any, X: np.ndarray, proba: np.ndarray | None = None) -> np.ndarray:
        """Per-row classes: the given ones, or the black box's prediction."""
        if target is None:
            return (proba if proba is not None else self.blackbox.predict_proba(X)).argmax(1)
        return self.blackbox._check_target(target, X.shape[0])

    def _parameters(self) -> dict[str, Any]:
        """The hyperparameters recorded in ``meta``: JSON-friendly constructor arguments."""
        plain = str | numbers.Number | bool | tuple | dict | None
        params = {
            k: (plain_number(v) if isinstance(plain_number(v), plain) else type(v).__name__)
            for k, v in vars(self).items()
            # verbose shows a bar and changes nothing in the result, so a saved
            # explanation must not differ by it
            if k not in ("blackbox", "verbose") and not k.endswith("_")
        }
        if self.image_shape is not None:  # stored as given: a list would read "list"
            params["image_shape"] = check_shape(self.image_shape, name="image_shape")
        return params

    def _attribution(
        self,
        values: np.ndarray,
        target: np.ndarray,
        X: np.ndarray,
        *,
        seed: int | None = None,
        row_names: tuple[str, ...] | None = None,
        **extra: Any,
    ) -> Attribution:
        """The result; ``X`` has passed ``check_X``, so its copy needs no second scan.
        ``row_names`` are the given rows' own (:func:`~unboxed._validation.frame_index`).
        ``seed`` is the int seed the call drew from (:func:`~._engine.call_seed`), which
        ``meta["seed"]`` records where given: with it a call made from a Generator or
        None can be made again. Else ``meta["seed"]`` records ``random_state``."""
        if seed is None:
            seed = getattr(self, "random_state", None)
        meta = make_meta(self.method, self._parameters(), seed=seed)
        meta.update(extra)
        import torch

        # torch copies on all threads: twice as fast as X.copy() on 2000 MNIST images.
        # (It would warn about a read-only array, which numpy copies instead.)
        copy = torch.from_numpy(X).clone().numpy() if X.flags.writeable else X.copy()
        inputs = hand_over(copy)
        return Attribution(
            values,
            target,
            meta,
            inputs=inputs,
            image_shape=self._image_shape(X.shape[1]),
            # Each column is an input feature (a segment's score is spread over its
            # features), so the black box's names label them.
            feature_names=self.blackbox.feature_names,
            class_names=self.blackbox.class_names,
            row_names=row_names,
        )


def make_fill(
    fill: Fill,
    X: np.ndarray,
    *,
    image_shape: tuple[int, int] | None,
    background: np.ndarray | None,
    name: str = "fill",
) -> np.ndarray:
    """The value each feature takes when switched off, shape ``(n, d)`` (or broadcastable).

    Parameters
    ----------
    fill : float, {"zero", "gray", "mean", "blur"} or ndarray of shape (n_features,)
        "gray" is 0.5, the middle of images scaled to [0, 1]. "mean" is the per-feature
        mean of ``background`` (required; never of ``X``), in ``X``'s dtype. "blur" is
        a Gaussian blur (sigma :data:`BLUR_SIGMA`) of each image.
    X : ndarray of shape (n, d)
    image_shape : (H, W) or None
    background : ndarray of shape (m, d) or None
        Used by "mean" alone, and refused beside any other fill.
    name : str
        The explainer's name for ``fill`` ("baseline" for the gradient family), for
        messages.
    """
    n, d = X.shape
    if background is not None and not (isinstance(fill, str) and fill == "mean"):
        # Passed as shap's background is, it would be ignored: a raw table's features
        # then switch off to 0, silently.
        raise ValueError(
            f"background is used only by {name}='mean' (the mean of its rows), and "
            f"{name} is {_fill_text(fill)}; pass {name}='mean' with it, or leave it out"
        )
    if isinstance(fill, numbers.Real) and not isinstance(fill, bool):
        if not math.isfinite(fill):
            raise ValueError(f"{name} must be finite, got {fill}")
        return np.full((1, d), float(fill), dtype=X.dtype)
    if isinstance(fill, str):
        check_fill_name(fill, name)
        if fill in ("zero", "gray"):
            return np.full((1, d), 0.0 if fill == "zero" else 0.5, dtype=X.dtype)
        if fill == "mean":
            if background is None:
                raise ValueError(f"{name}='mean' needs background data: pass background=X_train")
            return background.mean(axis=0, keepdims=True).astype(X.dtype)
        if image_shape is None:
            raise ValueError(f"{name}='blur' needs image inputs; set image_shape=(H, W)")
        from scipy.ndimage import gaussian_filter

        images = X.reshape(n, *image_shape)
        return gaussian_filter(images, sigma=(0, BLUR_SIGMA, BLUR_SIGMA)).reshape(n, d)
    arr = check_array(fill, name=name, ndim=None)
    if arr.shape != (d,):
        raise ValueError(f"a {name} array must have shape ({d},), got {arr.shape}")
    return arr[None].astype(X.dtype)


def _fill_text(fill: Fill) -> str:
    """``fill`` as a message names it: an array by its shape, not every value."""
    return f"an array of shape {np.shape(fill)}" if np.ndim(fill) else repr(fill)


def check_fill_name(fill: Fill, name: str = "fill") -> None:
    """Reject an unknown fill name when it arrives, before any model query is spent."""
    if isinstance(fill, str) and fill not in FILL_NAMES:
        raise ValueError(f"{name} must be a number, an array or one of {FILL_NAMES}, got {fill!r}")


def check_background(
    background: object, d: int | None, blackbox: BlackBox | None = None
) -> np.ndarray | None:
    """Validate optional background data ``(m, d)``; a DataFrame's columns are matched
    to ``blackbox``'s by name, as :meth:`BlackBox.check_X` matches ``X``'s."""
    if background is None:
        return None
    if blackbox is not None:
        background = blackbox._by_columns(background, name="background")
    arr = check_array(background, name="background", ndim=None)
    arr = arr.reshape(arr.shape[0], -1)
    if d is not None and arr.shape[1] != d:
        raise ValueError(f"background must have {d} features, got {arr.shape[1]}")
    return arr
