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
    """A copy of ``scores`` ``(batch, num_items + 1)`` with the ``history`` items (long
    ``(batch, h)``, 0 = padding) and column 0 at ``-inf``, except each row's ``targets`` item."""
    excluded = torch.zeros_like(scores, dtype=torch.bool)
    excluded.scatter_(1, history, True)
    excluded[:, 0] = True
    excluded.scatter_(1, targets[:, None], False)
    return scores.masked_fill(excluded, float("-inf"))


def target_ranks(scores: Tensor, targets: Tensor) -> Tensor:
    """Long ``(batch,)``: how many other columns of ``scores`` ``(batch, c)`` score at least
    as high as the column ``targets`` ``(batch,)`` (a 0-based rank, ties against the target)."""
    target_scores = scores.gather(1, targets[:, None])  # (batch, 1)
    return (scores >= target_scores).sum(dim=1) - 1


def metrics_from_ranks(ranks: Tensor, cutoffs: tuple[int, ...] = CUTOFFS) -> dict[str, float]:
    """``{"HR@10": ..., "NDCG@10": ..., "MRR@10": ..., ...}``: means over the 0-based ``ranks``
    ``(num_users,)``, as Python floats. ``ValueError`` for no users."""
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
    """Ranks ``(batch,)`` of the targets among all items, history removed (``exclude_history``)."""
    return target_ranks(exclude_history(scores, history, targets), targets)


def sample_negatives(
    history: Tensor,
    targets: Tensor,
    num_items: int,
    num_negatives: int = SAMPLED_NEGATIVES,
    popularity: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Long ``(batch, num_negatives)`` item ids drawn without replacement, never padding, a
    ``history`` item (``(batch, h)``) or the target; uniform, or weighted by ``popularity``
    ``(num_items + 1,)``. ``ValueError`` if some user has too few candidates."""
    weights = torch.ones(num_items + 1) if popularity is None else popularity
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
    """Ranks ``(batch,)``, in 0..m, of the targets among their ``negatives`` ``(batch, m)``."""
    candidates = torch.cat([targets[:, None], negatives.to(targets.device)], dim=1)
    return target_ranks(scores.gather(1, candidates), torch.zeros_like(targets))
