"""Ranking metrics for next-item recommendation, on whole batches.

Full ranking: the target against all items, the user's history removed (never the target;
padding never ranked). With a 0-based ``rank``: HR@k = [rank < k], NDCG@k = 1/log2(rank + 2),
MRR@k = 1/(rank + 1) when rank < k, else 0. Ties count against the target.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

CUTOFFS = (1, 5, 10, 20)


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
    as high as the column ``targets`` ``(batch,)``."""
    target_scores = scores.gather(1, targets[:, None])
    return (scores >= target_scores).sum(dim=1) - 1


def full_ranking_ranks(scores: Tensor, history: Tensor, targets: Tensor) -> Tensor:
    """Ranks ``(batch,)`` of the targets among all items, history removed (``exclude_history``)."""
    return target_ranks(exclude_history(scores, history, targets), targets)


def per_user_metric(ranks: np.ndarray, metric: str = "NDCG@10") -> np.ndarray:
    """Each user's ``metric`` ("HR@k", "NDCG@k" or "MRR@k") from 0-based ``ranks`` (any shape,
    float64 out). ``ValueError`` for another name or a negative rank."""
    name, _, k = metric.partition("@")
    if name not in ("HR", "NDCG", "MRR") or not k.isdigit():
        raise ValueError(f"metric must be HR@k, NDCG@k or MRR@k; got {metric!r}")
    ranks = np.asarray(ranks, dtype=np.float64)
    if (ranks < 0).any():
        raise ValueError("ranks are 0-based: none can be negative")
    gain = {"HR": np.ones_like(ranks), "NDCG": 1 / np.log2(ranks + 2), "MRR": 1 / (ranks + 1)}
    return np.where(ranks < int(k), gain[name], 0.0)


def metrics_from_ranks(ranks: Tensor, cutoffs: tuple[int, ...] = CUTOFFS) -> dict[str, float]:
    """``{"HR@10": ..., "NDCG@10": ..., "MRR@10": ..., ...}``: means over the 0-based ``ranks``
    ``(num_users,)``. ``ValueError`` for no users."""
    if ranks.numel() == 0:
        raise ValueError("cannot compute metrics for zero users")
    ranks = ranks.cpu().numpy()
    return {
        metric: float(per_user_metric(ranks, metric).mean())
        for k in cutoffs
        for metric in (f"HR@{k}", f"NDCG@{k}", f"MRR@{k}")
    }
