"""The main job, ``make demo``: train a LeNet on digits, explain it, test the explanation.

It uses plain gradient saliency, |d logit_c / d x|, computed with
:meth:`BlackBox.gradient`, and checks it with the deletion test of
``000_cf0c09d2d9cd2a13.txt`` Sec. 4.1 against randomly chosen pixels.
"""

from __future__ import annotations

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
    jgmm = run_jgmm_demo(
        blackbox, dataset, out=folder, random_state=random_state, verbose=verbose, echo=echo
    )
    return {
        "test_accuracy": result.test_accuracy,
        "deletion": deletion,
        "seconds": seconds,
        "jgmm": jgmm,
    }


def run_jgmm_demo(
    blackbox: Any,
    dataset: Any,
    *,
    out: str | Path,
    random_state: int = 0,
    verbose: bool = True,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """JGMM (``001_7567b900ec60d912.txt``) between LeNet's second conv block and its logits.

    Fits the model on the training split, reports the proxy's agreement with the black
    box on the test split, and writes the Q/Psi heat maps (Fig. 4a) and galleries of
    prototypes, criticisms, influentials, counterfactuals and semi-factuals (Fig. 4b, 6).

    Returns
    -------
    dict
        The proxy's fidelity (an Estimate), the example sets and the seconds taken.
    """
    from .surrogates import JGMMExplainer

    start = time.perf_counter()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    explainer = JGMMExplainer(
        blackbox,
        lower_layer="pool2",
        n_components_x=20,
        random_state=random_state,
        verbose=verbose,
    ).fit(dataset.X_train)
    fidelity = explainer.fidelity(dataset.X_test, n_boot=1000, random_state=random_state)
    echo(
        f"6. JGMM (001_7567b900ec60d912.txt) between pool2 ({explainer.jgmm_.n_features_x_in_} "
        f"features, K_x = 20) and the logits (K_y = 10): EM converged={explainer.jgmm_.converged_} "
        f"in {explainer.jgmm_.n_iter_} iterations. The proxy p(w | x) (eq. 3) agrees with the "
        f"black box on {fidelity} of the test images."
    )
    queries = dataset.X_test[:4]
    examples = {
        "prototypes": explainer.prototypes(n_per_class=5),
        "criticisms": explainer.criticisms(n=8),
        "influentials": explainer.influentials(n=8),
        "counterfactuals": explainer.counterfactuals(queries, n_per_query=5, source="mined"),
        "semifactuals": explainer.semifactuals(queries, n_per_query=5, source="mined"),
    }
    figure = explainer.plot_posteriors()
    figure.savefig(folder / "jgmm_posteriors.png", dpi=100)
    for name, found in examples.items():
        found.save(folder / f"jgmm_{name}.npz")
        found.plot().savefig(folder / f"jgmm_{name}.png", dpi=80)
    flips = examples["counterfactuals"]
    changed = float(np.mean(flips.top_classes[:, 0] != flips.query_classes[flips.groups]))
    seconds = time.perf_counter() - start
    echo(
        f"7. Examples (Sec. 3.2): {', '.join(f'{len(v)} {k}' for k, v in examples.items())}; "
        f"{100 * changed:.0f}% of the mined counterfactuals are put in another class by the "
        f"proxy. Wrote {folder}/jgmm_*.npz and .png ({seconds:.1f} s)"
    )
    return {"fidelity": fidelity, "examples": examples, "seconds": seconds}
