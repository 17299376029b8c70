"""Piecewise-linear approximation of activation functions: Algorithm 1 of
``003_9368caac562d9b13.txt`` (Sec. 5.2), and :func:`to_plnn`, which puts it into a network.

Algorithm 1 starts from the activation's asymptotes ("hard-sigma", ``p_{n0}``) and then,
``n - n0`` times, adds the tangent at the point where ``|sigma(x) - p(x)|`` is largest,
taking the leftmost point on ties. The lines are kept sorted by the point they touch
(an asymptote touches at -inf or +inf); each line is used between its crossings with
its two neighbours. Where two neighbouring lines do not cross between their touching
points (the two horizontal asymptotes of the sigmoid), the break is put where the
activation passes half-way between them, so ``p_2`` of the sigmoid is a step at 0.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import warnings
from collections.abc import Callable, Container
from typing import Any, Literal, TypeGuard, TypeVar, cast

import numpy as np
import torch
from torch import nn

from .._progress import progress
from .._validation import (
    RandomState,
    check_array,
    check_bounds,
    check_instance,
    check_number,
    check_positive_int,
)
from ..blackbox import BlackBox
from ..evaluate import Estimate, agreement
from ..evaluate._stats import estimate

#: The inputs on which the error is searched: asymptotes make it vanish outside.
SEARCH_RANGE = (-20.0, 20.0)
#: The most grid points the fit evaluates the activation on (80 MB of float64 values).
MAX_GRID = 10**7
#: Grid points per unit of the search range.
RESOLUTION = 5000
#: Errors within this much of the maximum count as ties (Algorithm 1, line 4).
TIE_TOLERANCE = 1e-12
#: How far beyond the search range and the outermost break an asymptote is checked:
#: at 10 and at 100 times the range's width, where a right asymptote's gap has shrunk.
FAR_WIDTHS = (10.0, 100.0)
#: An error within this many machine epsilons of the activation's largest value is
#: rounding: the fit is exact and no more lines are added (Hardsigmoid's x / 6 + 1/2
#: and torch's (x + 3) / 6 differ in the last bit).
EXACT_ULPS = 8

Line = tuple[float, float]  # (slope, intercept)
_M = TypeVar("_M", bound=nn.Module)


@dataclasses.dataclass(frozen=True, eq=False)
class PiecewiseLinear:
    """A piecewise-linear function ``p(x) = slopes[k] * x + intercepts[k]`` on piece ``k``.

    Piece ``k`` covers ``(breakpoints[k-1], breakpoints[k]]``, the first piece reaching to
    -inf and the last to +inf. Call it on a torch tensor or a numpy array.

    Attributes
    ----------
    breakpoints : ndarray of shape (n_pieces - 1,)
        Increasing.
    slopes, intercepts : ndarray of shape (n_pieces,)
    max_error : float
        ``max |activation(x) - p(x)|`` over the search grid (0 for an exact fit).
    name : str
        The approximated activation.
    tangent_points : ndarray of shape (n_pieces,)
        Where each line touches the activation; -inf / +inf for the asymptotes.
    """

    breakpoints: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray
    max_error: float
    name: str = "piecewise"
    tangent_points: np.ndarray | None = None

    def __post_init__(self) -> None:
        slopes, intercepts, breaks = (
            check_array(getattr(self, name), name=name, ndim=1, allow_empty=True)
            for name in ("slopes", "intercepts", "breakpoints")
        )  # 2-D slopes were flattened; NaN is refused below with the other checks
        object.__setattr__(
            self, "max_error", check_number(self.max_error, name="max_error", strict=False)
        )
        if slopes.size == 0 or intercepts.shape != slopes.shape:
            raise ValueError("slopes and intercepts must be non-empty and of the same length")
        if breaks.size != slopes.size - 1:
            raise ValueError(f"{slopes.size} pieces need {slopes.size - 1} breakpoints")
        if not (np.all(np.isfinite(slopes)) and np.all(np.isfinite(intercepts))):
            raise ValueError("slopes and intercepts must be finite")
        if breaks.size and (not np.all(np.isfinite(breaks)) or np.any(np.diff(breaks) < 0)):
            raise ValueError("breakpoints must be finite and non-decreasing")
        for name, value in (
            ("slopes", slopes),
            ("intercepts", intercepts),
            ("breakpoints", breaks),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def n_pieces(self) -> int:
        """The number of linear pieces: entries of ``slopes``."""
        return int(self.slopes.size)

    @property
    def jumps(self) -> np.ndarray:
        """The step at each break, right limit minus left, shape ``(n_pieces - 1,)``.

        Algorithm 1's lines need not meet between their touching points (parallel
        tangents of a sigmoid with two pieces do not), and there the function jumps.
        """
        b = self.breakpoints
        return (self.slopes[1:] - self.slopes[:-1]) * b + self.intercepts[1:] - self.intercepts[:-1]

    def piece_index(self, x: Any) -> Any:
        """The piece each element of ``x`` falls in.

        Parameters
        ----------
        x : torch.Tensor or array-like
            Any shape. A point on a breakpoint belongs to the piece on its left.

        Returns
        -------
        torch.Tensor or ndarray of int
            Piece indices in ``[0, n_pieces)``, of ``x``'s shape; a tensor for a tensor
            (an integer or bool one read in torch's default float dtype).

        Raises
        ------
        TypeError, ValueError
            If an array-like ``x`` is not real numbers, or holds NaN or infinity (NaN
            would sort after every breakpoint and land in the last piece). A tensor is
            not scanned, so that a network's forward pass does not wait on the device.
        """
        if isinstance(x, torch.Tensor):
            x = _float_tensor(x)
            breaks = torch.tensor(self.breakpoints, dtype=x.dtype, device=x.device)
            return torch.bucketize(x, breaks)
        x = check_array(x, name="x", ndim=None, dtype=None, allow_empty=True)
        return np.searchsorted(self.breakpoints, x, side="left")

    def __call__(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            x = _float_tensor(x)
        index = self.piece_index(x)
        if isinstance(x, torch.Tensor):
            slopes = torch.tensor(self.slopes, dtype=x.dtype, device=x.device)
            intercepts = torch.tensor(self.intercepts, dtype=x.dtype, device=x.device)
            return slopes[index] * x + intercepts[index]
        x = np.asarray(x, dtype=np.float64)
        return self.slopes[index] * x + self.intercepts[index]

    def __repr__(self) -> str:
        return (
            f"PiecewiseLinear({self.name!r}, n_pieces={self.n_pieces}, "
            f"max_error={self.max_error:.3g})"
        )


def _float_tensor(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a floating tensor: an integer or bool one in torch's default float dtype,
    as ``torch.sigmoid`` promotes it.

    In its own dtype the breakpoints and lines were cast to integers: the sigmoid's
    5 pieces gave 0 at every one of ``torch.tensor([-3, -1, 0, 1, 3])``, and a bool
    tensor failed inside ``torch.bucketize``.
    """
    if x.is_complex():
        raise TypeError(f"x must be a real tensor, got dtype {x.dtype}")
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


class PiecewiseActivation(nn.Module):
    """A :class:`PiecewiseLinear` as a torch layer, so a network can use it in place of
    a smooth activation (:func:`to_plnn`).

    Parameters
    ----------
    function : PiecewiseLinear
        The function applied element-wise.
    """

    def __init__(self, function: PiecewiseLinear) -> None:
        super().__init__()
        check_instance(function, PiecewiseLinear, name="function", what="a PiecewiseLinear")
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the function to every element of ``x``.

        Parameters
        ----------
        x : torch.Tensor
            Any shape.

        Returns
        -------
        torch.Tensor
            Of ``x``'s shape, dtype and device.
        """
        return self.function(x)

    def extra_repr(self) -> str:
        """The function's repr, shown inside the layer's own (torch's hook).

        Returns
        -------
        str
        """
        return repr(self.function)


# ---------------------------------------------------------------- known activations
def _elu_asymptotes(alpha: float) -> tuple[Line, Line]:
    return (0.0, -alpha), (1.0, 0.0)


#: SELU's fixed constants (Klambauer et al. 2017, eq. 14), as torch uses them: nn.SELU
#: has no attributes to read them from.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _resolve(activation: Any, asymptotes: Any) -> tuple[Callable, tuple[Line, Line], str]:
    """The activation as a float64 torch function, its two asymptotes, and its name."""
    if isinstance(activation, str):
        named: dict[str, tuple[Callable, tuple[Line, Line]]] = {
            "sigmoid": (torch.sigmoid, ((0.0, 0.0), (0.0, 1.0))),
            "tanh": (torch.tanh, ((0.0, -1.0), (0.0, 1.0))),
            "elu": (nn.functional.elu, _elu_asymptotes(1.0)),
            "relu": (torch.relu, ((0.0, 0.0), (1.0, 0.0))),
            "gelu": (nn.functional.gelu, ((0.0, 0.0), (1.0, 0.0))),
            "silu": (nn.functional.silu, ((0.0, 0.0), (1.0, 0.0))),
        }
        if activation not in named:
            raise ValueError(
                f"unknown activation {activation!r}; choose from {sorted(named)} or pass a "
                "callable with asymptotes=((slope, intercept) at -inf, (slope, intercept) at +inf)"
            )
        fn, known = named[activation]
        return fn, known if asymptotes is None else _check_asymptotes(asymptotes), activation
    if isinstance(activation, nn.Module):
        fn = activation
        if _read_as(activation, nn.PReLU):
            if activation.weight.numel() != 1:
                raise ValueError(
                    f"PReLU(num_parameters={activation.weight.numel()}) has one slope per "
                    "channel, not one function of a number, which linearize approximates; "
                    "it is piecewise linear already: to_plnn keeps it and LinearRegions "
                    "reads it exactly"
                )
            # Its learned slope is a float32 parameter, which torch's prelu refuses to
            # mix with the float64 inputs the fit evaluates: the same LeakyReLU in float64.
            slope = float(activation.weight.detach().reshape(-1)[0])
            fn = functools.partial(nn.functional.leaky_relu, negative_slope=slope)
        modules: dict[type, Callable[[Any], tuple[Line, Line]]] = {
            nn.Sigmoid: lambda m: ((0.0, 0.0), (0.0, 1.0)),
            nn.Tanh: lambda m: ((0.0, -1.0), (0.0, 1.0)),
            nn.ELU: lambda m: _elu_asymptotes(float(m.alpha)),
            nn.ReLU: lambda m: ((0.0, 0.0), (1.0, 0.0)),
            nn.LeakyReLU: lambda m: ((float(m.negative_slope), 0.0), (1.0, 0.0)),
            nn.PReLU: lambda m: ((float(m.weight.detach().reshape(-1)[0]), 0.0), (1.0, 0.0)),
            # value up to threshold, x above: exact by _exact_threshold, not these lines
            nn.Threshold: lambda m: ((0.0, float(m.value)), (1.0, 0.0)),
            nn.Hardtanh: lambda m: ((0.0, float(m.min_val)), (0.0, float(m.max_val))),
            nn.ReLU6: lambda m: ((0.0, 0.0), (0.0, 6.0)),
            # relu6(x + 3) / 6: 0 up to -3 and 1 from 3
            nn.Hardsigmoid: lambda m: ((0.0, 0.0), (0.0, 1.0)),
            nn.Softplus: lambda m: ((0.0, 0.0), (1.0, 0.0)),
            # x * Phi(x) (either approximation) and x * sigmoid(x): 0 at -inf, x at +inf
            nn.GELU: lambda m: ((0.0, 0.0), (1.0, 0.0)),
            nn.SiLU: lambda m: ((0.0, 0.0), (1.0, 0.0)),
            # x * tanh(softplus(x)): 0 at -inf, x at +inf, like SiLU
            nn.Mish: lambda m: ((0.0, 0.0), (1.0, 0.0)),
            # scale * alpha * (e^x - 1) below 0, scale * x above
            nn.SELU: lambda m: ((0.0, -SELU_SCALE * SELU_ALPHA), (SELU_SCALE, 0.0)),
            # alpha * (e^(x / alpha) - 1) below 0, x above
            nn.CELU: lambda m: _elu_asymptotes(float(m.alpha)),
            # x * relu6(x + 3) / 6: exactly 0 up to -3 and x from 3
            nn.Hardswish: lambda m: ((0.0, 0.0), (1.0, 0.0)),
        }
        if asymptotes is not None:
            name = type(activation).__name__
            # A known class keeps the name it has without them ("sigmoid", not
            # "Sigmoid"); a class of the user's is named as written.
            return (
                fn,
                _check_asymptotes(asymptotes),
                name.lower() if type(activation) in modules else name,
            )
        # Read as the nearest known class (ReLU6 before Hardtanh) only where the
        # subclass keeps its forward, as check_forward_kept rules.
        kind = _nearest_known_class(activation, modules)
        if kind is not None and _read_as(activation, kind):
            fn = _hardsigmoid if kind is nn.Hardsigmoid else fn
            # Named as read: a kept subclass has its parent's numbers, as Threshold's
            # exact pieces and LinearRegions' known layers are named.
            return fn, modules[kind](activation), kind.__name__.lower()
        raise ValueError(
            f"linearize does not know the asymptotes of {type(activation).__name__}; "
            "pass asymptotes=((slope, intercept) at -inf, (slope, intercept) at +inf)"
        )
    if callable(activation):
        if asymptotes is None:
            raise ValueError(
                "a callable activation needs asymptotes=((slope, intercept) at -inf, "
                "(slope, intercept) at +inf)"
            )
        name = getattr(activation, "__name__", type(activation).__name__)
        return activation, _check_asymptotes(asymptotes), name
    raise TypeError(
        f"activation must be a name, a torch module or a callable, got {type(activation).__name__}"
    )


def _nearest_known_class(obj: object, known: Container[type]) -> type | None:
    """The first class of ``type(obj).__mro__`` that is in ``known``, or None.

    The nearest one, not any: ``nn.ReLU6`` subclasses ``nn.Hardtanh``, and where both
    are known a ReLU6 (or a subclass of it) is read as a ReLU6.
    """
    return next((c for c in type(obj).__mro__ if c in known), None)


def _read_as(activation: Any, kind: type[_M]) -> TypeGuard[_M]:
    """Whether ``activation`` computes what ``kind`` does: an instance of ``kind`` or of a
    subclass that keeps its ``forward`` (a new name, other defaults), as
    :func:`check_forward_kept` rules. A subclass with a forward of its own may compute
    anything, and is not read as its parent.
    """
    return isinstance(activation, kind) and type(activation).forward is kind.forward


def _exact_threshold(activation: nn.Threshold) -> PiecewiseLinear:
    """``nn.Threshold`` as its two exact pieces: ``value`` up to ``threshold`` (the
    threshold itself included, as torch's ``x > threshold`` and a breakpoint agree),
    then ``x``.

    Algorithm 1 cannot find it: its lines hand over where they cross, and the
    asymptotes ``y = value`` and ``y = x`` cross at ``value``, not at the threshold,
    unless the two are equal. Threshold(0.1, -1) with 2 lines had its break at -1 (an
    error of 1.1); more lines reached the step only through a redundant copy of the
    left line, with a ``max_error`` of the step's height, though the fit was exact.
    """
    threshold, value = float(activation.threshold), float(activation.value)
    return PiecewiseLinear(
        breakpoints=np.array([threshold]),
        slopes=np.array([0.0, 1.0]),
        intercepts=np.array([value, 0.0]),
        max_error=0.0,
        name="threshold",
        tangent_points=np.array([-np.inf, np.inf]),  # both lines are asymptotes
    )


def _hardsigmoid(x: torch.Tensor) -> torch.Tensor:
    """``nn.Hardsigmoid`` with an exact float64 derivative.

    torch's own backward multiplies by 1/6 rounded to float32 (0.1666666716) even in
    float64, so Algorithm 1's tangent missed the exact fit by 1.5e-8.
    """
    return nn.functional.relu6(x + 3.0) / 6.0


def _check_asymptotes(asymptotes: Any) -> tuple[Line, Line]:
    try:
        (a1, b1), (a2, b2) = asymptotes
        lines = ((float(a1), float(b1)), (float(a2), float(b2)))
    except (TypeError, ValueError) as err:
        raise ValueError(
            "asymptotes must be ((slope, intercept) at -inf, (slope, intercept) at +inf), "
            f"got {asymptotes!r}"
        ) from err
    if not np.all(np.isfinite(lines)):
        raise ValueError(f"asymptotes must be finite, got {asymptotes!r}")
    return lines


# ---------------------------------------------------------------- the math
def _evaluate(fn: Callable, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The activation and its derivative at ``x``, by torch autograd in float64.

    Parameters
    ----------
    fn : callable on torch tensors
    x : ndarray of shape (m,)

    Returns
    -------
    value, derivative : ndarray of shape (m,)
    """
    t = torch.as_tensor(np.asarray(x, dtype=np.float64)).requires_grad_(True)
    name = getattr(fn, "__name__", type(fn).__name__)
    with torch.enable_grad():
        # A function of numbers or arrays (np.tanh) failed inside torch, unnamed.
        try:
            y = fn(t.clone())  # a copy, which an in-place module (ELU(inplace=True)) may change
        except Exception as err:
            raise TypeError(
                f"the activation {name!r} must take and return torch tensors (autograd "
                f"differentiates it); on a float64 tensor it raised {type(err).__name__}: {err}"
            ) from err
        if not isinstance(y, torch.Tensor) or y.shape != t.shape:
            # One number for the whole grid was fitted as if it were the curve.
            got = (
                f"shape {tuple(y.shape)}"
                if isinstance(y, torch.Tensor)
                else f"a {type(y).__name__}"
            )
            raise TypeError(
                f"the activation {name!r} returned {got} for a tensor of shape "
                f"{tuple(t.shape)}; it must act elementwise on torch tensors"
            )
        (grad,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy().astype(np.float64), grad.numpy().astype(np.float64)


def _assemble(
    fn: Callable,
    lines: list[Line],
    touch: np.ndarray,
    search_range: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn lines sorted by their touching points into raw breaks, slopes, intercepts.

    Neighbouring lines ``i`` and ``i + 1`` meet where they cross, if that crossing lies
    between the points they touch (so each line is used near where it is accurate);
    otherwise (parallel asymptotes, or a crossing outside) the break is where the
    activation passes half-way between the two lines, found by bisection. The
    breakpoints are ``np.maximum.accumulate`` of the raw breaks.

    Parameters
    ----------
    fn : callable on torch tensors
    lines : list of (slope, intercept), length k
    touch : ndarray of shape (k,), increasing (may hold -inf and +inf)
    search_range : (lo, hi)

    Returns
    -------
    raw_breaks : ndarray of shape (k - 1,)
        One break per neighbouring pair, before they are made non-decreasing.
    slopes, intercepts : ndarray of shape (k,)
    """
    raw = [
        _pair_break(fn, lines[i], lines[i + 1], touch[i], touch[i + 1], search_range)
        for i in range(len(lines) - 1)
    ]
    slopes = np.array([a for a, _ in lines], dtype=np.float64)
    intercepts = np.array([b for _, b in lines], dtype=np.float64)
    return np.array(raw, dtype=np.float64), slopes, intercepts


def _insert_line(
    fn: Callable,
    raw: np.ndarray,
    slopes: np.ndarray,
    intercepts: np.ndarray,
    touch: np.ndarray,
    position: int,
    line: Line,
    x0: float,
    search_range: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Put ``line``, touching at ``x0``, between lines ``position - 1`` and ``position``.

    Only the pair the new line splits changes: its raw break gives way to the breaks
    of the two new pairs, and every other pair keeps its own (:func:`_assemble` finds
    the same ones over all pairs). Recomputing every pair, even through a memo, made
    Algorithm 1 quadratic in the number of lines.

    Parameters
    ----------
    raw : ndarray of shape (k - 1,)
    slopes, intercepts, touch : ndarray of shape (k,)
    position : int in [1, k - 1]
    line : (slope, intercept)
    x0 : float
        Strictly between ``touch[position - 1]`` and ``touch[position]``.

    Returns
    -------
    raw, slopes, intercepts, touch : ndarrays one longer
    """
    left = (float(slopes[position - 1]), float(intercepts[position - 1]))
    right = (float(slopes[position]), float(intercepts[position]))
    new = [
        _pair_break(fn, left, line, touch[position - 1], x0, search_range),
        _pair_break(fn, line, right, x0, touch[position], search_range),
    ]
    return (
        np.concatenate([raw[: position - 1], new, raw[position:]]),
        np.insert(slopes, position, line[0]),
        np.insert(intercepts, position, line[1]),
        np.insert(touch, position, x0),
    )


def _pair_break(
    fn: Callable,
    line1: Line,
    line2: Line,
    touch1: float,
    touch2: float,
    search_range: tuple[float, float],
) -> float:
    """Where two neighbouring lines hand over (see :func:`_assemble`)."""
    (a1, b1), (a2, b2) = line1, line2
    cross = (b2 - b1) / (a1 - a2) if a1 != a2 else np.nan
    # The crossing is valid anywhere between the touching points, even outside the
    # search range (wide activations such as Softplus(beta=0.2) cross there): forcing
    # it to the range's edge leaves a jump whose error more lines cannot reduce.
    if np.isfinite(cross) and touch1 <= cross <= touch2:
        return float(cross)
    lo = max(touch1, search_range[0])
    hi = min(touch2, search_range[1])

    def gap(x: float) -> float:
        value, _ = _evaluate(fn, np.array([x]))
        return float(value[0] - 0.5 * ((a1 + a2) * x + b1 + b2))

    g_lo, g_hi = gap(lo), gap(hi)
    if g_lo * g_hi > 0:  # no half-way crossing: split the interval in the middle
        return 0.5 * (lo + hi)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if gap(mid) * g_lo > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _pl_eval(
    breakpoints: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """Evaluate a piecewise-linear function.

    Parameters
    ----------
    breakpoints : ndarray of shape (k - 1,)
    slopes, intercepts : ndarray of shape (k,)
    x : ndarray of shape (m,)

    Returns
    -------
    ndarray of shape (m,)
    """
    index = np.searchsorted(breakpoints, x, side="left")
    return slopes[index] * x + intercepts[index]


def _changed_span(old: np.ndarray, new: np.ndarray, position: int, grid: np.ndarray) -> slice:
    """The grid points where the piecewise-linear function with breaks ``new`` may
    differ from the one with ``old``: the same lines, and one more at ``position``.

    Breaks ``i < position - 1`` join the same lines in both, and so do the trailing
    breaks after the new line that are equal in both (``np.maximum.accumulate`` can move
    a few of them); points beyond either are on the same line in both.
    """
    left = position - 1
    n_after = new.size - position - 1  # breaks between lines that both functions have
    # How many of those, counted from the end, are equal in both (a vectorised scan:
    # a loop over them made each step linear in the number of lines).
    differ = np.flatnonzero(new[new.size - n_after :] != old[old.size - n_after :])
    right = n_after if differ.size == 0 else n_after - 1 - int(differ[-1])
    start = -np.inf if left == 0 else new[left - 1]
    stop = np.inf if right == 0 else new[new.size - right]
    return slice(
        int(np.searchsorted(grid, start, side="left")),
        int(np.searchsorted(grid, stop, side="right")),
    )


def _worst_of_both(
    grid_errors: np.ndarray, grid: np.ndarray, break_errors: np.ndarray, breaks: np.ndarray
) -> tuple[float, float]:
    """The leftmost point whose error ties with the maximum (Algorithm 1, lines 3-6),
    over the grid and the breaks together.

    Parameters
    ----------
    grid_errors, grid : ndarray of shape (m,)
        ``grid`` increasing.
    break_errors, breaks : ndarray of shape (k,)
        ``breaks`` non-decreasing.

    Returns
    -------
    x, error : float
    """
    top = max(float(grid_errors.max()), float(break_errors.max(initial=0.0)))
    threshold = top - TIE_TOLERANCE * max(1.0, top)
    candidates = (
        [grid[np.argmax(grid_errors >= threshold)]] if grid_errors.max() >= threshold else []
    )
    if break_errors.size and break_errors.max() >= threshold:
        candidates.append(breaks[np.argmax(break_errors >= threshold)])
    return float(min(candidates)), top


def _warn_of_wrong_asymptotes(
    fn: Callable,
    name: str,
    fit: PiecewiseLinear,
    search_range: tuple[float, float],
) -> None:
    """Warn of an asymptote the activation does not approach.

    Beyond ``search_range`` and the outermost break the fit is the asymptote itself,
    and ``max_error`` counts the error at that edge, so an activation that nears its
    asymptote steadily stays within ``max_error`` of it out there. Where instead the
    gap, 10 widths of the range (or of the edge) out, is ``max_error`` at least and has
    not halved 100 widths out, the line is no asymptote: a wrong intercept keeps the
    gap (often ``max_error`` itself, met at the edge), a wrong slope widens it without
    bound, where ``max_error`` does not look. A gap that shrinks (a bump beyond the
    range) is not blamed on the line, and a smaller one does no harm. Points where the
    activation is not finite are not judged.

    Parameters
    ----------
    fn : callable on torch tensors
    name : str
    fit : PiecewiseLinear
        Its first and last pieces are the asymptotes.
    search_range : (lo, hi)
    """
    lo, hi = search_range
    ends = (
        ("-inf", min(lo, float(fit.breakpoints.min(initial=lo))), -1.0, 0),
        ("+inf", max(hi, float(fit.breakpoints.max(initial=hi))), 1.0, -1),
    )
    for side, edge, direction, piece in ends:
        # In widths of the range, or of the edge where a break lies far out (a
        # crossing at -1e38), which a few widths more would not move.
        x = edge + direction * max(hi - lo, abs(edge)) * np.array(FAR_WIDTHS)
        if not np.all(np.isfinite(x)):
            continue
        values, slopes = _evaluate(fn, x)
        a, b = float(fit.slopes[piece]), float(fit.intercepts[piece])
        line = a * x + b
        gaps = np.abs(values - line)
        rounding = EXACT_ULPS * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(line))
        # max_error itself may be this gap, measured at the range's edge to rounding.
        harmless = gaps[0] <= max((1 - 1e-6) * fit.max_error, rounding[0])
        if not np.all(np.isfinite(values)) or harmless:
            continue
        if gaps[1] > gaps[0] / 2:
            warnings.warn(
                f"asymptotes: the line at {side} (slope {a:.4g}, intercept {b:.4g}) is not "
                f"an asymptote of {name!r}: outside search_range, at x = {x[0]:.4g} and "
                f"{x[1]:.4g}, the activation is {values[0]:.4g} and {values[1]:.4g} with "
                f"slope {slopes[1]:.4g}, the line {line[0]:.4g} and {line[1]:.4g}: off by "
                f"{gaps[0]:.3g} and {gaps[1]:.3g}, while max_error, measured inside "
                f"search_range, is {fit.max_error:.3g}; pass the activation's own asymptotes",
                UserWarning,
                stacklevel=3,
            )


def _check_search(
    n_pieces: object, search_range: object, resolution: object
) -> tuple[int, tuple[float, float], int]:
    """``n_pieces``, ``search_range`` and the search grid's size, each checked.

    Raises
    ------
    ValueError
        If the grid would hold more than ``MAX_GRID`` points, or fewer than
        ``n_pieces``.
    """
    n_pieces = check_positive_int(n_pieces, name="n_pieces", minimum=2)
    resolution = check_positive_int(resolution, name="resolution", minimum=10)
    lo, hi = check_bounds(search_range, name="search_range")
    n_grid = int((hi - lo) * resolution) + 1
    if n_grid > MAX_GRID:
        raise ValueError(
            f"search_range {search_range} at resolution {resolution} asks for {n_grid:.3g} grid "
            f"points; at most {MAX_GRID:.0e}: narrow the range or lower the resolution"
        )
    if n_pieces > n_grid:
        # Each line added touches where the grid's error is largest: more lines than
        # grid points cannot be placed, and 10**9 ran on, a line per step, saying nothing.
        raise ValueError(
            f"n_pieces must be at most {n_grid}, the points of the search grid "
            f"(search_range {search_range} at resolution {resolution}), got {n_pieces}: "
            "widen the range or raise the resolution for more"
        )
    return n_pieces, (lo, hi), n_grid


def linearize(
    activation: Any,
    n_pieces: int,
    *,
    asymptotes: Any = None,
    search_range: tuple[float, float] = SEARCH_RANGE,
    resolution: int = RESOLUTION,
    verbose: bool = True,
) -> PiecewiseLinear:
    """Approximate an activation by ``n_pieces`` lines: Algorithm 1 of
    ``003_9368caac562d9b13.txt``.

    Parameters
    ----------
    activation : {"sigmoid", "tanh", "elu", "relu", "gelu", "silu"}, torch module or callable
        Modules ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ELU`` and ``nn.CELU`` (any
        ``alpha``), ``nn.SELU``, ``nn.ReLU``, ``nn.LeakyReLU``, ``nn.Hardtanh``,
        ``nn.ReLU6``, ``nn.Hardsigmoid``, ``nn.Softplus``, ``nn.GELU`` (either
        ``approximate``), ``nn.SiLU``, ``nn.Mish``, ``nn.Hardswish``, ``nn.PReLU``
        (one learned slope: one per channel is no single function, and is refused) and
        ``nn.Threshold`` (its two exact pieces, even where it jumps, which Algorithm 1's
        tangents cannot place) are known, and so is a subclass of one that keeps its
        ``forward`` (read as its parent); anything else, including a subclass that
        overrides ``forward`` and a plain function of torch tensors, needs
        ``asymptotes``. GELU, SiLU, Mish and Hardswish dip below 0 (to about -0.17,
        -0.28, -0.31 and -0.375) before they rise: the tangents follow the dip as they
        follow any bend, and ``max_error`` bounds the error the same way.
    n_pieces : int
        The number of lines, at least the 2 asymptotes and at most the search grid's
        points (``search_range``'s width times ``resolution``, plus one: 200,001 by
        default). When the fit becomes exact (a piecewise-linear activation) no more
        lines are added, so the result may have fewer pieces.
    asymptotes : ((slope, intercept), (slope, intercept)), optional
        The lines the activation approaches at -inf and at +inf. Beyond the search
        range the fit is these lines, where ``max_error`` does not look: a line the
        activation does not approach (its gap, 10 and 100 widths of the range out, at
        least ``max_error`` and not shrinking) is warned of with a ``UserWarning``
        that gives the gap and both slopes.
    search_range : (float, float)
        Where the error is maximised; outside, the asymptotes make it small.
    resolution : int
        Grid points per unit length of ``search_range``.
    verbose : bool
        Show a progress bar over the lines added.

    Returns
    -------
    PiecewiseLinear
        Its ``name`` is the activation's: the name given, the lowercase class of a
        known module (``"sigmoid"``; for a subclass that keeps its ``forward``, the
        parent it is read as, whose numbers it has: a ``class MySigmoid(nn.Sigmoid)``
        gives ``"sigmoid"``), the class name of a module given with ``asymptotes``
        (it is read by its own ``forward``), or a callable's ``__name__``.
    """
    fn, (left, right), name = _resolve(activation, asymptotes)
    n_pieces, (lo, hi), n_grid = _check_search(n_pieces, search_range, resolution)
    if _read_as(activation, nn.Threshold) and asymptotes is None:
        return _exact_threshold(activation)
    grid = np.linspace(lo, hi, n_grid)
    target, _ = _evaluate(fn, grid)
    if not np.all(np.isfinite(target)):
        raise ValueError(f"the activation {name!r} is not finite on {search_range}")

    exact = EXACT_ULPS * np.finfo(np.float64).eps * max(1.0, float(np.abs(target).max()))
    touch = np.array([-np.inf, np.inf])
    raw, slopes, intercepts = _assemble(fn, [left, right], touch, (lo, hi))
    breaks = np.maximum.accumulate(raw)
    grid_errors = np.abs(target - _pl_eval(breaks, slopes, intercepts, grid))
    for _ in progress(range(n_pieces - 2), verbose=verbose, desc="linearize", unit="line"):
        # The maximum of |sigma - p| is often at a break, which may fall between grid
        # points, so the breaks count as points too (both sides of a jump are limits of p).
        break_errors = np.abs(
            _evaluate(fn, breaks)[0] - _pl_eval(breaks, slopes, intercepts, breaks)
        )
        x0, worst = _worst_of_both(grid_errors, grid, break_errors, breaks)
        if worst <= exact:
            break
        (value,), (slope,) = _evaluate(fn, np.array([x0]))
        position = int(np.searchsorted(touch, x0, side="right"))
        if touch[position - 1] == x0:  # the same tangent again would add nothing
            break
        line = (float(slope), float(value - slope * x0))
        raw, slopes, intercepts, touch = _insert_line(
            fn, raw, slopes, intercepts, touch, position, line, x0, (lo, hi)
        )
        old_breaks = breaks
        breaks = np.maximum.accumulate(raw)
        # p changed only between the breaks that moved: update the grid there alone.
        changed = _changed_span(old_breaks, breaks, position, grid)
        grid_errors[changed] = np.abs(
            target[changed] - _pl_eval(breaks, slopes, intercepts, grid[changed])
        )

    points = np.sort(np.concatenate([grid, breaks]))
    values, _ = _evaluate(fn, points)
    errors = np.abs(values - _pl_eval(breaks, slopes, intercepts, points))
    # Both one-sided limits at a jump count, so a step's error is its half height.
    if breaks.size:
        at = _evaluate(fn, breaks)[0]
        left_limit = slopes[:-1] * breaks + intercepts[:-1]
        right_limit = slopes[1:] * breaks + intercepts[1:]
        errors = np.concatenate([errors, np.abs(at - left_limit), np.abs(at - right_limit)])
    fit = PiecewiseLinear(
        breakpoints=breaks,
        slopes=slopes,
        intercepts=intercepts,
        max_error=float(errors.max()),
        name=name,
        tangent_points=touch,
    )
    _warn_of_wrong_asymptotes(fn, name, fit, (lo, hi))
    return fit


#: Activations that :func:`to_plnn` replaces, and those it keeps because they are
#: piecewise linear already. "Smooth" means "not piecewise linear": Hardswish has kinks
#: at -3 and 3 but is x (x + 3) / 6 between them, a parabola no finite set of lines
#: matches, so it is linearised; Hardsigmoid is a line between its kinks, so it is kept
#: exactly, as are ReLU6 (a Hardtanh), PReLU and Threshold (a step where its value
#: differs from its threshold).
SMOOTH = (
    nn.Sigmoid,
    nn.Tanh,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.Softplus,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
)
PIECEWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Threshold,
    PiecewiseActivation,
)
#: The attributes of the SMOOTH modules that change the function they compute.
FUNCTION_SETTINGS = ("alpha", "beta", "threshold", "approximate")
#: Output layers left as they are (they are not hidden activations).
OUTPUTS = (nn.Softmax, nn.LogSoftmax)


def check_forward_kept(
    name: str, layer: nn.Module, known: tuple[type[nn.Module], ...], reader: str
) -> None:
    """Refuse a subclass of a known layer class that replaces its ``forward``.

    The piecewise tools read a layer by its class (a ReLU's pieces, a Linear's weight,
    a Sigmoid's asymptotes), so a user's ``class MyReLU(nn.ReLU)`` with a forward of
    its own would be explained as a ReLU while the network computes something else. A
    subclass that keeps torch's forward (a new name, other defaults in ``__init__``)
    computes what its class does, and passes.

    Parameters
    ----------
    name : str
        The layer's name in its network, for the message.
    layer : torch.nn.Module
    known : tuple of type
        The classes ``reader`` reads; a layer that is none of them passes.
    reader : str
        Who reads the layer, for the message (``"LinearRegions"``, ``"to_plnn"``).

    Raises
    ------
    ValueError
        Naming the layer, its class and the known class whose forward it replaces.
    """
    # The nearest known class (ReLU6 is checked as the Hardtanh it is).
    parent = cast("type[nn.Module] | None", _nearest_known_class(layer, known))
    if parent is None or type(layer).forward is parent.forward:
        return
    qualified = ("nn." if parent.__module__.startswith("torch.") else "") + parent.__name__
    raise ValueError(
        f"layer {name!r} ({type(layer).__name__}) subclasses {parent.__name__} but "
        f"overrides its forward, so {reader} cannot know the function it computes (it "
        f"reads a {parent.__name__} by its class); use {qualified} itself, or a subclass "
        "that keeps its forward"
    )


def torch_network(network: object, *, reader: str, name: str = "module") -> nn.Module:
    """The torch network to read: a ``torch.nn.Module`` as it is, a torch
    :class:`~unboxed.BlackBox`'s module.

    Parameters
    ----------
    network : object
        What the caller was given.
    reader : str
        Who reads it, for the message (``"LinearRegions"``, ``"to_plnn"``).
    name : str, default="module"
        What ``reader`` calls it, for the message (``"plnn"``, ``"panel 'tanh'"``).

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    TypeError
        For a black box of another kind (told how to distil it into a torch network),
        or anything that is neither a torch module nor a black box.
    """
    if isinstance(network, BlackBox):
        if network.kind != "torch":
            # Its output='probabilities' was once named as the fault, which no setting
            # of an sklearn model or a function fixes.
            raise TypeError(
                f"{reader} needs a torch network for {name}, but {network.name!r} is a "
                f"{network.kind} black box: distil it into a torch network first, "
                "unboxed.piecewise.Distiller().fit(blackbox, X).student_"
            )
        return cast(nn.Module, network.module)
    if not isinstance(network, nn.Module):
        raise TypeError(
            f"{reader} takes a torch.nn.Module or a torch unboxed.BlackBox for {name}, "
            f"got {type(network).__name__}"
        )
    return network


def to_plnn(module: nn.Module | BlackBox, n_pieces: int, **kwargs: Any) -> nn.Module:
    """A copy of ``module`` whose smooth activations are replaced by :func:`linearize`-d ones.

    The weights are shared values (copied), so the result is the piecewise-linear
    network ``g`` of ``003_9368caac562d9b13.txt`` Sec. 5.2 (eqs. 7-8) whose distance to
    the original shrinks with ``n_pieces``.

    Parameters
    ----------
    module : torch.nn.Module or unboxed.BlackBox
        A torch ``BlackBox`` is unwrapped: its module is copied.
    n_pieces : int
        Lines per activation.
    **kwargs
        Passed to :func:`linearize` (``search_range``, ``resolution``, ``verbose``).

    Returns
    -------
    torch.nn.Module
        A deep copy in eval mode. A ``ZooModel`` stays a ``ZooModel``, but its config
        still names the smooth activation: ``zoo.save`` does not record the
        linearisation, so call ``to_plnn`` again after ``zoo.load``.
        :func:`plnn_fidelity` measures how closely it follows ``module`` on given
        inputs.

    Raises
    ------
    TypeError
        If ``module`` is neither a torch module nor a torch black box.
    ValueError
        For an activation that is neither piecewise linear nor known to
        :func:`linearize`, or a subclass of one that overrides its ``forward``
        (linearise that one alone, ``linearize(layer, n_pieces, asymptotes=...)``),
        naming the layer.
    """
    module = torch_network(module, reader="to_plnn")
    # Before any layer is linearised, as linearize checks them for each.
    search = (kwargs.get("search_range", SEARCH_RANGE), kwargs.get("resolution", RESOLUTION))
    n_pieces = _check_search(n_pieces, *search)[0]
    plnn = copy.deepcopy(module).eval()
    cache: dict[tuple, PiecewiseLinear] = {}
    for name, child in list(plnn.named_modules()):
        # Before any layer is linearised: a kept ReLU subclass was refused only later by
        # LinearRegions, and a Sigmoid subclass failed in linearize without its name.
        check_forward_kept(name or type(child).__name__, child, SMOOTH + PIECEWISE, "to_plnn")
        if not isinstance(child, SMOOTH):
            if _is_activation(child) and not isinstance(child, PIECEWISE + OUTPUTS):
                raise ValueError(
                    f"to_plnn cannot linearise layer {name!r} ({type(child).__name__}); "
                    f"supported: {[k.__name__ for k in SMOOTH + PIECEWISE]}"
                )
            continue
        # Its settings too (ELU's alpha, Softplus's beta and threshold): two layers of
        # one type share a linearisation only when they compute the same function.
        key = (type(child).__name__, *(getattr(child, k, None) for k in FUNCTION_SETTINGS))
        if key not in cache:
            cache[key] = linearize(child, n_pieces, **kwargs)
        if not name:  # the module is the activation itself: nothing holds it
            return PiecewiseActivation(cache[key])
        _set_submodule(plnn, name, PiecewiseActivation(cache[key]))
    return plnn


def _is_activation(module: nn.Module) -> bool:
    return type(module).__module__.startswith("torch.nn.modules.activation")


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


@dataclasses.dataclass(frozen=True)
class PLNNFidelity:
    """How closely a piecewise-linear copy (:func:`to_plnn`) follows its original
    network on given inputs: :func:`plnn_fidelity`.

    Attributes
    ----------
    agreement : Estimate
        The share of inputs on which both give the same class, with Wilson's 95%
        score interval (:func:`unboxed.evaluate.agreement`).
    mean_gap : Estimate
        The mean over inputs of ``max_c |p_c - q_c|``, the largest change of any class
        probability, with a 95% bootstrap interval.
    max_gap : float
        The largest ``|p_c - q_c|`` over all inputs and classes: the worst case, which
        has no interval.
    n_pieces : int or None
        The pieces per activation, when known.
    """

    agreement: Estimate
    mean_gap: Estimate
    max_gap: float
    n_pieces: int | None = None

    def __str__(self) -> str:
        return (
            f"agreement {self.agreement}, mean probability gap {self.mean_gap}, "
            f"max probability gap {self.max_gap:.4f}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready plain types.

        Returns
        -------
        dict
            Keys ``agreement`` and ``mean_gap`` (each :meth:`Estimate.as_dict`),
            ``max_gap`` and ``n_pieces``.
        """
        return {
            "agreement": self.agreement.as_dict(),
            "mean_gap": self.mean_gap.as_dict(),
            "max_gap": self.max_gap,
            "n_pieces": self.n_pieces,
        }


def plnn_fidelity(
    module: nn.Module | BlackBox,
    plnn: nn.Module | BlackBox,
    X: Any,
    *,
    input_shape: Any = None,
    output: Literal["logits", "probabilities"] | None = None,
    n_boot: int = 1000,
    random_state: RandomState = None,
) -> PLNNFidelity:
    """Measure on inputs ``X`` how faithful a piecewise-linear network is to the smooth
    one it was made from: ``g`` against ``f`` of ``003_9368caac562d9b13.txt`` Sec. 5.2.

    :attr:`PiecewiseLinear.max_error` bounds each activation's error, not the network's:
    errors pass through the weights and add up over layers, so only the outputs tell
    how far an explanation of ``plnn`` (through :class:`LinearRegions`) holds for
    ``module``.

    Parameters
    ----------
    module : torch.nn.Module or unboxed.BlackBox
        The original network; a torch ``BlackBox`` is unwrapped.
    plnn : torch.nn.Module or unboxed.BlackBox
        Its piecewise-linear copy, ``to_plnn(module, n_pieces)``.
    X : array-like of shape (n_samples, *input_shape) or (n_samples, n_features)
        Inputs the networks take, e.g. held-out images; at least 1 row. A DataFrame
        is read by a black box's column names where one is given (``module``'s, else
        ``plnn``'s), as the black box reads it.
    input_shape : sequence of int, optional
        The shape of one input; by default a black box's (``module``'s, else
        ``plnn``'s), else a zoo model's own ``input_shape``, else ``X.shape[1:]``.
    output : {"logits", "probabilities"}, optional
        What both networks return; logits go through a float64 softmax. By default a
        black box's ``output`` (``module``'s, else ``plnn``'s), else "logits".
    n_boot : int, default=1000
        Bootstrap draws for the interval of ``mean_gap``.
    random_state : int, numpy.random.Generator or None
        Seeds the bootstrap.

    Returns
    -------
    PLNNFidelity
        Class agreement (Wilson's 95% interval) and the mean and maximum absolute gap
        between the two networks' class probabilities.

    Raises
    ------
    TypeError
        If either network is neither a torch module nor a torch black box.
    ValueError
        For a bad ``output``, empty or non-finite ``X``, or networks whose outputs
        differ in shape.
    """
    # A black box knows what its network takes and returns, as LinearRegions reads it.
    boxes = [net for net in (module, plnn) if isinstance(net, BlackBox)]
    module = torch_network(module, reader="plnn_fidelity")
    plnn = torch_network(plnn, reader="plnn_fidelity", name="plnn")
    if output is None:
        output = boxes[0].output if boxes else "logits"
    if output not in ("logits", "probabilities"):
        raise ValueError(f"output must be 'logits' or 'probabilities', got {output!r}")
    n_boot = check_positive_int(n_boot, name="n_boot")
    if boxes:  # a DataFrame by its column names, as the black box reads it
        X = boxes[0]._by_columns(X, name="X")
    X = check_array(X, name="X", ndim=None)
    if X.ndim < 2:
        raise ValueError(f"X must hold one input per row, shape (n_samples, ...), got {X.shape}")
    if input_shape is None and boxes:
        input_shape = boxes[0].input_shape
    if input_shape is None:
        input_shape = getattr(module, "input_shape", X.shape[1:])
    # Both through BlackBox: the same batching, eval mode and float64 softmax, and
    # the same check of X against input_shape. Wrapping puts a module in eval mode for
    # good; a measurement must not change the caller's network, so its modes go back.
    modes = [(m, m.training) for net in (module, plnn) for m in net.modules()]
    try:
        p, q = (
            BlackBox.from_torch(net, input_shape=input_shape, output=output).predict_proba(X)
            for net in (module, plnn)
        )
    finally:
        for m, training in modes:
            m.training = training
    if p.shape != q.shape:
        raise ValueError(f"module gives {p.shape[1]} classes but plnn gives {q.shape[1]}")
    gap = np.abs(p - q).max(axis=1)
    pieces = [m.function.n_pieces for m in plnn.modules() if isinstance(m, PiecewiseActivation)]
    return PLNNFidelity(
        agreement=agreement(p, q),
        mean_gap=estimate(gap, n_boot=n_boot, random_state=random_state),
        max_gap=float(gap.max()),
        n_pieces=max(pieces) if pieces else None,
    )
