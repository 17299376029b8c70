"""Matplotlib figures for explanations and deletion curves.

Images get a heat map laid over the grayscale input; tabular data gets bars of the
largest attributions. Every function returns the figure and never calls ``show``,
so it works headless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._ranks import descending_order
from .._validation import (
    RandomState,
    check_instance,
    check_positive_int,
    check_random_state,
    is_int,
)
from ..blackbox import class_title

if TYPE_CHECKING:
    from ..evaluate import DeletionCurve, PCRResult
    from ..explanation import Attribution, FeatureImportance
    from ..surrogates import TreeSurrogate


def _figure(
    n_panels: int, *, panel_size: float = 2.4, labels: list[str] | None = None
) -> tuple[Any, Any]:
    """A figure of ``n_panels`` panels, at most five a row; bar panels (their tick
    ``labels`` given) are widened by the longest label, so that the names of one panel
    do not run into the bars of the next."""
    # A bare Figure, not pyplot: it is freed with its last reference instead of piling
    # up in pyplot's registry, and it needs no display.
    from matplotlib.figure import Figure

    if n_panels == 0:
        raise ValueError("nothing to plot: pass at least one row or class")
    cols = min(n_panels, 5)  # at most five panels a row
    rows = -(-n_panels // cols)
    # About 0.06 in a character at the bars' 7 pt labels.
    width = panel_size + 0.06 * max((len(label) for label in labels or []), default=0)
    laid_out = f"{n_panels} panels ({rows} row{'s' * (rows != 1)} of {cols})"
    _check_figure_size(width * cols, panel_size * rows, what=laid_out)
    fig = Figure(figsize=(width * cols, panel_size * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.axis("off")
    return fig, axes.flat


def _max_inches() -> float:
    """The most inches a figure may span on a side: the most pixels the installed
    matplotlib's Agg saves, at its default 100 dpi. That is 2**16 (655 in) before
    matplotlib 3.10 and 2**23 (83,886 in) since, where its 16-bit limits were lifted.
    (Read when a figure is made: importing unboxed.report imports no matplotlib.)"""
    import matplotlib

    return (2**23 if tuple(matplotlib.__version_info__[:2]) >= (3, 10) else 2**16) / 100


def _check_figure_size(width: float, height: float, *, what: str) -> None:
    """Refuse a figure of ``width`` by ``height`` inches (of ``what``: "2000 panels",
    say) that matplotlib cannot save at its default 100 dpi, before anything is drawn:
    savefig raised "Image size of ... pixels is too large" only after every panel was
    drawn and laid out. The limit is the installed matplotlib's (:func:`_max_inches`):
    655 in, the limit before 3.10, refused figures that 3.10 and later save."""
    most = _max_inches()
    if max(width, height) >= most:
        raise ValueError(
            f"{what} make a figure of {width:.0f} x {height:.0f} in, more than matplotlib "
            f"can save ({most:.0f} in a side at 100 dpi); draw fewer at a time"
        )


def _hide_unused_axes(panels: Any) -> None:
    """Hide the x and y axis of each panel drawn with its axes off (a picture, a heat
    map, a blank): ``axis("off")`` already keeps them from being drawn, but matplotlib
    still places their ticks each time it places a title (``tight_layout``, and each
    draw), which was most of the time of a grid of pictures (a 30-digit gallery drew
    2.1-2.6x faster without, ``plot_attribution`` of 10 digits 1.5-1.9x)."""
    for ax in panels:
        if not ax.axison:
            ax.xaxis.set_visible(False)
            ax.yaxis.set_visible(False)


def _check_drawable(
    values: np.ndarray, what: str, *, as_: str = "bars", image_shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """``values``, refused where matplotlib cannot place them: NaN or infinity (an
    explainer's handed-over array is not scanned for them), or a range so wide that
    matplotlib's scaling overflows: [1e308, -1e308] raised its RuntimeWarning "overflow
    encountered in subtract" from deep in matplotlib, or drew a blank panel.

    How wide a range matplotlib scales depends on what they are drawn ``as_``: "bars"
    (their axis, 0 included), a "heat" map (its colours, [0, m] or, with a negative
    value, [-m, m] for the largest magnitude m) or a "background" image (from its
    lowest value to its highest); a heat map or background of several channels in
    ``image_shape`` is their mean (:func:`_as_image`), whose sum must not overflow.
    """
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"{what} holds {values.flat[bad]} at feature {bad}; nothing to draw")
    low, high = float(values.min()), float(values.max())
    largest = max(abs(low), abs(high))
    channels = image_shape[0] if image_shape is not None and len(image_shape) == 3 else 1
    if as_ == "bars":
        # A sixteenth of the largest float: the bars' axis adds margins and ticks past
        # the span; bars of 4e307 already overflowed matplotlib's tick locator.
        low, high = min(low, 0.0), max(high, 0.0)
        start, end, widest = low, high, _WIDEST
        rule = f"at most {widest:.3g} from end to end, 0 included"
    else:
        # Only a range past the largest float overflows here: a heat map of [1e308, 0]
        # or [8e307, -8e307] drew as any other, which the bars' limit refused. Of the
        # array's float, as matplotlib's norm subtracts in it: float32 colours of
        # [-3e38, 3e38] raised its "overflow encountered in subtract".
        widest = _summed(values)
        start, end = (low, high) if as_ == "background" else (0.0, largest)
        if as_ == "heat" and low < 0:
            start = -largest
        rule = (
            "" if as_ == "background" else f"a heat map's colours run from {start:g} to {end:g}, "
        )
        rule += f"at most {widest:.3g} from end to end"
        if channels > 1:
            rule += f", and its {channels} channels' sum at most that"
    width = end - start  # inf where it overflows
    if not (width <= widest and channels * largest <= _summed(values)):  # NaN-safe
        raise ValueError(
            f"{what} spans {low:g} to {high:g}, too wide for matplotlib to scale ({rule}); "
            "rescale them"
        )
    return values


def _summed(values: np.ndarray) -> float:
    """The largest sum of ``values`` numpy's mean holds, and the widest range
    matplotlib's norm scales them over: both work in float32 for float32 (3 channels
    of a float32 attribution of 3e38 overflowed in :func:`_as_image`, with the
    RuntimeWarning "overflow encountered in reduce"), float16 in float32 as well."""
    narrow = values.dtype in (np.float32, np.float16)
    return float(np.finfo(np.float32).max) if narrow else _LARGEST


#: The largest float: the widest range a heat map's colours or a background may span.
_LARGEST = float(np.finfo(float).max)
#: The widest range of bars' values, 0 included, :func:`_check_drawable` lets through.
_WIDEST = _LARGEST / 16


def _as_image(flat: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """A 2-D (H, W) view; channels are averaged so that any image can be overlaid."""
    image = flat.reshape(image_shape)
    return image.mean(axis=0) if image.ndim == 3 else image


def _heat(ax: Any, heat: np.ndarray, background: np.ndarray | None, title: str) -> None:
    """Draw ``heat`` (red for positive, blue for negative) over a grayscale image.

    Each pixel's opacity grows with its magnitude, so the image shows through where
    the attribution is small.
    """
    limit = float(np.abs(heat).max()) or 1.0
    cmap = "Reds" if heat.min() >= 0 else "bwr"
    vmin = 0.0 if cmap == "Reds" else -limit
    if background is None:
        ax.imshow(heat, cmap=cmap, vmin=vmin, vmax=limit, interpolation="nearest")
    else:
        ax.imshow(background, cmap="gray", interpolation="nearest")
        alpha = np.clip(np.abs(heat) / limit, 0.0, 1.0) * 0.85
        ax.imshow(heat, cmap=cmap, vmin=vmin, vmax=limit, alpha=alpha, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _bars(
    ax: Any,
    values: np.ndarray,
    names: list[str],
    title: str,
    top: int,
    ci: np.ndarray | None = None,
    value_label: str | None = None,
) -> None:
    """The ``top`` largest ``|values|`` as bars, each with its interval (``ci``, shape
    ``(n_features, 2)``) as an error bar from its low to its high end where there is
    one, and ``value_label`` on the value axis where given."""
    order = descending_order(np.abs(values), top)[::-1]
    ax.barh(range(len(order)), values[order], color=np.where(values[order] >= 0, "C3", "C0"))
    if ci is not None:
        low, high = ci[order].T
        _intervals(ax, np.arange(len(order)), low, high, ecolor="k", elinewidth=0.8, capsize=1.5)
    ax.set_yticks(range(len(order)), [names[i] for i in order], fontsize=7)
    ax.set_title(title, fontsize=8)
    if value_label is not None:
        ax.set_xlabel(value_label, fontsize=7)


#: Per-row faithfulness figures an attribution's ``meta`` may hold, and how a panel's
#: title names them: the completeness gap of integrated gradients and DeepLIFT, the
#: weighted R^2 of LIME's and KernelSHAP's local fit, the R^2 of DMM-MEN's local fit,
#: the held-out R^2 of the DMM-MEN class fit a global explanation comes from.
_ROW_FIGURES = (
    ("delta", "completeness gap"),
    ("score", "local R²"),
    ("r2", "local R²"),
    ("class_r2", "class R² (held out)"),
)
#: The out-of-sample figure that goes beside an in-sample one, and its label: the
#: cross-validated R^2 of LIME's and KernelSHAP's fit, the held-out R^2 of DMM-MEN's.
_OUT_OF_SAMPLE = {"score": ("score_cv", "CV"), "r2": ("r2_held_out", "held out")}


def _row_figure(meta: dict[str, Any], row: int) -> str:
    """The row's faithfulness figure for its panel's title, or "" if meta has none."""
    for key, label in _ROW_FIGURES:
        value = _row_value(meta, key, row)
        if value is not None:
            # The in-sample R^2 flatters; its out-of-sample figure goes beside it
            # (files saved before it existed have none).
            other_key, other_label = _OUT_OF_SAMPLE.get(key, (None, ""))
            other = None if other_key is None else _row_value(meta, other_key, row)
            return f"\n{label} {value:.3g}" + (
                "" if other is None else f" ({other_label} {other:.3g})"
            )
    return ""


def _row_value(meta: dict[str, Any], key: str, row: int) -> float | None:
    """``meta[key][row]`` if it is a number, else None."""
    values = meta.get(key)
    if isinstance(values, list) and row < len(values):
        value = values[row]
        # None is a NaN saved as JSON (the R^2 of a constant response)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def plot_attribution(
    attribution: Attribution,
    index: int | list[int] = 0,
    *,
    top: int = 15,
    row_names: Sequence[object] | None = None,
) -> Any:
    """Plot rows of an :class:`~unboxed.Attribution`.

    A panel's title names the method, the row (its name in ``row_names`` where given,
    else its index in the attribution) and its class (by the model's label in
    ``class_names`` where the explanation has them, else its column index in
    ``target``), and the row's own faithfulness figure where the method records one in
    ``meta``: the completeness gap (``"delta"``: integrated gradients, DeepLIFT,
    linear regions), the local fit's R^2
    (``"score"``: LIME and KernelSHAP, followed by the cross-validated
    ``"score_cv"`` where it was recorded; ``"r2"``: DMM-MEN's ``explain_local``,
    followed by its held-out ``"r2_held_out"`` where it was recorded) or
    the held-out R^2 of the DMM-MEN class fit (``"class_r2"``: its ``explain``).

    Parameters
    ----------
    attribution : Attribution
    index : int or list of int
        The rows to show, one panel each.
    top : int
        The number of bars for tabular data, at least 1.
    row_names : sequence or 1-D array, optional
        One name per row of the attribution (a list, an array, a pandas Index), shown
        in its panel's title instead of its index: the rows' numbers in the data they
        came from, say, where the attribution holds rows 5 to 7 of a test split
        (``range(5, 8)``: "row 5" for index 0). By default the attribution's own
        ``row_names`` (a DataFrame's index), if any.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a row of ``index`` is out of range, or ``row_names`` does not name every row.
    """
    fig = _attribution_panels(attribution, index, top=top, row_names=row_names)[0]
    fig.tight_layout()
    return fig


def _intervals(
    ax: Any,
    at: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    *,
    vertical: bool = False,
    **style: Any,
) -> Any:
    """Error bars from each ``low`` to its ``high`` at positions ``at`` (on the y axis,
    or the x axis where ``vertical``), drawn about their own centres in ``style``.

    A percentile interval need not hold its value (a bootstrap's of a statistic near
    0, or of subsamples against all the cases' mean), and as offsets from the value,
    which matplotlib wants >= 0, such an interval was drawn on the wrong side or cut
    short. One that excludes its value stands apart from it.
    """
    mid, half = (low + high) / 2, (high - low) / 2
    if vertical:
        return ax.errorbar(at, mid, yerr=half, fmt="none", **style)
    return ax.errorbar(mid, at, xerr=half, fmt="none", **style)


def _attribution_panels(
    attribution: Attribution,
    index: int | list[int],
    *,
    top: int,
    row_names: Sequence[object] | None,
    spare: int = 0,
) -> tuple[Any, list[Any]]:
    """:func:`plot_attribution`'s figure, laid out before its ``tight_layout``, with
    ``spare`` more panels after the rows' for the caller to draw on: the figure and
    those spare axes."""
    from ..explanation import Attribution  # here, as the type hints are under TYPE_CHECKING

    # checked first: a bare AttributeError on n_samples before
    check_instance(attribution, Attribution, name="attribution", what="an Attribution")
    top = check_positive_int(top, name="top")
    rows = np.atleast_1d(index).tolist()
    for row in rows:
        # 1.5 passed int() and failed in numpy's indexing; True selected a mask
        if not is_int(row):
            raise ValueError(f"index must be an int or a list of ints, got {row!r}")
        if not 0 <= row < attribution.n_samples:
            raise ValueError(f"row {row} is out of range for {attribution.n_samples} samples")
    if row_names is None:
        row_names = attribution.row_names
    shown_rows = _row_names(row_names, attribution.n_samples)
    names = list(attribution.feature_names or [f"x{j}" for j in range(attribution.n_features)])
    if not rows:  # the spare panels alone would draw a figure of no row
        raise ValueError("nothing to plot: pass at least one row or class")
    fig, flat = _figure(
        len(rows) + spare, labels=names if attribution.image_shape is None else None
    )
    axes = list(flat)
    method = attribution.meta.get("method", "attribution")
    for ax, row in zip(axes, rows, strict=False):
        # The model's own label where the explainer recorded it (a model fitted on
        # 1..3 showed "class 0" for its first class), else the column index.
        title = f"{method}: row {shown_rows[row]}, {class_title(attribution.class_name(row))}"
        title += _row_figure(attribution.meta, row)
        shape = attribution.image_shape
        values = _check_drawable(
            attribution.values[row],
            f"attribution.values (row {row})",
            as_="bars" if shape is None else "heat",
            image_shape=shape,
        )
        if shape is None:
            _bars(ax, values, names, title, top)
            continue
        background = None
        if attribution.inputs is not None:
            inputs = _check_drawable(
                attribution.inputs[row],
                f"attribution.inputs (row {row})",
                as_="background",
                image_shape=shape,
            )
            background = _as_image(inputs, shape)
        _heat(ax, _as_image(values, shape), background, title)
    _hide_unused_axes(axes)
    return fig, axes[len(rows) : len(rows) + spare]


def _attribution_and_deletion_curve(
    attribution: Attribution,
    index: int | list[int],
    curve: DeletionCurve,
    baseline: DeletionCurve | None = None,
    *,
    row_names: Sequence[object] | None = None,
    unit: str | None = None,
) -> Any:
    """:func:`plot_attribution` of the rows ``index`` with, in one more panel after
    theirs, :func:`plot_deletion_curve` of ``curve`` and its random ``baseline`` (its
    axis counting ``unit``): ``unboxed explain --plot``'s one figure, the attributions
    beside how faithful they are."""
    _, (ax,) = _attribution_panels(attribution, index, top=15, row_names=row_names, spare=1)
    # which lays the whole figure out
    return plot_deletion_curve(curve, baseline, ax=ax, unit=unit)


def _row_names(row_names: Sequence[object] | None, n_samples: int) -> list[str]:
    """The name of each of ``n_samples`` rows in a panel's title: ``row_names``, checked
    to name every row, or the rows' indices."""
    if row_names is None:
        return [str(row) for row in range(n_samples)]
    if not isinstance(row_names, str | Sequence) and np.ndim(row_names) == 1:
        # An array, a pandas Index or Series (a test split's index, say) names its rows
        # as a list does; they were refused as not a sequence.
        row_names = list(np.asarray(row_names, dtype=object))
    if isinstance(row_names, str) or not isinstance(row_names, Sequence):
        raise TypeError(
            f"row_names must be a sequence of names, one per row, got {type(row_names).__name__}"
        )
    if len(row_names) != n_samples:
        raise ValueError(f"row_names names {len(row_names)} rows; the attribution has {n_samples}")
    return [str(name) for name in row_names]


def plot_feature_importance(
    importance: FeatureImportance,
    class_: int | list[int] | None = None,
    *,
    top: int = 15,
    value_label: str | None = None,
) -> Any:
    """Plot a :class:`~unboxed.FeatureImportance`, one panel per class.

    Tabular importances are bars, each with its 95% interval as an error bar when the
    importance has ``ci`` (permutation importance); images are heat maps.

    Parameters
    ----------
    importance : FeatureImportance
    class_ : int, list of int or None
        The classes to show; None shows all.
    top : int
        The number of bars for tabular data, at least 1.
    value_label : str, optional
        What the bars' values are, under their axis (tabular data only), such as
        the units of a regression's coefficients.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..explanation import FeatureImportance  # here, as in plot_attribution

    # checked first: a bare AttributeError before
    check_instance(importance, FeatureImportance, name="importance", what="a FeatureImportance")
    top = check_positive_int(top, name="top")
    if value_label is not None:
        check_instance(value_label, str, name="value_label", what="a str")
    if class_ is None:
        classes = list(range(importance.n_classes))
    else:
        classes = np.atleast_1d(class_).tolist()
    # A row's own name as its title: rows are not always classes (an insight's rows are
    # components, a permutation importance has one row for all classes).
    titles = importance.class_names or tuple(class_title(c) for c in range(importance.n_classes))
    names = list(importance.feature_names or [f"x{j}" for j in range(importance.n_features)])
    fig, axes = _figure(len(classes), labels=names if importance.image_shape is None else None)
    for ax, c in zip(axes, classes, strict=False):
        row = importance._row(c)
        values = _check_drawable(
            importance.values[row],
            f"importance.values (row {row})",
            as_="bars" if importance.image_shape is None else "heat",
            image_shape=importance.image_shape,
        )
        title = titles[row]
        if importance.image_shape is None:
            ci = None if importance.ci is None else importance.ci[row]
            if ci is not None:
                # The error bars share the bars' axis: an interval of [-1e308, 1e308]
                # about small values raised matplotlib's overflow warning.
                _check_drawable(
                    np.concatenate([values, ci.ravel()]), f"importance.values and ci (row {row})"
                )
            _bars(ax, values, names, title, top, ci, value_label)
        else:
            _heat(ax, _as_image(values, importance.image_shape), None, title)
    _hide_unused_axes(fig.axes)  # axes, a flat iterator, is spent
    fig.tight_layout()
    return fig


def _one_panel(ax: Any, *, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """The figure and axes of a one-panel plot: those of ``ax``, checked to be a
    matplotlib Axes, or a new figure of ``figsize`` inches and its axes."""
    if ax is None:
        # A bare Figure, as in _figure: freed with its last reference, no display needed.
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.add_subplot()
    from matplotlib.axes import Axes

    check_instance(ax, Axes, name="ax", what="a matplotlib Axes")
    return ax.figure, ax


#: Inches from a deletion curve's axes down to its legend: the ticks, their labels and
#: the axis label at 8 pt.
_UNDER_THE_AXIS = 0.45


def plot_deletion_curve(
    curve: DeletionCurve,
    baseline: DeletionCurve | None = None,
    *,
    ax: Any = None,
    n_boot: int = 1000,
    random_state: RandomState = 0,
    unit: str | None = None,
) -> Any:
    """Plot a :class:`~unboxed.evaluate.DeletionCurve`: the mean drop in the explained
    class's probability against the number k of features (segments) removed.

    Each curve comes with its 95% percentile-bootstrap band over rows (none for a
    curve of one row), and its AOPC with its CI in the legend, under the axes. A
    ``baseline``, the curve of a random ranking of the same rows, is drawn beside it
    for comparison: a faithful ranking drops faster.

    Parameters
    ----------
    curve : DeletionCurve
    baseline : DeletionCurve, optional
        The curve of a random ranking, as :func:`~unboxed.evaluate.deletion_curve`
        gives it for ``ranking="random"`` with the curve's rows, ``max_k``,
        ``segments``, fill and target.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; by default those of a new figure.
    n_boot : int, default=1000
        Bootstrap draws for the bands.
    random_state : int, Generator or None, default=0
        Seeds the bands' bootstrap: the same seed draws the same figure.
    unit : str, optional
        What k counts, in the singular, for the x-axis label: by default the curve's
        ``meta["unit"]``, "feature" or "segment"; "pixel" for an image's segments of
        one pixel each.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the one ``ax`` belongs to.

    Raises
    ------
    TypeError
        If ``curve`` or ``baseline`` is not a DeletionCurve, ``ax`` is not a
        matplotlib Axes, or ``unit`` is not a string.
    ValueError
        If ``baseline`` has other rows or steps than ``curve``, or removes other units
        or with another fill.
    """
    from matplotlib.transforms import ScaledTranslation

    from ..evaluate import DeletionCurve  # here, as the type hints are under TYPE_CHECKING
    from ..evaluate._stats import bootstrap_mean

    # checked first: a bare AttributeError on drop before
    check_instance(curve, DeletionCurve, name="curve", what="a DeletionCurve")
    if baseline is not None:
        curve._check_pairs_with(baseline)
    if unit is not None:
        check_instance(unit, str, name="unit", what="a string")
    fig, ax = _one_panel(ax, figsize=(4.5, 3.2))
    # One generator for both bands, so that the seed fixes the whole figure.
    rng = check_random_state(random_state)
    drawn = [(curve, "ranking", "C3")]
    if baseline is not None:
        drawn.append((baseline, "random ranking", "C0"))
    banded = False
    for shown, name, color in drawn:
        mean, ci = bootstrap_mean(shown.drop, n_boot=n_boot, random_state=rng)
        ax.plot(shown.ks, mean, color=color, marker="o", ms=3, label=f"{name}, AOPC {shown.aopc}")
        # A bootstrap of one row draws it every time: a band of zero width would read
        # as certainty (the AOPC in the legend says "no CI" there too).
        if shown.drop.shape[0] > 1:
            ax.fill_between(shown.ks, ci[:, 0], ci[:, 1], color=color, alpha=0.2, linewidth=0)
            banded = True
    unit = curve.meta.get("unit", "feature") if unit is None else unit
    ax.set_xlabel(f"k, the top-ranked {unit}s removed", fontsize=8)
    # On two lines: on one it was taller than explain --plot's panel beside 1 to 3
    # rows (a figure 2.4 in high), and cut off at the figure's top.
    ax.set_ylabel("mean drop in the\nclass's probability", fontsize=8)
    n = curve.drop.shape[0]
    bands = " (95% CI bands)" if banded else ""
    ax.set_title(f"deletion curve, {n} row{'s' * (n != 1)}{bands}", fontsize=8)
    # Under the axis, not in it: in explain --plot's small panel the legend was as wide
    # as the axes and sat on the curves it names. Offset in points below the tick
    # labels and the axis label, which tight_layout then makes room for.
    below = ScaledTranslation(0, -_UNDER_THE_AXIS, fig.dpi_scale_trans)
    ax.legend(
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, 0),
        bbox_transform=ax.transAxes + below,
        frameon=False,
    )
    fig.tight_layout()
    return fig


#: What the k of a PCR test counts, by its ``meta["test"]``.
_PCR_KS = {
    "deletion": "k, the top-ranked features set to the fill",
    "crafted": "k, the top-ranked features given positive values (the rest noise)",
}


def plot_pcr(result: PCRResult, *, label: str = "ranked", ax: Any = None) -> Any:
    """Plot a :class:`~unboxed.evaluate.PCRResult` (of
    :func:`~unboxed.evaluate.deletion_test` or :func:`~unboxed.evaluate.crafted_cases`):
    the positive classification rate against k, when the ranked features are
    manipulated and when k random ones are, each with its 95% bootstrap CI as error
    bars.

    A faithful ranking parts the two: in the deletion test of positive cases its PCR
    falls far below the random features'; the PCR of crafted cases stays above it.

    Parameters
    ----------
    result : PCRResult
    label : str, default="ranked"
        What the ranked features are called in the legend, as in
        :meth:`~unboxed.evaluate.PCRResult.to_markdown`.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; by default those of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the one ``ax`` belongs to.

    Raises
    ------
    TypeError
        If ``result`` is not a PCRResult, ``label`` not a str, or ``ax`` not a
        matplotlib Axes.
    """
    from matplotlib.ticker import MaxNLocator

    from ..evaluate import PCRResult  # here, as the type hints are under TYPE_CHECKING

    # checked first: a bare AttributeError on pcr before
    check_instance(result, PCRResult, name="result", what="a PCRResult")
    check_instance(label, str, name="label", what="a str")
    fig, ax = _one_panel(ax, figsize=(4.5, 3.2))
    for pcr, ci, name, color in (
        (result.pcr, result.pcr_ci, f"{label} features", "C3"),
        (result.random_pcr, result.random_pcr_ci, "random features", "C0"),
    ):
        ax.plot(result.ks, pcr, color=color, marker="o", ms=3, label=name)
        # Error bars, not a band: a test of one k would draw a band of no width.
        _intervals(ax, result.ks, ci[:, 0], ci[:, 1], vertical=True, ecolor=color, capsize=2.5)
    # Files saved before meta recorded the test do not say what k counted.
    test = str(result.meta.get("test"))
    ax.set_xlabel(_PCR_KS.get(test, "k, the top-ranked features manipulated"), fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # k counts features
    ax.set_ylabel("PCR: share of cases classified\nas the tested class", fontsize=8)
    ax.set_ylim(-0.02, 1.02)  # a rate: the whole range, so that two plots compare
    n = result.n_cases
    what = {"deletion": "deletion test", "crafted": "crafted cases"}.get(test, "PCR test")
    cases = result.meta.get("cases")  # the deletion test's positive or negative ones
    cases = f"{cases} case" if isinstance(cases, str) else "case"
    ax.set_title(f"{what}, {n} {cases}{'s' * (n != 1)} (95% CIs)", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_tree_surrogate(
    surrogate: TreeSurrogate,
    *,
    max_depth: int | None = None,
    feature_names: Sequence[str] | None = None,
    decimals: int = 3,
    unscale: Callable[[np.ndarray, np.ndarray], object] | None = None,
    ax: Any = None,
) -> Any:
    """Draw a fitted :class:`~unboxed.surrogates.TreeSurrogate` as its
    :meth:`~unboxed.surrogates.TreeSurrogate.export_text` prints it.

    Each split's box reads its rule (``name <= threshold``, its left branch "yes"),
    each leaf's its class, and every box the number of the tree's training rows
    (``train_indices_``) that reach it. A split whose leaves all predict one class is
    one leaf, as in the text; the title gives the tree's fidelity with its CI.

    Parameters
    ----------
    surrogate : TreeSurrogate
        A fitted one.
    max_depth : int, optional
        Draw only the splits this many levels below the root (0: the root alone);
        a split cut there says "deeper splits not drawn". By default the whole tree.
    feature_names, decimals, unscale
        As in :meth:`~unboxed.surrogates.TreeSurrogate.export_text`, whose thresholds
        the boxes read: in raw units with ``unscale=dataset.to_raw``.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; by default those of a new figure, sized to the tree.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the one ``ax`` belongs to.

    Raises
    ------
    TypeError
        If ``surrogate`` is not a TreeSurrogate or ``ax`` not a matplotlib Axes.
    ValueError
        If ``max_depth`` is not an int >= 0, or for the arguments
        :meth:`~unboxed.surrogates.TreeSurrogate.export_text` refuses.
    """
    from matplotlib.colors import to_rgb

    from ..surrogates import TreeSurrogate
    from ..surrogates._tree import _printed_leaves

    check_instance(surrogate, TreeSurrogate, name="surrogate", what="a TreeSurrogate")
    if max_depth is not None:
        max_depth = check_positive_int(max_depth, name="max_depth", minimum=0)
    # Drawn here rather than by sklearn.tree.plot_tree: its boxes print the thresholds
    # the tree learnt (standardized where the data are) and every split scikit-learn
    # kept, and relabelling them would hang on the order and wording of its private
    # annotations. The thresholds are export_text's own, from the same code.
    names, labels, thresholds = surrogate._readable(feature_names, decimals, unscale)
    t = surrogate.tree_.tree_
    leaf_class = _printed_leaves(t)
    # Depth first, left before right, without recursion (a tree may be deeper than
    # Python's stack): (node, depth, index of the parent's box or -1, left branch).
    boxes: list[tuple[int, int, int, bool]] = []
    pending = [(0, 0, -1, True)]
    while pending:
        node, depth, parent, left = pending.pop()
        boxes.append((node, depth, parent, left))
        if leaf_class[node] < 0 and (max_depth is None or depth < max_depth):
            me = len(boxes) - 1
            pending += [
                (int(t.children_right[node]), depth + 1, me, False),
                (int(t.children_left[node]), depth + 1, me, True),
            ]
    # The drawn leaves side by side, in order; each split over the middle of its
    # children (which come after it in ``boxes``, so a pass back settles them first).
    children: list[list[int]] = [[] for _ in boxes]
    for i, (_, _, parent, _) in enumerate(boxes):
        if parent >= 0:
            children[parent].append(i)
    x = np.zeros(len(boxes))
    x[[i for i in range(len(boxes)) if not children[i]]] = np.arange(sum(not c for c in children))
    for i in range(len(boxes) - 1, -1, -1):
        if children[i]:
            x[i] = x[children[i]].mean()
    n_wide = int(sum(not c for c in children))
    n_levels = max(depth for _, depth, _, _ in boxes) + 1
    texts, n_cut = [], 0
    for node, depth, _, _ in boxes:
        rows = f"{int(t.n_node_samples[node])} rows"
        if leaf_class[node] >= 0:
            texts.append(f"class: {labels[leaf_class[node]]}\n{rows}")
            continue
        text = f"{names[t.feature[node]]} <= {thresholds[node]}\n{rows}"
        cut = max_depth is not None and depth == max_depth
        n_cut += cut
        texts.append(text + "\n(deeper splits not drawn)" * cut)
    # About 0.06 in a character at 7 pt, as in _figure; capped, where max_depth is
    # the way to a readable figure, so that matplotlib can still draw it.
    box_width = 0.3 + 0.065 * max(len(line) for text in texts for line in text.split("\n"))
    fig, ax = _one_panel(
        ax, figsize=(min(max(4.0, box_width * n_wide), 60.0), 0.6 + 1.0 * n_levels)
    )
    for i, ((node, depth, parent, left), text) in enumerate(zip(boxes, texts, strict=True)):
        if parent >= 0:
            px, py = x[parent], -boxes[parent][1]
            ax.plot([px, x[i]], [py, -depth], color="0.6", linewidth=0.8, zorder=1)
            ax.text(
                (px + x[i]) / 2, (py - depth) / 2, "yes" if left else "no",
                fontsize=6, ha="center", va="center", color="0.35", zorder=2,
            )  # fmt: skip
        # A leaf's class colour paled with white, not made see-through: an edge
        # behind it showed through its text.
        face = np.ones(3)
        if leaf_class[node] >= 0:
            face = 0.7 + 0.3 * np.array(to_rgb(f"C{leaf_class[node] % 10}"))
        ax.text(
            x[i], -depth, text, fontsize=7, ha="center", va="center", zorder=3,
            bbox={"boxstyle": "round", "facecolor": face, "edgecolor": "0.5"},
        )  # fmt: skip
    ax.set_xlim(-0.6, n_wide - 0.4)
    ax.set_ylim(-n_levels + 0.5, 0.5)
    ax.axis("off")
    n_rules, n_train = surrogate.n_rules_, len(surrogate.train_indices_)
    levels = "its top level" if n_levels == 1 else f"its top {n_levels} levels"
    drawn = f", {levels}" if n_cut else ""
    ax.set_title(
        f"tree surrogate of {n_rules} rule{'s' * (n_rules != 1)}{drawn} (rows: of its "
        f"{n_train} training rows)\nfidelity (agreement with the model) {surrogate.fidelity_}",
        fontsize=8,
    )
    fig.tight_layout()
    return fig
