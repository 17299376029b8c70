"""benchmarks/_common.py: result and cache files are written atomically, and every
results file names the networks its figures were measured on."""

import builtins
import io
import json
import os
import re

import numpy as np
import pytest
import torch

from tests.helpers import benchmarks_common, digits_accuracy, retrain_benchmark_model
from unboxed import zoo

_common = benchmarks_common()


class _HalfThenCtrlC:
    """A file opened for writing that takes half of the first write and is then
    interrupted, as Ctrl-C (or a full disk) mid-write would."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise KeyboardInterrupt

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def _interrupt_writes(monkeypatch):
    """Cut off every file opened for writing from here on mid-write; ``open``,
    ``Path.write_text`` and ``os.fdopen`` all open through ``io.open``."""
    real = io.open

    def opened(file, mode="r", *args, **kwargs):
        handle = real(file, mode, *args, **kwargs)
        return _HalfThenCtrlC(handle) if "w" in mode else handle

    monkeypatch.setattr(io, "open", opened)
    monkeypatch.setattr(builtins, "open", opened)


def test_an_interrupted_write_of_results_keeps_the_earlier_files(tmp_path, monkeypatch):
    # write_text wrote in place: a Ctrl-C left half a table in benchmarks/results.
    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    _common.write_results("bench", "| a |\n|---|\n| 1 |\n", {"a": [1.0, float("nan")]})
    before = {p.name: p.read_bytes() for p in (tmp_path / "results").iterdir()}
    assert json.loads(before["bench.json"]) == {"a": [1.0, None], "models": {}}
    assert before["bench.json"].decode().startswith('{\n  "a": [\n    1.0,\n    null\n  ]')

    with monkeypatch.context() as patch:
        _interrupt_writes(patch)
        with pytest.raises(KeyboardInterrupt):
            _common.write_results("bench", "| a |\n|---|\n| 2 |\n", {"a": [2.0]})
    after = {p.name: p.read_bytes() for p in (tmp_path / "results").iterdir()}
    assert after == before  # and no temporary file is left beside them


def test_an_interrupted_cache_write_keeps_the_earlier_cache(tmp_path, monkeypatch):
    # np.save(path, ...) wrote in place: a truncated .npy stopped every later run.
    path = tmp_path / "cache" / "lime.npy"
    _common.save_array(path, np.arange(1000))
    text = tmp_path / "cache" / "search.json"
    _common.write_text(text, '{"best": 1}')
    with monkeypatch.context() as patch:
        _interrupt_writes(patch)
        with pytest.raises(KeyboardInterrupt):
            _common.save_array(path, np.zeros(1000, dtype=int))
        with pytest.raises(KeyboardInterrupt):
            _common.write_text(text, '{"best": 2}')
    np.testing.assert_array_equal(np.load(path, allow_pickle=False), np.arange(1000))
    assert text.read_text() == '{"best": 1}'
    assert sorted(p.name for p in path.parent.iterdir()) == ["lime.npy", "search.json"]
    with pytest.raises(ValueError, match="Object arrays cannot be saved"):
        _common.save_array(path, np.array([{"a": 1}], dtype=object))  # nor pickled


# ---------------------------------------------------------------- the networks used
@pytest.fixture
def cache(benchmark_cache):
    """The model cache of tests/conftest.py's ``benchmark_cache``."""
    return benchmark_cache


def test_the_digest_follows_the_weights_not_the_file(cache, tmp_path):
    model = _common.cached_model("mlp", "digits")
    digest = _common.describe_model(model, "digits")["weights_sha256"]
    assert re.fullmatch("[0-9a-f]{64}", digest)
    # Saved again elsewhere with other metadata: other file bytes, the same weights.
    copy = zoo.save(model, tmp_path / "copy", metadata={"note": "another save"})
    assert (copy / "model.json").read_bytes() != (cache / "mlp-digits" / "model.json").read_bytes()
    for folder in (cache / "mlp-digits", copy):
        assert _common.describe_model(zoo.load(folder), "digits")["weights_sha256"] == digest
    with torch.no_grad():
        model.fc1.weight[0, 0] += 1e-3  # one weight of 33738
    assert _common.describe_model(model, "digits")["weights_sha256"] != digest


def test_the_description_names_the_network_and_itsdigits_accuracy(cache):
    model = _common.cached_model("mlp", "digits")
    described = _common.describe_model(model, "digits")
    assert described["arch"] == "mlp" and described["dataset"] == "digits"
    assert described["n_parameters"] == 64 * 256 + 256 + 256 * 64 + 64 + 64 * 10 + 10
    assert described["n_test"] == 359
    assert described["test_accuracy"] == pytest.approx(digits_accuracy(model), abs=1e-12)
    assert 0.5 < described["test_accuracy"] < 1.0  # trained, not a constant
    assert _common.LOADED == {"mlp-digits": described}
    with pytest.raises(TypeError, match="model must be a zoo classifier .*, got Linear"):
        _common.describe_model(torch.nn.Linear(64, 10), "digits")


def test_the_accuracy_is_computed_once_per_network(cache, monkeypatch):
    model = _common.cached_model("mlp", "digits")
    described = _common.describe_model(model, "digits")
    record = json.loads((cache / "mlp-digits" / _common.ACCURACY_FILE).read_text())
    assert record["weights_sha256"] == described["weights_sha256"]
    assert record["test_accuracy"] == described["test_accuracy"]

    def not_again(*args, **kwargs):
        raise AssertionError("the test accuracy was computed again")

    with monkeypatch.context() as patch:
        patch.setattr(_common.zoo, "accuracy", not_again)
        assert _common.describe_model(zoo.load(cache / "mlp-digits"), "digits") == described
    with torch.no_grad():
        model.fc1.weight[0, 0] += 1e-3  # other weights: computed again, and kept
    changed = _common.describe_model(model, "digits")
    record = json.loads((cache / "mlp-digits" / _common.ACCURACY_FILE).read_text())
    assert record["weights_sha256"] == changed["weights_sha256"] != described["weights_sha256"]
    assert changed["test_accuracy"] == pytest.approx(digits_accuracy(model), abs=1e-12)


@pytest.mark.parametrize(
    "damage",
    [
        lambda record: '{"weights_sha256": "' + record["weights_sha256"][:20],  # cut short
        lambda record: "\x00\xff not json",
        lambda record: json.dumps([record]),
        lambda record: json.dumps({**record, "test_accuracy": 1.5}),
        lambda record: json.dumps({**record, "test_accuracy": "0.9"}),
        lambda record: json.dumps({**record, "test_accuracy": None}),
        lambda record: json.dumps({**record, "n_test": 100}),
        lambda record: json.dumps({**record, "test_sha256": "0" * 64}),  # other test data
    ],
)
def test_a_damaged_accuracy_cache_is_computed_again(cache, damage):
    model = _common.cached_model("mlp", "digits")
    path = cache / "mlp-digits" / _common.ACCURACY_FILE
    record = json.loads(path.read_text())
    path.write_text(damage(record))
    described = _common.describe_model(model, "digits")
    assert described["test_accuracy"] == pytest.approx(digits_accuracy(model), abs=1e-12)
    assert json.loads(path.read_text()) == record  # and the file is sound again


def test_the_results_files_name_the_networks(cache):
    model = _common.cached_model("mlp", "digits")
    described = _common.describe_model(model, "digits")
    _common.write_results("bench", "# Bench\n\nSome text.\n", {"a": 1})
    results = cache.parent / "results"
    assert json.loads((results / "bench.json").read_text()) == {
        "a": 1,
        "models": {"mlp-digits": described},
    }
    line = (
        f"- mlp on digits: weights sha256 {described['weights_sha256'][:12]}, "
        f"test accuracy {described['test_accuracy']:.4f}"
    )
    markdown = (results / "bench.md").read_text()
    assert markdown.startswith("# Bench\n\nNetworks (weights: SHA-256 of the tensors")
    assert markdown.endswith(f"\n\n{line}\n\nSome text.\n")
    with pytest.raises(ValueError, match="data has a 'models' key; write_results adds"):
        _common.write_results("bench", "# Bench\n", {"models": {}})


def test_figures_kept_from_an_earlier_run_keep_their_network(cache):
    # --only reruns one setup and keeps the others' figures from the last results file.
    def run(arch, dataset):
        _common.cached_model(arch, dataset)
        return {"model": arch, "dataset": dataset, "methods": {"m": {"keep": {5: 0.5}}}}

    def models_written(only):
        setups = _common.run_setups("bench", only, lambda s: s["methods"], SETUPS, run)
        _common.write_results("bench", "# Bench\n", {"setups": setups})
        _common.LOADED.clear()  # the next run is another process
        return json.loads((cache.parent / "results" / "bench.json").read_text())["models"]

    SETUPS = [("mlp", "digits"), ("mlp", "moons")]
    first = models_written(None)
    assert sorted(first) == ["mlp-digits", "mlp-moons"]
    retrain_benchmark_model(cache, "mlp-digits")
    retrain_benchmark_model(cache, "mlp-moons")
    second = models_written("mlp/digits")
    assert second["mlp-moons"] == first["mlp-moons"]  # not loaded now, still named
    assert second["mlp-digits"]["weights_sha256"] != first["mlp-digits"]["weights_sha256"]
    assert sorted(second) == ["mlp-digits", "mlp-moons"]  # nothing of the digits MLP kept


def test_a_setup_partly_rerun_names_both_networks(cache):
    # dmm_men --table1-only reruns Table 1 and keeps the setup's other figures.
    _common.cached_model("mlp", "digits")
    _common.write_results("bench", "# Bench\n", {})
    earlier = _common.LOADED.pop("mlp-digits")
    retrain_benchmark_model(cache, "mlp-digits")
    _common.keep_models("bench", ["mlp-digits"])
    now = _common.describe_model(_common.cached_model("mlp", "digits"), "digits")
    assert _common.models_used() == {"mlp-digits": now, "mlp-digits (kept figures)": earlier}
    _common.write_results("bench", "# Bench\n", {})
    markdown = (cache.parent / "results" / "bench.md").read_text()
    assert f"- mlp on digits: weights sha256 {now['weights_sha256'][:12]}, " in markdown
    kept = f"- mlp on digits (kept figures): weights sha256 {earlier['weights_sha256'][:12]}, "
    assert kept in markdown


def test_a_worker_may_load_only_what_the_main_process_loaded(cache, monkeypatch):
    # A spawned worker's loads are lost with it: the results file would not name them.
    _common.cached_model("mlp", "digits")
    monkeypatch.setattr(_common.multiprocessing, "parent_process", lambda: object())
    monkeypatch.setattr(_common, "LOADED", {})  # a fresh process, the environment inherited
    assert _common.describe_model(_common.cached_model("mlp", "digits"), "digits")
    with pytest.raises(RuntimeError, match=r"lenet-digits was first loaded in a worker process"):
        _common.cached_model("lenet", "digits")
    assert not (cache / "lenet-digits").exists()  # nor trained there


def test_every_kept_network_of_a_key_is_named(cache):
    # A run that kept figures of two earlier networks (loaded now, and one kept) wrote
    # both; a third run keeping those figures kept only the first, losing the other.
    networks = []
    for _ in range(3):
        networks.append(_common.describe_model(_common.cached_model("mlp", "digits"), "digits"))
        retrain_benchmark_model(cache, "mlp-digits")
    first, second, now = networks
    _common.LOADED.clear()
    _common.KEPT.update({"mlp-digits": first})
    _common.LOADED["mlp-digits"] = second
    _common.write_results("bench", "# Bench\n", {})  # second loaded, first's figures kept
    _common.LOADED.clear()
    _common.KEPT.clear()

    _common.keep_models("bench", ["mlp-digits"])
    _common.LOADED["mlp-digits"] = now
    assert _common.models_used() == {
        "mlp-digits": now,
        "mlp-digits (kept figures)": second,
        "mlp-digits (kept figures 2)": first,
    }
    _common.write_results("bench", "# Bench\n", {})
    markdown = (cache.parent / "results" / "bench.md").read_text()
    for network in (second, first):
        line = f"- mlp on digits (kept figures): weights sha256 {network['weights_sha256'][:12]}"
        assert line in markdown
    _common.LOADED["mlp-digits"] = first  # kept networks already named are named once
    assert _common.models_used() == {"mlp-digits": first, "mlp-digits (kept figures)": second}


def test_a_description_needs_a_data_set(cache):
    model = _common.cached_model("mlp", "digits")
    with pytest.raises(TypeError, match="dataset must be a data set's name or a Dataset, got int"):
        _common.describe_model(model, 3)


# ------------------------------------------------------------- results read back
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"setups": [', "it could not be read safely (JSONDecodeError: Expecting"),
        ("[1, 2]", "its JSON is a list, not an object"),
        ('{"other": 1}', "it has no 'setups', which this run reads"),
        ('{"setups": {"mlp": 1}}', "its 'setups' is a dict, not a list"),
    ],
)
def test_a_damaged_or_foreign_results_file_is_refused_by_name(tmp_path, content, reason):
    # json.loads(...)["setups"] raised a bare JSONDecodeError, TypeError or KeyError
    path = tmp_path / "bench.json"
    path.write_text(content)
    with pytest.raises(ValueError) as refused:
        _common.read_results(path, {"setups": list})
    assert str(refused.value).startswith(f"{path} is not a results file: {reason}")


def test_the_readers_of_results_files_name_a_damaged_or_foreign_one(tmp_path, monkeypatch):
    """--only reruns one setup and keeps the others' figures: a damaged file stopped
    the run inside json.loads, a foreign one at a KeyError."""
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    path = tmp_path / "bench.json"

    def methods(setup):
        return setup["methods"]

    path.write_text('{"setups": [{"model": "mlp", "methods": {"m": {"keep": {"5": 0.5}}}}')
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))} is not a results file: it co"):
        _common.previous_setups("bench", "mlp/digits", methods)
    path.write_text('{"setups": [{"model": "mlp", "methods": {"m": {"kept": {}}}}]}')
    reason = "its setups do not hold each method's 'keep' figures (KeyError: 'keep')"
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a results file: {reason}")):
        _common.previous_setups("bench", "mlp/digits", methods)
    path.write_text('{"setups": [], "models": ["mlp-digits"]}')
    reason = "its 'models' is a list, not a dict"
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a results file: {reason}")):
        _common.keep_models("bench", ["mlp-digits"])
    # a sound file reads as before: keep's int keys come back
    path.write_text('{"setups": [{"model": "mlp", "methods": {"m": {"keep": {"5": 0.5}}}}]}')
    [setup] = _common.previous_setups("bench", "mlp/digits", methods)
    assert setup["methods"]["m"]["keep"] == {5: 0.5}


def test_machine_records_the_cores_and_those_this_process_may_use(monkeypatch):
    # It named the CPU alone: a timing on 2 cores of 64 read as one on all 64.
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5}, raising=False)
    found = _common.machine()
    assert (found["cpu_count"], found["cpus_usable"]) == (64, 2)
    assert json.loads(_common.results_json(found)) == found
    monkeypatch.delattr(os, "sched_getaffinity")  # as on macOS and Windows
    assert _common.machine()["cpus_usable"] is None


def test_machine_records_the_processor_and_torchs_kernels_for_it(tmp_path):
    # Trained weights follow both (docs/data-and-zoo.md): a digest that moved between
    # two results files read as a code change where the processor had changed.
    found = _common.machine()
    assert found["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert found["cpu_model"] == _common._cpu_model()
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: avx2\n")
    assert _common._cpu_model(cpuinfo) == "AMD EPYC 7B13"
    assert _common._cpu_model(tmp_path / "absent") is None
    cpuinfo.write_text("processor\t: 0\n")  # no name given
    assert _common._cpu_model(cpuinfo) is None
