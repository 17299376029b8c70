"""The one ranking rule: highest score first, ties to the lower index."""

import numpy as np

from unboxed._ranks import descending_order, mask_of, top_k_mask


def _reference_order(row):
    """Brute force: sort indices by (-score, index)."""
    return sorted(range(len(row)), key=lambda i: (-row[i], i))


def test_ties_go_to_the_lower_index_in_long_rows():
    # numpy's default sort is unstable beyond a few dozen entries; ties must not be
    scores = np.random.default_rng(0).integers(0, 3, size=(4, 200)).astype(float)
    order = descending_order(scores)
    for row, got in zip(scores, order, strict=True):
        assert list(got) == _reference_order(row)


def test_k_keeps_the_first_k_of_every_row_of_a_stack():
    scores = np.random.default_rng(1).normal(size=(2, 3, 9))
    order = descending_order(scores, 4)
    assert order.shape == (2, 3, 4)
    for i in range(2):
        for j in range(3):
            assert list(order[i, j]) == _reference_order(scores[i, j])[:4]


def test_mask_of_a_segment_order_may_be_wider_than_the_order():
    order = np.array([[2, 0], [1, 3]])
    mask = mask_of(order, 1, width=5)
    expected = np.zeros((2, 5), bool)
    expected[0, 2] = expected[1, 1] = True
    np.testing.assert_array_equal(mask, expected)
    # without a width, the order is a full permutation and sets the width
    np.testing.assert_array_equal(mask_of(np.array([[2, 0, 1]]), 2), [[True, False, True]])


def test_top_k_mask_matches_a_brute_force():
    scores = np.random.default_rng(2).integers(0, 4, size=(5, 30)).astype(float)
    scores[0, :5] = -np.inf  # unranked entries, as the ranking code writes them
    for k in (1, 7, 30):
        mask = top_k_mask(scores, k)
        expected = np.zeros_like(mask)
        for r, row in enumerate(scores):
            expected[r, _reference_order(row)[:k]] = True
        np.testing.assert_array_equal(mask, expected)
        assert (mask.sum(axis=1) == k).all()


def test_integer_scores_rank_without_overflow():
    # -scores wrapped: int8's -128 and int64's minimum stayed themselves and ranked
    # first; uint8's 1 became 255 and ranked last. The order was silently wrong.
    for scores in (
        np.array([-128, 0, 5], np.int8),
        np.array([np.iinfo(np.int64).min, 0, 3]),
        np.array([1, 0, 5], np.uint8),
        np.array([0, 7, np.iinfo(np.uint64).max], np.uint64),
    ):
        assert list(descending_order(scores)) == _reference_order(scores.tolist())
    assert top_k_mask(np.array([[1, 0, 5]], np.uint8), 2).tolist() == [[True, False, True]]


def test_bool_scores_rank_true_first_and_nan_ranks_last():
    # numpy refused -True ("The numpy boolean negative ... is not supported")
    assert list(descending_order(np.array([False, True, False, True]))) == [1, 3, 0, 2]
    assert list(descending_order(np.array([1.0, np.nan, 2.0, -np.inf]))) == [2, 0, 3, 1]
