"""Shared by the benchmarks: cached reference models, timing, result files."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unboxed import __version__, load_dataset, zoo
from unboxed._io import _finite, atomic_write

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


def cached_model(arch: str, dataset_name: str) -> zoo.ZooModel:
    """The seed-0 zoo model from ``~/.cache/unboxed/models``, trained first if missing."""
    folder = CACHE / f"{arch}-{dataset_name}"
    if (folder / "model.json").is_file():
        return zoo.load(folder)
    model, _ = train_zoo_model(arch, load_dataset(dataset_name), seed=0)
    zoo.save(model, folder, metadata={"dataset": dataset_name})
    return model


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
    """Write ``benchmarks/results/<name>.md`` and ``.json``, each atomically."""
    write_text(RESULTS / f"{name}.md", markdown)
    write_text(RESULTS / f"{name}.json", results_json(data))


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
    out = []
    for arch, dataset in setups:
        if (arch, dataset) in fresh:
            out.append(fresh[(arch, dataset)])
        else:
            out += [s for s in kept if (s["model"], s["dataset"]) == (arch, dataset)][:1]
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
