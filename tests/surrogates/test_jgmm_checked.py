"""``select="blackbox"``: counterfactuals and semi-factuals kept only where the black box
itself changes (or keeps) the query's class, so that every example returned is valid."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import breast_cancer_mlp
from unboxed.surrogates import JGMMExplainer
from unboxed.surrogates import _jgmm_examples as jx

#: The first 10 columns of breast-cancer (the "mean" measurements), held.
HELD = list(range(10))


@pytest.fixture(scope="module")
def cancer():
    """Breast-cancer, a small MLP trained here behind an ``nn.Identity`` (layer "0" is
    the input), and a JGMM on those inputs."""
    data, box = breast_cancer_mlp()
    explainer = JGMMExplainer(
        box, lower_layer="0", n_components_x=6, e_step="labelled", random_state=0, verbose=False
    ).fit(data.X_train)
    return data, box, explainer


def _rows_with_one(examples) -> int:
    return int(np.unique(examples.groups).size)


def _first_valid(every, valid, n_per_query):
    """Per query, the first ``n_per_query`` rows of ``every`` (best first) that are
    ``valid``, and the count of valid ones."""
    chosen, counts = [], []
    for q in np.unique(every.groups):
        rows = np.flatnonzero((every.groups == q) & valid)
        chosen.append(rows[:n_per_query])
        counts.append(rows.size)
    return np.concatenate(chosen), counts


@pytest.mark.parametrize("kind", ["counterfactuals", "semifactuals"])
def test_every_generated_example_is_valid_and_none_is_missed(cancer, kind):
    """The examples kept are the best candidates within the radius whose black-box
    class differs from (counterfactuals) or equals (semi-factuals) the query's,
    recomputed here by asking about every candidate of select="score"; fewer
    candidates are asked about than lie within the radius."""
    data, box, explainer = cancer
    queries = data.X_test[:8]
    sampler = "sparse" if kind == "counterfactuals" else "local"
    options = {"sampler": sampler, "radius": 2.0, "random_state": 0, "n_samples": 200}
    checked = getattr(explainer, kind)(queries, n_per_query=5, select="blackbox", **options)
    every = getattr(explainer, kind)(queries, n_per_query=200, select="score", **options)
    query_classes = box.predict(queries)
    assert np.array_equal(checked.query_classes, query_classes)
    same = box.predict(every.values) == query_classes[every.groups]
    wanted, counts = _first_valid(every, ~same if kind == "counterfactuals" else same, 5)
    np.testing.assert_array_equal(checked.values, every.values[wanted])
    np.testing.assert_array_equal(checked.scores, every.scores[wanted])
    # Exact where a query ran out of valid candidates; else a count among those asked.
    selected, returned = (
        checked.meta["candidates"]["selected"],
        checked.meta["candidates"]["returned"],
    )
    for q in range(8):
        if returned[q] < 5:
            assert selected[q] == counts[q]
        else:
            assert 5 <= selected[q] <= counts[q]
    assert explainer.validity(checked).mean == 1.0
    within = sum(checked.meta["candidates"]["within_radius"])
    assert checked.meta["blackbox_rows"] < within


def test_checked_counterfactuals_reach_rows_the_proxy_misses(cancer):
    """Holding 10 of 30 columns, the proxy's choice often leaves a row without a valid
    counterfactual; asking the black box finds one for more rows."""
    data, box, explainer = cancer
    queries = data.X_test[:40]
    options = {"sampler": "sparse", "radius": 2.0, "immutable": HELD, "n_per_query": 5}
    proxy = explainer.counterfactuals(queries, **options)
    checked = explainer.counterfactuals(queries, select="blackbox", **options)
    valid = box.predict(proxy.values) != proxy.query_classes[proxy.groups]
    assert _rows_with_one(checked) > np.unique(proxy.groups[valid]).size
    np.testing.assert_array_equal(checked.values[:, HELD], queries[checked.groups][:, HELD])


def _count_rows_asked(monkeypatch, box):
    """Count the rows ``box.predict`` is given from now on."""
    asked = [0]
    predict = box.predict

    def counting(X):
        asked[0] += len(X)
        return predict(X)

    monkeypatch.setattr(box, "predict", counting)
    return asked


def test_mined_examples_ask_each_pool_row_at_most_once(cancer, monkeypatch):
    """Mined: the best pool rows within the radius of another black-box class, each
    pool row asked about at most once for every query (per query where features are
    held, since each query mines a pool of its own), and only as many as needed."""
    data, box, explainer = cancer
    queries, pool = data.X_test[:6], data.X_train
    asked = _count_rows_asked(monkeypatch, explainer.blackbox)
    checked = explainer.counterfactuals(queries, source="mined", select="blackbox", radius=3.0)
    assert checked.meta["blackbox_rows"] == asked[0] - len(queries)  # less the queries
    assert 0 < checked.meta["blackbox_rows"] < len(pool)
    every = explainer.counterfactuals(
        queries, source="mined", select="score", radius=3.0, n_per_query=len(pool)
    )
    valid = box.predict(every.inputs) != every.query_classes[every.groups]
    wanted, _ = _first_valid(every, valid, 5)
    np.testing.assert_array_equal(checked.inputs, every.inputs[wanted])
    held = explainer.counterfactuals(queries, source="mined", select="blackbox", immutable=HELD)
    assert 0 < held.meta["blackbox_rows"] < len(queries) * len(pool)
    assert np.all(box.predict(held.inputs) != held.query_classes[held.groups])
    np.testing.assert_array_equal(held.inputs[:, HELD], queries[held.groups][:, HELD])


def test_the_other_selects_record_no_questions(cancer):
    data, _, explainer = cancer
    examples = explainer.counterfactuals(data.X_test[:2], sampler="sparse", radius=2.0)
    assert "blackbox_rows" not in examples.meta


def test_generated_features_the_network_cannot_take_back_are_refused(digits, digits_blackbox):
    """Pooled features cannot be fed to the layers above: refused before any draw."""
    explainer = JGMMExplainer(
        digits_blackbox,
        lower_layer="act1",
        pool=2,
        n_components_x=4,
        random_state=0,
        verbose=False,
    ).fit(digits.X_train[:300])
    state = explainer.rng_.bit_generator.state
    with pytest.raises(ValueError, match="select='blackbox' on generated examples"):
        explainer.counterfactuals(digits.X_test[:2], select="blackbox")
    assert explainer.rng_.bit_generator.state == state
    mined = explainer.counterfactuals(digits.X_test[:2], source="mined", select="blackbox")
    assert explainer.validity(mined).mean == 1.0


def test_local_examples_needs_the_question_to_ask(cancer):
    data, _, explainer = cancer
    Zq = explainer.jgmm_.transform_x(data.X_test[:1])
    with pytest.raises(ValueError, match="give blackbox_same="):
        jx.local_examples(
            explainer.jgmm_,
            Zq,
            "counterfactual",
            2,
            source="generated",
            rng=0,
            select="blackbox",
        )
