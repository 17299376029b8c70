"""ExampleSet: the checks on arrival and the helpers (the round trip is in test_contract)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.helpers import assert_refused_on_load, save_without_field
from unboxed import ExampleSet, make_meta


def _examples(**changes):
    rng = np.random.default_rng(0)
    base = {
        "kind": "prototype",
        "source": "generated",
        "values": rng.normal(size=(4, 9)),
        "scores": np.array([0.1, 0.9, 0.5, 0.3]),
        "components": np.array([0, 1, 1, 2]),
        "groups": np.array([0, 0, 1, 1]),
        "top_classes": np.array([[0, 1], [0, 2], [1, 0], [1, 2]]),
        "top_proba": np.array([[0.6, 0.3], [0.5, 0.4], [0.9, 0.1], [0.7, 0.2]]),
        "meta": make_meta("test", {}),
        "indices": -np.ones(4, int),
        "image_shape": (3, 3),
    }
    return ExampleSet(**{**base, **changes})


def _empty_examples():
    """:func:`_examples` with no example."""
    return _examples(
        values=np.zeros((0, 9)),
        scores=np.zeros(0),
        components=np.zeros(0, int),
        groups=np.zeros(0, int),
        top_classes=np.zeros((0, 2), int),
        top_proba=np.zeros((0, 2)),
        indices=np.zeros(0, int),
    )


def test_helpers_order_by_score():
    examples = _examples()
    assert list(examples.top_k(2)) == [1, 2]
    assert list(examples.group(0)) == [1, 0] and list(examples.group(1)) == [2, 3]
    assert len(examples) == 4 and examples.n_features == 9
    assert examples.group(np.int64(7)).size == 0  # an empty group
    with pytest.raises(ValueError, match="g must be an int"):
        examples.group("a")


def test_all_groups_name_each_row_of_the_gallery_even_one_without_examples():
    # The CLI asked the gallery's private _all_groups whether a set had anything to draw
    assert _examples().all_groups == [0, 1]
    tied = _examples(meta={**make_meta("test", {}), "component_classes": [4, 7, 9]})
    assert tied.all_groups == [0, 1, 2]  # component 2 is tied to class 9, without examples
    assert _empty_examples().all_groups == []
    queries = np.zeros((3, 9))
    empty = dataclasses.asdict(_empty_examples())
    counterfactuals = ExampleSet(**{**empty, "kind": "counterfactual", "queries": queries})
    assert counterfactuals.all_groups == [0, 1, 2]  # each query, none with an example


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"kind": "prototypes"}, "kind"),
        ({"source": "sampled"}, "source"),
        ({"kind": "criticism", "source": "generated"}, "mined only"),
        ({"scores": np.zeros(3)}, "scores"),
        ({"scores": np.array([0.1, np.nan, 0.5, 0.3])}, "NaN"),
        ({"groups": np.array([0, 0, 1, -2])}, "groups"),
        ({"indices": np.array([0.5, 1.0, 2.0, 3.0])}, "indices must be 4 ints"),
        ({"indices": np.array([0, 1, 2, -2])}, "indices must be 4 ints >= -1"),
        ({"top_classes": np.zeros((4, 3), int)}, "top_classes"),
        ({"top_proba": np.full((4, 2), 1.5)}, "top_proba"),
        ({"image_shape": (4, 4)}, "image_shape"),
        ({"queries": np.zeros((1, 9))}, "query"),
        ({"inputs": np.zeros((3, 9))}, "inputs"),
        ({"class_names": ("a", "b")}, "class"),
        ({"values": np.zeros((4, 0)), "image_shape": None}, "no features"),
        ({"inputs": np.zeros((4, 9)), "query_inputs": np.zeros((2, 16))}, "query_inputs"),
    ],
)
def test_bad_fields_are_rejected(changes, match):
    with pytest.raises(ValueError, match=match):
        _examples(**changes)


def test_empty_set_is_allowed_and_frozen():
    empty = _empty_examples()
    assert len(empty) == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        empty.kind = "criticism"


def test_negative_top_proba_is_refused():
    with pytest.raises(ValueError, match="top_proba"):
        _examples(top_proba=np.full((4, 2), -0.1))


def test_image_shape_describes_the_inputs_when_there_are_any():
    # 9 features per example, but 16 input pixels: image_shape is the inputs' shape
    examples = _examples(inputs=np.zeros((4, 16)), image_shape=(4, 4), source="mined")
    assert examples.image_shape == (4, 4)
    generated = _examples(
        indices=None,
        image_shape=(2, 2),
        queries=np.zeros((2, 9)),
        query_inputs=np.zeros((2, 4)),
        query_classes=np.array([0, 1]),
    )
    assert generated.image_shape == (2, 2)
    with pytest.raises(ValueError, match=r"image_shape \(3, 3\) does not hold 16 features"):
        _examples(inputs=np.zeros((4, 16)), source="mined")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"components": np.array([0, 1, -1, 2])}, "components holds a negative"),
        ({"components": np.array([0.5, 1, 1, 2])}, "components must hold integer"),
        ({"groups": np.array([0.0, 0.0, 1.0, 1.0])}, "groups must be 4 ints"),
        ({"groups": np.array([0, 0, 1])}, "groups must be 4 ints"),
        ({"top_classes": np.array([[0, 1], [0, 2], [1, 0], [1, -1]])}, "top_classes must be ints"),
        ({"top_classes": np.array([[0, 1], [0, 2], [1, 0], [1, 2]], float)}, "top_classes"),
        ({"top_proba": np.array([[0.6, 0.3], [0.5, 0.4], [1.001, 0.0], [0.7, 0.2]])}, "top_proba"),
        ({"top_proba": np.full((4, 3), 0.2)}, "top_proba must be probabilities of shape"),
        ({"indices": np.array([0, 1, 2])}, "indices must be 4 ints"),
        ({"values": np.array([[0.0] * 9] * 3 + [[np.nan] * 9])}, "values contains NaN"),
        ({"queries": np.full((2, 9), np.nan)}, "queries contains NaN"),
        ({"queries": np.zeros((2, 5)), "groups": np.zeros(4, int)}, "queries have 5 features"),
        (
            {"queries": np.zeros((2, 9)), "query_inputs": np.zeros((3, 4)), "image_shape": None},
            "query_inputs has 3 rows; expected 2",
        ),
        ({"queries": np.zeros((2, 9)), "query_classes": np.array([0, 1, 1])}, "query_classes"),
        ({"feature_names": ("a", "b")}, "feature_names has 2 entries; expected 9"),
    ],
)
def test_more_bad_fields_are_rejected(changes, match):
    with pytest.raises(ValueError, match=match):
        _examples(**changes)


def test_meta_must_be_a_json_dict():
    with pytest.raises(TypeError, match="meta must be a dict"):
        _examples(meta=[("method", "test")])


def test_nested_class_names_are_refused_not_read_as_one_name():
    # A (1, 3) row of names became the one name "['zero' 'one' 'two']" for class 0.
    names = np.array([["zero", "one", "two"]])
    with pytest.raises(ValueError, match=r"class_names must be a flat .*shape \(1, 3\)"):
        _examples(top_classes=np.zeros((4, 2), int), class_names=names)
    queried = {"kind": "counterfactual", "queries": np.zeros((1, 9)), "query_classes": [0]}
    with pytest.raises(ValueError, match=r"query_class_names must be a flat .*shape \(1, 3\)"):
        _examples(**queried, groups=np.zeros(4, int), query_class_names=names)


def test_names_and_integer_fields_are_normalised():
    examples = _examples(
        class_names=np.array(["zero", "one", "two"]),
        groups=np.array([0, 0, 1, 1], np.uint8),
        top_classes=np.array([[0, 1], [0, 2], [1, 0], [1, 2]], np.int32),
        indices=np.array([3, 1, 0, 2], np.uint16),
    )
    assert examples.class_names == ("zero", "one", "two")
    # one dtype whatever came in, so that -1 sentinels and arithmetic behave alike
    assert {a.dtype for a in (examples.groups, examples.top_classes, examples.indices)} == {
        np.dtype(np.int64)
    }


def test_top_k_and_group_need_valid_arguments():
    examples = _examples()
    for k in (0, 2.5):
        with pytest.raises(ValueError, match="k"):
            examples.top_k(k)
    with pytest.raises(ValueError, match=r"k=5 exceeds the number of examples \(4\)"):
        examples.top_k(5)
    with pytest.raises(ValueError, match="g must be an int"):
        examples.group(1.5)


def test_ties_keep_the_order_of_the_rows():
    # many equal scores: numpy's default sort would shuffle them
    scores = np.repeat([0.2, 0.9, 0.5], 20)
    n = scores.size
    examples = _examples(
        values=np.zeros((n, 9)),
        scores=scores,
        components=np.zeros(n, int),
        groups=np.tile([0, 1], n // 2),
        top_classes=np.zeros((n, 2), int),
        top_proba=np.full((n, 2), 0.5),
        indices=np.arange(n),
    )
    expected = sorted(range(n), key=lambda i: (-scores[i], i))
    assert list(examples.top_k(n)) == expected
    assert list(examples.group(1)) == [i for i in expected if i % 2 == 1]


def test_bool_query_classes_are_refused_as_they_name_no_class():
    with pytest.raises(TypeError, match="query_classes holds a bool"):
        _examples(queries=np.zeros((2, 9)), query_classes=np.array([True, False]))


def test_bool_components_are_refused_as_they_name_no_component():
    # True was read as component 1
    with pytest.raises(TypeError, match="components holds a bool"):
        _examples(components=np.array([True, False, True, True]))


def test_query_class_names_are_checked_and_round_trip(tmp_path):
    queried = {"queries": np.zeros((2, 9)), "query_classes": np.array([0, 2])}
    with pytest.raises(ValueError, match="query_classes name class 2 of 2"):
        _examples(**queried, query_class_names=("a", "b"))
    examples = _examples(**queried, query_class_names=["a", "b", "c"])
    assert examples.query_class_names == ("a", "b", "c")
    examples.save(tmp_path / "e.npz")
    assert ExampleSet.load(tmp_path / "e.npz").query_class_names == ("a", "b", "c")
    # a file saved before the field existed loads with None
    _examples(**queried).save(tmp_path / "old.npz")
    save_without_field(tmp_path / "old.npz", "query_class_names")
    assert ExampleSet.load(tmp_path / "old.npz").query_class_names is None


def test_class_names_must_name_the_query_classes_unless_query_class_names_do(tmp_path):
    """class_names names query_classes where query_class_names is None: a query of
    class 5 beside 3 names was accepted, and the plot titled it "5" among the names."""
    queried = {"queries": np.zeros((2, 9)), "query_classes": np.array([0, 5])}
    with pytest.raises(ValueError, match="query_classes name class 5 of 3"):
        _examples(**queried, class_names=("a", "b", "c"))
    # query_class_names name them instead: class_names answer for top_classes alone
    named = _examples(**queried, class_names=("a", "b", "c"), query_class_names=list("abcdef"))
    assert named.class_names == ("a", "b", "c")
    # a file saved without names, and one from before query_class_names, load as saved
    for names in (None, ("a", "b", "c", "d", "e", "f")):
        _examples(**queried, class_names=names).save(tmp_path / "e.npz")
        save_without_field(tmp_path / "e.npz", "query_class_names")
        loaded = ExampleSet.load(tmp_path / "e.npz")
        assert loaded.class_names == names and loaded.query_class_names is None
        np.testing.assert_array_equal(loaded.query_classes, [0, 5])


def _table_examples(**changes):
    """Four mined table rows of 3 inputs each (age, income, debt)."""
    inputs = np.random.default_rng(2).normal(size=(4, 3))
    return _examples(source="mined", inputs=inputs, image_shape=None, **changes)


def test_input_names_round_trip_and_old_files_load_without_them(tmp_path):
    examples = _table_examples(input_names=["age", "income", "debt"])
    assert examples.input_names == ("age", "income", "debt")
    examples.save(tmp_path / "e.npz")
    assert ExampleSet.load(tmp_path / "e.npz").input_names == ("age", "income", "debt")
    # a file saved before the field existed loads with None
    save_without_field(tmp_path / "e.npz", "input_names")
    loaded = ExampleSet.load(tmp_path / "e.npz")
    assert loaded.input_names is None
    np.testing.assert_array_equal(loaded.inputs, examples.inputs)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("age", "income"), "input_names has 2 entries; expected 3"),
        (("age", 1, "debt"), "input_names must be non-empty strings; got 1"),
        (("age", "", "debt"), "input_names must be non-empty strings; got ''"),
        (("age", "income", "age"), "input_names must be unique; 'age' repeat"),
    ],
)
def test_input_names_are_held_to_the_black_box_s_rules_for_feature_names(names, message):
    """They are a black box's feature_names; duplicates and ints were taken (1 read
    "1"), and two bars of a table row bore one name."""
    with pytest.raises(ValueError, match=message):
        _table_examples(input_names=names)
    with pytest.raises(ValueError, match=message):
        _table_examples().plot(input_names=names)


def test_input_names_must_name_each_input_of_a_set_that_has_inputs():
    with pytest.raises(ValueError, match="input_names has 2 entries; expected 3"):
        _table_examples(input_names=["age", "income"])
    # generated examples hold no inputs: the names would go unchecked and unused
    with pytest.raises(ValueError, match="input_names given, but the example set holds no"):
        _examples(input_names=["age", "income", "debt"])
    # query inputs alone are enough to name
    queried = _examples(
        queries=np.zeros((2, 9)),
        query_inputs=np.zeros((2, 3)),
        image_shape=None,
        groups=np.array([0, 0, 1, 1]),
        input_names=("age", "income", "debt"),
    )
    assert queried.input_names == ("age", "income", "debt")


def _queried(**changes):
    """:func:`_table_examples` as counterfactuals of 2 table queries (rows 0, 0, 1, 1)."""
    return _table_examples(
        kind="counterfactual",
        queries=np.zeros((2, 9)),
        query_inputs=np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        query_classes=np.array([0, 1]),
        **changes,
    )


def test_query_names_title_the_queries_round_trip_and_old_files_load_without_them(tmp_path):
    """A DataFrame's index was lost: the gallery titled its row labelled 1053 "query 0"."""
    examples = _queried(query_names=np.array([1053, 7]))
    assert examples.query_names == ("1053", "7")
    assert examples.query_name(0) == "1053" and _queried().query_name(0) == "0"
    titles = [ax.get_title() for ax in examples.plot().axes if ax.get_title()]
    assert titles[0].startswith("query 1053 (") and any(t.startswith("query 7 (") for t in titles)
    assert not any(t.startswith(("query 0", "query 1 ")) for t in titles)
    unnamed = [ax.get_title() for ax in _queried().plot().axes]  # positions, as before
    assert any(t.startswith("query 0 (") for t in unnamed)
    # carried where a set is rebuilt (the CLI's dataclasses.replace, say)
    assert dataclasses.replace(examples, image_shape=None).query_names == ("1053", "7")
    examples.save(tmp_path / "e.npz")
    assert ExampleSet.load(tmp_path / "e.npz").query_names == ("1053", "7")
    # a file saved before the field existed loads with None
    save_without_field(tmp_path / "e.npz", "query_names")
    loaded = ExampleSet.load(tmp_path / "e.npz")
    assert loaded.query_names is None
    np.testing.assert_array_equal(loaded.query_inputs, examples.query_inputs)


def test_query_names_must_name_each_query_of_a_set_that_has_queries():
    with pytest.raises(ValueError, match="query_names has 3 entries; expected 2"):
        _queried(query_names=["a", "b", "c"])
    # prototypes have no queries: the names would name nothing
    with pytest.raises(ValueError, match="query_names given, but the example set records no"):
        _examples(query_names=["a", "b"])
    # query classes alone are enough to count the queries
    assert _examples(query_classes=np.array([0, 1]), query_names=[5, 6]).query_names == ("5", "6")


def test_query_inputs_or_classes_count_the_queries_where_there_are_no_queries():
    # A set of query inputs alone (no query features): groups naming query 5 of 2, and
    # query_classes for 3 queries of 2, were taken, and query_name(5) raised IndexError.
    from sklearn.datasets import load_digits

    pixels = load_digits().data[:6]
    counterfactuals = {
        "kind": "counterfactual",
        "source": "mined",
        "values": pixels[:4],
        "image_shape": (8, 8),
        "groups": np.array([0, 0, 1, 5]),
    }
    with pytest.raises(ValueError, match="groups name query 5 of 2"):
        _examples(**counterfactuals, query_inputs=pixels[4:])
    with pytest.raises(ValueError, match="groups name query 5 of 2"):
        _examples(**counterfactuals, query_classes=[3, 8], query_names=["a", "b"])
    counterfactuals["groups"] = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"query_classes must have shape \(2,\), got \(3,\)"):
        _examples(**counterfactuals, query_inputs=pixels[4:], query_classes=[3, 8, 1])
    named = _examples(**counterfactuals, query_inputs=pixels[4:], query_names=["q4", "q5"])
    assert [named.query_name(g) for g in named.all_groups] == ["q4", "q5"]


def test_an_empty_set_takes_empty_lists_for_its_integer_fields():
    # np.asarray([]) is float64: groups=[] and indices=[] were refused as "must be 0
    # ints >= -1, got float64", while components=[] passed.
    empty = _examples(
        values=np.zeros((0, 9)),
        scores=[],
        components=[],
        groups=[],
        top_classes=np.zeros((0, 2), int),
        top_proba=np.zeros((0, 2)),
        indices=[],
    )
    assert len(empty) == 0 and empty.groups.dtype == empty.indices.dtype == np.int64
    with pytest.raises(ValueError, match=r"indices must be 4 ints >= -1, got float64 \(4,\)"):
        _examples(indices=np.zeros(4))


def test_top_classes_and_top_proba_messages_say_what_was_found():
    # a float array was told "must be ints of shape (4, 2), got (4, 2)": its shape
    with pytest.raises(ValueError, match=r"top_classes must be ints >= 0 .*got float64 of shape"):
        _examples(top_classes=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"got bool of shape \(4, 2\)"):
        _examples(top_classes=np.zeros((4, 2), bool))
    with pytest.raises(ValueError, match=r"got shape \(4, 2\) in \[0.5, 1.5\]"):
        _examples(top_proba=np.array([[0.5, 0.5]] * 3 + [[1.5, 0.5]]))


def test_query_name_refuses_a_position_that_names_no_query():
    named = _queried(query_names=["q4", "q5"])
    assert named.query_name(np.int64(1)) == "q5"
    # "tuple index out of range", and -1 named the last query
    for g in (2, -1):
        with pytest.raises(ValueError, match=rf"query position in \[0, 2\), got {g}"):
            named.query_name(g)
    with pytest.raises(ValueError, match="g must be an int query position, got 1.0"):
        named.query_name(1.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("groups", np.array([0, 0, 2**63, 1], dtype=np.uint64)),
        ("indices", np.array([0, 0, 2**64 - 1, 1], dtype=np.uint64)),
        ("top_classes", np.array([[0, 1], [0, 2], [1, 0], [2**63, 2]], dtype=np.uint64)),
    ],
)
def test_unsigned_ints_past_int64_are_refused_not_wrapped_negative(tmp_path, field, value):
    # astype(int64) made group 2**63 the group -2**63, and a hand-edited file loaded so
    with pytest.raises(ValueError, match=f"{field} holds {value.max()}, too large for int64"):
        _examples(**{field: value})

    def hand_edit(header, arrays):
        arrays[field] = value

    assert_refused_on_load(_examples(), tmp_path / "set.npz", hand_edit, f"{field} holds")
