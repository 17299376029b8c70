"""How low can a per-class pixel ranking drive the PCR of Fig. 2a at all?

The scrutability test of ``benchmarks/dmm_men.py`` nullifies (sets to 0) the top k
features of each class's ranking in the cases the network assigns to that class, and
counts the cases it still assigns there (the PCR; target <= 0.3 at k = 75). Earlier
reports read the network's own class-mean gradient x input (PCR 0.37 on Fashion-MNIST)
as the floor of any per-class ranking. This benchmark looks for a lower one with the
network's gradients: for each class, a soft mask m in [0, 1]^d with sum k (projected
onto that capped simplex after each step) minimises a hinge on the class margin,
``mean relu(z_c - max_other z + 2)`` of ``z = f(x * (1 - m))``, over the class's cases
among up to 10,000 test images (the benchmark's are training images); its top k pixels are then
scored by the benchmark's own ``deletion_test`` on the benchmark's images (the same
seed, 50 bootstraps of 30%). The class-mean gradient x input of the benchmark is
scored the same way, side by side. Nothing here is an explanation method: it is an
upper bound on the best PCR a per-class ranking can reach, found by search.

Run: ``.venv/bin/python benchmarks/scrutability_floor.py`` (about 30 minutes on 2
cores, the two setups in parallel). Writes ``benchmarks/results/scrutability_floor.md``
and ``.json``.
"""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
from _common import machine, write_results
from dmm_men import SETUPS, setup_data

from unboxed import FeatureImportance, make_meta
from unboxed.evaluate import deletion_test
from unboxed.local import InputXGradient

SEED = 0
K = 75
KS = (50, 75, 100)
STEPS = 300
N_SEARCH = 10_000
#: The hinge's margin: the search keeps pushing a case until the class trails another
#: class's logit by this much, so that the hard top-k mask still flips it.
MARGIN = 2.0


def project(v, k: float, n_bisect: int = 50):
    """Euclidean projection of ``v`` onto ``{0 <= m <= 1, sum m = k}`` (bisection on
    the shift t of ``clip(v - t, 0, 1)``, whose sum falls as t grows)."""
    lo, hi = float(v.min()) - 1.0, float(v.max())
    for _ in range(n_bisect):
        mid = (lo + hi) / 2
        if float((v - mid).clamp(0, 1).sum()) > k:
            lo = mid
        else:
            hi = mid
    return (v - (lo + hi) / 2).clamp(0, 1)


def search_mask(net, cases, class_: int, shape, d: int):
    """The soft mask of one class after :data:`STEPS` projected, normalised steps."""
    import torch

    m = torch.full((d,), K / d)
    for step in range(STEPS):
        m.requires_grad_(True)
        z = net((cases * (1 - m)).reshape(-1, *shape))
        others = z.clone()
        others[:, class_] = -torch.inf
        loss = torch.relu(z[:, class_] - others.max(dim=1).values + MARGIN).mean()
        (grad,) = torch.autograd.grad(loss, m)
        with torch.no_grad():
            size = 0.2 * (1 - step / STEPS) + 0.01
            m = project(m - size * grad / (grad.abs().max() + 1e-12), K)
    return m.detach().numpy()


def run_setup(setup: tuple[str, str]) -> dict:
    import torch

    torch.set_num_threads(1)  # one process per setup shares the two cores
    torch.manual_seed(SEED)
    arch, dataset_name = setup
    dataset, blackbox, X = setup_data(arch, dataset_name, SEED)
    # The benchmark's images are training images (all of MNIST's here): search on test ones.
    search = dataset.X_test[:N_SEARCH]
    net = blackbox.module.eval()
    predicted = blackbox.predict(search)
    d = X.shape[1]
    masks = np.vstack(
        [
            search_mask(
                net,
                torch.tensor(search[predicted == c], dtype=torch.float32),
                c,
                blackbox.input_shape,
                d,
            )
            for c in range(blackbox.n_classes)
        ]
    )
    gradient = InputXGradient(blackbox).explain(X).values
    own = blackbox.predict(X)
    mean_gxi = np.vstack([gradient[own == c].mean(axis=0) for c in range(blackbox.n_classes)])
    common = {"fill": "zero", "n_boot": 50, "sample_frac": 0.3, "random_state": SEED}
    results = {}
    for name, values in (
        ("searched mask", masks),
        ("class-mean gradient x input", mean_gxi),
    ):
        ranking = FeatureImportance(values, make_meta(name, {}))
        results[name] = deletion_test(
            blackbox, X, ranking, list(KS), verbose=False, **common
        ).as_dict()
        print(f"{arch}/{dataset_name} {name}: PCR {np.round(results[name]['pcr'], 3)}", flush=True)
    return {"model": arch, "dataset": dataset_name, "n_images": len(X), "results": results}


def _cells(pcr: list[float], ci: list[list[float]]) -> str:
    return " | ".join(f"{p:.3f} [{lo:.3f}, {hi:.3f}]" for p, (lo, hi) in zip(pcr, ci, strict=True))


def markdown(setups: list[dict]) -> str:
    lines = [
        "# How low a per-class ranking can drive the PCR (Fig. 2a)",
        "",
        "Command: `python benchmarks/scrutability_floor.py`. The images and test of "
        "`dmm_men.md`: the cases the network assigns to each class, the top k pixels of "
        "that class's ranking set to 0, PCR = the share still assigned to the class, "
        f"50 bootstraps of 30%, 95% CIs. 'searched mask': for each class, a mask of "
        f"{K} pixels found by {STEPS} projected-gradient steps on the network's own "
        f"class margin over up to {N_SEARCH:,} test images (see the script's "
        "docstring): a search, not an explanation, so an upper bound on the lowest PCR a "
        "per-class ranking reaches. 'class-mean gradient x input': the reference "
        "`dmm_men.md` reports.",
        "",
    ]
    for s in setups:
        lines += [
            f"## {s['model']} on {s['dataset']}",
            "",
            "| ranking | " + " | ".join(f"PCR, top {k} nullified" for k in KS) + " |",
            "|---|" + "---|" * len(KS),
        ]
        for name, r in s["results"].items():
            lines.append(f"| {name} | {_cells(r['pcr'], r['pcr_ci'])} |")
        # Every ranking is scored with the same seed, so the random pixels are the same.
        r = next(iter(s["results"].values()))
        lines += [f"| random pixels | {_cells(r['random_pcr'], r['random_pcr_ci'])} |", ""]
    return "\n".join(lines)


def main() -> None:
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    with multiprocessing.get_context("spawn").Pool(len(SETUPS)) as pool:
        setups = pool.map(run_setup, SETUPS)
    write_results(
        "scrutability_floor",
        markdown(setups),
        {"machine": machine(), "k": K, "steps": STEPS, "seed": SEED, "setups": setups},
    )


if __name__ == "__main__":
    main()
