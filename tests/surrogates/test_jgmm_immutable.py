"""Immutable features of counterfactuals and semi-factuals on a table: every example
equals its query on the features held, and without ``immutable`` nothing changes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import breast_cancer_mlp
from unboxed import BlackBox, BlackBoxError
from unboxed._io import array_digest
from unboxed.surrogates import JGMMExplainer

#: Two sizes and a texture of the nuclei, held in the tests.
HELD = [0, 1, 20]


@pytest.fixture(scope="module")
def cancer():
    """Breast-cancer and a small MLP trained on it here, whose layer "0" is the input."""
    return breast_cancer_mlp()


def _explainer(cancer, layer):
    data, box = cancer
    return JGMMExplainer(
        box, lower_layer=layer, n_components_x=6, e_step="labelled", random_state=0, verbose=False
    ).fit(data.X_train)


@pytest.fixture(scope="module")
def on_inputs(cancer):
    """A JGMM whose lower features are the inputs (layer "0")."""
    return _explainer(cancer, "0")


@pytest.fixture(scope="module")
def on_hidden(cancer):
    """A JGMM on the hidden ReLU layer "2", whose coordinates are not the inputs."""
    return _explainer(cancer, "2")


def _digest(examples):
    return array_digest(examples.values, examples.scores, examples.indices, examples.components)


def _fingerprint(examples):
    """Which examples, in which order (the digest of their pool rows and components),
    and their values and scores, to within what another CPU's BLAS kernels change: the
    sums of the values and of the scores, and a sum of the values weighted by their
    place, which an order changed moves."""
    place = np.arange(1, examples.values.size + 1).reshape(examples.values.shape)
    return (
        array_digest(examples.indices, examples.components)[:16],
        float(examples.values.sum()),
        float((place * examples.values).sum() / place.size),
        float(examples.scores.sum()),
    )


#: Each set's ``_digest``, computed at 4e58691, before ``immutable`` existed, on the
#: CPU the test was written on.
BEFORE_BYTES = {
    "mined counterfactuals": "39e51bb1de5ceef52dcf2cfd07f1b7de5fa3a02aa306d611aea0cb1757eb7938",
    "mined semifactuals": "73d28f3cf921e2eb6ed226283f3bf5546b96558690972a829cb4a368257aa4e6",
    "gmm": "0b69ac68b0424c768ebd406969aa3d7a0c9881e11707cc1798add38bff54ede6",
    "boundary semifactuals": "4811993750589fd5358b6a6283fe991ef0e538dcbb04a22d9eca826a6ee42743",
    "nearest_then_sparse": "dbf1a2299b7bac57a73b2bd7786db58d22d2bffae7d987bfe9d35d5dcb2f2ef1",
}

#: Each set's ``_fingerprint``, computed with the code of 4e58691 on an AMD EPYC, where
#: it gives the same bytes as today's code but not ``BEFORE_BYTES``: the MLP trained
#: here and the JGMM's fit differ in their last bits between CPUs.
BEFORE = {
    "mined counterfactuals": (
        "02782a5b0c3ad73c",
        105.46671010088177,
        52.379755778874625,
        10.720714,
    ),
    "mined semifactuals": ("e60223b5cb2911ea", 612.7272434234624, 285.54710216323554, 11.994477),
    "gmm": ("6164c3b39f2ea371", 163.38313645912405, 88.77658577699299, 10.720989),
    "boundary semifactuals": ("f83e304318e77a26", 248.79487514098435, 93.95172510201738, 9.197789),
    "nearest_then_sparse": ("d3c6c349115a09c4", 38.72033225568474, -7.2101121565387025, 8.083395),
}


@pytest.mark.parametrize("immutable", ["absent", None])
def test_without_immutable_the_examples_are_those_of_before(
    cancer, on_inputs, on_hidden, immutable
):
    queries = cancer[0].X_test[:4]
    given = {} if immutable == "absent" else {"immutable": None}
    found = {
        "mined counterfactuals": on_inputs.counterfactuals(
            queries, n_per_query=3, source="mined", **given
        ),
        "mined semifactuals": on_hidden.semifactuals(
            queries, n_per_query=3, source="mined", **given
        ),
        "gmm": on_inputs.counterfactuals(
            queries, n_per_query=3, random_state=0, n_samples=200, **given
        ),
        "boundary semifactuals": on_inputs.semifactuals(
            queries,
            n_per_query=3,
            sampler="boundary",
            radius=2.0,
            random_state=0,
            n_samples=200,
            **given,
        ),
        "nearest_then_sparse": on_inputs.counterfactuals(
            queries,
            n_per_query=3,
            sampler="nearest_then_sparse",
            radius=2.0,
            n_samples=200,
            **given,
        ),
    }
    for name, examples in found.items():
        if _digest(examples) == BEFORE_BYTES[name]:
            continue  # the CPU of BEFORE_BYTES
        which, *figures = _fingerprint(examples)
        assert which == BEFORE[name][0], name
        assert figures == pytest.approx(BEFORE[name][1:], rel=1e-9), name
    for examples in found.values():  # nothing held, nothing recorded
        assert "immutable" not in examples.meta["parameters"]


def _assert_held(examples, queries, held=HELD):
    """Every example equals its query on the held columns, exactly, and some example
    differs from it elsewhere."""
    assert len(examples) > 0
    own = queries[examples.groups]
    rows = examples.inputs if examples.inputs is not None else examples.values
    np.testing.assert_array_equal(rows[:, held], own[:, held])
    free = np.setdiff1d(np.arange(queries.shape[1]), held)
    assert np.any(rows[:, free] != own[:, free])


@pytest.mark.parametrize("layer", ["0", "2"])
@pytest.mark.parametrize("kind", ["counterfactuals", "semifactuals"])
def test_mined_examples_hold_the_immutable_columns_and_are_scored_as_returned(
    cancer, on_inputs, on_hidden, layer, kind
):
    explainer = on_inputs if layer == "0" else on_hidden
    # float64 queries of a float32 pool: the held values are kept unrounded
    queries = cancer[0].X_test[:4].astype(np.float64)
    examples = getattr(explainer, kind)(queries, n_per_query=3, source="mined", immutable=HELD)
    _assert_held(examples, queries)
    if layer == "0":  # the lower features are the inputs, held exactly too
        np.testing.assert_array_equal(examples.values[:, HELD], queries[examples.groups][:, HELD])
    # The proxy's class is that of the rows returned, and validity asks about them.
    np.testing.assert_array_equal(explainer.predict(examples.inputs), examples.top_classes[:, 0])
    classes = cancer[1].predict(examples.inputs)
    same = classes == examples.query_classes[examples.groups]
    assert explainer.validity(examples).mean == np.mean(~same if kind[0] == "c" else same)
    # a row made from the pool: its free columns are that row's
    free = np.setdiff1d(np.arange(30), HELD)
    pool = cancer[0].X_train
    np.testing.assert_array_equal(examples.inputs[:, free], pool[examples.indices][:, free])


@pytest.mark.parametrize(
    ("kind", "sampler"),
    [
        ("counterfactuals", "gmm"),
        ("counterfactuals", "local"),
        ("counterfactuals", "boundary"),
        ("counterfactuals", "nearest"),
        ("counterfactuals", "sparse"),
        ("counterfactuals", "nearest_then_sparse"),
        ("semifactuals", "gmm"),
        ("semifactuals", "local"),
        ("semifactuals", "boundary"),
    ],
)
def test_generated_examples_on_the_inputs_hold_the_immutable_columns(
    cancer, on_inputs, kind, sampler
):
    queries = cancer[0].X_test[:4]
    examples = getattr(on_inputs, kind)(
        queries,
        n_per_query=3,
        sampler=sampler,
        radius=2.0,
        n_samples=200,
        random_state=0,
        immutable=HELD,
    )
    _assert_held(examples, queries)
    # scored as returned: the proxy's class of the values is the one recorded
    np.testing.assert_array_equal(on_inputs.predict(examples.values), examples.top_classes[:, 0])
    np.testing.assert_array_equal(examples.inputs, examples.values)  # features are inputs
    # within the radius after the columns were set
    distance = np.sqrt(
        np.mean(
            (
                on_inputs.jgmm_.transform_x(examples.values)
                - on_inputs.jgmm_.transform_x(queries[examples.groups].astype(np.float64))
            )
            ** 2,
            axis=1,
        )
    )
    assert np.all(distance <= 2.0 + 1e-9)


def test_names_hold_the_same_columns_and_meta_records_them(cancer, on_hidden, tmp_path):
    data = cancer[0]
    queries = data.X_test[:3]
    names = [data.feature_names[j] for j in (20, 0, 1)]  # any order
    by_name = on_hidden.counterfactuals(queries, n_per_query=2, source="mined", immutable=names)
    by_index = on_hidden.counterfactuals(
        queries, n_per_query=2, source="mined", immutable=np.array([1, 20, 0])
    )
    assert _digest(by_name) == _digest(by_index)
    np.testing.assert_array_equal(by_name.inputs, by_index.inputs)
    for examples in (by_name, by_index):
        assert examples.meta["parameters"]["immutable"] == HELD
        assert examples.meta["parameters"]["immutable_names"] == [
            "mean radius",
            "mean texture",
            "worst radius",
        ]
    by_name.save(tmp_path / "cf.npz")
    loaded = type(by_name).load(tmp_path / "cf.npz")
    assert (
        loaded.meta["parameters"]["immutable_names"]
        == by_name.meta["parameters"]["immutable_names"]
    )


def test_a_black_box_without_names_records_indices_only(cancer):
    data, box = cancer
    unnamed = BlackBox.from_torch(box.module, input_shape=(30,))
    explainer = JGMMExplainer(
        unnamed,
        lower_layer="2",
        n_components_x=6,
        e_step="labelled",
        random_state=0,
        verbose=False,
    ).fit(data.X_train)
    examples = explainer.semifactuals(data.X_test[:2], source="mined", immutable=[3])
    assert examples.meta["parameters"]["immutable"] == [3]
    assert "immutable_names" not in examples.meta["parameters"]
    with pytest.raises(
        ValueError,
        match=r"immutable names 'mean area', but the black box has no feature_names; give "
        r"column indices",
    ):
        explainer.semifactuals(data.X_test[:2], source="mined", immutable=["mean area"])


@pytest.mark.parametrize(
    ("immutable", "error", "match"),
    [
        ([30], ValueError, r"feature index 30 is out of range; expected 0 to 29 \(the 30 input"),
        ([-1], ValueError, r"feature index -1 is out of range; expected 0 to 29"),
        ([2, 2], ValueError, r"immutable names feature\(s\) \[2\] more than once"),
        (["mean radius", 0], ValueError, r"names feature\(s\) \[0\] more than once"),
        (
            ["tumour age"],
            ValueError,
            r"no input feature is named 'tumour age'; the names are "
            r"'mean radius', 'mean texture', 'mean perimeter', 'mean area', "
            r"'mean smoothness', \.\.\.",
        ),
        (list(range(30)), ValueError, r"holds all 30 input features, so no example can differ"),
        ([], ValueError, r"immutable is empty; name the features to hold, or pass None"),
        (
            "mean radius",
            TypeError,
            r"immutable must be a list of input feature indices or names, "
            r"such as \[0, 3\] or \['age'\], got str",
        ),
        (3, TypeError, r"immutable must be a list .* got int"),
        ([[0, 1]], TypeError, r"immutable must be a list .* got list"),
        ([1.0], TypeError, r"immutable holds 1\.0 \(float\); expected int feature indices or str"),
        ([True], TypeError, r"immutable holds True \(bool\)"),
    ],
)
def test_bad_immutable_is_refused(cancer, on_hidden, immutable, error, match):
    with pytest.raises(error, match=match):
        on_hidden.counterfactuals(cancer[0].X_test[:2], source="mined", immutable=immutable)


@pytest.mark.parametrize("kind", ["counterfactuals", "semifactuals"])
def test_generated_examples_of_a_hidden_layer_cannot_hold_an_input(cancer, on_hidden, kind):
    before = on_hidden.rng_.bit_generator.state
    with pytest.raises(
        ValueError,
        match=r"immutable holds input features, but generated examples exist only as features "
        r"of lower_layer='2', which are not the inputs; use source='mined'",
    ):
        getattr(on_hidden, kind)(cancer[0].X_test[:2], immutable=[0], n_samples=20)
    assert on_hidden.rng_.bit_generator.state == before  # refused before any draw


def test_local_examples_refuse_to_clamp_a_mined_pool(on_inputs):
    from unboxed.surrogates import _jgmm_examples as jx

    Z = on_inputs._fit_pool()
    with pytest.raises(ValueError, match=r"clamp moves generated candidates; a mined Z_pool"):
        jx.local_examples(
            on_inputs.jgmm_,
            Z[:1],
            "counterfactual",
            2,
            source="mined",
            Z_pool=Z,
            clamp=lambda q, Z: Z,
        )


def test_a_pool_given_is_mined_with_the_columns_held(cancer, on_hidden):
    data = cancer[0]
    queries, pool = data.X_test[:3], data.X_test[3:]
    examples = on_hidden.semifactuals(
        queries, n_per_query=2, source="mined", X=pool, immutable=HELD
    )
    _assert_held(examples, queries)
    free = np.setdiff1d(np.arange(30), HELD)
    np.testing.assert_array_equal(examples.inputs[:, free], pool[examples.indices][:, free])


def test_a_model_that_raises_on_a_held_pool_row_is_reported_with_its_held_features(
    cancer, on_hidden, monkeypatch
):
    """Each query's pool, its columns held, goes through ``lower_layer``: a model that
    raised on a row of it was reported "on row 7 of the 40 rows queried", a row of the
    pool the user gave, though not its values; it is named as the pool with that
    query's held features, as the pool's rows asked by select="blackbox" are."""
    data, box = cancer
    queries, pool = data.X_test[:3], data.X_test[3:43]
    forward_rows = box._forward_rows  # the model's forward pass in features()

    def fails_on_a_bad_row(rows, part):
        # Matched on the columns no query holds, so the held copies of it fail too.
        free = np.setdiff1d(np.arange(30), HELD)
        if np.any(np.all(rows[part][:, free] == pool[7, free].astype(rows.dtype), axis=1)):
            raise ValueError("row 7 again")
        return forward_rows(rows, part)

    monkeypatch.setattr(box, "_forward_rows", fails_on_a_bad_row)
    with pytest.raises(BlackBoxError) as raised:
        on_hidden.counterfactuals(queries, source="mined", X=pool, immutable=HELD)
    assert str(raised.value) == (
        "black box 'Sequential' raised ValueError on row 7 of the mining pool with query 0's "
        "held features: row 7 again"
    )


def test_the_hold_projector_moves_no_held_feature(on_inputs):
    from unboxed.surrogates._jgmm_examples import hold_projector

    model = on_inputs.jgmm_
    d = model.n_features_x_in_
    P = hold_projector(model.whitening_x_, HELD, d)
    np.testing.assert_allclose(P, P.T, atol=1e-12)  # an orthogonal projector
    np.testing.assert_allclose(P @ P, P, atol=1e-12)
    assert np.trace(P) == pytest.approx(d - len(HELD))  # a projector's rank
    rng = np.random.default_rng(0)
    z, step = rng.normal(size=(2, 5, d))
    moved = model.inverse_transform_x(z + step @ P) - model.inverse_transform_x(z)
    np.testing.assert_allclose(moved[:, HELD], 0, atol=1e-9)
    assert np.abs(moved).max() > 0.1  # the free features move
    np.testing.assert_array_equal(
        hold_projector(None, [2], 3), np.diag([1.0, 1.0, 0.0])
    )  # unwhitened coordinates are the features


def test_sparse_moves_search_with_the_features_held(cancer, on_inputs):
    """ "sparse" moves within the directions that leave the held features as they are:
    moved in every direction and clamped after, 1 of these 50 queries got a
    counterfactual the black box agrees with; within them, 28."""
    queries = cancer[0].X_test[:50]
    examples = on_inputs.counterfactuals(
        queries, n_per_query=5, sampler="sparse", radius=2.0, random_state=0, immutable=HELD
    )
    _assert_held(examples, queries)
    box = cancer[1]
    valid = box.predict(examples.values) != box.predict(queries)[examples.groups]
    assert len(np.unique(examples.groups[valid])) >= 20
