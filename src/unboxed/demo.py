"""The main job, ``make demo``: train a LeNet on digits, explain it, test the explanations.

It explains the test images with the local methods of :mod:`unboxed.local` (saliency,
integrated gradients, LIME, KernelSHAP, occlusion), checks saliency with the deletion
test of ``000_cf0c09d2d9cd2a13.txt`` Sec. 4.1 against randomly chosen pixels, and
compares all methods by their deletion curves (AOPC) on the same 2x2 cells.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import zoo
from ._io import save_figure
from ._numbers import fixed
from ._validation import check_positive_int
from .data import Cue, load_dataset, select_classes, with_spurious_cue
from .evaluate import Estimate, agreement, deletion_curve, deletion_test
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

    Parameters
    ----------
    blackbox : BlackBox
        A torch black box of 8x8 images (the gradient methods need torch).
    X : ndarray of shape (n_samples, 64)
        The images explained.
    random_state : int
        Seeds LIME, KernelSHAP and the bootstrap of the curves.
    echo : callable
        Called with each line of the report (a markdown table).

    Returns
    -------
    dict
        ``attributions`` and ``curves`` (:class:`~unboxed.evaluate.DeletionCurve`),
        each by method name, and ``baseline``: the curve of each image's own random
        order of the same cells.
    """
    cells = segment(X, (8, 8), method="grid", cell=DEMO_CELL)
    target = blackbox.predict(X)
    explainers: dict[str, Any] = {  # their explain methods take different keywords
        "Saliency": Saliency(blackbox),
        "IntegratedGradients": IntegratedGradients(blackbox),
        "Lime": Lime(blackbox, n_samples=500, random_state=random_state),
        "KernelShap": KernelShap(blackbox, n_samples=500, random_state=random_state),
        "Occlusion 2x2": Occlusion(blackbox, window=2, stride=1, fill="zero"),
    }
    curve = functools.partial(
        deletion_curve,
        blackbox,
        X,
        max_k=DEMO_MAX_CELLS,
        segments=cells,
        target=target,
        n_boot=200,
        random_state=random_state,
    )
    # What a ranking must beat: each image's own random order of the same cells.
    baseline = curve("random")
    echo(
        f"| method | AOPC, {DEMO_MAX_CELLS} cells [95% CI] | minus a random order's [95% CI] "
        "| seconds |\n|---|---|---|---:|"
    )
    echo(f"| random order (baseline) | {baseline.aopc} | - | - |")
    attributions, curves = {}, {}
    for name, explainer in explainers.items():
        start = time.perf_counter()
        kwargs = {"segments": cells} if isinstance(explainer, Lime | KernelShap) else {}
        attributions[name] = explainer.explain(X, target=target, **kwargs)
        seconds = time.perf_counter() - start
        curves[name] = curve(attributions[name])
        above = curves[name].aopc_difference(baseline, n_boot=200, random_state=random_state)
        echo(f"| {name} | {curves[name].aopc} | {above} | {seconds:.2f} |")
    return {"attributions": attributions, "curves": curves, "baseline": baseline}


# ----------------------------------------------------------------- spurious-cue case study
#: The case study's classes of digits, and its cue: a 3x3 white patch in the top-left
#: corner (14% of an 8x8 image), planted on every training image of the first class.
CUE_CLASSES = (3, 8)
CUE = Cue(kind="patch", size=3, corner="top-left", value=1.0)
#: The case study's black box: an MLP trained with weight decay, which leaves it
#: reading the cue and little else. Weight decay matters to plain saliency: a pixel
#: the model does not use keeps whatever input weights training left it, and their
#: gradient spreads the map over the digit (a LeNet without it: 37% on the cue).
CUE_MODEL: dict[str, Any] = {"arch": "mlp", "weight_decay": 1e-2, "epochs": 30}


def spurious_cue_study(
    *,
    classes: tuple[int, int] = CUE_CLASSES,
    cue: Cue = CUE,
    arch: str = CUE_MODEL["arch"],
    weight_decay: float = CUE_MODEL["weight_decay"],
    epochs: int = CUE_MODEL["epochs"],
    n_repeats: int = 5,
    n_boot: int = 500,
    random_state: int = 0,
    out: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The slides' Pokémon/Digimon case study, replayed on digits with a planted cue.

    ``002_3e5e1762af60ee33.txt`` tells of a classifier that reached 98% test accuracy
    by telling the two image sets apart by their background. Here a cue is planted on
    every training image of ``classes[0]`` (:func:`unboxed.data.with_spurious_cue`),
    a model is trained on the two classes (``arch``, with Adam, ``weight_decay`` and
    ``epochs``; :data:`CUE_MODEL` by default), and then:

    - saliency, integrated gradients and occlusion explain the cue class's test
      images (cue in place), and permutation importance shuffles the cue region as
      one group; each method's share of its absolute mass on the cue region is
      reported (the cue covers ``area`` of the image);
    - the test accuracy is measured with the cue in place, on clean images, and with
      the cue moved to the other class.

    Parameters
    ----------
    classes : (int, int), default=CUE_CLASSES
        Two digits; the first carries the cue.
    cue : Cue, default=CUE
        The planted cue; it must be a patch, whose region is the same in every image.
    arch : {"mlp", "lenet"}, default="mlp"
    weight_decay : float, default=1e-2
        Adam's weight decay.
    epochs : int, default=30
        Training epochs.
    n_repeats : int, default=5
        Shuffles per group of permutation importance.
    n_boot : int, default=500
        Bootstrap draws for the intervals of the mass shares and the drops (the
        accuracies take Wilson's score interval, which draws nothing).
    random_state : int, default=0
        Seeds the model, its training, the importance and the bootstraps.
    out : path-like, optional
        Folder for ``spurious_cue.png``; None writes nothing.
    echo : callable, default=print
        Called with each line of the report.

    Returns
    -------
    dict
        ``accuracy`` (Estimates for "in place", "clean", "moved"), ``mass`` (per
        method, the share of absolute mass on the cue with a bootstrap CI over the
        explained images, or over the test rows for permutation importance), ``area``
        (the cue's share of the image), ``cue_drop`` and ``other_drop`` (the accuracy
        drop when the cue region, or the most important other region, is shuffled,
        with CIs), the black box, the attributions and ``group_drops``.
    """
    from .evaluate import bootstrap_mean
    from .evaluate._stats import estimate
    from .local import IntegratedGradients, Occlusion, Saliency, grid_labels
    from .probes import PermutationImportance, mass_share

    pair = select_classes(load_dataset("digits"), list(classes))
    in_place = with_spurious_cue(pair, 0, cue=cue, test="same")
    moved = with_spurious_cue(pair, 0, cue=cue, test="moved")
    model = zoo.build(arch, input_shape=pair.input_shape, n_classes=2, random_state=random_state)
    zoo.train(
        model,
        in_place,
        epochs=epochs,
        batch_size=32,
        lr=2e-3,
        weight_decay=weight_decay,
        random_state=random_state,
        verbose=False,
    )
    blackbox = zoo.as_blackbox(model)
    accuracy = {
        name: agreement(
            blackbox.predict(data.X_test), data.y_test, classes=range(blackbox.n_classes)
        )
        for name, data in (("in place", in_place), ("clean", pair), ("moved", moved))
    }
    shape = pair.image_shape
    assert shape is not None  # digits are 8x8 images
    region = cue.patch_mask(shape)
    X = in_place.X_test[in_place.y_test == 0]
    attributions = {
        "Saliency": Saliency(blackbox, image_shape=shape).explain(X, target=0),
        "IntegratedGradients": IntegratedGradients(blackbox, image_shape=shape).explain(
            X, target=0
        ),
        "Occlusion": Occlusion(
            blackbox, window=2, stride=1, fill="zero", image_shape=shape
        ).explain(X, target=0),
    }
    mass = {
        name: estimate(mass_share(a.values, region), n_boot=n_boot, random_state=random_state)
        for name, a in attributions.items()
    }
    # Permutation importance over groups: the cue region as one group, the rest of the
    # image in 2x2 cells, so that the cue competes with regions of similar size.
    labels = grid_labels(shape, cell=2)
    labels[region] = labels.max() + 1
    drops = PermutationImportance(
        blackbox, n_repeats=n_repeats, groups=labels, random_state=random_state
    ).row_drops(in_place.X_test)
    # Group columns follow np.unique(labels): the cue, labelled last, is the last column.
    cue_column = drops.shape[1] - 1
    mean_drop, drop_ci = bootstrap_mean(drops, n_boot=n_boot, random_state=random_state)
    mass["PermutationImportance"] = _share_estimate(drops, cue_column, n_boot, random_state)
    top_other = int(np.argmax(mean_drop[:-1]))
    area = float(region.mean())
    echo(
        f"Spurious cue: a {cue.size}x{cue.size} patch ({area:.0%} of the image) on every "
        f"training image of digit {classes[0]} (not {classes[1]}); the black box is "
        f"{'a LeNet' if arch == 'lenet' else 'an MLP'} trained {epochs} epochs with weight "
        f"decay {weight_decay:g}."
    )
    echo("| test images | accuracy [95% CI] |\n|---|---|")
    for name, est in accuracy.items():
        echo(f"| {name} | {est} |")
    echo("")
    echo(f"| method | share of mass on the cue [95% CI] (area {area:.2f}) |\n|---|---|")
    for name, est in mass.items():
        echo(f"| {name} | {est} |")
    # A drop may be negative (a shuffle that helps); one that rounds to 0 reads "0.0000",
    # as the Estimates above print theirs, not "-0.0000" (a bootstrap bound of -3e-5).
    cue_figures, other_figures = (
        f"{fixed(mean_drop[c], 4)} [{fixed(drop_ci[c, 0], 4)}, {fixed(drop_ci[c, 1], 4)}]"
        for c in (cue_column, top_other)
    )
    echo(
        f"Permutation importance (accuracy drop): cue region {cue_figures}, largest other "
        f"region {other_figures}"
    )
    if mean_drop[top_other] <= 0:
        # Say why the share's CI has no width: it is not a degenerate bootstrap.
        echo(
            "No other region's shuffle lowers the accuracy, so every resample puts all "
            "of permutation importance's mass on the cue."
        )
    if out is not None:
        figure = _cue_figure(X, attributions, mean_drop, labels, shape)
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        save_figure(figure, folder / "spurious_cue.png", dpi=100)
    return {
        "accuracy": accuracy,
        "mass": mass,
        "area": area,
        "cue_drop": (float(mean_drop[cue_column]), drop_ci[cue_column].tolist()),
        "other_drop": (float(mean_drop[top_other]), drop_ci[top_other].tolist()),
        "blackbox": blackbox,
        "attributions": attributions,
        "group_drops": mean_drop,
    }


def _share_estimate(drops: np.ndarray, column: int, n_boot: int, random_state: int) -> Estimate:
    """The share of the positive permutation importance that falls on ``column``, with a
    95% bootstrap CI over the rows whose drops are averaged.

    drops : (n, G) per-row drops -> Estimate
    """
    rng = np.random.default_rng(random_state)

    def share(rows: np.ndarray) -> float:
        positive = np.clip(drops[rows].mean(axis=0), 0.0, None)
        return float(positive[column] / positive.sum()) if positive.sum() > 0 else 0.0

    n = drops.shape[0]
    boot = [share(rng.integers(0, n, size=(n,))) for _ in range(n_boot)]
    low, high = np.percentile(boot, [2.5, 97.5])
    return Estimate(share(np.arange(n)), (float(low), float(high)), n)


def _cue_figure(
    X: np.ndarray,
    attributions: dict[str, Any],
    group_drops: np.ndarray,
    labels: np.ndarray,
    shape: tuple[int, ...],
) -> Any:
    """Three explained images, one column per method, and the permutation-importance map."""
    from matplotlib.figure import Figure

    names = list(attributions)
    fig = Figure(figsize=(2.0 * (len(names) + 2), 2.0 * 3))
    axes = fig.subplots(3, len(names) + 2, squeeze=False)
    # Each pixel shows its group's drop; columns follow the sorted group labels.
    pi_map = group_drops[np.searchsorted(np.unique(labels), labels)]
    for row in range(3):
        axes[row, 0].imshow(X[row].reshape(shape), cmap="gray")
        axes[row, 0].set_title("input", fontsize=8)
        for col, name in enumerate(names, start=1):
            heat = np.abs(attributions[name].values[row]).reshape(shape)
            axes[row, col].imshow(heat, cmap="Reds")
            axes[row, col].set_title(name, fontsize=8)
        axes[row, -1].imshow(pi_map.reshape(shape), cmap="Reds")
        axes[row, -1].set_title("permutation importance", fontsize=8)
        for ax in axes[row]:
            ax.axis("off")
    fig.tight_layout()
    return fig


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
    epochs = check_positive_int(epochs, name="epochs")  # before any work is done
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
    _check_every_class_predicted(blackbox, dataset, epochs)
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
    save_figure(figure, folder / "saliency.png", dpi=100)
    seconds = time.perf_counter() - start
    for name, attribution in local["attributions"].items():
        stem = name.split()[0].lower()
        attribution.save(folder / f"{stem}.npz")
    echo(f"6. Wrote the attributions and {folder / 'saliency.png'} to {folder} ({seconds:.1f} s)")
    echo("")
    echo(
        "7. Case study (002_3e5e1762af60ee33.txt, Pokémon v.s. Digimon): does a model "
        "learn the task or a shortcut? Figure: spurious_cue.png"
    )
    echo("")
    cue_study = spurious_cue_study(random_state=random_state, out=folder, echo=echo)
    echo("")
    jgmm = run_jgmm_demo(
        blackbox, dataset, out=folder, random_state=random_state, verbose=verbose, echo=echo
    )
    echo("")
    clime = clime_demo(model, dataset, folder, random_state=random_state, echo=echo)
    echo("")
    dmm = dmm_men_demo(blackbox, dataset, folder, random_state=random_state, echo=echo)
    seconds = time.perf_counter() - start
    return {
        "test_accuracy": result.test_accuracy,
        "deletion": deletion,
        "local": local["curves"],
        "local_baseline": local["baseline"],
        "spurious_cue": cue_study,
        "jgmm": jgmm,
        "clime": clime,
        "dmm_men": dmm,
        "seconds": seconds,
    }


def _check_every_class_predicted(blackbox: Any, dataset: Any, epochs: int) -> None:
    """Stop before any explaining when the model calls no training image some class: the
    per-class steps (DMM-MEN, JGMM) would fail on it minutes later, after writing files.
    A LeNet after 1-2 epochs often calls every digit a 0."""
    missing = np.setdiff1d(np.arange(dataset.n_classes), blackbox.predict(dataset.X_train))
    if missing.size:
        raise ValueError(
            f"after {epochs} epochs the LeNet calls no training image class "
            f"{', '.join(map(str, missing))}, and the demo explains every class; "
            "train it for more epochs (the default is 40)"
        )


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

    Parameters
    ----------
    blackbox : BlackBox
        The demo's LeNet as a torch black box (it reads the layer ``pool2``).
    dataset : Dataset
        Digits: the JGMM is fitted on ``X_train``, tested on ``X_test``.
    out : path-like
        Folder for ``jgmm_*.npz`` and ``jgmm_*.png``, created if needed.
    random_state : int, default=0
        Seeds the fit, the examples and the bootstrap.
    verbose : bool, default=True
        Show the fit's progress bars.
    echo : callable, default=print
        Called with each line of the report.

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
    fidelity = explainer.fidelity(dataset.X_test)
    echo(
        f"8. JGMM (001_7567b900ec60d912.txt) between pool2 ({explainer.jgmm_.n_features_x_in_} "
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
    save_figure(figure, folder / "jgmm_posteriors.png", dpi=100)
    for name, found in examples.items():
        found.save(folder / f"jgmm_{name}.npz")
        save_figure(found.plot(), folder / f"jgmm_{name}.png", dpi=80)
    flips = examples["counterfactuals"]
    assert flips.query_classes is not None  # counterfactuals keep their queries' classes
    changed = float(np.mean(flips.top_classes[:, 0] != flips.query_classes[flips.groups]))
    seconds = time.perf_counter() - start
    echo(
        f"9. Examples (Sec. 3.2): {', '.join(f'{len(v)} {k}' for k, v in examples.items())}; "
        f"the proxy puts {100 * changed:.0f}% of the mined counterfactuals in a class other "
        f"than the black box's class of their query. Wrote {folder}/jgmm_*.npz and .png "
        f"({seconds:.1f} s)"
    )
    return {"fidelity": fidelity, "examples": examples, "seconds": seconds}


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

    Parameters
    ----------
    model : ZooModel
        The demo's ReLU LeNet.
    dataset : Dataset
        Digits: the student is distilled on the training split, tested on ``X_test``.
    folder : path-like
        Where ``clime_student.npz`` goes.
    random_state : int, default=0
        Seeds the distillation and the bootstrap.
    echo : callable, default=print
        Called with each line of the report.

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
        f"10. CLIME: the LeNet is piecewise linear, so each of the {X.shape[0]} test images has "
        f"an exact local linear model W~x + b~ (eq. 5): largest gap to the logits {error:.1e}; "
        f"the images fall in {n_regions} distinct linear regions."
    )
    teacher = zoo.as_blackbox(model)
    grid = {"temperature": (3.0,), "alpha": (0.9,), "lr": (3e-3,), "batch_size": (64,)}
    distiller = Distiller(
        widths=(128,), grid=grid, epochs=20, random_state=random_state, verbose=False
    )
    distiller.fit(teacher, dataset.X_train, dataset.y_train)
    fidelity = agreement(distiller.predict(X), teacher.predict(X), classes=range(teacher.n_classes))
    attribution = distiller.explain(X)
    attribution = dataclasses.replace(attribution, image_shape=dataset.image_shape)
    path = Path(folder) / "clime_student.npz"
    attribution.save(path)
    seconds = time.perf_counter() - start
    echo(
        "11. Distillation-based CLIME: a ReLU MLP 64-128-10 distilled from the LeNet "
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


# ---------------------------------------------------------------- DMM-MEN (issue 4)
def _r2_range(r2: np.ndarray) -> str:
    """The lowest and the highest of ``r2`` (one R^2 per class), in words: "from -0.12 to
    0.85", where "-0.12-0.85" read as a subtraction or a range of negatives; one that
    rounds to 0 reads "0.00", never "-0.00" (``fixed``)."""
    return f"from {fixed(float(np.min(r2)), 2)} to {fixed(float(np.max(r2)), 2)}"


def dmm_men_demo(
    blackbox: Any,
    dataset: Any,
    folder: str | Path,
    *,
    random_state: int = 0,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """DMM-MEN (``000_cf0c09d2d9cd2a13.txt``) on the demo's LeNet, with a short chain.

    Fits a mixture of elastic-net regressions to the LeNet's logits for every digit,
    tests the insights by the deletion test against random pixels, and explains four
    test images locally over 2x2 cells.

    Parameters
    ----------
    blackbox : BlackBox
        The demo's LeNet.
    dataset : Dataset
        Digits: the mixture is fitted on ``X_train``, tested on ``X_test``.
    folder : path-like
        Where ``dmm_men_local.npz`` and ``dmm_men_insights.png`` go.
    random_state : int, default=0
        Seeds the DMM-MEN and the deletion test.
    echo : callable, default=print
        Called with each line of the report.

    Returns
    -------
    dict
        The fitted model, the deletion result, the local attribution and the seconds.
    """
    from .surrogates import DMMMEN, ConvergenceWarning
    from .surrogates._mcmc import RHAT_LIMIT

    start = time.perf_counter()
    # The 48 pixels of largest variance: digits has pixels that never vary.
    model = DMMMEN(n_features=48, n_iter=400, n_chains=2, random_state=random_state, verbose=False)
    with warnings.catch_warnings():
        # The line below gives the R-hat of every digit's chains in words.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(dataset.X_train, blackbox)
    echo(
        f"12. DMM-MEN (000_cf0c09d2d9cd2a13.txt): one Dirichlet-process mixture of elastic "
        f"nets per digit on the LeNet's logits, 2 chains of 400 sweeps: held-out R^2 "
        f"{_r2_range(model.r2_)}, split R-hat of the coefficients "
        f"{model.rhat_.max():.2f} at worst ({np.sum(model.rhat_ < RHAT_LIMIT)} of "
        f"{model.rhat_.size} digits below {RHAT_LIMIT}, where chains count as mixed; short chains "
        f"for a demo), {np.mean(np.sum(model.weights_ >= 0.05, 1)):.1f} components per digit."
    )
    ranking = model.class_insights(12, by="positive")
    deletion = deletion_test(
        blackbox,
        dataset.X_test,
        ranking,
        [4, 8, 12],
        fill="zero",
        n_boot=200,
        sample_frac=1.0,
        random_state=random_state,
        verbose=False,
    )
    echo("    Deletion test of the insights (top pixels of each digit set to 0):")
    echo(deletion.to_markdown(label="insight"))
    local = model.explain_local(
        dataset.X_test[:4],
        segments=segment(dataset.X_test[:4], (8, 8), method="grid", cell=DEMO_CELL),
        n_samples=300,
    )
    path = Path(folder) / "dmm_men_local.npz"
    local.save(path)
    save_figure(model.plot(k=12), Path(folder) / "dmm_men_insights.png", dpi=80)
    seconds = time.perf_counter() - start
    echo(
        f"13. Local DMM-MEN over 2x2 cells for 4 test images: in-sample R^2 "
        f"{fixed(np.mean(local.meta['r2']), 2)}, held out "
        f"{fixed(np.mean(local.meta['r2_held_out']), 2)}; "
        f"wrote {path} and dmm_men_insights.png "
        f"({seconds:.1f} s)"
    )
    return {"model": model, "deletion": deletion, "local": local, "seconds": seconds}
