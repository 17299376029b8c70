"""The example and posterior figures: they draw, and bad selections are clear errors."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from tests.helpers import torch_logistic_regression
from tests.test_example_set import _empty_examples, _examples
from unboxed import ExampleSet, make_meta
from unboxed.report import plot_examples, plot_posteriors
from unboxed.report._plots import _max_inches

#: Values of +-1e308, whose span overflows matplotlib's scaling: 4 examples of 9.
_HUGE = np.tile([1e308, -1e308, 1e308], (4, 3))


def test_plot_examples_draws_the_groups_and_names_unknown_ones():
    examples = _examples()
    fig = plot_examples(examples, max_per_group=2)
    assert len(fig.axes) == 4  # two groups of two
    with pytest.raises(ValueError, match=r"groups \[5\] are not in the example set"):
        plot_examples(examples, [5])  # a raw IndexError before


def test_plot_posteriors_checks_the_class_names():
    Q = np.full((4, 2), 0.5)
    fig = plot_posteriors(Q, Q, class_names=("a", "b"))
    assert [ax.get_title() for ax in fig.axes[:2]] == ["Q = p(z | w)", "Psi = p(w | z)"]
    with pytest.raises(ValueError, match="1 names for 2 higher components"):
        plot_posteriors(Q, Q, class_names=("a",))  # failed inside matplotlib


def test_mined_examples_are_titled_by_their_two_likeliest_class_names():
    examples = _examples(
        kind="criticism",
        source="mined",
        groups=np.full(4, -1),
        indices=np.arange(4),
        class_names=("zero", "one", "two"),
    )
    fig = plot_examples(examples)
    # Best score first; top_classes rows [0, 2], [1, 0], [1, 2], [0, 1].
    titles = [ax.get_title() for ax in fig.axes[:4]]
    assert titles == ["zero/two\n0.9", "one/zero\n0.5", "one/two\n0.3", "zero/one\n0.1"]


def _counterfactuals(**changes):
    """Four mined counterfactuals of two queries, with 2x2 input images and 3 features."""
    rng = np.random.default_rng(1)
    base = {
        "kind": "counterfactual",
        "source": "mined",
        "values": rng.normal(size=(4, 3)),
        "scores": np.array([0.25, 0.75, 0.5, 0.125]),
        "components": np.array([0, 1, 1, 2]),
        "groups": np.array([0, 0, 1, 1]),
        "top_classes": np.array([[1, 0], [1, 0], [0, 1], [0, 1]]),
        "top_proba": np.full((4, 2), 0.5),
        "meta": make_meta("test", {}),
        "indices": np.arange(4),
        "inputs": rng.uniform(size=(4, 4)),
        "queries": rng.normal(size=(2, 3)),
        "query_inputs": rng.uniform(size=(2, 4)),
        "query_classes": np.array([0, 2]),
        "image_shape": (2, 2),
        # enough to name query class 2 too: ExampleSet refuses fewer
        "class_names": ("zero", "one", "two"),
    }
    return ExampleSet(**{**base, **changes})


def test_plot_posteriors_refuses_matrices_of_different_or_wrong_shapes():
    with pytest.raises(ValueError, match="same shape"):
        plot_posteriors(np.full((4, 2), 0.5), np.full((4, 3), 0.5))
    with pytest.raises(ValueError, match="2-D"):
        plot_posteriors(np.full(4, 0.5), np.full(4, 0.5))


def test_plot_posteriors_draws_q_then_psi_on_one_probability_scale():
    Q = np.linspace(0.0, 0.5, 40 * 3).reshape(40, 3)
    Psi = Q[::-1].copy()
    fig = plot_posteriors(Q, Psi)
    left, right = fig.axes[:2]
    np.testing.assert_array_equal(left.images[0].get_array(), Q)
    np.testing.assert_array_equal(right.images[0].get_array(), Psi)
    # both on [0, 1], so that the two maps and two figures compare by colour
    assert left.images[0].get_clim() == right.images[0].get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in left.get_xticklabels()] == ["0", "1", "2"]
    # 40 lower components: every second one is labelled (at most about 16-20 labels)
    assert [t.get_text() for t in left.get_yticklabels()] == [str(i) for i in range(0, 40, 2)]


@pytest.mark.parametrize(
    ("Q", "error", "message"),
    [
        # drawn as blank cells, or as the scale's end colour, without a word before
        (np.full((4, 2), np.nan), ValueError, "Q contains NaN"),
        (np.full((4, 2), 1.5), ValueError, r"Q holds values from 1\.5 to 1\.5; expected prob"),
        (np.full((4, 2), -0.5), ValueError, r"from -0\.5 to -0\.5; expected probabilities"),
        # matplotlib's imshow: "Image data of dtype <U1 cannot be converted to float"
        (np.full((4, 2), "a"), TypeError, "Q must be numeric"),
        # matplotlib's "Attempting to set identical low and high ylims" warning
        (np.zeros((0, 2)), ValueError, r"empty \(shape \(0, 2\)\); nothing to draw"),
        (np.zeros((4, 0)), ValueError, r"empty \(shape \(4, 0\)\); nothing to draw"),
    ],
)
def test_plot_posteriors_refuses_what_are_not_probabilities(Q, error, message):
    with pytest.raises(error, match=message):
        plot_posteriors(Q, np.full(np.shape(Q), 0.5) if Q.dtype.kind == "f" else Q)


def test_plot_posteriors_checks_psi_too_and_keeps_probabilities_of_any_dtype():
    Q = np.full((4, 2), 0.5)
    with pytest.raises(ValueError, match=r"Psi holds values from 2 to 2"):
        plot_posteriors(Q, np.full((4, 2), 2.0))
    # a mean of probabilities may round a little past 1; bools and float16 are numbers
    fig = plot_posteriors(Q + 1e-9, (Q > 0).astype(np.float16))
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), np.ones((4, 2)))


def test_plot_posteriors_refuses_class_names_given_as_one_string():
    Q = np.full((4, 3), 1 / 3)
    # "abc" was drawn as the three names "a", "b", "c"
    with pytest.raises(ValueError, match="a sequence of names, got the str 'abc'"):
        plot_posteriors(Q, Q, class_names="abc")  # type: ignore[arg-type]


def test_plot_posteriors_refuses_more_components_than_a_figure_holds_before_drawing():
    # 0.18 in a component past the installed matplotlib's limit (4000, 722 in high,
    # before 3.10): savefig's "Image size ... is too large"
    n = int(_max_inches() / 0.18) + 1
    Q = np.full((n, 2), 0.5)
    with pytest.raises(ValueError, match=rf"{n} x 2 components make a figure of 3 x"):
        plot_posteriors(Q, Q)


@pytest.mark.skipif(
    tuple(matplotlib.__version_info__[:2]) < (3, 10), reason="matplotlib < 3.10 saves 2**16 px"
)
def test_plot_posteriors_draws_a_figure_past_655_in_that_matplotlib_saves():
    # 4000 lower components make a figure 722 in high, refused at 2**16 px whatever the
    # matplotlib, though 3.10 and later save up to 2**23 px a side
    Q = np.full((4000, 2), 0.5)
    fig = plot_posteriors(Q, Q)
    assert fig.get_size_inches()[1] == pytest.approx(1.5 + 0.18 * 4000)


def _one_per_group(n):
    """``n`` blank examples, each a group of its own."""
    return _examples(
        values=np.zeros((n, 9)),
        scores=np.arange(n, dtype=float),
        components=np.zeros(n, int),
        groups=np.arange(n),
        top_classes=np.zeros((n, 2), int),
        top_proba=np.zeros((n, 2)),
        indices=-np.ones(n, int),
    )


def test_a_gallery_of_more_groups_than_a_figure_holds_is_refused_before_drawing():
    n = int(_max_inches() / 1.7) + 1  # 400 groups before matplotlib 3.10
    examples = _one_per_group(n)
    with pytest.raises(ValueError, match=rf"{n} groups of up to 1 panels make a figure of 2 x"):
        plot_examples(examples, list(range(n)), max_per_group=1)


def test_counterfactuals_sit_next_to_their_query_picture_and_class():
    examples = _counterfactuals()
    fig = plot_examples(examples, [1], max_per_group=2)
    axes = fig.axes
    assert len(axes) == 3  # the query, then two counterfactuals
    # query 1's picture is its input image, titled by its own class
    assert axes[0].get_title() == "query 1 (two)"
    np.testing.assert_array_equal(
        axes[0].images[0].get_array(), examples.query_inputs[1].reshape(2, 2)
    )
    # then group 1's rows, best first: row 2 (0.5), row 3 (0.125), as their input images
    assert [ax.get_title() for ax in axes[1:]] == ["zero/one\n0.5", "zero/one\n0.125"]
    for ax, row in zip(axes[1:], [2, 3], strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), examples.inputs[row].reshape(2, 2))
    assert [ax.axison for ax in axes] == [False] * 3
    assert fig._suptitle.get_text() == "counterfactuals (mined)"


def test_panels_drawn_without_axes_hide_them_so_layout_places_no_ticks():
    """matplotlib placed the ticks of every picture's hidden axes each time it placed
    a title (tight_layout, each draw): most of the time of a gallery of 30 digits."""
    examples = _counterfactuals()
    fig = plot_examples(examples)  # two queries, two counterfactuals each
    assert [ax.axison for ax in fig.axes] == [False] * 6
    assert not any(ax.xaxis.get_visible() or ax.yaxis.get_visible() for ax in fig.axes)
    # what is drawn is the same: the titles still sit above the pictures
    fig.draw_without_rendering()
    for ax in fig.axes:
        assert ax.title.get_window_extent().y0 >= ax.get_window_extent().y1 - 1e-6


def test_query_classes_are_named_when_they_have_names():
    fig = plot_examples(_counterfactuals(), [0], max_per_group=1)
    assert fig.axes[0].get_title() == "query 0 (zero)"


def test_examples_without_a_query_get_no_query_column():
    # influentials explain no query (group -1), even in a set that carries queries
    examples = _counterfactuals(kind="influential", groups=np.full(4, -1))
    fig = plot_examples(examples, max_per_group=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert not any(t.startswith("query") for t in titles)
    assert titles[:4] == ["one/zero\n0.75", "zero/one\n0.5", "one/zero\n0.25", "zero/one\n0.125"]


def test_prototypes_are_titled_by_component_and_score_and_laid_out_per_group():
    examples = _examples(scores=np.array([0.125, 0.875, 0.5, 0.3125]))
    fig = plot_examples(examples, max_per_group=2)
    titles = [ax.get_title() for ax in fig.axes]
    # group 0 holds rows 1 (z=1) then 0 (z=0); group 1 rows 2 then 3
    assert titles == ["w=0 z=1\n0.875", "w=0 z=0\n0.125", "w=1 z=1\n0.5", "w=1 z=2\n0.312"]
    assert fig.get_size_inches()[1] == pytest.approx(2 * 1.7)  # one row per group
    assert fig._suptitle.get_text() == "prototypes (generated)"


def test_tied_prototypes_are_titled_by_the_class_their_component_stands_for():
    # Tied components were titled "w=0 z=1": a component number, not the class.
    meta = {**make_meta("test", {}), "component_classes": [2, 0]}
    named = _examples(meta=meta, class_names=("zero", "one", "two"))
    titles = [ax.get_title() for ax in plot_examples(named, max_per_group=2).axes]
    # group 0 (component 0, class 2) holds rows 1 (z=1) then 0 (z=0); group 1 rows 2, 3
    assert titles[:2] == ["class two\nz=1, 0.9", "class two\nz=0, 0.1"]
    assert titles[2:] == ["class zero\nz=1, 0.5", "class zero\nz=2, 0.3"]
    unnamed = plot_examples(_examples(meta=meta), [1], max_per_group=1)
    assert unnamed.axes[0].get_title() == "class 0\nz=1, 0.5"


def test_tied_prototypes_of_a_label_that_says_class_are_not_titled_class_twice():
    """wine's labels are class_0, class_1, class_2: its panels read "class class_2"."""
    from sklearn.datasets import load_wine

    meta = {**make_meta("test", {}), "component_classes": [2, 0]}
    wine = _examples(meta=meta, class_names=tuple(load_wine().target_names))
    titles = [ax.get_title() for ax in plot_examples(wine, max_per_group=2).axes]
    assert titles[:2] == ["class_2\nz=1, 0.9", "class_2\nz=0, 0.1"]
    assert titles[2:] == ["class_0\nz=1, 0.5", "class_0\nz=2, 0.3"]
    from unboxed.report._examples import _none_found

    assert _none_found(wine, 0) == "class_2:\nno prototypes found"
    assert _none_found(_examples(meta=meta), 0) == "class 2:\nno prototypes found"


def test_untied_query_classes_are_named_by_query_class_names():
    # An untied set's class_names are None (its top_classes are hidden components);
    # its queries showed the class index.
    examples = _counterfactuals(class_names=None, query_class_names=("a", "b", "c"))
    fig = plot_examples(examples, [1], max_per_group=1)
    assert fig.axes[0].get_title() == "query 1 (c)"
    assert fig.axes[1].get_title() == "0/1\n0.5"  # top_classes stay unnamed
    both = _counterfactuals(query_class_names=("a", "b", "c"))  # they win over class_names
    assert plot_examples(both, [0], max_per_group=1).axes[0].get_title() == "query 0 (a)"


def test_the_default_gallery_shows_at_most_ten_groups():
    n = 12
    examples = _one_per_group(n)
    fig = plot_examples(examples, max_per_group=1)
    assert [ax.get_title() for ax in fig.axes] == [f"w={g} z=0\n{g}" for g in range(10)]


def test_an_empty_selection_of_groups_is_a_clear_error():
    with pytest.raises(ValueError, match="^nothing to draw: groups selects none$"):
        plot_examples(_examples(), [])
    empty = _empty_examples()
    with pytest.raises(ValueError, match="^nothing to draw: the example set is empty$"):
        empty.plot()  # ExampleSet.plot's docstring: "If the set has nothing to draw"
    with pytest.raises(TypeError, match="examples must be an ExampleSet, got NoneType"):
        plot_examples(None)  # an AttributeError on .groups before


def test_features_that_are_pixels_show_as_an_image_and_others_as_a_strip():
    pixels = _examples()  # 9 features, image_shape (3, 3), no inputs
    image = plot_examples(pixels, [0], max_per_group=1).axes[0].images[0]
    np.testing.assert_array_equal(image.get_array(), pixels.values[1].reshape(3, 3))
    assert image.get_cmap().name == "gray"
    # five features and no image shape: a 3x3 strip padded with NaN (drawn blank)
    strip = _examples(values=np.arange(20.0).reshape(4, 5), image_shape=None)
    drawn = plot_examples(strip, [0], max_per_group=1).axes[0].images[0]
    assert drawn.get_cmap().name == "magma"
    expected = np.r_[np.arange(5.0, 10.0), np.full(4, np.nan)].reshape(3, 3)
    np.testing.assert_array_equal(drawn.get_array().filled(np.nan), expected)


def test_inputs_are_preferred_to_features_and_colour_is_averaged():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(4, 12))
    inputs = rng.uniform(size=(4, 12))
    # the features also have 12 entries: the picture must still be the input
    examples = _examples(values=values, inputs=inputs, image_shape=(3, 2, 2))
    image = plot_examples(examples, [0], max_per_group=1).axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), inputs[1].reshape(3, 2, 2).mean(axis=0))


def test_a_query_without_its_input_shows_its_features_as_a_strip():
    # the images describe the inputs (4 pixels); the query's 3 features are no image
    examples = _counterfactuals(query_inputs=None)
    query = plot_examples(examples, [0], max_per_group=1).axes[0].images[0]
    assert query.get_cmap().name == "magma"
    expected = np.r_[examples.queries[0], np.nan].reshape(2, 2)
    np.testing.assert_array_equal(query.get_array().filled(np.nan), expected)


def test_a_square_number_of_features_fills_a_square_strip_and_blank_panels_hide():
    examples = _examples(values=np.arange(16.0).reshape(4, 4), image_shape=None)
    fig = plot_examples(examples, max_per_group=3)  # two per group: no blank column
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), [[4.0, 5.0], [6.0, 7.0]])
    assert len(fig.axes) == 4 and [ax.axison for ax in fig.axes] == [False] * 4


def test_short_rows_leave_blanks_and_a_query_without_examples_says_so():
    """A query with 2 counterfactuals beside one with 5 left 3 empty panels, and a
    query with none was left out of the gallery (and refused when asked for)."""
    rng = np.random.default_rng(0)
    examples = _counterfactuals(
        values=rng.normal(size=(7, 3)),
        scores=np.linspace(1.0, 0.0, 7),
        components=np.zeros(7, int),
        groups=np.array([0, 0, 1, 1, 1, 1, 1]),
        top_classes=np.tile([1, 0], (7, 1)),
        top_proba=np.full((7, 2), 0.5),
        indices=np.arange(7),
        inputs=rng.uniform(size=(7, 4)),
        queries=rng.normal(size=(3, 3)),
        query_inputs=rng.uniform(size=(3, 4)),
        query_classes=np.array([0, 2, 1]),
    )
    fig = plot_examples(examples)  # max_per_group=6: five columns are enough
    grid = np.array(fig.axes).reshape(3, 6)
    drawn = [[ax.get_visible() for ax in row] for row in grid]
    assert drawn == [[True] * 3 + [False] * 3, [True] * 6, [True, True] + [False] * 4]
    assert [ax.get_title() for ax in grid[:, 0]] == [
        "query 0 (zero)",
        "query 1 (two)",
        "query 2 (one)",
    ]
    assert [t.get_text() for t in grid[2, 1].texts] == ["no counterfactuals found"]
    assert not grid[2, 1].axison and not grid[2, 1].images
    # asked for alone, the query keeps its row and its message
    alone = plot_examples(examples, [2])
    assert len(alone.axes) == 2 and alone.axes[1].texts[0].get_text() == (
        "no counterfactuals found"
    )


@pytest.mark.parametrize("max_per_group", [0, -1, 2.5])
def test_a_bad_number_of_examples_per_group_is_a_clear_error(max_per_group):
    # matplotlib refused these with messages about columns or the figure size
    with pytest.raises(ValueError, match="max_per_group must be an int >= 1"):
        plot_examples(_examples(), max_per_group=max_per_group)


@pytest.fixture(scope="module")
def planted_jgmm(planted, planted_logreg):
    """A JGMM on the hidden layer act1 (20 units) of an MLP on planted's 20 columns."""
    from unboxed import zoo
    from unboxed.surrogates import JGMMExplainer

    box = zoo.as_blackbox(torch_logistic_regression(planted_logreg))
    return JGMMExplainer(
        box, lower_layer="act1", n_components_x=4, random_state=0, verbose=False
    ).fit(planted.X_train[:300])


def test_a_tied_component_without_a_prototype_keeps_a_row_that_names_its_class(planted_jgmm):
    """A set records its tied components in meta["component_classes"]; one whose
    prototypes were left out lost its row, as a query without an example did."""
    import dataclasses

    mined = planted_jgmm.prototypes(n_per_class=2)
    assert mined.meta["component_classes"] == [0, 1]
    first = mined.groups == 0
    per_example = ("values", "scores", "components", "groups", "top_classes", "top_proba")
    only_first = dataclasses.replace(
        mined, **{name: getattr(mined, name)[first] for name in (*per_example, "indices", "inputs")}
    )
    fig = only_first.plot()
    assert {ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes} == {(2, 2)}
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[:2]] == ["class 0"] * 2
    assert [t.get_text() for ax in fig.axes for t in ax.texts] == ["class 1:\nno prototypes found"]
    assert not fig.axes[3].get_visible()  # a blank past the one panel that says so
    # an untied set records no components: its rows are its examples' groups
    untied = dataclasses.replace(only_first, meta={"method": "test"})
    assert len(untied.plot().axes) == 2


def test_mined_table_rows_show_their_inputs_as_named_bars(planted_jgmm):
    """A table row's act1 values were drawn as a 5x5 heat map, unlabelled: read as
    the input."""
    mined = planted_jgmm.prototypes(n_per_class=2)
    assert mined.image_shape is None and mined.inputs is not None
    fig = plot_examples(mined, [0], max_per_group=1)
    ax = fig.axes[0]
    assert not ax.images and len(ax.patches) == 20  # one bar per input
    assert ax.axison and ax.get_xlabel() == "input"
    assert ax.xaxis.get_visible() and ax.yaxis.get_visible()  # bars keep their axes
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"x{j}" for j in range(20)]
    row = mined.group(0)[0]
    np.testing.assert_array_equal([bar.get_width() for bar in ax.patches], mined.inputs[row])


def test_table_rows_share_one_value_axis_and_take_the_input_names(planted_jgmm, planted):
    """Each panel of bars had its own value range: a query's bars did not compare
    with its examples'. The set's feature_names name act1's units, so the inputs'
    names come from the caller."""
    found = planted_jgmm.semifactuals(planted.X_test[:2], n_per_query=3, source="mined")
    fig = plot_examples(found, input_names=planted.feature_names)
    bars = [ax for ax in fig.axes if ax.patches]
    assert len(bars) == 2 * 4  # each query and its three semi-factuals
    assert len({ax.get_xlim() for ax in bars}) == 1
    drawn = np.concatenate([found.query_inputs[:2].ravel(), found.inputs.ravel()])
    low, high = bars[0].get_xlim()
    assert low <= drawn.min() and drawn.max() <= high
    names = [t.get_text() for t in bars[0].get_yticklabels()]
    assert names == list(planted.feature_names) != [f"x{j}" for j in range(20)]
    with pytest.raises(ValueError, match="input_names has 2 entries; expected 20"):
        found.plot(input_names=["a", "b"])


def test_generated_table_rows_are_titled_as_the_lower_layer_s_features(planted_jgmm):
    generated = planted_jgmm.prototypes(
        n_per_class=2, source="generated", n_candidates=10, random_state=0
    )
    assert generated.inputs is None
    ax = plot_examples(generated, [0], max_per_group=1).axes[0]
    assert ax.get_title().endswith("\nact1 features")


def test_features_of_a_layer_named_by_its_index_are_not_read_as_a_count():
    """A tabular nn.Sequential's hidden layer "2": its generated examples were titled
    "2 features", which reads as two of them (the layer has 8)."""
    for layer, title in [("2", "layer 2 features"), ("act1", "act1 features")]:
        examples = _examples(
            image_shape=None, meta=make_meta("JGMM prototypes", {"lower_layer": layer})
        )
        ax = plot_examples(examples, [0], max_per_group=1).axes[0]
        assert ax.get_title().endswith("\n" + title)


def test_features_named_by_the_set_name_the_inputs_where_they_are_the_inputs():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(4, 3))
    names = ("age", "income", "debt")
    same = _examples(values=values, inputs=values, image_shape=None, feature_names=names)
    ax = plot_examples(same, [0], max_per_group=1).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(names)
    # A hidden layer's names do not name the inputs, even as many.
    other = _examples(
        values=values, inputs=rng.normal(size=(4, 3)), image_shape=None, feature_names=names
    )
    ax = plot_examples(other, [0], max_per_group=1).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x0", "x1", "x2"]
    # Without the layer's name in meta, the strip of features still says what it is.
    ax = plot_examples(_examples(values=values, image_shape=None), [0], max_per_group=1).axes[0]
    assert ax.get_title().endswith("\nlower-layer features")


def _figure_text(fig):
    """Every piece of text of a figure: its title, and each panel's title and labels."""
    panels = [
        (ax.get_title(), ax.get_xlabel(), tuple(t.get_text() for t in ax.get_yticklabels()))
        for ax in fig.axes
    ]
    return fig.get_suptitle(), panels


def test_input_label_names_the_bars_value_axis_and_nothing_else(planted_jgmm, planted):
    """The CLI relabelled a standardized table's bars after plot had drawn them; the
    label is now plot's own argument."""
    found = planted_jgmm.semifactuals(planted.X_test[:2], n_per_query=2, source="mined")
    default = found.plot(input_names=planted.feature_names)
    bars = [ax for ax in default.axes if ax.patches]
    assert len(bars) == 2 * 3 and {ax.get_xlabel() for ax in bars} == {"input"}
    assert _figure_text(found.plot(input_names=planted.feature_names, input_label=None)) == (
        _figure_text(default)
    )
    labelled = plot_examples(found, input_names=planted.feature_names, input_label="input (cm)")
    assert {ax.get_xlabel() for ax in labelled.axes if ax.patches} == {"input (cm)"}
    # only the bars' axes change: blank panels keep no label, titles stay as they were
    relabelled = [
        (title, "input" if label == "input (cm)" else label, names)
        for title, label, names in _figure_text(labelled)[1]
    ]
    assert (labelled.get_suptitle(), relabelled) == _figure_text(default)


def test_a_standardized_label_has_the_title_say_what_std_stands_for(planted_jgmm, planted):
    """The CLI added the note to the title after plot had drawn it: a library user's
    bars read "input (std)" with nothing saying what std means."""
    found = planted_jgmm.semifactuals(planted.X_test[:2], n_per_query=2, source="mined")
    labelled = found.plot(input_label="input (std)")
    title = "semifactuals (mined): bars in standard deviations from the training mean"
    assert labelled.get_suptitle() == title
    # the note alone: every panel as with the plain label
    plain = found.plot(input_label="input")
    relabelled = [
        (title, "input" if label == "input (std)" else label, names)
        for title, label, names in _figure_text(labelled)[1]
    ]
    assert relabelled == _figure_text(plain)[1]
    # no bars, no note: images hold inputs, but draw no value axis
    images = _examples(
        kind="criticism",
        source="mined",
        groups=np.full(4, -1),
        indices=np.arange(4),
        inputs=np.linspace(0, 1, 36).reshape(4, 9),
    )
    assert images.plot(input_label="input (std)").get_suptitle() == "criticisms (mined)"


@pytest.mark.parametrize("label", [1, b"input", ["input"]])
def test_an_input_label_that_is_not_a_str_is_refused(planted_jgmm, planted, label):
    found = planted_jgmm.semifactuals(planted.X_test[:1], n_per_query=1, source="mined")
    with pytest.raises(TypeError, match=f"input_label must be a str, got {type(label).__name__}"):
        found.plot(input_label=label)


def test_an_input_label_for_a_set_without_inputs_is_refused(planted_jgmm):
    generated = planted_jgmm.prototypes(
        n_per_class=1, source="generated", n_candidates=10, random_state=0
    )
    assert generated.inputs is None and generated.query_inputs is None
    with pytest.raises(ValueError, match="input_label given, but the example set holds no"):
        generated.plot(input_label="input (std)")


@pytest.mark.parametrize("groups", [0, [0.0], "0", [True], np.int64(0)])
def test_groups_that_are_not_a_list_of_ints_are_named(groups):
    # 0 raised "'int' object is not iterable"; [0.0] "g must be an int group id"
    with pytest.raises(ValueError, match="^groups must be a list of int group ids, got "):
        plot_examples(_examples(), groups)
    with pytest.raises(ValueError, match="^groups must be a list of int group ids, got "):
        _examples().plot(groups)


def test_groups_may_be_a_tuple_or_an_int_array():
    assert len(plot_examples(_examples(), (0,), max_per_group=2).axes) == 2
    assert len(plot_examples(_examples(), np.array([0]), max_per_group=2).axes) == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # bars: matplotlib's "overflow encountered in scalar subtract" before
        ({"image_shape": None, "inputs": _HUGE[:, :3]}, r"the input row of example 1 \(group 0\)"),
        # a picture: matplotlib's "overflow encountered in subtract" before
        ({"values": _HUGE}, r"the image of example 1 \(group 0\) spans -1e\+308 to 1e\+308"),
        ({"image_shape": None, "values": _HUGE}, r"the feature vector of example 1 \(group 0\)"),
    ],
)
def test_examples_matplotlib_cannot_scale_are_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=message + ".*too wide for matplotlib to scale"):
        plot_examples(_examples(**changes))
