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
