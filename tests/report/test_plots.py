import io
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from unboxed import Attribution, FeatureImportance, make_meta
from unboxed.report._plots import _check_figure_size, _max_inches


@pytest.fixture()
def attribution(rng):
    return Attribution(
        rng.normal(size=(4, 64)),
        np.array([0, 3, 3, 9]),
        inputs=rng.uniform(size=(4, 64)),
        image_shape=(8, 8),
    )


@pytest.fixture()
def importance(rng):
    return FeatureImportance(rng.uniform(size=(3, 5)), feature_names=tuple("abcde"))


def test_plots_render(attribution, importance):
    fig = attribution.plot([0, 1, 2])
    assert len([ax for ax in fig.axes if ax.images]) == 3
    fig2 = importance.plot()
    assert len([ax for ax in fig2.axes if ax.patches]) == 3  # bars for tabular data
    heat = FeatureImportance(np.abs(attribution.values[:2]), image_shape=(8, 8)).plot()
    assert len([ax for ax in heat.axes if ax.images]) == 2
    with pytest.raises(ValueError, match="row 10 is out of range"):
        attribution.plot(10)
    plt.close("all")


def test_an_empty_selection_is_a_clear_error(attribution):
    with pytest.raises(ValueError, match="nothing to plot"):
        attribution.plot([])


def test_bars_show_the_largest_magnitudes_of_the_chosen_row():
    values = np.array([[0.1, -5.0, 0.2, 3.0, 0.0], [9.0, 0.0, 0.0, 0.0, 0.0]])
    att = Attribution(values, np.array([0, 0]), feature_names=tuple("abcde"))
    fig = att.plot([0, 1], top=2)
    first, second = fig.axes[:2]
    labels = [t.get_text() for t in first.get_yticklabels()]
    assert labels == ["d", "b"]  # the largest |value| last (on top)
    assert sorted(p.get_width() for p in first.patches) == [-5.0, 3.0]
    assert [t.get_text() for t in second.get_yticklabels()][-1] == "a"  # row 1's own bars


def test_signed_heat_maps_are_centred_on_zero():
    values = np.linspace(-1, 2, 64)[None]
    fig = Attribution(values, np.array([0]), image_shape=(8, 8)).plot(0)
    assert fig.axes[0].images[-1].get_clim() == (-2.0, 2.0)


def test_panels_are_titled_by_their_row_names():
    values = np.arange(6.0).reshape(2, 3)
    named = FeatureImportance(values, class_names=("weighted", "component 0")).plot()
    assert [ax.get_title() for ax in named.axes[:2]] == ["weighted", "component 0"]
    plain = FeatureImportance(values).plot()
    assert [ax.get_title() for ax in plain.axes[:2]] == ["class 0", "class 1"]


def test_more_panels_than_columns_wrap_onto_a_new_row(rng):
    att = Attribution(rng.normal(size=(7, 64)), np.zeros(7, int), image_shape=(8, 8))
    fig = att.plot(list(range(7)))
    assert len(fig.axes) == 10  # two rows of five, the last three blank
    assert [ax.get_title() for ax in fig.axes if ax.images] == [
        f"attribution: row {r}, class 0" for r in range(7)
    ]


def test_the_row_one_past_the_end_is_named_out_of_range(attribution):
    with pytest.raises(ValueError, match="row 4 is out of range for 4 samples"):
        attribution.plot(4)


def test_a_row_index_must_be_an_int(attribution):
    # 1.5 passed the range check (int(1.5) is 1) and failed inside numpy; True indexed
    # a mask and broke the image reshape; "a" raised int()'s own message
    for index in (1.5, True, [0, 2.0], "a", None):
        with pytest.raises(ValueError, match="index must be an int or a list of ints"):
            attribution.plot(index)


def test_the_plot_functions_refuse_other_objects(attribution):
    from unboxed.report import plot_attribution, plot_feature_importance

    # AttributeErrors (on n_samples, n_classes) before
    with pytest.raises(TypeError, match="attribution must be an Attribution"):
        plot_attribution(None)
    with pytest.raises(TypeError, match="importance must be a FeatureImportance"):
        plot_feature_importance(attribution)


def test_feature_importance_bars_take_a_value_label():
    from unboxed import FeatureImportance

    importance = FeatureImportance(np.array([[0.5, -0.2, 0.1]]), feature_names=("a", "b", "c"))
    assert importance.plot().axes[0].get_xlabel() == ""
    assert importance.plot(value_label="logit per unit").axes[0].get_xlabel() == "logit per unit"
    with pytest.raises(TypeError, match="value_label must be a str"):
        importance.plot(value_label=1)


def test_colour_images_are_averaged_over_their_channels(rng):
    values = rng.normal(size=(1, 3 * 4 * 6))
    inputs = rng.uniform(size=(1, 3 * 4 * 6))
    fig = Attribution(values, np.array([0]), inputs=inputs, image_shape=(3, 4, 6)).plot(0)
    background, heat = fig.axes[0].images
    np.testing.assert_allclose(background.get_array(), inputs.reshape(3, 4, 6).mean(axis=0))
    np.testing.assert_allclose(heat.get_array(), values.reshape(3, 4, 6).mean(axis=0))


def test_fewer_panels_than_columns_get_one_column_each(attribution):
    fig = attribution.plot([0, 1])
    assert len(fig.axes) == 2  # no blank columns padding a short selection
    np.testing.assert_allclose(fig.get_size_inches(), [2 * 2.4, 2.4])  # wide, one row


def test_bar_panels_widen_with_their_longest_name(rng):
    # 30-character column names at 2.4 in a panel ran into the next panel's bars
    names = tuple(f"{'worst fractal dimension':<28}{j:02d}" for j in range(6))
    values = rng.normal(size=(2, 6))
    short = Attribution(values, np.array([0, 1])).plot([0, 1])
    long = Attribution(values, np.array([0, 1]), feature_names=names).plot([0, 1])
    assert long.get_size_inches()[0] > short.get_size_inches()[0] + 2 * 1.5
    assert long.get_size_inches()[1] == short.get_size_inches()[1]
    wide = FeatureImportance(values, feature_names=names).plot()
    assert wide.get_size_inches()[0] > 2 * (2.4 + 1.5)
    plt.close("all")


def test_image_panels_and_blank_panels_show_no_axes(rng):
    att = Attribution(rng.normal(size=(7, 64)), np.zeros(7, int), image_shape=(8, 8))
    fig = att.plot(list(range(7)))
    assert len(fig.axes) == 10
    # neither the heat maps nor the three padding panels draw ticks or frames
    assert [ax.axison for ax in fig.axes] == [False] * 10


def test_picture_panels_hide_their_axes_so_layout_places_no_ticks(rng):
    """matplotlib placed the ticks of every heat map's hidden axes each time it placed a
    title (tight_layout, each draw): 1.5-1.9x the time of 10 digits' attributions."""
    att = Attribution(rng.normal(size=(7, 64)), np.zeros(7, int), image_shape=(8, 8))
    imp = FeatureImportance(rng.normal(size=(3, 64)), image_shape=(8, 8))
    for fig in (att.plot(list(range(7))), imp.plot()):
        assert not any(ax.axison for ax in fig.axes)
        assert not any(ax.xaxis.get_visible() or ax.yaxis.get_visible() for ax in fig.axes)
    # bar panels keep theirs
    bars = FeatureImportance(rng.normal(size=(2, 5))).plot()
    assert all(ax.xaxis.get_visible() and ax.yaxis.get_visible() for ax in bars.axes[:2])


def test_an_all_zero_heat_map_draws_without_dividing_by_zero():
    values = np.zeros((1, 64))
    att = Attribution(values, np.array([0]), inputs=np.ones((1, 64)), image_shape=(8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0 / 0 in the opacity would warn
        fig = att.plot(0)
        bare = FeatureImportance(values, image_shape=(8, 8)).plot()
    heat = fig.axes[0].images[-1]
    assert heat.get_clim() == (0.0, 1.0)
    np.testing.assert_array_equal(heat.get_alpha(), np.zeros((8, 8)))  # fully transparent
    assert bare.axes[0].images[0].get_clim() == (0.0, 1.0)


def test_non_negative_heat_maps_run_from_zero_in_one_hue():
    values = np.linspace(0, 3, 64)[None]  # includes an exact zero
    fig = FeatureImportance(values, image_shape=(8, 8)).plot()
    image = fig.axes[0].images[0]
    assert image.get_clim() == (0.0, 3.0)
    assert image.get_cmap().name == "Reds"


def test_overlay_opacity_grows_with_the_magnitude():
    values = np.linspace(-2, 1, 64)[None]
    att = Attribution(values, np.array([0]), inputs=np.zeros((1, 64)), image_shape=(8, 8))
    heat = att.plot(0).axes[0].images[-1]
    # |value| / max|value|, capped below 1 so the input always shows through a little
    expected = 0.85 * np.abs(values.reshape(8, 8)) / 2.0
    np.testing.assert_allclose(heat.get_alpha(), expected)


def test_each_bar_has_its_own_value_and_sign_colour():
    values = np.array([[0.1, -5.0, 0.2, 3.0, 0.0]])
    att = Attribution(values, np.array([0]), feature_names=tuple("abcde"))
    ax = att.plot(0, top=3).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["c", "d", "b"]
    assert [p.get_width() for p in ax.patches] == [0.2, 3.0, -5.0]  # bar i is label i's
    red, blue = to_rgba("C3"), to_rgba("C0")
    assert [p.get_facecolor() for p in ax.patches] == [red, red, blue]


def test_tied_magnitudes_keep_the_first_features_and_default_names():
    # 20 features with only two magnitudes: an unstable sort would pick arbitrary ties
    values = (np.arange(20) % 2).astype(float)[None]
    ax = Attribution(values, np.array([0])).plot(0, top=3).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x5", "x3", "x1"]


def test_bars_default_to_the_top_fifteen(rng):
    att = Attribution(rng.normal(size=(1, 20)), np.array([0]))
    assert len(att.plot(0).axes[0].patches) == 15


def test_a_negative_row_is_out_of_range_not_counted_from_the_end(attribution):
    with pytest.raises(ValueError, match="row -1 is out of range for 4 samples"):
        attribution.plot(-1)


def test_each_panel_shows_its_own_row_class_and_input(attribution):
    fig = attribution.plot([0, 3])
    assert [ax.get_title() for ax in fig.axes] == [
        "attribution: row 0, class 0",
        "attribution: row 3, class 9",
    ]
    background = fig.axes[1].images[0].get_array()
    np.testing.assert_allclose(background, attribution.inputs[3].reshape(8, 8))


def test_panels_carry_the_row_names_given_in_place_of_the_indices(attribution):
    # `unboxed explain --rows 5:8 --plot` titled test row 5 "row 0"
    fig = attribution.plot([0, 3], row_names=range(5, 9))
    assert [ax.get_title() for ax in fig.axes] == [
        "attribution: row 5, class 0",
        "attribution: row 8, class 9",
    ]
    with pytest.raises(ValueError, match="row_names names 3 rows; the attribution has 4"):
        attribution.plot(0, row_names=range(5, 8))
    with pytest.raises(TypeError, match="row_names must be a sequence of names, one per row"):
        attribution.plot(0, row_names="abcd")


def test_row_names_may_be_an_array_or_a_pandas_index(attribution):
    import pandas as pd

    # a test split's index was refused: "must be a sequence of names ... got Index"
    for names in (np.arange(5, 9), pd.Index([5, 6, 7, 8]), pd.Series(["a", "b", "c", "d"])):
        fig = attribution.plot([0, 3], row_names=names)
        shown = [ax.get_title().split(",")[0] for ax in fig.axes]
        assert shown == [f"attribution: row {names[0]}", f"attribution: row {names[3]}"]
    with pytest.raises(ValueError, match="row_names names 3 rows; the attribution has 4"):
        attribution.plot(0, row_names=np.arange(3))
    with pytest.raises(TypeError, match="row_names must be a sequence of names"):
        attribution.plot(0, row_names=np.arange(4).reshape(2, 2))


def test_a_single_class_shows_its_own_row_with_default_names():
    values = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -3.0]])
    fig = FeatureImportance(values).plot(2, top=2)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_title() == "class 2"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x0", "x2"]
    assert [p.get_width() for p in ax.patches] == [0.0, -3.0]


def test_an_unknown_class_is_a_clear_error(importance):
    with pytest.raises(ValueError, match=r"class_ must lie in \[0, 3\), got 3"):
        importance.plot(3)


@pytest.mark.parametrize("top", [0, -1, 2.5])
def test_a_bad_number_of_bars_is_a_clear_error(importance, top):
    # top=-1 sliced off the last bar and top=0 drew an empty panel, both silently
    att = Attribution(np.arange(5.0)[None], np.array([0]))
    with pytest.raises(ValueError, match="top must be an int >= 1"):
        att.plot(0, top=top)
    with pytest.raises(ValueError, match="top must be an int >= 1"):
        importance.plot(top=top)


def test_a_strictly_positive_heat_map_still_starts_at_zero():
    # the colour scale is anchored at 0: a map of values in [1, 4] must not paint its
    # smallest value as if it were no attribution at all
    values = np.linspace(1, 4, 64)[None]
    image = FeatureImportance(values, image_shape=(8, 8)).plot().axes[0].images[0]
    assert image.get_clim() == (0.0, 4.0)


def test_attribution_panels_are_titled_by_their_method():
    att = Attribution(np.ones((1, 3)), np.array([2]), meta=make_meta("saliency", {}))
    assert att.plot(0).axes[0].get_title() == "saliency: row 0, class 2"


def test_attribution_panels_show_each_rows_faithfulness_figure(digits, digits_blackbox):
    """The completeness gap of integrated gradients and LIME's local R^2 go with the
    panel they qualify, row by row, and survive a save and load."""
    from unboxed.local import IntegratedGradients, Lime

    X = digits.X_test[:3]
    ig = IntegratedGradients(digits_blackbox, n_steps=16).explain(X)
    titles = [ax.get_title() for ax in ig.plot([0, 2]).axes]
    for title, row in zip(titles, [0, 2], strict=True):
        assert title.endswith(f"\ncompleteness gap {ig.meta['delta'][row]:.3g}")
    lime = Lime(digits_blackbox, segmenter="pixels", n_samples=64, random_state=0).explain(X)
    score, score_cv = lime.meta["score"][1], lime.meta["score_cv"][1]
    assert lime.plot(1).axes[0].get_title().endswith(f"local R² {score:.3g} (CV {score_cv:.3g})")
    # a NaN figure is saved as null: no figure to show, and no error; a file saved
    # before the cross-validated score existed shows the in-sample one alone
    meta = {**make_meta("lime", {}), "score": [None, 0.5, 0.75]}
    att = Attribution(np.ones((3, 3)), np.array([0, 1, 2]), meta=meta)
    with_cv = Attribution(att.values, att.target, meta={**meta, "score_cv": [0.1, None, 0.25]})
    assert [ax.get_title() for ax in att.plot([0, 1]).axes] == [
        "lime: row 0, class 0",
        "lime: row 1, class 1\nlocal R² 0.5",
    ]
    assert [ax.get_title() for ax in with_cv.plot([0, 1, 2]).axes] == [
        "lime: row 0, class 0",
        "lime: row 1, class 1\nlocal R² 0.5",
        "lime: row 2, class 2\nlocal R² 0.75 (CV 0.25)",
    ]
    # DMM-MEN's explain_local: its held-out R^2 beside the in-sample one
    dmm = {**make_meta("dmm-men-local", {}), "r2": [0.9, 0.8], "r2_held_out": [None, 0.5]}
    local = Attribution(np.ones((2, 3)), np.array([0, 1]), meta=dmm)
    assert [ax.get_title() for ax in local.plot([0, 1]).axes] == [
        "dmm-men-local: row 0, class 0\nlocal R² 0.9",
        "dmm-men-local: row 1, class 1\nlocal R² 0.8 (held out 0.5)",
    ]


def _drawn_intervals(ax):
    """The (low, high) ends of each bar's drawn interval, by bar (bottom first), from
    its line and from its caps."""
    from matplotlib.collections import LineCollection

    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    by_bar = sorted((seg[0, 1], min(seg[:, 0]), max(seg[:, 0])) for seg in lines.get_segments())
    caps = {}
    for cap in ax.lines:  # one Line2D of cap markers per end
        for x, y in zip(cap.get_xdata(), cap.get_ydata(), strict=True):
            caps.setdefault(y, []).append(x)
    spans = np.array([[low, high] for _, low, high in by_bar])
    cap_spans = np.array([sorted(caps[y]) for y, _, _ in by_bar])
    return spans, cap_spans


def test_importance_bars_carry_their_confidence_intervals(planted, planted_blackbox):
    """A permutation importance's bars end at its means, and their error bars span its
    95% intervals, feature by feature; bars without intervals have none."""
    from unboxed.probes import PermutationImportance

    result = PermutationImportance(planted_blackbox, n_repeats=2, n_boot=50, random_state=0)
    importance = result.explain(planted.X_test[:200])
    ax = importance.plot(top=4).axes[0]
    order = np.argsort(-np.abs(importance.values[0]), kind="stable")[:4][::-1]
    from matplotlib.container import BarContainer

    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    np.testing.assert_allclose([b.get_width() for b in bars], importance.values[0, order])
    spans, caps = _drawn_intervals(ax)
    np.testing.assert_allclose(spans, importance.ci[0, order], atol=1e-12)
    np.testing.assert_allclose(caps, importance.ci[0, order], atol=1e-12)
    plain = FeatureImportance(importance.values).plot(top=4).axes[0]
    assert [type(c) for c in plain.containers] == [BarContainer]
    assert not plain.collections and not plain.lines  # no interval drawn


def test_an_interval_that_excludes_its_value_is_drawn_where_it_lies():
    # As offsets |ci - value| from the bar's end, an interval above its value (a
    # bootstrap's of a statistic near 0, or any a caller builds) was drawn partly
    # below it: value 0.01 with [0.02, 0.06] read as [0.0, 0.06], holding the value.
    values = np.array([[0.5, 0.01, -0.3, 0.2]])
    ci = np.array([[[0.4, 0.7], [0.02, 0.06], [-0.5, -0.35], [0.1, 0.2]]])
    importance = FeatureImportance(values, ci=ci, feature_names=tuple("abcd"))
    ax = importance.plot().axes[0]
    order = np.argsort(-np.abs(values[0]), kind="stable")[::-1]  # bottom bar first
    np.testing.assert_allclose([bar.get_width() for bar in ax.patches], values[0, order])
    spans, caps = _drawn_intervals(ax)
    np.testing.assert_allclose(spans, ci[0, order], atol=1e-12)
    np.testing.assert_allclose(caps, ci[0, order], atol=1e-12)
    # The one above its value leaves a gap to the bar's end, the one below too.
    low, high = spans[list(order).index(1)]
    assert low > values[0, 1] and high == pytest.approx(0.06)
    low, high = spans[list(order).index(2)]
    assert high < values[0, 2] and low == pytest.approx(-0.5)
    left, right = ax.get_xlim()
    assert left <= -0.5 and right >= 0.7  # the intervals are in view
    plt.close("all")


def test_importance_bars_carry_the_feature_names(importance):
    ax = importance.plot(0, top=2).axes[0]
    row = importance.values[0]
    expected = [importance.feature_names[i] for i in np.argsort(-np.abs(row))[:2][::-1]]
    assert [t.get_text() for t in ax.get_yticklabels()] == expected


def test_colour_importance_maps_are_averaged_over_their_channels(rng):
    values = rng.uniform(size=(1, 3 * 4 * 6))
    fig = FeatureImportance(values, image_shape=(3, 4, 6)).plot()
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), values.reshape(3, 4, 6).mean(0))


def test_panels_are_laid_out_so_that_their_titles_do_not_overlap(attribution, importance):
    # tight_layout moves the panels off matplotlib's default margins (left 0.125)
    default = plt.rcParams["figure.subplot.left"]
    assert attribution.plot([0, 1]).subplotpars.left != default
    assert importance.plot().subplotpars.left != default


def test_attribution_panels_show_the_models_labels():
    # A model fitted on ["benign", "malignant"] (or on 1..3) had its first class titled
    # "class 0": its column index, not its label.
    values, meta = np.ones((2, 3)), make_meta("lime", {})
    att = Attribution(values, np.array([1, 0]), meta, class_names=("benign", "malignant"))
    titles = [ax.get_title() for ax in att.plot([0, 1]).axes]
    assert titles == ["lime: row 0, class malignant", "lime: row 1, class benign"]
    numbered = Attribution(values, np.array([0, 2]), meta, class_names=[1, 2, 3])
    assert numbered.class_names == ("1", "2", "3")
    assert numbered.plot(1).axes[0].get_title() == "lime: row 1, class 3"


def test_a_label_that_says_class_is_not_titled_class_twice():
    """wine's labels are class_0, class_1, class_2: panels read "class class_0"."""
    from sklearn.datasets import load_wine

    from unboxed.blackbox import class_title

    wine = tuple(load_wine().target_names)
    assert wine == ("class_0", "class_1", "class_2")
    values, meta = np.ones((2, 3)), make_meta("lime", {})
    att = Attribution(values, np.array([2, 0]), meta, class_names=wine)
    titles = [ax.get_title() for ax in att.plot([0, 1]).axes]
    assert titles == ["lime: row 0, class_2", "lime: row 1, class_0"]
    names = (*wine, "Class A", "class", 3, "Trouser", "classical music", "Classic rock")
    assert [class_title(name) for name in names] == [
        *wine,
        "Class A",
        "class",
        "class 3",
        "class Trouser",
        "class classical music",  # a name that only starts with the letters is titled
        "class Classic rock",
    ]
    # a FeatureImportance without row names still numbers its classes
    titles = [ax.get_title() for ax in FeatureImportance(np.ones((2, 3))).plot().axes]
    assert titles == ["class 0", "class 1"]


@pytest.fixture(scope="module")
def iris_curves():
    """Deletion curves on iris of a logistic regression's own weights (most first) and
    of a random per-row order of the 4 features."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from unboxed import BlackBox
    from unboxed.evaluate import deletion_curve

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    box = BlackBox.from_sklearn(model)
    ranked = np.argsort(-np.abs(model.coef_).sum(axis=0))
    order = np.random.default_rng(0).permuted(np.tile(np.arange(4), (len(X), 1)), axis=1)
    curve = deletion_curve(box, X, ranked, fill="mean", n_boot=200, random_state=0)
    random = deletion_curve(box, X, order, fill="mean", n_boot=200, random_state=0)
    return curve, random


def _band(ax, index):
    """The (low, high) bounds per x of the ``index``-th filled band of ``ax``."""
    vertices = ax.collections[index].get_paths()[0].vertices
    xs = np.unique(vertices[:, 0])
    low = [vertices[vertices[:, 0] == x, 1].min() for x in xs]
    high = [vertices[vertices[:, 0] == x, 1].max() for x in xs]
    return xs, np.array(low), np.array(high)


def test_a_deletion_curve_plot_draws_its_mean_drop_and_bootstrap_band(iris_curves):
    from unboxed.evaluate import bootstrap_mean

    curve, _ = iris_curves
    fig = curve.plot(n_boot=300, random_state=1)
    (ax,) = fig.axes
    (line,) = ax.get_lines()  # no baseline: one line
    np.testing.assert_array_equal(line.get_xdata(), curve.ks)
    np.testing.assert_allclose(line.get_ydata(), curve.curve())
    # the band is the 95% bootstrap CI of the mean drop per k, with the same seed
    _, ci = bootstrap_mean(curve.drop, n_boot=300, random_state=1)
    xs, low, high = _band(ax, 0)
    np.testing.assert_array_equal(xs, curve.ks)
    np.testing.assert_allclose(low, ci[:, 0])
    np.testing.assert_allclose(high, ci[:, 1])
    assert np.all(low[1:] < curve.curve()[1:]) and np.all(curve.curve()[1:] < high[1:])
    assert ax.get_xlabel() == "k, the top-ranked features removed"
    assert ax.get_ylabel() == "mean drop in the\nclass's probability"
    (label,) = [text.get_text() for text in ax.get_legend().get_texts()]
    assert label == f"ranking, AOPC {curve.aopc}"
    assert str(round(curve.aopc.mean, 4)) in label
    # the same seed draws the same band
    again = _band(curve.plot(n_boot=300, random_state=1).axes[0], 0)
    np.testing.assert_array_equal(again[1], low)


def test_a_deletion_curve_plot_draws_a_random_baseline_beside_it(iris_curves, tmp_path):
    from matplotlib.figure import Figure

    from unboxed._io import save_figure

    curve, random = iris_curves
    own = Figure()
    ax = own.add_subplot()
    assert curve.plot(random, ax=ax) is own  # drawn on the axes given
    ranked, baseline = ax.get_lines()
    np.testing.assert_allclose(ranked.get_ydata(), curve.curve())
    np.testing.assert_allclose(baseline.get_ydata(), random.curve())
    assert len(ax.collections) == 2  # a band each
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [f"ranking, AOPC {curve.aopc}", f"random ranking, AOPC {random.aopc}"]
    # the weights' ranking drops faster than a random one: the point of the figure
    assert curve.aopc.mean > random.aopc.mean
    save_figure(own, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_a_deletion_curve_plot_refuses_a_baseline_of_other_rows_or_steps(iris_curves):
    import dataclasses

    # A baseline of 10 of the 150 rows was drawn beside the curve, its AOPC in the
    # legend as if the two compared, as aopc_difference refuses to pair them.
    curve, random = iris_curves
    for baseline, message in (
        (dataclasses.replace(random, drop=random.drop[:10]), "baseline has 10 rows and max_k=4"),
        (
            dataclasses.replace(random, ks=random.ks[:3], drop=random.drop[:, :3]),
            "baseline has 150 rows and max_k=2, this curve 150 rows and max_k=4",
        ),
        (
            dataclasses.replace(random, meta={**random.meta, "fill": "zero"}),
            "baseline's fill is 'zero' and this curve's 'mean'",
        ),
    ):
        with pytest.raises(ValueError, match=message):
            curve.plot(baseline)


def test_a_deletion_curve_s_legend_sits_under_its_axes_not_on_its_curves(iris_curves):
    # In explain --plot's small panel the legend ("best" inside the axes) was as wide
    # as the axes and sat on the curves it names.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from unboxed.report._plots import _attribution_and_deletion_curve

    curve, random = iris_curves
    attribution = Attribution(np.ones((3, 4)), np.zeros(3, dtype=int))
    panel = _attribution_and_deletion_curve(attribution, [0, 1, 2], curve, random)
    for figure in (panel, curve.plot(random), curve.plot()):
        FigureCanvasAgg(figure).draw()
        renderer = figure.canvas.get_renderer()
        ax = figure.axes[-1]
        legend = ax.get_legend().get_window_extent(renderer)
        axis = ax.xaxis.get_tightbbox(renderer)  # the ticks' labels and the axis label
        assert legend.y1 <= axis.y0
        inside = figure.bbox
        assert inside.x0 <= legend.x0 and legend.x1 <= inside.x1 and inside.y0 <= legend.y0
    # the panel's legend names both curves, the baseline too
    labels = [text.get_text() for text in panel.axes[-1].get_legend().get_texts()]
    assert labels == [f"ranking, AOPC {curve.aopc}", f"random ranking, AOPC {random.aopc}"]


@pytest.mark.parametrize("n_rows", [1, 3])
def test_explain_s_deletion_curve_panel_keeps_its_y_label_inside_the_figure(iris_curves, n_rows):
    # Beside 1 to 3 rows the figure is one panel high (2.4 in), and the y label on one
    # line was taller than the curve's axes: its top was cut off at the figure's edge.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from unboxed.report._plots import _attribution_and_deletion_curve

    curve, random = iris_curves
    attribution = Attribution(np.ones((n_rows, 4)), np.zeros(n_rows, dtype=int))
    panel = _attribution_and_deletion_curve(attribution, list(range(n_rows)), curve, random)
    FigureCanvasAgg(panel).draw()
    (ax,) = [ax for ax in panel.axes if ax.get_legend() is not None]  # the curve's panel
    label = ax.yaxis.label.get_window_extent(panel.canvas.get_renderer())
    inside = panel.bbox
    assert inside.y0 <= label.y0 and label.y1 <= inside.y1
    assert inside.x0 <= label.x0 and label.x1 <= inside.x1


def test_a_deletion_curve_plot_refuses_other_objects(iris_curves):
    from unboxed.report import plot_deletion_curve

    curve, _ = iris_curves
    with pytest.raises(TypeError, match="curve must be a DeletionCurve"):
        plot_deletion_curve(curve.drop)
    with pytest.raises(TypeError, match="baseline must be a DeletionCurve"):
        curve.plot(curve.drop)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        curve.plot(ax="left")


def test_a_deletion_curve_plot_names_what_k_counts(iris_curves):
    # The x-axis reads the curve's unit unless told what its segments are: an
    # image's segments of one pixel each are "pixels", not "segments".
    curve, _ = iris_curves
    assert curve.plot(unit="pixel").axes[0].get_xlabel() == "k, the top-ranked pixels removed"
    assert curve.plot().axes[0].get_xlabel() == "k, the top-ranked features removed"
    with pytest.raises(TypeError, match="unit must be a string"):
        curve.plot(unit=1)


def test_a_deletion_curve_of_one_row_draws_no_band(iris_curves):
    import dataclasses

    from unboxed.evaluate import Estimate

    curve, _ = iris_curves
    drop = curve.drop[:1]
    one = dataclasses.replace(curve, drop=drop, aopc=Estimate(drop.mean(), (drop.mean(),) * 2, 1))
    (ax,) = one.plot().axes
    assert len(ax.get_lines()) == 1 and not ax.collections  # zero width read as certainty
    assert ax.get_title() == "deletion curve, 1 row"
    assert "no CI" in ax.get_legend().get_texts()[0].get_text()
    assert curve.plot().axes[0].get_title() == "deletion curve, 150 rows (95% CI bands)"


@pytest.fixture(scope="module")
def iris_pcr():
    """The deletion test on iris of a logistic regression's weights for virginica,
    largest |weight| first: its PCR falls to 0 at k = 1, random features' does not."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from unboxed import BlackBox
    from unboxed.evaluate import deletion_test

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    ranked = np.argsort(-np.abs(model.coef_[2]))
    box = BlackBox.from_sklearn(model)
    kwargs = {"target": 2, "fill": "mean", "random_state": 0, "verbose": False}
    return deletion_test(box, X, ranked, [1, 2, 3, 4], **kwargs)


def _error_bars(container):
    """The (low, high) ends per point of an errorbar ``container``'s vertical bars."""
    (bars,) = container.lines[2]
    ends = np.array([segment[:, 1] for segment in bars.get_segments()])
    return ends.min(axis=1), ends.max(axis=1)


def test_a_pcr_plot_draws_both_rates_with_their_confidence_intervals(iris_pcr):
    result = iris_pcr
    assert result.pcr[0] == 0 and result.random_pcr[0] > 0.3  # a ranking worth drawing
    fig = result.plot()
    (ax,) = fig.axes
    ranked, random = [line for line in ax.lines if not line.get_label().startswith("_")]
    for line, pcr in ((ranked, result.pcr), (random, result.random_pcr)):
        np.testing.assert_array_equal(line.get_xdata(), result.ks)
        np.testing.assert_allclose(line.get_ydata(), pcr)
    # each point's bar spans its 95% bootstrap CI
    for container, ci in zip(ax.containers, (result.pcr_ci, result.random_pcr_ci), strict=True):
        low, high = _error_bars(container)
        np.testing.assert_allclose(low, ci[:, 0])
        np.testing.assert_allclose(high, ci[:, 1])
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["ranked features", "random features"]
    assert ax.get_xlabel() == "k, the top-ranked features set to the fill"
    assert ax.get_ylabel() == "PCR: share of cases classified\nas the tested class"
    assert ax.get_title() == f"deletion test, {result.n_cases} positive cases (95% CIs)"
    assert ax.get_ylim() == (-0.02, 1.02)
    assert all(float(tick).is_integer() for tick in ax.get_xticks())  # k counts features


def test_a_pcr_plot_names_the_ranking_and_draws_on_the_axes_given(iris_pcr):
    import dataclasses

    from matplotlib.figure import Figure

    from unboxed.report import plot_pcr

    own = Figure()
    ax = own.add_subplot()
    assert iris_pcr.plot("weight", ax=ax) is own
    assert ax.get_legend().get_texts()[0].get_text() == "weight features"
    # crafted cases say what their k counts; a file saved before meta says less
    crafted = dataclasses.replace(iris_pcr, meta={"test": "crafted"})
    (ax,) = plot_pcr(crafted).axes
    assert ax.get_xlabel() == "k, the top-ranked features given positive values (the rest noise)"
    assert ax.get_title().startswith(f"crafted cases, {iris_pcr.n_cases} cases")
    (ax,) = plot_pcr(dataclasses.replace(iris_pcr, meta={})).axes
    assert ax.get_xlabel() == "k, the top-ranked features manipulated"
    with pytest.raises(TypeError, match="result must be a PCRResult"):
        plot_pcr(iris_pcr.pcr)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        iris_pcr.plot(ax="left")


def test_a_pcr_interval_that_leaves_out_its_rate_is_drawn_where_it_lies(iris_pcr):
    # A percentile interval of the bootstrap's subsamples can leave out the mean of all
    # the cases; as offsets from the point, clipped at 0, it was drawn from the point.
    import dataclasses

    ci = iris_pcr.random_pcr_ci.copy()
    ci[1] = [iris_pcr.random_pcr[1] + 0.05, iris_pcr.random_pcr[1] + 0.15]
    (ax,) = dataclasses.replace(iris_pcr, random_pcr_ci=ci).plot().axes
    low, high = _error_bars(ax.containers[1])
    np.testing.assert_allclose(low, ci[:, 0])
    np.testing.assert_allclose(high, ci[:, 1])


def test_a_pcr_plot_of_one_k_still_shows_its_intervals(iris_pcr):
    # a band over one k has no width: the interval would not be drawn at all
    import dataclasses

    one = dataclasses.replace(
        iris_pcr,
        ks=iris_pcr.ks[1:2],
        pcr=iris_pcr.pcr[1:2],
        pcr_ci=iris_pcr.pcr_ci[1:2],
        random_pcr=iris_pcr.random_pcr[1:2],
        random_pcr_ci=iris_pcr.random_pcr_ci[1:2],
    )
    (ax,) = one.plot().axes
    low, high = _error_bars(ax.containers[1])
    assert high[0] - low[0] > 0.1
    np.testing.assert_allclose([low[0], high[0]], iris_pcr.random_pcr_ci[1])


@pytest.fixture(scope="module")
def cancer_tree():
    """A depth-3 tree surrogate of a logistic regression on breast-cancer (stored
    standardized), whose rules print two of its splits as one leaf each, and the data."""
    from sklearn.linear_model import LogisticRegression

    from unboxed import BlackBox, load_dataset
    from unboxed.surrogates import TreeSurrogate

    cancer = load_dataset("breast-cancer")
    model = LogisticRegression(C=0.1).fit(cancer.X_train, cancer.y_train)
    named = {"feature_names": cancer.feature_names, "class_names": ("malignant", "benign")}
    box = BlackBox.from_sklearn(model, **named)
    tree = TreeSurrogate(box, max_depth=3, random_state=0, verbose=False).fit(cancer.X_train)
    assert tree.n_leaves_ > tree.n_rules_  # collapsed splits, which the figure must not draw
    return tree, cancer


def _boxes(ax):
    """The texts of the boxes a tree plot drew (the edges' yes/no have no box)."""
    return [text.get_text() for text in ax.texts if text.get_bbox_patch() is not None]


def _rule_nodes(rules):
    """The nodes of ``export_text``'s ``rules``, depth first: per node its first line
    (``name <= t`` or ``class: c``) and the conditions on the path to it, as
    (name, is "<=", threshold) triples."""
    nodes, path = [], []
    for line in rules.splitlines():
        prefix, text = line.split("|--- ", 1)
        depth = len(prefix) // 4
        del path[depth:]
        if " >  " in text:
            name, threshold = text.split(" >  ")
            path.append((name, False, float(threshold)))
            continue
        nodes.append((text, list(path)))
        if " <= " in text:
            name, threshold = text.split(" <= ")
            path.append((name, True, float(threshold)))
    return nodes


def test_a_tree_plot_reads_as_its_rules_in_raw_units_with_the_rows_of_each_box(cancer_tree):
    tree, cancer = cancer_tree
    names = list(cancer.feature_names)
    rules = tree.export_text(unscale=cancer.to_raw)
    fig = tree.plot(unscale=cancer.to_raw)
    (ax,) = fig.axes
    boxes = _boxes(ax)
    nodes = _rule_nodes(rules)
    # one box per printed node, in the same order, reading the same rule or class
    assert [box.split("\n")[0] for box in boxes] == [text for text, _ in nodes]
    assert sum(box.startswith("class: ") for box in boxes) == tree.n_rules_
    assert {box.split("\n")[0] for box in boxes if box.startswith("class: ")} == {
        "class: malignant",
        "class: benign",
    }
    # raw units: the root's threshold is export_text's (unscaled), not the tree's own
    assert boxes[0].startswith(f"{names[tree.tree_.tree_.feature[0]]} <= ")
    assert boxes[0].split("\n")[0] not in tree.export_text()
    # each box counts the training rows its path's printed conditions let through
    raw = cancer.to_raw(cancer.X_train[tree.train_indices_])
    for box, (_, path) in zip(boxes, nodes, strict=True):
        reach = np.ones(len(raw), dtype=bool)
        for name, below, threshold in path:
            column = raw[:, names.index(name)]
            reach &= column <= threshold if below else column > threshold
        assert box.split("\n")[1] == f"{reach.sum()} rows"
    assert boxes[0].split("\n")[1] == f"{len(tree.train_indices_)} rows"
    # an edge to each box but the root, each labelled by its branch
    assert len(ax.get_lines()) == len(boxes) - 1
    branches = [text.get_text() for text in ax.texts if text.get_bbox_patch() is None]
    assert sorted(branches) == sorted(["yes", "no"] * (len(boxes) // 2))
    title = ax.get_title()
    assert f"tree surrogate of {tree.n_rules_} rules (rows: of its 342 training rows)" in title
    assert str(tree.fidelity_) in title


def test_a_tree_plot_draws_only_the_top_levels_asked_for(cancer_tree):
    tree, _ = cancer_tree
    full = _boxes(tree.plot().axes[0])
    (ax,) = tree.plot(max_depth=1).axes
    top = _boxes(ax)
    assert len(top) == 3 and len(full) > 3
    # the same boxes as the whole tree's, the cut splits saying that they are cut
    assert top[0] == full[0]
    for box in top[1:]:
        assert box.endswith("\n(deeper splits not drawn)") and " <= " in box
        assert box.removesuffix("\n(deeper splits not drawn)") in full
    assert "its top 2 levels" in ax.get_title()
    assert _boxes(tree.plot(max_depth=0).axes[0]) == [full[0] + "\n(deeper splits not drawn)"]
    # deep enough for the whole tree: nothing cut, and the title says nothing of it
    (ax,) = tree.plot(max_depth=tree.depth_).axes
    assert _boxes(ax) == full and "top" not in ax.get_title()


def test_a_tree_plot_refuses_bad_arguments_clearly(cancer_tree):
    from unboxed import NotFittedError
    from unboxed.report import plot_tree_surrogate
    from unboxed.surrogates import TreeSurrogate

    tree, _ = cancer_tree
    for max_depth in (-1, 1.5, "2"):
        with pytest.raises(ValueError, match="max_depth must be an int >= 0"):
            tree.plot(max_depth=max_depth)
    with pytest.raises(ValueError, match="feature_names has 2 entries"):
        tree.plot(feature_names=["a", "b"])
    with pytest.raises(TypeError, match="surrogate must be a TreeSurrogate"):
        plot_tree_surrogate(tree.tree_)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        tree.plot(ax="left")
    with pytest.raises(NotFittedError):
        TreeSurrogate(tree.blackbox).plot()


def test_values_matplotlib_cannot_scale_are_refused_by_name():
    from unboxed.explanation import hand_over

    # [1e308, -1e308] raised matplotlib's RuntimeWarning "overflow encountered in
    # subtract" from deep in its colour scaling (bars: its axis limits), or drew a
    # blank panel with warnings off.
    huge = np.array([[1e308, -1e308, 3.0, 0.0]])
    message = r"attribution.values \(row 0\) spans -1e\+308 to 1e\+308, too wide for matplotlib"
    for image_shape in (None, (2, 2)):
        with pytest.raises(ValueError, match=message):
            Attribution(huge, [0], image_shape=image_shape).plot()
    with pytest.raises(ValueError, match=r"attribution.inputs \(row 0\) spans"):
        Attribution(np.ones((1, 4)), [0], inputs=huge, image_shape=(2, 2)).plot()
    with pytest.raises(ValueError, match=r"importance.values \(row 1\) spans 0 to 1e\+308"):
        FeatureImportance(np.array([[1.0, 2.0], [1e308, 1.0]])).plot()
    # an explainer's handed-over values are not scanned for NaN when built: they drew
    # a panel with a bar missing
    with pytest.raises(ValueError, match=r"attribution.values \(row 0\) holds nan at feature 1"):
        Attribution(hand_over(np.array([[1.0, np.nan, 2.0]])), [0]).plot()
    # a wide range short of the limit still draws, each bar at its value
    fig = Attribution(np.array([[1e307, -1e306]]), [0]).plot()
    fig.savefig(io.BytesIO())
    assert sorted(p.get_width() for p in fig.axes[0].patches) == [-1e306, 1e307]


def test_heat_maps_and_backgrounds_draw_up_to_the_largest_float():
    # The bars' limit (1.1e307, 0 included) refused heat maps that drew as any other:
    # only a colour range past the largest float overflows ([-m, m] with a negative
    # value, else [0, m]), and a background spans from its lowest value to its highest.
    top = float(np.finfo(float).max)
    for values, inputs in (
        ([[top, 0.0, 1.0, 0.0]], None),
        ([[8e307, -8e307, 1.0, 0.0]], None),
        ([[1e308, 0.0, 1.0, 0.0]], [[1e308, 5e307, 0.0, 1.0]]),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # matplotlib's overflow warnings
            fig = Attribution(np.array(values), [0], inputs=inputs, image_shape=(2, 2)).plot()
            fig.savefig(io.BytesIO())
        assert fig.axes[0].images[-1].get_array().max() == values[0][0]
    fig = FeatureImportance(np.array([[top, 0.0, 1.0, 0.0]]), image_shape=(2, 2)).plot()
    fig.savefig(io.BytesIO())
    # past it the colour range or a mean over channels overflows: refused by name
    for values, image_shape, message in (
        ([[9e307, -1.0, 0.0, 0.0]], (2, 2), "colours run from -9e\\+307 to 9e\\+307"),
        ([[1e308, 1e308, 0.0, 0.0]], (2, 1, 2), "its 2 channels' sum at most that"),
    ):
        with pytest.raises(ValueError, match=message):
            Attribution(np.array(values), [0], image_shape=image_shape).plot()
    with pytest.raises(ValueError, match=r"attribution.inputs \(row 0\) spans -1e\+308 to 1e\+308"):
        Attribution(np.ones((1, 4)), [0], inputs=[[1e308, -1e308, 0, 0]], image_shape=(2, 2)).plot()


def test_float32_channels_whose_sum_float32_cannot_hold_are_refused_by_name():
    # numpy's mean sums float32 in float32: 3 channels of 3e38 raised its RuntimeWarning
    # "overflow encountered in reduce" in _as_image, though each value is a float32
    values = np.full((1, 12), 3e38, dtype=np.float32)
    message = "at most 3.4e\\+38 from end to end, and its 3 channels' sum at most that"
    with pytest.raises(ValueError, match=r"attribution.values \(row 0\) spans 3e\+38.*" + message):
        Attribution(values, [0], image_shape=(3, 2, 2)).plot()
    with pytest.raises(ValueError, match=r"attribution.inputs \(row 0\).*" + message):
        Attribution(np.ones((1, 12)), [0], inputs=values, image_shape=(3, 2, 2)).plot()
    # a sum float32 holds draws as before, as does one channel of 3e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Attribution(values / 3, [0], image_shape=(3, 2, 2)).plot().savefig(io.BytesIO())
        Attribution(values, [0], image_shape=(3, 4)).plot().savefig(io.BytesIO())


def test_float32_colours_wider_than_float32_holds_are_refused_by_name():
    # matplotlib's norm subtracts vmin in the array's float: float32 colours of
    # [-3e38, 3e38] (each a float32) raised its RuntimeWarning "overflow encountered
    # in subtract" when the figure was saved
    wide = np.array([[3e38, -3e38, 1.0, 2.0]], dtype=np.float32)
    rule = r"at most 3.4e\+38 from end to end"
    with pytest.raises(ValueError, match=r"attribution.values \(row 0\) spans -3e\+38.*" + rule):
        Attribution(wide, [0], image_shape=(2, 2)).plot()
    with pytest.raises(ValueError, match=r"attribution.inputs \(row 0\) spans -3e\+38.*" + rule):
        Attribution(np.ones((1, 4)), [0], inputs=wide, image_shape=(2, 2)).plot()
    # float64 colours of that span, and float32 ones float32 holds, draw as before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for values in (wide.astype(np.float64), wide / 2):
            Attribution(values, [0], image_shape=(2, 2)).plot().savefig(io.BytesIO())
            Attribution(np.ones((1, 4)), [0], inputs=values, image_shape=(2, 2)).plot().savefig(
                io.BytesIO()
            )


def test_intervals_matplotlib_cannot_scale_are_refused_by_name():
    # The error bars share the bars' axis: an interval of [-1e308, 1e308] about values
    # of 1 and 2 raised matplotlib's "overflow encountered in subtract".
    ci = np.array([[[-1e308, 1e308], [1.5, 2.5]]])
    with pytest.raises(
        ValueError, match=r"importance.values and ci \(row 0\) spans -1e\+308 to 1e\+308, too wide"
    ):
        FeatureImportance(np.array([[1.0, 2.0]]), ci=ci).plot()
    # wide intervals short of the limit still draw
    ci = np.array([[[-1e306, 1e306], [1.5, 2.5]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FeatureImportance(np.array([[1.0, 2.0]]), ci=ci).plot().savefig(io.BytesIO())


def test_more_panels_than_a_figure_holds_are_refused_before_drawing(rng):
    # Rows of panels 2.4 in high past the installed matplotlib's limit (2000 rows, 960
    # in, before 3.10): savefig's "Image size of ... pixels is too large" came after
    # minutes of drawing them.
    n = 5 * (int(_max_inches() / 2.4) + 1)
    many = Attribution(rng.normal(size=(n, 3)), np.zeros(n, int))
    with pytest.raises(ValueError, match=rf"{n} panels \({n // 5} rows of 5\) make a figure of 1"):
        many.plot(list(range(n)))
    importance = FeatureImportance(rng.uniform(size=(n, 3)))
    with pytest.raises(ValueError, match="more than matplotlib can save"):
        importance.plot()
    # up to matplotlib's limit, the figure is made as before
    most = _max_inches()
    _check_figure_size(most - 0.01, most - 0.01, what="2 panels")
    with pytest.raises(ValueError, match=f"2 panels make a figure of 1 x {most:.0f} in"):
        _check_figure_size(1.0, most, what="2 panels")


@pytest.mark.skipif(
    tuple(matplotlib.__version_info__[:2]) < (3, 10), reason="matplotlib < 3.10 saves 2**16 px"
)
def test_figures_past_655_in_that_matplotlib_saves_are_not_refused():
    # The limit was 2**16 px (655 in at 100 dpi) whatever the matplotlib: 3.10 lifted
    # Agg's to 2**23, and a figure 700 in high saves there, which was refused.
    from matplotlib.figure import Figure

    Figure(figsize=(1, 700)).savefig(io.BytesIO(), format="png")
    _check_figure_size(1.0, 700.0, what="2 panels")
    assert _max_inches() == 2**23 / 100
