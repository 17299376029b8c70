import dataclasses

import numpy as np
import pytest
from sklearn.base import clone

from unboxed._estimator import SHOWN_ELEMENTS, Params, _short, short_repr


class _Toy(Params):
    def __init__(self, data, *, n=3, name="a", verbose=False):
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.data = data
        self.n = n
        self.name = name
        self.verbose = verbose


def test_get_params_gives_each_argument_back_as_given():
    data = np.zeros((4, 2))
    toy = _Toy(data, n=5)
    params = toy.get_params()
    assert list(params) == ["data", "n", "name", "verbose"]
    assert params["data"] is data and params["n"] == 5
    assert toy.get_params(deep=True) == params  # deep has no nested estimators to list
    copy = clone(toy)
    assert copy is not toy and copy.n == 5 and np.array_equal(copy.data, data)


def test_set_params_meets_the_constructors_checks_and_names_unknown_arguments():
    toy = _Toy(None, n=5)
    assert toy.set_params(n=7, name="b") is toy and (toy.n, toy.name) == (7, "b")
    with pytest.raises(ValueError, match="n must be at least 1"):
        toy.set_params(n=0)
    assert toy.n == 7  # a refused value changes nothing
    with pytest.raises(ValueError, match=r"_Toy has no parameter 'nn'.*'n'"):
        toy.set_params(nn=1)


def test_repr_shows_the_arguments_that_differ_from_their_defaults_arrays_by_shape():
    assert repr(_Toy(None)) == "_Toy(data=None)"  # no default: always shown
    toy = _Toy(np.ones((1000, 784), dtype=np.float32), name="b", verbose=False)
    assert repr(toy) == "_Toy(data=<array of shape (1000, 784), float32>, name='b')"


@dataclasses.dataclass(frozen=True)
class _Result:
    values: np.ndarray
    ks: np.ndarray
    meta: dict


def test_short_repr_shows_small_arrays_large_ones_by_shape_and_meta_scalars():
    result = _Result(np.zeros((10000, 784)), np.array([1, 3]), {"method": "x", "p": {"a": 1}})
    assert short_repr(result) == (
        "_Result(values=<array of shape (10000, 784), float64>, ks=[1, 3], "
        "meta={'method': 'x', ...})"
    )


def test_repr_shows_a_value_equal_to_its_default_but_of_another_type():
    # 3.0 == 3 and 0 == False: hiding them would print a repr that rebuilds another object
    assert repr(_Toy(None, n=3.0, verbose=0)) == "_Toy(data=None, n=3.0, verbose=0)"


def test_short_repr_shows_up_to_shown_elements_and_no_more():
    assert _short(np.arange(SHOWN_ELEMENTS)).startswith("[0, 1, 2")
    assert _short(np.arange(SHOWN_ELEMENTS + 1)) == "<array of shape (11,), int64>"


def test_short_shows_nested_results_short_and_long_reprs_by_type():
    inner = _Result(np.zeros((50, 50)), np.array([1]), {})
    assert _short(inner) == short_repr(inner)  # not the generated repr with every element
    outer = short_repr(_Result(np.ones(2), inner, {}))  # type: ignore[arg-type]
    assert "ks=_Result(values=<array of shape (50, 50), float64>" in outer
    assert _short(list(range(20))) == repr(list(range(20)))  # 80 characters: kept
    assert _short(list(range(50))) == "<list>"


@dataclasses.dataclass(frozen=True)
class _Hidden:
    shown: int
    cache: dict = dataclasses.field(repr=False, default_factory=dict)


def test_short_repr_leaves_out_fields_marked_repr_false():
    assert short_repr(_Hidden(1, {"a": 1})) == "_Hidden(shown=1)"


def test_short_shows_a_dicts_int_entries_and_marks_the_rest():
    assert _short({"n": 3, "ok": True, "a": np.zeros(2)}) == "{'n': 3, 'ok': True, ...}"
    assert _short({"a": np.zeros(2)}) == "{...}"  # was "{, ...}"


# ---------------------------------------------------------------- audit A1
def test_set_params_suggests_the_parameter_a_typo_meant():
    toy = _Toy(None)
    with pytest.raises(ValueError, match=r"no parameter 'verbos' \(did you mean 'verbose'\?\)"):
        toy.set_params(verbos=True)
    with pytest.raises(ValueError, match=r"no parameter 'zzz'; its parameters are"):
        toy.set_params(zzz=1)  # nothing close: no guess


class _Pair(Params):
    def __init__(self, *, n_components_x=2, n_components_y=2):
        self.n_components_x = n_components_x
        self.n_components_y = n_components_y


def test_set_params_names_every_parameter_a_typo_is_as_near():
    # As JGMM's: 'n_components' is as near either; difflib's first match named y alone.
    match = r"no parameter 'n_components' \(did you mean 'n_components_x' or 'n_components_y'\?\)"
    with pytest.raises(ValueError, match=match):
        _Pair().set_params(n_components=3)
    with pytest.raises(ValueError, match=r"\(did you mean 'n_components_x'\?\)"):
        _Pair().set_params(n_component_x=3)  # one nearest: named alone


def test_short_shows_a_small_array_of_long_strings_or_objects_by_shape():
    # Three elements, under SHOWN_ELEMENTS, but printed 1500 and 4400 characters long.
    assert _short(np.array(["a" * 500] * 3)) == "<array of shape (3,), <U500>"
    objects = np.array([{"x": np.zeros(1000)}], dtype=object)
    assert _short(objects) == "<array of shape (1,), object>"
    assert _short(np.array(["ab", "c"])) == "['ab', 'c']"  # short ones are still shown


def test_short_repr_of_no_dataclass_instance_says_what_it_needs():
    # A dataclass's class failed on getattr (AttributeError: no attribute 'values').
    for value in (_Result, 3):
        with pytest.raises(TypeError, match="short_repr needs a dataclass instance, got"):
            short_repr(value)
