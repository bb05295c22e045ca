"""Sampled ranking (older papers' protocol): negatives, ranks, and the whole evaluation."""

from __future__ import annotations

import pytest
import torch

from hydrarec_minimal.batches import EvalBatch
from hydrarec_minimal.course.sampled import sample_negatives, sampled_ranking_ranks, sampled_ranks


def test_sampled_negatives_avoid_history_and_target_and_are_repeatable():
    history = torch.tensor([[1, 2, 0], [5, 0, 0]])
    targets = torch.tensor([3, 4])
    draw = lambda seed: sample_negatives(  # noqa: E731
        history,
        targets,
        num_items=10,
        num_negatives=6,
        generator=torch.Generator().manual_seed(seed),
    )
    negatives = draw(0)
    assert negatives.shape == (2, 6)
    assert not set(negatives[0].tolist()) & {0, 1, 2, 3}
    assert not set(negatives[1].tolist()) & {0, 4, 5}
    assert all(len(set(row.tolist())) == 6 for row in negatives)
    assert torch.equal(negatives, draw(0))
    with pytest.raises(ValueError, match="only 7 candidate negatives"):
        sample_negatives(history, targets, num_items=10, num_negatives=8)


def test_popularity_negatives_follow_the_weights():
    popularity = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 0.0])  # only items 3 and 4 can be drawn
    negatives = sample_negatives(
        torch.tensor([[1]]), torch.tensor([2]), num_items=5, num_negatives=2, popularity=popularity
    )
    assert sorted(negatives[0].tolist()) == [3, 4]


def test_sampled_rank_by_hand():
    scores = torch.tensor([[0.0, 0.9, 0.1, 0.5, 0.7]])
    # target 3 (0.5) against negatives 1 (0.9), 2 (0.1), 4 (0.7): two above it.
    assert sampled_ranking_ranks(scores, torch.tensor([3]), torch.tensor([[1, 2, 4]])).tolist() == [
        2
    ]


def eval_batch(rows: int) -> EvalBatch:
    """``rows`` users who saw items 1 and 2 and must find item 3."""
    inputs = torch.tensor([[1, 2, 0]] * rows)
    mask = inputs != 0
    targets = torch.full((rows,), 3)
    return EvalBatch(torch.arange(rows), inputs, mask, mask.sum(1), targets, inputs[:, :2])


# item:                     0    1    2    3    4    5    6    7    8
SCORES = torch.tensor([0.0, 9.0, 9.0, 5.0, 1.0, 6.0, 7.0, 2.0, 3.0])


def score_fn(inputs: torch.Tensor) -> torch.Tensor:
    return SCORES.expand(len(inputs), -1)


def test_sampled_ranks_rank_the_target_among_unseen_negatives_only():
    batches = [eval_batch(2), eval_batch(3)]
    # 5 negatives out of items 4..8 (1, 2 seen, 3 the target): all of them; 5 and 6 score higher
    ranks = sampled_ranks(score_fn, batches, num_items=8, num_negatives=5, seed=1)
    assert ranks.tolist() == [2] * 5
    only_4_and_6 = torch.tensor([0.0, 1, 1, 1, 1, 0, 1, 0, 0])
    ranks = sampled_ranks(score_fn, batches, 8, only_4_and_6, num_negatives=2)
    assert ranks.tolist() == [1] * 5  # the history and the target are never drawn


def test_sampled_ranks_are_repeatable_and_follow_the_seed():
    batches = [eval_batch(40)]
    draw = lambda seed: sampled_ranks(score_fn, batches, 8, num_negatives=2, seed=seed)  # noqa: E731
    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))
    with pytest.raises(ValueError, match="only 5 candidate negatives"):
        sampled_ranks(score_fn, batches, 8)  # 100 negatives by default
