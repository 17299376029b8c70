"""Counterfactuals that hold some features as they are: ours against dice-ml's.

Someone who asks what would have to change for another decision often has features out
of reach (an age, a measurement already taken). On the breast-cancer MLP of the
README's command line (``unboxed train --model mlp --dataset breast-cancer --epochs
30``, seed 0; standardized inputs), for every one of the 113 test rows, up to
``N_PER_ROW`` counterfactuals that hold either the three texture columns or the first
10 columns (the "mean" measurements) at the row's values, from:

- ``JGMMExplainer`` (``e_step="labelled"``, 10 lower components on the inputs
  themselves: the MLP behind an ``nn.Identity`` layer "0"), generated within RMS
  distance ``RADIUS`` by the "nearest", "sparse" and "nearest_then_sparse" samplers,
  and mined from the training rows;
- "sparse", "nearest_then_sparse" and mined again with ``select="blackbox"``: the
  candidates kept only where the black box itself changes the row's class, at one
  model query per candidate within the radius (mined: the pool once per row, whose
  held columns differ per row);
- "sparse" as it was before it searched within the held directions (moves in every
  direction, set back to the held values afterwards), for the change;
- dice-ml's model-agnostic random method, ``features_to_vary`` the other columns,
  the same number per row (as ``benchmarks/jgmm.py`` runs it).

Reported per method, with Wilson's 95% intervals: the share of rows that got at least
one counterfactual the black box puts in another class; the share of all the
counterfactuals it does; the largest change of a held feature (0 for a method that
holds them); the median RMS distance to the row (standardized units); the rows the
model is asked about per row to choose them (ours without ``select="blackbox"`` ask it
nothing; dice-ml's counted at its ``predict_proba``); seconds per row.

Run: ``.venv/bin/python benchmarks/immutable_counterfactuals.py`` (about 5 minutes on
2 cores). Writes ``benchmarks/results/immutable_counterfactuals.md`` and ``.json``.
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any
from unittest import mock

import numpy as np
from _common import cached_model, machine, write_results
from torch import nn

from unboxed import BlackBox, load_dataset
from unboxed.evaluate._stats import wilson_interval
from unboxed.surrogates import JGMMExplainer
from unboxed.surrogates import _jgmm_examples as jx

N_PER_ROW = 5
RADIUS = 2.0
SAMPLERS = ("nearest", "sparse", "nearest_then_sparse")
#: Our methods run again with select="blackbox".
CHECKED = ("ours, sparse", "ours, nearest_then_sparse", "ours, mined")


def held_sets(names: tuple[str, ...]) -> dict[str, list[int]]:
    """The two sets of columns held: the texture columns, and the first 10."""
    texture = [j for j, name in enumerate(names) if "texture" in name]
    return {"3 texture columns": texture, "first 10 columns": list(range(10))}


def ours(explainer: JGMMExplainer, X: np.ndarray, held: list[int]) -> dict[str, list]:
    """Each method of ours: the counterfactuals of each row, and seconds per row."""
    options = {"n_per_query": N_PER_ROW, "random_state": 0, "immutable": held}
    runs = {f"ours, {s}": {"sampler": s, "radius": RADIUS} for s in SAMPLERS}
    runs["ours, mined"] = {"source": "mined"}
    for name in CHECKED:
        runs[f"{name}, checked"] = {**runs[name], "select": "blackbox"}
    out = {}
    for name, extra in runs.items():
        out[name] = _per_row(functools.partial(explainer.counterfactuals, X, **options, **extra))
    # What "sparse" gave before it searched within the held directions.
    with mock.patch.object(jx, "hold_projector", lambda *args: None):
        before = functools.partial(
            explainer.counterfactuals, X, **options, sampler="sparse", radius=RADIUS
        )
        out["ours, sparse set back after (before)"] = _per_row(before)
    return out


def _per_row(call: functools.partial) -> list:
    """``call()``'s examples split by row (its queries), its time per row and the rows
    it asked the model about per row."""
    n_rows = len(call.args[0])
    start = time.perf_counter()
    examples = call()
    seconds = (time.perf_counter() - start) / n_rows
    rows = [examples.values[examples.groups == q] for q in range(n_rows)]
    return [rows, seconds, examples.meta.get("blackbox_rows", 0) / n_rows]


def dice(
    blackbox: BlackBox, X_train: np.ndarray, X: np.ndarray, names: tuple[str, ...], held: list
) -> list:
    """dice-ml's random method, the held columns left out of ``features_to_vary``."""
    import dice_ml
    import pandas as pd

    asked = [0]

    class Wrapped:
        def predict_proba(self, frame: Any) -> np.ndarray:
            asked[0] += len(frame)
            return blackbox.predict_proba(np.asarray(frame, dtype=np.float64))

        def predict(self, frame: Any) -> np.ndarray:
            return self.predict_proba(frame).argmax(axis=1)

    # float64 frames: dice-ml writes float64 values into the query's columns, which
    # pandas refuses for float32 ones (the data set's dtype).
    frame = pd.DataFrame(X_train.astype(np.float64), columns=list(names))
    frame["label"] = blackbox.predict(X_train)
    data = dice_ml.Data(dataframe=frame, continuous_features=list(names), outcome_name="label")
    model = dice_ml.Model(model=Wrapped(), backend="sklearn", model_type="classifier")
    explainer = dice_ml.Dice(data, model, method="random")
    free = [name for j, name in enumerate(names) if j not in held]
    rows, start = [], time.perf_counter()
    for q in range(len(X)):
        query = pd.DataFrame(X[q : q + 1].astype(np.float64), columns=list(names))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = (
                    explainer.generate_counterfactuals(
                        query,
                        total_CFs=N_PER_ROW,
                        desired_class="opposite",
                        features_to_vary=free,
                        random_seed=q,
                        verbose=False,
                    )
                    .cf_examples_list[0]
                    .final_cfs_df
                )
        except Exception:  # dice raises where it finds no counterfactual
            found = None
        rows.append(
            np.zeros((0, len(names)))
            if found is None
            else found[list(names)].to_numpy(np.float64)[:N_PER_ROW]
        )
    return [rows, (time.perf_counter() - start) / len(X), asked[0] / len(X)]


def score(
    blackbox: BlackBox, X: np.ndarray, rows: list, seconds: float, asked: float, held: list
) -> dict:
    """The figures of one method's counterfactuals (see the module docstring)."""
    classes = blackbox.predict(X)
    flips = [
        blackbox.predict(r) != classes[q] if len(r) else np.zeros(0, bool)
        for q, r in enumerate(rows)
    ]
    n_rows_valid = sum(bool(f.any()) for f in flips)
    n_all, n_valid = sum(f.size for f in flips), sum(int(f.sum()) for f in flips)
    every = np.concatenate([r for r in rows if len(r)]) if n_all else np.zeros((0, X.shape[1]))
    queries = np.concatenate([np.repeat(X[q : q + 1], len(r), axis=0) for q, r in enumerate(rows)])
    distance = np.sqrt(np.mean((every - queries) ** 2, axis=1))
    return {
        "rows_with_valid": [n_rows_valid, len(X), *wilson_interval(n_rows_valid, len(X))],
        "valid": [n_valid, n_all, *(wilson_interval(n_valid, n_all) if n_all else (0, 1))],
        "held_change": float(np.abs(every[:, held] - queries[:, held]).max()) if n_all else 0.0,
        "median_distance": float(np.median(distance)) if n_all else None,
        "seconds_per_row": seconds,
        "model_rows_per_row": asked,
    }


def markdown(result: dict) -> str:
    lines = [
        "# Counterfactuals that hold some features: ours against dice-ml",
        "",
        "Command: `python benchmarks/immutable_counterfactuals.py`. The breast-cancer MLP "
        f"(mlp-breast-cancer) on its {result['n_rows']} test rows, up to {N_PER_ROW} "
        f"counterfactuals per row; ours within RMS distance {RADIUS} (standardized units), "
        "JGMM of 10 lower components on the inputs. 'valid': the black box puts it in "
        "another class than the row's; 'checked': select='blackbox', which keeps only "
        "those. Model rows asked: to choose the counterfactuals, not to score them here. "
        "95% Wilson intervals.",
    ]
    for held, methods in result["held"].items():
        lines += [
            "",
            f"## Holding the {held}: {', '.join(methods['columns'])}",
            "",
            "| method | rows with a valid counterfactual | valid counterfactuals | "
            "largest change of a held feature | median distance | model rows asked per row "
            "| s/row |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, m in methods["methods"].items():
            rows, valid = m["rows_with_valid"], m["valid"]
            distance = "-" if m["median_distance"] is None else f"{m['median_distance']:.3f}"
            lines.append(
                f"| {name} | {rows[0]}/{rows[1]}: {rows[0] / rows[1]:.3f} [{rows[2]:.3f}, "
                f"{rows[3]:.3f}] | {valid[0]}/{valid[1]} [{valid[2]:.3f}, {valid[3]:.3f}] | "
                f"{m['held_change']:.2g} | {distance} | {m['model_rows_per_row']:.0f} | "
                f"{m['seconds_per_row']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    data = load_dataset("breast-cancer")
    model = cached_model("mlp", "breast-cancer")
    names = data.feature_names
    # The inputs as layer "0", so that the JGMM's lower features are the inputs.
    blackbox = BlackBox.from_torch(
        nn.Sequential(nn.Identity(), model), input_shape=(30,), feature_names=names
    )
    explainer = JGMMExplainer(
        blackbox,
        lower_layer="0",
        n_components_x=10,
        e_step="labelled",
        random_state=0,
        verbose=False,
    ).fit(data.X_train)
    X = data.X_test
    result: dict[str, Any] = {"n_rows": len(X), "machine": machine(), "held": {}}
    for label, held in held_sets(names).items():
        print(f"holding the {label}", flush=True)
        runs = ours(explainer, X, held)
        runs["dice-ml, random"] = dice(blackbox, data.X_train, X, names, held)
        result["held"][label] = {
            "columns": [names[j] for j in held],
            "methods": {n: score(blackbox, X, *run, held) for n, run in runs.items()},
        }
    text = markdown(result)
    write_results("immutable_counterfactuals", text, result)
    print(text)


if __name__ == "__main__":
    main()
