"""Ranking metrics for next-item recommendation, on whole batches.

Full ranking: the target against all items, the user's history removed (never the target
itself; padding never ranked). With 0-based ``rank``: HR@k = [rank < k], NDCG@k =
1/log2(rank + 2), MRR@k = 1/(rank + 1) when rank < k, else 0. Ties count against the target
(a constant model gets the worst rank). Sampled ranking (older papers only): the target
against ``SAMPLED_NEGATIVES`` seeded negatives, uniform or by popularity.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: The cut-offs reported everywhere.
CUTOFFS = (1, 5, 10, 20)

#: Negatives per user in sampled ranking (the number older papers use).
SAMPLED_NEGATIVES = 100


def exclude_history(scores: Tensor, history: Tensor, targets: Tensor) -> Tensor:
    """Set the scores of history items to ``-inf``, except each row's target.

    Args:
        scores: ``(batch, num_items + 1)``, column i = item id i.
        history: long ``(batch, h)`` item ids the user has already seen, 0 = padding.
        targets: long ``(batch,)``.

    Returns:
        a new ``(batch, num_items + 1)`` tensor; column 0 (padding) is ``-inf`` as well.
    """
    excluded = torch.zeros_like(scores, dtype=torch.bool)
    excluded.scatter_(1, history, True)
    excluded[:, 0] = True
    excluded.scatter_(1, targets[:, None], False)
    return scores.masked_fill(excluded, float("-inf"))


def target_ranks(scores: Tensor, targets: Tensor) -> Tensor:
    """0-based rank of each target, ties counted against it.

    Args:
        scores: ``(batch, num_candidates)``; excluded candidates hold ``-inf``.
        targets: long ``(batch,)``, the column of each row's target.

    Returns:
        long ``(batch,)``: how many other candidates score at least as high as the target.
    """
    target_scores = scores.gather(1, targets[:, None])  # (batch, 1)
    return (scores >= target_scores).sum(dim=1) - 1


def metrics_from_ranks(ranks: Tensor, cutoffs: tuple[int, ...] = CUTOFFS) -> dict[str, float]:
    """Mean HR@k, NDCG@k and MRR@k over users.

    Args:
        ranks: long ``(num_users,)``, 0-based ranks of the targets.
        cutoffs: the k values; a k larger than the number of items simply counts every rank.

    Returns:
        ``{"HR@10": ..., "NDCG@10": ..., "MRR@10": ..., ...}`` as Python floats.
    """
    if ranks.numel() == 0:
        raise ValueError("cannot compute metrics for zero users")
    ranks = ranks.double()
    result = {}
    for k in cutoffs:
        hit = ranks < k
        result[f"HR@{k}"] = hit.double().mean().item()
        result[f"NDCG@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks + 2), 0.0).mean().item()
        result[f"MRR@{k}"] = torch.where(hit, 1.0 / (ranks + 1), 0.0).mean().item()
    return result


def full_ranking_ranks(scores: Tensor, history: Tensor, targets: Tensor) -> Tensor:
    """Ranks of the targets among all items with the history removed (the primary protocol).

    Args:
        scores: ``(batch, num_items + 1)``; history: long ``(batch, h)``; targets: ``(batch,)``.

    Returns:
        long ``(batch,)``.
    """
    return target_ranks(exclude_history(scores, history, targets), targets)


def sample_negatives(
    history: Tensor,
    targets: Tensor,
    num_items: int,
    num_negatives: int = SAMPLED_NEGATIVES,
    popularity: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw negatives per user, never an item of the history or the target itself.

    Args:
        history: long ``(batch, h)``, 0 = padding.
        targets: long ``(batch,)``.
        num_items: item ids are 1..num_items.
        num_negatives: negatives per user (without replacement).
        popularity: optional ``(num_items + 1,)`` weights (e.g. training counts); uniform if None.
        generator: a seeded ``torch.Generator`` for repeatable draws.

    Returns:
        long ``(batch, num_negatives)`` item ids.
    """
    weights = torch.ones(num_items + 1) if popularity is None else popularity.double().clone()
    weights = weights.double().expand(len(targets), -1).clone()  # (batch, num_items + 1)
    weights[:, 0] = 0
    weights.scatter_(1, history.cpu(), 0.0)
    weights.scatter_(1, targets.cpu()[:, None], 0.0)
    available = (weights > 0).sum(dim=1).min().item()
    if available < num_negatives:
        raise ValueError(
            f"only {available} candidate negatives for some user; asked for {num_negatives}"
        )
    return torch.multinomial(weights, num_negatives, replacement=False, generator=generator)


def sampled_ranking_ranks(scores: Tensor, targets: Tensor, negatives: Tensor) -> Tensor:
    """Ranks of the targets among themselves and their sampled negatives.

    Args:
        scores: ``(batch, num_items + 1)``; targets: ``(batch,)``; negatives: ``(batch, m)``.

    Returns:
        long ``(batch,)``, between 0 and m.
    """
    candidates = torch.cat([targets[:, None], negatives.to(targets.device)], dim=1)
    return target_ranks(scores.gather(1, candidates), torch.zeros_like(targets))
