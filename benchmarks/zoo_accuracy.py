"""Test accuracy of the reference black boxes, against the papers' baselines.

Trains each zoo model with several seeds through the same code path as
``unboxed train``, and writes ``benchmarks/results/zoo_accuracy.md`` and ``.json``:
per-seed accuracy, mean and standard deviation over seeds, a 95% bootstrap CI over
the test images for seed 0, and the wall time. Seed-0 models are cached in
``~/.cache/unboxed/models/<model>-<dataset>`` for the other benchmarks, and both
results files name them (weights' SHA-256, test accuracy), as the other benchmarks'
files name the networks they measured.

Run: ``.venv/bin/python benchmarks/zoo_accuracy.py`` (about 7 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from _common import (
    CACHE,
    TRAIN_THREADS,
    TRAINING,
    record_model,
    train_zoo_model,
    write_results,
)

from unboxed import __version__, load_dataset, zoo
from unboxed.evaluate._stats import estimate

# Target accuracy from the papers' baselines, per (model, dataset) of TRAINING.
TARGETS = {
    ("mlp", "fashion-mnist"): 0.88,
    ("lenet", "fashion-mnist"): 0.89,
    ("lenet", "mnist"): 0.97,
    ("mlp", "mnist"): None,
}


def command(model: str, dataset: str, epochs: int, lr: float, seed: int, out: str) -> str:
    return (
        f"OMP_NUM_THREADS={TRAIN_THREADS} unboxed train --model {model} --dataset {dataset} "
        f"--epochs {epochs} --lr {lr:g} --seed {seed} --out {out}"
    )


def run(seeds: list[int]) -> list[dict]:
    if 0 not in seeds:
        # The seed-0 model is the one cached for the other benchmarks, with its CI here.
        raise ValueError(f"--seeds must include 0, the seed the benchmarks use; got {seeds}")
    rows = []
    for (model_name, dataset_name), target in TARGETS.items():
        epochs, lr = (TRAINING[(model_name, dataset_name)][k] for k in ("epochs", "lr"))
        dataset = load_dataset(dataset_name)
        accuracies, seconds, ci = [], [], None
        for seed in seeds:
            start = time.perf_counter()
            model, result = train_zoo_model(model_name, dataset, seed)
            seconds.append(time.perf_counter() - start)
            accuracies.append(result.test_accuracy)
            if seed == 0:  # cached, so the first seed given must not replace it
                correct = zoo.as_blackbox(model).predict(dataset.X_test) == dataset.y_test
                ci = estimate(correct, n_boot=2000, random_state=0)
                out = CACHE / f"{model_name}-{dataset_name}"
                zoo.save(
                    model,
                    out,
                    metadata={
                        "dataset": dataset_name,
                        "test_accuracy": result.test_accuracy,
                        "command": command(model_name, dataset_name, epochs, lr, seed, str(out)),
                    },
                )
                record_model(f"{model_name}-{dataset_name}", model, dataset_name)
            print(
                f"{model_name} on {dataset_name}, seed {seed}: {result.test_accuracy:.4f} "
                f"({seconds[-1]:.0f} s)",
                flush=True,
            )
        rows.append(
            {
                "model": model_name,
                "dataset": dataset_name,
                "epochs": epochs,
                "lr": lr,
                "seeds": seeds,
                "accuracy": accuracies,
                "mean": float(np.mean(accuracies)),
                "std": float(np.std(accuracies, ddof=1)) if len(seeds) > 1 else 0.0,
                "seed0_ci": list(ci.ci),
                "seconds": seconds,
                "target": target,
                "n_test": int(dataset.y_test.size),
                "command": command(
                    model_name,
                    dataset_name,
                    epochs,
                    lr,
                    0,
                    f"models/{model_name}-{dataset_name}",
                ),
            }
        )
    return rows


def write(rows: list[dict]) -> None:
    """Write ``results/zoo_accuracy.json`` and ``.md``, naming the cached networks."""
    env = {
        "unboxed": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": TRAIN_THREADS,
        "machine": platform.machine(),
    }
    lines = [
        "# Zoo: test accuracy of the reference black boxes",
        "",
        f"Produced by `python benchmarks/zoo_accuracy.py` (unboxed {env['unboxed']}, "
        f"torch {env['torch']}, {env['threads']} CPU threads). Adam, batch 128, cosine "
        "learning rate from `lr` to 0. Spread: mean ± standard deviation over the seeds, and "
        "a 95% bootstrap CI over the test images for the first seed.",
        "",
        "| model | data | epochs | lr | accuracy per seed | mean ± sd | seed-0 95% CI | target "
        "| time per run | reproduce (first seed) |",
        "|---|---|---:|---:|---|---|---|---|---:|---|",
    ]
    for r in rows:
        per_seed = ", ".join(f"{a:.4f}" for a in r["accuracy"])
        target = "—" if r["target"] is None else f">= {r['target']:.2f}"
        met = "" if r["target"] is None else (" ✓" if min(r["accuracy"]) >= r["target"] else " ✗")
        lines.append(
            f"| {r['model']} | {r['dataset']} ({r['n_test']} test) | {r['epochs']} | {r['lr']:g} "
            f"| {per_seed} | {r['mean']:.4f} ± {r['std']:.4f} | [{r['seed0_ci'][0]:.4f}, "
            f"{r['seed0_ci'][1]:.4f}] | {target}{met} | {np.mean(r['seconds']):.0f} s "
            f"| `{r['command']}` |"
        )
    write_results("zoo_accuracy", "\n".join(lines) + "\n", {"rows": rows, "env": env})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    write(run([int(s) for s in args.seeds.split(",")]))


if __name__ == "__main__":
    main()
