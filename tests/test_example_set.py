"""ExampleSet: the checks on arrival and the helpers (the round trip is in test_contract)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

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


def test_helpers_order_by_score():
    examples = _examples()
    assert list(examples.top_k(2)) == [1, 2]
    assert list(examples.group(0)) == [1, 0] and list(examples.group(1)) == [2, 3]
    assert len(examples) == 4 and examples.n_features == 9
    assert examples.group(np.int64(7)).size == 0  # an empty group
    with pytest.raises(ValueError, match="g must be an int"):
        examples.group("a")


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
    empty = _examples(
        values=np.zeros((0, 9)),
        scores=np.zeros(0),
        components=np.zeros(0, int),
        groups=np.zeros(0, int),
        top_classes=np.zeros((0, 2), int),
        top_proba=np.zeros((0, 2)),
        indices=np.zeros(0, int),
    )
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
