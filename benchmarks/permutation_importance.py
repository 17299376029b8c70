"""Permutation importance: ours against scikit-learn's ``permutation_importance``.

Both score the same black box on the same rows with the same metric (accuracy against
the true labels) and the same number of shuffles per feature (``n_repeats``), in one
run, at ``N_SEEDS`` seeds each:

(a) tabular, on data sets that ship with scikit-learn, every feature shuffled alone: a
    small MLP (standardized inputs) on breast cancer and gradient boosting on wine,
    each fitted once on a stratified half and scored on the other half;
(b) images: the seed-0 zoo MLP on the 2,000 MNIST test images, with the 16 patches of
    7x7 pixels shuffled as groups, and with 100 single pixels (a stride-2 grid over the
    central 20x20) shuffled alone.

sklearn gets the fitted model as it is (nothing is refitted) and a scoring callable
that asks the same ``BlackBox`` ours asks, so that the queries are counted alike. On
the tabular cases it runs once more with ``scoring="accuracy"`` on the bare estimator,
for its native time. sklearn 1.9 has no feature groups, and the image cases are
wrapped: sklearn gets one integer column per patch (or pixel) holding row indices,
which it shuffles as it shuffles any column, and the scorer builds every image from
the rows those indices name (patch g of image i comes from row ``idx[i, g]``). The
shuffles are sklearn's own; the gather is this script's.

Reported: the agreement of the two importance vectors (Spearman, Pearson, top-10
overlap) next to each implementation's agreement with itself at another seed; the
largest absolute difference against the run-to-run spread; a z-score per feature of
the difference of the seed means; what each returns as a spread (sklearn: the std over
its repeats; ours: a 95% CI from a bootstrap over the rows and the repeats together);
model queries and wall time (median
of the ``N_SEEDS`` timed runs, one per seed, interleaved, one thread, same process).

Run: ``python benchmarks/permutation_importance.py`` (about 3 minutes on 2 cores).
Needs ``make data`` (MNIST); trains the zoo MLP into ``~/.cache/unboxed/models`` once.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
import torch
from _common import cached_model, machine, timed, write_results
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from unboxed import BlackBox, load_dataset, zoo
from unboxed.local import grid_labels
from unboxed.probes import PermutationImportance

N_SEEDS = 10
N_BOOT = 1000
TOP_K = 10
#: The central 20x20 of a 28x28 image at stride 2: 100 pixels, few of them always 0.
PIXELS = np.array([r * 28 + c for r in range(4, 24, 2) for c in range(4, 24, 2)])


@dataclass
class Case:
    """One side-by-side comparison: a black box, its rows and what is shuffled."""

    name: str
    model: str
    blackbox: BlackBox
    X: np.ndarray
    y: np.ndarray
    n_repeats: int
    #: ``groups=`` of ours: None (every feature alone), int labels or a dict.
    groups: Any
    #: The features of each shuffled unit, in the order of ours' columns.
    members: list[np.ndarray]
    #: For the tabular cases, the fitted sklearn estimator; None for the torch model.
    estimator: Any = None


class _Fitted:
    """What sklearn's ``permutation_importance`` takes as the estimator of a model that
    is not an sklearn estimator: it only checks for a ``fit`` method and hands the
    object to the scorer. Nothing is fitted."""

    def fit(self, X: Any, y: Any = None) -> _Fitted:  # never called
        raise NotImplementedError("the black box is fitted already")


def accuracy(blackbox: BlackBox, X: np.ndarray, y: np.ndarray) -> float:
    return float((blackbox.predict_proba(X).argmax(axis=1) == y).mean())


def sklearn_inputs(case: Case) -> tuple[Any, np.ndarray, Callable[..., float]]:
    """The estimator, X and scorer that sklearn's ``permutation_importance`` gets."""
    if case.estimator is not None:
        return case.estimator, case.X, lambda _est, X, y: accuracy(case.blackbox, X, y)
    n = case.X.shape[0]
    identity = np.arange(n)
    members = case.members

    def gather(_est: Any, idx: np.ndarray, y: np.ndarray) -> float:
        rows = case.X.copy()
        # sklearn shuffles one column of a fresh copy at a time; only the columns that
        # differ from the identity need their rows gathered.
        for g in np.flatnonzero((idx != identity[:, None]).any(axis=0)):
            rows[:, members[g]] = case.X[np.ix_(idx[:, g], members[g])]
        return accuracy(case.blackbox, rows, y)

    return _Fitted(), np.tile(identity[:, None], (1, len(members))), gather


# ---------------------------------------------------------------- cases
def tabular_cases() -> list[Case]:
    cases = []
    for name, load, make in [
        (
            "breast cancer",
            load_breast_cancer,
            lambda: make_pipeline(
                StandardScaler(),
                MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000, random_state=0),
            ),
        ),
        ("wine", load_wine, lambda: GradientBoostingClassifier(random_state=0)),
    ]:
        X, y = load(return_X_y=True)
        X_fit, X_test, y_fit, y_test = train_test_split(
            X, y, test_size=0.5, stratify=y, random_state=0
        )
        estimator = make().fit(X_fit, y_fit)
        d = X.shape[1]
        cases.append(
            Case(
                name=name,
                model=type(estimator[-1] if hasattr(estimator, "steps") else estimator).__name__,
                blackbox=BlackBox.from_sklearn(estimator),
                X=X_test,
                y=y_test,
                n_repeats=10,
                groups=None,
                members=[np.array([j]) for j in range(d)],
                estimator=estimator,
            )
        )
    return cases


def image_cases() -> list[Case]:
    dataset = load_dataset("mnist")
    blackbox = zoo.as_blackbox(cached_model("mlp", "mnist"))
    X, y = dataset.X_test, dataset.y_test
    labels = grid_labels((28, 28), cell=7)
    return [
        Case(
            name="MNIST, 16 patches of 7x7",
            model="zoo MLP (seed 0)",
            blackbox=blackbox,
            X=X,
            y=y,
            n_repeats=5,
            groups=labels,
            members=[np.flatnonzero(labels == v) for v in np.unique(labels)],
        ),
        Case(
            name="MNIST, 100 single pixels",
            model="zoo MLP (seed 0)",
            blackbox=blackbox,
            X=X,
            y=y,
            n_repeats=5,
            groups={f"pixel_{p}": [int(p)] for p in PIXELS},
            members=[np.array([p]) for p in PIXELS],
        ),
    ]


# ---------------------------------------------------------------- runs
def run_case(case: Case) -> dict:
    """Both implementations at every seed, interleaved: values, spreads, queries, times."""
    blackbox = case.blackbox
    estimator, X_sk, scorer = sklearn_inputs(case)
    out: dict[str, Any] = {
        "ours": {"values": [], "ci": [], "seconds": [], "queries": []},
        "sklearn": {"values": [], "std": [], "seconds": [], "queries": []},
    }
    # Warm-up: first calls pay for imports and allocations.
    PermutationImportance(blackbox, n_repeats=1, groups=case.groups, n_boot=10).explain(
        case.X[:50], case.y[:50]
    )
    for seed in range(N_SEEDS):
        explainer = PermutationImportance(
            blackbox,
            n_repeats=case.n_repeats,
            metric="accuracy",
            groups=case.groups,
            n_boot=N_BOOT,
            random_state=seed,
        )
        before = blackbox.n_queries
        ours, seconds = timed(lambda explainer=explainer: explainer.explain(case.X, case.y))
        out["ours"]["queries"].append(blackbox.n_queries - before)
        out["ours"]["seconds"].append(seconds)
        out["ours"]["values"].append(ours.values[0].tolist())
        out["ours"]["ci"].append(ours.ci[0].tolist())
        if seed == 0:
            out["baseline_score"] = ours.meta["baseline_score"]

        before = blackbox.n_queries
        theirs, seconds = timed(
            lambda seed=seed: permutation_importance(
                estimator,
                X_sk,
                case.y,
                scoring=scorer,
                n_repeats=case.n_repeats,
                random_state=seed,
            )
        )
        out["sklearn"]["queries"].append(blackbox.n_queries - before)
        out["sklearn"]["seconds"].append(seconds)
        out["sklearn"]["values"].append(theirs.importances_mean.tolist())
        out["sklearn"]["std"].append(theirs.importances_std.tolist())
        if case.estimator is not None:
            native, seconds = timed(
                lambda seed=seed: permutation_importance(
                    case.estimator,
                    case.X,
                    case.y,
                    scoring="accuracy",
                    n_repeats=case.n_repeats,
                    random_state=seed,
                )
            )
            native_row = out.setdefault("sklearn native", {"seconds": [], "max_diff": []})
            native_row["seconds"].append(seconds)
            # The same shuffles through estimator.predict: the same importances.
            native_row["max_diff"].append(
                float(np.abs(native.importances_mean - theirs.importances_mean).max())
            )
        print(
            f"  seed {seed}: ours {out['ours']['seconds'][-1]:.2f} s, "
            f"sklearn {out['sklearn']['seconds'][-1]:.2f} s",
            flush=True,
        )
    # The share of ours' time spent on the bootstrap CI, which sklearn does not compute:
    # explain less row_drops, which makes the same shuffles and queries without it.
    probe = PermutationImportance(
        blackbox, n_repeats=case.n_repeats, groups=case.groups, random_state=0, verbose=False
    )
    out["ours"]["bootstrap_seconds"] = max(
        0.0,
        median_time(lambda: probe.explain(case.X, case.y))
        - median_time(lambda: probe.row_drops(case.X, case.y)),
    )
    out["floor_seconds"] = median_time(lambda: query_floor(case))
    return {
        "case": case.name,
        "model": case.model,
        "n_rows": int(case.X.shape[0]),
        "n_units": len(case.members),
        "n_repeats": case.n_repeats,
        "results": out,
        "stats": compare(out, case.n_repeats),
    }


def median_time(fn: Callable[[], Any], runs: int = 3) -> float:
    return float(np.median([timed(fn)[1] for _ in range(runs)]))


def query_floor(case: Case) -> None:
    """The black box alone on as many rows as one run sends, in calls of one copy of
    ``X`` (as sklearn's scorer sends them), the rows unpermuted."""
    for _ in range(case.n_repeats * len(case.members) + 1):
        case.blackbox._proba_rows(case.X)


# ---------------------------------------------------------------- statistics
def _corr(fn: Callable, a: np.ndarray, b: np.ndarray) -> float | None:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(fn(a, b)[0])


def top_overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    k = min(k, a.size)
    # Stable ordering: ties broken by the feature index, alike for both.
    top = lambda v: set(np.argsort(-v, kind="stable")[:k].tolist())  # noqa: E731
    return len(top(a) & top(b)) / k


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    return {
        "spearman": _corr(stats.spearmanr, a, b),
        "pearson": _corr(stats.pearsonr, a, b),
        "top10": top_overlap(a, b, TOP_K),
        "max_abs_diff": float(np.abs(a - b).max()),
    }


def summary(values: list) -> dict:
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, "min": None, "max": None, "n": 0}
    return {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max()), "n": v.size}


def compare(out: dict, n_repeats: int) -> dict:
    ours = np.array(out["ours"]["values"])  # (S, G)
    theirs = np.array(out["sklearn"]["values"])
    s = ours.shape[0]
    # Pairs: ours and sklearn at the same seed; each with itself at the next seed.
    pairs = {
        "ours vs sklearn (same seed)": [(ours[i], theirs[i]) for i in range(s)],
        "ours vs ours (next seed)": [(ours[i], ours[(i + 1) % s]) for i in range(s)],
        "sklearn vs sklearn (next seed)": [(theirs[i], theirs[(i + 1) % s]) for i in range(s)],
        "ours vs sklearn (other seed)": [(ours[i], theirs[(i + 1) % s]) for i in range(s)],
    }
    table = {}
    for name, ps in pairs.items():
        rows = [agreement(a, b) for a, b in ps]
        table[name] = {key: summary([r[key] for r in rows]) for key in rows[0]}
    # The seed means: their difference against the run-to-run (Monte Carlo) spread.
    diff = ours.mean(0) - theirs.mean(0)
    sd_ours, sd_theirs = ours.std(0, ddof=1), theirs.std(0, ddof=1)
    # Both estimate the same quantity with the same number of shuffles, so their
    # seed-to-seed variances are pooled: 2 (S - 1) degrees of freedom per feature.
    se = np.sqrt((sd_ours**2 + sd_theirs**2) / 2 * 2 / s)
    moving = se > 0
    z = np.divide(diff, se, out=np.zeros_like(diff), where=moving)
    dof = 2 * (s - 1)
    ci = np.array(out["ours"]["ci"])  # (S, G, 2)
    half = (ci[..., 1] - ci[..., 0]) / 2
    std = np.array(out["sklearn"]["std"])
    target = theirs.mean(0)
    inside = (ci[..., 0] <= target) & (target <= ci[..., 1])
    # A miss where ours' interval ends at 0: before the two-way bootstrap, a unit that
    # changed no row, or a few, in this run gave a bootstrap with nothing to resample.
    at_zero = (ci[..., 0] == 0) | (ci[..., 1] == 0)
    # sklearn shuffles every column with the same permutations (one seed for all), so
    # its errors are correlated across units: the bias over all units is judged by the
    # spread over the seeds of the per-seed mean difference, not unit by unit.
    per_seed = (ours - theirs).mean(1)
    return {
        "agreement": table,
        "means": agreement(ours.mean(0), target),
        "max_abs_diff_of_means": float(np.abs(diff).max()),
        "mean_signed_diff": float(per_seed.mean()),
        "mean_signed_diff_se": float(per_seed.std(ddof=1) / np.sqrt(s)),
        "run_sd_ours_max": float(sd_ours.max()),
        "run_sd_sklearn_max": float(sd_theirs.max()),
        "run_sd_ours_mean": float(sd_ours.mean()),
        "run_sd_sklearn_mean": float(sd_theirs.mean()),
        "max_abs_z": float(np.abs(z).max()),
        "share_abs_z_over_t975": float((np.abs(z[moving]) > stats.t.ppf(0.975, dof)).mean())
        if moving.any()
        else None,
        "n_moving": int(moving.sum()),
        "dof": dof,
        # What each reports as its spread, against the seed-to-seed sd it should bound.
        "ours_ci_half_width_mean": float(half.mean()),
        "sklearn_std_mean": float(std.mean()),
        "sklearn_std_over_sqrt_r_mean": float((std / np.sqrt(n_repeats)).mean()),
        "ours_ci_covers_sklearn_mean": float(inside[:, moving].mean()) if moving.any() else None,
        "ours_ci_misses": int((~inside[:, moving]).sum()),
        "ours_ci_misses_at_zero": int((~inside & at_zero)[:, moving].sum()),
        "top": {
            "ours": np.argsort(-ours.mean(0), kind="stable")[:5].tolist(),
            "sklearn": np.argsort(-theirs.mean(0), kind="stable")[:5].tolist(),
        },
    }


# ---------------------------------------------------------------- report
def _f(x: float | None, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _span(r: dict, fmt: str = ".3f") -> str:
    if r["mean"] is None:
        return "n/a (a constant vector)"
    return f"{r['mean']:{fmt}} [{r['min']:{fmt}}, {r['max']:{fmt}}]"


def markdown(cases: list[dict], env: dict) -> str:
    lines = [
        "# Permutation importance: ours against scikit-learn",
        "",
        f"`unboxed.probes.PermutationImportance` against `sklearn.inspection."
        f"permutation_importance` (scikit-learn {env['sklearn']}), on the same fitted model, "
        f"rows, metric (accuracy against the true labels) and number of shuffles per feature "
        f"(`n_repeats`), each at seeds 0..{N_SEEDS - 1}. sklearn scores through a callable "
        "that asks the same `BlackBox` as ours; nothing is refitted. sklearn has no feature "
        "groups: on the MNIST cases it gets one integer column per patch (or pixel) of row "
        "indices, shuffles those as any column, and the scorer builds each image from the "
        "rows they name (a wrapper of this script; the shuffles are sklearn's). Produced by "
        f"`python benchmarks/permutation_importance.py` (torch threads: "
        f"{env['machine']['torch_threads']}, BLAS threads 1). Ours and sklearn alternate "
        "seed by seed in one process, so each case's two times share the machine's load; "
        "compare times within a case, not across runs. The machine's 1-minute load "
        f"average was {env['load'][0]:.1f} at the start and {env['load'][1]:.1f} at the end, "
        f"on {os.cpu_count()} cores.",
        "",
        "Agreement: each statistic's mean [min, max] over the "
        f"{N_SEEDS} pairs. 'ours vs sklearn (same seed)' should be as high as each "
        "implementation's agreement with itself at another seed: the seeds of the two "
        "draw different shuffles anyway. max |diff|: the largest absolute difference "
        "between the two importance vectors of a pair.",
        "",
        "What each returns. sklearn: a `Bunch` of the drops per feature and repeat "
        "(`importances`, shape (n_features, n_repeats)), their mean and their std over the "
        "repeats (ddof 0); no interval. Ours: a `FeatureImportance` with the mean drop and "
        f"a 95% percentile-bootstrap CI ({N_BOOT} draws that resample the rows and the "
        "repeats together; where no shuffle changed a score, an exact bound), each "
        "repeat's mean drop in `repeats` (sklearn's `importances`), the baseline score in "
        "`meta`; `row_drops` gives each row's drop averaged over the repeats.",
        "",
        "How they shuffle. sklearn seeds one `RandomState` per column from the same integer, "
        "so at a given seed every column gets the same sequence of permutations, each "
        "repeat shuffling the column already shuffled. Ours draws a fresh permutation per "
        "(repeat, unit) from one generator, and sends as many permuted copies of the rows "
        "as fit in 2^23 values to the black box in one call, each copy a full copy of the "
        "rows; it also bootstraps its CI, which sklearn does not compute.",
        "",
    ]
    for c in cases:
        st, res = c["stats"], c["results"]
        lines += [
            f"## {c['case']}: {c['model']}, {c['n_rows']} rows, {c['n_units']} units shuffled, "
            f"{c['n_repeats']} repeats",
            "",
            f"Baseline accuracy {res['baseline_score']:.4f}.",
            "",
            "| pair | Spearman | Pearson | top-10 overlap | max abs diff |",
            "|---|---|---|---|---|",
        ]
        for name, r in st["agreement"].items():
            lines.append(
                f"| {name} | {_span(r['spearman'])} | {_span(r['pearson'])} | "
                f"{_span(r['top10'], '.2f')} | {_span(r['max_abs_diff'], '.4f')} |"
            )
        m = st["means"]
        lines += [
            "",
            f"Seed means (over {N_SEEDS} seeds each): Spearman {_f(m['spearman'])}, Pearson "
            f"{_f(m['pearson'])}, top-10 overlap {m['top10']:.2f}; the largest absolute "
            f"difference {st['max_abs_diff_of_means']:.4f}, against a run-to-run sd (one "
            f"run, over the seeds) of at most {st['run_sd_ours_max']:.4f} for ours and "
            f"{st['run_sd_sklearn_max']:.4f} for sklearn (mean over units "
            f"{st['run_sd_ours_mean']:.4f} and {st['run_sd_sklearn_mean']:.4f}). "
            f"Per unit, the difference of the seed means over its Monte Carlo standard "
            f"error (the pooled sd, {st['dof']} degrees of freedom): largest |z| "
            f"{st['max_abs_z']:.2f}; {_f(st['share_abs_z_over_t975'], '.1%')} of the "
            f"{st['n_moving']} units that ever move lie beyond the t-distribution's 97.5% "
            f"point (5% expected if the two agree). Mean signed difference, ours minus "
            f"sklearn, averaged over the units: {st['mean_signed_diff']:+.5f} (se over the "
            f"seeds {st['mean_signed_diff_se']:.5f}).",
            "",
            "Spreads each returns: sklearn, the std of the drop over its repeats (mean over "
            f"units {st['sklearn_std_mean']:.4f}; divided by sqrt(n_repeats), the Monte Carlo "
            f"error of its mean, {st['sklearn_std_over_sqrt_r_mean']:.4f}); ours, a 95% "
            "bootstrap CI over the rows and the repeats together (mean half-width "
            f"{st['ours_ci_half_width_mean']:.4f}), which holds the sampling of the rows as "
            "well as the shuffles. Ours' CI holds sklearn's seed mean in "
            f"{_f(st['ours_ci_covers_sklearn_mean'], '.1%')} of the (seed, unit) cases of the "
            f"units that ever move; of its {st['ours_ci_misses']} misses, "
            f"{st['ours_ci_misses_at_zero']} are intervals with an end at 0.",
            "",
            "| implementation | model queries per run | wall s, median [min, max] of "
            f"{N_SEEDS} runs |",
            "|---|---|---|",
        ]
        for name in ("ours", "sklearn", "sklearn native"):
            if name not in res:
                continue
            r = res[name]
            t = np.array(r["seconds"])
            queries = (
                f"{int(np.median(r['queries'])):,}"
                if "queries" in r
                else "the same rows, through `estimator.predict`"
            )
            label = {
                "ours": "ours (`explain`, with its CI)",
                "sklearn": "sklearn, scorer through the `BlackBox`",
                "sklearn native": "sklearn, `scoring='accuracy'` on the estimator",
            }[name]
            lines.append(
                f"| {label} | {queries} | {np.median(t):.3f} [{t.min():.3f}, {t.max():.3f}] |"
            )
        lines += [
            "",
            f"Of ours' time, the {N_BOOT}-draw bootstrap of the CI takes "
            f"{res['ours']['bootstrap_seconds']:.3f} s (`explain` less `row_drops`, medians "
            "of 3). Query floor: the black box alone on as many rows, in calls of one copy "
            "of the rows, "
            f"{res['floor_seconds']:.3f} s (median of 3).",
        ]
        if "sklearn native" in res:
            lines.append(
                "sklearn's native path gives the same importances as its `BlackBox` scorer "
                f"(largest difference {max(res['sklearn native']['max_diff']):.1g})."
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)  # MLP convergence etc.
    torch.set_num_threads(1)
    cases = []
    load_at_start = os.getloadavg()[0]  # other work on the machine slows both sides
    with threadpool_limits(1):
        for case in [*tabular_cases(), *image_cases()]:
            print(f"{case.name}: {case.X.shape[0]} rows, {len(case.members)} units", flush=True)
            cases.append(run_case(case))
    env = {
        "machine": machine(),
        "sklearn": sklearn.__version__,
        "load": (load_at_start, os.getloadavg()[0]),
    }
    write_results(
        "permutation_importance",
        markdown(cases, env),
        {**env, "n_seeds": N_SEEDS, "n_boot": N_BOOT, "cases": cases},
    )


if __name__ == "__main__":
    main()
