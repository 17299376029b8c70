"""Shared by the benchmarks: cached reference models, timing, result files."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unboxed import __version__, load_dataset, zoo
from unboxed._io import _finite, array_digest, atomic_write, read_json
from unboxed.zoo._train import weights_digest

RESULTS = Path(__file__).parent / "results"
CACHE = Path.home() / ".cache" / "unboxed" / "models"

#: The training settings of benchmarks/zoo_accuracy.py, per (model, data set).
TRAINING = {
    ("mlp", "fashion-mnist"): {"epochs": 20, "lr": 1e-3},
    ("lenet", "fashion-mnist"): {"epochs": 15, "lr": 2e-3},
    ("lenet", "mnist"): {"epochs": 30, "lr": 2e-3},
    ("mlp", "mnist"): {"epochs": 30, "lr": 1e-3},
}
#: Torch threads while training a zoo model. torch's CPU kernels sum in an order that
#: depends on the thread count, so a seed gives the same weights only at the same count
#: (seed-0 LeNet on MNIST: 0.9815 test accuracy with one thread, 0.9800 with two). The
#: machine or the package versions matter too: later, with two threads, the same seed
#: gave 0.9805, so results files from different runs may come from different networks.
TRAIN_THREADS = 2
#: The file beside a cached model that keeps its test accuracy (:func:`describe_model`).
ACCURACY_FILE = "test_accuracy.json"
#: The networks :func:`cached_model` loaded in this process, by ``<arch>-<data set>``:
#: :func:`write_results` names them in every results file.
LOADED: dict[str, dict[str, Any]] = {}
#: The networks behind figures kept from an earlier results file (:func:`keep_models`).
KEPT: dict[str, dict[str, Any]] = {}
#: The keys of ``LOADED``, for spawned workers, which inherit the environment only.
LOADED_ENV = "UNBOXED_BENCHMARK_MODELS"


def cached_model(arch: str, dataset_name: str) -> zoo.ZooModel:
    """The seed-0 zoo model from ``~/.cache/unboxed/models``, trained first if missing.

    Its description (:func:`describe_model`) goes into ``LOADED``, so that
    :func:`write_results` names the network in the results files. A worker process may
    only load a model that the main process loaded first: what a worker remembers is
    lost with it, and the results file would not name the network.
    """
    key = f"{arch}-{dataset_name}"
    if multiprocessing.parent_process() is not None and key not in _loaded_by_main():
        raise RuntimeError(
            f"{key} was first loaded in a worker process; call cached_model({arch!r}, "
            f"{dataset_name!r}) in the main process before starting the workers, so that "
            "the results file names the network"
        )
    folder = CACHE / key
    if (folder / "model.json").is_file():
        model = zoo.load(folder)
    else:
        model, _ = train_zoo_model(arch, load_dataset(dataset_name), seed=0)
        zoo.save(model, folder, metadata={"dataset": dataset_name})
    LOADED[key] = describe_model(model, dataset_name)
    os.environ[LOADED_ENV] = ",".join(sorted(set(LOADED) | _loaded_by_main()))
    return model


def _loaded_by_main() -> set[str]:
    return set(filter(None, os.environ.get(LOADED_ENV, "").split(",")))


def describe_model(model: zoo.ZooModel, dataset_name: str) -> dict[str, Any]:
    """Which network a benchmark measured, to tell two seed-0 models apart.

    The same seed gives other weights on another thread count, machine or package
    version (see ``TRAIN_THREADS``), so a results file names its network by these.

    Parameters
    ----------
    model : ZooModel
        A zoo classifier, as :func:`cached_model` returns it.
    dataset_name : str
        The data set it was trained on, a name for ``unboxed.load_dataset``.

    Returns
    -------
    dict
        ``arch`` and ``dataset``; ``weights_sha256``, a SHA-256 of the weights and
        buffers themselves (names in sorted order, dtypes, shapes, values), not of a
        file's bytes, so that it does not depend on how or where the model was saved;
        ``n_parameters``; ``test_accuracy`` on the data set's whole test split of
        ``n_test`` images. The accuracy is computed once per digest and kept in
        ``ACCURACY_FILE`` in the model's cache folder.
    """
    if not isinstance(model, zoo.ZooModel):
        raise TypeError(f"model must be a zoo classifier (a ZooModel), got {type(model).__name__}")
    digest = weights_digest(model)
    accuracy = _test_accuracy(model, load_dataset(dataset_name), digest)
    return {
        "arch": model.config["architecture"],
        "dataset": dataset_name,
        "weights_sha256": digest,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        **accuracy,
    }


def _test_accuracy(model: zoo.ZooModel, dataset: Any, digest: str) -> dict[str, Any]:
    """``test_accuracy`` and ``n_test`` of ``model``, read from its cache folder when a
    valid record of these weights on this test split is there, else computed and kept."""
    path = CACHE / f"{model.config['architecture']}-{dataset.name}" / ACCURACY_FILE
    key = {"weights_sha256": digest, "test_sha256": array_digest(dataset.X_test, dataset.y_test)}
    cached = _read_accuracy(path, key, int(dataset.y_test.size))
    if cached is not None:
        return cached
    X = dataset.X_test.reshape(-1, *model.input_shape)
    accuracy = {"test_accuracy": zoo.accuracy(model, X, dataset.y_test), "n_test": len(X)}
    write_text(path, results_json({**key, **accuracy}))
    return accuracy


def _read_accuracy(path: Path, key: dict[str, str], n_test: int) -> dict[str, Any] | None:
    """The accuracy record at ``path`` if it is for ``key`` and well formed, else None:
    a damaged or hand-edited file is recomputed, not trusted."""
    if not path.is_file():
        return None
    try:
        record = read_json(path, what="a cached test accuracy")
    except ValueError:
        return None
    if not isinstance(record, dict) or any(record.get(k) != v for k, v in key.items()):
        return None
    accuracy = record.get("test_accuracy")
    if record.get("n_test") != n_test or type(accuracy) is not float:
        return None
    if not (math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0):
        return None
    return {"test_accuracy": accuracy, "n_test": n_test}


def keep_models(name: str, keys: list[str]) -> None:
    """Put the networks of ``keys`` named by the last ``<name>.json`` into ``KEPT``: a
    run that keeps some of that file's figures keeps the record of their networks too
    (files written before networks were recorded name none)."""
    previous = RESULTS / f"{name}.json"
    models = json.loads(previous.read_text()).get("models", {}) if previous.exists() else {}
    KEPT.update({key: models[key] for key in keys if key in models})


def models_used() -> dict[str, dict[str, Any]]:
    """The networks behind a results file's figures: those loaded in this run, and those
    of figures kept from an earlier run, under ``<key> (kept figures)`` where a kept
    network differs from the one loaded now."""
    models = dict(LOADED)
    for key, kept in KEPT.items():
        if key not in models:
            models[key] = kept
        elif kept.get("weights_sha256") != models[key]["weights_sha256"]:
            models[f"{key} (kept figures)"] = kept
    return models


def train_zoo_model(arch: str, dataset: Any, seed: int) -> tuple[zoo.ZooModel, Any]:
    """Build and train a zoo model with ``TRAINING``'s settings on ``TRAIN_THREADS``
    threads; return it and its ``zoo.TrainingResult``."""
    model = zoo.build(
        arch, input_shape=dataset.input_shape, n_classes=dataset.n_classes, random_state=seed
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        result = zoo.train(
            model, dataset, random_state=seed, verbose=False, **TRAINING[(arch, dataset.name)]
        )
    finally:
        torch.set_num_threads(threads)
    return model, result


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn`` once; return its result and the wall time in seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "unboxed": __version__,
        "cpu": platform.processor() or platform.machine(),
    }


def write_results(name: str, markdown: str, data: dict[str, Any]) -> None:
    """Write ``benchmarks/results/<name>.md`` and ``.json``, each atomically.

    Both name the networks the figures were measured on (:func:`models_used`): the JSON
    under ``"models"``, the Markdown one line per network below its title.
    """
    if "models" in data:
        raise ValueError("data has a 'models' key; write_results adds the networks there")
    models = models_used()
    write_text(RESULTS / f"{name}.md", with_models(markdown, models))
    write_text(RESULTS / f"{name}.json", results_json({**data, "models": models}))


def with_models(markdown: str, models: dict[str, dict[str, Any]]) -> str:
    """``markdown`` with one line per network after its title (its first line, when
    that is a heading), else at its top."""
    if not models:
        return markdown
    lines = ["Networks (weights: SHA-256 of the tensors, first 12 hex digits):", ""]
    for key, model in models.items():
        kept = " (kept figures)" if key.endswith("(kept figures)") else ""
        lines.append(
            f"- {model['arch']} on {model['dataset']}{kept}: weights sha256 "
            f"{model['weights_sha256'][:12]}, test accuracy {model['test_accuracy']:.4f}"
        )
    title, _, rest = markdown.partition("\n")
    if not title.startswith("# "):
        return "\n".join([*lines, "", markdown])
    return "\n".join([title, "", *lines, "", rest.lstrip("\n")])


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (its folder made if missing): a run
    interrupted mid-write keeps the earlier file, not half a results table or cache
    that the next run would read."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def save_array(path: Path, array: Any) -> None:
    """``np.save`` ``array`` to ``path`` atomically: a truncated cache file stopped every
    later run at its ``np.load`` until someone deleted it."""
    with atomic_write(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def results_json(data: dict[str, Any]) -> str:
    """``data`` as strict JSON, NaN and infinities as ``null`` as the library writes
    them: Python's ``NaN`` tokens are not JSON, and other readers refuse them."""
    return json.dumps(_finite(data), indent=2, allow_nan=False) + "\n"


def run_setups(
    name: str,
    only: str | None,
    methods: Callable[[dict], dict],
    setups: list[tuple[str, str]],
    run: Callable[[str, str], dict],
) -> list[dict]:
    """``run(arch, dataset)`` for every setup, or with ``--only`` for that one setup,
    keeping the other setups' figures from the last ``<name>.json``."""
    fresh = {
        (arch, dataset): run(arch, dataset)
        for arch, dataset in setups
        if not only or only == f"{arch}/{dataset}"
    }
    # Read the kept setups only now, so that two --only runs of different setups side by
    # side do not overwrite each other's figures (unless they finish together).
    kept = previous_setups(name, only, methods)
    out, kept_models = [], []
    for arch, dataset in setups:
        if (arch, dataset) in fresh:
            out.append(fresh[(arch, dataset)])
        else:
            out += [s for s in kept if (s["model"], s["dataset"]) == (arch, dataset)][:1]
            kept_models.append(f"{arch}-{dataset}")
    keep_models(name, kept_models)
    return out


def previous_setups(name: str, only: str | None, methods: Callable[[dict], dict]) -> list[dict]:
    """The setups of the last ``<name>.json``, when ``--only`` reruns just one of them.

    ``methods(setup)`` gives a setup's per-method results, whose ``keep`` figures are
    keyed by k: JSON turned those int keys into strings, and they are turned back.
    """
    previous = RESULTS / f"{name}.json"
    if not only or not previous.exists():
        return []
    setups = json.loads(previous.read_text())["setups"]
    for setup in setups:
        for method in methods(setup).values():
            method["keep"] = {int(k): v for k, v in method["keep"].items()}
    return setups
