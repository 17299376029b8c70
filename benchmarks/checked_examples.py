"""Counterfactuals and semi-factuals the black box agrees with, on images: how many
candidates ``select="blackbox"`` asks the model about.

On the zoo's LeNet on Fashion-MNIST (``cached_model``), a ``JGMMExplainer`` between
``act4`` and the logits (32 lower components, ``e_step="labelled"``, the first 5000
training rows) finds 5 counterfactuals and 5 semi-factuals for each of the first 50
test rows, generated (the paper's 1000 draws from the mixture per row) and mined (from
those 5000 rows), checked by the model (``select="blackbox"``). For each it records the
rows that got one, the rows the model was asked about (``meta["blackbox_rows"]``),
against the candidates within the radius, which asking about every candidate would
ask about (what ``select="blackbox"`` did until 6 Dec; the mined pool once per call),
and the wall time, with the proxy's unchecked choice (``select="proxy"``) beside it.

Run: ``.venv/bin/python benchmarks/checked_examples.py`` (about a minute on 2 cores).
Writes ``benchmarks/results/checked_examples.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _common import cached_model, machine, timed, write_results

from unboxed import load_dataset, zoo
from unboxed.evaluate._stats import proportion
from unboxed.surrogates import JGMMExplainer

N_TRAIN, N_ROWS, N_PER_ROW, SEED = 5000, 50, 5, 0


def measure(explainer: JGMMExplainer, queries: np.ndarray, kind: str, source: str) -> dict:
    """One kind from one source, checked and unchecked: rows with a valid example, rows
    asked, the candidates within the radius and the time."""
    find = getattr(explainer, kind)
    options = {"source": source, "n_per_query": N_PER_ROW, "random_state": SEED}
    checked, seconds = timed(lambda: find(queries, select="blackbox", **options))
    proxy, proxy_seconds = timed(lambda: find(queries, select="proxy", **options))
    classes = explainer.blackbox.predict(queries)
    if proxy.inputs is not None:
        own = explainer.blackbox.predict(proxy.inputs)
    else:  # generated: lower features, classified by the layers above, as validity does
        own = explainer.head_predict(proxy.values)
    same = own == classes[proxy.groups]
    valid = ~same if kind == "counterfactuals" else same
    within = checked.meta["candidates"]["within_radius"]
    every = len(explainer.X_fit_) if source == "mined" else int(sum(within))
    return {
        "kind": kind,
        "source": source,
        "checked_rows_with_one": proportion(
            np.isin(np.arange(len(queries)), checked.groups)
        ).as_dict(),
        "proxy_rows_with_a_valid_one": proportion(
            np.isin(np.arange(len(queries)), proxy.groups[valid])
        ).as_dict(),
        "rows_asked": int(checked.meta["blackbox_rows"]),
        "rows_asking_every_candidate": every,
        "seconds": seconds,
        "proxy_seconds": proxy_seconds,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Checked counterfactuals and semi-factuals on images: model rows asked",
        "",
        f"Command: `python benchmarks/checked_examples.py`. The LeNet on Fashion-MNIST; "
        f"JGMMExplainer between act4 and the logits (32 lower components, "
        f"e_step='labelled', fitted on the first {N_TRAIN} training rows, which are "
        f"the mined pool); {N_PER_ROW} examples for each of the first {N_ROWS} test "
        "rows; generated: 1000 draws from the mixture per row. 'checked': "
        "select='blackbox', asking the model about the candidates within the radius "
        "best first until enough are found; 'asking every candidate': the rows the "
        "same examples cost when every candidate is asked about (the mined pool once "
        "per call). 'proxy': select='proxy', the JGMM's own choice, checked here after. "
        f"95% Wilson intervals. Machine: {result['machine']['cpu']}, torch "
        f"{result['machine']['torch']}. Total wall time {result['seconds']:.0f} s.",
        "",
        "| kind | source | rows with one, checked | rows with a valid one, proxy | "
        "model rows asked | asking every candidate | s, checked | s, proxy |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        checked, proxy = row["checked_rows_with_one"], row["proxy_rows_with_a_valid_one"]
        lines.append(
            f"| {row['kind']} | {row['source']} | {_share(checked)} | {_share(proxy)} | "
            f"{row['rows_asked']:,} | {row['rows_asking_every_candidate']:,} | "
            f"{row['seconds']:.2f} | {row['proxy_seconds']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _share(estimate: dict[str, Any]) -> str:
    low, high = estimate["ci"]
    return f"{estimate['mean']:.3f} [{low:.3f}, {high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    start = time.perf_counter()
    data = load_dataset("fashion-mnist")
    box = zoo.as_blackbox(cached_model("lenet", "fashion-mnist"))
    explainer = JGMMExplainer(
        box,
        lower_layer="act4",
        n_components_x=32,
        e_step="labelled",
        random_state=SEED,
        verbose=False,
    ).fit(data.X_train[:N_TRAIN])
    queries = data.X_test[:N_ROWS]
    rows = [
        measure(explainer, queries, kind, source)
        for source in ("generated", "mined")
        for kind in ("counterfactuals", "semifactuals")
    ]
    result = {"machine": machine(), "rows": rows, "seconds": time.perf_counter() - start}
    text = markdown(result)
    write_results("checked_examples", text, result)
    print(text)


if __name__ == "__main__":
    main()
