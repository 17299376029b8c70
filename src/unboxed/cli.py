"""The ``unboxed`` command: ``datasets``, ``train``, ``explain``, ``approximate``,
``examples``, ``importance``, ``maximize``, ``report`` and ``demo``."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shlex
import shutil
import sys
import warnings
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._numbers import fixed, one_row_mean, paired_difference
from ._validation import ADAM_LR_SHARE, FLOAT32_MAX
from ._version import __version__

#: ``unboxed explain --method``: each name's explainer in :mod:`unboxed.local`, by name
#: so that ``--help`` need not import torch.
EXPLAIN_METHODS = {
    "lime": "Lime",
    "kernel-shap": "KernelShap",
    "occlusion": "Occlusion",
    "saliency": "Saliency",
    "input-x-gradient": "InputXGradient",
    "integrated-gradients": "IntegratedGradients",
    "deeplift": "DeepLift",
    "smoothgrad": "SmoothGrad",
}
#: ``unboxed explain --method dmm-men``: DMM-MEN's local route (Sec. 4.2) as Table 1 of
#: ``benchmarks/dmm_men.py`` runs its best mixture: 3 components, one chain of 200 sweeps
#: per row, attributions on the probability scale averaged over the components (their
#: deletion test and removal infidelity then read them as Lime's).
LOCAL_DMM_MEN: dict[str, Any] = {"n_components": 3, "n_iter": 200, "n_chains": 1}
#: ``unboxed examples --kinds``: each kind's file stem, in the order they are found.
EXAMPLE_KINDS = ("prototypes", "criticisms", "influentials", "counterfactuals", "semifactuals")
#: The methods that take ``n_samples``, ``random_state`` and, but for smoothgrad, segments.
SAMPLED_METHODS = ("lime", "kernel-shap", "smoothgrad", "dmm-men")
#: The methods whose values share out the effect of removing features, so that
#: removal infidelity scores them; Saliency and SmoothGrad map ``|gradient|``.
_SHARED_OUT_METHODS = (
    "lime",
    "kernel-shap",
    "occlusion",
    "input-x-gradient",
    "integrated-gradients",
    "deeplift",
    "dmm-men",
)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, with a hint where its own words would puzzle."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A value that starts with "-" reads as an option unless it looks like a negative
        # number: "--rows -3:2", "--immutable -1,2" and "--lr -1e3" (argparse's numbers
        # have no exponent) said only "expected one argument" where "--rows=-3:2",
        # "--immutable=-1,2" and "--lr=-1e3" are refused in the option's own words. No
        # option's name starts with "-<digit>" or "-.", so these are taken as the value;
        # a Python without this attribute gets the hint.
        number = getattr(self, "_negative_number_matcher", None)
        if isinstance(number, re.Pattern):
            self._negative_number_matcher = re.compile(
                rf"(?:{number.pattern})|^-\d+[:,]|^-(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$"
            )

    def error(self, message: str) -> NoReturn:
        # argparse reads a value that starts with "-" but not "-<digit>" ("-texture") as
        # an option, and says only "expected one argument".
        if message == "argument --immutable: expected one argument":
            message += (
                "; columns are 0-based indices or names, such as 1,21; a value that starts "
                "with '-' reads as an option, so write --immutable=VALUE (negative indices "
                "are refused)"
            )
        elif message == "argument --rows: expected one argument":
            message += "; rows are START:STOP, such as 0:10; a value that starts with '-' "
            message += "reads as an option, so write --rows=VALUE"
        super().error(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="unboxed",
        description="Explain black-box classifiers by approximating them.",
    )
    parser.add_argument("--version", action="version", version=f"unboxed {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("datasets", help="list the data sets and whether each is installed")

    train = commands.add_parser("train", help="train a reference black box from the zoo")
    train.add_argument("--model", required=True, choices=["mlp", "lenet"], help="an MLP or LeNet-5")
    train.add_argument("--dataset", required=True, help="a name from `unboxed datasets`")
    train.add_argument("--out", required=True, type=_user_path, help="folder to save the model to")
    train.add_argument(
        "--force", action="store_true", help="replace a model already saved in --out"
    )
    train.add_argument(
        "--epochs", type=_int_at_least(1), default=10, help="training epochs (default %(default)s)"
    )
    train.add_argument(
        "--batch-size",
        type=_int_at_least(1),
        default=128,
        help="rows per training step (default %(default)s)",
    )
    train.add_argument(
        "--lr",
        type=_finite_float(
            positive=True,
            largest=FLOAT32_MAX * ADAM_LR_SHARE,
            why="where Adam's first step, 10 times it, still fits a float32 (the weights' type)",
        ),
        default=2e-3,
        help="Adam's learning rate (default %(default)s)",
    )
    train.add_argument(
        "--weight-decay",
        type=_finite_float(
            positive=False,
            largest=FLOAT32_MAX,
            why="the largest float32 (the weights' type)",
        ),
        default=0.0,
        help="Adam's weight decay (default %(default)s)",
    )
    train.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="random_state for weights and shuffling (default %(default)s)",
    )
    train.add_argument(
        "--widths",
        type=_widths,
        default=None,  # None: 256,64; given with --model lenet, refused
        help="MLP hidden widths, comma-separated (default 256,64)",
    )
    train.add_argument(
        "--activation",
        default="relu",
        # zoo.ACTIVATIONS, written out so that --help need not import torch
        choices=["relu", "sigmoid", "tanh", "elu", "gelu", "silu", "leaky_relu"],
        help="hidden-layer activation (default %(default)s)",
    )
    train.add_argument(
        "--data-path", default=None, type=_user_path, help="folder holding the data set's files"
    )
    train.add_argument(
        "--checkpoint",
        default=None,
        type=_user_path,
        help="file to save progress to and resume from",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    explain = commands.add_parser(
        "explain",
        help="explain a saved model's decisions on test rows (images or a table's rows), with "
        "how faithful each is",
    )
    # --seed also draws infidelity's removals, which score every method but these.
    methods = (*EXPLAIN_METHODS, "dmm-men")
    unscored = [method for method in methods if method not in _SHARED_OUT_METHODS]
    _add_saved_model_arguments(
        explain,
        seeds=f"the sampling explainers ({', '.join(SAMPLED_METHODS)}), the deletion test's "
        f"random order, infidelity's removals (every method but {' and '.join(unscored)}) "
        "and the bootstraps",
    )
    explain.add_argument(
        "--out", required=True, type=_user_path, help="the attributions' .npz file to write"
    )
    explain.add_argument(
        "--method",
        default="lime",
        choices=[*EXPLAIN_METHODS, "dmm-men"],
        help="the local explainer (default %(default)s); dmm-men fits a small DMM-MEN to "
        "each row's perturbations",
    )
    explain.add_argument(
        "--rows",
        type=_row_range,
        default="0:10",
        help="test rows START:STOP to explain (default %(default)s)",
    )
    explain.add_argument(
        "--segments",
        default="auto",
        choices=["auto", "slic", "quickshift", "grid", "pixels"],
        help="the components that perturbation methods switch off and the deletion test "
        "removes; auto is SLIC superpixels on images of 16 pixels a side or more, a 4x4 "
        "grid of cells on smaller ones, and each column of a table (default %(default)s)",
    )
    explain.add_argument(
        "--n-samples",
        type=_int_at_least(1),
        default=1000,
        help="samples per row for lime, kernel-shap, smoothgrad and dmm-men (default %(default)s)",
    )
    explain.add_argument(
        "--components",
        type=_int_at_least(1),
        default=None,
        help=f"dmm-men: mixture components per row (default {LOCAL_DMM_MEN['n_components']}; "
        "1 is one Bayesian elastic net, which tied lime on Fashion-MNIST in Table 1)",
    )
    explain.add_argument(
        "--max-k",
        type=_int_at_least(1),
        default=10,
        help="components the deletion test removes, one at a time (default %(default)s)",
    )
    explain.add_argument(
        "--plot",
        default=None,
        type=_user_path,
        help="a figure file to write: the first 10 rows, each titled by its test row, and "
        "the deletion curve of all the rows (its 95%% band, the AOPC) beside a random "
        "order's",
    )

    approximate = commands.add_parser(
        "approximate",
        help="approximate a saved model globally by a readable surrogate, with its fidelity",
    )
    _add_saved_model_arguments(approximate, seeds="the surrogate and the tests")
    approximate.add_argument(
        "--out",
        required=True,
        type=_user_path,
        help="where to write: the tree's rules (a text file), DMM-MEN's insights (an .npz "
        "file), or the student (a folder, saved as `unboxed train` saves a model)",
    )
    approximate.add_argument(
        "--force",
        action="store_true",
        default=None,
        help="student: replace a model already saved in --out",
    )
    approximate.add_argument(
        "--surrogate",
        default="tree",
        choices=["tree", "dmm-men", "student"],
        help="a decision tree on the model's predictions, a Dirichlet-process mixture "
        "of elastic nets per class on its logits, or a ReLU MLP distilled from its "
        "probabilities, which its local linear models explain exactly (default %(default)s)",
    )
    approximate.add_argument(
        "--n-train",
        type=_int_at_least(2),
        default=5000,
        help="training rows the surrogate learns from (default %(default)s)",
    )
    approximate.add_argument(
        "--max-depth",
        type=_int_or_auto,
        default=None,
        help="tree: its depth, or auto for the knee of fidelity against depth (default auto)",
    )
    approximate.add_argument(
        "--n-iter",
        type=_int_at_least(8),  # DMMMEN's least (n_iter=4 was refused after the data loaded)
        default=None,
        help="dmm-men: sweeps per chain (default 1000)",
    )
    approximate.add_argument(
        "--n-features",
        type=_int_at_least(1),
        default=None,
        help="dmm-men: the features of largest variance it models (default 100)",
    )
    approximate.add_argument(
        "--k",
        type=_int_at_least(1),
        default=None,
        help="dmm-men: insight features per class, set to 0 by the deletion test (default 20)",
    )
    approximate.add_argument(
        "--checkpoint",
        default=None,
        type=_user_path,
        help="dmm-men: .npz file to save the chains to and resume from; student: "
        ".safetensors file to save the grid search to and resume from",
    )
    approximate.add_argument(
        "--plot",
        default=None,
        type=_user_path,
        help="dmm-men: a figure of the insights; student: a figure of its exact "
        "attributions of the first 10 test rows",
    )
    # Distiller's defaults, written out so that --help need not import torch (a test
    # holds them to the library's); None tells an option given from one left out.
    approximate.add_argument(
        "--widths",
        type=_widths,
        default=None,
        help="student: its hidden widths, comma-separated (default 256,64)",
    )
    approximate.add_argument(
        "--epochs",
        type=_int_at_least(1),
        default=None,
        help="student: training epochs per grid point (default 10)",
    )
    approximate.add_argument(
        "--grid",
        default=None,
        choices=["small", "paper"],
        help="student: the temperatures, alphas, learning rates and batch sizes searched; "
        "small is 2 points, paper the 780 of its Sec. 7.3 (default small)",
    )
    approximate.add_argument(
        "--n-mixup",
        type=_int_at_least(0),
        default=None,
        help="student: extra training inputs, random mixes of two training rows labelled "
        "by the model (default 0)",
    )

    examples = commands.add_parser(
        "examples",
        help="a saved model's prototypes, criticisms, influential rows, counterfactuals and "
        "semi-factuals, found through a JGMM and checked against the model",
    )
    _add_saved_model_arguments(examples, seeds="the JGMM's fit")
    examples.add_argument(
        "--out",
        required=True,
        type=_user_path,
        help="folder to write each kind's examples to, as KIND.npz",
    )
    examples.add_argument(
        "--kinds",
        type=_example_kinds,
        default=",".join(EXAMPLE_KINDS),
        help="the kinds to find, comma-separated (default %(default)s)",
    )
    examples.add_argument(
        "--layer",
        default="auto",
        help="the layer the JGMM reads as its lower features: a name from the model's "
        "layers, or auto for the input of its output layer (default %(default)s)",
    )
    examples.add_argument(
        "--k-x",
        type=_int_at_least(1),
        default=32,
        help="the JGMM's components over the lower features; with --e-step labelled, at "
        "least the model's number of classes (default %(default)s)",
    )
    examples.add_argument(
        "--e-step",
        default="labelled",
        choices=["labelled", "paper"],
        help="labelled: the model's class on each row is observed, and each lower "
        "component belongs to one class; paper: the paper's E-step (eq. 15), whose proxy "
        "agreed less with the model (benchmarks/results/jgmm.md, Table 1) "
        "(default %(default)s)",
    )
    examples.add_argument(
        "--n-train",
        type=_int_at_least(2),
        default=5000,
        help="training rows the JGMM is fitted on and mines its examples from "
        "(default %(default)s)",
    )
    examples.add_argument(
        "--rows",
        type=_row_range,
        default="0:10",
        help="test rows START:STOP whose counterfactuals and semi-factuals are found; "
        "the other kinds do not read it (default %(default)s)",
    )
    examples.add_argument(
        "--n",
        type=_int_at_least(1),
        default=5,
        help="prototypes per class, counterfactuals and semi-factuals per row, and "
        "criticisms and influential rows per class on average (default %(default)s)",
    )
    examples.add_argument(
        "--immutable",
        type=_column_list,
        default=None,
        metavar="COLS",
        help="tables only: columns every counterfactual and semi-factual keeps at its "
        "row's value, comma-separated 0-based indices or names; digits always read as an "
        "index, never as a column's name (default: none, every column may change)",
    )
    examples.add_argument(
        "--checked",
        action="store_true",
        help="keep only the counterfactuals the model itself puts in another class than "
        "the row's, and the semi-factuals it keeps in the row's (the model is asked "
        "about the best candidates first, until --n are found); the line then "
        "gives the share of rows that got one (default: those of the JGMM's proxy, "
        "checked against the model afterwards)",
    )
    examples.add_argument(
        "--plot", action="store_true", help="also draw each kind's examples, as KIND.png"
    )

    importance = commands.add_parser(
        "importance",
        help="what a saved model relies on: the drop of its score when each feature (or "
        "image cell) is shuffled over the test rows, with 95%% CIs",
    )
    _add_saved_model_arguments(importance, seeds="the shuffles and the bootstrap")
    importance.add_argument(
        "--out", required=True, type=_user_path, help="the importances' .npz file to write"
    )
    importance.add_argument(
        "--n-test",
        type=_int_at_least(2),
        default=1000,
        help="the first test rows to shuffle, or all where there are fewer (default %(default)s)",
    )
    importance.add_argument(
        "--cell",
        type=_int_or_auto,
        default="auto",
        help="images: the side, in pixels, of the square cells shuffled together, cut at "
        "the image's edges, at most its longer side; auto is 1/7 of its shorter side, 4 "
        "on 28x28 images (default %(default)s)",
    )
    importance.add_argument(
        "--n-repeats",
        type=_int_at_least(1),
        default=10,
        help="shuffles per feature or cell (default %(default)s)",
    )
    importance.add_argument(
        "--metric",
        default="accuracy",
        choices=["accuracy", "probability"],
        help="a row's score: whether the class is kept, or its probability (default %(default)s)",
    )
    importance.add_argument(
        "--labels",
        default="model",
        choices=["model", "true"],
        help="the class scored: the model's own (what it relies on) or the true label "
        "(what makes it right) (default %(default)s)",
    )
    importance.add_argument(
        "--top",
        type=_int_at_least(1),
        default=10,
        help="the most important features or cells to print (default %(default)s)",
    )
    importance.add_argument(
        "--plot",
        default=None,
        type=_user_path,
        help="a figure file to write: a heat map on images, bars otherwise",
    )

    maximize = commands.add_parser(
        "maximize",
        help="the input a saved model finds most typical of each class (activation "
        "maximization), with its probability and how far it is from real rows",
    )
    _add_saved_model_arguments(
        maximize, seeds="the starting points and of the VAE --generator-epochs trains"
    )
    maximize.add_argument(
        "--out", required=True, type=_user_path, help="the prototypes' .npz file to write"
    )
    maximize.add_argument(
        "--classes",
        type=_class_list,
        default=None,
        help="class indices to maximise, each once, comma-separated such as 0,3,7 (default: all)",
    )
    maximize.add_argument(
        "--regularizer",
        default=None,
        choices=["none", "l2", "l1", "tv", "jitter"],  # probes.REGULARIZERS, without torch
        help="the penalty on x* (tv and jitter need images; default l2, or none with "
        "--generator-epochs or --generator, whose decoder keeps x* realistic and l2 made it "
        "less so)",
    )
    maximize.add_argument(
        "--steps", type=_int_at_least(1), default=200, help="Adam steps (default %(default)s)"
    )
    maximize.add_argument(
        "--generator-epochs",
        type=_int_at_least(0),
        default=0,
        help="images: train a VAE on the training rows for this many epochs and search its "
        "latent space, which keeps x* near real images (0: search the pixels; default "
        "%(default)s)",
    )
    maximize.add_argument(
        "--save-generator",
        default=None,
        type=_user_path,
        help="a folder to save the VAE that --generator-epochs trains, for --generator",
    )
    maximize.add_argument(
        "--generator",
        default=None,
        type=_user_path,
        help="images: search the latent space of a VAE saved by --save-generator (or "
        "unboxed.zoo.save) instead of training one",
    )
    maximize.add_argument(
        "--starts",
        type=_int_at_least(1),
        default=MAXIMIZE_STARTS,
        help="searches per class from different starting points, side by side; each class "
        "keeps its best (default %(default)s)",
    )
    maximize.add_argument(
        "--plot", default=None, type=_user_path, help="a figure file to write: x* per class"
    )

    report = commands.add_parser(
        "report",
        help="one HTML page that explains a saved model: explain, approximate, importance, "
        "maximize and examples run on it, each with how faithful it is",
    )
    _add_saved_model_arguments(report, seeds="every section")
    report.add_argument("--out", required=True, type=_user_path, help="the HTML file to write")
    report.add_argument(
        "--rows",
        type=_row_range,
        default="0:5",
        help="test rows START:STOP that explain and examples explain (default %(default)s)",
    )
    report.add_argument(
        "--sections",
        type=_report_sections,
        default=",".join(REPORT_SECTIONS),
        help="the sections, comma-separated, each once (default %(default)s)",
    )

    demo = commands.add_parser("demo", help="train a LeNet on digits, explain it and test it")
    demo.add_argument(
        "--out",
        default="demo-output",
        type=_user_path,
        help="folder for figures and results (default %(default)s)",
    )
    demo.add_argument(
        "--epochs",
        type=_int_at_least(1),
        default=40,
        help="LeNet training epochs (default %(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seeds the model, the training and the tests (default %(default)s)",
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _add_saved_model_arguments(command: argparse.ArgumentParser, *, seeds: str) -> None:
    """The options of a command that works on a saved model and its data set:
    ``--model``, ``--dataset``, ``--data-path``, ``--seed`` and ``--quiet``."""
    command.add_argument(
        "--model", required=True, type=_user_path, help="a folder saved by `unboxed train`"
    )
    command.add_argument(
        "--dataset",
        default=None,
        help="a name from `unboxed datasets` (default: the one the model was trained on)",
    )
    command.add_argument(
        "--data-path", default=None, type=_user_path, help="folder holding the data set's files"
    )
    command.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help=f"random_state of {seeds} (default %(default)s)",
    )
    command.add_argument("--quiet", action="store_true", help="no progress bars")
    command.add_argument(
        "--json",
        default=None,
        type=_user_path,
        help="a file to write the printed figures to, as JSON (NaN as null)",
    )


def _datasets() -> int:
    from .data import available_datasets

    rows = [
        (info.name, "yes" if info.is_installed() else "no", info.description)
        for info in available_datasets()
    ]
    width = max(len(name) for name, _, _ in rows)
    print(f"{'name':<{width}}  installed  description")
    for name, installed, description in rows:
        print(f"{name:<{width}}  {installed:<9}  {description}")
    for info in available_datasets():
        if not info.is_installed():
            print(f"\nTo install {info.name}: {info.install() if info.install else '?'}")
    return 0


def _widths(text: str) -> list[int]:
    """``--widths``: comma-separated positive ints (``",,"`` trained no hidden layer)."""
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints such as 256,64, got {text!r}")
    return widths


def _names_in_order(text: str, allowed: Sequence[str], what: str) -> list[str]:
    """Comma-separated names from ``allowed``, each once, in ``allowed``'s order; the
    spaces around a name are ignored, as ``--immutable`` ignores them."""
    names = [name.strip() for name in text.split(",")]
    if not set(names) <= set(allowed) or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(
            f"expected {what} from {','.join(allowed)}, comma-separated, each once, got {text!r}"
        )
    return [name for name in allowed if name in names]


def _example_kinds(text: str) -> list[str]:
    """``--kinds``: names from :data:`EXAMPLE_KINDS` (:func:`_names_in_order`)."""
    return _names_in_order(text, EXAMPLE_KINDS, "kinds")


def _row_range(text: str) -> tuple[int, int]:
    """``--rows``: ``START:STOP``, ints with 0 <= START < STOP (checked against the
    data set's test split once it is loaded)."""
    start, sep, stop = text.partition(":")
    try:
        bounds = (int(start), int(stop))
    except ValueError:
        bounds = (-1, -1)
    if not sep or bounds[0] < 0 or bounds[1] <= bounds[0]:
        raise argparse.ArgumentTypeError(
            f"expected START:STOP with 0 <= START < STOP, such as 0:10, got {text!r}"
        )
    return bounds


def _column_list(text: str) -> list[int | str]:
    """``--immutable``: comma-separated table columns, each an int index or a name
    (checked against the data set's columns once it is loaded). Digits are an index
    even where a column is named so: what "3" holds does not depend on the table's
    names (the library's ``immutable=["3"]`` holds that column by name)."""
    columns = [column.strip() for column in text.split(",")]
    if not all(columns):
        raise argparse.ArgumentTypeError(
            f"expected column indices or names, comma-separated, such as 1,21 or "
            f"'mean texture,worst texture', got {text!r}"
        )
    return [int(column) if column.lstrip("-").isdigit() else column for column in columns]


def _class_list(text: str) -> list[int]:
    """``--classes``: comma-separated class indices, each an int >= 0 (checked against
    the model's classes once it is loaded)."""
    parse = _int_at_least(0)
    try:
        classes = [parse(item) for item in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected class indices separated by commas, such as 0,3,7, got {text!r}"
        ) from None
    # A class named twice would be searched twice and printed as two rows of one class.
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(
            f"expected each class once, got {text!r}, which repeats {repeated[0]}"
        )
    return classes


def _int_or_auto(text: str) -> int | str:
    """``--max-depth``, ``--cell``: a positive int, or ``auto``."""
    if text == "auto":
        return text
    try:
        return _int_at_least(1)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive int or auto, got {text!r}") from None


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for ints >= ``minimum``, so that a bad ``--epochs`` or ``--seed``
    is refused by its option's name before any data is loaded."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}, got {text!r}")
        return value

    return parse


def _seed(text: str) -> int:
    """``--seed``'s argparse type: an int from 0 to below 2**64, the seeds torch takes.
    A command that seeds torch refused a larger one after the data loaded, in the
    library's words ("random_state must be below 2**64"); the others took it."""
    value = _int_at_least(0)(text)
    if value >= 2**64:
        raise argparse.ArgumentTypeError(f"expected an int >= 0 and below 2**64, got {text!r}")
    return value


def _finite_float(*, positive: bool, largest: float, why: str) -> Callable[[str], float]:
    """An argparse type for finite floats > 0 (``positive``) or >= 0, and at most
    ``largest`` (``why`` says why), so that a bad ``--lr`` is refused by its option's
    name before any data is loaded (zoo.train's words, "lr must be ...", named no
    option)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(
                f"expected a finite number {'>' if positive else '>='} 0, got {text!r}"
            )
        # Adam steps the float32 weights by it: --lr 1e300 (or 1e38, or --weight-decay
        # 1e300) failed at the first step, after the data loaded, in torch's words
        # alone ("value cannot be converted to type float without overflow").
        if value > largest:
            raise argparse.ArgumentTypeError(
                f"expected a number at most {largest:.4g}, {why}, got {text!r}"
            )
        return value

    return parse


def _user_path(text: str) -> str:
    """An argparse type that expands a leading ``~``: the shell leaves ``--out=~/m``
    as it is, and the model went to a folder named ``~`` in the current one."""
    return os.path.expanduser(text)


def _check_writable(path: str, option: str, *, folder: bool) -> Path:
    """Refuse an output ``path`` (a folder, or a file) that cannot be written, before
    the work: the model, a checkpoint or the demo's figures are first saved after
    minutes of training."""
    if not path:  # Path("") is the current folder, which would silently get the files
        raise ValueError(f"{option} is empty; name a {'folder' if folder else 'file'}")
    target = Path(path)
    # A link to nothing is not there for exists(), but is for mkdir (FileExistsError,
    # after training); a checkpoint file is written beside it and renamed over it.
    existing = next(
        (p for p in (target, *target.parents) if p.exists() or p.is_symlink()), Path(".")
    )
    if existing.is_symlink() and not existing.exists() and (folder or existing != target):
        raise ValueError(f"{option} {target}: {existing} is a link to a missing path")
    if not folder and existing == target and target.is_dir():
        raise ValueError(f"{option} {target} is a folder; name a file")
    if not existing.is_dir() and (folder or existing != target):
        raise ValueError(f"{option} {target}: {existing} is a file, not a folder")
    parent = existing if existing.is_dir() else existing.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {target}: no permission to write in {parent}")
    return target


def _check_figure_path(path: str) -> None:
    """Refuse a ``--plot`` file that cannot be written or whose suffix matplotlib
    writes no format for (none: png), before the work: ``savefig`` reads the format
    off the suffix, and an unknown one failed only after the results were made."""
    from matplotlib.backend_bases import FigureCanvasBase

    _check_writable(path, "--plot", folder=False)
    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix and suffix not in formats:
        raise ValueError(
            f"--plot {path}: matplotlib writes no .{suffix} files; name one of "
            f"{', '.join(sorted(formats))}"
        )


#: What each checkpoint's record holds beside its ``settings`` (zoo.train's, the
#: Distiller's), which tells one from the other before the data loads.
_CHECKPOINT_RECORDS = {"training": "state", "distillation": "results"}


def _check_checkpoint(path: str | None, kind: str) -> None:
    """Refuse, before the data loads, a ``--checkpoint`` file that is there but is no
    ``kind`` checkpoint ("training", "distillation" or "DMM-MEN"), in its reader's words
    under the option's name. Only its header and record are read: the library reads
    the whole file, and only once the data has loaded (minutes on MNIST)."""
    if path is None or not Path(path).is_file():
        return  # a new checkpoint
    with _naming_checkpoint(path, always=True):
        if kind == "DMM-MEN":
            _check_dmm_checkpoint_header(Path(path))
        else:
            _check_checkpoint_record(path, kind)


@contextlib.contextmanager
def _naming_checkpoint(path: str | None, *, always: bool = False) -> Iterator[None]:
    """Name ``--checkpoint`` in the library's refusals of the file ``path``, whose words
    name the file alone ("c.npz was written by a fit with other settings"), and of the
    per-class files DMM-MEN keeps beside it; with ``always``, in every ``ValueError``."""
    try:
        yield
    except ValueError as err:
        if path is None:
            raise
        stem = Path(path).with_suffix("")
        about = (f"{path} ", f"{Path(path)} ", f"{stem}.class")  # DMM-MEN's <stem>.class<c>.npz
        if not (always or str(err).startswith(about)):
            raise
        raise ValueError(f"--checkpoint: {err}") from None


def _check_checkpoint_record(path: str, kind: str) -> None:
    """The refusals of ``zoo._io.load_with_record`` (and its callers) of a file that is
    no ``kind`` checkpoint, made from the file's header and record tensor alone."""
    from safetensors import safe_open

    from ._io import parse_json
    from .zoo._io import RECORD_KEY, tensor_metadata

    tensor_metadata(path)  # "... is not a readable safetensors file"
    refused = ValueError(f"{path} is not an unboxed {kind} checkpoint")
    try:
        with safe_open(str(path), framework="pt") as handle:
            blob = handle.get_tensor(RECORD_KEY) if RECORD_KEY in handle.keys() else None
        record = None if blob is None else parse_json(bytes(blob.numpy()).decode())
    except Exception as err:  # safetensors and torch raise their own error types
        raise refused from err
    # A training checkpoint given to the student (or the other way) was refused only
    # as "made with other settings", once the data had loaded.
    if not isinstance(record, dict) or not {"settings", _CHECKPOINT_RECORDS[kind]} <= set(record):
        raise refused


def _check_dmm_checkpoint_header(path: Path) -> None:
    """DMM-MEN's checkpoint reader's refusals (``read_npz_with_header``) of a file that
    is no DMM-MEN checkpoint, made from its JSON header alone: the reader loads every
    array (the chains' draws: hundreds of MB on MNIST) before it looks at the header."""
    from ._io import read_npz_header
    from .surrogates._dmm_chain import CHECKPOINT_FORMAT, CHECKPOINT_VERSION

    read_npz_header(
        path, what="a DMM-MEN checkpoint", format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION
    )


def _train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import torch

    from . import zoo
    from .zoo._io import RECORD, WEIGHTS

    # A LeNet's layers are fixed: its training ignored --widths without a word.
    if args.widths is not None and args.model != "mlp":
        raise ValueError(f"--widths applies to --model mlp only, not {args.model}")
    out = _check_writable(args.out, "--out", folder=True)
    _check_no_model(out, force=args.force)
    if args.checkpoint is not None:
        _check_writable(args.checkpoint, "--checkpoint", folder=False)
        # The model's save would replace the checkpoint, and a resume read it as one.
        saved = {f"--out's {name}": out / name for name in (RECORD, WEIGHTS)}
        _check_distinct_files(saved, {"--checkpoint": Path(args.checkpoint)})
        _check_outside_folders({"--out": out}, {"--checkpoint": Path(args.checkpoint)})
        _check_checkpoint(args.checkpoint, "training")
    dataset = _load_data(args.dataset, args.data_path)
    kwargs: dict[str, object] = {"activation": args.activation, "random_state": args.seed}
    if args.model == "mlp":
        kwargs["widths"] = args.widths or [256, 64]
    model = zoo.build(
        args.model, input_shape=dataset.input_shape, n_classes=dataset.n_classes, **kwargs
    )
    with _naming_checkpoint(args.checkpoint):
        result = zoo.train(
            model,
            dataset,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            random_state=args.seed,
            checkpoint=args.checkpoint,
            verbose=not args.quiet,
        )
    folder = _save_model(
        model,
        out,
        {
            "dataset": dataset.name,
            "test_accuracy": result.test_accuracy,
            "epoch_test_accuracy": list(result.epoch_test_accuracy),
            "training": result.settings,
            "command": _command_line(argv),
            # The weights follow these (docs/data-and-zoo.md): the same command and
            # seed on another thread count or processor trains another network.
            "trained_on": {
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            },
        },
    )
    print(
        f"{args.model} on {dataset.name}: test accuracy {result.test_accuracy:.4f} "
        f"({len(dataset.y_test)} test samples, {args.epochs} epochs, {result.seconds:.0f} s); "
        f"saved to {folder}"
    )
    return 0


def _dataset_names() -> list[str]:
    """The names ``load_dataset`` takes."""
    from .data import available_datasets

    return [info.name for info in available_datasets()]


def _load_data(name: str, data_path: str | None) -> Any:
    """:func:`~unboxed.data.load_dataset` of ``name``, with its refusals of ``path``
    said by the option, ``--data-path``: "do not pass path" named none the command has."""
    from .data import load_dataset
    from .data._dataset import REGISTRY

    if data_path is not None and name in REGISTRY:
        if REGISTRY[name].install is None:
            raise ValueError(
                f"--data-path {data_path}: {name} is built in and reads no files; leave "
                "--data-path out"
            )
        if not Path(data_path).is_dir():
            missing = "is a file, not a folder" if Path(data_path).exists() else "no such folder"
            raise FileNotFoundError(f"--data-path {data_path}: {missing}")
    return load_dataset(name, path=data_path)


def _command_line(argv: Sequence[str]) -> str:
    """The command as typed, for a saved model's record: it replays in a shell."""
    return "unboxed " + " ".join(shlex.quote(a) for a in argv)


def _check_no_model(out: Path, *, force: bool | None, option: str = "--out") -> None:
    """Refuse, before the work, an ``option`` folder that already holds a saved model,
    unless ``--force`` (None: the command has none): the new model would replace it for
    good, after the training."""
    from .zoo._io import RECORD, WEIGHTS

    held = [name for name in (RECORD, WEIGHTS) if (out / name).exists()]
    if held and not force:
        replace = "" if force is None else ", or give --force to replace it"
        raise ValueError(
            f"{option} {out} already holds a saved model ({' and '.join(held)}); name "
            f"another folder{replace}"
        )


def _save_model(model: Any, out: Path, metadata: dict[str, Any]) -> Path:
    """Save a zoo ``model`` to the folder ``out`` with ``metadata``, as
    :func:`unboxed.zoo.save` does; a folder made here goes again if the save is cut off."""
    from . import zoo

    created = not out.exists()
    try:
        return zoo.save(model, out, metadata=metadata)
    except BaseException:
        # The weights and model.json are two files: cut off between them (Ctrl-C, a
        # full disk), a folder made here would hold a model that does not load.
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _explain(args: argparse.Namespace) -> int:
    import functools

    import numpy as np

    from ._io import save_figure
    from .evaluate import deletion_curve, infidelity
    from .local._perturbation import MIN_SAMPLES

    out = _check_writable(args.out, "--out", folder=False)
    if args.plot is not None:
        _check_figure_path(args.plot)
    # Said before any work, and by its option: the library's refusal names n_samples.
    # (Smoothgrad averages its samples, and takes 1 or more.)
    if args.components is not None and args.method != "dmm-men":
        raise ValueError(f"--components applies to --method dmm-men only, not {args.method}")
    fitted = args.method in ("lime", "kernel-shap", "dmm-men")
    if fitted and args.n_samples < MIN_SAMPLES:
        raise ValueError(
            f"--n-samples {args.n_samples} is too few for --method {args.method}, which fits "
            f"a model to each row's perturbations: give at least {MIN_SAMPLES}"
        )
    blackbox, dataset = _saved_model_and_data(args)
    name = dataset.name
    if dataset.image_shape is None and args.segments not in ("auto", "pixels"):
        # _explain_segments falls back to single features there, which this option
        # did not ask for
        raise ValueError(
            f"--segments {args.segments} cuts images, and the rows of {name} are not; their "
            "components are single features (--segments pixels or auto)"
        )
    start, stop = args.rows
    X = blackbox.check_X(_test_rows(args.rows, dataset))
    segments = _explain_segments(X, dataset.image_shape, args.segments)
    attribution = _as_images(_local_attribution(args, blackbox, X, segments), dataset)
    attribution.save(out)
    # The same components for every method, so that their figures compare.
    max_k = min(args.max_k, int(segments.max(axis=1).min()) + 1)
    # A table's components are its single features: the curve removes those, and says
    # so (its meta["unit"], which labels the --plot panel's axis), not "segments".
    removal = functools.partial(
        deletion_curve,
        blackbox,
        X,
        max_k=max_k,
        segments=None if dataset.image_shape is None else segments,
        random_state=args.seed,
    )
    curve = removal(attribution)
    # What the AOPC is worth: a random order of the same components of the same rows,
    # scored for the same classes, and how far the ranking is above it, row by row.
    random = removal("random", target=attribution.target)
    above = curve.aopc_difference(random, random_state=args.seed)
    misfit = None
    unmoved = False  # no removal moved any row's probability
    if args.method in _SHARED_OUT_METHODS:
        try:
            misfit = infidelity(
                blackbox,
                X,
                attribution,
                perturbation="removal",
                segments=segments,
                random_state=args.seed,
            )
        except ValueError as err:
            # Rows saturated at 0 or 1 whatever is removed have no relative figure:
            # a finding about them, not a bad option (it exited 2, the attributions
            # saved, advising a p_remove that the command does not take).
            if "moved the probability" not in str(err):
                raise
            unmoved = True
    proba = blackbox.predict_proba(X)[np.arange(len(X)), attribution.target]
    # --components changes dmm-men's figures: the printout and --json say which J gave them.
    dmm = attribution.meta["parameters"]["dmm"] if args.method == "dmm-men" else None
    mixed = ""
    if dmm is not None:
        count = dmm["n_components"]
        mixed = f" ({count} component{'s' * (count != 1)} per row)"
    print(f"{args.method}{mixed} on test rows {start}:{stop} of {name}; saved to {out}")
    labels = [blackbox.class_name(int(y)) for y in dataset.y_test[start:stop]]
    own, rows = _explained_rows(attribution, labels, proba, curve, misfit, start)
    _print_explained_rows(own, rows)
    held_out = attribution.meta["parameters"]["n_score"] if own == "r2_held_out" else None
    if held_out is not None:
        # So few (2 at --n-samples 10) that their R2 can read -8e10 where they differ
        # by a hair: the count lets the reader weigh it.
        print(
            f"R2 (held out): each row's local model scored on {held_out} perturbations "
            "it was not fitted on (--n-samples // 5, at least 2)"
        )
    # On a table stored standardized, 0 is no "absent" value but the training mean,
    # which a reader of the raw units (0 mm) would not guess.
    zero = " (the training mean: the rows are standardized)" * (dataset.feature_scale is not None)
    print(
        f"deletion AOPC, the mean drop in the explained class's probability as the top "
        f"1..{max_k} components are set to 0{zero} (higher is more faithful): "
        f"{_over_rows(curve.aopc)}"
    )
    print(
        f"a random order of the same components, each row its own: AOPC "
        f"{_over_rows(random.aopc)}; the ranking is {_above(above)}"
    )
    if misfit is not None:
        moved = len(X) - misfit.meta["n_flat"]
        over = (
            f" over the {moved} row{'s' * (moved != 1)} of {len(X)} that a removal moved"
            if moved < len(X)
            else ""
        )
        print(
            f"relative infidelity, the share of the drops from removing each component "
            f"with probability 1/2 that the summed attributions fail to predict (0 is "
            f"exact, 1 predicts nothing){over}: {_over_rows(misfit.mean_relative)}"
        )
    elif unmoved:
        print(
            "relative infidelity: no removal moved the explained class's probability on "
            "any row (saturated at 0 or 1), so there is none"
        )
    else:
        print(f"{args.method} maps |gradient|, which predicts no removal: no infidelity")
    if args.plot is not None:
        from .report._plots import _attribution_and_deletion_curve

        # Panels titled by their test rows, as the table above is: "row 5", not "row 0";
        # beside them the deletion curve the AOPC above is the area over, of every row.
        drawn = min(len(X), 10)
        # An image's --segments pixels are segments of one pixel each: the axis
        # counted "segments" there, as it does superpixels.
        pixels = dataset.image_shape is not None and args.segments == "pixels"
        figure = _attribution_and_deletion_curve(
            attribution,
            list(range(drawn)),
            curve,
            random,
            row_names=range(start, stop),
            unit="pixel" if pixels else None,
        )
        save_figure(figure, args.plot, dpi=80)
        print(
            f"figure of the first {drawn} row{'s' * (drawn != 1)} and the deletion curve of "
            f"all {len(X)}: {args.plot}"
        )
    _write_figures(
        args,
        method=args.method,
        **({"components": dmm["n_components"]} if dmm is not None else {}),
        dataset=name,
        rows=rows,
        **({"n_held_out": held_out} if held_out is not None else {}),
        max_k=max_k,  # the printed "top 1..max_k components" the AOPC averages over
        aopc=_over_rows_json(curve.aopc),
        random_aopc=_over_rows_json(random.aopc),  # a random order of the same components
        aopc_minus_random=_over_rows_json(above),  # paired: per row, then averaged
        relative_infidelity=None if misfit is None else _over_rows_json(misfit.mean_relative),
    )
    return 0


def _over_rows(estimate: Any) -> str:
    """A mean over rows as printed, with its bootstrap CI; over one row the bootstrap
    has one value to draw and its CI is that value twice, which claims a certainty
    that one row cannot give: none is shown. A mean that rounds to 0 reads "0.0000",
    as :meth:`Estimate.__str__ <unboxed.evaluate.Estimate>` writes it over more rows."""
    if estimate.n == 1:
        return one_row_mean(fixed(estimate.mean, 4))
    return str(estimate)


def _above(difference: Any) -> str:
    """``explain``'s AOPC minus a random order's (an Estimate), in words: "above it by
    0.2100 [0.1800, 0.2400] (...)", or "below it by" with the interval turned round, so
    that the figure printed is never a negative distance; an interval that holds 0 says
    so."""
    # Over one row there is no CI, as _over_rows prints it.
    ci = None if difference.n == 1 else difference.ci
    paired = " (each row's AOPC minus its random one, averaged over the rows)"
    return paired_difference(difference.mean, ci, 4, paired=paired)


def _over_rows_json(estimate: Any) -> dict[str, Any]:
    """:func:`_over_rows` for ``--json``: the estimate's ``as_dict``, ``ci`` null over
    one row."""
    figures = estimate.as_dict()
    if estimate.n == 1:
        figures["ci"] = None
    return figures


def _local_attribution(args: argparse.Namespace, blackbox: Any, X: Any, segments: Any) -> Any:
    """``--method``'s attributions of the rows ``X``; the perturbation methods switch
    ``segments`` on and off."""
    from . import local

    verbose = not args.quiet
    if args.method == "dmm-men":
        from .surrogates import DMMMEN

        settings = LOCAL_DMM_MEN | (
            {} if args.components is None else {"n_components": args.components}
        )
        dmm = DMMMEN(**settings, random_state=args.seed, verbose=verbose)
        return dmm.explain_local(
            X,
            blackbox=blackbox,
            segments=segments,
            n_samples=args.n_samples,
            scale="probability",
            component="average",
        )
    kwargs: dict[str, object] = {"verbose": verbose}
    if args.method in SAMPLED_METHODS:
        kwargs.update(n_samples=args.n_samples, random_state=args.seed)
    explainer = getattr(local, EXPLAIN_METHODS[args.method])(blackbox, **kwargs)
    by_segment = {"segments": segments} if args.method in ("lime", "kernel-shap") else {}
    return explainer.explain(X, **by_segment)


def _test_rows(rows: tuple[int, int], dataset: Any) -> Any:
    """``--rows START:STOP`` of ``dataset``'s test split, refused where it runs past."""
    start, stop = rows
    if stop > len(dataset.X_test):
        raise ValueError(
            f"--rows {start}:{stop} runs past the {len(dataset.X_test)} test rows of {dataset.name}"
        )
    return dataset.X_test[start:stop]


def _as_images(result: Any, dataset: Any) -> Any:
    """``result`` (an ``Attribution`` or ``ExampleSet``) with ``dataset``'s image shape
    where it has none: an MLP takes images flat, so its results did not know their rows
    are images, and their figures drew bars, or lower-layer features as pictures."""
    import dataclasses

    if result.image_shape is None and dataset.image_shape is not None:
        return dataclasses.replace(result, image_shape=dataset.image_shape)
    return result


def _write_figures(args: argparse.Namespace, **figures: Any) -> None:
    """With ``--json``, write the figures the command printed, and say so."""
    if args.json is not None:
        from ._io import write_json

        write_json(args.json, {"command": args.command, **figures})
        print(f"figures written to {args.json}")


def _saved_model_and_data(
    args: argparse.Namespace,
    written: dict[str, Path] | None = None,
    kept: dict[str, Path] | None = None,
    resumes: str | None = None,
    folders: Collection[str] = (),
) -> tuple[Any, Any]:
    """``--model``'s black box and ``--dataset``'s data (by default the data set the
    model records it was trained on), checked to fit each other; the black box names
    its classes by the model's names, else by the data set's.

    First, two options that name one file (``written``, each file by what names it,
    else ``--out``, ``--plot`` and ``--checkpoint``; and ``--json``), or one that names
    a file of the ``--model`` folder or one of the other ``kept`` files (each by what
    names it: another saved model the command reads or saves), are refused: one file
    would overwrite the other, or the model; so is one below another written file or a
    ``kept`` one, but not one below those of ``folders`` (the written options that name
    a folder). Then a ``--checkpoint`` that is no checkpoint of the kind the command
    ``resumes`` from (:func:`_check_checkpoint`)."""
    from . import zoo
    from .zoo._io import RECORD, WEIGHTS

    if args.json is not None:
        _check_writable(args.json, "--json", folder=False)
    if written is None:
        written = {
            option: Path(path)
            for option in ("--out", "--plot", "--checkpoint")
            if (path := getattr(args, option[2:], None)) is not None
        }
    if args.json is not None:
        written = {**written, "--json": Path(args.json)}
    model_files = {f"--model's {name}": Path(args.model) / name for name in (RECORD, WEIGHTS)}
    _check_distinct_files({**model_files, **(kept or {})}, written, folders)
    if resumes is not None:
        _check_checkpoint(args.checkpoint, resumes)
    model, record = _load_saved(args.model, "--model")
    if isinstance(model, zoo.VAE):  # it records a data set, then read "tells 0 apart"
        raise ValueError(
            f"--model {args.model} holds a VAE (a generator, as maximize --save-generator "
            "keeps), not a classifier; name a model saved by unboxed train"
        )
    # A record edited by hand, or saved by zoo.save with other metadata, may hold
    # anything there: a list raised AttributeError, a number read as a data set's name.
    facts = record.get("metadata")
    recorded = facts.get("dataset") if isinstance(facts, dict) else None
    name = args.dataset or recorded
    if not name:
        raise ValueError(f"{args.model} does not record its data set; pass --dataset")
    if not args.dataset and (not isinstance(recorded, str) or recorded not in _dataset_names()):
        raise ValueError(
            f"--model {args.model} records its data set as {recorded!r}, which is none of "
            "`unboxed datasets`; pass --dataset"
        )
    dataset = _load_data(name, args.data_path)
    # An MLP takes an image flat, (H*W,) against the data set's (1, H, W); the black
    # box flattens the rows either way, so only the number of features must agree.
    if math.prod(dataset.input_shape) != math.prod(model.input_shape):
        raise ValueError(
            f"{name}'s inputs have shape {dataset.input_shape}, but the model in "
            f"{args.model} takes {model.input_shape}; pass the --dataset it was trained on"
        )
    if dataset.n_classes != model.n_classes:
        raise ValueError(
            f"{name} has {dataset.n_classes} classes, but the model in {args.model} tells "
            f"{model.n_classes} apart; pass the --dataset it was trained on"
        )
    # A model saved before zoo models kept names takes its data set's. Table rows take
    # their columns' names, which label the explanations' bars (they read x0, x1, ...).
    names = {"feature_names": dataset.feature_names} if dataset.image_shape is None else {}
    blackbox = zoo.as_blackbox(model, class_names=model.class_names or dataset.class_names, **names)
    return blackbox, dataset


def _check_distinct_files(
    kept: dict[str, Path], written: dict[str, Path], folders: Collection[str] = ()
) -> None:
    """Refuse, before the work, two ``written`` files (each by what names it) that are
    one file, and a ``written`` one that is one of the ``kept`` files (a saved model's,
    which the command reads or saves): one would overwrite the other (``--out`` and
    ``--plot`` both ``a.png`` left a PNG where the attributions were expected). Refuse
    too a ``written`` path below another one, or below a ``kept`` file, unless that
    one is a folder (its option is in ``folders``): ``importance --out a.npz --json
    a.npz/f.json`` saved ``a.npz`` and then failed "cannot write a.npz/f.json"."""
    seen = dict(kept)
    for option, path in written.items():
        for earlier, other in seen.items():
            if path.resolve() == other.resolve():
                raise ValueError(f"{option} and {earlier} are both {path}; name two files")
            # A written path above a kept file is a folder there already, or the
            # folder a model is saved to, which _check_outside_folders tells.
            pairs = [(option, path, earlier, other)]
            if earlier in written:
                pairs.append((earlier, other, option, path))
            for below, file, under, above in pairs:
                if under not in folders and above.resolve() in file.resolve().parents:
                    raise ValueError(
                        f"{below} {file} is below {under} {above}, a file; name a path outside it"
                    )
        seen[option] = path


def _check_outside_folders(folders: dict[str, Path], written: dict[str, Path]) -> None:
    """Refuse, before the work, a ``written`` file (each by what names it) that is one
    of the ``folders`` the command saves into (each by what names it) or a folder above
    one: whichever comes second could not be written, after the work (``maximize --out
    g --save-generator g`` failed once the prototypes were found)."""
    for option, path in written.items():
        # A folder there already is told as such, as the other outputs are told.
        _check_writable(str(path), option, folder=False)
        for folder_option, folder in folders.items():
            if path.resolve() == folder.resolve():
                raise ValueError(
                    f"{option} and {folder_option} are both {path}, a file and a folder; "
                    "name two paths"
                )
            if path.resolve() in folder.resolve().parents:
                raise ValueError(
                    f"{option} {path} is a folder above {folder_option} {folder}; name a file"
                )


#: ``approximate``'s options that only some surrogates take, with those surrogates;
#: each defaults to None, so that one given to another surrogate is refused.
_SURROGATE_OPTIONS = {
    "max_depth": ("tree",),
    "n_iter": ("dmm-men",),
    "n_features": ("dmm-men",),
    "k": ("dmm-men",),
    "plot": ("dmm-men", "student"),
    "checkpoint": ("dmm-men", "student"),
    "widths": ("student",),
    "epochs": ("student",),
    "grid": ("student",),
    "n_mixup": ("student",),
    "force": ("student",),
}


def _check_surrogate_options(args: argparse.Namespace) -> None:
    """Refuse the options of other surrogates than ``--surrogate``'s: they would be
    ignored without a word (a tree's ``--plot`` made no figure)."""
    refused: dict[tuple[str, ...], list[str]] = {}
    for option, surrogates in _SURROGATE_OPTIONS.items():
        if getattr(args, option) is not None and args.surrogate not in surrogates:
            refused.setdefault(surrogates, []).append("--" + option.replace("_", "-"))
    if refused:
        raise ValueError(
            "; ".join(
                f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} to "
                f"--surrogate {' and '.join(surrogates)} only"
                for surrogates, given in refused.items()
            )
        )


#: The defaults of the tree's and DMM-MEN's options in ``_SURROGATE_OPTIONS`` (the
#: student's are the Distiller's own); their --help says them.
SURROGATE_DEFAULTS = {"max_depth": "auto", "n_iter": 1000, "n_features": 100, "k": 20}


def _approximate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    _check_surrogate_options(args)
    for option, value in SURROGATE_DEFAULTS.items():
        if getattr(args, option) is None:
            setattr(args, option, value)
    student = args.surrogate == "student"
    out = _check_writable(args.out, "--out", folder=student)
    if args.plot is not None:
        _check_figure_path(args.plot)
    if args.checkpoint is not None:
        _check_writable(args.checkpoint, "--checkpoint", folder=False)
    if student:
        _check_student_paths(args)
    resumes = {"dmm-men": "DMM-MEN", "student": "distillation"}.get(args.surrogate)
    folders = ("--out",) if student else ()
    blackbox, dataset = _saved_model_and_data(args, resumes=resumes, folders=folders)
    X_train = dataset.X_train[: args.n_train]
    print(
        f"{args.surrogate} approximating {args.model} from {len(X_train)} training rows "
        f"of {dataset.name}; tested on its {len(dataset.X_test)} test rows"
    )
    if args.surrogate == "tree":
        _approximate_by_tree(args, blackbox, dataset, X_train, out)
    elif args.surrogate == "dmm-men":
        _approximate_by_dmm_men(args, blackbox, dataset, X_train, out)
    else:
        _approximate_by_student(args, blackbox, dataset, X_train, out, argv)
    return 0


def _approximate_by_tree(
    args: argparse.Namespace, blackbox: Any, dataset: Any, X_train: Any, out: Path
) -> None:
    """Fit a :class:`~unboxed.surrogates.TreeSurrogate`, print its fidelity and write
    its rules."""
    from ._io import atomic_write
    from .evaluate import agreement
    from .surrogates import TreeSurrogate

    try:
        tree = TreeSurrogate(
            blackbox, max_depth=args.max_depth, random_state=args.seed, verbose=not args.quiet
        ).fit(X_train)
    except ValueError as err:
        # The library's word is of X ("X has 3 rows; too few ..."); the user gave
        # --n-train, as examples says of its JGMM.
        raise ValueError(
            f"cannot fit the tree on the {len(X_train)} training rows of {dataset.name} "
            f"(--n-train) with --max-depth {args.max_depth}: {err}"
        ) from None
    # A standardized table's thresholds read in standard deviations; a person reads
    # its own units (worst perimeter in micrometres, not 0.223).
    raw = dataset.feature_scale is not None
    rules = tree.export_text(
        feature_names=dataset.feature_names, unscale=dataset.to_raw if raw else None
    )
    units = " (thresholds in the data's raw units; the model reads them standardized)"
    with atomic_write(out, "w") as handle:
        handle.write(rules)
    fidelity = tree.fidelity(dataset.X_test)
    accuracy = agreement(tree.predict(dataset.X_test), blackbox.class_labels(dataset.y_test))
    path_length = tree.path_length(dataset.X_test)
    merged = (
        f" ({tree.n_rules_} rules: splits that change no class print as one)"
        if tree.n_rules_ < tree.n_leaves_
        else ""
    )
    print(
        f"tree of depth {tree.depth_} with {tree.n_leaves_} leaves{merged}; mean decision "
        f"path {path_length:.1f} nodes\n"
        f"fidelity, its agreement with the model's class on the test rows: {fidelity}\n"
        f"its accuracy against the true labels: {accuracy}\n"
        f"rules written to {out}{units if raw else ''}"
    )
    _write_figures(
        args,
        surrogate="tree",
        dataset=dataset.name,
        depth=tree.depth_,
        leaves=tree.n_leaves_,
        path_length=path_length,
        fidelity=fidelity.as_dict(),
        accuracy=accuracy.as_dict(),
        # the record says what the printout says: a script reading the rules needs it
        rule_units="raw" if raw else "as read by the model",
    )


def _approximate_by_dmm_men(
    args: argparse.Namespace, blackbox: Any, dataset: Any, X_train: Any, out: Path
) -> None:
    """Fit a :class:`~unboxed.surrogates.DMMMEN`, print its fit per class and the
    deletion test of its insights, and save them."""
    import numpy as np

    from ._io import save_figure
    from .evaluate import deletion_test
    from .surrogates import DMMMEN, ConvergenceWarning

    # DMMMEN refuses to model a feature that does not vary: digits' corner pixels are
    # 0 on every row, and the default --n-features 100 asked for all 64 pixels.
    flat = blackbox.check_X(X_train).reshape(len(X_train), -1)
    varying = int(np.count_nonzero(flat.var(axis=0) > 0))
    if varying == 0:
        raise ValueError(f"no feature varies over the {len(X_train)} training rows (--n-train)")
    n_features = min(args.n_features, varying)
    if n_features < min(args.n_features, flat.shape[1]):
        print(
            f"{flat.shape[1] - varying} of the {flat.shape[1]} features are constant over "
            f"the training rows; DMM-MEN models the other {varying}"
        )
    # Said before the fit, which the deletion test of the top --k came after.
    if args.k > n_features:
        raise ValueError(
            f"--k {args.k} exceeds the {n_features} features DMM-MEN models "
            f"(--n-features {args.n_features}, of {varying} that vary); give --k {n_features} "
            "or fewer"
        )
    model = DMMMEN(
        n_iter=args.n_iter,
        n_features=n_features,
        checkpoint=args.checkpoint,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    # Classes the model gives too few rows to fit are left out, and said so, rather
    # than refusing the whole fit.
    counts = np.bincount(blackbox.predict(X_train), minlength=blackbox.n_classes)
    classes = [c for c, n in enumerate(counts) if _dmm_can_fit(n, len(X_train), model)]
    if not classes:
        raise ValueError(f"no class has enough of the {len(X_train)} rows; raise --n-train")
    left_out = sorted(set(range(blackbox.n_classes)) - set(classes))
    if left_out:
        names = ", ".join(blackbox.class_name(c) for c in left_out)
        print(f"left out, with too few rows the model assigns them: {names}")
    with warnings.catch_warnings(), _naming_checkpoint(args.checkpoint):
        # The table gives every class's R-hat, with what it means.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, blackbox, classes=classes)
    print(
        f"Per class: the held-out R2 of the logits, the chains' R-hat (below 1.1 they "
        f"mixed), the components of weight >= 0.05, and the deletion test: the rate at "
        f"which the model keeps the class once the top {args.k} insight features are set "
        f"to 0, against {args.k} random ones (well below random is faithful)."
    )
    # An R2 may be negative (worse than the mean); one that rounds to 0 reads "0.000".
    print(
        f"{'class':>16}  {'R2':>6}  {'R-hat':>6}  {'comp.':>5}  "
        f"{'kept, insights [95% CI]':>25}  {'kept, random [95% CI]':>25}"
    )
    per_class = []
    for row, c in enumerate(model.classes_):
        test = deletion_test(
            blackbox,
            dataset.X_test,
            model.class_insights(args.k, by="positive", classes=[int(c)]),
            [args.k],
            fill="zero",
            target=int(c),
            n_boot=200,
            sample_frac=1.0,
            random_state=args.seed,
            verbose=False,
        )
        print(
            f"{blackbox.class_name(int(c)):>16}  {fixed(model.r2_[row], 3):>6}  "
            f"{model.rhat_[row]:>6.2f}  {int(np.sum(model.weights_[row] >= 0.05)):>5}  "
            f"{_rate(test.pcr[0], test.pcr_ci[0]):>25}  "
            f"{_rate(test.random_pcr[0], test.random_pcr_ci[0]):>25}"
        )
        per_class.append(
            {
                "class": blackbox.class_name(int(c)),
                "r2": model.r2_[row],
                "rhat": model.rhat_[row],
                "components": int(np.sum(model.weights_[row] >= 0.05)),
                "kept_insights": {"mean": test.pcr[0], "ci": test.pcr_ci[0]},
                "kept_random": {"mean": test.random_pcr[0], "ci": test.random_pcr_ci[0]},
            }
        )
    model.class_insights(args.k, by="positive").save(out)
    print(f"insights written to {out}")
    if args.plot is not None:
        save_figure(model.plot(k=args.k), args.plot, dpi=80)
        print(f"figure of the insights: {args.plot}")
    _write_figures(
        args,
        surrogate="dmm-men",
        dataset=dataset.name,
        k=args.k,
        left_out=[blackbox.class_name(c) for c in left_out],
        classes=per_class,
    )


def _check_student_paths(args: argparse.Namespace) -> None:
    """Refuse, before the work, an ``--out`` folder that is the teacher's (the student
    would replace it) and a ``--json``, ``--plot`` or ``--checkpoint`` file that is one
    of the student's two files (one would overwrite the other), or ``--out`` itself or
    a folder above it (the second written could not be)."""
    from .zoo._io import RECORD, WEIGHTS

    out = Path(args.out).resolve()
    if out == Path(args.model).resolve():
        raise ValueError(
            f"--out {args.out} is the --model folder; the student would replace the model "
            "it is distilled from; name another folder"
        )
    # --force defaults to None here, to tell it was given (see _SURROGATE_OPTIONS); the
    # student's command has it, so the refusal must say so.
    _check_no_model(Path(args.out), force=bool(args.force))
    for option in ("json", "plot", "checkpoint"):
        path = getattr(args, option)
        if path is None:
            continue
        _check_outside_folders({"--out": Path(args.out)}, {f"--{option}": Path(path)})
        if Path(path).resolve() in (out / WEIGHTS, out / RECORD):
            raise ValueError(
                f"--{option} {path} is a file the student is saved as in --out; name another"
            )


def _approximate_by_student(
    args: argparse.Namespace,
    blackbox: Any,
    dataset: Any,
    X_train: Any,
    out: Path,
    argv: Sequence[str],
) -> None:
    """Distil the model into a ReLU MLP (:class:`~unboxed.piecewise.Distiller`), print
    its agreement with the model and the exactness of its local linear models, and save
    it as a zoo model that every saved-model command takes."""
    from ._io import save_figure
    from .piecewise import Distiller

    given = {
        "widths": args.widths,
        "epochs": args.epochs,
        "grid": args.grid,
        "n_mixup": args.n_mixup,
    }
    # Those left out take the Distiller's defaults.
    options = {key: value for key, value in given.items() if value is not None}
    with _naming_checkpoint(args.checkpoint):
        distiller = Distiller(
            **options,
            random_state=args.seed,
            checkpoint=args.checkpoint,
            verbose=not args.quiet,
        ).fit(blackbox, X_train)
    student = distiller.student_
    fidelity = distiller.fidelity(dataset.X_test)
    largest_delta = _largest_delta(distiller, dataset.X_test)
    settings = {
        "widths": list(distiller.widths),
        "epochs": distiller.epochs,
        "grid": distiller.grid,
        "n_mixup": distiller.n_mixup,
        "n_train": len(X_train),
        "seed": args.seed,
        "best_params": distiller.best_params_,
    }
    # Named as the model's classes and columns, so that the student's plots read as
    # the model's.
    student.class_names = blackbox.class_names
    student.feature_names = blackbox.feature_names
    folder = _save_model(
        student,
        out,
        {
            "dataset": dataset.name,
            "distilled_from": str(Path(args.model).resolve()),
            "validation_agreement": distiller.fidelity_.as_dict(),
            "test_agreement": fidelity.as_dict(),
            "distillation": settings,
            "command": _command_line(argv),
        },
    )
    point = ", ".join(f"{key} {value}" for key, value in distiller.best_params_.items())
    n_val = distiller.fidelity_.n
    print(
        f"student {'-'.join(map(str, settings['widths']))} ReLU MLP, {settings['epochs']} "
        f"epochs per grid point; chosen of {len(distiller.cv_results_)}: {point}\n"
        f"agreement with the model's class on the {n_val} validation rows, which chose "
        f"the grid point: {distiller.fidelity_}\n"
        f"agreement with the model's class on the test rows: {fidelity}\n"
        f"largest gap between its local linear models (W~x + b~) and its logits on the "
        f"test rows: {largest_delta:.3g}\n"
        f"student saved to {folder}"
    )
    if args.plot is not None:
        X = dataset.X_test[:10]
        attribution = _as_images(distiller.explain(X), dataset)
        save_figure(attribution.plot(list(range(len(X)))), args.plot, dpi=80)
        print(f"figure of its exact attributions of the first {len(X)} test rows: {args.plot}")
    _write_figures(
        args,
        surrogate="student",
        dataset=dataset.name,
        **settings,
        validation_agreement=distiller.fidelity_.as_dict(),
        fidelity=fidelity.as_dict(),
        largest_delta=largest_delta,
    )


def _largest_delta(distiller: Any, X: Any, chunk: int = 1000) -> float:
    """The largest ``|meta["delta"]|`` of ``distiller.explain`` over the rows of ``X``,
    explained ``chunk`` rows at a time: each row's ``W~`` holds every class's weights,
    0.6 GB at once on 10,000 MNIST rows."""
    return max(
        distiller.explain(X[start : start + chunk]).meta["max_abs_delta"]
        for start in range(0, len(X), chunk)
    )


def _rate(value: float, ci: Any, digits: int = 3) -> str:
    """A rate with its interval, as a table cell, to ``digits`` decimals."""
    return f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _dmm_can_fit(count: int, n_rows: int, model: Any) -> bool:
    """Whether ``model`` can fit a class of ``count`` rows (DMM-MEN's own check)."""
    from .surrogates._dmm import _check_class_size

    try:
        _check_class_size(int(count), n_rows, 0, model.test_size)
    except ValueError:
        return False
    return True


def _examples(args: argparse.Namespace) -> int:
    """Fit a :class:`~unboxed.surrogates.JGMMExplainer`, find the ``--kinds`` of
    examples with it, check each against the black box and save them."""
    from ._io import save_figure
    from .surrogates import JGMMExplainer

    out = _check_writable(args.out, "--out", folder=True)
    if args.json is not None:
        _check_outside_folders({"--out": out}, {"--json": Path(args.json)})
    if args.e_step == "labelled":
        _check_labelled_components(args.k_x, args.model)
    blackbox, dataset = _saved_model_and_data(args, _examples_written(args, out), folders=["--out"])
    layer = _lower_layer(blackbox, args.layer)
    of_rows = any(kind in args.kinds for kind in ("counterfactuals", "semifactuals"))
    # Only these kinds read --rows: a range past a small test split is not refused
    # for prototypes alone (the default 0:10 was, on fewer than 10 test rows).
    queries = _test_rows(args.rows, dataset) if of_rows else None
    held = _immutable_columns(args, blackbox, dataset)
    X_train = blackbox.check_X(dataset.X_train[: args.n_train])
    try:
        # Made inside the try too: the JGMM's settings are checked as it is made, and a
        # refusal there is worded in the library's names as much as the fit's.
        explainer = JGMMExplainer(
            blackbox,
            lower_layer=layer,
            n_components_x=args.k_x,
            e_step=args.e_step,
            random_state=args.seed,
            verbose=not args.quiet,
        )
        explainer.fit(X_train)
    except ValueError as err:
        # The library's word is of X and n_components_x; the user gave --n-train and --k-x
        # (a model with one class on every row said "every row of X", nothing more).
        raise ValueError(
            f"cannot fit the JGMM on the {len(X_train)} training rows of {dataset.name} "
            f"(--n-train) with --k-x {args.k_x}: {err}"
        ) from None
    fidelity = explainer.fidelity(dataset.X_test)
    print(
        f"JGMM between {layer} ({explainer.jgmm_.n_features_x_in_} features, K_x = "
        f"{args.k_x}) and the logits of {args.model}, fitted on {len(X_train)} training "
        f"rows of {dataset.name} (EM converged: {explainer.jgmm_.converged_}, "
        f"{explainer.jgmm_.n_iter_} iterations)\n"
        f"fidelity, its proxy's agreement with the model's class on the "
        f"{len(dataset.X_test)} test rows: {fidelity}"
    )
    # Every kind is mined from the training rows: inputs the model can be asked about
    # and that can be drawn (generated examples are lower-layer features only). Mining
    # draws nothing, so a kind's examples do not depend on the other kinds asked for.
    many = min(args.n * blackbox.n_classes, len(X_train))
    select = "blackbox" if args.checked else "proxy"
    of_row = {"n_per_query": args.n, "source": "mined", "immutable": held, "select": select}
    start, stop = args.rows
    find = {
        "prototypes": lambda: explainer.prototypes(n_per_class=args.n),
        "criticisms": lambda: explainer.criticisms(n=many),
        "influentials": lambda: explainer.influentials(n=many),
        "counterfactuals": lambda: explainer.counterfactuals(queries, **of_row),
        "semifactuals": lambda: explainer.semifactuals(queries, **of_row),
    }
    print(
        "Each kind checked against the model, with 95% CIs"
        + (f" (counterfactuals and semi-factuals of test rows {start}:{stop}):" if of_rows else ":")
    )
    if held is not None:
        held_names = _held_names(held, dataset)
        asked = {"counterfactuals": "counterfactuals", "semifactuals": "semi-factuals"}
        holding = " and ".join(words for kind, words in asked.items() if kind in args.kinds)
        print(f"{holding} hold {held_names} at each row's value")
    out.mkdir(parents=True, exist_ok=True)
    # A standardized table's bars stay standardized, and say so: on one value axis,
    # breast-cancer's raw units (0.001 to 4,254) left 20 or 21 of a row's 30 bars under
    # 1% of its longest. "input (std)": a longer label ran into the next panel's, and
    # the gallery's title spells it out.
    label = "input (std)" if dataset.feature_scale is not None else None
    figures, written = {}, []
    for kind in args.kinds:
        examples = _as_images(find[kind](), dataset)
        examples.save(out / f"{kind}.npz")
        written.append(f"{kind}.npz")
        line, figures[kind] = _checked_examples(explainer, examples)
        # A set without examples still has a row per query to draw, each saying none
        # was found (no counterfactuals.png was written for it before); only a set
        # with neither has nothing, and the line says so.
        drawn = args.plot and bool(examples.all_groups)
        if args.plot and not drawn:
            line += f"; nothing to draw, so no {kind}.png"
        if not drawn and (out / f"{kind}.png").exists():
            # Kept (it may be the user's), but said, with --plot or without: it shows
            # an earlier set than the KIND.npz beside it.
            line += f" (the {kind}.png in {out} is older, not from this run)"
        print(f"{kind:>16}  {len(examples):>5}  {line}")
        if drawn:
            # The bars of a table row are named by the set's input_names: the black
            # box's, which are the data set's (x1, x2 on moons).
            figure = examples.plot(input_label=label)
            save_figure(figure, out / f"{kind}.png", dpi=80)
            written.append(f"{kind}.png")
    # The files one by one: "{prototypes}.npz" for one kind is no path, and a kind
    # with nothing to draw has no figure.
    print(f"examples written to {out}: {', '.join(written)}")
    _write_figures(
        args,
        dataset=dataset.name,
        layer=layer,
        n_features=explainer.jgmm_.n_features_x_in_,
        k_x=args.k_x,
        e_step=args.e_step,
        n_train=len(X_train),
        converged=explainer.jgmm_.converged_,
        n_iter=explainer.jgmm_.n_iter_,
        rows=[start, stop] if of_rows else None,
        immutable=None if held is None else _held_record(held, dataset),
        fidelity=fidelity.as_dict(),
        kinds=figures,
    )
    return 0


def _check_labelled_components(k_x: int, model: str) -> None:
    """``--k-x`` for ``--e-step labelled``, refused before the model or data is loaded
    (the fit refused it only once the features of every training row were computed).

    The fit needs a lower component for each class the model predicts on the training
    rows, and two such classes or more. Which classes those are is known only once
    the model has run on those rows, so this asks for one per class the model's record
    says it tells apart: stricter than the fit where the model predicts fewer, and
    always enough. A record without a count is held to two, and left to the loader,
    which names what is wrong."""
    from ._validation import is_int

    # A small JSON file, read as the loader reads it: examples said "nope holds no
    # model.json" of a missing --model, where the other commands name the option and
    # say that the folder is not there.
    n_classes = _saved_record(model, "--model")["config"].get("n_classes")
    counted = is_int(n_classes) and n_classes >= 2
    needed = n_classes if counted else 2
    if k_x >= needed:
        return
    why = (
        "which those are is known only once the model has run on them, so this asks for "
        f"one per class the model in {model} tells apart ({n_classes}), which always fits"
        if counted
        else "it needs two such classes or more"
    )
    raise ValueError(
        f"--k-x {k_x}: --e-step labelled fits its own lower components to each class the "
        f"model predicts on the training rows; {why}: expected --k-x {needed} or more, or "
        "--e-step paper"
    )


def _examples_written(args: argparse.Namespace, out: Path) -> dict[str, Path]:
    """The files ``unboxed examples`` may write, each by what names it: ``--out``'s
    ``KIND.npz``, and with ``--plot`` ``KIND.png``, for each kind asked for."""
    suffixes = (".npz", ".png") if args.plot else (".npz",)
    written = {"--out": out}
    for kind in args.kinds:
        written.update({f"--out's {kind}{suffix}": out / f"{kind}{suffix}" for suffix in suffixes})
    return written


def _lower_layer(blackbox: Any, name: str) -> str:
    """``--layer``: a layer below the model's output layer, read as the JGMM's lower
    features; ``auto`` is the input of the output layer (the last hidden layer's
    output)."""
    children = [child for child, _ in blackbox.module.named_children()]
    # The output layer and the output itself ("logits") are the JGMM's higher features.
    below = [layer for layer in blackbox.layer_names()[:-1] if layer not in children[-1:]]
    if name == "auto":
        if len(children) < 2:
            raise ValueError(
                f"--layer auto: the model has no layer below its output layer {children}"
            )
        return children[-2]
    if name not in below:
        raise ValueError(
            f"--layer {name!r} is not a layer below the model's output layer; choose from {below}"
        )
    return name


def _immutable_columns(
    args: argparse.Namespace, blackbox: Any, dataset: Any
) -> tuple[int, ...] | None:
    """``--immutable`` as sorted column indices, checked once the data set is loaded and
    before the JGMM is fitted: table columns, of a run that finds counterfactuals or
    semi-factuals."""
    from .surrogates._jgmm_explainer import check_immutable

    if args.immutable is None:
        return None
    given = f"--immutable {','.join(map(str, args.immutable))}"
    if dataset.image_shape is not None:
        raise ValueError(
            f"{given} holds columns of a table, and {dataset.name} holds images; leave it out"
        )
    if not any(kind in args.kinds for kind in ("counterfactuals", "semifactuals")):
        raise ValueError(
            f"{given} holds columns of counterfactuals and semi-factuals, and --kinds asks "
            f"for neither ({','.join(args.kinds)})"
        )
    try:
        return check_immutable(args.immutable, blackbox.n_features, blackbox.feature_names)
    except (TypeError, ValueError) as err:
        # The library's messages begin with its parameter's name ("immutable: feature
        # index 30 is out of range", "immutable names ..."): the option takes its place.
        message = str(err)
        if message.startswith("immutable"):
            raise ValueError(given + message.removeprefix("immutable")) from None
        raise ValueError(f"{given}: {message}") from None


def _held_names(held: tuple[int, ...], dataset: Any) -> str:
    """The columns ``--immutable`` holds, for the printout: ``name (index)``."""
    names = dataset.feature_names
    return ", ".join(f"{names[j]} ({j})" if names else str(j) for j in held)


def _held_record(held: tuple[int, ...], dataset: Any) -> dict[str, Any]:
    """The columns ``--immutable`` holds, for ``--json``: indices and names."""
    names = dataset.feature_names
    return {"columns": list(held), "names": [names[j] for j in held] if names else None}


def _checked_examples(explainer: Any, examples: Any) -> tuple[str, dict[str, Any]]:
    """How far ``examples`` hold for the black box: the validity of counterfactuals and
    semi-factuals, the faithfulness of the other kinds; as a line, and as JSON. Those
    kept only where the black box agrees (``--checked``) are valid by construction:
    the share of rows that got one instead."""
    import numpy as np

    from .evaluate._stats import proportion

    figures: dict[str, Any] = {"found": len(examples)}
    if examples.meta["parameters"].get("select") == "blackbox":
        # Every example is valid by construction: what is left to say is how many rows
        # got one, and what asking the model cost.
        got = np.isin(np.arange(len(examples.query_classes)), examples.groups)
        share = proportion(got)
        figures["rows_with_one"] = share.as_dict()
        figures["model_rows_asked"] = examples.meta["blackbox_rows"]
        return (
            f"kept only where the model agrees; rows that got one: {share} (the model "
            f"was asked about {examples.meta['blackbox_rows']} rows)",
            figures,
        )
    if not len(examples):
        return "none found", figures
    if examples.kind in ("counterfactual", "semifactual"):
        validity = explainer.validity(examples)
        figures["validity"] = validity.as_dict()
        if examples.kind == "counterfactual":
            return f"the model's class is not the row's: {validity}", figures
        return f"the model's class is the row's: {validity}", figures
    faithful = explainer.faithfulness(examples)
    figures["faithfulness"] = faithful.as_dict()
    return (
        f"{faithful.measure}: {faithful.examples}, against {faithful.reference} on the "
        f"training rows (faithful ones score {faithful.expected}; CIs apart that way: "
        f"{'yes' if faithful.holds else 'no'})",
        figures,
    )


def _importance(args: argparse.Namespace) -> int:
    """Run :class:`~unboxed.probes.PermutationImportance` on the first test rows, print
    the most important features or cells and save the importances."""
    import dataclasses

    import numpy as np

    from ._io import save_figure
    from .probes import PermutationImportance

    out = _check_writable(args.out, "--out", folder=False)
    if args.plot is not None:
        _check_figure_path(args.plot)
    blackbox, dataset = _saved_model_and_data(args)
    if dataset.image_shape is None and args.cell != "auto":
        raise ValueError(f"--cell cuts images, and the rows of {dataset.name} are not")
    groups, unit = _importance_groups(dataset, args.cell)
    X = blackbox.check_X(dataset.X_test[: args.n_test])
    y = None if args.labels == "model" else dataset.y_test[: len(X)]
    importance = PermutationImportance(
        blackbox,
        n_repeats=args.n_repeats,
        metric=args.metric,
        groups=groups,
        random_state=args.seed,
        verbose=not args.quiet,
    ).explain(X, y)
    if groups is None:
        # The black box has no feature names (its plot said x0 for the data set's x1):
        # the file and the figure name each feature as the table printed below does.
        importance = dataclasses.replace(importance, feature_names=dataset.feature_names)
    importance.save(out)
    assert importance.ci is not None  # permutation importance always has its CIs
    drop, ci = importance.values[0], importance.ci[0]
    names = importance.feature_names or dataset.feature_names
    scored = "the model's own class" if args.labels == "model" else "the true label"
    score = (
        f"share of rows given {scored}" if args.metric == "accuracy" else f"probability of {scored}"
    )
    shuffles = f"{args.n_repeats} shuffle{'s' * (args.n_repeats != 1)}"
    print(
        f"permutation importance on {len(X)} test rows of {dataset.name}: the drop of the "
        f"{score} ({importance.meta['baseline_score']:.4f} on the rows as they are) when "
        f"each {unit} is shuffled over the rows, {shuffles} each; 95% CIs "
        f"over rows and shuffles\n"
        f"{int(np.sum(ci[:, 0] > 0))} of {drop.size} {unit}s have a CI above 0, those the "
        f"model relies on; saved to {out}"
    )
    _print_top_drops(importance, min(args.top, drop.size), unit)
    if args.plot is not None:
        save_figure(_importance_figure(importance, groups, dataset), args.plot, dpi=80)
        print(f"figure: {args.plot}")
    _write_figures(
        args,
        dataset=dataset.name,
        n_rows=len(X),
        n_repeats=args.n_repeats,
        metric=args.metric,
        labels=args.labels,
        baseline=importance.meta["baseline_score"],
        above_zero=int(np.sum(ci[:, 0] > 0)),
        drops={names[j]: {"mean": drop[j], "ci": ci[j].tolist()} for j in range(drop.size)},
    )
    return 0


#: Training rows that the prototypes' distances are measured to (the first ones).
MAXIMIZE_REFERENCE_ROWS = 10_000
#: Test rows of each class whose distances are shown beside its prototype's (the first).
MAXIMIZE_REAL_ROWS = 200
#: Searches per class: through a VAE of Fashion-MNIST, one start left Trouser at
#: p = 0.49, and the best of 5 brought every class to p >= 0.99; in pixels the command
#: took 32 s against 24 s with one start (the starts run in one batch).
MAXIMIZE_STARTS = 5
#: Latent dimensions of the VAE that ``--generator-epochs`` trains
#: (benchmarks/global_probes.py's MNIST settings).
MAXIMIZE_LATENT_DIM = 16


def _maximize(args: argparse.Namespace) -> int:
    """Run :class:`~unboxed.probes.ActivationMaximization` on ``--classes``, save the
    prototypes, and print each one's probability and its distance to the nearest
    training row beside the same distance of the class's real test rows."""
    import numpy as np

    from ._io import save_figure
    from ._validation import allocate
    from .blackbox import grayscale_shape
    from .probes import ActivationMaximization
    from .zoo._io import RECORD, WEIGHTS

    out = _check_writable(args.out, "--out", folder=False)
    if args.plot is not None:
        _check_figure_path(args.plot)
    _check_generator_options(args)
    # The VAE's files: the one read is loaded before --out is written, and the one
    # trained is saved before it; either would be overwritten by an output named so.
    generators = {
        f"{option}'s {name}": Path(folder) / name
        for option, folder in (
            ("--generator", args.generator),
            ("--save-generator", args.save_generator),
        )
        if folder is not None
        for name in (RECORD, WEIGHTS)
    }
    if args.save_generator is not None:
        written = {"--out": out, "--plot": args.plot, "--json": args.json}
        _check_outside_folders(
            {"--save-generator": Path(args.save_generator)},
            {option: Path(path) for option, path in written.items() if path is not None},
        )
    blackbox, dataset = _saved_model_and_data(args, kept=generators)
    classes = args.classes if args.classes is not None else list(range(blackbox.n_classes))
    if max(classes) >= blackbox.n_classes:
        raise ValueError(
            f"--classes {max(classes)} is not a class of the model, whose classes are "
            f"0..{blackbox.n_classes - 1}"
        )
    image = dataset.image_shape is not None
    searches_latent = bool(args.generator_epochs) or args.generator is not None
    regularizer: Any = args.regularizer or ("none" if searches_latent else "l2")
    if not image and regularizer in ("tv", "jitter"):
        raise ValueError(f"--regularizer {regularizer} needs images; {dataset.name} has rows")
    if regularizer in ("tv", "jitter") and grayscale_shape(blackbox.input_shape) is None:
        # An MLP of images takes them flat: the library refused in its words alone
        # ("regularizer='tv' needs (H, W) image inputs; this black box takes inputs of
        # shape (64,)"), of images the user knows are images.
        raise ValueError(
            f"--regularizer {regularizer} compares neighbouring pixels, and the model in "
            f"{args.model} takes {dataset.name}'s images flat, as "
            f"{tuple(blackbox.input_shape)}; give --regularizer l2, l1 or none, or a model "
            "that takes images (--model lenet of unboxed train)"
        )
    if not image and searches_latent:
        option = "--generator" if args.generator is not None else "--generator-epochs"
        raise ValueError(f"{option} needs images; {dataset.name} has rows")
    X_train = dataset.X_train[:MAXIMIZE_REFERENCE_ROWS]
    if args.generator is None:
        # The search's batch, (starts x classes, inputs or latent dimensions), as the
        # library sizes it, here before a VAE trains: --starts 10**12 trained (and saved)
        # one for minutes, and was refused after. A VAE read from --generator is quick.
        width = MAXIMIZE_LATENT_DIM if args.generator_epochs else X_train.shape[1]
        allocate((args.starts * len(classes), width), setting=f"--starts {args.starts}")
    generator, searched = _maximize_generator(X_train, dataset.name, args)
    # The search stays in the range the model was trained on: pixels share one range,
    # a table's columns (standardized, or in units of their own) each have theirs.
    bounds = (X_train.min(), X_train.max()) if image else (X_train.min(0), X_train.max(0))
    prototypes = ActivationMaximization(
        blackbox,
        regularizer=regularizer,
        steps=args.steps,
        bounds=bounds,
        generator=generator,
        n_starts=args.starts,
        random_state=args.seed,
        verbose=not args.quiet,
    ).explain(classes)
    prototypes = _as_images(prototypes, dataset)
    prototypes.save(out)
    rows = _prototype_rows(prototypes, dataset, X_train, image)
    where = f"[{bounds[0]:g}, {bounds[1]:g}]" if image else "each column's training range"
    starts = f", best of {args.starts} starts per class" if args.starts > 1 else ""
    print(
        f"activation maximization on {dataset.name}: {args.steps} Adam "
        f"step{'s' * (args.steps != 1)} {searched}{starts}, "
        f"{regularizer} regularizer, inputs held to {where}; saved to {out}\n"
        f"distance: to the nearest of the first {len(X_train)} training rows"
        + (", rows scaled to unit norm (0 to 2: the pattern, not the brightness)" if image else "")
        + f"; real: the same distance of the class's first {MAXIMIZE_REAL_ROWS} test rows "
        "(all, where it has fewer), median [quartiles] (rows measured)"
    )
    _print_prototype_rows(rows)
    if args.plot is not None:
        save_figure(prototypes.plot(), args.plot, dpi=80)
        print(f"figure: {args.plot}")
    _write_figures(
        args,
        dataset=dataset.name,
        steps=args.steps,
        regularizer=regularizer,
        generator_epochs=args.generator_epochs,
        generator=args.generator,
        starts=args.starts,
        bounds=[np.asarray(bound).tolist() for bound in bounds],
        reference_rows=len(X_train),
        # true where "distance" and "real_distance" are of rows scaled to unit norm
        unit_norm_distances=image,
        prototypes=rows,
    )
    return 0


def _check_generator_options(args: argparse.Namespace) -> None:
    """Refuse ``maximize``'s generator options that contradict each other, before loading."""
    if args.generator is not None and args.generator_epochs:
        raise ValueError(
            "--generator loads a trained VAE and --generator-epochs trains one; give one"
        )
    if args.save_generator is not None:
        if not args.generator_epochs:
            raise ValueError("--save-generator saves the VAE --generator-epochs trains; give both")
        folder = _check_writable(args.save_generator, "--save-generator", folder=True)
        # The VAE would replace a model kept there (the classifier itself, say) for good.
        _check_no_model(folder, force=None, option="--save-generator")


def _maximize_generator(X_train: Any, dataset: str, args: argparse.Namespace) -> tuple[Any, str]:
    """The VAE the search decodes (None to search the inputs), and the words that say
    where the search ran: one loaded from ``--generator``, or one trained
    ``--generator-epochs`` on ``X_train`` (benchmarks/global_probes.py's MNIST settings:
    16 latent dimensions, 256 hidden units; seeded by ``--seed``) and saved to
    ``--save-generator``."""
    from . import zoo

    if args.generator is not None:
        return _load_generator(args.generator, X_train.shape[1], dataset)
    if not args.generator_epochs:
        return None, "over the inputs"
    vae = zoo.vae(
        n_features=X_train.shape[1],
        latent_dim=MAXIMIZE_LATENT_DIM,
        hidden=(256,),
        random_state=args.seed,
    )
    zoo.train_vae(
        vae,
        X_train,
        epochs=args.generator_epochs,
        batch_size=64,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    trained = (
        f"trained {args.generator_epochs} epoch{'s' * (args.generator_epochs != 1)} "
        f"on the first {len(X_train)} training rows"
    )
    if args.save_generator is not None:
        metadata = {"dataset": dataset, "epochs": args.generator_epochs, "seed": args.seed}
        facts = metadata | {"training_rows": len(X_train)}
        _save_model(vae, Path(args.save_generator), metadata=facts)
        trained += f" (saved to {args.save_generator})"
    return vae, f"in the latent space of a VAE {trained}"


def _load_saved(folder: str, option: str) -> tuple[Any, dict[str, Any]]:
    """The zoo model saved in ``folder`` and its record, read once (``zoo.load`` and
    then ``read_record`` read it twice); a folder the loader refuses is named under
    ``option``."""
    from .zoo._io import load_recorded

    record = _saved_record(folder, option)
    with _naming_option(option):
        return load_recorded(Path(folder), record), record


def _saved_record(folder: str, option: str) -> dict[str, Any]:
    """The record (``model.json``) of the zoo model saved in ``folder``, its folder
    checked first; a folder or record the reader refuses is named under ``option``."""
    from .zoo._io import RECORD, WEIGHTS, read_record

    # The loader's words for these ("nope holds no model.json", of a path that is not
    # there or of the model.json itself) sent the user looking for a missing file.
    path = Path(folder)
    if not path.exists():
        raise ValueError(f"{option} {folder}: no such folder; name a folder a model was saved in")
    if not path.is_dir():
        hint = f"; name its folder, {path.parent}" if path.name in (RECORD, WEIGHTS) else ""
        raise ValueError(
            f"{option} {folder} is a file, not the folder a model was saved in ({RECORD} "
            f"and {WEIGHTS}){hint}"
        )
    with _naming_option(option):
        return read_record(folder)


@contextlib.contextmanager
def _naming_option(option: str) -> Iterator[None]:
    """Name ``option`` in the zoo loader's refusals, whose words name the folder."""
    try:
        yield
    except BrokenPipeError:
        raise  # a pipe of this process, not the folder: main tells which
    except (OSError, ValueError) as err:
        raise ValueError(f"{option}: {err}") from None


def _load_generator(folder: str, n_features: int, dataset: str) -> tuple[Any, str]:
    """The VAE saved in ``folder``, checked to make images of the model's data set."""
    from . import zoo

    vae, record = _load_saved(folder, "--generator")
    if not isinstance(vae, zoo.VAE):
        raise ValueError(f"--generator {folder} holds a {type(vae).__name__}, not a zoo VAE")
    if vae.n_features != n_features:
        raise ValueError(
            f"--generator {folder} makes images of {vae.n_features} pixels; the model "
            f"takes {n_features}"
        )
    facts = record.get("metadata")
    facts = facts if isinstance(facts, dict) else {}
    # A VAE of another data set's images of the same size decodes nothing this model
    # was trained on; a VAE saved without a record of its data is taken on trust.
    if facts.get("dataset", dataset) != dataset:
        raise ValueError(
            f"--generator {folder} was trained on {facts['dataset']}; the model is of {dataset}"
        )
    return vae, f"in the latent space of the VAE in {folder}"


def _print_prototype_rows(rows: list[dict]) -> None:
    """:func:`_prototype_rows` as a table, "-" where a row has no distance."""
    print(f"{'class':>16}  {'p(class)':>8}  {'distance':>8}  real")
    for r in rows:
        real = r["real_distance"]
        shown = "-" if real is None else f"{real[1]:.3f} [{real[0]:.3f}, {real[2]:.3f}]"
        shown += f" ({r['real_rows']} rows)" if real is not None else ""
        own = "-" if math.isnan(r["distance"]) else f"{r['distance']:.3f}"
        print(f"{r['class']:>16}  {r['probability']:>8.3f}  {own:>8}  {shown}")
    if any(r["real_distance"] is None or math.isnan(r["distance"]) for r in rows):
        print("-: no distance, for an all-black image (no pattern) or a class without test rows")


def _prototype_rows(prototypes: Any, dataset: Any, X_train: Any, image: bool) -> list[dict]:
    """Each prototype's class, probability and distance to the nearest row of
    ``X_train``, with the quartiles of that distance over the class's first
    ``MAXIMIZE_REAL_ROWS`` test rows (None for a class without test rows, or whose test
    images are all black) and how many rows they are of: a class may have fewer. On
    images the rows are scaled to unit norm: a faint image is near every real one in
    plain distance."""
    import numpy as np

    from .probes import nearest_distance

    def distance(X: Any) -> Any:
        if not image:
            return nearest_distance(X, X_train)
        # An all-black x* has no pattern to compare: its distance is NaN, not an error.
        lit = np.linalg.norm(X, axis=1) > 0
        out = np.full(len(X), np.nan)
        if lit.any():
            out[lit] = nearest_distance(X[lit], X_train, normalize=True)
        return out

    own = distance(prototypes.values)
    rows = []
    for i, c in enumerate(prototypes.target):
        real = distance(dataset.X_test[dataset.y_test == c][:MAXIMIZE_REAL_ROWS])
        # Black test images have no distance; with none left, no quartiles, rather than
        # nanpercentile's NaN and its RuntimeWarning.
        real = real[~np.isnan(real)]
        quartiles = np.percentile(real, [25, 50, 75]) if len(real) else None
        rows.append(
            {
                "class": str(c if prototypes.class_names is None else prototypes.class_names[c]),
                "index": int(c),
                "probability": float(prototypes.probability[i]),
                "distance": float(own[i]),
                "real_distance": None if quartiles is None else [float(q) for q in quartiles],
                "real_rows": len(real),
            }
        )
    return rows


#: ``unboxed report --sections``: each section's command, in the page's order, and the
#: options it runs with beside ``--model``, ``--out``, ``--json``, ``--plot``,
#: ``--seed``, ``--quiet``, the data set's and (explain, examples) ``--rows``. The
#: others stay at their commands' defaults: a VAE for maximize would take minutes.
REPORT_SECTIONS: dict[str, list[str]] = {
    "explain": ["--method", "lime"],
    "approximate": ["--surrogate", "tree", "--max-depth", "auto"],
    "importance": [],
    "maximize": [],
    "examples": ["--kinds", "prototypes,counterfactuals"],
}
#: What each section writes as ``--out`` in the report's temporary folder.
REPORT_OUTPUTS = {
    "explain": "explain.npz",
    "approximate": "rules.txt",
    "importance": "importance.npz",
    "maximize": "maximize.npz",
    "examples": "examples",
}

#: The caption of each section's figure (examples: one per kind, named by it).
REPORT_CAPTIONS = {
    "explain": "each row's attributions (at most the first 10 rows)",
    "importance": "the drop when each input is shuffled",
    "maximize": "the input the model finds most typical of each class",
}


def _report_sections(text: str) -> list[str]:
    """``--sections``: names from :data:`REPORT_SECTIONS` (:func:`_names_in_order`), in
    the page's order."""
    return _names_in_order(text, list(REPORT_SECTIONS), "sections")


def _report(args: argparse.Namespace) -> int:
    """Run each of ``--sections``' commands on ``--model``, in this process, and write
    their figures, drawings and faithfulness to one HTML page; a section that fails
    shows its error there. 0 where every section ran, 1 where one failed (the page is
    written either way)."""
    import tempfile
    import time

    from ._io import atomic_write
    from .evaluate import agreement
    from .report import headline, render_report

    began = time.monotonic()
    out = _check_writable(args.out, "--out", folder=False)
    blackbox, dataset = _saved_model_and_data(args)
    if {"explain", "examples"} & set(args.sections):
        _test_rows(args.rows, dataset)  # refused here, not by two sections after work
    accuracy = agreement(blackbox.predict(dataset.X_test), dataset.y_test)
    with tempfile.TemporaryDirectory(prefix="unboxed-report-") as folder:
        shown = [_rendered(_report_section(name, args, Path(folder))) for name in args.sections]
    sections = [section for section, _ in shown]
    page = render_report(
        sections,
        model=args.model,
        dataset=dataset.name,
        accuracy=accuracy.as_dict(),
        rendered=[html for _, html in shown],
    )
    encoded = page.encode("utf-8")
    with atomic_write(out, "wb") as handle:
        handle.write(encoded)
    failed = [section.name for section in sections if section.error is not None]
    print(
        f"report on {args.model} ({dataset.name}, test accuracy {accuracy}): "
        f"{len(sections) - len(failed)} of {len(sections)} sections ran in "
        f"{time.monotonic() - began:.0f} s; {out} written ({len(encoded) / 1e3:.0f} kB)"
    )
    for section in sections:
        print(f"{section.name:>12}  {headline(section)}")
    if failed:
        print(f"{', '.join(failed)} failed; the page shows why")
    _write_figures(
        args,
        model=args.model,
        dataset=dataset.name,
        test_accuracy=accuracy.as_dict(),
        sections={s.name: {"figures": s.figures, "error": s.error} for s in sections},
    )
    return 1 if failed else 0


def _report_argv(name: str, args: argparse.Namespace, folder: Path) -> list[str]:
    """The command line of section ``name``: the report's model, data, seed and rows,
    the section's :data:`REPORT_SECTIONS`, and its files in ``folder``."""
    argv = [name, *_option("--model", args.model)]
    argv += _option("--out", str(folder / REPORT_OUTPUTS[name]))
    argv += ["--json", str(folder / f"{name}.json"), "--seed", str(args.seed)]
    if name in ("explain", "examples"):
        argv += ["--rows", f"{args.rows[0]}:{args.rows[1]}"]
    if name == "examples":
        argv.append("--plot")  # KIND.png in its --out folder
    elif name != "approximate":  # a tree draws nothing; its rules are the picture
        argv += _option("--plot", str(folder / f"{name}.png"))
    for option in ("dataset", "data_path"):
        if getattr(args, option) is not None:
            argv += _option(f"--{option.replace('_', '-')}", getattr(args, option))
    return argv + (["--quiet"] if args.quiet else []) + REPORT_SECTIONS[name]


def _option(option: str, value: str) -> list[str]:
    """``option`` and its ``value`` as a section's command line takes them: a value
    that starts with "-" (``report --model=-m``) reads as an option when it stands
    alone, and the section's parser exited with its usage ("--model: expected one
    argument"), so it goes in one word, ``--model=-m``."""
    return [f"{option}={value}"] if value.startswith("-") else [option, value]


def _report_section(name: str, args: argparse.Namespace, folder: Path) -> Any:
    """Run section ``name``'s command through the real parser, its printout captured,
    and gather what it wrote in ``folder`` as a :class:`~unboxed.report.ReportSection`
    (with the error, where it failed)."""
    import contextlib
    import io

    from ._io import read_json
    from .report import ReportSection

    folder = folder / name
    folder.mkdir()
    argv = _report_argv(name, args, folder)
    parser = _parser()
    printout = io.StringIO()
    error = None
    with contextlib.redirect_stdout(printout):
        try:
            _run(parser, parser.parse_args(argv), argv)
        except (
            ValueError,
            TypeError,
            OSError,
            RuntimeError,
            FloatingPointError,
            MemoryError,
        ) as err:
            error = _error_words(err)

    # The files went to a temporary folder that is gone once the page is written.
    def shown(text: str) -> str:
        return text.replace(f"{folder}{os.sep}", "")

    printed, command = shown(printout.getvalue()), shown(_command_line(argv))
    if error is not None:
        return ReportSection(name, printout=printed, command=command, error=shown(error))
    drawn = {folder / f"{name}.png": REPORT_CAPTIONS.get(name, "")} | {
        folder / "examples" / f"{kind}.png": kind for kind in EXAMPLE_KINDS
    }
    rules = folder / REPORT_OUTPUTS["approximate"]
    return ReportSection(
        name,
        figures=read_json(folder / f"{name}.json", what=f"the {name} figures"),
        images=[(caption, path.read_bytes()) for path, caption in drawn.items() if path.is_file()],
        text=rules.read_text() if name == "approximate" else None,
        printout=printed,
        command=command,
    )


def _rendered(section: Any) -> tuple[Any, str]:
    """``section`` and its HTML, rendered once for the page; where the page cannot show
    its figures, the section failed, and says why: it fails alone, not the report."""
    from .report import ReportSection, render_section

    try:
        return section, render_section(section)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        why = f"the page could not show its figures ({type(err).__name__}: {err})"
        failed = ReportSection(
            section.name, printout=section.printout, command=section.command, error=why
        )
        return failed, render_section(failed)


def _print_top_drops(importance: Any, k: int, unit: str) -> None:
    """The ``k`` largest drops of ``importance`` as a table, with enough decimals to
    give the largest two significant digits: probability drops can all be below
    0.0005, which three decimals printed as 0.000 [0.000, 0.000] under a line saying
    their CIs were above 0."""
    top = importance.top_k(k)
    drop, ci, names = importance.values[0], importance.ci[0], importance.feature_names
    largest = max(abs(float(drop[j])) for j in top)
    digits = 3 if largest == 0 else max(3, 1 - math.floor(math.log10(largest)))
    cells = [_rate(drop[j], ci[j], digits) for j in top]
    header = "drop [95% CI]"
    name_width = max(len(unit), *(len(names[j]) for j in top))
    cell_width = max(len(header), *(len(cell) for cell in cells))
    print(f"{'rank':>4}  {unit:<{name_width}}  {header:>{cell_width}}")
    for rank, (j, cell) in enumerate(zip(top, cells, strict=True), start=1):
        print(f"{rank:>4}  {names[j]:<{name_width}}  {cell:>{cell_width}}")


def _importance_groups(dataset: Any, cell: int | str) -> tuple[Any, str]:
    """``--cell``'s square cells of an image as named groups of pixels (None on table
    rows: each feature alone), and what one is called."""
    import numpy as np

    from .local import grid_labels

    if dataset.image_shape is None:
        return None, "feature"
    height, width = dataset.image_shape
    longer = max(height, width)
    if cell != "auto" and int(cell) > longer:
        # grid_labels cuts cells at the image's edges: --cell 9 on 8x8 digits gave
        # one whole-image cell, and said nothing. Up to the longer side, the cells
        # are what was asked for, cut at the edges (--cell 7 on 6x8: 6x7 and 6x1);
        # the shorter side was the limit, and refused those.
        raise ValueError(
            f"--cell {cell} is larger than the {height}x{width} images of {dataset.name}; "
            f"expected a side of 1 to {longer} pixels (cells are cut at the image's "
            f"edges; {longer} gives one cell, the whole image)"
        )
    side = max(1, min(height, width) // 7) if cell == "auto" else int(cell)
    labels = grid_labels(dataset.image_shape, cell=side)
    groups = {}
    for label in range(int(labels.max()) + 1):
        rows, cols = np.divmod(np.flatnonzero(labels == label), width)
        name = f"{_span('row', rows)}, {_span('col', cols)}"
        groups[name] = np.flatnonzero(labels == label)
    return groups, "cell"


def _span(word: str, indices: Any) -> str:
    """The pixel rows or columns ``indices`` of a cell, named by ``word``: "row 2" for
    one ("rows 2-2" before), "rows 2-3" for more."""
    low, high = int(indices.min()), int(indices.max())
    return f"{word} {low}" if low == high else f"{word}s {low}-{high}"


def _importance_figure(importance: Any, groups: Any, dataset: Any) -> Any:
    """A heat map of each cell's drop over the image (its pixels share it), or the bars
    of the features' drops."""
    import numpy as np

    from . import FeatureImportance

    if groups is None:
        return importance.plot()
    per_pixel = np.zeros(dataset.n_features)
    for j, members in enumerate(groups.values()):
        per_pixel[members] = importance.values[0, j]
    return FeatureImportance(
        per_pixel[None],
        importance.meta,
        class_names=importance.class_names,
        image_shape=dataset.image_shape,
    ).plot()


def _explain_segments(X: Any, image_shape: tuple[int, int] | None, method: str) -> Any:
    """``--segments``' components of each row of ``X``."""
    from .local import segment

    if image_shape is None or method == "pixels":
        return segment(X, method="pixels")
    if method == "auto":
        method = "slic" if min(image_shape) >= 16 else "grid"
    params = {"cell": max(1, min(image_shape) // 4)} if method == "grid" else {}
    return segment(X, image_shape, method=method, **params)


#: The figure of fit each method records per row in ``meta``, and its column title.
OWN_FIGURES = {
    "score_cv": "R2 (CV)",
    "r2_held_out": "R2 (held out)",  # dmm-men's, on perturbations it was not fitted on
    "score": "R2",
    "delta": "completeness gap",
}
#: Why a row's figure of OWN_FIGURES is undefined: DMM-MEN's where the perturbations
#: gave one response; the local fits' (a constant response they reproduce scores 1)
#: where the kernel leaves the responses that differ no weight, or, cross-validated,
#: where one fold holds all of it. One sentence said the first of every method.
WHY_UNDEFINED = {
    "r2_held_out": "none, as the row's perturbations all gave one response",
    "score_cv": "undefined, as the kernel left no weight on the row's perturbations whose "
    "responses differ, or one cross-validation fold held all of it",
    "score": "undefined, as the kernel left no weight on the row's perturbations whose "
    "responses differ",
}


def _explained_rows(
    attribution: Any, labels: Any, proba: Any, curve: Any, misfit: Any, start: int
) -> tuple[str, list[dict[str, Any]]]:
    """Each row explained: its class, its probability, its deletion AOPC, its relative
    infidelity (None where the method has none or no removal moved the row) and the
    method's own figure of fit, under its ``meta`` key ``own`` ("" for none)."""
    import numpy as np

    own = next((key for key in OWN_FIGURES if key in attribution.meta), "")
    aopc = curve.drop.mean(axis=1)  # each row's term of curve.aopc
    rows = []
    for i, label in enumerate(labels):
        relative = None if misfit is None else float(misfit.relative[i])
        # meta keeps a NaN figure as None (an R2 of responses that are all equal)
        figure = attribution.meta[own][i] if own else None
        figure = None if figure is None or np.isnan(figure) else float(figure)
        rows.append(
            {
                "row": start + i,
                "label": label,
                "explained_class": attribution.class_name(i),
                "probability": float(proba[i]),
                "aopc": float(aopc[i]),
                # NaN: no removal moved the row's probability, so it has no figure
                "relative_infidelity": None if relative is None or np.isnan(relative) else relative,
                **({own: figure} if own else {}),
            }
        )
    return own, rows


def _print_explained_rows(own: str, rows: list[dict[str, Any]]) -> None:
    """:func:`_explained_rows` as a table. A row's AOPC and its own figure (an R2, a
    completeness gap) may be negative; one that rounds to 0 reads "0.000" (``fixed``)."""
    print(
        f"{'row':>6}  {'label':>10}  {'explained class':>16}  {'p':>6}  {'AOPC':>6}  "
        f"{'infid.':>6}  {OWN_FIGURES.get(own, '')}"
    )
    for r in rows:
        relative = r["relative_infidelity"]
        shown = f"{'-':>6}" if relative is None else f"{relative:>6.3f}"
        figure = "" if not own else "-" if r[own] is None else fixed(r[own], 3)
        print(
            f"{r['row']:>6}  {r['label']:>10}  {r['explained_class']:>16}  "
            f"{r['probability']:>6.3f}  {fixed(r['aopc'], 3):>6}  {shown}  {figure}"
        )
    if own and any(r[own] is None for r in rows):
        print(f"{OWN_FIGURES[own]} -: {WHY_UNDEFINED.get(own, 'undefined for the row')}")


def _exit_status(err: BaseException) -> int:
    """2 for what the command line asked (a bad value, a path that cannot be used), as
    argparse exits; 1 when the work itself failed: a model error (``BlackBoxError`` is a
    RuntimeError), diverged training, memory run out, or a data set that is not
    installed."""
    from .data import DatasetNotInstalledError

    failed = RuntimeError | FloatingPointError | MemoryError | DatasetNotInstalledError
    if isinstance(err, failed):
        return 1
    return 2


def _error_words(err: BaseException) -> str:
    """What ``unboxed: error:`` says of ``err``. A ``MemoryError`` (the library's names
    the setting to lower: ``explain --n-samples 10**12`` gave "n_samples=... do not fit
    in memory; lower n_samples") ended the command in a traceback; one without words
    says what happened."""
    if isinstance(err, MemoryError):
        return f"out of memory: {err}" if str(err) else "out of memory"
    return str(err)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    """Run the parsed command; with none, print the help."""
    if args.command == "datasets":
        return _datasets()
    if args.command == "train":
        return _train(args, argv)
    if args.command == "explain":
        return _explain(args)
    if args.command == "approximate":
        return _approximate(args, argv)
    if args.command == "examples":
        return _examples(args)
    if args.command == "importance":
        return _importance(args)
    if args.command == "maximize":
        return _maximize(args)
    if args.command == "report":
        return _report(args)
    if args.command == "demo":
        from .demo import run_demo

        _check_writable(args.out, "--out", folder=True)
        run_demo(out=args.out, epochs=args.epochs, random_state=args.seed, verbose=not args.quiet)
        return 0
    parser.print_help()
    return 0


class _WatchedStdout:
    """``sys.stdout`` while a command runs, noting whether writing to it met a closed
    pipe: only then is a ``BrokenPipeError`` the reader going away (``| head``)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self.broken = True
            raise

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self.broken = True
            raise

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, ...
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    """Point the file descriptor behind ``sys.stdout`` at devnull, where it has one."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit status: 0 on success, 2 for a bad argument (argparse exits with 2 on
        its own), 1 when the work failed (memory run out too), 130 after Ctrl-C, 141
        when the reader of the output went away (``unboxed datasets | head``; a broken
        pipe other than stdout's is a failure, 1).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():  # restores Python's way of showing them after
        warnings.showwarning = _show_warning
        return _main(parser, args, argv)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A warning as a command says it, ``unboxed: warning: ...``, on stderr: Python's
    form named a file and line of the package's source and printed that line."""
    print(f"unboxed: warning: {message}", file=sys.stderr if file is None else file)


def _main(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    """:func:`main` after parsing: the exit status of the command's run."""
    stdout = sys.stdout
    watched = sys.stdout = _WatchedStdout(stdout)
    try:
        status = _run(parser, args, argv)
        # Output still buffered (stdout to a pipe) meets a closed pipe here, where it
        # is caught, not in the interpreter's flush at exit ("Exception ignored", 120).
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C; a checkpoint
        # already written stays, so the same command resumes.
        print("unboxed: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as err:
        if not watched.broken:
            # Another pipe than stdout (a black box talking to a subprocess, say): the
            # work failed (1), which is no reader going away.
            print(f"unboxed: error: {err}", file=sys.stderr)
            return 1
        # The reader closed the pipe (`| head`): nothing to report to whoever is left.
        # 128 + SIGPIPE, what a shell reports of a C tool that the same pipe stopped,
        # as 130 above is: with pipefail a script tells it from a failure (1). stdout
        # goes to devnull so that the interpreter's flush at exit does not raise again
        # (the Python docs' "Note on SIGPIPE").
        sys.stdout = stdout
        _silence_stdout()
        return 141
    except (ValueError, TypeError, OSError, RuntimeError, FloatingPointError, MemoryError) as err:
        print(f"unboxed: error: {_error_words(err)}", file=sys.stderr)
        return _exit_status(err)
    finally:
        sys.stdout = stdout
