"""DMM-MEN: how the number of components J trades convergence against scrutability.

The main benchmark (``benchmarks/dmm_men.py``) fits J = 6, the default of
``../shared/notes/dmm-men-sampler.md``, and its chains do not mix: on several classes
they settle in different partitions of the samples, thousands of sweeps apart in
log-likelihood. This study refits the same global model with J = 6 and J = 3 side by
side in one run, on the same images and seed, for both setups of the main benchmark,
and reports for each: time, R-hat per class, held-out R^2, the weight of the last
stick (the note: "raise J if the last stick keeps weight"), and the scrutability
tests of Fig. 2 at the issue's targets (positive cases nullified at k = 75; crafted
cases at k = 50 with marginal noise), for each insight ranking.

Other studies compare, in the same way (each described in ``STUDIES``):

- ``--study pilots``: single-start chains against chains that each start from the best
  of 8 pilot runs of 50 sweeps (``DMMMEN(n_init=8)``), at the same total sweeps;
- ``--study collapsed``: the note's sampler against collapsed allocation steps
  (``collapse_every=1``) at about the same time;
- ``--study workers``: two classes at a time in two processes (``n_jobs=2``), with
  3000 and 6000 sweeps; the setups run one after the other;
- ``--study splitmerge``: the note's sampler against split-merge moves every 10th
  sweep (``split_merge_every=10``), with ``n_jobs=2``; one setup after the other;
- ``--study splitmerge5``: a move every 5th sweep for 2500 sweeps, likewise;
- ``--study splitmerge_seed1``: the splitmerge study's first two rows with the chains
  seeded 1;
- ``--study workers_seed1``: the main benchmark's fit (6000 sweeps, ``n_jobs=2``) with
  the chains seeded 1;
- ``--study occlusion``: fits on the images alone against fits on the images plus
  occluded copies of each (``DMMMEN(n_occlusions=2)``), on pixels and on principal
  components;
- ``--study occlusion_seeds``: the main benchmark's second global fit (100 principal
  components, 2 occluded copies, 9000 sweeps after 8 pilots) with the chains seeded 1
  and 2; one setup after the other;
- ``--study pixels_long``: the main benchmark's first fit (300 pixels) with 12000
  sweeps after 8 pilots, the longest chains that fit the 10-minute budget;
- ``--study pixels_48k``: the same with 48000 sweeps, on MLP/MNIST only: how long the
  chains must run for the R-hat target;
- ``--study images_2000``: the main benchmark's first fit on 2000 of its images, with
  the chains seeded 0 and 1: fewer samples per class against the R-hat target;
- ``--study pca``: the regressions on 100 principal-component scores
  (``reduction="pca"``) in place of 300 pixels, at 6000 sweeps and, with pilots, at
  10000 sweeps with two seeds; one setup after the other.

Run: ``.venv/bin/python benchmarks/dmm_men_components.py [--study NAME]`` (25-30
minutes on 2 cores: one process per setup, except the sequential studies: ``workers``
and ``splitmerge`` about 45 minutes, ``splitmerge5`` 20, ``splitmerge_seed1`` 25 and
``workers_seed1`` 28, ``pca`` about 60, ``occlusion`` about 22, ``occlusion_seeds``
19, ``pixels_long`` 35, ``pixels_48k`` about 70, ``images_2000`` about 40). Writes
``benchmarks/results/dmm_men_<study>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import warnings

import numpy as np
from _common import cached_model, machine, write_results
from dmm_men import INSIGHT_RANKINGS, SETUPS, global_fit, setup_data

from unboxed.evaluate import crafted_cases, deletion_test

N_ITER = 3000
SEED = 0
#: The pca study's global model: J = 6 on 100 principal-component scores, 2 workers.
PCA = {"n_components": 6, "n_jobs": 2, "reduction": "pca", "n_features": 100}
#: The occlusion study's copies: two per image, each losing up to 30% of the pixels.
OCCLUDED = {"n_occlusions": 2, "max_occluded": 0.3}
#: Each study: its title, the first column of its tables, what it compares, and the
#: settings compared (label -> DMMMEN options; ``n_iter`` defaults to N_ITER). The
#: pilots' 8 x 50 sweeps are taken off ``n_iter``, so both rows of that study run 3000
#: sweeps per chain.
STUDIES = {
    "components": {
        "title": "components J",
        "head": "J",
        "compared": "with J = 6 (the note's default, the main benchmark's) and J = 3",
        "settings": {"6": {"n_components": 6}, "3": {"n_components": 3}},
    },
    "pilots": {
        "title": "pilot starts",
        "head": "start",
        "compared": "with J = 6, each chain from a single start (the main benchmark's) and "
        "each from the best of 8 pilot runs of 50 sweeps by their second half's mean "
        "log-likelihood, then 2600 sweeps (burn-in 1300), so that both run 3000 sweeps",
        "settings": {
            "single start": {"n_components": 6},
            "best of 8 pilots": {
                "n_components": 6,
                "n_init": 8,
                "init_sweeps": 50,
                "n_iter": 2600,
            },
        },
    },
    "collapsed": {
        "title": "collapsed allocations",
        "head": "sampler",
        "compared": "with J = 6, the note's sampler (the main benchmark's) and every sweep "
        "drawing the allocations with the coefficients integrated out (`collapse_every=1`) "
        "for 300 sweeps (burn-in 150), a tenth of the sweeps, for about the same time "
        "(a collapsed sweep costs 10-20 of the note's)",
        "settings": {
            "note's sampler": {"n_components": 6},
            "collapsed, 300 sweeps": {"n_components": 6, "collapse_every": 1, "n_iter": 300},
        },
    },
    "workers": {
        "title": "classes in two worker processes",
        "head": "fit",
        "compared": "with J = 6 and the note's sampler, fitting two classes at a time in two "
        "processes (`n_jobs=2`), with the main benchmark's 3000 sweeps (the same draws) "
        "and with 6000 (burn-in 3000); the two setups run one after the other, so each "
        "fit has both cores",
        "sequential": True,
        "settings": {
            "3000 sweeps, n_jobs=2": {"n_components": 6, "n_jobs": 2},
            "6000 sweeps, n_jobs=2": {"n_components": 6, "n_jobs": 2, "n_iter": 6000},
        },
    },
    "workers_seed1": {
        "title": "the main benchmark's fit, another seed",
        "head": "fit",
        "compared": "with J = 6, the main benchmark's setting (6000 sweeps, burn-in 3000, "
        "`n_jobs=2`) with the chains seeded 1 instead of 0 (the images are the same), to "
        "see how far the worst R-hat moves between seeds; the setups run one after the other",
        "sequential": True,
        "settings": {
            "6000 sweeps, n_jobs=2, seed 1": {
                "n_components": 6,
                "n_jobs": 2,
                "n_iter": 6000,
                "seed": 1,
            },
        },
    },
    "splitmerge": {
        "title": "split-merge moves",
        "head": "sampler",
        "compared": "with J = 6 and `n_jobs=2`, the note's sampler (the main benchmark's "
        "draws) and a split-merge move every 10th sweep (`split_merge_every=10`), with "
        "3000 sweeps and with 4500 (burn-in 2250); the setups run one after the other, so "
        "each fit has both cores",
        "sequential": True,
        "settings": {
            "note's sampler, 3000 sweeps": {"n_components": 6, "n_jobs": 2},
            "split-merge, 3000 sweeps": {"n_components": 6, "n_jobs": 2, "split_merge_every": 10},
            "split-merge, 4500 sweeps": {
                "n_components": 6,
                "n_jobs": 2,
                "split_merge_every": 10,
                "n_iter": 4500,
            },
        },
    },
    "splitmerge5": {
        "title": "frequent split-merge moves",
        "head": "sampler",
        "compared": "with J = 6 and `n_jobs=2`, a split-merge move every 5th sweep "
        "(`split_merge_every=5`) for 2500 sweeps (burn-in 1250), to fit the 10-minute "
        "budget (a move costs about 5 sweeps); the setups run one after the other",
        "sequential": True,
        "settings": {
            "split-merge every 5th, 2500 sweeps": {
                "n_components": 6,
                "n_jobs": 2,
                "split_merge_every": 5,
                "n_iter": 2500,
            },
        },
    },
    "splitmerge_seed1": {
        "title": "split-merge moves, another seed",
        "head": "sampler",
        "compared": "with J = 6 and `n_jobs=2`, the splitmerge study's first two rows again "
        "with the chains seeded 1 instead of 0 (the images are the same), to see how much "
        "of the difference is one seed's luck; the setups run one after the other",
        "sequential": True,
        "settings": {
            "note's sampler, 3000 sweeps, seed 1": {"n_components": 6, "n_jobs": 2, "seed": 1},
            "split-merge, 3000 sweeps, seed 1": {
                "n_components": 6,
                "n_jobs": 2,
                "split_merge_every": 10,
                "seed": 1,
            },
        },
    },
    "pca": {
        "title": "principal-component scores",
        "head": "fit",
        "compared": "with J = 6 and `n_jobs=2`, regressing on the scores of the top 100 "
        "principal components of the images (`reduction='pca', n_features=100`) in place "
        "of the 300 top-variance pixels; coefficients, "
        "insights and R-hat are on the pixels, mapped back. A sweep costs about half of "
        "the pixels' one, so the rows run 6000 sweeps (the main benchmark's) and, within "
        "the 10-minute target, 10000 sweeps after the best of 8 pilot runs of 50 sweeps, "
        "with the chains seeded 0 and 1; the setups run one after the other",
        "sequential": True,
        "settings": {
            "PCA 100, 6000 sweeps": {**PCA, "n_iter": 6000},
            "PCA 100, 10000 sweeps, 8 pilots": {**PCA, "n_iter": 10000, "n_init": 8},
            "PCA 100, 10000 sweeps, 8 pilots, seed 1": {
                **PCA,
                "n_iter": 10000,
                "n_init": 8,
                "seed": 1,
            },
        },
    },
    "occlusion": {
        "title": "occluded copies",
        "head": "fit",
        "compared": "with J = 6, fitted on the images alone (3000 sweeps) and on the "
        "images plus 2 occluded copies of each (`n_occlusions=2, max_occluded=0.3`: each "
        "copy has up to 30% of the pixels the regressions use set to 0, and its target is "
        "the network's logit on the copy), each on 300 pixels "
        "and on 100 principal-component scores (`reduction='pca'`); a sweep over three "
        "times the rows costs up to three times as much, so the copies' rows run 1000 "
        "sweeps (burn-in 500), which took less time than the 3000 without them",
        "settings": {
            "300 pixels, 3000 sweeps": {"n_components": 6},
            "300 pixels, 2 occluded copies, 1000 sweeps": {
                **OCCLUDED,
                "n_components": 6,
                "n_iter": 1000,
            },
            "PCA 100, 3000 sweeps": {**PCA, "n_jobs": 1},
            "PCA 100, 2 occluded copies, 1000 sweeps": {
                **OCCLUDED,
                **PCA,
                "n_jobs": 1,
                "n_iter": 1000,
            },
        },
    },
    "occlusion_seeds": {
        "title": "the fit on components with occluded copies, other seeds",
        "head": "fit",
        "compared": "as the main benchmark's second global fit (J = 6, `n_jobs=2`, 100 "
        "principal-component scores, 2 occluded copies of each image with up to 30% of the "
        "pixels set to 0, 9000 sweeps after the best of 8 pilot runs of 50 sweeps, burn-in "
        "4500), with the chains seeded 1 and 2 (the main benchmark's are seeded 0; the "
        "images are the same); the setups run one after the other",
        "sequential": True,
        "settings": {
            f"PCA 100, 2 occluded copies, 9000 sweeps, 8 pilots, seed {seed}": {
                **PCA,
                **OCCLUDED,
                "n_iter": 9000,
                "n_init": 8,
                "seed": seed,
            }
            for seed in (1, 2)
        },
    },
    "pca_long": {
        "title": "principal-component scores, longer chains",
        "head": "fit",
        "compared": "as in the pca study (J = 6, `n_jobs=2`, 100 principal-component "
        "scores, R-hat on the pixels), with the sampler's own GIG draws and LAPACK solves "
        "(17-39% faster per sweep): 14000 sweeps after the best of 8 pilot runs of 50 "
        "sweeps (chosen, from timings of a few classes, to fit the 10-minute target), with "
        "the chains seeded 0 and 1; the setups run one after the other",
        "sequential": True,
        "settings": {
            f"PCA 100, 14000 sweeps, 8 pilots, seed {seed}": {
                **PCA,
                "n_iter": 14000,
                "n_init": 8,
                "seed": seed,
            }
            for seed in (0, 1)
        },
    },
    "pixels_long": {
        "title": "300 pixels, twice the sweeps, with pilots",
        "head": "fit",
        "compared": "as the main benchmark's first global fit (J = 6, `n_jobs=2`, the 300 "
        "pixels of largest variance) with 12000 sweeps (burn-in 6000) after the best of 8 "
        "pilot runs of 50 sweeps, twice the main fit's 6000, which took 256-292 s, so as "
        "to spend the 10-minute budget",
        "sequential": True,
        "settings": {
            "300 pixels, 12000 sweeps, 8 pilots": {"n_jobs": 2, "n_iter": 12000, "n_init": 8}
        },
    },
    "pixels_48k": {
        "title": "300 pixels, 48000 sweeps, against the R-hat target",
        "head": "fit",
        "compared": "as the main benchmark's first global fit (J = 6, `n_jobs=2`, the 300 "
        "pixels of largest variance) with 48000 sweeps (burn-in 24000) after the best of 8 "
        "pilot runs of 50 sweeps, 8 times the main fit's 6000: how long the chains must run "
        "before every class's R-hat falls below 1.1 (on one class, the worst at 6000 sweeps, "
        "a development run reached 1.02 at 48000); MLP on MNIST only, for time",
        "sequential": True,
        "setups": [("mlp", "mnist")],
        "settings": {
            "300 pixels, 48000 sweeps, 8 pilots": {"n_jobs": 2, "n_iter": 48000, "n_init": 8}
        },
    },
    "images_2000": {
        "title": "2000 images per fit",
        "head": "fit",
        "compared": "as the main benchmark's first global fit (J = 6, `n_jobs=2`, the 300 "
        "pixels of largest variance, 6000 sweeps, burn-in 3000) after the best of 8 pilot "
        "runs of 50 sweeps, but fitted on 2000 images, the first 2000 of the main fit's "
        "random draw (about 200 per class, of which 80% are fitted and 20% held out for "
        "R^2), with the chains seeded 0 and 1: whether fewer samples per class bring R-hat "
        "below 1.1 within the 10-minute budget, and what it costs in R^2; the scrutability "
        "tests still use all the main fit's images; the setups run one after the other",
        "sequential": True,
        "settings": {
            f"2000 images, seed {seed}": {
                "n_jobs": 2,
                "n_iter": 6000,
                "n_init": 8,
                "n_images": 2000,
                "seed": seed,
            }
            for seed in (0, 1)
        },
    },
}


def scrutability(model, blackbox, X) -> dict:
    """PCR at the targets' k for each insight ranking, with the random-feature baseline."""
    common = {"n_boot": 50, "sample_frac": 0.3, "random_state": SEED, "verbose": False}
    out = {}
    for by in INSIGHT_RANKINGS:
        ranking = model.class_insights(150, by=by)
        nullified = deletion_test(blackbox, X, ranking, [75], fill="zero", **common).as_dict()
        crafted = {
            key: crafted_cases(
                blackbox, X, ranking, [50], n_cases=2000, noise="marginal", values=values, **common
            ).as_dict()
            for key, values in (("crafted_50", "source"), ("crafted_max_50", "max"))
        }
        out[by] = {"nullified_75": nullified, **crafted}
    return out


def run_setup(setup: tuple[str, str], study: str = "components") -> dict:
    import torch

    torch.set_num_threads(1)  # one process per setup shares the two cores
    warnings.filterwarnings("ignore", category=UserWarning)
    arch, dataset_name = setup
    _, blackbox, X = setup_data(arch, dataset_name, SEED)
    fits = {}
    for label, options in STUDIES[study]["settings"].items():
        options = {"n_iter": N_ITER, **options}
        seed = options.pop("seed", SEED)  # the chains' seed; the images stay SEED's
        fitted = X[: options.pop("n_images", len(X))]  # the scrutability tests see all X
        model, fit = global_fit(blackbox, fitted, seed=seed, **options)
        fit["seed"] = seed
        fit["last_stick"] = [float(np.sort(w)[0]) for w in model.weights_]
        fit["scrutability"] = scrutability(model, blackbox, X)
        fits[label] = fit
        print(f"{arch}/{dataset_name} {label}: {fit['seconds']:.0f} s", flush=True)
    return {"model": arch, "dataset": dataset_name, "fits": fits}


def _ci(e: dict) -> str:
    return f"{e['pcr'][0]:.3f} [{e['pcr_ci'][0][0]:.3f}, {e['pcr_ci'][0][1]:.3f}]"


def _per_class_lines(fits: dict) -> list[str]:
    """Occupied components, R-hat of the log-likelihood (blind to labels) and, where
    the sampler made them, the split-merge acceptance, per class."""
    lines = []
    for label, fit in fits.items():
        classes = fit["classes"].values()
        text = (
            f"{label}: occupied components "
            + ", ".join(str(c["occupied"]) for c in classes)
            + "; R-hat of the log-likelihood "
            + ", ".join(f"{c['convergence']['log_likelihood']:.2f}" for c in classes)
        )
        if fit["options"].get("split_merge_every"):
            text += "; split-merge acceptance " + ", ".join(
                f"{c['acceptance'][3]:.3f}" for c in classes
            )
        lines += [text + ".", ""]
    return lines


def markdown(setups: list[dict], study: str = "components") -> str:
    about = STUDIES[study]
    flag = "" if study == "components" else f" --study {study}"
    head = about["head"]
    lines = [
        f"# DMM-MEN: {about['title']} against convergence and scrutability",
        "",
        f"Command: `python benchmarks/dmm_men_components.py{flag}`. The global fit of "
        f"`dmm_men.md` (the same images and 300 top-variance pixels; 2 chains of {N_ITER} "
        f"sweeps, burn-in {N_ITER // 2}, thin 2, seed {SEED}, unless a row says otherwise) "
        f"{about['compared']}, side by side in one run. "
        "R-hat: split R-hat over the "
        "coefficients of the occupied components and the insight (the main benchmark's). "
        "Smallest weight: each class's smallest posterior mean component weight, the "
        "largest over classes (the note raises J when the last stick keeps weight). "
        "Scrutability as in `dmm_men.md`: "
        "PCR of positive cases with the top 75 insight features set to 0 (target <= 0.3, "
        "random >= 0.85) and of cases crafted from the top 50 with marginal noise "
        "(target >= 0.5), the top 50 at the values of one positive case and (where a "
        "column shows it) at each pixel's largest value in the data, 50 bootstraps of "
        "30%, 95% CIs.",
        "",
    ]
    for s in setups:
        lines += [f"## {s['model']} on {s['dataset']}", ""]
        lines += [
            f"| {head} | fit s | max R-hat | classes with R-hat < 1.1 | mean R^2 "
            "| smallest weight |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for J, fit in s["fits"].items():
            rhats = [c["rhat"] for c in fit["classes"].values()]
            lines.append(
                f"| {J} | {fit['seconds']:.0f} | {max(rhats):.2f} | "
                f"{sum(r < 1.1 for r in rhats)}/{len(rhats)} | {fit['mean_r2']:.3f} | "
                f"{max(fit['last_stick']):.3f} |"
            )
        explained = [
            f"{label}: {fit['explained_variance']:.1%}"
            for label, fit in s["fits"].items()
            if "explained_variance" in fit
        ]
        if explained:
            lines += [
                "",
                "Pixel variance the principal components keep: " + "; ".join(explained) + ".",
            ]
        lines += [
            "",
            "R-hat per class: "
            + "; ".join(
                (f"J = {J}: " if study == "components" else f"{J}: ")
                + ", ".join(f"{c['rhat']:.2f}" for c in fit["classes"].values())
                for J, fit in s["fits"].items()
            )
            + ".",
            "",
            *_per_class_lines(s["fits"]),
            f"| {head} | insights by | PCR, top 75 nullified | random 75 nullified | "
            "crafted from top 50 | crafted from random 50 | crafted from top 50 at "
            "their largest | the same, random 50 |",
            "|---:|---|---|---|---|---|---|---|",
        ]
        for J, fit in s["fits"].items():
            for by, r in fit["scrutability"].items():
                n, c = r["nullified_75"], r["crafted_50"]
                at_max = r.get("crafted_max_50")  # not in the older studies
                largest = "— | —"
                if at_max:
                    largest = f"{_ci(at_max)} | {at_max['random_pcr'][0]:.3f}"
                lines.append(
                    f"| {J} | {by} | {_ci(n)} | {n['random_pcr'][0]:.3f} | {_ci(c)} | "
                    f"{c['random_pcr'][0]:.3f} | {largest} |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=sorted(STUDIES), default="components")
    study = parser.parse_args().study
    # One process per setup, one thread each: two BLAS threads per process on two
    # cores made the sampler's many small products several times slower.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    chosen = STUDIES[study].get("setups", SETUPS)
    for arch, dataset_name in chosen:  # here, so that the results name the networks
        cached_model(arch, dataset_name)
    if STUDIES[study].get("sequential"):
        setups = [run_setup(setup, study) for setup in chosen]
    else:
        with multiprocessing.get_context("spawn").Pool(len(chosen)) as pool:
            setups = pool.map(functools.partial(run_setup, study=study), chosen)
    write_results(
        f"dmm_men_{study}",
        markdown(setups, study),
        {"machine": machine(), "n_iter": N_ITER, "seed": SEED, "setups": setups},
    )


if __name__ == "__main__":
    main()
