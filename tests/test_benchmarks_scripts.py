"""benchmarks/jgmm.py, clime.py and zoo_accuracy.py name the networks they measured,
and reuse a cached figure, student or label only with the weights it came from."""

import argparse
import concurrent.futures
import functools
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import (
    BENCHMARK_TRAINING,
    benchmarks_common,
    digits_accuracy,
    load_benchmark,
    retrain_benchmark_model,
)
from unboxed import load_dataset, zoo
from unboxed.data._dataset import split_dataset
from unboxed.zoo._train import weights_digest

_common = benchmarks_common()
COMMITTED = Path(__file__).parents[1] / "benchmarks" / "results"


@pytest.fixture
def cache(benchmark_cache):
    """The model cache of tests/conftest.py's ``benchmark_cache``."""
    return benchmark_cache


@pytest.fixture
def jgmm(cache, tmp_path, monkeypatch):
    """benchmarks/jgmm.py, its parts cache and results in ``tmp_path``."""
    module = load_benchmark("jgmm", _common)
    monkeypatch.setattr(module, "RESULTS", _common.RESULTS)
    monkeypatch.setattr(module, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(module, "_CACHE_PATH", tmp_path / "jgmm_benchmark_cache.json")
    return module


@pytest.fixture
def clime(cache, monkeypatch):
    """benchmarks/clime.py, its models and results in the test's folders."""
    module = load_benchmark("clime", _common)
    monkeypatch.setattr(module, "CACHE", cache)
    monkeypatch.setattr(module, "RESULTS", _common.RESULTS)
    return module


def _top_probability(blackbox):
    """A part's figure: the mean top probability on digits' test split."""
    X = load_dataset("digits").X_test
    return {"top": float(blackbox.predict_proba(X).max(axis=1).mean())}


# ---------------------------------------------------------------- jgmm.py
def test_jgmm_loads_through_cached_model(jgmm, cache):
    blackbox, weights = jgmm.load_network("mlp", "digits")
    saved = zoo.load(cache / "mlp-digits")
    assert weights == weights_digest(saved)
    assert _common.LOADED == {"mlp-digits": _common.describe_model(saved, "digits")}
    np.testing.assert_array_equal(
        blackbox.predict(load_dataset("digits").X_test),
        zoo.as_blackbox(saved).predict(load_dataset("digits").X_test),
    )


def test_jgmm_parts_are_measured_again_on_other_weights(jgmm, cache, capsys):
    # A part cached on one network was reused after the model was retrained: one table
    # mixed two networks' figures.
    computed = []

    def part(blackbox):
        computed.append(blackbox)
        return _top_probability(blackbox)

    key = "t1|mlp|digits|act1|JGMM"
    blackbox, weights = jgmm.load_network("mlp", "digits")
    first = jgmm.cached(key, functools.partial(part, blackbox), weights)
    assert jgmm.cached(key, functools.partial(part, blackbox), weights) == first
    assert len(computed) == 1 and capsys.readouterr().out == ""

    retrain_benchmark_model(cache, "mlp-digits")
    blackbox, retrained = jgmm.load_network("mlp", "digits")
    assert retrained != weights
    again = jgmm.cached(key, functools.partial(part, blackbox), retrained)
    assert len(computed) == 2 and computed[-1] is blackbox  # on the retrained network
    assert again == _top_probability(blackbox)
    assert (
        f"not reusing the cached '{key}': it was measured on other weights (sha256 "
        f"{weights[:12]}, now {retrained[:12]}); computing it again"
    ) in capsys.readouterr().out
    store = json.loads(jgmm._CACHE_PATH.read_text())
    assert store == {key: {"weights_sha256": retrained, "result": again}}


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"top": 0.5}, "it was cached without the weights' digest of its network"),
        ([0.5], "it was cached without the weights' digest of its network"),
        ({"weights_sha256": None, "result": {"top": 0.5}}, "it was measured on other weights"),
        ("same weights, no 'right'", "it lacks right"),
    ],
)
def test_jgmm_parts_of_unknown_weights_are_measured_again(jgmm, capsys, entry, reason):
    blackbox, weights = jgmm.load_network("mlp", "digits")
    if isinstance(entry, str):
        entry = {"weights_sha256": weights, "result": {"top": 0.5}}
    jgmm._CACHE_PATH.write_text(json.dumps({"key": entry, "other": {"top": 0.1}}))
    got = jgmm.cached("key", functools.partial(_top_probability, blackbox), weights, ("right",))
    assert got == _top_probability(blackbox)
    assert f"not reusing the cached 'key': {reason}" in capsys.readouterr().out
    store = json.loads(jgmm._CACHE_PATH.read_text())
    assert store["key"] == {"weights_sha256": weights, "result": got}
    assert store["other"] == {"top": 0.1}  # left for its own key to judge


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"key": {"weights_sha256": "ab', "it could not be read safely (JSONDecodeError"),
        (b"", "it could not be read safely (JSONDecodeError"),
        (b"\xff\xfe{}", "it could not be read safely (UnicodeDecodeError"),
        (b"[1, 2]", "its JSON is a list, not an object"),
        (b"null", "its JSON is a NoneType, not an object"),
    ],
    ids=["truncated", "empty", "not UTF-8", "a list", "null"],
)
def test_jgmm_a_damaged_parts_cache_is_said_and_measured_again(jgmm, capsys, content, reason):
    # It stopped the run at its json.loads (JSONDecodeError), or at store.get (a list),
    # until someone deleted the file.
    blackbox, weights = jgmm.load_network("mlp", "digits")
    jgmm._CACHE_PATH.write_bytes(content)
    got = jgmm.cached("key", functools.partial(_top_probability, blackbox), weights)
    assert got == _top_probability(blackbox)
    out = capsys.readouterr().out
    assert f"{jgmm._CACHE_PATH} is not the parts cache of benchmarks/jgmm.py: {reason}" in out
    assert "ignoring it, every part is measured again" in out
    store = json.loads(jgmm._CACHE_PATH.read_text())
    assert store == {"key": {"weights_sha256": weights, "result": got}}


class _Loaded(Exception):
    """Raised by a recording load_network: the part stops at its first network."""


@pytest.mark.parametrize("part", ["table1", "study", "table2", "reach", "cost"])
def test_jgmm_each_part_loads_the_networks_it_declares(jgmm, monkeypatch, part):
    # PART_NETWORKS names the networks behind the parts a run keeps from an earlier
    # results file; it was written out by hand beside the parts' own loads. The part is
    # run to its first load, once per start in its table of networks.
    loaded = []

    def recording(model, dataset):
        loaded.append(f"{model}-{dataset}")
        raise _Loaded

    monkeypatch.setattr(jgmm, "load_network", recording)
    monkeypatch.setattr(jgmm, "load_dataset", lambda name: None)  # not read before the load
    table = {"table1": "MODELS", "cost": "COST_FITS"}.get(part)
    rows = getattr(jgmm, table) if table else [None]
    for start in range(len(rows)):
        if table:
            monkeypatch.setattr(jgmm, table, rows[start:])
        with pytest.raises(_Loaded):
            getattr(jgmm, part)(argparse.Namespace(train_size=10))
    assert loaded == jgmm.PART_NETWORKS[part]


def _committed_jgmm():
    """The committed jgmm.json, without the networks a later run may have named."""
    result = json.loads((COMMITTED / "jgmm.json").read_text())
    result.pop("models", None)
    return result


def _run_main(module, monkeypatch, *argv):
    threads = torch.get_num_threads()
    monkeypatch.setattr(sys, "argv", [f"{module.__name__}.py", *argv])
    try:
        module.main()
    finally:
        torch.set_num_threads(threads)  # main sets one thread for the whole process


def test_jgmm_results_name_the_networks_of_kept_and_merged_parts(jgmm, cache, monkeypatch):
    # The committed parts, as if measured on the tiny networks: cost and study on the
    # digits MLP, reach on the moons one.
    monkeypatch.setattr(
        jgmm,
        "PART_NETWORKS",
        {"table1": [], "table2": [], "cost": ["mlp-digits"], "study": ["mlp-digits"]}
        | {"reach": ["mlp-moons"]},
    )
    committed = _committed_jgmm()
    _common.cached_model("mlp", "digits")
    _common.cached_model("mlp", "moons")
    earlier = dict(_common.LOADED)
    jgmm.write(committed, 1.0, "python benchmarks/jgmm.py")
    # Another process measured study again on a retrained digits MLP (--merge).
    _common.LOADED.clear()
    retrain_benchmark_model(cache, "mlp-digits")
    _common.cached_model("mlp", "digits")
    merged = dict(_common.LOADED)
    other = {key: committed[key] for key in ("args", "env", "command")}
    other |= {"study": committed["study"][:1], "seconds_by_part": {"study": 1.0}}
    jgmm.write(other, 1.0, "python benchmarks/jgmm.py", "jgmm_other")
    _common.LOADED.clear()  # this run loads nothing: it only joins the parts

    other_json = _common.RESULTS / "jgmm_other.json"
    _run_main(jgmm, monkeypatch, "--parts", "", "--merge", str(other_json))
    written = json.loads((_common.RESULTS / "jgmm.json").read_text())
    assert written["models"] == {
        "mlp-digits": earlier["mlp-digits"],  # cost, kept from the last jgmm.json
        "mlp-moons": earlier["mlp-moons"],  # reach, kept from it too
        "mlp-digits (kept figures)": merged["mlp-digits"],  # study, from --merge
    }
    assert written["study"] == other["study"]
    assert sorted(written) == sorted([*committed, "models"])
    markdown = (_common.RESULTS / "jgmm.md").read_text()
    for key, model in written["models"].items():
        assert f"weights sha256 {model['weights_sha256'][:12]}" in markdown, key


def test_jgmm_keeps_its_markdown_and_json(jgmm):
    committed = _committed_jgmm()
    jgmm.write(committed, 1.0, "python benchmarks/jgmm.py")  # no network loaded
    plain = (_common.RESULTS / "jgmm.md").read_text()
    assert plain.startswith("# JGMM: proxy faithfulness, counterfactuals, cost\n\nProduced by")
    _common.cached_model("mlp", "digits")
    jgmm.write(committed, 1.0, "python benchmarks/jgmm.py")
    written = json.loads((_common.RESULTS / "jgmm.json").read_text())
    assert written == {**committed, "models": dict(_common.LOADED)}
    markdown = (_common.RESULTS / "jgmm.md").read_text()
    assert markdown == _common.with_models(plain, _common.LOADED) != plain


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"table1": {"a": 1}', "it could not be read safely (JSONDecodeError: Expecting"),
        ('{"table1": {"a": 1}}', "it has no 'seconds_by_part', which this run reads"),
        ('{"table1": {}, "seconds_by_part": {"cost": 2.0}}', "its 'seconds_by_part' has no table1"),
    ],
)
def test_jgmm_refuses_a_damaged_or_foreign_file_to_merge_by_name(jgmm, tmp_path, content, reason):
    # --merge read it with json.loads, and each part's seconds as other[...][part]
    path = tmp_path / "other.json"
    path.write_text(content)
    with pytest.raises(ValueError) as refused:
        jgmm.merged_parts(path, ["table1", "table2"])
    assert str(refused.value).startswith(
        f"{path} is not a results file of benchmarks/jgmm.py: {reason}"
    )
    path.write_text('{"table1": {"a": 1}, "seconds_by_part": {"table1": 3.5}, "cost": {}}')
    assert jgmm.merged_parts(path, ["table1", "table2"]) == {"table1": ({"a": 1}, 3.5)}


# ---------------------------------------------------------------- clime.py
def test_clime_names_the_networks_it_trains_and_loads(clime, cache):
    digits = load_dataset("digits")

    def tanh_mlp():
        return clime.cached(
            "clime-mlp-tanh-digits",
            lambda: zoo.mlp((16,), "tanh", n_features=64, n_classes=10, random_state=0),
            digits,
            epochs=1,
            lr=1e-2,
            random_state=0,
        )[0]

    trained_now = tanh_mlp()
    folder = cache / "clime-mlp-tanh-digits"
    described = _common.describe_model(zoo.load(folder), digits, folder)
    assert _common.LOADED == {"clime-mlp-tanh-digits": described}
    assert described["weights_sha256"] == weights_digest(trained_now)
    assert described["test_accuracy"] == pytest.approx(digits_accuracy(trained_now), abs=1e-12)
    assert (folder / _common.ACCURACY_FILE).is_file()
    assert not (cache / "mlp-digits" / _common.ACCURACY_FILE).exists()  # not the zoo's
    _common.LOADED.clear()  # the next run loads it from the cache
    assert weights_digest(tanh_mlp()) == described["weights_sha256"]
    assert _common.LOADED == {"clime-mlp-tanh-digits": described}

    # DecisionNet's data sets are the script's own, not load_dataset's.
    X = np.concatenate([digits.X_train, digits.X_test])
    y = np.concatenate([digits.y_train, digits.y_test])
    half = split_dataset(
        "digits-0-4",
        X[y < 5],
        y[y < 5],
        class_names=digits.class_names[:5],
        feature_names=digits.feature_names,
    )
    clime.cached(
        "clime-dnet-digits-0-4",
        lambda: zoo.mlp((8,), n_features=64, n_classes=5, random_state=0),
        half,
        epochs=1,
        lr=1e-2,
        random_state=0,
    )
    assert _common.LOADED["clime-dnet-digits-0-4"]["dataset"] == "digits-0-4"
    assert _common.LOADED["clime-dnet-digits-0-4"]["n_test"] == half.y_test.size
    _common.write_results("bench", "# Bench\n", {})
    markdown = (cache.parent / "results" / "bench.md").read_text()
    assert "- clime-mlp-tanh-digits (mlp on digits): weights sha256 " in markdown
    assert "- clime-dnet-digits-0-4 (mlp on digits-0-4): weights sha256 " in markdown


def test_a_student_of_another_teacher_is_distilled_again(clime, cache, monkeypatch, capsys):
    # A student cached from an earlier teacher was scored against the current one.
    monkeypatch.setattr(clime, "STUDENTS", {"plain": clime.STUDENTS["plain"]})
    shutil.copytree(cache / "mlp-digits", cache / "lenet-digits")  # the "teacher"
    digits = load_dataset("digits")
    first = clime.students(digits, epochs=1, mixup=0)
    folder = cache / "clime-student-plain-digits-e1-m0"
    teacher = weights_digest(zoo.load(cache / "lenet-digits"))
    assert json.loads((folder / "search.json").read_text())["teacher_sha256"] == teacher
    assert "teacher_sha256" not in first["plain"]  # the results keep their keys
    student = _common.LOADED["clime-student-plain-digits-e1-m0"]
    assert student["weights_sha256"] == weights_digest(first["plain_model"])
    assert _common.LOADED["lenet-digits"]["weights_sha256"] == teacher

    again = clime.students(digits, epochs=1, mixup=0)  # cached: same teacher
    assert weights_digest(again["plain_model"]) == student["weights_sha256"]
    assert "not reusing" not in capsys.readouterr().out

    retrain_benchmark_model(cache, "lenet-digits")
    retrained = weights_digest(zoo.load(cache / "lenet-digits"))
    clime.students(digits, epochs=1, mixup=0)
    assert (
        "not reusing the student in clime-student-plain-digits-e1-m0: distilled from other "
        f"teacher weights (sha256 {teacher[:12]}, now {retrained[:12]}); distilling again"
    ) in capsys.readouterr().out
    assert json.loads((folder / "search.json").read_text())["teacher_sha256"] == retrained


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"best_params": ', "it could not be read safely (JSONDecodeError: Expecting value"),
        (b'["best_params"]', "its JSON is a list, not an object"),
    ],
)
def test_a_damaged_student_search_is_said_and_distilled_again(
    clime, tmp_path, capsys, content, reason
):
    # search.json is a cache beside its student: json.loads stopped every run at it
    (tmp_path / "search.json").write_bytes(content)
    assert clime.cached_search(tmp_path, "0" * 64) is None
    said = (
        f"not reusing the student in {tmp_path.name}: {tmp_path / 'search.json'} is not the "
        f"grid search of a cached student: {reason}"
    )
    assert said in capsys.readouterr().out


def test_lime_labels_of_another_teacher_are_computed_again(clime, cache, monkeypatch):
    # LIME's labels of an earlier teacher were scored against the current one.
    shutil.copytree(cache / "mlp-digits", cache / "lenet-digits")  # the "teacher"
    computed = []

    def lime(teacher, X, segmentation, num_samples):
        computed.append(segmentation)
        return teacher.predict(X)

    monkeypatch.setattr(clime, "lime_consistency", lime)
    digits = load_dataset("digits")
    first = clime.table3(digits, {}, 20, 10)
    assert computed == ["slic", "default"] and first["lime_slic"]["mean"] == 1.0
    assert clime.table3(digits, {}, 20, 10)["lime_default"]["n"] == 20
    assert computed == ["slic", "default"]  # the labels were cached
    retrain_benchmark_model(cache, "lenet-digits")
    clime.table3(digits, {}, 20, 10)
    assert computed == ["slic", "default"] * 2


def _committed_clime():
    results = json.loads((COMMITTED / "clime.json").read_text())
    results.pop("models", None)
    for row in results["table1"]["rows"]:  # as main has them: pieces keyed by int
        row["pieces"] = {int(n): piece for n, piece in row["pieces"].items()}
    return results


def test_clime_writes_both_files_through_write_results(clime):
    results = _committed_clime()
    clime.write(results, results["seconds"], results["command"])  # no network loaded
    plain = (_common.RESULTS / "clime.md").read_text()
    assert plain.startswith("# CLIME: linear regions, linearised activations, DecisionNet")
    _common.cached_model("mlp", "digits")
    clime.write(results, results["seconds"], results["command"])
    written = json.loads((_common.RESULTS / "clime.json").read_text())
    assert written == json.loads(_common.results_json({**results, "models": _common.LOADED}))
    markdown = (_common.RESULTS / "clime.md").read_text()
    assert markdown == _common.with_models(plain, _common.LOADED) != plain


# ---------------------------------------------------------------- zoo_accuracy.py
def test_zoo_accuracy_names_the_networks_it_caches(cache, monkeypatch):
    zoo_accuracy = load_benchmark("zoo_accuracy", _common)
    monkeypatch.setattr(zoo_accuracy, "CACHE", cache)
    monkeypatch.setattr(zoo_accuracy, "TRAINING", BENCHMARK_TRAINING)
    monkeypatch.setattr(zoo_accuracy, "TARGETS", {("mlp", "digits"): 0.5})
    rows = zoo_accuracy.run([1, 0])  # seed 1 first once replaced the cached seed-0 model
    zoo_accuracy.write(rows)
    saved = zoo.load(cache / "mlp-digits")  # seed 0's, kept for the benchmarks
    described = _common.describe_model(saved, "digits")
    written = json.loads((cache.parent / "results" / "zoo_accuracy.json").read_text())
    assert sorted(written) == ["env", "models", "rows"]
    assert written["models"] == {"mlp-digits": described}
    assert described["test_accuracy"] == pytest.approx(rows[0]["accuracy"][1], abs=1e-6)
    assert json.loads((cache / "mlp-digits" / "model.json").read_text())["metadata"][
        "command"
    ].endswith(f"--seed 0 --out {cache / 'mlp-digits'}")
    with pytest.raises(ValueError, match="--seeds must include 0, the seed the benchmarks use"):
        zoo_accuracy.run([1, 2])
    markdown = (cache.parent / "results" / "zoo_accuracy.md").read_text()
    assert markdown.startswith("# Zoo: test accuracy of the reference black boxes\n\nNetworks")
    assert f"- mlp on digits: weights sha256 {described['weights_sha256'][:12]}, " in markdown


# ---------------------------------------------------------------- piecewise_regions.py
def test_piecewise_regions_measures_the_walk_and_writes_both_files(cache, monkeypatch):
    """Its figures are the library's own: the regions regions_in_box finds, polygons
    that tile the box, and the regions a grid visits; the Markdown quotes them."""
    from unboxed.piecewise import LinearRegions, regions_in_box

    script = load_benchmark("piecewise_regions", _common)
    monkeypatch.setattr(script, "GRID", 40)
    row = script.measure("2-8-5-2", (8, 5), repeats=2)
    regions = LinearRegions(zoo.mlp((8, 5), "relu", n_features=2, n_classes=2, random_state=0))
    assert row["regions"] == len(regions_in_box(regions, script.BOX)) > row["grid_regions"]
    assert row["grid_regions"] == regions.regions(script.grid_points(40)).n_regions
    assert row["area"] == pytest.approx(36.0, rel=1e-6)
    assert row["rounds"] >= 1 and len(row["seconds"]) == 2
    result = {"machine": _common.machine(), "rows": [row], "seconds": 1.0}
    _common.write_results("piecewise_regions", script.markdown(result), result)
    written = json.loads((_common.RESULTS / "piecewise_regions.json").read_text())
    assert written["rows"][0]["regions"] == row["regions"] and written["models"] == {}
    markdown = (_common.RESULTS / "piecewise_regions.md").read_text()
    assert f"| 2-8-5-2 | {row['regions']} | {row['rounds']} | 36.0000" in markdown
    assert f"| {row['grid_regions']} |" in markdown


# ---------------------------------------------------------------- dmm_men.py
class _InProcessPool:
    """Stands in for DMMMEN's worker pool: runs each class here, when it is submitted."""

    def __init__(self, *args, **kwargs):
        pass

    def submit(self, function, *args):
        future = concurrent.futures.Future()
        future.set_result(function(*args))
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        pass


@pytest.fixture
def dmm_men(monkeypatch):
    """benchmarks/dmm_men.py, with the local_attributions script it imports."""
    attributions = load_benchmark("local_attributions", _common)
    monkeypatch.setitem(sys.modules, "local_attributions", attributions)
    return load_benchmark("dmm_men", _common)


@pytest.mark.parametrize(
    ("n_jobs", "cores", "processes", "text"),
    [
        (-1, 4, 2, ", classes split over 2 worker processes (`n_jobs=-1`)"),
        (-1, 1, 1, ""),
        (2, 4, 2, ", classes split over 2 worker processes (`n_jobs`)"),
        (None, 4, 1, ""),
    ],
)
def test_dmm_men_records_the_n_jobs_asked_and_the_processes_used(
    n_jobs, cores, processes, text, dmm_men, monkeypatch, planted, planted_blackbox
):
    # With --n-jobs -1 the results recorded n_jobs -1 alone, and the Markdown, reading
    # -1 as not above 1, said nothing of the worker processes the fit ran in.
    from unboxed.surrogates import _dmm

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(_dmm, "ProcessPoolExecutor", _InProcessPool)
    X = planted.X_train[:300]
    _, fit = dmm_men.global_fit(
        planted_blackbox, X, 20, 0, n_components=2, n_features=10, n_jobs=n_jobs
    )
    assert fit["options"]["n_jobs"] == n_jobs  # as asked
    assert fit["processes"] == processes  # two classes: two processes at most
    assert json.loads(json.dumps(fit))["processes"] == processes
    assert dmm_men._sampler_text(fit) == ", the note's sampler" + text


def test_dmm_men_records_the_processes_the_fit_ran_not_those_n_jobs_would_start(
    dmm_men, monkeypatch, planted, planted_blackbox, tmp_path
):
    # It recomputed them from n_jobs and the classes: a fit resumed from a checkpoint
    # that held both classes finished was said to split them over 2 worker processes,
    # though it sampled nothing in any.
    from unboxed.surrogates import _dmm

    monkeypatch.setattr(_dmm, "ProcessPoolExecutor", _InProcessPool)
    X, settings = planted.X_train[:300], {"n_components": 2, "n_features": 10}
    checkpoint = str(tmp_path / "chains.npz")
    dmm_men.global_fit(planted_blackbox, X, 20, 0, **settings, checkpoint=checkpoint)
    model, fit = dmm_men.global_fit(
        planted_blackbox, X, 20, 0, **settings, checkpoint=checkpoint, n_jobs=2
    )
    assert fit["processes"] == model.n_jobs_ == 1
    assert dmm_men._sampler_text(fit) == ", the note's sampler"


def test_dmm_men_reads_fits_recorded_before_their_processes(dmm_men):
    # Those asked for a positive n_jobs, below the ten classes: as many processes.
    old = {"options": {"n_jobs": 2}}
    text = ", the note's sampler, classes split over 2 worker processes (`n_jobs`)"
    assert dmm_men._sampler_text(old) == text
    assert dmm_men._sampler_text({"options": {}}) == ", the note's sampler"
