"""Shared by the benchmarks: cached reference models, timing, result files."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unboxed import Dataset, __version__, load_dataset, zoo
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
    ("mlp", "breast-cancer"): {"epochs": 30, "lr": 2e-3},
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
    record_model(key, model, dataset_name)
    os.environ[LOADED_ENV] = ",".join(sorted(set(LOADED) | _loaded_by_main()))
    return model


def record_model(
    key: str, model: zoo.ZooModel, dataset: str | Dataset, folder: Path | None = None
) -> dict[str, Any]:
    """Put the description of a network a benchmark measured into ``LOADED``.

    :func:`cached_model` does this for the seed-0 zoo models; a script that trains or
    loads networks of its own (CLIME's MLPs and students) calls it for each of them.

    Parameters
    ----------
    key : str
        The network's name in the results files: its folder's name in ``CACHE``.
    model : ZooModel
        The network.
    dataset : str or Dataset
        The data set it was trained on (a name for ``unboxed.load_dataset``, or the
        data set itself when it is a script's own).
    folder : Path, optional
        Where its test accuracy is kept; ``CACHE / key`` by default.

    Returns
    -------
    dict
        Its description, as :func:`describe_model` gives it.
    """
    LOADED[key] = describe_model(model, dataset, CACHE / key if folder is None else folder)
    return LOADED[key]


def _loaded_by_main() -> set[str]:
    return set(filter(None, os.environ.get(LOADED_ENV, "").split(",")))


def describe_model(
    model: zoo.ZooModel, dataset: str | Dataset, folder: Path | None = None
) -> dict[str, Any]:
    """Which network a benchmark measured, to tell two seed-0 models apart.

    The same seed gives other weights on another thread count, machine or package
    version (see ``TRAIN_THREADS``), so a results file names its network by these.

    Parameters
    ----------
    model : ZooModel
        A zoo classifier, as :func:`cached_model` returns it.
    dataset : str or Dataset
        The data set it was trained on: a name for ``unboxed.load_dataset``, or the
        data set itself.
    folder : Path, optional
        The folder that keeps its test accuracy; by default that of the seed-0 zoo
        model, ``CACHE / "<arch>-<data set>"``.

    Returns
    -------
    dict
        ``arch`` and ``dataset``; ``weights_sha256``, a SHA-256 of the weights and
        buffers themselves (names in sorted order, dtypes, shapes, values), not of a
        file's bytes, so that it does not depend on how or where the model was saved;
        ``n_parameters``; ``test_accuracy`` on the data set's whole test split of
        ``n_test`` images. The accuracy is computed once per digest and kept in
        ``ACCURACY_FILE`` in ``folder``.
    """
    if not isinstance(model, zoo.ZooModel):
        raise TypeError(f"model must be a zoo classifier (a ZooModel), got {type(model).__name__}")
    if not isinstance(dataset, str | Dataset):
        raise TypeError(
            f"dataset must be a data set's name or a Dataset, got {type(dataset).__name__}"
        )
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if folder is None:
        folder = CACHE / f"{model.config['architecture']}-{data.name}"
    digest = weights_digest(model)
    accuracy = _test_accuracy(model, data, digest, folder / ACCURACY_FILE)
    return {
        "arch": model.config["architecture"],
        "dataset": data.name,
        "weights_sha256": digest,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        **accuracy,
    }


def _test_accuracy(model: zoo.ZooModel, dataset: Any, digest: str, path: Path) -> dict[str, Any]:
    """``test_accuracy`` and ``n_test`` of ``model``, read from ``path`` when a valid
    record of these weights on this test split is there, else computed and kept."""
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


def keep_models(name: str, keys: list[str], source: Path | None = None) -> None:
    """Put the networks of ``keys`` named by the last ``<name>.json`` (or by the results
    file ``source``) into ``KEPT``: a run that keeps some of that file's figures keeps
    the record of their networks too (files written before networks were recorded name
    none)."""
    previous = RESULTS / f"{name}.json" if source is None else source
    if not previous.exists():
        return
    models = read_results(previous, optional={"models": dict}).get("models", {})
    # A key's "(kept figures)" networks too: which figures they are behind is not
    # recorded, and a kept figure may be one of theirs.
    for listed, model in models.items():
        if network_key(listed) in keys:
            _add_network(KEPT, network_key(listed), model)


def models_used() -> dict[str, dict[str, Any]]:
    """The networks behind a results file's figures: those loaded in this run, and those
    of figures kept from an earlier run, under ``<key> (kept figures)`` (then ``(kept
    figures 2)``...) where a kept network differs from one already named by its key."""
    models = dict(LOADED)
    for name, kept in KEPT.items():
        _add_network(models, network_key(name), kept)
    return models


_KEPT_MARK = re.compile(r" \(kept figures(?: \d+)?\)$")


def network_key(name: str) -> str:
    """A network's ``<arch>-<data set>`` (or folder) key: ``name`` without the mark of
    a network of kept figures."""
    return _KEPT_MARK.sub("", name)


def _add_network(models: dict[str, dict[str, Any]], key: str, model: dict[str, Any]) -> None:
    """Add ``model`` under ``key``, unless those weights are there under ``key`` already;
    another network of the same key goes under a "(kept figures)" name of its own."""
    same_key = [known for name, known in models.items() if network_key(name) == key]
    if any(known.get("weights_sha256") == model.get("weights_sha256") for known in same_key):
        return
    mark = {0: "", 1: " (kept figures)"}.get(len(same_key), f" (kept figures {len(same_key)})")
    models[key + mark] = model


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
    """What the figures were measured on: versions, the CPU, its logical cores
    (``cpu_count``) and those this process may run on (``cpus_usable``, fewer under a
    container's or ``taskset``'s limit; None where the platform cannot say)."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux only
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "unboxed": __version__,
        "cpu": platform.processor() or platform.machine(),
        # The processor's name and torch's kernels for it: trained weights follow both
        # (docs/data-and-zoo.md), so a results file can say why a digest moved.
        "cpu_model": _cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": None if affinity is None else len(affinity(0)),
    }


def _cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The processor's name, "AMD EPYC 7B13" say, from ``cpuinfo``; None where there
    is none (not Linux)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return None
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else None


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
    for name, model in models.items():
        key = network_key(name)
        kept = " (kept figures)" if name != key else ""
        network = f"{model['arch']} on {model['dataset']}"
        # A script's own network (CLIME's) is named by its folder, as several of them
        # share an architecture and data set.
        if key != f"{model['arch']}-{model['dataset']}":
            network = f"{key} ({network})"
        lines.append(
            f"- {network}{kept}: weights sha256 "
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


def read_results(
    path: Path,
    required: dict[str, type] | None = None,
    optional: dict[str, type] | None = None,
    *,
    what: str = "a results file",
) -> dict[str, Any]:
    """The JSON object of the results file ``path``, which a run reads back to merge or
    compare: refused, naming the file and what is wrong, where it is not JSON, not an
    object, lacks a key of ``required`` or holds a key of ``required`` or ``optional``
    of another type (a bare JSONDecodeError or KeyError came from deep inside before).

    Parameters
    ----------
    path : Path
    required, optional : dict of str to type, optional
        The keys the reader needs, and those it reads where present, with their types.
    what : str
        What the file should be, for the messages.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If the file cannot be read as such.
    """
    data = read_json(path, what=what)  # names the file where it is not JSON
    if not isinstance(data, dict):
        raise results_error(path, f"its JSON is a {type(data).__name__}, not an object", what)
    for key, kind in {**(optional or {}), **(required or {})}.items():
        if key not in data:
            if key in (required or {}):
                raise results_error(path, f"it has no {key!r}, which this run reads", what)
        elif not isinstance(data[key], kind):
            found = type(data[key]).__name__
            raise results_error(path, f"its {key!r} is a {found}, not a {kind.__name__}", what)
    return data


def results_error(path: Path, why: str, what: str = "a results file") -> ValueError:
    """The error for a file at ``path`` that is not ``what``, saying ``why``."""
    return ValueError(f"{path} is not {what}: {why}")


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
    setups = read_results(previous, {"setups": list})["setups"]
    try:
        for setup in setups:
            for method in methods(setup).values():
                method["keep"] = {int(k): v for k, v in method["keep"].items()}
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        why = f"its setups do not hold each method's 'keep' figures ({type(err).__name__}: {err})"
        raise results_error(previous, why) from err
    return setups
