"""DMM-MEN's sweep cost, and its GIG draws against scipy's, side by side in one run.

The sampler draws one GIG variate per used prior and sweep (the lambda2 proposal).
It draws them with its own scalar versions of Hoermann and Leydold's rejection
samplers, the algorithms behind ``scipy.stats.geninvgauss``, because scipy's call
overhead was about a fifth of a sweep. This benchmark measures:

- the time per GIG draw, ours against ``scipy.stats.geninvgauss.rvs`` one scalar at a
  time (as the sampler needs them), at the parameters the sampler meets, with a
  two-sample KS test that the two draw the same law;
- the time per sweep of one chain (``run_chain``, J = 6, one thread) on the rows the
  black box assigns to classes 0-2, with 2 seeds each: 300 top-variance pixels (the
  main benchmark's) and 100 principal-component scores (``reduction="pca"``), on the
  MLP/MNIST and LeNet/Fashion-MNIST of ``dmm_men.py``.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dmm_men_sweep.py`` (about 5
minutes). Writes ``benchmarks/results/dmm_men_sweep.md`` and ``.json``.
"""

from __future__ import annotations

import time

import numpy as np
from _common import cached_model, machine, write_results
from dmm_men import N_FEATURES, N_FIT
from scipy import stats

from unboxed import load_dataset, zoo
from unboxed.surrogates import DMMMEN
from unboxed.surrogates._dmm import _design, class_logit
from unboxed.surrogates._dmm_chain import run_chain
from unboxed.surrogates._dmm_math import sample_gig

SETUPS = (("mlp", "mnist"), ("lenet", "fashion-mnist"))
N_SWEEPS = 1500
CLASSES = (0, 1, 2)
SEEDS = (0, 1)
#: (shape, omega): the default lambda2 shape, over the range of omega the sampler meets.
GIG_PARAMETERS = ((4.0, 1.0), (4.0, 30.0), (4.0, 1000.0))
N_DRAWS = 5000


def gig_rows() -> list[dict]:
    rows = []
    for shape, omega in GIG_PARAMETERS:
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        ours = np.array([sample_gig(shape, omega, omega, rng) for _ in range(N_DRAWS)])
        ours_s = time.perf_counter() - start
        law = stats.geninvgauss(shape, omega)
        start = time.perf_counter()
        theirs = np.array([law.rvs(random_state=rng) for _ in range(N_DRAWS)])
        theirs_s = time.perf_counter() - start
        rows.append(
            {
                "shape": shape,
                "omega": omega,
                "ours_us": 1e6 * ours_s / N_DRAWS,
                "scipy_us": 1e6 * theirs_s / N_DRAWS,
                "ks_pvalue": float(stats.ks_2samp(ours, theirs).pvalue),
            }
        )
        print(rows[-1], flush=True)
    return rows


def class_problems(arch: str, dataset_name: str, reduction: str) -> list[tuple]:
    """The centred design and logits of each class in CLASSES, as the global fit builds
    them (its own feature reduction and class logits)."""
    dataset = load_dataset(dataset_name)
    blackbox = zoo.as_blackbox(cached_model(arch, dataset_name))
    rng = np.random.default_rng(0)
    rows = rng.choice(len(dataset.X_train), N_FIT[dataset_name], replace=False)
    X = dataset.X_train[np.sort(rows)]
    n_features = N_FEATURES if reduction == "variance" else 100
    features, axes, center = DMMMEN(n_features=n_features, reduction=reduction)._reduce(X)
    inputs = X[:, features] if axes is None else (X[:, features] - center) @ axes.T
    proba = blackbox.predict_proba(X)
    predicted = proba.argmax(axis=1)
    problems = []
    for c in CLASSES:
        own = predicted == c
        design, y, _, _ = _design(inputs[own], class_logit(proba[own], np.full(own.sum(), c)))
        problems.append((c, design, y))
    return problems


def sweep_rows() -> list[dict]:
    settings = DMMMEN(n_components=6, n_iter=N_SWEEPS, n_chains=1)._settings()
    rows = []
    for arch, dataset_name in SETUPS:
        for reduction in ("variance", "pca"):
            ms = []
            for c, design, y in class_problems(arch, dataset_name, reduction):
                for seed in SEEDS:
                    start = time.perf_counter()
                    run_chain(design, y, settings, np.random.default_rng([seed, c]))
                    ms.append(1e3 * (time.perf_counter() - start) / N_SWEEPS)
            rows.append(
                {
                    "model": arch,
                    "dataset": dataset_name,
                    "features": "300 pixels" if reduction == "variance" else "100 components",
                    "ms_per_sweep": ms,
                }
            )
            print(rows[-1]["dataset"], rows[-1]["features"], np.round(ms, 2), flush=True)
    return rows


def markdown(gig: list[dict], sweeps: list[dict]) -> str:
    lines = [
        "# DMM-MEN: sweep cost, and the GIG draws against scipy's",
        "",
        "Command: `OMP_NUM_THREADS=1 python benchmarks/dmm_men_sweep.py`. One process, one thread.",
        "",
        f"## GIG draws, one scalar at a time ({N_DRAWS} each)",
        "",
        "| shape | omega | ours (us per draw) | scipy geninvgauss (us per draw) | "
        "two-sample KS p-value |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in gig:
        lines.append(
            f"| {r['shape']:g} | {r['omega']:g} | {r['ours_us']:.1f} | {r['scipy_us']:.1f} "
            f"| {r['ks_pvalue']:.3f} |"
        )
    lines += [
        "",
        f"## Time per sweep ({N_SWEEPS} sweeps of one chain, J = 6, classes "
        f"{', '.join(map(str, CLASSES))} x seeds {', '.join(map(str, SEEDS))})",
        "",
        "| model | data | features | mean ms per sweep | min | max |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in sweeps:
        ms = np.asarray(r["ms_per_sweep"])
        lines.append(
            f"| {r['model']} | {r['dataset']} | {r['features']} | {ms.mean():.2f} | "
            f"{ms.min():.2f} | {ms.max():.2f} |"
        )
    return "\n".join([*lines, ""])


def main() -> None:
    gig, sweeps = gig_rows(), sweep_rows()
    write_results(
        "dmm_men_sweep",
        markdown(gig, sweeps),
        {"machine": machine(), "n_sweeps": N_SWEEPS, "gig": gig, "sweeps": sweeps},
    )


if __name__ == "__main__":
    main()
