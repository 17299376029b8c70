"""``meta["candidates"]`` of counterfactuals and semi-factuals: per query, how many
candidates were found, within the radius, kept by ``select`` and returned, so that a
query that got none says why, and the counts of a query do not depend on the others."""

from __future__ import annotations

import numpy as np
import pytest

from unboxed import ExampleSet
from unboxed.surrogates import JGMMExplainer
from unboxed.surrogates._jgmm_examples import rms_distance


@pytest.fixture(scope="module")
def explainer(digits, digits_lenet):
    from unboxed import zoo

    return JGMMExplainer(
        zoo.as_blackbox(digits_lenet),
        lower_layer="pool2",
        n_components_x=10,
        e_step="labelled",
        random_state=0,
        verbose=False,
    ).fit(digits.X_train)


def test_mined_counts_are_those_of_the_pool(explainer, digits):
    """Recomputed from the pool: the rows within the radius (the query itself
    excepted), those of another proxy class, and the examples of each query."""
    queries, radius = digits.X_test[:12], 1.0
    cf = explainer.counterfactuals(queries, source="mined", radius=radius)
    model = explainer.jgmm_
    Zq = model.transform_x(explainer.lower_features(queries))
    Z_pool = model.transform_x(explainer.lower_features(digits.X_train))
    pool_class = explainer.predict(digits.X_train)
    within = [(rms_distance(Z_pool, z) <= radius) & (rms_distance(Z_pool, z) > 0) for z in Zq]
    other = [w & (pool_class != c) for w, c in zip(within, explainer.predict(queries), strict=True)]
    assert cf.meta["candidates"] == {
        "found": [len(digits.X_train)] * 12,
        "within_radius": [int(w.sum()) for w in within],
        "selected": [int(o.sum()) for o in other],
        "returned": np.bincount(cf.groups, minlength=12).tolist(),
    }
    # The case the counts are for: some queries get none, and they say why.
    assert 0 in cf.meta["candidates"]["returned"]


def test_a_query_with_fewer_says_so_whatever_the_other_queries(explainer, digits, tmp_path):
    """A query's counts are those of a call on it alone: the others share no state."""
    queries = digits.X_test[:6]
    together = explainer.counterfactuals(queries, radius=1.5, random_state=0)
    counts = together.meta["candidates"]
    # 2 of 1,000 draws of query 3 lie within the radius, against 70 to 939 for the others
    short = [q for q, n in enumerate(counts["returned"]) if n < 5]
    assert short and all(counts["returned"][q] == counts["selected"][q] for q in short)
    for q in range(6):
        alone = explainer.counterfactuals(queries[q : q + 1], radius=1.5, random_state=0)
        assert {k: v[0] for k, v in alone.meta["candidates"].items()} == {
            k: v[q] for k, v in counts.items()
        }
    together.save(tmp_path / "cf.npz")
    assert ExampleSet.load(tmp_path / "cf.npz").meta["candidates"] == counts


def test_semifactuals_held_features_count_too(explainer, digits):
    sf = explainer.semifactuals(
        digits.X_test[:3], source="mined", radius=2.0, immutable=[0, 1], n_per_query=2
    )
    counts = sf.meta["candidates"]
    assert counts["found"] == [len(digits.X_train)] * 3
    assert counts["returned"] == [min(s, 2) for s in counts["selected"]]
    assert all(s <= w for s, w in zip(counts["selected"], counts["within_radius"], strict=True))
