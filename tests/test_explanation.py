import dataclasses
import io
import json
import os
import pickle
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tests.helpers import cut_off_mid_write, save_without_field
from unboxed import Attribution, Explanation, FeatureImportance, _validation, make_meta
from unboxed._io import atomic_write, read_npz
from unboxed.explanation import hand_over


@pytest.fixture()
def attribution(rng):
    values = rng.normal(size=(4, 64))
    return Attribution(
        values,
        np.array([0, 3, 3, 9]),
        make_meta("test", {"alpha": 0.5, "ks": (1, 2)}, seed=7),
        inputs=rng.uniform(size=(4, 64)),
        image_shape=(8, 8),
    )


@pytest.fixture()
def importance(rng):
    values = rng.uniform(size=(3, 5))
    ci = np.stack([values - 0.1, values + 0.1], axis=-1)
    return FeatureImportance(
        values,
        make_meta("test", {}),
        ci=ci,
        class_names=("a", "b", "c"),
        feature_names=("f0", "f1", "f2", "f3", "f4"),
    )


def test_attribution_round_trip_is_exact(tmp_path, attribution):
    attribution.save(tmp_path / "a.npz")
    loaded = Attribution.load(tmp_path / "a.npz")
    assert np.array_equal(loaded.values, attribution.values)
    assert loaded.values.dtype == np.float64
    assert np.array_equal(loaded.target, attribution.target)
    assert np.array_equal(loaded.inputs, attribution.inputs)
    assert loaded.image_shape == (8, 8) and loaded.feature_names is None
    assert loaded.meta == attribution.meta
    assert loaded.meta["parameters"] == {"alpha": 0.5, "ks": [1, 2]}
    assert loaded.meta["seed"] == 7 and loaded.meta["library_version"]
    assert isinstance(Explanation.load(tmp_path / "a.npz"), Attribution)


def test_feature_importance_round_trip_is_exact(tmp_path, importance):
    importance.save(tmp_path / "f.npz")
    loaded = FeatureImportance.load(tmp_path / "f.npz")
    assert np.array_equal(loaded.values, importance.values)
    assert np.array_equal(loaded.ci, importance.ci)
    assert loaded.class_names == ("a", "b", "c")
    assert loaded.feature_names == importance.feature_names


def test_top_k_orders_by_value_with_stable_ties():
    att = Attribution(np.array([[0.1, 0.9, 0.5, 0.9], [3.0, -1.0, 2.0, 0.0]]), np.array([0, 1]))
    assert att.top_k(3).tolist() == [[1, 3, 2], [0, 2, 3]]
    imp = FeatureImportance(np.array([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]]))
    assert imp.top_k(2, class_=0).tolist() == [1, 2]
    assert imp.top_k(1, class_=1).tolist() == [2]
    with pytest.raises(ValueError, match="pass class_"):
        imp.top_k(1)
    assert FeatureImportance(np.array([[1.0, 3.0]])).top_k(2).tolist() == [1, 0]
    with pytest.raises(ValueError, match="k=5 exceeds"):
        att.top_k(5)


def test_explanations_are_frozen(attribution):
    with pytest.raises(dataclasses.FrozenInstanceError):
        attribution.values = np.zeros((4, 64))
    with pytest.raises(ValueError, match="read-only"):
        attribution.values[0, 0] = 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_explanation_never_shares_the_callers_arrays(dtype):
    values = np.arange(6, dtype=dtype).reshape(2, 3)
    inputs = np.ones((2, 3), dtype=dtype)
    view = values[:, :]  # a view: the check passes it through without a copy
    att = Attribution(view, np.array([0, 1]), inputs=inputs)
    values[0, 0] = inputs[0, 0] = 99.0
    assert att.values[0, 0] == 0.0 and att.inputs[0, 0] == 1.0
    assert not np.shares_memory(att.values, values)


def test_an_explanation_never_shares_a_buffer_handed_through_array_protocols():
    class Wrapper:  # as xarray does: __array__ returns the object's own buffer
        def __init__(self, data):
            self.data = data

        def __array__(self, dtype=None, copy=None):
            return self.data

    buffer = np.array([[0.0, 1.0, 2.0]])  # owns its data
    importance = FeatureImportance(Wrapper(buffer))
    assert buffer.flags.writeable  # the caller's array is not locked
    buffer[0, 0] = 99.0
    assert importance.values[0, 0] == 0.0


def test_any_saved_explanation_loads_in_a_fresh_session(tmp_path):
    from unboxed.probes import Prototypes

    path = tmp_path / "prototypes.npz"
    Prototypes(np.zeros((1, 4)), np.array([0]), np.array([-0.5])).save(path)
    code = f"from unboxed import Explanation; print(type(Explanation.load({str(path)!r})).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "Prototypes", done.stderr


def test_a_pickle_is_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps({"values": np.zeros((2, 2))}))
    with pytest.raises(ValueError, match="not an unboxed explanation file") as raised:
        Attribution.load(path)
    assert "allow_pickle" not in str(raised.value)  # numpy's advice, for any such file
    path.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(ValueError, match="not an .npz archive"):
        Attribution.load(path)


def test_foreign_and_corrupt_files_are_rejected(tmp_path, attribution):
    plain = tmp_path / "plain.npz"
    np.savez(plain, values=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="has no __unboxed__ header"):
        Attribution.load(plain)
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="not an unboxed explanation file.*single .npy array"):
        Attribution.load(npy)
    good = tmp_path / "good.npz"
    attribution.save(good)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="not an unboxed explanation file"):
        Attribution.load(cut)
    with pytest.raises(FileNotFoundError, match="no such file"):
        Attribution.load(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError, match="is a folder; expected a file"):
        Attribution.load(tmp_path)


def _archive(path, members):
    """A zip of the given raw members, each written uncompressed or deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _npy_bytes(array=None, header=None):
    buffer = io.BytesIO()
    if header is None:
        np.lib.format.write_array(buffer, array)
    else:
        np.lib.format.write_array_header_1_0(buffer, header)
        buffer.write(b"\0" * 64)
    return buffer.getvalue()


def test_damaged_archives_are_clear_errors_not_crashes(tmp_path, attribution):
    # A huge declared shape: numpy tried to allocate 7 TiB for a 1 KB file.
    huge = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    _archive(tmp_path / "huge.npz", {"values.npy": _npy_bytes(header=huge)})
    with pytest.raises(ValueError, match="declares shape"):
        Attribution.load(tmp_path / "huge.npz")
    # A member that is no array came back as bytes from read_npz.
    _archive(tmp_path / "foreign.npz", {"readme.txt": b"hello"})
    with pytest.raises(ValueError, match="is not a numpy array"):
        read_npz(tmp_path / "foreign.npz", what="arrays")
    # A damaged deflate stream raised zlib.error out of load.
    attribution.save(tmp_path / "good.npz")
    raw = bytearray((tmp_path / "good.npz").read_bytes())
    with zipfile.ZipFile(tmp_path / "good.npz") as archive:
        info = archive.getinfo("values.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + 5 : start + 40] = bytes(b ^ 0xFF for b in raw[start + 5 : start + 40])
    (tmp_path / "flipped.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="could not be read safely"):
        Attribution.load(tmp_path / "flipped.npz")


def test_saved_files_get_the_usual_permissions(tmp_path, attribution):
    # mkstemp's 0600 survived the rename: a saved result was private to its writer.
    attribution.save(tmp_path / "a.npz")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "a.npz").st_mode) == 0o666 & ~umask


def test_an_object_array_inside_the_archive_is_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, values=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="could not be read safely"):
        Attribution.load(path)


def test_wrong_class_and_newer_format_are_rejected(tmp_path, attribution, importance):
    importance.save(tmp_path / "f.npz")
    with pytest.raises(
        ValueError, match="holds a FeatureImportance, not the Attribution asked for"
    ):
        Attribution.load(tmp_path / "f.npz")
    attribution.save(tmp_path / "a.npz")
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        arrays = {n[:-4]: np.load(archive.open(n)) for n in archive.namelist()}
    header = json.loads(str(arrays["__unboxed__"]))
    header["format_version"] = 99
    arrays["__unboxed__"] = np.array(json.dumps(header))
    np.savez(tmp_path / "newer.npz", **arrays)
    with pytest.raises(ValueError, match="newer unboxed"):
        Attribution.load(tmp_path / "newer.npz")


def test_save_is_atomic(tmp_path, attribution):
    path = tmp_path / "a.npz"
    attribution.save(path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError), atomic_write(path) as handle:
        handle.write(b"half a file")
        raise RuntimeError("crash mid-write")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


def test_a_target_that_cannot_be_written_is_named(tmp_path, attribution):
    """The errors named the hidden temporary file (/proc/.x.npz.1234.tmp) instead."""
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        attribution.save(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match=r"cannot write .*file/sub/a\.npz") as raised:
        attribution.save(blocker / "sub" / "a.npz")  # a file where a folder must go
    assert ".tmp" not in str(raised.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"values": np.full((2, 3), np.nan), "target": [0, 1]}, ValueError, "values contains NaN"),
        ({"values": np.zeros((2, 3)), "target": [0]}, ValueError, r"target must have shape \(2,\)"),
        ({"values": np.zeros(3), "target": [0]}, ValueError, "values must be 2-dimensional"),
        (
            {"values": np.zeros((2, 4)), "target": [0, 1], "image_shape": (3, 3)},
            ValueError,
            "does not hold 4 features",
        ),
        (
            {"values": np.zeros((2, 3)), "target": [0, 1], "inputs": np.zeros((2, 2))},
            ValueError,
            "inputs has shape",
        ),
        (
            {"values": np.zeros((2, 3)), "target": [0, 1], "meta": {"f": object()}},
            TypeError,
            "JSON-serialisable",
        ),
        (
            {"values": np.zeros((2, 3)), "target": [0, 1], "meta": [("method", "m")]},
            TypeError,
            "meta must be a dict, got list",
        ),
        ({"values": np.zeros((0, 3)), "target": []}, ValueError, "values is empty"),
        ({"values": np.zeros((2, 0)), "target": [0, 1]}, ValueError, "no features"),
        (
            {"values": np.zeros((2, 64)), "target": [0, 1], "image_shape": (-8, -8)},
            ValueError,
            "image_shape must be a non-empty tuple of positive ints",
        ),
        (
            {"values": np.zeros((2, 4)), "target": [0, 1], "image_shape": (1, 1, 2, 2)},
            ValueError,
            r"image_shape \(1, 1, 2, 2\) does not hold 4 features; expected \(H, W\)",
        ),
        (
            {"values": np.zeros((2, 64)), "target": [0, 1], "image_shape": (8.5, 8)},
            ValueError,
            "image_shape must be a non-empty tuple of positive ints",
        ),
    ],
)
def test_attribution_rejects_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        Attribution(**kwargs)


def test_feature_importance_rejects_bad_input():
    with pytest.raises(ValueError, match="ci has shape"):
        FeatureImportance(np.zeros((2, 3)), ci=np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="low end is above its high end"):
        FeatureImportance(np.zeros((1, 1)), ci=np.array([[[5.0, -5.0]]]))
    with pytest.raises(ValueError, match="class_names has 1 entries"):
        FeatureImportance(np.zeros((2, 3)), class_names=("a",))
    with pytest.raises(ValueError, match="values contains infinity"):
        FeatureImportance(np.array([[np.inf, 0.0]]))
    two = FeatureImportance(np.arange(6.0).reshape(2, 3))
    for class_ in (1.5, "a", True):
        with pytest.raises(ValueError, match="class_ must be an int"):
            two.top_k(2, class_=class_)  # 1.5 silently meant class 1


def test_numpy_seeds_are_stored_as_ints():
    assert make_meta("m", {}, seed=np.int64(3))["seed"] == 3
    # A generator by its type name, the same for every generator: no memory address.
    assert make_meta("m", {}, seed=np.random.default_rng(0))["seed"] == "Generator"


def test_non_finite_meta_is_saved_as_strict_json(tmp_path, rng):
    # Python wrote NaN and Infinity tokens, which are not JSON and other readers refuse.
    meta = {**make_meta("m", {}), "r2": np.array([0.5, np.nan]), "worst": np.float32(np.inf)}
    attribution = Attribution(rng.normal(size=(2, 3)), np.array([0, 1]), meta)
    assert attribution.meta["r2"] == [0.5, None] and attribution.meta["worst"] is None
    attribution.save(tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as archive:
        header = str(archive["__unboxed__"])

    def refuse(token):
        raise ValueError(f"non-standard token {token}")

    assert json.loads(header, parse_constant=refuse)["meta"]["r2"] == [0.5, None]
    assert Attribution.load(tmp_path / "a.npz").meta == attribution.meta


@pytest.mark.parametrize(
    "change",
    [
        {"format_version": "1"},
        {"format_version": -5},  # loaded before
        {"format_version": True},  # loaded before
        {"fields": [1, 2]},
        {"meta": "x"},
        {"class": "Dataset"},
    ],
)
def test_malformed_headers_are_clear_errors(tmp_path, attribution, change):
    attribution.save(tmp_path / "a.npz")
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        arrays = {n[:-4]: np.load(archive.open(n)) for n in archive.namelist()}
    header = {**json.loads(str(arrays["__unboxed__"])), **change}
    arrays["__unboxed__"] = np.array(json.dumps(header))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="format version|malformed header|unknown explanation"):
        Attribution.load(tmp_path / "bad.npz")


def test_a_handed_over_array_is_kept_as_it_is():
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    att = Attribution(hand_over(values), np.array([0, 1]))
    assert np.shares_memory(att.values, values)  # no copy of a fresh result
    assert att.values.dtype == np.float32 and type(att.values) is np.ndarray
    assert not att.values.flags.writeable


def test_a_handed_over_field_skips_the_scan_that_a_given_one_gets(monkeypatch):
    # Skipping the NaN/inf scan is what hand_over is for: its caller checked already.
    scanned = []
    real = _validation.all_finite
    monkeypatch.setattr(_validation, "all_finite", lambda a: scanned.append(a.shape) or real(a))
    values, inputs = np.ones((2, 3)), np.zeros((2, 3))
    Attribution(hand_over(values), np.array([0, 1]), inputs=hand_over(inputs))
    assert scanned == []
    Attribution(values, np.array([0, 1]), inputs=inputs)
    assert scanned == [(2, 3), (2, 3)]


def test_a_negative_class_is_refused():
    imp = FeatureImportance(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="class_ must lie in"):
        imp.top_k(1, class_=-1)
    with pytest.raises(ValueError, match=r"class_ must lie in \[0, 2\), got 2"):
        imp.top_k(1, class_=2)  # one past the last row


def test_an_explanation_never_shares_a_memory_mapped_buffer(tmp_path):
    values = np.memmap(tmp_path / "values.dat", dtype=np.float64, mode="w+", shape=(2, 3))
    values[:] = np.arange(6.0).reshape(2, 3)
    att = Attribution(values, np.array([0, 1]))
    assert type(att.values) is np.ndarray and not np.shares_memory(att.values, values)
    values[0, 0] = 99.0  # the caller writes on into the mapped file
    assert att.values[0, 0] == 0.0


def test_numpy_bools_and_paths_in_meta_become_plain_json(tmp_path):
    meta = make_meta("m", {"normalise": np.True_, "checkpoint": tmp_path / "run.json"})
    att = Attribution(np.zeros((1, 2)), np.array([0]), meta)
    expected = {"normalise": True, "checkpoint": str(tmp_path / "run.json")}
    assert att.meta["parameters"] == expected
    att.save(tmp_path / "a.npz")
    assert Attribution.load(tmp_path / "a.npz").meta["parameters"] == expected


def test_top_k_needs_a_positive_int(attribution, importance):
    for k in (0, -1, 1.5):
        with pytest.raises(ValueError, match="k must be an int >= 1"):
            attribution.top_k(k)
        with pytest.raises(ValueError, match="k must be an int >= 1"):
            importance.top_k(k, class_=0)


def test_target_and_ci_are_read_only_copies_of_the_callers_arrays():
    target = np.array([0, 1])
    att = Attribution(np.zeros((2, 3)), target)
    target[0] = 1
    assert att.target.tolist() == [0, 1] and not att.target.flags.writeable
    values = np.zeros((1, 2))
    ci = np.stack([values - 1, values + 1], axis=-1)
    importance = FeatureImportance(values, ci=ci)
    ci[0, 0, 0] = -50.0
    assert importance.ci[0, 0, 0] == -1.0 and not importance.ci.flags.writeable


def test_a_zero_width_interval_is_allowed():
    # A deterministic importance has no spread: low == high is a valid interval.
    values = np.array([[0.5, 1.0]])
    importance = FeatureImportance(values, ci=np.stack([values, values], axis=-1))
    np.testing.assert_array_equal(importance.ci[..., 0], importance.ci[..., 1])


def test_shapes_and_names_are_stored_as_tuples_of_plain_values(tmp_path):
    att = Attribution(
        np.zeros((1, 4)),
        np.array([0]),
        image_shape=[2, 2],
        feature_names=np.array(["a", "b", "c", "d"]),
    )
    assert att.image_shape == (2, 2) and type(att.image_shape) is tuple
    assert att.feature_names == ("a", "b", "c", "d")
    assert all(type(name) is str for name in att.feature_names)
    assert FeatureImportance(np.zeros((2, 1)), class_names=[0, 1]).class_names == ("0", "1")
    att.save(tmp_path / "a.npz")
    loaded = Attribution.load(tmp_path / "a.npz")
    assert loaded.image_shape == (2, 2) and loaded.feature_names == ("a", "b", "c", "d")


def test_meta_records_seeds_as_plain_json_values():
    meta = make_meta("m", {"alpha": None})
    assert meta["seed"] is None and meta["parameters"] == {"alpha": None}
    seed = make_meta("m", {}, seed=np.int64(3))["seed"]
    assert type(seed) is int  # not a numpy int, which json.dumps refuses


def test_meta_records_numpy_number_settings_as_python_numbers():
    """A setting the checks accepted as np.asarray(200) or np.float32(0.1) is stored as
    the number: json.dumps refuses an ndarray and a numpy float32."""
    parameters = {"steps": np.asarray(200), "lr": np.float32(0.5), "name": "x", "bounds": [0, 1]}
    meta = make_meta("m", parameters)
    assert meta["parameters"] == {"steps": 200, "lr": 0.5, "name": "x", "bounds": [0, 1]}
    assert type(meta["parameters"]["steps"]) is int and type(meta["parameters"]["lr"]) is float
    json.dumps(meta)


def test_a_header_with_an_unknown_field_is_a_clear_error(tmp_path, attribution):
    attribution.save(tmp_path / "a.npz")
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        arrays = {n[:-4]: np.load(archive.open(n)) for n in archive.namelist()}
    header = json.loads(str(arrays["__unboxed__"]))
    header["fields"]["colour"] = "red"
    arrays["__unboxed__"] = np.array(json.dumps(header))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="not a valid Attribution: .*colour"):
        Attribution.load(tmp_path / "bad.npz")


def test_a_subclass_loads_through_its_parent_class(tmp_path, monkeypatch):
    # The subclass registers itself; the registry is put back afterwards, so that the
    # contract's check that every explanation class is registered holds in any order.
    monkeypatch.setattr(Explanation, "_registry", dict(Explanation._registry))

    class LabelledAttribution(Attribution):
        pass

    LabelledAttribution(np.zeros((1, 2)), np.array([0])).save(tmp_path / "a.npz")
    assert type(Attribution.load(tmp_path / "a.npz")) is LabelledAttribution
    with pytest.raises(ValueError, match="holds a LabelledAttribution, not the FeatureImportance"):
        FeatureImportance.load(tmp_path / "a.npz")


def test_top_k_breaks_ties_by_the_lower_index_on_wide_rows():
    # Small rows sort stably by accident; numpy's default sort is not stable on wide
    # ones, so only a wide row with many ties pins the documented tie-break.
    values = np.random.default_rng(0).integers(0, 3, size=(3, 200)).astype(float)
    expected = np.array([sorted(range(200), key=lambda j: (-row[j], j)) for row in values])
    att = Attribution(values, np.zeros(3, dtype=int))
    np.testing.assert_array_equal(att.top_k(200), expected)
    np.testing.assert_array_equal(FeatureImportance(values).top_k(50, class_=2), expected[2, :50])


def test_non_finite_inputs_and_ci_are_refused():
    # A NaN in the plotted inputs or in an interval would poison every later plot
    # and comparison as silently as one in values.
    with pytest.raises(ValueError, match="inputs contains NaN"):
        Attribution(np.zeros((2, 3)), [0, 1], inputs=np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="inputs contains infinity"):
        Attribution(np.zeros((1, 2)), [0], inputs=np.array([[0.0, np.inf]]))
    ci = np.zeros((1, 2, 2))
    ci[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="ci contains NaN"):
        FeatureImportance(np.zeros((1, 2)), ci=ci)


def test_an_interval_inverted_by_a_little_is_refused():
    # Not only a grossly swapped interval: low above high by any amount is wrong.
    with pytest.raises(ValueError, match="low end is above its high end"):
        FeatureImportance(np.array([[0.5]]), ci=np.array([[[0.5001, 0.5]]]))


def test_a_single_string_of_names_is_one_name_not_its_letters():
    # "abc" is one name: split into letters it would pass as three class names.
    with pytest.raises(ValueError, match="class_names has 1 entries; expected 3"):
        FeatureImportance(np.zeros((3, 2)), class_names="abc")
    att = Attribution(np.zeros((1, 1)), [0], feature_names="age")
    assert att.feature_names == ("age",)


def test_a_save_interrupted_mid_write_keeps_the_earlier_file(tmp_path, attribution, monkeypatch):
    path = tmp_path / "a.npz"
    attribution.save(path)
    before = path.read_bytes()

    half_then_ctrl_c = cut_off_mid_write(b"PK\x03\x04 half an archive")
    monkeypatch.setattr(np, "savez_compressed", half_then_ctrl_c)
    monkeypatch.setattr(np, "savez", half_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        dataclasses.replace(attribution, values=attribution.values + 1).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
    np.testing.assert_array_equal(Attribution.load(path).values, attribution.values)


def test_an_attribution_keeps_its_class_names_and_loads_files_saved_without(tmp_path):
    att = Attribution(np.ones((2, 3)), np.array([1, 0]), class_names=("neg", "pos"))
    att.save(tmp_path / "a.npz")
    loaded = Attribution.load(tmp_path / "a.npz")
    assert loaded.class_names == ("neg", "pos") and loaded.class_name(0) == "pos"
    # A file written before attributions had class names: its header has no such field.
    save_without_field(tmp_path / "a.npz", "class_names", tmp_path / "old.npz")
    old = Attribution.load(tmp_path / "old.npz")
    assert old.class_names is None and old.class_name(0) == "1"
    with pytest.raises(ValueError, match="target names class 1 but class_names has 1 names"):
        Attribution(np.ones((2, 3)), np.array([1, 0]), class_names=("neg",))


def test_nested_class_names_are_refused_not_read_as_one_name():
    # iris's labels as a (1, 3) row: they became the one name "['setosa' ...]", and a
    # plot titled class 0 by it without a word.
    from sklearn.datasets import load_iris

    labels = load_iris().target_names
    values, target = np.ones((2, 4)), np.array([0, 0])
    with pytest.raises(ValueError, match=r"class_names must be a flat .*shape \(1, 3\)"):
        Attribution(values, target, class_names=labels[None, :])
    with pytest.raises(ValueError, match=r"class_names must be a flat .*element \['setosa'\]"):
        Attribution(values, target, class_names=[["setosa"], "versicolor"])
    assert Attribution(values, target, class_names=labels).class_names == tuple(labels)


def test_nested_class_names_of_a_feature_importance_are_refused_too():
    # They became "['a' 'b']" for one row, "['a']" and "['b']" for a (2, 1) column.
    with pytest.raises(ValueError, match=r"class_names must be a flat .*shape \(1, 2\)"):
        FeatureImportance(np.ones((1, 3)), class_names=[["a", "b"]])
    with pytest.raises(ValueError, match=r"class_names must be a flat .*shape \(2, 1\)"):
        FeatureImportance(np.ones((2, 3)), class_names=np.array([["a"], ["b"]]))
    with pytest.raises(ValueError, match=r"class_names must be a flat .*element \['a'\]"):
        FeatureImportance(np.ones((2, 3)), class_names=[["a"], "b"])
    with pytest.raises(ValueError, match="class_names has 1 entries; expected 2"):
        FeatureImportance(np.ones((2, 3)), class_names="ab")
    names = FeatureImportance(np.ones((2, 3)), class_names=np.array(["a", "b"])).class_names
    assert names == ("a", "b")
    assert FeatureImportance(np.ones((1, 3)), class_names=[0]).class_names == ("0",)


def test_a_bool_target_is_refused_as_it_names_no_class(tmp_path):
    # Attribution.target is a column index: [True, False] was read as classes 1 and 0.
    with pytest.raises(TypeError, match="target holds a bool"):
        Attribution(np.ones((2, 3)), np.array([True, False]))
    # nor does a file holding one load
    Attribution(np.ones((2, 3)), np.array([1, 0])).save(tmp_path / "a.npz")
    arrays = dict(np.load(tmp_path / "a.npz", allow_pickle=False))
    arrays["target"] = arrays["target"].astype(bool)
    np.savez(tmp_path / "bool.npz", **arrays)
    with pytest.raises(ValueError, match="not a valid Attribution: target holds a bool"):
        Attribution.load(tmp_path / "bool.npz")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (2, r"row must lie in \[0, 2\), got 2"),
        (-1, r"row must lie in \[0, 2\), got -1"),
        (1.0, "row must be an int, got 1.0"),
        ("1", "row must be an int, got '1'"),
        (True, "row must be an int, got True"),
    ],
)
def test_class_name_refuses_a_row_out_of_range_by_name(row, message):
    # numpy's IndexError ("index 2 is out of bounds for axis 0") named no argument, and
    # row -1 silently named the last row's class.
    att = Attribution(np.ones((2, 3)), np.array([1, 0]), class_names=("neg", "pos"))
    with pytest.raises(ValueError, match=message):
        att.class_name(row)
    assert att.class_name(np.int64(1)) == "neg"


def test_a_meta_that_holds_itself_is_refused_by_name():
    # It raised a bare RecursionError from deep in the JSON conversion.
    meta: dict = {"method": "lime"}
    meta["parameters"] = [meta]
    with pytest.raises(TypeError, match="meta must be JSON-serialisable: it holds itself"):
        Attribution(np.ones((1, 3)), np.array([0]), meta=meta)
    with pytest.raises(TypeError, match="meta must be JSON-serialisable: it holds itself"):
        FeatureImportance(np.ones((1, 3)), meta=meta)


@pytest.mark.parametrize("path", [None, 3, b"a.npz"])
def test_save_and_load_refuse_a_path_that_is_no_str_or_path_by_name(path, tmp_path):
    # pathlib's "expected str, bytes or os.PathLike object, not NoneType" named no argument
    attribution = Attribution(np.ones((1, 3)), np.array([0]))
    message = f"path must be a str or path, got {type(path).__name__}$"
    with pytest.raises(TypeError, match=message):
        attribution.save(path)
    with pytest.raises(TypeError, match=message):
        Attribution.load(path)
    with pytest.raises(TypeError, match=message):
        FeatureImportance.load(path)
