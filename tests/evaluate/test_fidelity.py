import functools
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.helpers import assert_progress_shown, iris_refusing_a_petal_of_4, record_progress
from unboxed import Attribution, BlackBox, BlackBoxError, FeatureImportance
from unboxed.evaluate import agreement, crafted_cases, deletion_curve, deletion_test, keep_top_k
from unboxed.evaluate._fidelity import PCRResult, _keep_masks
from unboxed.local import Occlusion, segment

KS = [1, 2, 3, 4]


def test_deletion_with_the_true_support_beats_random_features(planted, planted_blackbox):
    """The paper's B against R on data with a known answer (issue's acceptance test)."""
    result = deletion_test(
        planted_blackbox,
        planted.X_test,
        planted.support,
        KS,
        target=1,
        random_state=0,
        verbose=False,
    )
    assert result.n_cases > 400
    # zeroing the whole support makes every positive negative ...
    assert result.pcr[-1] == 0.0
    # ... while four random features of twenty leave most positives positive
    assert result.random_pcr[-1] > 0.4
    assert result.pcr_ci[-1, 1] < result.random_pcr_ci[-1, 0]
    assert result.separated().all()
    assert np.all(np.diff(result.pcr) <= 0)


def test_a_global_importance_and_a_noise_ranking(planted, planted_blackbox):
    values = np.zeros((2, 20))
    values[:, planted.support] = 1.0
    good = deletion_test(
        planted_blackbox,
        planted.X_test,
        FeatureImportance(values),
        KS,
        random_state=0,
        verbose=False,
    )
    noise = np.setdiff1d(np.arange(20), planted.support)
    bad = deletion_test(planted_blackbox, planted.X_test, noise, KS, random_state=0, verbose=False)
    # target=None tests each case for its own class; zeroing the support only moves
    # positives, so the PCR over both classes stays near the share of negatives
    assert good.pcr[-1] < 0.6 and good.separated()[-1]
    # ranking pure noise first: the model does not care, the PCR stays near 1
    assert bad.pcr[-1] > 0.97 and bad.pcr[-1] > bad.random_pcr[-1]


def test_negative_cases_flip_with_the_positive_mean(planted, planted_blackbox):
    result = deletion_test(
        planted_blackbox,
        planted.X_test,
        planted.support,
        KS,
        target=1,
        cases="negative",
        fill="positive_mean",
        random_state=0,
        verbose=False,
    )
    assert result.pcr[-1] > 0.95 and result.random_pcr[-1] < 0.4
    assert result.separated()[-1]


def test_per_instance_attribution_and_the_attribution_target(
    planted, planted_blackbox, planted_logreg
):
    X = planted.X_test
    target = planted_blackbox.predict(X)
    # w_j (x_j - mean_j) is each feature's contribution to the logit of class 1,
    # measured from the mean that fill="mean" puts in its place
    contribution = planted_logreg.coef_[0] * (X - X.mean(axis=0))
    values = np.where(target[:, None] == 1, contribution, -contribution)
    att = Attribution(values, target)
    result = deletion_test(
        planted_blackbox, X, att, [2, 4], fill="mean", random_state=0, verbose=False
    )
    assert result.separated().all() and result.pcr[-1] < result.random_pcr[-1] - 0.3
    with pytest.raises(ValueError, match="explains other classes than target=1"):
        deletion_test(planted_blackbox, X, att, [2], target=1, verbose=False)


def test_crafted_cases_from_the_support(planted, planted_blackbox):
    result = crafted_cases(
        planted_blackbox,
        planted.X_test,
        planted.support,
        [0, 2, 4],
        target=1,
        n_cases=600,
        random_state=0,
        verbose=False,
    )
    assert result.n_cases == 600
    # k=0 is the all-random baseline of step 4: ranked and random coincide
    assert result.pcr[0] == result.random_pcr[0] and result.pcr[0] < 0.7
    # copying a positive's support makes the case positive: the label depends on nothing else
    assert result.pcr[-1] > 0.97
    assert result.separated()[-1]


def test_crafted_cases_with_marginal_noise_keep_each_features_values(planted, planted_blackbox):
    # Features that only take the values 0 and 1: marginal noise can only draw those,
    # while uniform noise fills the range between them.
    X = (planted.X_test > 0.5).astype(float)
    seen = []

    def recording(rows):
        seen.append(rows.copy())
        return planted_blackbox.predict_proba(rows)

    from unboxed import BlackBox

    box = BlackBox.from_callable(recording, n_classes=2, input_shape=(20,))
    result = crafted_cases(
        box,
        X,
        planted.support,
        [0, 4],
        target=1,
        noise="marginal",
        n_cases=300,
        random_state=0,
        verbose=False,
    )
    values = np.unique(np.concatenate(seen[1:]))
    np.testing.assert_array_equal(values, [0.0, 1.0])
    assert result.separated()[-1] and result.pcr[-1] > result.pcr[0] + 0.2
    assert result.meta["noise"] == "marginal"
    with pytest.raises(ValueError, match="noise must be"):
        crafted_cases(planted_blackbox, X, planted.support, [4], target=1, noise="gauss")


def test_crafted_cases_set_the_top_features_to_the_positive_mean(planted, planted_blackbox):
    X = planted.X_test
    seen = []

    def recording(rows):
        seen.append(rows.copy())
        return planted_blackbox.predict_proba(rows)

    box = BlackBox.from_callable(recording, n_classes=2, input_shape=(20,))
    support = np.asarray(planted.support)
    result = crafted_cases(
        box,
        X,
        support,
        [4],
        target=1,
        values="positive_mean",
        n_cases=300,
        random_state=0,
        verbose=False,
    )
    positive_mean = X[planted_blackbox.predict(X) == 1].mean(axis=0)
    # seen[0] classifies X; then the ranked cases, then the random ones
    ranked = seen[1][:, support[:4]]
    np.testing.assert_allclose(ranked, np.broadcast_to(positive_mean[support[:4]], ranked.shape))
    assert result.meta["values"] == "positive_mean"
    # the class mean on the support is enough: the label depends on nothing else
    assert result.pcr[0] > 0.97 and result.separated()[0]
    fixed = crafted_cases(
        box,
        X,
        support,
        [4],
        target=1,
        values=np.full(20, 7.0),
        n_cases=50,
        random_state=0,
        verbose=False,
    )
    assert np.all(seen[-2][:, support[:4]] == 7.0) and fixed.meta["values"] == "array"
    crafted_cases(
        box, X, support, [4], target=1, values="max", n_cases=50, random_state=0, verbose=False
    )
    ranked = seen[-2][:, support[:4]]
    np.testing.assert_array_equal(ranked, np.broadcast_to(X.max(axis=0)[support[:4]], ranked.shape))
    with pytest.raises(ValueError, match="values must be"):
        crafted_cases(box, X, support, [4], target=1, values="largest")
    with pytest.raises(ValueError, match="shape"):
        crafted_cases(box, X, support, [4], target=1, values=np.zeros(3), verbose=False)


def test_keep_top_k_on_the_support(planted, planted_blackbox):
    X, y = planted.X_test, planted_blackbox.predict(planted.X_test)
    kept = keep_top_k(planted_blackbox, X, y, planted.support, 4, fill="mean", random_state=0)
    noise = np.setdiff1d(np.arange(20), planted.support)
    wrong = keep_top_k(planted_blackbox, X, y, noise, 4, fill="mean", random_state=0)
    assert kept.accuracy.mean > 0.95 and wrong.accuracy.mean < 0.7
    assert kept.accuracy.ci[0] > wrong.accuracy.ci[1]
    assert kept.probability.mean > wrong.probability.mean
    assert kept.accuracy.ci[0] <= kept.accuracy.mean <= kept.accuracy.ci[1]
    # the per-row classes behind the accuracy, for paired comparisons
    assert kept.accuracy.mean == pytest.approx(np.mean(kept.predicted == y))
    support_only = np.where(np.isin(np.arange(20), planted.support), X, X.mean(0))
    assert np.array_equal(kept.predicted, planted_blackbox.predict(support_only))


def test_segment_masks_match_a_brute_force(rng):
    n, d, k = 6, 16, 2
    segments = rng.integers(0, 5, size=(n, d))
    values = rng.normal(size=(n, d))
    att = Attribution(values, np.zeros(n, int))
    masks = _keep_masks(att, att.target, segments, k, (n, d), "mean")(np.arange(n))
    for i in range(n):
        labels = np.unique(segments[i])
        means = np.array([values[i, segments[i] == s].mean() for s in labels])
        best = labels[np.argsort(-means, kind="stable")[:k]]
        assert np.array_equal(masks[i], np.isin(segments[i], best))
    by_id = _keep_masks(np.array([4, 1]), att.target, np.arange(d) % 5, 2, (n, d), "mean")
    by_id = by_id(np.arange(n))
    assert np.array_equal(by_id[0], np.isin(np.arange(d) % 5, [4, 1]))
    # five segments but two ranked: the message blamed the segments
    with pytest.raises(ValueError, match="k=3 exceeds the 2 ranked segments"):
        _keep_masks(np.array([4, 1]), att.target, np.arange(d) % 5, 3, (n, d), "mean")


def test_keep_top_k_with_superpixels(digits, digits_blackbox):
    X = digits.X_test[:100]
    y = digits_blackbox.predict(X)
    blocks = (np.arange(8)[:, None] // 2 * 4 + np.arange(8)[None, :] // 2).ravel()
    # rank blocks by how much ink they hold: a crude but honest explanation
    att = Attribution(X.astype(float), y)
    inked = keep_top_k(digits_blackbox, X, y, att, 8, segments=blocks, random_state=0)
    blank = keep_top_k(
        digits_blackbox, X, y, Attribution(-X.astype(float), y), 8, segments=blocks, random_state=0
    )
    assert inked.accuracy.mean > blank.accuracy.mean + 0.3
    assert inked.meta["unit"] == "segment"
    with pytest.raises(ValueError, match="exceeds the number of segments"):
        keep_top_k(digits_blackbox, X, y, att, 17, segments=blocks)


def test_segments_in_the_images_shape_keep_what_flat_ones_keep(digits, digits_blackbox):
    # The LeNet's input_shape is (1, 8, 8): labels in it were refused, "segments must be
    # non-negative int labels of shape (20, 64) or (64,), got int64 (20, 1, 8, 8)".
    X = digits.X_test[:20]
    y = digits_blackbox.predict(X)
    flat = segment(X, (8, 8), method="slic", n_segments=6)
    att = Attribution(X.astype(float), y)  # segments ranked by their mean ink
    common = dict(n_boot=20, random_state=0, verbose=False)
    reference = keep_top_k(digits_blackbox, X, y, att, 2, segments=flat, **common)
    images = X.reshape(20, 1, 8, 8)
    for shaped in (flat.reshape(20, 1, 8, 8), flat.reshape(20, 8, 8)):
        kept = keep_top_k(digits_blackbox, images, y, att, 2, segments=shaped, **common)
        np.testing.assert_array_equal(kept.predicted, reference.predicted)
        assert kept.probability == reference.probability and kept.meta == reference.meta
    # One grid for every row, its cells ranked by id (the other way segments are read).
    cells = segment(X[:1], (8, 8), method="grid", cell=4)[0]
    by_id = keep_top_k(digits_blackbox, X, y, [3, 0, 1, 2], 2, segments=cells, **common)
    for shaped in (cells.reshape(8, 8), cells.reshape(1, 8, 8)):
        kept = keep_top_k(digits_blackbox, X, y, [3, 0, 1, 2], 2, segments=shaped, **common)
        np.testing.assert_array_equal(kept.predicted, by_id.predicted)
        assert kept.probability == by_id.probability
    # Labels in no shape of the image's, or negative ones, are refused as before.
    message = r"segments must be non-negative int labels of shape \(20, 64\) or \(64,\), "
    message += "got int64 "
    with pytest.raises(ValueError, match=message + r"\(20, 8, 2, 4\)$"):
        keep_top_k(digits_blackbox, X, y, att, 2, segments=flat.reshape(20, 8, 2, 4), **common)
    with pytest.raises(ValueError, match=message + r"\(8, 8\)$"):
        keep_top_k(digits_blackbox, X, y, att, 2, segments=-1 - cells.reshape(8, 8), **common)


def test_a_ranking_of_segment_ids_is_refused_in_segments(planted, planted_blackbox):
    # A ranking array names segments by id where segments are given: 30 ids over 2
    # segments was "lists 30 feature indices per row but X has only 2 features" of an
    # X of 20 features.
    X, y = planted.X_test[:10], planted.y_test[:10]
    halves = np.arange(20) // 10
    cases = [
        (np.arange(30), "a ranking array lists 30 segment ids per row but segments holds 2 "),
        (np.array([0, 5]), r"ranking segment ids must lie in \[0, 2\), got 5"),
        (np.array([1, 1]), "a ranking array repeats a segment id"),
        (np.array([0.5, 0.2]), "a ranking array must hold integer segment ids"),
    ]
    for ranking, message in cases:
        with pytest.raises((ValueError, TypeError), match=message):
            keep_top_k(planted_blackbox, X, y, ranking, 1, segments=halves, verbose=False)


def test_agreement():
    a = np.array([0, 1, 2, 2, 1, 0, 0, 1])
    b = np.array([0, 1, 2, 1, 1, 0, 2, 1])
    result = agreement(a, b)
    assert result.mean == 0.75 and result.n == 8
    assert result.ci[0] < 0.75 < result.ci[1]
    same = agreement(a, np.eye(3)[a])
    # 8 agreements of 8 do not make the agreement surely 1: Wilson's interval
    assert same.mean == 1.0 and same.ci == (pytest.approx(8 / (8 + 1.959964**2)), 1.0)
    with pytest.raises(ValueError, match="pred_a has 8 rows but pred_b has 3"):
        agreement(a, b[:3])
    with pytest.raises(ValueError, match="empty"):
        agreement([], [])
    with pytest.raises(ValueError, match=r"pred_b must be labels \(n,\) or probabilities"):
        agreement(a, np.zeros((8, 3, 1)))
    proba = np.eye(3)[a]
    proba[2, 0] = np.nan  # argmax would read the NaN as the most probable class
    with pytest.raises(ValueError, match="pred_a contains NaN"):
        agreement(proba, a)


def test_agreement_refuses_a_single_column():
    # Labels passed as a column (n, 1) were read as one-class probabilities: argmax gave
    # 0 on every row, so any two predictors agreed perfectly.
    a = np.array([0, 1, 2, 2, 1, 0])
    b = np.array([1, 0, 0, 1, 2, 2])  # agrees with a nowhere
    assert agreement(a, b).mean == 0.0
    with pytest.raises(ValueError, match=r"pred_a has shape \(6, 1\).*at least 2 columns"):
        agreement(a[:, None], b[:, None])


def _digits_1_to_3(digits):
    """A logistic regression on the digits 1, 2 and 3, whose own labels are 1..3."""
    from sklearn.linear_model import LogisticRegression

    rows = np.isin(digits.y_train, [1, 2, 3])
    model = LogisticRegression(max_iter=500).fit(digits.X_train[rows], digits.y_train[rows])
    X = digits.X_test[np.isin(digits.y_test, [1, 2, 3])]
    return model, BlackBox.from_sklearn(model), X


def test_agreement_refuses_labels_against_column_indices(digits):
    # model.predict gives the labels 1..3 and BlackBox.predict the column indices 0..2:
    # the same model agreed with itself on no row (0.0), silently.
    model, bb, X = _digits_1_to_3(digits)
    assert set(model.predict(X)) == {1, 2, 3} and set(bb.predict(X)) == {0, 1, 2}
    with pytest.raises(ValueError, match=r"\{1, 2, 3\} and pred_b \{0, 1, 2\}.*class_labels"):
        agreement(model.predict(X), bb.predict(X))
    with pytest.raises(
        ValueError, match=r"pred_a holds the labels \{0, 1, 2\} and pred_b \{1, 2, 3\}"
    ):
        agreement(bb.predict(X), model.predict(X))
    # each fix the message names gives the full agreement
    assert agreement(model.predict(X), bb.class_labels(bb.predict(X))).mean == 1.0
    assert agreement(model.predict_proba(X), bb.predict_proba(X)).mean == 1.0
    same = agreement(model.predict(X), bb.predict_proba(X), classes=bb.classes)
    assert same.mean == 1.0 and same.n == X.shape[0]
    # labels against probabilities over 3 classes: 3 is no column index
    with pytest.raises(ValueError, match=r"pred_a holds class 3 .*column indices 0..2"):
        agreement(model.predict(X), bb.predict_proba(X))
    # with classes=, an index vector is refused: 0 is no label of the model
    with pytest.raises(ValueError, match=r"pred_b holds 0, .*\[1, 2, 3\].*class_labels"):
        agreement(model.predict(X), bb.predict(X), classes=model.classes_)


def test_agreement_of_string_labels():
    # String labels were refused outright ("must hold integer class labels"), and
    # against indices they must be refused with the way out.
    a = np.array(["cat", "dog", "dog", "cat"])
    assert agreement(a, np.array(["cat", "dog", "cat", "cat"])).mean == 0.75
    assert agreement(a, a.astype(object)).mean == 1.0
    with pytest.raises(ValueError, match=r"pred_a holds string labels .*pred_b holds labels"):
        agreement(a, np.array([0, 1, 1, 0]))
    with pytest.raises(ValueError, match=r"pred_b holds string labels .*holds probabilities"):
        agreement(np.eye(2)[[0, 1, 1, 0]], a)
    proba = np.eye(2)[[0, 1, 1, 1]]
    assert agreement(a, proba, classes=["cat", "dog"]).mean == 0.75
    with pytest.raises(ValueError, match=r"over 2 classes but classes has 3 labels"):
        agreement(a, proba, classes=["cat", "dog", "eel"])


def test_agreement_keeps_string_labels_that_look_like_numbers_strings():
    # "10" is not the number 10: text is compared with text, and matched to a model's
    # labels only where they are text too.
    import pandas as pd

    text = pd.Series(["1", "2", "10"])
    assert agreement(text, np.array(["1", "2", "10"], dtype=object)).mean == 1.0
    with pytest.raises(ValueError, match=r"pred_a holds string labels \{'1', '10', '2'\} but"):
        agreement(text, pd.Series([1, 2, 10]))
    proba = np.eye(3)[[0, 2, 1]]  # columns "1", "10", "2", as scikit-learn sorts text
    assert agreement(text, proba, classes=pd.Series(["1", "10", "2"])).mean == 1.0
    with pytest.raises(ValueError, match=r"pred_a holds '1', which is not a class of the model"):
        agreement(text, proba, classes=[1, 10, 2])
    with pytest.raises(ValueError, match=r"pred_a holds 1, which is not a class of the model"):
        agreement(pd.Series([1, 2, 10]), proba, classes=text)


def test_agreement_reads_the_bool_labels_of_a_model_fitted_on_bools():
    # classes=estimator.classes_ is the documented way to compare an estimator's own
    # labels; for one fitted on bools they were refused ("holds False, which is not a
    # class"), as bools are where the classes are numbers.
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(40, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    assert model.classes_.dtype == bool
    bb = BlackBox.from_sklearn(model)
    same = agreement(model.predict(X), bb.predict_proba(X), classes=model.classes_)
    assert same.mean == 1.0 and same.n == 40
    assert agreement(model.predict(X), ~model.predict(X), classes=model.classes_).mean == 0.0
    # where the classes are numbers, a bool still names none of them
    with pytest.raises(ValueError, match="holds False, which is not a class"):
        agreement([True, False], [1, 0], classes=[0, 1])


def test_agreement_refuses_disjoint_labels_and_keeps_legitimate_ones():
    with pytest.raises(ValueError, match=r"\{10, 20\} and pred_b \{0, 1\}"):
        agreement([10, 20, 10], [0, 1, 1])
    # two predictors that both use indices agree where they agree, even when one of
    # them never predicts some class, or both predict a single, different class
    assert agreement([0, 1, 1, 2], [0, 1, 3, 3]).mean == 0.5
    assert agreement([0, 0, 0], [1, 1, 1]).mean == 0.0
    # two index predictors that share no class on a few rows say so with classes=
    with pytest.raises(ValueError, match=r"classes=range\(n_classes\)"):
        agreement([2, 4, 8], [0, 1, 3])
    assert agreement([2, 4, 8], [0, 1, 3], classes=range(10)).mean == 0.0
    # -1/1 labels need classes=, which reads them as labels
    with pytest.raises(ValueError, match=r"negative class label.*classes=estimator.classes_"):
        agreement([-1, 1, 1], [1, 1, 1])
    assert agreement([-1, 1, 1], [1, 1, 1], classes=[-1, 1]).mean == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"over 2 classes but pred_b over 3"):
        agreement(np.eye(2)[[0, 1]], np.eye(3)[[0, 1]])
    with pytest.raises(ValueError, match=r"classes must be 2 or more distinct labels"):
        agreement([0, 1], [0, 1], classes=[0, 0])


def test_same_seed_same_result(planted, planted_blackbox):
    def run(seed):
        return deletion_test(
            planted_blackbox,
            planted.X_test,
            planted.support,
            KS,
            target=1,
            random_state=seed,
            verbose=False,
        )

    first, second, other = run(3), run(3), run(4)
    assert np.array_equal(first.random_pcr, second.random_pcr)
    assert np.array_equal(first.pcr_ci, second.pcr_ci)
    assert not np.array_equal(first.random_pcr_ci, other.random_pcr_ci)


def test_blocks_of_rows_give_the_same_answer_as_one(planted, planted_blackbox, monkeypatch):
    from unboxed.evaluate import _fidelity

    whole = deletion_test(
        planted_blackbox,
        planted.X_test,
        planted.support,
        [3],
        target=1,
        random_state=0,
        verbose=False,
    )
    monkeypatch.setattr(_fidelity, "CHUNK_ROWS", 7)
    blocks = deletion_test(
        planted_blackbox,
        planted.X_test,
        planted.support,
        [3],
        target=1,
        random_state=0,
        verbose=False,
    )
    assert whole.pcr[0] == blocks.pcr[0] and whole.n_cases == blocks.n_cases


# --------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ks": [21]}, ValueError, r"ks must lie in \[0, 20\]"),
        ({"ks": []}, ValueError, "non-empty list of ints"),
        ({"target": 2}, ValueError, r"target must lie in \[0, 2\)"),
        ({"target": -1}, ValueError, r"target must lie in \[0, 2\), got -1"),
        ({"target": 1.5}, TypeError, "target must be an int class index"),
        ({"target": True}, TypeError, "target holds a bool, which names no class"),
        ({"ranking": np.array([1, 1, 2])}, ValueError, "repeats a feature index"),
        ({"ranking": np.array([0.5, 0.2])}, TypeError, "integer feature indices"),
        ({"ranking": np.array([25])}, ValueError, r"indices must lie in \[0, 20\), got 25"),
        ({"ranking": np.array([3, -2])}, ValueError, r"indices must lie in \[0, 20\), got -2"),
        ({"ranking": np.array([], dtype=int)}, ValueError, "rank at least one feature"),
        ({"ranking": np.array([1, 2]), "ks": [3]}, ValueError, "exceeds the 2 ranked features"),
        ({"ranking": FeatureImportance(np.ones((1, 5)))}, ValueError, "covers 5 features"),
        ({"ranking": "support"}, TypeError, "ranking must be"),
        ({"fill": np.zeros(3)}, ValueError, r"fill must have shape \(20,\)"),
        ({"fill": np.full(20, np.nan)}, ValueError, "fill contains NaN"),
        ({"fill": "median"}, ValueError, "fill must be one of"),
        ({"cases": "negative", "target": None}, ValueError, "needs a target class"),
        ({"n_boot": 0}, ValueError, "n_boot must be an int >= 1"),
        ({"sample_frac": 1.5}, ValueError, "sample_frac"),
    ],
)
def test_deletion_test_rejects_bad_arguments(planted, planted_blackbox, kwargs, error, message):
    args = {"ranking": planted.support, "ks": KS, "target": 1, "verbose": False, **kwargs}
    with pytest.raises(error, match=message):
        deletion_test(planted_blackbox, planted.X_test, **args)


def test_bad_X_and_no_cases(planted, planted_blackbox):
    X = planted.X_test.copy()
    X[3, 4] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        deletion_test(planted_blackbox, X, planted.support, KS, verbose=False)
    with pytest.raises(ValueError, match="empty"):
        deletion_test(planted_blackbox, X[:0], planted.support, KS, verbose=False)
    negatives = planted.X_test[planted_blackbox.predict(planted.X_test) == 0]
    with pytest.raises(ValueError, match="no positive case"):
        deletion_test(planted_blackbox, negatives, planted.support, KS, target=1, verbose=False)
    with pytest.raises(ValueError, match="no positive case"):
        crafted_cases(planted_blackbox, negatives, planted.support, KS, target=1, verbose=False)


def test_positive_mean_needs_cases_of_the_class(planted):
    always_zero = BlackBox.from_callable(lambda X: np.tile([0.9, 0.1], (len(X), 1)), n_classes=2)
    with pytest.raises(ValueError, match="needs cases predicted as class"):
        deletion_test(
            always_zero,
            planted.X_test,
            planted.support,
            KS,
            target=1,
            cases="negative",
            fill="positive_mean",
            verbose=False,
        )


def test_keep_top_k_rejects_bad_arguments(planted, planted_blackbox):
    X, y = planted.X_test, planted.y_test
    with pytest.raises(ValueError, match=r"y must have shape \(1000,\)"):
        keep_top_k(planted_blackbox, X, y[:5], planted.support, 2)
    with pytest.raises(ValueError, match="holds class 2"):
        keep_top_k(planted_blackbox, X, np.full(1000, 2), planted.support, 2)
    with pytest.raises(ValueError, match="segments must be"):
        keep_top_k(planted_blackbox, X, y, planted.support, 2, segments=np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="k must be an int >= 0"):
        keep_top_k(planted_blackbox, X, y, planted.support, -1)
    # one row too many: every row of X would be ranked by another row's attribution
    att = Attribution(np.ones((1001, 20)), np.zeros(1001, int))
    with pytest.raises(ValueError, match="the attribution has 1001 rows but X has 1000"):
        keep_top_k(planted_blackbox, X, y, att, 2)


def test_arguments_are_checked_before_any_query(planted, planted_blackbox):
    with pytest.raises(ValueError, match="sample_frac"):
        deletion_test(planted_blackbox, planted.X_test, planted.support, KS, sample_frac=30)
    with pytest.raises(ValueError, match="n_cases"):
        crafted_cases(planted_blackbox, planted.X_test, planted.support, KS, n_cases=0)
    with pytest.raises(ValueError, match="cases must be"):
        deletion_test(planted_blackbox, planted.X_test, planted.support, KS, cases="both")
    with pytest.raises(ValueError, match="fill must be one of"):
        deletion_test(planted_blackbox, planted.X_test, planted.support, KS, fill="median")
    with pytest.raises(ValueError, match="n_boot"):
        deletion_test(planted_blackbox, planted.X_test, planted.support, KS, n_boot=0)
    with pytest.raises(ValueError, match="noise must be"):  # was checked after classifying X
        crafted_cases(planted_blackbox, planted.X_test, planted.support, KS, noise="gauss")
    with pytest.raises(ValueError, match="fill must be one of"):
        keep_top_k(planted_blackbox, planted.X_test, planted.y_test, planted.support, 2, fill="x")
    with pytest.raises(ValueError, match="n_boot"):
        keep_top_k(planted_blackbox, planted.X_test, planted.y_test, planted.support, 2, n_boot=0)
    with pytest.raises(ValueError, match="the attribution has 3 rows but X has 1000"):
        deletion_test(planted_blackbox, planted.X_test, Attribution(np.ones((3, 20)), [0] * 3), KS)
    assert planted_blackbox.n_queries == 0


def test_keep_top_k_in_blocks_matches_one_pass(digits, digits_blackbox, monkeypatch):
    from unboxed.evaluate import _fidelity

    X = digits.X_test[:50]
    y = digits_blackbox.predict(X)
    att = Attribution(X.astype(float), y)
    blocks = (np.arange(64) // 4).astype(int)
    whole = keep_top_k(digits_blackbox, X, y, att, 5, segments=blocks, random_state=0)
    monkeypatch.setattr(_fidelity, "CHUNK_ROWS", 7)
    split = keep_top_k(digits_blackbox, X, y, att, 5, segments=blocks, random_state=0)
    # float32 batches of another size differ in the last bits
    assert whole.probability.mean == pytest.approx(split.probability.mean, abs=1e-6)
    assert whole.accuracy.mean == split.accuracy.mean


def test_rows_with_fewer_segments_than_k_keep_them_all(digits, digits_blackbox):
    X = digits.X_test[:2]
    y = digits_blackbox.predict(X)
    segments = np.stack([np.arange(64) % 8, np.arange(64) % 3])  # 8 and 3 segments
    att = Attribution(X.astype(float), y)
    result = keep_top_k(digits_blackbox, X, y, att, 5, segments=segments, n_boot=10)
    assert result.accuracy.n == 2
    # the second row keeps its 3 segments, i.e. the whole image
    full = digits_blackbox.predict_proba(X[1:])[0, y[1]]
    first = keep_top_k(
        digits_blackbox,
        X[:1],
        y[:1],
        Attribution(X[:1].astype(float), y[:1]),
        5,
        segments=segments[:1],
        n_boot=10,
    )
    assert result.probability.mean == pytest.approx((first.probability.mean + full) / 2)


def test_keep_top_k_ranks_huge_segment_ids(digits, digits_blackbox):
    X = digits.X_test[:3]
    y = digits_blackbox.predict(X)
    att = Attribution(X.astype(float), y)
    blocks = np.arange(64) // 8
    dense = keep_top_k(digits_blackbox, X, y, att, 3, segments=blocks, n_boot=10)
    sparse = keep_top_k(digits_blackbox, X, y, att, 3, segments=blocks * 10**9, n_boot=10)
    assert dense.probability.mean == sparse.probability.mean


def test_a_bare_function_for_the_black_box_is_a_type_error(digits, digits_blackbox):
    """Not an AttributeError from deep inside: the message says how to wrap it."""
    X = digits.X_test[:4]
    y = digits_blackbox.predict(X)
    ranking = FeatureImportance(np.tile(np.arange(64.0), (10, 1)))
    for call in (
        lambda f: deletion_test(f, X, ranking, [5]),
        lambda f: crafted_cases(f, X, ranking, [5]),
        lambda f: keep_top_k(f, X, y, Attribution(X.astype(float), y), 5),
    ):
        with pytest.raises(TypeError, match="must be an unboxed.BlackBox.*from_callable"):
            call(digits_blackbox.predict_proba)


def test_keep_top_k_probability_is_of_the_given_class(planted, planted_blackbox):
    X, y = planted.X_test, planted.y_test
    kept = keep_top_k(planted_blackbox, X, y, planted.support, 2, fill="mean", random_state=0)
    rest = np.where(np.isin(np.arange(20), planted.support[:2]), X, X.mean(0))
    proba = planted_blackbox.predict_proba(rest)
    assert kept.probability.mean == pytest.approx(proba[np.arange(len(y)), y].mean())


def test_a_per_class_importance_ranks_each_row_for_its_class(planted, planted_blackbox):
    X, y = planted.X_test, planted.y_test
    values = np.zeros((2, 20))
    values[0, [0, 1]] = 1.0  # class 0 ranks features 0 and 1 first
    values[1, [2, 5]] = 1.0  # class 1 ranks two support features first
    kept = keep_top_k(planted_blackbox, X, y, FeatureImportance(values), 2, n_boot=10)
    proba = planted_blackbox.predict_proba(np.where(values[y] > 0, X, 0.0))
    assert kept.probability.mean == pytest.approx(proba[np.arange(len(y)), y].mean())
    assert np.array_equal(kept.predicted, proba.argmax(axis=1))


def test_a_ranking_array_with_other_rows_than_X_is_refused(planted, planted_blackbox):
    with pytest.raises(ValueError, match="the ranking array has 3 rows but X has 1000"):
        deletion_test(
            planted_blackbox, planted.X_test, np.tile(np.arange(20), (3, 1)), [2], verbose=False
        )


def test_touching_intervals_are_not_separated():
    result = PCRResult(
        ks=np.array([1, 2]),
        pcr=np.array([0.0, 0.1]),
        pcr_ci=np.array([[0.0, 0.0], [0.0, 0.2]]),
        random_pcr=np.array([0.05, 0.5]),
        random_pcr_ci=np.array([[0.0, 0.1], [0.3, 0.7]]),
        n_cases=10,
        meta={},
    )
    assert result.separated().tolist() == [False, True]


def test_segments_score_their_mean_by_default(planted, planted_blackbox):
    X, y = planted.X_test[:50], planted.y_test[:50]
    segments = np.minimum(np.arange(20), 1)  # feature 0 alone, then 19 features together
    att = Attribution(np.where(np.arange(20) == 0, 1.0, 0.5) * np.ones((50, 1)), y)
    # mean: 1.0 against 0.5, feature 0 is kept; a sum (9.5) would keep the other 19
    kept = keep_top_k(planted_blackbox, X, y, att, 1, segments=segments, n_boot=10)
    only_first = np.where(np.arange(20) == 0, X, 0.0)
    expected = planted_blackbox.predict_proba(only_first)[np.arange(50), y].mean()
    assert kept.probability.mean == pytest.approx(expected)


def test_crafted_cases_draw_uniform_noise_over_each_features_range(planted, planted_blackbox):
    X = planted.X_test + np.arange(20) * 2.0  # feature j ranges over [2j, 2j + 1]
    seen = []

    def recording(rows):
        seen.append(rows.copy())
        return planted_blackbox.predict_proba(rows - np.arange(20) * 2.0)

    box = BlackBox.from_callable(recording, n_classes=2, input_shape=(20,))
    crafted_cases(
        box, X, planted.support, [0], target=1, n_cases=500, random_state=0, verbose=False
    )
    noise = np.concatenate(seen[1:])
    low, high = X.min(axis=0), X.max(axis=0)
    assert np.all(noise >= low) and np.all(noise <= high)
    np.testing.assert_allclose(noise.mean(axis=0), (low + high) / 2, atol=0.05)


def test_crafted_cases_use_each_positive_once_when_n_cases_allows(planted, planted_blackbox):
    X = planted.X_test
    positives = np.flatnonzero(planted_blackbox.predict(X) == 1)
    seen = []

    def recording(rows):
        seen.append(rows.copy())
        return planted_blackbox.predict_proba(rows)

    box = BlackBox.from_callable(recording, n_classes=2, input_shape=(20,))
    crafted_cases(
        box,
        X,
        np.arange(20),
        [20],
        target=1,
        n_cases=positives.size,
        random_state=0,
        verbose=False,
    )
    # k = 20 copies every feature: the ranked cases are the sources themselves
    ranked = seen[1]
    np.testing.assert_array_equal(np.unique(ranked, axis=0), np.unique(X[positives], axis=0))


def test_an_attribution_ranks_each_tested_case_by_its_own_row(planted, planted_blackbox):
    X = planted.X_test[:200]
    positive = planted_blackbox.predict(X) == 1
    noise = np.setdiff1d(np.arange(20), planted.support)
    values = np.zeros((200, 20))
    values[positive[:, None] & np.isin(np.arange(20), planted.support)] = 1.0
    values[~positive[:, None] & np.isin(np.arange(20), noise[:4])] = 1.0
    att = Attribution(values, np.ones(200, int))  # only the positives are tested
    result = deletion_test(planted_blackbox, X, att, [4], target=1, random_state=0, verbose=False)
    removed = np.where(values > 0, 0.0, X)[positive]
    assert result.n_cases == positive.sum()
    assert result.pcr[0] == pytest.approx(np.mean(planted_blackbox.predict(removed) == 1))


def test_pcr_result_markdown_and_dict():
    result = PCRResult(
        ks=np.array([1, 2]),
        pcr=np.array([0.1, 0.2]),
        pcr_ci=np.array([[0.05, 0.15], [0.1, 0.6]]),
        random_pcr=np.array([0.8, 0.5]),
        random_pcr_ci=np.array([[0.7, 0.9], [0.4, 0.65]]),
        n_cases=10,
        meta={"test": "deletion"},
    )
    lines = result.to_markdown("top").splitlines()
    assert lines[0].startswith("| k | PCR, top features [95% CI] |")
    assert lines[2] == "| 1 | 0.100 [0.050, 0.150] | 0.800 [0.700, 0.900] | yes |"
    assert lines[3] == "| 2 | 0.200 [0.100, 0.600] | 0.500 [0.400, 0.650] | no |"
    assert result.as_dict() == {
        "ks": [1, 2],
        "pcr": [0.1, 0.2],
        "pcr_ci": [[0.05, 0.15], [0.1, 0.6]],
        "random_pcr": [0.8, 0.5],
        "random_pcr_ci": [[0.7, 0.9], [0.4, 0.65]],
        "n_cases": 10,
        "meta": {"test": "deletion"},
    }


def test_deletion_meta_and_the_sample_fraction_of_both_intervals(planted, planted_blackbox):
    def run(sample_frac):
        return deletion_test(
            planted_blackbox,
            planted.X_test,
            planted.support,
            [1],
            fill=np.zeros(20),
            target=1,
            n_boot=200,
            sample_frac=sample_frac,
            random_state=0,
            verbose=False,
        )

    whole, ninth = run(1.0), run(0.09)
    assert whole.meta == {
        "test": "deletion",
        "cases": "positive",
        "fill": "array",
        "target": 1,
        "seed": 0,
        "n_boot": 200,
        "sample_frac": 1.0,
    }
    # the same draws, so the same rates; a draw of 9% of the cases widens both
    # intervals about sqrt(1 / 0.09) = 3.3 times
    assert whole.random_pcr[0] == ninth.random_pcr[0] and whole.pcr[0] == ninth.pcr[0]
    for ci in ("pcr_ci", "random_pcr_ci"):
        ratio = np.diff(getattr(ninth, ci)[0])[0] / np.diff(getattr(whole, ci)[0])[0]
        assert 2.3 < ratio < 4.5, (ci, ratio)


def test_fill_mean_of_one_row_is_refused(planted, planted_blackbox):
    X = planted.X_test[planted_blackbox.predict(planted.X_test) == 1][:1]
    with pytest.raises(ValueError, match="fill='mean' is the mean of the rows of X"):
        deletion_test(planted_blackbox, X, planted.support, [2], fill="mean", verbose=False)


def _recording(blackbox, seen):
    def fn(rows):
        seen.append(rows.copy())
        return blackbox.predict_proba(rows)

    return BlackBox.from_callable(fn, n_classes=2, input_shape=(20,))


def test_crafted_cases_from_an_attribution_use_each_positive_once(planted, planted_blackbox):
    X = planted.X_test[:300]
    positives = np.flatnonzero(planted_blackbox.predict(X) == 1)
    att = Attribution(np.tile(np.arange(20.0), (300, 1)), np.ones(300, int))
    seen = []
    box = _recording(planted_blackbox, seen)
    # more cases asked for than there are positives: each positive once, no repeats
    result = crafted_cases(
        box, X, att, [20], n_cases=1000, n_boot=10, random_state=0, verbose=False
    )
    assert result.n_cases == positives.size
    # k = 20 copies every feature: the ranked cases are the sources, in row order
    np.testing.assert_array_equal(seen[1], X[positives])


def test_crafted_sources_keep_their_own_class(planted, planted_blackbox):
    # target=None: each source is tested for its own class; with every feature copied
    # each crafted case is its source, which the model gives that class.
    X = planted.X_test[:300]
    result = crafted_cases(
        planted_blackbox,
        X,
        np.arange(20),
        [20],
        n_cases=400,
        n_boot=10,
        random_state=0,
        verbose=False,
    )
    assert result.pcr[0] == 1.0 and result.random_pcr[0] == 1.0


@pytest.mark.parametrize("noise", ["uniform", "marginal"])
def test_crafted_noise_draws_each_feature_independently(planted, planted_blackbox, noise):
    # In X every feature outside the support is a copy of feature 0; in the noise,
    # drawn feature by feature, those copies must be uncorrelated.
    X = planted.X_test.copy()
    others = np.setdiff1d(np.arange(20), planted.support)
    X[:, others] = X[:, [0]]
    seen = []
    box = _recording(planted_blackbox, seen)
    crafted_cases(
        box,
        X,
        planted.support,
        [0],
        target=1,
        noise=noise,
        n_cases=500,
        n_boot=10,
        random_state=0,
        verbose=False,
    )
    fill = np.concatenate(seen[1:])[:, others]
    corr = np.corrcoef(fill, rowvar=False)
    assert np.abs(corr[~np.eye(others.size, dtype=bool)]).max() < 0.2


def test_keep_top_k_positive_mean_is_over_the_predicted_classes(planted, planted_blackbox):
    X, y = planted.X_test, planted.y_test
    preds = planted_blackbox.predict(X)
    assert np.any(preds != y)  # the labels and the model disagree on some rows
    kept = keep_top_k(planted_blackbox, X, y, planted.support, 2, fill="positive_mean", n_boot=10)
    class_means = np.stack([X[preds == c].mean(axis=0) for c in (0, 1)])
    rest = np.where(np.isin(np.arange(20), planted.support[:2]), X, class_means[y])
    proba = planted_blackbox.predict_proba(rest)
    assert kept.probability.mean == pytest.approx(proba[np.arange(len(y)), y].mean())
    assert kept.meta == {
        "test": "keep_top_k",
        "unit": "feature",
        "fill": "positive_mean",
        "n_boot": 10,
        "seed": None,
    }


def test_keep_top_k_checks_k_and_segments(planted, planted_blackbox):
    X, y = planted.X_test[:20], planted.y_test[:20]
    with pytest.raises(ValueError, match="k=5 exceeds the 4 ranked features"):
        keep_top_k(planted_blackbox, X, y, planted.support, 5)
    att = Attribution(np.ones((20, 20)), y)
    for segments in (np.arange(20) - 1, np.arange(20) / 2):  # a negative id, float ids
        with pytest.raises(ValueError, match="segments must be non-negative int labels"):
            keep_top_k(planted_blackbox, X, y, att, 1, segments=segments)
    with pytest.raises(ValueError, match="segment_score must be 'mean' or 'sum'"):
        keep_top_k(planted_blackbox, X, y, att, 1, segments=np.arange(20) // 2, segment_score="max")
    # checked on arrival, not only when segments use it: a typo was silently ignored
    with pytest.raises(ValueError, match="segment_score must be 'mean' or 'sum'"):
        keep_top_k(planted_blackbox, X, y, planted.support, 1, segment_score="max")


def test_segments_can_score_their_sum(planted, planted_blackbox):
    X, y = planted.X_test[:50], planted.y_test[:50]
    segments = np.minimum(np.arange(20), 1)  # feature 0 alone, then 19 features together
    att = Attribution(np.where(np.arange(20) == 0, 1.0, 0.5) * np.ones((50, 1)), y)
    # sum: 9.5 against 1.0, the 19 features are kept (the mean would keep feature 0)
    kept = keep_top_k(
        planted_blackbox, X, y, att, 1, segments=segments, segment_score="sum", n_boot=10
    )
    all_but_first = np.where(np.arange(20) == 0, 0.0, X)
    expected = planted_blackbox.predict_proba(all_but_first)[np.arange(50), y].mean()
    assert kept.probability.mean == pytest.approx(expected)


def test_positive_mean_fills_each_tested_case_with_its_own_class_mean(planted, planted_blackbox):
    # An attribution for the true labels: the tested cases are those the model gets
    # right, of both classes. With every feature replaced, each case becomes the mean
    # of the cases predicted as its class, which the (linear) model gives that class.
    X, y = planted.X_test, planted.y_test
    att = Attribution(np.tile(np.arange(20.0), (len(y), 1)), y)
    result = deletion_test(
        planted_blackbox,
        X,
        att,
        [20],
        fill="positive_mean",
        n_boot=10,
        random_state=0,
        verbose=False,
    )
    assert result.n_cases == np.sum(planted_blackbox.predict(X) == y) < len(y)
    assert result.pcr[0] == 1.0


def test_keep_top_k_scores_y_not_the_class_an_attribution_explains(planted, planted_blackbox):
    """With an attribution for class 1 on every row, the accuracy is still the share of
    rows classified as y and the probability that of y (the docstring's figures),
    recomputed with sklearn, scipy's Wilson interval and a hand percentile bootstrap."""
    from scipy.stats import binomtest
    from sklearn.metrics import accuracy_score

    X, y = planted.X_test[:300], planted.y_test[:300]
    scores = np.random.default_rng(0).normal(size=X.shape)
    attribution = Attribution(scores, target=np.ones(300, dtype=np.int64))
    kept = keep_top_k(planted_blackbox, X, y, attribution, 5, n_boot=200, random_state=3)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    mask = np.zeros(X.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    proba = planted_blackbox.predict_proba(np.where(mask, X, 0.0))
    hits = proba.argmax(axis=1) == y
    assert kept.accuracy.mean == accuracy_score(y, proba.argmax(axis=1))
    assert kept.probability.mean == pytest.approx(proba[np.arange(300), y].mean(), abs=1e-12)
    # the accuracy, a share of 0/1 outcomes, has Wilson's score interval
    wilson = binomtest(int(hits.sum()), 300).proportion_ci(method="wilson")
    np.testing.assert_allclose(kept.accuracy.ci, (wilson.low, wilson.high), atol=1e-12)
    # the probability's: the first 200 draws of the seed, 2.5th and 97.5th percentiles
    rng = np.random.default_rng(3)
    p_y = proba[np.arange(300), y]
    draws = p_y[rng.integers(0, 300, size=(200, 300))].mean(axis=1)
    np.testing.assert_allclose(kept.probability.ci, np.percentile(draws, [2.5, 97.5]), atol=1e-12)
    assert kept.accuracy.n == kept.probability.n == 300


def test_each_bar_reaches_its_total(planted, planted_blackbox, monkeypatch):
    """Shown by default; keep_top_k's bar counts rows, the deletion test's one step per k
    per block."""
    import unboxed.evaluate._fidelity as fidelity_module

    bars = record_progress(monkeypatch, fidelity_module)
    X, y = planted.X_test[:100], planted.y_test[:100]
    keep_top_k(planted_blackbox, X, y, planted.support, 2, n_boot=5, random_state=0)
    deletion_test(planted_blackbox, X, planted.support, [1, 2, 3], target=1, n_boot=5)
    assert [bar.kwargs["desc"] for bar in bars] == ["keep top k", "deletion test"]
    assert all(bar.kwargs["verbose"] is True for bar in bars)  # the default
    assert bars[0].kwargs["total"] == 100 and bars[1].kwargs["total"] % 3 == 0
    for bar in bars:
        assert sum(bar.updates) == bar.kwargs["total"]


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_bootstrap_bars_and_false_prints_nothing(
    verbose, planted, planted_blackbox, capfd
):
    args = {"target": 1, "n_boot": 5, "random_state": 0, "verbose": verbose}
    deletion_test(planted_blackbox, planted.X_test[:100], planted.support, [1, 2], **args)
    crafted_cases(planted_blackbox, planted.X_test[:100], planted.support, [1, 2], **args)
    y = planted.y_test[:100]
    del args["target"]
    keep_top_k(planted_blackbox, planted.X_test[:100], y, planted.support, 2, **args)
    assert_progress_shown(capfd, verbose, "deletion test", "crafted cases", "keep top k")


def test_results_print_their_figures_and_per_row_arrays_by_shape(planted, planted_blackbox):
    X = planted.X_test[:200]
    support = np.array([2, 5, 11, 17])
    pcr = deletion_test(planted_blackbox, X, support, [1], target=1, n_boot=20, random_state=0)
    assert repr(pcr).startswith(f"PCRResult(ks=[1], pcr=[{pcr.pcr[0]:.4f}]")
    kept = keep_top_k(
        planted_blackbox, X, np.zeros(len(X), int), support, 2, n_boot=20, random_state=0
    )
    text = repr(kept)
    assert text.startswith("KeepTopKResult(k=2, accuracy=Estimate(") and "\n" not in text
    # the generated repr printed all 200 predictions
    assert text.endswith("predicted=<array of shape (200,), int64>)")


def _labelled(blackbox, labels):
    """The same model, told its labels (as from_sklearn is by ``classes_``)."""
    return BlackBox.from_callable(
        blackbox.predict_proba, n_classes=blackbox.n_classes, input_shape=(20,), classes=labels
    )


def test_y_and_target_are_read_in_the_model_labels(planted, planted_blackbox):
    # With labels -1/+1, y = 1 was read as column 1 (correct by luck) and y = -1 was
    # refused; with labels 1/2, y = 1 scored the other class: accuracy near 0.
    X, y = planted.X_test[:300], planted.y_test[:300]
    for labels in ([1, 2], ["neg", "pos"]):
        box = _labelled(planted_blackbox, labels)
        named = np.asarray(labels)[y]
        kept = keep_top_k(box, X, named, planted.support, 2, n_boot=10, random_state=0)
        plain = keep_top_k(planted_blackbox, X, y, planted.support, 2, n_boot=10, random_state=0)
        assert kept.accuracy == plain.accuracy and kept.probability == plain.probability
        with pytest.raises(ValueError, match="not a class of"):
            keep_top_k(box, X, y, planted.support, 2, n_boot=10)
        args = (X, planted.support, [2])
        one = deletion_test(box, *args, target=labels[1], random_state=0, verbose=False)
        two = deletion_test(planted_blackbox, *args, target=1, random_state=0, verbose=False)
        np.testing.assert_array_equal(one.pcr, two.pcr)
        with pytest.raises(ValueError, match="not a class of"):
            deletion_test(box, *args, target=0, verbose=False)


@pytest.mark.parametrize("test", [deletion_test, crafted_cases])
def test_an_integral_float_target_is_its_int_class_as_everywhere_else(
    test, planted, planted_blackbox
):
    # deletion_test and crafted_cases refused target=1.0 ("must be an int class
    # index"), where every explainer and deletion_curve read it as class 1.
    def run(target):
        return test(
            planted_blackbox,
            planted.X_test[:80],
            planted.support,
            [1, 2],
            target=target,
            random_state=0,
            verbose=False,
        )

    as_float, as_int = run(1.0), run(1)
    np.testing.assert_array_equal(as_float.pcr, as_int.pcr)
    assert as_float.n_cases == as_int.n_cases
    # meta recorded the argument as given (1.0, or np.float32(1.0), a type its file
    # does not keep); it records the class read, by the model's label.
    for target in (1.0, np.float32(1.0), np.int64(1)):
        recorded = run(target).meta["target"]
        assert recorded == 1 and type(recorded) is int


def test_agreement_refuses_classes_that_mix_strings_and_numbers():
    """numpy read [0, "cat"] as ["0", "cat"], and the int label 0 matched no class."""
    proba = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(TypeError, match="mixes strings and numbers"):
        agreement(np.array([0, 0], dtype=object), proba, classes=[0, "cat"])


def test_agreement_refuses_a_list_of_labels_that_mixes_strings_and_numbers():
    # numpy read ["cat", 1] as ["cat", "1"]: it agreed with ["cat", "1"] on every row,
    # where the int 1 is no string label, as classes=[0, "cat"] is refused.
    with pytest.raises(TypeError, match=r"pred_a mixes strings and numbers, \['cat', 1\]"):
        agreement(["cat", 1], ["cat", "1"])
    with pytest.raises(TypeError, match=r"pred_b mixes strings and numbers"):
        agreement(["cat", "dog"], ("cat", 2.5))
    # As objects they reached numpy's "'<' not supported between 'int' and 'str'".
    for mixed in (pd.Series(["cat", 1]), np.array([1, "cat"], dtype=object)):
        with pytest.raises(TypeError, match=r"pred_a mixes strings and numbers"):
            agreement(mixed, ["cat", "dog"])
    assert agreement(["cat", "1"], ["cat", "1"]).mean == 1.0  # text alone is kept


@pytest.mark.parametrize(
    ("gap", "said"),
    [
        (np.nan, "a missing label (nan)"),
        (pd.NaT, "a missing label (NaT)"),
        (np.inf, "inf"),
        (-np.inf, "-inf"),
    ],
)
def test_agreement_names_a_gap_or_an_infinity_among_classes_of_numbers(gap, said):
    # Only among strings was a gap named: classes=[0, 1, nan] read "pred_a holds 2,
    # which is not a class of the model that classes= names: pass its labels, [0.0,
    # 1.0, nan]", and an inf alike. A black box's classes named an inf without its place.
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    proba, predicted = model.predict_proba(X), model.predict(X)
    with pytest.raises(ValueError) as raised:
        agreement(predicted, proba, classes=[0, 1, gap])
    advice = "give each class its label" if "missing" in said else "labels must be finite"
    assert str(raised.value) == f"classes holds {said} at index 2; {advice}"
    with pytest.raises(ValueError) as raised:
        BlackBox.from_sklearn(model, classes=[0, 1, gap])
    assert str(raised.value) == f"classes holds {said} at index 2; {advice}"
    assert agreement(predicted, proba, classes=[0, 1, 2]).mean == 1.0


@pytest.mark.parametrize(
    ("labels", "other", "said"),
    [
        ([pd.NaT, pd.NaT, pd.NaT], [0, 1, 2], "(NaT) at index 0"),
        ([0, pd.NaT, 2], [0, 1, 2], "(NaT) at index 1"),
        ([0.0, 1.0, pd.NaT], [0, 1, 2], "(NaT) at index 2"),
        (["cat", pd.NaT, "eel"], ["cat", "dog", "eel"], "(NaT) at index 1"),
        (
            ["cat", np.datetime64("NaT"), "eel"],
            ["cat", "dog", "eel"],
            "(np.datetime64('NaT','generic')) at index 1",
        ),
    ],
)
def test_agreement_names_a_nat_label_as_missing_alone_or_beside_numbers_or_strings(
    labels, other, said
):
    # as_labels' docstring named NaN, None and pd.NA as missing labels but not NaT: numpy
    # holds a NaT as an object in each of these lists, where check_no_missing finds it.
    with pytest.raises(ValueError) as raised:
        agreement(labels, other)
    assert str(raised.value) == (
        f"pred_a holds a missing label {said}; drop those rows or give them a class"
    )


def test_a_target_the_attribution_does_not_explain_is_named_by_its_label(planted):
    # target="yes" was reported as "target=1", a name the caller never used, and the
    # message did not say which classes the attribution explains.
    from sklearn.linear_model import LogisticRegression

    labels = np.array(["no", "yes"])[planted.y_train]
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=1000).fit(planted.X_train, labels))
    X = planted.X_test[:40]
    att = Occlusion(box).explain(X, target="no")
    message = r"other classes than target='yes': its rows explain \['no'\]; pass target=None"
    with pytest.raises(ValueError, match=message):
        deletion_test(box, X, att, [2], target="yes", verbose=False)
    assert deletion_test(box, X, att, [2], target="no", verbose=False).n_cases > 0


def test_a_fill_series_is_read_by_its_feature_names(planted, planted_named_blackbox):
    # fill=X_train.mean() is a pandas Series; one whose columns came in another order
    # than the model's filled each feature with another feature's value.
    import pandas as pd

    from tests.helpers import PLANTED_COLUMNS

    X = planted.X_test[:200]
    values = np.linspace(0.0, 1.0, 20)  # distinct per feature, so an order shows
    series = pd.Series(values, index=list(PLANTED_COLUMNS)).iloc[::-1]
    ranking = np.concatenate([planted.support, np.setdiff1d(np.arange(20), planted.support)])

    def test(fill):
        return deletion_test(
            planted_named_blackbox, X, ranking, [3], fill=fill, random_state=0, verbose=False
        )

    expected = test(values)
    assert expected.pcr.tolist() != test(values[::-1].copy()).pcr.tolist()  # order matters
    assert test(series).pcr.tolist() == expected.pcr.tolist()
    with pytest.raises(ValueError, match="fill's columns do not match.*lacks column 'column 4'"):
        test(series.drop("column 4"))


def test_agreement_names_a_missing_label():
    # A NaN among string labels failed inside np.unique: "'<' not supported between
    # instances of 'float' and 'str'".
    labels = np.array(["cat", "dog", "cat", "eel"], dtype=object)
    gappy = labels.copy()
    gappy[2] = np.nan
    with pytest.raises(ValueError, match=r"pred_b holds a missing label \(nan\) at index 2"):
        agreement(labels, gappy)
    gappy[2] = None
    with pytest.raises(ValueError, match=r"pred_a holds a missing label \(None\) at index 2"):
        agreement(gappy, labels)
    assert agreement(labels, labels).mean == 1.0


def test_agreement_names_a_nan_in_a_list_of_string_labels_as_missing():
    # numpy turned ["cat", nan] into ["cat", "nan"]: without classes the string
    # "nan" was compared as a label (agreement 0.5), with them it was "not a class",
    # and in classes itself "classes mixes strings and numbers".
    labels = ["cat", "dog", "cat", "eel"]
    gappy = ["cat", "dog", np.nan, "eel"]
    for classes in (None, ["cat", "dog", "eel"]):
        with pytest.raises(ValueError) as raised:
            agreement(gappy, labels, classes=classes)
        assert str(raised.value) == (
            "pred_a holds a missing label (nan) at index 2; drop those rows or give them a class"
        )
    with pytest.raises(ValueError) as raised:
        agreement(labels, labels, classes=["cat", np.nan, "eel"])
    assert str(raised.value) == (
        "classes holds a missing label (nan) at index 1; give each class its label"
    )
    assert agreement(labels, labels, classes=["cat", "dog", "eel"]).mean == 1.0


def _class_1_past_zero_no_zero_dose_for_the_old(X):
    """Class 1 where feature 1 is positive; raises where feature 0 is 0 and feature 4
    is past 0.9."""
    if np.any((X[:, 0] == 0) & (X[:, 4] > 0.9)):
        raise ValueError("no zero dose past 0.9")
    p1 = np.where(X[:, 1] > 0, 0.75, 0.25)
    return np.stack([1 - p1, p1], axis=1)


def _dosed_box_and_rows():
    box = BlackBox.from_callable(_class_1_past_zero_no_zero_dose_for_the_old, n_classes=2)
    X = np.full((3, 5), 0.5)
    X[0, 1] = -1.0  # class 0: not a positive case of class 1
    X[2, 4] = 1.0  # only row 2 raises, once its feature 0 is zeroed
    return box, X


def test_a_model_that_raises_on_a_manipulated_case_names_its_row_of_x(monkeypatch):
    # The deletion test said "on row 1 of the 2 rows queried", numbering its positive
    # cases (rows 1 and 2 of X); keep_top_k, with rows in blocks, "on row 0 of the 1 row
    # queried", numbering each block from 0.
    from unboxed.evaluate import _fidelity

    box, X = _dosed_box_and_rows()
    with pytest.raises(BlackBoxError) as raised:
        deletion_test(box, X, np.arange(5), ks=[1], target=1, verbose=False)
    assert str(raised.value) == (
        "black box '_class_1_past_zero_no_zero_dose_for_the_old' raised ValueError on row 2 "
        "of X with its 1 first-ranked feature set to the fill: no zero dose past 0.9"
    )
    monkeypatch.setattr(_fidelity, "CHUNK_ROWS", 2)  # blocks of rows 0-1 and 2
    with pytest.raises(BlackBoxError) as raised:
        keep_top_k(box, X, [0, 1, 1], np.arange(5)[::-1], k=4, verbose=False)
    assert str(raised.value) == (
        "black box '_class_1_past_zero_no_zero_dose_for_the_old' raised ValueError on row 2 "
        "of X with only its 4 first-ranked features kept: no zero dose past 0.9"
    )


def test_a_model_that_raises_on_a_crafted_case_names_it_and_its_source_row():
    box, X = _dosed_box_and_rows()
    X[1, 4] = 1.0  # both positive cases raise once feature 0 is zeroed
    ranking = np.array([4, 1, 2, 3, 0])  # feature 4 kept first, feature 0 left to the noise
    # Marginal noise draws feature 0 from X's rows: 0 from the last.
    with_zero = np.vstack([X, np.r_[0.0, 0.5, 0.5, 0.5, 0.0]])
    with pytest.raises(BlackBoxError) as raised:
        crafted_cases(
            box,
            with_zero,
            ranking,
            ks=[1],
            target=1,
            noise="marginal",
            n_cases=40,
            random_state=0,
            verbose=False,
        )
    # It said "on row 7 of the 40 rows queried": the crafted cases, drawn from rows 1, 2
    # and 3 of X with replacement.
    assert str(raised.value) == (
        "black box '_class_1_past_zero_no_zero_dose_for_the_old' raised ValueError on crafted "
        "case 7 (of row 1 of X) with its 1 first-ranked feature set, the rest noise: no zero "
        "dose past 0.9"
    )


def test_keep_top_k_refuses_labels_whose_index_holds_the_rows_in_another_order():
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=1000).fit(X, y))
    with pytest.raises(ValueError, match=r"y's index holds the rows of X in another order"):
        keep_top_k(box, X, y.sort_values(ascending=False), np.arange(4), 2)
    kept = keep_top_k(box, X, pd.Series(y.to_numpy()), np.arange(4), 4)  # by position
    assert kept.accuracy.mean > 0.9


def test_agreement_names_a_missing_label_of_a_series_by_its_index_label():
    # A split's shuffled index: "at index 2" sent the user to pred_a.loc[2], another row.
    import pandas as pd

    rows = [7, 3, 9, 2, 5]
    labels = pd.Series([0.0, 1.0, np.nan, 1.0, 0.0], index=rows)
    other = np.array([0, 1, 1, 1, 0])
    message = r"pred_a holds a missing label \(nan\) at index 2, row pred_a\.loc\[9\]; drop"
    for classes in (None, [0, 1]):
        with pytest.raises(ValueError, match=message):
            agreement(labels, other, classes=classes)
    with pytest.raises(ValueError, match=r"pred_b holds .* at index 2, row pred_b\.loc\[9\]"):
        agreement(other, labels.astype(object).where(labels.notna(), None))
    with pytest.raises(ValueError, match=r"at index 2; drop"):  # its own row numbers
        agreement(labels.reset_index(drop=True), other)


@pytest.mark.parametrize("infinity", [np.inf, -np.inf])
def test_agreement_names_an_infinite_label_of_a_series_by_its_index_label(infinity):
    # The Series' index was dropped before check_labels: "pred_a holds inf at index 2"
    # sent the user to pred_a.loc[2], another row; with classes= it named no row at all.
    rows = [7, 3, 9, 2, 5]
    labels = pd.Series([0.0, 1.0, infinity, 1.0, 0.0], index=rows)
    other = np.array([0, 1, 1, 1, 0])
    proba = np.eye(2)[other]
    said = f"holds {infinity!r} at index 2, row %s.loc[9]; labels must be finite"
    for classes in (None, [0, 1]):
        for given in (other, proba):
            with pytest.raises(ValueError) as raised:
                agreement(labels, given, classes=classes)
            assert str(raised.value) == "pred_a " + said % "pred_a"
            with pytest.raises(ValueError) as raised:
                agreement(given, labels, classes=classes)
            assert str(raised.value) == "pred_b " + said % "pred_b"
    with pytest.raises(ValueError) as raised:  # its own row numbers
        agreement(labels.reset_index(drop=True), other)
    assert str(raised.value) == f"pred_a holds {infinity!r} at index 2; labels must be finite"


def test_agreement_names_a_gap_in_a_dataframe_of_probabilities_by_its_index_label():
    # The DataFrame went to check_array as a plain array: "first at index (2, 0)" sent
    # the user to proba.loc[2], another row of a split's shuffled index.
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=5, random_state=0)
    model = LogisticRegression(max_iter=500).fit(X_train, y_train)
    proba = pd.DataFrame(model.predict_proba(X_test), index=X_test.index)
    proba.iloc[2, 0] = np.nan
    label = proba.index[2]
    assert label != 2
    message = rf"pred_b contains NaN \(first at index \(2, 0\), row pred_b\.loc\[{label}\]\)$"
    with pytest.raises(ValueError, match=message):
        agreement(model.predict(X_test), proba)
    with pytest.raises(ValueError, match=r"contains NaN \(first at index \(2, 0\)\)$"):
        agreement(proba.to_numpy(), model.predict(X_test))  # its own row numbers


@pytest.mark.skipif(
    np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
    reason="longdouble is float64 here: 1e400 is infinite as given",
)
def test_agreement_says_a_longdouble_probability_is_beyond_float64():
    # Finiteness was checked after the float64 cast, so 1e400, finite as given, read
    # "pred_a contains infinity (first at index (3, 1))", as if the model had made it.
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    proba = model.predict_proba(X[:10]).astype(np.longdouble)
    proba[3, 1] = np.longdouble("1e400")
    with pytest.raises(ValueError) as raised:
        agreement(proba, model.predict(X[:10]))
    assert str(raised.value) == (
        "pred_a holds values beyond the range of float64 (up to 1e+400 in magnitude; "
        "float64 holds up to 1.8e+308)"
    )
    proba[3, 1] = np.nan  # a NaN given is still named as one
    with pytest.raises(ValueError, match=r"^pred_a contains NaN \(first at index \(3, 1\)\)$"):
        agreement(proba, model.predict(X[:10]))
    assert agreement(model.predict_proba(X[:10]).astype(np.longdouble), y[:10]).mean > 0.5


def _iris_box_that_must_not_be_queried():
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)

    def refuse(rows):
        raise AssertionError(f"the model was queried on {len(rows)} rows")

    return X, model, BlackBox.from_callable(refuse, n_classes=3, input_shape=(4,))


@pytest.mark.parametrize("test", [deletion_test, crafted_cases])
@pytest.mark.parametrize(
    ("ranking", "ks", "target", "message"),
    [
        ([[2, 3, 0], [3, 2]] * 75, [1], None, "as many features on every row"),
        (np.tile(np.arange(4), (10, 1)), [1], None, "has 10 rows but X has 150"),
        (np.array([0, 7]), [1], None, r"must lie in \[0, 4\), got 7"),
        (np.array([2, 0]), [3], None, "k=3 exceeds the 2 ranked features"),
        (FeatureImportance(np.ones((3, 5))), [1], None, "covers 5 features but X has 4"),
        (FeatureImportance(np.ones((2, 4))), [1], 2, "ranks 2 classes, but class 2 is needed"),
        (Attribution(np.ones((150, 4)), [0] * 150), [1], 1, "other classes than target=1"),
        # It said "no positive case in X for the tested class(es)", after the query.
        (Attribution(np.ones((150, 4)), [5] * 150), [1], None, "class 5, but the black box has 3"),
    ],
    ids=["ragged", "rows", "index", "k", "width", "class", "attribution_target", "no_such_class"],
)
def test_a_bad_ranking_is_refused_before_the_model_is_queried(test, ranking, ks, target, message):
    # Each was refused only after a query over every row of X (the predictions that
    # pick the explained classes): minutes of a large model for a typo in the ranking.
    X, _, box = _iris_box_that_must_not_be_queried()
    with pytest.raises((ValueError, TypeError), match=message):
        test(box, X, ranking, ks, target=target, verbose=False)
    assert box.n_queries == 0


@pytest.mark.parametrize("test", [deletion_test, crafted_cases])
def test_a_per_class_importance_is_checked_for_the_predicted_classes_after_the_query(test):
    # Without target the classes are the predictions: a per-class importance that
    # lacks one of them is refused once they are known, and still by name.
    X, model, _ = _iris_box_that_must_not_be_queried()
    box = BlackBox.from_sklearn(model)
    with pytest.raises(ValueError, match="ranks 2 classes, but class 2 is needed"):
        test(box, X, FeatureImportance(np.ones((2, 4))), [1], verbose=False)
    assert box.n_queries == len(X)  # one prediction of each row, no manipulated case


@pytest.mark.parametrize(
    ("ranking", "k", "segments", "message"),
    [
        ([[2, 3, 0], [3, 2]] * 75, 1, None, "as many features on every row"),
        (np.array([0, 7]), 1, None, r"must lie in \[0, 4\), got 7"),
        (np.array([2, 0]), 3, None, "k=3 exceeds the 2 ranked features"),
        (np.array([1, 0]), 3, np.array([0, 0, 1, 1]), r"k=3 exceeds the number of segments \(2\)"),
    ],
    ids=["ragged", "index", "k", "segments"],
)
def test_keep_top_k_refuses_a_bad_ranking_before_positive_mean_queries_the_model(
    ranking, k, segments, message
):
    # fill="positive_mean" reads the classes of X's rows, a query over every row, and
    # the ranking was checked only after it: a typo in the ranking cost a full query.
    X, model, box = _iris_box_that_must_not_be_queried()
    y = model.predict(X)
    with pytest.raises(ValueError, match=message):
        keep_top_k(box, X, y, ranking, k, segments=segments, fill="positive_mean", verbose=False)
    assert box.n_queries == 0


@pytest.mark.parametrize("test", ["keep_top_k", "deletion_curve"])
def test_segment_ids_beyond_every_feature_are_refused_before_numpy_sizes_a_table_by_them(test):
    # Ids like 10**12 with a ranking array that names them sized a mask of 10**12
    # columns per row: a MemoryError deep in numpy, not a message.
    X, model, box = _iris_box_that_must_not_be_queried()
    segments = np.array([0, 0, 1, 10**12])
    ranking = np.array([10**12, 0, 1])
    message = r"segments hold ids up to 1000000000000, more than the 600 features of the 150"
    with pytest.raises(ValueError, match=message):
        if test == "keep_top_k":
            keep_top_k(box, X, model.predict(X), ranking, 1, segments=segments, verbose=False)
        else:
            deletion_curve(box, X, ranking, max_k=2, segments=segments)
    assert box.n_queries == 0
    # numbered densely, the same segments and ranking are read
    dense = np.unique(segments, return_inverse=True)[1]
    kept = keep_top_k(
        BlackBox.from_sklearn(model),
        X,
        model.predict(X),
        np.array([2, 0, 1]),
        1,
        segments=dense,
        verbose=False,
    )
    assert kept.k == 1 and 0 <= kept.accuracy.mean <= 1


@pytest.mark.parametrize(
    ("spared_calls", "fill", "place"),
    [
        # fill="positive_mean" reads the classes of X's own rows first.
        (0, "positive_mean", r"row 1 of the 6 rows queried, row X\.loc\['flower-62'\]"),
        # Petal length alone kept: row 1 keeps its 4.0.
        (
            0,
            "zero",
            r"row 1 of X, row X\.loc\['flower-62'\] with only its 1 first-ranked feature kept",
        ),
    ],
    ids=["classes", "kept"],
)
def test_keep_top_k_names_a_dataframes_row_the_model_raises_on_by_its_label(
    spared_calls, fill, place
):
    # It said "on row 1 of the 6 rows queried" and "on row 1 of X with only its 1
    # first-ranked feature kept" alone, where predict_proba adds the row's label: row
    # 1 of a split is not X.loc[1].
    box, X = iris_refusing_a_petal_of_4(spared_calls)
    y = np.array([1, 1, 0, 2, 0, 2])  # each class once at least, for positive_mean
    with pytest.raises(BlackBoxError) as raised:
        keep_top_k(box, X, y, np.array([2, 0, 1, 3]), 1, fill=fill, n_boot=10, verbose=False)
    message = str(raised.value)
    expected = rf"black box 'refuses_a_petal_of_4' raised ValueError on {place}: petal length 4\.0"
    assert re.fullmatch(expected, message), message


def test_the_pcr_tests_take_numpy_numbers_and_record_plain_ones():
    # np.asarray(20) and np.asarray(0.3) were refused by name; taken, they are recorded
    # in meta as the plain numbers they hold, as a saved result reads them back.
    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    ranking = np.array([2, 3, 0, 1])
    for test in (deletion_test, crafted_cases):
        common = {"random_state": 0, "verbose": False}
        plain = test(box, X, ranking, [1, 2], n_boot=20, sample_frac=0.3, **common)
        wrapped = test(
            box, X, ranking, [1, 2], n_boot=np.asarray(20), sample_frac=np.asarray(0.3), **common
        )
        np.testing.assert_array_equal(wrapped.pcr_ci, plain.pcr_ci)
        assert wrapped.meta == plain.meta
        assert type(wrapped.meta["n_boot"]) is int and type(wrapped.meta["sample_frac"]) is float
    kept = keep_top_k(box, X, y, ranking, 1, n_boot=np.asarray(20), random_state=0, verbose=False)
    assert type(kept.meta["n_boot"]) is int


@pytest.mark.parametrize(
    ("test", "spared_calls", "ranking", "place"),
    [
        (deletion_test, 0, [0, 1, 2, 3], r"row 1 of the 6 rows queried, row X\.loc\['flower-62'\]"),
        # X was answered; setting sepal length to 0 keeps row 1's petal length.
        (
            deletion_test,
            1,
            [0, 1, 2, 3],
            r"row 1 of X, row X\.loc\['flower-62'\] with its 1 first-ranked feature set to "
            r"the fill",
        ),
        (crafted_cases, 0, [2, 0, 1, 3], r"row 1 of the 6 rows queried, row X\.loc\['flower-62'\]"),
        # A case crafted from row 1 copies its petal length.
        (
            crafted_cases,
            1,
            [2, 0, 1, 3],
            r"crafted case \d+ \(of row 1 of X, row X\.loc\['flower-62'\]\) with its 1 "
            r"first-ranked feature set, the rest noise",
        ),
    ],
    ids=["deletion-classes", "deletion-case", "crafted-classes", "crafted-case"],
)
def test_the_pcr_tests_name_a_dataframes_row_the_model_raises_on_by_its_label(
    test, spared_calls, ranking, place
):
    # They said "on row 1 of the 6 rows queried" and "row 1 of X with ..." alone, where
    # predict_proba adds the row's label: row 1 of a split is not X.loc[1].
    box, X = iris_refusing_a_petal_of_4(spared_calls)
    with pytest.raises(BlackBoxError) as raised:
        test(box, X, np.array(ranking), [1], n_boot=10, random_state=0, verbose=False)
    message = str(raised.value)
    expected = rf"black box 'refuses_a_petal_of_4' raised ValueError on {place}: petal length 4\.0"
    assert re.fullmatch(expected, message), message


@pytest.mark.parametrize(
    ("test", "setting"),
    [(deletion_test, "fill"), (crafted_cases, "values")],
    ids=["deletion_test-fill", "crafted_cases-values"],
)
def test_a_fill_of_other_width_is_refused_before_the_model_is_queried(test, setting):
    # It was refused only after the query of X's rows, and crafted_cases' values
    # were named "fill".
    X, _, box = _iris_box_that_must_not_be_queried()
    with pytest.raises(ValueError, match=rf"^{setting} must have shape \(4,\), got \(3,\)$"):
        test(box, X, np.arange(4), [1], **{setting: np.zeros(3)}, verbose=False)
    assert box.n_queries == 0


def test_crafted_values_as_a_series_are_read_by_their_feature_names(
    planted, planted_named_blackbox
):
    # values=X_train.max() is a pandas Series; one whose columns came in another order
    # than the model's gave each top feature another feature's value, without a word
    # (fill went through the model's column names; values did not).
    import pandas as pd

    from tests.helpers import PLANTED_COLUMNS

    X = planted.X_test[:100]
    values = np.linspace(-3.0, 3.0, 20)  # distinct per feature, so an order shows
    series = pd.Series(values, index=list(PLANTED_COLUMNS)).iloc[::-1]

    def test(values):
        return crafted_cases(
            planted_named_blackbox,
            X,
            planted.support,
            [2, 4],
            values=values,
            n_boot=10,
            random_state=0,
            verbose=False,
        )

    expected = test(values)
    assert expected.pcr.tolist() != test(values[::-1].copy()).pcr.tolist()  # order matters
    assert test(series).pcr.tolist() == expected.pcr.tolist()


def test_agreement_names_a_ragged_side_or_classes_entry_that_is_not_a_scalar():
    # [[1], [2, 3]] failed inside numpy: "... The requested array has an inhomogeneous
    # shape after 1 dimensions".
    tail = "which is not a scalar; labels must be a flat list of scalars, one label each"
    with pytest.raises(ValueError, match=re.escape(f"pred_a holds [1] at index 0, {tail}")):
        agreement([[1], [2, 3]], [1, 2])
    with pytest.raises(ValueError, match=re.escape(f"pred_b holds [2, 3] at index 1, {tail}")):
        agreement([1, 2], [1, [2, 3]])
    with pytest.raises(ValueError, match=re.escape(f"classes holds ['b', 'c'] at index 1, {tail}")):
        agreement(["a", "b"], ["a", "b"], classes=["a", ["b", "c"]])


class _CountedLabel(str):
    """A string label that counts the attributes asked of it and not found (a str has
    no ``__array__``): a per-label look beyond its type."""

    asked = 0

    def __getattr__(self, attribute):
        type(self).asked += 1
        raise AttributeError(attribute)


def test_agreement_reads_string_labels_by_their_type_not_one_by_one():
    # Since the ragged check (check_flat) asked np.ndim of every label, and the finite
    # check read each one, agreement on a million string labels took 10 s, not 0.6 s.
    names = np.asarray(load_iris().target_names)
    target = load_iris().target
    pred = pd.Series([_CountedLabel(names[c]) for c in target], dtype=object)
    other = pd.Series([_CountedLabel(names[c]) for c in target[::-1]], dtype=object)
    _CountedLabel.asked = 0
    result = agreement(pred, other)
    assert _CountedLabel.asked < 10  # 300 or more when each label was looked at
    assert result.mean == pytest.approx(np.mean(target == target[::-1]))


def test_crafted_cases_refuse_an_n_cases_too_large_to_hold_before_the_query():
    # n_cases=10**12 passed the check and raised numpy's bare "Unable to allocate 7.28
    # TiB" from rng.choice, after the query of X; now it is refused by name, first.
    X, _, box = _iris_box_that_must_not_be_queried()
    with pytest.raises(ValueError, match=r"n_cases=1000000000000 is too large"):
        crafted_cases(box, X, np.array([2, 3]), [1], n_cases=10**12, verbose=False)


def test_crafted_cases_refuse_n_cases_whose_crafted_rows_are_too_large_to_hold():
    # The check held n_cases indices, not the crafted rows of X's width: on wide inputs
    # (here 100,000 features, an image's pixels) n_cases=10**7 passed it (80 MB of
    # indices) and raised numpy's bare "Unable to allocate" from X[sources], after the
    # query of X. Now the (n_cases, n_features) rows are refused by name, first.
    X, _, _ = _iris_box_that_must_not_be_queried()
    wide = np.tile(X[:10], 25_000)

    def refuse(rows):
        raise AssertionError(f"the model was queried on {len(rows)} rows")

    box = BlackBox.from_callable(refuse, n_classes=3, input_shape=(wide.shape[1],))
    message = r"n_cases=10000000 is too large: it asks for an array of shape \(10000000, 100000\)"
    with pytest.raises(ValueError, match=message):
        crafted_cases(box, wide, np.array([2, 3]), [1], n_cases=10**7, verbose=False)


def test_crafted_cases_from_an_attribution_take_any_n_cases_as_all_positives(
    planted, planted_blackbox
):
    # An attribution's n_cases only subsamples its positive rows, never more: 10**12
    # means them all, as 1000 does, and was refused as too large to hold.
    X = planted.X_test[:300]
    positives = np.flatnonzero(planted_blackbox.predict(X) == 1)
    att = Attribution(np.tile(np.arange(20.0), (300, 1)), np.ones(300, int))
    run = functools.partial(
        crafted_cases, planted_blackbox, X, att, [5], n_boot=10, random_state=0, verbose=False
    )
    huge = run(n_cases=10**12)
    assert huge.n_cases == positives.size
    np.testing.assert_array_equal(huge.pcr, run(n_cases=1000).pcr)
