"""Exact local linear models of piecewise-linear networks: the OpenBox closed form.

``003_9368caac562d9b13.txt`` Sec. 5.1, eq. 5 (after Chu et al. 2018): on the region
``Omega`` of inputs that share one activation pattern, the network is the affine map
``f(x) = W~ x + b~``, with ``W~ = df/dx`` and ``b~ = (df/db)^T b``. Fixing the pattern
makes every activation a diagonal matrix ``D_l`` (the slopes of the chosen pieces) plus
an offset ``t_l`` (their intercepts), so for a fully connected network

    W~ = W_L D_{L-1} W_{L-1} ... D_1 W_1,
    b~ = W_L (D_{L-1} (... (D_1 b_1 + t_1) ...) + t_{L-1}) + b_L.

``W~`` is built from the output backwards (so the cost grows with the few outputs, not
with the width of the input), ``b~`` by a forward pass of the offsets alone. Convolution,
average pooling, flattening, dropout and batch norm in eval mode are affine and pass
through by their own vector-Jacobian product; max pooling is piecewise linear, its
pattern being the index each window picks.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn
from torch.nn import functional as F

from .._progress import progress
from .._ranks import descending_order
from .._validation import (
    batch_shapes,
    check_array,
    check_labels,
    check_names,
    check_not_one_sample,
    check_positive_int,
    check_shape,
    frame_index,
    input_shapes,
    is_int,
)
from ..explanation import Attribution, make_meta
from ..zoo._models import ZooModel, check_finite_weights
from ._linearize import (
    PIECEWISE,
    SMOOTH,
    PiecewiseActivation,
    PiecewiseLinear,
    check_forward_kept,
    torch_network,
)

#: Layers that are affine in eval mode and pass through by their VJP.
AFFINE = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    # Every dropout is the identity in eval mode, the mode of the float64 copy.
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
)
#: Element-wise activations that are exactly piecewise linear (ReLU6 is a Hardtanh):
#: those linearize keeps as they are.
ELEMENTWISE = PIECEWISE
#: Activations that :func:`to_plnn` linearises: named in the error as its job.
SMOOTH_HINT = SMOOTH


def _exact_piecewise(layer: nn.Module) -> PiecewiseLinear:
    """A piecewise-linear activation layer as its exact :class:`PiecewiseLinear`."""
    if isinstance(layer, PiecewiseActivation):
        return layer.function
    if isinstance(layer, nn.ReLU):
        return _known_piecewise("relu")
    if isinstance(layer, nn.LeakyReLU):
        return _known_piecewise("leaky", float(layer.negative_slope))
    if isinstance(layer, nn.PReLU):
        # One learned slope: a LeakyReLU. With one per channel, _channel_slopes holds
        # them, and they replace this function's slope left of 0 (_piece_lines).
        slope = float(layer.weight.detach().reshape(-1)[0]) if layer.weight.numel() == 1 else 0.0
        return _known_piecewise("leaky", slope)
    if isinstance(layer, nn.Hardtanh):
        return _known_piecewise("hardtanh", float(layer.min_val), float(layer.max_val))
    if isinstance(layer, nn.Hardsigmoid):
        return _known_piecewise("hardsigmoid")
    if isinstance(layer, nn.Threshold):
        return _known_piecewise("threshold", float(layer.threshold), float(layer.value))
    raise TypeError(f"{type(layer).__name__} is not a piecewise-linear activation")


def _channel_slopes(layer: nn.Module, ndim: int) -> torch.Tensor | None:
    """A PReLU's learned slopes when it has one per channel, else None.

    Parameters
    ----------
    layer : nn.Module
    ndim : int
        The dimensions of the layer's input, ``(n, C, *spatial)``.

    Returns
    -------
    tensor of shape (1, C, 1, ...) with ``ndim`` dimensions, or None
        Broadcast over the input as torch's PReLU does: channels along dimension 1.
    """
    if not isinstance(layer, nn.PReLU) or layer.weight.numel() == 1:
        return None
    return layer.weight.detach().reshape(1, -1, *[1] * (ndim - 2))


def _piece_lines(
    function: PiecewiseLinear,
    pattern: torch.Tensor,
    dtype: torch.dtype,
    channel_slopes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The slope and intercept of the piece each unit is on.

    Parameters
    ----------
    function : PiecewiseLinear
    pattern : long tensor of shape (n, *shape)
    dtype : torch.dtype
    channel_slopes : tensor broadcastable to (n, *shape), optional
        Slopes on piece 0 per channel (:func:`_channel_slopes`), in place of
        ``function.slopes[0]``.

    Returns
    -------
    slopes, intercepts : tensor of shape (n, *shape)
    """
    slopes = torch.tensor(function.slopes, dtype=dtype)[pattern]
    intercepts = torch.tensor(function.intercepts, dtype=dtype)[pattern]
    if channel_slopes is not None:
        slopes = torch.where(pattern == 0, channel_slopes.to(dtype), slopes)
    return slopes, intercepts


@functools.lru_cache(maxsize=64)
def _known_piecewise(name: str, *params: float) -> PiecewiseLinear:
    """ReLU, LeakyReLU (slope), Hardtanh (min, max), Hardsigmoid or Threshold
    (threshold, value), built once per setting: every forward pass asks for it, and
    building and checking one cost more than a small network's layer (its arrays are
    read-only, so sharing it is safe)."""
    if name == "relu":
        return PiecewiseLinear(np.array([0.0]), np.array([0.0, 1.0]), np.zeros(2), 0.0, name)
    if name == "leaky":
        return PiecewiseLinear(np.array([0.0]), np.array([params[0], 1.0]), np.zeros(2), 0.0, name)
    if name == "hardsigmoid":
        # relu6(x + 3) / 6: 0 up to -3, x / 6 + 1/2 up to 3, then 1 (torch's definition).
        return PiecewiseLinear(
            np.array([-3.0, 3.0]),
            np.array([0.0, 1.0 / 6.0, 0.0]),
            np.array([0.0, 0.5, 1.0]),
            0.0,
            name,
        )
    if name == "threshold":
        # x if x > threshold else value: the threshold itself is on the left piece, as
        # PiecewiseLinear puts a breakpoint; it jumps there unless value == threshold.
        threshold, value = params
        return PiecewiseLinear(
            np.array([threshold]), np.array([0.0, 1.0]), np.array([value, 0.0]), 0.0, name
        )
    lo, hi = params
    return PiecewiseLinear(
        np.array([lo, hi]), np.array([0.0, 1.0, 0.0]), np.array([lo, 0.0, hi]), 0.0, name
    )


def _flatten_layers(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The leaf layers of nested ``nn.Sequential`` containers, in order, with their names."""
    if isinstance(module, nn.Sequential):
        if type(module).forward is not nn.Sequential.forward:
            # A residual block written as a Sequential subclass: its layers in a row
            # would drop what its own forward adds.
            raise ValueError(
                f"layer {prefix.rstrip('.') or type(module).__name__!r} "
                f"({type(module).__name__}) subclasses Sequential but overrides its forward, "
                "so LinearRegions cannot read it as its layers in a row"
            )
        layers = []
        for name, child in module.named_children():
            layers.extend(_flatten_layers(child, f"{prefix}{name}."))
        return layers
    return [(prefix.rstrip(".") or type(module).__name__, module)]


#: Every layer class LinearRegions reads: by its type, never by running it alone.
KNOWN = AFFINE + ELEMENTWISE + (nn.MaxPool1d, nn.MaxPool2d)


def _check_layers(layers: list[tuple[str, nn.Module]]) -> None:
    """Raise a ``ValueError`` naming the first layer that is not (piecewise) linear."""
    for i, (name, layer) in enumerate(layers):
        if i == len(layers) - 1 and isinstance(layer, (nn.Softmax, nn.LogSoftmax)):
            # A classifier's usual last layer: the list of supported layers did not say
            # that the logits before it are what is read.
            raise ValueError(
                f"layer {name!r} ({type(layer).__name__}) turns the logits into "
                "probabilities, which are not piecewise linear; LinearRegions reads logits: "
                "pass the network without it (for an nn.Sequential, module[:-1])"
            )
        if isinstance(layer, KNOWN):
            check_forward_kept(name, layer, KNOWN, "LinearRegions")
            if isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)) and layer.ceil_mode:
                raise ValueError(f"LinearRegions does not support ceil_mode in layer {name!r}")
            if isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)) and layer.return_indices:
                raise ValueError(
                    f"layer {name!r} returns its indices, so the network cannot run as a "
                    "plain nn.Sequential; build it with return_indices=False"
                )
            if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and layer.running_mean is None:
                # Without running statistics it normalises every batch by that batch's
                # own mean and variance, even in eval mode: not an affine map of x.
                raise ValueError(
                    f"layer {name!r} has track_running_stats=False, so it is not affine: it "
                    "normalises each batch by its own statistics. Train it with running "
                    "statistics, or fold it into the layer before"
                )
            continue
        if isinstance(layer, SMOOTH_HINT):
            raise ValueError(
                f"layer {name!r} ({type(layer).__name__}) is not piecewise linear; convert "
                "the network with unboxed.piecewise.to_plnn(module, n_pieces) first"
            )
        raise ValueError(
            f"LinearRegions cannot handle layer {name!r} ({type(layer).__name__}); it supports "
            "Linear, Conv1d/2d, AvgPool1d/2d, MaxPool1d/2d, Flatten, Dropout (any kind), "
            "BatchNorm (eval), "
            "ReLU, LeakyReLU, PReLU, Hardtanh, ReLU6, Hardsigmoid, Threshold and "
            "PiecewiseActivation inside nn.Sequential"
        )


# ---------------------------------------------------------------- the math
def _elementwise_forward(
    function: PiecewiseLinear,
    z: torch.Tensor,
    offset: torch.Tensor,
    channel_slopes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One piecewise-linear activation on values and on the offset pass.

    Parameters
    ----------
    function : PiecewiseLinear
    z : tensor of shape (n, *shape)
        The pre-activations.
    offset : tensor of shape (n, *shape)
        The offset pass ``b~`` so far (the network's value at input 0 along the region).
    channel_slopes : tensor, optional
        A PReLU's slopes per channel (:func:`_channel_slopes`).

    Returns
    -------
    pattern : long tensor of shape (n, *shape)
        The piece each unit is on.
    value : tensor of shape (n, *shape)
        ``slope[pattern] * z + intercept[pattern]``.
    offset : tensor of shape (n, *shape)
        ``slope[pattern] * offset + intercept[pattern]``.
    """
    pattern = function.piece_index(z)
    slopes, intercepts = _piece_lines(function, pattern, z.dtype, channel_slopes)
    return pattern, slopes * z + intercepts, slopes * offset + intercepts


def _elementwise_backward(
    function: PiecewiseLinear,
    pattern: torch.Tensor,
    grad: torch.Tensor,
    channel_slopes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multiply the output-row map by ``D`` (eq. 5): ``grad * slope[pattern]``.

    Parameters
    ----------
    function : PiecewiseLinear
    pattern : long tensor of shape (n, *shape)
    grad : tensor of shape (n, k, *shape)
        Row ``k`` is the map from this layer's output to output ``k``.
    channel_slopes : tensor, optional
        A PReLU's slopes per channel (:func:`_channel_slopes`).

    Returns
    -------
    tensor of shape (n, k, *shape)
    """
    slopes, _ = _piece_lines(function, pattern, grad.dtype, channel_slopes)
    return grad * slopes.unsqueeze(1)


def _linear_backward(weight: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``grad @ W`` for a linear layer ``y = W x + b``.

    Parameters
    ----------
    weight : tensor of shape (out, in)
    grad : tensor of shape (n, k, out)

    Returns
    -------
    tensor of shape (n, k, in)
    """
    return grad @ weight


def _affine_backward(
    layer: nn.Module, in_shape: tuple[int, ...], grad: torch.Tensor
) -> torch.Tensor:
    """The vector-Jacobian product of an affine layer, which does not depend on its input.

    Parameters
    ----------
    layer : nn.Module
        Affine in eval mode (convolution, average pooling, flatten, ...).
    in_shape : tuple of int
        The shape of one input of the layer.
    grad : tensor of shape (n, k, *out_shape)

    Returns
    -------
    tensor of shape (n, k, *in_shape)
    """
    n, k = grad.shape[:2]
    x = torch.zeros((n * k, *in_shape), dtype=grad.dtype, requires_grad=True)
    with torch.enable_grad():
        y = layer(x)
        (back,) = torch.autograd.grad(y, x, grad_outputs=grad.reshape(y.shape))
    return back.reshape(n, k, *in_shape)


def _maxpool_forward(
    layer: nn.MaxPool1d | nn.MaxPool2d, z: torch.Tensor, offset: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Max pooling: the pattern is the flat index each window picks in its channel.

    Parameters
    ----------
    layer : nn.MaxPool1d or nn.MaxPool2d
    z, offset : tensor of shape (n, C, *spatial)

    Returns
    -------
    pattern : long tensor of shape (n, C, *out_spatial)
    value, offset : tensor of shape (n, C, *out_spatial)
    """
    pool = F.max_pool2d if isinstance(layer, nn.MaxPool2d) else F.max_pool1d
    value, pattern = pool(
        z,
        layer.kernel_size,
        layer.stride,
        layer.padding,
        layer.dilation,
        ceil_mode=False,
        return_indices=True,
    )
    flat = offset.flatten(2).gather(2, pattern.flatten(2))
    return pattern, value, flat.reshape(value.shape)


def _maxpool_backward(
    pattern: torch.Tensor, in_shape: tuple[int, ...], grad: torch.Tensor
) -> torch.Tensor:
    """Route each output's row back to the input its window picked (summing overlaps).

    Parameters
    ----------
    pattern : long tensor of shape (n, C, *out_spatial)
    in_shape : tuple of int
        ``(C, *spatial)`` of the layer's input.
    grad : tensor of shape (n, k, C, *out_spatial)

    Returns
    -------
    tensor of shape (n, k, *in_shape)
    """
    n, k, channels = grad.shape[:3]
    index = pattern.flatten(2).unsqueeze(1).expand(n, k, channels, -1)
    out = torch.zeros((n, k, channels, math.prod(in_shape[1:])), dtype=grad.dtype)
    out.scatter_add_(3, index, grad.flatten(3))
    return out.reshape(n, k, *in_shape)


class _NoPolytopes(ValueError):
    """:meth:`LinearRegions.polytope` refuses a network it reads (max pooling), so
    plot_decision_boundaries can tell this refusal from its region walk's errors."""


@dataclasses.dataclass(frozen=True, eq=False)
class RegionCounts:
    """The linear regions a data set visits.

    Attributes
    ----------
    patterns : ndarray of shape (n_regions, n_units)
        One activation pattern per region, the most visited first.
    counts : ndarray of shape (n_regions,)
        How many inputs fall in each region.
    region : ndarray of shape (n_samples,)
        The row of ``patterns`` each input falls in.
    """

    patterns: np.ndarray
    counts: np.ndarray
    region: np.ndarray

    @property
    def n_regions(self) -> int:
        """The number of distinct regions visited: entries of ``counts``."""
        return int(self.counts.size)


def _pattern_codes(patterns: list[torch.Tensor | None], n: int) -> np.ndarray:
    """The per-layer patterns of :meth:`LinearRegions._forward` for ``n`` rows as one
    ``(n, n_units)`` int array, units in layer order (a network with no piecewise
    layer has none)."""
    flat = [p.reshape(n, -1) for p in patterns if p is not None]
    return torch.cat(flat, dim=1).numpy() if flat else np.zeros((n, 0), np.int64)


class LinearRegions:
    """The exact local linear model of a piecewise-linear network at each input.

    Parameters
    ----------
    module : torch.nn.Module or unboxed.BlackBox
        An ``nn.Sequential`` (nesting allowed) of Linear, Conv1d/2d, AvgPool, MaxPool,
        Flatten, Dropout (any kind), BatchNorm (all in eval mode), ReLU, LeakyReLU,
        PReLU (one learned slope, or one per channel), Hardtanh, ReLU6, Hardsigmoid,
        Threshold (a jump where ``value`` differs from ``threshold``) and
        :class:`PiecewiseActivation` layers, returning logits. A subclass of one of
        these counts as it only if it keeps its ``forward``: one that overrides it is
        refused, as its function is not known. A torch ``BlackBox`` is unwrapped.
        Smooth networks go through :func:`to_plnn` first.
    input_shape : tuple of int, optional
        The shape of one input; read from a zoo model or black box, or from the first
        linear layer of a fully connected network.
    batch_size : int
        Inputs processed at once.
    class_names : sequence, optional
        A name for each output (its class), for the plots of :meth:`explain`'s
        attributions; where this is None, a black box's
        :attr:`~unboxed.BlackBox.class_names` or a zoo model's
        :attr:`~unboxed.zoo.ZooModel.class_names`.
    verbose : bool
        Show a progress bar over the batches of a call (the regions of 10,000
        Fashion-MNIST images took 28.8 s for the benchmark's LeNet).

    Attributes
    ----------
    n_features_in_ : int
    n_outputs_ : int
    class_names_ : tuple of str or None
        ``class_names`` as text, one per output.
    feature_names_ : tuple of str or None
        A black box's ``feature_names``, which :meth:`explain`'s attributions carry; a
        DataFrame is then read by its column names, as the black box reads it.
    input_shape_ : tuple of int
    layers_ : list of (name, module)
        The flattened layers, a float64 copy of the network's on the CPU (whatever
        device the network is on).
    """

    def __init__(
        self,
        module: Any,
        *,
        input_shape: tuple[int, ...] | None = None,
        batch_size: int = 256,
        class_names: Any = None,
        verbose: bool = False,
    ) -> None:
        from ..blackbox import BlackBox

        # A black box's columns name the features and read a DataFrame.
        blackbox = module if isinstance(module, BlackBox) else None
        module = torch_network(module, reader="LinearRegions")
        if blackbox is not None:
            if blackbox.output != "logits":
                raise TypeError(
                    "LinearRegions needs a torch black box that returns logits, got "
                    f"{blackbox!r} with output={blackbox.output!r}"
                )
            input_shape = input_shape or blackbox.input_shape
            if class_names is None:
                class_names = blackbox.class_names
        if class_names is None and isinstance(module, ZooModel):
            # zoo.train and zoo.load name a zoo model's classes, and to_plnn's copy keeps
            # them: read, as its input_shape is, where the attributions titled "class 1".
            class_names = module.class_names
        self.module = module
        self._blackbox = blackbox
        self.batch_size = check_positive_int(batch_size, name="batch_size")
        self.verbose = bool(verbose)
        layers = _flatten_layers(module)
        _check_layers(layers)
        if input_shape is None:
            input_shape = getattr(module, "input_shape", None)
        if input_shape is None:
            first = next((m for _, m in layers if isinstance(m, nn.Linear)), None)
            if first is None or not isinstance(layers[0][1], (nn.Linear, nn.Flatten)):
                raise ValueError("pass input_shape: it cannot be read from this network")
            input_shape = (first.in_features,)
        try:
            check_finite_weights(module, what="LinearRegions")
        except FloatingPointError as err:
            raise ValueError(f"{err}: every region's W~ and b~ would be NaN") from None
        self.input_shape_ = check_shape(input_shape)
        self.n_features_in_ = math.prod(self.input_shape_)
        # float64 so that W~ x + b~ matches the logits to rounding, not to float32 noise;
        # on the CPU, where the region arrays are read, whatever device the network is on.
        copied = copy.deepcopy(nn.Sequential(*[m for _, m in layers]))
        copied = copied.to("cpu", torch.float64).eval()
        self.layers_ = [(name, copied[i]) for i, (name, _) in enumerate(layers)]
        try:
            with torch.no_grad():
                out = self._forward(torch.zeros((1, *self.input_shape_), dtype=torch.float64))[0]
        except RuntimeError as err:
            raise ValueError(
                f"the network does not take inputs of shape {self.input_shape_}: {err}"
            ) from err
        if out.ndim != 2:
            raise ValueError(
                f"the network must return (n, n_outputs) logits, got {tuple(out.shape)}"
            )
        self.n_outputs_ = int(out.shape[1])
        self.class_names_ = check_names(class_names, self.n_outputs_, name="class_names")

    # ------------------------------------------------------------------ internals
    def _check_X(self, X: object) -> np.ndarray:
        if self._blackbox is not None:  # a DataFrame by its column names, as the black box
            X = self._blackbox._by_columns(X, name="X")
        arr = check_array(X, ndim=None)
        if arr.ndim >= 2 and arr.shape[1:] == self.input_shape_:
            arr = arr.reshape(arr.shape[0], -1)
        if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
            check_not_one_sample(arr, self.input_shape_, X=X)
            raise ValueError(f"X has shape {arr.shape}; expected {batch_shapes(self.input_shape_)}")
        return arr

    def _forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor | None], list[tuple[int, ...]]]:
        """Values, offsets ``b~``, per-layer patterns and per-layer input shapes."""
        offset = torch.zeros_like(x)
        patterns: list[torch.Tensor | None] = []
        shapes: list[tuple[int, ...]] = []
        for _, layer in self.layers_:
            shapes.append(tuple(x.shape[1:]))
            if isinstance(layer, ELEMENTWISE):
                pattern, x, offset = _elementwise_forward(
                    _exact_piecewise(layer), x, offset, _channel_slopes(layer, x.ndim)
                )
            elif isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)):
                pattern, x, offset = _maxpool_forward(layer, x, offset)
            else:
                pattern, x, offset = None, layer(x), layer(offset)
            patterns.append(pattern)
        return x, offset, patterns, shapes

    def _forward_batch(self, X: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """The logits and the activation pattern of rows ``start..`` of ``X``, one
        batch: the network's values of the whole of ``X`` at once grew with it."""
        rows = X[start : start + self.batch_size]
        x = torch.as_tensor(rows, dtype=torch.float64).reshape(-1, *self.input_shape_)
        with torch.no_grad():
            out, _, patterns, _ = self._forward(x)
        return out.numpy(), _pattern_codes(patterns, rows.shape[0])

    def _batch(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = torch.as_tensor(X, dtype=torch.float64).reshape(-1, *self.input_shape_)
        with torch.no_grad():
            out, offset, patterns, shapes = self._forward(x)
            n, k = out.shape
            grad = torch.eye(k, dtype=torch.float64).expand(n, k, k)
            for (_, layer), pattern, shape in zip(
                reversed(self.layers_), reversed(patterns), reversed(shapes), strict=True
            ):
                if isinstance(layer, ELEMENTWISE):
                    grad = _elementwise_backward(
                        _exact_piecewise(layer),
                        cast(torch.Tensor, pattern),
                        grad,
                        _channel_slopes(layer, len(shape) + 1),
                    )
                elif isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)):
                    grad = _maxpool_backward(cast(torch.Tensor, pattern), shape, grad)
                elif isinstance(layer, nn.Linear):
                    grad = _linear_backward(layer.weight, grad)
                else:
                    grad = _affine_backward(layer, shape, grad)
        return grad.reshape(n, k, -1).numpy(), offset.numpy(), _pattern_codes(patterns, n)

    def _starts(self, n_rows: int, per_batch: int, what: str) -> Any:
        """The first row of each batch of ``per_batch`` of ``n_rows``, under a progress
        bar where :attr:`verbose`."""
        starts = range(0, n_rows, per_batch)
        return progress(starts, verbose=self.verbose, desc=f"LinearRegions {what}", unit="batch")

    # ------------------------------------------------------------------ public
    def local_linear(self, X: object) -> tuple[np.ndarray, np.ndarray]:
        """``W~`` and ``b~`` of each input's region (eq. 5): ``logits = W~ x + b~``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        W : ndarray of shape (n_samples, n_outputs, n_features)
        b : ndarray of shape (n_samples, n_outputs)
        """
        X = self._check_X(X)
        W = np.empty((X.shape[0], self.n_outputs_, self.n_features_in_))
        b = np.empty((X.shape[0], self.n_outputs_))
        for start in self._starts(X.shape[0], self.batch_size, "local models"):
            stop = start + self.batch_size
            W[start:stop], b[start:stop], _ = self._batch(X[start:stop])
        return W, b

    def logits(self, X: object) -> np.ndarray:
        """The network's logits, computed in float64.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
        """
        X = self._check_X(X)
        starts = self._starts(X.shape[0], self.batch_size, "logits")
        return np.concatenate([self._forward_batch(X, start)[0] for start in starts])

    def activation_pattern(self, X: object) -> np.ndarray:
        """The region of each input: the piece every unit is on, and each max-pool choice.

        Inputs with equal rows share ``W~`` and ``b~``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        ndarray of shape (n_samples, n_units), int64
            Units in layer order, each layer flattened in C order.
        """
        X = self._check_X(X)
        starts = self._starts(X.shape[0], self.batch_size, "patterns")
        return np.concatenate([self._forward_batch(X, start)[1] for start in starts])

    def regions(self, X: object) -> RegionCounts:
        """The distinct regions ``X`` visits, with how many inputs fall in each.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        RegionCounts
            The regions ordered by how many inputs they hold, most first (ties in
            the lexicographic order of their patterns).
        """
        patterns = self.activation_pattern(X)
        unique, region, counts = np.unique(
            patterns, axis=0, return_inverse=True, return_counts=True
        )
        order = descending_order(counts)
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return RegionCounts(unique[order], counts[order], rank[region.ravel()])

    def decision_features(
        self, X: object, class_a: int, class_b: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The decision hyperplane between two classes in each input's region.

        ``(W~_a - W~_b) x + (b~_a - b~_b) > 0`` where the network prefers ``class_a``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        class_a, class_b : int
            Two output classes, each in ``[0, n_outputs)``.

        Returns
        -------
        weights : ndarray of shape (n_samples, n_features)
        bias : ndarray of shape (n_samples,)
        """
        for c in (class_a, class_b):
            if not is_int(c):
                raise ValueError(f"classes must be ints, got {c!r}")
            if not 0 <= c < self.n_outputs_:
                raise ValueError(f"classes must lie in [0, {self.n_outputs_}), got {c}")
        W, b = self.local_linear(X)
        return W[:, class_a] - W[:, class_b], b[:, class_a] - b[:, class_b]

    def polytope(self, x: object) -> tuple[np.ndarray, np.ndarray]:
        """The inequalities ``H z <= h`` that bound the region of one input ``x``.

        Each unit on piece ``p`` of its activation contributes ``breakpoint[p-1] <=
        pre-activation(z)`` and ``pre-activation(z) <= breakpoint[p]`` (where they exist),
        with the pre-activation written as an affine function of the input ``z``.

        Parameters
        ----------
        x : array-like of shape (n_features,) or input_shape

        Returns
        -------
        H : ndarray of shape (n_constraints, n_features)
        h : ndarray of shape (n_constraints,)

        Raises
        ------
        ValueError
            For a network with max pooling, whose window constraints are not produced.
        """
        x = check_array(x, name="x", ndim=None)
        if x.size != self.n_features_in_:  # two rows read as one input of twice the size
            shapes = input_shapes(self.n_features_in_, self.input_shape_)
            raise ValueError(
                f"x must be one input, of shape {' or '.join(map(str, shapes))}, got shape "
                f"{x.shape}; a region is one input's: call polytope once per row"
            )
        return self._polytopes(self._check_X(x.reshape(1, -1)))[0]

    def _polytopes(self, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`polytope` of every row of a checked ``X``, batched: ``batch_size``
        rows of the linear parts go through the network at once."""
        per_batch = max(1, self.batch_size // self.n_features_in_)
        found = []
        for start in self._starts(X.shape[0], per_batch, "polytopes"):
            found += self._polytope_batch(X[start : start + per_batch])
        return found

    def _polytope_batch(self, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        n, d, shape = X.shape[0], self.n_features_in_, self.input_shape_
        value = torch.as_tensor(X, dtype=torch.float64).reshape(n, *shape)
        # A holds the linear part of every unit as a batch of d "inputs" per row (one
        # per basis vector), c the constant part, so a unit's value is
        # sum_j A[i, j] z_j + c[i] for row i.
        A = torch.eye(d, dtype=torch.float64).repeat(n, 1).reshape(n * d, *shape)
        c = torch.zeros_like(value)
        rows, bounds, kept = [], [], []  # per constraint block: (n, U, d), (n, U), (n, U)
        with torch.no_grad():
            for name, layer in self.layers_:
                if isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)):
                    raise _NoPolytopes(
                        f"polytope does not produce the constraints of max-pool layer {name!r}"
                    )
                if isinstance(layer, ELEMENTWISE):
                    function = _exact_piecewise(layer)
                    unit_pattern = function.piece_index(value)
                    slopes, icpt = _piece_lines(
                        function,
                        unit_pattern,
                        torch.float64,
                        _channel_slopes(layer, value.ndim),
                    )
                    value = slopes * value + icpt
                    slopes, icpt = slopes.reshape(n, -1), icpt.reshape(n, -1)
                    pattern = unit_pattern.reshape(n, -1)
                    lin, const = A.reshape(n, d, -1).transpose(1, 2), c.reshape(n, -1)
                    if function.n_pieces > 1:
                        breaks = torch.tensor(function.breakpoints, dtype=torch.float64)
                        last = function.n_pieces - 2
                        rows += [-lin, lin]
                        bounds.append(const - breaks[(pattern - 1).clamp(0, last)])
                        bounds.append(breaks[pattern.clamp(0, last)] - const)
                        kept += [pattern > 0, pattern < function.n_pieces - 1]
                    A = (A.reshape(n, d, -1) * slopes[:, None]).reshape(A.shape)
                    c = c * slopes.reshape(c.shape) + icpt.reshape(c.shape)
                else:
                    zero = layer(torch.zeros_like(c[:1]))
                    A = layer(A) - zero
                    c = layer(c)
                    value = layer(value)
        if not rows:
            return [(np.zeros((0, d)), np.zeros(0))] * n
        H, h, keep = (torch.cat(part, dim=1).numpy() for part in (rows, bounds, kept))
        return [(H[i][keep[i]], h[i][keep[i]]) for i in range(n)]

    def explain(
        self, X: object, *, target: object = None, kind: str = "contribution"
    ) -> Attribution:
        """Exact per-feature contributions ``W~_c,j * x_j`` to the logit of class ``c``.

        They sum, with ``b~_c``, to the logit exactly (eq. 5).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        target : int or array-like of shape (n_samples,), optional
            The class explained per row (an output's index); the predicted class by
            default.
        kind : {"contribution", "weight"}
            ``W~_c * x`` or the local weights ``W~_c`` themselves.

        Returns
        -------
        Attribution
            With ``kind="contribution"``, ``meta["intercept"]`` holds each row's
            ``b~_c`` and ``meta["delta"]`` its completeness gap ``sum(values) + b~_c -
            logit_c``, the logit from the network's own forward pass in float64 (as for
            integrated gradients; about 1e-14 when the region's linear model is exact),
            and ``meta["max_abs_delta"]`` the largest gap.
        """
        if kind not in ("contribution", "weight"):
            raise ValueError(f"kind must be 'contribution' or 'weight', got {kind!r}")
        row_names = frame_index(X)  # a DataFrame's rows by its index, as the local explainers
        X = self._check_X(X)
        W, b = self.local_linear(X)
        logits = np.einsum("nkd,nd->nk", W, X) + b
        if target is None:
            target = logits.argmax(axis=1)
        elif np.ndim(cast(ArrayLike, target)) == 0:
            target = np.full(X.shape[0], target)
        target = check_labels(
            target, n=X.shape[0], n_classes=self.n_outputs_, name="target", allow_bool=False
        )
        weights = W[np.arange(X.shape[0]), target]
        values = weights * X if kind == "contribution" else weights
        shape = self.input_shape_
        image_shape = shape if len(shape) in (2, 3) else None
        # The method's name heads every plot panel; its source goes with the settings
        # (the whole citation as the name made the titles of a row of panels overlap).
        meta = make_meta(
            "linear regions",
            {
                "kind": kind,
                "n_outputs": self.n_outputs_,
                "source": "OpenBox closed form, 003_9368caac562d9b13.txt eq. 5",
            },
        )
        if kind == "contribution":
            # Checked against the forward pass, not against W x + b, which is what the
            # values are built from: a wrong W would pass its own test.
            rows = np.arange(X.shape[0])
            intercept = b[rows, target]
            delta = values.sum(axis=1) + intercept - self.logits(X)[rows, target]
            meta.update(
                intercept=intercept.tolist(),
                delta=delta.tolist(),
                max_abs_delta=float(np.abs(delta).max()) if delta.size else 0.0,
            )
        return Attribution(
            values,
            target,
            meta,
            inputs=X,
            image_shape=image_shape,
            class_names=self.class_names_,
            feature_names=self.feature_names_,
            row_names=row_names,
        )

    @property
    def feature_names_(self) -> tuple[str, ...] | None:
        """The black box's :attr:`~unboxed.BlackBox.feature_names`, where it was given
        one whose features are this network's inputs; else None."""
        names = None if self._blackbox is None else self._blackbox.feature_names
        return names if names is not None and len(names) == self.n_features_in_ else None

    def __repr__(self) -> str:
        return (
            f"LinearRegions(n_features={self.n_features_in_}, n_outputs={self.n_outputs_}, "
            f"layers={len(self.layers_)})"
        )
