"""Exact decision boundaries of 2-D piecewise-linear networks (Fig. 5 of
``003_9368caac562d9b13.txt``).

In every linear region the boundary between the two classes is the line
``(W~_1 - W~_0) x + (b~_1 - b~_0) = 0`` (eq. 5), cut to the region's polygon. Drawing
those segments for every region a fine grid visits gives the boundary exactly, not as a
contour of sampled values.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._validation import (
    check_array,
    check_bounds,
    check_labels,
    check_number,
    check_positive_int,
)
from ._linearize import PiecewiseActivation
from ._regions import LinearRegions


def _clip_line(w: np.ndarray, b: float, H: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """The segment of the line ``w x + b = 0`` inside the polygon ``H x <= h``.

    Parameters
    ----------
    w : ndarray of shape (2,)
    b : float
    H : ndarray of shape (m, 2)
    h : ndarray of shape (m,)
        Must bound the polygon (include a box).

    Returns
    -------
    ndarray of shape (2, 2) (the two end points) or None if the line misses it.
    """
    norm = float(w @ w)
    if norm == 0:
        return None
    point = -b * w / norm
    direction = np.array([-w[1], w[0]])
    # Each constraint H_i (point + t d) <= h_i bounds t from one side.
    rate, slack = H @ direction, h - H @ point
    lo, hi = -np.inf, np.inf
    for r, s in zip(rate, slack, strict=True):
        if abs(r) < 1e-15:
            if s < 0:
                return None
        elif r > 0:
            hi = min(hi, s / r)
        else:
            lo = max(lo, s / r)
    if not lo < hi or not np.isfinite(lo) or not np.isfinite(hi):
        return None
    return np.stack([point + lo * direction, point + hi * direction])


def boundary_segments(
    regions: LinearRegions, bounds: Sequence[float], *, resolution: int = 200
) -> list[np.ndarray]:
    """The exact decision boundary of a 2-input, 2-output network inside a box.

    Parameters
    ----------
    regions : LinearRegions
        Of a network with 2 inputs and 2 outputs.
    bounds : (x_min, x_max, y_min, y_max)
    resolution : int
        Grid points per side used to find the regions in the box; a region smaller
        than a grid cell can be missed.

    Returns
    -------
    list of ndarray of shape (2, 2)
        One segment per region the boundary crosses.
    """
    if regions.n_features_in_ != 2 or regions.n_outputs_ != 2:
        raise ValueError("boundary_segments needs a network with 2 inputs and 2 outputs")
    _warn_of_jumps(regions)
    resolution = check_positive_int(resolution, name="resolution", minimum=2)
    x0, x1, y0, y1 = check_bounds(bounds, n_axes=2)
    grid = np.stack(
        np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)), -1
    ).reshape(-1, 2)
    visited = regions.regions(grid)
    first = np.zeros(visited.n_regions, dtype=np.int64)
    first[visited.region[::-1]] = np.arange(grid.shape[0])[::-1]
    w, b = regions.decision_features(grid[first], 1, 0)
    box_H = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    box_h = np.array([x1, -x0, y1, -y0])
    segments = []
    for r in range(visited.n_regions):
        H, h = regions.polytope(grid[first[r]])
        segment = _clip_line(w[r], b[r], np.vstack([H, box_H]), np.concatenate([h, box_h]))
        if segment is not None:
            segments.append(segment)
    return segments


def _warn_of_jumps(regions: LinearRegions) -> None:
    """Warn when an activation is discontinuous: the network's output jumps across some
    region facets, and a boundary along such a facet is no region's zero line."""
    steps = [
        np.abs(layer.function.jumps)
        for _, layer in regions.layers_
        if isinstance(layer, PiecewiseActivation)
    ]
    worst = max((float(step.max()) for step in steps if step.size), default=0.0)
    if worst > 1e-9:
        warnings.warn(
            f"an activation of this network jumps (by up to {worst:.3g}) at its breaks, so "
            "a decision boundary along a jump is not drawn; linearise with more pieces",
            UserWarning,
            stacklevel=3,
        )


def plot_decision_boundaries(
    panels: Sequence[tuple[str, Any]],
    X: object,
    y: object,
    *,
    resolution: int = 200,
    margin: float = 0.5,
) -> Any:
    """Side-by-side decision boundaries of 2-D binary networks (Fig. 5).

    A network :class:`LinearRegions` can handle gets its exact boundary (segments per
    region) over a shading of its linear regions; any other network (a smooth one) gets
    the zero contour of its logit difference.

    Parameters
    ----------
    panels : sequence of (title, torch.nn.Module)
    X : array-like of shape (n_samples, 2)
    y : array-like of shape (n_samples,)
    resolution : int
    margin : float
        Added around the data's bounding box.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    X = check_array(X, ndim=2)
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 features, got {X.shape[1]}")
    y = check_labels(y, n=X.shape[0])  # one of the wrong length was drawn as it came
    margin = check_number(margin, name="margin", strict=False)
    if len(panels) == 0:
        raise ValueError("panels is empty: pass (title, network) pairs to draw")
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    bounds = (lo[0], hi[0], lo[1], hi[1])
    fig = Figure(figsize=(4 * len(panels), 4))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    xs, ys = np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    for ax, (title, module) in zip(axes, panels, strict=True):
        ax.scatter(X[:, 0], X[:, 1], c=y, s=4, cmap="coolwarm", alpha=0.5)
        try:
            regions = LinearRegions(module, input_shape=(2,))
            segments = boundary_segments(regions, bounds, resolution=resolution)
        except ValueError:  # a smooth network, or one whose regions cannot be drawn
            regions = None
        if regions is not None:
            ids = regions.regions(grid).region.reshape(resolution, resolution)
            ax.imshow(
                ids % 20,
                extent=bounds,
                origin="lower",
                cmap="tab20",
                alpha=0.25,
                aspect="auto",
                interpolation="nearest",
            )
            for segment in segments:
                ax.plot(segment[:, 0], segment[:, 1], color="black", lw=1.5)
            title = f"{title}\n{regions.regions(grid).n_regions} regions in view (exact)"
        else:
            param = next(module.parameters())
            with torch.no_grad():
                out = module(torch.as_tensor(grid, dtype=param.dtype)).double().numpy()
            if out.shape[1] != 2:
                raise ValueError(
                    f"panel {title!r} has {out.shape[1]} outputs; plot_decision_boundaries "
                    "draws networks with 2 outputs"
                )
            diff = (out[:, 1] - out[:, 0]).reshape(resolution, resolution)
            ax.contour(xs, ys, diff, levels=[0.0], colors="black", linewidths=1.5)
            title = f"{title}\n(zero contour of the logit difference)"
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
