import matplotlib.pyplot as plt
import numpy as np
import pytest

from unboxed import Attribution, FeatureImportance


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
    with pytest.raises(IndexError):
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
    with pytest.raises(IndexError, match="row 4 is out of range for 4 samples"):
        attribution.plot(4)


def test_colour_images_are_averaged_over_their_channels(rng):
    values = rng.normal(size=(1, 3 * 4 * 6))
    inputs = rng.uniform(size=(1, 3 * 4 * 6))
    fig = Attribution(values, np.array([0]), inputs=inputs, image_shape=(3, 4, 6)).plot(0)
    background, heat = fig.axes[0].images
    np.testing.assert_allclose(background.get_array(), inputs.reshape(3, 4, 6).mean(axis=0))
    np.testing.assert_allclose(heat.get_array(), values.reshape(3, 4, 6).mean(axis=0))
