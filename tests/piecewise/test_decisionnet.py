import numpy as np
import pytest
import torch

from unboxed import load_dataset, zoo
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
    with pytest.raises(RuntimeError, match="not fitted"):
        DecisionNet(model).predict(moons.X_test)
    three = zoo.mlp((4,), n_features=2, n_classes=3)
    with pytest.raises(ValueError, match="binary"):
        DecisionNet(three, verbose=False).fit(moons.X_train)
    with pytest.raises(ValueError, match="expected"):
        DecisionNet(model, verbose=False).fit(moons.X_train[:, :1])
