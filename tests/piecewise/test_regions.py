import warnings
from copy import deepcopy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from unboxed import Attribution, BlackBox, load_dataset, zoo
from unboxed.piecewise import LinearRegions, PiecewiseActivation, PiecewiseLinear, to_plnn
from unboxed.piecewise._regions import (
    _elementwise_backward,
    _linear_backward,
    _maxpool_backward,
    _maxpool_forward,
)


def _network(seed: int, widths: list[int], n_in: int, n_out: int, leaky: float | None):
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for a, b in zip([n_in, *widths], widths, strict=False):
        layers += [nn.Linear(a, b), nn.ReLU() if leaky is None else nn.LeakyReLU(leaky)]
    layers.append(nn.Linear(widths[-1] if widths else n_in, n_out))
    return nn.Sequential(*layers).double().eval()


def _jacobian(module, X, input_shape):
    x = torch.as_tensor(X, dtype=torch.float64).reshape(-1, *input_shape)
    module = module.double()
    J = torch.func.vmap(torch.func.jacrev(lambda v: module(v[None])[0]))(x)
    return J.reshape(len(X), J.shape[1], -1).detach().numpy()


networks = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 10_000),
        "widths": st.lists(st.integers(1, 12), min_size=1, max_size=3),
        "n_in": st.integers(1, 6),
        "n_out": st.integers(1, 4),
        "leaky": st.one_of(st.none(), st.floats(0.01, 0.5)),
    }
)


@settings(max_examples=40, deadline=None)
@given(config=networks, data_seed=st.integers(0, 10_000))
def test_local_linear_reproduces_the_logits(config, data_seed):
    module = _network(**config)
    X = np.random.default_rng(data_seed).normal(scale=2.0, size=(25, config["n_in"]))
    regions = LinearRegions(module, batch_size=7)
    W, b = regions.local_linear(X)
    assert W.shape == (25, config["n_out"], config["n_in"]) and b.shape == (25, config["n_out"])
    with torch.no_grad():
        logits = module(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, X) + b, logits, atol=1e-5, rtol=0)
    # eq. 5: W~ is the input gradient
    np.testing.assert_allclose(W, _jacobian(module, X, (config["n_in"],)), atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(config=networks, data_seed=st.integers(0, 10_000))
def test_same_activation_pattern_same_local_model(config, data_seed):
    module = _network(**config)
    rng = np.random.default_rng(data_seed)
    # many points close together, so that several share a region
    X = rng.normal(size=(1, config["n_in"])) + rng.normal(scale=0.05, size=(60, config["n_in"]))
    regions = LinearRegions(module)
    W, b = regions.local_linear(X)
    counts = regions.regions(X)
    assert counts.counts.sum() == 60 and np.all(np.diff(counts.counts) <= 0)
    for r in range(counts.n_regions):
        rows = np.flatnonzero(counts.region == r)
        np.testing.assert_allclose(W[rows], np.broadcast_to(W[rows[0]], W[rows].shape), atol=0)
        np.testing.assert_allclose(b[rows], np.broadcast_to(b[rows[0]], b[rows].shape), atol=0)
    # and each region's polytope holds its inputs
    H, h = regions.polytope(X[0])
    inside = (X @ H.T <= h + 1e-9).all(axis=1)
    same = (regions.activation_pattern(X) == regions.activation_pattern(X[:1])).all(axis=1)
    np.testing.assert_array_equal(inside, same)


def test_conv_and_pooling_are_supported_exactly(rng):
    model = zoo.lenet(input_shape=(1, 8, 8), random_state=1)
    avg = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(48, 3)
    )
    for module, shape in ((model, (1, 8, 8)), (avg, (1, 8, 8))):
        X = rng.uniform(size=(9, 64))
        regions = LinearRegions(module, input_shape=shape, batch_size=4)
        W, b = regions.local_linear(X.reshape(9, *shape))
        np.testing.assert_allclose(W, _jacobian(module, X, shape), atol=1e-9)
        np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, X) + b, regions.logits(X), atol=1e-9)


def test_maxpool_helpers_against_autograd(rng):
    layer = nn.MaxPool2d(2)
    z = torch.as_tensor(rng.normal(size=(3, 2, 4, 4)))
    pattern, value, offset = _maxpool_forward(layer, z, z.clone())
    torch.testing.assert_close(value, layer(z))
    torch.testing.assert_close(offset, layer(z))
    grad = torch.as_tensor(rng.normal(size=(3, 5, 2, 2, 2)))
    back = _maxpool_backward(pattern, (2, 4, 4), grad)
    x = z.clone().requires_grad_(True)
    for k in range(5):
        (ref,) = torch.autograd.grad(layer(x), x, grad_outputs=grad[:, k])
        torch.testing.assert_close(back[:, k], ref)


def test_linear_and_elementwise_backward(rng):
    weight = torch.as_tensor(rng.normal(size=(4, 6)))
    grad = torch.as_tensor(rng.normal(size=(2, 3, 4)))
    torch.testing.assert_close(
        _linear_backward(weight, grad), torch.einsum("nko,oi->nki", grad, weight)
    )
    relu = LinearRegions(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)))
    from unboxed.piecewise._regions import _exact_piecewise

    pattern = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0]])
    out = _elementwise_backward(_exact_piecewise(nn.ReLU()), pattern, grad)
    torch.testing.assert_close(out, grad * pattern[:, None, :].double())
    assert relu.n_outputs_ == 2


def test_smooth_network_after_to_plnn():
    model = zoo.mlp((6, 5), "sigmoid", n_features=3, n_classes=2, random_state=0)
    with pytest.raises(ValueError, match="'act1'.*to_plnn"):
        LinearRegions(model)
    regions = LinearRegions(to_plnn(model, 5))
    X = np.random.default_rng(0).normal(size=(30, 3))
    W, b = regions.local_linear(X)
    np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, X) + b, regions.logits(X), atol=1e-9)


@pytest.mark.parametrize(
    ("layer", "name"),
    [
        (nn.Softmax(dim=1), "Softmax"),
        (nn.LSTM(4, 4), "LSTM"),
        (nn.MaxPool2d(2, ceil_mode=True), "ceil"),
        (nn.MaxPool2d(2, return_indices=True), "indices"),
        # Normalises each batch by its own statistics even in eval mode.
        (nn.BatchNorm1d(4, track_running_stats=False), "track_running_stats"),
    ],
)
def test_unsupported_layer_is_named(layer, name):
    module = nn.Sequential(nn.Linear(4, 4), layer, nn.Linear(4, 2))
    with pytest.raises(ValueError, match=f"'1'.*{name}|{name}.*'1'"):
        LinearRegions(module)


@pytest.mark.parametrize("last", [nn.Softmax(dim=1), nn.LogSoftmax(dim=1)])
def test_a_final_softmax_is_named_with_the_way_to_drop_it(last):
    # It got the message of any unknown layer, which listed the supported ones but not
    # that the network's logits, before it, are what is read.
    model = zoo.mlp((5,), n_features=4, n_classes=3, random_state=0)
    name = type(last).__name__
    with pytest.raises(ValueError, match=rf"layer '1' \({name}\) turns the logits .* without it"):
        LinearRegions(nn.Sequential(model, last))


def test_bad_inputs_and_blackbox(rng):
    model = zoo.mlp((5,), n_features=4, n_classes=3, random_state=0)
    regions = LinearRegions(zoo.as_blackbox(model))
    assert regions.input_shape_ == (4,)
    with pytest.raises(ValueError, match="expected"):
        regions.local_linear(rng.normal(size=(3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        regions.local_linear(np.full((2, 4), np.nan))
    with pytest.raises(TypeError, match="takes a torch.nn.Module"):
        LinearRegions("not a module")
    proba = BlackBox.from_torch(
        nn.Sequential(model, nn.Softmax(1)), input_shape=(4,), output="probabilities"
    )
    with pytest.raises(TypeError, match="logits"):
        LinearRegions(proba)
    with pytest.raises(ValueError, match="classes"):
        regions.decision_features(rng.normal(size=(2, 4)), 0, 3)
    with pytest.raises(ValueError, match="classes must be ints"):
        regions.decision_features(rng.normal(size=(2, 4)), 1.5, 0)  # an IndexError before
    # target=True explained class 1; 1.0 stays class 1, as in every explainer
    X = rng.normal(size=(2, 4))
    with pytest.raises(TypeError, match="target holds a bool"):
        regions.explain(X, target=True)
    np.testing.assert_array_equal(regions.explain(X, target=1.0).target, [1, 1])


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        (np.array(["0.5", "1", "2", "3"]), TypeError, "x must be numeric"),  # parsed before
        ([[0.5, 1.0], [2.0]], TypeError, "x could not be converted"),  # numpy's own error
        (np.ones(4, dtype=complex), TypeError, "x must be real"),
        (np.array([0.0, np.inf, 0.0, 0.0]), ValueError, "x contains infinity"),
    ],
)
def test_polytope_checks_its_point(x, error, message):
    regions = LinearRegions(zoo.mlp((5,), n_features=4, n_classes=3, random_state=0))
    with pytest.raises(error, match=message):
        regions.polytope(x)


@pytest.mark.parametrize("input_shape", [(10,), (-1,), (4.5,), ()])
def test_an_input_shape_the_network_cannot_take_is_refused(input_shape):
    model = zoo.mlp((5,), n_features=4, n_classes=3, random_state=0)
    with pytest.raises(ValueError, match="input_shape|does not take inputs"):
        LinearRegions(model, input_shape=input_shape)


def test_a_network_with_nan_weights_is_refused():
    model = zoo.mlp((5,), n_features=4, n_classes=3, random_state=0)
    with torch.no_grad():
        model.fc2.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="fc2.weight holds NaN"):
        LinearRegions(model)  # local_linear and logits were silently NaN


def test_explain_and_decision_features(rng, tmp_path):
    model = zoo.lenet(input_shape=(1, 8, 8), random_state=0)
    regions = LinearRegions(model)
    X = rng.uniform(size=(5, 64))
    attribution = regions.explain(X)
    logits = regions.logits(X)
    W, b = regions.local_linear(X)
    np.testing.assert_array_equal(attribution.target, logits.argmax(1))
    # the contributions and the region's offset add up to the logit exactly (eq. 5)
    rows = np.arange(5)
    np.testing.assert_allclose(
        attribution.values.sum(1) + b[rows, attribution.target],
        logits[rows, attribution.target],
        atol=1e-9,
    )
    assert attribution.image_shape == (1, 8, 8)
    attribution.save(tmp_path / "a.npz")
    assert Attribution.load(tmp_path / "a.npz").meta == attribution.meta
    w, c = regions.decision_features(X, 2, 7)
    np.testing.assert_allclose((w * X).sum(1) + c, logits[:, 2] - logits[:, 7], atol=1e-9)
    weights = regions.explain(X, target=3, kind="weight")
    np.testing.assert_allclose(weights.values, W[:, 3])
    assert "delta" not in weights.meta  # weights do not sum to a logit


def test_explain_records_its_completeness_gap_against_the_forward_pass(rng, monkeypatch):
    """meta["delta"] is sum(values) + b~_c minus the logit of the module itself (its
    float64 copy): about 1e-14. A wrong W~ (here 0.01 added after the fact) shows
    in the gap instead of passing a test it would build itself."""
    model = zoo.lenet(input_shape=(1, 8, 8), random_state=0)
    regions = LinearRegions(model)
    X = rng.uniform(size=(6, 64))
    attribution = regions.explain(X, target=4)
    with torch.no_grad():
        copy = deepcopy(model).double()
        logits = copy(torch.as_tensor(X).reshape(-1, 1, 8, 8))[:, 4].numpy()
    gap = attribution.values.sum(1) + np.array(attribution.meta["intercept"]) - logits
    np.testing.assert_allclose(attribution.meta["delta"], gap, atol=1e-12)
    assert attribution.meta["max_abs_delta"] == pytest.approx(np.abs(gap).max(), abs=1e-15)
    assert attribution.meta["max_abs_delta"] < 1e-10
    real = LinearRegions.local_linear
    monkeypatch.setattr(
        LinearRegions, "local_linear", lambda self, X: (real(self, X)[0] + 0.01, real(self, X)[1])
    )
    wrong = regions.explain(X, target=4)
    assert wrong.meta["max_abs_delta"] > 0.1


@pytest.mark.parametrize(
    "bounds", [(-1, np.nan, -1, 1), (1, -1, 1, -1), (1, 1, 1, 1), (-1, 1, -1), None]
)
def test_boundary_segments_refuses_bounds_that_are_no_box(bounds):
    """NaN bounds were blamed on X; reversed or flat ones silently returned []."""
    from unboxed.piecewise import boundary_segments

    regions = LinearRegions(zoo.mlp((5,), n_features=2, n_classes=2, random_state=0))
    with pytest.raises(ValueError, match="bounds must be 4 finite numbers"):
        boundary_segments(regions, bounds)


def test_boundary_segments_warn_when_an_activation_jumps():
    from unboxed.piecewise import boundary_segments

    sigmoid = zoo.mlp((6,), "sigmoid", n_features=2, n_classes=2, random_state=0)
    # Two tangents of a sigmoid at +-a are parallel: the function steps at the break.
    with pytest.warns(UserWarning, match="jumps"):
        boundary_segments(LinearRegions(to_plnn(sigmoid, 2)), (-2, 2, -2, 2), resolution=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for continuous in (to_plnn(sigmoid, 12), zoo.mlp((6,), n_features=2, n_classes=2)):
            boundary_segments(LinearRegions(continuous), (-2, 2, -2, 2), resolution=20)


def test_plot_decision_boundaries_draws_each_panel_and_refuses_bad_input(rng):
    from unboxed.piecewise import plot_decision_boundaries

    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    relu = zoo.mlp((6,), n_features=2, n_classes=2, random_state=0)
    smooth = zoo.mlp((6,), "tanh", n_features=2, n_classes=2, random_state=0)
    torch.manual_seed(0)
    pooled = nn.Sequential(  # max pooling: its regions' polygons are not drawn (it crashed)
        nn.Linear(2, 8), nn.Unflatten(1, (1, 8)), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(4, 2)
    ).double()
    panels = [("relu", relu), ("tanh", smooth), ("pooled", pooled)]
    fig = plot_decision_boundaries(panels, X, y, resolution=30)
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert titles[0].startswith("relu\n") and "(exact)" in titles[0]
    assert titles[1].startswith("tanh") and "zero contour" in titles[1]
    assert titles[2].startswith("pooled") and "zero contour" in titles[2]
    three = zoo.mlp((6,), n_features=2, n_classes=3, random_state=0)
    with pytest.raises(ValueError, match="3 outputs"):
        plot_decision_boundaries([("three", three)], X, y, resolution=30)
    for panels, labels, margin, message in [
        ([], y, 0.5, "panels is empty"),  # a matplotlib error before
        ([("relu", relu)], y[:5], 0.5, "y must have shape"),  # drawn as it came before
        ([("relu", relu)], y, np.nan, "margin must be a finite number"),
    ]:
        with pytest.raises(ValueError, match=message):
            plot_decision_boundaries(panels, X, labels, margin=margin, resolution=30)


def test_hardtanh_networks_are_linearised_exactly():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.Hardtanh(-0.5, 0.7), nn.Linear(8, 2)).double()
    X = np.random.default_rng(0).normal(scale=2.0, size=(40, 3))
    W, b = LinearRegions(net).local_linear(X)
    with torch.no_grad():
        logits = net(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, X) + b, logits, atol=1e-9)


def test_boundary_segments_lie_on_the_decision_boundary():
    from unboxed.piecewise import boundary_segments

    regions = LinearRegions(zoo.mlp((6,), n_features=2, n_classes=2, random_state=0))
    segments = boundary_segments(regions, (-3, 3, -3, 3), resolution=60)
    assert segments
    points = np.concatenate([np.stack([s[0], s[1], s.mean(0)]) for s in segments])
    logits = regions.logits(points)
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], 0.0, atol=1e-9)


def test_region_indices_point_at_their_own_pattern():
    # Units relu(x) and relu(-x): x < 0 is pattern (0, 1), x > 0 is (1, 0), which the
    # three positive inputs visit most, so it is region 0.
    net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[0].bias.zero_()
    regions = LinearRegions(net)
    X = np.array([[-2.0], [-1.0], [1.0], [2.0], [3.0]])
    counts = regions.regions(X)
    np.testing.assert_array_equal(counts.patterns, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(counts.counts, [3, 2])
    np.testing.assert_array_equal(counts.region, [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(counts.patterns[counts.region], regions.activation_pattern(X))


@pytest.mark.parametrize("batched", [False, True])
def test_polytope_slacks_are_the_distances_of_the_pre_activations_to_the_breaks(batched):
    # The pieces of a linearised sigmoid have intercepts, which carry into the
    # pre-activations of the next layer and so into its constraints: at x, each
    # constraint's slack h - H x is how far a unit's pre-activation is from a break.
    # Batched, 2 rows of 3 features go through at once (batch_size 7): no row may
    # take another's pieces.
    model = zoo.mlp((6, 5), "sigmoid", n_features=3, n_classes=2, random_state=0)
    regions = LinearRegions(to_plnn(model, 5, verbose=False), batch_size=7)
    layers = dict(regions.layers_)
    X = np.random.default_rng(0).normal(scale=3.0, size=(5, 3))
    found = regions._polytopes(X) if batched else [regions.polytope(x) for x in X]
    for x, (H, h) in zip(X, found, strict=True):
        expected, value = [], torch.as_tensor(x[None])
        with torch.no_grad():
            for linear, act in (("fc1", "act1"), ("fc2", "act2")):
                z = layers[linear](value)[0].numpy()
                function = layers[act].function
                piece, breaks = function.piece_index(z), function.breakpoints
                low, high = piece > 0, piece < function.n_pieces - 1
                expected += [z[low] - breaks[piece[low] - 1], breaks[piece[high]] - z[high]]
                value = layers[act](layers[linear](value))
        np.testing.assert_allclose(h - H @ x, np.concatenate(expected), atol=1e-9)


@pytest.mark.parametrize(
    ("pool", "n_hidden", "width"),
    [
        (nn.MaxPool1d(3, stride=1, padding=1), 8, 8),
        # Each window picks from inputs 3 apart: a pattern read without the dilation
        # points at the wrong inputs.
        (nn.MaxPool1d(2, stride=1, dilation=3), 9, 6),
    ],
    ids=["padded", "dilated"],
)
def test_max_pooling_is_linearised_exactly(rng, pool, n_hidden, width):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(3, n_hidden),
        nn.Unflatten(1, (1, n_hidden)),
        pool,
        nn.Flatten(),
        nn.Linear(width, 2),
    ).double()
    X = rng.normal(size=(20, 3))
    regions = LinearRegions(net)
    W, b = regions.local_linear(X)
    np.testing.assert_allclose(W, _jacobian(net, X, (3,)), atol=1e-9)
    with torch.no_grad():
        logits = net(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, X) + b, logits, atol=1e-9)


def test_boundary_segments_warn_when_any_break_jumps():
    from unboxed.piecewise import PiecewiseActivation, PiecewiseLinear, boundary_segments

    # Continuous at 0, a step of -0.5 at 1: one jump is enough to warn.
    function = PiecewiseLinear(
        np.array([0.0, 1.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 0.5]), 0.0
    )
    np.testing.assert_allclose(function.jumps, [0.0, -0.5])
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), PiecewiseActivation(function), nn.Linear(3, 2)).double()
    with pytest.warns(UserWarning, match="jumps \\(by up to 0.5\\)"):
        boundary_segments(LinearRegions(net), (-2, 2, -2, 2), resolution=10)


def test_boundary_segments_warn_when_a_threshold_layer_jumps():
    """Threshold(0.2, -0.5) steps by 0.7 at 0.2, as a linearised activation may; with
    its value equal to its threshold it is continuous and nothing is said."""
    from unboxed.piecewise import boundary_segments

    torch.manual_seed(0)
    for layer, jump in ((nn.Threshold(0.2, -0.5), 0.7), (nn.Threshold(0.4, 0.4), None)):
        net = nn.Sequential(nn.Linear(2, 3), layer, nn.Linear(3, 2)).double()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            boundary_segments(LinearRegions(net), (-2, 2, -2, 2), resolution=10)
        messages = [str(w.message) for w in caught]
        if jump is None:
            assert messages == []
        else:
            assert len(messages) == 1 and f"jumps (by up to {jump:.3g})" in messages[0]


def test_input_shape_is_read_only_from_a_network_that_starts_fully_connected():
    # The first Linear layer here takes the convolution's 8 outputs, not the 6 inputs.
    conv = nn.Sequential(nn.Unflatten(1, (1, 6)), nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(ValueError, match="pass input_shape: it cannot be read"):
        LinearRegions(conv)
    assert LinearRegions(conv, input_shape=(6,)).n_features_in_ == 6
    flat = nn.Sequential(nn.Flatten(), nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2))
    assert LinearRegions(flat).input_shape_ == (6,)


def test_a_one_piece_activation_bounds_nothing():
    """An affine activation (one piece, no breaks) adds no constraints: the network is
    one region, its W~ and b~ those of the composed affine maps."""
    affine = PiecewiseActivation(PiecewiseLinear(np.array([]), np.array([2.0]), np.ones(1), 0.0))
    net = nn.Sequential(nn.Linear(2, 3), affine, nn.Linear(3, 2)).double()
    regions = LinearRegions(net)
    H, h = regions.polytope(np.array([0.3, -0.2]))
    assert H.shape == (0, 2) and h.shape == (0,)
    W, b = regions.local_linear(np.zeros((1, 2)))
    W1, b1 = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    W2, b2 = net[2].weight.detach().numpy(), net[2].bias.detach().numpy()
    np.testing.assert_allclose(W[0], 2 * W2 @ W1)
    np.testing.assert_allclose(b[0], W2 @ (2 * b1 + 1) + b2)


def test_a_network_left_in_training_mode_is_read_in_eval_mode(rng):
    """Dropout and batch norm are affine only in eval mode: the regions are those of the
    eval-mode network, and the caller's network keeps its own mode."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(3, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 2)
    ).double()
    with torch.no_grad():  # running statistics far from the defaults 0 and 1
        net[1].running_mean.copy_(torch.linspace(-1, 1, 6, dtype=torch.float64))
        net[1].running_var.copy_(torch.linspace(0.5, 3, 6, dtype=torch.float64))
    assert net.training
    regions = LinearRegions(net)
    assert net.training
    X = rng.normal(size=(10, 3))
    W, b = regions.local_linear(X)
    net.eval()
    with torch.no_grad():
        logits = net(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, X) + b, logits, atol=1e-9)
    np.testing.assert_allclose(W, _jacobian(net, X, (3,)), atol=1e-9)


def test_an_output_that_is_not_a_batch_of_logit_vectors_is_refused():
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 4), nn.Unflatten(1, (2, 2)))
    with pytest.raises(ValueError, match=r"must return \(n, n_outputs\) logits, got \(1, 2, 2\)"):
        LinearRegions(net)


def test_a_layer_inside_nested_sequentials_is_named_by_its_full_path():
    net = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Tanh())), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"layer '0\.1\.0' \(Tanh\)"):
        LinearRegions(net)


def test_a_two_dimensional_input_is_explained_as_an_image(rng):
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    attribution = LinearRegions(net, input_shape=(3, 4)).explain(rng.normal(size=(2, 3, 4)))
    assert attribution.image_shape == (3, 4)
    flat = LinearRegions(net, input_shape=(12,)).explain(rng.normal(size=(2, 12)))
    assert flat.image_shape is None


def test_region_indices_hold_for_three_regions_ranked_out_of_pattern_order():
    """Units relu(x) and relu(x - 1): patterns (0, 0), (1, 0), (1, 1) from left to right,
    visited 2, 1 and 3 times, so ranked 1, 2, 0. With two regions the ranking is its
    own inverse and a mix-up between the two cannot show."""
    net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -1.0]))
    regions = LinearRegions(net)
    X = np.array([[-2.0], [0.5], [2.0], [-1.0], [3.0], [4.0]])
    counts = regions.regions(X)
    np.testing.assert_array_equal(counts.patterns, [[1, 1], [0, 0], [1, 0]])
    np.testing.assert_array_equal(counts.counts, [3, 2, 1])
    np.testing.assert_array_equal(counts.region, [1, 2, 0, 1, 0, 0])
    np.testing.assert_array_equal(counts.patterns[counts.region], regions.activation_pattern(X))


def test_an_input_shape_passed_with_a_black_box_wins_over_the_black_boxs(rng):
    """The network takes flat rows or 1 x 4 x 4 images; the black box was given flat
    rows, the caller asks for images."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.ReLU(), nn.Linear(5, 2))
    blackbox = BlackBox.from_torch(net, input_shape=(16,))
    assert LinearRegions(blackbox).input_shape_ == (16,)
    regions = LinearRegions(blackbox, input_shape=(1, 4, 4))
    assert regions.input_shape_ == (1, 4, 4)
    attribution = regions.explain(rng.normal(size=(3, 1, 4, 4)))
    assert attribution.image_shape == (1, 4, 4)


def test_attributions_name_the_classes_given_or_the_black_boxs(rng, tmp_path):
    # With no black box to ask, the attributions had no class_names: plots read
    # "class 0" for a model fitted on ["cat", "dog", "eel"].
    model = zoo.mlp((5,), n_features=4, n_classes=3, random_state=0)
    X = rng.normal(size=(2, 4))
    named = LinearRegions(model, class_names=["cat", "dog", "eel"]).explain(X, target=2)
    assert named.class_names == ("cat", "dog", "eel")
    assert named.target.tolist() == [2, 2]  # target stays the output's index
    assert "row 0, class eel" in named.plot(0).axes[0].get_title()
    named.save(tmp_path / "a.npz")
    assert Attribution.load(tmp_path / "a.npz").class_names == ("cat", "dog", "eel")
    box = BlackBox.from_torch(model, input_shape=(4,), classes=[1, 2, 3])
    assert LinearRegions(box).explain(X, target=0).class_names == ("1", "2", "3")
    assert LinearRegions(box, class_names=("a", "b", "c")).class_names_ == ("a", "b", "c")
    assert LinearRegions(model).explain(X).class_names is None
    with pytest.raises(ValueError, match="class_names has 2 entries; expected 3"):
        LinearRegions(model, class_names=["cat", "dog"])


def test_a_zoo_model_s_class_names_name_the_attributions(rng):
    """zoo.train and zoo.load name a zoo model's classes (and to_plnn's copy keeps
    them): LinearRegions reads them as it reads the model's input_shape, where its
    attributions had none ("class 1")."""
    model = zoo.mlp((5,), n_features=4, n_classes=3, activation="tanh", random_state=0)
    model.class_names = ("cat", "dog", "eel")
    X = rng.normal(size=(2, 4))
    plnn = to_plnn(model, 4, verbose=False)
    assert LinearRegions(plnn).explain(X, target=1).class_names == ("cat", "dog", "eel")
    assert LinearRegions(plnn, class_names=("a", "b", "c")).class_names_ == ("a", "b", "c")


@pytest.mark.parametrize(
    "activation",
    [
        nn.Hardsigmoid(),
        nn.ReLU6(),
        nn.PReLU(init=-0.3),
        nn.Threshold(0.2, -0.5),  # a step of 0.7 at 0.2
        nn.Threshold(0.4, 0.4),  # continuous: ReLU moved to (0.4, 0.4)
    ],
    ids=["hardsigmoid", "relu6", "prelu", "threshold-jump", "threshold"],
)
def test_more_piecewise_linear_activations_are_linearised_exactly(activation):
    """Each is piecewise linear, so W~ x + b~ of every region is the torch model's
    output, and to_plnn keeps the layer as it is."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(3, 12), activation, nn.Linear(12, 12), deepcopy(activation), nn.Linear(12, 2)
    ).double()
    X = np.random.default_rng(0).normal(scale=4.0, size=(300, 3))
    regions = LinearRegions(net)
    W, b = regions.local_linear(X)
    with torch.no_grad():
        logits = net(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, X) + b, logits, atol=1e-9)
    np.testing.assert_allclose(regions.logits(X), logits, atol=1e-9)
    assert regions.regions(X).n_regions > 3  # the inputs span several pieces
    assert isinstance(to_plnn(net, 4, verbose=False)[1], type(activation))


def test_hardsigmoid_has_three_regions_with_their_own_slopes():
    """On one input through Hardsigmoid alone: 0 up to -3, x / 6 + 1/2 up to 3, then 1;
    the polytope of each region is its interval."""
    net = nn.Sequential(nn.Linear(1, 1), nn.Hardsigmoid(), nn.Linear(1, 1)).double()
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.fill_(1.0)
            layer.bias.fill_(0.0)
    regions = LinearRegions(net)
    X = np.linspace(-6.0, 6.0, 121)[:, None]
    counts = regions.regions(X)
    assert counts.n_regions == 3
    W, b = regions.local_linear([[-4.0], [0.5], [4.0]])
    np.testing.assert_allclose(W[:, 0, 0], [0.0, 1 / 6, 0.0], atol=1e-15)
    np.testing.assert_allclose(b[:, 0], [0.0, 0.5, 1.0], atol=1e-15)
    H, h = regions.polytope([0.5])  # -3 <= x <= 3
    np.testing.assert_allclose(np.sort(h / np.abs(H[:, 0])), [3.0, 3.0])
    # -3 belongs to the piece on its left, as torch's relu6(x + 3) / 6 gives 0 there
    assert regions.activation_pattern([[-3.0], [3.0]]).tolist() == [[0], [1]]


def test_a_prelu_with_a_slope_per_channel_is_linearised_exactly():
    """One learned slope per channel (dimension 1, as torch applies it), after a linear
    layer and after a convolution, with slopes of both signs: W~ x + b~ is the model's
    output, and the polytope of an input holds the points that share its pattern."""
    torch.manual_seed(0)
    dense = nn.Sequential(
        nn.Linear(3, 5), nn.PReLU(5), nn.Linear(5, 4), nn.PReLU(4), nn.Linear(4, 2)
    ).double()
    conv = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.PReLU(3), nn.Flatten(), nn.Linear(3 * 4 * 4, 3)
    ).double()
    with torch.no_grad():
        dense[1].weight.copy_(torch.tensor([-0.5, 0.0, 0.1, 0.7, 2.0]))
        dense[3].weight.copy_(torch.tensor([3.0, -1.0, 0.2, 0.05]))
        conv[1].weight.copy_(torch.tensor([-0.3, 0.4, 1.5]))
    rng = np.random.default_rng(0)
    for net, shape in ((dense, (3,)), (conv, (1, 6, 6))):
        X = rng.normal(scale=2.0, size=(50, *shape))
        regions = LinearRegions(net, input_shape=shape)
        W, b = regions.local_linear(X)
        flat = X.reshape(len(X), -1)
        with torch.no_grad():
            logits = net(torch.as_tensor(X)).numpy()
        np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, flat) + b, logits, atol=1e-9)
        np.testing.assert_allclose(regions.logits(X), logits, atol=1e-9)
        for i in range(5):  # autograd's Jacobian, row by row (vmap trips on PReLU)
            jac = torch.autograd.functional.jacobian(
                lambda v, net=net, shape=shape: net(v.reshape(1, *shape))[0],
                torch.as_tensor(flat[i]),
            )
            np.testing.assert_allclose(W[i], jac.numpy(), atol=1e-9)
    # Points near an input lie in its polytope exactly when they share its pattern: the
    # second layer's constraints go through the first layer's per-channel slopes.
    regions, x = LinearRegions(dense), rng.normal(scale=2.0, size=(1, 3))
    near = x + rng.normal(scale=0.5, size=(2000, 3))
    H, h = regions.polytope(x[0])
    inside = np.all(near @ H.T <= h, axis=1)
    patterns = regions.activation_pattern(near)
    same = np.all(patterns == regions.activation_pattern(x), axis=1)
    assert 100 < same.sum() < 1900
    np.testing.assert_array_equal(inside, same)


@pytest.mark.parametrize("layer", [nn.Mish(), nn.SELU(), nn.CELU(), nn.Hardswish()])
def test_the_new_smooth_activations_point_to_to_plnn(layer):
    module = nn.Sequential(nn.Linear(4, 4), layer, nn.Linear(4, 2))
    with pytest.raises(ValueError, match=f"'1' \\({type(layer).__name__}\\).*to_plnn"):
        LinearRegions(module)
    regions = LinearRegions(to_plnn(module, 6, verbose=False))
    X = np.random.default_rng(0).normal(size=(20, 4))
    W, b = regions.local_linear(X)
    np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, X) + b, regions.logits(X), atol=1e-9)


class _ShiftedReLU(nn.ReLU):
    """A user's ReLU that computes relu(x - 1): read as an nn.ReLU, its regions were
    wrong without a word."""

    def forward(self, x):
        return torch.relu(x - 1.0)


class _SquaredLinear(nn.Linear):
    def forward(self, x):
        return super().forward(x) ** 2


class _NamedReLU(nn.ReLU):
    """A subclass that keeps torch's forward computes a ReLU: still read exactly."""


class _NamedHardtanh(nn.Hardtanh):
    def __init__(self):
        super().__init__(-0.5, 2.0)


@pytest.mark.parametrize(
    ("layer", "parent"),
    [
        (_ShiftedReLU(), "ReLU"),
        (_SquaredLinear(4, 4), "Linear"),
        (
            type("MyHardtanh", (nn.Hardtanh,), {"forward": lambda self, x: x.clamp(-2.0, 2.0)})(),
            "Hardtanh",
        ),
    ],
)
def test_a_subclass_that_overrides_forward_is_refused_by_name(layer, parent):
    module = nn.Sequential(nn.Linear(4, 4), layer, nn.Linear(4, 2))
    name = type(layer).__name__
    with pytest.raises(ValueError, match=f"'1' \\({name}\\).*{parent}.*forward"):
        LinearRegions(module)


def test_a_subclass_that_keeps_torchs_forward_is_read_exactly(rng):
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(3, 6), _NamedReLU(), nn.Linear(6, 5), _NamedHardtanh(), nn.Linear(5, 2)
    ).double()
    X = rng.normal(scale=2.0, size=(40, 3))
    regions = LinearRegions(module)
    W, b = regions.local_linear(X)
    with torch.no_grad():
        logits = module(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(np.einsum("nkd,nd->nk", W, X) + b, logits, atol=1e-12, rtol=0)


class _Residual(nn.Sequential):
    """x + layers(x): flattened as a plain Sequential, its skip was lost without a word."""

    def forward(self, x):
        return x + super().forward(x)


def test_a_sequential_that_overrides_forward_is_refused_by_name():
    module = nn.Sequential(nn.Linear(4, 4), _Residual(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"'1' \(_Residual\).*Sequential.*forward"):
        LinearRegions(module)


def test_a_black_boxs_feature_names_label_and_read_the_inputs(planted, planted_logreg):
    # Given a black box with feature names, the attributions came without them (bars
    # labelled x0, x1, ...), and a DataFrame was read by position: in another column
    # order, DecisionNet answered for other rows.
    import pandas as pd

    from tests.helpers import PLANTED_COLUMNS, torch_logistic_regression
    from unboxed.piecewise import DecisionNet

    net = torch_logistic_regression(planted_logreg)  # both classes among the rows
    box = BlackBox.from_torch(net, input_shape=(20,), feature_names=PLANTED_COLUMNS)
    frame = pd.DataFrame(planted.X_test[:40], columns=list(PLANTED_COLUMNS))
    regions = LinearRegions(box)
    explained = regions.explain(frame)
    assert explained.feature_names == regions.feature_names_ == PLANTED_COLUMNS
    np.testing.assert_array_equal(regions.explain(frame.iloc[:, ::-1]).values, explained.values)
    dnet = DecisionNet(box, verbose=False).fit(planted.X_train[:400])
    labels = dnet.predict(frame)
    assert 0 < labels.mean() < 1
    np.testing.assert_array_equal(dnet.predict(frame.iloc[:, ::-1]), labels)
    assert LinearRegions(net).explain(frame).feature_names is None  # a bare network has none


def test_explain_names_a_dataframes_rows_by_its_index(digits):
    """Its Attribution kept no index, where the local explainers' do: the panels of a
    DataFrame's rows 70..72 were titled "row 0".."row 2"."""
    import pandas as pd

    net = zoo.mlp((8,), n_features=64, n_classes=10, random_state=0)
    frame = pd.DataFrame(digits.X_test[:3], index=[70, 71, 72])
    for regions in (LinearRegions(net), LinearRegions(zoo.as_blackbox(net))):
        for kind in ("contribution", "weight"):
            explained = regions.explain(frame, kind=kind)
            assert explained.row_names == ("70", "71", "72")
            assert explained.plot(1).axes[0].get_title().startswith("linear regions: row 71, ")
            unnamed = regions.explain(frame.to_numpy(), kind=kind)
            assert unnamed.row_names is None
            np.testing.assert_array_equal(explained.values, unnamed.values)


def test_polytope_of_several_inputs_says_it_takes_one():
    # Two digits were read as one input of 128 features: "X has shape (1, 128)".
    digits = load_dataset("digits")
    regions = LinearRegions(zoo.mlp((16,), n_features=64, n_classes=10, random_state=0))
    with pytest.raises(ValueError, match=r"one input.*\(64,\).*got shape \(2, 64\)") as err:
        regions.polytope(digits.X_test[:2])
    # A flat input's shape was offered twice: "of shape (64,) or (64,)".
    assert "(64,) or" not in str(err.value)
    # An image network's flat and image shapes are both offered.
    lenet = LinearRegions(zoo.lenet(input_shape=(1, 8, 8), n_classes=10, random_state=0))
    with pytest.raises(ValueError, match=r"of shape \(64,\) or \(1, 8, 8\)"):
        lenet.polytope(digits.X_test[:2])
    # One input in a batch of one is still that input's region.
    for got, expected in zip(
        regions.polytope(digits.X_test[:1]), regions.polytope(digits.X_test[0]), strict=True
    ):
        np.testing.assert_array_equal(got, expected)


def test_one_sample_is_told_to_come_as_a_batch_and_shapes_are_not_repeated():
    digits = load_dataset("digits")
    flat = LinearRegions(zoo.mlp((16,), n_features=64, n_classes=10, random_state=0))
    with pytest.raises(ValueError, match=r"single sample \(64,\).*X\[None\]"):
        flat.local_linear(digits.X_test[0])
    # The flat shape was offered twice: "(n_samples, 64) or (n_samples, 64)".
    with pytest.raises(ValueError, match=r"expected \(n_samples, 64\)$"):
        flat.explain(digits.X_test[:2, :10])
    lenet = zoo.build("lenet", input_shape=digits.input_shape, n_classes=10)
    images = LinearRegions(lenet)
    image = digits.X_test[0].reshape(digits.input_shape)
    with pytest.raises(ValueError, match=r"single sample \(1, 8, 8\).*X\[None\]"):
        images.local_linear(image)
    with pytest.raises(ValueError, match=r"expected \(n_samples, 64\) or \(n_samples, 1, 8, 8\)"):
        images.local_linear(digits.X_test[:2, :10])
    np.testing.assert_array_equal(
        images.local_linear(image[None])[0], images.local_linear(digits.X_test[:1])[0]
    )


@pytest.mark.parametrize("dropout", [nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout])
def test_every_kind_of_dropout_passes_through_as_in_eval_mode(dropout):
    # Identity in eval mode, as nn.Dropout, but refused: "cannot handle layer '1'".
    digits = load_dataset("digits")
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3) if dropout is not nn.Dropout1d else nn.Conv1d(1, 2, 3)
    shape = (1, 8, 8) if dropout is not nn.Dropout1d else (1, 64)
    width = 72 if dropout is not nn.Dropout1d else 124
    head = [nn.ReLU(), nn.Flatten(), nn.Linear(width, 10)]
    with_dropout = nn.Sequential(conv, dropout(0.5), *head).train()
    without = nn.Sequential(conv, *head)
    X = digits.X_test[:20]
    explained = LinearRegions(with_dropout, input_shape=shape).explain(X)
    reference = LinearRegions(without, input_shape=shape).explain(X)
    np.testing.assert_array_equal(explained.values, reference.values)
    assert explained.meta["max_abs_delta"] < 1e-12


def test_batches_give_the_whole_inputs_answers_and_a_bar_that_can_be_silenced(rng, capsys):
    """logits and activation_pattern run batch by batch, as local_linear does, under a
    progress bar where verbose (the LeNet regions of 10,000 images took 28.8 s with
    none); the rows of a batch are those of the whole."""
    model = zoo.lenet(input_shape=(1, 8, 8), random_state=1)
    X = rng.uniform(size=(23, 64))
    whole = LinearRegions(model, batch_size=64)
    batched = LinearRegions(model, batch_size=5, verbose=True)
    np.testing.assert_array_equal(batched.activation_pattern(X), whole.activation_pattern(X))
    np.testing.assert_allclose(batched.logits(X), whole.logits(X), rtol=0, atol=1e-12)
    batched.regions(X)
    assert "LinearRegions patterns" in capsys.readouterr().err
    whole.regions(X)
    whole.local_linear(X)
    assert capsys.readouterr().err == ""
