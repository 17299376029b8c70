"""The figures ``docs/cli.md`` quotes, measured by running its commands as documented.

Each command runs as ``docs/cli.md`` gives it (same model, rows, options and seeds),
with ``--json`` (and ``--quiet``, which silences only the progress bars), from a
scratch folder that holds ``models/``: links to the models in
``~/.cache/unboxed/cli_examples/``, so that the command lines read as the page's. The
models are trained there by ``unboxed train`` when absent (the README's Fashion-MNIST
LeNet, the breast-cancer MLP of the page's table rows and the digits LeNet of 3 epochs
of the dmm-men held-out note).

Each command is a subprocess, ``python -m unboxed ...``: its wall time is then what a
reader who types the line waits for (the interpreter's and torch's start included, as
in the page's hand-run times), and no command's torch threads, random state or loaded
modules carry over into the next, as they would in one process.

Recorded per command: the command line, its wall time, the load average before and
after (the machine's other jobs), what it printed, its ``--json`` record and the
figures the page quotes from it (some from the files it wrote: the counterfactuals'
distinct rows and distances, the report page's size; ``explain``'s AOPC beside that of
a random order of the same components, and their paired difference, as the command
prints them). Then the paired differences of
``explain``'s per-row figures between methods on the same rows, as the page quotes them.

Run: ``.venv/bin/python benchmarks/cli_examples.py`` (about 15-20 minutes on 2 cores,
plus about 2 minutes to train the LeNet the first time). Writes
``benchmarks/results/cli_examples.md`` and ``.json``. ``--only NAME ...`` runs those
commands (and those they need) and prints their figures without writing the results
files, which hold one whole run so that its times compare; ``--list`` names them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import TRAIN_THREADS, machine, record_model, write_results

from unboxed import ExampleSet, zoo
from unboxed.evaluate._stats import estimate

#: Where the models of the page's commands are trained and kept (never in the repo).
MODELS = Path.home() / ".cache" / "unboxed" / "cli_examples"
#: Each model: its data set and its ``unboxed train`` options, as the page gives them.
TRAIN = {
    "lenet-fmnist": ("fashion-mnist", "--model lenet --dataset fashion-mnist --epochs 10"),
    "mlp-cancer": ("breast-cancer", "--model mlp --dataset breast-cancer --epochs 30"),
    "lenet-digits": ("digits", "--model lenet --dataset digits --epochs 3"),
}
#: Bootstrap draws and seed of the paired differences (those of ``explain``'s CIs).
N_BOOT, SEED = 1000, 0
#: breast-cancer's texture columns, which ``examples --immutable`` holds.
TEXTURES = ("mean texture", "texture error", "worst texture")


@dataclass(frozen=True)
class Example:
    """One command of the page: its name here, its arguments after ``unboxed`` and the
    commands that must run first (one that reads a folder another writes)."""

    name: str
    args: tuple[str, ...]
    needs: tuple[str, ...] = ()

    def figures(self, record: dict[str, Any], work: Path) -> dict[str, Any]:
        """The figures the page quotes, from the command's ``--json`` ``record`` and
        the files it wrote in ``work``."""
        command = self.args[0]
        if command == "approximate":
            command += " " + self.args[self.args.index("--surrogate") + 1]
        return FIGURES[command](record, work)


# ---------------------------------------------------------------- figures per command
#: ``explain``'s figures over the rows: its AOPC, a random order's of the same
#: components and the paired difference (``explain`` computes both, seeded by --seed),
#: and the relative infidelity.
EXPLAINED = ("aopc", "random_aopc", "aopc_minus_random", "relative_infidelity")


def _explain(record: dict[str, Any], work: Path) -> dict[str, Any]:
    """AOPC, that of a random order of the same components and the paired difference,
    and relative infidelity over the rows; dmm-men's mean held-out R²; the rows'
    probabilities and own figures of fit."""
    rows = record["rows"]
    own = next((key for key in ("r2_held_out", "score_cv") if key in rows[0]), None)
    figures = {key: record[key] for key in EXPLAINED}
    if "components" in record:
        figures["components"] = record["components"]
        figures["n_held_out"] = record["n_held_out"]
    if own is not None:
        fits = [row[own] for row in rows if row[own] is not None]
        figures[f"mean {own}"] = float(np.mean(fits))
        figures[f"rows' ({own}, p)"] = [(row[own], row["probability"]) for row in rows]
    return figures


def _approximate_tree(record: dict[str, Any], work: Path) -> dict[str, Any]:
    rules = (work / "rules.txt").read_text()
    return {
        **{key: record[key] for key in ("depth", "leaves", "fidelity", "accuracy", "rule_units")},
        "rules": rules,
    }


def _approximate_dmm_men(record: dict[str, Any], work: Path) -> dict[str, Any]:
    classes = record["classes"]
    return {
        "r2 range": _span(c["r2"] for c in classes),
        "rhat range": _span(c["rhat"] for c in classes),
        "left_out": record["left_out"],
        "classes": [{k: c[k] for k in ("class", "r2", "rhat", "components")} for c in classes],
    }


def _approximate_student(record: dict[str, Any], work: Path) -> dict[str, Any]:
    keys = ("best_params", "validation_agreement", "fidelity", "largest_delta")
    return {key: record[key] for key in keys}


def _examples(record: dict[str, Any], work: Path) -> dict[str, Any]:
    """The proxy's fidelity, each local kind's validity and, from its file, how many
    of its examples are distinct training rows and their mean RMS distance from their
    query (over the inputs: pixels, or a table's standardized columns)."""
    figures = {"fidelity": record["fidelity"], "immutable": record["immutable"]}
    for kind in ("counterfactuals", "semifactuals"):
        if kind not in record["kinds"]:
            continue
        examples = ExampleSet.load(work / "examples" / f"{kind}.npz")
        moved = examples.inputs - examples.query_inputs[examples.groups]
        rms = np.sqrt(np.mean(moved**2, axis=1))
        # --checked gives the rows that got one and the rows asked in place of a
        # validity that is 1 by construction.
        keys = ("found", "validity", "rows_with_one", "model_rows_asked")
        figures[kind] = {
            key: record["kinds"][kind][key] for key in keys if key in record["kinds"][kind]
        }
        figures[kind] |= {
            "distinct_rows": int(np.unique(examples.indices).size),
            "mean_rms_distance": float(rms.mean()),
            "median_rms_distance": float(np.median(rms)),
        }
        if examples.input_names is not None:  # a table: how far its texture columns moved
            held = [examples.input_names.index(name) for name in TEXTURES]
            figures[kind]["texture_change_mean_abs"] = float(np.abs(moved[:, held]).mean())
            figures[kind]["texture_change_max_abs"] = float(np.abs(moved[:, held]).max())
    return figures


def _importance(record: dict[str, Any], work: Path) -> dict[str, Any]:
    name, drop = max(record["drops"].items(), key=lambda item: item[1]["mean"])
    return {
        "above_zero": record["above_zero"],
        "of": len(record["drops"]),
        "largest": name,
        "largest_drop": drop,
    }


def _maximize(record: dict[str, Any], work: Path) -> dict[str, Any]:
    """Each class's probability and distance beside its class's test rows' quartiles,
    and how many prototypes lie at or below their class's upper quartile."""
    prototypes = record["prototypes"]
    return {
        "p range": _span(p["probability"] for p in prototypes),
        "distance range": _span(p["distance"] for p in prototypes),
        "upper quartile range": _span(p["real_distance"][2] for p in prototypes),
        "median range": _span(p["real_distance"][1] for p in prototypes),
        "at or below upper quartile": sum(
            p["distance"] <= p["real_distance"][2] for p in prototypes
        ),
        "of": len(prototypes),
        "per class": {p["class"]: (p["probability"], p["distance"]) for p in prototypes},
    }


def _report(record: dict[str, Any], work: Path) -> dict[str, Any]:
    """The page's size and each section's figures, picked as its command's."""
    sections = record["sections"]
    picked = {
        "explain": lambda f: {k: f[k] for k in EXPLAINED},
        "approximate": lambda f: {k: f[k] for k in ("depth", "leaves", "fidelity")},
        "importance": lambda f: _importance(f, work),
        "maximize": lambda f: _maximize(f, work),
        "examples": lambda f: {
            "fidelity": f["fidelity"],
            "counterfactuals": f["kinds"]["counterfactuals"],
        },
    }
    return {
        "page_kB": (work / "report.html").stat().st_size / 1e3,
        "test_accuracy": record["test_accuracy"],
        **{
            name: picked[name](s["figures"]) if s["error"] is None else {"error": s["error"]}
            for name, s in sections.items()
        },
    }


def _span(values: Any) -> list[float]:
    values = list(values)
    return [min(values), max(values)]


#: What each command's figures are picked by (``approximate`` by its surrogate).
FIGURES = {
    "explain": _explain,
    "approximate tree": _approximate_tree,
    "approximate dmm-men": _approximate_dmm_men,
    "approximate student": _approximate_student,
    "examples": _examples,
    "importance": _importance,
    "maximize": _maximize,
    "report": _report,
}
LENET, CANCER, DIGITS = "models/lenet-fmnist", "models/mlp-cancer", "models/lenet-digits"
PAIRS = "--kinds counterfactuals,semifactuals"
HELD = f'--immutable "{",".join(TEXTURES)}"'
VAE = "maximize-vae"
#: The commands: name, line after ``unboxed`` (``--json`` and ``--quiet`` are added)
#: and the command it needs.
COMMANDS = [
    # explain: dmm-men against lime on test rows 0:50 of the LeNet, seed 0
    (
        "explain-lime-50",
        f"explain --model {LENET} --method lime --rows 0:50 --seed 0 --out lime.npz",
    ),
    (
        "explain-dmm-men-50",
        f"explain --model {LENET} --method dmm-men --rows 0:50 --seed 0 --out dmm.npz",
    ),
    (
        "explain-dmm-men-j1-50",
        f"explain --model {LENET} --method dmm-men --components 1 --rows 0:50 --seed 0 --out 1.npz",
    ),
    # the held-out R2 on a few perturbations: row 0 of a digits LeNet of 3 epochs
    (
        "explain-dmm-men-digits-10",
        f"explain --model {DIGITS} --method dmm-men --rows 0:1 --n-samples 10 --out d10.npz",
    ),
    (
        "explain-dmm-men-digits-25",
        f"explain --model {DIGITS} --method dmm-men --rows 0:1 --n-samples 25 --out d25.npz",
    ),
    ("approximate-dmm-men", f"approximate --model {LENET} --surrogate dmm-men --out insights.npz"),
    ("approximate-student", f"approximate --model {LENET} --surrogate student --out student"),
    ("examples", f"examples --model {LENET} --rows 0:10 --out examples"),
    ("examples-paper", f"examples --model {LENET} --rows 0:10 --e-step paper --out examples"),
    # --checked against the proxy's choice: counterfactuals and semi-factuals of rows 0:50
    ("examples-pairs-50", f"examples --model {LENET} {PAIRS} --rows 0:50 --out examples"),
    (
        "examples-checked-50",
        f"examples --model {LENET} {PAIRS} --rows 0:50 --checked --out examples",
    ),
    ("importance", f"importance --model {LENET} --out importance.npz"),
    ("maximize", f"maximize --model {LENET} --out maximized.npz"),
    ("maximize-starts-1", f"maximize --model {LENET} --starts 1 --out maximized.npz"),
    (
        VAE,
        f"maximize --model {LENET} --generator-epochs 20 --save-generator vae --out maximized.npz",
    ),
    # The VAE kept by the line above: the page's "--generator with the VAE kept by
    # --save-generator", and the VAE that --generator-epochs 20 trains with the same seed.
    ("maximize-vae-kept", f"maximize --model {LENET} --generator vae --out maximized.npz", VAE),
    (
        "maximize-vae-starts-1",
        f"maximize --model {LENET} --generator vae --starts 1 --out maximized.npz",
        VAE,
    ),
    (
        "maximize-vae-l2",
        f"maximize --model {LENET} --generator vae --regularizer l2 --out maximized.npz",
        VAE,
    ),
    ("report", f"report --model {LENET} --out report.html"),
    # the table rows: the breast-cancer MLP
    ("cancer-approximate-tree", f"approximate --model {CANCER} --surrogate tree --out rules.txt"),
    (
        "cancer-explain-kernel-shap",
        f"explain --model {CANCER} --method kernel-shap --out kernel-shap.npz",
    ),
    ("cancer-importance", f"importance --model {CANCER} --out importance.npz"),
    ("cancer-examples", f"examples --model {CANCER} --out examples"),
    (
        "cancer-examples-immutable-50",
        f"examples --model {CANCER} {PAIRS} --rows 0:50 {HELD} --out examples",
    ),
    ("cancer-examples-50", f"examples --model {CANCER} {PAIRS} --rows 0:50 --out examples"),
    ("cancer-examples-immutable-10", f"examples --model {CANCER} {PAIRS} {HELD} --out examples"),
    ("cancer-examples-10", f"examples --model {CANCER} {PAIRS} --out examples"),
    ("cancer-maximize", f"maximize --model {CANCER} --out maximized.npz"),
]
EXAMPLES = [
    Example(name, tuple(shlex.split(line)), tuple(needs)) for name, line, *needs in COMMANDS
]
BY_NAME = {example.name: example for example in EXAMPLES}
AOPC, INFIDELITY = "aopc", "relative_infidelity"
#: The paired differences the page quotes: (label, command a, command b, figure), a - b
#: over the rows where both have the figure.
PAIRED = [
    ("dmm-men - lime, AOPC", "explain-dmm-men-50", "explain-lime-50", AOPC),
    ("dmm-men - lime, relative infidelity", "explain-dmm-men-50", "explain-lime-50", INFIDELITY),
    ("dmm-men J=1 - lime, AOPC", "explain-dmm-men-j1-50", "explain-lime-50", AOPC),
    (
        "dmm-men J=1 - lime, relative infidelity",
        "explain-dmm-men-j1-50",
        "explain-lime-50",
        INFIDELITY,
    ),
]


# ---------------------------------------------------------------- running
def unboxed(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m unboxed ARGS`` in ``cwd`` (with ``env`` added to the environment);
    its output captured, a failure raised with what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "unboxed", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=None if env is None else os.environ | env,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"unboxed {shlex.join(args)} exited with {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done


def ensure_models(work: Path, names: set[str]) -> dict[str, Any]:
    """Train each model of ``names`` into ``MODELS`` where absent, link it into
    ``work/models`` and record it (test accuracy, weights) for the results files."""
    trained = {}
    (work / "models").mkdir()
    for name in sorted(names):
        dataset, options = TRAIN[name]
        folder = MODELS / name
        if not (folder / "model.json").is_file():
            line = ["train", *options.split(), "--out", str(folder), "--quiet"]
            start = time.perf_counter()
            # On TRAIN_THREADS, as the other benchmarks train: torch's sums follow the
            # thread count, so the default (one per core) gives other weights elsewhere.
            done = unboxed(line, work, env={"OMP_NUM_THREADS": str(TRAIN_THREADS)})
            trained[name] = {
                "command": "unboxed " + shlex.join(line),
                "printed": done.stdout,
                "seconds": time.perf_counter() - start,
            }
        (work / "models" / name).symlink_to(folder)
        record_model(name, zoo.load(folder), dataset, folder)
    return trained


def run_example(example: Example, work: Path) -> dict[str, Any]:
    """Run one command in ``work``: its line, time, load, output and figures."""
    args = [*example.args, "--json", "figures.json", "--quiet"]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = unboxed(args, work)
    seconds = time.perf_counter() - start
    record = json.loads((work / "figures.json").read_text())
    print(f"{example.name}: {seconds:.0f} s", file=sys.stderr, flush=True)
    return {
        "name": example.name,
        "command": "unboxed " + shlex.join(args),
        "seconds": seconds,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "printed": done.stdout,
        "figures": example.figures(record, work),
        "json": record,
    }


def with_needs(names: list[str]) -> list[Example]:
    """The examples of ``names`` and those they need, in the page's order."""
    wanted = set(names)
    for name in names:
        wanted |= set(BY_NAME[name].needs)
    return [example for example in EXAMPLES if example.name in wanted]


def paired(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each difference of ``PAIRED`` whose two commands ran, with its bootstrap CI over
    the rows both have the figure for."""
    out = {}
    for label, a, b, figure in PAIRED:
        if a not in runs or b not in runs:
            continue
        rows_a, rows_b = runs[a]["json"]["rows"], runs[b]["json"]["rows"]
        both = [
            (x[figure], y[figure])
            for x, y in zip(rows_a, rows_b, strict=True)
            if x[figure] is not None and y[figure] is not None
        ]
        values = np.array([x - y for x, y in both])
        out[label] = estimate(values, n_boot=N_BOOT, random_state=SEED).as_dict()
    return out


# ---------------------------------------------------------------- output
def fmt(value: Any) -> str:
    """A figure as the results table shows it: an estimate as ``mean [low, high]``."""
    if isinstance(value, dict) and {"mean", "ci"} <= set(value):
        ci = value["ci"]
        interval = "no CI" if ci is None else f"{ci[0]:.4g}, {ci[1]:.4g}"
        return f"{value['mean']:.4g} [{interval}]"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(fmt(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + "; ".join(f"{k}: {fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return value.strip().replace("\n", " / ").replace("|", "\\|")
    return str(value)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# The figures of docs/cli.md, measured by running its commands",
        "",
        "Command: `python benchmarks/cli_examples.py`. Each command as docs/cli.md gives "
        "it, with `--json figures.json --quiet` added, run as a subprocess (`python -m "
        "unboxed`) in a scratch folder whose `models/` links to the models in "
        "`~/.cache/unboxed/cli_examples/`. Times are wall times of the whole command "
        "(interpreter and imports included); the load average (1 minute) before and "
        f"after each says what else ran on the machine's {result['cpus']} cores. Machine: "
        f"{result['machine']['cpu']}, torch {result['machine']['torch']}. Total wall "
        f"time {result['seconds']:.0f} s.",
        "",
    ]
    for name, training in result["trained"].items():
        lines.append(f"Trained {name} in {training['seconds']:.0f} s: `{training['command']}`")
    if result["trained"]:
        lines.append("")
    lines += ["| command | wall time | load before/after | figures |", "|---|---:|---|---|"]
    for run in result["runs"]:
        figures = "<br>".join(f"{k}: {fmt(v)}" for k, v in run["figures"].items())
        lines.append(
            f"| `{run['command']}` | {run['seconds']:.1f} s | "
            f"{run['load_before']:.1f}/{run['load_after']:.1f} | {figures} |"
        )
    if result["paired"]:
        lines += ["", "Paired differences over the same test rows (bootstrap over the rows):", ""]
        lines += [f"- {label}: {fmt(value)}" for label, value in result["paired"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(BY_NAME),
        metavar="NAME",
        help="run these commands (and those they need) and print their figures; the "
        "results files are not written",
    )
    parser.add_argument("--list", action="store_true", help="name the commands and exit")
    args = parser.parse_args()
    if args.list:
        print("\n".join(f"{e.name}: unboxed {shlex.join(e.args)}" for e in EXAMPLES))
        return
    examples = with_needs(args.only) if args.only else EXAMPLES
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="unboxed-cli-examples-") as folder:
        work = Path(folder)
        models = {e.args[e.args.index("--model") + 1].split("/")[1] for e in examples}
        trained = ensure_models(work, models)
        runs = {example.name: run_example(example, work) for example in examples}
    result = {
        "machine": machine(),
        "cpus": os.cpu_count(),
        "seconds": time.perf_counter() - start,
        "trained": trained,
        "runs": list(runs.values()),
        "paired": paired(runs),
    }
    text = markdown(result)
    if not args.only:
        write_results("cli_examples", text, result)
    print(text)


if __name__ == "__main__":
    main()
