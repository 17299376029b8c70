"""``select="blackbox"``: counterfactuals and semi-factuals kept only where the black box
itself changes (or keeps) the query's class, so that every example returned is valid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import breast_cancer_mlp
from unboxed import BlackBoxError
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
    _assert_same_floats(checked.values, every.values[wanted])
    _assert_same_floats(checked.scores, every.scores[wanted])
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
    """Count the rows ``box`` is asked about from now on (``predict`` and the pool's
    rows, which go to ``_proba_rows`` with their names)."""
    asked = [0]
    proba_rows = box._proba_rows

    def counting(X, *args, **kwargs):
        asked[0] += len(X)
        return proba_rows(X, *args, **kwargs)

    monkeypatch.setattr(box, "_proba_rows", counting)
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


def _ask_about_every_candidate(scores, n, accept, tier=None, tie_break=None):
    """``_top_accepted`` as the claim defines it: the black box asked about every
    candidate at once, then the top ``n`` valid ones by the same ranking."""
    valid = np.flatnonzero(np.asarray(accept(np.arange(scores.size)), bool))
    tier = None if tier is None else tier[valid]
    tie_break = None if tie_break is None else tie_break[valid]
    return valid[jx._top(scores[valid], n, tier, tie_break)], valid.size


_EXAMPLE_FIELDS = ("values", "scores", "components", "groups", "inputs", "indices")


def _assert_same_floats(got, expected, name=""):
    """The same examples' values or scores: equal up to the last bits that the rows'
    batch leaves. Examples found among fewer candidates are unwhitened in a smaller
    batch, and one BLAS product of a row can differ in its last bit with the batch
    around it on some CPUs (an AMD EPYC: 21 of 10,710 values, 8.9e-16 apart)."""
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=name)


def _assert_same_examples(checked, every, wanted=slice(None)):
    """``checked`` holds the examples ``wanted`` of ``every``: the same pool rows,
    components, queries and order, exactly, and values, scores and inputs (generated
    ones are the values, where the lower features are the inputs) up to the batch's
    last bits."""
    for field in _EXAMPLE_FIELDS:
        got, expected = getattr(checked, field), getattr(every, field)
        if expected is None:  # inputs of hidden features
            assert got is None, field
        elif field in ("values", "scores", "inputs"):
            _assert_same_floats(got, expected[wanted], field)
        else:
            np.testing.assert_array_equal(got, expected[wanted], err_msg=field)


@pytest.mark.parametrize(
    ("kind", "source", "sampler", "held"),
    [
        ("counterfactuals", "generated", "gmm", None),
        ("counterfactuals", "generated", "local", [0, 1, 2]),
        ("counterfactuals", "generated", "boundary", None),
        ("counterfactuals", "generated", "nearest", None),
        ("counterfactuals", "generated", "sparse", [0, 1, 2]),
        ("counterfactuals", "generated", "nearest_then_sparse", None),
        ("counterfactuals", "generated", "nearest_then_sparse", [0, 1, 2]),
        ("semifactuals", "generated", "local", None),
        ("semifactuals", "generated", "boundary", [0, 1, 2]),
        ("counterfactuals", "mined", "gmm", HELD),
        ("semifactuals", "mined", "gmm", None),
    ],
)
def test_best_first_asking_finds_what_asking_about_every_candidate_finds(
    cancer, monkeypatch, kind, source, sampler, held
):
    """Every sampler, both kinds, mined and generated, with and without held features
    (tiers included): the examples, their order and ``selected`` (exact where a query
    ran out, else at least ``n_per_query`` and no more than every valid one) are those
    of asking the black box about every candidate within the radius."""
    data, _, explainer = cancer
    find = getattr(explainer, kind)
    options = dict(source=source, sampler=sampler, radius=2.0, n_per_query=3, immutable=held)
    checked = find(data.X_test[:6], select="blackbox", random_state=0, **options)
    monkeypatch.setattr(jx, "_top_accepted", _ask_about_every_candidate)
    every = find(data.X_test[:6], select="blackbox", random_state=0, **options)
    assert checked.values.shape[0] > 0
    _assert_same_examples(checked, every)
    counts = every.meta["candidates"]["selected"]
    returned = checked.meta["candidates"]["returned"]
    for got, count, n in zip(checked.meta["candidates"]["selected"], counts, returned, strict=True):
        assert got == count if n < 3 else 3 <= got <= count
    assert checked.meta["blackbox_rows"] <= every.meta["blackbox_rows"]


def test_nearest_then_sparse_takes_the_valid_nearest_points_first(cancer):
    """The tiers, against the model asked about every candidate of select="score":
    the valid "nearest" points come first, the valid "sparse" moves fill the rest, and
    the examples are ranked by score, nearer first on a tie. Scores alone rank them
    otherwise: the first valid ones by score are not these."""
    data, box, explainer = cancer
    queries, n = data.X_test[:8], 3
    checked = explainer.counterfactuals(
        queries, sampler="nearest_then_sparse", radius=2.0, select="blackbox", n_per_query=n
    )
    tiers = [
        explainer.counterfactuals(
            queries, sampler=sampler, radius=2.0, select="score", n_per_query=10_000
        )
        for sampler in ("nearest", "sparse")
    ]
    Zq = explainer.jgmm_.transform_x(queries)
    for q in range(len(queries)):
        values, scores = [], []
        for every in tiers:
            mine = every.groups == q
            valid = box.predict(every.values[mine]) != every.query_classes[q]
            values.append(every.values[mine][valid][: n - sum(map(len, values))])
            scores.append(every.scores[mine][valid][: len(values[-1])])
        values, scores = np.concatenate(values), np.concatenate(scores)
        # Rounded: sparse moves tie in distance (each at the radius), and the round
        # trip through the inputs breaks those ties at random in the last digits.
        distance = np.round(jx.rms_distance(explainer.jgmm_.transform_x(values), Zq[q]), 9)
        order = np.lexsort((distance, -scores))  # stable: nearest tier first, then as drawn
        mine = checked.groups == q
        _assert_same_floats(checked.values[mine], values[order])
        _assert_same_floats(checked.scores[mine], scores[order])
    every = explainer.counterfactuals(
        queries, sampler="nearest_then_sparse", radius=2.0, select="score", n_per_query=10_000
    )
    valid = box.predict(every.values) != every.query_classes[every.groups]
    wanted, _ = _first_valid(every, valid, n)
    assert not np.array_equal(checked.values, every.values[wanted])


def test_mined_ties_a_shared_pool_and_a_query_out_of_reach(cancer, monkeypatch):
    """A pool of three copies of each row (ties in score and in distance, broken by
    pool order), shared by the queries through the memo of pool classes, a query with
    no pool row within the radius, and an ``n_per_query`` larger than some queries'
    valid candidates: the examples are those of asking about every pool row, and no
    pool row is asked about twice."""
    data, box, explainer = cancer
    pool = np.concatenate([data.X_train[:60]] * 3)
    queries = np.concatenate([data.X_test[:4], data.X_test[:1] + 40.0])
    asked = _count_rows_asked(monkeypatch, explainer.blackbox)
    for kind, n in (("counterfactuals", 7), ("semifactuals", 7), ("counterfactuals", 100)):
        find = getattr(explainer, kind)
        asked[0] = 0
        mined = dict(source="mined", X=pool, radius=3.0)
        checked = find(queries, select="blackbox", n_per_query=n, **mined)
        assert checked.meta["blackbox_rows"] == asked[0] - len(queries)
        every = find(queries, select="score", n_per_query=999, **mined)
        same = box.predict(every.inputs) == every.query_classes[every.groups]
        valid = same if kind == "semifactuals" else ~same
        wanted, _ = _first_valid(every, valid, n)
        counts = np.bincount(every.groups[valid], minlength=len(queries))
        _assert_same_examples(checked, every, wanted)
        candidates = checked.meta["candidates"]
        assert candidates["within_radius"][4] == candidates["selected"][4] == 0
        assert candidates["returned"][4] == 0
        per_query = zip(candidates["selected"], counts, candidates["returned"], strict=True)
        for got, count, returned in per_query:
            assert got == count if returned < n else n <= got <= count
        # Each pool row at most once, though the queries share most of their candidates.
        assert checked.meta["blackbox_rows"] <= len(np.unique(every.indices))


def test_a_model_that_raises_on_a_pool_row_is_reported_on_that_row(cancer, monkeypatch):
    """The pool rows are asked about a few at a time: a model that raised on one was
    reported "on row 15 of the 16 rows queried", numbered within those asked about, not
    within the pool the user gave."""
    data, box, explainer = cancer
    pool, bad = data.X_train[:60], [59]
    shaped = box._shaped  # what the model is given, in the guard around it

    def fails_on_a_bad_row(X):
        # Matched on the columns no query holds, so held copies of it fail too.
        if np.any(np.all(X[:, 10:] == pool[bad[0], 10:].astype(X.dtype), axis=1)):
            raise ValueError(f"row {bad[0]} again")
        return shaped(X)

    monkeypatch.setattr(box, "_shaped", fails_on_a_bad_row)
    queries = data.X_test[:3]
    mined = dict(source="mined", X=pool, select="blackbox", n_per_query=3)
    with pytest.raises(BlackBoxError) as raised:
        explainer.counterfactuals(queries, **mined)
    assert str(raised.value) == (
        "black box 'Sequential' raised ValueError on row 59 of the mining pool: row 59 again"
    )
    bad[0] = 51  # the last of the first 16 rows asked about for query 0
    with pytest.raises(BlackBoxError) as raised:
        explainer.semifactuals(queries, immutable=[0, 1], **mined)
    assert str(raised.value) == (
        "black box 'Sequential' raised ValueError on row 51 of the mining pool with query 0's "
        "held features: row 51 again"
    )


def test_layers_above_that_raise_on_the_candidates_are_named(cancer, monkeypatch):
    """Generated candidates go through the layers above ``lower_layer`` alone: a network
    that raised there came out as torch's own error, naming neither the model nor the
    rows."""
    data, _, explainer = cancer

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("the head is broken")

    monkeypatch.setattr(explainer, "_head", Broken)
    with pytest.raises(BlackBoxError) as raised:
        explainer.counterfactuals(
            data.X_test[:2], sampler="sparse", radius=2.0, select="blackbox", n_per_query=2
        )
    assert str(raised.value) == (
        "black box 'Sequential' raised RuntimeError in the layers above '0', on rows 0..15 "
        "of query 0's generated candidates: the head is broken"
    )


def _pool_rows_asked(monkeypatch, box):
    """The pool rows ``box`` is asked about from now on, by the pool they were asked
    from as the failure message names it: those ``_proba_rows`` is given with their
    names (``predict``'s rows, the queries, come without)."""
    rows: dict[str, list[np.ndarray]] = {}
    proba_rows = box._proba_rows

    def recording(X, row_name=None, **kwargs):
        if row_name is not None:  # "row 3 of the mining pool ..."
            rows.setdefault(row_name(0).split(" of ", 1)[1], []).append(np.array(X))
        return proba_rows(X, row_name, **kwargs)

    monkeypatch.setattr(box, "_proba_rows", recording)
    return rows


@pytest.mark.parametrize("held", [None, HELD])
def test_a_row_equal_to_one_asked_about_reuses_its_answer(cancer, monkeypatch, held):
    """A pool of three copies of each row (and, holding columns, of rows that differ in
    the held columns alone, equal once they take the query's values): no row equal to
    one already asked about goes to the black box again, and the examples are those of
    asking about every candidate. Keyed by pool row, each copy was asked about."""
    data, _, explainer = cancer
    rows = data.X_train[:60]
    changed = rows.copy()
    changed[:, HELD] += 1.0  # other rows, unless the held columns are set
    pool = np.concatenate([rows, rows, changed])
    queries = data.X_test[:4]
    options = dict(source="mined", X=pool, radius=3.0, n_per_query=7, immutable=held)
    asked = _pool_rows_asked(monkeypatch, explainer.blackbox)
    checked = explainer.counterfactuals(queries, select="blackbox", **options)
    # One pool for the call, or one per query where columns are held.
    assert len(asked) == (1 if held is None else len(queries))
    per_pool = [np.concatenate(batches) for batches in asked.values()]
    assert checked.meta["blackbox_rows"] == sum(map(len, per_pool))
    for rows_asked in per_pool:
        assert len(rows_asked) == len(np.unique(rows_asked, axis=0))
    monkeypatch.setattr(jx, "_top_accepted", _ask_about_every_candidate)
    every = explainer.counterfactuals(queries, select="blackbox", **options)
    assert checked.values.shape[0] > 0
    _assert_same_examples(checked, every)
