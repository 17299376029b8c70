"""Figures for the JGMM (``001_7567b900ec60d912.txt``): Q and Psi heat maps (Fig. 4a)
and galleries of explanatory examples (Fig. 4b, 6).

Every function returns a bare matplotlib ``Figure`` and never calls ``show``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._validation import check_array, check_instance, check_names, check_positive_int, is_int
from ..blackbox import class_title
from ._plots import _as_image, _check_drawable, _check_figure_size, _hide_unused_axes

if TYPE_CHECKING:
    from ..example_set import ExampleSet


def plot_posteriors(
    Q: np.ndarray, Psi: np.ndarray, *, class_names: tuple[str, ...] | None = None
) -> Any:
    """Heat maps of ``Q = p(z | w)`` and ``Psi = p(w | z)`` side by side (Fig. 4a).

    Parameters
    ----------
    Q, Psi : ndarray of shape (K_x, K_y)
    class_names : tuple of str, optional
        Labels of the higher components.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``Q`` or ``Psi`` is not numeric.
    ValueError
        If they are not 2-D of one shape, are empty, hold NaN, infinity or values
        outside [0, 1], or are too many components for matplotlib to draw; or if
        ``class_names`` does not name each higher component.
    """
    from matplotlib.figure import Figure

    # Checked as the probabilities they are drawn as: NaN drew as blank cells, values
    # outside [0, 1] as the scale's end colour, both without a word; an object array
    # failed in matplotlib's imshow, an empty one with its "singular" limits warning.
    Q = check_array(Q, name="Q", ndim=None, allow_empty=True)
    Psi = check_array(Psi, name="Psi", ndim=None, allow_empty=True)
    if Q.ndim != 2 or Q.shape != Psi.shape:
        raise ValueError(f"Q and Psi must be 2-D of the same shape, got {Q.shape}, {Psi.shape}")
    if 0 in Q.shape:
        raise ValueError(f"Q and Psi are empty (shape {Q.shape}); nothing to draw")
    for name, matrix in (("Q", Q), ("Psi", Psi)):
        low, high = float(matrix.min()), float(matrix.max())
        # a little rounding past the ends, as a mean of probabilities may hold
        if low < -_ROUNDING or high > 1 + _ROUNDING:
            raise ValueError(
                f"{name} holds values from {low:g} to {high:g}; expected probabilities in "
                "[0, 1], as the explainer's Q_ and psi_ hold"
            )
    kx, ky = Q.shape
    if isinstance(class_names, str):  # read letter by letter, one name each
        raise ValueError(f"class_names must be a sequence of names, got the str {class_names!r}")
    labels = list(class_names) if class_names is not None else [str(j) for j in range(ky)]
    if len(labels) != ky:  # matplotlib's own error named its tick locator
        raise ValueError(f"class_names has {len(labels)} names for {ky} higher components")
    width, height = 2.0 + 0.35 * ky * 2, 1.5 + 0.18 * kx
    _check_figure_size(width, height, what=f"{kx} x {ky} components")
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(1, 2, squeeze=False)[0]
    for ax, matrix, title in (
        (axes[0], Q, "Q = p(z | w)"),
        (axes[1], Psi, "Psi = p(w | z)"),
    ):
        image = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("w (higher component)", fontsize=8)
        ax.set_ylabel("z (lower component)", fontsize=8)
        ax.set_xticks(range(ky), labels, fontsize=6, rotation=90)
        step = max(1, kx // 16)
        ax.set_yticks(range(0, kx, step), [str(i) for i in range(0, kx, step)], fontsize=6)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


#: How far past [0, 1] a probability of Q or Psi may lie from rounding.
_ROUNDING = 1e-6


def _picture(examples: ExampleSet, row: np.ndarray | None, features: np.ndarray | None, name: str):
    """An example as an image if its inputs (or features) have ``image_shape``, checked
    to be drawable (an error names it by ``name``: "example 3 (group 1)")."""
    shape = examples.image_shape
    if shape is None:
        return None
    for flat in (row, features):
        if flat is not None and flat.size == int(np.prod(shape)):
            flat = _check_drawable(
                flat, f"the image of {name}", as_="background", image_shape=shape
            )
            return _as_image(flat, shape)
    return None


def _draw(
    ax: Any,
    image: np.ndarray | None,
    features: np.ndarray,
    title: str,
    *,
    name: str,
    row: np.ndarray | None = None,
    names: list[str] | None = None,
    what: str = "features",
    value_label: str = "input",
) -> None:
    """One example: its picture; else a table row's inputs ``row`` as bars named by
    ``names`` on a value axis labelled ``value_label``; else its features as a square heat
    map titled by ``what`` they are. An error names the example by ``name``."""
    if image is not None:
        ax.imshow(image, cmap="gray", interpolation="nearest")
    elif row is not None:
        # A table row (moons, planted): its inputs in their own units, one bar each,
        # where the features' heat map (64 act2 values in an 8x8 grid on moons) read
        # as the input. Values matplotlib cannot scale are refused, as plot_attribution
        # refuses them: inputs of +-1e308 raised its overflow warning.
        row = _check_drawable(row, f"the input row of {name}")
        _bars(ax, row, names or [f"x{j}" for j in range(row.size)], value_label)
        ax.set_title(title, fontsize=7)
        return
    else:
        # Not an image (a generated conv feature, say): show the feature vector as a
        # strip, titled as features, so that no reader takes it for the input.
        features = _check_drawable(features, f"the feature vector of {name}", as_="background")
        side = int(np.ceil(np.sqrt(features.size)))
        padded = np.full(side * side, np.nan)
        padded[: features.size] = features
        ax.imshow(padded.reshape(side, side), cmap="magma", interpolation="nearest")
        title = f"{title}\n{what}"
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def _bars(ax: Any, row: np.ndarray, names: list[str], label: str) -> None:
    """``row``'s values as horizontal bars, the first on top, at most ~20 names, on a
    value axis labelled ``label``."""
    ax.axis("on")
    positions = np.arange(row.size)
    ax.barh(positions, row, color="tab:blue")
    ax.axvline(0.0, color="black", linewidth=0.5)
    step = max(1, int(np.ceil(row.size / 20)))
    ax.set_yticks(positions[::step], names[::step], fontsize=5)
    ax.set_ylim(row.size - 0.5, -0.5)
    ax.tick_params(axis="x", labelsize=5)
    ax.set_xlabel(label, fontsize=6)


def _input_names(examples: ExampleSet, given: Any = None) -> list[str] | None:
    """``given`` names of the inputs, checked against their number; else the set's
    ``input_names``; else its ``feature_names`` where they name the inputs too: where
    its features are its inputs (a JGMM on the input layer); they name the features."""
    inputs = examples.inputs if examples.inputs is not None else examples.query_inputs
    if given is not None:
        if inputs is None:  # bars are drawn of inputs only: the names would go unused
            raise ValueError("input_names given, but the example set holds no inputs")
        return list(check_names(given, inputs.shape[1], name="input_names", strict=True) or ())
    if examples.input_names is not None:
        return list(examples.input_names)
    names, inputs = examples.feature_names, examples.inputs
    if names is None or inputs is None or inputs.shape != examples.values.shape:
        return None
    return list(names) if np.array_equal(inputs, examples.values) else None


def _input_label(examples: ExampleSet, given: object = None) -> str:
    """The label of the bars' value axis: ``given``, checked to be a str, else
    "input"."""
    if given is None:
        return "input"
    check_instance(given, str, name="input_label", what="a str")
    if examples.inputs is None and examples.query_inputs is None:
        # bars are drawn of inputs only: the label would go unused, as input_names would
        raise ValueError("input_label given, but the example set holds no inputs")
    return cast(str, given)  # checked above


#: What a bars' value label ending in "(std)" stands for, which the title says: "input
#: (std)" is short enough not to run into the next panel's label.
_STD_NOTE = "bars in standard deviations from the training mean"


def _title(examples: ExampleSet, value_label: str, bars: bool) -> str:
    """The gallery's title: the kind and source, and where ``bars`` are drawn on a
    value axis labelled "... (std)", what that stands for (:data:`_STD_NOTE`)."""
    title = f"{examples.kind}s ({examples.source})"
    return f"{title}: {_STD_NOTE}" if bars and value_label.endswith("(std)") else title


def _features_label(examples: ExampleSet) -> str:
    """What the values are: the lower layer's features (``meta`` names the layer)."""
    parameters = examples.meta.get("parameters")
    layer = parameters.get("lower_layer") if isinstance(parameters, dict) else None
    if not isinstance(layer, str):
        return "lower-layer features"
    # An nn.Sequential's layers are named by their index: "2 features" read as a count.
    return f"layer {layer} features" if layer.isdigit() else f"{layer} features"


def _class(examples: ExampleSet, c: int, names: tuple[str, ...] | None = None) -> str:
    names = examples.class_names if names is None else names
    return names[c] if names is not None and c < len(names) else str(c)


def _component_class(examples: ExampleSet, g: int) -> int | None:
    """The class higher component ``g`` stands for, where the components are tied to
    classes (``meta["component_classes"]``); None otherwise."""
    classes = examples.meta.get("component_classes")
    if isinstance(classes, list) and 0 <= g < len(classes):
        c = classes[g]
        if isinstance(c, int) and not isinstance(c, bool) and c >= 0:
            return c
    return None


def plot_examples(
    examples: ExampleSet,
    groups: list[int] | None = None,
    *,
    max_per_group: int = 6,
    input_names: Any = None,
    input_label: str | None = None,
) -> Any:
    """A gallery of examples: one row per group, best score first (Fig. 4b, 6).

    Prototypes are grouped by higher component, titled by the class it stands for
    where the components are tied to classes (``meta["component_classes"]``), the
    lower component ``z`` below; counterfactuals and semi-factuals by query, with the
    query in the first column, titled by its name (``query_names``, a DataFrame's
    index, else its position) and its class (``query_class_names``, else
    ``class_names``). Criticisms and influentials form one row and show their two
    likeliest classes. A row shorter than the widest leaves blanks; a query, or a tied
    component, with no example keeps its row, which says so.

    Each example shows as its input image where the set has ``image_shape``. Rows of
    a table (no ``image_shape``) show their inputs as bars on one value axis for the
    whole figure, so that a query compares with its examples (named by
    ``input_names``, else by the set's ``input_names``, else by ``feature_names`` where
    the features are the inputs, else ``x0, x1, ...``); an example without inputs
    (generated) shows its features as a square heat map, titled as the lower layer's
    features (``meta["parameters"]["lower_layer"]``).

    Parameters
    ----------
    examples : ExampleSet
    groups : list of int, optional
        The groups to show; default all (at most 10).
    max_per_group : int
        At most this many examples per group, at least 1.
    input_names : sequence of str, optional
        A name for each input of a table row, in place of the set's ``input_names``
        (its ``feature_names`` name the lower layer's features).
    input_label : str, optional
        The label of the bars' value axis, by default "input": what the values are
        ("input (std)" for a table stored standardized, say). A label ending in
        "(std)" has the title say what it stands for, where bars are drawn: "bars in
        standard deviations from the training mean".

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from ..example_set import ExampleSet  # here, as the type hint is under TYPE_CHECKING

    # checked first: a bare AttributeError on .groups before
    check_instance(examples, ExampleSet, name="examples", what="an ExampleSet")
    # matplotlib's own errors named columns or the figure size, not this argument
    max_per_group = check_positive_int(max_per_group, name="max_per_group")
    all_groups = examples.all_groups
    if groups is not None and (
        not isinstance(groups, (list, tuple, np.ndarray))
        or np.ndim(groups) != 1
        or not all(is_int(g) for g in groups)
    ):  # an int failed as "'int' object is not iterable", [0.0] named ExampleSet.group's g
        raise ValueError(f"groups must be a list of int group ids, got {groups!r}")
    chosen = all_groups[:10] if groups is None else [int(g) for g in groups]
    if not chosen:  # the words of ExampleSet.plot's docstring and the CLI's line
        why = "the example set is empty" if groups is None else "groups selects none"
        raise ValueError(f"nothing to draw: {why}")
    unknown = sorted(set(chosen) - set(all_groups))
    if unknown:  # a raw IndexError from the query arrays before
        raise ValueError(f"groups {unknown} are not in the example set; it has {all_groups}")
    with_query = examples.queries is not None
    table = examples.image_shape is None  # rows of a table: inputs drawn as bars
    names, what = _input_names(examples, input_names), _features_label(examples)
    value_label = _input_label(examples, input_label)
    # As many columns as the widest row shown needs (at least one, to say a row is
    # empty): max_per_group columns left blank ones where no group had that many.
    widest = max(min(len(examples.group(g)), max_per_group) for g in chosen)
    cols = max(widest, 1) + int(with_query)
    _check_figure_size(
        1.5 * cols, 1.7 * len(chosen), what=f"{len(chosen)} groups of up to {cols} panels"
    )
    fig = Figure(figsize=(1.5 * cols, 1.7 * len(chosen)))
    axes = fig.subplots(len(chosen), cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, g in enumerate(chosen):
        start = 0
        if examples.queries is not None and g >= 0:
            q_in = None if examples.query_inputs is None else examples.query_inputs[g]
            q = examples.queries[g]
            # The black box's names: an untied set's class_names are None (its
            # top_classes are hidden components), and its queries showed an index.
            label = ""
            if examples.query_classes is not None:
                c = int(examples.query_classes[g])
                label = f" ({_class(examples, c, examples.query_class_names)})"
            query = f"query {examples.query_name(g)}"
            _draw(
                axes[r, 0],
                _picture(examples, q_in, q, query),
                q,
                f"{query}{label}",
                name=query,
                row=q_in if table else None,
                names=names,
                what=what,
                value_label=value_label,
            )
            start = 1
        rows = examples.group(g)[:max_per_group]
        if not rows.size:  # a query or component none was found for: its row says so
            axes[r, start].text(
                0.5, 0.5, _none_found(examples, g), ha="center", va="center", fontsize=7
            )
        # A blank, not an empty panel, past a row shorter than the widest one.
        for ax in axes[r, start + max(rows.size, 1) :]:
            ax.set_visible(False)
        for c, row in enumerate(rows):
            inputs = None if examples.inputs is None else examples.inputs[row]
            top = examples.top_classes[row]
            tied = _component_class(examples, g) if examples.kind == "prototype" else None
            if tied is not None:
                # A tied component stands for a class: "w=3" named none.
                title = f"{class_title(_class(examples, tied))}\nz={examples.components[row]}, "
            elif examples.kind == "prototype":
                title = f"w={g} z={examples.components[row]}\n"
            else:
                title = f"{_class(examples, int(top[0]))}/{_class(examples, int(top[1]))}\n"
            title += f"{examples.scores[row]:.3g}"
            example = f"example {row} (group {g})"
            _draw(
                axes[r, start + c],
                _picture(examples, inputs, examples.values[row], example),
                examples.values[row],
                title,
                name=example,
                row=inputs if table else None,
                names=names,
                what=what,
                value_label=value_label,
            )
    bar_axes = [ax for ax in axes.flat if ax.containers]
    _share_value_axis(bar_axes)
    _hide_unused_axes(axes.flat)
    fig.suptitle(_title(examples, value_label, bool(bar_axes)), fontsize=9)
    fig.tight_layout()
    return fig


def _none_found(examples: ExampleSet, g: int) -> str:
    """What the row of group ``g``, which holds no example, says: a tied component
    names its class, as no query panel names the row."""
    tied = _component_class(examples, g) if examples.kind == "prototype" else None
    none = f"no {examples.kind}s found"
    return none if tied is None else f"{class_title(_class(examples, tied))}:\n{none}"


def _share_value_axis(bar_axes: list[Any]) -> None:
    """One value range over every panel of bars: each had its own, so a query's bar
    of 2 could be as long as its counterfactual's bar of 0.5."""
    if bar_axes:
        lows, highs = zip(*(ax.get_xlim() for ax in bar_axes), strict=True)
        for ax in bar_axes:
            ax.set_xlim(min(lows), max(highs))
