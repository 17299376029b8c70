"""KernelSHAP on a table: ours against shap's and captum's, scored against exact values.

A table's Shapley values can be known exactly where the model is a tree ensemble: with
one background row, shap's ``TreeExplainer`` (interventional) computes those of the game
``v(S) = f(x_S, mean_{not S})``, which is the game every KernelSHAP below estimates:
ours with ``fill="mean"`` (a switched-off feature takes its training mean), shap's
``KernelExplainer`` with the mean row as its background, captum's ``KernelShap`` with
it as the baseline. So each estimate can be scored against the truth, not against
another estimate.

On breast-cancer (the package's standardized split: 455 training rows, 30 columns), a
random forest (100 trees) and a gradient-boosting classifier (scikit-learn's defaults),
seed 0, explain the predicted class's probability of each of the 113 test rows, at
budgets of ``BUDGETS`` model evaluations per row (each package's ``n_samples`` or
``nsamples``: ours counts the row itself and the mean row in it, shap evaluates the
row beside its ``nsamples``). Reported per model, budget and
method, as a mean over the rows with a 95% bootstrap CI:

- the relative error ``||phi - phi*|| / ||phi*||`` against the exact values ``phi*``;
- the share of the exact top 5 features (by absolute value) in the estimate's top 5;
- the efficiency gap ``|sum phi - (f(x) - f(mean))|``;
- seconds per row (all rows in one call where the method takes a batch).

Then the paired difference of the relative error, ours minus each peer, on the same
rows. Rows whose exact values are all 0 (a prediction no feature moves) are left out
and counted. shap runs with ``l1_reg=False`` (no feature selection: the plain
estimate), captum with every evaluation of a row in one batch.

Run: ``.venv/bin/python benchmarks/tabular_shapley.py`` (a few minutes on 2 cores).
Writes ``benchmarks/results/tabular_shapley.md`` and ``.json``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import machine, write_results

from unboxed import BlackBox, load_dataset
from unboxed.evaluate._stats import estimate
from unboxed.local import KernelShap

BUDGETS = (64, 256, 1024)
TOP = 5
N_BOOT = 2000
SEED = 0


def models() -> dict[str, Any]:
    """The two tree ensembles, unfitted, with seed 0."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    return {
        "random forest (100 trees)": RandomForestClassifier(n_estimators=100, random_state=SEED),
        "gradient boosting": GradientBoostingClassifier(random_state=SEED),
    }


def exact_values(model: Any, X: np.ndarray, mean: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The exact Shapley values of the predicted class's probability, shape (n, d)."""
    import shap

    explainer = shap.TreeExplainer(
        model, data=mean, feature_perturbation="interventional", model_output="probability"
    )
    values = np.asarray(explainer.shap_values(X))
    if values.ndim == 2:  # a binary model gives the positive class's values only
        values = np.stack([-values, values], axis=-1)
    return values[np.arange(len(X)), :, classes]


def ours(blackbox: BlackBox, X_train: np.ndarray) -> Callable:
    def explain(X: np.ndarray, classes: np.ndarray, budget: int) -> np.ndarray:
        explainer = KernelShap(
            blackbox,
            fill="mean",
            background=X_train,
            n_samples=budget,
            random_state=SEED,
            verbose=False,
        )
        return explainer.explain(X, target=classes).values

    return explain


def shap_kernel(model: Any, mean: np.ndarray) -> Callable:
    import shap

    def explain(X: np.ndarray, classes: np.ndarray, budget: int) -> np.ndarray:
        explainer = shap.KernelExplainer(model.predict_proba, mean)
        out = []
        for row, c in zip(X, classes, strict=True):
            np.random.seed(SEED)  # noqa: NPY002 (shap samples from the global generator)
            values = explainer.shap_values(row[None], nsamples=budget, l1_reg=False, silent=True)
            out.append(np.asarray(values)[0, :, c])
        return np.stack(out)

    return explain


def captum_kernel(model: Any, mean: np.ndarray) -> Callable:
    import torch
    from captum.attr import KernelShap as CaptumKernelShap

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(model.predict_proba(inputs.double().numpy()))

    def explain(X: np.ndarray, classes: np.ndarray, budget: int) -> np.ndarray:
        explainer = CaptumKernelShap(forward)
        baseline = torch.as_tensor(mean)
        out = []
        for row, c in zip(X, classes, strict=True):
            torch.manual_seed(SEED)
            values = explainer.attribute(
                torch.as_tensor(row[None]),
                baselines=baseline,
                target=int(c),
                n_samples=budget,
                perturbations_per_eval=budget,
            )
            out.append(values[0].double().numpy())
        return np.stack(out)

    return explain


def scores(values: np.ndarray, exact: np.ndarray, gap: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row figures of one method's values against the exact ones."""
    error = np.linalg.norm(values - exact, axis=1) / np.linalg.norm(exact, axis=1)
    top = np.argsort(-np.abs(values), axis=1)[:, :TOP]
    exact_top = np.argsort(-np.abs(exact), axis=1)[:, :TOP]
    overlap = np.array([len(set(a) & set(b)) / TOP for a, b in zip(top, exact_top, strict=True)])
    efficiency = np.abs(values.sum(axis=1) - gap)
    return {"relative_error": error, "top5_overlap": overlap, "efficiency_gap": efficiency}


def run_model(name: str, model: Any, data: Any) -> dict[str, Any]:
    X_train = data.X_train.astype(np.float64)
    X = data.X_test.astype(np.float64)
    model.fit(X_train, data.y_train)
    mean = X_train.mean(axis=0, keepdims=True)
    blackbox = BlackBox.from_sklearn(model, feature_names=data.feature_names)
    proba = model.predict_proba(X)
    classes = proba.argmax(axis=1)
    exact = exact_values(model, X, mean, classes)
    gap = proba[np.arange(len(X)), classes] - model.predict_proba(mean)[0, classes]
    moved = np.linalg.norm(exact, axis=1) > 0
    X, classes, exact, gap = X[moved], classes[moved], exact[moved], gap[moved]
    methods = {
        "ours (unboxed KernelShap)": ours(blackbox, X_train),
        "shap KernelExplainer": shap_kernel(model, mean),
        "captum KernelShap": captum_kernel(model, mean),
    }
    budgets: dict[str, Any] = {}
    for budget in BUDGETS:
        per_row, rows = {}, {}
        for method, explain in methods.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = explain(X, classes, budget)
            seconds = (time.perf_counter() - start) / len(X)
            per_row[method] = scores(values, exact, gap)
            rows[method] = {
                key: estimate(v, n_boot=N_BOOT, random_state=SEED).as_dict()
                for key, v in per_row[method].items()
            } | {"seconds_per_row": seconds}
            print(f"{name}, {budget} evaluations, {method}: {seconds:.4f} s/row", flush=True)
        mine = per_row["ours (unboxed KernelShap)"]["relative_error"]
        paired = {
            peer: estimate(
                mine - per_row[peer]["relative_error"], n_boot=N_BOOT, random_state=SEED
            ).as_dict()
            for peer in methods
            if not peer.startswith("ours")
        }
        budgets[str(budget)] = {"methods": rows, "paired_relative_error": paired}
    return {"n_rows": int(moved.sum()), "n_unmoved": int((~moved).sum()), "budgets": budgets}


def _cell(figure: dict[str, Any]) -> str:
    low, high = figure["ci"]
    return f"{figure['mean']:.3f} [{low:.3f}, {high:.3f}]"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# KernelSHAP on a table: ours against shap and captum, against exact values",
        "",
        "Command: `python benchmarks/tabular_shapley.py`. Breast-cancer (standardized), the "
        "predicted class's probability of each test row; exact Shapley values of the game "
        "with the training mean as the one background row, from shap's TreeExplainer "
        "(interventional). Each method estimates that game with the budget of model "
        "evaluations per row given, as each counts it (ours counts the row itself and the "
        "mean row in it; shap evaluates the row beside its nsamples). Means over the rows "
        "with 95% bootstrap CIs; the paired "
        "difference is ours minus the peer on the same rows (below 0: ours closer to the "
        "exact values). Times: wall clock on a shared 2-core CPU.",
    ]
    for name, m in result["black_boxes"].items():
        lines += [
            "",
            f"## {name}: {m['n_rows']} test rows ({m['n_unmoved']} left out: no feature "
            "moves their prediction)",
            "",
            "| evaluations | method | relative error | top-5 overlap | efficiency gap | s/row |",
            "|---|---|---|---|---|---|",
        ]
        for budget, b in m["budgets"].items():
            for method, f in b["methods"].items():
                lines.append(
                    f"| {budget} | {method} | {_cell(f['relative_error'])} | "
                    f"{_cell(f['top5_overlap'])} | {_cell(f['efficiency_gap'])} | "
                    f"{f['seconds_per_row']:.4f} |"
                )
        lines += ["", "Paired relative error, ours minus the peer:", ""]
        for budget, b in m["budgets"].items():
            pairs = "; ".join(
                f"{peer} {_cell(d)}" for peer, d in b["paired_relative_error"].items()
            )
            lines.append(f"- {budget} evaluations: {pairs}")
    return "\n".join(lines) + "\n"


def main() -> None:
    data = load_dataset("breast-cancer")
    result: dict[str, Any] = {"machine": machine(), "budgets": list(BUDGETS), "black_boxes": {}}
    for name, model in models().items():
        result["black_boxes"][name] = run_model(name, model, data)
    text = markdown(result)
    write_results("tabular_shapley", text, result)
    print(text)


if __name__ == "__main__":
    main()
