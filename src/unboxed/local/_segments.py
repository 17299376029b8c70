"""Interpretable components: the units a perturbation explainer turns on and off.

A component set is a partition of the features of each instance, given as integer
labels ``(n_samples, n_features)`` with ids ``0 .. n_components_i - 1``. Pixels,
tabular features and superpixels are all partitions. Occlusion's overlapping
windows are not, so :class:`Windows` describes them separately; both expose the
same two operations the engine needs: ``perturb`` (component masks to perturbed
inputs) and ``spread`` (component scores back to features).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import (
    _is_finite_real,
    _scalar,
    check_array,
    check_number,
    check_positive_int,
    check_shape,
    is_int,
)

Segmenter = str | Callable[[np.ndarray], np.ndarray]

#: SLIC settings for grayscale images in [0, 1]. The default compactness (10) gives a
#: plain grid on such images; 0.1 gives about 37 segments that follow the strokes of a
#: 28x28 Fashion-MNIST or MNIST image.
SLIC_DEFAULTS = {"n_segments": 50, "compactness": 0.1}
QUICKSHIFT_DEFAULTS = {"kernel_size": 2, "max_dist": 6, "ratio": 0.5}
SEGMENTERS = ("slic", "quickshift", "grid", "pixels")


class SegmenterError(RuntimeError):
    """The segmenter raised an exception on one of the images."""


def segment(
    X: object,
    image_shape: tuple[int, ...] | None = None,
    *,
    method: Segmenter = "slic",
    **params: Any,
) -> np.ndarray:
    """Label the interpretable components of each instance.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Flat instances; images are read in C order with ``image_shape``.
    image_shape : tuple of int, optional
        ``(H, W)`` of a grayscale image. Needed by "slic", "quickshift" and "grid";
        "pixels" needs none, but checks one given against ``X``.
    method : {"slic", "quickshift", "grid", "pixels"} or callable
        "slic" and "quickshift" are scikit-image superpixels (defaults tuned for
        28x28 images in [0, 1]: :data:`SLIC_DEFAULTS`, :data:`QUICKSHIFT_DEFAULTS`);
        "grid" cuts square cells of side ``cell``; "pixels" makes every feature its
        own component, which also suits tabular data. A callable maps one image
        ``(H, W)`` to integer labels of the same shape (floats, bools and other
        kinds are refused).
    **params
        Passed to the segmenter, overriding the defaults. slic's ``mask``, ``(H, W)``
        bools (or 0/1 integers) with at least one pixel True, makes superpixels inside
        it only; the pixels outside are one component more, label 0, which an
        explainer switches on and off as one (a background whose share of the evidence
        is one number).

    Returns
    -------
    ndarray of shape (n_samples, n_features), int64
        Labels ``0 .. m_i - 1`` per row, contiguous, over every pixel.

    Warns
    -----
    UserWarning
        For "quickshift" with its default ``ratio`` and ``max_dist`` on images far
        beyond [0, 1] (below -1 or above 2): they cut many more segments there.
    """
    X = check_array(X, name="X", ndim=None)  # np.shape raised on a ragged list
    if X.ndim > 2:  # images: say how to pass them
        raise ValueError(
            f"X must be flat, shape (n_samples, n_features); got images of shape "
            f"{X.shape}: {_how_to_flatten(X.shape, image_shape)}"
        )
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {X.shape}")
    n, d = X.shape
    if method == "pixels":
        if params:
            raise TypeError(f"'pixels' takes no parameters, got {sorted(params)}")
        # It needs none, but one given for other data was ignored without a word.
        if image_shape is not None and math.prod(check_shape(image_shape, name="image_shape")) != d:
            raise ValueError(f"image_shape {image_shape!r} does not fit X's {d} features")
        return np.broadcast_to(np.arange(d), (n, d)).copy()
    shape = _check_image(image_shape, d, method)
    if method == "grid":
        # Python's own "grid_labels() got an unexpected keyword argument", else.
        _check_params(grid_labels, params, "grid", fixed=("shape",))
        return np.broadcast_to(grid_labels(shape, **params), (n, d)).copy()
    if method == "slic" and params.get("mask") is not None:
        _check_mask(params["mask"], shape)
    if method == "quickshift" and not {"ratio", "max_dist"} & set(params) and X.size:
        _warn_off_scale(X)
    one = _image_segmenter(method, params)
    labels = np.empty((n, d), dtype=np.int64)
    # scikit-image segments one image at a time; this is set-up, not the query loop.
    for i in range(n):
        try:
            raw = np.asarray(one(X[i].reshape(shape)))
        except Exception as err:
            if not callable(method):
                raise
            # A user's segmenter: say which one and on which image, and keep the cause.
            raise SegmenterError(
                f"the segmenter {getattr(method, '__name__', method)!r} raised on image {i}: "
                f"{type(err).__name__}: {err}"
            ) from err
        if raw.shape != shape:
            raise ValueError(f"the segmenter returned shape {raw.shape}, expected {shape}")
        if raw.dtype.kind not in "iu":
            # Each distinct value became a segment: a returned image (floats) gave one per
            # grey level, NaNs one in all. Precomputed segments= are refused alike.
            raise ValueError(
                f"the segmenter returned {raw.dtype} labels on image {i}; expected integer "
                "labels, one id per component"
            )
        labels[i] = np.unique(raw.ravel(), return_inverse=True)[1]
    return labels


def _how_to_flatten(shape: tuple[int, ...], image_shape: Any) -> str:
    """How to pass images of ``shape`` to :func:`segment`: as a batch of gray images
    ``(n, H, W)``, ``(n, 1, H, W)`` or ``(n, H, W, 1)``, unless ``image_shape`` says
    that ``shape`` is one image ``(H, W, C)``. The batch reading alone told one
    ``(8, 8, 1)`` image to pass image_shape=(8, 1): 8 images of a column each.

    Without ``image_shape``, ``(H, W, 1)`` is read as one channels-last image first: as
    a batch its images would be one pixel wide, which nothing segments. That reading
    is named too, so neither is taken for the user."""
    given = tuple(image_shape) if isinstance(image_shape, tuple | list) else None
    if len(shape) == 3 and given == shape[:2] != shape[1:]:
        if shape[2] == 1:
            return f"one {given} image with a channel axis: pass X.reshape(1, -1)"
        return (
            f"one {given} image with {shape[2]} channels; the segmenters read gray "
            "images: make it one channel, then pass X.reshape(1, -1)"
        )
    if len(shape) == 3 and shape[2] == 1 < shape[1] and given != shape[1:]:
        return (
            f"if it is one {shape[:2]} image with a channel axis, pass X.reshape(1, -1) "
            f"with image_shape={shape[:2]}; if {shape[0]} image{'s' * (shape[0] != 1)} of "
            f"{shape[1]}x1 pixels, X.reshape(len(X), -1) with image_shape={shape[1:]}"
        )
    pixels = shape[1:]
    if len(pixels) == 3 and 1 in (pixels[0], pixels[2]):  # a channel axis first or last
        pixels = pixels[1:] if pixels[0] == 1 else pixels[:2]
    if len(pixels) != 2:
        return "pass one gray image a row, X.reshape(len(X), -1), with image_shape=(H, W)"
    return f"pass X.reshape(len(X), -1) with image_shape={pixels}"


def grid_labels(shape: tuple[int, int], *, cell: int = 4) -> np.ndarray:
    """Square cells of side ``cell`` over an ``(H, W)`` image, as flat labels.

    Parameters
    ----------
    shape : (H, W)
        The image's shape, in pixels.
    cell : int, default=4
        The cells' side, in pixels, at least 1; cells on the right and bottom edges
        are cut off where ``cell`` does not divide ``W`` or ``H``.

    Returns
    -------
    ndarray of int of shape (H*W,)
        Each pixel's cell, numbered row by row from 0.
    """
    cell = check_positive_int(cell, name="cell")
    checked = check_shape(shape, name="shape")
    if len(checked) != 2:
        raise ValueError(f"shape must be (H, W), got {checked}")
    rows, cols = np.indices(checked)
    per_row = math.ceil(checked[1] / cell)
    return ((rows // cell) * per_row + cols // cell).ravel()


def _check_image(image_shape: Any, d: int, method: Segmenter) -> tuple[int, int]:
    if image_shape is None:
        raise ValueError(f"segmenter {method!r} needs image_shape=(H, W)")
    shape = check_shape(image_shape, name="image_shape")
    if len(shape) != 2 or math.prod(shape) != d:
        raise ValueError(f"image_shape must be (H, W) with H*W = {d}, got {image_shape!r}")
    return shape


def _image_segmenter(method: Segmenter, params: dict[str, Any]) -> Callable[[np.ndarray], Any]:
    if callable(method):
        return lambda image: method(image, **params)
    if method == "slic":
        from skimage.segmentation import slic

        _check_params(slic, params, "slic", fixed=("channel_axis", "start_label"))
        settings = {**SLIC_DEFAULTS, **params}
        # skimage divides by both (ZeroDivisionError for 0); it took a NaN compactness
        # as one segment and a negative one as its magnitude, without a word.
        check_positive_int(settings.get("n_segments", 100), name="n_segments")
        check_number(settings["compactness"], name="compactness")
        # max_num_iter=0 (or below) assigned no pixel: skimage's -1 everywhere, read as
        # one component; a max_size_factor below 0 raised numpy's "negative dimensions",
        # a NaN or infinite min_size_factor "cannot convert float NaN to integer".
        check_positive_int(settings.get("max_num_iter", 10), name="max_num_iter")
        check_number(settings.get("max_size_factor", 3), name="max_size_factor")
        check_number(settings.get("min_size_factor", 0.5), name="min_size_factor", strict=False)
        _check_sigma(settings)
        return lambda image: slic(image, channel_axis=None, start_label=0, **settings)
    if method == "quickshift":
        from skimage.segmentation import quickshift

        _check_params(quickshift, params, "quickshift", fixed=("channel_axis", "return_tree"))
        settings = {**QUICKSHIFT_DEFAULTS, **params}
        # skimage took a NaN kernel_size, and a negative max_dist, as a segment per
        # pixel without a word; it squares ratio, so -1 was 1.
        check_number(settings["kernel_size"], name="kernel_size")
        for name in ("max_dist", "ratio"):
            check_number(settings[name], name=name, strict=False)
        _check_sigma(settings)
        # quickshift works on colour images; a gray image is given as three equal channels.
        return lambda image: quickshift(np.dstack([image] * 3), **settings)
    raise ValueError(f"method must be one of {SEGMENTERS} or a callable, got {method!r}")


def _warn_off_scale(X: np.ndarray) -> None:
    """Warn where quickshift's defaults meet images far beyond [0, 1], the range they
    are tuned for: its colour distances grow with the scale, so the first 10 digits,
    24x24, cut 25.5 segments each in [0, 255] where in [0, 1] they cut 16.6. Not
    rescaled here: the scale may be meant. (slic rescales each image itself.)"""
    low, high = float(X.min()), float(X.max())
    if low < -1 or high > 2:
        warnings.warn(
            f"quickshift's defaults ({QUICKSHIFT_DEFAULTS}) are tuned for images in [0, 1], "
            f"but these lie in [{low:g}, {high:g}], which gives many more segments; scale "
            "the images to [0, 1], or pass ratio= and max_dist= for their range",
            UserWarning,
            stacklevel=3,
        )


def _check_mask(mask: object, shape: tuple[int, int]) -> None:
    """Refuse a slic ``mask`` of another shape than the image, or with no pixel in it:
    scikit-image raised numpy's "boolean index did not match" on the first, and
    "zero-size array to reduction operation minimum" on the second. A mask that is not
    bool, or 0/1 integers, is refused too: scikit-image casts it to bool, so a float
    mask's 0.5 (or a NaN) counted as inside, and -1 or 2 were inside without a word."""
    arr = np.asarray(mask)
    if arr.shape != shape:
        raise ValueError(f"mask must be one image's shape {shape}, got {arr.shape}")
    if arr.dtype != np.bool_ and not (arr.dtype.kind in "iu" and np.all((arr == 0) | (arr == 1))):
        held = arr.dtype if arr.dtype.kind not in "iu" else f"{arr.dtype} values other than 0 and 1"
        raise ValueError(
            f"mask must be bool (True inside), or 0/1 integers, got {held}; threshold "
            "it first, e.g. mask > 0.5"
        )
    if not np.any(arr):
        raise ValueError("mask holds no pixel; slic needs at least one to segment")


def _check_sigma(settings: dict[str, Any]) -> None:
    """Refuse a smoothing width below 0 or not finite, one or one per axis: slic took
    -1 and NaN as 0, no smoothing, and quickshift a NaN too."""
    sigma = settings.get("sigma", 0)
    widths = np.ravel(np.asarray(sigma, dtype=object))
    if not widths.size or not all(_is_finite_real(w) and w >= 0 for w in widths):
        raise ValueError(f"sigma must be a finite number >= 0, or one per axis, got {sigma!r}")


def _check_params(
    fn: Callable[..., Any], params: dict[str, Any], method: str, *, fixed: tuple[str, ...]
) -> None:
    """Refuse, before the first image, a parameter that scikit-image's ``fn`` does not
    take (it raised "slic() got an unexpected keyword argument" from inside skimage), or
    one that this module sets itself (``channel_axis`` of a gray image)."""
    taken = [p for p in inspect.signature(fn).parameters if p != "image" and p not in fixed]
    unknown = sorted(set(params) - set(taken))
    if unknown:
        raise TypeError(
            f"segment parameters {unknown} are not among those of method={method!r}: "
            f"{', '.join(taken)}"
        )


def flat_segments(
    segments: object,
    n: int,
    d: int,
    input_shape: tuple[int, ...] | None = None,
    *,
    what: str = "int labels",
) -> np.ndarray:
    """Segment labels as flat rows, from any shape that says unambiguously which
    feature each label belongs to.

    Besides flat rows ``(n, d)`` and one flat row ``(d,)`` for every row, labels are
    read in the black box's ``input_shape``: ``(n, *input_shape)`` or ``input_shape``
    for every row; and, for an image ``(C, H, W)`` or ``(H, W, C)``, in its pixels,
    ``(n, H, W)`` or ``(H, W)`` for every row, the same labels on each channel (the
    flat rows are the C-order ravel of ``input_shape``, as :meth:`BlackBox.check_X`
    reads X). A shape that more than one of these fits with different labels
    (``(3, 8, 8)`` for 3 rows of a ``(3, 8, 8)`` input: 3 rows' pixels, or one row's
    channels) is refused, as is any other shape.

    Parameters
    ----------
    segments : array-like of int
        The labels.
    n, d : int
        The number of rows and of flat features.
    input_shape : tuple of int, optional
        The black box's ``input_shape``; without it only the flat shapes are read.
    what : str
        What the labels must be, for the error message.

    Returns
    -------
    ndarray of shape (n, d)
        The labels (a read-only broadcast view where rows share them).

    Raises
    ------
    TypeError
        On a function, or a segmenter's name, where the labels belong.
    ValueError
        On labels that are not ints, or of a shape read none or several ways.
    """
    shapes = f"segments must be {what} of shape ({n}, {d}) or ({d},)"
    if callable(segments) or isinstance(segments, str):
        # np.asarray made a 0-d object (or str) array of it: "got object ()" said
        # neither what was given nor where it belongs.
        given = (
            f"the segmenter name {segments!r}"
            if isinstance(segments, str)
            else f"a function ({getattr(segments, '__name__', type(segments).__name__)!r})"
        )
        raise TypeError(
            f"{shapes}, got {given}: segments takes the labels themselves, an int array. "
            "A segmenter goes to the explainer's segmenter= (with segment_params=), or "
            "label X first with unboxed.local.segment(X, image_shape, method=...) and "
            "pass the labels it returns"
        )
    try:
        arr = np.asarray(segments)
    except ValueError as err:  # rows of different lengths
        raise ValueError(f"{shapes}; could not read them as an array: {err}") from None
    message = f"{shapes}, got {arr.dtype} {arr.shape}"
    readings = _readings(arr, n, d, input_shape)
    if not readings or arr.dtype.kind not in "iu":
        raise ValueError(message)
    (first, flat), *others = readings.items()
    for other, labels in others:
        if not np.array_equal(labels, flat):
            raise ValueError(
                f"{message}; it fits both {first} and {other}, which label the "
                "features differently: pass them flat"
            )
    return flat


def _readings(
    arr: np.ndarray, n: int, d: int, input_shape: tuple[int, ...] | None
) -> dict[str, np.ndarray]:
    """Every way ``arr`` fits :func:`flat_segments`' shapes, each as flat rows
    ``(n, d)``, by what it was read as."""
    found: dict[str, np.ndarray] = {}
    if arr.shape == (n, d):
        found[f"rows ({n}, {d})"] = arr
    if arr.shape == (d,):
        found[f"one row ({d},) shared by all rows"] = np.broadcast_to(arr, (n, d))
    shape = tuple(input_shape or ())
    if not shape or math.prod(shape) != d:  # no input_shape, or one X does not match
        return found
    if arr.shape == (n, *shape):
        found[f"rows of input_shape {shape}"] = arr.reshape(n, d)
    if arr.shape == shape:
        found[f"input_shape {shape} shared by all rows"] = np.broadcast_to(arr.reshape(d), (n, d))
    if len(shape) == 3:
        # An image's pixels, with the channels first (torch) or last.
        for axis, pixels in ((0, shape[1:]), (2, shape[:2])):
            place = (slice(None),) * (1 + axis) + (None,)
            pixels_name = f"({', '.join(map(str, pixels))}) pixels"
            channels = f"on all {shape[axis]} channels ({'first' if axis == 0 else 'last'} axis)"
            if arr.shape == (n, *pixels):
                labels = np.broadcast_to(arr[place], (n, *shape)).reshape(n, d)
                found[f"rows of {pixels_name} {channels}"] = labels
            if arr.shape == pixels:
                row = np.broadcast_to(arr[place[1:]], shape).reshape(d)
                found[f"{pixels_name} shared by all rows {channels}"] = np.broadcast_to(row, (n, d))
    return found


@dataclasses.dataclass(frozen=True)
class Partition:
    """Each instance's features split into disjoint components.

    Attributes
    ----------
    labels : ndarray of shape (n_samples, n_features), int
    counts : ndarray of shape (n_samples,), int
        Components per instance; the padded width is ``counts.max()``.
    """

    labels: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_labels(
        cls, labels: object, n: int, d: int, input_shape: tuple[int, ...] | None = None
    ) -> Partition:
        """Check integer labels of shape ``(n, d)`` or ``(d,)``, or in the black box's
        ``input_shape`` (:func:`flat_segments`), and relabel each row to
        ``0 .. m_i - 1`` if it skips ids."""
        arr = flat_segments(labels, n, d, input_shape)
        if n and arr.min() < 0:
            raise ValueError("segments must be non-negative")
        if n and arr.max() >= d:
            # Ids beyond the feature count (say, 10**9) would size the table below;
            # a row has at most d distinct ids, so rank them first (before the cast to
            # int64, which would wrap a uint64 id from 2**63 up to a negative one).
            arr = np.stack([np.unique(row, return_inverse=True)[1] for row in arr])
        arr = arr.astype(np.int64)
        width = int(arr.max()) + 1 if n else 0
        present = np.zeros((n, width), dtype=bool)
        np.put_along_axis(present, arr, True, axis=1)
        counts = present.sum(axis=1)
        if not np.all(present[np.arange(width) < counts[:, None]]):
            # Some row skips an id: relabel densely so padding stays at the end.
            rank = np.cumsum(present, axis=1) - 1
            arr = np.take_along_axis(rank, arr, axis=1)
        return cls(arr, counts)

    @property
    def width(self) -> int:
        return int(self.counts.max())

    def valid(self, n: int | None = None) -> np.ndarray:
        """Which padded component slots exist, shape ``(n, width)``."""
        return np.arange(self.width) < self.counts[:, None]

    def perturb(
        self, masks: np.ndarray, rows: slice, X: np.ndarray, fill: np.ndarray
    ) -> np.ndarray:
        """The perturbed inputs ``(r, S, d)`` for component masks ``(r, S, width)``:
        each feature keeps its value where its component is on, and takes ``fill``
        (``(r, d)`` or ``(1, d)``) where it is off.

        Each feature reads its component's column of masks, as whole rows of the masks
        transposed (one gather of ``S`` samples per feature), and one ``where`` picks
        the value. It was a batched matrix product, ``[z, 1 - z] @ [onehot * x;
        onehot * fill]``, exact too but of ``width x d`` one-hot terms per row: over
        784 pixels at ``n_samples=10`` a block of 409 rows held arrays of 2 to 4 GB
        of them and took 20 s, where this takes 0.1 s; on 37 superpixels at 1000
        samples it is 3 to 5 times faster.
        (The values are the same bit for bit, but for a ``-0.0`` in ``X``, which the
        product read as ``0.0``.)
        """
        labels = self.labels[rows]
        r, s, m = masks.shape
        d = labels.shape[1]
        # Row k * m + j of the transposed masks holds component j of row k's samples.
        columns = np.ascontiguousarray(masks.transpose(0, 2, 1)).reshape(r * m, s)
        which = (labels + m * np.arange(r)[:, None]).ravel()
        on = np.ascontiguousarray(columns[which].reshape(r, d, s).transpose(0, 2, 1))
        fills = np.broadcast_to(np.asarray(fill, dtype=X.dtype), X.shape)
        return np.where(on, X[:, None, :], fills[:, None, :])

    def spread(self, scores: np.ndarray) -> np.ndarray:
        """Per-feature values ``(n, d)``: each feature takes its component's score."""
        return np.take_along_axis(scores, self.labels, axis=1)

    def labelling(self, row: int) -> np.ndarray:
        """Row ``row``'s labels ``(d,)``, part of what seeds its draws."""
        return self.labels[row]


@dataclasses.dataclass(frozen=True)
class Windows:
    """Overlapping occlusion windows, the same for every instance.

    Attributes
    ----------
    members : ndarray of shape (n_windows, n_features), bool
    """

    members: np.ndarray

    @classmethod
    def sliding(
        cls, shape: tuple[int, ...], size: int | tuple[int, ...], stride: int | tuple[int, ...]
    ) -> Windows:
        """All windows of ``size`` placed every ``stride`` over ``shape``; the last
        window of each axis is moved flush with the edge so every feature is covered."""
        size_t = _per_axis(size, shape, "window")
        stride_t = _per_axis(stride, shape, "stride")
        _check_covered(size_t, stride_t)
        starts = [
            sorted({*range(0, extent - w + 1, s), extent - w})
            for extent, w, s in zip(shape, size_t, stride_t, strict=True)
        ]
        grids = np.meshgrid(*starts, indexing="ij")
        corners = np.stack([g.ravel() for g in grids], axis=1)
        coords = np.indices(shape).reshape(len(shape), -1).T  # (d, ndim)
        inside = (coords[None] >= corners[:, None]) & (
            coords[None] < corners[:, None] + np.array(size_t)
        )
        return cls(inside.all(axis=2))

    @property
    def width(self) -> int:
        return self.members.shape[0]

    def valid(self, n: int) -> np.ndarray:
        return np.ones((n, self.width), dtype=bool)

    def perturb(
        self, masks: np.ndarray, rows: slice, X: np.ndarray, fill: np.ndarray
    ) -> np.ndarray:
        """The perturbed inputs ``(r, S, d)``: a feature keeps its value unless some
        switched-off window covers it."""
        off = (~masks).astype(np.float32) @ self.members.astype(np.float32)
        return np.where(off == 0, X[:, None, :], np.broadcast_to(fill, X.shape)[:, None, :])

    def spread(self, scores: np.ndarray) -> np.ndarray:
        """Each feature gets the mean score of the windows that cover it (as Captum)."""
        members = self.members.astype(np.float64)
        return (scores @ members) / members.sum(axis=0)

    def labelling(self, row: int) -> None:
        """None: the windows are the same for every row, so they add nothing to its seed."""
        return None


def check_window(window: object, stride: object) -> None:
    """Refuse, before any input is seen, a window or stride that fits no input: not a
    positive int nor a tuple of them, tuples of different lengths, or a stride larger
    than the window (:meth:`Windows.sliding` checks them again against the input).

    Parameters
    ----------
    window, stride : int, tuple of int or None
        As given to :class:`~unboxed.local.Occlusion`; None is its default.

    Raises
    ------
    ValueError
    """
    given = {}
    for name, value in (("window", window), ("stride", stride)):
        if value is None:
            continue
        try:
            # _scalar: a 0-d array is the one int it holds, as check_shape reads each item.
            single = is_int(_scalar(value))
            given[name] = check_shape((value,) if single else value, name=name)
        except ValueError:
            raise ValueError(
                f"{name} must be a positive int or one per axis of the input, got {value!r}"
            ) from None
    if len(given) < 2:
        return
    size_t, stride_t = given["window"], given["stride"]
    if len(size_t) > 1 and len(stride_t) > 1 and len(size_t) != len(stride_t):
        raise ValueError(
            f"window {size_t} and stride {stride_t} have different numbers of axes; give "
            "one value per axis of the input to each, or an int for all axes"
        )
    # An int stands for the same value on every axis.
    n_axes = max(len(size_t), len(stride_t))
    _check_covered(size_t * (n_axes // len(size_t)), stride_t * (n_axes // len(stride_t)))


def _check_covered(size_t: tuple[int, ...], stride_t: tuple[int, ...]) -> None:
    if any(s > w for s, w in zip(stride_t, size_t, strict=True)):
        raise ValueError(
            f"stride {stride_t} is larger than the window {size_t}: the features "
            "between windows would never be covered"
        )


def _per_axis(value: int | tuple[int, ...], shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    single = is_int(_scalar(value))  # np.asarray(2) is 2, as check_window reads it
    try:
        values = check_shape((value,) * len(shape) if single else value, name=name)
    except ValueError:
        values = ()
    if len(values) != len(shape):
        raise ValueError(f"{name} must be a positive int or one per axis of {shape}, got {value!r}")
    if any(v > s for v, s in zip(values, shape, strict=True)):
        raise ValueError(f"{name} {values} is larger than the input {shape}")
    return tuple(int(v) for v in values)
