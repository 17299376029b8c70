"""Permutation importance (004_7c9aaa9fd587bc3d.txt): the planted support comes first."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest

from tests.helpers import PLANTED_COLUMNS, assert_progress_shown, iris_refusing_a_petal_of_4
from unboxed import BlackBox, BlackBoxError, FeatureImportance
from unboxed.probes import PermutationImportance, mass_share, spread_groups
from unboxed.probes._permutation import _row_count_chunks, _RowCounts, _scores


def test_planted_support_ranks_first_with_separated_cis(planted, planted_blackbox):
    importance = PermutationImportance(
        planted_blackbox, n_repeats=5, n_boot=300, random_state=0
    ).explain(planted.X_test)
    support = set(planted.support.tolist())
    assert set(importance.top_k(len(support), class_=0).tolist()) == support
    ci = importance.ci[0]
    noise = np.setdiff1d(np.arange(planted.n_features), planted.support)
    # every support feature's lower bound clears every noise feature's upper bound
    assert ci[planted.support, 0].min() > ci[noise, 1].max()
    assert np.all(ci[:, 0] <= importance.values[0]) and np.all(importance.values[0] <= ci[:, 1])


def test_scores_the_black_box_not_the_labels(planted):
    # A model that reads feature 0 only: against its own predictions, feature 0 is the
    # only one that matters, although the labels depend on the planted support.
    box = BlackBox.from_callable(
        lambda X: np.stack([1 - (X[:, 0] > 0.5), X[:, 0] > 0.5], 1).astype(float),
        n_classes=2,
        input_shape=(20,),
    )
    values = PermutationImportance(box, n_repeats=3, n_boot=50, random_state=0).explain(
        planted.X_test[:400]
    )
    assert values.top_k(1, class_=0)[0] == 0
    assert np.allclose(np.delete(values.values[0], 0), 0.0)
    assert values.values[0, 0] == pytest.approx(0.5, abs=0.1)  # half the rows flip


def test_groups_by_dict_and_by_labels_agree(planted, planted_blackbox):
    groups = {"support": planted.support, "noise": [0, 1, 3]}
    by_dict = PermutationImportance(
        planted_blackbox, n_repeats=3, groups=groups, n_boot=50, random_state=1
    ).explain(planted.X_test[:300])
    labels = np.full(planted.n_features, 2)
    labels[planted.support] = 0
    labels[[0, 1, 3]] = 1
    by_labels = PermutationImportance(
        planted_blackbox, n_repeats=3, groups=labels, n_boot=50, random_state=1
    ).explain(planted.X_test[:300])
    assert by_dict.feature_names == ("support", "noise")
    assert by_labels.feature_names == ("group_0", "group_1", "group_2")
    # different draws (three groups against two), the same picture
    for result in (by_dict, by_labels):
        assert result.values[0, 0] > 0.3 and abs(result.values[0, 1]) < 0.02
    spread = spread_groups(by_dict, planted.n_features)
    assert np.allclose(spread[0, planted.support], by_dict.values[0, 0])
    assert spread[0, 19] == 0.0
    assert np.allclose(spread[0, [0, 1, 3]], by_dict.values[0, 1])  # each group its own column
    with pytest.raises(ValueError, match="holds feature 17, beyond n_features=17"):
        spread_groups(by_dict, 17)  # the support's last feature is 17


def test_probability_metric_and_given_labels(planted, planted_blackbox):
    y = planted.y_test[:200]
    result = PermutationImportance(
        planted_blackbox, n_repeats=2, metric="probability", n_boot=50, random_state=0
    ).explain(planted.X_test[:200], y)
    assert isinstance(result, FeatureImportance)
    assert result.meta["parameters"]["metric"] == "probability"
    assert set(result.top_k(4, class_=0).tolist()) == set(planted.support.tolist())


def test_batched_blocks_match_a_per_feature_loop(planted, planted_blackbox, monkeypatch):
    X = planted.X_test[:50]
    full = PermutationImportance(planted_blackbox, n_repeats=2, random_state=3).row_drops(X)
    # one permuted copy per call: the same permutations, so the same drops
    monkeypatch.setattr("unboxed.probes._permutation._BATCH_ELEMENTS", 1)
    single = PermutationImportance(planted_blackbox, n_repeats=2, random_state=3).row_drops(X)
    assert np.array_equal(full, single)


@pytest.mark.parametrize("kept", [2**24, 0])
def test_bootstrap_counts_drawn_in_chunks_are_the_draws_of_one_call(monkeypatch, kept):
    # multinomial draws its rows one after the other: chunks of 3 bootstraps (a
    # boundary inside the 8) give the draws of one call, and leave the generator where
    # that call did, so the repeats' weights drawn next are the same too; counts too
    # many to keep (kept=0) are drawn again, the same, each time they are read
    monkeypatch.setattr("unboxed.probes._permutation._BOOT_ELEMENTS", 3 * 50)
    monkeypatch.setattr("unboxed.probes._permutation._KEPT_COUNTS", kept)
    chunked_rng, whole_rng = np.random.default_rng(5), np.random.default_rng(5)
    counts = _RowCounts(chunked_rng, 50, 8)
    whole = whole_rng.multinomial(50, np.full(50, 1 / 50), size=8)
    assert chunked_rng.bit_generator.state == whole_rng.bit_generator.state
    assert (counts._kept is None) == (kept == 0)
    for _ in range(2):
        parts, drawn = zip(*counts, strict=True)
        assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 6), (6, 8)]
        np.testing.assert_array_equal(np.concatenate(drawn), whole)
    assert chunked_rng.bit_generator.state == whole_rng.bit_generator.state  # not moved
    if kept:
        assert all(part.dtype == np.uint8 for part in drawn)


def test_kept_bootstrap_counts_widen_for_a_count_above_a_byte():
    class Lopsided:  # every row drawn into one bootstrap: a count of 300
        bit_generator = np.random.PCG64(0)

        def multinomial(self, n, pvals, size):
            out = np.zeros((size, len(pvals)), dtype=np.int64)
            out[:, 0] = n
            return out

    (part, counts), *rest = _RowCounts(Lopsided(), 300, 4)
    assert not rest and (part.start, part.stop) == (0, 4)
    assert counts.dtype == np.uint16
    np.testing.assert_array_equal(counts[:, 0], 300)
    assert [p for p, _ in _row_count_chunks(np.random.default_rng(0), 300, 4)] == [part]


@pytest.mark.parametrize("metric", ["accuracy", "probability"])
def test_cis_from_chunked_bootstraps_match_the_unchunked_ones(
    planted, planted_blackbox, monkeypatch, metric
):
    X = planted.X_test[:60]

    def explain():
        probe = PermutationImportance(
            planted_blackbox, n_repeats=3, metric=metric, n_boot=50, random_state=2
        )
        return probe.explain(X)

    whole = explain()  # 50 x 60 weights: one chunk
    monkeypatch.setattr("unboxed.probes._permutation._BOOT_ELEMENTS", 7 * 60)
    chunked = explain()  # chunks of 7 bootstraps, a boundary inside the 50
    np.testing.assert_array_equal(chunked.values, whole.values)
    np.testing.assert_array_equal(chunked.repeats, whole.repeats)
    # The same weights and drops; a matrix product of fewer rows may add in another
    # order (OpenBLAS's kernels depend on the shape), so the last bits may differ.
    np.testing.assert_allclose(chunked.ci, whole.ci, rtol=0, atol=1e-13)
    assert np.ptp(whole.ci[0], axis=1).max() > 0.01  # some intervals are real ones


def test_scores_function():
    proba = np.array([[0.7, 0.3], [0.2, 0.8]])
    assert np.array_equal(_scores(proba, np.array([0, 0]), "accuracy"), [1.0, 0.0])
    assert np.allclose(_scores(proba, np.array([0, 0]), "probability"), [0.7, 0.2])


def test_mass_share():
    values = np.array([[1.0, -3.0, 0.0], [0.0, 0.0, 0.0]])
    region = np.array([False, True, False])
    assert np.allclose(mass_share(values, region), [0.75, 0.0])
    with pytest.raises(ValueError, match="values contains NaN"):
        mass_share(np.array([[np.nan, 1.0]]), np.array([True, False]))  # gave [0.]


def test_mass_share_of_rows_with_no_features_is_zero():
    # A row with nothing in it has no mass in the region, as an all-zero row has none;
    # the power-of-two rescaling took the largest of no values (numpy's "zero-size
    # array to reduction operation maximum").
    np.testing.assert_array_equal(mass_share(np.zeros((2, 0)), np.zeros(0, bool)), [0.0, 0.0])


def test_mass_share_takes_only_a_bool_mask_of_the_right_shape():
    values = np.array([[1.0, -3.0, 0.0, 4.0]])
    # Feature indices cast to bool marked every feature but 0: a share of 7/8, not 3/8.
    with pytest.raises(ValueError, match=r"region must be a bool mask of shape \(4,\)"):
        mass_share(values, np.array([1, 2, 3, 0]))
    with pytest.raises(ValueError, match="region must be a bool mask"):
        mass_share(values, np.array([True, False]))  # numpy's broadcast error before
    assert mass_share(values, np.array([False, True, False, False])) == pytest.approx([3 / 8])


def test_spread_groups_refuses_what_is_not_an_importance():
    with pytest.raises(TypeError, match="importance must be a FeatureImportance"):
        spread_groups(None, 5)  # an AttributeError on .meta before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metric": "auc"}, "metric"),
        ({"n_repeats": 0}, "n_repeats"),
        ({"n_boot": 0}, "n_boot"),  # refused at construction, not after the shuffles
    ],
)
def test_bad_hyperparameters(planted_blackbox, kwargs, message):
    with pytest.raises(ValueError, match=message):
        PermutationImportance(planted_blackbox, **kwargs)


@pytest.mark.parametrize(
    "groups, message",
    [
        (np.zeros(7, dtype=int), "groups must be"),
        ({"a": [25]}, r"group 'a' must be a non-empty list of feature indices in \[0, 20\)"),
        ({"a": [20]}, r"feature indices in \[0, 20\)"),  # one past the last of the 20 features
        ({}, "empty"),
        ({1: [0], "1": [1]}, "both named '1'"),  # two columns named "1", one in meta
        ({"a": [-1]}, r"feature indices in \[0, 20\)"),  # numpy read -1 as the last feature
        ({"a": np.array([], dtype=int)}, "non-empty list"),
        ({"a": [0.5]}, "non-empty list of feature indices"),
        (np.zeros(20), "groups must be"),  # float labels
        ({"a": [[0, 1]]}, "non-empty list"),  # nested indices were flattened into a group
    ],
)
def test_bad_groups(planted, planted_blackbox, groups, message):
    with pytest.raises(ValueError, match=message):
        PermutationImportance(planted_blackbox, groups=groups).explain(planted.X_test[:10])


def test_bad_labels(planted, planted_blackbox):
    with pytest.raises(ValueError, match="only 2 classes"):
        PermutationImportance(planted_blackbox).explain(planted.X_test[:3], [0, 1, 2])
    with pytest.raises(TypeError, match="BlackBox"):
        PermutationImportance(object())


def test_labels_of_the_model_itself_are_read_and_indices_refused(planted):
    # A tabular model is often fitted on labels 1..K, -1/+1 or names. from_sklearn
    # keeps classes_, so y is read in those labels, as scikit-learn reads it; the
    # column indices, which were read silently as labels 0 and 1 of another class,
    # are refused with the labels to pass.
    from sklearn.linear_model import LogisticRegression

    X, y = planted.X_test, planted.y_test
    for labels in (y + 1, 2 * y - 1, np.array(["no", "yes"])[y]):
        model = LogisticRegression().fit(X, labels)
        probe = PermutationImportance(BlackBox.from_sklearn(model), n_repeats=2)
        assert probe.explain(X, labels).meta["baseline_score"] > 0.9
        indices = np.searchsorted(model.classes_, labels)
        with pytest.raises(ValueError, match=r"pass its labels, \["):
            probe.explain(X, indices)


def test_one_row_is_refused_not_scored_zero(planted, planted_blackbox):
    probe = PermutationImportance(planted_blackbox)
    for method in (probe.explain, probe.row_drops):
        with pytest.raises(ValueError, match="at least 2 rows"):  # every importance read 0
            method(planted.X_test[:1])


def _reads_feature_0():
    return BlackBox.from_callable(
        lambda X: np.stack([1 - (X[:, 0] > 0.5), X[:, 0] > 0.5], 1).astype(float),
        n_classes=2,
        input_shape=(20,),
    )


def test_given_labels_are_the_ones_scored(planted):
    box = _reads_feature_0()
    X = planted.X_test[:400]
    y = 1 - box.predict(X)  # the model is wrong on every row
    res = PermutationImportance(box, n_repeats=3, n_boot=50, random_state=0).explain(X, y)
    assert res.meta["baseline_score"] == 0.0
    assert res.values[0, 0] == pytest.approx(-0.5, abs=0.1)  # shuffling makes it right


def test_a_group_is_shuffled_together():
    X = np.random.default_rng(0).uniform(size=(200, 3))
    X[:, 1] = X[:, 0]
    same = BlackBox.from_callable(
        lambda Z: np.stack([Z[:, 0] != Z[:, 1], Z[:, 0] == Z[:, 1]], 1).astype(float),
        n_classes=2,
        input_shape=(3,),
    )
    res = PermutationImportance(
        same, n_repeats=2, groups={"pair": [0, 1], "other": [2]}, n_boot=50, random_state=0
    ).explain(X)
    np.testing.assert_array_equal(res.values[0], [0.0, 0.0])


def test_cis_are_bootstrap_intervals_of_the_row_drops(planted):
    X = planted.X_test[:400]
    probe = PermutationImportance(_reads_feature_0(), n_repeats=3, n_boot=500, random_state=0)
    result = probe.explain(X)
    drops = probe.row_drops(X)
    np.testing.assert_allclose(result.values[0], drops.mean(0))
    # feature 0 matters and varies over the rows: a 95% interval of about +-1.96 SE
    low, high = result.ci[0, 0]
    se = drops[:, 0].std() / np.sqrt(len(X))
    assert low < result.values[0, 0] < high
    assert 0.7 * 3.92 * se < high - low < 1.3 * 3.92 * se


def test_meta_records_the_baseline_and_the_unique_group_members(planted, planted_blackbox):
    X = planted.X_test[:100]
    res = PermutationImportance(
        planted_blackbox, n_repeats=1, groups={"a": [2, 0, 2]}, n_boot=20, random_state=0
    ).explain(X)
    assert res.meta["baseline_score"] == 1.0  # the box agrees with its own predictions
    assert res.meta["n_samples"] == 100
    assert res.meta["groups"] == {"a": [0, 2]}
    probability = PermutationImportance(
        planted_blackbox, n_repeats=1, metric="probability", n_boot=20, random_state=0
    ).explain(X)
    expected = planted_blackbox.predict_proba(X).max(1).mean()
    assert probability.meta["baseline_score"] == pytest.approx(expected)


def test_same_seed_same_cis_other_seed_other_shuffles(planted):
    X = planted.X_test[:200]

    def probe(seed):
        return PermutationImportance(_reads_feature_0(), n_repeats=1, n_boot=200, random_state=seed)

    first, second = probe(0).explain(X), probe(0).explain(X)
    np.testing.assert_array_equal(first.ci, second.ci)
    assert not np.array_equal(probe(0).row_drops(X), probe(1).row_drops(X))


def test_single_channel_images_keep_their_image_shape_unless_grouped():
    X = np.random.default_rng(0).uniform(size=(30, 1, 4, 4))
    box = BlackBox.from_callable(
        lambda Z: np.stack([Z[:, 0, 0, 0] <= 0.5, Z[:, 0, 0, 0] > 0.5], 1).astype(float),
        n_classes=2,
        input_shape=(1, 4, 4),
    )
    plain = PermutationImportance(box, n_repeats=1, n_boot=20, random_state=0).explain(X)
    assert plain.image_shape == (4, 4)
    assert plain.top_k(1, class_=0)[0] == 0
    grouped = PermutationImportance(
        box, n_repeats=1, groups=np.arange(16) // 4, n_boot=20, random_state=0
    ).explain(X)
    assert grouped.image_shape is None and grouped.values.shape == (1, 4)


def test_spread_groups_refuses_an_ungrouped_result(planted, planted_blackbox):
    res = PermutationImportance(planted_blackbox, n_repeats=1, n_boot=20, random_state=0).explain(
        planted.X_test[:50]
    )
    with pytest.raises(ValueError, match="not computed over groups"):
        spread_groups(res, planted.n_features)


def test_label_groups_are_named_by_their_label_values():
    # Labels 3 and 7, not 0 and 1: the names must say which label each column holds.
    X = np.random.default_rng(0).uniform(size=(40, 4))
    labels = np.array([7, 3, 7, 3])
    box = BlackBox.from_callable(
        lambda Z: np.stack([Z[:, 0] <= 0.5, Z[:, 0] > 0.5], 1).astype(float),
        n_classes=2,
        input_shape=(4,),
    )
    probe = PermutationImportance(box, n_repeats=2, groups=labels, n_boot=20, random_state=0)
    res = probe.explain(X)
    assert res.feature_names == ("group_3", "group_7")
    assert res.meta["groups"] == {"group_3": [1, 3], "group_7": [0, 2]}
    # feature 0 lies in label 7's group, the second column
    assert res.values[0, 1] > 0.2 and res.values[0, 0] == 0.0


def test_a_group_permutes_whole_rows_of_its_own_columns():
    X = np.arange(60, dtype=float).reshape(12, 5)  # every value tells its row and column
    seen = []

    def recording(Z):
        seen.append(Z.copy())
        return np.tile([0.5, 0.5], (len(Z), 1))

    box = BlackBox.from_callable(recording, n_classes=2, input_shape=(5,))
    PermutationImportance(box, n_repeats=3, groups={"g": [1, 3, 4]}, random_state=0).row_drops(X)
    copies = np.concatenate(seen[1:]).reshape(-1, 12, 5)
    assert copies.shape[0] == 3
    for copy in copies:
        # the other columns stay in place; the group's columns move together, each
        # row of them one of X's rows, every row used once
        np.testing.assert_array_equal(copy[:, [0, 2]], X[:, [0, 2]])
        rows = (copy[:, 1] - 1) / 5
        np.testing.assert_array_equal(np.sort(rows), np.arange(12))
        np.testing.assert_array_equal(copy[:, [1, 3, 4]], X[rows.astype(int)][:, [1, 3, 4]])


def test_channel_images_keep_their_full_image_shape():
    X = np.random.default_rng(0).uniform(size=(20, 3, 2, 2))
    box = BlackBox.from_callable(
        lambda Z: np.stack([Z[:, 2, 1, 1] <= 0.5, Z[:, 2, 1, 1] > 0.5], 1).astype(float),
        n_classes=2,
        input_shape=(3, 2, 2),
    )
    res = PermutationImportance(box, n_repeats=1, n_boot=20, random_state=0).explain(X)
    assert res.image_shape == (3, 2, 2)
    assert res.top_k(1, class_=0)[0] == 11  # channel 2, pixel (1, 1)


def test_meta_parameters_name_the_kind_of_groups(planted, planted_blackbox):
    X = planted.X_test[:20]
    for groups, kind in ((None, None), ({"a": [0]}, "dict"), (np.arange(20) // 10, "labels")):
        res = PermutationImportance(
            planted_blackbox, n_repeats=1, groups=groups, n_boot=7, random_state=0
        ).explain(X)
        assert res.meta["parameters"] == {
            "n_repeats": 1,
            "metric": "accuracy",
            "groups": kind,
            "n_boot": 7,
        }


def test_spread_groups_checks_n_features(planted, planted_blackbox):
    res = PermutationImportance(
        planted_blackbox, n_repeats=1, groups={"a": [0]}, n_boot=20, random_state=0
    ).explain(planted.X_test[:20])
    with pytest.raises(ValueError, match="n_features must be"):
        spread_groups(res, 0)
    # numpy's MemoryError ("Unable to allocate 7.28 TiB") named no argument
    with pytest.raises(ValueError, match=f"n_features={10**30} is too large"):
        spread_groups(res, 10**30)
    with pytest.raises(ValueError, match=f"n_features={2**50} is too large"):
        spread_groups(res, 2**50)


def test_mass_share_with_a_region_per_row():
    values = np.array([[1.0, -3.0], [2.0, 6.0]])
    region = np.array([[True, False], [False, True]])  # each row its own region
    np.testing.assert_allclose(mass_share(values, region), [0.25, 0.75])


def test_labels_of_another_length_than_X_are_refused(planted, planted_blackbox):
    with pytest.raises(ValueError, match=r"y must have shape \(10,\)"):
        PermutationImportance(planted_blackbox).explain(planted.X_test[:10], [0, 1, 0])


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_bar_and_false_prints_nothing(verbose, planted, planted_blackbox, capfd):
    PermutationImportance(
        planted_blackbox, n_repeats=1, n_boot=10, random_state=0, verbose=verbose
    ).explain(planted.X_test[:50])
    assert_progress_shown(capfd, verbose, "permutation importance")


def test_features_carry_the_black_boxs_names_and_groups_their_own(planted, planted_named_blackbox):
    X = planted.X_test[:40]
    kwargs = {"n_repeats": 1, "n_boot": 20, "random_state": 0}
    plain = PermutationImportance(planted_named_blackbox, **kwargs).explain(X)
    assert plain.feature_names == PLANTED_COLUMNS
    groups = {"first": [0, 1], "rest": list(range(2, 20))}
    grouped = PermutationImportance(planted_named_blackbox, groups=groups, **kwargs).explain(X)
    assert grouped.feature_names == ("first", "rest")


def _wine_models():
    """GradientBoosting on wine fitted on y (0..2) and on y + 1 (1..3): the same trees."""
    from sklearn.datasets import load_wine
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = load_wine(return_X_y=True)

    def fit(labels):
        return GradientBoostingClassifier(n_estimators=15, random_state=0).fit(X, labels)

    return X, y, fit(y), fit(y + 1)


def test_y_in_the_model_labels_matches_indices_on_the_0_based_model():
    # y in {1, 2, 3} was read as column indices, so label 1 scored column 1 (label 2)
    # and label 3 was out of range: a silent misalignment, or a misleading error.
    X, y, indexed, labelled = _wine_models()

    def probe(model):
        return PermutationImportance(
            BlackBox.from_sklearn(model), n_repeats=2, n_boot=20, random_state=0, verbose=False
        )

    by_index = probe(indexed).explain(X, y)
    by_label = probe(labelled).explain(X, y + 1)
    np.testing.assert_array_equal(by_label.values, by_index.values)
    assert by_label.meta["baseline_score"] == by_index.meta["baseline_score"] > 0.9
    # Indices are not labels of the 1..3 model: 0 is refused, not read as class 0.
    with pytest.raises(ValueError, match=r"y holds 0.*pass its labels, \[1, 2, 3\]"):
        probe(labelled).explain(X, y)
    # Rows with labels 1 and 2 only were valid indices: now read as the labels they are.
    two = y < 2
    np.testing.assert_array_equal(
        probe(labelled).row_drops(X[two], y[two] + 1), probe(indexed).row_drops(X[two], y[two])
    )


def test_string_labels_name_the_classes_of_permutation_importance():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y, _, _ = _wine_models()
    X = StandardScaler().fit_transform(X)
    names = np.array(["barolo", "grignolino", "barbera"])
    model = LogisticRegression(max_iter=1000).fit(X, names[y])  # classes_ sorted by name
    bb = BlackBox.from_sklearn(model)
    importance = PermutationImportance(bb, n_repeats=2, n_boot=20, random_state=0).explain(
        X, names[y]
    )
    assert importance.meta["baseline_score"] > 0.9
    with pytest.raises(ValueError, match="not a class of"):
        PermutationImportance(bb, n_repeats=2).explain(X, y)


def _gated(n=100, k=2):
    """Class 1 only where x1 > 0.99 (row 0 alone) and x0 > 0.5; k rows have x0 <= 0.5.

    Shuffling x0 changes row 0's prediction only when it draws one of the k low x0
    (chance k / n), so over the permutations the mean drop of accuracy is exactly
    k / n**2: a rare change that a few repeats mostly miss. Shuffling x1 moves the
    gate off row 0 (unless it stays, chance 1 / n) and onto a row with high x0 (one of
    n - k - 1 besides row 0): a mean drop of ((n - 1) + (n - k - 1)) / n**2.
    """
    X = np.full((n, 2), 0.0)
    X[:, 0] = np.linspace(0.6, 1.0, n)
    X[1 : 1 + k, 0] = 0.1
    X[0, 1] = 1.0
    box = BlackBox.from_callable(
        lambda Z: np.stack(
            [~((Z[:, 1] > 0.99) & (Z[:, 0] > 0.5)), (Z[:, 1] > 0.99) & (Z[:, 0] > 0.5)], 1
        ).astype(float),
        n_classes=2,
        input_shape=(2,),
    )
    return X, box, np.array([k / n**2, ((n - 1) + (n - k - 1)) / n**2])


def test_the_ci_covers_the_long_run_mean_of_rare_and_common_changes():
    # Before, the CI was a bootstrap of the rows alone: when no repeat changed a
    # score it was [0, 0] and missed a small but nonzero importance most times.
    X, box, truth = _gated()
    covered = []
    for seed in range(40):
        res = PermutationImportance(box, n_repeats=5, n_boot=300, random_state=seed).explain(X)
        covered.append((res.ci[0, :, 0] <= truth) & (truth <= res.ci[0, :, 1]))
    coverage = np.mean(covered, axis=0)
    assert coverage[0] >= 0.9  # 0.98 ** 5: about 90% of the runs see no change at all
    assert coverage[1] >= 0.9


def test_a_ci_with_no_change_seen_is_the_exact_bound_and_a_constant_feature_is_exactly_0():
    X, box, _ = _gated()
    X = np.column_stack([X, np.full(len(X), 0.3)])
    wide = BlackBox.from_callable(
        lambda Z: box.predict_proba(Z[:, :2]), n_classes=2, input_shape=(3,)
    )
    res = PermutationImportance(wide, n_repeats=4, n_boot=100, random_state=3).explain(X)
    # seed 3 sees no change from x0 in 4 repeats: 1 - 0.025 ** (1 / 400) either side
    assert not np.any(res.repeats[:, 0, 0])
    bound = 1 - 0.025 ** (1 / 400)
    np.testing.assert_allclose(res.ci[0, 0], [-bound, bound])
    np.testing.assert_array_equal(res.ci[0, 2], [0.0, 0.0])  # nothing to shuffle


def test_the_per_repeat_drops_are_kept_and_saved(tmp_path, planted, planted_blackbox):
    X = planted.X_test[:150]
    probe = PermutationImportance(planted_blackbox, n_repeats=3, n_boot=50, random_state=0)
    res = probe.explain(X)
    assert res.repeats.shape == (3, 1, X.shape[1])
    np.testing.assert_allclose(res.repeats.mean(axis=0), res.values)
    np.testing.assert_allclose(res.values[0], probe.row_drops(X).mean(axis=0))
    res.save(tmp_path / "p.npz")
    back = FeatureImportance.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(back.repeats, res.repeats)
    np.testing.assert_array_equal(back.ci, res.ci)


def test_a_file_saved_before_the_repeats_loads_without_them(tmp_path):
    FeatureImportance(np.ones((1, 3)), {"method": "x"}).save(tmp_path / "new.npz")
    with zipfile.ZipFile(tmp_path / "new.npz") as archive:
        arrays = {n[:-4]: np.load(archive.open(n)) for n in archive.namelist()}
    header = json.loads(str(arrays["__unboxed__"]))
    del header["fields"]["repeats"]  # as the files of unboxed before the field
    arrays["__unboxed__"] = np.array(json.dumps(header))
    np.savez(tmp_path / "old.npz", **arrays)
    old = FeatureImportance.load(tmp_path / "old.npz")
    assert old.repeats is None
    np.testing.assert_array_equal(old.values, np.ones((1, 3)))
    with pytest.raises(ValueError, match="repeats has shape"):
        FeatureImportance(np.ones((1, 3)), repeats=np.ones((2, 1, 4)))


def _plain_importance(box, X, n_repeats, n_boot, seed):
    """explain's figures for the accuracy metric computed the plain way: every
    repeat's drops kept, one permuted copy of X per call, the row counts drawn in one
    call and the two-way bootstrap summed repeat by repeat."""
    shuffle_rng, boot_rng = np.random.default_rng(seed).spawn(2)
    n, d = X.shape
    y = box.predict_proba(X).argmax(axis=1)
    drops = np.empty((n_repeats, n, d))
    for r in range(n_repeats):
        for j in range(d):
            shuffled = X.copy()
            shuffled[:, j] = X[shuffle_rng.permutation(n), j]
            drops[r, :, j] = 1.0 - (box.predict_proba(shuffled).argmax(axis=1) == y)
    counts = boot_rng.multinomial(n, np.full(n, 1 / n), size=n_boot)
    repeats = boot_rng.multinomial(n_repeats, np.full(n_repeats, 1 / n_repeats), size=n_boot)
    boot = np.zeros((n_boot, d))
    for r in range(n_repeats):
        boot += repeats[:, r, None] / n_repeats * ((counts / n) @ drops[r])
    mean = (drops.sum(axis=0) / n_repeats).mean(axis=0)
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    ci = np.stack([np.minimum(low, mean), np.maximum(high, mean)], axis=-1)
    unseen = (drops == 0).all(axis=(0, 1)) & (X != X[:1]).any(axis=0)
    bound = -np.expm1(np.log(0.025) / (n_repeats * n))  # 1 - 0.025 ** (1 / (R n)), exactly
    ci[unseen] = [-bound, bound]
    return mean, ci


@pytest.mark.parametrize("kept", [2**24, 0])
def test_importances_and_cis_on_digits_are_the_plain_computation_s_to_the_bit(
    digits, monkeypatch, kept
):
    """The bootstrap's row counts are kept, or (kept=0: more than _KEPT_COUNTS) drawn
    again for each repeat rather than held, n_boot * n of them; either way the
    importances and CIs are those of a plain computation that holds everything."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=300).fit(digits.X_train, digits.y_train)
    box = BlackBox.from_sklearn(model)
    X = digits.X_test[:100]
    monkeypatch.setattr("unboxed.probes._permutation._KEPT_COUNTS", kept)
    result = PermutationImportance(box, n_repeats=3, n_boot=200, random_state=4).explain(X)
    mean, ci = _plain_importance(box, X, 3, 200, 4)
    np.testing.assert_array_equal(result.values[0], mean)
    np.testing.assert_array_equal(result.ci[0], ci)
    assert (ci[:, 1] - ci[:, 0] > 0.01).sum() > 10  # many real intervals
    # chunks of 7 bootstraps, drawn again or kept: the same products, the same bits
    monkeypatch.setattr("unboxed.probes._permutation._BOOT_ELEMENTS", 7 * 100)
    chunked = PermutationImportance(box, n_repeats=3, n_boot=200, random_state=4).explain(X)
    monkeypatch.setattr("unboxed.probes._permutation._KEPT_COUNTS", 2**24 - kept)
    other = PermutationImportance(box, n_repeats=3, n_boot=200, random_state=4).explain(X)
    np.testing.assert_array_equal(chunked.ci, other.ci)
    np.testing.assert_allclose(chunked.ci, result.ci, rtol=0, atol=1e-13)


def test_groups_may_name_their_columns(planted, planted_named_blackbox, planted_blackbox):
    # A group of tabular columns had to be given by index: its names were refused as
    # "must be a non-empty list of feature indices".
    from tests.helpers import PLANTED_COLUMNS

    support = [int(j) for j in planted.support]
    by_name = {"support": [PLANTED_COLUMNS[j] for j in support], "noise": ["column 0"]}
    by_index = {"support": support, "noise": [0]}
    X, y = planted.X_test[:200], planted.y_test[:200]

    def importance(blackbox, groups):
        explainer = PermutationImportance(
            blackbox, n_repeats=2, groups=groups, n_boot=20, random_state=0
        )
        return explainer.explain(X, y)

    named = importance(planted_named_blackbox, by_name)
    indexed = importance(planted_named_blackbox, by_index)
    np.testing.assert_array_equal(named.values, indexed.values)
    assert named.meta["groups"] == indexed.meta["groups"] == {"support": support, "noise": [0]}
    with pytest.raises(ValueError, match="group 'noise': no feature is named 'colum 0'"):
        importance(planted_named_blackbox, {"noise": ["colum 0"]})
    with pytest.raises(ValueError, match="group 'support' names columns.*no feature_names"):
        importance(planted_blackbox, by_name)


def test_a_model_that_raises_on_a_shuffled_copy_names_its_row_and_feature():
    # It said "on row 41 of the 160 rows queried", of an X of 20 rows: the rows were
    # copies of X with one feature shuffled, numbered within all of them.
    batches = []

    def twins_only(X):
        batches.append(np.array(X))
        if np.any(X[:, 2] != X[:, 3]):
            raise ValueError("c and d must agree")
        return np.tile([0.25, 0.75], (len(X), 1))

    box = BlackBox.from_callable(
        twins_only, n_classes=2, input_shape=(4,), feature_names=["a", "b", "c", "d"]
    )
    # c == d on every row of X; half the rows alike, so that a shuffle leaves some be.
    X = np.repeat(np.maximum(np.arange(20.0) - 9, 0)[:, None], 4, axis=1)
    with pytest.raises(BlackBoxError) as raised:
        PermutationImportance(box, n_repeats=2, random_state=2).row_drops(X)
    message = str(raised.value)
    found = re.fullmatch(
        r"black box 'twins_only' raised ValueError on row (\d+) of X with feature 'c' "
        r"shuffled \(repeat 0\): c and d must agree",
        message,
    )
    assert found, message
    copy_c = batches[1].reshape(-1, 20, 4)[2]  # batches[0]: X itself, for the baseline
    assert int(found[1]) == np.flatnonzero(copy_c[:, 2] != copy_c[:, 3])[0] > 0


@pytest.mark.parametrize(
    ("spared_calls", "place"),
    [
        (0, "row 1 of the 6 rows queried, row X.loc['flower-62']"),  # the baseline
        # The baseline is answered; a shuffle of sepal length keeps row 1's petal.
        (1, "row 1 of X, row X.loc['flower-62'] with feature 0 shuffled (repeat 0)"),
    ],
    ids=["baseline", "shuffled"],
)
@pytest.mark.parametrize("method", ["explain", "row_drops"])
def test_a_model_that_raises_on_a_dataframes_row_names_it_by_its_label(spared_calls, place, method):
    # It said "on row 1 of the 6 rows queried" and "on row 1 of X with feature 0
    # shuffled (repeat 0)" alone, where predict_proba names the row by its label too:
    # row 1 of a split is not X.loc[1].
    box, X = iris_refusing_a_petal_of_4(spared_calls)
    probe = PermutationImportance(box, n_repeats=2, random_state=0)
    with pytest.raises(BlackBoxError) as raised:
        getattr(probe, method)(X)
    assert str(raised.value) == (
        f"black box 'refuses_a_petal_of_4' raised ValueError on {place}: petal length 4.0"
    )


def test_labels_whose_index_holds_the_rows_in_another_order_are_refused():
    # X sorted apart from y: both read by position, each row was scored against
    # another row's label, and the wine model's accuracy fell from 0.98 to 0.44.
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
    probe = PermutationImportance(BlackBox.from_sklearn(model), n_repeats=2, random_state=0)
    aligned = probe.explain(X_test, y_test)
    assert aligned.meta["baseline_score"] > 0.9
    with pytest.raises(
        ValueError,
        match=r"y's index holds the rows of X in another order.*"
        r"pass y\.loc\[X\.index\]",
    ):
        probe.explain(X_test.sort_index(), y_test)
    with pytest.raises(ValueError, match=r"y's index holds the rows of X in another order"):
        probe.row_drops(X_test, y_test.sort_index())
    # The fix the message names gives the aligned result.
    fixed = probe.explain(X_test.sort_index(), y_test.loc[X_test.sort_index().index])
    assert fixed.meta["baseline_score"] == aligned.meta["baseline_score"]
    # Labels of another index (reset), or an array, are read by position, as before.
    reset = probe.explain(X_test, y_test.reset_index(drop=True))
    np.testing.assert_array_equal(reset.values, aligned.values)
    np.testing.assert_array_equal(probe.explain(X_test, y_test.to_numpy()).values, aligned.values)


def test_a_missing_label_of_a_series_is_named_by_its_index_label(planted, planted_blackbox):
    # A split's shuffled index: "at index 3" sent the user to y.loc[3], another row.
    import pandas as pd

    rows = np.random.default_rng(0).permutation(20) + 500
    y = pd.Series(planted.y_test[:20].astype(float), index=rows)
    y.iloc[3] = np.nan
    message = rf"y holds a missing label \(nan\) at index 3, row y\.loc\[{rows[3]}\]; drop"
    probe = PermutationImportance(planted_blackbox, n_repeats=2)
    for method in (probe.explain, probe.row_drops):
        with pytest.raises(ValueError, match=message):
            method(planted.X_test[:20], y)


def test_a_negative_group_label_is_refused():
    # -1 reads as "in no group" (a clusterer's noise, a mask's background), but it was
    # shuffled as a group of its own, "group_-1"; segment labels are refused so too.
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=1000).fit(X, y))
    message = (
        r"^groups holds a negative label \(-1, feature 1\); an int label per feature names "
        r"its group, from 0, and every feature is in one: to shuffle only some features, "
        r"pass a dict of name -> feature indices$"
    )
    for method in ("explain", "row_drops"):
        probe = PermutationImportance(box, groups=[0, -1, 1, 1], n_repeats=2)
        with pytest.raises(ValueError, match=message):
            getattr(probe, method)(X[::10])
    kept = PermutationImportance(box, groups=np.array([0, 0, 1, 1]), n_repeats=2, random_state=0)
    assert kept.explain(X[::10]).feature_names == ("group_0", "group_1")


def _ignores_feature_0(n_rows):
    """Breast cancer, standardized, and a logistic regression on every feature but 0,
    whose logit is summed in another order in a batch of more than ``n_rows`` rows, as
    BLAS does: the same row scores an ulp apart there."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    w = LogisticRegression(max_iter=1000).fit(X[:, 1:], y).coef_[0]

    def proba(Z):
        terms = Z[:, 1:] * w
        z = terms.sum(axis=1) if len(Z) <= n_rows else terms[:, ::-1].sum(axis=1)
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    return X[:n_rows], BlackBox.from_callable(proba, n_classes=2, input_shape=(30,))


def test_a_feature_the_model_never_reads_is_exactly_0_though_rounding_moves_scores():
    """The shuffled copies are scored in larger batches than X: a row's probability
    moved by an ulp, so feature 0, never read, had an importance of ~1e-18 and a CI
    of [0, ~1e-18], as a scikit-learn MLP on diabetes did."""
    X, box = _ignores_feature_0(100)
    twice = box._proba_rows(np.concatenate([X, X]))[:100]
    assert np.any(twice != box.predict_proba(X))  # the rounding is there to be read
    probe = PermutationImportance(box, n_repeats=4, metric="probability", random_state=0)
    res = probe.explain(X)
    assert res.values[0, 0] == 0.0 and not np.any(res.repeats[:, 0, 0])
    assert not np.any(probe.row_drops(X)[:, 0])
    bound = 1 - 0.025 ** (1 / 400)  # no score changed: the exact bound, as for any such
    np.testing.assert_allclose(res.ci[0, 0], [-bound, bound])
    assert np.all(np.abs(res.values[0, 1:]) > 1e-6)  # the features it reads keep theirs


def _batch_size_jitter(net):
    """``net`` whose first logit moves by a few float32 ulps with the batch size.

    torch's float32 kernels sum a row in another order in a batch of another size, so
    a network's probabilities move by ~5e-9 between batch sizes on some CPUs and
    thread counts, not on others; this moves them on every CPU, by as much.
    """
    import torch

    class Jitter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            out = self.net(x)
            shift = torch.zeros_like(out[:1])
            shift[0, 0] = 1e-7 * (x.shape[0] % 3)
            return out + shift

    return Jitter()


def test_a_pixel_a_float32_torch_model_never_reads_is_exactly_0_though_its_rounding_is_wider(
    digits,
):
    """A float32 network's probabilities move by ~5e-9 between batch sizes, far beyond
    64 float64 eps: pixels whose first-layer weights are 0 read ~1e-9, not 0. The bound
    follows the model's precision, float32's here."""
    import torch

    from unboxed.zoo import mlp

    X = digits.X_train.reshape(len(digits.X_train), -1).astype(np.float32)
    model = mlp((32,), n_features=64, random_state=0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    inputs, labels = torch.as_tensor(X), torch.as_tensor(digits.y_train)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        opt.step()
    ignored = [2, 3, 4, 5]  # pixels of the top row that vary over the rows
    with torch.no_grad():
        model.fc1.weight[:, ignored] = 0.0
    box = BlackBox.from_torch(_batch_size_jitter(model), input_shape=(64,))
    rows = X[:3]
    assert np.all(rows[:, ignored].std(axis=0) > 0)
    # the noise is there to be read: the shuffled copies go in larger batches
    twice = box._proba_rows(np.concatenate([rows] * 8))[:3]
    assert np.any(np.abs(twice - box.predict_proba(rows)) > 64 * np.finfo(np.float64).eps)
    probe = PermutationImportance(box, n_repeats=3, metric="probability", random_state=0)
    res = probe.explain(rows)
    assert not np.any(res.values[0, ignored]) and not np.any(res.repeats[:, 0, ignored])
    assert not np.any(probe.row_drops(rows)[:, ignored])
    # The pixels it reads keep theirs: those where the three rows differ pairwise, so
    # that a shuffle other than the identity moves them all.
    distinct = np.array([np.unique(column).size == 3 for column in rows.T])
    read = np.setdiff1d(np.flatnonzero(distinct), ignored)
    assert read.size > 10 and np.all(np.abs(res.values[0, read]) > 1e-5)


def test_a_pixel_a_float32_callable_never_reads_is_exactly_0_though_its_rounding_is_wider(
    digits,
):
    """A callable that returns float32 probabilities was given float64's eps for its
    rounding bound (only a torch module's dtype was read): pixels its model never reads
    moved the scores by float32 ulps between batch sizes and read 4.3e-7, not 0."""
    from sklearn.linear_model import LogisticRegression

    X = digits.X_train.reshape(len(digits.X_train), -1)
    model = LogisticRegression(max_iter=200).fit(X[:500], digits.y_train[:500])
    ignored = [2, 3, 4, 5]  # pixels of the top row that vary over the rows
    model.coef_[:, ignored] = 0.0
    # A fixed round-off pattern that moves with the batch size, as float32 kernels
    # summing in another order do on some CPUs: the same on every CPU here.
    pattern = np.resize([1.0, -1.0], 10)

    def float32_proba(rows):
        shift = 1e-6 * (len(rows) % 3) * pattern
        return (model.predict_proba(rows) + shift).astype(np.float32)

    box = BlackBox.from_callable(float32_proba, n_classes=10, input_shape=(64,))
    rows = X[:4]
    assert np.all(rows[:, ignored].std(axis=0) > 0)
    # the noise is there to be read: the shuffled copies go in larger batches
    twice = box._proba_rows(np.concatenate([rows] * 3))[:4]
    assert np.any(np.abs(twice - box.predict_proba(rows)) > 64 * np.finfo(np.float64).eps)
    probe = PermutationImportance(box, n_repeats=3, metric="probability", random_state=0)
    res = probe.explain(rows)
    assert not np.any(res.values[0, ignored]) and not np.any(res.repeats[:, 0, ignored])
    assert not np.any(probe.row_drops(rows)[:, ignored])
    # The pixels it reads keep theirs, far above the float32 bound of 7.6e-6.
    distinct = np.array([np.unique(column).size == 4 for column in rows.T])
    read = np.setdiff1d(np.flatnonzero(distinct), ignored)
    assert read.size > 10 and np.all(np.abs(res.values[0, read]) > 1e-4)


def test_a_0d_int_array_seed_shuffles_and_is_recorded_as_its_int(planted, planted_blackbox):
    # random_state=np.asarray(0) was refused, "got ndarray"; it is the seed 0, and the
    # explanation records 0, where meta["seed"] read "ndarray".
    X = planted.X_test[:200]

    def explain(seed):
        return PermutationImportance(
            planted_blackbox, n_repeats=2, n_boot=20, random_state=seed
        ).explain(X)

    by_int, by_array = explain(0), explain(np.asarray(0))
    np.testing.assert_array_equal(by_array.values, by_int.values)
    np.testing.assert_array_equal(by_array.ci, by_int.ci)
    assert by_array.meta["seed"] == by_int.meta["seed"] == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_repeats": 10**30}, f"n_repeats={10**30} is too large"),
        ({"n_boot": 10**30}, f"n_boot={10**30} is too large"),
        ({"n_boot": 10**6, "n_repeats": 10**7}, "n_boot=1000000 with n_repeats=10000000 is too"),
    ],
)
def test_counts_beyond_memory_are_refused_before_any_query(settings, message):
    # n_repeats=10**30 failed in numpy ("Maximum allowed dimension exceeded") after the
    # baseline was scored, and n_boot=10**30 drew bootstrap row counts without end.
    def never(X):
        raise AssertionError("the black box was queried")

    from sklearn.datasets import load_iris

    X = load_iris().data[:5]
    box = BlackBox.from_callable(never, n_classes=3, input_shape=(4,))
    with pytest.raises(ValueError, match=re.escape(message)):
        PermutationImportance(box, random_state=0, **settings).explain(X, [0, 1, 2, 0, 1])


def test_mass_share_of_attributions_near_the_float_limit():
    # The row's total overflowed to inf (a RuntimeWarning, then inf / inf = NaN).
    values = np.array([[1e308, -1e308, 5e307, 0.0], [3.0, 1.0, 0.0, 0.0]])
    region = np.array([True, False, True, False])
    np.testing.assert_allclose(mass_share(values, region), [0.6, 0.75])
    tiny = mass_share(values * 2.0**-900, region)
    np.testing.assert_array_equal(tiny, mass_share(values, region))
