"""Metrics equal values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hydrarec_minimal.metrics import (
    exclude_history,
    full_ranking_ranks,
    metrics_from_ranks,
    target_ranks,
)


def test_ranks_by_hand_with_history_excluded():
    # items 1..5; column 0 is padding.
    scores = torch.tensor([[0.0, 0.9, 0.8, 0.7, 0.6, 0.5]])
    history = torch.tensor([[1, 0]])  # item 1 (the best) was already seen
    targets = torch.tensor([3])
    # Without item 1: order is 2, 3, ... -> target 3 has rank 1.
    assert full_ranking_ranks(scores, history, targets).tolist() == [1]
    # Without removing the history, item 1 is above it too.
    assert target_ranks(scores, targets).tolist() == [2]  # items 1 and 2 above it
    assert exclude_history(scores, history, targets)[0, 0] == float("-inf")


def test_ties_count_against_the_target():
    scores = torch.tensor([[0.0, 1.0, 1.0, 1.0, 1.0]])
    history = torch.zeros(1, 1, dtype=torch.long)
    assert full_ranking_ranks(scores, history, torch.tensor([2])).tolist() == [3]


def test_a_target_in_the_history_is_never_excluded():
    scores = torch.tensor([[0.0, 0.1, 0.9, 0.5]])
    history = torch.tensor([[2, 3]])  # the user already watched item 2, and 2 is the target
    assert full_ranking_ranks(scores, history, torch.tensor([2])).tolist() == [0]


def test_metric_values_by_hand():
    ranks = torch.tensor([0, 1, 4, 30])
    m = metrics_from_ranks(ranks, cutoffs=(1, 5, 10))
    assert m["HR@1"] == pytest.approx(1 / 4)
    assert m["HR@5"] == pytest.approx(3 / 4)
    assert m["NDCG@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 4)
    assert m["MRR@5"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 4)
    assert m["MRR@1"] == pytest.approx(1 / 4)
    assert m["HR@10"] == m["HR@5"]


def test_k_larger_than_the_item_count_counts_every_rank():
    ranks = torch.tensor([0, 2, 3])  # only 4 items exist
    m = metrics_from_ranks(ranks, cutoffs=(20,))
    assert m["HR@20"] == 1.0
    assert m["NDCG@20"] == pytest.approx((1 + 1 / 2 + 1 / math.log2(5)) / 3)


def test_metrics_need_users():
    with pytest.raises(ValueError, match="zero users"):
        metrics_from_ranks(torch.tensor([], dtype=torch.long))


def test_per_user_metric_by_hand_and_its_errors():
    from hydrarec_minimal.metrics import per_user_metric

    ranks = np.array([0, 1, 9, 10])
    assert per_user_metric(ranks, "HR@10").tolist() == [1, 1, 1, 0]
    assert per_user_metric(ranks, "MRR@10").tolist() == [1, 0.5, 0.1, 0]
    np.testing.assert_allclose(
        per_user_metric(ranks, "NDCG@10"), [1, 1 / math.log2(3), 1 / math.log2(11), 0]
    )
    for bad in ("AUC@10", "NDCG", "NDCG@k"):
        with pytest.raises(ValueError, match="HR@k, NDCG@k or MRR@k"):
            per_user_metric(ranks, bad)
    with pytest.raises(ValueError, match="negative"):
        per_user_metric(np.array([-1]), "HR@10")


def test_paired_bootstrap_separates_a_consistent_small_gain_from_noise():
    from hydrarec_minimal.course.bootstrap import paired_bootstrap

    rng = np.random.default_rng(0)
    base = rng.integers(0, 50, size=(5, 900))  # 5 seeds x 900 users
    better = np.maximum(base - 1, 0)  # every user's target one place higher: small, consistent
    gain = paired_bootstrap(better, base)
    assert gain.low > 0 and gain.verdict == "better"
    assert paired_bootstrap(base, better).verdict == "worse"
    shuffled = base[:, rng.permutation(900)]  # same distribution, pairing broken: no difference
    assert paired_bootstrap(shuffled, base).verdict == "level"
    assert paired_bootstrap(base, base).mean == 0


def test_paired_bootstrap_needs_the_same_users():
    from hydrarec_minimal.course.bootstrap import paired_bootstrap

    with pytest.raises(ValueError, match="different users"):
        paired_bootstrap(np.zeros((2, 5)), np.zeros((2, 6)))
