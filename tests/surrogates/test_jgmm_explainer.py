"""JGMMExplainer on a LeNet trained on digits: proxy, spatial model, examples, pictures;
and the rows of a DataFrame the model raises on, in the queries and mining pools (and
the fit), named by their labels."""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression

from tests.helpers import (
    assert_progress_shown,
    breast_cancer_mlp,
    interrupt_at,
    save_without_field,
    torch_logistic_regression,
)
from unboxed import BlackBox, ExampleSet
from unboxed.surrogates import JGMM, JGMMExplainer, NotFittedError
from unboxed.surrogates._jgmm_examples import rms_distance
from unboxed.surrogates._jgmm_explainer import _class_proba, _component_classes, avg_pool


@pytest.fixture(scope="module")
def explainer(digits, digits_lenet):
    from unboxed import zoo

    blackbox = zoo.as_blackbox(digits_lenet)
    return JGMMExplainer(
        blackbox, lower_layer="pool2", n_components_x=20, random_state=0, verbose=False
    ).fit(digits.X_train)


def random_flip_rate(
    explainer: JGMMExplainer, Zq: np.ndarray, distance: np.ndarray, classes: np.ndarray
) -> float:
    """How often the network's class changes at random points at the given RMS
    distances from the whitened queries ``Zq`` (one row per point)."""
    directions = np.random.default_rng(0).standard_normal(Zq.shape)
    directions /= np.sqrt(np.mean(directions**2, axis=1, keepdims=True))
    Z = Zq + directions * distance[:, None]
    return np.mean(explainer.head_predict(explainer.jgmm_.inverse_transform_x(Z)) != classes)


def test_proxy_agrees_with_the_black_box(explainer, digits):
    assert list(explainer.classes_) == list(range(10))
    proba = explainer.predict_proba(digits.X_test)
    assert proba.shape == (359, 10) and np.allclose(proba.sum(axis=1), 1)
    fidelity = explainer.fidelity(digits.X_test)
    assert fidelity.mean > 0.75 and fidelity.ci[0] <= fidelity.mean <= fidelity.ci[1]
    assert explainer.jgmm_.converged_


def test_spatial_extension_fits_one_q_per_position(digits, digits_blackbox):
    explainer = JGMMExplainer(
        digits_blackbox,
        lower_layer="act1",
        pool=2,
        spatial=True,
        n_components_x=8,
        random_state=0,
        verbose=False,
    ).fit(digits.X_train[:600])
    model = explainer.jgmm_
    assert explainer.feature_shape_ == (6, 4, 4)
    assert model.Q_.shape == (16, 8, 10) and model.means_x_.shape == (8, 6)
    assert np.all(np.diff(model.lower_bound_) >= -1e-9 * np.abs(model.lower_bound_).max())
    assert explainer.fidelity(digits.X_test).mean > 0.5
    with pytest.raises(ValueError, match="plain JGMM"):
        explainer.prototypes()
    # the heat maps show p(z | w) and p(w | z) at a position drawn uniformly
    fig = explainer.plot_posteriors()
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), model.Q_.mean(axis=0))
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), model.psi_.mean(axis=0))


def test_full_covariances_give_a_faithful_proxy_and_examples(digits, digits_blackbox):
    """covariance="full" (unwhitened, where the floor regularises every direction
    alike) is a proxy at least as faithful as the diagonal one on act4 of the digits
    LeNet (0.94 and 0.94 when written), and every generated example is finite."""
    fits = {
        cov: JGMMExplainer(
            digits_blackbox,
            lower_layer="act4",
            n_components_x=20,
            covariance=cov,
            whiten=False,
            random_state=0,
            verbose=False,
        ).fit(digits.X_train)
        for cov in ("diag", "full")
    }
    full = fits["full"]
    assert full.jgmm_.vars_x_.shape == (20, 84, 84)
    agreement = {cov: e.fidelity(digits.X_test).mean for cov, e in fits.items()}
    assert agreement["full"] > 0.9 and agreement["full"] >= agreement["diag"] - 0.02
    queries = digits.X_test[:5]
    made = [
        full.prototypes(source="generated", n_per_class=2, n_candidates=20, random_state=0),
        full.influentials(source="generated", n=5, n_per_component=5, random_state=0),
        full.semifactuals(queries, radius=3.0, sampler="local", random_state=0),
        full.counterfactuals(queries, source="mined"),
    ]
    for examples in made:
        assert len(examples) > 0 and np.all(np.isfinite(examples.values))


def test_labelled_components_give_a_more_faithful_proxy(digits, digits_blackbox):
    """e_step="labelled" (the black box's class observed, each lower component owned
    by one class) against the paper's eq. 15 on act4 of the digits LeNet, both with
    the paper's whitened diagonal Gaussians (0.86 and 0.97 when written)."""
    fits = {
        e_step: JGMMExplainer(
            digits_blackbox,
            lower_layer="act4",
            n_components_x=20,
            e_step=e_step,
            random_state=0,
            verbose=False,
        ).fit(digits.X_train)
        for e_step in ("paper", "labelled")
    }
    agreement = {e: fit.fidelity(digits.X_test).mean for e, fit in fits.items()}
    assert agreement["labelled"] > 0.95 and agreement["labelled"] > agreement["paper"] + 0.05
    labelled = fits["labelled"]
    assert np.array_equal(labelled.classes_, np.arange(10))
    assert np.all(labelled.jgmm_.psi_.max(axis=1) == 1.0)  # each component has one class
    prototypes = labelled.prototypes(n_per_class=2)
    assert len(prototypes) == 20
    # eq. 7 is zero when each component has one class; the labelled score is not
    mined = labelled.counterfactuals(digits.X_test[:5], source="mined")
    assert len(mined) > 0 and np.all(mined.scores > 0)
    # the boundary and nearest samplers' points sit at or past the proxy's boundary:
    # they flip the network far more often than random points as near the query
    # (boundary 0.45 against 0.12, nearest 0.93 against 0.06 when written)
    queries = digits.X_test[:20]
    classes = labelled.blackbox.predict(queries)
    model = labelled.jgmm_
    Zq = model.transform_x(labelled.lower_features(queries))
    for sampler in ("boundary", "nearest"):
        near = labelled.counterfactuals(queries, sampler=sampler, random_state=0)
        assert len(near) == 100
        distance = rms_distance(model.transform_x(near.values), Zq[near.groups])
        near_flip = np.mean(labelled.head_predict(near.values) != classes[near.groups])
        random_flip = random_flip_rate(labelled, Zq[near.groups], distance, classes[near.groups])
        assert near_flip > 0.3 and near_flip > random_flip + 0.2


def test_avg_pool_matches_a_loop(rng):
    F = rng.normal(size=(2, 3, 5, 5))
    out = avg_pool(F, 2)
    assert out.shape == (2, 3, 3, 3)
    for a in range(3):
        for b in range(3):
            block = F[:, :, 2 * a : 2 * a + 2, 2 * b : 2 * b + 2]
            assert np.allclose(out[:, :, a, b], block.mean(axis=(2, 3)))


@pytest.mark.parametrize(
    "make",
    [
        lambda e, X: e.prototypes(n_per_class=2),
        lambda e, X: e.prototypes(n_per_class=2, source="generated", n_candidates=20),
        lambda e, X: e.criticisms(n=4),
        lambda e, X: e.influentials(n=4),
        lambda e, X: e.influentials(n=4, source="generated", n_per_component=5),
        lambda e, X: e.counterfactuals(X[:3], n_per_query=3, radius=2.0),
        lambda e, X: e.counterfactuals(X[:3], n_per_query=3, source="mined", select="score"),
        lambda e, X: e.semifactuals(X[:3], n_per_query=3, radius=3.0),
        lambda e, X: e.counterfactuals(
            X[:3], n_per_query=3, radius=0.5, sampler="sparse", select="margin"
        ),
    ],
)
def test_examples_are_example_sets_that_round_trip(explainer, digits, make, tmp_path):
    import matplotlib.pyplot as plt

    examples = make(explainer, digits.X_test)
    assert isinstance(examples, ExampleSet) and len(examples) > 0
    assert examples.values.shape[1] == 64 and np.all(np.isfinite(examples.scores))
    assert np.all(examples.top_proba[:, 0] >= examples.top_proba[:, 1])
    if examples.source == "mined":
        assert examples.inputs is not None and np.all(examples.indices >= 0)
    else:
        assert examples.inputs is None and np.all(examples.indices == -1)
    examples.save(tmp_path / "e.npz")
    loaded = ExampleSet.load(tmp_path / "e.npz")
    assert loaded.kind == examples.kind and np.array_equal(loaded.values, examples.values)
    assert loaded.meta == examples.meta and loaded.image_shape == examples.image_shape
    assert examples.plot() is not None
    plt.close("all")


def test_counterfactuals_flip_more_often_than_random_samples(explainer, digits):
    """The Done-when check: within the same radius, JGMM's counterfactuals change the
    black-box class more often than random points around the query."""
    queries = digits.X_test[:30]
    classes = explainer.blackbox.predict(queries)
    radius = 2.0
    cf = explainer.counterfactuals(queries, n_per_query=10, radius=radius, random_state=0)
    assert len(cf) >= 30
    cf_flip = np.mean(explainer.head_predict(cf.values) != classes[cf.groups])
    model = explainer.jgmm_
    Zq = model.transform_x(explainer.lower_features(queries))
    g = np.repeat(np.arange(30), 50)
    distance = np.random.default_rng(1).uniform(0, radius, size=g.size)
    # 0.83 against 0.39 when written
    assert cf_flip > random_flip_rate(explainer, Zq[g], distance, classes[g]) + 0.2
    # and every counterfactual lies within the radius
    Zc = model.transform_x(cf.values)
    for q in range(30):
        assert np.all(rms_distance(Zc[cf.groups == q], Zq[q]) <= radius + 1e-9)


def test_sparse_counterfactuals_flip_more_often_than_random_single_coordinate_moves(
    explainer, digits
):
    """The proxy's gradient picks which one coordinate to move: the black box changes
    class more often than when a random coordinate moves by the same amount."""
    queries = digits.X_test[:30]
    classes = explainer.blackbox.predict(queries)
    cf = explainer.counterfactuals(
        queries, n_per_query=10, radius=0.3, sampler="sparse", select="margin"
    )
    assert len(cf) == 300 and cf.meta["parameters"]["select"] == "margin"
    model = explainer.jgmm_
    Zq = model.transform_x(explainer.lower_features(queries))[cf.groups]
    moves = model.transform_x(cf.values) - Zq
    assert np.all(np.sum(np.abs(moves) > 1e-6, axis=1) == 1)  # one coordinate each
    cf_flip = np.mean(explainer.head_predict(cf.values) != classes[cf.groups])
    rng = np.random.default_rng(0)
    shuffled = np.zeros_like(moves)
    shuffled[np.arange(len(moves)), rng.integers(0, moves.shape[1], len(moves))] = moves.sum(
        axis=1
    ) * rng.choice([-1, 1], len(moves))
    random_flip = np.mean(
        explainer.head_predict(model.inverse_transform_x(Zq + shuffled)) != classes[cf.groups]
    )
    assert cf_flip > random_flip + 0.1


def test_semifactuals_keep_the_class(explainer, digits):
    queries = digits.X_test[:10]
    sf = explainer.semifactuals(queries, n_per_query=5, source="mined")
    assert np.all(sf.top_classes[:, 0] == explainer.predict(queries)[sf.groups])


def test_same_seed_same_examples(digits, digits_blackbox):
    def run():
        e = JGMMExplainer(
            digits_blackbox, lower_layer="act4", n_components_x=6, random_state=5, verbose=False
        ).fit(digits.X_train[:400])
        return e.prototypes(source="generated", n_per_class=2, n_candidates=10)

    a, b = run(), run()
    assert np.array_equal(a.values, b.values) and np.array_equal(a.scores, b.scores)


def test_posterior_plot(explainer):
    fig = explainer.plot_posteriors()
    assert len(fig.axes) >= 2


def test_bad_setups_raise(digits, digits_blackbox, planted):
    X = digits.X_train[:100]
    with pytest.raises(NotFittedError, match="not fitted"):
        JGMMExplainer(digits_blackbox, lower_layer="pool2").predict(X)
    with pytest.raises(ValueError, match="not a layer"):
        JGMMExplainer(digits_blackbox, lower_layer="conv9").fit(X)
    with pytest.raises(ValueError, match="both 'logits'; the JGMM relates two different"):
        JGMMExplainer(digits_blackbox, lower_layer="logits").fit(X)
    with pytest.raises(ValueError, match="pool"):
        JGMMExplainer(digits_blackbox, lower_layer="act1", pool=4).fit(X)
    with pytest.raises(ValueError, match="conv map"):
        JGMMExplainer(digits_blackbox, lower_layer="act3", pool=2).fit(X)
    with pytest.raises(ValueError, match="n_components_y"):
        JGMMExplainer(digits_blackbox, lower_layer="pool2", n_components_y=3).fit(X)
    with pytest.raises(ValueError, match="n_components_y"):
        JGMMExplainer(digits_blackbox, lower_layer="pool2", higher_layer="act3").fit(X)
    sk = BlackBox.from_sklearn(LogisticRegression().fit(planted.X_train, planted.y_train))
    with pytest.raises(TypeError, match="torch"):
        JGMMExplainer(sk, lower_layer="x").fit(planted.X_train)
    with pytest.raises(ValueError, match="NaN"):
        bad = X.copy()
        bad[0, 0] = np.nan
        JGMMExplainer(digits_blackbox, lower_layer="pool2").fit(bad)
    one_class = digits.X_train[digits_blackbox.predict(digits.X_train) == 0][:30]
    with pytest.raises(ValueError, match="same class"):
        JGMMExplainer(digits_blackbox, lower_layer="act4", n_components_x=2).fit(one_class)


def test_a_tabular_user_is_told_how_to_reach_the_inputs_or_another_model(planted):
    # A scikit-learn model has no layers, and the input is no layer of a torch one;
    # both messages say what to do instead, and the input route works.
    import torch
    from sklearn.linear_model import LogisticRegression

    X = planted.X_train[:300]
    sk = BlackBox.from_sklearn(LogisticRegression().fit(X, planted.y_train[:300]))
    with pytest.raises(TypeError, match=r"fit unboxed\.surrogates\.JGMM on feature arrays"):
        JGMMExplainer(sk, lower_layer="x").fit(X)
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(20, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.Adam(mlp.parameters(), lr=0.05)
    inputs, labels = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(planted.y_train[:300])
    for _ in range(50):  # enough for two predicted classes
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(mlp(inputs), labels).backward()
        optimizer.step()
    with pytest.raises(ValueError, match=r"nn\.Sequential\(nn\.Identity\(\), model\)"):
        JGMMExplainer(BlackBox.from_torch(mlp, input_shape=(20,)), lower_layer="input").fit(X)
    wrapped = BlackBox.from_torch(torch.nn.Sequential(torch.nn.Identity(), mlp), input_shape=(20,))
    explainer = JGMMExplainer(
        wrapped, lower_layer="0", n_components_x=4, random_state=0, verbose=False
    ).fit(X)
    assert explainer.feature_shape_ == (20,)


def _untied(blackbox, digits):
    """A JGMM whose higher layer is LeNet's hidden act4, fitted on 300 digits."""
    return JGMMExplainer(
        blackbox,
        lower_layer="pool2",
        higher_layer="act4",
        n_components_x=6,
        n_components_y=4,
        random_state=0,
        verbose=False,
    ).fit(digits.X_train[:300])


def test_untied_higher_layer(digits, digits_blackbox):
    explainer = _untied(digits_blackbox, digits)
    assert explainer.jgmm_.Q_.shape == (6, 4)
    with pytest.raises(ValueError, match="logits"):
        explainer.predict(digits.X_test[:5])
    for select in ("proxy", "margin"):  # both need the classes
        with pytest.raises(ValueError, match="logits"):
            explainer.counterfactuals(
                digits.X_test[:2], select=select, sampler="sparse", radius=0.5
            )
    assert len(explainer.prototypes(n_per_class=1)) == 4
    # an untied component has no class to check a prototype against
    with pytest.raises(ValueError, match="faithfulness needs higher_layer='logits'"):
        explainer.faithfulness(explainer.prototypes(n_per_class=1))


def test_untied_examples_do_not_name_components_by_the_black_boxs_classes(digits, digits_lenet):
    # Untied, an example's two likeliest are higher components of a hidden layer; a
    # labelled black box's names titled them as classes ("digit 0/digit 1").
    names = [f"digit {c}" for c in range(10)]
    labelled = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8), classes=names)
    explainer = _untied(labelled, digits)
    criticisms = explainer.criticisms()
    assert criticisms.class_names is None
    assert not any("digit" in ax.get_title() for ax in criticisms.plot().axes)


def test_untied_counterfactual_queries_are_named_by_the_black_box(digits, digits_lenet):
    # Their queries are the black box's classes, shown as bare indices untied.
    names = [f"digit {c}" for c in range(10)]
    labelled = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8), class_names=names)
    found = _untied(labelled, digits).counterfactuals(
        digits.X_test[:1], select="score", sampler="sparse", radius=0.5, n_per_query=1
    )
    assert found.class_names is None and found.query_class_names == tuple(names)
    query = labelled.predict(digits.X_test[:1])[0]
    assert found.plot().axes[0].get_title() == f"query 0 (digit {query})"


def test_tied_prototypes_are_titled_by_their_class(explainer, digits_lenet):
    # Titled "w=3 z=12" before: the component, not the class it stands for.
    prototypes = explainer.prototypes(n_per_class=1, source="generated", random_state=0)
    classes = explainer.classes_.tolist()
    assert prototypes.meta["component_classes"] == classes
    titles = [ax.get_title().split("\n")[0] for ax in prototypes.plot(max_per_group=1).axes]
    assert titles == [f"class {c}" for c in classes]


def test_n_components_x_chosen_by_validation(digits, digits_blackbox):
    """With several candidate K_x, fit keeps the one whose proxy agrees best with the
    black box on held-out rows (the paper's choice), then refits it on all rows. One
    component can only predict one class; 20 separate the digits."""
    explainer = JGMMExplainer(
        digits_blackbox, lower_layer="act4", n_components_x=[1, 20], random_state=0, verbose=False
    ).fit(digits.X_train)
    scores = explainer.validation_agreement_
    assert set(scores) == {(1, 1e-3), (20, 1e-3)}
    assert scores[1, 1e-3] < 0.3 < 0.8 < scores[20, 1e-3]
    assert explainer.n_components_x_ == 20 and explainer.jgmm_.means_x_.shape[0] == 20
    # the refit on all rows is the one a plain fit with K_x = 20 would give, bar the seed
    assert explainer.fidelity(digits.X_test).mean > 0.8
    plain = JGMMExplainer(
        digits_blackbox, lower_layer="act4", n_components_x=20, random_state=0, verbose=False
    ).fit(digits.X_train)
    assert plain.validation_agreement_ is None and plain.n_components_x_ == 20


def test_var_floor_chosen_by_validation_with_k_x(digits, digits_blackbox):
    """Every (K_x, var_floor) pair is scored on held-out rows, and the best pair is
    refitted with its floor. (Two floors' agreements may tie on a few hundred rows, as
    they did on one machine, so the floor's effect is checked on the fits.)"""
    settings = {
        "lower_layer": "act4",
        "covariance": "full",
        "e_step": "labelled",
        "whiten": False,
        "random_state": 0,
        "verbose": False,
    }
    explainer = JGMMExplainer(
        digits_blackbox, n_components_x=[10, 20], var_floor=[1e-3, 0.9], **settings
    ).fit(digits.X_train)
    scores = explainer.validation_agreement_
    assert set(scores) == {(10, 1e-3), (10, 0.9), (20, 1e-3), (20, 0.9)}
    best = max(scores, key=scores.get)
    assert (explainer.n_components_x_, explainer.var_floor_) == best
    floored = [
        JGMMExplainer(digits_blackbox, n_components_x=10, var_floor=f, **settings)
        .fit(digits.X_train)
        .jgmm_
        for f in (1e-3, 0.9)
    ]
    assert not np.allclose(floored[0].vars_x_, floored[1].vars_x_)
    assert explainer.jgmm_.var_floor == best[1] and explainer.jgmm_.means_x_.shape[0] == best[0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_components_x": []}, ValueError, "empty"),
        ({"n_components_x": [4, 4]}, ValueError, "repeats"),
        ({"n_components_x": [4, 0]}, ValueError, "n_components_x"),
        ({"n_components_x": [2, 4], "validation_fraction": 1.0}, ValueError, "validation"),
        ({"n_components_x": [2, 4], "validation_fraction": "a"}, ValueError, "validation"),
        ({"var_floor": []}, ValueError, "empty"),
        ({"var_floor": [1e-3, 1e-3]}, ValueError, "repeats"),
        ({"var_floor": [1e-3, 2.0]}, ValueError, "var_floor"),
        (
            {"n_components_x": [2, 4], "higher_layer": "act4", "n_components_y": 3},
            ValueError,
            "logits",
        ),
        (
            {"e_step": "labelled", "higher_layer": "act4", "n_components_y": 3},
            ValueError,
            "observes the black box's class",
        ),
    ],
)
def test_bad_candidate_components_are_rejected(digits, digits_blackbox, kwargs, error, match):
    with pytest.raises(error, match=match):
        JGMMExplainer(digits_blackbox, lower_layer="pool2", **kwargs).fit(digits.X_train[:100])


@pytest.mark.parametrize("n_components_x", [6, [20, 6]])
def test_labelled_components_fewer_than_the_classes_are_named_in_the_explainers_terms(
    digits, digits_blackbox, n_components_x
):
    """The message named JGMM's labels_y, which the explainer's user never gives."""
    n_seen = np.unique(digits_blackbox.predict(digits.X_train[:200])).size
    explainer = JGMMExplainer(
        digits_blackbox, lower_layer="pool2", n_components_x=n_components_x, e_step="labelled"
    )
    message = (
        f"e_step='labelled' gives each class the black box predicts on X its own lower "
        f"components, and it predicts {n_seen}; n_components_x=6 is fewer: give at least "
        f"{n_seen}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        explainer.fit(digits.X_train[:200])


def test_a_layer_given_by_its_index_is_told_to_give_its_name(sequential_box):
    """lower_layer=0 was refused as "not a layer of the model; choose from ['0', ...]"."""
    with pytest.raises(TypeError, match=re.escape("lower_layer must be a layer's name, a str")):
        JGMMExplainer(sequential_box, lower_layer=0).fit(np.zeros((4, 3)))
    with pytest.raises(TypeError, match=r"got int 0; the layers are \['0', '1', '2'"):
        JGMMExplainer(sequential_box, lower_layer=0).fit(np.zeros((4, 3)))


@pytest.fixture()
def sequential_box():
    """A tabular nn.Sequential, named by index as such models are."""
    import torch

    net = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    return BlackBox.from_torch(net, input_shape=(3,))


def test_component_classes_follow_the_labels_not_the_component_numbers():
    """Higher components started from permuted labels: component perm[c] holds class c,
    and the proxy must map it back."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=600)
    X = 4.0 * np.eye(3)[labels] + rng.normal(size=(600, 3))
    Y = 5.0 * np.eye(3)[labels] + rng.normal(size=(600, 3))
    perm = np.array([1, 2, 0])
    model = JGMM(6, 3, random_state=0).fit(X, Y, labels_y=perm[labels])
    classes = _component_classes(model, Y, labels, 3)
    np.testing.assert_array_equal(classes[perm], [0, 1, 2])
    proba = _class_proba(model.predict_proba_w(X), classes, 3)
    assert np.mean(proba.argmax(axis=1) == labels) > 0.95


def test_class_proba_adds_the_components_of_a_class():
    proba_w = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    np.testing.assert_allclose(
        _class_proba(proba_w, np.array([0, 0, 1]), 3), [[0.5, 0.5, 0.0], [0.9, 0.1, 0.0]]
    )


def test_lower_features_pool_and_lay_out_positions(digits, digits_blackbox):
    X = digits.X_test[:5]
    F = np.asarray(digits_blackbox.features(X, "act1"), dtype=np.float64)
    for pool in (2, 3):
        pooled = avg_pool(F, pool)
        n, C, H, W = pooled.shape
        spatial = JGMMExplainer(digits_blackbox, lower_layer="act1", pool=pool, spatial=True)
        got = spatial.lower_features(X)
        assert got.shape == (n, H * W, C)
        for r in range(H * W):  # position r is (r // W, r % W); its channels are the vector
            np.testing.assert_allclose(got[:, r, :], pooled[:, :, r // W, r % W])
        flat = JGMMExplainer(digits_blackbox, lower_layer="act1", pool=pool).lower_features(X)
        np.testing.assert_allclose(flat, pooled.reshape(n, -1))


def test_a_call_with_its_own_random_state_repeats_on_its_own(explainer):
    e = explainer
    first = e.prototypes(source="generated", n_per_class=2, n_candidates=10, random_state=3)
    e.influentials(source="generated", n=3, n_per_component=5)  # the explainer's generator
    again = e.prototypes(source="generated", n_per_class=2, n_candidates=10, random_state=3)
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.scores, again.scores)


def _record_jgmm_fits(monkeypatch, record):
    """Call ``record(model, X, Y, labels_y)`` on every JGMM fit, then fit as usual."""
    real = JGMM.fit

    def fit(self, X, Y, *, labels_y=None):
        record(self, X, Y, labels_y)
        return real(self, X, Y, labels_y=labels_y)

    monkeypatch.setattr(JGMM, "fit", fit)


def test_validation_fits_the_candidates_without_the_held_out_rows(
    digits, digits_blackbox, monkeypatch
):
    fitted = []
    _record_jgmm_fits(monkeypatch, lambda model, X, Y, labels_y: fitted.append(np.asarray(X)))
    X = digits.X_train[:400]
    e = JGMMExplainer(
        digits_blackbox,
        lower_layer="act4",
        n_components_x=[2, 4],
        validation_fraction=0.25,
        random_state=0,
        verbose=False,
    ).fit(X)
    assert [len(f) for f in fitted] == [300, 300, 400]
    F = {row.tobytes() for row in e.lower_features(X)}
    assert all(row.tobytes() in F for f in fitted[:2] for row in f)


def test_query_classes_are_the_black_box_classes(explainer, digits):
    e, X = explainer, digits.X_test
    disagree = np.flatnonzero(e.predict(X) != e.blackbox.predict(X))[:3]
    assert disagree.size >= 1
    queries = X[disagree]
    found = e.counterfactuals(queries, source="mined", n_per_query=2, select="score")
    np.testing.assert_array_equal(found.query_classes, e.blackbox.predict(queries))


def test_an_interrupted_validation_resumes_to_the_same_model(
    digits, digits_blackbox, tmp_path, monkeypatch
):
    from unboxed.surrogates import _jgmm_explainer

    X, path = digits.X_train[:600], tmp_path / "jgmm.json"
    settings = {"lower_layer": "act4", "n_components_x": [2, 4, 8], "random_state": 0}
    settings["verbose"] = False
    whole = JGMMExplainer(digits_blackbox, **settings).fit(X)
    fitted, real_fit = [], JGMM.fit

    def counted(model, *args, **kwargs):
        if len(fitted) == stop_after:
            raise KeyboardInterrupt
        fitted.append(model.n_components_x)
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(_jgmm_explainer.JGMM, "fit", counted)
    stop_after = 2
    with pytest.raises(KeyboardInterrupt):
        JGMMExplainer(digits_blackbox, checkpoint=path, **settings).fit(X)
    assert fitted == [2, 4] and path.is_file()
    stop_after = None
    resumed = JGMMExplainer(digits_blackbox, checkpoint=path, **settings).fit(X)
    assert fitted[2:] == [8, resumed.n_components_x_]  # the candidate left, then the refit
    assert resumed.validation_agreement_ == whole.validation_agreement_
    np.testing.assert_array_equal(resumed.jgmm_.means_x_, whole.jgmm_.means_x_)
    with pytest.raises(ValueError, match="made with other settings or data"):
        JGMMExplainer(digits_blackbox, checkpoint=path, **settings).fit(X[1:])
    record = json.loads(path.read_text())
    record["scores"][0][0] = 3  # a K_x that is not the first candidate
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="damaged JGMM checkpoint: its scores are not"):
        JGMMExplainer(digits_blackbox, checkpoint=path, **settings).fit(X)
    path.write_text('{"settings": {}}')
    with pytest.raises(ValueError, match="made with other settings or data"):
        JGMMExplainer(digits_blackbox, checkpoint=path, **settings).fit(X)
    path.write_text("[1, 2")
    with pytest.raises(ValueError, match="could not be read"):
        JGMMExplainer(digits_blackbox, checkpoint=path, **settings).fit(X)
    with pytest.raises(ValueError, match="reproducible random_state"):
        JGMMExplainer(digits_blackbox, checkpoint=path, **{**settings, "random_state": None}).fit(X)


@pytest.mark.parametrize("n_components_x", [4, [2, 4]])
def test_an_interrupted_final_fit_resumes_to_the_same_model_and_draws(
    digits, digits_blackbox, tmp_path, monkeypatch, n_components_x
):
    """The final fit's EM state is saved next to the checkpoint after every iteration:
    a rerun takes only the iterations left (and fits no candidate again), and ends with
    the same model and the same generator, so later draws repeat too."""
    X, path = digits.X_train[:400], tmp_path / "jgmm.json"
    settings = {"lower_layer": "act4", "n_components_x": n_components_x, "random_state": 0}
    settings.update(max_iter=6, tol=None, verbose=False)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return JGMMExplainer(digits_blackbox, checkpoint=path, **settings).fit(X)

    whole = JGMMExplainer(digits_blackbox, **settings).fit(X)
    steps = interrupt_at(monkeypatch, JGMM, "_step")
    n_validation = 0 if n_components_x == 4 else 2 * 6
    steps["stop"] = n_validation + 4  # in the final fit's fourth iteration
    with pytest.raises(KeyboardInterrupt):
        fit()
    assert Path(f"{path}.final.npz").is_file() and path.is_file() == (n_validation > 0)
    steps.update(n=0, stop=None)
    resumed = fit()
    assert steps["n"] == 6 - 3  # only the final fit's iterations left
    np.testing.assert_array_equal(resumed.jgmm_.means_x_, whole.jgmm_.means_x_)
    np.testing.assert_array_equal(resumed.jgmm_.Q_, whole.jgmm_.Q_)
    assert resumed.rng_.bit_generator.state == whole.rng_.bit_generator.state


def test_a_checkpoint_of_another_split_or_head_or_with_bad_scores_is_refused(
    digits, digits_lenet, tmp_path
):
    import copy

    import torch

    from unboxed import zoo

    X, path = digits.X_train[:300], tmp_path / "jgmm.json"
    settings = {"lower_layer": "act4", "n_components_x": [2, 3], "random_state": 0}
    settings["verbose"] = False
    fitted = JGMMExplainer(zoo.as_blackbox(digits_lenet), checkpoint=path, **settings).fit(X)
    # A finished validation is saved whole, so a rerun fits only the final model.
    saved = {(k, f): score for k, f, score in json.loads(path.read_text())["scores"]}
    assert saved == fitted.validation_agreement_ and len(saved) == 2
    # The same act4 features under another head (classes 0 and 1 swapped): other labels.
    swapped = copy.deepcopy(digits_lenet)
    with torch.no_grad():
        swapped.fc3.weight[[0, 1]] = swapped.fc3.weight[[1, 0]].clone()
        swapped.fc3.bias[[0, 1]] = swapped.fc3.bias[[1, 0]].clone()
    for blackbox, other in (
        (zoo.as_blackbox(digits_lenet), {"validation_fraction": 0.3}),
        (zoo.as_blackbox(swapped), {}),
    ):
        with pytest.raises(ValueError, match="made with other settings or data"):
            JGMMExplainer(blackbox, checkpoint=path, **{**settings, **other}).fit(X)
    record = json.loads(path.read_text())
    record["scores"][0][2] = 1.5  # not an agreement
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="damaged JGMM checkpoint: its scores are not"):
        JGMMExplainer(zoo.as_blackbox(digits_lenet), checkpoint=path, **settings).fit(X)


@pytest.mark.parametrize("where", ["score", "rng"])
def test_a_validation_checkpoint_with_a_changed_figure_is_refused(
    digits, digits_lenet, tmp_path, where
):
    # JSON keeps no checksum: a score changed within [0, 1] (a flipped bit, a bad copy)
    # silently changed which K_x won, and a changed generator state the draws after it.
    from unboxed import zoo

    X, path = digits.X_train[:300], tmp_path / "jgmm.json"
    settings = {"lower_layer": "act4", "n_components_x": [2, 3], "random_state": 0}
    settings["verbose"] = False
    blackbox = zoo.as_blackbox(digits_lenet)
    JGMMExplainer(blackbox, checkpoint=path, **settings).fit(X)
    # As if interrupted before the final fit, whose own file would catch the generator.
    Path(f"{path}.final.npz").unlink()
    record = json.loads(path.read_text())
    if where == "score":
        record["scores"][0][2] = 1.0 - record["scores"][0][2] / 2
    else:
        record["rng"]["state"]["state"] += 1
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="damaged JGMM checkpoint: .*checksum"):
        JGMMExplainer(blackbox, checkpoint=path, **settings).fit(X)


def test_component_classes_weigh_the_responsibilities_by_pi():
    """h = p(w | y) of eq. 15 has the prior pi: a rare component whose Gaussian sits
    between the two classes' rows holds most of its (small) responsibility on the
    class its Gaussian favours, though the other class has 6 times the rows."""
    rng = np.random.default_rng(0)
    model = JGMM(1, 2, whiten=False, random_state=0).fit(
        rng.normal(size=(20, 1)), rng.normal(size=(20, 1))
    )
    model.means_y_, model.vars_y_ = np.array([[0.0], [0.5]]), np.ones((2, 1))
    model.pi_ = np.array([0.98, 0.02])
    Y = np.repeat([[-2.0], [3.0]], [60, 10], axis=0)
    labels = np.repeat([0, 1], [60, 10])
    joint = model.pi_ * norm.pdf(Y, loc=[0.0, 0.5])  # pi_j G_j(y), (70, 2)
    h = joint / joint.sum(axis=1, keepdims=True)
    want = np.array([np.argmax([h[labels == c, j].sum() for c in range(2)]) for j in range(2)])
    np.testing.assert_array_equal(want, [0, 1])
    np.testing.assert_array_equal(_component_classes(model, Y, labels, 2), want)


def test_probabilities_output_is_tied_as_the_logits_are(planted, planted_logreg):
    """A module returning probabilities names its output "output"; as the higher
    layer it ties the components to the classes, as "logits" does. The module: the
    planted logistic regression behind a layer passing the features through."""
    from torch import nn

    from tests.helpers import torch_logistic_regression
    from unboxed import BlackBox

    net = torch_logistic_regression(planted_logreg)
    module = nn.Sequential(net, nn.Softmax(dim=1))
    bb = BlackBox.from_torch(module, input_shape=(20,), output="probabilities")
    assert bb.layer_names()[-1] == "output"
    X = planted.X_train[:300]
    e = JGMMExplainer(
        bb,
        lower_layer="0.act1",
        higher_layer="output",
        n_components_x=4,
        random_state=0,
        verbose=False,
    ).fit(X)
    assert e.classes_.tolist() == [0, 1]
    proba = e.predict_proba(X)
    assert proba.shape == (300, 2) and np.allclose(proba.sum(axis=1), 1)


@pytest.mark.parametrize("output", ["logits", "probabilities"])
def test_refusals_of_an_untied_layer_name_the_output_as_this_model_calls_it(
    output, planted, planted_logreg
):
    """The messages told every user to set higher_layer='logits', a name a model
    returning probabilities does not have: its output is "output"."""
    from torch import nn

    net = torch_logistic_regression(planted_logreg)
    module, prefix = (net, "") if output == "logits" else (nn.Sequential(net, nn.Softmax(1)), "0.")
    bb = BlackBox.from_torch(module, input_shape=(20,), output=output)
    name = "logits" if output == "logits" else "output"
    assert bb.layer_names()[-1] == name
    layers = {"lower_layer": prefix + "fc1", "higher_layer": prefix + "fc2"}
    kw = {"n_components_y": 2, "random_state": 0, "verbose": False, **layers}
    needs = rf"needs higher_layer='{name}'"
    with pytest.raises(ValueError, match=rf"e_step='labelled'.*{needs}"):
        JGMMExplainer(bb, n_components_x=2, e_step="labelled", **kw).fit(planted.X_train[:100])
    with pytest.raises(ValueError, match=rf"by validation {needs}"):
        JGMMExplainer(bb, n_components_x=[2, 3], **kw).fit(planted.X_train[:100])
    explainer = JGMMExplainer(bb, n_components_x=2, **kw).fit(planted.X_train[:100])
    with pytest.raises(ValueError, match=rf"predict_proba {needs}"):
        explainer.predict_proba(planted.X_train[:5])


def test_refusals_of_an_untied_layer_do_not_name_a_submodule_as_the_output():
    """Where a hidden submodule is called "logits", higher_layer='logits' is that
    layer, which the message must not offer as the output."""
    from collections import OrderedDict

    from torch import nn

    layers = OrderedDict(fc1=nn.Linear(4, 3), logits=nn.ReLU(), fc2=nn.Linear(3, 2))
    bb = BlackBox.from_torch(nn.Sequential(layers), input_shape=(4,))
    with pytest.raises(ValueError, match=r"needs the model's output .*'logits' is a submodule"):
        JGMMExplainer(
            bb, lower_layer="fc1", higher_layer="logits", n_components_y=2, e_step="labelled"
        )


def test_more_bad_validation_fractions(digits, digits_blackbox):
    for fraction in (True, 0.0, 0):
        with pytest.raises(ValueError, match="validation_fraction"):
            JGMMExplainer(
                digits_blackbox,
                lower_layer="pool2",
                n_components_x=[2, 4],
                validation_fraction=fraction,
            ).fit(digits.X_train[:100])
    # one K_x, so nothing is chosen by validation: the fraction was silently ignored
    for fraction in (1.5, -0.2, float("nan")):
        with pytest.raises(ValueError, match=r"validation_fraction must lie in \(0, 1\)"):
            JGMMExplainer(digits_blackbox, lower_layer="pool2", validation_fraction=fraction).fit(
                digits.X_train[:100]
            )


@pytest.mark.filterwarnings("ignore:JGMM EM did not converge")
def test_a_numpy_float_validation_fraction_is_a_number():
    # np.float32 is no Python float: it was refused as "must be a number" (a TypeError)
    from unboxed import zoo

    blackbox = zoo.as_blackbox(zoo.mlp((4,), n_features=4, n_classes=2, random_state=0))
    X = np.random.default_rng(0).uniform(size=(40, 4))
    explainer = JGMMExplainer(
        blackbox,
        lower_layer="act1",
        n_components_x=[2, 3],
        validation_fraction=np.float32(0.25),
        max_iter=5,
        random_state=0,
        verbose=False,
    ).fit(X)
    assert set(explainer.validation_agreement_) == {(2, 0.001), (3, 0.001)}


def test_radius_must_be_positive(explainer, digits):
    # A string, a list and NaN too: float() took "1" and raised a bare TypeError on a list.
    for radius in (0, 0.0, -1.0, True, "1", [1.0], float("nan")):
        with pytest.raises(ValueError, match="radius"):
            explainer.counterfactuals(digits.X_test[:2], radius=radius)


def test_generated_counterfactuals_come_from_the_reported_alpha_support(explainer, digits):
    """The LP of eq. 8 has a vertex optimum: alpha on one lower component, which the
    meta data reports and every "gmm" draw comes from."""
    cf = explainer.counterfactuals(digits.X_test[:5], n_per_query=3, select="score", random_state=0)
    support = cf.meta["parameters"]["alpha_support"]
    assert [len(s) for s in support] == [1] * 5
    for comp, q in zip(cf.components, cf.groups, strict=True):
        assert comp in support[q]


def test_mined_examples_carry_the_digits_image_shape(explainer):
    assert explainer.prototypes(n_per_class=1).image_shape == (8, 8)


def test_example_top_classes_go_through_the_component_classes(explainer, digits):
    """top_classes are classes, not higher components: with another component ->
    class map (as after two components merge) they follow predict_proba."""
    import copy

    e = copy.copy(explainer)
    e.classes_ = np.roll(explainer.classes_, 1)
    found = e.prototypes(n_per_class=1)
    inputs = found.inputs
    proba = e.predict_proba(inputs)
    np.testing.assert_array_equal(found.top_classes[:, 0], proba.argmax(axis=1))
    np.testing.assert_allclose(found.top_proba[:, 0], proba.max(axis=1))


# ---------------------------------------------------------------- audit round J3


def test_a_fit_on_two_classes_warns_that_components_do_not_map_to_classes(digits, digits_blackbox):
    """Rows of two digits only: the eight other higher components stand for no class
    of their own, so the proxy cannot predict eight classes, and fit says so."""
    predicted = digits_blackbox.predict(digits.X_train)
    X = digits.X_train[np.isin(predicted, [0, 1])][:120]
    e = JGMMExplainer(
        digits_blackbox,
        lower_layer="act4",
        n_components_x=4,
        max_iter=20,
        random_state=0,
        verbose=False,
    )
    with pytest.warns(UserWarning, match="do not map one-to-one"):
        e.fit(X)
    assert np.unique(e.classes_).size < 10


def test_head_predict_checks_its_input_and_runs_the_network_above_the_layer(explainer, digits):
    X = digits.X_test[:3]
    F = explainer.lower_features(X)
    with pytest.raises(ValueError, match=f"F has 5 features per row; expected {F.shape[1]}"):
        explainer.head_predict(F[:, :5])
    # more rows than one batch of 4096: every row comes back, each the network's class
    many = np.repeat(F, 1700, axis=0)
    got = explainer.head_predict(many)
    np.testing.assert_array_equal(got, np.repeat(explainer.blackbox.predict(X), 1700))


def test_features_beyond_the_networks_float32_are_refused_not_read_as_class_0(explainer, digits):
    """A lower feature of 1e39 is inf in the float32 LeNet, whose logits are then NaN:
    head_predict read the row as class 0, faithfulness's softmax gave NaN margins and
    validity counted the row, all without a word."""
    F = explainer.lower_features(digits.X_test[:3])
    F[1] = 1e39
    with pytest.raises(ValueError, match=r"NaN or infinite values \(first on row 1 of the lower"):
        explainer.head_predict(F)
    generated = explainer.counterfactuals(digits.X_test[:2], n_per_query=2, random_state=0)
    values = np.array(generated.values)
    values[0] = -1e39
    far = dataclasses.replace(generated, values=values)
    with pytest.raises(ValueError, match=r"examples.values holds values beyond .*float32"):
        explainer.validity(far)
    prototypes = explainer.prototypes(n_per_class=1, source="generated", random_state=0)
    values = np.array(prototypes.values)
    values[2] = 1e39
    with pytest.raises(ValueError, match="first on row 2 of the lower features given"):
        explainer.faithfulness(dataclasses.replace(prototypes, values=values))


@pytest.mark.parametrize(
    ("call", "setting"),
    [
        (lambda e: e.prototypes(source="generated", n_candidates=10**12), "n_candidates"),
        (lambda e: e.influentials(source="generated", n_per_component=10**12), "n_per_component"),
        (lambda e: e.counterfactuals(np.zeros((1, 64)), n_samples=10**12), "n_samples"),
        (lambda e: e.semifactuals(np.zeros((1, 64)), n_samples=10**12), "n_samples"),
    ],
)
def test_a_count_of_draws_numpy_cannot_hold_is_refused_before_any_draw(explainer, call, setting):
    """10**12 draws failed in numpy's sampler with "Unable to allocate 7.28 TiB", which
    named no setting, after the call's seed was drawn from the explainer's generator."""
    state = explainer.rng_.bit_generator.state
    with pytest.raises(ValueError, match=f"{setting}=1000000000000 is too large"):
        call(explainer)
    assert explainer.rng_.bit_generator.state == state


def test_validity_and_faithfulness_of_generated_examples_say_why_they_cannot_run():
    """On a model that is not an nn.Sequential, generated examples (lower features
    only) cannot be run through the layers above: validity and faithfulness said
    "head_predict needs ...", a method the user did not call, and not what to do."""
    from torch import nn

    data, box = breast_cancer_mlp()

    class Net(nn.Module):
        def __init__(self, layers):
            super().__init__()
            self.body, self.head = layers[:3], layers[3:]

        def forward(self, x):
            return self.head(self.body(x))

    blackbox = BlackBox.from_torch(Net(box.module), input_shape=(30,))
    explainer = JGMMExplainer(
        blackbox, lower_layer="body", n_components_x=4, random_state=0, verbose=False
    ).fit(data.X_train)
    generated = explainer.counterfactuals(data.X_test[:3], random_state=0)
    with pytest.raises(ValueError, match="validity of generated examples .*use source='mined'"):
        explainer.validity(generated)
    prototypes = explainer.prototypes(n_per_class=2, source="generated", random_state=0)
    with pytest.raises(ValueError, match="faithfulness of generated .*use source='mined'"):
        explainer.faithfulness(prototypes)
    # mined examples carry their inputs, which the whole model classifies
    assert (
        0
        <= explainer.validity(explainer.counterfactuals(data.X_test[:3], source="mined")).mean
        <= 1
    )


def test_head_predict_refuses_pooled_features_and_a_nested_layer(
    digits, digits_blackbox, planted, planted_logreg
):
    from torch import nn

    from tests.helpers import torch_logistic_regression

    pooled = JGMMExplainer(
        digits_blackbox,
        lower_layer="act1",
        pool=2,
        n_components_x=2,
        max_iter=3,
        random_state=0,
        verbose=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 3 iterations, 2 components for 10 classes
        pooled.fit(digits.X_train[:100])
    F = pooled.lower_features(digits.X_train[:2])
    with pytest.raises(ValueError, match="without pool or spatial"):
        pooled.head_predict(F)
    # "0.act1" lies inside the first child, not a child of the Sequential itself
    module = nn.Sequential(torch_logistic_regression(planted_logreg), nn.Softmax(dim=1))
    bb = BlackBox.from_torch(module, input_shape=(20,), output="probabilities")
    nested = JGMMExplainer(
        bb,
        lower_layer="0.act1",
        higher_layer="output",
        n_components_x=2,
        random_state=0,
        verbose=False,
    )
    nested.fit(planted.X_train[:100])
    with pytest.raises(ValueError, match="whose child is lower_layer"):
        nested.head_predict(nested.lower_features(planted.X_train[:2]))


def test_example_meta_names_the_layers_the_score_and_the_seed(explainer, digits):
    found = explainer.prototypes(n_per_class=1)
    assert found.meta["method"] == "JGMM prototypes" and found.meta["seed"] == 0
    params = found.meta["parameters"]
    assert params["lower_layer"] == "pool2" and params["higher_layer"] == "logits"
    assert params["pool"] is None and params["n_per_class"] == 1
    assert params["score"] == "log p(x | w = j), eq. 4"
    semi = explainer.semifactuals(digits.X_test[:2], n_per_query=1, source="mined")
    assert semi.meta["parameters"]["score"] == "eq. 9"
    counter = explainer.counterfactuals(digits.X_test[:2], n_per_query=1, source="mined")
    assert counter.meta["parameters"]["score"] == "eq. 7, p(same z, different w)"


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda e, X: e.prototypes(n_per_class=0), "n_per_class"),
        (lambda e, X: e.prototypes(source="generated", n_candidates=0), "n_candidates"),
        (lambda e, X: e.criticisms(n=0), "n"),
        (lambda e, X: e.influentials(n=0), "n"),
        (lambda e, X: e.influentials(source="generated", n_per_component=0), "n_per_component"),
        (lambda e, X: e.counterfactuals(X, n_per_query=0), "n_per_query"),
        (lambda e, X: e.counterfactuals(X, n_samples=0), "n_samples"),
        (lambda e, X: e.semifactuals(X, n_samples=-5), "n_samples"),
        (lambda e, X: e.prototypes(source="sampled"), "source"),
        (lambda e, X: e.influentials(source="sampled"), "source"),
        (lambda e, X: e.counterfactuals(X, source="sampled"), "source"),
        (lambda e, X: e.counterfactuals(X, select="closest"), "select"),
    ],
)
def test_example_settings_are_checked(explainer, digits, make, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        make(explainer, digits.X_test[:2])


def test_local_and_generated_examples_with_their_own_random_state_repeat(explainer, digits):
    """A call's own random_state makes it repeat whatever the explainer drew between."""
    e, queries = explainer, digits.X_test[:2]

    def calls():
        return (
            e.counterfactuals(queries, n_per_query=2, n_samples=50, random_state=3),
            e.semifactuals(queries, n_per_query=2, n_samples=50, random_state=3),
            e.influentials(source="generated", n=3, n_per_component=5, random_state=3),
        )

    first = calls()
    e.prototypes(source="generated", n_per_class=1, n_candidates=5)  # the explainer's generator
    for a, b in zip(first, calls(), strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_fidelity_draws_nothing_from_the_explainers_generator(explainer, digits):
    """Wilson's interval draws nothing, so a call leaves the examples drawn after it
    as they were (the bootstrap interval drew from the explainer's generator)."""
    X = digits.X_test[:100]
    before = explainer.rng_.bit_generator.state
    a = explainer.fidelity(X)
    assert explainer.rng_.bit_generator.state == before
    agree = explainer.predict(X) == explainer.blackbox.predict(X)
    assert a.mean == agree.mean() and a.n == 100


def test_local_examples_carry_their_queries_in_feature_space(explainer, digits):
    """queries are the queries' lower features (as values are), not whitened."""
    queries = digits.X_test[:3]
    found = explainer.counterfactuals(queries, n_per_query=1, n_samples=50, random_state=0)
    np.testing.assert_allclose(found.queries, explainer.lower_features(queries), atol=1e-8)
    # generated examples of image inputs keep the image shape for their queries
    assert found.image_shape == (8, 8) and found.inputs is None


def test_plot_posteriors_labels_components_by_their_classes(explainer):
    import copy

    import matplotlib.pyplot as plt

    e = copy.copy(explainer)
    e.classes_ = np.roll(explainer.classes_, 1)
    fig = e.plot_posteriors()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == [str(c) for c in e.classes_]
    plt.close(fig)
    # by the black box's names where it has them (it showed the label)
    names = [f"digit {c}" for c in range(10)]
    e.blackbox = BlackBox.from_torch(e.blackbox.module, input_shape=(1, 8, 8), class_names=names)
    fig = e.plot_posteriors()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == [f"digit {c}" for c in e.classes_]
    plt.close(fig)


def test_image_shape_keeps_several_channels():
    from torch import nn

    module = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(8, 2))
    bb = BlackBox.from_torch(module, input_shape=(3, 4, 4))
    assert JGMMExplainer(bb, lower_layer="0")._image_shape() == (3, 4, 4)
    grey = BlackBox.from_torch(
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2)), input_shape=(1, 4, 4)
    )
    assert JGMMExplainer(grey, lower_layer="0")._image_shape() == (4, 4)


def test_mined_examples_default_to_the_rows_fit_saw(explainer, digits):
    assert explainer.X_fit_.shape == digits.X_train.shape
    default = explainer.criticisms(n=5)
    given = explainer.criticisms(digits.X_train, n=5)
    np.testing.assert_array_equal(default.indices, given.indices)
    np.testing.assert_array_equal(default.inputs, digits.X_train[given.indices])


def test_candidates_as_an_array_and_a_validation_checkpoint_of_other_fit_settings(
    digits, digits_blackbox, tmp_path, monkeypatch
):
    """An ndarray of candidates is a set of candidates as a list is; the validation
    checkpoint records every setting its scores depend on, so a change is refused."""
    import copy

    import torch

    from unboxed import zoo

    fitted, real = [], JGMM.fit

    def fit(self, X, Y, *, labels_y=None):
        fitted.append(len(X))
        return real(self, X, Y, labels_y=labels_y)

    monkeypatch.setattr(JGMM, "fit", fit)
    path = tmp_path / "jgmm.json"
    settings = dict(lower_layer="act4", max_iter=5, random_state=0, checkpoint=path)
    settings.update(validation_fraction=0.3, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 5 iterations, 2 or 3 components for 10 classes
        e = JGMMExplainer(digits_blackbox, n_components_x=np.array([2, 3]), **settings)
        e.fit(digits.X_train[:99])
    assert set(e.validation_agreement_) == {(2, 1e-3), (3, 1e-3)}
    assert fitted == [69, 69, 99]  # round(0.3 * 99) = 30 rows held out
    # As if interrupted before the final fit: only the validation's own record is left
    # to refuse other settings (the final fit's checkpoint would refuse them too).
    Path(f"{path}.final.npz").unlink()
    for change in (
        {"whiten": False},
        {"tol": 1e-2},
        {"covariance": "full"},
        {"e_step": "joint"},
        {"n_init": 2},
        {"max_iter": 6},
        {"lower_layer": "act3"},
        {"random_state": 1},  # another split and other restarts
    ):
        other = JGMMExplainer(digits_blackbox, n_components_x=[2, 3], **{**settings, **change})
        with pytest.raises(ValueError, match="made with other settings or data"):
            other.fit(digits.X_train[:99])
    # The same act4 features under another head (classes 0 and 1 swapped): the same
    # lower features but other higher ones, so other scores.
    swapped = copy.deepcopy(digits_blackbox.module)
    with torch.no_grad():
        swapped.fc3.weight[[0, 1]] = swapped.fc3.weight[[1, 0]].clone()
        swapped.fc3.bias[[0, 1]] = swapped.fc3.bias[[1, 0]].clone()
    other = JGMMExplainer(zoo.as_blackbox(swapped), n_components_x=[2, 3], **settings)
    with pytest.raises(ValueError, match="made with other settings or data"):
        other.fit(digits.X_train[:99])


def test_pool_must_be_one_of_the_papers_windows(digits, digits_blackbox):
    for pool in (1, 0, True):
        with pytest.raises(ValueError, match="pool must be None, 2 or 3"):
            JGMMExplainer(digits_blackbox, lower_layer="act1", pool=pool).fit(digits.X_train[:50])


def test_labelled_components_are_their_classes_whatever_y_says():
    """With e_step="labelled" component j is class j by construction, even where the
    higher features y (here noise) do not tell the classes apart."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [100, 60, 40])
    X = 3.0 * np.eye(3)[labels] + rng.normal(size=(200, 3))
    model = JGMM(3, 3, e_step="labelled", random_state=0).fit(
        X, rng.normal(size=(200, 2)), labels_y=labels
    )
    np.testing.assert_array_equal(
        _component_classes(model, rng.normal(size=(200, 2)), labels, 3), [0, 1, 2]
    )


def test_head_predict_runs_a_float64_network_in_its_own_dtype(planted, planted_logreg):
    """A float64 network's head gets float64 features (a float32 batch would not
    multiply with its weights), and gives the network's own classes."""
    from tests.helpers import torch_logistic_regression

    bb = BlackBox.from_torch(torch_logistic_regression(planted_logreg).double(), input_shape=(20,))
    X = planted.X_train[:200]
    e = JGMMExplainer(bb, lower_layer="act1", n_components_x=4, random_state=0, verbose=False)
    e.fit(X)
    np.testing.assert_array_equal(e.head_predict(e.lower_features(X)), bb.predict(X))


def test_fidelity_is_the_agreement_of_the_proxy(explainer, digits):
    from unboxed.evaluate import agreement

    X = digits.X_test[:100]
    want = agreement(explainer.predict(X), explainer.blackbox.predict(X))
    assert explainer.fidelity(X) == want


def test_local_examples_record_their_radius(explainer, digits):
    found = explainer.semifactuals(
        digits.X_test[:2], n_per_query=1, radius=2.5, n_samples=50, random_state=0
    )
    params = found.meta["parameters"]
    assert params["radius"] == 2.5 and params["n_samples"] == 50 and params["sampler"] == "gmm"
    assert params["n_per_query"] == 1 and params["select"] == "proxy"


def test_counterfactuals_judge_other_classes_through_the_component_classes(explainer, digits):
    """Counterfactuals are rows of another class, with classes as the component ->
    class map gives them: here components 0 and 1 both stand for class 0 (as after two
    components merge), so the rows of component 1 (the ones), which the proxy's
    log-odds would rank first as components, are no counterfactuals of a 0."""
    import copy

    e = copy.copy(explainer)
    e.classes_ = explainer.classes_.copy()
    e.classes_[1] = 0
    queries = digits.X_test[e.predict(digits.X_test) == 0][:10]
    found = e.counterfactuals(queries, n_per_query=5, source="mined", select="margin")
    assert len(found) == 50 and np.all(found.top_classes[:, 0] != 0)


def test_validation_agreement_is_each_candidates_proxy_against_the_black_box_on_held_out_rows(
    digits, digits_blackbox, monkeypatch
):
    """Each candidate's score is the agreement of its proxy (fitted without the held-out
    rows) with the black box's classes on the held-out rows, recomputed here with
    sklearn from the candidate models themselves."""
    from sklearn.metrics import accuracy_score

    from unboxed.surrogates import _jgmm_explainer

    models, voters = [], []
    _record_jgmm_fits(
        monkeypatch,
        lambda model, X, Y, labels_y: models.append((model, np.asarray(Y), np.asarray(labels_y))),
    )
    real_vote = _jgmm_explainer._component_classes

    def vote(model, Y, labels, n_classes):
        voters.append(np.asarray(labels))
        return real_vote(model, Y, labels, n_classes)

    # a vote over all rows would agree on almost any fit, so check who votes directly
    monkeypatch.setattr(_jgmm_explainer, "_component_classes", vote)
    X = digits.X_train[:300]
    e = JGMMExplainer(
        digits_blackbox,
        lower_layer="act4",
        n_components_x=[2, 6],
        validation_fraction=0.3,
        random_state=0,
        verbose=False,
    ).fit(X)
    # random_state=0: the split is the first draw of the seed's generator
    order = np.random.default_rng(0).permutation(300)
    val, train = order[:90], np.sort(order[90:])
    F, truth = e.lower_features(X), digits_blackbox.predict(X)
    # the components get their classes from the training rows only, then all rows
    assert [len(v) for v in voters] == [210, 210, 300]
    np.testing.assert_array_equal(voters[0], truth[order[90:]])
    for (model, Y, labels), kx in zip(models[:2], (2, 6), strict=True):
        classes = _component_classes(model, Y, labels, 10)
        proxy = _class_proba(model.predict_proba_w(F[val]), classes, 10).argmax(axis=1)
        assert e.validation_agreement_[kx, 1e-3] == accuracy_score(truth[val], proxy)
        on_train = _class_proba(model.predict_proba_w(F[train]), classes, 10).argmax(axis=1)
        assert accuracy_score(truth[train], on_train) != accuracy_score(truth[val], proxy)


@pytest.mark.filterwarnings("ignore:JGMM EM did not converge")
@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_em_bars_and_false_prints_nothing(verbose, digits, digits_lenet, capfd):
    from unboxed import zoo

    # two candidates: the validation fits and the final fit all report progress
    JGMMExplainer(
        zoo.as_blackbox(digits_lenet),
        lower_layer="pool2",
        n_components_x=(2, 3),
        max_iter=2,
        random_state=0,
        verbose=verbose,
    ).fit(digits.X_train[:200])
    assert_progress_shown(capfd, verbose, "JGMM EM")


@pytest.mark.filterwarnings("ignore:JGMM EM did not converge")
def test_an_untied_refit_leaves_no_classes_of_the_tied_fit_before(planted, planted_logreg):
    X = planted.X_test[:80]
    box = BlackBox.from_torch(torch_logistic_regression(planted_logreg), input_shape=(20,))
    explainer = JGMMExplainer(
        box, lower_layer="act1", n_components_x=2, max_iter=5, random_state=0, verbose=False
    ).fit(X)
    assert explainer.classes_.shape == (2,)
    explainer.higher_layer, explainer.n_components_y = "fc1", 2  # as set_params does
    assert explainer.fit(X) is explainer and explainer.classes_ is None
    explainer.higher_layer = "logits"  # changed after the fit: asks for another fit
    with pytest.raises(ValueError, match="fit it again"):
        explainer.predict(X[:2])
    with pytest.raises(ValueError, match="fit it again"):  # not a TypeError on None
        explainer.plot_posteriors()


@pytest.mark.filterwarnings("ignore:JGMM EM did not converge")
def test_the_default_pool_is_featurised_once_per_fit_and_follows_refits_and_settings(
    planted, planted_logreg, monkeypatch
):
    """Mining ``X_fit_`` runs the black box over it once, not at every call; a refit,
    or another layer set after the fit, makes it run again."""
    box = BlackBox.from_torch(torch_logistic_regression(planted_logreg), input_shape=(20,))
    explainer = JGMMExplainer(
        box, lower_layer="act1", n_components_x=2, max_iter=5, random_state=0, verbose=False
    )
    calls: list[int] = []
    original = JGMMExplainer._lower_features  # lower_features' too, and the pool's

    def counted(self, X, row_name=None):
        calls.append(len(X))
        return original(self, X, row_name)

    monkeypatch.setattr(JGMMExplainer, "_lower_features", counted)
    first, second = planted.X_test[:80], planted.X_test[80:160]
    explainer.fit(first)
    calls.clear()
    once = explainer.criticisms(n=5)
    twice = explainer.criticisms(n=5)
    assert calls == [80]  # the second call reuses the whitened rows of the first
    np.testing.assert_array_equal(once.values, twice.values)
    np.testing.assert_array_equal(once.indices, twice.indices)
    with pytest.raises(ValueError, match="read-only"):
        explainer._fit_pool()[0, 0] = 0.0  # no caller can change what the next one mines

    explainer.fit(second)  # a refit mines the new rows, not the old ones
    calls.clear()
    refitted = explainer.criticisms(n=5)
    given = explainer.criticisms(second, n=5)
    assert calls == [80, 80]
    np.testing.assert_array_equal(refitted.values, given.values)
    np.testing.assert_array_equal(refitted.inputs, second[given.indices])

    calls.clear()
    explainer.set_params(lower_layer="fc1")  # the same values here: ReLU of non-negatives
    explainer.criticisms(n=5)
    explainer.criticisms(n=5)
    assert calls == [80]

    # pool and spatial are in the key as well: set after the fit, each sends mining back
    # to the features (which refuse them on this model without a conv map), not to the
    # rows kept for the old settings.
    for setting in ({"pool": 2}, {"spatial": True}):
        explainer.set_params(**setting)
        with pytest.raises(ValueError, match="pool and spatial need a conv map"):
            explainer.criticisms(n=5)
        explainer.set_params(pool=None, spatial=False)

    # A new black box, set after the fit, recomputes them too.
    explainer.set_params(
        blackbox=BlackBox.from_torch(torch_logistic_regression(planted_logreg), input_shape=(20,))
    )
    calls.clear()
    explainer.criticisms(n=5)
    assert calls == [80]


@pytest.mark.filterwarnings("ignore:JGMM EM did not converge")
def test_a_black_box_of_other_classes_set_after_the_fit_asks_for_a_refit(planted, planted_logreg):
    # predict answered class 2 for a box of 2 classes without a word, fidelity said
    # "pred_a holds 2, which is not a class", counterfactuals "top_classes name class 2
    # of 2", after set_params(blackbox=) swapped the 3-class box the proxy learnt.
    import torch

    from unboxed import zoo

    X = planted.X_test[:80]
    torch.manual_seed(0)
    three = BlackBox.from_torch(zoo.mlp((20,), n_features=20, n_classes=3), input_shape=(20,))
    assert np.unique(three.predict(X)).size == 3
    two = BlackBox.from_torch(torch_logistic_regression(planted_logreg), input_shape=(20,))
    explainer = JGMMExplainer(
        three, lower_layer="act1", n_components_x=3, max_iter=5, random_state=0, verbose=False
    ).fit(X)
    expected = explainer.predict(X)
    explainer.set_params(blackbox=two)
    message = (
        r"fitted on a black box of 3 classes, but blackbox now has 2: it was changed since "
        r"the fit \(set_params\(blackbox=...\)\); fit the explainer again"
    )
    for call in (explainer.predict, explainer.fidelity, explainer.counterfactuals):
        with pytest.raises(ValueError, match=message):
            call(X[:5])
    np.testing.assert_array_equal(explainer.set_params(blackbox=three).predict(X), expected)
    assert explainer.set_params(blackbox=two).fit(X).predict(X).max() <= 1


def test_validity_asks_the_black_box_not_the_proxy(explainer, digits, digits_lenet):
    """Mined counterfactuals are classified from their images by the network itself,
    generated ones by the layers above pool2; semi-factuals are valid when the class
    stays. The interval is Wilson's with the queries as the units."""
    import torch

    from unboxed.evaluate._stats import wilson_bounds

    queries = digits.X_test[:12]
    with torch.inference_mode():
        net = digits_lenet(torch.as_tensor(queries.reshape(-1, 1, 8, 8), dtype=torch.float32))
    classes = net.argmax(1).numpy()
    mined = explainer.counterfactuals(queries, n_per_query=4, source="mined", select="score")
    with torch.inference_mode():
        images = torch.tensor(mined.inputs.reshape(-1, 1, 8, 8), dtype=torch.float32)
        flipped = digits_lenet(images).argmax(1).numpy() != classes[mined.groups]
    # select="score" keeps examples the proxy may leave in the query's class: a mix
    assert 0 < flipped.mean() < 1
    result = explainer.validity(mined)
    assert result.mean == flipped.mean() and result.n == len(mined)
    assert result.ci == wilson_bounds(flipped.mean(), 12)
    generated = explainer.counterfactuals(queries, n_per_query=3, radius=2.0, random_state=0)
    flips = explainer.head_predict(generated.values) != classes[generated.groups]
    assert explainer.validity(generated).mean == flips.mean()
    semi = explainer.semifactuals(queries, n_per_query=3, source="mined")
    with torch.inference_mode():
        images = torch.tensor(semi.inputs.reshape(-1, 1, 8, 8), dtype=torch.float32)
        kept = digits_lenet(images).argmax(1).numpy() == classes[semi.groups]
    assert explainer.validity(semi).mean == kept.mean()
    with pytest.raises(ValueError, match="counterfactuals and semi-factuals, got prototypes"):
        explainer.validity(explainer.prototypes(n_per_class=1))
    with pytest.raises(TypeError, match="ExampleSet"):
        explainer.validity(flips)


def _network_proba(digits_lenet, images):
    import torch

    with torch.inference_mode():
        x = torch.tensor(np.asarray(images).reshape(-1, 1, 8, 8), dtype=torch.float32)
        return torch.softmax(digits_lenet(x).double(), dim=1).numpy()


def _margin(proba):
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def test_faithfulness_checks_each_kind_of_example_against_the_black_box(
    explainer, digits, digits_lenet
):
    """Prototypes against their component's class, criticisms against the proxy's
    agreement, influentials against the network's own margin; each beside the same
    share on the pool, with Wilson's intervals. Recomputed here with the network."""
    from unboxed.evaluate._stats import wilson_interval

    pool = _network_proba(digits_lenet, digits.X_train)
    pool_agrees = explainer.predict(digits.X_train) == pool.argmax(1)

    def check(result, hits, reference, kind):
        assert result.kind == kind and result.examples.n == hits.size
        assert result.examples.mean == hits.mean()
        assert result.examples.ci == wilson_interval(int(hits.sum()), hits.size)
        assert result.reference.mean == reference.mean()
        assert result.reference.ci == wilson_interval(int(reference.sum()), reference.size)

    criticisms = explainer.criticisms(n=30)
    result = explainer.faithfulness(criticisms)
    agrees = _network_proba(digits_lenet, criticisms.inputs).argmax(1)
    check(result, agrees == criticisms.top_classes[:, 0], pool_agrees, "criticism")
    # rows no component represents are where the proxy fails: 0.20 against 0.86
    assert result.expected == "lower" and result.holds and result.examples.mean < 0.5

    influentials = explainer.influentials(n=30)
    result = explainer.faithfulness(influentials)
    median = np.median(_margin(pool))
    low = _margin(_network_proba(digits_lenet, influentials.inputs)) < median
    check(result, low, _margin(pool) < median, "influential")
    # the network hesitates where the proxy does: 0.80 below its median margin
    assert result.expected == "higher" and result.holds

    mined = explainer.prototypes(n_per_class=5)
    result = explainer.faithfulness(mined)
    in_class = _network_proba(digits_lenet, mined.inputs).argmax(1) == mined.groups
    check(result, in_class, pool_agrees, "prototype")
    # Eq. 4 alone ranks rows by the density p(x | w = j), and the densest rows of a
    # class's mixture were often rows of another class near a tight component: the
    # network put only 0.62 of them in j, below the proxy's agreement on the pool.
    # Mined among the rows the proxy puts in j, all 50 are the network's j.
    assert result.holds and result.examples.mean > 0.95
    assert np.array_equal(explainer.predict(mined.inputs), mined.groups)
    generated = explainer.prototypes(n_per_class=20, source="generated", random_state=0)
    result = explainer.faithfulness(generated)
    # generated prototypes go through the layers above pool2 and their softmax
    in_class = explainer.head_predict(generated.values) == generated.groups
    check(result, in_class, pool_agrees, "prototype")
    # 190 of 200 on an AMD EPYC, more on the CPU this was written on: the LeNet
    # trained here differs in its last bits between CPUs, and so do its prototypes.
    assert result.holds and result.examples.mean > 0.9


def test_faithfulness_measures_on_the_pool_given(explainer, digits, digits_lenet):
    influentials = explainer.influentials(digits.X_test, n=20)
    result = explainer.faithfulness(influentials, digits.X_test)
    pool = _network_proba(digits_lenet, digits.X_test)
    median = np.median(_margin(pool))
    assert result.reference.n == 359
    assert result.reference.mean == np.mean(_margin(pool) < median)
    low = _margin(_network_proba(digits_lenet, influentials.inputs)) < median
    assert result.examples.mean == low.mean()
    # generated influentials are read through the head's softmax, as the network's own
    generated = explainer.influentials(n=10, source="generated", random_state=0)
    proba = explainer._head_proba(generated.values)
    F = explainer.lower_features(digits.X_test[:5])
    np.testing.assert_allclose(
        explainer._head_proba(F), _network_proba(digits_lenet, digits.X_test[:5]), atol=1e-6
    )
    assert explainer.faithfulness(generated).examples.mean == np.mean(
        _margin(proba) < np.median(_margin(_network_proba(digits_lenet, digits.X_train)))
    )
    assert json.loads(json.dumps(result.as_dict()))["kind"] == "influential"
    assert "influentials" in str(result)


def test_faithfulness_refuses_what_it_does_not_check(explainer, digits):
    queries = digits.X_test[:2]
    with pytest.raises(ValueError, match="got counterfactuals; use validity"):
        explainer.faithfulness(explainer.counterfactuals(queries, n_per_query=1, random_state=0))
    with pytest.raises(TypeError, match="ExampleSet"):
        explainer.faithfulness(np.zeros((2, 64)))
    with pytest.raises(ValueError, match="expects"):
        explainer.faithfulness(explainer.criticisms(n=2), digits.X_test[:, :5])
    # A hand-made set without inputs is classified from its values: their width is
    # named as the set's, not as an internal "F".
    narrow = dataclasses.replace(
        explainer.criticisms(n=2), values=np.zeros((2, 3)), inputs=None, image_shape=None
    )
    width = int(np.prod(explainer.feature_shape_))
    with pytest.raises(
        ValueError,
        match=rf"examples.values has 3 features per row; expected {width}, the flat lower "
        "features of layer 'pool2'",
    ):
        explainer.faithfulness(narrow)


def test_criticisms_of_a_pool_shorter_than_n_are_its_every_row_once(explainer, digits):
    """As documented: n above the pool gives each pool row once, as prototypes do."""
    pool = digits.X_test[:150]
    found = explainer.criticisms(pool, n=1000)
    np.testing.assert_array_equal(np.sort(found.indices), np.arange(150))
    assert found.meta["parameters"]["n"] == 1000
    prototypes = explainer.prototypes(pool, n_per_class=1000)
    for j in np.unique(prototypes.groups):
        np.testing.assert_array_equal(
            np.sort(prototypes.indices[prototypes.groups == j]), np.arange(150)
        )


def test_mined_prototypes_come_from_other_components_only_when_short(explainer, digits):
    """A component the proxy gives fewer rows than asked for is filled with the best
    rows of the others, by eq. 4 alone."""
    pool = digits.X_train[:60]
    proxy = explainer.predict(pool)
    counts = np.bincount(proxy, minlength=10)
    short = int(np.argmin(np.where(counts > 0, counts, np.inf)))
    n = int(counts[short]) + 2
    found = explainer.prototypes(pool, n_per_class=n)
    mine = found.groups == short
    own = proxy[found.indices[mine]] == short
    assert mine.sum() == n and own.sum() == counts[short]
    # each component's own rows first: every component with n rows gets only its own
    for j in np.flatnonzero(counts >= n):
        assert np.all(proxy[found.indices[found.groups == j]] == j)


@pytest.mark.parametrize("sampler", ["gmm", "local", "boundary"])
def test_a_query_s_generated_examples_do_not_depend_on_the_other_queries(
    explainer, digits, sampler
):
    """Query i's counterfactuals among several are those it gets alone, from the same
    seed: every query draws from the generator's state at the call. Before, the draws
    ran on from query to query, so a query's candidates were those of its place. (The
    same draws; to rounding, since the LeNet's features of a query, which whiten and
    centre them, round otherwise in a batch of another size.)"""
    queries = digits.X_test[:4]
    settings = {"n_per_query": 3, "select": "score", "sampler": sampler, "radius": 3.0}
    batch = explainer.counterfactuals(queries, random_state=0, **settings)
    for i in range(len(queries)):
        alone = explainer.counterfactuals(queries[i : i + 1], random_state=0, **settings)
        np.testing.assert_allclose(batch.values[batch.groups == i], alone.values, rtol=1e-5)
        np.testing.assert_allclose(batch.scores[batch.groups == i], alone.scores, rtol=1e-5)


def test_different_queries_draw_independently_and_equal_queries_alike(
    explainer, digits, monkeypatch
):
    """Each query's generator is seeded with the call's seed and a hash of the query's
    inputs: two different queries start from different states (they all started from
    the generator's state at the call, so shared their draws), the same query twice
    from the same state, with the same examples."""
    from unboxed.surrogates import _jgmm_math

    starts = []
    real = _jgmm_math.sample_gmm

    def spy(*args, **kwargs):
        starts.append(args[4].bit_generator.state["state"]["state"])
        return real(*args, **kwargs)

    monkeypatch.setattr(_jgmm_math, "sample_gmm", spy)
    settings = {"n_per_query": 3, "select": "score", "sampler": "gmm", "radius": 3.0}
    found = explainer.counterfactuals(digits.X_test[[0, 1, 0]], random_state=0, **settings)
    assert len(starts) == 3 and starts[0] != starts[1] and starts[0] == starts[2]
    np.testing.assert_allclose(
        found.values[found.groups == 0], found.values[found.groups == 2], rtol=1e-5
    )


def test_generated_examples_record_the_call_s_seed_and_it_gives_the_call_again(explainer, digits):
    """meta["seed"] is the int each sampling call drew from a Generator (or from the
    explainer's own), as the local explainers record it; passing it back as
    random_state makes the same examples. It recorded the explainer's random_state (0),
    with which no call made from a Generator could be made again."""
    e, queries = explainer, digits.X_test[:2]
    calls = {
        "prototypes": lambda r: e.prototypes(
            source="generated", n_per_class=2, n_candidates=10, random_state=r
        ),
        "influentials": lambda r: e.influentials(
            source="generated", n=3, n_per_component=5, random_state=r
        ),
        "counterfactuals": lambda r: e.counterfactuals(
            queries, n_per_query=2, n_samples=50, random_state=r
        ),
        "semifactuals": lambda r: e.semifactuals(
            queries, n_per_query=2, n_samples=50, sampler="local", radius=3.0, random_state=r
        ),
    }
    for name, call in calls.items():
        for random_state in (np.random.default_rng(7), None):  # None: the explainer's
            first = call(random_state)
            seed = first.meta["seed"]
            assert isinstance(seed, int) and not isinstance(seed, bool), name
            again = call(seed)
            assert again.meta["seed"] == seed, name
            np.testing.assert_array_equal(again.values, first.values, err_msg=name)
            np.testing.assert_array_equal(again.scores, first.scores, err_msg=name)
    # calls that draw nothing keep the explainer's random_state, as before
    assert e.criticisms(n=2).meta["seed"] == 0
    mined = e.counterfactuals(queries, n_per_query=1, source="mined")
    assert mined.meta["seed"] == 0


def test_a_hidden_submodule_named_logits_is_that_layer_and_untied(digits):
    """The black box decides what names its output (BlackBox._is_output): a hidden
    submodule called "logits" is that layer, so the JGMM on it is untied; "output" is
    the output of a model that returns probabilities, and ties components to classes."""
    from collections import OrderedDict

    import torch

    torch.manual_seed(0)
    hidden = torch.nn.Sequential(
        OrderedDict(
            lower=torch.nn.Linear(64, 6),
            act=torch.nn.ReLU(),
            logits=torch.nn.Linear(6, 5),  # hidden, despite its name
            act2=torch.nn.ReLU(),
            head=torch.nn.Linear(5, 10),
        )
    )
    X = digits.X_train[:200]
    blackbox = BlackBox.from_torch(hidden, input_shape=(64,))
    assert blackbox.layer_names()[-1] == "head"  # the output has no alias left
    kwargs = {"lower_layer": "lower", "n_components_x": 3, "random_state": 0, "verbose": False}
    with pytest.raises(ValueError, match="higher_layer='logits' needs n_components_y"):
        JGMMExplainer(blackbox, higher_layer="logits", **kwargs).fit(X)
    untied = JGMMExplainer(blackbox, higher_layer="logits", n_components_y=2, **kwargs).fit(X)
    assert untied.classes_ is None and untied.jgmm_.Q_.shape == (3, 2)
    with pytest.raises(ValueError, match="components tied to classes"):
        untied.predict(X[:2])

    probabilities = torch.nn.Sequential(hidden, torch.nn.Softmax(dim=1))
    blackbox = BlackBox.from_torch(probabilities, input_shape=(64,), output="probabilities")
    lower = {**kwargs, "lower_layer": "0.lower"}
    with pytest.warns(UserWarning, match="one-to-one"):  # an untrained model's classes
        tied = JGMMExplainer(blackbox, higher_layer="output", **lower).fit(X)
    assert tied.predict(X[:2]).shape == (2,)
    with pytest.raises(ValueError, match="'logits' is not a layer of the model"):
        JGMMExplainer(blackbox, higher_layer="logits", **lower).fit(X)


@pytest.mark.parametrize("kind", ["counterfactuals", "semifactuals"])
def test_a_querys_examples_read_back_in_the_order_found(explainer, digits, kind):
    """Scores that agree to 6 decimals tie and the nearer counterfactual (farther
    semi-factual) goes first; ``group``, which the gallery draws, ranks by score alone,
    so the scores kept are the rounded ones: with the raw ones it reordered ties by
    their noise below 1e-6."""
    queries = digits.X_test[:20]
    examples = getattr(explainer, kind)(queries, source="mined")
    Z = explainer.jgmm_.transform_x(explainer.lower_features(examples.inputs))
    Zq = explainer.jgmm_.transform_x(explainer.lower_features(queries))
    tied = 0
    for q in range(len(queries)):
        found = np.flatnonzero(examples.groups == q)
        np.testing.assert_array_equal(examples.group(q), found)
        distance = rms_distance(Z[found], Zq[q])
        same = np.diff(examples.scores[found]) == 0
        steps = np.diff(distance)[same]
        assert np.all(steps >= -1e-9 if kind == "counterfactuals" else steps <= 1e-9)
        tied += same.sum()
    assert tied >= 10  # ties are common: near one-hot posteriors


def test_examples_of_a_table_carry_the_black_box_s_input_names():
    """A table's example sets drew their bars as x0, x1, ... unless plot was told the
    names, though the black box knew them: the sets now carry them."""
    from sklearn.datasets import load_breast_cancer

    from tests.helpers import breast_cancer_box

    X, box, _ = breast_cancer_box()
    columns = tuple(load_breast_cancer().feature_names)
    named = BlackBox.from_torch(box.module, input_shape=(30,), feature_names=columns)
    explainer = JGMMExplainer(
        named, lower_layer="act1", n_components_x=4, random_state=0, verbose=False
    ).fit(X[:400])
    mined = explainer.prototypes(n_per_class=2)
    found = explainer.counterfactuals(X[400:402], n_per_query=2, source="mined")
    assert mined.input_names == found.input_names == columns
    for examples in (mined, found):
        shown = [ax for ax in examples.plot().axes if ax.patches]
        assert shown and all(
            [t.get_text() for t in ax.get_yticklabels()] == list(columns[::2]) for ax in shown
        )
    # an explicit argument still wins
    ax = next(ax for ax in mined.plot(input_names=[f"c{j}" for j in range(30)]).axes if ax.patches)
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"c{j}" for j in range(0, 30, 2)]
    # generated examples have no inputs to name
    generated = explainer.prototypes(
        n_per_class=1, source="generated", n_candidates=10, random_state=0
    )
    assert generated.inputs is None and generated.input_names is None


def test_generated_examples_of_the_input_layer_are_input_rows_drawn_as_bars():
    # On a table with layer "0" (nn.Identity first, as immutable= needs), generated
    # counterfactuals drew as square heat maps of "layer 0 features" beside their
    # query's bars: the same 30 numbers, in two pictures no one could compare.
    from tests.helpers import breast_cancer_mlp

    data, box = breast_cancer_mlp()
    explainer = JGMMExplainer(
        box, lower_layer="0", n_components_x=4, e_step="labelled", random_state=0, verbose=False
    ).fit(data.X_train)
    queries = data.X_test[:2]
    found = explainer.counterfactuals(queries, n_per_query=2, radius=2.0, random_state=0)
    assert found.source == "generated" and len(found) > 0
    np.testing.assert_array_equal(found.inputs, found.values)
    assert found.input_names == tuple(data.feature_names)
    fig = found.plot()
    bars = [ax for ax in fig.axes if ax.patches]
    assert len(bars) == 2 + len(found)  # each query and each example, all as bars
    assert not any(ax.images for ax in fig.axes)  # no heat map
    assert not any(ax.get_title().endswith("features") for ax in fig.axes)
    # The black box reads them as it reads the query: validity is unchanged.
    classes = box.predict(found.inputs)
    expected = np.mean(classes != found.query_classes[found.groups])
    assert explainer.validity(found).mean == expected
    generated = explainer.prototypes(
        n_per_class=1, source="generated", n_candidates=10, random_state=0
    )
    np.testing.assert_array_equal(generated.inputs, generated.values)
    assert generated.input_names == tuple(data.feature_names)
    # A hidden layer's generated examples exist only as features, as before.
    hidden = JGMMExplainer(
        box, lower_layer="2", n_components_x=4, e_step="labelled", random_state=0, verbose=False
    ).fit(data.X_train)
    assert hidden.counterfactuals(queries, n_per_query=1, radius=2.0, random_state=0).inputs is None


def test_a_dataframes_queries_are_named_by_its_index_in_the_examples(tmp_path):
    """The ExampleSet kept no index of a DataFrame's queries: the gallery titled a test
    split's row labelled 105 "query 0", and nothing said which row each example was of."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    data, box = breast_cancer_mlp()
    explainer = JGMMExplainer(
        box, lower_layer="2", n_components_x=6, e_step="labelled", random_state=0, verbose=False
    ).fit(data.X_train)
    frame = pd.DataFrame(data.X_test, columns=list(data.feature_names))
    _, split = train_test_split(frame, test_size=0.2, random_state=0)  # a shuffled index
    queries = split.iloc[:3]
    labels = tuple(str(label) for label in queries.index)
    assert labels != ("0", "1", "2")
    for make in (explainer.counterfactuals, explainer.semifactuals):
        named = make(queries, source="mined", n_per_query=2)
        assert named.query_names == labels
        for g in range(3):  # each name is that of the row the query's inputs are
            row = frame.loc[int(named.query_name(g))].to_numpy()
            np.testing.assert_array_equal(named.query_inputs[g], row)
        titles = [ax.get_title() for ax in named.plot().axes]
        assert any(title.startswith(f"query {labels[2]} (") for title in titles)
        # an array's queries have no names; the examples are the same
        unnamed = make(queries.to_numpy(), source="mined", n_per_query=2)
        assert unnamed.query_names is None
        np.testing.assert_array_equal(named.values, unnamed.values)
        np.testing.assert_array_equal(named.groups, unnamed.groups)
    named.save(tmp_path / "e.npz")
    assert ExampleSet.load(tmp_path / "e.npz").query_names == labels
    save_without_field(tmp_path / "e.npz", "query_names")  # a file from before the field
    assert ExampleSet.load(tmp_path / "e.npz").query_names is None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lower_layer": "pool9"}, ValueError, "lower_layer='pool9' is not a layer"),
        ({"pool": 4}, ValueError, "pool must be None, 2 or 3"),
        ({"validation_fraction": 1.5}, ValueError, "validation_fraction must lie in"),
        ({"covariance": "ful"}, ValueError, "covariance must be 'diag'"),
        ({"var_floor": (1e-3, 2.0)}, ValueError, "var_floor must be a number in"),
        ({"checkpoint": "run.npz"}, ValueError, "a checkpoint needs a reproducible"),
    ],
)
def test_bad_settings_are_refused_when_made_and_set(kwargs, error, message, digits_blackbox):
    # They were refused only by fit, after the black box had run over the data.
    with pytest.raises(error, match=message):
        JGMMExplainer(digits_blackbox, **{"lower_layer": "pool2", **kwargs})
    explainer = JGMMExplainer(digits_blackbox, lower_layer="pool2")
    with pytest.raises(error, match=message):
        explainer.set_params(**kwargs)
    assert (
        explainer.get_params() == JGMMExplainer(digits_blackbox, lower_layer="pool2").get_params()
    )


def test_a_non_torch_black_box_is_refused_when_made(planted_blackbox):
    with pytest.raises(TypeError, match="JGMMExplainer reads the layers of a torch model"):
        JGMMExplainer(planted_blackbox, lower_layer="0")


@pytest.fixture(scope="module")
def iris_mlp():
    """docs/jgmm.md's iris example: a 4-16-3 ReLU MLP of iris's raw columns (torch seed
    0, 500 Adam steps at lr 0.01), an ``nn.Identity`` first so that layer "0" is the
    input. Returns ``(X, box)``."""
    import torch
    from sklearn.datasets import load_iris
    from torch import nn

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Identity(), nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    inputs, labels = torch.as_tensor(X), torch.as_tensor(y)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(500):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(inputs), labels).backward()
        optimizer.step()
    return X, BlackBox.from_torch(net, input_shape=(4,))


def test_counterfactual_alpha_is_eq8s_optimum_however_small_its_coefficients(iris_mlp):
    """Query 0, a setosa, lies almost surely in a setosa-only component, so eq. 8's
    coefficients are all below HiGHS's 1e-7 tolerance: the LP stopped at its first
    vertex, component 0 (query 60's own, versicolor), whatever they were, and the
    page's queries 0 and 60 shared an alpha that eq. 8 gives to query 60 alone."""
    from unboxed.surrogates._jgmm_examples import local_weights

    X, box = iris_mlp
    explainer = JGMMExplainer(box, lower_layer="0", random_state=0, verbose=False).fit(X)
    queries = X[[0, 60, 120]]
    model = explainer.jgmm_
    Zq = model.transform_x(explainer.lower_features(queries))
    c = local_weights(model, Zq, "counterfactual")
    assert c[0].max() < 1e-7  # the case: every coefficient below the solver's tolerance
    cf = explainer.counterfactuals(queries, random_state=0)
    assert cf.meta["parameters"]["alpha_support"] == [[int(i)] for i in c.argmax(axis=1)]


# ---------------------------------------------------------------- a DataFrame's rows
def _torch_refusing_a_petal_of_4(spared_calls):
    """tests/helpers.iris_refusing_a_petal_of_4's model as a torch module (its
    log-probabilities as logits), an ``nn.Identity`` first so that layer "0" is the
    input: JGMMExplainer reads a torch model's layers. Returns ``(box, X, module)``;
    ``module[1].fn`` is the helper's model, which a test may swap."""
    import torch
    from torch import nn

    from tests.helpers import iris_refusing_a_petal_of_4
    from unboxed import BlackBox

    class Refusing(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return torch.log(torch.as_tensor(self.fn(x.numpy()))).float()

    box, X = iris_refusing_a_petal_of_4(spared_calls)
    module = nn.Sequential(nn.Identity(), Refusing(box._predict_fn))
    torch_box = BlackBox.from_torch(module, input_shape=(4,), name="refuses_a_petal_of_4")
    return torch_box, X, module


def _raises_on_flower_62(call, place="row 1 of the 6 rows queried"):
    import re

    from unboxed import BlackBoxError

    with pytest.raises(BlackBoxError) as raised:
        call()
    message = str(raised.value)
    expected = (
        rf"black box 'refuses_a_petal_of_4' raised ValueError on {place}, "
        r"row X\.loc\['flower-62'\]: petal length 4\.0"
    )
    assert re.fullmatch(expected, message), message


@pytest.mark.parametrize("spared_calls", [0, 1], ids=["lower", "higher"])
def test_fit_names_a_dataframes_failing_row_by_its_label(spared_calls):
    """fit said "on row 1 of the 6 rows queried" alone (check_X dropped the index),
    in its lower and its higher layer's pass, where predict_proba adds the label."""
    box, X, _ = _torch_refusing_a_petal_of_4(spared_calls)
    explainer = JGMMExplainer(box, lower_layer="0", n_components_x=3, verbose=False)
    _raises_on_flower_62(lambda: explainer.fit(X))


@pytest.mark.parametrize(
    ("call", "spared_calls", "place"),
    [
        ("fidelity", 0, "row 1 of the 6 rows queried"),  # the proxy's lower features
        ("fidelity", 1, "row 1 of the 6 rows queried"),  # the black box's classes
        ("counterfactuals", 0, "row 1 of the 6 rows queried"),  # the queries' features
        ("counterfactuals", 1, "row 1 of the 6 rows queried"),  # the queries' classes
        ("prototypes", 0, "row 1 of the 6 rows queried"),  # the mining pool X
        ("mined", 2, "row 1 of the 6 rows queried"),  # the pool X, after the query
        ("blackbox", 3, "row 1 of the mining pool"),  # X's rows the black box is asked about
        ("held", 2, "row 1 of the mining pool with query 0's held features"),
        ("faithfulness", 0, "row 1 of the 6 rows queried"),  # the pool X's classes
    ],
)
def test_queries_name_a_dataframes_failing_row_by_its_label(call, spared_calls, place):
    """Fitted on the rows without a petal length of 4.0, then given the DataFrame as
    queries, as a mining pool or to check against: each said "row 1 of ..." alone."""
    from tests.helpers import iris_refusing_a_petal_of_4

    box, X, module = _torch_refusing_a_petal_of_4(10**9)  # it never raises, to fit
    fit_rows = X.drop(index="flower-62").to_numpy()
    explainer = JGMMExplainer(
        box, lower_layer="0", n_components_x=3, e_step="labelled", random_state=0, verbose=False
    ).fit(fit_rows)
    examples = explainer.prototypes(n_per_class=1, source="mined")
    module[1].fn = iris_refusing_a_petal_of_4(spared_calls)[0]._predict_fn
    query = X.iloc[[0]]
    calls = {
        "fidelity": lambda: explainer.fidelity(X),
        "counterfactuals": lambda: explainer.counterfactuals(X, source="mined"),
        "prototypes": lambda: explainer.prototypes(X=X, n_per_class=1, source="mined"),
        "mined": lambda: explainer.counterfactuals(query, source="mined", X=X),
        "blackbox": lambda: explainer.counterfactuals(
            query, source="mined", X=X, select="blackbox", n_per_query=5
        ),
        "held": lambda: explainer.counterfactuals(
            query, source="mined", X=X, immutable=[0], n_per_query=5
        ),
        "faithfulness": lambda: explainer.faithfulness(examples, X=X),
    }
    _raises_on_flower_62(calls[call], place)


@pytest.mark.parametrize(
    ("call", "spared_calls", "place"),
    [
        ("prototypes", 0, "row 1 of the mining pool"),  # the pool's lower features
        ("blackbox", 3, "row 1 of the mining pool"),  # the pool rows asked about
        ("held", 2, "row 1 of the mining pool with query 0's held features"),
        ("faithfulness", 1, "row 1 of the mining pool"),  # the pool's classes
        ("faithfulness", 2, "row 1 of the mining pool"),  # the proxy's lower features
    ],
)
def test_the_default_pool_names_a_dataframes_failing_row_by_its_label(call, spared_calls, place):
    """Fitted on the DataFrame, whose rows are the default mining pool: each said "row 1
    of ..." alone (X_fit_ keeps no index), where a pool X given names it by its label."""
    from tests.helpers import iris_refusing_a_petal_of_4

    box, X, module = _torch_refusing_a_petal_of_4(10**9)  # it never raises, to fit
    explainer = JGMMExplainer(
        box, lower_layer="0", n_components_x=3, e_step="labelled", random_state=0, verbose=False
    ).fit(X)
    # Mined before the model raises; its own rows (an example set's) have no labels.
    # Only faithfulness mines first: the pool's features are kept once computed.
    examples = (
        explainer.prototypes(n_per_class=1, source="mined") if call == "faithfulness" else None
    )
    module[1].fn = iris_refusing_a_petal_of_4(spared_calls)[0]._predict_fn
    query = X.iloc[[0]]
    calls = {
        "prototypes": lambda: explainer.prototypes(n_per_class=1, source="mined"),
        "blackbox": lambda: explainer.counterfactuals(
            query, source="mined", select="blackbox", n_per_query=5
        ),
        "held": lambda: explainer.counterfactuals(
            query, source="mined", immutable=[0], n_per_query=5
        ),
        "faithfulness": lambda: explainer.faithfulness(examples),
    }
    _raises_on_flower_62(calls[call], place)
