"""Deletion curves and sensitivity results save to one ``.npz`` file and load back exactly."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import (
    assert_refused_on_load,
    assert_same_result,
    cut_off_mid_write,
    rewrite_saved,
)
from unboxed import Attribution, Explanation
from unboxed.evaluate import (
    DeletionCurve,
    SensitivityResult,
    deletion_curve,
    explanation_sensitivity,
)
from unboxed.local import Saliency

SUPPORT = np.array([2, 5, 11, 17])


@pytest.fixture()
def curve(planted, planted_blackbox):
    return deletion_curve(
        planted_blackbox, planted.X_test[:10], SUPPORT, max_k=3, n_boot=50, random_state=0
    )


@pytest.fixture()
def sensitivity(digits, digits_blackbox):
    return explanation_sensitivity(
        Saliency(digits_blackbox), digits.X_test[:6], radius=0.3, n_samples=4, k=5, n_boot=50,
        random_state=0,
    )  # fmt: skip


def test_a_deletion_curve_round_trips_exactly(tmp_path, curve):
    curve.save(tmp_path / "curve.npz")
    loaded = DeletionCurve.load(tmp_path / "curve.npz")
    assert_same_result(loaded, curve)
    assert type(loaded.aopc.ci) is tuple and loaded.aopc.ci == curve.aopc.ci  # the CI too
    np.testing.assert_array_equal(loaded.curve(), curve.curve())


def test_a_sensitivity_result_round_trips_exactly(tmp_path, sensitivity):
    sensitivity.save(tmp_path / "s.npz")
    loaded = SensitivityResult.load(tmp_path / "s.npz")
    assert_same_result(loaded, sensitivity)
    assert loaded.worst_drop.ci == sensitivity.worst_drop.ci
    assert loaded.meta == {"test": "explanation_sensitivity", "norm": "linf", "n_samples": 4}


def test_a_sensitivity_result_with_per_feature_radii_round_trips_exactly(
    tmp_path, digits, digits_blackbox
):
    radius = np.linspace(0.0, 0.4, 64)  # one radius per pixel, the first held still
    result = explanation_sensitivity(
        Saliency(digits_blackbox), digits.X_test[:6], radius=radius, n_samples=4, k=5,
        n_boot=50, random_state=0,
    )  # fmt: skip
    result.save(tmp_path / "s.npz")
    loaded = SensitivityResult.load(tmp_path / "s.npz")
    assert_same_result(loaded, result)
    np.testing.assert_array_equal(loaded.radius, radius)


def test_a_saved_result_loads_in_a_fresh_session_through_the_shared_loader(tmp_path, curve):
    # SavedResult.load finds the class the file names, importing unboxed.evaluate itself.
    path = tmp_path / "curve.npz"
    curve.save(path)
    code = (
        "from unboxed.explanation import SavedResult; "
        f"print(type(SavedResult.load({str(path)!r})).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "DeletionCurve", done.stderr


def test_a_truncated_file_is_refused(tmp_path, curve):
    path = tmp_path / "curve.npz"
    curve.save(path)
    blob = path.read_bytes()
    for size in (0, 10, len(blob) // 2, len(blob) - 1):
        (tmp_path / "cut.npz").write_bytes(blob[:size])
        with pytest.raises(ValueError, match="not an unboxed result file"):
            DeletionCurve.load(tmp_path / "cut.npz")


def test_no_flipped_byte_loads_as_another_result(tmp_path, curve):
    """Every byte flipped in turn: the file is refused with a ValueError, or the flip
    fell where no data is (a timestamp) and the very same curve loads. Flips in the zip
    directory came out as zipfile's NotImplementedError or RuntimeError."""
    path = tmp_path / "curve.npz"
    curve.save(path)
    blob = path.read_bytes()
    refused = 0
    for offset in range(len(blob)):
        flipped = bytearray(blob)
        flipped[offset] ^= 0xFF
        (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
        try:
            loaded = DeletionCurve.load(tmp_path / "flipped.npz")
        except ValueError:
            refused += 1
        else:
            assert_same_result(loaded, curve)
    assert refused > 0.5 * len(blob)  # the data bytes are most of the file


def test_a_file_of_another_class_is_refused(tmp_path, curve, sensitivity):
    Attribution(np.zeros((2, 3)), np.array([0, 1])).save(tmp_path / "attribution.npz")
    with pytest.raises(ValueError, match="holds an Attribution, not the DeletionCurve asked for"):
        DeletionCurve.load(tmp_path / "attribution.npz")
    curve.save(tmp_path / "curve.npz")
    with pytest.raises(ValueError, match="holds a DeletionCurve, not the SensitivityResult"):
        SensitivityResult.load(tmp_path / "curve.npz")
    with pytest.raises(ValueError, match="holds a DeletionCurve, not the Explanation asked for"):
        Explanation.load(tmp_path / "curve.npz")
    sensitivity.save(tmp_path / "s.npz")
    with pytest.raises(ValueError, match="holds a SensitivityResult, not the DeletionCurve"):
        DeletionCurve.load(tmp_path / "s.npz")


def test_a_foreign_npz_is_refused(tmp_path, rng):
    np.savez(tmp_path / "random.npz", ks=np.arange(4), drop=rng.normal(size=(3, 4)))
    with pytest.raises(ValueError, match="not an unboxed result file: it has no __unboxed__"):
        DeletionCurve.load(tmp_path / "random.npz")
    (tmp_path / "noise.npz").write_bytes(rng.bytes(500))
    with pytest.raises(ValueError, match="not an .npz archive"):
        SensitivityResult.load(tmp_path / "noise.npz")


def _no_ci(header, arrays):
    del header["fields"]["aopc"]["ci"]


def _text_mean(header, arrays):
    header["fields"]["aopc"]["mean"] = "0.5"


def _short_drop(header, arrays):
    arrays["drop"] = arrays["drop"][:, :-1]


def _float_ks(header, arrays):
    arrays["ks"] = arrays["ks"].astype(float)


def _no_aopc(header, arrays):
    del header["fields"]["aopc"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_no_ci, "aopc is not an estimate"),
        (_text_mean, "aopc's mean must be a finite number"),
        (_short_drop, "drop has 3 columns for 4 values of k"),
        (_float_ks, "ks must be a 1-D array"),
        (_no_aopc, ".*missing 1 required positional argument: 'aopc'"),
    ],
)
def test_a_malformed_file_is_a_clear_error(tmp_path, curve, change, message):
    assert_refused_on_load(curve, tmp_path / "curve.npz", change, message)


def test_a_sensitivity_result_with_a_float_k_or_kept_is_refused(tmp_path, sensitivity):
    path = tmp_path / "s.npz"
    sensitivity.save(path)
    rewrite_saved(path, lambda header, arrays: header["fields"].update(k=5.5))
    with pytest.raises(ValueError, match="k must be an int"):
        SensitivityResult.load(path)
    sensitivity.save(path)
    rewrite_saved(path, lambda header, arrays: arrays.update(kept=arrays["kept"] + 0.5))
    with pytest.raises(ValueError, match="kept must be a 1-D array"):
        SensitivityResult.load(path)


def test_an_interrupted_save_keeps_the_earlier_file(tmp_path, curve, monkeypatch):
    path = tmp_path / "curve.npz"
    curve.save(path)
    before = path.read_bytes()
    monkeypatch.setattr(np, "savez_compressed", cut_off_mid_write(b"PK\x03\x04 half"))
    with pytest.raises(KeyboardInterrupt):
        dataclasses.replace(curve, drop=curve.drop + 1).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.npz"]
    monkeypatch.undo()
    np.testing.assert_array_equal(DeletionCurve.load(path).drop, curve.drop)


def _nan_drop(header, arrays):
    arrays["drop"][2, 1] = np.nan


def _inf_drop(header, arrays):
    arrays["drop"][0, 3] = np.inf


def _scrambled_ks(header, arrays):
    arrays["ks"] = arrays["ks"][::-1].copy()


def _no_rows(header, arrays):
    arrays["drop"] = arrays["drop"][:0]


def _drop_at_zero(header, arrays):
    arrays["drop"][3, 0] = 0.25


def _drop_above_one(header, arrays):
    arrays["drop"][1, 2] = 1.5


def _drop_below_minus_one(header, arrays):
    arrays["drop"][0, 1] = -2.0


def _aopc_of_other_rows(header, arrays):
    header["fields"]["aopc"]["n"] = 99


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_nan_drop, r"drop must be finite, got nan at index \(2, 1\)"),
        (_inf_drop, r"drop must be finite, got inf at index \(0, 3\)"),
        (_scrambled_ks, r"ks must be 0, 1, ..., max_k, got \[3, 2, 1, 0\]"),
        (_no_rows, "drop has no rows"),
        (_drop_at_zero, r"drop at k=0 must be 0 \(nothing removed\), got 0.25 in row 3"),
        (_drop_above_one, r"drop must lie in \[-1, 1\].*got 1.5 at index \(1, 2\)"),
        (_drop_below_minus_one, r"drop must lie in \[-1, 1\].*got -2.0 at index \(0, 1\)"),
        (_aopc_of_other_rows, "aopc is over 99 rows but drop.s rows holds 10"),
    ],
)
def test_a_hand_edited_drop_or_ks_is_refused_by_name(tmp_path, curve, change, message):
    # A NaN in drop loaded, and aopc_difference later said "values contains NaN". A drop
    # is f_c(x) - f_c(x without its top k): 0 at k = 0, in [-1, 1] everywhere; a curve
    # edited outside that loaded, and its curve() and AOPC were wrong.
    assert_refused_on_load(curve, tmp_path / "curve.npz", change, message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, a: a.update(kept=a["kept"] - 10), "kept must be counts of draws"),
        (lambda h, a: h["fields"].update(radius=-0.3), "radius must be a finite number > 0"),
        (lambda h, a: h["fields"].update(radius="0.3"), "radius must be a finite number"),
        (lambda h, a: a.update(radius=np.full(64, np.nan)), "radius must be finite, got nan"),
        (lambda h, a: a.update(radius=-np.ones(64)), "radius must be >= 0 in every feature"),
    ],
)
def test_a_hand_edited_kept_or_radius_is_refused_by_name(tmp_path, sensitivity, change, message):
    # Negative counts of draws, a NaN or negative radius all loaded as they were.
    assert_refused_on_load(sensitivity, tmp_path / "s.npz", change, message)


def _kept_above_n_samples(header, arrays):
    arrays["kept"][2] = 5  # of meta's n_samples=4


def _n_samples_not_a_count(header, arrays):
    header["meta"]["n_samples"] = "4"


def _k_zero(header, arrays):
    header["fields"]["k"] = 0


def _mean_drop_above_one(header, arrays):
    header["fields"]["mean_drop"]["mean"] = 1.5


def _worst_drop_of_other_rows(header, arrays):
    header["fields"]["worst_drop"]["n"] = 99


def _max_drop_negative(header, arrays):
    header["fields"]["max_drop"] = -0.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_kept_above_n_samples, "kept must be at most meta's n_samples=4 draws per row, got 5"),
        (_n_samples_not_a_count, "meta's n_samples must be a count >= 1, got '4'"),
        (_k_zero, "k must be an int >= 1, got 0"),
        (_mean_drop_above_one, r"mean_drop must be a share in \[0, 1\]"),
        (_worst_drop_of_other_rows, "worst_drop is over 99 rows but 6 rows kept a draw"),
        (_max_drop_negative, r"max_drop must be a share in \[0, 1\], got -0.5"),
    ],
)
def test_a_sensitivity_result_no_test_could_give_is_refused(tmp_path, sensitivity, change, message):
    # Each row draws meta's n_samples noisy copies, so no more than that are kept; a
    # drop is a share of the top k. Files outside these loaded as they were.
    assert_refused_on_load(sensitivity, tmp_path / "s.npz", change, message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, a: h["fields"]["aopc"].update(mean=0.9), "aopc's mean is 0.9, but the mean"),
        (lambda h, a: h["fields"]["aopc"].update(ci=[-1.0, 2.0]), r"aopc's ci \[-1.0, 2.0\]"),
    ],
)
def test_an_aopc_that_its_curve_does_not_give_is_refused(tmp_path, curve, change, message):
    # The AOPC is the mean of the rows' mean drops: an edited one was reported beside
    # a curve() that averages to another figure.
    assert_refused_on_load(curve, tmp_path / "curve.npz", change, message)
