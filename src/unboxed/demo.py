"""The main job, ``make demo``: train a LeNet on digits, explain it, test the explanation.

It uses plain gradient saliency, |d logit_c / d x|, computed with
:meth:`BlackBox.gradient`, and checks it with the deletion test of
``000_cf0c09d2d9cd2a13.txt`` Sec. 4.1 against randomly chosen pixels.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import zoo
from .data import load_dataset
from .evaluate import deletion_test
from .explanation import Attribution, make_meta

DEMO_KS = (2, 4, 8, 12, 16)


def gradient_saliency(
    blackbox: Any, X: np.ndarray, *, image_shape: tuple[int, ...] | None = None
) -> Attribution:
    """|d logit_c / d x| for each row's predicted class c, as in the lecture slides."""
    target = blackbox.predict(X)
    values = np.abs(blackbox.gradient(X, target))
    meta = make_meta("gradient saliency", {"of": "logit of the predicted class", "abs": True})
    return Attribution(values, target, meta, inputs=X, image_shape=image_shape)


def run_demo(
    *,
    out: str | Path = "demo-output",
    epochs: int = 40,
    random_state: int = 0,
    verbose: bool = True,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, explain and test; print a report and write figures to ``out``.

    Parameters
    ----------
    out : path-like
        Folder for the saved attribution and the saliency figure.
    epochs : int
        LeNet training epochs on digits.
    random_state : int
        Seeds the model, the training and the deletion test.
    verbose : bool
        Show progress bars.
    echo : callable
        Where the report lines go.

    Returns
    -------
    dict
        The test accuracy, the deletion result and the seconds taken.
    """
    start = time.perf_counter()
    dataset = load_dataset("digits")
    echo(f"1. Data: {dataset}")
    model = zoo.build(
        "lenet",
        input_shape=dataset.input_shape,
        n_classes=dataset.n_classes,
        random_state=random_state,
    )
    result = zoo.train(
        model,
        dataset,
        epochs=epochs,
        batch_size=64,
        lr=2e-3,
        random_state=random_state,
        verbose=verbose,
    )
    echo(f"2. Black box: LeNet, test accuracy {result.test_accuracy:.4f} after {epochs} epochs")
    blackbox = zoo.as_blackbox(model)
    saliency = gradient_saliency(blackbox, dataset.X_test, image_shape=dataset.image_shape)
    echo(f"3. Explanation: gradient saliency for {saliency.n_samples} test images")
    deletion = deletion_test(
        blackbox,
        dataset.X_test,
        saliency,
        list(DEMO_KS),
        fill="zero",
        n_boot=200,
        sample_frac=1.0,
        random_state=random_state,
        verbose=verbose,
    )
    echo(
        "4. Fidelity: deletion test (000_cf0c09d2d9cd2a13.txt, Sec. 4.1). Among the test "
        "images the model calls class c, set the k most salient pixels to 0 and count how "
        "many are still called c (PCR). The baseline sets k random pixels to 0. A faithful "
        "explanation drives its PCR far below the baseline."
    )
    echo("")
    echo(deletion.to_markdown(label="saliency"))
    echo("")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    saliency.save(folder / "saliency.npz")
    figure = saliency.plot(list(range(10)))
    figure.savefig(folder / "saliency.png", dpi=100)
    seconds = time.perf_counter() - start
    echo(f"5. Wrote {folder / 'saliency.npz'} and {folder / 'saliency.png'} ({seconds:.1f} s)")
    clime = clime_demo(model, dataset, folder, random_state=random_state, echo=echo)
    return {
        "test_accuracy": result.test_accuracy,
        "deletion": deletion,
        "seconds": seconds,
        "clime": clime,
    }


# ---------------------------------------------------------------- CLIME (issue 6)
def clime_demo(
    model: Any,
    dataset: Any,
    folder: str | Path,
    *,
    random_state: int = 0,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """CLIME (``003_9368caac562d9b13.txt``) on the demo's LeNet.

    The ReLU LeNet is piecewise linear (convolutions and pooling included), so each test
    image gets its exact local linear model ``W~ x + b~`` (eq. 5). The LeNet is then
    distilled into a ReLU MLP (Sec. 6), which is explained exactly in turn.

    Returns
    -------
    dict
        The largest |W~x + b~ - logits|, regions visited, the student's agreement with
        the LeNet and the seconds taken.
    """
    from .evaluate import agreement
    from .piecewise import Distiller, LinearRegions

    start = time.perf_counter()
    X = dataset.X_test
    regions = LinearRegions(model)
    W, b = regions.local_linear(X)
    error = float(np.abs(np.einsum("nkd,nd->nk", W, X) + b - regions.logits(X)).max())
    n_regions = regions.regions(X).n_regions
    echo(
        f"6. CLIME: the LeNet is piecewise linear, so each of the {X.shape[0]} test images has "
        f"an exact local linear model W~x + b~ (eq. 5): largest gap to the logits {error:.1e}; "
        f"the images fall in {n_regions} distinct linear regions."
    )
    teacher = zoo.as_blackbox(model)
    grid = {"temperature": (3.0,), "alpha": (0.9,), "lr": (3e-3,), "batch_size": (64,)}
    distiller = Distiller(
        widths=(128,), grid=grid, epochs=20, random_state=random_state, verbose=False
    )
    distiller.fit(teacher, dataset.X_train, dataset.y_train)
    fidelity = agreement(
        distiller.predict(X), teacher.predict(X), n_boot=200, random_state=random_state
    )
    attribution = distiller.explain(X)
    attribution = dataclasses.replace(attribution, image_shape=dataset.image_shape)
    path = Path(folder) / "clime_student.npz"
    attribution.save(path)
    seconds = time.perf_counter() - start
    echo(
        "7. Distillation-based CLIME: a ReLU MLP 64-128-10 distilled from the LeNet "
        f"(Hinton KD, T={distiller.best_params_['temperature']:g}) agrees with it on "
        f"{fidelity} of the test images; its exact contributions are in {path} "
        f"({seconds:.1f} s)"
    )
    return {
        "max_error": error,
        "n_regions": n_regions,
        "agreement": fidelity,
        "seconds": seconds,
    }
