"""The ``unboxed`` command: ``datasets``, ``train`` and ``demo``."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unboxed",
        description="Explain black-box classifiers by approximating them.",
    )
    parser.add_argument("--version", action="version", version=f"unboxed {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("datasets", help="list the data sets and whether each is installed")

    train = commands.add_parser("train", help="train a reference black box from the zoo")
    train.add_argument("--model", required=True, choices=["mlp", "lenet"])
    train.add_argument("--dataset", required=True, help="a name from `unboxed datasets`")
    train.add_argument("--out", required=True, help="folder to save the model to")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--seed", type=int, default=0, help="random_state for weights and shuffling")
    train.add_argument(
        "--widths",
        type=_widths,
        default="256,64",
        help="MLP hidden widths, comma-separated (default 256,64)",
    )
    train.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh", "elu"])
    train.add_argument("--data-path", default=None, help="folder holding the data set's files")
    train.add_argument(
        "--checkpoint", default=None, help="file to save progress to and resume from"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    demo = commands.add_parser("demo", help="train a LeNet on digits, explain it and test it")
    demo.add_argument("--out", default="demo-output", help="folder for figures and results")
    demo.add_argument("--epochs", type=int, default=40)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


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


def _train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from . import zoo
    from .data import load_dataset

    out = Path(args.out)
    if out.exists() and not out.is_dir():  # found only after training, before
        raise ValueError(f"--out {out} is a file; name a folder to save the model in")
    dataset = load_dataset(args.dataset, path=args.data_path)
    kwargs: dict[str, object] = {"activation": args.activation, "random_state": args.seed}
    if args.model == "mlp":
        kwargs["widths"] = args.widths
    model = zoo.build(
        args.model, input_shape=dataset.input_shape, n_classes=dataset.n_classes, **kwargs
    )
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
    command = "unboxed " + " ".join(shlex.quote(a) for a in argv)
    folder = zoo.save(
        model,
        args.out,
        metadata={
            "dataset": dataset.name,
            "test_accuracy": result.test_accuracy,
            "epoch_test_accuracy": list(result.epoch_test_accuracy),
            "training": result.settings,
            "command": command,
        },
    )
    print(
        f"{args.model} on {dataset.name}: test accuracy {result.test_accuracy:.4f} "
        f"({len(dataset.y_test)} test samples, {args.epochs} epochs, {result.seconds:.0f} s); "
        f"saved to {folder}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "datasets":
            return _datasets()
        if args.command == "train":
            return _train(args, argv)
        if args.command == "demo":
            from .demo import run_demo

            run_demo(
                out=args.out, epochs=args.epochs, random_state=args.seed, verbose=not args.quiet
            )
            return 0
    except (ValueError, TypeError, OSError, RuntimeError, FloatingPointError) as err:
        # BlackBoxError is a RuntimeError; FileNotFoundError an OSError.
        print(f"unboxed: error: {err}", file=sys.stderr)
        return 2
    parser.print_help()
    return 0
