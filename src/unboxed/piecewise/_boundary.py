"""Exact decision boundaries of 2-D piecewise-linear networks (Fig. 5 of
``003_9368caac562d9b13.txt``).

In every linear region the boundary between the two classes is the line
``(W~_1 - W~_0) x + (b~_1 - b~_0) = 0`` (eq. 5), cut to the region's polygon. Drawing
those segments for every region a fine grid visits gives the boundary exactly, not as a
contour of sampled values.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._progress import progress
from .._validation import (
    check_array,
    check_bounds,
    check_labels,
    check_number,
    check_positive_int,
)
from ..blackbox import BlackBox, module_input
from ._linearize import torch_network
from ._regions import ELEMENTWISE, LinearRegions, _exact_piecewise, _NoPolytopes


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
    parallel = np.abs(rate) < 1e-15
    if np.any(parallel & (slack < 0)):
        return None
    # A bound past the float range (a box near it) is +-inf: it bounds nothing the
    # box's own rows do not.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bound = slack / rate
    lo = np.max(bound, where=~parallel & (rate < 0), initial=-np.inf)
    hi = np.min(bound, where=~parallel & (rate > 0), initial=np.inf)
    if not lo < hi or not np.isfinite(lo) or not np.isfinite(hi):
        return None
    return np.stack([point + lo * direction, point + hi * direction])


#: Lengths and offsets below this fraction of the box's larger side count as zero; the
#: walk steps 10 times this across an edge, so a region thinner than that may be
#: stepped over.
RELATIVE_TOL = 1e-9
#: A walk that finds more regions than this stops with an error instead of running on.
MAX_REGIONS = 200_000
#: The most grid points per side, for the walk's starting points and the plot's
#: shading: 4 million points, 64 MB of them; 10**6 asked numpy for 7.28 TiB.
MAX_RESOLUTION = 2000


def _check_resolution(resolution: object) -> int:
    """``resolution`` as an int in ``[2, MAX_RESOLUTION]``."""
    resolution = check_positive_int(resolution, name="resolution", minimum=2)
    if resolution > MAX_RESOLUTION:
        raise ValueError(
            f"resolution must be at most {MAX_RESOLUTION} (a grid of {MAX_RESOLUTION}^2 "
            f"points), got {resolution}"
        )
    return resolution


@dataclasses.dataclass(frozen=True)
class Region:
    """One linear region of a 2-input network, cut to a box.

    Attributes
    ----------
    point : ndarray of shape (2,)
        A point of the region.
    H, h : ndarray
        ``H x <= h`` bounds the region within the box; rows have unit norm, the box's
        four last. A region made by hand has its rows (and ``h`` with them) scaled to
        unit norm: :meth:`edges` reads ``h`` as a row's distance from the origin.
    tol : float, optional
        The tolerance the region walk used (``RELATIVE_TOL`` times the box's larger
        side), the default of :meth:`polygon` and :meth:`edges`; None for a region
        made by hand.
    """

    point: np.ndarray
    H: np.ndarray
    h: np.ndarray
    tol: float | None = None

    def __post_init__(self) -> None:
        # A region made by hand: lists failed in edges() on numpy's indexing, and an H
        # of 3 columns on a matmul's core dimension.
        H = check_array(self.H, name="H", allow_empty=True)
        if H.shape[1] != 2:
            raise ValueError(f"H must have shape (n_rows, 2), got {H.shape}")
        h = check_array(self.h, name="h", ndim=1, allow_empty=True)
        if h.shape != (H.shape[0],):
            raise ValueError(f"h must have shape ({H.shape[0]},), one per row of H, got {h.shape}")
        # edges() puts row i's line through h_i H_i, on the line only where |H_i| = 1:
        # a square written with rows of norm 2 came back as a polygon of 2 corners.
        # hypot, not linalg.norm's sqrt of squares: a row of 1e-200 squared to 0 and was
        # called zero, one of 1e200 overflowed to inf (a RuntimeWarning) and became 0.
        norm = np.hypot(H[:, 0], H[:, 1])
        if np.any(norm == 0):
            raise ValueError(
                f"row {int(np.argmax(norm == 0))} of H is zero: it bounds nothing (or, "
                "with h < 0, leaves no region); drop it"
            )
        scale = np.where(np.abs(norm - 1.0) > 1e-12, norm, 1.0)  # the walk's rows are unit
        H, h = H / scale[:, None], h / scale
        point = check_array(self.point, name="point", ndim=None)
        if point.shape != (2,):
            raise ValueError(f"point must have shape (2,), got {point.shape}")
        object.__setattr__(self, "point", point)
        object.__setattr__(self, "H", H)
        object.__setattr__(self, "h", h)

    def polygon(self, tol: float | None = None) -> np.ndarray:
        """The region's corners in counter-clockwise order.

        Parameters
        ----------
        tol : float, optional
            A length in input units, above 0: how far a constraint may be violated,
            and the shortest stretch of a line that counts as an edge; by default
            the walk's own, :attr:`tol`. Corners are also rounded to multiples of it.

        Returns
        -------
        ndarray of shape (n_corners, 2)
            Empty, shape ``(0, 2)``, when the region has no edge.
        """
        tol = self._tolerance(tol)
        points, directions, lo, _, edge = self.edges(tol)
        # Each corner starts one edge (counter-clockwise); the edge before ends there too,
        # but only to within tol (the edges' slack), so its end would be a second corner.
        starts = points[edge] + lo[edge, None] * directions[edge]
        corners = np.unique(np.round(starts / tol) * tol, axis=0)
        if not corners.size:
            return np.zeros((0, 2))
        centre = corners.mean(axis=0)
        angle = np.arctan2(*(corners - centre).T[::-1])
        return corners[np.argsort(angle)]

    def edges(self, tol: float | None = None) -> tuple[np.ndarray, ...]:
        """Where each constraint's line bounds the region, all rows at once.

        Parameters
        ----------
        tol : float, optional
            A length in input units, above 0: how far a constraint may be violated,
            and the shortest stretch of a line that counts as an edge; by default
            the walk's own, :attr:`tol`.

        Returns
        -------
        points, directions : ndarray of shape (n_rows, 2)
            Row ``i``'s line is ``points[i] + t directions[i]``.
        lo, hi : ndarray of shape (n_rows,)
            The stretch ``lo <= t <= hi`` of that line on the region's border.
        edge : ndarray of bool, shape (n_rows,)
            Whether that stretch is at least ``tol`` long: the row is an edge.
        """
        tol = self._tolerance(tol)
        points = self.h[:, None] * self.H
        directions = np.stack([-self.H[:, 1], self.H[:, 0]], axis=1)
        # rate[i, j]: how fast constraint j's slack falls along line i.
        rate, slack = directions @ self.H.T, self.h + tol - points @ self.H.T
        # A bound past the float range (a box 1e300 wide, a near-parallel row) is +-inf,
        # which bounds nothing the box's own rows do not; it warned once per region.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            bound = slack / rate
        lo = np.where(rate < -1e-12, bound, -np.inf).max(axis=1)
        hi = np.where(rate > 1e-12, bound, np.inf).min(axis=1)
        outside = np.any((np.abs(rate) <= 1e-12) & (slack < 0), axis=1)
        edge = ~outside & np.isfinite(lo) & np.isfinite(hi) & (hi - lo >= tol)
        return points, directions, lo, hi, edge

    def _tolerance(self, tol: float | None) -> float:
        # 0 divided by zero into NaN corners; a negative or NaN tol gave no corners.
        if tol is None:
            if self.tol is None:
                raise TypeError("this Region was not found by regions_in_box: pass tol")
            return self.tol
        return check_number(tol, name="tol")


class _RegionWalk:
    """Every linear region of a 2-input network inside a box, found by walking across
    each region's edges from the regions a grid visits.

    Each edge of a region is crossed at the middle of its stretch not yet accounted
    for; the region found there accounts for its own stretch along that edge, and the
    rest is crossed again. So every neighbour of every region is found, and the box is
    connected, so every region is, however small (down to 10 ``RELATIVE_TOL``). The walk
    goes in rounds, every open stretch of every edge at once, so that the network sees
    one batch of probes per round instead of one probe at a time.
    """

    def __init__(self, regions: LinearRegions, bounds: tuple[float, ...], bar: Any = None) -> None:
        x0, x1, y0, y1 = bounds
        self.bar = bar  # a progress bar counting the regions found, or None
        self.regions = regions
        self.box_H = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
        self.box_h = np.array([x1, -x0, y1, -y0])
        self.tol = RELATIVE_TOL * max(x1 - x0, y1 - y0)
        self.found: dict[bytes, Region] = {}

    def run(self, seeds: np.ndarray) -> list[Region]:
        patterns = self.regions.activation_pattern(seeds)
        _, first = np.unique(patterns, axis=0, return_index=True)
        first = np.sort(first)
        _, stretches = self._visit(seeds[first], patterns[first])
        while stretches:
            stretches = self._cross(stretches)
        return list(self.found.values())

    def _visit(
        self, points: np.ndarray, patterns: np.ndarray | None = None
    ) -> tuple[list[Region], list[tuple]]:
        """The region of each point, and the edge stretches of those new to the walk:
        ``(region, row, lo, hi)``, row ``row`` of ``region.H`` from ``lo`` to ``hi``."""
        if not len(points):
            return [], []
        if patterns is None:
            patterns = self.regions.activation_pattern(points)
        keys = [pattern.tobytes() for pattern in patterns]
        new: dict[bytes, np.ndarray] = {}  # each new region with the first point in it
        for key, point in zip(keys, points, strict=True):
            if key not in self.found:
                new.setdefault(key, point)
        if len(self.found) + len(new) > MAX_REGIONS:
            raise ValueError(
                f"the box holds more than {MAX_REGIONS} linear regions; draw a smaller box"
            )
        stretches = []
        polytopes = self.regions._polytopes(np.array(list(new.values())).reshape(-1, 2))
        for (key, point), (H, h) in zip(new.items(), polytopes, strict=True):
            self.found[key] = region = self._region(point, H, h)
            if self.bar is not None:
                self.bar.update()
            _, _, lo, hi, edge = region.edges(self.tol)
            edge[-4:] = False  # the box's own sides
            stretches += [(region, row, lo[row], hi[row]) for row in np.flatnonzero(edge)]
        return [self.found[key] for key in keys], stretches

    def _region(self, point: np.ndarray, H: np.ndarray, h: np.ndarray) -> Region:
        """The region of ``point`` bounded by ``H x <= h`` and the box, rows of unit norm."""
        norm = np.linalg.norm(H, axis=1)
        keep = norm > 0  # a unit that ignores the input bounds nothing
        H = np.vstack([H[keep] / norm[keep, None], self.box_H])
        h = np.concatenate([h[keep] / norm[keep], self.box_h])
        return Region(point, H, h, self.tol)

    def _cross(self, stretches: list[tuple]) -> list[tuple]:
        """Probe each stretch at its middle, just across its edge; return the stretches
        still open: the parts the regions found there do not cover, and the new
        regions' edges."""
        lines = np.array([region.H[row] for region, row, _, _ in stretches])
        offsets = np.array([region.h[row] for region, row, _, _ in stretches])
        middles = np.array([0.5 * (a + b) for *_, a, b in stretches])
        directions = np.stack([-lines[:, 1], lines[:, 0]], axis=1)
        starts = offsets[:, None] * lines
        probes = starts + middles[:, None] * directions + 10 * self.tol * lines
        inside = np.all(probes @ self.box_H.T <= self.box_h, axis=1)  # else on the box's side
        others, still_open = self._visit(probes[inside])
        for index, other in zip(np.flatnonzero(inside), others, strict=True):
            region, row, a, b = stretches[index]
            # The other region's stretch of the line the probe lies on.
            covered = _clip_line(
                lines[index], -(offsets[index] + 10 * self.tol), other.H, other.h + self.tol
            )
            if other is region or covered is None:  # rounding; nothing left to find
                continue
            ends = np.sort((covered - starts[index]) @ directions[index])
            t = middles[index]
            c, d = min(ends[0], t - self.tol), max(ends[1], t + self.tol)
            still_open += [
                (region, row, u, v) for u, v in ((a, min(b, c)), (max(a, d), b)) if v - u > self.tol
            ]
        return still_open


def regions_in_box(
    regions: LinearRegions,
    bounds: Sequence[float],
    *,
    resolution: int = 50,
    verbose: bool = False,
) -> list[Region]:
    """Every linear region of a network with 2 inputs inside a box, exactly.

    The regions a ``resolution`` x ``resolution`` grid visits are the starting points;
    from them every region's edges are crossed until no new region turns up, so a
    region smaller than a grid cell is found too (down to 10 ``RELATIVE_TOL`` of the box).

    Parameters
    ----------
    regions : LinearRegions
        Of a network with 2 inputs and no max pooling.
    bounds : (x_min, x_max, y_min, y_max)
    resolution : int
        Grid points per side for the starting points (2 to ``MAX_RESOLUTION``, 2000);
        more only saves walking.
    verbose : bool
        Show a progress bar of the regions found (the walk of a 2-64-64-2 MLP's 6,082
        in [-3, 3]^2 takes about 10 s; its total is not known in advance).

    Returns
    -------
    list of Region
        Their polygons (``Region.polygon``) tile the box.
    """
    _check_regions(regions)
    if regions.n_features_in_ != 2:
        raise ValueError("regions_in_box needs a network with 2 inputs")
    resolution = _check_resolution(resolution)
    box = check_bounds(bounds, n_axes=2)
    x0, x1, y0, y1 = box
    grid = np.stack(
        np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)), -1
    ).reshape(-1, 2)
    with progress(verbose=verbose, desc="regions_in_box", unit="region") as bar:
        return _RegionWalk(regions, tuple(float(v) for v in box), bar).run(grid)


def _check_regions(regions: object) -> None:
    if not isinstance(regions, LinearRegions):  # an AttributeError on n_features_in_ before
        raise TypeError(
            f"regions must be a LinearRegions (of a 2-input network), got {type(regions).__name__}"
        )


def boundary_segments(
    regions: LinearRegions, bounds: Sequence[float], *, resolution: int = 50
) -> list[np.ndarray]:
    """The exact decision boundary of a 2-input, 2-output network inside a box.

    Parameters
    ----------
    regions : LinearRegions
        Of a network with 2 inputs and 2 outputs.
    bounds : (x_min, x_max, y_min, y_max)
    resolution : int
        Grid points per side for the region walk's starting points
        (:func:`regions_in_box`); every region is found whatever its value.

    Returns
    -------
    list of ndarray of shape (2, 2)
        One segment per region the boundary crosses.
    """
    return _boundary(regions, bounds, resolution)[1]


def _boundary(
    regions: LinearRegions, bounds: Sequence[float], resolution: int
) -> tuple[list[Region], list[np.ndarray]]:
    """The regions in the box, and the zero line of the logit difference in each."""
    _check_regions(regions)
    if regions.n_features_in_ != 2 or regions.n_outputs_ != 2:
        raise ValueError("boundary_segments needs a network with 2 inputs and 2 outputs")
    _warn_of_jumps(regions)
    found = regions_in_box(regions, bounds, resolution=resolution)
    w, b = regions.decision_features(np.stack([r.point for r in found]), 1, 0)
    segments = []
    for region, w_r, b_r in zip(found, w, b, strict=True):
        segment = _clip_line(w_r, b_r, region.H, region.h)
        if segment is not None:
            segments.append(segment)
    return found, segments


def _warn_of_jumps(regions: LinearRegions) -> None:
    """Warn when an activation is discontinuous: the network's output jumps across some
    region facets, and a boundary along such a facet is no region's zero line."""
    # Every piecewise-linear layer, not only linearised ones: a Threshold steps too.
    steps = [
        np.abs(_exact_piecewise(layer).jumps)
        for _, layer in regions.layers_
        if isinstance(layer, ELEMENTWISE)
    ]
    worst = max((float(step.max()) for step in steps if step.size), default=0.0)
    if worst > 1e-9:
        warnings.warn(
            f"an activation of this network jumps (by up to {worst:.3g}) at its breaks, so "
            "a decision boundary along a jump is not drawn; linearise with more pieces",
            UserWarning,
            stacklevel=4,
        )


def _check_panels(panels: object) -> list[tuple[Any, nn.Module]]:
    """The ``(title, network)`` pairs to draw, a torch black box as its network.

    Raises
    ------
    TypeError
        If a panel is no pair, or its network no torch module or torch black box.
    ValueError
        If there are no panels.
    """
    # One pair, ("tanh", net), is a sequence of two too: its title was read as a panel.
    if not isinstance(panels, Sequence) or isinstance(panels, str) or _is_panel(panels):
        raise TypeError(
            f"panels must be a list of (title, network) pairs, got {type(panels).__name__}"
        )
    if len(panels) == 0:
        raise ValueError("panels is empty: pass (title, network) pairs to draw")
    checked = []
    for panel in panels:
        if not (isinstance(panel, Sequence) and not isinstance(panel, str) and len(panel) == 2):
            # A module's repr runs over many lines: name the kind, and a tuple's length.
            size = f" of {len(panel)}" if isinstance(panel, Sequence) else ""
            raise TypeError(
                "each of panels must be a (title, network) pair, got a "
                f"{type(panel).__name__}{size}"
            )
        title, network = panel
        where = f"panel {title!r} (a (title, network) pair)"
        network = torch_network(network, reader="plot_decision_boundaries", name=where)
        checked.append((title, network))
    return checked


def _is_panel(value: object) -> bool:
    """Whether ``value`` is one ``(title, network)`` pair rather than a list of them."""
    return (
        isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], (nn.Module, BlackBox))
    )


def _check_two_outputs(title: object, n_outputs: int) -> None:
    """Refuse a panel whose network has other than 2 outputs, naming the panel."""
    if n_outputs != 2:
        raise ValueError(
            f"panel {title!r} has {n_outputs} outputs; plot_decision_boundaries "
            "draws networks with 2 outputs"
        )


def plot_decision_boundaries(
    panels: Sequence[tuple[str, Any]],
    X: object,
    y: object,
    *,
    resolution: int = 200,
    margin: float = 0.5,
    class_names: Sequence[str] | None = None,
) -> Any:
    """Side-by-side decision boundaries of 2-D binary networks (Fig. 5).

    A network :class:`LinearRegions` can handle gets its exact boundary (segments per
    region) over a shading of its linear regions; any other network (a smooth one) gets
    the zero contour of its logit difference. A network with NaN or infinite outputs
    on the box (a NaN weight) is refused: it has no boundary to draw.

    Parameters
    ----------
    panels : sequence of (title, torch.nn.Module or torch BlackBox)
    X : array-like of shape (n_samples, 2)
    y : array-like of shape (n_samples,)
    resolution : int
        Grid points per side of the shading (2 to ``MAX_RESOLUTION``, 2000).
    margin : float
        Added around the data's bounding box.
    class_names : sequence of str, optional
        The name of each class of ``y``, shown in the first panel's legend; by
        default "class 0", "class 1", ...

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.figure import Figure

    X = check_array(X, ndim=2)
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 features, got {X.shape[1]}")
    y = check_labels(y, n=X.shape[0])  # one of the wrong length was drawn as it came
    margin = check_number(margin, name="margin", strict=False)
    # 0 was blamed on X ("X is empty"), 2.5 and -3 raised from inside numpy
    resolution = _check_resolution(resolution)
    panels = _check_panels(panels)
    n_classes = max(2, int(y.max()) + 1)
    if class_names is None:
        class_names = [f"class {k}" for k in range(n_classes)]
    names = tuple(str(c) for c in np.atleast_1d(np.asarray(class_names, dtype=object)))
    if len(names) < n_classes:
        raise ValueError(f"y holds class {n_classes - 1}, but class_names has {len(names)} names")
    # The colour of class k, as scatter(c=y, cmap="coolwarm") gave it, for the legend.
    cmap = matplotlib.colormaps["coolwarm"]
    colours = {k: cmap(k / (len(names) - 1)) for k in np.unique(y).tolist()}
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    # Checked here: the region walk's refusal of such a box was caught below as a
    # network LinearRegions refuses, and the network drawn as a smooth one's contour.
    flat = np.flatnonzero(~(hi > lo))
    if flat.size:
        raise ValueError(
            f"X spans no width along feature {flat[0]} and margin is {margin}: the plot's "
            "box would be empty; pass margin > 0"
        )
    bounds = check_bounds(
        (lo[0], hi[0], lo[1], hi[1]), name="the plot's box (X's, widened by margin)", n_axes=2
    )
    fig = Figure(figsize=(4 * len(panels), 4))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    xs, ys = np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    for ax, (title, module) in zip(axes, panels, strict=True):
        for k, colour in colours.items():
            mask = y == k
            ax.scatter(X[mask, 0], X[mask, 1], color=colour, s=4, alpha=0.5, label=names[k])
        refused: ValueError | None = None
        try:
            regions = LinearRegions(module, input_shape=(2,))
        except ValueError as err:  # a smooth network, or one LinearRegions cannot read
            regions, refused = None, err
        if regions is not None:
            _check_two_outputs(title, regions.n_outputs_)
            # Only LinearRegions' refusals fall back to a contour: the walk's other
            # errors ("more than MAX_REGIONS regions") drew a ReLU network as a smooth
            # one's contour, saying nothing.
            try:
                found, segments = _boundary(regions, bounds, resolution=50)
            except _NoPolytopes:  # max pooling: read, but its regions have no polygons
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
            title = f"{title}\n{len(found)} regions in view (exact)"
        else:
            try:
                with torch.no_grad():
                    out = module(module_input(module, grid)).double().cpu().numpy()
            except RuntimeError as err:  # torch's shape error, naming no panel
                raise ValueError(
                    f"panel {title!r} failed on 2-D inputs; plot_decision_boundaries draws "
                    f"networks with 2 inputs: {err}"
                ) from err
            _check_two_outputs(title, out.shape[1])
            bad = int(np.count_nonzero(~np.isfinite(out).all(axis=1)))
            if bad:
                # A NaN weight (which LinearRegions refuses) made every output NaN, and
                # the zero contour of NaNs was an empty panel, drawn without a word.
                why = f" ({refused})" if refused is not None else ""
                raise ValueError(
                    f"panel {title!r} gives NaN or infinite outputs at {bad} of "
                    f"{out.shape[0]} points of the plot's box{why}; its boundary cannot "
                    "be drawn"
                )
            diff = (out[:, 1] - out[:, 0]).reshape(resolution, resolution)
            ax.contour(xs, ys, diff, levels=[0.0], colors="black", linewidths=1.5)
            title = f"{title}\n(zero contour of the logit difference)"
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_title(title, fontsize=9)
    # Which colour is which class: the dots named none.
    axes[0].legend(fontsize=7, markerscale=3, loc="best")
    fig.tight_layout()
    return fig
