import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import interrupt_at
from unboxed import NotFittedError, load_dataset, zoo
from unboxed.piecewise import DecisionNet
from unboxed.piecewise._decisionnet import _crosses, _states, _unit_hyperplanes


@pytest.fixture(scope="module")
def moons_net():
    moons = load_dataset("moons")
    model = zoo.mlp((10, 10, 10), n_features=2, n_classes=2, random_state=0)
    zoo.train(model, moons, epochs=40, lr=1e-2, batch_size=64, random_state=0, verbose=False)
    return model, moons


def _predict(model, X):
    with torch.inference_mode():
        return model(torch.as_tensor(X, dtype=torch.float32)).argmax(1).numpy()


@pytest.mark.parametrize("boundary_only", [True, False])
def test_reproduces_the_network_on_every_training_state(moons_net, boundary_only):
    model, moons = moons_net
    dnet = DecisionNet(model, boundary_only=boundary_only, verbose=False).fit(moons.X_train)
    labels, fallback = dnet.predict(moons.X_train, return_fallback=True)
    np.testing.assert_array_equal(labels, _predict(model, moons.X_train))
    # only ambiguous training states may defer to the network
    assert fallback.sum() == 0 or dnet.n_ambiguous_states_ > 0
    assert 0 < dnet.n_neurons_ <= dnet.n_regions_
    test_labels = dnet.predict(moons.X_test)
    assert np.mean(test_labels == _predict(model, moons.X_test)) > 0.97


def test_boundary_only_keeps_fewer_units(moons_net):
    model, moons = moons_net
    few = DecisionNet(model, verbose=False).fit(moons.X_train)
    every = DecisionNet(model, boundary_only=False, verbose=False).fit(moons.X_train)
    assert few.n_neurons_ < every.n_neurons_


def test_states_and_hyperplane_helpers():
    w, b = _unit_hyperplanes(
        np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]), np.array([1.0, 2.0, 0])
    )
    assert w.shape == (2, 2)  # the first two are one hyperplane
    states = _states(np.array([[0.0, 1.0], [-3.0, -1.0]]), w, b)
    np.testing.assert_array_equal(states, [[True, True], [False, False]])
    box = (np.zeros(2), np.ones(2))
    H, h = np.array([[1.0, 0.0]]), np.array([0.5])  # x <= 0.5
    assert _crosses(H, h, np.array([1.0, 0.0]), -0.25, *box)  # x = 0.25 lies inside
    assert not _crosses(H, h, np.array([1.0, 0.0]), -0.75, *box)  # x = 0.75 lies outside


def test_errors(moons_net):
    model, moons = moons_net
    with pytest.raises(NotFittedError, match=r"DecisionNet is not fitted yet; call fit\(X\)"):
        DecisionNet(model).predict(moons.X_test)
    three = zoo.mlp((4,), n_features=2, n_classes=3)
    with pytest.raises(ValueError, match="binary"):
        DecisionNet(three, verbose=False).fit(moons.X_train)
    with pytest.raises(ValueError, match="expected"):
        DecisionNet(model, verbose=False).fit(moons.X_train[:, :1])


def test_an_ambiguous_state_falls_back_to_the_network():
    # logit_1 - logit_0 = h(x1) - 0.5 with h = x1 on (-inf, 1], 2 - x1 on [1, 2],
    # x1 - 2 beyond: zeros at 0.5, 1.5, 2.5. The data skip the middle region, so
    # x1 = 0.9 (class 1) and x1 = 2.2 (class 0) share a DecisionNet state.
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0], [-1, 0], [1, 0], [1, 0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0, -1, -2]))
        net[2].weight.copy_(torch.tensor([[0.0, 0, 0, 0], [1, -1, -2, 2]]))
        net[2].bias.copy_(torch.tensor([0.0, -0.5]))
    X = np.array([[0.2, 0.0], [0.9, 0.1], [2.2, 0.0], [3.0, 0.1]])
    dnet = DecisionNet(net, verbose=False).fit(X)
    labels, fallback = dnet.predict(X, return_fallback=True)
    np.testing.assert_array_equal(labels, [0, 1, 0, 1])
    assert dnet.n_ambiguous_states_ == 1 and fallback.tolist() == [False, True, True, False]


def test_hyperplanes_keep_their_first_order_and_unit_norm_and_close_ones_apart():
    weights = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 1.0], [1.0, 1e-4]])
    w, b = _unit_hyperplanes(weights, np.array([1.0, 0.0, 0.0, 1.0]))
    # (0, 2, 0) and (0, 1, 0) are one; (1, 1e-4, 1) is not (1, 0, 1)
    expected = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1e-4, 1.0]])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(np.column_stack([w, b]), expected)


def test_a_point_on_a_hyperplane_is_on_its_negative_side():
    states = _states(np.array([[1.0, 5.0], [1.5, 0.0]]), np.array([[1.0, 0.0]]), np.array([-1.0]))
    np.testing.assert_array_equal(states, [[False], [True]])


def test_a_region_with_no_decision_hyperplane_crosses_nothing():
    # w = 0: the logit difference is constant in the region, even where it is 0
    H, h = np.array([[1.0, 0.0]]), np.array([0.5])
    assert not _crosses(H, h, np.zeros(2), 0.0, np.zeros(2), np.ones(2))


def test_a_linear_network_has_one_unit_whose_positive_side_is_class_1():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 2)).double()
    X = np.random.default_rng(0).normal(size=(50, 2))
    dnet = DecisionNet(net, verbose=False).fit(X)
    W, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    plane = np.append(W[1] - W[0], b[1] - b[0])
    np.testing.assert_allclose(dnet.hidden_weights_, [plane[:2] / np.linalg.norm(plane)])
    np.testing.assert_allclose(dnet.hidden_bias_, [plane[2] / np.linalg.norm(plane)])
    side = X @ dnet.hidden_weights_[0] + dnet.hidden_bias_[0] > 0
    np.testing.assert_array_equal(side, (X @ W.T + b).argmax(1) == 1)
    assert dnet.n_regions_ == 1 and dnet.n_neurons_ == 1


def _linear_net(w, b):
    """A linear two-class network whose logit difference is ``w x + b``."""
    net = nn.Sequential(nn.Linear(len(w), 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.0] * len(w), list(w)]))
        net[0].bias.copy_(torch.tensor([0.0, b]))
    return net


def test_a_boundary_outside_the_data_s_box_is_not_a_unit():
    # The decision line x0 = 5 never meets the data in [0, 1]^2: boundary_only drops
    # it (its LP is bounded by the data's box, not by x >= 0 nor unbounded), every
    # input then shares one state, labelled class 0 without falling back.
    X = np.random.default_rng(0).uniform(size=(30, 2))
    net = _linear_net([1.0, 0.0], -5.0)
    dnet = DecisionNet(net, verbose=False).fit(X)
    assert dnet.n_neurons_ == 0 and dnet.n_regions_ == 1
    assert dnet.hidden_weights_.shape == (0, 2)
    labels, fallback = dnet.predict(X, return_fallback=True)
    assert labels.tolist() == [0] * 30 and not fallback.any()
    assert dnet.n_ambiguous_states_ == 0 and dnet.states_ == {b"": 0}
    assert DecisionNet(net, boundary_only=False, verbose=False).fit(X).n_neurons_ == 1


def test_a_boundary_crossing_the_box_below_zero_is_a_unit():
    # Data in [-2, -1]^2, boundary x0 = -1.5 inside it: found even though x < 0.
    X = np.random.default_rng(0).uniform(-2, -1, size=(30, 2))
    dnet = DecisionNet(_linear_net([1.0, 0.0], 1.5), verbose=False).fit(X)
    assert dnet.n_neurons_ == 1
    np.testing.assert_array_equal(dnet.predict(X), (X[:, 0] > -1.5).astype(int))


def test_regions_sharing_one_decision_line_give_one_unit():
    # u0 = relu(x0 + 10) is x0 + 10 on the data, u1 = relu(x1) splits it at x1 = 0,
    # and logit_1 - logit_0 = u0 - 10.5 in both regions: one line x0 = 0.5, two regions.
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([10.0, 0.0]))
        net[2].weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
        net[2].bias.copy_(torch.tensor([0.0, -10.5]))
    X = np.random.default_rng(0).uniform([0, -1], [1, 1], size=(40, 2))
    dnet = DecisionNet(net, verbose=False).fit(X)
    assert dnet.n_regions_ == 2 and dnet.n_neurons_ == 1
    np.testing.assert_allclose(dnet.hidden_weights_, [[1.0, 0.0]] / np.hypot(1, 0.5))
    assert repr(dnet) == "DecisionNet(n_neurons=1)"
    assert repr(DecisionNet(net)) == "DecisionNet(not fitted)"


def test_hyperplanes_equal_but_for_rounding_noise_are_one_unit():
    w, b = _unit_hyperplanes(np.array([[1.0, 2.0], [1.0 + 1e-12, 2.0]]), np.array([0.5, 0.5]))
    assert w.shape == (1, 2) and b.shape == (1,)


def test_a_zero_hyperplane_stays_finite():
    # a region where both logits are equal everywhere gives w = 0, b = 0 (boundary_only
    # off keeps it): no NaN from dividing by its zero norm
    w, b = _unit_hyperplanes(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([0.0, 0.0]))
    np.testing.assert_array_equal(np.column_stack([w, b]), [[0, 0, 0], [0.6, 0.8, 0]])


def test_predict_checks_its_input_and_fit_records_the_width():
    X = np.random.default_rng(0).uniform(size=(10, 3))
    dnet = DecisionNet(_linear_net([1.0, 0.0, 0.0], -0.5), verbose=False).fit(X)
    assert dnet.n_features_in_ == 3
    with pytest.raises(ValueError, match="expected"):
        dnet.predict(X[:, :2])


@pytest.mark.parametrize("flag", ["no", 0, None])
def test_predict_refuses_a_return_fallback_that_is_no_bool(flag):
    # "no" is truthy: it returned a (labels, fallback) tuple where labels were asked for.
    X = np.random.default_rng(0).uniform(size=(10, 3))
    dnet = DecisionNet(_linear_net([1.0, 0.0, 0.0], -0.5), verbose=False).fit(X)
    with pytest.raises(TypeError, match="return_fallback must be True or False, got"):
        dnet.predict(X, return_fallback=flag)
    assert isinstance(dnet.predict(X, return_fallback=np.True_), tuple)


def test_a_single_output_network_is_refused_as_not_binary():
    with pytest.raises(ValueError, match="binary classifiers; the network has 1 outputs"):
        DecisionNet(nn.Linear(2, 1), verbose=False).fit(np.zeros((3, 2)))


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_progress_over_regions(verbose, capsys):
    X = np.random.default_rng(0).uniform(size=(10, 2))
    DecisionNet(_linear_net([1.0, 0.0], -0.5), verbose=verbose).fit(X)
    assert ("regions" in capsys.readouterr().err) == verbose


def test_a_line_that_misses_its_own_region_is_not_a_unit():
    # u0 = relu(x0), u1 = relu(-x0); logit_1 - logit_0 = u0 - 2 u1 + 0.5, which is
    # x0 + 0.5 for x0 > 0 (zero at -0.5: inside the data's box, outside the region)
    # and 2 x0 + 0.5 for x0 < 0 (zero at -0.25, inside): one unit, not two.
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor([[0.0, 0.0], [1.0, -2.0]]))
        net[2].bias.copy_(torch.tensor([0.0, 0.5]))
    X = np.random.default_rng(0).uniform(-1, 1, size=(40, 2))
    dnet = DecisionNet(net, verbose=False).fit(X)
    assert dnet.n_regions_ == 2 and dnet.n_neurons_ == 1
    np.testing.assert_allclose(
        np.append(dnet.hidden_weights_[0], dnet.hidden_bias_[0]), [2, 0, 0.5] / np.hypot(2, 0.5)
    )
    labels, fallback = dnet.predict(X, return_fallback=True)
    np.testing.assert_array_equal(labels, (X[:, 0] > -0.25).astype(int))
    assert not fallback.any()


def _same_fit(a, b):
    np.testing.assert_array_equal(a.hidden_weights_, b.hidden_weights_)
    np.testing.assert_array_equal(a.hidden_bias_, b.hidden_bias_)
    assert a.states_ == b.states_ and a.n_ambiguous_states_ == b.n_ambiguous_states_
    assert (a.n_neurons_, a.n_regions_) == (b.n_neurons_, b.n_regions_)


def test_an_interrupted_fit_resumes_from_its_checkpoint_to_the_same_net(
    moons_net, tmp_path, monkeypatch
):
    from unboxed.piecewise import _decisionnet

    model, moons = moons_net
    X = moons.X_train[:300]
    whole = DecisionNet(model, verbose=False).fit(X)
    path = tmp_path / "dnet.npz"
    calls = interrupt_at(monkeypatch, _decisionnet, "_crosses", stop=25)
    with pytest.raises(KeyboardInterrupt):
        DecisionNet(model, verbose=False, checkpoint=path).fit(X)
    assert path.is_file()  # saved as it stopped, though 10 s had not passed
    calls.update(n=0, stop=None)
    resumed = DecisionNet(model, verbose=False, checkpoint=path).fit(X)
    assert calls["n"] == whole.n_regions_ - 24  # only the regions left were solved
    _same_fit(resumed, whole)
    calls.update(n=0)
    _same_fit(DecisionNet(model, verbose=False, checkpoint=path).fit(X), whole)
    assert calls["n"] == 0  # a finished checkpoint solves nothing again


def test_the_checkpoint_is_saved_during_the_fit_not_only_at_its_end(
    moons_net, tmp_path, monkeypatch
):
    # Saves are spaced by time; with no spacing, region r starts with r checks saved.
    from unboxed._io import read_npz_with_header
    from unboxed.piecewise import _decisionnet

    model, moons = moons_net
    path = tmp_path / "dnet.npz"
    monkeypatch.setattr(_decisionnet, "_SAVE_SECONDS", 0.0)
    seen, real = [], _decisionnet._crosses

    def crosses(*args):
        if path.is_file():
            _, arrays = read_npz_with_header(
                path, what="x", format=_decisionnet.CHECKPOINT_FORMAT, version=1
            )
            seen.append(arrays["crosses"].size)
        return real(*args)

    monkeypatch.setattr(_decisionnet, "_crosses", crosses)
    DecisionNet(model, verbose=False, checkpoint=path).fit(moons.X_train[:100])
    assert seen == list(range(1, len(seen) + 1)) and len(seen) > 5


def test_a_checkpoint_of_other_data_or_a_damaged_one_is_refused(moons_net, tmp_path):
    model, moons = moons_net
    path = tmp_path / "dnet.npz"
    DecisionNet(model, verbose=False, checkpoint=path).fit(moons.X_train[:100])
    with pytest.raises(ValueError, match="made for another network, data or setting"):
        DecisionNet(model, verbose=False, checkpoint=path).fit(moons.X_train[:120])
    other = zoo.mlp((10, 10, 10), n_features=2, n_classes=2, random_state=1)
    with pytest.raises(ValueError, match="made for another network, data or setting"):
        DecisionNet(other, verbose=False, checkpoint=path).fit(moons.X_train[:100])
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="not a DecisionNet checkpoint"):
        DecisionNet(model, verbose=False, checkpoint=path).fit(moons.X_train[:100])
    np.savez(path, crosses=np.ones(3, bool))
    with pytest.raises(ValueError, match="not a DecisionNet checkpoint"):
        DecisionNet(model, verbose=False, checkpoint=path).fit(moons.X_train[:100])
    with pytest.raises(IsADirectoryError, match="is a folder"):
        DecisionNet(model, verbose=False, checkpoint=tmp_path).fit(moons.X_train[:100])


def test_a_black_box_of_another_kind_is_told_to_distil_first(planted_named_blackbox):
    # An sklearn black box was refused "with output='probabilities'", a setting that
    # no scikit-learn model can change.
    with pytest.raises(TypeError, match=r"'LogisticRegression' is a sklearn black box") as err:
        DecisionNet(planted_named_blackbox).fit(np.zeros((4, 20)))
    assert "Distiller().fit(blackbox, X).student_" in str(err.value)
    assert "output=" not in str(err.value)


def _bad_decisionnet_settings(tmp_path):
    """Each case: (kwargs, error, message)."""
    return {
        "three outputs": (
            {"module": zoo.mlp((4,), n_features=2, n_classes=3)},
            ValueError,
            "binary classifiers; the network has 3 outputs",
        ),
        "one output": (
            {"module": nn.Linear(2, 1)},
            ValueError,
            "binary classifiers; the network has 1 outputs",
        ),
        "boundary_only": (
            {"boundary_only": "no"},
            TypeError,
            "boundary_only must be True or False, got str",
        ),
        "folder": ({"checkpoint": tmp_path}, IsADirectoryError, "is a folder"),
        # pathlib's 'expected str, bytes or os.PathLike object, not int' before
        "checkpoint int": (
            {"checkpoint": 5},
            TypeError,
            "checkpoint must be a file name, a str or os.PathLike, got int 5",
        ),
        "checkpoint bool": (
            {"checkpoint": True},
            TypeError,
            "checkpoint must be a file name, a str or os.PathLike, got bool True",
        ),
        # Path("") is the working folder: 'checkpoint  is a folder' before
        "checkpoint empty": ({"checkpoint": ""}, ValueError, "^checkpoint is empty; name a file$"),
        "input_shape": (
            {"input_shape": (3,)},
            ValueError,
            r"does not take inputs of shape \(3,\)",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "three outputs",
        "one output",
        "boundary_only",
        "folder",
        "checkpoint int",
        "checkpoint bool",
        "checkpoint empty",
        "input_shape",
    ],
)
def test_bad_settings_are_refused_when_made_and_set(case, tmp_path):
    # They were refused only by fit, after the data was read; whether a network is
    # binary needs no data.
    kwargs, error, message = _bad_decisionnet_settings(tmp_path)[case]
    binary = _linear_net([1.0, 0.0], -0.5)
    with pytest.raises(error, match=message):
        DecisionNet(**{"module": binary, **kwargs})
    dnet = DecisionNet(binary, verbose=False)
    before = dnet.get_params()
    with pytest.raises(error, match=message):
        dnet.set_params(**kwargs)
    assert dnet.get_params() == before


def test_fit_checks_a_network_set_as_an_attribute():
    dnet = DecisionNet(_linear_net([1.0, 0.0], -0.5), verbose=False)
    dnet.module = zoo.mlp((4,), n_features=2, n_classes=3)
    with pytest.raises(ValueError, match="binary"):
        dnet.fit(np.zeros((3, 2)))


def test_the_fit_reads_a_float64_copy_and_leaves_the_network_as_it_was(moons_net):
    model, moons = moons_net
    before = {name: p.detach().clone() for name, p in model.state_dict().items()}
    dnet = DecisionNet(model, verbose=False).fit(moons.X_train[:200])
    copied = nn.Sequential(*[layer for _, layer in dnet.regions_.layers_]).state_dict()
    original = list(model.state_dict().values())
    assert len(copied) == len(original) > 0
    for got, want in zip(copied.values(), original, strict=True):
        assert got.dtype == torch.float64 and torch.equal(got, want.double())
    for name, p in model.state_dict().items():
        assert p.dtype == torch.float32 and torch.equal(p, before[name]), name


def test_the_fit_reads_the_network_as_it_is_then_not_as_it_was_made_with():
    # The copy the fit keeps is made at fit: a network trained (here, moved) between
    # construction and fit is read as it is then. The copy made at construction only
    # checks the network, and is not kept.
    net = _linear_net([1.0, 0.0], -0.5)  # the line x0 = 0.5
    dnet = DecisionNet(net, verbose=False)
    with torch.no_grad():
        net[0].bias[1] = -0.25  # now x0 = 0.25
    X = np.random.default_rng(0).uniform(size=(50, 2))
    dnet.fit(X)
    np.testing.assert_allclose(dnet.hidden_weights_ * 0.25, [[-dnet.hidden_bias_[0], 0.0]])
    np.testing.assert_array_equal(dnet.predict(X), (X[:, 0] > 0.25).astype(int))


def test_a_boundary_in_a_region_no_training_input_visits_is_missed_without_fallback():
    # What docs/piecewise.md and predict's docstring say: inside the data's box, too,
    # only the visited regions give units. The logit difference 1 - 3 relu(x) +
    # 6 relu(x - 1) - 3 relu(x - 2) is 1 left of 0 and right of 2 and negative in
    # (1/3, 5/3): the training inputs -1 and 3 visit only the two constant regions,
    # so there is no unit, one state labelled class 1, and x = 0.5 (class 0) gets it.
    net = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.ones(3, 1))
        net[0].bias.copy_(torch.tensor([0.0, -1.0, -2.0]))
        net[2].weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [-3.0, 6.0, -3.0]]))
        net[2].bias.copy_(torch.tensor([0.0, 1.0]))
    dnet = DecisionNet(net, verbose=False).fit(np.array([[-1.0], [3.0]]))
    assert dnet.n_neurons_ == 0 and dnet.n_regions_ == 2
    labels, fallback = dnet.predict(np.array([[0.5]]), return_fallback=True)
    assert net(torch.tensor([[0.5]], dtype=torch.float64)).argmax(1).item() == 0
    assert labels.tolist() == [1] and not fallback.any()
    # Visiting the two regions the boundary crosses gives their hyperplanes, at 1/3
    # and 5/3, and the right label.
    dnet = DecisionNet(net, verbose=False).fit(np.array([[-1.0], [0.2], [1.5], [3.0]]))
    assert dnet.n_neurons_ == 2
    assert dnet.predict(np.array([[0.5]])).tolist() == [0]
