"""KernelSHAP's accuracy at equal budgets: ours against shap's, against exact values.

Does our ``KernelShap`` come as close to the exact Shapley values as ``shap``'s
``KernelExplainer`` for the same number of model evaluations? On a game small enough to
enumerate, the exact values are known, so both estimates are scored against the truth.

The game: breast-cancer (the package's standardized split) restricted to its first
``m`` columns (``FEATURES``: 10, 13 and 14; an odd ``m`` too, as shap draws every size
in complementary pairs there but leaves the middle size ``m / 2`` unpaired where ``m``
is even), a logistic regression fitted on them (scikit-learn's defaults,
``max_iter=1000``), and ``v(S) = f(x_S, mean_{not S})``, ``f`` the probability of the
row's predicted class and ``mean`` the training mean. Both packages explain that game:
ours with ``fill="mean", background=X_train`` (a switched-off feature takes its
training mean), shap's with the mean row as its one background row and the identity
link on ``predict_proba``; the exact values come from all ``2^m`` coalitions. At
``m = 10`` a full budget (1024 evaluations) is checked first: both must give the exact
values there.

Budgets are model evaluations per row, the row itself and the mean row included: ours
takes ``n_samples=B`` (it evaluates both among them), shap ``nsamples=B - 2`` (it
evaluates the row and the background beside them). shap runs with ``l1_reg=False``
(no feature selection: the plain estimate, as ours). Each of ``N_ROWS`` test rows is
explained at every budget with ``SEEDS`` seeds by each package. Reported per game,
budget and package, over the rows (95% bootstrap CIs, ``unboxed.evaluate``'s
``estimate``):

- the relative error ``||phi - phi*|| / ||phi*||``, each row's mean over the seeds;
- the paired difference of that error, ours minus shap, on the same rows;
- the signed error along the exact values, ``(phi - phi*) . phi* / ||phi*||^2`` (below
  0: the estimate is pulled towards 0, above 0 pushed away), each row's mean over the
  seeds;
- the relative bias ``||mean_seeds phi - phi*|| / ||phi*||`` with the seeds' variance
  taken out (the squared norm less the trace of the seeds' covariance over their
  number, floored at 0), an estimate of the bias of one explanation;
- the efficiency gap ``|sum phi - (f(x) - f(mean))|`` (both enforce it: about 0).

Run: ``.venv/bin/python benchmarks/kernelshap_accuracy.py`` (a few minutes on 2
cores; ``--quick``: fewer rows and seeds, a smoke run that writes nothing). Writes
``benchmarks/results/kernelshap_accuracy.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

import numpy as np
from _common import machine, write_results

from unboxed import BlackBox, load_dataset
from unboxed.evaluate._stats import estimate
from unboxed.local import KernelShap

BUDGETS = (32, 64, 128, 256)
FEATURES = (10, 13, 14)
N_ROWS = 40
SEEDS = 16
N_BOOT = 2000
SEED = 0


def exact_shapley(f: Any, x: np.ndarray, mean: np.ndarray, target: int) -> np.ndarray:
    """The exact Shapley values of ``v(S) = f(x_S, mean_{not S})[target]``, by
    enumerating all ``2^m`` coalitions, shape (m,)."""
    from scipy.special import factorial

    m = x.size
    codes = np.arange(2**m)
    masks = (codes[:, None] >> np.arange(m)) & 1 == 1
    v = f(np.where(masks, x, mean))[:, target]
    size = masks.sum(axis=1)
    phi = np.zeros(m)
    for j in range(m):
        without = ~masks[:, j]
        s = size[without]
        weight = factorial(s) * factorial(m - s - 1) / factorial(m)
        phi[j] = np.sum(weight * (v[codes[without] | (1 << j)] - v[without]))
    return phi


def ours(blackbox: BlackBox, X_train: np.ndarray, X: np.ndarray, classes, budget, seed):
    explainer = KernelShap(
        blackbox, fill="mean", background=X_train, n_samples=budget, cv=None, random_state=seed
    )
    return explainer.explain(X, target=classes).values


def shap_values(model: Any, mean: np.ndarray, X: np.ndarray, classes, budget, seed):
    import shap

    explainer = shap.KernelExplainer(model.predict_proba, mean)
    out = []
    for row, c in zip(X, classes, strict=True):
        np.random.seed(seed)  # noqa: NPY002 (shap samples from the global generator)
        values = explainer.shap_values(row[None], nsamples=budget - 2, l1_reg=False, silent=True)
        out.append(np.asarray(values)[0, :, c])
    return np.stack(out)


def row_figures(values: np.ndarray, exact: np.ndarray, gap: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row figures of one package's values, shape (seeds, rows, m), against the
    exact ones (rows, m)."""
    norm = np.linalg.norm(exact, axis=1)
    error = values - exact
    relative = np.linalg.norm(error, axis=2) / norm
    along = np.einsum("srm,rm->sr", error, exact) / norm**2
    n = values.shape[0]
    bias = error.mean(axis=0)
    spread = values.var(axis=0, ddof=1).sum(axis=1) / n
    relative_bias = np.sqrt(np.maximum((bias**2).sum(axis=1) - spread, 0.0)) / norm
    efficiency = np.abs(values.sum(axis=2) - gap).max(axis=0)
    return {
        "relative_error": relative.mean(axis=0),
        "along_exact": along.mean(axis=0),
        "relative_bias": relative_bias,
        "efficiency_gap": efficiency,
    }


def run_game(m: int, data: Any, n_rows: int, seeds: int) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    X_train = data.X_train[:, :m].astype(np.float64)
    X = data.X_test[:n_rows, :m].astype(np.float64)
    model = LogisticRegression(max_iter=1000).fit(X_train, data.y_train)
    mean = X_train.mean(axis=0, keepdims=True)
    blackbox = BlackBox.from_sklearn(model, feature_names=data.feature_names[:m])
    proba = model.predict_proba(X)
    classes = proba.argmax(axis=1)
    exact = np.stack(
        [exact_shapley(model.predict_proba, x, mean[0], c) for x, c in zip(X, classes, strict=True)]
    )
    gap = proba[np.arange(len(X)), classes] - model.predict_proba(mean)[0, classes]
    game: dict[str, Any] = {
        "features": list(data.feature_names[:m]),
        "n_rows": len(X),
        "test_accuracy": float(model.score(data.X_test[:, :m], data.y_test)),
        "exact_norm": estimate(
            np.linalg.norm(exact, axis=1), n_boot=N_BOOT, random_state=SEED
        ).as_dict(),
    }
    if 2**m <= 1024:
        # The full budget: every coalition once, so both must give the exact values.
        full = {
            "ours": ours(blackbox, X_train, X, classes, 2**m, SEED),
            "shap": shap_values(model, mean, X, classes, 2**m, SEED),
        }
        game["full_budget_max_abs_error"] = {
            k: float(np.abs(v - exact).max()) for k, v in full.items()
        }
        print(f"m={m}: full budget, max |phi - phi*|: {game['full_budget_max_abs_error']}")
    budgets: dict[str, Any] = {}
    for budget in BUDGETS:
        figures = {}
        for name, explain in (
            ("ours", lambda b, s: ours(blackbox, X_train, X, classes, b, s)),
            ("shap", lambda b, s: shap_values(model, mean, X, classes, b, s)),
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = np.stack([explain(budget, seed) for seed in range(seeds)])
            figures[name] = row_figures(values, exact, gap)
        paired = figures["ours"]["relative_error"] - figures["shap"]["relative_error"]
        budgets[str(budget)] = {
            "packages": {
                name: {
                    key: estimate(v, n_boot=N_BOOT, random_state=SEED).as_dict()
                    for key, v in f.items()
                }
                for name, f in figures.items()
            },
            "paired_relative_error": estimate(paired, n_boot=N_BOOT, random_state=SEED).as_dict(),
        }
        print(f"m={m}, {budget} evaluations: {budgets[str(budget)]['paired_relative_error']}")
    game["budgets"] = budgets
    return game


def _cell(figure: dict[str, Any], digits: int = 3) -> str:
    low, high = figure["ci"]
    return f"{figure['mean']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# KernelSHAP's accuracy at equal budgets: ours against shap, against exact values",
        "",
        "Command: `python benchmarks/kernelshap_accuracy.py"
        f"{' --quick' if result['quick'] else ''}`. "
        "Breast-cancer (standardized) restricted to its first m columns, a logistic "
        "regression fitted on them; the game `v(S) = f(x_S, mean_{not S})`, f the "
        "probability of the row's predicted class, mean the training mean (ours: "
        '`fill="mean"`; shap: the mean row as its one background row, identity link, '
        "`l1_reg=False`). Exact values from all 2^m coalitions. A budget is model "
        "evaluations per row, the row and the mean row included (ours `n_samples=B`, "
        f"shap `nsamples=B - 2`). {result['seeds']} seeds per row; each row's figures "
        "are means over its seeds, then means over the rows with 95% bootstrap CIs. "
        "Relative error `||phi - phi*|| / ||phi*||`; the signed error along the exact values "
        "`(phi - phi*) . phi* / ||phi*||^2` (below 0: pulled towards 0); relative bias "
        "`||mean_seeds phi - phi*|| / ||phi*||` less the seeds' variance; the paired "
        "difference is ours minus shap on the same rows (below 0: ours closer).",
    ]
    for m, g in result["games"].items():
        lines += [
            "",
            f"## {m} features: {g['n_rows']} test rows (test accuracy "
            f"{g['test_accuracy']:.3f}; mean `||phi*||` {_cell(g['exact_norm'])})",
            "",
        ]
        if "full_budget_max_abs_error" in g:
            full = g["full_budget_max_abs_error"]
            lines += [
                f"At the full budget ({2 ** int(m)} evaluations) the largest `|phi - phi*|` "
                f"is {full['ours']:.1e} (ours) and {full['shap']:.1e} (shap).",
                "",
            ]
        lines += [
            "| evaluations | package | relative error | error along phi* | relative bias | "
            "efficiency gap (max) |",
            "|---|---|---|---|---|---|",
        ]
        for budget, b in g["budgets"].items():
            for name, f in b["packages"].items():
                lines.append(
                    f"| {budget} | {name} | {_cell(f['relative_error'])} | "
                    f"{_cell(f['along_exact'])} | {_cell(f['relative_bias'])} | "
                    f"{f['efficiency_gap']['mean']:.1e} |"
                )
        lines += ["", "Paired relative error, ours minus shap:", ""]
        for budget, b in g["budgets"].items():
            lines.append(f"- {budget} evaluations: {_cell(b['paired_relative_error'])}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 rows, 3 seeds: a smoke run")
    args = parser.parse_args()
    n_rows, seeds = (8, 3) if args.quick else (N_ROWS, SEEDS)
    data = load_dataset("breast-cancer")
    result: dict[str, Any] = {
        "machine": machine(),
        "quick": args.quick,
        "budgets": list(BUDGETS),
        "seeds": seeds,
        "games": {},
    }
    for m in FEATURES:
        result["games"][str(m)] = run_game(m, data, n_rows, seeds)
    text = markdown(result)
    if not args.quick:  # a smoke run leaves the results files as they are
        write_results("kernelshap_accuracy", text, result)
    print(text)


if __name__ == "__main__":
    main()
