"""Activation maximization (002_3e5e1762af60ee33.txt): every class reaches p >= 0.9."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

from tests.helpers import (
    assert_progress_shown,
    assert_refused_on_load,
    breast_cancer_box,
    save_without_field,
)
from unboxed import BlackBox, zoo
from unboxed.blackbox import BlackBoxError
from unboxed.probes import REGULARIZERS, ActivationMaximization, Prototypes, nearest_distance
from unboxed.probes._activation import _blur, _penalty


@pytest.fixture(scope="module")
def digits_vae(digits):
    vae = zoo.vae(n_features=64, latent_dim=8, hidden=(128,), random_state=0)
    zoo.train_vae(vae, digits.X_train, epochs=40, batch_size=64, random_state=0, verbose=False)
    return vae


@pytest.mark.parametrize("regularizer", REGULARIZERS)
def test_every_digits_class_reaches_090(regularizer, digits_blackbox, digits):
    protos = ActivationMaximization(
        digits_blackbox, regularizer=regularizer, steps=200, random_state=0
    ).explain()
    assert isinstance(protos, Prototypes)
    assert np.array_equal(protos.target, np.arange(10))
    assert protos.probability.min() >= 0.9, protos.probability
    assert protos.values.min() >= 0.0 and protos.values.max() <= 1.0
    assert protos.image_shape == (8, 8)


def test_generator_constrained_is_more_realistic(digits_blackbox, digits, digits_vae):
    plain = ActivationMaximization(
        digits_blackbox, regularizer="none", steps=200, random_state=0
    ).explain()
    constrained = ActivationMaximization(
        digits_blackbox, regularizer="none", generator=digits_vae, steps=200, random_state=0
    ).explain()
    assert constrained.latent.shape == (10, 8)
    assert constrained.probability.mean() >= 0.9
    # x* = G(z*): the images are the decoder's outputs
    with torch.no_grad():
        decoded = digits_vae.decode(torch.tensor(constrained.latent, dtype=torch.float32))
    assert np.allclose(constrained.values, decoded.double().numpy(), atol=1e-6)
    near_plain = nearest_distance(plain.values, digits.X_train)
    near_gen = nearest_distance(constrained.values, digits.X_train)
    assert near_gen.mean() < 0.7 * near_plain.mean()
    assert digits_vae.elbo(constrained.values).mean() > digits_vae.elbo(plain.values).mean()


def test_more_starts_keep_each_targets_best_of_the_separate_searches(monkeypatch, digits_blackbox):
    # Record each start's points, then search from each alone: the batch of starts
    # must keep, per class, the start whose own search ends highest.
    starts = []
    record = ActivationMaximization._start

    def recording(self, n, gen, like):
        starts.append(record(self, n, gen, like))
        return starts[-1].clone()

    monkeypatch.setattr(ActivationMaximization, "_start", recording)
    options = {"regularizer": "none", "steps": 5, "random_state": 0}
    before = digits_blackbox.n_queries
    best = ActivationMaximization(digits_blackbox, n_starts=3, **options).explain()
    # 3 starts x 10 classes, at each of 5 steps and at the last points, + the probabilities
    assert digits_blackbox.n_queries - before == 3 * 10 * (5 + 1) + 10
    alone = []
    for start in list(starts):
        monkeypatch.setattr(ActivationMaximization, "_start", lambda *_, s=start: s.clone())
        alone.append(ActivationMaximization(digits_blackbox, **options).explain())
    activation = np.array([a.activation for a in alone])
    winner = activation.argmax(0)
    assert best.meta["best_start"] == winner.tolist() and set(winner) != {0}
    np.testing.assert_allclose(best.activation, activation.max(0), atol=1e-5)
    chosen = np.array([alone[s].values[c] for c, s in enumerate(winner)])
    np.testing.assert_allclose(best.values, chosen, atol=1e-5)
    assert best.meta["parameters"]["n_starts"] == 3


def test_one_start_draws_what_it_always_drew(digits_blackbox):
    # start 0 of several is the single start: its class can only gain
    options = {"regularizer": "none", "steps": 5, "random_state": 4}
    one = ActivationMaximization(digits_blackbox, **options).explain()
    three = ActivationMaximization(digits_blackbox, n_starts=3, **options).explain()
    assert np.all(three.activation >= one.activation - 1e-5)
    assert "best_start" not in one.meta


@pytest.mark.parametrize("n_starts", [0, -1, 1.5, True])
def test_n_starts_must_be_a_positive_int(digits_blackbox, n_starts):
    with pytest.raises((ValueError, TypeError), match="n_starts"):
        ActivationMaximization(digits_blackbox, n_starts=n_starts)


def test_n_starts_too_many_to_hold_is_refused_before_the_search():
    # A Python loop of 10**12 draws grew until memory ran out, without a word.
    box = BlackBox.from_torch(torch.nn.Linear(64, 3), input_shape=(64,))
    search = ActivationMaximization(box, n_starts=10**12, random_state=0)
    with pytest.raises(
        ValueError, match=r"n_starts=1000000000000 is too large: .*\(3000000000000, 64\)"
    ):
        search.explain()
    assert box.n_queries == 0


def test_hidden_unit_and_subset_of_classes(digits_blackbox):
    am = ActivationMaximization(digits_blackbox, regularizer="l2", steps=50, random_state=0)
    protos = am.explain([2, 7])
    assert protos.target.tolist() == [2, 7] and protos.probability.shape == (2,)
    units = am.explain([0, 5], layer="fc1")
    assert units.probability is None and units.meta["layer"] == "fc1"
    start = digits_blackbox.features(np.full((1, 64), 0.5), "fc1")[0, [0, 5]]
    assert np.all(units.activation > start)
    # the reported activation is each target unit's own value at its returned input
    reached = digits_blackbox.features(units.values, "fc1")[[0, 1], [0, 5]]
    np.testing.assert_allclose(units.activation, reached, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="no layer"):
        am.explain([0], layer="nope")
    with pytest.raises(ValueError, match="pass target"):
        am.explain(layer="fc1")
    with pytest.raises(ValueError, match="only 10 classes"):
        am.explain([10])


def test_same_seed_same_prototypes_and_models_untouched(digits_blackbox, tmp_path):
    before = {k: v.clone() for k, v in digits_blackbox.module.state_dict().items()}
    grads = [
        None if p.grad is None else p.grad.clone() for p in digits_blackbox.module.parameters()
    ]
    first = ActivationMaximization(
        digits_blackbox, regularizer="jitter", steps=30, random_state=4
    ).explain([1, 3])
    second = ActivationMaximization(
        digits_blackbox, regularizer="jitter", steps=30, random_state=4
    ).explain([1, 3])
    assert np.array_equal(first.values, second.values)
    for key, value in digits_blackbox.module.state_dict().items():
        assert torch.equal(value, before[key])
    # the search differentiates with autograd.grad: the model's .grad fields are untouched
    for p, grad in zip(digits_blackbox.module.parameters(), grads, strict=True):
        assert (p.grad is None and grad is None) or torch.equal(p.grad, grad)
    first.save(tmp_path / "p.npz")
    loaded = Prototypes.load(tmp_path / "p.npz")
    assert np.array_equal(loaded.values, first.values)
    shown = [ax.images[0].get_array() for ax in first.plot().axes if ax.images]
    assert len(shown) == 2  # each prototype as its own 8x8 image
    for image, values in zip(shown, first.values, strict=True):
        np.testing.assert_array_equal(image, values.reshape(8, 8))


@pytest.mark.parametrize(
    ("options", "target", "layer"),
    [
        ({"regularizer": "jitter", "steps": 12, "blur_every": 5, "n_starts": 2}, [0, 3], None),
        ({"regularizer": "l2", "steps": 6, "n_starts": 2}, [0, 5], "fc1"),
    ],
)
def test_the_same_seed_gives_the_same_search_bit_for_bit(digits_blackbox, options, target, layer):
    # Every draw (starts, jitter shifts) and the choice of each target's best start:
    # not close but equal, scores and meta included.
    runs = [
        ActivationMaximization(digits_blackbox, random_state=3, **options).explain(
            target, layer=layer
        )
        for _ in range(2)
    ]
    first, second = runs
    for field in ("values", "activation", "target"):
        assert np.array_equal(getattr(first, field), getattr(second, field)), field
    assert (first.probability is None) == (layer is not None)
    assert first.probability is None or np.array_equal(first.probability, second.probability)
    assert first.meta == second.meta and first.meta["layer"] == layer
    assert len(first.meta["best_start"]) == 2


def test_penalties_against_hand_computed_values():
    x = torch.tensor([[0.0, 1.0, 0.5, 0.5]])
    assert _penalty(x, "l2", None).item() == pytest.approx(1.5)
    assert _penalty(-x, "l1", None).item() == pytest.approx(2.0)
    # 2x2 image [[0, 1], [0.5, 0.5]]: vertical |0.5-0|+|0.5-1| = 1, horizontal 1 + 0 = 1
    assert _penalty(x, "tv", (2, 2)).item() == pytest.approx(2.0)
    # vertical stripes change only along the rows, horizontal ones only down the columns
    vertical = torch.tensor([[0.0, 1.0, 0.0, 0.0, 1.0, 0.0]])  # [[0, 1, 0], [0, 1, 0]]
    assert _penalty(vertical, "tv", (2, 3)).item() == pytest.approx(4.0)
    horizontal = torch.tensor([[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]])  # [[0, 0], [1, 1], [0, 0]]
    assert _penalty(horizontal, "tv", (3, 2)).item() == pytest.approx(4.0)
    assert _penalty(x, "none", None).item() == 0.0
    flat = torch.full((1, 9), 0.3)
    assert torch.allclose(_blur(flat, (3, 3), 0.5), flat)


def test_blur_is_a_normalised_3x3_gaussian_with_edge_padding():
    image = np.random.default_rng(0).uniform(size=(4, 5))
    sigma = 0.7
    k1 = np.exp(-(np.arange(-1, 2) ** 2) / (2 * sigma**2))
    kernel = np.outer(k1, k1) / np.outer(k1, k1).sum()
    padded = np.pad(image, 1, mode="edge")
    expected = np.array(
        [[(padded[i : i + 3, j : j + 3] * kernel).sum() for j in range(5)] for i in range(4)]
    )
    blurred = _blur(torch.tensor(image.reshape(1, 20)), (4, 5), sigma)
    np.testing.assert_allclose(blurred.numpy().reshape(4, 5), expected, atol=1e-12)


def test_nearest_distance_against_brute_force(rng):
    X, ref = rng.normal(size=(5, 3)), rng.normal(size=(40, 3))
    brute = np.sort(np.linalg.norm(X[:, None] - ref[None], axis=2), axis=1)
    assert np.allclose(nearest_distance(X, ref), brute[:, 0])
    assert np.allclose(nearest_distance(X, ref, k=3), brute[:, :3].mean(1))
    unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    scaled = nearest_distance(0.01 * X, ref, normalize=True)  # brightness does not matter
    cosine = np.linalg.norm(X[:, None] / np.linalg.norm(X, axis=1)[:, None, None] - unit, axis=2)
    assert np.allclose(scaled, cosine.min(1))
    with pytest.raises(ValueError, match="all-zero row"):
        nearest_distance(np.zeros((1, X.shape[1])), ref, normalize=True)
    with pytest.raises(ValueError, match="features"):
        nearest_distance(X, ref[:, :2])
    # Finite but huge rows once overflowed their squares to inf and NaN.
    assert np.allclose(nearest_distance(1e200 * X, 1e200 * ref), 1e200 * brute[:, 0])
    # k may be every reference row; all-zero data is at distance 0 (no 0 / 0)
    assert np.allclose(nearest_distance(X, ref, k=40), brute.mean(1))
    np.testing.assert_array_equal(nearest_distance(np.zeros((2, 3)), np.zeros((4, 3))), 0.0)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"regularizer": "l3"}, ValueError),
        ({"strength": -1.0}, ValueError),
        ({"lr": 0}, ValueError),
        ({"lr": float("inf")}, ValueError),  # was accepted: a bang-bang 0/1 image
        ({"bounds": (1.0, 0.0)}, ValueError),
        ({"bounds": (0.0,)}, ValueError),  # "not enough values to unpack"
        ({"bounds": None}, ValueError),
        ({"bounds": (-1e308, 1e308)}, ValueError),  # overflowed float32 to inf and NaN
        ({"bounds": (-3e38, 3e38)}, ValueError),  # each fits float32, the width does not
        ({"steps": 0}, ValueError),
        ({"generator": "vae"}, TypeError),
    ],
)
def test_bad_hyperparameters(digits_blackbox, kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        ActivationMaximization(digits_blackbox, **kwargs)


def test_needs_a_torch_black_box_and_a_matching_generator(planted_blackbox, digits_blackbox):
    with pytest.raises(TypeError, match="torch"):
        ActivationMaximization(planted_blackbox)
    with pytest.raises(ValueError, match="features"):
        ActivationMaximization(digits_blackbox, generator=zoo.vae(n_features=20))
    box = BlackBox.from_torch(zoo.mlp((4,), n_features=20, n_classes=2), input_shape=(20,))
    # Set past the constructor's checks, the regularizer is still refused by explain.
    for regularizer in ("tv", "jitter"):
        am = ActivationMaximization(box)
        am.regularizer = regularizer
        with pytest.raises(ValueError, match=f"regularizer='{regularizer}' needs"):
            am.explain()


def test_a_black_box_set_directly_is_refused_by_explain_as_by_the_constructor(
    planted_blackbox, digits_blackbox
):
    # A scikit-learn black box set past the constructor failed in the search's set-up
    # on its module, None: "'NoneType' object has no attribute 'parameters'".
    am = ActivationMaximization(digits_blackbox, steps=1)
    am.blackbox = planted_blackbox
    with pytest.raises(TypeError, match="ActivationMaximization needs a torch model, but"):
        am.explain()
    am.blackbox = digits_blackbox.module  # a bare module, not a black box
    with pytest.raises(TypeError, match="blackbox must be"):
        am.explain()


@pytest.mark.parametrize("regularizer", ["tv", "jitter"])
def test_an_image_regularizer_on_a_table_is_refused_when_made_and_set(regularizer):
    # It was refused only when explain ran, after the user had set up the search.
    box = BlackBox.from_torch(zoo.mlp((4,), n_features=20, n_classes=2), input_shape=(20,))
    message = f"regularizer='{regularizer}' needs \\(H, W\\) image inputs.*\\(20,\\)"
    with pytest.raises(ValueError, match=message):
        ActivationMaximization(box, regularizer=regularizer)
    am = ActivationMaximization(box, regularizer="l1")
    with pytest.raises(ValueError, match=message):
        am.set_params(regularizer=regularizer)
    assert am.regularizer == "l1"


class _Failing(torch.nn.Module):
    """Logits from a linear layer; under the search (inputs that need gradients) it
    raises or returns NaN, as ``mode`` says."""

    def __init__(self, mode: str):
        super().__init__()
        self.linear, self.mode = torch.nn.Linear(20, 2), mode

    def forward(self, x):
        if self.mode == "raise" and x.requires_grad:
            raise RuntimeError("the model is broken")
        out = self.linear(x)
        return out * float("nan") if self.mode == "nan" and x.requires_grad else out


def test_a_failing_model_is_named_not_blamed_on_x():
    for mode, error, message in [
        ("raise", BlackBoxError, "raised RuntimeError"),
        ("nan", FloatingPointError, "objective became NaN"),  # was "X contains NaN"
    ]:
        box = BlackBox.from_torch(_Failing(mode), input_shape=(20,))
        with pytest.raises(error, match=message):
            ActivationMaximization(box, steps=3).explain()
    box = BlackBox.from_torch(_Failing("none"), input_shape=(20,))
    with pytest.raises(ValueError, match="target is empty"):  # once "X is empty", after the search
        ActivationMaximization(box, steps=3).explain([])


class _RaisesInBackward(torch.autograd.Function):
    """The identity, whose gradient fails."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("no gradient here")


class _NoGradient(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(20, 2)

    def forward(self, x):
        return self.linear(_RaisesInBackward.apply(x))


class _FailingOnBatches(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(20, 2)

    def forward(self, x):
        if len(x) > 1 and x.requires_grad:
            raise RuntimeError("out of memory")
        return self.linear(x)


def test_a_failing_model_is_named_on_the_searchs_own_points():
    # Each said "on a batch of 6 rows" (of 1 row), rows the user never passed: the failing
    # batch holds the search's points, one per start and target. A model that raises on
    # every point is named on the first.
    box = BlackBox.from_torch(_Failing("raise"), input_shape=(20,))
    with pytest.raises(BlackBoxError) as raised:
        ActivationMaximization(box, steps=3, n_starts=2).explain([0, 1, 0])
    assert str(raised.value) == (
        "black box '_Failing' raised RuntimeError on the point searched at step 0 for "
        "class 0, from start 0 of 2: the model is broken"
    )
    # One whose batch fails where no point does alone names the batch's points.
    box = BlackBox.from_torch(_FailingOnBatches(), input_shape=(20,))
    with pytest.raises(BlackBoxError) as raised:
        ActivationMaximization(box, steps=3, n_starts=2).explain([0, 1])
    assert str(raised.value) == (
        "black box '_FailingOnBatches' raised RuntimeError on a batch of 4 rows (the point "
        "searched at step 0 for class 0, from start 0 of 2 to the point searched at step 0 "
        "for class 1, from start 1 of 2), though none of them raised alone: out of memory"
    )
    # The gradient's failure is the batch's: one row's gradient is not run alone.
    box = BlackBox.from_torch(_NoGradient(), input_shape=(20,))
    with pytest.raises(BlackBoxError) as raised:
        ActivationMaximization(box, steps=3).explain([1])
    assert str(raised.value) == (
        "black box '_NoGradient' raised RuntimeError at step 0 of the search, on the "
        "points of its 1 start x 1 target: no gradient here"
    )


def _fit_on_iris(net, *, one_versus_rest=False):
    """Fit ``net`` on iris with Adam, 200 steps: to its classes by cross-entropy, or,
    ``one_versus_rest``, each output (a sigmoid) to its class by binary cross-entropy.
    Returns iris's class names and its features' (min, max)."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    X, y = torch.tensor(iris.data, dtype=torch.float32), torch.tensor(iris.target)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        if one_versus_rest:
            Y = torch.nn.functional.one_hot(y, 3).float()
            torch.nn.functional.binary_cross_entropy(net(X), Y).backward()
        else:
            torch.nn.functional.cross_entropy(net(X), y).backward()
        optimizer.step()
    return list(iris.target_names), (iris.data.min(0), iris.data.max(0))


class _OneVersusRest(torch.nn.Module):
    """Per-class sigmoids fitted on iris, one versus the rest: rows that need not sum to
    1, wrapped as probabilities. Keeps each batch it is given outside the search."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Sigmoid())
        self.class_names, self.bounds = _fit_on_iris(self.net, one_versus_rest=True)
        self.batches = []

    def forward(self, x):
        if not x.requires_grad:
            self.batches.append(x.detach().clone())
        return self.net(x)


def test_a_bad_answer_on_a_found_point_names_its_class_and_start():
    # The final query of the points found was reported on "row 0 of X", of an X the
    # user never passed: the search checks no row's sum, so a model whose rows are no
    # probabilities gets that far.
    model = _OneVersusRest()
    box = BlackBox.from_torch(
        model, output="probabilities", input_shape=(4,), class_names=model.class_names
    )
    am = ActivationMaximization(box, steps=50, bounds=model.bounds, random_state=0)
    with pytest.raises(ValueError, match=r": the point found for class virginica sums to "):
        am.explain([2])
    model.batches.clear()
    with pytest.raises(ValueError) as raised:
        am.set_params(n_starts=2).explain([2])
    assert str(raised.value).startswith(
        "black box '_OneVersusRest' returned rows that are not probabilities: the point "
        "found for class virginica, from start 1 of 2 sums to "
    )
    # The last points of the search, start by start, then the one queried: start 1's.
    searched, queried = model.batches
    assert torch.equal(queried[0], searched[1]) and not torch.equal(queried[0], searched[0])


class _IrisRefusing(torch.nn.Module):
    """Logits fitted on iris. ``refuse`` (a row) is answered by ``mode``: "raise", "nan"
    (NaN logits), or "nan_grad" (finite logits whose gradient is NaN there); every other
    row as usual. Keeps each batch it is given outside the search."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
        )
        self.class_names, self.bounds = _fit_on_iris(self.net)
        self.refuse, self.mode, self.batches = None, "raise", []

    def forward(self, x):
        if not x.requires_grad:
            self.batches.append(x.detach().clone())
        hit = torch.zeros(len(x), dtype=torch.bool)
        if self.refuse is not None:
            hit = (x == self.refuse).all(1)
        if self.mode == "raise" and hit.any():
            raise RuntimeError("cannot answer this point")
        if self.mode == "nan_grad":
            x = _NaNGradientOn.apply(x, hit)
        out = self.net(x)
        return torch.where(hit[:, None], float("nan"), out) if self.mode == "nan" else out


class _NaNGradientOn(torch.autograd.Function):
    """The identity, whose gradient is NaN on the rows of ``hit``."""

    @staticmethod
    def forward(ctx, x, hit):
        ctx.save_for_backward(hit)
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        (hit,) = ctx.saved_tensors
        return torch.where(hit[:, None], float("nan"), grad), None


def _last_points(am, layer=None):
    """The points of ``am``'s search for versicolor and virginica on its last step (rows:
    start 0's two targets, then start 1's...), from its model's record."""
    model = am.blackbox.module
    model.batches.clear()
    am.explain([1, 2], layer=layer)
    # Before it, for a layer, the probe of its width; after it, for classes, the points kept.
    (last,) = [batch for batch in model.batches if len(batch) == 4]
    model.batches.clear()
    return last


def _iris_search(steps):
    model = _IrisRefusing()
    box = BlackBox.from_torch(model, input_shape=(4,), class_names=model.class_names)
    return ActivationMaximization(box, steps=steps, bounds=model.bounds, n_starts=2, random_state=0)


def test_a_model_that_fails_on_the_points_found_names_their_class_and_start():
    # The last step's points were scored outside the black box's guard: a model that
    # raised on them gave its raw RuntimeError; one that answered NaN there made that
    # start the "best" (argmax of NaN), and failed on the class's probability or, on the
    # output layer, in Prototypes on "activation contains NaN", a field never passed.
    am = _iris_search(steps=5)
    model = am.blackbox.module
    for layer, name in [(None, "class virginica"), ("net.1", "unit 2")]:
        model.refuse = None
        model.refuse = _last_points(am, layer)[3]  # start 1's point for the second target
        with pytest.raises(BlackBoxError) as raised:
            am.explain([1, 2], layer=layer)
        assert str(raised.value) == (
            f"black box '_IrisRefusing' raised RuntimeError on the point found for {name}, "
            "from start 1 of 2: cannot answer this point"
        )
    for layer in (None, "logits"):
        model.refuse, model.mode = None, "nan"
        model.refuse = _last_points(am, layer)[3]  # each layer's search has its own
        with pytest.raises(FloatingPointError) as raised:
            am.explain([1, 2], layer=layer)
        # What predict_proba says of its inputs: the point's largest feature.
        largest = float(model.refuse.abs().max())
        assert str(raised.value) == (
            "the objective became NaN or infinite at the points found, after the search's "
            "last step, first for class virginica, from start 1 of 2: the model's output "
            "is not finite there from inputs within the range of the model's torch.float32 "
            f"(up to {largest:g}) (a lower lr or strength may help)"
        )


def test_an_overflowing_penalty_is_named_not_blamed_on_the_model(digits_blackbox):
    # The points start within 1e19 of 0, where the sum of their squares overflows float32
    # and the model's output is finite: the objective's inf was blamed on "the model's
    # output". (At 1.5e38, in bounds (0, 3e38), this model's output is not finite.)
    options = {"bounds": (-1e20, 1e20), "steps": 2, "random_state": 0}
    with pytest.raises(FloatingPointError) as raised:
        ActivationMaximization(digits_blackbox, **options).explain([1])
    assert str(raised.value) == (
        "the objective became NaN or infinite at step 0, first for class 1: the l2 penalty "
        "overflowed (narrow the bounds or lower the strength)"
    )
    # The model's output is finite there: without the penalty the same search runs (a
    # weight of 0 made it 0 * inf, NaN, and refused the search as well).
    for strength in (None, 0.0):
        regularizer = "none" if strength is None else "l2"
        found = ActivationMaximization(
            digits_blackbox, regularizer=regularizer, strength=strength, **options
        ).explain([1])
        assert np.all(np.isfinite(found.activation)) and np.abs(found.values).max() > 1e18


def test_a_model_output_that_is_not_finite_says_how_large_the_point_was(digits_blackbox):
    # Points near 1.5e38, in bounds (0, 3e38), overflow the model's float32 arithmetic:
    # the message said only "the model's output is not finite there", where
    # predict_proba on such a point says how large its inputs were. The fix is narrower
    # bounds: the hint was "a lower lr or strength may help", at step 0, with no penalty.
    am = ActivationMaximization(
        digits_blackbox, regularizer="none", bounds=(0.0, 3e38), steps=2, random_state=0
    )
    with pytest.raises(FloatingPointError) as raised:
        am.explain([1])
    message = str(raised.value)
    found = re.fullmatch(
        r"the objective became NaN or infinite at step 0, first for class 1: the model's "
        r"output is not finite there from inputs within the range of the model's "
        r"torch\.float32 \(up to (\S+)\) \(narrow the bounds: past 1\.84e\+19, an input's "
        r"square overflows torch\.float32\)",
        message,
    )
    assert found, message
    # The start: each feature 0.45 to 0.55 of the way between the bounds.
    assert 0.45 * 3e38 < float(found[1]) <= 0.55 * 3e38
    with pytest.raises(ValueError, match=r"from inputs within the range of the model's torch"):
        digits_blackbox.predict_proba(np.full((1, 64), float(found[1])))


class _NaNGradientPast(torch.nn.Module):
    """``inner``, whose gradient is NaN at inputs past ``limit`` in magnitude: a backward
    pass can overflow where the forward does not."""

    def __init__(self, inner, limit):
        super().__init__()
        self.inner, self.limit = inner, limit

    def forward(self, x):
        return self.inner(_NaNGradientOn.apply(x, x.abs().amax(1) > self.limit))


def test_a_model_gradient_that_is_not_finite_at_a_huge_point_points_to_the_bounds():
    # The hint was "a lower lr or strength may help", at step 0, from the middle of the
    # bounds, with no penalty.
    box = _iris_softmax_regression()
    box = BlackBox.from_torch(
        _NaNGradientPast(box.module, 1e6), input_shape=(4,), class_names=box.class_names
    )
    for high, hint in [
        (1e20, "narrow the bounds: past 1.84e+19, an input's square overflows torch.float32"),
        (1e7, "a lower lr or strength may help"),
    ]:
        am = ActivationMaximization(
            box, regularizer="none", bounds=(0.0, high), steps=2, random_state=0
        )
        with pytest.raises(FloatingPointError) as raised:
            am.explain([1])
        assert str(raised.value).startswith(
            "the objective's gradient became NaN or infinite at step 0, first for class "
            "versicolor: the model's gradient is not finite there from inputs within the "
            "range of the model's torch.float32 (up to "
        )
        assert str(raised.value).endswith(f") ({hint})")


@pytest.mark.parametrize("step", [2, 4])
def test_a_model_that_raises_on_a_point_at_a_step_names_it_by_class_and_start(step):
    # It was reported on the step's whole batch: "at step 2 of the search, on the points
    # of its 2 starts x 2 targets".
    am = _iris_search(steps=5)
    model = am.blackbox.module
    # The search's points at step `step` are the last of a search of that many steps.
    model.refuse = _last_points(ActivationMaximization(**{**am.get_params(), "steps": step}))[
        2
    ]  # start 1's versicolor
    with pytest.raises(BlackBoxError) as raised:
        am.explain([1, 2])
    assert str(raised.value) == (
        f"black box '_IrisRefusing' raised RuntimeError on the point searched at step {step} "
        "for class versicolor, from start 1 of 2: cannot answer this point"
    )


@pytest.mark.parametrize("step", [2, 4])
def test_a_nan_gradient_is_refused_at_its_step_naming_the_class_and_start(step):
    # A NaN gradient at the last step left the point NaN, and explain failed on "X
    # contains NaN", of an X the user never passed; one at an earlier step was blamed on
    # the model's output at the next.
    am = _iris_search(steps=5)
    model = am.blackbox.module
    # The search's points at step `step` are the last of a search of that many steps.
    model.refuse = _last_points(ActivationMaximization(**{**am.get_params(), "steps": step}))[
        2
    ]  # start 1's versicolor
    model.mode = "nan_grad"
    with pytest.raises(FloatingPointError) as raised:
        am.explain([1, 2])
    assert str(raised.value) == (
        f"the objective's gradient became NaN or infinite at step {step}, first for class "
        "versicolor, from start 1 of 2: the model's gradient is not finite there from "
        "inputs within the range of the model's torch.float32 (up to "
        f"{float(model.refuse.abs().max()):g}) (a lower lr or strength may help)"
    )


def _iris_softmax_regression():
    """A softmax regression fitted on iris: its gradient in the input, the differences
    of its weights (up to about 5), is the same everywhere."""
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    class_names, _ = _fit_on_iris(net)
    return BlackBox.from_torch(net, input_shape=(4,), class_names=class_names)


class _RaisingUnderTheSearch(torch.nn.Module):
    """``inner``, which raises on the search's points (inputs that need gradients), or
    answers them NaN with ``nan``, or raises in their gradient alone with ``backward``,
    and keeps them."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen, self.nan, self.backward = inner, [], False, False

    def forward(self, x):
        if not x.requires_grad:
            return self.inner(x)
        self.seen.append(x.detach().clone())
        if self.nan:
            return self.inner(x) * float("nan")
        if self.backward:
            return self.inner(_RaisingBackward.apply(x))
        raise RuntimeError("cannot answer this point")


class _RaisingBackward(torch.autograd.Function):
    """The identity, whose gradient raises."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("cannot differentiate this point")


def test_a_model_that_fails_under_the_jitter_is_named_on_the_jittered_point(
    monkeypatch, digits_lenet, digits
):
    # It was "the point searched at step 0 for class 4", though the model was asked
    # about that point's image rolled by the jitter, another point.
    starts = []
    record = ActivationMaximization._start

    def recording(self, n, gen, like):
        starts.append(record(self, n, gen, like))
        return starts[-1].clone()

    monkeypatch.setattr(ActivationMaximization, "_start", recording)
    model = _RaisingUnderTheSearch(digits_lenet)
    box = BlackBox.from_torch(model, input_shape=digits.input_shape)
    am = ActivationMaximization(box, regularizer="jitter", jitter=2, steps=3, random_state=2)
    with pytest.raises(BlackBoxError) as raised:
        am.explain([4])
    assert str(raised.value) == (
        "black box '_RaisingUnderTheSearch' raised RuntimeError on the jittered point "
        "searched at step 0 for class 4 (its image rolled 1 pixel up and 2 pixels left): "
        "cannot answer this point"
    )
    # The shift named is the one the model saw, and the only one within the jitter.
    (start,) = starts  # in bounds (0, 1), the point is its place
    image, seen = start.reshape(8, 8), model.seen[0].reshape(8, 8)
    rolls = [
        (dy, dx)
        for dy in range(-2, 3)
        for dx in range(-2, 3)
        if torch.equal(torch.roll(image, (dy, dx), dims=(0, 1)), seen)
    ]
    assert rolls == [(-1, -2)]
    # Its output there, NaN: "not finite there" named the point searched too.
    model.nan = True
    with pytest.raises(FloatingPointError) as raised:
        am.explain([4])
    assert str(raised.value) == (
        "the objective became NaN or infinite at step 0, first for class 4: the model's "
        "output is not finite at its jittered point (its image rolled 1 pixel up and 2 "
        "pixels left) from inputs within the range of the model's torch.float32 (up to "
        f"{float(start.max()):g}) (a lower lr or strength may help)"
    )
    # Its gradient raising: it was "on the points of its 1 start x 1 target", the batch
    # before the shift.
    model.nan, model.backward = False, True
    with pytest.raises(BlackBoxError) as raised:
        am.explain([4])
    assert str(raised.value) == (
        "black box '_RaisingUnderTheSearch' raised RuntimeError at step 0 of the search, on "
        "the jittered points of its 1 start x 1 target (their images rolled 1 pixel up and 2 "
        "pixels left): cannot differentiate this point"
    )


def test_a_gradient_that_overflows_is_named_by_its_term_not_blamed_on_the_model():
    # Both were "the model's gradient is not finite there (a lower lr or strength may
    # help)", though the model's gradient is finite everywhere.
    box = _iris_softmax_regression()
    assert np.isfinite(box.gradient(np.full((1, 4), 1.7e37), 1)).all()
    # The widest bounds float32 allows: the search moves u, x = low + u * (high - low),
    # and 3.4e38 times the model's finite gradient overflows.
    wide = ActivationMaximization(
        box, regularizer="none", bounds=(-1.7e38, 1.7e38), steps=3, random_state=0
    )
    with pytest.raises(FloatingPointError) as raised:
        wide.explain()
    assert str(raised.value) == (
        "the objective's gradient became NaN or infinite at step 0, first for class "
        "versicolor: the gradient in the input is finite there but overflows times the "
        "bounds' width, 3.4e+38, as the search moves each feature's place between them "
        "(narrow the bounds)"
    )
    # An l2 penalty of 2e38 * sum(x**2), finite near x = (1, 0.005, 0.005, 0.005), has the
    # gradient 2e38 * 2x, which is not.
    heavy = ActivationMaximization(
        box,
        strength=2e38,
        bounds=(np.zeros(4), np.array([2.0, 0.01, 0.01, 0.01])),
        steps=3,
        random_state=0,
    )
    with pytest.raises(FloatingPointError) as raised:
        heavy.explain()
    assert str(raised.value) == (
        "the objective's gradient became NaN or infinite at step 0, first for class "
        "setosa: the l2 penalty's gradient overflowed (narrow the bounds or lower the "
        "strength)"
    )


class _NanGradientInRow3(torch.autograd.Function):
    """z unchanged forward; backward, a NaN gradient for row 3 of the batch alone."""

    @staticmethod
    def forward(ctx, z):
        return z.clone()

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        grad[3] = float("nan")
        return grad


def test_a_generator_whose_gradient_fails_on_a_later_row_is_named():
    # _gradient_why took the latent prior's gradient on that row alone, then read row 3
    # of it: "IndexError: index 3 is out of bounds for dimension 0 with size 1".
    box = _iris_softmax_regression()
    vae = zoo.vae(n_features=4, latent_dim=2, hidden=(8,), random_state=0)
    decode = vae.decode
    vae.decode = lambda z: decode(_NanGradientInRow3.apply(z))
    am = ActivationMaximization(box, generator=vae, steps=3, n_starts=2, random_state=0)
    with pytest.raises(FloatingPointError) as raised:
        am.explain([1, 2])
    assert str(raised.value) == (
        "the objective's gradient became NaN or infinite at step 0, first for class "
        "virginica, from start 1 of 2: the generator's gradient is not finite there (a "
        "lower lr may help)"
    )


def test_a_generator_that_decodes_a_last_point_to_nan_is_named():
    # The point found was NaN, chosen as best (argmax of NaN), and refused as "X contains
    # NaN", of an X the user never passed.
    model = _IrisRefusing()
    box = BlackBox.from_torch(model, input_shape=(4,), class_names=model.class_names)
    vae = zoo.vae(n_features=4, latent_dim=2, hidden=(8,), random_state=0)
    decode = vae.decode

    def nan_on_the_last(z):
        # The search decodes its last points without gradients: start 1's for virginica.
        out = decode(z)
        if torch.is_grad_enabled():
            return out
        return torch.where((torch.arange(len(out)) == 3)[:, None], float("nan"), out)

    vae.decode = nan_on_the_last
    am = ActivationMaximization(
        box, generator=vae, bounds=model.bounds, steps=3, n_starts=2, random_state=0
    )
    with pytest.raises(FloatingPointError) as raised:
        am.explain([1, 2])
    assert str(raised.value) == (
        "the point searched became NaN or infinite at the points found, after the search's "
        "last step, first for class virginica, from start 1 of 2: the generator's output is "
        "not finite there (a lower lr or strength may help)"
    )


class _Parameterless(torch.nn.Module):
    def forward(self, x):
        total = x.reshape(len(x), -1).sum(1)
        return torch.stack([total, -total], 1)


def test_a_model_without_parameters_is_searched_in_float32():
    box = BlackBox.from_torch(_Parameterless(), input_shape=(4,))  # a bare StopIteration
    found = ActivationMaximization(box, steps=50, lr=0.1, random_state=0).explain([1])
    # Class 1 wants small inputs: from about 0.5 each (p = 0.02) down to the bound at 0,
    # where p = 0.5 is the best the bounds allow.
    assert found.probability[0] > 0.45 and np.all(found.values < 0.1)


def test_a_generators_images_are_held_to_the_bounds_during_the_search():
    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 4, bias=False)
    box = BlackBox.from_torch(linear, input_shape=(16,))
    vae = zoo.vae(n_features=16, latent_dim=2, hidden=(8,))
    found = ActivationMaximization(
        box, regularizer="none", steps=30, lr=0.1, generator=vae, bounds=(0.0, 0.5), random_state=0
    ).explain([1, 2])
    decoded = vae.decode(torch.tensor(found.latent, dtype=torch.float32)).clamp(0.0, 0.5)
    np.testing.assert_allclose(found.values, decoded.detach().double().numpy(), atol=1e-6)
    # The score is that of the returned image (it was the unclipped image's: -0.81 vs -1.09).
    np.testing.assert_allclose(found.activation, np.log(found.probability), atol=1e-5)


def test_the_l1_penalty_makes_prototypes_sparser(digits_blackbox):
    def mass(reg):
        am = ActivationMaximization(
            digits_blackbox, regularizer=reg, strength=0.2, steps=60, random_state=0
        )
        return am.explain([0, 1]).values.sum(axis=1)

    assert np.all(mass("l1") < mass("none"))


def test_activation_maximization_counts_its_queries(digits_blackbox):
    # Every row the module ran on, counted once: the last points' scores were not counted
    # (22 of the 26 rows run here, and 3 * 10 * 5 + 10 of 190 with 3 starts x 10 classes).
    rows = []
    hook = digits_blackbox.module.register_forward_hook(
        lambda _m, inputs, _out: rows.append(len(inputs[0]))
    )
    try:
        am = ActivationMaximization(digits_blackbox, steps=5, n_starts=2, random_state=0)
        am.explain([2, 7])
        # 2 starts x 2 classes at each of 5 steps and at the last points, then the
        # probabilities of the 2 prototypes
        assert digits_blackbox.n_queries == sum(rows) == 2 * 2 * (5 + 1) + 2
        rows.clear()
        am.explain([0, 5, 9], layer="fc1")
        # the layer's width (one row), then 2 starts x 3 units at 5 steps and at the last
        assert digits_blackbox.n_queries - 26 == sum(rows) == 1 + 2 * 3 * (5 + 1)
    finally:
        hook.remove()


def test_the_latent_prior_pulls_z_towards_the_origin(digits_blackbox, digits_vae):
    def latent_norm(prior_strength):
        am = ActivationMaximization(
            digits_blackbox,
            regularizer="none",
            generator=digits_vae,
            prior_strength=prior_strength,
            steps=50,
            random_state=0,
        )
        return np.linalg.norm(am.explain([0, 1]).latent, axis=1)

    assert np.all(latent_norm(5.0) < latent_norm(0.0))


def test_the_score_is_that_of_the_returned_image():
    # Class 1 wants ever smaller inputs: the search runs into the bound at 0, and the
    # reported score is log p of the image returned, inside the bounds.
    box = BlackBox.from_torch(_Parameterless(), input_shape=(4,))
    found = ActivationMaximization(box, steps=50, lr=0.1, random_state=0).explain([1])
    np.testing.assert_allclose(found.values, 0.0, atol=1e-6)
    np.testing.assert_allclose(found.activation, np.log(found.probability), atol=1e-6)
    np.testing.assert_allclose(found.activation, np.log(0.5), atol=1e-5)


def test_a_unit_beyond_the_layer_is_refused(digits_blackbox):
    am = ActivationMaximization(digits_blackbox, steps=1, random_state=0)
    width = digits_blackbox.features(np.zeros((1, 64)), "fc1").shape[1]
    with pytest.raises(ValueError, match=f"holds class {width} but there are only {width}"):
        am.explain([width], layer="fc1")
    with pytest.raises(TypeError, match="target holds a bool"):  # it maximised unit 1
        am.explain([True], layer="fc1")
    with pytest.raises(TypeError, match="target holds a bool"):  # it maximised class 1
        am.explain(True)


def test_default_strengths_follow_the_regularizer(digits_blackbox):
    for regularizer in REGULARIZERS:
        am = ActivationMaximization(digits_blackbox, regularizer=regularizer)
        expected = 0.0 if regularizer in ("none", "jitter") else 0.02
        # strength=None is kept as given (sklearn's get_params and clone) and resolved
        # when used, so that it follows a regularizer changed later by set_params.
        assert am.strength is None and am._parameters()["strength"] == expected
    am = ActivationMaximization(digits_blackbox, regularizer="none", steps=1, random_state=0)
    assert am.set_params(regularizer="l1").explain([0]).meta["parameters"]["strength"] == 0.02


def test_jitter_shifts_each_image_within_itself():
    # The score reads the sum of the pixels, which a shift of one image does not
    # change: each prototype climbs to its own extreme. A shift across the batch fed
    # one target's image to the other's score.
    box = BlackBox.from_torch(_Parameterless(), input_shape=(1, 4, 4))
    found = ActivationMaximization(
        box, regularizer="jitter", steps=60, lr=0.1, bounds=(-1.0, 1.0), random_state=0
    ).explain([0, 1])
    assert found.probability.min() > 0.99
    assert found.values[0].min() > 0.3 and found.values[1].max() < -0.3


class _Blind(torch.nn.Module):
    """Two logits that ignore the input: the search's gradient is exactly 0."""

    def forward(self, x):
        zero = 0.0 * x.reshape(len(x), -1).sum(1)
        return torch.stack([zero, zero], 1)


def test_the_search_starts_mid_range_from_its_seed():
    box = BlackBox.from_torch(_Blind(), input_shape=(1, 4, 4))

    def start(seed, bounds=(0.0, 1.0)):
        am = ActivationMaximization(
            box, regularizer="none", steps=3, bounds=bounds, random_state=seed
        )
        return am.explain([0, 1]).values

    # a dim, slightly noisy image in the middle 10% of the bounds
    values = start(0, bounds=(2.0, 4.0))
    assert values.min() >= 2.9 and values.max() <= 3.1 and values.std() > 0
    np.testing.assert_array_equal(start(0), start(0))
    assert not np.array_equal(start(0), start(1))


def test_jitter_blurs_once_every_blur_every_steps():
    box = BlackBox.from_torch(_Blind(), input_shape=(1, 4, 4))
    settings = {"steps": 5, "blur_every": 3, "random_state": 0}
    plain = ActivationMaximization(box, regularizer="none", **settings).explain([0, 1])
    jittered = ActivationMaximization(box, regularizer="jitter", **settings).explain([0, 1])
    # steps 1..5 blur after step 3 only; nothing else moves the blind search
    once = _blur(torch.tensor(plain.values), (4, 4), 0.5).numpy()
    np.testing.assert_allclose(jittered.values, once, atol=1e-6)


def test_jitter_blurs_the_image_not_each_feature_s_place_between_per_feature_bounds():
    # The search runs over each feature's place u between its bounds; blurring u
    # rather than the image averaged places in ranges of different widths, which is
    # not the blur of the image (0.29 off here).
    box = BlackBox.from_torch(_Blind(), input_shape=(1, 4, 4))
    low, high = np.zeros(16), np.linspace(1.0, 16.0, 16)
    high[5] = 0.0  # a fixed pixel, whose range is empty
    settings = {"steps": 3, "blur_every": 3, "bounds": (low, high), "random_state": 0}
    plain = ActivationMaximization(box, regularizer="none", **settings).explain([0, 1])
    jittered = ActivationMaximization(box, regularizer="jitter", **settings).explain([0, 1])
    once = _blur(torch.tensor(plain.values), (4, 4), 0.5).numpy()
    np.testing.assert_allclose(jittered.values, np.clip(once, low, high), rtol=1e-5, atol=1e-5)


def test_the_generator_search_starts_from_z_with_variance_a_quarter():
    box = BlackBox.from_torch(_Blind(), input_shape=(16,))
    vae = zoo.vae(n_features=16, latent_dim=500, hidden=(4,))
    am = ActivationMaximization(box, regularizer="none", generator=vae, steps=2, random_state=0)
    latent = am.explain([0, 1]).latent
    assert 0.45 < latent.std() < 0.55 and abs(latent.mean()) < 0.05


def test_a_probability_model_is_scored_by_log_p_and_its_output_by_p():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(1))
    box = BlackBox.from_torch(model, input_shape=(4,), output="probabilities")
    am = ActivationMaximization(box, steps=20, lr=0.1, random_state=0)
    found = am.explain([0, 2])
    np.testing.assert_allclose(found.activation, np.log(found.probability), atol=1e-5)
    # the "output" layer's units are the probabilities themselves
    units = am.explain([0, 2], layer="output")
    reached = box.predict_proba(units.values)[[0, 1], [0, 2]]
    np.testing.assert_allclose(units.activation, reached, atol=1e-6)


def test_a_float32_generator_drives_a_float64_model():
    """z lives in the generator's dtype (and on its device), its images go to the
    model's: a float64 classifier with a float32 VAE crashed in the decoder before."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 4, bias=False)
    vae = zoo.vae(n_features=16, latent_dim=2, hidden=(8,))
    found = []
    for model in (linear, copy.deepcopy(linear).double()):
        box = BlackBox.from_torch(model, input_shape=(16,))
        search = ActivationMaximization(
            box, regularizer="none", steps=30, lr=0.1, generator=vae, random_state=0
        )
        found.append(search.explain([1, 2]))
    np.testing.assert_allclose(found[1].latent, found[0].latent, atol=1e-5)
    np.testing.assert_allclose(found[1].values, found[0].values, atol=1e-5)
    np.testing.assert_allclose(found[1].activation, found[0].activation, atol=1e-5)


class _Recorder(torch.nn.Module):
    """Blind logits (the search never moves) that record every image it is shown."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        if x.requires_grad:
            self.seen.append(x.detach().clone())
        zero = 0.0 * x.reshape(len(x), -1).sum(1)
        return torch.stack([zero, zero], 1)


def test_jitter_shifts_both_ways_by_at_most_jitter_pixels():
    model = _Recorder()
    box = BlackBox.from_torch(model, input_shape=(1, 7, 7))
    found = ActivationMaximization(
        box, regularizer="jitter", jitter=2, blur_every=1000, steps=40, random_state=0
    ).explain([0, 1])
    start = torch.tensor(found.values, dtype=torch.float32).reshape(2, 7, 7)
    shifts = set()
    for image in model.seen:
        image = image.reshape(2, 7, 7)
        # where the (unique, noisy) top-left pixel went: the shift, modulo 7
        dy, dx = (int(i) for i in torch.nonzero(image[0] == start[0, 0, 0])[0])
        dy, dx = (dy + 3) % 7 - 3, (dx + 3) % 7 - 3
        assert torch.equal(torch.roll(start, (dy, dx), dims=(1, 2)), image)
        shifts.add((dy, dx))
    rows, cols = {dy for dy, _ in shifts}, {dx for _, dx in shifts}
    # every shift from -2 to 2 along each axis is drawn, and none further
    assert rows == cols == {-2, -1, 0, 1, 2}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"jitter": -1}, "jitter must be an int >= 0"), ({"blur_every": 0}, "blur_every must be")],
)
def test_bad_jitter_settings_are_refused_up_front(kwargs, message):
    box = BlackBox.from_torch(_Recorder(), input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=message):
        ActivationMaximization(box, regularizer="jitter", **kwargs)
    # jitter=0 is allowed: the blur alone, no shift
    ActivationMaximization(box, regularizer="jitter", jitter=0, steps=2).explain([0])


def _linear_decoder_vae():
    """A 1-d latent whose decoding is G(z) = (sigmoid(z), sigmoid(z)) for z > -10."""
    vae = zoo.vae(n_features=2, latent_dim=1, hidden=(1,), random_state=0)
    with torch.no_grad():
        vae.decoder.fc1.weight.fill_(1.0), vae.decoder.fc1.bias.fill_(10.0)
        vae.decoder.out.weight.fill_(1.0), vae.decoder.out.bias.fill_(-10.0)
    return vae


def test_the_latent_prior_is_log_normal_weighted_by_prior_strength():
    # z* maximises log p_0(G(z)) + s * log N(z; 0, 1) = log s(4 s(z)) - s z^2 / 2,
    # found here by brute force on a grid.
    vae = _linear_decoder_vae()
    box = BlackBox.from_torch(_Parameterless(), input_shape=(2,))
    s = 0.1
    z = torch.linspace(-3, 3, 60001, dtype=torch.float64)
    objective = torch.nn.functional.logsigmoid(4 * torch.sigmoid(z)) - 0.5 * s * z**2
    z_best = float(z[objective.argmax()])
    found = ActivationMaximization(
        box,
        regularizer="none",
        generator=vae,
        prior_strength=s,
        steps=400,
        lr=0.01,
        random_state=0,
    ).explain([0])
    assert found.latent[0, 0] == pytest.approx(z_best, abs=0.03)


def test_a_prior_of_weight_0_is_left_out_not_blamed_for_an_overflow():
    # z**2 overflowed at lr=1e30, and 0 * inf failed as "the latent prior overflowed
    # (lower prior_strength)", a prior_strength that was 0 already.
    vae = _linear_decoder_vae()
    box = BlackBox.from_torch(_Parameterless(), input_shape=(2,))
    found = ActivationMaximization(
        box, regularizer="none", generator=vae, steps=3, lr=1e30, random_state=0
    ).explain([0])
    assert abs(found.latent[0, 0]) > 1e29
    with torch.no_grad():
        decoded = vae.decode(torch.tensor(found.latent, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(found.values, decoded, atol=1e-6)
    # A prior that weighs something is still named where it overflows.
    weighted = ActivationMaximization(
        box,
        regularizer="none",
        generator=vae,
        prior_strength=1.0,
        steps=3,
        lr=1e30,
        random_state=0,
    )
    with pytest.raises(FloatingPointError, match="latent prior.*lower prior_strength"):
        weighted.explain([0])


def test_an_lr_whose_first_adam_step_overflows_the_search_dtype_is_refused():
    # lr=1e39 failed at step 0 inside Adam: "value cannot be converted to type float
    # without overflow"; in float16 already lr=7000 did.
    box = BlackBox.from_torch(torch.nn.Linear(4, 3), input_shape=(4,))
    with pytest.raises(ValueError, match=r"lr must be at most 3.4e\+37, .*float32, got 1e\+39"):
        ActivationMaximization(box, lr=1e39)
    search = ActivationMaximization(box, lr=0.05, steps=2, random_state=0)
    with pytest.raises(ValueError, match="lr must be at most"):
        search.set_params(lr=1e39)
    half = BlackBox.from_torch(torch.nn.Linear(4, 3).half(), input_shape=(4,))
    with pytest.raises(ValueError, match=r"lr must be at most 6.55e\+03, .*float16, got 7000"):
        ActivationMaximization(half, lr=7000.0)
    found = ActivationMaximization(half, lr=6000.0, steps=2, random_state=0).explain()
    assert np.all((found.values >= 0) & (found.values <= 1))


class _Dropout(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear, self.drop = torch.nn.Linear(4, 2), torch.nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.linear(x))


def test_the_search_runs_the_model_in_eval_mode():
    # A model left in training mode would drop units at random under the search.
    torch.manual_seed(0)
    box = BlackBox.from_torch(_Dropout(), input_shape=(4,))
    box.module.train()  # as a user's training loop may leave it
    found = ActivationMaximization(box, steps=20, lr=0.1, random_state=0).explain([0, 1])
    np.testing.assert_allclose(found.activation, np.log(found.probability), atol=1e-6)
    # and gives the model its mode back, as every query of a black box does: it was left
    # in eval mode
    assert box.module.training and box.module.drop.training


class _OneHot(torch.nn.Module):
    """Probabilities (1, 0) whatever the input: class 1 has p = 0 exactly."""

    def forward(self, x):
        zero = 0.0 * x.reshape(len(x), -1).sum(1)
        return torch.stack([zero + 1.0, zero], 1)


def test_a_class_of_probability_zero_is_scored_not_refused():
    box = BlackBox.from_torch(_OneHot(), input_shape=(3,), output="probabilities")
    found = ActivationMaximization(box, steps=3, random_state=0).explain([1])
    assert found.probability[0] == 0.0
    assert found.activation[0] == pytest.approx(np.log(1e-12))


def test_nearest_distance_of_a_reference_row_is_zero_not_nan():
    # |a|^2 + |b|^2 - 2 a.b rounds to -1e-14 for some a = b: its root was NaN.
    ref = np.random.default_rng(0).uniform(size=(30, 64))
    np.testing.assert_allclose(nearest_distance(ref, ref), 0.0, atol=1e-6)


def test_prototypes_refuse_fields_of_the_wrong_length():
    values, target = np.zeros((2, 4)), np.array([0, 1])
    with pytest.raises(ValueError, match=r"activation has shape \(3,\); expected \(2,\)"):
        Prototypes(values, target, np.zeros(3))
    with pytest.raises(ValueError, match=r"probability has shape \(1,\); expected \(2,\)"):
        Prototypes(values, target, np.zeros(2), probability=np.zeros(1))
    with pytest.raises(ValueError, match="latent has 3 rows; expected 2"):
        Prototypes(values, target, np.zeros(2), latent=np.zeros((3, 5)))
    kept = Prototypes(values, target, np.zeros(2), latent=np.ones((2, 5)))
    assert kept.latent.shape == (2, 5)


@pytest.mark.parametrize("bad", [1.7, -0.3])
def test_prototypes_refuse_a_probability_outside_0_1_made_or_hand_edited(tmp_path, bad):
    # p = 1.7 was kept, and plotted as "p=1.70"; a hand-edited file loaded it so.
    values, target = np.zeros((2, 4)), np.array([0, 1])
    with pytest.raises(ValueError, match=r"probability must hold probabilities in \[0, 1\]"):
        Prototypes(values, target, np.zeros(2), probability=np.array([0.5, bad]))
    kept = Prototypes(values, target, np.zeros(2), probability=np.array([0.0, 1.0]))

    def hand_edit(header, arrays):
        arrays["probability"] = np.array([0.5, bad])

    assert_refused_on_load(kept, tmp_path / "p.npz", hand_edit, "probability must hold")


def test_prototype_plots_default_to_ten_bars_in_panels_of_1_8_inches():
    values = np.arange(24.0).reshape(2, 12)
    fig = Prototypes(values, np.array([0, 1]), np.zeros(2)).plot()
    assert fig.get_size_inches()[1] == pytest.approx(1.8)
    assert [len(ax.get_yticklabels()) for ax in fig.axes if ax.has_data()] == [10, 10]


def test_prototype_bar_panels_are_widened_by_their_longest_name():
    names = ("mean radius", "worst fractal dimension", "x", "y")  # 23 characters at most
    values = np.ones((2, 4))
    tabular = Prototypes(values, np.array([0, 1]), np.zeros(2), feature_names=names)
    width, height = tabular.plot().get_size_inches()
    assert width == pytest.approx(2 * (1.8 + 0.06 * 23)) and height == pytest.approx(1.8)
    images = Prototypes(np.ones((2, 4)), np.array([0, 1]), np.zeros(2), image_shape=(2, 2))
    assert images.plot().get_size_inches()[0] == pytest.approx(2 * 1.8)


def test_prototype_pictures_hide_their_axes_so_layout_places_no_ticks():
    # as every grid of pictures: matplotlib placed their hidden axes' ticks at each title
    images = Prototypes(np.ones((3, 4)), np.array([0, 1, 2]), np.zeros(3), image_shape=(2, 2))
    fig = images.plot()
    assert not any(ax.xaxis.get_visible() or ax.yaxis.get_visible() for ax in fig.axes)


def test_prototype_plots_take_their_two_options_and_refuse_others():
    values = np.array([[0.5, -2.0, 1.0, 0.1], [3.0, 0.0, -0.2, 0.4]])
    tabular = Prototypes(values, np.array([0, 1]), np.zeros(2), feature_names=tuple("abcd"))
    fig = tabular.plot(top=2, panel_size=1.0)
    labels = [[t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes if ax.has_data()]
    assert labels == [["c", "b"], ["d", "a"]]  # the two largest magnitudes, largest on top
    assert fig.get_size_inches()[1] == pytest.approx(1.0)
    # a typo was silently ignored: options were read from **kwargs with defaults
    with pytest.raises(TypeError, match="unexpected keyword argument 'tpo'"):
        tabular.plot(tpo=2)
    with pytest.raises(ValueError, match="top must be an int >= 1"):
        tabular.plot(top=0)
    with pytest.raises(ValueError, match="panel_size must be"):
        tabular.plot(panel_size=-1.0)


def test_prototypes_stay_within_bounds_that_float32_cannot_hold():
    # float32(0.3) is 0.3000000119: the search clamps in float32, the result must
    # still lie in the documented range.
    box = BlackBox.from_torch(_Parameterless(), input_shape=(4,))
    found = ActivationMaximization(
        box, regularizer="none", steps=30, lr=0.1, bounds=(0.1, 0.3), random_state=0
    ).explain([0, 1])
    assert found.values.max() <= 0.3 and found.values.min() >= 0.1
    np.testing.assert_allclose(found.values[0], 0.3, atol=1e-6)  # class 0 wants large sums
    np.testing.assert_allclose(found.values[1], 0.1, atol=1e-6)


def test_bounds_beyond_a_half_precision_models_range_are_refused_up_front(digits):
    # float16 holds up to 65504: bounds (0, 1e5) passed, and the search failed at step 0
    # on "the point searched became NaN or infinite" with no reason (the lerp between
    # them is infinite in the model's dtype).
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    X, y = torch.tensor(digits.X_train, dtype=torch.float32), torch.tensor(digits.y_train)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(50):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(X), y).backward()
        optimizer.step()
    box = BlackBox.from_torch(net.half(), input_shape=digits.input_shape)
    for bounds in [(0.0, 1e5), (-6e4, 6e4)]:  # each end fits float16, the width does not
        with pytest.raises(ValueError) as raised:
            ActivationMaximization(box, bounds=bounds)
        assert str(raised.value) == (
            "bounds must lie within the range of the model's torch.float16 (±6.55e+04), "
            f"got {bounds!r}"
        )
    # Bounds within it pass; the model's own arithmetic overflows there, and says so.
    am = ActivationMaximization(box, regularizer="none", bounds=(0.0, 6e4), random_state=0)
    with pytest.raises(FloatingPointError, match=r"past 256, an input's square overflows"):
        am.explain([1])
    found = ActivationMaximization(box, steps=3, random_state=0).explain([1])
    assert np.isfinite(found.values).all() and found.values.max() <= 1.0
    # The dtype is read when the search starts too: a model cast after it was set.
    box.module.float()
    am = ActivationMaximization(box, bounds=(0.0, 1e5), steps=3)
    box.module.half()
    with pytest.raises(ValueError, match=r"model's torch\.float16 \(±6\.55e\+04\)"):
        am.explain([1])
    # bfloat16's largest value is 3.39e38, below float32's.
    with pytest.raises(ValueError, match=r"model's torch\.bfloat16 \(±3\.39e\+38\)"):
        bf16 = BlackBox.from_torch(net.bfloat16(), input_shape=digits.input_shape)
        ActivationMaximization(bf16, bounds=(0.0, 3.4e38))


def test_nearest_distance_across_several_blocks_of_rows():
    # Past 2**22 / len(reference) rows X is handled in blocks (here of 3 rows).
    rng = np.random.default_rng(0)
    reference, X = rng.uniform(size=(2**20 + 1, 1)), rng.uniform(size=(4, 1))
    brute = np.abs(X - reference.T).min(1)
    np.testing.assert_allclose(nearest_distance(X, reference), brute, atol=1e-7)


def test_the_first_adam_step_moves_each_pixel_by_lr():
    # Adam's first step is lr * sign(gradient); a blind model (gradient 0) shows the start.
    def after_one_step(model, lr):
        box = BlackBox.from_torch(model, input_shape=(4,))
        am = ActivationMaximization(box, regularizer="none", steps=1, lr=lr, random_state=0)
        return am.explain([0]).values

    start = after_one_step(_Blind(), 0.01)
    np.testing.assert_allclose(after_one_step(_Parameterless(), 0.01) - start, 0.01, atol=1e-6)


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_bar_and_false_prints_nothing(verbose, digits_blackbox, capfd):
    ActivationMaximization(digits_blackbox, steps=3, random_state=0, verbose=verbose).explain()
    assert_progress_shown(capfd, verbose, "activation maximization")


def test_bounds_as_a_list_of_ints_and_set_params_bounds_match_the_float_tuple(digits_blackbox):
    # bounds and lr are kept as given (get_params, clone) and converted where used
    kwargs = {"steps": 3, "random_state": 0}
    floats = ActivationMaximization(digits_blackbox, bounds=(-1.0, 2.0), lr=1.0, **kwargs)
    expected = floats.explain([0])
    ints = ActivationMaximization(digits_blackbox, bounds=[-1, 2], lr=1, **kwargs).explain([0])
    np.testing.assert_array_equal(ints.values, expected.values)
    recorded = ints.meta["parameters"]
    assert recorded == expected.meta["parameters"]
    # recorded as the floats they were converted to before (the JSON reads 1.0, not 1)
    assert all(type(v) is float for v in [*recorded["bounds"], recorded["lr"]])
    changed = ActivationMaximization(digits_blackbox, lr=1, **kwargs).set_params(bounds=[-1, 2])
    np.testing.assert_array_equal(changed.explain([0]).values, expected.values)
    assert expected.values.min() < 0 < 1 < expected.values.max()  # the wider bounds are used


def test_set_params_strength_changes_the_next_search(digits_blackbox):
    kwargs = {"regularizer": "l2", "steps": 3, "lr": 1.0, "random_state": 0}
    fresh = ActivationMaximization(digits_blackbox, strength=5, **kwargs).explain([0])
    changed = ActivationMaximization(digits_blackbox, **kwargs).set_params(strength=5)
    np.testing.assert_array_equal(changed.explain([0]).values, fresh.values)
    default = ActivationMaximization(digits_blackbox, **kwargs).explain([0])  # 0.02
    assert np.abs(fresh.values).sum() < np.abs(default.values).sum()  # the stronger pull to 0


def test_tabular_prototypes_carry_the_black_boxs_feature_names():
    names = tuple(f"in {j}" for j in range(20))
    module = zoo.mlp((4,), n_features=20, n_classes=2)
    box = BlackBox.from_torch(module, input_shape=(20,), feature_names=names)
    assert ActivationMaximization(box, steps=5, random_state=0).explain().feature_names == names


def test_target_is_a_label_where_the_black_box_is_given_labels(digits, digits_lenet):
    plain = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8))
    named = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8), classes=range(1, 11))

    def prototypes(bb, target):
        return ActivationMaximization(bb, steps=3, random_state=0).explain(target)

    by_label = prototypes(named, [4, 10])
    assert by_label.target.tolist() == [3, 9]  # column indices, as the results keep
    np.testing.assert_array_equal(by_label.values, prototypes(plain, [3, 9]).values)
    with pytest.raises(ValueError, match="target holds 0"):
        prototypes(named, 0)


def test_per_feature_bounds_hold_raw_tabular_features_to_their_own_ranges():
    # Breast cancer's raw features range from 1e-3 to 4e3: the default bounds (0, 1)
    # would hold mean area (143 to 2501) below 1, far outside the data.
    X, box, coef = breast_cancer_box()
    low, high = X.min(0), X.max(0)
    found = ActivationMaximization(
        box, regularizer="none", steps=50, lr=1.0, bounds=(low, high), random_state=0
    ).explain([1])
    x = found.values[0]
    assert np.all((low <= x) & (x <= high))
    assert x[3] >= 143.5  # mean area, which (0, 1) held below 1
    # The model is linear, so the search pushes each feature to the bound its weight
    # points to; one Adam step of lr = 1 crosses any range narrower than 1, which the
    # clamp then holds at that feature's own bound (in float32).
    narrow = np.ptp(X, 0) < 1.0
    np.testing.assert_allclose(x[narrow], np.where(coef > 0, high, low)[narrow], rtol=1e-7)
    assert found.probability[0] > 0.99
    recorded = found.meta["parameters"]["bounds"]
    np.testing.assert_array_equal(recorded, [low.tolist(), high.tolist()])


def test_bounds_per_feature_as_arrays_or_images_equal_to_numbers_give_the_same_search(
    digits_blackbox,
):
    kwargs = {"steps": 5, "lr": 0.2, "random_state": 0}
    numbers = ActivationMaximization(digits_blackbox, **kwargs).explain([0, 7])
    for bounds in [
        (np.zeros(64), np.ones(64)),
        (0.0, np.ones((8, 8))),
        (np.zeros((1, 8, 8)), 1),
    ]:
        each = ActivationMaximization(digits_blackbox, bounds=bounds, **kwargs).explain([0, 7])
        np.testing.assert_array_equal(each.values, numbers.values)
        np.testing.assert_array_equal(each.activation, numbers.activation)


def test_the_search_starts_mid_range_and_stays_in_each_feature_s_bounds():
    box = BlackBox.from_torch(_Blind(), input_shape=(1, 4, 4))
    low = np.linspace(-100.0, 0.0, 16)
    high = low + np.r_[np.logspace(-3, 3, 15), 0.0]  # the last feature is fixed
    values = (
        ActivationMaximization(box, regularizer="none", steps=3, bounds=(low, high), random_state=0)
        .explain([0, 1])
        .values
    )
    start = (values - low) / np.where(high > low, high - low, 1.0)
    assert np.all((start[:, :15] >= 0.45 - 1e-6) & (start[:, :15] <= 0.55 + 1e-6))
    np.testing.assert_array_equal(values[:, 15], 0.0)


def test_a_generators_images_are_held_to_per_feature_bounds():
    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 4, bias=False)
    box = BlackBox.from_torch(linear, input_shape=(16,))
    vae = zoo.vae(n_features=16, latent_dim=2, hidden=(8,))
    low, high = np.zeros(16), np.linspace(0.1, 0.9, 16)
    found = ActivationMaximization(
        box, regularizer="none", steps=30, lr=0.1, generator=vae, bounds=(low, high), random_state=0
    ).explain([1, 2])
    decoded = vae.decode(torch.tensor(found.latent, dtype=torch.float32))
    held = decoded.clamp(torch.zeros(16), torch.tensor(high, dtype=torch.float32))
    np.testing.assert_allclose(found.values, held.detach().double().numpy(), atol=1e-6)
    assert np.all(found.values <= high) and np.any(found.values[:, 0] == 0.1)


def test_activation_maximization_s_defaults_are_unchanged_on_digits():
    # Pinned from the release before per-feature bounds.
    model = zoo.mlp((32, 16), n_features=64, n_classes=10, random_state=0)
    box = BlackBox.from_torch(model, input_shape=(64,))
    found = ActivationMaximization(box, steps=30, random_state=0).explain([0, 3])
    np.testing.assert_allclose(
        found.values[0, :4], [0.01275319, 0.0660583, 0.0, 0.18863684], rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(found.activation, [-2.29907966, -2.15949082], rtol=1e-6)
    assert found.meta["parameters"]["bounds"] == [0.0, 1.0]


@pytest.mark.parametrize(
    ("bounds", "error", "message"),
    [
        (
            (np.zeros(64), np.r_[np.ones(63), -1.0]),
            ValueError,
            "bounds' low exceeds its high in 1 feature.*first feature 63",
        ),
        ((np.zeros(5), np.ones(5)), ValueError, r"bounds' low has shape \(5,\); expected"),
        ((0.0, np.ones((64, 2))), ValueError, "bounds' high has shape"),
        ((np.r_[np.nan, np.zeros(63)], 1.0), ValueError, "bounds' low must be finite"),
        ((0.0, np.r_[np.inf, np.ones(63)]), ValueError, "bounds' high must be finite"),
        ((np.zeros(64), np.full(64, 4e38)), ValueError, "bounds must lie within float32"),
        ((np.zeros(64), np.ones(64), 1.0), ValueError, "bounds must be 2 finite numbers"),
        ((np.zeros(64), ["a"] * 64), TypeError, "bounds' high must be numeric"),
        ((np.zeros(64), np.ones(64, bool)), TypeError, "bounds' high must be a number or an"),
    ],
)
def test_bad_per_feature_bounds_are_refused_when_made_and_set(
    digits_blackbox, bounds, error, message
):
    with pytest.raises(error, match=message):
        ActivationMaximization(digits_blackbox, bounds=bounds)
    am = ActivationMaximization(digits_blackbox)
    with pytest.raises(error, match=message):
        am.set_params(bounds=bounds)
    assert am.bounds == (0.0, 1.0)


class _Rescaled(torch.nn.Module):
    """``module`` on inputs ``scale`` times larger: the same model in other units."""

    def __init__(self, module: torch.nn.Module, scale: float) -> None:
        super().__init__()
        self.module, self.scale = module, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x / self.scale)


def test_lr_is_a_fraction_of_the_range_so_units_do_not_change_the_search():
    # lr was in input units: on digits in [0, 16] the same lr moved each pixel 16 times
    # less of its range than in [0, 1], and the prototypes stopped short.
    model = zoo.mlp((16,), n_features=64, n_classes=10, random_state=0)
    found = {}
    for scale in (1.0, 16.0):
        box = BlackBox.from_torch(_Rescaled(model, scale), input_shape=(64,))
        search = ActivationMaximization(
            box, regularizer="none", steps=40, lr=0.05, bounds=(0.0, scale), random_state=0
        )
        found[scale] = search.explain([0, 5])
    np.testing.assert_allclose(found[16.0].values / 16.0, found[1.0].values, atol=1e-4)
    np.testing.assert_allclose(found[16.0].activation, found[1.0].activation, atol=1e-4)
    # per feature too: each feature moves by lr of its own range
    box = BlackBox.from_torch(_Rescaled(model, 16.0), input_shape=(64,))
    wide = np.full(64, 16.0)
    per_feature = ActivationMaximization(
        box, regularizer="none", steps=40, lr=0.05, bounds=(np.zeros(64), wide), random_state=0
    ).explain([0, 5])
    np.testing.assert_allclose(per_feature.values, found[16.0].values, atol=1e-4)


def test_prototype_panels_name_the_class_by_its_label_and_a_unit_as_a_unit(tmp_path):
    # Every panel was titled by the bare target index: class 0 of a model fitted on
    # ["neg", "pos"] read "0", and so did unit 0 of a hidden layer.
    module = zoo.mlp((4,), n_features=20, n_classes=2, random_state=0)
    box = BlackBox.from_torch(module, input_shape=(20,), classes=["neg", "pos"])
    search = ActivationMaximization(box, steps=3, random_state=0)
    found = search.explain("pos")
    assert found.class_names == ("neg", "pos")
    assert found.plot().axes[0].get_title().startswith("class pos: p=")
    found.save(tmp_path / "p.npz")
    assert Prototypes.load(tmp_path / "p.npz").class_names == ("neg", "pos")
    layer = box.layer_names()[0]
    units = search.explain([1, 3], layer=layer)
    assert units.class_names is None
    assert [ax.get_title() for ax in units.plot().axes if ax.has_data()] == ["unit 1", "unit 3"]
    plain = BlackBox.from_torch(module, input_shape=(20,))
    unnamed = ActivationMaximization(plain, steps=3, random_state=0).explain(1)
    assert unnamed.class_names is None
    assert unnamed.plot().axes[0].get_title().startswith("class 1: p=")
    with pytest.raises(ValueError, match="target names class 1 but class_names has 1 names"):
        Prototypes(np.zeros((1, 3)), np.array([1]), np.zeros(1), class_names=("neg",))


def test_prototypes_of_the_logits_layer_are_named_as_classes(tmp_path):
    # On the logits layer a unit is a class, and its panels read "unit 1".
    module = zoo.mlp((4,), n_features=20, n_classes=3, random_state=0)
    plain = BlackBox.from_torch(module, input_shape=(20,))
    unnamed = ActivationMaximization(plain, steps=3, random_state=0).explain(0, layer="logits")
    assert unnamed.class_names is None and unnamed.plot().axes[0].get_title() == "class 0"
    box = BlackBox.from_torch(module, input_shape=(20,), class_names=["a", "b", "c"])
    search = ActivationMaximization(box, steps=3, random_state=0)
    logits = search.explain([1, 2], layer="logits")
    assert logits.class_names == ("a", "b", "c") and logits.meta["output_layer"] is True
    assert [ax.get_title() for ax in logits.plot().axes if ax.has_data()] == [
        "class b",
        "class c",
    ]
    logits.save(tmp_path / "p.npz")
    assert Prototypes.load(tmp_path / "p.npz").plot().axes[0].get_title() == "class b"
    hidden = search.explain(0, layer=box.layer_names()[0])
    assert hidden.meta["output_layer"] is False
    assert hidden.plot().axes[0].get_title() == "unit 0"


def test_prototypes_saved_before_class_names_existed_still_load(tmp_path):
    Prototypes(np.zeros((1, 4)), np.array([2]), np.array([-0.5])).save(tmp_path / "p.npz")
    save_without_field(tmp_path / "p.npz", "class_names", tmp_path / "old.npz")
    old = Prototypes.load(tmp_path / "old.npz")
    assert old.class_names is None and old.plot().axes[0].get_title() == "class 2"


def test_a_bool_prototype_target_is_refused():
    with pytest.raises(TypeError, match="target holds a bool"):
        Prototypes(np.zeros((2, 3)), np.array([True, False]), np.zeros(2))


def test_a_submodule_named_logits_is_that_submodule_here_as_in_features():
    """layer_names and features read "logits" as the submodule that bears the name (a
    hidden layer of 6 units here), and so does the search now: it maximised the model's
    output under that name, unit 1 being class 1 of the head, and unit 4, valid for
    features, failed inside the model with an IndexError."""
    from collections import OrderedDict

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        OrderedDict(logits=torch.nn.Linear(4, 6), act=torch.nn.ReLU(), head=torch.nn.Linear(6, 3))
    )
    box = BlackBox.from_torch(net, input_shape=(4,), output="logits", class_names=list("abc"))
    assert box.layer_names() == ["logits", "act", "head"]
    assert box.features(np.zeros((1, 4)), "logits").shape == (1, 6)
    search = ActivationMaximization(box, regularizer="none", steps=5, random_state=0)
    found = search.explain([1, 4], layer="logits")
    hidden = box.features(found.values, "logits")
    np.testing.assert_allclose(found.activation, hidden[[0, 1], [1, 4]], rtol=1e-5, atol=1e-6)
    assert found.meta["output_layer"] is False and found.class_names is None


def test_bounds_series_are_read_by_their_feature_names(planted, planted_logreg):
    # bounds=(X_train.min(), X_train.max()) are pandas Series; in another column order
    # than the model's, each feature was searched within another feature's range.
    import pandas as pd

    from tests.helpers import PLANTED_COLUMNS, torch_logistic_regression
    from unboxed.probes._activation import _check_search_bounds

    box = BlackBox.from_torch(
        torch_logistic_regression(planted_logreg), input_shape=(20,), feature_names=PLANTED_COLUMNS
    )
    low, high = np.linspace(-1.0, 0.0, 20), np.linspace(1.0, 2.0, 20)
    frame = pd.DataFrame([low, high], columns=list(PLANTED_COLUMNS)).iloc[:, ::-1]
    checked = _check_search_bounds((frame.iloc[0], frame.iloc[1]), box)
    np.testing.assert_array_equal(checked[0], low)
    np.testing.assert_array_equal(checked[1], high)


def test_prototypes_of_a_label_that_says_class_are_not_titled_class_twice():
    """wine's labels are class_0, class_1, class_2: the panels read "class class_1"."""
    from sklearn.datasets import load_wine

    wine = tuple(load_wine().target_names)
    found = Prototypes(np.zeros((2, 3)), np.array([1, 2]), np.zeros(2), class_names=wine)
    assert [ax.get_title() for ax in found.plot().axes if ax.has_data()] == ["class_1", "class_2"]


def test_a_hidden_units_target_out_of_range_is_named_as_a_unit():
    # It read "target holds class 8 but there are only 8 classes" of a layer of 8 units.
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(50):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            net(torch.as_tensor(X, dtype=torch.float32)), torch.as_tensor(y)
        )
        loss.backward()
        optimizer.step()
    bb = BlackBox.from_torch(net, input_shape=(4,))
    search = ActivationMaximization(bb, steps=2, bounds=(0.0, 8.0), random_state=0)
    with pytest.raises(ValueError, match=r"\(here units: layer '1' has 8, 0\.\.7\)"):
        search.explain(8, layer="1")
    assert search.explain(7, layer="1").values.shape == (1, 4)


def test_bounds_of_a_table_with_a_bool_column_are_numbers():
    # bounds=(X_train.min(), X_train.max()), as docs/tabular.md writes them, of a table
    # with a bool column are Series of objects: "bounds' low must be numeric, got dtype
    # object", though the table itself is read as numbers.
    from sklearn.datasets import load_diabetes

    from unboxed.probes._activation import _check_search_bounds

    X = load_diabetes(as_frame=True, scaled=False).data
    X["sex"] = X["sex"] == 2  # bool
    X["age"] = X["age"].astype(int)
    low, high = X.min(), X.max()
    assert low.dtype == object
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 2)).double()
    box = BlackBox.from_torch(net, input_shape=(10,), feature_names=list(X.columns))
    checked = _check_search_bounds((low, high), box)
    np.testing.assert_array_equal(checked[0], X.to_numpy(dtype=float).min(axis=0))
    np.testing.assert_array_equal(checked[1], X.to_numpy(dtype=float).max(axis=0))
    found = ActivationMaximization(box, bounds=(low, high), steps=5, random_state=0).explain()
    inside = (found.values >= checked[0] - 1e-12) & (found.values <= checked[1] + 1e-12)
    assert inside.all() and found.values[:, 1].min() >= 0 and found.values[:, 1].max() <= 1
    # A Series of text is still refused as not numeric.
    with pytest.raises(TypeError, match="must be numeric"):
        _check_search_bounds((low.astype(str), high), box)
