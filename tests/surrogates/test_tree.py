"""TreeSurrogate: fidelity is measured against the black box, never the labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from tests.helpers import assert_progress_shown, iris_refusing_a_petal_of_4, record_progress
from unboxed import BlackBox, BlackBoxError, NotFittedError
from unboxed.evaluate._stats import wilson_interval
from unboxed.surrogates import TreeSurrogate, path_length


def _contrarian(planted):
    """A black box that ignores the planted support and reads feature 0 only, so that it
    disagrees with the labels on about half the rows."""
    return BlackBox.from_callable(
        lambda X: np.stack([X[:, 0] <= 0.3, X[:, 0] > 0.3], 1).astype(float),
        n_classes=2,
        input_shape=(20,),
    )


def test_fidelity_is_against_the_black_box_not_the_labels(planted):
    box = _contrarian(planted)
    X = planted.X_test
    assert (box.predict(X) == planted.y_test).mean() < 0.7  # it disagrees on purpose
    surrogate = TreeSurrogate(box, max_depth=1, random_state=0).fit(planted.X_train)
    assert surrogate.fidelity_.mean > 0.99
    fresh = surrogate.fidelity(X)
    assert fresh.mean > 0.99 and fresh.ci[0] > 0.98
    # the tree copies the black box, so it is as wrong about the labels as the box is
    assert (surrogate.predict(X) == planted.y_test).mean() < 0.7
    rules = surrogate.export_text(feature_names=planted.feature_names)
    assert "f0 <=" in rules and rules.count("class:") == 2
    assert surrogate.depth_ == 1 and surrogate.n_leaves_ == 2
    assert surrogate.path_length_ == pytest.approx(2.0)


def test_path_length_counts_nodes_on_each_path(rng):
    X = rng.uniform(size=(300, 2))
    y = (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 0.7) * (X[:, 0] > 0.5)
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    t = tree.tree_
    brute = []
    for x in X:
        node, visited = 0, 1
        while t.children_left[node] != -1:
            go_left = x[t.feature[node]] <= t.threshold[node]
            node = t.children_left[node] if go_left else t.children_right[node]
            visited += 1
        brute.append(visited)
    assert path_length(tree, X) == pytest.approx(np.mean(brute))
    stump = DecisionTreeClassifier().fit(X, np.zeros(300, int))
    assert path_length(stump, X) == 1.0
    with pytest.raises(ValueError, match="X contains NaN"):
        path_length(tree, np.full((2, 2), np.nan))  # NaN rows took a path and counted
    with pytest.raises(ValueError, match="X has 3 features"):
        path_length(tree, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="fitted sklearn decision tree"):
        path_length(DecisionTreeClassifier(), X)


def test_auto_depth_takes_the_knee_of_the_curve(planted, planted_blackbox):
    surrogate = TreeSurrogate(
        planted_blackbox, max_depth="auto", depths=[1, 2, 4, 8], random_state=0
    ).fit(planted.X_train)
    curve = surrogate.curve_
    assert [point["max_depth"] for point in curve] == [1, 2, 4, 8]
    fidelities = [point["fidelity"]["mean"] for point in curve]
    best = max(fidelities)
    chosen = surrogate.max_depth_
    assert fidelities[[1, 2, 4, 8].index(chosen)] >= best - surrogate.tolerance
    smaller = [f for d, f in zip([1, 2, 4, 8], fidelities, strict=True) if d < chosen]
    assert all(f < best - surrogate.tolerance for f in smaller)
    leaves = [point["n_leaves"] for point in curve]
    assert leaves == sorted(leaves)


def test_auto_depth_takes_the_smallest_depth_whatever_their_order(planted):
    # Depth 1 already copies this black box (it reads one feature); listed last, depth 3
    # was chosen because it came first.
    surrogate = TreeSurrogate(
        _contrarian(planted), max_depth="auto", depths=[3, 1, 1], random_state=0
    ).fit(planted.X_train)
    assert surrogate.max_depth_ == 1
    assert [point["max_depth"] for point in surrogate.curve_] == [1, 3]
    # the curve reports each tree's real depth: one split already copies this box
    assert [point["depth"] for point in surrogate.curve_] == [1, 1]


def test_fidelity_repeats_for_a_fitted_surrogate(planted, planted_blackbox):
    surrogate = TreeSurrogate(planted_blackbox, max_depth=2, random_state=0)
    surrogate.fit(planted.X_train[:800])
    first, second = (surrogate.fidelity(planted.X_test) for _ in range(2))
    assert first == second  # the CI changed on every call


def test_same_seed_same_tree(planted, planted_blackbox):
    def fit():
        return TreeSurrogate(planted_blackbox, max_depth=4, random_state=5).fit(
            planted.X_train[:800]
        )

    a, b = fit(), fit()
    assert a.export_text() == b.export_text() and a.fidelity_ == b.fidelity_


def test_not_fitted_and_bad_input(planted, planted_blackbox):
    surrogate = TreeSurrogate(planted_blackbox)
    with pytest.raises(NotFittedError, match="not fitted"):
        surrogate.predict(planted.X_test)
    with pytest.raises(NotFittedError, match="not fitted"):
        surrogate.export_text()
    constant = BlackBox.from_callable(
        lambda X: np.tile([1.0, 0.0], (len(X), 1)), n_classes=2, input_shape=(20,)
    )
    with pytest.raises(ValueError, match="single class"):
        TreeSurrogate(constant).fit(planted.X_test)
    with pytest.raises(ValueError, match="too few"):
        TreeSurrogate(planted_blackbox).fit(planted.X_test[:2])
    fitted = TreeSurrogate(planted_blackbox, max_depth=2).fit(planted.X_test)
    with pytest.raises(ValueError, match="feature_names"):
        fitted.export_text(feature_names=["a"])
    for decimals in (-1, 2.5):  # sklearn's own error, or a float accepted
        with pytest.raises(ValueError, match="decimals must be"):
            fitted.export_text(decimals=decimals)
    with pytest.raises(ValueError, match="expects"):
        fitted.predict(planted.X_test[:, :5])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_depth": 0},
        {"max_depth": "deep"},
        {"tolerance": 2},
        {"tolerance": -0.1},
        {"held_out": 0},
        {"held_out": 1.0},
        {"depths": []},
        # Refused when the surrogate is built, not later in fit. A tolerance of 1
        # would take the shallowest depth whatever its fidelity.
        {"tolerance": 1},
        {"min_samples_leaf": 0},
        {"depths": [2, 0]},
        # a generator would be used up by this check, and fit would find no depths
        {"depths": (d for d in (1, 2))},
        {"depths": 3},
    ],
)
def test_bad_hyperparameters(planted_blackbox, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TreeSurrogate(planted_blackbox, **kwargs)


@pytest.mark.parametrize("max_depth", [0, "deep", 2.5, True])
def test_a_bad_max_depth_is_told_every_value_it_takes(planted_blackbox, max_depth):
    """It said "must be an int >= 1", though None and "auto" are taken too."""
    with pytest.raises(ValueError, match=r"int >= 1, None \(grown .*\) or 'auto'"):
        TreeSurrogate(planted_blackbox, max_depth=max_depth)


def test_tree_fidelity_is_on_the_held_out_rows(planted, planted_blackbox):
    from unboxed.evaluate import agreement

    X = planted.X_train[:800]
    s = TreeSurrogate(planted_blackbox, max_depth=2, random_state=0).fit(X)
    assert s.fidelity_.n == round(0.25 * 800)
    order = np.random.default_rng(0).permutation(800)
    test = order[:200]
    expected = agreement(s.predict(X[test]), planted_blackbox.predict(X[test]))
    assert s.fidelity_.mean == expected.mean


def test_zero_tolerance_takes_the_best_depth(planted):
    surrogate = TreeSurrogate(
        _contrarian(planted),
        max_depth="auto",
        depths=[1, 2],
        tolerance=0,
        random_state=0,
    ).fit(planted.X_train)
    assert surrogate.max_depth_ == 1 and surrogate.fidelity_.mean == 1.0


@pytest.mark.parametrize("verbose", [True, False])
def test_auto_depth_search_shows_a_bar_and_false_prints_nothing(
    verbose, planted, planted_blackbox, capfd
):
    # One tree per depth; on a full training split that is minutes, so it shows a bar.
    TreeSurrogate(
        planted_blackbox,
        max_depth="auto",
        depths=[1, 2],
        random_state=0,
        verbose=verbose,
    ).fit(planted.X_train[:200])
    assert_progress_shown(capfd, verbose, "tree depths")


def test_auto_depth_search_shows_its_bar_by_default_and_it_moves_per_depth(
    planted, planted_blackbox, monkeypatch
):
    import unboxed.surrogates._tree as tree_module

    bars = record_progress(monkeypatch, tree_module)
    surrogate = TreeSurrogate(
        planted_blackbox, max_depth="auto", depths=[1, 2, 3], random_state=0
    ).fit(planted.X_train[:200])
    (bar,) = bars
    assert bar.kwargs["verbose"] is True and bar.kwargs["desc"] == "tree depths"
    assert bar.items == [1, 2, 3] and surrogate.max_depth_ in (1, 2, 3)


def test_path_length_is_on_the_held_out_rows(planted, planted_blackbox):
    X = planted.X_train[:800]
    s = TreeSurrogate(planted_blackbox, random_state=0).fit(X)
    order = np.random.default_rng(0).permutation(800)
    test, train = order[:200], order[200:]
    assert s.path_length_ == path_length(s.tree_, X[test])
    assert s.path_length_ != path_length(s.tree_, X[train])  # a full tree: paths differ


def test_auto_depth_keeps_the_chosen_tree_and_its_curve_point(planted, planted_blackbox):
    X = planted.X_train[:800]
    # A generous tolerance: depth 1 is close enough to the best, so it is chosen.
    loose = TreeSurrogate(
        planted_blackbox, max_depth="auto", depths=[1, 4], tolerance=0.5, random_state=0
    ).fit(X)
    assert loose.max_depth_ == 1 and loose.depth_ == 1 and loose.n_leaves_ == 2
    # tolerance 0 keeps the deeper tree; its curve point is measured on the selection
    # rows (the first half of the held-out ones), its path_length_ on the test rows
    tight = TreeSurrogate(
        planted_blackbox, max_depth="auto", depths=[1, 6], tolerance=0, random_state=0
    ).fit(X)
    held = np.random.default_rng(0).permutation(800)[:200]
    select, test = held[:100], held[100:]
    point = tight.curve_[-1]
    assert tight.max_depth_ == 6 and point["n_leaves"] == tight.n_leaves_
    assert point["path_length"] == path_length(tight.tree_, X[select])
    assert tight.path_length_ == path_length(tight.tree_, X[test])


def test_too_few_rows_to_learn_from_are_refused(planted, planted_blackbox):
    with pytest.raises(ValueError, match="too few to fit and hold out 75%"):  # 1 row to learn
        TreeSurrogate(planted_blackbox, held_out=0.75).fit(planted.X_test[:4])


def test_min_samples_leaf_reaches_the_tree(planted, planted_blackbox):
    s = TreeSurrogate(planted_blackbox, min_samples_leaf=30, random_state=0)
    tree = s.fit(planted.X_train[:800]).tree_.tree_
    assert tree.n_node_samples[tree.children_left == -1].min() >= 30


def test_export_text_shows_a_deep_tree_whole():
    # A black box that flips its class every 1/4096 of feature 0: the tree grows far
    # deeper than scikit-learn's default export depth of 10.
    def flips(X):
        odd = (np.floor(X[:, 0] * 4096) % 2).astype(bool)
        return np.stack([~odd, odd], 1).astype(float)

    box = BlackBox.from_callable(flips, n_classes=2, input_shape=(1,))
    X = np.random.default_rng(0).uniform(size=(1000, 1))
    surrogate = TreeSurrogate(box, random_state=0).fit(X)
    assert surrogate.depth_ > 10
    rules = surrogate.export_text()
    assert "truncated" not in rules and rules.count("class:") == surrogate.n_leaves_


def _two_equal_features():
    """400 uniform rows whose two features are equal, and a black box that thresholds
    the first at 0.5: which feature a tree's root takes is its tie-break."""
    X = np.random.default_rng(0).uniform(size=(400, 2))
    X[:, 1] = X[:, 0]
    box = BlackBox.from_callable(
        lambda Z: np.stack([Z[:, 0] <= 0.5, Z[:, 0] > 0.5], 1).astype(float),
        n_classes=2,
        input_shape=(2,),
    )
    return X, box


def test_random_state_breaks_ties_between_identical_features():
    # Features 0 and 1 are equal: which one the root splits on is the tree's tie-break,
    # seeded by random_state, so several seeds use both.
    X, box = _two_equal_features()
    roots = {
        int(TreeSurrogate(box, max_depth=1, random_state=s).fit(X).tree_.tree_.feature[0])
        for s in range(8)
    }
    assert roots == {0, 1}


def test_an_explicit_depth_is_reported_as_the_depth_used(planted, planted_blackbox):
    X = planted.X_train[:400]
    two = TreeSurrogate(planted_blackbox, max_depth=2, random_state=0).fit(X)
    assert two.max_depth_ == 2 and two.curve_ is None and two.depth_ <= 2
    full = TreeSurrogate(planted_blackbox, random_state=0).fit(X)
    assert full.max_depth_ is None and full.depth_ > 2


def test_the_held_out_share_is_rounded_to_the_nearest_row(planted, planted_blackbox):
    # 25% of 30 rows is 7.5: 8 rows are held out (floor would give 7); 35% of 10 is 3.5
    X = planted.X_train
    for n, share, held in ((30, 0.25, 8), (10, 0.35, 4), (11, 0.25, 3)):
        s = TreeSurrogate(planted_blackbox, held_out=share, random_state=0)
        assert s.fit(X[:n]).fidelity_.n == held, (n, share)


def test_the_curve_is_measured_on_the_held_out_rows_with_wilson_intervals(
    planted, planted_blackbox
):
    from scipy.stats import binomtest

    s = TreeSurrogate(planted_blackbox, max_depth="auto", depths=[1, 2, 3], random_state=0).fit(
        planted.X_train[:400]
    )
    # 100 held-out rows: 50 choose the depth (the curve), 50 measure the chosen tree
    figures = [point["fidelity"] for point in s.curve_] + [s.fidelity_.as_dict()]
    for figure in figures:
        assert figure["n"] == 50
        wilson = binomtest(round(figure["mean"] * 50), 50).proportion_ci(method="wilson")
        np.testing.assert_allclose(figure["ci"], (wilson.low, wilson.high), atol=1e-12)


def test_fidelity_ci_is_wilsons(planted, planted_blackbox):
    s = TreeSurrogate(planted_blackbox, max_depth=2, random_state=0)
    s.fit(planted.X_train[:400])
    X = planted.X_test
    agree = s.predict(X) == planted_blackbox.predict(X)
    fidelity = s.fidelity(X)
    assert fidelity.ci == wilson_interval(int(agree.sum()), agree.size)
    assert fidelity.ci[0] < fidelity.mean < fidelity.ci[1]


def test_every_method_after_fit_checks_it_is_fitted(planted, planted_blackbox):
    surrogate = TreeSurrogate(planted_blackbox)
    for method in (surrogate.fidelity, surrogate.path_length, surrogate.predict_proba):
        with pytest.raises(NotFittedError, match="not fitted"):
            method(planted.X_test)
    fitted = TreeSurrogate(planted_blackbox, max_depth=2, random_state=0)
    fitted.fit(planted.X_train[:400])
    for method in (fitted.fidelity, fitted.path_length, fitted.predict_proba):
        with pytest.raises(ValueError, match="expects"):  # the black box's own check
            method(planted.X_test[:, :5])


def test_export_text_rounds_thresholds_to_the_fewest_decimals_that_keep_their_gap():
    """decimals is the fewest places a threshold prints with: one takes more where
    fewer would leave the gap between the training values it separates."""
    import re

    X = np.random.default_rng(0).uniform(size=(300, 1))
    box = BlackBox.from_callable(
        lambda Z: np.stack([Z[:, 0] <= 0.3, Z[:, 0] > 0.3], 1).astype(float),
        n_classes=2,
        input_shape=(1,),
    )
    s = TreeSurrogate(box, max_depth=1, random_state=0).fit(X)
    seen = X[s.train_indices_, 0]
    low, high = seen[seen <= 0.3].max(), seen[seen > 0.3].min()
    assert 0.28 < low < 0.29 and 0.30 < high < 0.31  # 0 places would give 0, outside
    for decimals, places in ((0, 1), (1, 1), (2, 2), (4, 4)):
        thresholds = re.findall(r"[<>]=? +(-?\d+(?:\.\d+)?)", s.export_text(decimals=decimals))
        assert len(thresholds) == 2 and thresholds[0] == thresholds[1]
        assert len(thresholds[0].partition(".")[2]) == places, (decimals, thresholds)
        assert low < float(thresholds[0]) < high
    assert np.array_equal(s.threshold_gaps_[0], [low, high])
    assert np.isnan(s.threshold_gaps_[1:]).all()  # the leaves split nothing


def test_path_length_takes_a_regression_tree_too(rng):
    from sklearn.tree import DecisionTreeRegressor

    X = rng.uniform(size=(200, 2))
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, X[:, 0] + X[:, 1])
    assert tree.get_depth() == 3
    # a regression tree this shallow is full: every path visits 3 + 1 nodes
    assert path_length(tree, X) == 4.0


def test_every_curve_point_is_its_trees_agreement_on_the_held_out_rows(planted, planted_blackbox):
    """Each depth's curve fidelity is the agreement, on the selection half of the
    held-out rows, of a tree of that depth fitted to the black box's classes of the
    training rows (rebuilt here with sklearn), not its agreement on the rows it learnt
    from."""
    from sklearn.metrics import accuracy_score

    X = planted.X_train[:400]
    s = TreeSurrogate(planted_blackbox, max_depth="auto", depths=[1, 3, 8], random_state=0).fit(X)
    # random_state=0: the split, then the trees' seed, are the generator's first draws
    rng = np.random.default_rng(0)
    order = rng.permutation(400)
    test, train = order[:50], order[100:]
    seed = int(rng.integers(0, 2**31 - 1))
    y = planted_blackbox.predict(X)
    differ = []
    for point in s.curve_:
        tree = DecisionTreeClassifier(
            max_depth=point["max_depth"], min_samples_leaf=s.min_samples_leaf, random_state=seed
        ).fit(X[train], y[train])
        held_out = accuracy_score(y[test], tree.predict(X[test]))
        assert point["fidelity"]["mean"] == held_out
        assert point["n_leaves"] == tree.get_n_leaves()
        differ.append(held_out != accuracy_score(y[train[:100]], tree.predict(X[train[:100]])))
    assert any(differ)  # so the training rows would give other figures


def test_set_params_depths_and_tolerance_change_the_next_fit(planted, planted_blackbox):
    # 600 rows: at 300, the 37 rows that choose the depth tie depths 1 and 3
    X = planted.X_train[:600]
    kwargs = {"max_depth": "auto", "random_state": 0, "verbose": False}
    surrogate = TreeSurrogate(planted_blackbox, depths=(1, 2, 3), **kwargs)
    assert surrogate.set_params(depths=[2]).fit(X).max_depth_ == 2
    # a list and ints, kept as given, fit as the tuple and floats did
    ints = TreeSurrogate(planted_blackbox, depths=[1, 3], tolerance=0, **kwargs).fit(X)
    floats = TreeSurrogate(planted_blackbox, depths=(1, 3), tolerance=0.0, **kwargs).fit(X)
    assert ints.max_depth_ == floats.max_depth_ == 3
    loose = TreeSurrogate(planted_blackbox, depths=(1, 3), tolerance=0.5, **kwargs).fit(X)
    assert loose.max_depth_ == 1  # the shallowest depth within 0.5 of the best
    assert loose.set_params(tolerance=0).fit(X).max_depth_ == 3


@pytest.mark.parametrize("change", ["fewer classes", "another width"])
def test_a_black_box_changed_after_the_fit_asks_for_a_refit(change):
    # After set_params(blackbox=) swapped the box the tree learnt: of fewer classes,
    # predict_proba failed in numpy ("index 2 is out of bounds for axis 1 with size
    # 2") and fidelity and export_text on "class 2"; of another width, predict,
    # predict_proba and fidelity raised scikit-learn's "X has 2 features, but
    # DecisionTreeClassifier is expecting 4", and export_text named feature_3.
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    learnt = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    if change == "fewer classes":
        X_new = X
        new = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y > 0))
        message = r"TreeSurrogate's tree predicts class column 2, but blackbox now has 2 classes"
    else:
        X_new = X[:, :2]
        new = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X_new, y))
        message = r"TreeSurrogate's tree reads 4 features, but blackbox now takes 2"
    message += (
        r": it was changed since the fit \(set_params\(blackbox=...\)\); fit the surrogate again"
    )
    surrogate = TreeSurrogate(learnt, max_depth=3, random_state=0, verbose=False).fit(X)
    expected = surrogate.predict_proba(X)
    surrogate.set_params(blackbox=new)
    for call in (surrogate.predict_proba, surrogate.predict, surrogate.fidelity):
        with pytest.raises(ValueError, match=message):
            call(X_new)
    with pytest.raises(ValueError, match=message):
        surrogate.export_text()
    # Set back, or fitted again on the new box, it answers as before.
    np.testing.assert_array_equal(surrogate.set_params(blackbox=learnt).predict_proba(X), expected)
    refit = surrogate.set_params(blackbox=new).fit(X_new)
    assert refit.predict_proba(X_new).shape == (150, new.n_classes)


def test_export_text_names_the_black_boxs_features_by_default(
    planted, planted_named_blackbox, planted_blackbox
):
    X = planted.X_train[:300]
    named = TreeSurrogate(planted_named_blackbox, max_depth=2, random_state=0, verbose=False)
    text = named.fit(X).export_text()
    assert "column " in text and "feature_" not in text
    # Names passed to the call win; a black box without names reads feature_j as before.
    mine = [f"m{j}" for j in range(20)]
    assert "column " not in named.export_text(feature_names=mine)
    plain = TreeSurrogate(planted_blackbox, max_depth=2, random_state=0, verbose=False)
    assert "feature_" in plain.fit(X).export_text()


def test_export_text_names_the_model_labels_where_the_black_box_has_them(planted):
    # The tree learns column indices; its leaves show the model's own labels, which
    # are what the user's y holds (a "class: 0" read as label 0 would be wrong here).
    names = ["fraud", "ok"]
    box = BlackBox.from_callable(
        lambda X: np.stack([X[:, 0] <= 0.3, X[:, 0] > 0.3], 1).astype(float),
        n_classes=2,
        input_shape=(20,),
        classes=names,
    )
    rules = TreeSurrogate(box, max_depth=1, random_state=0).fit(planted.X_train).export_text()
    assert "class: fraud" in rules and "class: ok" in rules
    plain = _contrarian(planted)
    rules = TreeSurrogate(plain, max_depth=1, random_state=0).fit(planted.X_train).export_text()
    assert "class: 0" in rules and "class: 1" in rules  # indices where no labels are known
    # display names win over labels (the leaves showed the bare label)
    named = BlackBox.from_callable(
        box._predict_fn, n_classes=2, input_shape=(20,), classes=[0, 1], class_names=names
    )
    rules = TreeSurrogate(named, max_depth=1, random_state=0).fit(planted.X_train).export_text()
    assert "class: fraud" in rules and "class: ok" in rules


def test_auto_measures_fidelity_on_rows_that_neither_trained_nor_chose_the_tree(
    planted, planted_blackbox
):
    """fidelity_ under "auto" was the agreement on the held-out rows that had also
    chosen the depth: the best of several noisy figures, biased upwards. Now half the
    held-out rows choose and the other half measure."""
    from unboxed.evaluate import agreement

    X = planted.X_train[:400]
    kwargs = {"max_depth": "auto", "depths": [1, 2, 4, 8], "random_state": 0}
    s = TreeSurrogate(planted_blackbox, **kwargs).fit(X)
    train, select, test = s.train_indices_, s.select_indices_, s.test_indices_
    for a, b in ((train, select), (train, test), (select, test)):
        assert np.intersect1d(a, b).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, select, test])), np.arange(400))
    # by construction: the split is the generator's first draw; the 100 held-out rows
    # are its first 100, the first 50 choose the depth and the next 50 measure the tree
    order = np.random.default_rng(0).permutation(400)
    np.testing.assert_array_equal(select, np.sort(order[:50]))
    np.testing.assert_array_equal(test, np.sort(order[50:100]))
    np.testing.assert_array_equal(train, np.sort(order[100:]))
    y = planted_blackbox.predict(X)
    assert s.fidelity_ == agreement(s.predict(X[test]), y[test]) and s.fidelity_.n == 50
    assert s.path_length_ == path_length(s.tree_, X[test])
    chosen = next(p for p in s.curve_ if p["max_depth"] == s.max_depth_)
    assert chosen["fidelity"] == agreement(s.predict(X[select]), y[select]).as_dict()
    assert chosen["fidelity"]["n"] == 50


def test_a_fixed_depth_measures_on_every_held_out_row(planted, planted_blackbox):
    X = planted.X_train[:400]
    s = TreeSurrogate(planted_blackbox, max_depth=3, random_state=0).fit(X)
    order = np.random.default_rng(0).permutation(400)
    assert s.select_indices_ is None and s.fidelity_.n == 100
    np.testing.assert_array_equal(s.test_indices_, np.sort(order[:100]))
    np.testing.assert_array_equal(s.train_indices_, np.sort(order[100:]))


def test_auto_needs_two_held_out_rows(planted, planted_blackbox):
    # 25% of 5 rows is 1 row: enough for a fixed depth, not to choose and measure
    X = planted.X_train[:5]
    assert TreeSurrogate(planted_blackbox, max_depth=2, random_state=0).fit(X).fidelity_.n == 1
    with pytest.raises(ValueError, match="needs at least 2 held-out rows"):
        TreeSurrogate(planted_blackbox, max_depth="auto", random_state=0).fit(X)


def _rules_predict(rules, names, X):
    """Classify the rows of ``X`` by reading ``export_text``'s rules as a person would:
    each ``name <= t`` line and its ``name > t`` twin guard the lines below them.

    A line is a leaf by its place, not its text: the next line is not below it (a
    feature may be named ``class: a``). A leaf must read ``class: ...`` and a split
    ``name <= t`` or ``name >  t``, or the rules are malformed."""
    import re

    column = {name: j for j, name in enumerate(names)}
    lines = rules.splitlines()
    prefixes = [line.split("|--- ", 1)[0] for line in lines]
    predicted = []
    for x in X:
        i = 0
        while True:
            text = lines[i].split("|--- ", 1)[1]
            if i + 1 == len(lines) or len(prefixes[i + 1]) <= len(prefixes[i]):
                assert text.startswith("class: "), lines[i]
                predicted.append(text[len("class: ") :])
                break
            name, op, t = re.fullmatch(r"(.+) (<=|> ) +(\S+)", text).groups()
            if (x[column[name]] <= float(t)) == (op == "<="):
                i += 1  # this branch: the next line opens it
            else:  # the twin line, the next one at this depth
                twin = prefixes[i] + "|--- "
                i = next(k for k in range(i + 1, len(lines)) if lines[k].startswith(twin))
    return np.array(predicted)


def test_rules_in_raw_units_classify_the_raw_rows_as_the_tree_does_the_standardized():
    # breast-cancer is stored standardized; its rules read in micrometres and the like
    from sklearn.linear_model import LogisticRegression

    from unboxed import load_dataset

    cancer = load_dataset("breast-cancer")
    box = BlackBox.from_sklearn(LogisticRegression(C=0.1).fit(cancer.X_train, cancer.y_train))
    tree = TreeSurrogate(box, max_depth=3, random_state=0, verbose=False).fit(cancer.X_train)
    names = cancer.feature_names
    raw_rules = tree.export_text(feature_names=names, decimals=10, unscale=cancer.to_raw)
    standard_rules = tree.export_text(feature_names=names, decimals=10)
    assert raw_rules != standard_rules
    expected = np.array([box.class_name(c) for c in tree.predict(cancer.X_test)])
    np.testing.assert_array_equal(_rules_predict(standard_rules, names, cancer.X_test), expected)
    raw_rows = cancer.to_raw(cancer.X_test)
    np.testing.assert_array_equal(_rules_predict(raw_rules, names, raw_rows), expected)
    # each split's threshold is mean + scale * t of its own feature, rounded: the root's
    # 3 decimals would leave the gap between the rows it separates, so it takes 4
    t = tree.tree_.tree_
    j = t.feature[0]
    root = cancer.feature_mean[j] + cancer.feature_scale[j] * t.threshold[0]
    low, high = cancer.to_raw(tree.threshold_gaps_[0], [j, j])
    assert not low < round(root, 3) < high and low < round(root, 4) < high
    assert tree.export_text(feature_names=names, unscale=cancer.to_raw).startswith(
        f"|--- {names[j]} <= {root:.4f}\n"
    )
    assert tree.tree_.tree_.threshold[0] == t.threshold[0]  # the tree itself is unchanged


def test_raw_rules_send_every_fitted_row_the_way_the_tree_does():
    """Three decimals in raw units were too coarse for small-unit features: a depth-8
    tree of breast-cancer printed `concavity error <= 0.034` where the rows it sends
    right start at 0.03389, and its rules gave 1 of the 342 rows it was fitted on the
    other class. Each threshold now takes the decimals its gap needs."""
    import re

    from sklearn.linear_model import LogisticRegression

    from unboxed import load_dataset

    cancer = load_dataset("breast-cancer")
    model = LogisticRegression(C=1.0, max_iter=1000).fit(cancer.X_train, cancer.y_train)
    box = BlackBox.from_sklearn(model)
    tree = TreeSurrogate(box, max_depth=8, random_state=0, verbose=False).fit(cancer.X_train)
    names = cancer.feature_names
    X = cancer.X_train[tree.train_indices_]
    expected = np.array([box.class_name(c) for c in tree.predict(X)])
    raw_rules = tree.export_text(feature_names=names, unscale=cancer.to_raw)
    np.testing.assert_array_equal(_rules_predict(raw_rules, names, cancer.to_raw(X)), expected)
    standard_rules = tree.export_text(feature_names=names)
    np.testing.assert_array_equal(_rules_predict(standard_rules, names, X), expected)
    # short to read: 3 places but where the gap needs more
    places = [len(t.partition(".")[2]) for t in re.findall(r"[<>]=? +(\S+)$", raw_rules, re.M)]
    assert min(places) == 3 and 3 < max(places) <= 5


def test_rules_of_digits_send_every_fitted_row_the_way_the_tree_does(digits):
    """digits' pixels are sixteenths: at 0 places `x <= 0` or `x <= 1` stood for
    thresholds such as 0.469, which sent the 0.4375 rows the other way."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import export_text

    model = LogisticRegression(max_iter=200).fit(digits.X_train, digits.y_train)
    box = BlackBox.from_sklearn(model)
    tree = TreeSurrogate(box, max_depth=8, random_state=0, verbose=False).fit(digits.X_train)
    names = digits.feature_names
    X = digits.X_train[tree.train_indices_]
    expected = np.array([box.class_name(c) for c in tree.predict(X)])
    for decimals in (0, 3):
        rules = tree.export_text(feature_names=names, decimals=decimals)
        np.testing.assert_array_equal(_rules_predict(rules, names, X), expected)
    # where 3 places keep every threshold in its gap, the rules are sklearn's own
    labels = [box.class_name(c) for c in tree.tree_.classes_]
    assert rules == export_text(
        tree.tree_, feature_names=names, class_names=labels, decimals=3, max_depth=1000
    )


def test_unscale_that_returns_no_threshold_per_split_is_refused(planted, planted_blackbox):
    fitted = TreeSurrogate(planted_blackbox, max_depth=2, random_state=0).fit(planted.X_test)
    n_splits = int((fitted.tree_.tree_.feature >= 0).sum())
    with pytest.raises(TypeError, match="unscale must be a callable, got ndarray"):
        fitted.export_text(unscale=np.ones(3))
    with pytest.raises(
        ValueError, match=f"unscale returned 1 thresholds for the tree's {n_splits}"
    ):
        fitted.export_text(unscale=lambda t, f: t[:1])
    with pytest.raises(ValueError, match="unscale's thresholds contains NaN"):
        fitted.export_text(unscale=lambda t, f: t * np.nan)
    identity = fitted.export_text(unscale=lambda t, f: t)
    assert identity == fitted.export_text()


def test_unscale_that_reverses_a_features_order_is_refused(planted, planted_blackbox):
    """A negative scale printed rules that read backwards, without a word."""
    fitted = TreeSurrogate(planted_blackbox, max_depth=6, random_state=0).fit(planted.X_test)
    features = fitted.tree_.tree_.feature[fitted.tree_.tree_.feature >= 0]
    assert np.unique(features).size < features.size  # a feature splits twice or more
    with pytest.raises(ValueError, match="unscale reverses the order of feature"):
        fitted.export_text(unscale=lambda t, f: -t)
    shifted = fitted.export_text(unscale=lambda t, f: t * 2.0 + f)  # per feature: kept
    assert shifted != fitted.export_text()


def test_rules_trim_thresholds_whatever_the_features_are_named():
    """sklearn pads every threshold to the places of the longest (0.25 makes 0.5 read
    0.50), and the padding was trimmed by a pattern over the text: the split lines of a
    feature named `class: a` read as leaves and kept `0.50`. The text is built from
    the tree's nodes now, so a name is printed and never read back."""
    x0, x1 = np.meshgrid([0.1, 0.24, 0.26], [0.2, 0.8])
    X = np.tile(np.column_stack([x0.ravel(), x1.ravel()]), (10, 1))
    box = BlackBox.from_callable(
        lambda Z: np.stack(
            [~((Z[:, 0] > 0.25) & (Z[:, 1] > 0.5)), (Z[:, 0] > 0.25) & (Z[:, 1] > 0.5)], 1
        ).astype(float),
        n_classes=2,
        input_shape=(2,),
    )
    tree = TreeSurrogate(box, max_depth=2, random_state=0, verbose=False).fit(X)
    rules = tree.export_text(feature_names=["b <= 2", "class: a"], decimals=1)
    assert rules == (
        "|--- b <= 2 <= 0.25\n"
        "|   |--- class: 0\n"
        "|--- b <= 2 >  0.25\n"
        "|   |--- class: a <= 0.5\n"
        "|   |   |--- class: 0\n"
        "|   |--- class: a >  0.5\n"
        "|   |   |--- class: 1\n"
    )


def test_a_gap_that_unscale_closes_to_one_ulp_prints_the_threshold_whole():
    """Rows at 0 and 1 split at 0.5; an unscale of 5 + 6e-16 t maps the rows sent left
    to 5 and those sent right to the next float above it, and the threshold to 5: no
    number of 3 places lies strictly between, so the threshold prints whole (5.000),
    which still sends each fitted row the tree's way (5 <= 5, 5 + 8.9e-16 > 5)."""
    X = np.repeat([[0.0], [1.0]], 20, axis=0)
    box = BlackBox.from_callable(
        lambda Z: np.column_stack([Z[:, 0] <= 0.5, Z[:, 0] > 0.5]).astype(float),
        n_classes=2,
        input_shape=(1,),
    )
    tree = TreeSurrogate(box, max_depth=1, random_state=0, verbose=False).fit(X)
    unscale = lambda t, f: 5.0 + 6e-16 * np.asarray(t)  # noqa: E731
    low, high = unscale(tree.threshold_gaps_[0], None)
    assert low == 5.0 and high == np.nextafter(5.0, 6.0)  # the gap closed to one ulp
    assert unscale(tree.tree_.tree_.threshold[:1], None)[0] == 5.0
    rules = tree.export_text(unscale=unscale)
    assert rules == (
        "|--- feature_0 <= 5.000\n|   |--- class: 0\n|--- feature_0 >  5.000\n|   |--- class: 1\n"
    )
    fitted = X[tree.train_indices_]
    expected = np.array([box.class_name(c) for c in tree.predict(fitted)])
    assert set(expected) == {"0", "1"}
    np.testing.assert_array_equal(
        _rules_predict(rules, ["feature_0"], unscale(fitted, None)), expected
    )


def _one_split_tree():
    """A depth-1 tree of rows at 0 and 1, split at 0.5."""
    X = np.repeat([[0.0], [1.0]], 20, axis=0)
    box = BlackBox.from_callable(
        lambda Z: np.column_stack([Z[:, 0] <= 0.5, Z[:, 0] > 0.5]).astype(float),
        n_classes=2,
        input_shape=(1,),
    )
    return TreeSurrogate(box, max_depth=1, random_state=0, verbose=False).fit(X), X, box


def test_a_threshold_that_unscale_moves_onto_a_side_of_its_gap_prints_the_midpoint():
    """A step map keeps the order (rows at 0 read 3, at 1 and the threshold 0.5 read
    4), but printed `x <= 4.000`, which sent the rows of 4 left: the threshold now
    gives way to the gap's midpoint in the printed units."""
    tree, X, box = _one_split_tree()
    unscale = lambda t, f: np.where(np.asarray(t) >= 0.5, 4.0, 3.0)  # noqa: E731
    rules = tree.export_text(unscale=unscale)
    assert rules == (
        "|--- feature_0 <= 3.500\n|   |--- class: 0\n|--- feature_0 >  3.500\n|   |--- class: 1\n"
    )
    fitted = X[tree.train_indices_]
    expected = np.array([box.class_name(c) for c in tree.predict(fitted)])
    np.testing.assert_array_equal(
        _rules_predict(rules, ["feature_0"], unscale(fitted, None)), expected
    )


def test_a_gap_that_unscale_closes_to_one_number_is_refused():
    """Rounded to whole units, the rows at 0 and 1 both read 3: the rules printed
    `x <= 3.000` and `x >  3.000`, each side holding rows of 3 that go the other way."""
    tree, _, _ = _one_split_tree()
    with pytest.raises(
        ValueError,
        match=r"unscale maps the training values a split of 'feature_0' sends left to 3\.0 "
        r"and those it sends right to 3\.0: no threshold in its units tells them apart",
    ):
        tree.export_text(unscale=lambda t, f: np.round(3 + 0.1 * np.asarray(t)))


def test_rules_print_a_split_that_changes_no_class_as_one_leaf():
    """scikit-learn keeps splits that purify the leaves without changing their class:
    a depth-3 tree of breast-cancer printed `worst perimeter <= 107.900` over two
    leaves of class 1, and `worst area <= 710.200` over two of class 0."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import export_text

    from unboxed import load_dataset

    cancer = load_dataset("breast-cancer")
    box = BlackBox.from_sklearn(LogisticRegression(C=0.1).fit(cancer.X_train, cancer.y_train))
    tree = TreeSurrogate(box, max_depth=3, random_state=0, verbose=False).fit(cancer.X_train)
    names = cancer.feature_names
    labels = [box.class_name(c) for c in tree.tree_.classes_]
    full = export_text(tree.tree_, feature_names=names, class_names=labels, max_depth=1000)
    assert full.count("class: ") == tree.n_leaves_ == 7
    assert tree.n_rules_ == 5
    for unscale in (None, cancer.to_raw):
        rules = tree.export_text(feature_names=names, unscale=unscale)
        assert rules.count("class: ") == tree.n_rules_
        assert "worst perimeter <= 107.900" not in rules and "worst area" not in rules
        # every printed rule's class is the tree's on every row it covers
        for X in (cancer.X_train[tree.train_indices_], cancer.X_test):
            expected = np.array([box.class_name(c) for c in tree.predict(X)])
            shown = X if unscale is None else cancer.to_raw(X)
            np.testing.assert_array_equal(_rules_predict(rules, names, shown), expected)
    # the tree itself is unchanged: all seven leaves, as scikit-learn fitted them
    assert tree.tree_.get_n_leaves() == 7
    np.testing.assert_array_equal(tree.predict(cancer.X_test), tree.tree_.predict(cancer.X_test))


def test_fit_takes_and_ignores_labels_as_scikit_learn_estimators_do(planted, planted_blackbox):
    # fit(X_train, y_train) raised "takes 2 positional arguments but 3 were given".
    X = planted.X_train[:400]
    wrong = 1 - planted.y_train[:400]  # labels the tree must not learn
    with_labels = TreeSurrogate(planted_blackbox, max_depth=3, random_state=0).fit(X, wrong)
    without = TreeSurrogate(planted_blackbox, max_depth=3, random_state=0).fit(X)
    assert with_labels.export_text() == without.export_text()
    assert with_labels.fidelity(planted.X_test).mean == without.fidelity(planted.X_test).mean


def test_predict_proba_has_a_column_per_black_box_class_even_one_never_predicted(digits):
    # Class 1 never wins: the tree never sees it, and its column must still be there
    # (zeros) so that the columns line up with the black box's.
    def never_one(X):
        dark = (X[:, 36] > 0.5).astype(float)
        return np.stack([0.9 * (1 - dark), np.full(len(X), 0.1), 0.9 * dark], axis=1)

    box = BlackBox.from_callable(never_one, n_classes=3, input_shape=(64,))
    surrogate = TreeSurrogate(box, max_depth=3, min_samples_leaf=20, random_state=0)
    surrogate.fit(digits.X_train[:400])
    proba = surrogate.predict_proba(digits.X_test)
    assert proba.shape == (len(digits.X_test), 3)
    np.testing.assert_array_equal(proba[:, 1], 0.0)
    np.testing.assert_array_equal(proba[:, [0, 2]], surrogate.tree_.predict_proba(digits.X_test))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), surrogate.predict(digits.X_test))


@pytest.mark.parametrize("method", ["fit", "fidelity"])
def test_the_raising_row_of_a_dataframe_is_named_by_its_label(method):
    # fit and fidelity said "on row 1 of the 6 rows queried" alone, where predict_proba
    # adds the row's label: row 1 of a split is not X.loc[1] (check_X dropped the index).
    box, X = iris_refusing_a_petal_of_4(spared_calls=0 if method == "fit" else 1)
    surrogate = TreeSurrogate(box, max_depth=2, random_state=0)
    if method == "fidelity":
        surrogate.fit(X)  # its query of X is answered
    with pytest.raises(BlackBoxError) as raised:
        getattr(surrogate, method)(X)
    assert str(raised.value) == (
        "black box 'refuses_a_petal_of_4' raised ValueError on row 1 of the 6 rows queried, "
        "row X.loc['flower-62']: petal length 4.0"
    )


def test_a_0d_int_array_seed_grows_the_tree_of_its_int():
    # random_state=np.asarray(s) was refused, "got ndarray"; it is the seed s. The data
    # of the tie-break test: which of two equal features the root takes follows the seed.
    X, box = _two_equal_features()

    def fit(seed):
        return TreeSurrogate(box, max_depth=1, random_state=seed).fit(X)

    for s in range(8):
        by_int, by_array = fit(s), fit(np.asarray(s))
        assert by_array.tree_.tree_.feature[0] == by_int.tree_.tree_.feature[0]
        assert by_array.fidelity_ == by_int.fidelity_  # the same held-out rows


def test_feature_names_are_one_distinct_name_per_feature():
    """A string is one name, not four ("abcd" printed iris's petal width as "d"); a name
    given twice leaves a rule that reads as either feature; a number is one name. The
    text and the figure read the same names."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    tree = TreeSurrogate(box, max_depth=2, random_state=0, verbose=False).fit(X)
    for show in (tree.export_text, tree.plot):
        with pytest.raises(ValueError, match="feature_names has 1 entries; expected 4"):
            show(feature_names="abcd")
        with pytest.raises(ValueError, match="feature_names has 1 entries; expected 4"):
            show(feature_names=5)
        with pytest.raises(ValueError, match="feature_names must be unique.*'a' repeat"):
            show(feature_names=["a", "a", "b", "c"])
    assert "|--- 3 <= 0.800" in tree.export_text(feature_names=[0, 1, 2, 3])


def test_path_length_reads_a_dataframe_by_the_trees_column_names(recwarn):
    """A tree fitted on a DataFrame: its columns in another order read by position gave
    breast cancer a path length of 6.0 for 5.6, without a word."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    X, y = data.data, data.target
    tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)
    expected = float(tree.decision_path(X).sum(axis=1).mean())
    assert path_length(tree, X) == pytest.approx(expected)
    assert path_length(tree, X[X.columns[::-1]]) == pytest.approx(expected)
    assert not [w for w in recwarn if "feature names" in str(w.message)]
    with pytest.raises(ValueError, match="lacks column 'worst fractal dimension'"):
        path_length(tree, X.iloc[:, :29])
    # an array is read by position
    assert path_length(tree, X.to_numpy()) == pytest.approx(expected)


def test_values_beyond_float32_are_refused_by_name():
    """scikit-learn's tree reads X as float32: 1e300 crashed in its cast with a
    RuntimeWarning (an infinity down the tree where warnings pass)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    big = X.copy()
    big[5, 2] = 1e300
    match = r"beyond float32's range.*index \(5, 2\): 1e\+300"
    with pytest.raises(ValueError, match=match):
        TreeSurrogate(box, random_state=0, verbose=False).fit(big)
    tree = TreeSurrogate(box, max_depth=2, random_state=0, verbose=False).fit(X)
    for use in (tree.predict, tree.predict_proba, tree.fidelity, tree.path_length):
        with pytest.raises(ValueError, match=match):
            use(big)
    with pytest.raises(ValueError, match=match):
        path_length(tree.tree_, big)
    # the largest float32 itself is a number the tree reads
    assert tree.predict(np.full((1, 4), float(np.finfo(np.float32).max))).shape == (1,)


def test_a_black_box_of_one_class_on_x_is_named_by_its_class():
    """The refusal named the class by its column, "(0)", where the black box's labels
    are iris's species names."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    species = iris.target_names[iris.target]
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(iris.data, species))
    with pytest.raises(ValueError, match=r"single class \('setosa', column 0\) on all 50 rows"):
        TreeSurrogate(box, random_state=0, verbose=False).fit(iris.data[:50])


def test_a_plot_of_the_root_alone_says_its_top_level():
    """max_depth=0 titled the root's box "its top 1 levels"."""
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    tree = TreeSurrogate(box, max_depth=3, random_state=0, verbose=False).fit(X)
    root = tree.plot(max_depth=0)
    two = tree.plot(max_depth=1)
    try:
        assert ", its top level (rows:" in root.axes[0].get_title()
        assert ", its top 2 levels (rows:" in two.axes[0].get_title()
    finally:
        plt.close(root)
        plt.close(two)
