"""Global probes: activation-maximization realism, tree-surrogate fidelity against depth,
the tree-regularization trade-off, and the spurious-cue case study.

Writes ``benchmarks/results/global_probes.md`` and ``.json``. Sources:
``002_3e5e1762af60ee33.txt`` (activation maximization with a regularizer or a
generator constraint; decision-tree proxies and tree regularization; the Pokémon/
Digimon background shortcut) and ``004_7c9aaa9fd587bc3d.txt`` (permutation importance).

1. Activation maximization, for every class of digits (a LeNet trained here) and of
   MNIST (the cached LeNet): each regularizer and the generator-constrained search
   through a VAE decoder, 3 random starts each. Realism is scored two ways: the
   distance to the nearest training image, and the ELBO under a second VAE trained
   with another seed (not the generator, which would favour its own outputs).
2. Tree surrogates of the cached Fashion-MNIST LeNet: held-out fidelity (agreement
   with the LeNet on the test split, 95% CI), leaves and mean decision-path length
   per depth, and the depth ``max_depth="auto"`` picks.
3. Tree regularization (Wu et al., 2018) on moons and on digits 3-vs-8: true average
   path length and test accuracy per lambda, over 3 seeds.
4. The spurious-cue case study of the demo, over 5 seeds, for the demo's black box (an
   MLP trained with weight decay) and for a LeNet trained without it.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/global_probes.py`` (about 15 minutes
on 2 shared cores). ``--quick`` runs a smaller version for a smoke test.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from _common import cached_model, machine, timed, write_results

from unboxed import load_dataset, zoo
from unboxed.data import select_classes
from unboxed.demo import CUE, CUE_CLASSES, CUE_MODEL, spurious_cue_study
from unboxed.evaluate._stats import estimate
from unboxed.probes import REGULARIZERS, ActivationMaximization, nearest_distance
from unboxed.surrogates import TreeSurrogate


def mean_sd(values: Any) -> str:
    arr = np.asarray(values, dtype=float)
    return f"{arr.mean():.3f} ± {arr.std(ddof=1) if arr.size > 1 else 0.0:.3f}"


def ci(est: Any) -> str:
    return f"{est.mean:.3f} [{est.ci[0]:.3f}, {est.ci[1]:.3f}]"


# ----------------------------------------------------------------- 1. activation maximization
def realism(
    name: str,
    model: zoo.ZooModel,
    dataset: Any,
    *,
    latent_dim: int,
    hidden: tuple[int, ...],
    vae_epochs: int,
    n_train: int,
    steps: int,
    seeds: int,
) -> dict[str, Any]:
    blackbox = zoo.as_blackbox(model)
    X_train = dataset.X_train[:n_train]
    vaes = {}
    for role, seed in (("generator", 0), ("scorer", 1)):
        vae = zoo.vae(
            n_features=dataset.n_features, latent_dim=latent_dim, hidden=hidden, random_state=seed
        )
        fit = zoo.train_vae(
            vae,
            X_train,
            X_test=dataset.X_test[:2000],
            epochs=vae_epochs,
            batch_size=64,
            random_state=seed,
            verbose=False,
        )
        vaes[role] = (vae, fit.test_elbo)
    generator, scorer = vaes["generator"][0], vaes["scorer"][0]
    configs = {reg: {"regularizer": reg} for reg in REGULARIZERS}
    configs["generator (VAE)"] = {"regularizer": "none", "generator": generator}
    rows: dict[str, dict[str, Any]] = {}
    for label, kwargs in configs.items():
        probs, dists, shapes, elbos, targets = [], [], [], [], []
        start = time.perf_counter()
        for seed in range(seeds):
            protos = ActivationMaximization(
                blackbox, steps=steps, random_state=seed, **kwargs
            ).explain()
            probs.append(protos.probability)
            dists.append(nearest_distance(protos.values, X_train))
            shapes.append(nearest_distance(protos.values, X_train, normalize=True))
            elbos.append(scorer.elbo(protos.values, random_state=seed))
            targets.append(protos.target)
        probs, dists, shapes, elbos = (np.concatenate(v) for v in (probs, dists, shapes, elbos))
        rows[label] = {
            "probability": probs.tolist(),
            "nearest_distance": dists.tolist(),
            "scale_free_distance": shapes.tolist(),
            "elbo": elbos.tolist(),
            "target": np.concatenate(targets).tolist(),
            "min_probability": float(probs.min()),
            "share_at_least_0.9": float((probs >= 0.9).mean()),
            "seconds": time.perf_counter() - start,
        }
    real = dataset.X_test[:500]
    rows["real test images"] = {
        "probability": blackbox.predict_proba(real)[
            np.arange(len(real)), dataset.y_test[:500]
        ].tolist(),
        "nearest_distance": nearest_distance(real, X_train).tolist(),
        "scale_free_distance": nearest_distance(real, X_train, normalize=True).tolist(),
        "elbo": scorer.elbo(real, random_state=0).tolist(),
        "target": dataset.y_test[:500].tolist(),
    }
    return {
        "dataset": name,
        "vae": {
            "latent_dim": latent_dim,
            "hidden": list(hidden),
            "epochs": vae_epochs,
            "n_train": len(X_train),
            "test_elbo_generator": vaes["generator"][1],
            "test_elbo_scorer": vaes["scorer"][1],
        },
        "steps": steps,
        "seeds": seeds,
        "rows": rows,
    }


def realism_markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        f"#### {result['dataset']}: {result['seeds']} random starts x every class, "
        f"{result['steps']} Adam steps (VAE: latent {result['vae']['latent_dim']}, held-out "
        f"ELBO {result['vae']['test_elbo_scorer']:.1f} nats for the scorer)",
        "",
        "| search | p(class) mean ± sd | min p | share p ≥ 0.9 | distance to nearest "
        "training image, mean ± sd | scale-free distance, mean ± sd | ELBO under the "
        "scorer VAE (nats), mean ± sd |",
        "|---|---|---:|---:|---|---|---|",
    ]
    for label, row in rows.items():
        p = np.asarray(row["probability"])
        lines.append(
            f"| {label} | {mean_sd(p)} | {p.min():.3f} | {(p >= 0.9).mean():.2f} | "
            f"{mean_sd(row['nearest_distance'])} | {mean_sd(row['scale_free_distance'])} | "
            f"{mean_sd(row['elbo'])} |"
        )
    # Per class: the generator against the most realistic unconstrained search.
    plain = [r for r in REGULARIZERS]
    best = min(plain, key=lambda r: np.mean(rows[r]["nearest_distance"]))
    gen = rows["generator (VAE)"]
    lines += [
        "",
        f"Per class, generator against the closest unconstrained search ({best}); "
        "mean over the random starts:",
        "",
        "| class | p, generator | p, "
        + best
        + " | distance, generator | distance, "
        + best
        + " | scale-free, generator | scale-free, "
        + best
        + " | ELBO, generator | ELBO, "
        + best
        + " |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in sorted(set(gen["target"])):

        def at(row: dict[str, Any], key: str, c: int = c) -> float:
            mask = np.asarray(row["target"]) == c
            return float(np.asarray(row[key])[mask].mean())

        lines.append(
            f"| {c} | {at(gen, 'probability'):.3f} | {at(rows[best], 'probability'):.3f} | "
            f"{at(gen, 'nearest_distance'):.3f} | {at(rows[best], 'nearest_distance'):.3f} | "
            f"{at(gen, 'scale_free_distance'):.3f} | "
            f"{at(rows[best], 'scale_free_distance'):.3f} | "
            f"{at(gen, 'elbo'):.1f} | {at(rows[best], 'elbo'):.1f} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------- 2. tree surrogate
def tree_fidelity(depths: list[int], n_fit: int) -> dict[str, Any]:
    data = load_dataset("fashion-mnist")
    blackbox = zoo.as_blackbox(cached_model("lenet", "fashion-mnist"))
    X_fit, X_test = data.X_train[:n_fit], data.X_test
    black_test = blackbox.predict(X_test)
    rows = []
    for depth in [*depths, None]:
        surrogate, seconds = timed(
            lambda depth=depth: TreeSurrogate(blackbox, max_depth=depth, random_state=0).fit(X_fit)
        )
        fid = surrogate.fidelity(X_test)
        label_acc = estimate(surrogate.predict(X_test) == data.y_test, n_boot=1000, random_state=0)
        rows.append(
            {
                "max_depth": depth,
                "depth": surrogate.depth_,
                "n_leaves": surrogate.n_leaves_,
                "path_length": surrogate.path_length(X_test),
                "fidelity": fid.as_dict(),
                "accuracy_vs_labels": label_acc.as_dict(),
                "seconds": seconds,
            }
        )
    auto = TreeSurrogate(blackbox, max_depth="auto", depths=depths, random_state=0).fit(X_fit)
    lenet_acc = estimate(black_test == data.y_test, n_boot=1000, random_state=0)
    return {
        "n_fit": n_fit,
        "n_test": len(X_test),
        "lenet_test_accuracy": lenet_acc.as_dict(),
        "rows": rows,
        "auto": {
            "max_depth": auto.max_depth_,
            "fidelity_test": auto.fidelity(X_test).as_dict(),
            "curve": auto.curve_,
        },
    }


def tree_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Trees fitted to the LeNet's predictions on {result['n_fit']} Fashion-MNIST training "
        f"images (25% of them held out inside fit); fidelity is agreement with the LeNet on "
        f"the {result['n_test']} test images. The LeNet's own test accuracy: "
        f"{result['lenet_test_accuracy']['mean']:.4f}.",
        "",
        "| max_depth | depth | leaves | mean path length (nodes) | fidelity to the LeNet "
        "[95% CI] | accuracy vs labels [95% CI] | fit s |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for row in result["rows"]:
        f, a = row["fidelity"], row["accuracy_vs_labels"]
        lines.append(
            f"| {row['max_depth'] or 'None'} | {row['depth']} | {row['n_leaves']} | "
            f"{row['path_length']:.2f} | {f['mean']:.4f} [{f['ci'][0]:.4f}, {f['ci'][1]:.4f}] "
            f"| {a['mean']:.4f} [{a['ci'][0]:.4f}, {a['ci'][1]:.4f}] | {row['seconds']:.1f} |"
        )
    auto = result["auto"]
    f = auto["fidelity_test"]
    lines += [
        "",
        '`max_depth="auto"` (smallest depth within 0.005 of the best fidelity on half of '
        "its held-out rows; the other half gives its `fidelity_`) "
        f"picks depth {auto['max_depth']}: test fidelity {f['mean']:.4f} "
        f"[{f['ci'][0]:.4f}, {f['ci'][1]:.4f}].",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------- 3. tree regularization
def tradeoff(name: str, dataset: Any, strengths: list[float], seeds: int, **kwargs: Any) -> dict:
    rows = []
    for strength in strengths:
        apl, acc, secs = [], [], []
        for seed in range(seeds):
            model, seconds = timed(
                lambda strength=strength, seed=seed: zoo.TreeRegularizedMLP(
                    strength=strength, random_state=seed, **kwargs
                ).fit(dataset.X_train, dataset.y_train)
            )
            apl.append(model.path_length(dataset.X_train))
            acc.append(float((model.predict(dataset.X_test) == dataset.y_test).mean()))
            secs.append(seconds)
        rows.append({"strength": strength, "path_length": apl, "accuracy": acc, "seconds": secs})
    return {"dataset": name, "settings": kwargs, "seeds": seeds, "rows": rows}


def tradeoff_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"#### {result['dataset']} ({result['seeds']} seeds; settings "
        f"{result['settings'] or 'defaults'})",
        "",
        "| lambda | true path length (train), mean ± sd | test accuracy, mean ± sd | "
        "per seed (path length / accuracy) |",
        "|---:|---|---|---|",
    ]
    for row in result["rows"]:
        per_seed = ", ".join(
            f"{p:.2f}/{a:.3f}" for p, a in zip(row["path_length"], row["accuracy"], strict=True)
        )
        lines.append(
            f"| {row['strength']:g} | {mean_sd(row['path_length'])} | "
            f"{mean_sd(row['accuracy'])} | {per_seed} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------- 4. case study
#: The case study's black box (the demo's), then a LeNet without weight decay, whose
#: plain saliency spreads over the digit.
CUE_MODELS = {
    "MLP, weight decay 0.01, 30 epochs (the demo's)": CUE_MODEL,
    "LeNet, no weight decay, 15 epochs": {"arch": "lenet", "weight_decay": 0.0, "epochs": 15},
}


def case_study(seeds: int) -> dict[str, Any]:
    models = {}
    for name, model in CUE_MODELS.items():
        runs = []
        for seed in range(seeds):
            result = spurious_cue_study(**model, random_state=seed, echo=lambda _line: None)
            runs.append(
                {
                    "seed": seed,
                    "accuracy": {k: v.as_dict() for k, v in result["accuracy"].items()},
                    "mass": {k: v.as_dict() for k, v in result["mass"].items()},
                    "cue_drop": result["cue_drop"],
                    "other_drop": result["other_drop"],
                }
            )
        models[name] = {"model": model, "runs": runs}
    return {
        "classes": list(CUE_CLASSES),
        "cue": {"kind": CUE.kind, "size": CUE.size, "corner": CUE.corner, "value": CUE.value},
        "area": result["area"],
        "models": models,
    }


def case_markdown(result: dict[str, Any]) -> str:
    a, b = result["classes"]
    lines = [
        f"Digits {a} vs {b}; a {result['cue']['size']}x{result['cue']['size']} white patch in "
        f"the {result['cue']['corner']} corner ({result['area']:.0%} of the image) on every "
        f"training image of {a}. Two kinds of black box, each trained at every seed.",
    ]
    for name, model in result["models"].items():
        lines += ["", f"### {name}", "", *_case_model_lines(model["runs"], a, b)]
    return "\n".join(lines)


def _case_model_lines(runs: list[dict], a: int, b: int) -> list[str]:
    lines = [
        f"{len(runs)} seeds, one model each.",
        "",
        "| test images | accuracy per seed | mean ± sd over seeds |",
        "|---|---|---|",
    ]
    for key, label in (
        ("in place", "cue in place (on the test images of " + str(a) + ")"),
        ("clean", "clean (no cue)"),
        ("moved", "cue moved to the other class (" + str(b) + ")"),
    ):
        values = [r["accuracy"][key]["mean"] for r in runs]
        lines.append(f"| {label} | {', '.join(f'{v:.3f}' for v in values)} | {mean_sd(values)} |")
    lines += [
        "",
        "| method | share of absolute mass on the cue, per seed [95% CI] | mean ± sd over "
        "seeds | seeds above 0.5 |",
        "|---|---|---|---:|",
    ]
    for method in runs[0]["mass"]:
        ests = [r["mass"][method] for r in runs]
        per = "; ".join(f"{e['mean']:.3f} [{e['ci'][0]:.3f}, {e['ci'][1]:.3f}]" for e in ests)
        means = [e["mean"] for e in ests]
        lines.append(
            f"| {method} | {per} | {mean_sd(means)} | {sum(m > 0.5 for m in means)}/{len(means)} |"
        )
    drops = "; ".join(f"{r['cue_drop'][0]:.3f} vs {r['other_drop'][0]:.3f}" for r in runs)
    lines += [
        "",
        f"Permutation importance, accuracy drop when the cue region is shuffled vs the most "
        f"important other region, per seed: {drops}. Where no other region's shuffle "
        "moves a prediction, every bootstrap resample puts all of permutation "
        "importance's mass on the cue, so its share reads 1.000 with a CI of zero "
        "width: the share says which region the model reads, the drop how much.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke-test version")
    args = parser.parse_args()
    quick = args.quick
    # One intra-op thread: on a shared, loaded machine two threads spin against each
    # other and made the small forward/backward passes here 10-40x slower.
    torch.set_num_threads(1)
    start = time.perf_counter()
    data: dict[str, Any] = {"machine": machine(), "quick": quick}
    parts: list[str] = []

    digits = load_dataset("digits")
    lenet = zoo.build("lenet", input_shape=digits.input_shape, n_classes=10, random_state=0)
    zoo.train(lenet, digits, epochs=20, batch_size=64, lr=2e-3, random_state=0, verbose=False)
    am = [
        realism(
            "digits",
            lenet,
            digits,
            latent_dim=8,
            hidden=(128,),
            vae_epochs=20 if quick else 60,
            n_train=len(digits.X_train),
            steps=200,
            seeds=1 if quick else 3,
        )
    ]
    if not quick:
        am.append(
            realism(
                "mnist",
                cached_model("lenet", "mnist"),
                load_dataset("mnist"),
                latent_dim=16,
                hidden=(256,),
                vae_epochs=20,
                n_train=8000,
                steps=200,
                seeds=3,
            )
        )
    data["activation_maximization"] = am
    print(f"activation maximization done at {time.perf_counter() - start:.0f} s", flush=True)

    depths = [1, 2, 3, 4, 6, 8] if quick else [1, 2, 3, 4, 5, 6, 8, 10, 12, 14]
    trees = tree_fidelity(depths, n_fit=5000 if quick else 20000)
    data["tree_surrogate"] = trees
    print(f"tree surrogate done at {time.perf_counter() - start:.0f} s", flush=True)

    seeds = 1 if quick else 3
    strengths = [0.0, 1.0, 3.0] if quick else [0.0, 0.1, 0.3, 1.0, 3.0, 10.0]
    moons = tradeoff("moons", load_dataset("moons"), strengths, seeds)
    pair = select_classes(digits, [3, 8])
    digit_pair = tradeoff("digits 3 vs 8", pair, strengths, seeds, min_samples_leaf=5)
    data["tree_regularization"] = [moons, digit_pair]
    print(f"tree regularization done at {time.perf_counter() - start:.0f} s", flush=True)

    cue = case_study(2 if quick else 5)
    data["case_study"] = cue
    seconds = time.perf_counter() - start
    data["seconds"] = seconds

    parts = [
        "# Global probes",
        "",
        f"Command: `PYTHONPATH=src .venv/bin/python benchmarks/global_probes.py"
        f"{' --quick' if quick else ''}`; {seconds / 60:.1f} minutes on {machine()['cpu']} "
        f"(torch {machine()['torch']}, {torch.get_num_threads()} threads, a shared machine).",
        "",
        "## 1. Activation maximization: realism at similar class probability",
        "",
        "Every search maximises log p(class) from the same seeds. Lower distance and "
        "higher ELBO mean more realistic; the ELBO is under a VAE trained with another seed "
        "than the generator's. Both scores reward faint and blurred images (a nearly black "
        "image is close to every MNIST digit and cheap for a Bernoulli VAE), so compare "
        "with the row of real test images: a score better than the real images' is a sign "
        "of a faint image, not of a realistic one. The scale-free distance compares the "
        "images scaled to unit norm (0 is the same pattern, 1.41 an unrelated one), so it "
        "judges the pattern and not the brightness; it is the score that faintness cannot "
        "fool.",
        "",
        *[realism_markdown(r) + "\n" for r in am],
        "## 2. Tree surrogate of the Fashion-MNIST LeNet: fidelity against depth",
        "",
        tree_markdown(trees),
        "",
        "## 3. Tree regularization: path length against accuracy",
        "",
        "Path length is the true average decision-path length (nodes, root and leaf "
        "included) of a tree fitted to the trained network's predictions on the training "
        "inputs (min_samples_leaf 25 on moons, 5 on digits).",
        "",
        tradeoff_markdown(moons),
        "",
        tradeoff_markdown(digit_pair),
        "",
        "## 4. The spurious-cue case study",
        "",
        case_markdown(cue),
        "",
    ]
    write_results("global_probes", "\n".join(parts), data)
    print(f"done in {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
