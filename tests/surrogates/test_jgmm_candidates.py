"""``meta["candidates"]`` of counterfactuals and semi-factuals: per query, how many
candidates were found, within the radius, kept by ``select`` and returned, so that a
query that got none says why, and the counts of a query do not depend on the others.
Then the rows of a DataFrame the model raises on, in the queries and mining pools (and
the fit), named by their labels."""

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


# ---------------------------------------------------------------- a DataFrame's rows
def _torch_refusing_a_petal_of_4(spared_calls):
    """tests/helpers.iris_refusing_a_petal_of_4's model as a torch module (its
    log-probabilities as logits), an ``nn.Identity`` first so that layer "0" is the
    input: JGMMExplainer reads a torch model's layers. Returns ``(box, X, module)``;
    ``module[1].fn`` is the helper's model, which a test may swap."""
    import torch
    from torch import nn

    from tests.helpers import iris_refusing_a_petal_of_4
    from unboxed import BlackBox

    class Refusing(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return torch.log(torch.as_tensor(self.fn(x.numpy()))).float()

    box, X = iris_refusing_a_petal_of_4(spared_calls)
    module = nn.Sequential(nn.Identity(), Refusing(box._predict_fn))
    torch_box = BlackBox.from_torch(module, input_shape=(4,), name="refuses_a_petal_of_4")
    return torch_box, X, module


def _raises_on_flower_62(call, place="row 1 of the 6 rows queried"):
    import re

    from unboxed import BlackBoxError

    with pytest.raises(BlackBoxError) as raised:
        call()
    message = str(raised.value)
    expected = (
        rf"black box 'refuses_a_petal_of_4' raised ValueError on {place}, "
        r"row X\.loc\['flower-62'\]: petal length 4\.0"
    )
    assert re.fullmatch(expected, message), message


@pytest.mark.parametrize("spared_calls", [0, 1], ids=["lower", "higher"])
def test_fit_names_a_dataframes_failing_row_by_its_label(spared_calls):
    """fit said "on row 1 of the 6 rows queried" alone (check_X dropped the index),
    in its lower and its higher layer's pass, where predict_proba adds the label."""
    box, X, _ = _torch_refusing_a_petal_of_4(spared_calls)
    explainer = JGMMExplainer(box, lower_layer="0", n_components_x=3, verbose=False)
    _raises_on_flower_62(lambda: explainer.fit(X))


@pytest.mark.parametrize(
    ("call", "spared_calls", "place"),
    [
        ("fidelity", 0, "row 1 of the 6 rows queried"),  # the proxy's lower features
        ("fidelity", 1, "row 1 of the 6 rows queried"),  # the black box's classes
        ("counterfactuals", 0, "row 1 of the 6 rows queried"),  # the queries' features
        ("counterfactuals", 1, "row 1 of the 6 rows queried"),  # the queries' classes
        ("prototypes", 0, "row 1 of the 6 rows queried"),  # the mining pool X
        ("mined", 2, "row 1 of the 6 rows queried"),  # the pool X, after the query
        ("blackbox", 3, "row 1 of the mining pool"),  # X's rows the black box is asked about
        ("held", 2, "row 1 of the mining pool with query 0's held features"),
        ("faithfulness", 0, "row 1 of the 6 rows queried"),  # the pool X's classes
    ],
)
def test_queries_name_a_dataframes_failing_row_by_its_label(call, spared_calls, place):
    """Fitted on the rows without a petal length of 4.0, then given the DataFrame as
    queries, as a mining pool or to check against: each said "row 1 of ..." alone."""
    from tests.helpers import iris_refusing_a_petal_of_4

    box, X, module = _torch_refusing_a_petal_of_4(10**9)  # it never raises, to fit
    fit_rows = X.drop(index="flower-62").to_numpy()
    explainer = JGMMExplainer(
        box, lower_layer="0", n_components_x=3, e_step="labelled", random_state=0, verbose=False
    ).fit(fit_rows)
    examples = explainer.prototypes(n_per_class=1, source="mined")
    module[1].fn = iris_refusing_a_petal_of_4(spared_calls)[0]._predict_fn
    query = X.iloc[[0]]
    calls = {
        "fidelity": lambda: explainer.fidelity(X),
        "counterfactuals": lambda: explainer.counterfactuals(X, source="mined"),
        "prototypes": lambda: explainer.prototypes(X=X, n_per_class=1, source="mined"),
        "mined": lambda: explainer.counterfactuals(query, source="mined", X=X),
        "blackbox": lambda: explainer.counterfactuals(
            query, source="mined", X=X, select="blackbox", n_per_query=5
        ),
        "held": lambda: explainer.counterfactuals(
            query, source="mined", X=X, immutable=[0], n_per_query=5
        ),
        "faithfulness": lambda: explainer.faithfulness(examples, X=X),
    }
    _raises_on_flower_62(calls[call], place)
