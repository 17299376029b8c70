"""plnn_fidelity: how closely to_plnn's piecewise-linear copy follows its smooth original."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from unboxed import BlackBox, zoo
from unboxed.evaluate._stats import wilson_interval
from unboxed.piecewise import PLNNFidelity, plnn_fidelity, to_plnn


@pytest.fixture(scope="module", params=["tanh", "sigmoid"])
def smooth_mlp(request, digits):
    """A 64-32-10 MLP with a smooth activation, trained on digits (about 0.1-1 s)."""
    model = zoo.mlp((32,), request.param, n_features=64, n_classes=10, random_state=0)
    zoo.train(model, digits, epochs=10, batch_size=64, lr=5e-3, random_state=0, verbose=False)
    return model


def test_more_pieces_agree_more_and_close_the_probability_gap(smooth_mlp, digits):
    """On the digits test images the copy with 2 pieces per activation (tanh: a step;
    sigmoid: a step) disagrees on 4-7% of them and moves a class probability by 0.1-0.2
    on average; with 32 pieces it agrees on all of them within 0.001."""
    figures = [
        plnn_fidelity(smooth_mlp, to_plnn(smooth_mlp, n, verbose=False), digits.X_test)
        for n in (2, 8, 32)
    ]
    agreements = [f.agreement.mean for f in figures]
    mean_gaps = [f.mean_gap.mean for f in figures]
    max_gaps = [f.max_gap for f in figures]
    assert [f.n_pieces for f in figures] == [2, 8, 32]
    assert agreements[0] < 0.98 and agreements[0] <= agreements[1] <= agreements[2] == 1.0
    assert mean_gaps[0] > 0.05 and mean_gaps[0] > 5 * mean_gaps[1] > 5 * mean_gaps[2]
    assert mean_gaps[2] < 1e-3 and max_gaps[0] > max_gaps[1] > max_gaps[2]
    # the 2-piece copy's disagreement is real: its interval lies below full agreement
    assert figures[0].agreement.ci[1] < 1.0


def _copies_of_a_digits_mlp(activation, digits):
    """plnn_fidelity of to_plnn's 2-, 8- and 32-piece copies of a 64-32-10 MLP with
    ``activation``, trained on digits."""
    model = zoo.mlp((32,), "relu", n_features=64, n_classes=10, random_state=0)
    model.act1 = activation()
    zoo.train(model, digits, epochs=10, batch_size=64, lr=5e-3, random_state=0, verbose=False)
    return [
        plnn_fidelity(model, to_plnn(model, n, verbose=False), digits.X_test, random_state=0)
        for n in (2, 8, 32)
    ]


@pytest.mark.parametrize("activation", [nn.GELU, nn.SiLU])
def test_a_gelu_or_silu_network_is_copied_as_closely(activation, digits):
    """The same 64-32-10 MLP with GELU (SiLU): 98.9% (98.3%) agreement and a mean
    probability gap of 0.021 (0.023) with 2 pieces, 100% and 0.008 (0.003) with 8,
    100% and 0.0001 with 32."""
    figures = _copies_of_a_digits_mlp(activation, digits)
    assert [f.n_pieces for f in figures] == [2, 8, 32]
    assert [f.agreement.mean for f in figures][1:] == [1.0, 1.0]
    assert figures[0].agreement.mean < 0.995
    mean_gaps = [f.mean_gap.mean for f in figures]
    assert mean_gaps[0] > 0.01 and mean_gaps[0] > 2 * mean_gaps[1] > 20 * mean_gaps[2]
    assert mean_gaps[2] < 3e-4 and figures[2].max_gap < 2e-3


@pytest.mark.parametrize("activation", [nn.Mish, nn.SELU, nn.CELU, nn.Hardswish])
def test_a_mish_selu_celu_or_hardswish_network_is_copied_closely_with_more_pieces(
    activation, digits
):
    """The same 64-32-10 MLP with Mish, SELU, CELU or Hardswish: with 2 pieces 97.8-99.7%
    agreement and a mean probability gap of 0.005-0.045; with 8, 99.4-100% and
    0.0004-0.007; with 32, 100% and under 0.0002 (largest gap 0.0012, Hardswish)."""
    figures = _copies_of_a_digits_mlp(activation, digits)
    assert [f.n_pieces for f in figures] == [2, 8, 32]
    agreements = [f.agreement.mean for f in figures]
    assert agreements[0] <= agreements[1] <= agreements[2] == 1.0
    mean_gaps = [f.mean_gap.mean for f in figures]
    assert mean_gaps[0] > 1e-3 and mean_gaps[0] > 2 * mean_gaps[1] > 20 * mean_gaps[2]
    assert mean_gaps[2] < 3e-4 and figures[2].max_gap < 2e-3


def test_the_figures_are_those_of_the_two_networks_outputs(smooth_mlp, digits):
    X = digits.X_test[:120]
    plnn = to_plnn(smooth_mlp, 3, verbose=False)
    result = plnn_fidelity(smooth_mlp, plnn, X, n_boot=200, random_state=0)
    with torch.inference_mode():
        x = torch.as_tensor(X, dtype=torch.float32)
        p = torch.softmax(smooth_mlp(x).double(), dim=1).numpy()
        q = torch.softmax(plnn(x).double(), dim=1).numpy()
    same = p.argmax(1) == q.argmax(1)
    gap = np.abs(p - q).max(axis=1)
    assert result.agreement.mean == same.mean() and result.agreement.n == 120
    assert result.agreement.ci == wilson_interval(int(same.sum()), 120)
    assert result.mean_gap.mean == pytest.approx(gap.mean(), abs=1e-6)
    assert result.mean_gap.ci[0] < result.mean_gap.mean < result.mean_gap.ci[1]
    assert result.max_gap == pytest.approx(gap.max(), abs=1e-6)
    # the same seed, the same interval; the figures are JSON-ready
    assert plnn_fidelity(smooth_mlp, plnn, X, n_boot=200, random_state=0) == result
    assert json.loads(json.dumps(result.as_dict()))["n_pieces"] == 3
    assert "agreement" in str(result) and isinstance(result, PLNNFidelity)


def test_a_relu_network_is_its_own_plnn(digits):
    # to_plnn leaves ReLU as it is: the copy is exact. A LeNet takes the flat digits
    # through its own input_shape.
    lenet = zoo.lenet(input_shape=(1, 8, 8), n_classes=10, random_state=0)
    result = plnn_fidelity(lenet, to_plnn(lenet, 4), digits.X_test[:50])
    assert result.agreement.mean == 1.0 and result.max_gap == 0.0 and result.n_pieces is None
    assert result.mean_gap.mean == 0.0


def test_the_networks_keep_their_training_mode(smooth_mlp, digits):
    # BlackBox.from_torch puts a module in eval mode for good; the measurement must not
    plnn = to_plnn(smooth_mlp, 4, verbose=False)
    smooth_mlp.train()
    try:
        result = plnn_fidelity(smooth_mlp, plnn, digits.X_test[:30])
        assert smooth_mlp.training and all(m.training for m in smooth_mlp.modules())
        assert not plnn.training and result.agreement.n == 30
    finally:
        smooth_mlp.eval()


def test_bad_arguments(smooth_mlp, digits):
    plnn = to_plnn(smooth_mlp, 4, verbose=False)
    X = digits.X_test[:20]
    with pytest.raises(TypeError, match="plnn_fidelity takes a torch.nn.Module or a torch"):
        plnn_fidelity(smooth_mlp, plnn.state_dict(), X)
    with pytest.raises(ValueError, match="output must be"):
        plnn_fidelity(smooth_mlp, plnn, X, output="proba")
    with pytest.raises(ValueError, match="X contains NaN"):
        plnn_fidelity(smooth_mlp, plnn, np.full((2, 64), np.nan))
    with pytest.raises(ValueError, match="one input per row"):
        plnn_fidelity(smooth_mlp, plnn, X[0])
    with pytest.raises(ValueError, match="expects"):
        plnn_fidelity(smooth_mlp, plnn, X[:, :10])
    three = nn.Sequential(nn.Linear(64, 3))
    with pytest.raises(ValueError, match="module gives 10 classes but plnn gives 3"):
        plnn_fidelity(smooth_mlp, three, X)


def test_a_torch_black_box_gives_what_its_module_gives(smooth_mlp, digits):
    # to_plnn and plnn_fidelity took modules only ("to_plnn takes a torch.nn.Module,
    # got BlackBox"), where LinearRegions and DecisionNet unwrap a torch black box.
    box = zoo.as_blackbox(smooth_mlp)
    plnn, boxed = to_plnn(smooth_mlp, 4, verbose=False), to_plnn(box, 4, verbose=False)
    for name, value in plnn.state_dict().items():
        assert torch.equal(boxed.state_dict()[name], value)
    X = digits.X_test[:60]
    expected = plnn_fidelity(smooth_mlp, plnn, X, n_boot=200, random_state=0)
    for module, copy in [(box, plnn), (smooth_mlp, zoo.as_blackbox(plnn)), (box, boxed)]:
        assert plnn_fidelity(module, copy, X, n_boot=200, random_state=0) == expected
    # A black box that returns probabilities is measured as such, its output read
    # from it: the softmax taken again would shrink every gap.
    softmaxed = nn.Sequential(smooth_mlp, nn.Softmax(dim=1))
    proba = BlackBox.from_torch(softmaxed, input_shape=(64,), output="probabilities")
    result = plnn_fidelity(proba, to_plnn(proba, 4, verbose=False), X, n_boot=200, random_state=0)
    assert result.agreement == expected.agreement
    assert result.max_gap == pytest.approx(expected.max_gap, abs=1e-6)
    assert result.mean_gap.mean == pytest.approx(expected.mean_gap.mean, abs=1e-6)


def test_a_black_box_of_another_kind_is_told_to_distil_first(smooth_mlp, planted_blackbox):
    plnn = to_plnn(smooth_mlp, 3, verbose=False)
    X = np.zeros((2, 64))
    message = (
        r"needs a torch network for {}, but 'LogisticRegression' is a sklearn black box: "
        r"distil it into a torch network first, unboxed\.piecewise\.Distiller\(\)"
    )
    with pytest.raises(TypeError, match="to_plnn " + message.format("module")):
        to_plnn(planted_blackbox, 3)
    with pytest.raises(TypeError, match="plnn_fidelity " + message.format("module")):
        plnn_fidelity(planted_blackbox, plnn, X)
    with pytest.raises(TypeError, match="plnn_fidelity " + message.format("plnn")):
        plnn_fidelity(smooth_mlp, planted_blackbox, X)


def test_a_data_frame_is_read_by_the_black_boxs_column_names(smooth_mlp, digits):
    """A black box with feature names reads a DataFrame's columns by name, as
    LinearRegions does; plnn_fidelity read them by position."""
    import pandas as pd

    names = [f"pixel {j}" for j in range(64)]
    box = zoo.as_blackbox(smooth_mlp, feature_names=names)
    plnn = to_plnn(box, 4, verbose=False)
    X = digits.X_test[:60]
    expected = plnn_fidelity(box, plnn, X, n_boot=200, random_state=0)
    shuffled = pd.DataFrame(X, columns=names)[names[::-1]]
    assert plnn_fidelity(box, plnn, shuffled, n_boot=200, random_state=0) == expected
    with pytest.raises(ValueError, match="pixel 0"):
        plnn_fidelity(box, plnn, shuffled.drop(columns="pixel 0"), n_boot=200)
