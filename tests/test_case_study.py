"""The spurious-cue case study (002_3e5e1762af60ee33.txt, Pokémon v.s. Digimon)."""

from __future__ import annotations

import pytest
import torch

from unboxed.demo import CUE, spurious_cue_study


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
