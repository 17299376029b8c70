"""The main job, ``make demo``: train a LeNet on digits, explain it, test the explanations.

It explains the test images with the local methods of :mod:`unboxed.local` (saliency,
integrated gradients, LIME, KernelSHAP, occlusion), checks saliency with the deletion
test of ``000_cf0c09d2d9cd2a13.txt`` Sec. 4.1 against randomly chosen pixels, and
compares all methods by their deletion curves (AOPC) on the same 2x2 cells.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import zoo
from .data import load_dataset
from .evaluate import deletion_curve, deletion_test
from .local import IntegratedGradients, KernelShap, Lime, Occlusion, Saliency, segment

DEMO_KS = (2, 4, 8, 12, 16)
#: Side of the square cells every method is compared on (16 cells per 8x8 digit).
DEMO_CELL = 2
#: Cells removed in the deletion curves.
DEMO_MAX_CELLS = 8


def compare_local_methods(
    blackbox: Any, X: np.ndarray, *, random_state: int, echo: Callable[[str], None]
) -> dict[str, Any]:
    """Explain ``X`` with five local methods and compare their deletion curves.

    Every method explains the predicted class. LIME and KernelSHAP switch 2x2 cells
    on and off (500 samples each); every method's attribution is then scored per
    cell, and the cells are removed (set to 0) in that order.
    """
    cells = segment(X, (8, 8), method="grid", cell=DEMO_CELL)
    target = blackbox.predict(X)
    explainers = {
        "Saliency": Saliency(blackbox),
        "IntegratedGradients": IntegratedGradients(blackbox),
        "Lime": Lime(blackbox, n_samples=500, random_state=random_state),
        "KernelShap": KernelShap(blackbox, n_samples=500, random_state=random_state),
        "Occlusion 2x2": Occlusion(blackbox, window=2, stride=1, fill="zero"),
    }
    echo(f"| method | AOPC, {DEMO_MAX_CELLS} cells [95% CI] | seconds |\n|---|---|---:|")
    attributions, curves = {}, {}
    for name, explainer in explainers.items():
        start = time.perf_counter()
        kwargs = {"segments": cells} if isinstance(explainer, Lime | KernelShap) else {}
        attributions[name] = explainer.explain(X, target=target, **kwargs)
        seconds = time.perf_counter() - start
        curves[name] = deletion_curve(
            blackbox,
            X,
            attributions[name],
            max_k=DEMO_MAX_CELLS,
            segments=cells,
            n_boot=200,
            random_state=random_state,
        )
        echo(f"| {name} | {curves[name].aopc} | {seconds:.2f} |")
    return {"attributions": attributions, "curves": curves}


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
    saliency = Saliency(blackbox).explain(dataset.X_test)
    echo(f"3. Explanation: saliency |d logit_c / dx| for {saliency.n_samples} test images")
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
    echo(
        "5. Local methods compared (unboxed.local): remove the top 2x2 cells of each "
        "explanation one by one (set to 0) and average the drop in the probability of the "
        "class (AOPC; higher is more faithful)."
    )
    echo("")
    local = compare_local_methods(blackbox, dataset.X_test, random_state=random_state, echo=echo)
    echo("")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    figure = saliency.plot(list(range(10)))
    figure.savefig(folder / "saliency.png", dpi=100)
    seconds = time.perf_counter() - start
    for name, attribution in local["attributions"].items():
        stem = name.split()[0].lower()
        attribution.save(folder / f"{stem}.npz")
    echo(f"6. Wrote the attributions and {folder / 'saliency.png'} to {folder} ({seconds:.1f} s)")
    return {
        "test_accuracy": result.test_accuracy,
        "deletion": deletion,
        "local": local["curves"],
        "seconds": seconds,
    }
