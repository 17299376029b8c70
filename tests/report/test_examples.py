"""The example and posterior figures: they draw, and bad selections are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_example_set import _examples
from unboxed.report import plot_examples, plot_posteriors


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
