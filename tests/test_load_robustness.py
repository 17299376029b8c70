"""Round E2: every way to read a file back, against corrupt and foreign files.

"Bad input gets a clear error, never a crash deep inside numpy or a silent NaN. That
covers ... a corrupt or foreign file to ``load``." Each loader (a result's ``load``,
``Estimate.load``, ``zoo.load``, the MNIST and IDX readers, and every ``checkpoint=``
of a resumable fit) is fed damaged files: it must raise ``ValueError`` or ``OSError``
(``FileNotFoundError``, ``IsADirectoryError``) naming the file, never a KeyError,
TypeError or RecursionError from json, numpy or torch, never hang, and never give back
NaN. A checkpoint is damaged after its header was found to belong to the fit, where
only the loader's own checks stand between the file and the fit.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from tests.test_interruption import RESUMABLE, Replaces
from tests.test_interruption import problem as problem  # the fixture
from unboxed import Attribution, ExampleSet, FeatureImportance, load_dataset, make_meta, zoo
from unboxed._io import read_npz, write_json, write_npz, write_npz_with_header
from unboxed.data import DatasetNotInstalledError, read_idx
from unboxed.evaluate import Estimate
from unboxed.zoo._io import (
    CHECKSUM_KEY,
    _tensors_digest,
    load_with_record,
    save_tensors,
    save_with_record,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:JGMM EM did not converge"),
    pytest.mark.filterwarnings("ignore:the higher components do not map one-to-one"),
]

#: JSON nested deeper than Python's parser recurses: a RecursionError escaped every
#: JSON reader.
DEEP_JSON = "[" * 100_000 + "]" * 100_000


def _object_npz() -> bytes:
    """An ``.npz`` holding a pickled object array (never to be unpickled)."""
    buffer = io.BytesIO()
    np.savez(buffer, values=np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


# ------------------------------------------------------------------ file loaders
def _attribution():
    rng = np.random.default_rng(0)
    meta = make_meta("test", {}, seed=0)
    return Attribution(rng.normal(size=(3, 4)), np.array([0, 1, 1]), meta)


def _example_set():
    return ExampleSet(
        kind="prototype",
        source="generated",
        values=np.ones((2, 3)),
        scores=np.array([0.5, 0.2]),
        components=np.array([0, 1]),
        groups=np.array([0, 1]),
        top_classes=np.array([[0, 1], [1, 0]]),
        top_proba=np.array([[0.9, 0.1], [0.8, 0.2]]),
        meta=make_meta("test", {}),
    )


def _save_result(make):
    def save(folder):
        make().save(folder / "result.npz")
        return folder / "result.npz"

    return save


def _save_importance(folder):
    FeatureImportance(np.ones((2, 3)), make_meta("test", {})).save(folder / "result.npz")
    return folder / "result.npz"


def _save_estimate(folder):
    Estimate(0.5, (0.4, 0.6), 10).save(folder / "estimate.json")
    return folder / "estimate.json"


def _save_model_record(folder):
    """A saved zoo model; the file damaged is its ``model.json``."""
    zoo.save(zoo.mlp((3,), n_features=4, n_classes=2, random_state=0), folder / "model")
    return folder / "model" / "model.json"


def _save_model_weights(folder):
    zoo.save(zoo.mlp((3,), n_features=4, n_classes=2, random_state=0), folder / "model")
    return folder / "model" / "model.safetensors"


def _load_model(file):
    return zoo.load(file.parent)


def _save_idx(folder):
    header = bytes([0, 0, 0x08, 1]) + (4).to_bytes(4, "big")
    (folder / "labels-idx1-ubyte").write_bytes(header + bytes([1, 2, 3, 4]))
    return folder / "labels-idx1-ubyte"


def _save_mnist(folder):
    """An MNIST folder of ten one-image digit files; the file damaged is ``3.json``."""
    digits = folder / "mnist"
    digits.mkdir()
    for d in range(10):
        (digits / f"{d}.json").write_text(json.dumps({"data": [d / 10] * 784}))
    return digits / "3.json"


def _load_mnist(file):
    return load_dataset("mnist", path=file.parent)


#: name -> (save a valid file into a folder and return it, load that file, is it JSON)
LOADERS = {
    "Attribution.load": (_save_result(_attribution), Attribution.load, False),
    "FeatureImportance.load": (_save_importance, FeatureImportance.load, False),
    "ExampleSet.load": (_save_result(_example_set), ExampleSet.load, False),
    "Estimate.load": (_save_estimate, Estimate.load, True),
    "zoo.load (model.json)": (_save_model_record, _load_model, True),
    "zoo.load (model.safetensors)": (_save_model_weights, _load_model, False),
    "read_idx": (_save_idx, read_idx, False),
    "load_dataset('mnist')": (_save_mnist, _load_mnist, True),
}

#: The file of another loader each one is given: a file of another kind, not garbage.
FOREIGN = {
    "Attribution.load": "ExampleSet.load",
    "FeatureImportance.load": "Attribution.load",
    "ExampleSet.load": "Attribution.load",
    "Estimate.load": "zoo.load (model.json)",
    "zoo.load (model.json)": "Estimate.load",
    "zoo.load (model.safetensors)": "Attribution.load",
    "read_idx": "zoo.load (model.safetensors)",
    "load_dataset('mnist')": "Estimate.load",
}


def _corrupt(kind, valid: bytes, name, tmp_path) -> bytes | None:
    """The bytes of a damaged file of ``kind`` (None: not a file, see the test)."""
    if kind == "empty":
        return b""
    if kind == "truncated":
        return valid[: len(valid) // 2]
    if kind == "random bytes":
        return np.random.default_rng(0).bytes(512)
    if kind == "pickled object array":
        return _object_npz()
    if kind == "foreign":
        save = LOADERS[FOREIGN[name]][0]
        (tmp_path / "foreign").mkdir()
        return save(tmp_path / "foreign").read_bytes()
    if kind == "deeply nested JSON":
        return DEEP_JSON.encode()
    return None


CORRUPTIONS = (
    "empty",
    "truncated",
    "random bytes",
    "pickled object array",
    "foreign",
    "deeply nested JSON",
    "a folder",
    "missing",
)
#: Every loader against every corruption; nested JSON only where a JSON file is read
#: (a binary file's header is nested in test_a_deeply_nested_header_is_a_clear_error).
CASES = [
    (name, kind)
    for name, (_, _, is_json) in LOADERS.items()
    for kind in CORRUPTIONS
    if kind != "deeply nested JSON" or is_json
]


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_a_damaged_or_foreign_file_is_a_clear_error(tmp_path, name, kind):
    save, load, _ = LOADERS[name]
    file = save(tmp_path)
    data = _corrupt(kind, file.read_bytes(), name, tmp_path)
    file.unlink()
    if kind == "a folder":
        file.mkdir()
    elif data is not None:
        file.write_bytes(data)
    with pytest.raises((ValueError, OSError)) as raised:
        load(file)
    # The library's own error (a data set's folder missing a file is not installed),
    # not one that escaped from a parser, naming the file or, for a folder's loader,
    # the folder.
    assert type(raised.value) in (
        ValueError,
        FileNotFoundError,
        IsADirectoryError,
        DatasetNotInstalledError,
    ), repr(raised.value)
    assert str(file.parent) in str(raised.value)


def _result_header(change):
    def rewrite(path):
        arrays = read_npz(path, what="a result")
        header = json.loads(str(arrays.pop("__unboxed__")))
        change(header)
        write_npz(path, {**arrays, "__unboxed__": np.array(json.dumps(header))})

    return rewrite


def _json_file(change):
    def rewrite(path):
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))

    return rewrite


#: The JSON headers of the file loaders: (save, load, rewrite the header by a change,
#: a field it needs, a field to give the wrong type, and that type's value).
HEADERS = {
    "Attribution.load": (
        _save_result(_attribution),
        Attribution.load,
        _result_header,
        "class",
        "fields",
        [],
    ),
    "Estimate.load": (_save_estimate, Estimate.load, _json_file, "n", "mean", "0.5"),
    "zoo.load": (_save_model_record, _load_model, _json_file, "config", "config", ["mlp"]),
}


def _header_changes(needed, field, wrong):
    return {
        "another format": lambda header: header.update(format="unboxed-other"),
        "a future version": lambda header: header.update(format_version=2),
        "no version": lambda header: header.pop("format_version"),
        "a version as text": lambda header: header.update(format_version="1"),
        f"no {needed}": lambda header: header.pop(needed),
        f"{field} of the wrong type": lambda header: header.update({field: wrong}),
    }


@pytest.mark.parametrize(
    ("name", "change"),
    [(name, change) for name, row in HEADERS.items() for change in _header_changes(*row[3:])],
)
def test_a_header_of_another_format_version_or_shape_is_a_clear_error(tmp_path, name, change):
    save, load, rewrite, *fields = HEADERS[name]
    file = save(tmp_path)
    rewrite(_header_changes(*fields)[change])(file)
    with pytest.raises(ValueError) as raised:
        load(file)
    assert type(raised.value) is ValueError and str(file) in str(raised.value)


ARRAY_CHANGES = {
    "a NaN": lambda values: np.where(values == values.flat[0], np.nan, values),
    "an infinity": lambda values: np.where(values == values.flat[0], np.inf, values),
    "another shape": lambda values: values.reshape(-1),
    "text": lambda values: values.astype(str),
}


@pytest.mark.parametrize("change", list(ARRAY_CHANGES))
@pytest.mark.parametrize("name", ["Attribution.load", "FeatureImportance.load", "ExampleSet.load"])
def test_a_result_whose_values_are_not_finite_numbers_of_its_shape_is_refused(
    tmp_path, name, change
):
    save, load, _ = LOADERS[name]
    file = save(tmp_path)
    arrays = read_npz(file, what="a result")
    arrays["values"] = ARRAY_CHANGES[change](arrays["values"])
    write_npz(file, arrays)
    with pytest.raises(ValueError) as raised:
        load(file)
    assert type(raised.value) is ValueError and str(file) in str(raised.value)


def _rewrite_result_header(path, header_text):
    arrays = read_npz(path, what="a result")
    write_npz(path, {**arrays, "__unboxed__": np.array(header_text)})


def _rewrite_checkpoint_header(path, header_text):
    arrays = read_npz(path, what="a checkpoint")
    arrays["header"] = np.frombuffer(header_text.encode(), dtype=np.uint8)
    write_npz(path, arrays)


def _rewrite_record(path, record_text):
    tensors, _ = load_with_record(path, what="a checkpoint")
    blob = torch.frombuffer(bytearray(record_text.encode()), dtype=torch.uint8)
    tensors["record"] = blob
    save_tensors(path, tensors, metadata={CHECKSUM_KEY: _tensors_digest(tensors)})


@pytest.mark.parametrize(
    ("what", "rewrite"),
    [
        ("result", _rewrite_result_header),
        ("DecisionNet", _rewrite_checkpoint_header),
        ("zoo.train", _rewrite_record),
    ],
)
def test_a_deeply_nested_header_is_a_clear_error(tmp_path, problem, what, rewrite):
    """The JSON header inside a binary file: an explanation's, an ``.npz`` checkpoint's
    and a safetensors checkpoint's record."""
    if what == "result":
        path = _save_result(_attribution)(tmp_path)
        rewrite(path, DEEP_JSON)
        with pytest.raises(ValueError, match="nests too deep") as raised:
            Attribution.load(path)
    else:
        path = tmp_path / "checkpoint"
        _interrupted(RESUMABLE[what], problem, path)
        rewrite(path, DEEP_JSON)
        with pytest.raises(ValueError, match="not an unboxed|is not a") as raised:
            RESUMABLE[what](problem, path)
    assert type(raised.value) is ValueError and str(path) in str(raised.value)


# ------------------------------------------------------------------ checkpoints
def _interrupted(run, problem, path, stop=2):
    """Leave at ``path`` the checkpoint of ``run`` interrupted just after save ``stop``."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        Replaces(monkeypatch, stop=stop, after=True)
        with pytest.raises(KeyboardInterrupt):
            run(problem, path)


@pytest.fixture(scope="module")
def checkpoints(problem, tmp_path_factory):
    """The bytes of an interrupted checkpoint of each resumable fit, and a saved zoo
    model's weights (a safetensors file that is no checkpoint)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    saved = {}
    for name, run in RESUMABLE.items():
        _interrupted(run, problem, folder / name)
        saved[name] = (folder / name).read_bytes()
    zoo.save(zoo.mlp((3,), n_features=4, n_classes=2, random_state=0), folder / "model")
    saved["a model's weights"] = (folder / "model" / "model.safetensors").read_bytes()
    return saved


#: The checkpoint of another fit each one is given.
OTHER_FIT = {
    "zoo.train": "a model's weights",
    "zoo.train_vae": "zoo.train",
    "TreeRegularizedMLP": "zoo.train",
    "DMMMEN": "JGMM",
    "JGMM": "DecisionNet",
    "JGMMExplainer": "DMMMEN",
    "Distiller": "a model's weights",
    "DecisionNet": "DMMMEN",
}


@pytest.mark.parametrize(
    "kind", ["empty", "truncated", "random bytes", "pickled object array", "foreign"]
)
@pytest.mark.parametrize("name", list(RESUMABLE))
def test_a_damaged_or_foreign_checkpoint_is_a_clear_error(
    tmp_path,
    problem,
    checkpoints,
    name,
    kind,
):
    valid = checkpoints[name]
    data = {
        "empty": b"",
        "truncated": valid[: len(valid) // 2],
        "random bytes": np.random.default_rng(0).bytes(512),
        "pickled object array": _object_npz(),
        "foreign": checkpoints[OTHER_FIT[name]],
    }[kind]
    path = tmp_path / "checkpoint"
    path.write_bytes(data)
    with pytest.raises(ValueError) as raised:
        RESUMABLE[name](problem, path)
    assert type(raised.value) is ValueError and str(path) in str(raised.value)
    assert path.read_bytes() == data  # refused, not overwritten


# ------------------------------------------------ checkpoints damaged inside
def _in_npz(change_header=None, change_arrays=None):
    """A change to an ``.npz`` checkpoint's header or arrays (its fingerprint kept)."""

    def change(path):
        arrays = read_npz(path, what="a checkpoint")
        header = json.loads(bytes(arrays.pop("header")).decode())
        for apply, target in ((change_header, header), (change_arrays, arrays)):
            if apply is not None:
                apply(target)
        write_npz_with_header(path, header, arrays)

    return change


def _in_record(change_tensors=None, change_record=None):
    """A change to a safetensors checkpoint's tensors or record, its checksum redone."""

    def change(path):
        tensors, record = load_with_record(path, what="a checkpoint")
        for apply, target in ((change_tensors, tensors), (change_record, record)):
            if apply is not None:
                apply(target)
        save_with_record(path, tensors, record)

    return change


def _in_json(change_record):
    def change(path):
        record = json.loads(path.read_text())
        change_record(record)
        write_json(path, record)

    return change


def _nan_at(name):
    def change(arrays):
        value = np.array(arrays[name], dtype=np.float64 if name.startswith("class") else None)
        value.reshape(-1)[0] = np.nan
        arrays[name] = value

    return change


def _tensor_nan_at(name, value=float("nan")):
    def change(tensors):
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = value

    return change


def _set(key, value):
    def change(mapping):
        *path, last = key.split(".")
        for part in path:
            mapping = mapping[part]
        mapping[last] = value

    return change


def _negate(name):
    """Every value of the array ``name`` negated, its largest first made at least 1."""

    def change(arrays):
        arrays[name] = -(np.abs(arrays[name]) + 1)

    return change


def _set_all(name, value):
    def change(arrays):
        arrays[name] = np.full(arrays[name].shape, value)

    return change


def _delete(key):
    return lambda mapping: mapping.pop(key)


def _reshape(name):
    def change(arrays):
        arrays[name] = arrays[name].reshape(-1)[1:].clone()

    return change


def _as_float(name):
    def change(arrays):
        arrays[name] = arrays[name].astype(np.float64) + 0.5

    return change


def _unchecked_rng(value):
    """A JGMMExplainer record whose generator counter is ``value``, with no checksum (as
    a file saved before checksums) so that only the generator's check can refuse it."""

    def change(record):
        record["rng"]["uinteger"] = value
        del record["sha256"]

    return change


#: (fit, save to interrupt after, change, what the error says). Each row failed before:
#: its comment says how.
DAMAGED = {
    # KeyError inside Adam.step
    "Adam's second moment missing": (
        "zoo.train",
        2,
        _in_record(_delete("optim.0.exp_avg_sq")),
        "optimizer state",
    ),
    # FloatingPointError "the training loss became nan", an epoch later
    "a NaN in Adam's second moment": (
        "zoo.train",
        2,
        _in_record(_tensor_nan_at("optim.0.exp_avg_sq")),
        "optimizer state",
    ),
    # RuntimeError from torch's arithmetic
    "a moment of another shape": (
        "zoo.train_vae",
        2,
        _in_record(_reshape("optim.0.exp_avg")),
        "optimizer state",
    ),
    # FloatingPointError "the loss became nan" (inf passed ">= 1")
    "an infinite path length": (
        "TreeRegularizedMLP",
        2,
        _in_record(_tensor_nan_at("extra.apls", float("inf"))),
        "records",
    ),
    # loaded silently as the training's penalty
    "a NaN in the tree surrogate": (
        "TreeRegularizedMLP",
        2,
        _in_record(_tensor_nan_at("extra.omega.net.0.weight")),
        "surrogate",
    ),
    # TypeError: 'str' object does not support item assignment
    "a running chain that is text": ("DMMMEN", 2, _in_npz(_set("running", "x")), "damaged DMM"),
    # dropped silently: the fit started the chain over and saved over it
    "a running chain of another name": (
        "DMMMEN",
        2,
        _in_npz(_set("running.unit", "class1/chain0")),
        "running chain is 'class1/chain0'",
    ),
    # RuntimeWarning "invalid value encountered in log", and NaN in the surrogate
    "a negative variance among the draws": (
        "DMMMEN",
        2,
        _in_npz(change_arrays=_negate("running/draws/sigma2")),
        "draws hold values out of their range",
    ),
    # RuntimeWarning "overflow encountered in exp"
    "a log weight above 0 among the draws": (
        "DMMMEN",
        2,
        _in_npz(change_arrays=_set_all("running/draws/log_pi", 1.0)),
        "draws hold values out of their range",
    ),
    # RuntimeWarning "overflow encountered in cast": the draws' beta is float32
    "a float32 draw past float32's range": (
        "DMMMEN",
        2,
        _in_npz(change_arrays=_set_all("running/draws/beta", 1e300)),
        r"its beta is float64 .*within float32's range",
    ),
    # IndexError from numpy's indexing
    "a sweep before the first": ("DMMMEN", 2, _in_npz(_set("running.sweep", -1)), "sweep"),
    # KeyError 'z'
    "a chain state without its labels": (
        "DMMMEN",
        2,
        _in_npz(change_arrays=_delete("running/state/z")),
        "arrays",
    ),
    # IndexError: arrays used as indices must be of integer type
    "float priors in a chain state": (
        "DMMMEN",
        2,
        _in_npz(change_arrays=_as_float("running/state/c")),
        "running/state/c|its c",
    ),
    # FloatingPointError "the objective became nan", blaming the data
    "a NaN stick in a chain state": (
        "DMMMEN",
        2,
        _in_npz(change_arrays=_nan_at("running/state/u")),
        "its u",
    ),
    # loaded silently: a fitted DMMMEN with NaN coefficients
    "a NaN in a finished class's posterior": (
        "DMMMEN",
        9,
        _in_npz(change_arrays=_nan_at("class0/posterior/coef")),
        "its coef",
    ),
    # OverflowError from numpy's generator
    "a generator counter past 64 bits": (
        "JGMM",
        2,
        _in_npz(_set("rng.uinteger", 2**70)),
        "generator state",
    ),
    # loaded silently: a NaN in the trace the fit continues
    "a NaN in the EM objective": (
        "JGMM",
        2,
        _in_npz(change_arrays=_nan_at("current/objective")),
        "objective",
    ),
    # resumed silently from another state: numpy truncated the counter 0.5 to 0
    "a generator state that is a float": (
        "JGMM",
        2,
        _in_npz(_set("rng.state.state", 0.5)),
        "numpy reads it as another state",
    ),
    # resumed silently from another state: numpy took true for 1
    "a generator increment that is true": (
        "DMMMEN",
        2,
        _in_npz(_set("running.rng.state.inc", True)),
        "numpy reads it as another state",
    ),
    # OverflowError from numpy's generator
    "a negative generator counter": (
        "JGMMExplainer",
        2,
        _in_json(_unchecked_rng(-1)),
        "generator state",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_checkpoint_damaged_inside_is_a_clear_error(tmp_path, problem, case):
    name, stop, change, message = DAMAGED[case]
    path = tmp_path / "checkpoint"
    _interrupted(RESUMABLE[name], problem, path, stop=stop)
    change(path)
    with pytest.raises(ValueError, match=message) as raised:
        RESUMABLE[name](problem, path)
    assert type(raised.value) is ValueError and str(path) in str(raised.value)


@pytest.mark.parametrize(
    "data",
    [["0.5"] * 784, [True] * 784, [0.5] * 783 + [True]],
    ids=["text", "bools", "a bool among numbers"],
)
def test_mnist_pixels_that_are_not_numbers_are_refused(tmp_path, data):
    # float32 took the text "0.5" and true as pixel values; without a dtype numpy
    # still reads a true among floats as 1.0.
    file = _save_mnist(tmp_path)
    file.write_text(json.dumps({"data": data}))
    with pytest.raises(ValueError, match="not an mnist digits file") as raised:
        _load_mnist(file)
    assert str(file) in str(raised.value)


# ------------------------------------------- every saved result class, one table
@pytest.fixture(scope="module")
def saved_results(planted, planted_logreg, tmp_path_factory):
    """A small real file of every class that saves through ``SavedResult``."""
    from unboxed import BlackBox
    from unboxed.evaluate import deletion_curve, deletion_test, infidelity, keep_top_k
    from unboxed.probes import Prototypes

    X, y, support = planted.X_test[:40], planted.y_test[:40], planted.support
    box = BlackBox.from_sklearn(planted_logreg)
    values = np.random.default_rng(0).normal(size=(6, X.shape[1]))
    results = {
        "Attribution": _attribution(),
        "ExampleSet": _example_set(),
        "FeatureImportance": FeatureImportance(np.ones((2, 3)), make_meta("test", {})),
        "Prototypes": Prototypes(
            np.ones((2, 4)), np.array([0, 1]), np.array([-0.1, -0.2]), meta=make_meta("t", {})
        ),
        "DeletionCurve": deletion_curve(box, X[:6], support, max_k=3, n_boot=20, random_state=0),
        "PCRResult": deletion_test(
            box, X, support, [1, 2], n_boot=20, random_state=0, verbose=False
        ),
        "KeepTopKResult": keep_top_k(
            box, X, y, support, 2, n_boot=20, random_state=0, verbose=False
        ),
        "InfidelityResult": infidelity(
            box, X[:6], values, scale=0.1, n_perturb=8, n_boot=20, random_state=0
        ),
    }
    folder = tmp_path_factory.mktemp("saved_results")
    files = {}
    for name, result in results.items():
        result.save(folder / f"{name}.npz")
        files[name] = (folder / f"{name}.npz").read_bytes()
    return files


def _with_header(text):
    """The file with its JSON header replaced by ``text`` (valid JSON of another shape)."""

    def change(data, other, path):
        path.write_bytes(data)
        _rewrite_result_header(path, text)
        return path.read_bytes()

    return change


def _truncated(fraction):
    return lambda data, other, path: data[: int(len(data) * fraction)]


def _arrays_of(data, other, path):
    """The arrays of another class's file under this file's header."""
    path.write_bytes(other)
    theirs = read_npz(path, what="a result")
    path.write_bytes(data)
    ours = read_npz(path, what="a result")
    write_npz(path, {**theirs, "__unboxed__": ours["__unboxed__"]})
    return path.read_bytes()


def _header_of(data, other, path):
    """This file's arrays under another class's header."""
    path.write_bytes(other)
    header = read_npz(path, what="a result")["__unboxed__"]
    path.write_bytes(data)
    write_npz(path, {**read_npz(path, what="a result"), "__unboxed__": header})
    return path.read_bytes()


_HEAD = '{"format": "unboxed-explanation", "format_version": 1, "class": %s, "fields": %s}'
RESULT_DAMAGE = {
    **{f"truncated to {f:.0%}": _truncated(f) for f in (0.0, 0.1, 0.5, 0.9, 0.999)},
    "header {}": _with_header("{}"),
    "header []": _with_header("[]"),
    "header a string": _with_header('"x"'),
    "header 1e308": _with_header("1e308"),
    "header nested arrays": _with_header("[[[[1]]]]"),
    "a version of 10**30": _with_header(
        '{"format": "unboxed-explanation", "format_version": 1000000000000000000000000000000}'
    ),
    "a version NaN as text": _with_header(
        '{"format": "unboxed-explanation", "format_version": "NaN"}'
    ),
    "the abstract Explanation": _with_header(_HEAD % ('"Explanation"', "{}")),
    "the abstract SavedWithEstimates": _with_header(_HEAD % ('"SavedWithEstimates"', "{}")),
    "a class that is a number": _with_header(_HEAD % ("5", "{}")),
    "fields that are a list": _with_header(_HEAD % ('"Attribution"', "[1, 2]")),
    "the arrays of another class": _arrays_of,
    "the header of another class": _header_of,
}
#: The class whose file each one is swapped with: another kind, with arrays of its own.
SWAPPED_WITH = {
    "Attribution": "DeletionCurve",
    "ExampleSet": "Prototypes",
    "FeatureImportance": "InfidelityResult",
    "Prototypes": "Attribution",
    "DeletionCurve": "PCRResult",
    "PCRResult": "KeepTopKResult",
    "KeepTopKResult": "DeletionCurve",
    "InfidelityResult": "Attribution",
}


@pytest.mark.parametrize("damage", list(RESULT_DAMAGE))
@pytest.mark.parametrize("name", list(SWAPPED_WITH))
def test_every_saved_result_class_refuses_a_damaged_or_swapped_file(
    tmp_path, saved_results, name, damage
):
    from unboxed.explanation import SavedResult

    path = tmp_path / "result.npz"
    data = RESULT_DAMAGE[damage](saved_results[name], saved_results[SWAPPED_WITH[name]], path)
    path.write_bytes(data)
    kind = SavedResult._classes[name]
    for load in (kind.load, SavedResult.load):  # the class's own, and the shared one
        with pytest.raises(ValueError) as raised:
            load(path)
        assert type(raised.value) is ValueError and str(path) in str(raised.value)
