"""Tests of the pure retrieval metrics on hand-computed matrices, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import mean_rank, median_rank, ranks_from_similarity, recall_at_k, retrieval_metrics


def test_ranks_with_ties_are_pessimistic():
    sim = np.array(
        [
            [0.9, 0.9, 0.1],  # true 0 ties with item 1 -> rank 2
            [0.2, 0.5, 0.5],  # true 1 ties with item 2 -> rank 2
            [0.3, 0.2, 0.1],  # true 2 is last -> rank 3
        ]
    )
    ranks = ranks_from_similarity(sim)
    np.testing.assert_array_equal(ranks, [2, 2, 3])
    assert ranks.dtype == np.int64
    assert recall_at_k(ranks, 1) == 0.0
    assert recall_at_k(ranks, 2) == pytest.approx(200 / 3)
    assert recall_at_k(ranks, 3) == 100.0
    assert median_rank(ranks) == 2.0
    assert mean_rank(ranks) == pytest.approx(7 / 3)


def test_all_equal_scores_give_the_worst_rank_and_order_does_not_matter():
    sim = np.zeros((1, 5))
    assert ranks_from_similarity(sim, [3])[0] == 5
    rng = np.random.default_rng(0)
    sim = rng.integers(0, 3, size=(6, 9)).astype(np.float32)  # many ties
    targets = rng.integers(0, 9, size=6)
    perm = rng.permutation(9)
    inverse = np.argsort(perm)
    np.testing.assert_array_equal(
        ranks_from_similarity(sim, targets), ranks_from_similarity(sim[:, perm], inverse[targets])
    )


def test_rectangular_matrix_with_targets():
    sim = np.array([[0.1, 0.7, 0.3, 0.0], [0.5, 0.4, 0.6, 0.9]])
    np.testing.assert_array_equal(ranks_from_similarity(sim, [1, 0]), [1, 3])
    m = retrieval_metrics(sim, [1, 0], ks=(1, 5, 10))
    assert m == {"R@1": 50.0, "R@5": 100.0, "R@10": 100.0, "MdR": 2.0, "MnR": 2.0, "n_queries": 2, "n_gallery": 4}


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="square"):
        ranks_from_similarity(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="index the gallery"):
        ranks_from_similarity(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="NaN"):
        ranks_from_similarity(np.array([[np.nan, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="no ranks"):
        recall_at_k(np.array([]), 1)


def test_recall_curve_counts_ranks_up_to_each_k():
    from retrieval.metrics import recall_curve

    ranks = np.array([1, 3, 3, 7])  # hand count: K=1 -> 1/4, K=2 -> 1/4, K=3..6 -> 3/4, K=7+ -> 4/4
    np.testing.assert_allclose(recall_curve(ranks, 8), [25, 25, 75, 75, 75, 75, 100, 100])
    np.testing.assert_allclose(recall_curve(ranks, 2), [25, 25])  # ranks beyond k_max never count
    for k in (1, 3, 7):
        assert recall_curve(ranks, 8)[k - 1] == recall_at_k(ranks, k)
    with pytest.raises(ValueError, match="k_max"):
        recall_curve(ranks, 0)


def test_dual_softmax_matches_the_direct_formula():
    from retrieval.metrics import dual_softmax

    sim = np.array([[0.5, 0.2, 0.1], [0.4, 0.3, 0.0]])
    temp = 10.0
    # direct formula, element by element: s_ij * exp(t s_ij) / sum_q exp(t s_qj)
    expected = np.empty_like(sim)
    for i in range(2):
        for j in range(3):
            expected[i, j] = sim[i, j] * np.exp(temp * sim[i, j]) / sum(np.exp(temp * sim[q, j]) for q in range(2))
    np.testing.assert_allclose(dual_softmax(sim, temperature=temp), expected, rtol=1e-12)
    # Hand check of one cell: column 0 weights e^5 / (e^5 + e^4) for query 0.
    assert dual_softmax(sim, temperature=temp)[0, 0] == pytest.approx(0.5 * np.e / (np.e + 1))


def test_dual_softmax_fixes_a_hub_item_and_stays_finite_at_large_temperature():
    from retrieval.metrics import dual_softmax

    # Gallery item 0 is a "hub": both queries score it highest, but it matches query 0 far better.
    sim = np.array([[0.9, 0.1], [0.8, 0.7]])
    np.testing.assert_array_equal(ranks_from_similarity(sim), [1, 2])
    np.testing.assert_array_equal(ranks_from_similarity(dual_softmax(sim)), [1, 1])
    big = dual_softmax(np.array([[1.0, -1.0], [-1.0, 1.0]]), temperature=1e4)  # exp overflow without the shift
    assert np.isfinite(big).all()
    with pytest.raises(ValueError, match="NaN"):
        dual_softmax(np.array([[np.nan]]))
