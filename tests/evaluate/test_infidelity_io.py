"""Infidelity results save to one ``.npz`` file and load back exactly."""

import re

import numpy as np
import pytest

from tests.helpers import assert_refused_on_load, assert_same_result
from unboxed import BlackBox
from unboxed.evaluate import DeletionCurve, InfidelityResult, infidelity


def _saturating_box():
    def predict(X):
        # Exactly 1 wherever the first feature is above 5: no perturbation moves it.
        p1 = np.where(X[:, 0] > 5, 1.0, 1 / (1 + np.exp(-X.sum(axis=1))))
        return np.stack([1 - p1, p1], axis=1)

    return BlackBox.from_callable(predict, n_classes=2, input_shape=(3,))


@pytest.fixture()
def result():
    X = np.array([[10.0, 0, 0], [0.1, 0.2, 0.3], [0.0, -0.5, 0.2], [1.0, 1.0, -1.0]])
    values = np.random.default_rng(0).normal(size=(4, 3))
    return infidelity(
        _saturating_box(), X, values, scale=np.array([0.1, 0.2, 0.0]), n_perturb=6,
        n_boot=50, target=1, random_state=0,
    )  # fmt: skip


def test_an_infidelity_result_round_trips_exactly(tmp_path, result):
    assert np.isnan(result.relative[0])  # a flat row's NaN is kept, not refused
    result.save(tmp_path / "infid.npz")
    loaded = InfidelityResult.load(tmp_path / "infid.npz")
    assert_same_result(loaded, result)
    assert type(loaded.mean_relative.ci) is tuple
    assert loaded.meta == {
        "test": "infidelity",
        "perturbation": "gaussian",
        "n_perturb": 6,
        "normalize": True,
        "scale": [0.1, 0.2, 0.0],
        "seed": 0,
        "n_flat": 1,
    }


def test_a_removal_result_records_its_settings(tmp_path):
    X = np.random.default_rng(1).normal(size=(5, 3))
    saved = infidelity(
        _saturating_box(), X, np.ones((5, 3)), perturbation="removal", p_remove=0.25,
        fill=np.full(3, 0.5), segments=np.array([0, 0, 1]), n_boot=20, random_state=3,
    )  # fmt: skip
    saved.save(tmp_path / "r.npz")
    loaded = InfidelityResult.load(tmp_path / "r.npz")
    assert_same_result(loaded, saved)
    assert {k: loaded.meta[k] for k in ("p_remove", "fill", "unit")} == {
        "p_remove": 0.25,
        "fill": "array",
        "unit": "segment",
    }


def _short_beta(header, arrays):
    arrays["beta"] = arrays["beta"][:-1]


def _int_response(header, arrays):
    arrays["response"] = arrays["response"].astype(int)


def _no_ci(header, arrays):
    del header["fields"]["mean_relative"]["ci"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_short_beta, "infidelity, relative, beta, response must have one value per row"),
        (_int_response, "response must be a 1-D array"),
        (_no_ci, "mean_relative is not an estimate"),
    ],
)
def test_a_malformed_file_is_a_clear_error(tmp_path, result, change, message):
    assert_refused_on_load(result, tmp_path / "infid.npz", change, message)


def test_a_file_of_another_class_is_refused(tmp_path, result):
    result.save(tmp_path / "infid.npz")
    with pytest.raises(ValueError, match="holds an InfidelityResult, not the DeletionCurve"):
        DeletionCurve.load(tmp_path / "infid.npz")


def _nan_infidelity(header, arrays):
    arrays["infidelity"] = np.where(np.arange(4) == 2, np.nan, arrays["infidelity"])


def _negative_response(header, arrays):
    arrays["response"] = -arrays["response"]


def _relative_of_a_flat_row(header, arrays):
    arrays["relative"] = np.nan_to_num(arrays["relative"], nan=0.5)


def _no_rows(header, arrays):
    for name in ("infidelity", "relative", "beta", "response"):
        arrays[name] = arrays[name][:0]


def _other_n(header, arrays):
    header["fields"]["mean_infidelity"]["n"] = 999


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_nan_infidelity, "infidelity holds NaN or infinity"),
        (_negative_response, "response holds a negative mean square"),
        (_relative_of_a_flat_row, "relative must be NaN exactly where response is 0"),
        (_no_rows, "it holds no rows"),
        (_other_n, "mean_infidelity's n is not the number of rows"),
    ],
)
def test_figures_infidelity_cannot_give_are_refused_on_load(tmp_path, result, change, message):
    # Each loaded without a word: a NaN infidelity, a negative mean square, an empty
    # result were averaged and plotted as they were.
    assert_refused_on_load(result, tmp_path / "infid.npz", change, re.escape(message))


def _no_mean_infidelity(header, arrays):
    del header["fields"]["mean_infidelity"]


def _edited_mean(header, arrays):
    header["fields"]["mean_infidelity"]["mean"] = 0.5


def _ci_beyond_the_rows(header, arrays):
    header["fields"]["mean_relative"]["ci"] = [0.0, 1e308]


def _infinite_relative(header, arrays):
    arrays["relative"] = np.where(np.isnan(arrays["relative"]), np.nan, np.inf)


def _relative_of_other_rows(header, arrays):
    arrays["relative"] = arrays["relative"][[0, 2, 1, 3]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_no_mean_infidelity, ".*missing 1 required positional argument: 'mean_infidelity'"),
        (_edited_mean, "mean_infidelity's mean is 0.5, but the mean of infidelity is "),
        (_ci_beyond_the_rows, r"mean_relative's ci \[0.0, 1e\+308\] is not within the range"),
        (_infinite_relative, "relative holds infinity"),
        (_relative_of_other_rows, r"relative must be infidelity / response on every row"),
    ],
)
def test_an_estimate_or_relative_that_its_rows_do_not_give_is_refused(
    tmp_path, result, change, message
):
    # A missing mean_infidelity was a KeyError from the loader; an edited mean, a CI
    # of 1e308, an infinite or shuffled relative loaded as the file's result.
    assert_refused_on_load(result, tmp_path / "infid.npz", change, message)
