"""benchmarks/jgmm.py names the networks it measured, and reuses a cached figure only
with the weights it came from."""

import functools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import (
    benchmarks_common,
    load_benchmark,
    retrain_benchmark_model,
)
from unboxed import load_dataset, zoo
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
