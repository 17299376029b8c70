"""PCR and keep-top-k results save to one ``.npz`` file and load back exactly."""

import numpy as np
import pytest

from tests.helpers import assert_refused_on_load, assert_same_result, rewrite_saved
from unboxed.evaluate import KeepTopKResult, PCRResult, crafted_cases, deletion_test, keep_top_k

KS = [1, 2, 4]


@pytest.fixture()
def pcr(planted, planted_blackbox):
    return deletion_test(
        planted_blackbox, planted.X_test[:200], planted.support, KS, target=1, n_boot=20,
        random_state=0, verbose=False,
    )  # fmt: skip


@pytest.fixture()
def kept(planted, planted_blackbox):
    X, y = planted.X_test[:100], planted.y_test[:100]
    return keep_top_k(planted_blackbox, X, y, planted.support, 4, fill="mean", random_state=0)


def test_a_pcr_result_round_trips_exactly(tmp_path, pcr):
    pcr.save(tmp_path / "pcr.npz")
    loaded = PCRResult.load(tmp_path / "pcr.npz")
    assert_same_result(loaded, pcr)
    np.testing.assert_array_equal(loaded.separated(), pcr.separated())
    assert loaded.to_markdown() == pcr.to_markdown()


def test_a_keep_top_k_result_round_trips_exactly(tmp_path, kept):
    kept.save(tmp_path / "kept.npz")
    loaded = KeepTopKResult.load(tmp_path / "kept.npz")
    assert_same_result(loaded, kept)
    assert loaded.as_dict() == kept.as_dict()


def test_results_record_their_seed_and_older_files_without_it_load(
    tmp_path, planted, planted_blackbox, pcr, kept
):
    """The seed was missing from meta, unlike an Explanation's."""
    crafted = crafted_cases(
        planted_blackbox, planted.X_test[:200], planted.support, KS, target=1, n_boot=20,
        random_state=np.random.default_rng(3), verbose=False,
    )  # fmt: skip
    assert (pcr.meta["seed"], kept.meta["seed"], crafted.meta["seed"]) == (0, 0, "Generator")
    for result, cls in ((pcr, PCRResult), (kept, KeepTopKResult)):
        path = tmp_path / "result.npz"
        result.save(path)
        assert cls.load(path).meta["seed"] == 0
        rewrite_saved(path, lambda header, arrays: header["meta"].pop("seed"))
        assert "seed" not in cls.load(path).meta


def test_a_pcr_file_whose_arrays_disagree_on_k_is_refused(tmp_path, pcr):
    path = tmp_path / "pcr.npz"
    pcr.save(path)
    rewrite_saved(path, lambda header, arrays: arrays.update(pcr_ci=arrays["pcr_ci"][:-1]))
    with pytest.raises(ValueError, match=r"pcr_ci must hold one interval per k, shape \(3, 2\)"):
        PCRResult.load(path)
    pcr.save(path)
    rewrite_saved(path, lambda header, arrays: arrays.update(random_pcr=arrays["random_pcr"][:2]))
    with pytest.raises(ValueError, match=r"random_pcr must hold one rate per k \(3\)"):
        PCRResult.load(path)


def test_a_keep_top_k_file_with_a_text_estimate_or_float_predictions_is_refused(tmp_path, kept):
    path = tmp_path / "kept.npz"
    kept.save(path)
    rewrite_saved(path, lambda header, arrays: header["fields"]["accuracy"].update(mean="0.9"))
    with pytest.raises(ValueError, match="accuracy's mean must be a finite number"):
        KeepTopKResult.load(path)
    kept.save(path)
    rewrite_saved(path, lambda header, arrays: arrays.update(predicted=arrays["predicted"] + 0.5))
    with pytest.raises(ValueError, match="predicted must be a 1-D array"):
        KeepTopKResult.load(path)


def test_one_result_type_is_not_loaded_as_another(tmp_path, pcr, kept):
    pcr.save(tmp_path / "pcr.npz")
    kept.save(tmp_path / "kept.npz")
    with pytest.raises(ValueError, match="holds a PCRResult, not the KeepTopKResult"):
        KeepTopKResult.load(tmp_path / "pcr.npz")
    with pytest.raises(ValueError, match="holds a KeepTopKResult, not the PCRResult"):
        PCRResult.load(tmp_path / "kept.npz")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("pcr", [np.nan, 0.5, 0.5], r"pcr must hold rates in \[0, 1\], got nan"),
        ("random_pcr", [0.5, 2.0, 0.5], r"random_pcr must hold rates in \[0, 1\], got 2\.0"),
        ("ks", [-1, 2, 4], r"ks must hold feature counts >= 0, got -1"),
        ("pcr_ci", [[0.5, 0.2]] * 3, r"pcr_ci must hold intervals \[low, high\] in \[0, 1\]"),
        ("random_pcr_ci", [[0.0, np.inf]] * 3, r"random_pcr_ci must hold intervals"),
    ],
)
def test_a_pcr_file_with_rates_no_test_gives_is_refused(tmp_path, pcr, name, value, message):
    # A NaN or 2.0 rate, a k of -1 and an interval [0.5, 0.2] or [0, inf] were loaded
    # without a word, and separated() and to_markdown() read them as figures.
    path = tmp_path / "pcr.npz"
    pcr.save(path)
    dtype = np.int64 if name == "ks" else np.float64
    rewrite_saved(path, lambda header, arrays: arrays.update({name: np.array(value, dtype=dtype)}))
    with pytest.raises(ValueError, match=message):
        PCRResult.load(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda header, arrays: header["fields"].update(k=-1), r"k must be an int >= 0, got -1"),
        (
            lambda header, arrays: arrays.update(predicted=arrays["predicted"] - 5),
            r"predicted must hold class indices >= 0, got -5",
        ),
        (
            lambda header, arrays: header["fields"]["accuracy"].update(mean=2.0),
            r"accuracy must be a share in \[0, 1\]",
        ),
        (
            lambda header, arrays: header["fields"]["probability"].update(ci=[-0.5, 0.9]),
            r"probability must be a share in \[0, 1\]",
        ),
        (
            lambda header, arrays: arrays.update(predicted=arrays["predicted"][:3]),
            r"accuracy is over 100 rows but predicted holds 3",
        ),
    ],
    ids=["k", "predicted", "accuracy", "probability-ci", "rows"],
)
def test_a_keep_top_k_file_with_values_no_test_gives_is_refused(tmp_path, kept, change, message):
    # Each was loaded without a word: an accuracy of 2.0 beside its ci [0.6, 0.8].
    assert_refused_on_load(kept, tmp_path / "kept.npz", change, message)


@pytest.mark.parametrize(
    ("n_cases", "message"),
    [
        (-1, r"n_cases must be an int >= 1, got -1"),
        (0, r"n_cases must be an int >= 1, got 0"),
        (7, r"pcr must hold shares of the n_cases=7 cases"),
    ],
)
def test_a_pcr_file_with_an_edited_n_cases_is_refused(tmp_path, pcr, n_cases, message):
    # A rate is hits / n_cases; n_cases=-1, or one the rates are no shares of, loaded
    # and to_markdown() reported the rates as over that many cases.
    assert 7 != pcr.n_cases
    change = lambda header, arrays: header["fields"].update(n_cases=n_cases)  # noqa: E731
    assert_refused_on_load(pcr, tmp_path / "pcr.npz", change, message)
