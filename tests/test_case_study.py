"""The spurious-cue case study (002_3e5e1762af60ee33.txt, Pokémon v.s. Digimon)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unboxed.data import Cue, load_dataset, select_classes, with_spurious_cue
from unboxed.demo import CUE, CUE_CLASSES, _share_estimate, spurious_cue_study
from unboxed.evaluate import Estimate
from unboxed.evaluate._stats import estimate
from unboxed.local import grid_labels
from unboxed.probes import PermutationImportance, mass_share


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_explanations_point_at_the_cue_and_accuracy_collapses(tmp_path):
    lines = []
    result = spurious_cue_study(random_state=0, n_boot=200, out=tmp_path, echo=lines.append)
    mass = result["mass"]
    area = result["area"]
    assert area == pytest.approx(CUE.size**2 / 64)
    # more than half of the mass on the cue region, with the whole CI above 0.5
    for method in ("Saliency", "IntegratedGradients", "Occlusion", "PermutationImportance"):
        assert mass[method].ci[0] > 0.5, (method, mass[method])
    accuracy = result["accuracy"]
    assert accuracy["in place"].mean == 1.0
    assert accuracy["moved"].ci[1] < 0.5  # collapses below chance
    cue_drop, other_drop = result["cue_drop"], result["other_drop"]
    assert cue_drop[1][0] > other_drop[1][1]  # the CIs separate
    assert (tmp_path / "spurious_cue.png").stat().st_size > 0
    assert any("moved" in line for line in lines)
    # no other region moves a prediction: the share's zero-width CI is explained
    assert other_drop[0] == 0.0 and mass["PermutationImportance"].ci == (1.0, 1.0)
    assert any(line.startswith("No other region's shuffle") for line in lines)


def test_without_weight_decay_a_lenet_saliency_spreads_over_the_digit(tmp_path):
    """Why the case study's model has weight decay: a LeNet trained without it reads
    the cue just as much, but its plain saliency puts well under half on it."""
    result = spurious_cue_study(
        arch="lenet", weight_decay=0.0, epochs=15, random_state=0, n_boot=200, echo=print
    )
    assert result["accuracy"]["moved"].ci[1] < 0.5
    assert result["mass"]["Occlusion"].ci[0] > 0.5
    saliency = result["mass"]["Saliency"]
    assert 1.8 * result["area"] < saliency.ci[0] and saliency.ci[1] < 0.5


def test_share_estimate_counts_only_positive_drops():
    """The cue's share of the positive importance, with a seeded 95% bootstrap CI."""
    rng = np.random.default_rng(0)
    drops = rng.normal(loc=[0.3, -0.2, 0.1], scale=0.05, size=(40, 3))
    result = _share_estimate(drops, 0, 300, 3)
    means = drops.mean(axis=0)
    assert result.mean == pytest.approx(means[0] / (means[0] + means[2]))
    assert result.n == 40
    # recomputed: the same seed draws the same 300 resamples of the 40 rows
    rows = np.random.default_rng(3).integers(0, 40, (300, 40))
    positive = np.clip(drops[rows].mean(axis=1), 0.0, None)
    boot = positive[:, 0] / positive.sum(axis=1)
    assert result.ci == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])))
    assert result.ci[0] < result.mean < result.ci[1]
    # no positive importance at all: a share of 0, not a division by 0
    assert _share_estimate(-np.abs(drops), 0, 20, 3) == Estimate(0.0, (0.0, 0.0), 40)


def test_case_study_figures_are_recomputed_from_its_parts():
    """Each figure returned and printed, recomputed from the black box (seed 1). A
    one-pixel cue and 5 epochs leave the model reading the digit too, so that the
    cue's share of the permutation importance is below 1 and its CI depends on the seed."""
    cue = Cue(kind="patch", size=1, corner="top-left", value=1.0)
    lines = []
    result = spurious_cue_study(cue=cue, epochs=5, random_state=1, n_boot=50, echo=lines.append)
    blackbox = result["blackbox"]
    pair = select_classes(load_dataset("digits"), list(CUE_CLASSES))
    in_place = with_spurious_cue(pair, 0, cue=cue, test="same")
    clean = result["accuracy"]["clean"]
    assert clean.n == pair.y_test.size
    assert clean.mean == pytest.approx(np.mean(blackbox.predict(pair.X_test) == pair.y_test))
    region = cue.patch_mask((8, 8))
    for name in ("Saliency", "IntegratedGradients", "Occlusion"):
        share = mass_share(result["attributions"][name].values, region)
        assert result["mass"][name] == estimate(share, n_boot=50, random_state=1)
    labels = grid_labels((8, 8), cell=2)
    labels[region] = labels.max() + 1
    importance = PermutationImportance(blackbox, n_repeats=5, groups=labels, random_state=1)
    drops = importance.row_drops(in_place.X_test)
    np.testing.assert_allclose(result["group_drops"], drops.mean(axis=0))
    cue_share = _share_estimate(drops, drops.shape[1] - 1, 50, 1)
    assert result["mass"]["PermutationImportance"] == cue_share
    assert 0 < cue_share.ci[0] < cue_share.ci[1] < 1
    report = "\n".join(lines)
    for name, est in {**result["accuracy"], **result["mass"]}.items():
        assert f"| {name} | {est} |" in report
    (cue, (low, high)), (other, (o_low, o_high)) = result["cue_drop"], result["other_drop"]
    assert cue == pytest.approx(drops.mean(axis=0)[-1])
    assert (
        f"cue region {cue:.4f} [{low:.4f}, {high:.4f}], largest other region "
        f"{other:.4f} [{o_low:.4f}, {o_high:.4f}]"
    ) in report
    assert other > 0 and "No other region's shuffle" not in report


def test_cue_figure_shows_inputs_absolute_maps_and_each_groups_drop():
    """The figure's panels, recomputed: the input, |attribution| per method, and the
    permutation-importance map where each pixel shows its own group's drop."""
    from unboxed import Attribution
    from unboxed.demo import _cue_figure

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(4, 64))
    attributions = {
        name: Attribution(rng.normal(size=(4, 64)), np.zeros(4, int)) for name in ("A", "B")
    }
    # the case study's groups: 2x2 cells, the 3x3 cue relabelled last, so that cell 0
    # (all inside the cue) no longer exists and group columns are not the labels
    region = CUE.patch_mask((8, 8))
    labels = grid_labels((8, 8), cell=2)
    labels[region] = labels.max() + 1
    groups = np.unique(labels)
    drops = np.arange(groups.size, dtype=float) / 10
    fig = _cue_figure(X, attributions, drops, labels, (8, 8))
    axes = np.array(fig.axes).reshape(3, 4)
    expected_pi = drops[[list(groups).index(label) for label in labels.ravel()]].reshape(8, 8)
    assert expected_pi[0, 0] == drops[-1]  # the cue's own drop
    for row in range(3):
        np.testing.assert_array_equal(axes[row, 0].images[0].get_array(), X[row].reshape(8, 8))
        for col, name in enumerate(("A", "B"), start=1):
            heat = np.abs(attributions[name].values[row]).reshape(8, 8)
            np.testing.assert_array_equal(axes[row, col].images[0].get_array(), heat)
            assert axes[row, col].get_title() == name
        np.testing.assert_array_equal(axes[row, 3].images[0].get_array(), expected_pi)


def test_case_study_follows_its_arguments():
    """Every argument reaches the part it names: the two classes, the training recipe
    (seeded build and train, weight decay, epochs), the repeats of permutation
    importance and the seed and size of every bootstrap. Each figure is recomputed
    from the documented recipe with non-default values (digits 1 and 7, seed 2), and
    the attributions explain the cue class (target 0) with their own settings."""
    from unboxed import zoo
    from unboxed.evaluate import agreement, bootstrap_mean
    from unboxed.local import IntegratedGradients, Occlusion, Saliency

    classes, seed, n_boot, n_repeats = (1, 7), 2, 30, 2
    lines = []
    result = spurious_cue_study(
        classes=classes,
        weight_decay=1e-3,
        epochs=3,
        n_repeats=n_repeats,
        n_boot=n_boot,
        random_state=seed,
        echo=lines.append,
    )
    pair = select_classes(load_dataset("digits"), list(classes))
    in_place = with_spurious_cue(pair, 0, cue=CUE, test="same")
    moved = with_spurious_cue(pair, 0, cue=CUE, test="moved")
    model = zoo.build("mlp", input_shape=pair.input_shape, n_classes=2, random_state=seed)
    zoo.train(
        model,
        in_place,
        epochs=3,
        batch_size=32,
        lr=2e-3,
        weight_decay=1e-3,
        random_state=seed,
        verbose=False,
    )
    reference = zoo.as_blackbox(model)
    blackbox = result["blackbox"]
    np.testing.assert_allclose(
        blackbox.predict_proba(pair.X_test), reference.predict_proba(pair.X_test), atol=1e-6
    )
    # the accuracies, each on its own test images, with the study's bootstrap
    for name, data in (("in place", in_place), ("clean", pair), ("moved", moved)):
        expected = agreement(blackbox.predict(data.X_test), data.y_test)
        assert result["accuracy"][name] == expected, name
    # the attributions explain the cue class's test images (digit 1, cue in place)
    X = in_place.X_test[in_place.y_test == 0]
    for name, explainer in (
        ("Saliency", Saliency(blackbox, image_shape=(8, 8))),
        ("IntegratedGradients", IntegratedGradients(blackbox, image_shape=(8, 8))),
        ("Occlusion", Occlusion(blackbox, window=2, stride=1, fill="zero", image_shape=(8, 8))),
    ):
        attribution = result["attributions"][name]
        np.testing.assert_array_equal(attribution.target, np.zeros(X.shape[0], int))
        np.testing.assert_allclose(attribution.values, explainer.explain(X, target=0).values)
    region = CUE.patch_mask((8, 8))
    labels = grid_labels((8, 8), cell=2)
    labels[region] = labels.max() + 1
    drops = PermutationImportance(
        blackbox, n_repeats=n_repeats, groups=labels, random_state=seed
    ).row_drops(in_place.X_test)
    mean, ci = bootstrap_mean(drops, n_boot=n_boot, random_state=seed)
    np.testing.assert_allclose(result["group_drops"], mean)
    assert result["cue_drop"] == (pytest.approx(mean[-1]), pytest.approx(ci[-1].tolist()))
    other = int(np.argmax(mean[:-1]))
    assert result["other_drop"] == (pytest.approx(mean[other]), pytest.approx(ci[other].tolist()))
    assert lines[0].startswith(
        "Spurious cue: a 3x3 patch (14% of the image) on every training image of digit 1 "
        "(not 7); the black box is an MLP trained 3 epochs with weight decay 0.001."
    )
